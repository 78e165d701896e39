//! `kube_configmap_*` families (upstream `internal/store/configmap.go`).
//!
//! The projection keeps only metadata: a ConfigMap's `data` and `binaryData` are skipped while
//! decoding and never stored.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{NamespaceResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a ConfigMap that metrics read: metadata only.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ConfigMap {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
}
projection!(ConfigMap, "ConfigMap", "", "v1", "configmaps", NamespaceResourceScope);

impl Kind for ConfigMap {
    const RESOURCE: &'static str = "configmaps";
    const KIND: &'static str = "ConfigMap";
    const GO_TYPE: &'static str = "*v1.ConfigMap";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("configmap", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::annotations_family(
                "kube_configmap_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_configmap_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            common::info_family("kube_configmap_info", "Information about configmap.", Stable),
            common::created_family("kube_configmap_created", "Unix creation timestamp", Stable),
            common::resource_version_family(
                "kube_configmap_metadata_resource_version",
                "Resource version representing a specific version of the configmap.",
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
    fn full_configmap_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into(), "tier".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["team-*".into()]))),
        };
        let yaml = include_str!("fixtures/configmap-full.yaml");
        let got = render_yaml::<ConfigMap>(yaml, &options);
        assert_eq!(got, include_str!("fixtures/configmap-full.prom"));
        // The fixture's data never reaches the output.
        assert!(yaml.contains("s3cr3t-config-value") && !got.contains("s3cr3t-config-value"));
    }

    #[test]
    fn minimal_configmap_writes_info_only() {
        let got = render_yaml::<ConfigMap>("metadata: {name: c, namespace: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["kube_configmap_info{namespace=\"ns\",configmap=\"c\"} 1"]);
        assert_eq!(got.matches("# TYPE ").count(), 5);
    }

    #[test]
    fn resource_version_is_read_like_parse_float() {
        for (rv, want) in [("123", Some("123")), ("1_000", Some("1000")), ("abc", None), ("", None)] {
            let yaml = format!("metadata: {{name: c, namespace: ns, resourceVersion: '{rv}'}}\n");
            let got = render_yaml::<ConfigMap>(&yaml, &FamilyOptions::default());
            let want: Vec<String> = want
                .map(|v| {
                    format!(
                        "kube_configmap_metadata_resource_version{{namespace=\"ns\",configmap=\"c\"}} {v}"
                    )
                })
                .into_iter()
                .collect();
            assert_eq!(samples_of(&got, "kube_configmap_metadata_resource_version"), want, "{rv:?}");
        }
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: "c\"1"
  namespace: "n\\s"
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"é": "x", "note": "line1\nline2"}
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<ConfigMap>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_configmap_labels"),
            [
                "kube_configmap_labels{namespace=\"n\\\\s\",configmap=\"c\\\"1\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_configmap_annotations"),
            [
                "kube_configmap_annotations{namespace=\"n\\\\s\",configmap=\"c\\\"1\",annotation_note=\"line1\\nline2\",annotation__=\"x\"} 1"
            ]
        );
    }
}
