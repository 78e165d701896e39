//! Unit tests of `desired()` beyond the golden files: errors, invariants across children.

use super::*;
use crate::crd::{KubeStateMetricsSpec, ShardHash};
use serde_json::Value;

fn make_ksm(name: &str, namespace: &str, spec: KubeStateMetricsSpec) -> KubeStateMetrics {
    let mut ksm = KubeStateMetrics::new(name, spec);
    ksm.metadata.namespace = Some(namespace.to_string());
    ksm
}

fn make_spec(f: impl FnOnce(&mut KubeStateMetricsSpec)) -> KubeStateMetricsSpec {
    let mut spec = KubeStateMetricsSpec::default();
    f(&mut spec);
    spec
}

fn kinds(children: &[Child]) -> Vec<&str> {
    children.iter().map(|c| c.resource.kind.as_str()).collect()
}

fn find<'a>(children: &'a [Child], kind: &str, name: &str) -> &'a Value {
    &children
        .iter()
        .find(|c| c.resource.kind == kind && c.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .object
        .data
}

fn container_args(workload: &Value) -> Vec<String> {
    serde_json::from_value(workload["spec"]["template"]["spec"]["containers"][0]["args"].clone())
        .expect("args are strings")
}

#[test]
fn spec_errors_name_the_field_and_share_one_reason() {
    let cases: Vec<(KubeStateMetricsSpec, &str, &str)> = vec![
        (make_spec(|s| s.metric_denylist = vec!["(".into()]), "spec.metricDenylist", "invalid regex"),
        (make_spec(|s| s.metric_allowlist = vec!["a(?<".into()]), "spec.metricAllowlist", "invalid regex"),
        (make_spec(|s| s.metric_opt_in_list = vec!["(?!x)".into()]), "spec.metricOptInList", "invalid regex"),
        (
            make_spec(|s| {
                s.metric_allowlist = vec!["a".into()];
                s.metric_denylist = vec!["b".into()];
            }),
            "spec.metricAllowlist",
            "mutually exclusive",
        ),
        (make_spec(|s| s.resources = vec!["foos".into()]), "spec.resources", "unknown resource \"foos\""),
        (
            make_spec(|s| s.metric_labels_allowlist = [("foos".into(), vec!["app".into()])].into()),
            "spec.metricLabelsAllowlist",
            "unknown resource \"foos\"",
        ),
        (
            make_spec(|s| s.metric_annotations_allowlist = [("pods".into(), vec!["a*b*".into()])].into()),
            "spec.metricAnnotationsAllowlist",
            "more than one wildcard",
        ),
        (make_spec(|s| s.cluster_name = Some(String::new())), "spec.clusterName", "must not be empty"),
        (
            make_spec(|s| {
                s.sharding.pods_per_node = true;
                s.resources = vec!["pods".into()];
            }),
            "spec.resources",
            "leaves nothing",
        ),
        (
            make_spec(|s| {
                s.sharding.pods_per_node = true;
                s.resources = vec!["nodes".into()];
            }),
            "spec.sharding.podsPerNode",
            "needs pods",
        ),
    ];
    for (spec, field, text) in cases {
        let err = desired(&make_ksm("ksm", "monitoring", spec.clone())).expect_err("must be rejected");
        assert_eq!(err.field(), field, "{spec:?}: {err}");
        assert!(err.to_string().contains(text), "{spec:?}: {err}");
        assert!(err.to_string().starts_with(&format!("invalid {field}: ")), "{err}");
        assert_eq!(err.reason(), "InvalidSpec");
    }
}

#[test]
fn an_object_without_namespace_is_rejected() {
    let ksm = KubeStateMetrics::new("ksm", KubeStateMetricsSpec::default());
    assert_eq!(desired(&ksm), Err(SpecError::Missing { field: "metadata.namespace" }));
}

#[test]
fn children_come_in_apply_order() {
    let spec = make_spec(|s| {
        s.sharding.pods_per_node = true;
        s.service_monitor.enabled = true;
        s.prometheus_rule.enabled = true;
    });
    let children = desired(&make_ksm("ksm", "monitoring", spec)).expect("valid");
    assert_eq!(
        kinds(&children),
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Service",
            "StatefulSet",
            "DaemonSet",
            "Deployment",
            "ServiceMonitor",
            "PrometheusRule"
        ]
    );
    let needs_crd: Vec<_> = children.iter().filter_map(|c| c.requires_crd).collect();
    assert_eq!(needs_crd, ["servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"]);
    let minimal = desired(&make_ksm("ksm", "monitoring", KubeStateMetricsSpec::default())).expect("valid");
    assert_eq!(
        kinds(&minimal),
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "StatefulSet"
        ]
    );
}

#[test]
fn every_child_carries_the_common_labels_and_its_scope() {
    let spec = make_spec(|s| {
        s.sharding.pods_per_node = true;
        s.service_monitor.enabled = true;
        s.service_monitor.labels = [("release".into(), "prom".into())].into();
        s.prometheus_rule.enabled = true;
    });
    for child in desired(&make_ksm("ksm", "monitoring", spec)).expect("valid") {
        let meta = &child.object.metadata;
        let labels = meta.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(LABEL_NAME).map(String::as_str), Some(NAME));
        assert_eq!(labels.get(LABEL_INSTANCE).map(String::as_str), Some("ksm"));
        assert_eq!(labels.get(LABEL_MANAGED_BY).map(String::as_str), Some(MANAGED_BY));
        assert!(labels.contains_key(LABEL_COMPONENT));
        assert!(meta.owner_references.is_none(), "the reconciler adds owner references");
        let cluster_scoped = matches!(child.resource.kind.as_str(), "ClusterRole" | "ClusterRoleBinding");
        assert_eq!(child.namespaced, !cluster_scoped);
        assert_eq!(meta.namespace.is_some(), !cluster_scoped, "{}", child.resource.kind);
        let typed = &child.object.types.as_ref().expect("apiVersion and kind");
        assert_eq!(
            (typed.api_version.as_str(), typed.kind.as_str()),
            (child.resource.api_version.as_str(), child.resource.kind.as_str())
        );
    }
}

#[test]
fn cluster_scoped_names_include_the_namespace() {
    let a = desired(&make_ksm("ksm", "team-a", KubeStateMetricsSpec::default())).expect("valid");
    let b = desired(&make_ksm("ksm", "team-b", KubeStateMetricsSpec::default())).expect("valid");
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        let name = |children: &[Child]| {
            children.iter().find(|c| c.resource.kind == kind).map(|c| c.name().to_string()).expect("present")
        };
        assert_eq!(name(&a), "statefleet:team-a:ksm");
        assert_ne!(name(&a), name(&b));
    }
    let binding = find(&a, "ClusterRoleBinding", "statefleet:team-a:ksm");
    assert_eq!(binding["subjects"][0]["namespace"], "team-a");
}

#[test]
fn cluster_role_grants_only_list_and_watch_on_the_served_resources() {
    let spec = make_spec(|s| s.resources = vec!["pods".into(), "nodes".into(), "deployments".into()]);
    let children = desired(&make_ksm("ksm", "monitoring", spec)).expect("valid");
    let role = find(&children, "ClusterRole", "statefleet:monitoring:ksm");
    let mut granted = Vec::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert_eq!(rule["verbs"], serde_json::json!(["list", "watch"]));
        for resource in rule["resources"].as_array().expect("resources") {
            let name = resource.as_str().expect("string");
            let (group, _) = (exporter::resources::find(name).expect("registered").group_version)();
            assert_eq!(rule["apiGroups"], serde_json::json!([group]), "{name}");
            granted.push(name.to_string());
        }
    }
    granted.sort();
    assert_eq!(granted, ["deployments", "nodes", "pods"]);
}

#[test]
fn default_resources_come_from_the_registry() {
    let children = desired(&make_ksm("ksm", "monitoring", KubeStateMetricsSpec::default())).expect("valid");
    let args = container_args(find(&children, "StatefulSet", "ksm"));
    let resources = args.iter().find_map(|a| a.strip_prefix("--resources=")).expect("--resources");
    let mut want = exporter::resources::default_resources();
    want.sort_unstable();
    assert_eq!(resources, want.join(","));
}

#[test]
fn pods_per_node_splits_pods_off_the_shards() {
    let spec = make_spec(|s| {
        s.sharding.pods_per_node = true;
        s.sharding.shards = 3;
        s.sharding.hash = ShardHash::Jump;
    });
    let children = desired(&make_ksm("ksm", "monitoring", spec)).expect("valid");
    let sts = find(&children, "StatefulSet", "ksm");
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
    let shard_args = container_args(sts);
    assert!(shard_args.contains(&"--pod=$(POD_NAME)".to_string()));
    assert!(shard_args.contains(&"--pod-namespace=$(POD_NAMESPACE)".to_string()));
    assert!(shard_args.contains(&"--shard-hash=jump".to_string()));
    let resources = shard_args.iter().find_map(|a| a.strip_prefix("--resources=")).expect("--resources");
    assert!(!resources.split(',').any(|r| r == "pods"), "{resources}");

    let ds_args = container_args(find(&children, "DaemonSet", "ksm-node-pods"));
    assert!(
        ds_args.contains(&"--node=$(NODE_NAME)".to_string())
            && ds_args.contains(&"--resources=pods".to_string())
    );
    let deploy = find(&children, "Deployment", "ksm-unscheduled-pods");
    assert_eq!(deploy["spec"]["replicas"], 1);
    let deploy_args = container_args(deploy);
    assert!(deploy_args.contains(&"--track-unscheduled-pods".to_string()));
    assert!(!deploy_args.iter().any(|a| a.starts_with("--node")));
}

#[test]
fn every_env_reference_in_args_is_defined() {
    let spec = make_spec(|s| s.sharding.pods_per_node = true);
    let children = desired(&make_ksm("ksm", "monitoring", spec)).expect("valid");
    for child in children
        .iter()
        .filter(|c| matches!(c.resource.kind.as_str(), "StatefulSet" | "DaemonSet" | "Deployment"))
    {
        let container = &child.object.data["spec"]["template"]["spec"]["containers"][0];
        let env: Vec<&str> =
            container["env"].as_array().expect("env").iter().filter_map(|e| e["name"].as_str()).collect();
        for arg in container_args(&child.object.data) {
            if let Some((_, rest)) = arg.split_once("$(") {
                let var = rest.split(')').next().expect("closing paren");
                assert!(env.contains(&var), "{}: {arg} uses undefined {var}", child.resource.kind);
            }
        }
    }
}

#[test]
fn services_select_their_workloads_pods() {
    let spec = make_spec(|s| s.sharding.pods_per_node = true);
    let children = desired(&make_ksm("ksm", "monitoring", spec)).expect("valid");
    let selects = |service: &str, workload: (&str, &str)| {
        let selector =
            find(&children, "Service", service)["spec"]["selector"].as_object().expect("selector").clone();
        let labels =
            find(&children, workload.0, workload.1)["spec"]["template"]["metadata"]["labels"].clone();
        selector.iter().all(|(k, v)| labels[k] == *v)
    };
    assert!(selects("ksm", ("StatefulSet", "ksm")));
    assert!(!selects("ksm", ("DaemonSet", "ksm-node-pods")));
    assert!(selects("ksm-pods", ("DaemonSet", "ksm-node-pods")));
    assert!(selects("ksm-pods", ("Deployment", "ksm-unscheduled-pods")));
    assert!(!selects("ksm-pods", ("StatefulSet", "ksm")));
    assert_eq!(find(&children, "StatefulSet", "ksm")["spec"]["serviceName"], "ksm");
}

#[test]
fn user_pod_labels_cannot_override_the_selector() {
    let spec = make_spec(|s| s.pod_labels = [(LABEL_INSTANCE.to_string(), "other".to_string())].into());
    let children = desired(&make_ksm("ksm", "monitoring", spec)).expect("valid");
    let labels = &find(&children, "StatefulSet", "ksm")["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels[LABEL_INSTANCE], "ksm");
}

#[test]
fn shard_selector_matches_the_shard_pods() {
    let ksm = make_ksm("ksm", "monitoring", KubeStateMetricsSpec::default());
    let children = desired(&ksm).expect("valid");
    let labels = &find(&children, "StatefulSet", "ksm")["spec"]["template"]["metadata"]["labels"];
    for term in shard_selector(&ksm).split(',') {
        let (k, v) = term.split_once('=').expect("k=v");
        assert_eq!(labels[k], v, "{term}");
    }
}

#[test]
fn desired_is_deterministic() {
    let spec = make_spec(|s| {
        s.sharding.pods_per_node = true;
        s.metric_labels_allowlist =
            [("pods".into(), vec!["b".into(), "a".into()]), ("*".into(), vec![])].into();
        s.prometheus_rule.enabled = true;
    });
    let ksm = make_ksm("ksm", "monitoring", spec);
    assert_eq!(desired(&ksm), desired(&ksm));
}

#[test]
fn child_kinds_cover_every_child() {
    let spec = make_spec(|s| {
        s.sharding.pods_per_node = true;
        s.service_monitor.enabled = true;
        s.prometheus_rule.enabled = true;
    });
    let kinds = child_kinds();
    for child in desired(&make_ksm("ksm", "monitoring", spec)).expect("valid") {
        let kind = kinds.iter().find(|k| k.resource == child.resource).expect("listed kind");
        assert_eq!((kind.namespaced, kind.requires_crd), (child.namespaced, child.requires_crd));
    }
    assert_eq!(kinds.len(), 11);
}

#[test]
fn children_selector_matches_every_child() {
    let spec = make_spec(|s| {
        s.sharding.pods_per_node = true;
        s.service_monitor.enabled = true;
        s.service_monitor.labels = [("release".into(), "prom".into())].into();
    });
    let selector = children_selector("ksm");
    for child in desired(&make_ksm("ksm", "monitoring", spec)).expect("valid") {
        let labels = child.object.metadata.labels.clone().unwrap_or_default();
        for term in selector.split(',') {
            let (k, v) = term.split_once('=').expect("k=v");
            assert_eq!(labels.get(k).map(String::as_str), Some(v), "{}: {term}", child.resource.kind);
        }
    }
    assert_eq!(cluster_scoped_name("monitoring", "ksm"), "statefleet:monitoring:ksm");
}
