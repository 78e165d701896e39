//! Golden tests of `desired()`: each `golden/<case>.in.yaml` (a KubeStateMetrics) must produce
//! exactly `golden/<case>.out.yaml` (the children as a YAML stream, in apply order, or the
//! `SpecError`). `UPDATE_GOLDEN=1 cargo test -p statefleet-operator --test golden` rewrites the
//! outputs; reviewers read the diff.

use operator::{crd::KubeStateMetrics, desired::desired};
use std::{fs, path::Path};

fn render(input: &str) -> String {
    let ksm: KubeStateMetrics = serde_norway::from_str(input).expect("input is a KubeStateMetrics");
    match desired(&ksm) {
        Ok(children) => children
            .iter()
            .map(|c| {
                let requires =
                    c.requires_crd.map(|crd| format!("# requires CRD {crd}\n")).unwrap_or_default();
                let body = serde_norway::to_string(&c.object).expect("objects serialize to YAML");
                format!("---\n{requires}{body}")
            })
            .collect(),
        Err(error) => format!("# desired() fails with reason {}:\n# {error}\n", error.reason()),
    }
}

#[test]
fn desired_matches_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut cases = 0;
    let mut stale = Vec::new();
    let mut entries: Vec<_> =
        fs::read_dir(&dir).expect("tests/golden exists").flatten().map(|e| e.path()).collect();
    entries.sort();
    for input_path in entries {
        let Some(case) =
            input_path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".in.yaml"))
        else {
            continue;
        };
        cases += 1;
        let input = fs::read_to_string(&input_path).expect("readable input");
        let got = render(&input);
        let out_path = dir.join(format!("{case}.out.yaml"));
        if update {
            fs::write(&out_path, &got).expect("writable golden file");
            continue;
        }
        let want = fs::read_to_string(&out_path).unwrap_or_default();
        if got != want {
            eprintln!("--- {case}: got\n{got}");
            stale.push(case.to_string());
        }
    }
    assert!(cases >= 3, "expected golden cases in {}", dir.display());
    assert!(
        stale.is_empty(),
        "golden files differ for {stale:?}; rerun with UPDATE_GOLDEN=1 and review the diff"
    );
}
