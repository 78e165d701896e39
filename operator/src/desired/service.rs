//! Headless Services: the StatefulSet's governing Service, and one for the pod exporters. Both
//! carry the same ports, so one ServiceMonitor scrapes both; the Service name tells the sharding
//! alerts the two sets apart.

use super::{
    Fleet,
    args::{METRICS_PORT, TELEMETRY_PORT},
    common::{
        COMPONENT_POD_METRICS, COMPONENT_SHARDS, LABEL_INSTANCE, LABEL_NAME, LABEL_ROLE, NAME, ROLE_PODS,
        ROLE_SHARD, meta,
    },
};
use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};
use std::collections::BTreeMap;

fn headless(fleet: &Fleet, name: String, component: &str, role: &str) -> Service {
    let port = |name: &str, port: i32| ServicePort {
        name: Some(name.to_string()),
        port,
        target_port: Some(IntOrString::String(name.to_string())),
        protocol: Some("TCP".to_string()),
        ..Default::default()
    };
    Service {
        metadata: meta(fleet, name, component),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            selector: Some(BTreeMap::from([
                (LABEL_NAME.to_string(), NAME.to_string()),
                (LABEL_INSTANCE.to_string(), fleet.name.to_string()),
                (LABEL_ROLE.to_string(), role.to_string()),
            ])),
            ports: Some(vec![port("http-metrics", METRICS_PORT), port("telemetry", TELEMETRY_PORT)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `<name>`: the StatefulSet shards (and the StatefulSet's `serviceName`).
pub fn shards(fleet: &Fleet) -> Service {
    headless(fleet, fleet.name.to_string(), COMPONENT_SHARDS, ROLE_SHARD)
}

/// `<name>-pods`: the DaemonSet and the unscheduled-pods Deployment.
pub fn pods(fleet: &Fleet) -> Service {
    headless(fleet, fleet.pods_service_name(), COMPONENT_POD_METRICS, ROLE_PODS)
}
