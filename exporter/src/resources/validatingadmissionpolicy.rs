//! `kube_validatingadmissionpolicy_*` families (upstream
//! `internal/store/validatingadmissionpolicy.go`). The spec shape and info sample are shared with
//! mutating policies (`common`).

use super::{
    FamilyOptions, Kind,
    common::{self, AdmissionPolicySpec, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a ValidatingAdmissionPolicy that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ValidatingAdmissionPolicy {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<AdmissionPolicySpec>,
}
projection!(
    ValidatingAdmissionPolicy,
    "ValidatingAdmissionPolicy",
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicies",
    ClusterResourceScope
);

impl Kind for ValidatingAdmissionPolicy {
    const RESOURCE: &'static str = "validatingadmissionpolicies";
    const KIND: &'static str = "ValidatingAdmissionPolicy";
    const GO_TYPE: &'static str = "*v1.ValidatingAdmissionPolicy";
    const NAMESPACED: bool = false;

    /// Cluster-scoped, but upstream still leads with the (empty) namespace.
    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("validatingadmissionpolicy", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_validatingadmissionpolicy_info",
                "Information about the ValidatingAdmissionPolicy.",
                Alpha,
                |p: &Self, s| common::write_admission_policy_info(s, p.spec.as_ref(), false),
            ),
            common::created_family(
                "kube_validatingadmissionpolicy_created",
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
    fn full_policy_matches_golden_exposition() {
        let got = render_yaml::<ValidatingAdmissionPolicy>(
            include_str!("fixtures/validatingadmissionpolicy-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/validatingadmissionpolicy-full.prom"));
    }

    #[test]
    fn minimal_policy_writes_empty_namespace_and_info() {
        let got =
            render_yaml::<ValidatingAdmissionPolicy>("metadata: {name: p}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_validatingadmissionpolicy_info"),
            [
                "kube_validatingadmissionpolicy_info{namespace=\"\",validatingadmissionpolicy=\"p\",param_api_version=\"\",param_kind=\"\",failure_policy=\"\"} 1"
            ]
        );
        assert!(samples_of(&got, "kube_validatingadmissionpolicy_created").is_empty());
    }
}
