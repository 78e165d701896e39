//! Generated install files: the CRD (`crds/`), the operator's own ClusterRole and the plain
//! Prometheus rules file (`config/`). Tests fail when the checked-in copies are stale.

use crate::{crd::KubeStateMetrics, desired::LABEL_NAME};
use exporter::resources::REGISTRY;
use k8s_openapi::{
    api::rbac::v1::{ClusterRole, PolicyRule},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::CustomResourceExt;
use std::collections::BTreeMap;

/// Path of the CRD file, relative to the workspace root.
pub const CRD_PATH: &str = "crds/statefleet.io_kubestatemetrics.yaml";
/// Path of the operator's ClusterRole, relative to the workspace root.
pub const OPERATOR_CLUSTER_ROLE_PATH: &str = "config/default/clusterrole.yaml";
/// Path of the plain Prometheus rules file, relative to the workspace root.
pub const RULES_PATH: &str = "config/prometheus/statefleet-rules.yaml";

/// Name of the operator's ClusterRole (and its binding).
pub const OPERATOR_NAME: &str = "statefleet-operator";

fn header(source: &str) -> String {
    format!("# Generated from {source} (`just generate`); do not edit.\n")
}

fn yaml<T: serde::Serialize>(value: &T) -> String {
    serde_norway::to_string(value).expect("Kubernetes objects serialize to YAML")
}

/// The CRD YAML, as `crdgen` prints it.
pub fn crd_yaml() -> String {
    format!("{}{}", header("operator/src/crd.rs"), yaml(&KubeStateMetrics::crd()))
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..Default::default()
    }
}

/// The operator's ClusterRole. Kubernetes lets a subject grant only permissions it holds
/// itself, so besides managing the children it needs list/watch on every resource the exporter
/// can serve, and get on pods and statefulsets for the autosharding Role: the registry decides.
pub fn operator_cluster_role() -> ClusterRole {
    const MANAGE: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete"];
    let mut rules = vec![
        rule(&["statefleet.io"], &["kubestatemetrics"], &["get", "list", "watch", "update", "patch"]),
        rule(&["statefleet.io"], &["kubestatemetrics/status"], &["get", "update", "patch"]),
        rule(&["statefleet.io"], &["kubestatemetrics/finalizers"], &["update"]),
        rule(&[""], &["serviceaccounts", "services"], MANAGE),
        rule(&["apps"], &["daemonsets", "deployments", "statefulsets"], MANAGE),
        rule(
            &["rbac.authorization.k8s.io"],
            &["clusterrolebindings", "clusterroles", "rolebindings", "roles"],
            MANAGE,
        ),
        rule(&["monitoring.coreos.com"], &["prometheusrules", "servicemonitors"], MANAGE),
        // To notice when the prometheus-operator CRDs get installed.
        rule(&["apiextensions.k8s.io"], &["customresourcedefinitions"], &["get", "list", "watch"]),
        rule(&["", "events.k8s.io"], &["events"], &["create", "patch"]),
        // Granted to the exporters by the autosharding Role.
        rule(&[""], &["pods"], &["get"]),
    ];
    let names: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
    rules.extend(crate::desired::rules_for(&names, &["list", "watch"]));
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(OPERATOR_NAME.to_string()),
            labels: Some(BTreeMap::from([(LABEL_NAME.to_string(), OPERATOR_NAME.to_string())])),
            ..Default::default()
        },
        rules: Some(rules),
        ..Default::default()
    }
}

/// `config/default/clusterrole.yaml`.
pub fn operator_cluster_role_yaml() -> String {
    format!("{}{}", header("operator/src/manifests.rs"), yaml(&operator_cluster_role()))
}

/// `config/prometheus/statefleet-rules.yaml`.
pub fn rules_yaml() -> String {
    crate::alerts::rules_file()
}
