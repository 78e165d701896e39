//! `kube_deployment_*` families (upstream `internal/store/deployment.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta, scaled_int_or_percent},
    projection,
};
use crate::metric::{FamilyGen, Stability::*, bool_f64};
use k8s_openapi::{
    NamespaceResourceScope,
    api::apps::v1::{DeploymentSpec, DeploymentStatus},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a Deployment that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Deployment {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<DeploymentSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<DeploymentStatus>,
}
projection!(Deployment, "Deployment", "apps", "v1", "deployments", NamespaceResourceScope);

/// Condition reasons the deployment controller sets; others collapse to `unknown`.
const ALLOWED_REASONS: &[&str] = &[
    "ReplicaSetUpdated",
    "ReplicaSetCreateError",
    "NewReplicaSetCreated",
    "FoundNewReplicaSet",
    "NewReplicaSetAvailable",
    "ProgressDeadlineExceeded",
    "DeploymentPaused",
    "DeploymentResumed",
    "MinimumReplicasAvailable",
    "MinimumReplicasUnavailable",
    "",
];

impl Deployment {
    fn status(&self) -> DeploymentStatus {
        self.status.clone().unwrap_or_default()
    }

    fn spec_replicas(&self) -> Option<i32> {
        self.spec.as_ref().and_then(|s| s.replicas)
    }
}

impl Kind for Deployment {
    const RESOURCE: &'static str = "deployments";
    const KIND: &'static str = "Deployment";
    const GO_TYPE: &'static str = "*v1.Deployment";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("deployment", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_deployment_owner",
                "Information about the Deployment's owner.",
                Alpha,
                |d: &Self, s| {
                    let owners = d.metadata.owner_references.as_deref().unwrap_or_default();
                    if owners.is_empty() {
                        s.sample([("owner_kind", ""), ("owner_name", "")], 1.0);
                    }
                    for r in owners {
                        s.sample([("owner_kind", r.kind.as_str()), ("owner_name", r.name.as_str())], 1.0);
                    }
                },
            ),
            common::created_family("kube_deployment_created", "Unix creation timestamp", Stable),
            FamilyGen::gauge(
                "kube_deployment_status_replicas",
                "The number of replicas per deployment.",
                Stable,
                |d: &Self, s| s.value(d.status().replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_deployment_status_replicas_ready",
                "The number of ready replicas per deployment.",
                Stable,
                |d: &Self, s| s.value(d.status().ready_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_deployment_status_replicas_available",
                "The number of available replicas per deployment.",
                Stable,
                |d: &Self, s| s.value(d.status().available_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_deployment_status_replicas_unavailable",
                "The number of unavailable replicas per deployment.",
                Stable,
                |d: &Self, s| s.value(d.status().unavailable_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_deployment_status_replicas_updated",
                "The number of updated replicas per deployment.",
                Stable,
                |d: &Self, s| s.value(d.status().updated_replicas.unwrap_or(0).into()),
            ),
            FamilyGen::gauge(
                "kube_deployment_status_terminating_replicas",
                "The number of terminating replicas per deployment.",
                Alpha,
                |d: &Self, s| {
                    if let Some(n) = d.status().terminating_replicas {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_deployment_status_observed_generation",
                "The generation observed by the deployment controller.",
                Stable,
                |d: &Self, s| s.value(d.status().observed_generation.unwrap_or(0) as f64),
            ),
            FamilyGen::gauge(
                "kube_deployment_status_condition",
                "The current status conditions of a deployment.",
                Stable,
                |d: &Self, s| {
                    for c in d.status().conditions.unwrap_or_default() {
                        let reason = c.reason.as_deref().unwrap_or_default();
                        let reason = if ALLOWED_REASONS.contains(&reason) { reason } else { "unknown" };
                        common::write_condition_status(
                            s,
                            &[("reason", reason), ("condition", c.type_.as_deref().unwrap_or_default())],
                            c.status.as_deref().unwrap_or_default(),
                        );
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_deployment_spec_replicas",
                "Number of desired pods for a deployment.",
                Stable,
                |d: &Self, s| {
                    if let Some(n) = d.spec_replicas() {
                        s.value(n.into())
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_deployment_spec_paused",
                "Whether the deployment is paused and will not be processed by the deployment controller.",
                Stable,
                |d: &Self, s| s.value(bool_f64(d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false))),
            ),
            FamilyGen::gauge(
                "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
                "Maximum number of unavailable replicas during a rolling update of a deployment.",
                Stable,
                |d: &Self, s| {
                    if let Some(v) = rolling_update_value(d, |r| r.max_unavailable.as_ref(), false) {
                        s.value(v)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_deployment_spec_strategy_rollingupdate_max_surge",
                "Maximum number of replicas that can be scheduled above the desired number of replicas during a rolling update of a deployment.",
                Stable,
                |d: &Self, s| {
                    if let Some(v) = rolling_update_value(d, |r| r.max_surge.as_ref(), true) {
                        s.value(v)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_deployment_metadata_generation",
                "Sequence number representing a specific generation of the desired state.",
                Stable,
                |d: &Self, s| s.value(d.metadata.generation.unwrap_or(0) as f64),
            ),
            common::deletion_family("kube_deployment_deletion_timestamp", "Unix deletion timestamp", Alpha),
            common::annotations_family(
                "kube_deployment_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_deployment_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
        ]
    }
}

/// maxUnavailable / maxSurge scaled against spec.replicas; `None` (no sample) when unset or
/// malformed, so one odd Deployment cannot break the scrape.
fn rolling_update_value(
    d: &Deployment,
    field: impl Fn(
        &k8s_openapi::api::apps::v1::RollingUpdateDeployment,
    ) -> Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
    round_up: bool,
) -> Option<f64> {
    let spec = d.spec.as_ref()?;
    let rolling = spec.strategy.as_ref()?.rolling_update.as_ref()?;
    let replicas = spec.replicas?;
    scaled_int_or_percent(field(rolling)?, replicas, round_up).map(f64::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_deployment_matches_golden_exposition() {
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["app".into()]))), annotations: None };
        let got = render_yaml::<Deployment>(include_str!("fixtures/deployment-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/deployment-full.prom"));
    }

    #[test]
    fn minimal_deployment_writes_defaults_and_skips_unset_values() {
        let got =
            render_yaml::<Deployment>("metadata: {name: d, namespace: ns}\n", &FamilyOptions::default());
        assert_eq!(samples_of(&got, "kube_deployment_spec_replicas"), Vec::<String>::new());
        assert_eq!(
            samples_of(&got, "kube_deployment_status_replicas"),
            ["kube_deployment_status_replicas{namespace=\"ns\",deployment=\"d\"} 0"]
        );
        assert_eq!(
            samples_of(&got, "kube_deployment_owner"),
            ["kube_deployment_owner{namespace=\"ns\",deployment=\"d\",owner_kind=\"\",owner_name=\"\"} 1"]
        );
        assert!(samples_of(&got, "kube_deployment_labels").is_empty());
    }

    #[test]
    fn malformed_percent_skips_only_that_family() {
        let yaml = "metadata: {name: d, namespace: ns}\nspec: {replicas: 4, selector: {}, template: {}, strategy: {rollingUpdate: {maxSurge: 'x%', maxUnavailable: '25%'}}}\n";
        let got = render_yaml::<Deployment>(yaml, &FamilyOptions::default());
        assert!(samples_of(&got, "kube_deployment_spec_strategy_rollingupdate_max_surge").is_empty());
        assert_eq!(
            samples_of(&got, "kube_deployment_spec_strategy_rollingupdate_max_unavailable"),
            [
                "kube_deployment_spec_strategy_rollingupdate_max_unavailable{namespace=\"ns\",deployment=\"d\"} 1"
            ]
        );
    }
}
