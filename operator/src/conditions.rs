//! Status condition types and reasons of `KubeStateMetrics`, and the comparison that keeps status
//! from being rewritten when only timestamps differ.
//!
//! Reasons are a closed set of CamelCase constants: the condition, the Event and the failure
//! metric label all use them, so the label's cardinality stays bounded.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// Every shard and per-node pod is ready and serving.
pub const READY: &str = "Ready";
/// The fleet is rolling out a change (shard count, image, flags) or pods are still starting.
pub const PROGRESSING: &str = "Progressing";
/// Something needs a human: an invalid spec, a failed apply, a missing prerequisite.
pub const DEGRADED: &str = "Degraded";

/// Every condition type, in the order the reconciler writes them.
pub const TYPES: [&str; 3] = [READY, PROGRESSING, DEGRADED];

/// Reasons, shared by the three condition types.
pub mod reasons {
    /// Every workload is ready and at the desired revision.
    pub const RECONCILED: &str = "Reconciled";
    /// Workloads are updating to a new revision or scaling.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Fewer shards (or per-node pods) are ready than desired.
    pub const PODS_NOT_READY: &str = "PodsNotReady";
    /// The spec passed the schema but the exporter rejects it (e.g. a regex that does not
    /// compile); the running fleet is left untouched.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Applying a child object failed.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// The prometheus-operator CRDs are not installed, so the ServiceMonitor or PrometheusRule
    /// was skipped; it appears once they are.
    pub const MONITORING_CRDS_MISSING: &str = "MonitoringCRDsMissing";
    /// Nothing is wrong.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// Reading the children or the API discovery failed.
    pub const READ_FAILED: &str = "ReadFailed";
    /// Deleting a child that is no longer desired failed.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// Writing the custom resource's status failed.
    pub const STATUS_FAILED: &str = "StatusFailed";
    /// Deleting the cluster-scoped RBAC of a deleted custom resource failed.
    pub const CLEANUP_FAILED: &str = "CleanupFailed";
    /// Adding or removing the operator's finalizer failed.
    pub const FINALIZER_FAILED: &str = "FinalizerFailed";

    /// Every reason, for tests and metric label allowlists.
    pub const ALL: [&str; 12] = [
        RECONCILED,
        ROLLING_OUT,
        PODS_NOT_READY,
        INVALID_SPEC,
        APPLY_FAILED,
        MONITORING_CRDS_MISSING,
        AS_EXPECTED,
        READ_FAILED,
        PRUNE_FAILED,
        STATUS_FAILED,
        CLEANUP_FAILED,
        FINALIZER_FAILED,
    ];
}

/// Whether two condition lists say the same thing, ignoring `lastTransitionTime` and order: the
/// reconciler writes status only when this is false.
pub fn eq_ignoring_time(a: &[Condition], b: &[Condition]) -> bool {
    let same = |x: &Condition, y: &Condition| {
        (&x.type_, &x.status, &x.reason, &x.message, x.observed_generation)
            == (&y.type_, &y.status, &y.reason, &y.message, y.observed_generation)
    };
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| same(x, y)))
}

/// Merges `new` into `current` by type. A condition whose status did not change keeps its old
/// `lastTransitionTime`, so a transition time records when the status last flipped.
pub fn merge(current: &[Condition], new: Vec<Condition>) -> Vec<Condition> {
    new.into_iter()
        .map(|mut c| {
            if let Some(old) = current.iter().find(|o| o.type_ == c.type_ && o.status == c.status) {
                c.last_transition_time = old.last_transition_time.clone();
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

    fn make_condition(type_: &str, status: &str, at: i64) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reasons::RECONCILED.into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(Timestamp::from_second(at).expect("valid timestamp")),
        }
    }

    #[test]
    fn timestamps_and_order_do_not_count() {
        let a = [make_condition(READY, "True", 1), make_condition(DEGRADED, "False", 1)];
        let b = [make_condition(DEGRADED, "False", 9), make_condition(READY, "True", 9)];
        assert!(eq_ignoring_time(&a, &b));
        let c = [make_condition(READY, "False", 1), make_condition(DEGRADED, "False", 1)];
        assert!(!eq_ignoring_time(&a, &c));
        assert!(!eq_ignoring_time(&a, &a[..1]));
    }

    #[test]
    fn merge_keeps_transition_time_while_status_holds() {
        let current = [make_condition(READY, "True", 1), make_condition(DEGRADED, "False", 1)];
        let merged =
            merge(&current, vec![make_condition(READY, "True", 5), make_condition(DEGRADED, "True", 5)]);
        assert_eq!(merged[0].last_transition_time, current[0].last_transition_time);
        assert_eq!(merged[1].last_transition_time.0.as_second(), 5);
    }

    #[test]
    fn reasons_are_camel_case() {
        for r in reasons::ALL {
            assert!(r.chars().next().is_some_and(|c| c.is_ascii_uppercase()), "{r}");
            assert!(r.chars().all(|c| c.is_ascii_alphanumeric()), "{r}");
        }
    }
}
