//! The fleet's Prometheus alerts, written once: [`crate::desired`] puts them in a PrometheusRule
//! scoped to one fleet, and `config/prometheus/statefleet-rules.yaml` holds them unscoped for
//! Prometheus setups without prometheus-operator.
//!
//! The sharding alerts follow upstream kube-state-metrics' mixin (reference §9.2 and §10 for the
//! self-metrics they read). Every expression groups by `cluster`, `namespace`, `job` and either
//! `service` or `resource`, so several fleets and clusters can share one Prometheus: the
//! ServiceMonitor sets `job` to the fleet's name for both of its Services, and `service` tells the
//! StatefulSet shards apart from the per-node pod exporters (which each report one shard of one).
//!
//! Two alerts of our own complete upstream's: [`NOT_SYNCED`] (a resource whose first list never
//! finished, typically forbidden by RBAC or failing, so its metrics are missing altogether) and
//! [`DOWN`] (an exporter target Prometheus cannot scrape, the only alert for a dead per-node pod
//! exporter, and the one naming the pod of a missing shard). `DOWN` reads `up`, which every job
//! has; it only considers targets that served `kube_state_metrics_build_info` within the last
//! hour, so the unscoped rules file does not alert for other jobs' targets.

use serde_json::{Value, json};

/// Name of the rule group, in the PrometheusRule and the plain rules file.
pub const GROUP: &str = "statefleet-exporter";

/// One alerting rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Alert name.
    pub name: &'static str,
    /// PromQL expression.
    pub expr: String,
    /// How long the expression must hold before the alert fires.
    pub for_: &'static str,
    /// `severity` label.
    pub severity: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Description with label templates.
    pub description: String,
}

/// Name of the alert for a resource whose first list never finished.
pub const NOT_SYNCED: &str = "StatefleetExporterNotSynced";
/// Name of the alert for an exporter target that cannot be scraped.
pub const DOWN: &str = "StatefleetExporterDown";

/// Labels that identify one fleet's sharding set.
const BY_SET: &str = "cluster, namespace, job, service";
/// Labels that identify one fleet's watch of one resource.
const BY_RESOURCE: &str = "cluster, namespace, job, resource";

/// `job X in namespace N (cluster C)`, leaving out labels a plain setup does not have.
const WHERE: &str = "{{ $labels.job }}{{ with $labels.service }} (service {{ . }}){{ end }}{{ with $labels.namespace }} in namespace {{ . }}{{ end }}{{ with $labels.cluster }} of cluster {{ . }}{{ end }}";

/// `metric{matchers}`, or the bare name without matchers.
fn series(metric: &str, matchers: &[&str]) -> String {
    let matchers: Vec<&str> = matchers.iter().copied().filter(|m| !m.is_empty()).collect();
    if matchers.is_empty() { metric.to_string() } else { format!("{metric}{{{}}}", matchers.join(", ")) }
}

/// The alerts for the series matching `selector` (PromQL matchers such as
/// `namespace="monitoring", job="ksm"`; empty for every exporter Prometheus scrapes).
pub fn alerts(selector: &str) -> Vec<Alert> {
    let total = series("kube_state_metrics_total_shards", &[selector]);
    let ordinal = series("kube_state_metrics_shard_ordinal", &[selector]);
    let synced = series("statefleet_resource_synced", &[selector]);
    let up = series("up", &[selector]);
    let build_info = series("kube_state_metrics_build_info", &[selector]);
    let error_ratio = |counter: &str| {
        format!(
            "sum by ({BY_RESOURCE}) (rate({errors}[5m]))\n  /\nsum by ({BY_RESOURCE}) (rate({all}[5m]))\n  > 0.01",
            errors = series(counter, &[selector, r#"result="error""#]),
            all = series(counter, &[selector]),
        )
    };
    vec![
        Alert {
            name: "KubeStateMetricsShardingMismatch",
            expr: format!("stdvar by ({BY_SET}) ({total}) != 0"),
            for_: "15m",
            severity: "critical",
            summary: "Exporter shards disagree on the number of shards.",
            description: format!(
                "The shards of {WHERE} report different kube_state_metrics_total_shards values, so \
                 some objects are served twice and others not at all. A rollout that changes the shard \
                 count causes this briefly; if it lasts, check that every shard runs with the same \
                 sharding settings."
            ),
        },
        Alert {
            // Upstream compares 2^total - 1 with the sum of 2^ordinal, which stops being exact in
            // float64 beyond 53 shards; counting distinct ordinals is exact up to MAX_SHARDS.
            // Ordinals outside 0..total only exist while shards disagree on the total, which
            // KubeStateMetricsShardingMismatch reports.
            name: "KubeStateMetricsShardsMissing",
            expr: format!(
                "max by ({BY_SET}) ({total})\n  -\ncount by ({BY_SET}) (max by ({BY_SET}, shard_ordinal) ({ordinal}))\n  > 0"
            ),
            for_: "15m",
            severity: "critical",
            summary: "Exporter shards are missing.",
            description: format!(
                "{{{{ $value }}}} of the shards of {WHERE} are not reporting, so the metrics of the \
                 objects they own are missing. Check that every pod of the StatefulSet is running \
                 and ready."
            ),
        },
        Alert {
            name: "KubeStateMetricsListErrors",
            expr: error_ratio("kube_state_metrics_list_total"),
            for_: "15m",
            severity: "critical",
            summary: "The exporter fails to list objects.",
            description: format!(
                "{{{{ $value | humanizePercentage }}}} of the list requests of {WHERE} for \
                 {{{{ $labels.resource }}}} fail, so its metrics are stale or missing. Check the \
                 exporter's logs and its RBAC permissions."
            ),
        },
        Alert {
            name: "KubeStateMetricsWatchErrors",
            expr: error_ratio("kube_state_metrics_watch_total"),
            for_: "15m",
            severity: "critical",
            summary: "The exporter fails to watch objects.",
            description: format!(
                "{{{{ $value | humanizePercentage }}}} of the watch requests of {WHERE} for \
                 {{{{ $labels.resource }}}} fail, so its metrics are stale. Check the exporter's logs \
                 and its RBAC permissions."
            ),
        },
        Alert {
            // The gauge is 0 from the start of a resource's watch until its first list
            // completes; a list that is refused or keeps failing leaves it at 0.
            name: NOT_SYNCED,
            expr: format!("count by ({BY_RESOURCE}) ({synced} == 0)"),
            for_: "15m",
            severity: "critical",
            summary: "An exporter never finished listing a resource.",
            description: format!(
                "{{{{ $value }}}} exporter(s) of {WHERE} have not finished the first list of \
                 {{{{ $labels.resource }}}}, so none of its metrics are served. The usual causes are \
                 RBAC (the service account may not list or watch it) or an API that keeps failing; \
                 the exporter's log says which."
            ),
        },
        Alert {
            // A target down keeps its `up` series, while its own series go stale: the join with
            // the last hour of build_info picks the exporters' targets among every job's.
            name: DOWN,
            expr: format!(
                "{up} == 0\n  and on (cluster, namespace, job, instance)\nmax_over_time({build_info}[1h])"
            ),
            for_: "15m",
            severity: "critical",
            summary: "Prometheus cannot scrape an exporter.",
            description: format!(
                "The exporter {{{{ $labels.instance }}}}{{{{ with $labels.pod }}}} (pod {{{{ . }}}}){{{{ end }}}} \
                 of {WHERE} cannot be scraped, so the metrics of the objects it serves are missing \
                 (for a shard of a StatefulSet, KubeStateMetricsShardsMissing fires as well). Check \
                 that the pod is running and ready."
            ),
        },
    ]
}

/// The rule groups in Prometheus' (and prometheus-operator's) format.
pub fn rule_groups(selector: &str) -> Value {
    let rules: Vec<Value> = alerts(selector)
        .into_iter()
        .map(|a| {
            json!({
                "alert": a.name,
                "expr": a.expr,
                "for": a.for_,
                "labels": {"severity": a.severity},
                "annotations": {"summary": a.summary, "description": a.description},
            })
        })
        .collect();
    json!([{"name": GROUP, "rules": rules}])
}

/// `config/prometheus/statefleet-rules.yaml`: the alerts for every exporter Prometheus scrapes.
pub fn rules_file() -> String {
    let body =
        serde_norway::to_string(&json!({"groups": rule_groups("")})).expect("rule groups serialize to YAML");
    format!(
        "# Alerts for statefleet-exporter fleets, for Prometheus setups without prometheus-operator.\n\
         # Generated from operator/src/alerts.rs (`just generate`); do not edit.\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_scopes_every_series() {
        for alert in alerts(r#"job="x""#) {
            let metrics = ["kube_state_metrics_", "statefleet_", "up{"]
                .iter()
                .map(|m| alert.expr.matches(m).count())
                .sum::<usize>();
            assert!(metrics > 0, "{}", alert.expr);
            assert_eq!(alert.expr.matches(r#"{job="x""#).count(), metrics, "{}", alert.expr);
        }
        assert!(alerts("").iter().all(|a| !a.expr.contains("{}")));
    }

    #[test]
    fn every_alert_groups_by_cluster_namespace_and_job() {
        for alert in alerts("") {
            // DOWN keeps every label of `up`; the others aggregate.
            if alert.name != DOWN {
                assert!(
                    alert.expr.contains("by (cluster, namespace, job, "),
                    "{}: {}",
                    alert.name,
                    alert.expr
                );
            }
            assert!(alert.description.contains(WHERE), "{}", alert.name);
        }
    }

    #[test]
    fn names_match_upstream_mixin() {
        let names: Vec<_> = alerts("").iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "KubeStateMetricsShardingMismatch",
                "KubeStateMetricsShardsMissing",
                "KubeStateMetricsListErrors",
                "KubeStateMetricsWatchErrors",
                NOT_SYNCED,
                DOWN,
            ]
        );
    }
}
