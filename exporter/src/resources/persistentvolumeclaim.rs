//! `kube_persistentvolumeclaim_*` families (upstream `internal/store/persistentvolumeclaim.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*, bool_f64};
use k8s_openapi::{
    NamespaceResourceScope,
    api::core::v1::{PersistentVolumeClaimCondition, PersistentVolumeClaimSpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a PersistentVolumeClaim that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PersistentVolumeClaim {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<PersistentVolumeClaimSpec>,
    /// Status: phase and conditions only.
    #[serde(default)]
    pub status: Option<ClaimStatus>,
}
projection!(
    PersistentVolumeClaim,
    "PersistentVolumeClaim",
    "",
    "v1",
    "persistentvolumeclaims",
    NamespaceResourceScope
);

/// The part of a claim's status that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClaimStatus {
    /// `Pending`, `Bound` or `Lost`.
    pub phase: Option<String>,
    /// Conditions such as `Resizing`.
    pub conditions: Option<Vec<PersistentVolumeClaimCondition>>,
}

/// Upstream's `v1.BetaStorageClassAnnotation`, which wins over `spec.storageClassName`.
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// Claim phases in upstream's sample order.
const PHASES: [&str; 3] = ["Lost", "Bound", "Pending"];

impl PersistentVolumeClaim {
    fn spec_field<T: ?Sized>(&self, f: impl FnOnce(&PersistentVolumeClaimSpec) -> Option<&T>) -> Option<&T> {
        self.spec.as_ref().and_then(f)
    }

    /// Upstream's `getPersistentVolumeClaimClass`: the beta annotation (even when empty), then
    /// `spec.storageClassName`, then `""`.
    fn storage_class(&self) -> &str {
        let annotation =
            self.metadata.annotations.as_ref().and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION));
        annotation.or(self.spec_field(|s| s.storage_class_name.as_ref())).map_or("", String::as_str)
    }
}

impl Kind for PersistentVolumeClaim {
    const RESOURCE: &'static str = "persistentvolumeclaims";
    const KIND: &'static str = "PersistentVolumeClaim";
    const GO_TYPE: &'static str = "*v1.PersistentVolumeClaim";
    const NAMESPACED: bool = true;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("namespace", self.metadata.namespace.as_deref().unwrap_or_default()),
            ("persistentvolumeclaim", self.metadata.name.as_deref().unwrap_or_default()),
        ]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            common::labels_family(
                "kube_persistentvolumeclaim_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            common::annotations_family(
                "kube_persistentvolumeclaim_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            FamilyGen::gauge(
                "kube_persistentvolumeclaim_info",
                "Information about persistent volume claim.",
                Stable,
                |p: &Self, s| {
                    s.sample(
                        [
                            ("storageclass", p.storage_class()),
                            ("volumename", p.spec_field(|s| s.volume_name.as_deref()).unwrap_or_default()),
                            ("volumemode", p.spec_field(|s| s.volume_mode.as_deref()).unwrap_or_default()),
                        ],
                        1.0,
                    )
                },
            ),
            FamilyGen::gauge(
                "kube_persistentvolumeclaim_status_phase",
                "The phase the persistent volume claim is currently in.",
                Stable,
                |p: &Self, s| {
                    let phase = p.status.as_ref().and_then(|st| st.phase.as_deref()).unwrap_or_default();
                    if phase.is_empty() {
                        return;
                    }
                    for candidate in PHASES {
                        s.sample([("phase", candidate)], bool_f64(phase == candidate));
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_persistentvolumeclaim_resource_requests_storage_bytes",
                "The capacity of storage requested by the persistent volume claim.",
                Stable,
                |p: &Self, s| {
                    let requests = p.spec_field(|s| s.resources.as_ref()?.requests.as_ref());
                    // An unparsable quantity would fail upstream's decoding; here only this sample goes.
                    if let Some(bytes) =
                        requests.and_then(|r| r.get("storage")).and_then(common::quantity_value)
                    {
                        s.value(bytes as f64)
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_persistentvolumeclaim_access_mode",
                "The access mode(s) specified by the persistent volume claim.",
                Stable,
                |p: &Self, s| {
                    for mode in p.spec_field(|s| s.access_modes.as_deref()).unwrap_or_default() {
                        s.sample([("access_mode", mode.as_str())], 1.0);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_persistentvolumeclaim_status_condition",
                "Information about status of different conditions of persistent volume claim.",
                Alpha,
                |p: &Self, s| {
                    for c in p.status.as_ref().and_then(|st| st.conditions.as_deref()).unwrap_or_default() {
                        common::write_condition_status(s, &[("condition", c.type_.as_str())], &c.status);
                    }
                },
            ),
            common::created_family("kube_persistentvolumeclaim_created", "Unix creation timestamp", Alpha),
            common::deletion_family(
                "kube_persistentvolumeclaim_deletion_timestamp",
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
    fn full_claim_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["app".into(), "team-*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&[
                "volume.beta.kubernetes.io/storage-class".into()
            ]))),
        };
        let got = render_yaml::<PersistentVolumeClaim>(
            include_str!("fixtures/persistentvolumeclaim-full.yaml"),
            &options,
        );
        assert_eq!(got, include_str!("fixtures/persistentvolumeclaim-full.prom"));
    }

    #[test]
    fn minimal_claim_writes_info_and_skips_unset_values() {
        let got = render_yaml::<PersistentVolumeClaim>(
            "metadata: {name: c, namespace: ns}\n",
            &FamilyOptions::default(),
        );
        assert_eq!(
            samples_of(&got, "kube_persistentvolumeclaim_info"),
            [
                "kube_persistentvolumeclaim_info{namespace=\"ns\",persistentvolumeclaim=\"c\",storageclass=\"\",volumename=\"\",volumemode=\"\"} 1"
            ]
        );
        for family in [
            "kube_persistentvolumeclaim_labels",
            "kube_persistentvolumeclaim_annotations",
            "kube_persistentvolumeclaim_status_phase",
            "kube_persistentvolumeclaim_resource_requests_storage_bytes",
            "kube_persistentvolumeclaim_access_mode",
            "kube_persistentvolumeclaim_status_condition",
            "kube_persistentvolumeclaim_created",
            "kube_persistentvolumeclaim_deletion_timestamp",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
            assert!(got.contains(&format!("# TYPE {family} gauge\n")), "{family}");
        }
    }

    #[test]
    fn odd_content_is_escaped_and_bad_quantities_skip_one_sample() {
        let yaml = r#"
metadata:
  name: "c\"1\\"
  namespace: "ns\n2"
  labels: {"app.kubernetes.io/name": "a\"b\\c\nd", "ü": "ö", "Team": ""}
  annotations: {"volume.beta.kubernetes.io/storage-class": "", "note": "x\ny"}
spec:
  storageClassName: fast
  resources: {requests: {storage: "10 Gi"}}
status:
  phase: "Odd\\"
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<PersistentVolumeClaim>(yaml, &options);
        let leading = "namespace=\"ns\\n2\",persistentvolumeclaim=\"c\\\"1\\\\\"";
        assert_eq!(
            samples_of(&got, "kube_persistentvolumeclaim_labels"),
            [format!(
                "kube_persistentvolumeclaim_labels{{{leading},label_team=\"\",label_app_kubernetes_io_name=\"a\\\"b\\\\c\\nd\",label__=\"ö\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_persistentvolumeclaim_annotations"),
            [format!(
                "kube_persistentvolumeclaim_annotations{{{leading},annotation_note=\"x\\ny\",annotation_volume_beta_kubernetes_io_storage_class=\"\"}} 1"
            )]
        );
        // The (empty) beta annotation wins over spec.storageClassName.
        assert_eq!(
            samples_of(&got, "kube_persistentvolumeclaim_info"),
            [format!(
                "kube_persistentvolumeclaim_info{{{leading},storageclass=\"\",volumename=\"\",volumemode=\"\"}} 1"
            )]
        );
        // An unknown phase still writes the three known phases, all 0.
        assert_eq!(
            samples_of(&got, "kube_persistentvolumeclaim_status_phase"),
            ["Lost", "Bound", "Pending"]
                .map(|p| format!("kube_persistentvolumeclaim_status_phase{{{leading},phase=\"{p}\"}} 0"))
        );
        assert!(samples_of(&got, "kube_persistentvolumeclaim_resource_requests_storage_bytes").is_empty());
    }
}
