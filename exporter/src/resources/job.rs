//! `kube_job_*` families (upstream `internal/store/job.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta, unix_seconds},
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability::*, bool_f64};
use k8s_openapi::{
    NamespaceResourceScope,
    api::batch::v1::{JobCondition, JobStatus},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a Job that metrics read (the pod template is left out).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Job {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<JobSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<JobStatus>,
}
projection!(Job, "Job", "batch", "v1", "jobs", NamespaceResourceScope);

/// `spec` without `template`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// Pods run at once, at most.
    pub parallelism: Option<i32>,
    /// Successful pods wanted.
    pub completions: Option<i32>,
    /// Seconds the job may stay active.
    pub active_deadline_seconds: Option<i64>,
}

/// Failure reasons `kube_job_status_failed` reports by name; any other gives `reason=""`.
const FAILURE_REASONS: [&str; 3] = ["BackoffLimitExceeded", "DeadlineExceeded", "Evicted"];

impl Job {
    fn spec(&self) -> JobSpec {
        self.spec.clone().unwrap_or_default()
    }

    fn status(&self) -> JobStatus {
        self.status.clone().unwrap_or_default()
    }

    fn conditions(&self, type_: &'static str) -> impl Iterator<Item = &JobCondition> {
        let all = self.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
        all.iter().filter(move |c| c.type_ == type_)
    }
}

impl Kind for Job {
    const RESOURCE: &'static str = "jobs";
    const KIND: &'static str = "Job";
    const GO_TYPE: &'static str = "*v1.Job";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("job_name", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::annotations_family(
                "kube_job_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_job_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge("kube_job_info", "Information about job.", Stable, |_: &Self, s| s.value(1.0)),
            common::created_family("kube_job_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_job_spec_parallelism",
                "The maximum desired number of pods the job should run at any given time.",
                Stable,
                |j: &Self, s| {
                    if let Some(n) = j.spec().parallelism {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_job_spec_completions",
                "The desired number of successfully finished pods the job should be run with.",
                Stable,
                |j: &Self, s| {
                    if let Some(n) = j.spec().completions {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_job_spec_active_deadline_seconds",
                "The duration in seconds relative to the startTime that the job may be active before the system tries to terminate it.",
                Stable,
                |j: &Self, s| {
                    if let Some(n) = j.spec().active_deadline_seconds {
                        s.value(n as f64)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_job_status_succeeded",
                "The number of pods which reached Phase Succeeded.",
                Stable,
                |j: &Self, s| s.value(j.status().succeeded.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_job_status_failed",
                "The number of pods which reached Phase Failed and the reason for failure.",
                Stable,
                write_status_failed,
            ),
            FamilyGen::gauge(
                "kube_job_status_active",
                "The number of actively running pods.",
                Stable,
                |j: &Self, s| s.value(j.status().active.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_job_status_ready",
                "The number of ready pods that belong to this Job.",
                Alpha,
                |j: &Self, s| s.value(j.status().ready.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_job_complete",
                "The job has completed its execution.",
                Stable,
                |j: &Self, s| {
                    for c in j.conditions("Complete") {
                        write_condition(s, &c.status)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_job_failed",
                "The job has failed its execution.",
                Stable,
                |j: &Self, s| {
                    for c in j.conditions("Failed") {
                        write_condition(s, &c.status)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_job_status_start_time",
                "StartTime represents time when the job was acknowledged by the Job Manager.",
                Stable,
                |j: &Self, s| {
                    if let Some(t) = j.status().start_time {
                        s.value(unix_seconds(&t))
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_job_status_completion_time",
                "CompletionTime represents time when the job was completed.",
                Stable,
                |j: &Self, s| {
                    if let Some(t) = j.status().completion_time {
                        s.value(unix_seconds(&t))
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_job_status_suspended",
                "The number of pods which reached Phase Suspended.",
                Alpha,
                |j: &Self, s| {
                    for c in j.conditions("Suspended") {
                        s.value(bool_f64(c.status == "True"))
                    }
                },
            ),
            common::owner_family("kube_job_owner", "Information about the Job's owner.", Stable),
        ]
    }
}

/// `kube_job_status_failed`: with no failed pod, one unlabelled 0. Otherwise, per `Failed`
/// condition, one sample per known reason (1 on the condition's own reason); when no condition
/// names a known reason, one more sample `reason=""` carrying the failed count.
fn write_status_failed(j: &Job, s: &mut Sink<'_>) {
    let failed = j.status().failed.unwrap_or(0);
    if failed == 0 {
        s.value(0.0);
        return;
    }
    let mut known = false;
    for c in j.conditions("Failed") {
        let reason = c.reason.as_deref().unwrap_or_default();
        for r in FAILURE_REASONS {
            known |= reason == r;
            s.sample([("reason", r)], bool_f64(reason == r));
        }
    }
    if !known {
        s.sample([("reason", "")], failed.into());
    }
}

/// upstream's `addConditionMetrics` with the key renamed: three samples keyed `condition` (not
/// `status`) with the values `true`, `false` and `unknown`, 1 on the one that holds.
fn write_condition(s: &mut Sink<'_>, status: &str) {
    for (label, value) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
        s.sample([("condition", label)], bool_f64(status == value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_job_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into(), "controller-uid".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["batch.kubernetes.io/*".into()]))),
        };
        let got = render_yaml::<Job>(include_str!("fixtures/job-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/job-full.prom"));
    }

    #[test]
    fn minimal_job_writes_defaults_and_skips_unset_values() {
        let got = render_yaml::<Job>("metadata: {name: j, namespace: ns}\n", &FamilyOptions::default());
        for family in [
            "kube_job_info",
            "kube_job_status_succeeded",
            "kube_job_status_failed",
            "kube_job_status_active",
            "kube_job_status_ready",
        ] {
            let want = if family == "kube_job_info" { "1" } else { "0" };
            assert_eq!(
                samples_of(&got, family),
                [format!("{family}{{namespace=\"ns\",job_name=\"j\"}} {want}")]
            );
        }
        for family in [
            "kube_job_annotations",
            "kube_job_labels",
            "kube_job_created",
            "kube_job_spec_parallelism",
            "kube_job_spec_completions",
            "kube_job_spec_active_deadline_seconds",
            "kube_job_complete",
            "kube_job_failed",
            "kube_job_status_start_time",
            "kube_job_status_completion_time",
            "kube_job_status_suspended",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
        assert_eq!(
            samples_of(&got, "kube_job_owner"),
            [
                "kube_job_owner{namespace=\"ns\",job_name=\"j\",owner_kind=\"\",owner_name=\"\",owner_is_controller=\"\"} 1"
            ]
        );
    }

    #[test]
    fn failed_count_without_known_reason_goes_to_empty_reason() {
        let yaml = "metadata: {name: j, namespace: ns}\nstatus: {failed: 3, conditions: [{type: Failed, status: 'True', reason: PodFailurePolicy}]}\n";
        let got = render_yaml::<Job>(yaml, &FamilyOptions::default());
        let lead = "namespace=\"ns\",job_name=\"j\"";
        assert_eq!(
            samples_of(&got, "kube_job_status_failed"),
            [
                format!("kube_job_status_failed{{{lead},reason=\"BackoffLimitExceeded\"}} 0"),
                format!("kube_job_status_failed{{{lead},reason=\"DeadlineExceeded\"}} 0"),
                format!("kube_job_status_failed{{{lead},reason=\"Evicted\"}} 0"),
                format!("kube_job_status_failed{{{lead},reason=\"\"}} 3"),
            ]
        );
        // Failed pods but no Failed condition: only the empty reason.
        let yaml = "metadata: {name: j, namespace: ns}\nstatus: {failed: 2}\n";
        let got = render_yaml::<Job>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_job_status_failed"),
            [format!("kube_job_status_failed{{{lead},reason=\"\"}} 2")]
        );
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "j\n1"
  namespace: "ns\"q"
  labels: {"a\u00e9": "x\\y", "B.c": "\"", "b-c": ""}
  annotations: {"\u00fcber": "\"quoted\"\n"}
  ownerReferences: [{apiVersion: batch/v1, kind: "Cron\\Job", name: "o\n", uid: u}]
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<Job>(yaml, &options);
        let lead = "namespace=\"ns\\\"q\",job_name=\"j\\n1\"";
        assert_eq!(
            samples_of(&got, "kube_job_labels"),
            [format!(
                "kube_job_labels{{{lead},label_b_c_conflict1=\"\\\"\",label_a_=\"x\\\\y\",label_b_c_conflict2=\"\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_job_annotations"),
            [format!("kube_job_annotations{{{lead},annotation__ber=\"\\\"quoted\\\"\\n\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_job_owner"),
            [format!(
                "kube_job_owner{{{lead},owner_kind=\"Cron\\\\Job\",owner_name=\"o\\n\",owner_is_controller=\"false\"}} 1"
            )]
        );
    }
}
