//! `kube_horizontalpodautoscaler_*` families (upstream `internal/store/horizontalpodautoscaler.go`).
//!
//! The target-metric families write, per metric, one sample for each of `value`, `utilization`
//! and `average` that is set. Upstream collects them in a Go map and writes them in the map's
//! random iteration order; here they always come in that fixed order, so the set of samples is
//! upstream's and only their order within one metric is pinned.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta, quantity_approximate_f64, quantity_to_f64},
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability::*};
use k8s_openapi::{
    NamespaceResourceScope,
    api::autoscaling::v2::{
        HPAScalingRules, HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec,
        HorizontalPodAutoscalerStatus, MetricSpec, MetricStatus, MetricTarget, MetricValueStatus,
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use serde::Deserialize;

/// The fields of a HorizontalPodAutoscaler that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HorizontalPodAutoscaler {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<HorizontalPodAutoscalerSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<HorizontalPodAutoscalerStatus>,
}
projection!(
    HorizontalPodAutoscaler,
    "HorizontalPodAutoscaler",
    "autoscaling",
    "v2",
    "horizontalpodautoscalers",
    NamespaceResourceScope
);

/// The values of one spec or status metric, whichever are set, with the source's name and
/// container (`""` unless it is a container resource).
struct MetricValues<'a> {
    name: &'a str,
    container: &'a str,
    value: Option<&'a Quantity>,
    average_value: Option<&'a Quantity>,
    average_utilization: Option<i32>,
}

impl<'a> MetricValues<'a> {
    fn new(
        name: &'a str,
        container: &'a str,
        value: Option<&'a Quantity>,
        average_value: Option<&'a Quantity>,
        average_utilization: Option<i32>,
    ) -> Self {
        Self { name, container, value, average_value, average_utilization }
    }

    fn from_target(name: &'a str, container: &'a str, t: &'a MetricTarget) -> Self {
        Self::new(name, container, t.value.as_ref(), t.average_value.as_ref(), t.average_utilization)
    }

    fn from_status(name: &'a str, container: &'a str, c: &'a MetricValueStatus) -> Self {
        Self::new(name, container, c.value.as_ref(), c.average_value.as_ref(), c.average_utilization)
    }

    /// One sample per value set, labelled `metric_name`, `metric_target_type`, `container`. A
    /// quantity that does not parse is left out (upstream would have failed to decode the whole
    /// object).
    fn write(&self, s: &mut Sink<'_>) {
        let values = [
            ("value", self.value.and_then(quantity_to_f64)),
            ("utilization", self.average_utilization.map(f64::from)),
            ("average", self.average_value.and_then(quantity_to_f64)),
        ];
        for (target_type, v) in values {
            if let Some(v) = v {
                s.sample(
                    [
                        ("metric_name", self.name),
                        ("metric_target_type", target_type),
                        ("container", self.container),
                    ],
                    v,
                );
            }
        }
    }
}

/// A spec metric's name and target by its `type`; `None` for unknown types and for a missing
/// source (which the API server rejects; upstream would crash on it).
fn spec_metric(m: &MetricSpec) -> Option<MetricValues<'_>> {
    match m.type_.as_str() {
        "Object" => m.object.as_ref().map(|o| MetricValues::from_target(&o.metric.name, "", &o.target)),
        "Pods" => m.pods.as_ref().map(|p| MetricValues::from_target(&p.metric.name, "", &p.target)),
        "Resource" => m.resource.as_ref().map(|r| MetricValues::from_target(&r.name, "", &r.target)),
        "ContainerResource" => {
            m.container_resource.as_ref().map(|r| MetricValues::from_target(&r.name, &r.container, &r.target))
        }
        "External" => m.external.as_ref().map(|e| MetricValues::from_target(&e.metric.name, "", &e.target)),
        _ => None,
    }
}

/// A status metric's name and current values by its `type`; `None` for unknown types and for a
/// missing source (status is not validated, and upstream skips those too).
fn status_metric(m: &MetricStatus) -> Option<MetricValues<'_>> {
    match m.type_.as_str() {
        "Object" => m.object.as_ref().map(|o| MetricValues::from_status(&o.metric.name, "", &o.current)),
        "Pods" => m.pods.as_ref().map(|p| MetricValues::from_status(&p.metric.name, "", &p.current)),
        "Resource" => m.resource.as_ref().map(|r| MetricValues::from_status(&r.name, "", &r.current)),
        "ContainerResource" => m
            .container_resource
            .as_ref()
            .map(|r| MetricValues::from_status(&r.name, &r.container, &r.current)),
        "External" => m.external.as_ref().map(|e| MetricValues::from_status(&e.metric.name, "", &e.current)),
        _ => None,
    }
}

impl HorizontalPodAutoscaler {
    fn spec(&self) -> Option<&HorizontalPodAutoscalerSpec> {
        self.spec.as_ref()
    }

    fn status(&self) -> HorizontalPodAutoscalerStatus {
        self.status.clone().unwrap_or_default()
    }

    /// A scaling rule's tolerance as upstream reads it (`AsApproximateFloat64`).
    fn tolerance(
        &self,
        rules: impl Fn(&HorizontalPodAutoscalerBehavior) -> Option<&HPAScalingRules>,
    ) -> Option<f64> {
        let behavior = self.spec()?.behavior.as_ref()?;
        quantity_approximate_f64(rules(behavior)?.tolerance.as_ref()?)
    }
}

impl Kind for HorizontalPodAutoscaler {
    const RESOURCE: &'static str = "horizontalpodautoscalers";
    const KIND: &'static str = "HorizontalPodAutoscaler";
    const GO_TYPE: &'static str = "*v2.HorizontalPodAutoscaler";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("horizontalpodautoscaler", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_info",
                "Information about this autoscaler.",
                Alpha,
                |a: &Self, s| {
                    let target = a.spec().map(|s| &s.scale_target_ref);
                    let kind = target.map_or("", |t| t.kind.as_str());
                    let name = target.map_or("", |t| t.name.as_str());
                    match target.and_then(|t| t.api_version.as_deref()).filter(|v| !v.is_empty()) {
                        Some(api_version) => s.sample(
                            [
                                ("scaletargetref_api_version", api_version),
                                ("scaletargetref_kind", kind),
                                ("scaletargetref_name", name),
                            ],
                            1.0,
                        ),
                        None => s.sample([("scaletargetref_kind", kind), ("scaletargetref_name", name)], 1.0),
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_metadata_generation",
                "The generation observed by the HorizontalPodAutoscaler controller.",
                Stable,
                |a: &Self, s| s.value(a.metadata.generation.unwrap_or(0) as f64),
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_spec_max_replicas",
                "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas.",
                Stable,
                |a: &Self, s| s.value(a.spec().map_or(0, |s| s.max_replicas).into()),
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_spec_min_replicas",
                "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
                Stable,
                |a: &Self, s| s.value(a.spec().and_then(|s| s.min_replicas).unwrap_or(1).into()),
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_spec_target_metric",
                "The metric specifications used by this autoscaler when calculating the desired replica count.",
                Alpha,
                |a: &Self, s| {
                    let metrics = a.spec().and_then(|s| s.metrics.as_deref()).unwrap_or_default();
                    for m in metrics.iter().filter_map(spec_metric) {
                        m.write(s)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_spec_behavior_scale_down_tolerance",
                "The tolerance on the ratio between the current and desired metric value below which no scale down occurs.",
                Alpha,
                |a: &Self, s| {
                    if let Some(v) = a.tolerance(|b| b.scale_down.as_ref()) {
                        s.value(v)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_spec_behavior_scale_up_tolerance",
                "The tolerance on the ratio between the current and desired metric value below which no scale up occurs.",
                Alpha,
                |a: &Self, s| {
                    if let Some(v) = a.tolerance(|b| b.scale_up.as_ref()) {
                        s.value(v)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_status_target_metric",
                "The current metric status used by this autoscaler when calculating the desired replica count.",
                Stable,
                |a: &Self, s| {
                    for m in a.status().current_metrics.unwrap_or_default().iter().filter_map(status_metric) {
                        m.write(s)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_status_current_replicas",
                "Current number of replicas of pods managed by this autoscaler.",
                Stable,
                |a: &Self, s| s.value(a.status().current_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_status_desired_replicas",
                "Desired number of replicas of pods managed by this autoscaler.",
                Stable,
                |a: &Self, s| s.value(a.status().desired_replicas.into()),
            ),
            common::annotations_family(
                "kube_horizontalpodautoscaler_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_horizontalpodautoscaler_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_horizontalpodautoscaler_status_condition",
                "The condition of this autoscaler.",
                Stable,
                |a: &Self, s| {
                    for c in a.status().conditions.unwrap_or_default() {
                        common::write_condition_status(s, &[("condition", c.type_.as_str())], &c.status);
                    }
                },
            ),
            common::created_family("kube_horizontalpodautoscaler_created", "Unix creation timestamp", Alpha),
            common::deletion_family(
                "kube_horizontalpodautoscaler_deletion_timestamp",
                "Unix deletion timestamp",
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
    fn full_hpa_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["autoscaling.alpha.kubernetes.io/*".into()]))),
        };
        let got = render_yaml::<HorizontalPodAutoscaler>(
            include_str!("fixtures/horizontalpodautoscaler-full.yaml"),
            &options,
        );
        assert_eq!(got, include_str!("fixtures/horizontalpodautoscaler-full.prom"));
    }

    #[test]
    fn minimal_hpa_writes_defaults_and_skips_unset_values() {
        let got = render_yaml::<HorizontalPodAutoscaler>(
            "metadata: {name: h, namespace: ns}\n",
            &FamilyOptions::default(),
        );
        let lead = "namespace=\"ns\",horizontalpodautoscaler=\"h\"";
        assert_eq!(
            samples_of(&got, "kube_horizontalpodautoscaler_info"),
            [format!(
                "kube_horizontalpodautoscaler_info{{{lead},scaletargetref_kind=\"\",scaletargetref_name=\"\"}} 1"
            )]
        );
        for (family, want) in [
            ("kube_horizontalpodautoscaler_metadata_generation", "0"),
            ("kube_horizontalpodautoscaler_spec_max_replicas", "0"),
            ("kube_horizontalpodautoscaler_spec_min_replicas", "1"),
            ("kube_horizontalpodautoscaler_status_current_replicas", "0"),
            ("kube_horizontalpodautoscaler_status_desired_replicas", "0"),
        ] {
            assert_eq!(samples_of(&got, family), [format!("{family}{{{lead}}} {want}")]);
        }
        for family in [
            "kube_horizontalpodautoscaler_spec_target_metric",
            "kube_horizontalpodautoscaler_spec_behavior_scale_down_tolerance",
            "kube_horizontalpodautoscaler_spec_behavior_scale_up_tolerance",
            "kube_horizontalpodautoscaler_status_target_metric",
            "kube_horizontalpodautoscaler_annotations",
            "kube_horizontalpodautoscaler_labels",
            "kube_horizontalpodautoscaler_status_condition",
            "kube_horizontalpodautoscaler_created",
            "kube_horizontalpodautoscaler_deletion_timestamp",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn malformed_or_missing_metric_sources_are_skipped() {
        let yaml = r#"
metadata: {name: h, namespace: ns}
spec:
  maxReplicas: 3
  scaleTargetRef: {kind: Deployment, name: web}
  metrics:
  - {type: Pods}
  - {type: Unknown, resource: {name: cpu, target: {type: Utilization, averageUtilization: 5}}}
  - {type: Resource, resource: {name: memory, target: {type: AverageValue, averageValue: "1 Gi", value: "2"}}}
status:
  desiredReplicas: 1
  currentMetrics:
  - {type: External}
  - {type: Resource, resource: {name: cpu, current: {averageUtilization: 7}}}
"#;
        let got = render_yaml::<HorizontalPodAutoscaler>(yaml, &FamilyOptions::default());
        let lead = "namespace=\"ns\",horizontalpodautoscaler=\"h\"";
        assert_eq!(
            samples_of(&got, "kube_horizontalpodautoscaler_spec_target_metric"),
            [format!(
                "kube_horizontalpodautoscaler_spec_target_metric{{{lead},metric_name=\"memory\",metric_target_type=\"value\",container=\"\"}} 2"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_horizontalpodautoscaler_status_target_metric"),
            [format!(
                "kube_horizontalpodautoscaler_status_target_metric{{{lead},metric_name=\"cpu\",metric_target_type=\"utilization\",container=\"\"}} 7"
            )]
        );
    }

    #[test]
    fn odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "h\n1"
  namespace: "ns\"q"
  labels: {"a\u00e9": "x\\y", "B.c": "\"", "b-c": ""}
  annotations: {"k\u00f6": "v\n"}
spec:
  maxReplicas: 2
  scaleTargetRef: {apiVersion: "apps/v1\"", kind: "Deploy\\ment", name: "w\n"}
  metrics:
  - {type: External, external: {metric: {name: "q\"len"}, target: {type: Value, value: "10"}}}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<HorizontalPodAutoscaler>(yaml, &options);
        let lead = "namespace=\"ns\\\"q\",horizontalpodautoscaler=\"h\\n1\"";
        assert_eq!(
            samples_of(&got, "kube_horizontalpodautoscaler_labels"),
            [format!(
                "kube_horizontalpodautoscaler_labels{{{lead},label_b_c_conflict1=\"\\\"\",label_a_=\"x\\\\y\",label_b_c_conflict2=\"\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_horizontalpodautoscaler_annotations"),
            [format!("kube_horizontalpodautoscaler_annotations{{{lead},annotation_k_=\"v\\n\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_horizontalpodautoscaler_info"),
            [format!(
                "kube_horizontalpodautoscaler_info{{{lead},scaletargetref_api_version=\"apps/v1\\\"\",scaletargetref_kind=\"Deploy\\\\ment\",scaletargetref_name=\"w\\n\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_horizontalpodautoscaler_spec_target_metric"),
            [format!(
                "kube_horizontalpodautoscaler_spec_target_metric{{{lead},metric_name=\"q\\\"len\",metric_target_type=\"value\",container=\"\"}} 10"
            )]
        );
    }
}
