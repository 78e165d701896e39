//! `kube_clusterrolebinding_*` families (upstream `internal/store/clusterrolebinding.go`), built by
//! the table the four RBAC kinds share (`common::rbac_families`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::FamilyGen;
use k8s_openapi::{
    ClusterResourceScope, api::rbac::v1::RoleRef, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a ClusterRoleBinding that metrics read (the subjects are skipped).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRoleBinding {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// The bound role.
    pub role_ref: Option<RoleRef>,
}
projection!(
    ClusterRoleBinding,
    "ClusterRoleBinding",
    "rbac.authorization.k8s.io",
    "v1",
    "clusterrolebindings",
    ClusterResourceScope
);

impl Kind for ClusterRoleBinding {
    const RESOURCE: &'static str = "clusterrolebindings";
    const KIND: &'static str = "ClusterRoleBinding";
    const GO_TYPE: &'static str = "*v1.ClusterRoleBinding";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("clusterrolebinding", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        common::rbac_families(
            [
                (
                    "kube_clusterrolebinding_annotations",
                    "Kubernetes annotations converted to Prometheus labels.",
                ),
                ("kube_clusterrolebinding_labels", "Kubernetes labels converted to Prometheus labels."),
                ("kube_clusterrolebinding_info", "Information about clusterrolebinding."),
                ("kube_clusterrolebinding_created", "Unix creation timestamp"),
                (
                    "kube_clusterrolebinding_metadata_resource_version",
                    "Resource version representing a specific version of the clusterrolebinding.",
                ),
            ],
            o,
            |b: &Self, s| common::write_role_ref(s, b.role_ref.as_ref()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_cluster_role_binding_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["kubernetes.io/bootstrapping".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["rbac.authorization.kubernetes.io/*".into()]))),
        };
        let got = render_yaml::<ClusterRoleBinding>(
            include_str!("fixtures/clusterrolebinding-full.yaml"),
            &options,
        );
        assert_eq!(got, include_str!("fixtures/clusterrolebinding-full.prom"));
    }

    #[test]
    fn minimal_cluster_role_binding_writes_empty_role_ref() {
        let got = render_yaml::<ClusterRoleBinding>("metadata: {name: crb}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_clusterrolebinding_info"),
            [
                "kube_clusterrolebinding_info{clusterrolebinding=\"crb\",roleref_kind=\"\",roleref_name=\"\"} 1"
            ]
        );
        for family in [
            "kube_clusterrolebinding_annotations",
            "kube_clusterrolebinding_labels",
            "kube_clusterrolebinding_created",
            "kube_clusterrolebinding_metadata_resource_version",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "crb\\"
  labels: {"a": "\n", "ë": "\""}
  annotations: {"B": "x"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: "Cluster\"Role", name: "n\\\n"}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<ClusterRoleBinding>(yaml, &options);
        let crb = "clusterrolebinding=\"crb\\\\\"";
        assert_eq!(
            samples_of(&got, "kube_clusterrolebinding_info"),
            [format!(
                "kube_clusterrolebinding_info{{{crb},roleref_kind=\"Cluster\\\"Role\",roleref_name=\"n\\\\\\n\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_clusterrolebinding_labels"),
            [format!("kube_clusterrolebinding_labels{{{crb},label_a=\"\\n\",label__=\"\\\"\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_clusterrolebinding_annotations"),
            [format!("kube_clusterrolebinding_annotations{{{crb},annotation_b=\"x\"}} 1")]
        );
    }
}
