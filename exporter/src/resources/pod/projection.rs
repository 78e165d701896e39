//! The parts of a Pod the families read, and nothing else.
//!
//! k8s-openapi's `PodSpec`/`PodStatus` build every field (env, probes, volume sources, security
//! contexts...) as owned values on each watch event, and no pod family reads them. These
//! projections keep the field names and types the families use; serde skips everything else
//! without allocating. Every field is optional here, so an object the API server would never
//! produce still decodes and renders what it has.

use k8s_openapi::{
    api::core::v1::{
        ContainerState, PersistentVolumeClaimVolumeSource, PodCondition, PodIP, PodResourceClaim,
        PodResourceClaimStatus, ResourceRequirements, Toleration,
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::Time},
};
use serde::{Deserialize, Deserializer, de::IgnoredAny};
use std::collections::BTreeMap;

/// The pod spec fields the families read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    /// Containers.
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    /// Init containers.
    pub init_containers: Option<Vec<Container>>,
    /// Host network.
    pub host_network: Option<bool>,
    /// Node the pod is bound to.
    pub node_name: Option<String>,
    /// Node selector.
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Pod overhead.
    pub overhead: Option<BTreeMap<String, Quantity>>,
    /// Priority class.
    pub priority_class_name: Option<String>,
    /// Resource claims.
    pub resource_claims: Option<Vec<PodResourceClaim>>,
    /// Restart policy.
    pub restart_policy: Option<String>,
    /// Runtime class.
    pub runtime_class_name: Option<String>,
    /// Scheduler.
    pub scheduler_name: Option<String>,
    /// Service account.
    pub service_account_name: Option<String>,
    /// Tolerations.
    pub tolerations: Option<Vec<Toleration>>,
    /// Volumes.
    pub volumes: Option<Vec<Volume>>,
}

/// The container fields the families read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    /// Name.
    pub name: String,
    /// Image as written in the spec.
    pub image: Option<String>,
    /// Requests and limits.
    pub resources: Option<ResourceRequirements>,
    /// Restart policy (init containers running as sidecars).
    pub restart_policy: Option<String>,
}

/// A volume: only whether it is a claim or a generic ephemeral volume.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    /// Name.
    pub name: String,
    /// PVC source.
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    /// Present for a generic ephemeral volume (its template is not read).
    pub ephemeral: Option<IgnoredAny>,
}

/// The pod status fields the families read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    /// Conditions.
    pub conditions: Option<Vec<PodCondition>>,
    /// Container statuses.
    pub container_statuses: Option<Vec<ContainerStatus>>,
    /// Node IP.
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
    /// Init container statuses.
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    /// Phase.
    pub phase: Option<String>,
    /// First pod IP.
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    /// Pod IPs.
    #[serde(rename = "podIPs")]
    pub pod_ips: Option<Vec<PodIP>>,
    /// QoS class.
    pub qos_class: Option<String>,
    /// Reason.
    pub reason: Option<String>,
    /// Resource claim statuses.
    pub resource_claim_statuses: Option<Vec<PodResourceClaimStatus>>,
    /// Start time.
    pub start_time: Option<Time>,
}

/// The container status fields the families read.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    /// Container ID.
    #[serde(rename = "containerID")]
    pub container_id: Option<String>,
    /// Image running.
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    /// Image ID.
    #[serde(rename = "imageID", deserialize_with = "null_as_default")]
    pub image_id: String,
    /// Previous state.
    pub last_state: Option<ContainerState>,
    /// Name.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// Ready.
    #[serde(deserialize_with = "null_as_default")]
    pub ready: bool,
    /// Restarts.
    #[serde(deserialize_with = "null_as_default")]
    pub restart_count: i32,
    /// Current state.
    pub state: Option<ContainerState>,
}

/// `null` reads as the type's zero value, as Go's decoder leaves it.
fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_fields_are_skipped_and_nulls_read_as_zero_values() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [{
                "name": "app",
                "image": "app:1",
                "env": [{"name": "A", "value": "b"}],
                "livenessProbe": {"httpGet": {"path": "/", "port": 8080}},
            }],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            ],
            "securityContext": {"runAsUser": 1000},
        }))
        .expect("spec decodes");
        assert_eq!(spec.containers[0].name, "app");
        let volumes = spec.volumes.expect("volumes");
        assert!(volumes[0].ephemeral.is_none() && volumes[0].persistent_volume_claim.is_none());
        assert!(volumes[1].ephemeral.is_some());

        let status: ContainerStatus =
            serde_json::from_value(serde_json::json!({"name": "app", "image": null, "ready": null}))
                .expect("status decodes");
        assert_eq!((status.image.as_str(), status.ready, status.restart_count), ("", false, 0));
    }
}
