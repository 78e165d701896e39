//! The resources the tests cover, and fetching their objects from the API as one `List` (the
//! input of `statefleet-exporter render`).
//!
//! To cover a resource once the exporter implements it, add its name to [`DEFAULT_RESOURCES`]
//! (every entry of [`KINDS`] is already known here), or set `STATEFLEET_E2E_RESOURCES`.

use crate::{KubeContext, Result};
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    core::v1::{Node, Pod},
};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, ListParams, TypeMeta},
};
use serde_json::{Value, json};

/// The resources the exporter implements today, in `--resources` spelling.
pub const DEFAULT_RESOURCES: &[&str] = &["deployments", "statefulsets", "daemonsets"];

/// A resource the harness knows how to fetch and recognise in an exposition.
#[derive(Clone, Copy, Debug)]
pub struct ResourceKind {
    /// `--resources` name, e.g. `deployments`.
    pub name: &'static str,
    /// Prefix shared by all of the resource's metric families, e.g. `kube_deployment_`.
    pub metric_prefix: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    api_resource: fn() -> ApiResource,
}

impl ResourceKind {
    /// Group, version, kind and plural for dynamic API calls.
    pub fn api_resource(&self) -> ApiResource {
        (self.api_resource)()
    }
}

/// Every resource the harness knows, whether or not the exporter implements it yet.
pub const KINDS: &[ResourceKind] = &[
    ResourceKind {
        name: "daemonsets",
        metric_prefix: "kube_daemonset_",
        namespaced: true,
        api_resource: || ApiResource::erase::<DaemonSet>(&()),
    },
    ResourceKind {
        name: "deployments",
        metric_prefix: "kube_deployment_",
        namespaced: true,
        api_resource: || ApiResource::erase::<Deployment>(&()),
    },
    ResourceKind {
        name: "nodes",
        metric_prefix: "kube_node_",
        namespaced: false,
        api_resource: || ApiResource::erase::<Node>(&()),
    },
    ResourceKind {
        name: "pods",
        metric_prefix: "kube_pod_",
        namespaced: true,
        api_resource: || ApiResource::erase::<Pod>(&()),
    },
    ResourceKind {
        name: "replicasets",
        metric_prefix: "kube_replicaset_",
        namespaced: true,
        api_resource: || ApiResource::erase::<ReplicaSet>(&()),
    },
    ResourceKind {
        name: "statefulsets",
        metric_prefix: "kube_statefulset_",
        namespaced: true,
        api_resource: || ApiResource::erase::<StatefulSet>(&()),
    },
];

/// A known resource by its `--resources` name.
pub fn find(name: &str) -> Option<&'static ResourceKind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The resources under test: `$STATEFLEET_E2E_RESOURCES` (comma-separated) or
/// [`DEFAULT_RESOURCES`]. Panics on a name the harness does not know, naming the known ones.
pub fn under_test() -> Vec<&'static ResourceKind> {
    let names: Vec<String> = match std::env::var("STATEFLEET_E2E_RESOURCES") {
        Ok(v) if !v.trim().is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
        _ => DEFAULT_RESOURCES.iter().map(|s| s.to_string()).collect(),
    };
    names
        .iter()
        .map(|n| {
            find(n).unwrap_or_else(|| {
                let known: Vec<_> = KINDS.iter().map(|k| k.name).collect();
                panic!("unknown resource {n:?} in STATEFLEET_E2E_RESOURCES; known: {known:?}")
            })
        })
        .collect()
}

/// `--resources=a,b,c` for the given kinds.
pub fn resources_flag(kinds: &[&ResourceKind]) -> String {
    let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
    format!("--resources={}", names.join(","))
}

/// All objects of `kinds` in `namespace` (cluster-scoped kinds: all of them) as one
/// `{"kind":"List","items":[...]}` whose items carry `apiVersion` and `kind`, like
/// `kubectl get ... -o json`.
pub async fn fetch_list(client: &Client, kinds: &[&ResourceKind], namespace: &str) -> Result<Value> {
    let mut items = Vec::new();
    for kind in kinds {
        let ar = kind.api_resource();
        let api: Api<DynamicObject> = if kind.namespaced {
            Api::namespaced_with(client.clone(), namespace, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let list =
            api.list(&ListParams::default()).await.kube(|| format!("list {} in {namespace}", kind.name))?;
        for mut obj in list.items {
            // List items come without their type; render needs it to pick the resource.
            obj.types = Some(TypeMeta { api_version: ar.api_version.clone(), kind: ar.kind.clone() });
            items.push(serde_json::to_value(&obj).map_err(|e| crate::Error::Parse {
                what: format!("a {} object", kind.name),
                detail: e.to_string(),
            })?);
        }
    }
    Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}))
}
