//! The status of a `KubeStateMetrics`, derived from what the reconciler observed: the live
//! workloads, the children it had to skip, or the error that stopped it.
//!
//! ```text
//! live StatefulSet/DaemonSet/Deployment ─▶ component() ─▶ ComponentState ─┐
//! skipped monitoring children ───────────────────────────────────────────┴▶ fleet_status()
//! SpecError / apply failure ─▶ invalid_spec_status() / failed_status() (keep what was known)
//! ```
//!
//! Pure: the reconciler passes the time in, and writes the result only when [`changed`] says so.

use crate::{
    conditions::{self, DEGRADED, PROGRESSING, READY, reasons},
    crd::{ComponentStatus, KubeStateMetrics, KubeStateMetricsStatus},
    desired::{Child, LABEL_COMPONENT, SpecError, shard_selector},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::DynamicObject;
use serde_json::Value;

/// Readiness of one workload of the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentState {
    /// What goes into `status.components`.
    pub status: ComponentStatus,
    /// The workload's name.
    pub name: String,
    /// The workload controller has seen the current spec (`status.observedGeneration`).
    pub observed: bool,
    /// Every pod runs the current template and no old pod is left.
    pub rolled_out: bool,
}

impl ComponentState {
    /// Every wanted pod is ready, as far as the workload controller knows the current spec.
    pub fn ready(&self) -> bool {
        self.observed && self.status.ready >= self.status.desired
    }
}

/// A child the reconciler did not apply because the CRD of its kind is not served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Its kind, e.g. `ServiceMonitor`.
    pub kind: String,
    /// The CRD it needs, e.g. `servicemonitors.monitoring.coreos.com`.
    pub crd: &'static str,
}

fn int(value: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(value, |v, key| v.get(*key)).and_then(Value::as_i64)
}

fn int32(value: &Value, path: &[&str]) -> i32 {
    int(value, path).and_then(|n| i32::try_from(n).ok()).unwrap_or(0)
}

/// The readiness of `child` from its `live` object; `None` for kinds that run no pods.
pub fn component(child: &Child, live: &DynamicObject) -> Option<ComponentState> {
    let kind = child.resource.kind.as_str();
    let data = &live.data;
    let generation = live.metadata.generation.unwrap_or(0);
    let observed = int(data, &["status", "observedGeneration"]).is_some_and(|g| g >= generation);
    let (desired, ready, updated, current) = match kind {
        "StatefulSet" | "Deployment" => {
            // The operator's own number: a live value someone changed is drift, corrected by the
            // apply that came before this.
            let desired = int32(&child.object.data, &["spec", "replicas"]);
            let ready = int32(data, &["status", "readyReplicas"]);
            let updated = int32(data, &["status", "updatedReplicas"]);
            let current = int32(data, &["status", "replicas"]);
            (desired, ready, updated, current)
        }
        "DaemonSet" => {
            let desired = int32(data, &["status", "desiredNumberScheduled"]);
            let ready = int32(data, &["status", "numberReady"]);
            let updated = int32(data, &["status", "updatedNumberScheduled"]);
            let current = int32(data, &["status", "currentNumberScheduled"]);
            (desired, ready, updated, current)
        }
        _ => return None,
    };
    let name = child
        .object
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_COMPONENT))
        .cloned()
        .unwrap_or_else(|| child.name().to_string());
    Some(ComponentState {
        status: ComponentStatus { name, kind: kind.to_string(), desired, ready },
        name: child.name().to_string(),
        observed,
        rolled_out: observed && updated >= desired && ready >= desired && current == desired,
    })
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: i64,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: Some(generation),
        last_transition_time: now.clone(),
    }
}

fn summary(components: &[ComponentState]) -> String {
    components
        .iter()
        .map(|c| format!("{} {}/{}", c.status.name, c.status.ready, c.status.desired))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status of a fleet the reconciler applied: readiness of each workload, and why children
/// were skipped.
pub fn fleet_status(
    ksm: &KubeStateMetrics,
    components: &[ComponentState],
    skipped: &[Skipped],
    now: Time,
) -> KubeStateMetricsStatus {
    let generation = ksm.metadata.generation.unwrap_or(0);
    let ready = components.iter().all(ComponentState::ready);
    let pending: Vec<String> = components
        .iter()
        .filter(|c| !c.rolled_out)
        .map(|c| format!("{} {}", c.status.kind, c.name))
        .collect();
    let ready_condition = if ready {
        condition(
            READY,
            true,
            reasons::RECONCILED,
            format!("{} ready", summary(components)),
            generation,
            &now,
        )
    } else {
        let message = format!("waiting for pods: {} ready", summary(components));
        condition(READY, false, reasons::PODS_NOT_READY, message, generation, &now)
    };
    let progressing = if pending.is_empty() {
        let message = "every workload runs the current spec".to_string();
        condition(PROGRESSING, false, reasons::RECONCILED, message, generation, &now)
    } else {
        let message = format!("rolling out {}", pending.join(", "));
        condition(PROGRESSING, true, reasons::ROLLING_OUT, message, generation, &now)
    };
    let degraded = if skipped.is_empty() {
        condition(DEGRADED, false, reasons::AS_EXPECTED, String::new(), generation, &now)
    } else {
        let parts: Vec<String> =
            skipped.iter().map(|s| format!("{} (CRD {} is not installed)", s.kind, s.crd)).collect();
        let message =
            format!("skipped {}; created once the prometheus-operator CRDs are installed", parts.join(", "));
        condition(DEGRADED, true, reasons::MONITORING_CRDS_MISSING, message, generation, &now)
    };
    let current = ksm.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let shards = components.iter().find(|c| c.status.kind == "StatefulSet");
    KubeStateMetricsStatus {
        observed_generation: Some(generation),
        conditions: conditions::merge(current, vec![ready_condition, progressing, degraded]),
        desired_shards: ksm.spec.sharding.shards,
        ready_shards: shards.map_or(0, |s| s.status.ready),
        mode: Some(ksm.spec.mode().to_string()),
        selector: Some(shard_selector(ksm)),
        components: components.iter().map(|c| c.status.clone()).collect(),
    }
}

/// The status after a failure that left the fleet as it was: `Degraded` says why, `Ready` and
/// the workload figures stay what they were (the running fleet is untouched).
fn kept_status(
    ksm: &KubeStateMetrics,
    reason: &str,
    message: String,
    progressing: String,
    now: Time,
) -> KubeStateMetricsStatus {
    let generation = ksm.metadata.generation.unwrap_or(0);
    let mut status = ksm.status.clone().unwrap_or_default();
    let ready = status.conditions.iter().find(|c| c.type_ == READY).cloned().unwrap_or_else(|| {
        let message = "the fleet has not been created yet".to_string();
        condition(READY, false, reason, message, generation, &now)
    });
    let new = vec![
        ready,
        condition(PROGRESSING, false, reason, progressing, generation, &now),
        condition(DEGRADED, true, reason, message, generation, &now),
    ];
    status.conditions = conditions::merge(&status.conditions, new);
    status.observed_generation = Some(generation);
    status
}

/// The status for a spec the exporter rejects; the running fleet is left untouched.
pub fn invalid_spec_status(ksm: &KubeStateMetrics, error: &SpecError, now: Time) -> KubeStateMetricsStatus {
    let generation = ksm.metadata.generation.unwrap_or(0);
    let progressing = format!("generation {generation} is not rolled out: the spec is invalid");
    kept_status(ksm, error.reason(), error.to_string(), progressing, now)
}

/// The status after a failed apply, prune or read (`reason` from [`crate::reconcile::Error`]).
pub fn failed_status(
    ksm: &KubeStateMetrics,
    reason: &str,
    message: String,
    now: Time,
) -> KubeStateMetricsStatus {
    let generation = ksm.metadata.generation.unwrap_or(0);
    let progressing = format!("generation {generation} is not fully rolled out: {reason}");
    kept_status(ksm, reason, message, progressing, now)
}

/// Whether `new` says something `current` does not, ignoring condition timestamps.
pub fn changed(current: Option<&KubeStateMetricsStatus>, new: &KubeStateMetricsStatus) -> bool {
    let Some(current) = current else { return true };
    let strip = |s: &KubeStateMetricsStatus| KubeStateMetricsStatus { conditions: Vec::new(), ..s.clone() };
    strip(current) != strip(new) || !conditions::eq_ignoring_time(&current.conditions, &new.conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::KubeStateMetricsSpec, desired::desired};
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).expect("valid timestamp"))
    }

    fn make_ksm(f: impl FnOnce(&mut KubeStateMetricsSpec)) -> KubeStateMetrics {
        let mut spec = KubeStateMetricsSpec::default();
        f(&mut spec);
        let mut ksm = KubeStateMetrics::new("ksm", spec);
        ksm.metadata.namespace = Some("monitoring".into());
        ksm.metadata.generation = Some(3);
        ksm
    }

    fn make_live(child: &Child, generation: i64, status: Value) -> DynamicObject {
        let mut live = child.object.clone();
        live.metadata.generation = Some(generation);
        live.data["status"] = status;
        live
    }

    fn workloads(ksm: &KubeStateMetrics, statuses: &[Value]) -> Vec<ComponentState> {
        let children = desired(ksm).expect("valid");
        let workloads: Vec<&Child> = children
            .iter()
            .filter(|c| matches!(c.resource.kind.as_str(), "StatefulSet" | "DaemonSet" | "Deployment"))
            .collect();
        assert_eq!(workloads.len(), statuses.len());
        workloads
            .iter()
            .zip(statuses)
            .map(|(c, s)| component(c, &make_live(c, 2, s.clone())).expect("a workload"))
            .collect()
    }

    fn find<'a>(status: &'a KubeStateMetricsStatus, type_: &str) -> &'a Condition {
        status.conditions.iter().find(|c| c.type_ == type_).expect("condition present")
    }

    #[test]
    fn a_fleet_is_ready_when_every_shard_and_pod_exporter_is() {
        let ksm = make_ksm(|s| {
            s.sharding.shards = 2;
            s.sharding.pods_per_node = true;
        });
        let done = [
            json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}),
            json!({"observedGeneration": 2, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                   "numberReady": 3, "updatedNumberScheduled": 3}),
            json!({"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1}),
        ];
        let status = fleet_status(&ksm, &workloads(&ksm, &done), &[], at(1));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!((status.desired_shards, status.ready_shards), (2, 2));
        assert_eq!(status.mode.as_deref(), Some("StatefulSet+DaemonSet"));
        assert_eq!(status.selector, Some(shard_selector(&ksm)));
        let names: Vec<_> = status.components.iter().map(|c| (c.name.as_str(), c.kind.as_str())).collect();
        assert_eq!(
            names,
            [("shards", "StatefulSet"), ("node-pods", "DaemonSet"), ("unscheduled-pods", "Deployment")]
        );
        let ready = find(&status, READY);
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", "Reconciled"));
        assert_eq!(ready.message, "shards 2/2, node-pods 3/3, unscheduled-pods 1/1 ready");
        assert_eq!(find(&status, PROGRESSING).status, "False");
        assert_eq!(find(&status, DEGRADED).reason, "AsExpected");
    }

    #[test]
    fn missing_or_stale_pods_are_not_ready() {
        let ksm = make_ksm(|s| s.sharding.shards = 2);
        let cases = [
            json!({}),
            json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2}),
            // Ready counts from before the workload controller saw the current spec.
            json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}),
        ];
        for sts in cases {
            let status = fleet_status(&ksm, &workloads(&ksm, std::slice::from_ref(&sts)), &[], at(1));
            let ready = find(&status, READY);
            assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "PodsNotReady"), "{sts}");
            assert!(ready.message.starts_with("waiting for pods: shards "), "{}", ready.message);
            let progressing = find(&status, PROGRESSING);
            assert_eq!(
                (progressing.status.as_str(), progressing.message.as_str()),
                ("True", "rolling out StatefulSet ksm")
            );
        }
        // Ready, but an old pod is still being replaced.
        let rolling =
            json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 1});
        let status = fleet_status(&ksm, &workloads(&ksm, &[rolling]), &[], at(1));
        assert_eq!(
            (find(&status, READY).status.as_str(), find(&status, PROGRESSING).status.as_str()),
            ("True", "True")
        );
    }

    #[test]
    fn skipped_monitoring_says_why_in_degraded() {
        let ksm = make_ksm(|_| {});
        let skipped = [
            Skipped { kind: "ServiceMonitor".into(), crd: "servicemonitors.monitoring.coreos.com" },
            Skipped { kind: "PrometheusRule".into(), crd: "prometheusrules.monitoring.coreos.com" },
        ];
        let status = fleet_status(&ksm, &workloads(&ksm, &[json!({})]), &skipped, at(1));
        let degraded = find(&status, DEGRADED);
        assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", "MonitoringCRDsMissing"));
        assert_eq!(
            degraded.message,
            "skipped ServiceMonitor (CRD servicemonitors.monitoring.coreos.com is not installed), \
             PrometheusRule (CRD prometheusrules.monitoring.coreos.com is not installed); \
             created once the prometheus-operator CRDs are installed"
        );
    }

    #[test]
    fn an_invalid_spec_keeps_what_was_known() {
        let mut ksm = make_ksm(|_| {});
        let running = fleet_status(&ksm, &workloads(&ksm, &[json!({})]), &[], at(1));
        ksm.status = Some(running.clone());
        ksm.metadata.generation = Some(4);
        let error = SpecError::Invalid { field: "spec.metricDenylist", message: "bad regex".into() };
        let status = invalid_spec_status(&ksm, &error, at(9));
        assert_eq!(status.observed_generation, Some(4));
        assert_eq!(status.components, running.components);
        assert_eq!(find(&status, READY), find(&running, READY));
        let degraded = find(&status, DEGRADED);
        assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", "InvalidSpec"));
        assert_eq!(degraded.message, "invalid spec.metricDenylist: bad regex");
        assert_eq!(degraded.last_transition_time, at(9));
        assert_eq!(find(&status, PROGRESSING).reason, "InvalidSpec");
        assert!(changed(Some(&running), &status));
        // The same failure again is no change, whatever the clock says.
        ksm.status = Some(status.clone());
        assert!(!changed(Some(&status), &invalid_spec_status(&ksm, &error, at(20))));
    }

    #[test]
    fn a_failed_apply_without_history_is_not_ready() {
        let ksm = make_ksm(|_| {});
        let status =
            failed_status(&ksm, "ApplyFailed", "failed to apply StatefulSet ksm: denied".into(), at(1));
        assert_eq!(find(&status, READY).status, "False");
        assert_eq!(find(&status, DEGRADED).message, "failed to apply StatefulSet ksm: denied");
    }

    #[test]
    fn unchanged_status_ignores_transition_times() {
        let ksm = make_ksm(|_| {});
        let first = fleet_status(&ksm, &workloads(&ksm, &[json!({})]), &[], at(1));
        let again = fleet_status(&ksm, &workloads(&ksm, &[json!({})]), &[], at(50));
        assert!(!changed(Some(&first), &again));
        assert!(changed(None, &first));
        let more = fleet_status(&make_ksm(|s| s.sharding.shards = 2), &[], &[], at(50));
        assert!(changed(Some(&first), &more));
    }
}
