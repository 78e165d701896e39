//! `kube_namespace_*` families (upstream `internal/store/namespace.go`). Namespaces are
//! cluster-scoped: the only default label is `namespace`, the object's own name.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*, bool_f64};
use k8s_openapi::{
    ClusterResourceScope, api::core::v1::NamespaceStatus, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a Namespace that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Namespace {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Status.
    #[serde(default)]
    pub status: Option<NamespaceStatus>,
}
projection!(Namespace, "Namespace", "", "v1", "namespaces", ClusterResourceScope);

/// The phases `kube_namespace_status_phase` always reports, in upstream's order.
const PHASES: [&str; 2] = ["Active", "Terminating"];

impl Kind for Namespace {
    const RESOURCE: &'static str = "namespaces";
    const KIND: &'static str = "Namespace";
    const GO_TYPE: &'static str = "*v1.Namespace";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("namespace", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::created_family("kube_namespace_created", "Unix creation timestamp", Stable),
            common::annotations_family(
                "kube_namespace_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_namespace_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_namespace_status_phase",
                "kubernetes namespace status phase.",
                Stable,
                |n: &Self, s| {
                    let phase = n.status.as_ref().and_then(|st| st.phase.as_deref()).unwrap_or_default();
                    for p in PHASES {
                        s.sample([("phase", p)], bool_f64(phase == p));
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_namespace_status_condition",
                "The condition of a namespace.",
                Alpha,
                |n: &Self, s| {
                    for c in n.status.as_ref().and_then(|st| st.conditions.as_deref()).unwrap_or_default() {
                        common::write_condition_status(s, &[("condition", c.type_.as_str())], &c.status);
                    }
                },
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
    fn full_namespace_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["owner".into()]))),
        };
        let got = render_yaml::<Namespace>(include_str!("fixtures/namespace-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/namespace-full.prom"));
    }

    #[test]
    fn minimal_namespace_writes_both_phases_as_zero() {
        let got = render_yaml::<Namespace>("metadata: {name: ns}\n", &FamilyOptions::default());
        let samples: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "kube_namespace_status_phase{namespace=\"ns\",phase=\"Active\"} 0",
                "kube_namespace_status_phase{namespace=\"ns\",phase=\"Terminating\"} 0",
            ]
        );
        assert_eq!(got.matches("# TYPE ").count(), 5);
    }

    #[test]
    fn odd_labels_and_annotations_are_escaped() {
        let yaml = r#"
metadata:
  name: "n\"s"
  labels: {"app.kubernetes.io/name": "naïve ☃", quote: 'say "hi"', path: 'C:\dir', "multi": "a\nb"}
  annotations: {"": "empty key"}
status:
  phase: "Odd\\"
  conditions: [{type: "T\n", status: "True"}]
"#;
        let all = Some(Arc::new(KeyAllowlist::new(&["*".into()])));
        let options = FamilyOptions { labels: all.clone(), annotations: all };
        let got = render_yaml::<Namespace>(yaml, &options);
        assert_eq!(
            samples_of(&got, "kube_namespace_labels"),
            [
                "kube_namespace_labels{namespace=\"n\\\"s\",label_app_kubernetes_io_name=\"naïve ☃\",label_multi=\"a\\nb\",label_path=\"C:\\\\dir\",label_quote=\"say \\\"hi\\\"\"} 1"
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_namespace_annotations"),
            ["kube_namespace_annotations{namespace=\"n\\\"s\",annotation_=\"empty key\"} 1"]
        );
        assert_eq!(
            samples_of(&got, "kube_namespace_status_phase"),
            [
                "kube_namespace_status_phase{namespace=\"n\\\"s\",phase=\"Active\"} 0",
                "kube_namespace_status_phase{namespace=\"n\\\"s\",phase=\"Terminating\"} 0",
            ]
        );
        assert_eq!(
            samples_of(&got, "kube_namespace_status_condition"),
            [
                "kube_namespace_status_condition{namespace=\"n\\\"s\",condition=\"T\\n\",status=\"true\"} 1",
                "kube_namespace_status_condition{namespace=\"n\\\"s\",condition=\"T\\n\",status=\"false\"} 0",
                "kube_namespace_status_condition{namespace=\"n\\\"s\",condition=\"T\\n\",status=\"unknown\"} 0",
            ]
        );
    }
}
