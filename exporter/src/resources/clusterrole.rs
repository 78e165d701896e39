//! `kube_clusterrole_*` families (upstream `internal/store/clusterrole.go`), built by the table
//! the four RBAC kinds share (`common::rbac_families`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::FamilyGen;
use k8s_openapi::{ClusterResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a ClusterRole that metrics read: metadata only (the rules are skipped).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClusterRole {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
}
projection!(
    ClusterRole,
    "ClusterRole",
    "rbac.authorization.k8s.io",
    "v1",
    "clusterroles",
    ClusterResourceScope
);

impl Kind for ClusterRole {
    const RESOURCE: &'static str = "clusterroles";
    const KIND: &'static str = "ClusterRole";
    const GO_TYPE: &'static str = "*v1.ClusterRole";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("clusterrole", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        common::rbac_families(
            [
                ("kube_clusterrole_annotations", "Kubernetes annotations converted to Prometheus labels."),
                ("kube_clusterrole_labels", "Kubernetes labels converted to Prometheus labels."),
                ("kube_clusterrole_info", "Information about cluster role."),
                ("kube_clusterrole_created", "Unix creation timestamp"),
                (
                    "kube_clusterrole_metadata_resource_version",
                    "Resource version representing a specific version of the cluster role.",
                ),
            ],
            o,
            |_: &Self, s| s.value(1.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_cluster_role_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["kubernetes.io/bootstrapping".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["rbac.authorization.kubernetes.io/*".into()]))),
        };
        let got = render_yaml::<ClusterRole>(include_str!("fixtures/clusterrole-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/clusterrole-full.prom"));
    }

    #[test]
    fn minimal_cluster_role_writes_info_only() {
        let got = render_yaml::<ClusterRole>("metadata: {name: cr}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_clusterrole_info"),
            ["kube_clusterrole_info{clusterrole=\"cr\"} 1"]
        );
        for family in [
            "kube_clusterrole_annotations",
            "kube_clusterrole_labels",
            "kube_clusterrole_created",
            "kube_clusterrole_metadata_resource_version",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "cr\"\\\n"
  resourceVersion: "1_000"
  labels: {"aB": "\"", "ø": "x\ny"}
  annotations: {"z": "\\"}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<ClusterRole>(yaml, &options);
        let cr = "clusterrole=\"cr\\\"\\\\\\n\"";
        assert_eq!(
            samples_of(&got, "kube_clusterrole_labels"),
            [format!("kube_clusterrole_labels{{{cr},label_a_b=\"\\\"\",label__=\"x\\ny\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_clusterrole_annotations"),
            [format!("kube_clusterrole_annotations{{{cr},annotation_z=\"\\\\\"}} 1")]
        );
        // Go's ParseFloat takes digit separators.
        assert_eq!(
            samples_of(&got, "kube_clusterrole_metadata_resource_version"),
            [format!("kube_clusterrole_metadata_resource_version{{{cr}}} 1000")]
        );
    }
}
