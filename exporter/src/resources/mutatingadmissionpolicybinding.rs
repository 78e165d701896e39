//! `kube_mutatingadmissionpolicybinding_*` families (upstream
//! `internal/store/mutatingadmissionpolicybinding.go`). The spec shape and info sample are shared
//! with validating bindings (`common`).

use super::{
    FamilyOptions, Kind,
    common::{self, AdmissionPolicyBindingSpec, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a MutatingAdmissionPolicyBinding that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MutatingAdmissionPolicyBinding {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<AdmissionPolicyBindingSpec>,
}
projection!(
    MutatingAdmissionPolicyBinding,
    "MutatingAdmissionPolicyBinding",
    "admissionregistration.k8s.io",
    "v1",
    "mutatingadmissionpolicybindings",
    ClusterResourceScope
);

impl Kind for MutatingAdmissionPolicyBinding {
    const RESOURCE: &'static str = "mutatingadmissionpolicybindings";
    const KIND: &'static str = "MutatingAdmissionPolicyBinding";
    const GO_TYPE: &'static str = "*v1.MutatingAdmissionPolicyBinding";
    const NAMESPACED: bool = false;

    /// Cluster-scoped, but upstream still leads with the (empty) namespace.
    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("mutatingadmissionpolicybinding", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_mutatingadmissionpolicybinding_info",
                "Information about the MutatingAdmissionPolicyBinding.",
                Alpha,
                |b: &Self, s| common::write_admission_binding_info(s, b.spec.as_ref()),
            ),
            common::created_family(
                "kube_mutatingadmissionpolicybinding_created",
                "Unix creation timestamp.",
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
    fn full_binding_matches_golden_exposition() {
        let got = render_yaml::<MutatingAdmissionPolicyBinding>(
            include_str!("fixtures/mutatingadmissionpolicybinding-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/mutatingadmissionpolicybinding-full.prom"));
    }

    #[test]
    fn minimal_binding_writes_empty_info() {
        let got =
            render_yaml::<MutatingAdmissionPolicyBinding>("metadata: {name: b}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_mutatingadmissionpolicybinding_info"),
            [
                "kube_mutatingadmissionpolicybinding_info{namespace=\"\",mutatingadmissionpolicybinding=\"b\",policy_name=\"\",param_name=\"\",param_namespace=\"\",param_not_found_action=\"\"} 1"
            ]
        );
        assert!(samples_of(&got, "kube_mutatingadmissionpolicybinding_created").is_empty());
    }
}
