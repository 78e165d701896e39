//! The StatefulSet of shards: replica `i` serves the objects whose UID hashes to `i`, learning
//! `i` and the shard count from its own pod and the StatefulSet (autosharding), so scaling needs
//! no restart.

use super::{
    Fleet,
    common::{COMPONENT_SHARDS, Placement, ROLE_SHARD, meta, pod_template, selector_labels},
};
use k8s_openapi::{
    api::apps::v1::{StatefulSet, StatefulSetSpec},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

/// `<name>`, one replica per shard.
pub fn build(fleet: &Fleet) -> StatefulSet {
    StatefulSet {
        metadata: meta(fleet, fleet.name, COMPONENT_SHARDS),
        spec: StatefulSetSpec {
            replicas: Some(fleet.ksm.spec.sharding.shards),
            service_name: Some(fleet.name.to_string()),
            // Shards are independent: start and replace them all at once rather than one by one.
            pod_management_policy: Some("Parallel".to_string()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(fleet.name, COMPONENT_SHARDS)),
                ..Default::default()
            },
            template: pod_template(
                fleet,
                COMPONENT_SHARDS,
                ROLE_SHARD,
                &fleet.args.shards,
                Placement::FromSpec,
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}
