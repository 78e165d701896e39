//! `kube_statefulset_*` families (upstream `internal/store/statefulset.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope,
    api::apps::v1::{StatefulSetSpec, StatefulSetStatus},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a StatefulSet that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StatefulSet {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<StatefulSetSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<StatefulSetStatus>,
}
projection!(StatefulSet, "StatefulSet", "apps", "v1", "statefulsets", NamespaceResourceScope);

impl StatefulSet {
    /// A status counter; 0 when unset, as upstream reads a zero-valued Go struct.
    fn status_count(&self, field: impl Fn(&StatefulSetStatus) -> Option<i32>) -> f64 {
        self.status.as_ref().and_then(field).unwrap_or(0).into()
    }

    /// `status.observedGeneration`; 0 when unset.
    fn observed_generation(&self) -> f64 {
        self.status.as_ref().and_then(|st| st.observed_generation).unwrap_or(0) as f64
    }

    /// A status revision; empty when unset.
    fn status_revision(&self, field: impl Fn(&StatefulSetStatus) -> Option<&String>) -> &str {
        self.status.as_ref().and_then(field).map(String::as_str).unwrap_or_default()
    }
}

impl Kind for StatefulSet {
    const RESOURCE: &'static str = "statefulsets";
    const KIND: &'static str = "StatefulSet";
    const GO_TYPE: &'static str = "*v1.StatefulSet";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("statefulset", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::created_family("kube_statefulset_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_statefulset_status_replicas",
                "The number of replicas per StatefulSet.",
                Stable,
                |ss: &Self, s| s.value(ss.status_count(|st| Some(st.replicas))),
            ),
            FamilyGen::gauge(
                "kube_statefulset_status_replicas_available",
                "The number of available replicas per StatefulSet.",
                Stable,
                |ss: &Self, s| s.value(ss.status_count(|st| st.available_replicas)),
            ),
            FamilyGen::gauge(
                "kube_statefulset_status_replicas_current",
                "The number of current replicas per StatefulSet.",
                Stable,
                |ss: &Self, s| s.value(ss.status_count(|st| st.current_replicas)),
            ),
            FamilyGen::gauge(
                "kube_statefulset_status_replicas_ready",
                "The number of ready replicas per StatefulSet.",
                Stable,
                |ss: &Self, s| s.value(ss.status_count(|st| st.ready_replicas)),
            ),
            FamilyGen::gauge(
                "kube_statefulset_status_replicas_updated",
                "The number of updated replicas per StatefulSet.",
                Stable,
                |ss: &Self, s| s.value(ss.status_count(|st| st.updated_replicas)),
            ),
            FamilyGen::gauge(
                "kube_statefulset_status_observed_generation",
                "The generation observed by the StatefulSet controller.",
                Stable,
                |ss: &Self, s| s.value(ss.observed_generation()),
            ),
            FamilyGen::gauge(
                "kube_statefulset_replicas",
                "Number of desired pods for a StatefulSet.",
                Stable,
                |ss: &Self, s| {
                    if let Some(n) = ss.spec.as_ref().and_then(|sp| sp.replicas) {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_statefulset_ordinals_start",
                "Start ordinal of the StatefulSet.",
                Stable,
                |ss: &Self, s| {
                    // Upstream writes the (zero-defaulted) start whenever `ordinals` is present.
                    if let Some(ordinals) = ss.spec.as_ref().and_then(|sp| sp.ordinals.as_ref()) {
                        s.value(ordinals.start.unwrap_or(0).into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_statefulset_metadata_generation",
                "Sequence number representing a specific generation of the desired state for the StatefulSet.",
                Stable,
                |ss: &Self, s| s.value(ss.metadata.generation.unwrap_or(0) as f64),
            ),
            FamilyGen::gauge(
                "kube_statefulset_persistentvolumeclaim_retention_policy",
                "Count of retention policy for StatefulSet template PVCs",
                Stable,
                |ss: &Self, s| {
                    let policy =
                        ss.spec.as_ref().and_then(|sp| sp.persistent_volume_claim_retention_policy.as_ref());
                    let deleted = policy.and_then(|p| p.when_deleted.as_deref()).unwrap_or_default();
                    let scaled = policy.and_then(|p| p.when_scaled.as_deref()).unwrap_or_default();
                    // A present policy with both fields empty writes nothing, as upstream.
                    if !deleted.is_empty() || !scaled.is_empty() {
                        s.sample([("when_deleted", deleted), ("when_scaled", scaled)], 1.0);
                    }
                },
            ),
            common::annotations_family(
                "kube_statefulset_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Stable,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_statefulset_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_statefulset_status_current_revision",
                "Indicates the version of the StatefulSet used to generate Pods in the sequence [0,currentReplicas).",
                Stable,
                |ss: &Self, s| {
                    s.sample([("revision", ss.status_revision(|st| st.current_revision.as_ref()))], 1.0)
                },
            ),
            FamilyGen::gauge(
                "kube_statefulset_status_update_revision",
                "Indicates the version of the StatefulSet used to generate Pods in the sequence [replicas-updatedReplicas,replicas)",
                Stable,
                |ss: &Self, s| {
                    s.sample([("revision", ss.status_revision(|st| st.update_revision.as_ref()))], 1.0)
                },
            ),
            common::deletion_family("kube_statefulset_deletion_timestamp", "Unix deletion timestamp", Stable),
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
    fn full_statefulset_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into(), "tier".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["team-*".into()]))),
        };
        let got = render_yaml::<StatefulSet>(include_str!("fixtures/statefulset-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/statefulset-full.prom"));
    }

    #[test]
    fn minimal_statefulset_writes_defaults_and_skips_unset_values() {
        let got =
            render_yaml::<StatefulSet>("metadata: {name: s, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(
            samples(&got),
            [
                "kube_statefulset_status_replicas{namespace=\"ns\",statefulset=\"s\"} 0",
                "kube_statefulset_status_replicas_available{namespace=\"ns\",statefulset=\"s\"} 0",
                "kube_statefulset_status_replicas_current{namespace=\"ns\",statefulset=\"s\"} 0",
                "kube_statefulset_status_replicas_ready{namespace=\"ns\",statefulset=\"s\"} 0",
                "kube_statefulset_status_replicas_updated{namespace=\"ns\",statefulset=\"s\"} 0",
                "kube_statefulset_status_observed_generation{namespace=\"ns\",statefulset=\"s\"} 0",
                "kube_statefulset_metadata_generation{namespace=\"ns\",statefulset=\"s\"} 0",
                "kube_statefulset_status_current_revision{namespace=\"ns\",statefulset=\"s\",revision=\"\"} 1",
                "kube_statefulset_status_update_revision{namespace=\"ns\",statefulset=\"s\",revision=\"\"} 1",
            ]
        );
        // Every family still has its header.
        assert_eq!(got.matches("# TYPE ").count(), 16);
    }

    #[test]
    fn partial_spec_follows_upstream_presence_rules() {
        // `ordinals` without `start` is start 0; an empty policy writes nothing; a one-sided policy
        // keeps the other label empty.
        let yaml = "metadata: {name: s, namespace: ns}\nspec: {ordinals: {}, persistentVolumeClaimRetentionPolicy: {}}\n";
        let got = render_yaml::<StatefulSet>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_statefulset_ordinals_start"),
            ["kube_statefulset_ordinals_start{namespace=\"ns\",statefulset=\"s\"} 0"]
        );
        assert!(samples_of(&got, "kube_statefulset_persistentvolumeclaim_retention_policy").is_empty());
        assert!(samples_of(&got, "kube_statefulset_replicas").is_empty());

        let yaml = "metadata: {name: s, namespace: ns}\nspec: {replicas: 0, persistentVolumeClaimRetentionPolicy: {whenScaled: Delete}}\n";
        let got = render_yaml::<StatefulSet>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_statefulset_persistentvolumeclaim_retention_policy"),
            [
                "kube_statefulset_persistentvolumeclaim_retention_policy{namespace=\"ns\",statefulset=\"s\",when_deleted=\"\",when_scaled=\"Delete\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_statefulset_replicas"),
            ["kube_statefulset_replicas{namespace=\"ns\",statefulset=\"s\"} 0"]
        );
        assert!(samples_of(&got, "kube_statefulset_ordinals_start").is_empty());
    }

    #[test]
    fn odd_label_values_are_escaped() {
        let yaml = r#"
metadata:
  name: s
  namespace: ns
  labels:
    app.kubernetes.io/name: "naïve ☃"
    quote: 'say "hi"'
    path: 'C:\dir'
    multi: "line1\nline2"
    camelKey: ""
status:
  currentRevision: "rev\"1\\\n"
"#;
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))), annotations: None };
        let got = render_yaml::<StatefulSet>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_statefulset_labels"),
            [concat!(
                r#"kube_statefulset_labels{namespace="ns",statefulset="s","#,
                r#"label_app_kubernetes_io_name="naïve ☃",label_camel_key="",label_multi="line1\nline2","#,
                r#"label_path="C:\\dir",label_quote="say \"hi\""} 1"#,
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_statefulset_status_current_revision"),
            [
                r#"kube_statefulset_status_current_revision{namespace="ns",statefulset="s",revision="rev\"1\\\n"} 1"#
            ]
        );
        // No raw newline leaked: every line is a header or a whole sample of this kind.
        assert!(got.lines().all(|l| l.starts_with("# HELP kube_statefulset_")
            || l.starts_with("# TYPE kube_statefulset_")
            || (l.starts_with("kube_statefulset_") && (l.ends_with(" 1") || l.ends_with(" 0")))));
    }
}
