//! `kube_secret_*` families (upstream `internal/store/secret.go`).
//!
//! The projection keeps metadata and `type` only: a Secret's `data` and `stringData` are skipped
//! while decoding and never stored or rendered.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{NamespaceResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a Secret that metrics read. There is deliberately no field for `data` or
/// `stringData`: serde skips unknown keys without building them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Secret {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// `type`, e.g. `Opaque`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
}
projection!(Secret, "Secret", "", "v1", "secrets", NamespaceResourceScope);

impl Kind for Secret {
    const RESOURCE: &'static str = "secrets";
    const KIND: &'static str = "Secret";
    const GO_TYPE: &'static str = "*v1.Secret";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("secret", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::info_family("kube_secret_info", "Information about secret.", Stable),
            FamilyGen::gauge("kube_secret_type", "Type about secret.", Stable, |sec: &Self, s| {
                s.sample([("type", sec.type_.as_deref().unwrap_or_default())], 1.0)
            }),
            common::annotations_family(
                "kube_secret_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_secret_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            common::created_family("kube_secret_created", "Unix creation timestamp", Stable),
            common::resource_version_family(
                "kube_secret_metadata_resource_version",
                "Resource version representing a specific version of secret.",
                Alpha,
            ),
            common::owner_family("kube_secret_owner", "Information about the Secret's owner.", Alpha),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_secret_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["kubernetes.io/*".into()]))),
        };
        let got = render_yaml::<Secret>(include_str!("fixtures/secret-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/secret-full.prom"));
    }

    #[test]
    fn secret_data_is_neither_kept_nor_rendered() {
        let yaml = include_str!("fixtures/secret-full.yaml");
        // base64 of "hunter2-s3cr3t-value" and the stringData value itself.
        assert!(yaml.contains("aHVudGVyMi1zM2NyM3QtdmFsdWU=") && yaml.contains("hunter2-s3cr3t-value"));
        let secret: Secret = serde_norway::from_str(yaml).expect("fixture parses");
        let kept = format!("{secret:?}");
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<Secret>(yaml, &options);
        for needle in ["aHVudGVyMi1zM2NyM3QtdmFsdWU=", "hunter2", "s3cr3t", "YWRtaW4=", "password", "token"] {
            assert!(!kept.contains(needle), "projection keeps {needle}: {kept}");
            assert!(!got.contains(needle), "exposition shows {needle}");
        }
        // Exhaustive destructuring: adding a field to the projection breaks this test on purpose.
        let Secret { metadata: _, type_: _ } = secret;
    }

    #[test]
    fn minimal_secret_writes_info_type_and_empty_owner() {
        let got = render_yaml::<Secret>("metadata: {name: s, namespace: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "kube_secret_info{namespace=\"ns\",secret=\"s\"} 1",
                "kube_secret_type{namespace=\"ns\",secret=\"s\",type=\"\"} 1",
                "kube_secret_owner{namespace=\"ns\",secret=\"s\",owner_kind=\"\",owner_name=\"\",owner_is_controller=\"\"} 1",
            ]
        );
        assert_eq!(got.matches("# TYPE ").count(), 7);
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: s
  namespace: ns
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"ünïcode": "ö", "kubernetes.io/x": "\\"}
type: "my\"type"
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<Secret>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_secret_labels"),
            [
                "kube_secret_labels{namespace=\"ns\",secret=\"s\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_secret_annotations"),
            [
                "kube_secret_annotations{namespace=\"ns\",secret=\"s\",annotation_kubernetes_io_x=\"\\\\\",annotation__n_code=\"ö\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_secret_type"),
            ["kube_secret_type{namespace=\"ns\",secret=\"s\",type=\"my\\\"type\"} 1"]
        );
    }
}
