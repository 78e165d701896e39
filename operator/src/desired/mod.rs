//! Everything the operator owns for one `KubeStateMetrics`, computed from the object alone.
//!
//! ```text
//! KubeStateMetrics ─▶ Fleet::new (names, resource split, exporter args validated by the exporter)
//!                  ─▶ one builder per kind ─▶ Vec<Child> in apply order ─▶ reconciler (SSA)
//! ```
//!
//! Pure: no client, no clock, no randomness. Owner references are left to the reconciler;
//! everything else about a child (labels included) is decided here.

mod args;
mod clusterrole;
mod clusterrolebinding;
mod common;
mod daemonset;
mod deployment;
mod prometheusrule;
mod role;
mod rolebinding;
mod service;
mod serviceaccount;
mod servicemonitor;
mod statefulset;

use crate::{conditions::reasons, crd::KubeStateMetrics};
pub use args::ExporterArgs;
pub use clusterrole::rules_for;
pub use common::{
    COMPONENT_EXPORTER, COMPONENT_MONITORING, COMPONENT_NODE_PODS, COMPONENT_POD_METRICS, COMPONENT_SHARDS,
    COMPONENT_UNSCHEDULED_PODS, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, LABEL_ROLE,
    MANAGED_BY, NAME,
};
use kube::{
    Resource,
    api::{ApiResource, DynamicObject},
};
use serde::Serialize;

/// A spec the schema accepted but the fleet cannot run with. The running fleet stays untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A required field is missing (the object did not come from the API server).
    #[error("invalid {field}: must be set")]
    Missing {
        /// JSON path of the field, e.g. `metadata.namespace`.
        field: &'static str,
    },
    /// A field the exporter or the operator rejects.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// JSON path of the field, e.g. `spec.metricDenylist`.
        field: &'static str,
        /// Why, usually the exporter's own message naming its flag.
        message: String,
    },
}

impl SpecError {
    /// The stable reason for conditions, Events and metric labels.
    pub fn reason(&self) -> &'static str {
        reasons::INVALID_SPEC
    }

    /// The JSON path of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            SpecError::Missing { field } | SpecError::Invalid { field, .. } => field,
        }
    }
}

/// One object the operator owns, ready for server-side apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Child {
    /// Group, version, kind and plural, for a dynamic `Api`.
    pub resource: ApiResource,
    /// Whether it lives in the custom resource's namespace; `false` for the ClusterRole and
    /// ClusterRoleBinding, which the reconciler cannot give an owner reference and must delete
    /// itself.
    pub namespaced: bool,
    /// The CRD that must be installed before this object can be applied
    /// (`servicemonitors.monitoring.coreos.com`, ...); `None` for built-in kinds.
    pub requires_crd: Option<&'static str>,
    /// The object: apiVersion, kind, name, namespace, labels and the rest.
    pub object: DynamicObject,
}

impl Child {
    /// A child from a typed k8s-openapi object.
    fn typed<K>(obj: &K) -> Self
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let value = serde_json::to_value(obj).expect("k8s-openapi objects serialize to JSON");
        let object: DynamicObject =
            serde_json::from_value(value).expect("a serialized object reads back as a DynamicObject");
        Child {
            resource: ApiResource::erase::<K>(&()),
            namespaced: object.metadata.namespace.is_some(),
            requires_crd: None,
            object,
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }
}

/// What the builders share: the validated custom resource and the names derived from it.
pub(crate) struct Fleet<'a> {
    /// The custom resource.
    pub ksm: &'a KubeStateMetrics,
    /// Its name.
    pub name: &'a str,
    /// Its namespace, where every namespaced child goes.
    pub namespace: &'a str,
    /// Every resource the fleet serves (sorted); RBAC covers exactly these.
    pub resources: Vec<&'static str>,
    /// The exporter arguments of each workload, already accepted by the exporter's validation.
    pub args: ExporterArgs,
}

impl<'a> Fleet<'a> {
    fn new(ksm: &'a KubeStateMetrics) -> Result<Self, SpecError> {
        let name = ksm.metadata.name.as_deref().ok_or(SpecError::Missing { field: "metadata.name" })?;
        let namespace =
            ksm.metadata.namespace.as_deref().ok_or(SpecError::Missing { field: "metadata.namespace" })?;
        let resources = args::selected_resources(&ksm.spec)?;
        let args = ExporterArgs::new(&ksm.spec, &resources)?;
        Ok(Fleet { ksm, name, namespace, resources, args })
    }

    /// See [`cluster_scoped_name`].
    pub fn cluster_scoped_name(&self) -> String {
        cluster_scoped_name(self.namespace, self.name)
    }

    /// The headless Service of the pod exporters (DaemonSet and Deployment).
    pub fn pods_service_name(&self) -> String {
        format!("{}-pods", self.name)
    }

    /// The per-node DaemonSet.
    pub fn daemonset_name(&self) -> String {
        format!("{}-node-pods", self.name)
    }

    /// The Deployment serving pods without a node.
    pub fn deployment_name(&self) -> String {
        format!("{}-unscheduled-pods", self.name)
    }

    /// The Role and RoleBinding of autosharding.
    pub fn autosharding_name(&self) -> String {
        format!("{}-autosharding", self.name)
    }

    fn pods_per_node(&self) -> bool {
        self.ksm.spec.sharding.pods_per_node
    }
}

/// Everything the operator owns for `ksm`, in apply order: identity and RBAC first, so pods
/// start with their permissions in place; Services before the workloads that name them;
/// monitoring last. Pure: no client, no clock, no randomness.
pub fn desired(ksm: &KubeStateMetrics) -> Result<Vec<Child>, SpecError> {
    let fleet = Fleet::new(ksm)?;
    let spec = &ksm.spec;
    let mut children = vec![
        Child::typed(&serviceaccount::build(&fleet)),
        Child::typed(&clusterrole::build(&fleet)),
        Child::typed(&clusterrolebinding::build(&fleet)),
        Child::typed(&role::build(&fleet)),
        Child::typed(&rolebinding::build(&fleet)),
        Child::typed(&service::shards(&fleet)),
    ];
    if fleet.pods_per_node() {
        children.push(Child::typed(&service::pods(&fleet)));
    }
    children.push(Child::typed(&statefulset::build(&fleet)));
    if fleet.pods_per_node() {
        children.push(Child::typed(&daemonset::build(&fleet)));
        children.push(Child::typed(&deployment::build(&fleet)));
    }
    if spec.service_monitor.enabled {
        children.push(servicemonitor::build(&fleet));
    }
    if spec.prometheus_rule.enabled {
        children.push(prometheusrule::build(&fleet));
    }
    Ok(children)
}

/// The name of the ClusterRole and ClusterRoleBinding of the fleet `name` in `namespace`.
/// Cluster-scoped objects of every fleet share one namespace-less space: the CR's namespace goes
/// into their name (`:` cannot occur in a namespace or object name, so it cannot collide). It
/// depends on nothing in the spec, so the reconciler can delete them even when the spec is
/// invalid.
pub fn cluster_scoped_name(namespace: &str, name: &str) -> String {
    format!("statefleet:{namespace}:{name}")
}

/// One kind of object [`desired`] can produce.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildKind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of this kind live in the custom resource's namespace.
    pub namespaced: bool,
    /// The CRD this kind needs (`None` for built-in kinds).
    pub requires_crd: Option<&'static str>,
}

/// Every kind [`desired`] can produce for any spec. The reconciler lists the namespaced ones by
/// [`children_selector`] to find children that are no longer desired.
pub fn child_kinds() -> Vec<ChildKind> {
    use k8s_openapi::api::{
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        core::v1::{Service, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    };
    fn builtin<K: Resource<DynamicType = ()>>(namespaced: bool) -> ChildKind {
        ChildKind { resource: ApiResource::erase::<K>(&()), namespaced, requires_crd: None }
    }
    vec![
        builtin::<ServiceAccount>(true),
        builtin::<ClusterRole>(false),
        builtin::<ClusterRoleBinding>(false),
        builtin::<Role>(true),
        builtin::<RoleBinding>(true),
        builtin::<Service>(true),
        builtin::<StatefulSet>(true),
        builtin::<DaemonSet>(true),
        builtin::<Deployment>(true),
        ChildKind {
            resource: servicemonitor::api_resource(),
            namespaced: true,
            requires_crd: Some(servicemonitor::CRD),
        },
        ChildKind {
            resource: prometheusrule::api_resource(),
            namespaced: true,
            requires_crd: Some(prometheusrule::CRD),
        },
    ]
}

/// The label selector every child of the fleet `name` matches: the labels no user setting can
/// change. Only namespaced children are found by it (cluster-scoped names carry the namespace).
pub fn children_selector(name: &str) -> String {
    [(LABEL_NAME, NAME), (LABEL_INSTANCE, name), (LABEL_MANAGED_BY, MANAGED_BY)]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The label selector of the shard pods, as `status.selector` for the scale subresource.
pub fn shard_selector(ksm: &KubeStateMetrics) -> String {
    let name = ksm.metadata.name.as_deref().unwrap_or_default();
    common::selector_labels(name, COMPONENT_SHARDS)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
