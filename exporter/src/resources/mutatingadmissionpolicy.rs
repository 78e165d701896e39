//! `kube_mutatingadmissionpolicy_*` families (upstream `internal/store/mutatingadmissionpolicy.go`).
//! The spec shape and info sample are shared with validating policies (`common`).

use super::{
    FamilyOptions, Kind,
    common::{self, AdmissionPolicySpec, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a MutatingAdmissionPolicy that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MutatingAdmissionPolicy {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<AdmissionPolicySpec>,
}
projection!(
    MutatingAdmissionPolicy,
    "MutatingAdmissionPolicy",
    "admissionregistration.k8s.io",
    "v1",
    "mutatingadmissionpolicies",
    ClusterResourceScope
);

impl Kind for MutatingAdmissionPolicy {
    const RESOURCE: &'static str = "mutatingadmissionpolicies";
    const KIND: &'static str = "MutatingAdmissionPolicy";
    const GO_TYPE: &'static str = "*v1.MutatingAdmissionPolicy";
    const NAMESPACED: bool = false;

    /// Cluster-scoped, but upstream still leads with the (empty) namespace.
    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("mutatingadmissionpolicy", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_mutatingadmissionpolicy_info",
                "Information about the MutatingAdmissionPolicy.",
                Alpha,
                |p: &Self, s| common::write_admission_policy_info(s, p.spec.as_ref(), true),
            ),
            common::created_family("kube_mutatingadmissionpolicy_created", "Unix creation timestamp.", Alpha),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::*;

    #[test]
    fn full_policy_matches_golden_exposition() {
        let got = render_yaml::<MutatingAdmissionPolicy>(
            include_str!("fixtures/mutatingadmissionpolicy-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/mutatingadmissionpolicy-full.prom"));
    }

    #[test]
    fn minimal_policy_writes_empty_namespace_and_info() {
        let got = render_yaml::<MutatingAdmissionPolicy>(
            "metadata: {name: \"p\\\"\"}\n",
            &FamilyOptions::default(),
        );
        assert_eq!(
            samples_of(&got, "kube_mutatingadmissionpolicy_info"),
            [
                "kube_mutatingadmissionpolicy_info{namespace=\"\",mutatingadmissionpolicy=\"p\\\"\",param_api_version=\"\",param_kind=\"\",failure_policy=\"\",reinvocation_policy=\"\"} 1"
            ]
        );
        assert!(samples_of(&got, "kube_mutatingadmissionpolicy_created").is_empty());
    }
}
