//! `kube_daemonset_*` families (upstream `internal/store/daemonset.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope, api::apps::v1::DaemonSetStatus, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a DaemonSet that metrics read. No family reads the spec, so it is not kept (its
/// pod template is the bulk of the object).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DaemonSet {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Status.
    #[serde(default)]
    pub status: Option<DaemonSetStatus>,
}
projection!(DaemonSet, "DaemonSet", "apps", "v1", "daemonsets", NamespaceResourceScope);

impl DaemonSet {
    /// A status counter; 0 when unset, as upstream reads a zero-valued Go struct.
    fn status_count(&self, field: impl Fn(&DaemonSetStatus) -> Option<i32>) -> f64 {
        self.status.as_ref().and_then(field).unwrap_or(0).into()
    }

    /// `status.observedGeneration`; 0 when unset.
    fn observed_generation(&self) -> f64 {
        self.status.as_ref().and_then(|st| st.observed_generation).unwrap_or(0) as f64
    }
}

impl Kind for DaemonSet {
    const RESOURCE: &'static str = "daemonsets";
    const KIND: &'static str = "DaemonSet";
    const GO_TYPE: &'static str = "*v1.DaemonSet";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("daemonset", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::created_family("kube_daemonset_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_daemonset_status_current_number_scheduled",
                "The number of nodes running at least one daemon pod and are supposed to.",
                Stable,
                |ds: &Self, s| s.value(ds.status_count(|st| Some(st.current_number_scheduled))),
            ),
            FamilyGen::gauge(
                "kube_daemonset_status_desired_number_scheduled",
                "The number of nodes that should be running the daemon pod.",
                Stable,
                |ds: &Self, s| s.value(ds.status_count(|st| Some(st.desired_number_scheduled))),
            ),
            FamilyGen::gauge(
                "kube_daemonset_status_number_available",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available",
                Stable,
                |ds: &Self, s| s.value(ds.status_count(|st| st.number_available)),
            ),
            FamilyGen::gauge(
                "kube_daemonset_status_number_misscheduled",
                "The number of nodes running a daemon pod but are not supposed to.",
                Stable,
                |ds: &Self, s| s.value(ds.status_count(|st| Some(st.number_misscheduled))),
            ),
            FamilyGen::gauge(
                "kube_daemonset_status_number_ready",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
                Stable,
                |ds: &Self, s| s.value(ds.status_count(|st| Some(st.number_ready))),
            ),
            FamilyGen::gauge(
                "kube_daemonset_status_number_unavailable",
                "The number of nodes that should be running the daemon pod and have none of the daemon pod running and available",
                Stable,
                |ds: &Self, s| s.value(ds.status_count(|st| st.number_unavailable)),
            ),
            FamilyGen::gauge(
                "kube_daemonset_status_observed_generation",
                "The most recent generation observed by the daemon set controller.",
                Stable,
                |ds: &Self, s| s.value(ds.observed_generation()),
            ),
            FamilyGen::gauge(
                "kube_daemonset_status_updated_number_scheduled",
                "The total number of nodes that are running updated daemon pod",
                Stable,
                |ds: &Self, s| s.value(ds.status_count(|st| st.updated_number_scheduled)),
            ),
            FamilyGen::gauge(
                "kube_daemonset_metadata_generation",
                "Sequence number representing a specific generation of the desired state.",
                Stable,
                |ds: &Self, s| s.value(ds.metadata.generation.unwrap_or(0) as f64),
            ),
            common::deletion_family("kube_daemonset_deletion_timestamp", "Unix deletion timestamp", Alpha),
            common::annotations_family(
                "kube_daemonset_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_daemonset_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    /// Every sample line of an exposition, headers dropped.
    fn samples(exposition: &str) -> Vec<&str> {
        exposition.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn full_daemonset_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into(), "k8s-*".into(), "k8s.app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<DaemonSet>(include_str!("fixtures/daemonset-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/daemonset-full.prom"));
    }

    #[test]
    fn minimal_daemonset_writes_zeroes_and_skips_timestamps() {
        let got = render_yaml::<DaemonSet>("metadata: {name: d, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(
            samples(&got),
            [
                "kube_daemonset_status_current_number_scheduled{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_status_desired_number_scheduled{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_status_number_available{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_status_number_misscheduled{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_status_number_ready{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_status_number_unavailable{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_status_observed_generation{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_status_updated_number_scheduled{namespace=\"ns\",daemonset=\"d\"} 0",
                "kube_daemonset_metadata_generation{namespace=\"ns\",daemonset=\"d\"} 0",
            ]
        );
        // Every family still has its header.
        assert_eq!(got.matches("# TYPE ").count(), 13);
    }

    #[test]
    fn empty_allowlist_match_still_writes_one_sample() {
        // An allowlist entry that matches nothing gives the default labels alone, as upstream.
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["absent".into()]))),
            annotations: None,
        };
        let got =
            render_yaml::<DaemonSet>("metadata: {name: d, namespace: ns, labels: {app: x}}\n", &options);
        assert_eq!(
            samples_of(&got, "kube_daemonset_labels"),
            ["kube_daemonset_labels{namespace=\"ns\",daemonset=\"d\"} 1"]
        );
        assert!(samples_of(&got, "kube_daemonset_annotations").is_empty());
    }

    #[test]
    fn odd_label_values_are_escaped() {
        let yaml = r#"
metadata:
  name: d
  namespace: ns
  labels:
    app.kubernetes.io/name: "naïve ☃"
    quote: 'say "hi"'
    path: 'C:\dir'
    multi: "line1\nline2"
    camelKey: ""
"#;
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))), annotations: None };
        let got = render_yaml::<DaemonSet>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_daemonset_labels"),
            [concat!(
                r#"kube_daemonset_labels{namespace="ns",daemonset="d","#,
                r#"label_app_kubernetes_io_name="naïve ☃",label_camel_key="",label_multi="line1\nline2","#,
                r#"label_path="C:\\dir",label_quote="say \"hi\""} 1"#,
            )]
        );
        // No raw newline leaked: every line is a header or a whole sample of this kind.
        assert!(got.lines().all(|l| l.starts_with("# HELP kube_daemonset_")
            || l.starts_with("# TYPE kube_daemonset_")
            || (l.starts_with("kube_daemonset_") && (l.ends_with(" 1") || l.ends_with(" 0")))));
    }
}
