//! The resources the tests cover, and fetching their objects from the API as one `List` (the
//! input of `statefleet-exporter render`).
//!
//! To cover another resource, add it to [`KINDS`] (with the label that names its objects) and
//! to [`DEFAULT_RESOURCES`], or set `STATEFLEET_E2E_RESOURCES` to a subset of [`KINDS`]; give
//! the tests an object of it in [`crate::fixtures::one_of_each_kind`], since the watch and
//! sharding tests check that every covered resource shows up.

use crate::{KubeContext, Result};
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::{CronJob, Job},
    coordination::v1::Lease,
    core::v1::{
        ConfigMap, Endpoints, LimitRange, Namespace, Node, PersistentVolumeClaim, Pod, ReplicationController,
        ResourceQuota, Secret, Service, ServiceAccount,
    },
    discovery::v1::EndpointSlice,
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, ListParams, TypeMeta},
};
use serde_json::{Value, json};

/// The resources the suites cover by default: every namespaced resource a test can create
/// cheaply in its own namespace, plus nodes and namespaces (cluster-scoped, shared by the tests
/// running at the same time, so comparisons retry until one snapshot is consistent). Other
/// cluster-scoped resources (cluster roles, storage classes, webhooks ...) are left out: tests
/// create and delete cluster roles and bindings while others run.
pub const DEFAULT_RESOURCES: &[&str] = &[
    "configmaps",
    "cronjobs",
    "daemonsets",
    "deployments",
    "endpoints",
    "endpointslices",
    "horizontalpodautoscalers",
    "ingresses",
    "jobs",
    "leases",
    "limitranges",
    "namespaces",
    "networkpolicies",
    "nodes",
    "persistentvolumeclaims",
    "poddisruptionbudgets",
    "pods",
    "replicasets",
    "replicationcontrollers",
    "resourcequotas",
    "rolebindings",
    "roles",
    "secrets",
    "serviceaccounts",
    "services",
    "statefulsets",
];

/// A resource the harness knows how to fetch and recognise in an exposition.
#[derive(Clone, Copy, Debug)]
pub struct ResourceKind {
    /// `--resources` name, e.g. `deployments`.
    pub name: &'static str,
    /// Prefix shared by all of the resource's metric families, e.g. `kube_deployment_`.
    pub metric_prefix: &'static str,
    /// The label that names the object in every series, e.g. `deployment` (`job_name` for jobs).
    pub object_label: &'static str,
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

macro_rules! kind {
    ($name:literal, $singular:literal, $label:literal, $namespaced:literal, $ty:ty) => {
        ResourceKind {
            name: $name,
            metric_prefix: concat!("kube_", $singular, "_"),
            object_label: $label,
            namespaced: $namespaced,
            api_resource: || ApiResource::erase::<$ty>(&()),
        }
    };
}

/// Every resource the harness knows, whether or not it is covered by default.
pub const KINDS: &[ResourceKind] = &[
    kind!("configmaps", "configmap", "configmap", true, ConfigMap),
    kind!("cronjobs", "cronjob", "cronjob", true, CronJob),
    kind!("daemonsets", "daemonset", "daemonset", true, DaemonSet),
    kind!("deployments", "deployment", "deployment", true, Deployment),
    kind!("endpoints", "endpoint", "endpoint", true, Endpoints),
    kind!("endpointslices", "endpointslice", "endpointslice", true, EndpointSlice),
    kind!(
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "horizontalpodautoscaler",
        true,
        HorizontalPodAutoscaler
    ),
    kind!("ingresses", "ingress", "ingress", true, Ingress),
    kind!("jobs", "job", "job_name", true, Job),
    kind!("leases", "lease", "lease", true, Lease),
    kind!("limitranges", "limitrange", "limitrange", true, LimitRange),
    kind!("namespaces", "namespace", "namespace", false, Namespace),
    kind!("networkpolicies", "networkpolicy", "networkpolicy", true, NetworkPolicy),
    kind!("nodes", "node", "node", false, Node),
    kind!(
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "persistentvolumeclaim",
        true,
        PersistentVolumeClaim
    ),
    kind!("poddisruptionbudgets", "poddisruptionbudget", "poddisruptionbudget", true, PodDisruptionBudget),
    kind!("pods", "pod", "pod", true, Pod),
    kind!("replicasets", "replicaset", "replicaset", true, ReplicaSet),
    kind!(
        "replicationcontrollers",
        "replicationcontroller",
        "replicationcontroller",
        true,
        ReplicationController
    ),
    kind!("resourcequotas", "resourcequota", "resourcequota", true, ResourceQuota),
    kind!("rolebindings", "rolebinding", "rolebinding", true, RoleBinding),
    kind!("roles", "role", "role", true, Role),
    kind!("secrets", "secret", "secret", true, Secret),
    kind!("serviceaccounts", "serviceaccount", "serviceaccount", true, ServiceAccount),
    kind!("services", "service", "service", true, Service),
    kind!("statefulsets", "statefulset", "statefulset", true, StatefulSet),
];

/// The known resource whose families a metric belongs to (the longest matching prefix).
pub fn for_metric(metric: &str) -> Option<&'static ResourceKind> {
    KINDS.iter().filter(|k| metric.starts_with(k.metric_prefix)).max_by_key(|k| k.metric_prefix.len())
}

/// The known resource of an API kind, e.g. `Deployment`.
pub fn for_api_kind(kind: &str) -> Option<&'static ResourceKind> {
    KINDS.iter().find(|k| k.api_resource().kind == kind)
}

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
    // All kinds at once: the shorter the fetch, the likelier it is one consistent snapshot.
    let per_kind = futures::future::try_join_all(kinds.iter().map(|kind| async move {
        let ar = kind.api_resource();
        let api: Api<DynamicObject> = if kind.namespaced {
            Api::namespaced_with(client.clone(), namespace, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let list =
            api.list(&ListParams::default()).await.kube(|| format!("list {} in {namespace}", kind.name))?;
        list.items
            .into_iter()
            .map(|mut obj| {
                // List items come without their type; render needs it to pick the resource.
                obj.types = Some(TypeMeta { api_version: ar.api_version.clone(), kind: ar.kind.clone() });
                serde_json::to_value(&obj).map_err(|e| crate::Error::Parse {
                    what: format!("a {} object", kind.name),
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<Value>>>()
    }))
    .await?;
    let items: Vec<Value> = per_kind.into_iter().flatten().collect();
    Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}))
}
