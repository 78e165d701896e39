//! The per-node DaemonSet: each pod serves only the pods of its node (`--node`), so pod metrics,
//! the bulk of a large cluster's series, scale out with the cluster.

use super::{
    Fleet,
    common::{COMPONENT_NODE_PODS, Placement, ROLE_PODS, meta, pod_template, selector_labels},
};
use k8s_openapi::{
    api::apps::v1::{DaemonSet, DaemonSetSpec},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

/// `<name>-node-pods`, on every node.
pub fn build(fleet: &Fleet) -> DaemonSet {
    DaemonSet {
        metadata: meta(fleet, fleet.daemonset_name(), COMPONENT_NODE_PODS),
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(fleet.name, COMPONENT_NODE_PODS)),
                ..Default::default()
            },
            template: pod_template(
                fleet,
                COMPONENT_NODE_PODS,
                ROLE_PODS,
                &fleet.args.node_pods,
                Placement::EveryNode,
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}
