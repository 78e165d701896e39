//! `kube_ingressclass_*` families (upstream `internal/store/ingressclass.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    ClusterResourceScope, api::networking::v1::IngressClassSpec,
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of an IngressClass that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IngressClass {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<IngressClassSpec>,
}
projection!(IngressClass, "IngressClass", "networking.k8s.io", "v1", "ingressclasses", ClusterResourceScope);

impl Kind for IngressClass {
    const RESOURCE: &'static str = "ingressclasses";
    const KIND: &'static str = "IngressClass";
    const GO_TYPE: &'static str = "*v1.IngressClass";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("ingressclass", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_ingressclass_info",
                "Information about ingressclass.",
                Alpha,
                |c: &Self, s| {
                    let controller = c.spec.as_ref().and_then(|sp| sp.controller.as_deref());
                    s.sample([("controller", controller.unwrap_or_default())], 1.0)
                },
            ),
            common::created_family("kube_ingressclass_created", "Unix creation timestamp", Alpha),
            common::annotations_family(
                "kube_ingressclass_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_ingressclass_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Alpha,
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
    fn full_ingress_class_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app.kubernetes.io/*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&[
                "ingressclass.kubernetes.io/is-default-class".into()
            ]))),
        };
        let got = render_yaml::<IngressClass>(include_str!("fixtures/ingressclass-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/ingressclass-full.prom"));
    }

    #[test]
    fn minimal_ingress_class_writes_empty_controller() {
        let got = render_yaml::<IngressClass>("metadata: {name: ic}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_ingressclass_info"),
            ["kube_ingressclass_info{ingressclass=\"ic\",controller=\"\"} 1"]
        );
        for family in
            ["kube_ingressclass_created", "kube_ingressclass_annotations", "kube_ingressclass_labels"]
        {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "ic\n"
  labels: {"fooBar": "a\\b", "ü": "\"q\""}
  annotations: {"a/b": "x\ny"}
spec: {controller: "k8s.io/\"nginx\""}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<IngressClass>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_ingressclass_info"),
            ["kube_ingressclass_info{ingressclass=\"ic\\n\",controller=\"k8s.io/\\\"nginx\\\"\"} 1"]
        );
        assert_eq!(
            samples_of(&got, "kube_ingressclass_labels"),
            [
                "kube_ingressclass_labels{ingressclass=\"ic\\n\",label_foo_bar=\"a\\\\b\",label__=\"\\\"q\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_ingressclass_annotations"),
            ["kube_ingressclass_annotations{ingressclass=\"ic\\n\",annotation_a_b=\"x\\ny\"} 1"]
        );
    }
}
