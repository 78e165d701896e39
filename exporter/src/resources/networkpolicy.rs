//! `kube_networkpolicy_*` families (upstream `internal/store/networkpolicy.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta, unix_seconds},
    projection,
};
use crate::metric::{FamilyGen, Stability::*};
use k8s_openapi::{NamespaceResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde::{Deserialize, de::IgnoredAny};

/// The fields of a NetworkPolicy that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NetworkPolicy {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec: only the number of rules.
    #[serde(default)]
    pub spec: Option<PolicyRules>,
}
projection!(
    NetworkPolicy,
    "NetworkPolicy",
    "networking.k8s.io",
    "v1",
    "networkpolicies",
    NamespaceResourceScope
);

/// The rules of a policy, counted without being built.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PolicyRules {
    /// Ingress rules.
    pub ingress: Option<Vec<IgnoredAny>>,
    /// Egress rules.
    pub egress: Option<Vec<IgnoredAny>>,
}

/// `Time.Unix()` of Go's zero time, which upstream writes when creationTimestamp is unset.
const GO_ZERO_TIME_UNIX: f64 = -62_135_596_800.0;

impl NetworkPolicy {
    fn rule_count(&self, rules: impl Fn(&PolicyRules) -> Option<&Vec<IgnoredAny>>) -> f64 {
        self.spec.as_ref().and_then(rules).map_or(0, Vec::len) as f64
    }
}

impl Kind for NetworkPolicy {
    const RESOURCE: &'static str = "networkpolicies";
    const KIND: &'static str = "NetworkPolicy";
    const GO_TYPE: &'static str = "*v1.NetworkPolicy";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("networkpolicy", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_networkpolicy_created",
                "Unix creation timestamp of network policy",
                Alpha,
                // Unlike other kinds, upstream writes this even for an unset timestamp.
                |n: &Self, s| {
                    s.value(n.metadata.creation_timestamp.as_ref().map_or(GO_ZERO_TIME_UNIX, unix_seconds))
                },
            ),
            common::annotations_family(
                "kube_networkpolicy_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_networkpolicy_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Alpha,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_networkpolicy_spec_ingress_rules",
                "Number of ingress rules on the networkpolicy",
                Alpha,
                |n: &Self, s| s.value(n.rule_count(|r| r.ingress.as_ref())),
            ),
            FamilyGen::gauge(
                "kube_networkpolicy_spec_egress_rules",
                "Number of egress rules on the networkpolicy",
                Alpha,
                |n: &Self, s| s.value(n.rule_count(|r| r.egress.as_ref())),
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
    fn full_network_policy_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["owner".into()]))),
        };
        let got = render_yaml::<NetworkPolicy>(include_str!("fixtures/networkpolicy-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/networkpolicy-full.prom"));
    }

    #[test]
    fn minimal_network_policy_writes_go_zero_time_and_zero_rules() {
        let got =
            render_yaml::<NetworkPolicy>("metadata: {name: np, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_networkpolicy_created"),
            ["kube_networkpolicy_created{namespace=\"ns\",networkpolicy=\"np\"} -6.21355968e+10"]
        );
        assert_eq!(
            samples_of(&got, "kube_networkpolicy_spec_ingress_rules"),
            ["kube_networkpolicy_spec_ingress_rules{namespace=\"ns\",networkpolicy=\"np\"} 0"]
        );
        assert_eq!(
            samples_of(&got, "kube_networkpolicy_spec_egress_rules"),
            ["kube_networkpolicy_spec_egress_rules{namespace=\"ns\",networkpolicy=\"np\"} 0"]
        );
        assert!(samples_of(&got, "kube_networkpolicy_labels").is_empty());
        assert!(samples_of(&got, "kube_networkpolicy_annotations").is_empty());
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "np\"\\"
  namespace: "n\ns"
  labels: {"x.y/Z": "\"", "é": "a\nb"}
  annotations: {"Owner": "\\\\"}
spec:
  ingress: [{}, {from: [{podSelector: {}}]}, {}]
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<NetworkPolicy>(yaml, &options);
        let np = "namespace=\"n\\ns\",networkpolicy=\"np\\\"\\\\\"";
        assert_eq!(
            samples_of(&got, "kube_networkpolicy_labels"),
            [format!("kube_networkpolicy_labels{{{np},label_x_y_z=\"\\\"\",label__=\"a\\nb\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_networkpolicy_annotations"),
            [format!("kube_networkpolicy_annotations{{{np},annotation_owner=\"\\\\\\\\\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_networkpolicy_spec_ingress_rules"),
            [format!("kube_networkpolicy_spec_ingress_rules{{{np}}} 3")]
        );
    }
}
