//! `kube_replicationcontroller_*` families (upstream `internal/store/replicationcontroller.go`).
//! Upstream has no labels or annotations family for this kind.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope, api::core::v1::ReplicationControllerStatus,
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a ReplicationController that metrics read (the pod template is left out).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReplicationController {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<ReplicationControllerSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<ReplicationControllerStatus>,
}
projection!(
    ReplicationController,
    "ReplicationController",
    "",
    "v1",
    "replicationcontrollers",
    NamespaceResourceScope
);

/// `spec` without `selector` and `template`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReplicationControllerSpec {
    /// Desired replicas.
    pub replicas: Option<i32>,
}

impl ReplicationController {
    fn status(&self) -> ReplicationControllerStatus {
        self.status.clone().unwrap_or_default()
    }
}

impl Kind for ReplicationController {
    const RESOURCE: &'static str = "replicationcontrollers";
    const KIND: &'static str = "ReplicationController";
    const GO_TYPE: &'static str = "*v1.ReplicationController";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("replicationcontroller", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::created_family("kube_replicationcontroller_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_replicationcontroller_status_replicas",
                "The number of replicas per ReplicationController.",
                Stable,
                |r: &Self, s| s.value(r.status().replicas.into()),
            ),
            FamilyGen::gauge(
                "kube_replicationcontroller_status_fully_labeled_replicas",
                "The number of fully labeled replicas per ReplicationController.",
                Stable,
                |r: &Self, s| s.value(r.status().fully_labeled_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_replicationcontroller_status_ready_replicas",
                "The number of ready replicas per ReplicationController.",
                Stable,
                |r: &Self, s| s.value(r.status().ready_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_replicationcontroller_status_available_replicas",
                "The number of available replicas per ReplicationController.",
                Stable,
                |r: &Self, s| s.value(r.status().available_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_replicationcontroller_status_observed_generation",
                "The generation observed by the ReplicationController controller.",
                Stable,
                |r: &Self, s| s.value(r.status().observed_generation.unwrap_or(0) as f64),
            ),
            FamilyGen::gauge(
                "kube_replicationcontroller_spec_replicas",
                "Number of desired pods for a ReplicationController.",
                Stable,
                |r: &Self, s| {
                    if let Some(n) = r.spec.as_ref().and_then(|sp| sp.replicas) {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_replicationcontroller_metadata_generation",
                "Sequence number representing a specific generation of the desired state.",
                Stable,
                |r: &Self, s| s.value(r.metadata.generation.unwrap_or(0) as f64),
            ),
            common::owner_family(
                "kube_replicationcontroller_owner",
                "Information about the ReplicationController's owner.",
                Alpha,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::*;

    #[test]
    fn full_replicationcontroller_matches_golden_exposition() {
        let got = render_yaml::<ReplicationController>(
            include_str!("fixtures/replicationcontroller-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/replicationcontroller-full.prom"));
    }

    #[test]
    fn minimal_replicationcontroller_writes_defaults_and_skips_unset_values() {
        let got = render_yaml::<ReplicationController>(
            "metadata: {name: r, namespace: ns}\n",
            &FamilyOptions::default(),
        );
        for family in [
            "kube_replicationcontroller_status_replicas",
            "kube_replicationcontroller_status_fully_labeled_replicas",
            "kube_replicationcontroller_status_ready_replicas",
            "kube_replicationcontroller_status_available_replicas",
            "kube_replicationcontroller_status_observed_generation",
            "kube_replicationcontroller_metadata_generation",
        ] {
            assert_eq!(
                samples_of(&got, family),
                [format!("{family}{{namespace=\"ns\",replicationcontroller=\"r\"}} 0")]
            );
        }
        for family in ["kube_replicationcontroller_created", "kube_replicationcontroller_spec_replicas"] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
        assert_eq!(
            samples_of(&got, "kube_replicationcontroller_owner"),
            [
                "kube_replicationcontroller_owner{namespace=\"ns\",replicationcontroller=\"r\",owner_kind=\"\",owner_name=\"\",owner_is_controller=\"\"} 1"
            ]
        );
    }

    #[test]
    fn odd_owner_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "r\n1"
  namespace: "ns\"q"
  ownerReferences:
  - {apiVersion: v1, kind: "K\\", name: "o\u00e9\n", uid: u, controller: true}
  - {apiVersion: v1, kind: "\"", name: "", uid: v, controller: false}
spec: {replicas: 0}
"#;
        let got = render_yaml::<ReplicationController>(yaml, &FamilyOptions::default());
        let lead = "namespace=\"ns\\\"q\",replicationcontroller=\"r\\n1\"";
        assert_eq!(
            samples_of(&got, "kube_replicationcontroller_owner"),
            [
                format!(
                    "kube_replicationcontroller_owner{{{lead},owner_kind=\"K\\\\\",owner_name=\"o\u{e9}\\n\",owner_is_controller=\"true\"}} 1"
                ),
                format!(
                    "kube_replicationcontroller_owner{{{lead},owner_kind=\"\\\"\",owner_name=\"\",owner_is_controller=\"false\"}} 1"
                ),
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_replicationcontroller_spec_replicas"),
            [format!("kube_replicationcontroller_spec_replicas{{{lead}}} 0")]
        );
    }
}
