//! `kube_rolebinding_*` families (upstream `internal/store/rolebinding.go`), built by the table
//! the four RBAC kinds share (`common::rbac_families`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::FamilyGen;
use k8s_openapi::{
    NamespaceResourceScope, api::rbac::v1::RoleRef, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a RoleBinding that metrics read (the subjects are skipped).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// The bound role.
    pub role_ref: Option<RoleRef>,
}
projection!(
    RoleBinding,
    "RoleBinding",
    "rbac.authorization.k8s.io",
    "v1",
    "rolebindings",
    NamespaceResourceScope
);

impl Kind for RoleBinding {
    const RESOURCE: &'static str = "rolebindings";
    const KIND: &'static str = "RoleBinding";
    const GO_TYPE: &'static str = "*v1.RoleBinding";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("rolebinding", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        common::rbac_families(
            [
                ("kube_rolebinding_annotations", "Kubernetes annotations converted to Prometheus labels."),
                ("kube_rolebinding_labels", "Kubernetes labels converted to Prometheus labels."),
                ("kube_rolebinding_info", "Information about rolebinding."),
                ("kube_rolebinding_created", "Unix creation timestamp"),
                (
                    "kube_rolebinding_metadata_resource_version",
                    "Resource version representing a specific version of the rolebinding.",
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
    fn full_role_binding_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["owner".into()]))),
        };
        let got = render_yaml::<RoleBinding>(include_str!("fixtures/rolebinding-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/rolebinding-full.prom"));
    }

    #[test]
    fn minimal_role_binding_writes_empty_role_ref() {
        let got =
            render_yaml::<RoleBinding>("metadata: {name: rb, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_rolebinding_info"),
            [
                "kube_rolebinding_info{namespace=\"ns\",rolebinding=\"rb\",roleref_kind=\"\",roleref_name=\"\"} 1"
            ]
        );
        for family in [
            "kube_rolebinding_annotations",
            "kube_rolebinding_labels",
            "kube_rolebinding_created",
            "kube_rolebinding_metadata_resource_version",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "rb\""
  namespace: "n\\"
  resourceVersion: "-1"
  labels: {"x": "\\\n"}
  annotations: {"ÿ": "\""}
roleRef: {kind: Role, name: "r\n"}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<RoleBinding>(yaml, &options);
        let rb = "namespace=\"n\\\\\",rolebinding=\"rb\\\"\"";
        assert_eq!(
            samples_of(&got, "kube_rolebinding_info"),
            [format!("kube_rolebinding_info{{{rb},roleref_kind=\"Role\",roleref_name=\"r\\n\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_rolebinding_labels"),
            [format!("kube_rolebinding_labels{{{rb},label_x=\"\\\\\\n\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_rolebinding_annotations"),
            [format!("kube_rolebinding_annotations{{{rb},annotation__=\"\\\"\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_rolebinding_metadata_resource_version"),
            [format!("kube_rolebinding_metadata_resource_version{{{rb}}} -1")]
        );
    }
}
