//! The one-replica Deployment serving pods that no node has yet (`--track-unscheduled-pods`),
//! which no DaemonSet pod sees.

use super::{
    Fleet,
    common::{COMPONENT_UNSCHEDULED_PODS, Placement, ROLE_PODS, meta, pod_template, selector_labels},
};
use k8s_openapi::{
    api::apps::v1::{Deployment, DeploymentSpec},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

/// `<name>-unscheduled-pods`, one replica.
pub fn build(fleet: &Fleet) -> Deployment {
    Deployment {
        metadata: meta(fleet, fleet.deployment_name(), COMPONENT_UNSCHEDULED_PODS),
        spec: DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector_labels(fleet.name, COMPONENT_UNSCHEDULED_PODS)),
                ..Default::default()
            },
            template: pod_template(
                fleet,
                COMPONENT_UNSCHEDULED_PODS,
                ROLE_PODS,
                &fleet.args.unscheduled_pods,
                Placement::FromSpec,
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}
