//! `kube_cronjob_*` families (upstream `internal/store/cronjob.go`).
//!
//! `kube_cronjob_next_schedule_time` is computed from the object alone (last schedule time, else
//! creation time), never from the clock, so it is rendered once per change like every other
//! family. Schedules without a time zone run in the exporter's own zone, as upstream's run in
//! Go's `time.Local`.

mod schedule;

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*, bool_f64};
use jiff::tz::TimeZone;
use k8s_openapi::{
    NamespaceResourceScope,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
};
use schedule::{GO_ZERO_UNIX, go_unix, parse_schedule};
use serde::{Deserialize, de::IgnoredAny};
use std::sync::OnceLock;

/// The fields of a CronJob that metrics read (the job template is left out).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CronJob {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<CronJobSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<CronJobStatus>,
}
projection!(CronJob, "CronJob", "batch", "v1", "cronjobs", NamespaceResourceScope);

/// `spec` without `jobTemplate`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSpec {
    /// Cron schedule.
    pub schedule: Option<String>,
    /// IANA zone name of the schedule.
    pub time_zone: Option<String>,
    /// `Allow`, `Forbid` or `Replace`.
    pub concurrency_policy: Option<String>,
    /// Whether later runs are suspended.
    pub suspend: Option<bool>,
    /// Deadline for starting a missed run.
    pub starting_deadline_seconds: Option<i64>,
    /// Finished jobs kept.
    pub successful_jobs_history_limit: Option<i32>,
    /// Failed jobs kept.
    pub failed_jobs_history_limit: Option<i32>,
}

/// `status`; only the number of active jobs is read, not the references.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobStatus {
    /// Running jobs.
    pub active: Option<Vec<IgnoredAny>>,
    /// Last time a job was scheduled.
    pub last_schedule_time: Option<Time>,
    /// Last time a job completed.
    pub last_successful_time: Option<Time>,
}

/// The exporter's own zone (`TZ`, else `/etc/localtime`, else UTC), read once: Go's
/// `time.Local`, which upstream's schedules without a time zone run in.
fn local_zone() -> &'static TimeZone {
    static LOCAL: OnceLock<TimeZone> = OnceLock::new();
    LOCAL.get_or_init(|| TimeZone::try_system().unwrap_or(TimeZone::UTC))
}

/// metav1.Time's `IsZero`: unset, or Go's zero time.
fn is_zero(t: Option<&Time>) -> bool {
    t.is_none_or(|t| t.0.subsec_nanosecond() == 0 && go_unix(t.0) == GO_ZERO_UNIX)
}

impl CronJob {
    fn spec(&self) -> CronJobSpec {
        self.spec.clone().unwrap_or_default()
    }

    fn status(&self) -> CronJobStatus {
        self.status.clone().unwrap_or_default()
    }

    fn suspended(&self) -> bool {
        self.spec.as_ref().and_then(|s| s.suspend) == Some(true)
    }

    fn parsed_schedule(&self, local: &TimeZone) -> Result<schedule::Schedule, schedule::InvalidSchedule> {
        let spec = self.spec.as_ref();
        parse_schedule(
            spec.and_then(|s| s.schedule.as_deref()).unwrap_or_default(),
            spec.and_then(|s| s.time_zone.as_deref()),
            local,
        )
    }

    /// upstream's `getNextScheduledTime`: the next activation after the last schedule time, else
    /// after creation; `None` when the schedule does not parse or neither time is set.
    fn next_schedule_time(&self, local: &TimeZone) -> Option<i64> {
        let schedule = self.parsed_schedule(local).ok()?;
        let status = self.status.as_ref();
        let last = status.and_then(|s| s.last_schedule_time.as_ref());
        let created = self.metadata.creation_timestamp.as_ref();
        let from = if !is_zero(last) {
            last
        } else if !is_zero(created) {
            created
        } else {
            None
        }?;
        Some(schedule.next(from.0))
    }
}

impl Kind for CronJob {
    const RESOURCE: &'static str = "cronjobs";
    const KIND: &'static str = "CronJob";
    const GO_TYPE: &'static str = "*v1.CronJob";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("cronjob", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::annotations_family(
                "kube_cronjob_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_cronjob_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge("kube_cronjob_info", "Info about cronjob.", Stable, |c: &Self, s| {
                let spec = c.spec();
                s.sample(
                    [
                        ("schedule", spec.schedule.as_deref().unwrap_or_default()),
                        ("concurrency_policy", spec.concurrency_policy.as_deref().unwrap_or_default()),
                        ("timezone", spec.time_zone.as_deref().unwrap_or("local")),
                    ],
                    1.0,
                )
            }),
            common::created_family("kube_cronjob_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_cronjob_status_active",
                "Active holds pointers to currently running jobs.",
                Stable,
                |c: &Self, s| s.value(c.status().active.map_or(0, |a| a.len()) as f64),
            ),
            FamilyGen::gauge(
                "kube_cronjob_status_last_schedule_time",
                "LastScheduleTime keeps information of when was the last time the job was successfully scheduled.",
                Stable,
                |c: &Self, s| {
                    if let Some(t) = c.status().last_schedule_time {
                        s.value(go_unix(t.0) as f64)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_cronjob_status_last_successful_time",
                "LastSuccessfulTime keeps information of when was the last time the job was completed successfully.",
                Stable,
                |c: &Self, s| {
                    if let Some(t) = c.status().last_successful_time {
                        s.value(go_unix(t.0) as f64)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_cronjob_spec_suspend",
                "Suspend flag tells the controller to suspend subsequent executions.",
                Stable,
                |c: &Self, s| s.value(bool_f64(c.suspended())),
            ),
            FamilyGen::gauge(
                "kube_cronjob_spec_starting_deadline_seconds",
                "Deadline in seconds for starting the job if it misses scheduled time for any reason.",
                Stable,
                |c: &Self, s| {
                    if let Some(n) = c.spec().starting_deadline_seconds {
                        s.value(n as f64)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_cronjob_next_schedule_time",
                "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after the cron job's creation time if it's never been scheduled. Use this to determine if the job is delayed.",
                Stable,
                |c: &Self, s| {
                    if c.suspended() {
                        return;
                    }
                    if let Some(t) = c.next_schedule_time(local_zone()) {
                        s.value(t as f64)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_cronjob_schedule_invalid",
                "Emitted with value 1 for cronjobs whose schedule, in its configured timezone, cannot be parsed.",
                Alpha,
                |c: &Self, s| {
                    if c.parsed_schedule(local_zone()).is_err() {
                        s.value(1.0)
                    }
                },
            ),
            common::resource_version_family(
                "kube_cronjob_metadata_resource_version",
                "Resource version representing a specific version of the cronjob.",
                Stable,
            ),
            FamilyGen::gauge(
                "kube_cronjob_spec_successful_job_history_limit",
                "Successful job history limit tells the controller how many completed jobs should be preserved.",
                Alpha,
                |c: &Self, s| {
                    if let Some(n) = c.spec().successful_jobs_history_limit {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_cronjob_spec_failed_job_history_limit",
                "Failed job history limit tells the controller how many failed jobs should be preserved.",
                Alpha,
                |c: &Self, s| {
                    if let Some(n) = c.spec().failed_jobs_history_limit {
                        s.value(n.into())
                    }
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_cronjob_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["team.io/*".into()]))),
        };
        let got = render_yaml::<CronJob>(include_str!("fixtures/cronjob-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/cronjob-full.prom"));
    }

    #[test]
    fn minimal_cronjob_writes_defaults_and_skips_unset_values() {
        let got = render_yaml::<CronJob>("metadata: {name: c, namespace: ns}\n", &FamilyOptions::default());
        let lead = "namespace=\"ns\",cronjob=\"c\"";
        assert_eq!(
            samples_of(&got, "kube_cronjob_info"),
            [format!(
                "kube_cronjob_info{{{lead},schedule=\"\",concurrency_policy=\"\",timezone=\"local\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_cronjob_status_active"),
            [format!("kube_cronjob_status_active{{{lead}}} 0")]
        );
        assert_eq!(
            samples_of(&got, "kube_cronjob_spec_suspend"),
            [format!("kube_cronjob_spec_suspend{{{lead}}} 0")]
        );
        // An empty schedule does not parse.
        assert_eq!(
            samples_of(&got, "kube_cronjob_schedule_invalid"),
            [format!("kube_cronjob_schedule_invalid{{{lead}}} 1")]
        );
        for family in [
            "kube_cronjob_annotations",
            "kube_cronjob_labels",
            "kube_cronjob_created",
            "kube_cronjob_status_last_schedule_time",
            "kube_cronjob_status_last_successful_time",
            "kube_cronjob_spec_starting_deadline_seconds",
            "kube_cronjob_next_schedule_time",
            "kube_cronjob_metadata_resource_version",
            "kube_cronjob_spec_successful_job_history_limit",
            "kube_cronjob_spec_failed_job_history_limit",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn next_schedule_time_follows_upstream_rules() {
        let next = |yaml: &str| {
            let got = render_yaml::<CronJob>(yaml, &FamilyOptions::default());
            samples_of(&got, "kube_cronjob_next_schedule_time")
        };
        let lead = "namespace=\"ns\",cronjob=\"c\"";
        // From the creation time when never scheduled (a zone-independent schedule, so the
        // machine's zone does not matter).
        assert_eq!(
            next(
                "metadata: {name: c, namespace: ns, creationTimestamp: '2024-03-01T10:02:03Z'}\nspec: {schedule: '*/5 * * * *'}\n"
            ),
            [format!("kube_cronjob_next_schedule_time{{{lead}}} 1.7092875e+09")]
        );
        // Suspended, unparsable, or with neither time: no sample.
        for yaml in [
            "metadata: {name: c, namespace: ns, creationTimestamp: '2024-03-01T10:02:03Z'}\nspec: {schedule: '@hourly', suspend: true}\n",
            "metadata: {name: c, namespace: ns, creationTimestamp: '2024-03-01T10:02:03Z'}\nspec: {schedule: 'bogus'}\n",
            "metadata: {name: c, namespace: ns}\nspec: {schedule: '@hourly'}\n",
        ] {
            assert!(next(yaml).is_empty(), "{yaml}");
        }
        // A schedule that never fires gives Go's zero time.
        assert_eq!(
            next(
                "metadata: {name: c, namespace: ns, creationTimestamp: '2024-03-01T10:02:03Z'}\nspec: {schedule: '@triggered'}\n"
            ),
            [format!("kube_cronjob_next_schedule_time{{{lead}}} -6.21355968e+10")]
        );
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "c\n1"
  namespace: "ns\"q"
  resourceVersion: "x1"
  labels: {"a\u00e9": "x\\y", "B.c": "\"", "b-c": ""}
  annotations: {"n\u00f6te": "line1\nline2"}
spec: {schedule: "0 \"9\" * * *", timeZone: "Mars/Base\\1", concurrencyPolicy: "Forbid\n"}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<CronJob>(yaml, &options);
        let lead = "namespace=\"ns\\\"q\",cronjob=\"c\\n1\"";
        assert_eq!(
            samples_of(&got, "kube_cronjob_labels"),
            [format!(
                "kube_cronjob_labels{{{lead},label_b_c_conflict1=\"\\\"\",label_a_=\"x\\\\y\",label_b_c_conflict2=\"\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_cronjob_annotations"),
            [format!("kube_cronjob_annotations{{{lead},annotation_n_te=\"line1\\nline2\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_cronjob_info"),
            [format!(
                "kube_cronjob_info{{{lead},schedule=\"0 \\\"9\\\" * * *\",concurrency_policy=\"Forbid\\n\",timezone=\"Mars/Base\\\\1\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_cronjob_schedule_invalid"),
            [format!("kube_cronjob_schedule_invalid{{{lead}}} 1")]
        );
        assert!(samples_of(&got, "kube_cronjob_metadata_resource_version").is_empty());
    }
}
