//! `kube_replicaset_*` families (upstream `internal/store/replicaset.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope,
    api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a ReplicaSet that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReplicaSet {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<ReplicaSetSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<ReplicaSetStatus>,
}
projection!(ReplicaSet, "ReplicaSet", "apps", "v1", "replicasets", NamespaceResourceScope);

impl ReplicaSet {
    fn status(&self) -> ReplicaSetStatus {
        self.status.clone().unwrap_or_default()
    }
}

impl Kind for ReplicaSet {
    const RESOURCE: &'static str = "replicasets";
    const KIND: &'static str = "ReplicaSet";
    const GO_TYPE: &'static str = "*v1.ReplicaSet";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("replicaset", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::created_family("kube_replicaset_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_replicaset_status_replicas",
                "The number of replicas per ReplicaSet.",
                Stable,
                |r: &Self, s| s.value(r.status().replicas.into()),
            ),
            FamilyGen::gauge(
                "kube_replicaset_status_fully_labeled_replicas",
                "The number of fully labeled replicas per ReplicaSet.",
                Stable,
                |r: &Self, s| s.value(r.status().fully_labeled_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_replicaset_status_ready_replicas",
                "The number of ready replicas per ReplicaSet.",
                Stable,
                |r: &Self, s| s.value(r.status().ready_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_replicaset_status_terminating_replicas",
                "The number of terminating replicas per ReplicaSet.",
                Alpha,
                |r: &Self, s| {
                    if let Some(n) = r.status().terminating_replicas {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_replicaset_status_observed_generation",
                "The generation observed by the ReplicaSet controller.",
                Stable,
                |r: &Self, s| s.value(r.status().observed_generation.unwrap_or(0) as f64),
            ),
            FamilyGen::gauge(
                "kube_replicaset_spec_replicas",
                "Number of desired pods for a ReplicaSet.",
                Stable,
                |r: &Self, s| {
                    if let Some(n) = r.spec.as_ref().and_then(|sp| sp.replicas) {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_replicaset_metadata_generation",
                "Sequence number representing a specific generation of the desired state.",
                Stable,
                |r: &Self, s| s.value(r.metadata.generation.unwrap_or(0) as f64),
            ),
            common::owner_family(
                "kube_replicaset_owner",
                "Information about the ReplicaSet's owner.",
                Stable,
            ),
            common::annotations_family(
                "kube_replicaset_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_replicaset_labels",
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
    fn full_replicaset_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into(), "pod-template-hash".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["deployment.kubernetes.io/*".into()]))),
        };
        let got = render_yaml::<ReplicaSet>(include_str!("fixtures/replicaset-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/replicaset-full.prom"));
    }

    #[test]
    fn minimal_replicaset_writes_defaults_and_skips_unset_values() {
        let got =
            render_yaml::<ReplicaSet>("metadata: {name: rs, namespace: ns}\n", &FamilyOptions::default());
        for (family, want) in [
            ("kube_replicaset_status_replicas", "0"),
            ("kube_replicaset_status_fully_labeled_replicas", "0"),
            ("kube_replicaset_status_ready_replicas", "0"),
            ("kube_replicaset_status_observed_generation", "0"),
            ("kube_replicaset_metadata_generation", "0"),
        ] {
            assert_eq!(
                samples_of(&got, family),
                [format!("{family}{{namespace=\"ns\",replicaset=\"rs\"}} {want}")]
            );
        }
        for family in [
            "kube_replicaset_created",
            "kube_replicaset_status_terminating_replicas",
            "kube_replicaset_spec_replicas",
            "kube_replicaset_annotations",
            "kube_replicaset_labels",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
        assert_eq!(
            samples_of(&got, "kube_replicaset_owner"),
            [
                "kube_replicaset_owner{namespace=\"ns\",replicaset=\"rs\",owner_kind=\"\",owner_name=\"\",owner_is_controller=\"\"} 1"
            ]
        );
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "rs\n1"
  namespace: "ns\"q"
  labels: {"a\u00e9": "x\\y", "B.c": "\"", "b-c": ""}
  ownerReferences: [{apiVersion: v1, kind: "K\\", name: "o\n", uid: u, controller: false}]
spec: {replicas: 0, selector: {}}
status: {replicas: 2, terminatingReplicas: 0}
"#;
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))), annotations: None };
        let got = render_yaml::<ReplicaSet>(yaml, &options);
        let lead = "namespace=\"ns\\\"q\",replicaset=\"rs\\n1\"";
        assert_eq!(
            samples_of(&got, "kube_replicaset_labels"),
            [format!(
                "kube_replicaset_labels{{{lead},label_b_c_conflict1=\"\\\"\",label_a_=\"x\\\\y\",label_b_c_conflict2=\"\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_replicaset_owner"),
            [format!(
                "kube_replicaset_owner{{{lead},owner_kind=\"K\\\\\",owner_name=\"o\\n\",owner_is_controller=\"false\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_replicaset_spec_replicas"),
            [format!("kube_replicaset_spec_replicas{{{lead}}} 0")]
        );
        assert_eq!(
            samples_of(&got, "kube_replicaset_status_terminating_replicas"),
            [format!("kube_replicaset_status_terminating_replicas{{{lead}}} 0")]
        );
    }
}
