//! `kube_mutatingwebhookconfiguration_*` families (upstream
//! `internal/store/mutatingwebhookconfiguration.go`), built by the table shared with validating
//! webhook configurations (`common::webhook_configuration_families`).

use super::{
    FamilyOptions, Kind,
    common::{self, Webhook, lean_meta},
    projection,
};
use crate::metric::FamilyGen;
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a MutatingWebhookConfiguration that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MutatingWebhookConfiguration {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// The webhooks, as far as metrics read them.
    #[serde(default)]
    pub webhooks: Option<Vec<Webhook>>,
}
projection!(
    MutatingWebhookConfiguration,
    "MutatingWebhookConfiguration",
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    ClusterResourceScope
);

impl Kind for MutatingWebhookConfiguration {
    const RESOURCE: &'static str = "mutatingwebhookconfigurations";
    const KIND: &'static str = "MutatingWebhookConfiguration";
    const GO_TYPE: &'static str = "*v1.MutatingWebhookConfiguration";
    const NAMESPACED: bool = false;

    /// Cluster-scoped, but upstream still leads with the (empty) namespace.
    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("mutatingwebhookconfiguration", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        common::webhook_configuration_families(
            [
                (
                    "kube_mutatingwebhookconfiguration_info",
                    "Information about the MutatingWebhookConfiguration.",
                ),
                ("kube_mutatingwebhookconfiguration_created", "Unix creation timestamp."),
                (
                    "kube_mutatingwebhookconfiguration_metadata_resource_version",
                    "Resource version representing a specific version of the MutatingWebhookConfiguration.",
                ),
                (
                    "kube_mutatingwebhookconfiguration_webhook_clientconfig_service",
                    "Service used by the apiserver to connect to a mutating webhook.",
                ),
            ],
            |c: &Self| c.webhooks.as_deref().unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::*;

    #[test]
    fn full_configuration_matches_golden_exposition() {
        let got = render_yaml::<MutatingWebhookConfiguration>(
            include_str!("fixtures/mutatingwebhookconfiguration-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/mutatingwebhookconfiguration-full.prom"));
    }

    #[test]
    fn minimal_configuration_writes_info_only() {
        let got =
            render_yaml::<MutatingWebhookConfiguration>("metadata: {name: m}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_mutatingwebhookconfiguration_info"),
            ["kube_mutatingwebhookconfiguration_info{namespace=\"\",mutatingwebhookconfiguration=\"m\"} 1"]
        );
        for family in [
            "kube_mutatingwebhookconfiguration_created",
            "kube_mutatingwebhookconfiguration_metadata_resource_version",
            "kube_mutatingwebhookconfiguration_webhook_clientconfig_service",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_webhook_names_are_escaped() {
        let yaml = r#"
metadata: {name: m}
webhooks:
- {name: "w\"\\\n", clientConfig: {url: "https://x"}}
- {name: "ü", clientConfig: {service: {name: "s\"", namespace: "n\\"}}}
"#;
        let got = render_yaml::<MutatingWebhookConfiguration>(yaml, &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_mutatingwebhookconfiguration_webhook_clientconfig_service"),
            [
                "kube_mutatingwebhookconfiguration_webhook_clientconfig_service{namespace=\"\",mutatingwebhookconfiguration=\"m\",webhook_name=\"w\\\"\\\\\\n\",service_name=\"\",service_namespace=\"\"} 1",
                "kube_mutatingwebhookconfiguration_webhook_clientconfig_service{namespace=\"\",mutatingwebhookconfiguration=\"m\",webhook_name=\"ü\",service_name=\"s\\\"\",service_namespace=\"n\\\\\"} 1",
            ]
        );
    }
}
