//! The prometheus-operator PrometheusRule with the fleet's alerts ([`crate::alerts`]), scoped to
//! this fleet's series so several fleets in one Prometheus do not alert for each other.

use super::{
    Child, Fleet,
    common::{COMPONENT_MONITORING, labels},
};
use crate::alerts;
use kube::api::{ApiResource, DynamicObject};
use serde_json::json;

/// The CRD a PrometheusRule needs.
pub const CRD: &str = "prometheusrules.monitoring.coreos.com";

/// `monitoring.coreos.com/v1` PrometheusRule.
pub fn api_resource() -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".to_string(),
        version: "v1".to_string(),
        api_version: "monitoring.coreos.com/v1".to_string(),
        kind: "PrometheusRule".to_string(),
        plural: "prometheusrules".to_string(),
    }
}

/// `<name>`: the alerts, matching the `namespace` and `job` the ServiceMonitor gives the fleet.
pub fn build(fleet: &Fleet) -> Child {
    let selector = format!(r#"namespace="{}", job="{}""#, fleet.namespace, fleet.name);
    let mut meta_labels = fleet.ksm.spec.prometheus_rule.labels.clone();
    meta_labels.extend(labels(fleet, COMPONENT_MONITORING));
    let resource = api_resource();
    let mut object = DynamicObject::new(fleet.name, &resource)
        .within(fleet.namespace)
        .data(json!({"spec": {"groups": alerts::rule_groups(&selector)}}));
    object.metadata.labels = Some(meta_labels);
    Child { resource, namespaced: true, requires_crd: Some(CRD), object }
}
