//! The samples users apply (`config/samples/*.yaml`) pass the CRD's CEL rules and produce a fleet.

use kube::{CustomResourceExt, core::cel::Validator};
use operator::{crd::KubeStateMetrics, desired::desired};
use std::{fs, path::Path};

#[test]
fn samples_are_valid_fleets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/samples");
    let crd = KubeStateMetrics::crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).expect("schema"),
    )
    .expect("schema serializes");
    let mut samples = 0;
    for entry in fs::read_dir(&dir).expect("config/samples exists").flatten() {
        let path = entry.path();
        if path.file_name().and_then(|n| n.to_str()) == Some("kustomization.yaml") {
            continue;
        }
        samples += 1;
        let text = fs::read_to_string(&path).expect("readable");
        let value: serde_json::Value = serde_norway::from_str(&text).expect("YAML");
        if let Err(errors) = Validator::new().validate(&schema, &value, None) {
            panic!("{}: {errors:?}", path.display());
        }
        let mut ksm: KubeStateMetrics = serde_json::from_value(value).expect("a KubeStateMetrics");
        ksm.metadata.namespace.get_or_insert_with(|| "monitoring".to_string());
        let children = desired(&ksm).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!children.is_empty());
    }
    assert_eq!(samples, 3, "small, large and multi-cluster");
}
