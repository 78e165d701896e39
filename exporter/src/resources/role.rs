//! `kube_role_*` families (upstream `internal/store/role.go`), built by the table the four RBAC
//! kinds share (`common::rbac_families`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::FamilyGen;
use k8s_openapi::{NamespaceResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::Deserialize;

/// The fields of a Role that metrics read: metadata only (the rules are skipped).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Role {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
}
projection!(Role, "Role", "rbac.authorization.k8s.io", "v1", "roles", NamespaceResourceScope);

impl Kind for Role {
    const RESOURCE: &'static str = "roles";
    const KIND: &'static str = "Role";
    const GO_TYPE: &'static str = "*v1.Role";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("role", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        common::rbac_families(
            [
                ("kube_role_annotations", "Kubernetes annotations converted to Prometheus labels."),
                ("kube_role_labels", "Kubernetes labels converted to Prometheus labels."),
                ("kube_role_info", "Information about role."),
                ("kube_role_created", "Unix creation timestamp"),
                (
                    "kube_role_metadata_resource_version",
                    "Resource version representing a specific version of the role.",
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
    fn full_role_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["owner".into()]))),
        };
        let got = render_yaml::<Role>(include_str!("fixtures/role-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/role-full.prom"));
    }

    #[test]
    fn minimal_role_writes_info_only() {
        let got = render_yaml::<Role>("metadata: {name: r, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(samples_of(&got, "kube_role_info"), ["kube_role_info{namespace=\"ns\",role=\"r\"} 1"]);
        for family in [
            "kube_role_annotations",
            "kube_role_labels",
            "kube_role_created",
            "kube_role_metadata_resource_version",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "r\n"
  namespace: "n\"s\\"
  resourceVersion: "12e3"
  labels: {"Ab-c": "ü\\"}
  annotations: {"é": "\"\n"}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<Role>(yaml, &options);
        let r = "namespace=\"n\\\"s\\\\\",role=\"r\\n\"";
        assert_eq!(
            samples_of(&got, "kube_role_labels"),
            [format!("kube_role_labels{{{r},label_ab_c=\"ü\\\\\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_role_annotations"),
            [format!("kube_role_annotations{{{r},annotation__=\"\\\"\\n\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_role_metadata_resource_version"),
            [format!("kube_role_metadata_resource_version{{{r}}} 12000")]
        );
    }
}
