//! Shapes the builders share: labels, object metadata, and the exporter pod template.

use super::{
    Fleet,
    args::{METRICS_PORT, TELEMETRY_PORT},
};
use crate::crd::DEFAULT_IMAGE;
use k8s_openapi::{
    api::core::v1::{
        Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector,
        PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile, SecurityContext, Toleration,
    },
    apimachinery::pkg::{apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};
use std::collections::BTreeMap;

/// `app.kubernetes.io/name`: what runs, the same for every fleet.
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the fleet, i.e. the custom resource's name.
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/component`: which part of the fleet.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// `app.kubernetes.io/managed-by`: the operator; the reconciler prunes by it.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// `statefleet.io/role` on exporter pods: `shard` (StatefulSet) or `pods` (per node or
/// unscheduled); each headless Service selects one role.
pub const LABEL_ROLE: &str = "statefleet.io/role";

/// Value of [`LABEL_NAME`].
pub const NAME: &str = "statefleet-exporter";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "statefleet-operator";

/// ServiceAccount and RBAC, shared by every workload.
pub const COMPONENT_EXPORTER: &str = "exporter";
/// The StatefulSet and its Service.
pub const COMPONENT_SHARDS: &str = "shards";
/// The per-node DaemonSet.
pub const COMPONENT_NODE_PODS: &str = "node-pods";
/// The Deployment for pods without a node.
pub const COMPONENT_UNSCHEDULED_PODS: &str = "unscheduled-pods";
/// The Service of both pod exporters.
pub const COMPONENT_POD_METRICS: &str = "pod-metrics";
/// ServiceMonitor and PrometheusRule.
pub const COMPONENT_MONITORING: &str = "monitoring";

/// [`LABEL_ROLE`] of StatefulSet pods.
pub const ROLE_SHARD: &str = "shard";
/// [`LABEL_ROLE`] of DaemonSet and Deployment pods.
pub const ROLE_PODS: &str = "pods";

/// The name of the only container.
pub const CONTAINER: &str = "exporter";

/// The labels a workload selects its pods by. Immutable once a workload exists, so they never
/// include anything the user can change.
pub fn selector_labels(instance: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), NAME.to_string()),
        (LABEL_INSTANCE.to_string(), instance.to_string()),
        (LABEL_COMPONENT.to_string(), component.to_string()),
    ])
}

/// The labels of every child: the selector labels plus `managed-by`.
pub fn labels(fleet: &Fleet, component: &str) -> BTreeMap<String, String> {
    let mut out = selector_labels(fleet.name, component);
    out.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    out
}

/// Metadata of a namespaced child.
pub fn meta(fleet: &Fleet, name: impl Into<String>, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(fleet.namespace.to_string()),
        labels: Some(labels(fleet, component)),
        ..ObjectMeta::default()
    }
}

/// Metadata of a cluster-scoped child.
pub fn cluster_meta(fleet: &Fleet, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(fleet.cluster_scoped_name()),
        labels: Some(labels(fleet, component)),
        ..ObjectMeta::default()
    }
}

/// Where pods of a workload may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The spec's nodeSelector, tolerations and affinity.
    FromSpec,
    /// Every node whatever its taints: the DaemonSet must cover every node's pods.
    EveryNode,
}

fn some_map(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: path.to_string(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn http_probe(path: &str, port: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(port.to_string()),
            ..Default::default()
        }),
        initial_delay_seconds: Some(5),
        timeout_seconds: Some(5),
        ..Default::default()
    }
}

/// The exporter pod: one container running `statefleet-exporter args`, with the downward-API
/// env its arguments refer to, probes on the exporter's health endpoints, and a locked-down
/// security context.
pub fn pod_template(
    fleet: &Fleet,
    component: &str,
    role: &str,
    args: &[String],
    placement: Placement,
) -> PodTemplateSpec {
    let spec = &fleet.ksm.spec;
    let mut pod_labels = spec.pod_labels.clone();
    pod_labels.extend(labels(fleet, component));
    pod_labels.insert(LABEL_ROLE.to_string(), role.to_string());

    let container = Container {
        name: CONTAINER.to_string(),
        image: Some(spec.image.clone().unwrap_or_else(|| DEFAULT_IMAGE.to_string())),
        image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().to_string()),
        command: Some(vec![NAME.to_string()]),
        args: Some(args.to_vec()),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            field_env("NODE_NAME", "spec.nodeName"),
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some("http-metrics".to_string()),
                container_port: METRICS_PORT,
                protocol: Some("TCP".to_string()),
                ..Default::default()
            },
            ContainerPort {
                name: Some("telemetry".to_string()),
                container_port: TELEMETRY_PORT,
                protocol: Some("TCP".to_string()),
                ..Default::default()
            },
        ]),
        // Liveness must not depend on the API server (`/livez` asks it): an API server outage
        // would otherwise restart the whole fleet at once.
        liveness_probe: Some(http_probe("/healthz", "http-metrics")),
        // Ready once every resource finished its first list, so a rollout waits for each shard
        // to serve complete data before replacing the next.
        readiness_probe: Some(http_probe("/readyz", "telemetry")),
        resources: spec.container_resources.clone(),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_string()]), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    };

    let (node_selector, tolerations, affinity) = match placement {
        Placement::FromSpec => (
            some_map(spec.node_selector.clone()),
            (!spec.tolerations.is_empty()).then(|| spec.tolerations.clone()),
            spec.affinity.clone(),
        ),
        Placement::EveryNode => (
            None,
            Some(vec![Toleration { operator: Some("Exists".to_string()), ..Default::default() }]),
            None,
        ),
    };

    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: some_map(spec.pod_annotations.clone()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(fleet.name.to_string()),
            containers: vec![container],
            node_selector,
            tolerations,
            affinity,
            priority_class_name: spec.priority_class_name.clone(),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(65534),
                run_as_group: Some(65534),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}
