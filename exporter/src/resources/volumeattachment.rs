//! `kube_volumeattachment_*` families (upstream `internal/store/volumeattachment.go`).
//!
//! Upstream takes no allowlists for this kind: `kube_volumeattachment_labels` exports every label
//! of the object, and the attachment metadata becomes `metadata_*` labels the same way.

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Stability::*, bool_f64};
use k8s_openapi::{
    ClusterResourceScope,
    api::storage::v1::{VolumeAttachmentSpec, VolumeAttachmentStatus},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a VolumeAttachment that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VolumeAttachment {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<VolumeAttachmentSpec>,
    /// Status.
    #[serde(default)]
    pub status: Option<VolumeAttachmentStatus>,
}
projection!(
    VolumeAttachment,
    "VolumeAttachment",
    "storage.k8s.io",
    "v1",
    "volumeattachments",
    ClusterResourceScope
);

impl Kind for VolumeAttachment {
    const RESOURCE: &'static str = "volumeattachments";
    const KIND: &'static str = "VolumeAttachment";
    const GO_TYPE: &'static str = "*v1.VolumeAttachment";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("volumeattachment", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(_: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_volumeattachment_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Alpha,
                |v: &Self, s| common::write_map_labels(s, v.metadata.labels.as_ref(), "label"),
            ),
            FamilyGen::gauge(
                "kube_volumeattachment_info",
                "Information about volumeattachment.",
                Alpha,
                |v: &Self, s| {
                    let spec = v.spec.as_ref();
                    s.sample(
                        [
                            ("attacher", spec.map_or("", |sp| sp.attacher.as_str())),
                            ("node", spec.map_or("", |sp| sp.node_name.as_str())),
                        ],
                        1.0,
                    )
                },
            ),
            common::created_family("kube_volumeattachment_created", "Unix creation timestamp", Alpha),
            FamilyGen::gauge(
                "kube_volumeattachment_spec_source_persistentvolume",
                "PersistentVolume source reference.",
                Alpha,
                |v: &Self, s| {
                    if let Some(pv) =
                        v.spec.as_ref().and_then(|sp| sp.source.persistent_volume_name.as_deref())
                    {
                        s.sample([("volumename", pv)], 1.0);
                    }
                },
            ),
            FamilyGen::gauge(
                "kube_volumeattachment_status_attached",
                "Information about volumeattachment.",
                Alpha,
                |v: &Self, s| s.value(bool_f64(v.status.as_ref().is_some_and(|st| st.attached))),
            ),
            FamilyGen::gauge(
                "kube_volumeattachment_status_attachment_metadata",
                "volumeattachment metadata.",
                Alpha,
                |v: &Self, s| {
                    let metadata = v.status.as_ref().and_then(|st| st.attachment_metadata.as_ref());
                    common::write_map_labels(s, metadata, "metadata")
                },
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
    fn full_attachment_matches_golden_exposition() {
        let got = render_yaml::<VolumeAttachment>(
            include_str!("fixtures/volumeattachment-full.yaml"),
            &FamilyOptions::default(),
        );
        assert_eq!(got, include_str!("fixtures/volumeattachment-full.prom"));
    }

    #[test]
    fn minimal_attachment_still_writes_label_and_metadata_samples() {
        let got = render_yaml::<VolumeAttachment>("metadata: {name: va}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_volumeattachment_labels"),
            ["kube_volumeattachment_labels{volumeattachment=\"va\"} 1"]
        );
        assert_eq!(
            samples_of(&got, "kube_volumeattachment_info"),
            ["kube_volumeattachment_info{volumeattachment=\"va\",attacher=\"\",node=\"\"} 1"]
        );
        assert_eq!(
            samples_of(&got, "kube_volumeattachment_status_attached"),
            ["kube_volumeattachment_status_attached{volumeattachment=\"va\"} 0"]
        );
        assert_eq!(
            samples_of(&got, "kube_volumeattachment_status_attachment_metadata"),
            ["kube_volumeattachment_status_attachment_metadata{volumeattachment=\"va\"} 1"]
        );
        assert!(samples_of(&got, "kube_volumeattachment_created").is_empty());
        assert!(samples_of(&got, "kube_volumeattachment_spec_source_persistentvolume").is_empty());
    }

    #[test]
    fn labels_ignore_the_allowlist_and_odd_content_is_escaped() {
        let yaml = r#"
metadata:
  name: "va\"\\"
  labels: {"b.x": "1\n", "b-x": "2\"", "ä": "\\"}
status:
  attached: true
  attachmentMetadata: {"devicePath": "/dev/\"x\"", "ü": "ö"}
"#;
        // An allowlist that matches nothing changes nothing for this kind.
        let options =
            FamilyOptions { labels: Some(Arc::new(KeyAllowlist::new(&["none".into()]))), annotations: None };
        let got = render_yaml::<VolumeAttachment>(yaml, &options);
        let va = "volumeattachment=\"va\\\"\\\\\"";
        assert_eq!(
            samples_of(&got, "kube_volumeattachment_labels"),
            [format!(
                "kube_volumeattachment_labels{{{va},label_b_x_conflict1=\"2\\\"\",label_b_x_conflict2=\"1\\n\",label__=\"\\\\\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_volumeattachment_status_attachment_metadata"),
            [format!(
                "kube_volumeattachment_status_attachment_metadata{{{va},metadata_device_path=\"/dev/\\\"x\\\"\",metadata__=\"ö\"}} 1"
            )]
        );
        assert_eq!(
            samples_of(&got, "kube_volumeattachment_status_attached"),
            [format!("kube_volumeattachment_status_attached{{{va}}} 1")]
        );
    }
}
