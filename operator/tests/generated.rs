//! The generated files checked into the repository must match what the code generates:
//! `crds/` (from `crd.rs`), the operator's ClusterRole and the plain Prometheus rules (from the
//! exporter registry and `alerts.rs`). `UPDATE_GOLDEN=1` rewrites them, as `just generate` does.

use operator::manifests;
use std::{fs, path::Path};

#[test]
fn generated_files_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let files = [
        (manifests::CRD_PATH, manifests::crd_yaml()),
        (manifests::OPERATOR_CLUSTER_ROLE_PATH, manifests::operator_cluster_role_yaml()),
        (manifests::RULES_PATH, manifests::rules_yaml()),
    ];
    let mut stale = Vec::new();
    for (path, want) in files {
        let path = root.join(path);
        if update {
            fs::create_dir_all(path.parent().expect("has a parent")).expect("creatable directory");
            fs::write(&path, &want).expect("writable file");
        } else if fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(stale.is_empty(), "stale generated files {stale:?}; run `just generate` and commit the result");
}
