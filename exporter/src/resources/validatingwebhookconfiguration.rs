//! `kube_validatingwebhookconfiguration_*` families (upstream
//! `internal/store/validatingwebhookconfiguration.go`), built by the table shared with mutating
//! webhook configurations (`common::webhook_configuration_families`).

use super::{
    FamilyOptions, Kind,
    common::{self, Webhook, lean_meta},
    projection,
};
use crate::metric::FamilyGen;
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a ValidatingWebhookConfiguration that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ValidatingWebhookConfiguration {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// The webhooks, as far as metrics read them.
    #[serde(default)]
    pub webhooks: Option<Vec<Webhook>>,
}
projection!(
    ValidatingWebhookConfiguration,
    "ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io",
    "v1",
    "validatingwebhookconfigurations",
    ClusterResourceScope
);

impl Kind for ValidatingWebhookConfiguration {
    const RESOURCE: &'static str = "validatingwebhookconfigurations";
    const KIND: &'static str = "ValidatingWebhookConfiguration";
    const GO_TYPE: &'static str = "*v1.ValidatingWebhookConfiguration";
    const NAMESPACED: bool = false;

    /// Cluster-scoped, but upstream still leads with the (empty) namespace.
    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("validatingwebhookconfiguration", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        common::webhook_configuration_families(
            [
                (
                    "kube_validatingwebhookconfiguration_info",
                    "Information about the ValidatingWebhookConfiguration.",
                ),
                ("kube_validatingwebhookconfiguration_created", "Unix creation timestamp."),
                (
                    "kube_validatingwebhookconfiguration_metadata_resource_version",
                    "Resource version representing a specific version of the ValidatingWebhookConfiguration.",
                ),
                (
                    "kube_validatingwebhookconfiguration_webhook_clientconfig_service",
                    "Service used by the apiserver to connect to a validating webhook.",
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
        let got = render_yaml::<ValidatingWebhookConfiguration>(
            include_str!("fixtures/validatingwebhookconfiguration-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/validatingwebhookconfiguration-full.prom"));
    }

    #[test]
    fn minimal_configuration_writes_info_only() {
        let got =
            render_yaml::<ValidatingWebhookConfiguration>("metadata: {name: v}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_validatingwebhookconfiguration_info"),
            [
                "kube_validatingwebhookconfiguration_info{namespace=\"\",validatingwebhookconfiguration=\"v\"} 1"
            ]
        );
        for family in [
            "kube_validatingwebhookconfiguration_created",
            "kube_validatingwebhookconfiguration_metadata_resource_version",
            "kube_validatingwebhookconfiguration_webhook_clientconfig_service",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }
}
