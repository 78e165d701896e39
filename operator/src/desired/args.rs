//! The exporter's command line for each workload of the fleet, checked by the exporter's own
//! option validation so a spec the exporter would reject never reaches a pod.

use super::SpecError;
use crate::crd::KubeStateMetricsSpec;
use clap::Parser;
use exporter::{
    options::{Cli, Options},
    resources,
};
use std::collections::BTreeMap;

/// Port of the object metrics (`--port`), named `http-metrics` in pods and Services.
pub const METRICS_PORT: i32 = 8080;
/// Port of the exporter's own metrics and health (`--telemetry-port`), named `telemetry`.
pub const TELEMETRY_PORT: i32 = 8081;

/// Which exporter flag comes from which spec field, to name the field in a [`SpecError`].
const FLAG_FIELDS: &[(&str, &str)] = &[
    ("--resources", "spec.resources"),
    ("--namespaces-denylist", "spec.namespacesDenylist"),
    ("--namespaces", "spec.namespaces"),
    ("--metric-allowlist", "spec.metricAllowlist"),
    ("--metric-denylist", "spec.metricDenylist"),
    ("--metric-opt-in-list", "spec.metricOptInList"),
    ("--metric-labels-allowlist", "spec.metricLabelsAllowlist"),
    ("--metric-annotations-allowlist", "spec.metricAnnotationsAllowlist"),
    ("--cluster-name", "spec.clusterName"),
    ("--node", "spec.sharding.podsPerNode"),
    ("--track-unscheduled-pods", "spec.sharding.podsPerNode"),
];

/// The arguments of each workload (the container's command is `statefleet-exporter`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExporterArgs {
    /// StatefulSet shards: autosharding from the pod's ordinal, every resource but pods when
    /// pods are served per node.
    pub shards: Vec<String>,
    /// DaemonSet pods: only the pods of their node. Empty without `podsPerNode`.
    pub node_pods: Vec<String>,
    /// The Deployment: only pods without a node. Empty without `podsPerNode`.
    pub unscheduled_pods: Vec<String>,
}

impl ExporterArgs {
    /// Builds and validates the arguments for `spec`, serving `resources` in total.
    pub fn new(spec: &KubeStateMetricsSpec, resources: &[&'static str]) -> Result<Self, SpecError> {
        let per_node = spec.sharding.pods_per_node;
        let shard_resources: Vec<&str> =
            resources.iter().copied().filter(|r| !per_node || *r != "pods").collect();
        if shard_resources.is_empty() {
            return Err(SpecError::Invalid {
                field: "spec.resources",
                message: "sharding.podsPerNode with only pods leaves nothing for the StatefulSet shards"
                    .into(),
            });
        }
        let filters = filter_args(spec);
        let mut shards = common_args();
        shards.extend([
            "--pod=$(POD_NAME)".to_string(),
            "--pod-namespace=$(POD_NAMESPACE)".to_string(),
            format!("--shard-hash={}", spec.sharding.hash.as_str()),
            format!("--resources={}", shard_resources.join(",")),
        ]);
        shards.extend(filters.iter().cloned());
        validate(&shards)?;

        let (mut node_pods, mut unscheduled_pods) = (Vec::new(), Vec::new());
        if per_node {
            node_pods = common_args();
            node_pods.extend(["--node=$(NODE_NAME)".to_string(), "--resources=pods".to_string()]);
            node_pods.extend(filters.iter().cloned());
            validate(&node_pods)?;
            unscheduled_pods = common_args();
            unscheduled_pods.extend(["--track-unscheduled-pods".to_string(), "--resources=pods".to_string()]);
            unscheduled_pods.extend(filters);
            validate(&unscheduled_pods)?;
        }
        Ok(ExporterArgs { shards, node_pods, unscheduled_pods })
    }
}

/// The resources the fleet serves: the spec's list, or the exporter's default set.
pub fn selected_resources(spec: &KubeStateMetricsSpec) -> Result<Vec<&'static str>, SpecError> {
    let mut out = if spec.resources.is_empty() {
        resources::default_resources()
    } else {
        spec.resources
            .iter()
            .map(|name| {
                resources::find(name).map(|r| r.name).ok_or_else(|| SpecError::Invalid {
                    field: "spec.resources",
                    message: format!("unknown resource {name:?}"),
                })
            })
            .collect::<Result<_, _>>()?
    };
    out.sort_unstable();
    out.dedup();
    if spec.sharding.pods_per_node && !out.contains(&"pods") {
        return Err(SpecError::Invalid {
            field: "spec.sharding.podsPerNode",
            message: "pods per node needs pods among the served resources".into(),
        });
    }
    Ok(out)
}

/// Ports and log format: fixed, so probes and Services can rely on them.
fn common_args() -> Vec<String> {
    vec![
        format!("--port={METRICS_PORT}"),
        format!("--telemetry-port={TELEMETRY_PORT}"),
        "--log-format=json".to_string(),
    ]
}

/// The filters every workload shares, in the flag table's order.
fn filter_args(spec: &KubeStateMetricsSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut list = |flag: &str, items: &[String]| {
        if !items.is_empty() {
            out.push(format!("--{flag}={}", items.join(",")));
        }
    };
    list("namespaces", &spec.namespaces);
    list("namespaces-denylist", &spec.namespaces_denylist);
    list("metric-allowlist", &spec.metric_allowlist);
    list("metric-denylist", &spec.metric_denylist);
    list("metric-opt-in-list", &spec.metric_opt_in_list);
    for (flag, map) in [
        ("metric-labels-allowlist", &spec.metric_labels_allowlist),
        ("metric-annotations-allowlist", &spec.metric_annotations_allowlist),
    ] {
        if !map.is_empty() {
            out.push(format!("--{flag}={}", allowlist(map)));
        }
    }
    if spec.use_apiserver_cache {
        out.push("--use-apiserver-cache".to_string());
    }
    if let Some(name) = &spec.cluster_name {
        out.push(format!("--cluster-name={name}"));
    }
    out
}

/// `pods=[app,team],*=[tier]`, the grammar of upstream's allowlist flags.
fn allowlist(map: &BTreeMap<String, Vec<String>>) -> String {
    map.iter().map(|(k, v)| format!("{k}=[{}]", v.join(","))).collect::<Vec<_>>().join(",")
}

/// Runs the exporter's own flag parsing and validation on `args`.
fn validate(args: &[String]) -> Result<(), SpecError> {
    let argv = std::iter::once("statefleet-exporter").chain(args.iter().map(String::as_str));
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        let message = e.to_string();
        let message = message.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        SpecError::Invalid { field: field_of(&message), message }
    })?;
    Options::validate(&cli.flags)
        .map(drop)
        .map_err(|e| SpecError::Invalid { field: field_of(&e.to_string()), message: e.to_string() })
}

/// The spec field behind the flag an exporter message starts with (or mentions first).
fn field_of(message: &str) -> &'static str {
    let starts = |flag: &str| {
        message
            .strip_prefix(flag)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '-'))
    };
    FLAG_FIELDS
        .iter()
        .find(|(flag, _)| starts(flag))
        .or_else(|| FLAG_FIELDS.iter().find(|(flag, _)| message.contains(&format!("'{flag}"))))
        .map_or("spec", |(_, field)| field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_of_prefers_the_longest_flag() {
        assert_eq!(field_of("--namespaces-denylist: bad"), "spec.namespacesDenylist");
        assert_eq!(field_of("--namespaces: bad"), "spec.namespaces");
        assert_eq!(field_of("--metric-denylist: invalid regex \"(\""), "spec.metricDenylist");
        assert_eq!(field_of("--metric-labels-allowlist=\"x\": expected"), "spec.metricLabelsAllowlist");
        assert_eq!(field_of("something else"), "spec");
    }

    #[test]
    fn allowlist_uses_the_flag_grammar() {
        let map = BTreeMap::from([
            ("pods".to_string(), vec!["app".to_string(), "team".to_string()]),
            ("*".to_string(), vec!["tier".to_string()]),
            ("nodes".to_string(), vec![]),
        ]);
        assert_eq!(allowlist(&map), "*=[tier],nodes=[],pods=[app,team]");
    }
}
