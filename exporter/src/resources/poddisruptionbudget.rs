//! `kube_poddisruptionbudget_*` families (upstream `internal/store/poddisruptionbudget.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope, api::policy::v1::PodDisruptionBudgetStatus,
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a PodDisruptionBudget that metrics read (no family reads the spec).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodDisruptionBudget {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Status.
    #[serde(default)]
    pub status: Option<PodDisruptionBudgetStatus>,
}
projection!(
    PodDisruptionBudget,
    "PodDisruptionBudget",
    "policy",
    "v1",
    "poddisruptionbudgets",
    NamespaceResourceScope
);

impl PodDisruptionBudget {
    fn status(&self) -> PodDisruptionBudgetStatus {
        self.status.clone().unwrap_or_default()
    }
}

impl Kind for PodDisruptionBudget {
    const RESOURCE: &'static str = "poddisruptionbudgets";
    const KIND: &'static str = "PodDisruptionBudget";
    const GO_TYPE: &'static str = "*v1.PodDisruptionBudget";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("poddisruptionbudget", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::annotations_family(
                "kube_poddisruptionbudget_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_poddisruptionbudget_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Alpha,
                o.labels.clone(),
            ),
            common::created_family("kube_poddisruptionbudget_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_poddisruptionbudget_status_current_healthy",
                "Current number of healthy pods",
                Stable,
                |p: &Self, s| s.value(p.status().current_healthy.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_poddisruptionbudget_status_desired_healthy",
                "Minimum desired number of healthy pods",
                Stable,
                |p: &Self, s| s.value(p.status().desired_healthy.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_poddisruptionbudget_status_pod_disruptions_allowed",
                "Number of pod disruptions that are currently allowed",
                Stable,
                |p: &Self, s| s.value(p.status().disruptions_allowed.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_poddisruptionbudget_status_expected_pods",
                "Total number of pods counted by this disruption budget",
                Stable,
                |p: &Self, s| s.value(p.status().expected_pods.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_poddisruptionbudget_status_observed_generation",
                "Most recent generation observed when updating this PDB status",
                Stable,
                |p: &Self, s| s.value(p.status().observed_generation.unwrap_or(0) as f64),
            ),
            common::deletion_family(
                "kube_poddisruptionbudget_deletion_timestamp",
                "Unix deletion timestamp",
                Alpha,
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
    fn full_pdb_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["owner".into(), "missing".into()]))),
        };
        let got = render_yaml::<PodDisruptionBudget>(
            include_str!("fixtures/poddisruptionbudget-full.yaml"),
            &options,
        );
        assert_eq!(got, include_str!("fixtures/poddisruptionbudget-full.prom"));
    }

    #[test]
    fn minimal_pdb_writes_zeroes_and_skips_unset_values() {
        let got = render_yaml::<PodDisruptionBudget>(
            "metadata: {name: p, namespace: ns}\n",
            &FamilyOptions::default(),
        );
        for family in [
            "kube_poddisruptionbudget_status_current_healthy",
            "kube_poddisruptionbudget_status_desired_healthy",
            "kube_poddisruptionbudget_status_pod_disruptions_allowed",
            "kube_poddisruptionbudget_status_expected_pods",
            "kube_poddisruptionbudget_status_observed_generation",
        ] {
            assert_eq!(
                samples_of(&got, family),
                [format!("{family}{{namespace=\"ns\",poddisruptionbudget=\"p\"}} 0")]
            );
        }
        for family in [
            "kube_poddisruptionbudget_annotations",
            "kube_poddisruptionbudget_labels",
            "kube_poddisruptionbudget_created",
            "kube_poddisruptionbudget_deletion_timestamp",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "p\n1"
  namespace: "ns\"q"
  labels: {"a\u00e9": "x\\y", "B.c": "\"", "b-c": ""}
  annotations: {"fooBar": "\u00e9\n\"", "zz": "\\"}
status: {currentHealthy: -1}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<PodDisruptionBudget>(yaml, &options);
        let lead = "namespace=\"ns\\\"q\",poddisruptionbudget=\"p\\n1\"";
        assert_eq!(
            samples_of(&got, "kube_poddisruptionbudget_labels"),
            [format!(
                "kube_poddisruptionbudget_labels{{{lead},label_b_c_conflict1=\"\\\"\",label_a_=\"x\\\\y\",label_b_c_conflict2=\"\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_poddisruptionbudget_annotations"),
            [format!(
                "kube_poddisruptionbudget_annotations{{{lead},annotation_foo_bar=\"\u{e9}\\n\\\"\",annotation_zz=\"\\\\\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_poddisruptionbudget_status_current_healthy"),
            [format!("kube_poddisruptionbudget_status_current_healthy{{{lead}}} -1")]
        );
    }
}
