//! `kube_validatingadmissionpolicybinding_*` families (upstream
//! `internal/store/validatingadmissionpolicybinding.go`). The spec shape and info sample are
//! shared with mutating bindings (`common`).

use super::{
    FamilyOptions, Kind,
    common::{self, AdmissionPolicyBindingSpec, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a ValidatingAdmissionPolicyBinding that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ValidatingAdmissionPolicyBinding {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<AdmissionPolicyBindingSpec>,
}
projection!(
    ValidatingAdmissionPolicyBinding,
    "ValidatingAdmissionPolicyBinding",
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    ClusterResourceScope
);

impl Kind for ValidatingAdmissionPolicyBinding {
    const RESOURCE: &'static str = "validatingadmissionpolicybindings";
    const KIND: &'static str = "ValidatingAdmissionPolicyBinding";
    const GO_TYPE: &'static str = "*v1.ValidatingAdmissionPolicyBinding";
    const NAMESPACED: bool = false;

    /// Cluster-scoped, but upstream still leads with the (empty) namespace.
    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("validatingadmissionpolicybinding", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_validatingadmissionpolicybinding_info",
                "Information about the ValidatingAdmissionPolicyBinding.",
                Alpha,
                |b: &Self, s| common::write_admission_binding_info(s, b.spec.as_ref()),
            ),
            common::created_family(
                "kube_validatingadmissionpolicybinding_created",
                "Unix creation timestamp.",
                Alpha,
            ),
            FamilyGen::gauge(
                "kube_validatingadmissionpolicybinding_validation_action",
                "Validation actions for the ValidatingAdmissionPolicyBinding.",
                Alpha,
                |b: &Self, s| {
                    let actions = b.spec.as_ref().and_then(|sp| sp.validation_actions.as_deref());
                    for action in actions.unwrap_or_default() {
                        s.sample([("action", action.as_str())], 1.0);
                    }
                },
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
        let got = render_yaml::<ValidatingAdmissionPolicyBinding>(
            include_str!("fixtures/validatingadmissionpolicybinding-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/validatingadmissionpolicybinding-full.prom"));
    }

    #[test]
    fn minimal_binding_writes_empty_info_and_no_actions() {
        let got = render_yaml::<ValidatingAdmissionPolicyBinding>(
            "metadata: {name: b}\n",
            &FamilyOptions::default(),
        );
        assert_eq!(
            samples_of(&got, "kube_validatingadmissionpolicybinding_info"),
            [
                "kube_validatingadmissionpolicybinding_info{namespace=\"\",validatingadmissionpolicybinding=\"b\",policy_name=\"\",param_name=\"\",param_namespace=\"\",param_not_found_action=\"\"} 1"
            ]
        );
        assert!(samples_of(&got, "kube_validatingadmissionpolicybinding_created").is_empty());
        assert!(samples_of(&got, "kube_validatingadmissionpolicybinding_validation_action").is_empty());
    }
}
