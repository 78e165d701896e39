//! `kube_persistentvolume_*` families (upstream `internal/store/persistentvolume.go`).

use super::{
    FamilyOptions, Kind,
    common::{self, lean_meta},
    projection,
};
use crate::metric::{FamilyGen, Sink, Stability::*, bool_f64};
use k8s_openapi::{
    ClusterResourceScope, api::core::v1::PersistentVolumeSpec, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Deserialize;

/// The fields of a PersistentVolume that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PersistentVolume {
    /// Lean metadata.
    #[serde(deserialize_with = "lean_meta", default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<PersistentVolumeSpec>,
    /// Status: the phase only.
    #[serde(default)]
    pub status: Option<VolumeStatus>,
}
projection!(PersistentVolume, "PersistentVolume", "", "v1", "persistentvolumes", ClusterResourceScope);

/// The part of a volume's status that metrics read.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VolumeStatus {
    /// `Pending`, `Available`, `Bound`, `Released` or `Failed`.
    pub phase: Option<String>,
}

/// Volume phases in upstream's sample order.
const PHASES: [&str; 5] = ["Pending", "Available", "Bound", "Released", "Failed"];

impl PersistentVolume {
    fn spec_field<T: ?Sized>(&self, f: impl FnOnce(&PersistentVolumeSpec) -> Option<&T>) -> Option<&T> {
        self.spec.as_ref().and_then(f)
    }
}

impl Kind for PersistentVolume {
    const RESOURCE: &'static str = "persistentvolumes";
    const KIND: &'static str = "PersistentVolume";
    const GO_TYPE: &'static str = "*v1.PersistentVolume";
    const NAMESPACED: bool = false;

    fn default_labels(&self) -> Vec<(&'static str, &str)> {
        vec![("persistentvolume", self.metadata.name.as_deref().unwrap_or_default())]
    }

    fn families(o: &FamilyOptions) -> Vec<FamilyGen<Self>> {
        vec![
            FamilyGen::gauge(
                "kube_persistentvolume_claim_ref",
                "Information about the Persistent Volume Claim Reference.",
                Stable,
                |p: &Self, s| {
                    if let Some(r) = p.spec_field(|sp| sp.claim_ref.as_ref()) {
                        s.sample(
                            [
                                ("name", r.name.as_deref().unwrap_or_default()),
                                ("claim_namespace", r.namespace.as_deref().unwrap_or_default()),
                            ],
                            1.0,
                        );
                    }
                },
            ),
            common::annotations_family(
                "kube_persistentvolume_annotations",
                "Kubernetes annotations converted to Prometheus labels.",
                Alpha,
                o.annotations.clone(),
            ),
            common::labels_family(
                "kube_persistentvolume_labels",
                "Kubernetes labels converted to Prometheus labels.",
                Stable,
                o.labels.clone(),
            ),
            FamilyGen::gauge(
                "kube_persistentvolume_status_phase",
                "The phase indicates if a volume is available, bound to a claim, or released by a claim.",
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
                "kube_persistentvolume_info",
                "Information about persistentvolume.",
                Stable,
                write_info,
            ),
            FamilyGen::gauge(
                "kube_persistentvolume_capacity_bytes",
                "Persistentvolume capacity in bytes.",
                Stable,
                |p: &Self, s| {
                    // A missing capacity reads as Go's zero Quantity; an unparsable one would fail
                    // upstream's decoding, here it only drops this sample.
                    match p.spec_field(|sp| sp.capacity.as_ref()?.get("storage")) {
                        None => s.value(0.0),
                        Some(q) => {
                            if let Some(bytes) = common::quantity_value(q) {
                                s.value(bytes as f64)
                            }
                        }
                    }
                },
            ),
            common::created_family("kube_persistentvolume_created", "Unix creation timestamp", Alpha),
            common::deletion_family(
                "kube_persistentvolume_deletion_timestamp",
                "Unix deletion timestamp",
                Alpha,
            ),
            FamilyGen::gauge(
                "kube_persistentvolume_csi_attributes",
                "CSI attributes of the Persistent Volume.",
                Alpha,
                |p: &Self, s| {
                    let Some(csi) = p.spec_field(|sp| sp.csi.as_ref()) else { return };
                    let attribute = |key| {
                        csi.volume_attributes.as_ref().and_then(|a| a.get(key)).map_or("", String::as_str)
                    };
                    s.sample(
                        [("csi_mounter", attribute("mounter")), ("csi_map_options", attribute("mapOptions"))],
                        1.0,
                    );
                },
            )
            .opt_in(),
            FamilyGen::gauge(
                "kube_persistentvolume_volume_mode",
                "Volume Mode information for the PersistentVolume.",
                Alpha,
                |p: &Self, s| {
                    // Filesystem is what the API server defaults an omitted volumeMode to.
                    let mode = p.spec_field(|sp| sp.volume_mode.as_deref()).unwrap_or("Filesystem");
                    s.sample([("volumemode", mode)], 1.0);
                },
            ),
            FamilyGen::gauge(
                "kube_persistentvolume_access_mode",
                "The access mode(s) specified by the persistent volume.",
                Alpha,
                |p: &Self, s| {
                    for mode in p.spec_field(|sp| sp.access_modes.as_deref()).unwrap_or_default() {
                        s.sample([("access_mode", mode.as_str())], 1.0);
                    }
                },
            ),
        ]
    }
}

/// `kube_persistentvolume_info`: storage class, reclaim policy and the identifying fields of the
/// first volume source in upstream's switch order (GCE PD, EBS, Azure disk, FC, iSCSI, NFS, CSI,
/// local, host path); the labels of every other source are `""`.
fn write_info(p: &PersistentVolume, s: &mut Sink<'_>) {
    let default_spec = PersistentVolumeSpec::default();
    let spec = p.spec.as_ref().unwrap_or(&default_spec);
    let mut gce_pd_name = "";
    let mut ebs_volume_id = "";
    let mut azure_disk_name = "";
    let (mut fc_wwids, mut fc_lun, mut fc_target_wwns) = (String::new(), String::new(), String::new());
    let (mut iscsi_target_portal, mut iscsi_iqn, mut iscsi_lun, mut iscsi_initiator_name) =
        ("", "", String::new(), "");
    let (mut nfs_server, mut nfs_path) = ("", "");
    let (mut csi_driver, mut csi_volume_handle) = ("", "");
    let (mut local_path, mut local_fs) = ("", "");
    let (mut host_path, mut host_path_type) = ("", "");
    if let Some(gce) = &spec.gce_persistent_disk {
        gce_pd_name = &gce.pd_name;
    } else if let Some(ebs) = &spec.aws_elastic_block_store {
        ebs_volume_id = &ebs.volume_id;
    } else if let Some(azure) = &spec.azure_disk {
        azure_disk_name = &azure.disk_name;
    } else if let Some(fc) = &spec.fc {
        if let Some(lun) = fc.lun {
            fc_lun = lun.to_string();
        }
        fc_target_wwns = comma_list(fc.target_wwns.as_deref());
        fc_wwids = comma_list(fc.wwids.as_deref());
    } else if let Some(iscsi) = &spec.iscsi {
        iscsi_target_portal = &iscsi.target_portal;
        iscsi_iqn = &iscsi.iqn;
        iscsi_lun = iscsi.lun.to_string();
        iscsi_initiator_name = iscsi.initiator_name.as_deref().unwrap_or_default();
    } else if let Some(nfs) = &spec.nfs {
        (nfs_server, nfs_path) = (&nfs.server, &nfs.path);
    } else if let Some(csi) = &spec.csi {
        (csi_driver, csi_volume_handle) = (&csi.driver, &csi.volume_handle);
    } else if let Some(local) = &spec.local {
        local_path = &local.path;
        local_fs = local.fs_type.as_deref().unwrap_or_default();
    } else if let Some(hp) = &spec.host_path {
        host_path = &hp.path;
        host_path_type = hp.type_.as_deref().unwrap_or_default();
    }
    s.sample(
        [
            ("storageclass", spec.storage_class_name.as_deref().unwrap_or_default()),
            ("gce_persistent_disk_name", gce_pd_name),
            ("ebs_volume_id", ebs_volume_id),
            ("azure_disk_name", azure_disk_name),
            ("fc_wwids", &fc_wwids),
            ("fc_lun", &fc_lun),
            ("fc_target_wwns", &fc_target_wwns),
            ("iscsi_target_portal", iscsi_target_portal),
            ("iscsi_iqn", iscsi_iqn),
            ("iscsi_lun", &iscsi_lun),
            ("iscsi_initiator_name", iscsi_initiator_name),
            ("nfs_server", nfs_server),
            ("nfs_path", nfs_path),
            ("csi_driver", csi_driver),
            ("csi_volume_handle", csi_volume_handle),
            ("local_path", local_path),
            ("local_fs", local_fs),
            ("host_path", host_path),
            ("host_path_type", host_path_type),
            ("reclaim_policy", spec.persistent_volume_reclaim_policy.as_deref().unwrap_or_default()),
        ],
        1.0,
    );
}

/// Joins with commas as upstream's loop does: no comma while the result is still empty, so
/// leading empty entries vanish (`["", "a"]` is `a`, not `,a`).
fn comma_list(items: Option<&[String]>) -> String {
    let mut out = String::new();
    for item in items.unwrap_or_default() {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{common::KeyAllowlist, testing::*};
    use std::sync::Arc;

    #[test]
    fn full_volume_matches_golden_exposition() {
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["topology.kubernetes.io/*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["pv.kubernetes.io/provisioned-by".into()]))),
        };
        let got =
            render_yaml::<PersistentVolume>(include_str!("fixtures/persistentvolume-full.yaml"), &options);
        assert_eq!(got, include_str!("fixtures/persistentvolume-full.prom"));
    }

    #[test]
    fn minimal_volume_writes_zero_capacity_and_default_mode() {
        let got = render_yaml::<PersistentVolume>("metadata: {name: pv}\n", &FamilyOptions::default());
        assert_eq!(
            samples_of(&got, "kube_persistentvolume_capacity_bytes"),
            ["kube_persistentvolume_capacity_bytes{persistentvolume=\"pv\"} 0"]
        );
        assert_eq!(
            samples_of(&got, "kube_persistentvolume_volume_mode"),
            ["kube_persistentvolume_volume_mode{persistentvolume=\"pv\",volumemode=\"Filesystem\"} 1"]
        );
        assert_eq!(
            samples_of(&got, "kube_persistentvolume_info"),
            [
                "kube_persistentvolume_info{persistentvolume=\"pv\",storageclass=\"\",gce_persistent_disk_name=\"\",ebs_volume_id=\"\",azure_disk_name=\"\",fc_wwids=\"\",fc_lun=\"\",fc_target_wwns=\"\",iscsi_target_portal=\"\",iscsi_iqn=\"\",iscsi_lun=\"\",iscsi_initiator_name=\"\",nfs_server=\"\",nfs_path=\"\",csi_driver=\"\",csi_volume_handle=\"\",local_path=\"\",local_fs=\"\",host_path=\"\",host_path_type=\"\",reclaim_policy=\"\"} 1"
            ]
        );
        for family in [
            "kube_persistentvolume_claim_ref",
            "kube_persistentvolume_annotations",
            "kube_persistentvolume_labels",
            "kube_persistentvolume_status_phase",
            "kube_persistentvolume_created",
            "kube_persistentvolume_deletion_timestamp",
            "kube_persistentvolume_csi_attributes",
            "kube_persistentvolume_access_mode",
        ] {
            assert!(samples_of(&got, family).is_empty(), "{family}");
        }
    }

    #[test]
    fn csi_attributes_family_is_opt_in() {
        let families = PersistentVolume::families(&FamilyOptions::default());
        let opt_in: Vec<_> = families.iter().filter(|f| f.opt_in).map(|f| f.name).collect();
        assert_eq!(opt_in, ["kube_persistentvolume_csi_attributes"]);
    }

    #[test]
    fn first_source_in_upstream_order_wins_and_fc_lists_join() {
        let yaml = r#"
metadata: {name: pv}
spec:
  fc: {lun: 3, targetWWNs: ["", a, "", b], wwids: [x]}
  nfs: {server: s, path: /p}
"#;
        let got = render_yaml::<PersistentVolume>(yaml, &FamilyOptions::default());
        let info = &samples_of(&got, "kube_persistentvolume_info")[0];
        assert!(info.contains("fc_wwids=\"x\",fc_lun=\"3\",fc_target_wwns=\"a,,b\""), "{info}");
        assert!(info.contains("nfs_server=\"\",nfs_path=\"\""), "{info}");
    }

    #[test]
    fn odd_content_is_escaped_and_bad_capacity_skips_one_sample() {
        let yaml = r#"
metadata:
  name: "pv\"1\\"
  labels: {"a\"b": "x\ny", "é": "ü"}
  annotations: {"Note": "q\"\\"}
spec:
  capacity: {storage: "lots"}
  claimRef: {name: "c\n", namespace: "ns\""}
  csi: {driver: "d\\", volumeHandle: h, volumeAttributes: {mounter: "rbd\"nbd", mapOptions: "a\nb"}}
"#;
        let options = FamilyOptions {
            labels: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
            annotations: Some(Arc::new(KeyAllowlist::new(&["*".into()]))),
        };
        let got = render_yaml::<PersistentVolume>(yaml, &options);
        let pv = "persistentvolume=\"pv\\\"1\\\\\"";
        assert_eq!(
            samples_of(&got, "kube_persistentvolume_labels"),
            [format!("kube_persistentvolume_labels{{{pv},label_a_b=\"x\\ny\",label__=\"ü\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_persistentvolume_annotations"),
            [format!("kube_persistentvolume_annotations{{{pv},annotation_note=\"q\\\"\\\\\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_persistentvolume_claim_ref"),
            [format!("kube_persistentvolume_claim_ref{{{pv},name=\"c\\n\",claim_namespace=\"ns\\\"\"}} 1")]
        );
        assert_eq!(
            samples_of(&got, "kube_persistentvolume_csi_attributes"),
            [format!(
                "kube_persistentvolume_csi_attributes{{{pv},csi_mounter=\"rbd\\\"nbd\",csi_map_options=\"a\\nb\"}} 1"
            )]
        );
        assert!(samples_of(&got, "kube_persistentvolume_capacity_bytes").is_empty());
    }
}
