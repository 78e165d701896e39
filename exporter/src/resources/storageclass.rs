//! `kube_storageclass_*` families (upstream `internal/store/storageclass.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a StorageClass that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageClass {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// The volume plugin that provisions volumes of this class.
    pub provisioner: Option<String>,
    /// `Delete` when unset.
    pub reclaim_policy: Option<String>,
    /// `Immediate` when unset.
    pub volume_binding_mode: Option<String>,
}
projection!(StorageClass, "StorageClass", "storage.k8s.io", "v1", "storageclasses", ClusterResourceScope);

impl Kind for StorageClass {
    const RESOURCE: &'static str = "storageclasses";
    const KIND: &'static str = "StorageClass";
    const GO_TYPE: &'static str = "*v1.StorageClass";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("storageclass", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_storageclass_info",
                "Information about storageclass.",
                Stable,
                |c: &Self, s| {
                    s.sample(
                        [
                            ("provisioner", c.provisioner.as_deref().unwrap_or_default()),
                            // Upstream fills in the API server's defaults when these are unset.
                            ("reclaim_policy", c.reclaim_policy.as_deref().unwrap_or("Delete")),
                            ("volume_binding_mode", c.volume_binding_mode.as_deref().unwrap_or("Immediate")),
                        ],
                        1.0,
                    )
                },
            ),
            common::created_family("kube_storageclass_created", "Unix creation timestamp", Stable),
            common::annotations_family(
                "kube_storageclass_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_storageclass_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
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
    fn full_storage_class_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["tier".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&[
                "storageclass.kubernetes.io/is-default-class".into()
            ]))),
        };
        let got = render_yaml::<StorageClass>(include_str!("fixtures/storageclass-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/storageclass-full.prom"));
    }

    #[test]
    fn minimal_storage_class_writes_upstream_defaults() {
        let got = render_yaml::<StorageClass>("metadata: {name: sc}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_storageclass_info"),
            [
                "kube_storageclass_info{storageclass=\"sc\",provisioner=\"\",reclaim_policy=\"Delete\",volume_binding_mode=\"Immediate\"} 1"
            ]
        );
        for family in
            ["kube_storageclass_created", "kube_storageclass_annotations", "kube_storageclass_labels"]
        {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "sc\"\\"
  labels: {"tier\n": "gold\"\\", "ß": "é\n"}
  annotations: {"x/y": ""}
provisioner: "p\nq"
reclaimPolicy: ""
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<StorageClass>(yaml, &options);
        let sc = "storageclass=\"sc\\\"\\\\\"";
        assert_eq!(
            samples_of(&got, "kube_storageclass_info"),
            [format!(
                "kube_storageclass_info{{{sc},provisioner=\"p\\nq\",reclaim_policy=\"\",volume_binding_mode=\"Immediate\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_storageclass_labels"),
            [format!("kube_storageclass_labels{{{sc},label_tier_=\"gold\\\"\\\\\",label__=\"é\\n\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_storageclass_annotations"),
            [format!("kube_storageclass_annotations{{{sc},annotation_x_y=\"\"}} 1")]
        );
    }
}
