//! The prometheus-operator ServiceMonitor of the fleet, built as an unstructured object so the
//! operator needs no prometheus-operator types; the reconciler skips it while its CRD is absent.

use super::{
    Child, Fleet,
    common::{COMPONENT_MONITORING, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, MANAGED_BY, NAME, labels},
};
use kube::api::{ApiResource, DynamicObject};
use serde_json::{Map, Value, json};

/// The CRD a ServiceMonitor needs.
pub const CRD: &str = "servicemonitors.monitoring.coreos.com";

/// `monitoring.coreos.com/v1` ServiceMonitor.
pub fn api_resource() -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".to_string(),
        version: "v1".to_string(),
        api_version: "monitoring.coreos.com/v1".to_string(),
        kind: "ServiceMonitor".to_string(),
        plural: "servicemonitors".to_string(),
    }
}

/// `<name>`, selecting both of the fleet's Services. `jobLabel` makes `job` the fleet's name on
/// every target, so object metrics keep one job (as with a single kube-state-metrics) and alerts
/// can scope to the fleet; the `service` label still separates shards from pod exporters.
pub fn build(fleet: &Fleet) -> Child {
    let config = &fleet.ksm.spec.service_monitor;
    let mut endpoint_common = Map::new();
    if let Some(interval) = &config.interval {
        endpoint_common.insert("interval".into(), json!(interval));
    }
    if let Some(timeout) = &config.scrape_timeout {
        endpoint_common.insert("scrapeTimeout".into(), json!(timeout));
    }
    let endpoint = |extra: Value| {
        let mut e = endpoint_common.clone();
        e.extend(extra.as_object().expect("endpoint fields are an object").clone());
        Value::Object(e)
    };
    // Object series keep their own `namespace` (and `cluster`, added by the exporter), as
    // upstream kube-state-metrics' ServiceMonitor does with honorLabels.
    let metrics = endpoint(json!({"port": "http-metrics", "honorLabels": true}));
    // The exporter adds `cluster` only on the metrics port; telemetry gets it here so the
    // sharding alerts can group by cluster.
    let telemetry = match &fleet.ksm.spec.cluster_name {
        Some(cluster) => endpoint(json!({
            "port": "telemetry",
            "relabelings": [{"action": "replace", "targetLabel": "cluster", "replacement": cluster}],
        })),
        None => endpoint(json!({"port": "telemetry"})),
    };

    let mut meta_labels = config.labels.clone();
    meta_labels.extend(labels(fleet, COMPONENT_MONITORING));
    let resource = api_resource();
    let mut object = DynamicObject::new(fleet.name, &resource).within(fleet.namespace).data(json!({
        "spec": {
            "jobLabel": LABEL_INSTANCE,
            "selector": {"matchLabels": {
                LABEL_NAME: NAME,
                LABEL_INSTANCE: fleet.name,
                LABEL_MANAGED_BY: MANAGED_BY,
            }},
            "endpoints": [metrics, telemetry],
        }
    }));
    object.metadata.labels = Some(meta_labels);
    Child { resource, namespaced: true, requires_crd: Some(CRD), object }
}
