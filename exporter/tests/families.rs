//! The implemented families against upstream's reference table
//! (`../shared/reference/ksm-metrics.tsv`): every family of an implemented resource must be
//! there, in upstream's order, with upstream's type, stability, opt-in and deprecation.

use exporter::resources::{FamilyInfo, REGISTRY};
use std::{collections::BTreeMap, path::PathBuf};

/// One row of the reference table, for the columns the test checks.
#[derive(Debug)]
struct Row {
    resource: String,
    metric: String,
    code_type: String,
    code_stability: String,
    opt_in: bool,
    deprecated: Option<String>,
    default_enabled: bool,
    order: usize,
}

fn reference() -> Vec<Row> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/ksm-metrics.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("failed to read {} (shared/ must sit beside the repo): {e}", path.display())
    });
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("column {name}"));
    let (resource, metric, in_code) = (col("resource"), col("metric"), col("in_code"));
    let (ty, stability, optin, deprecated) =
        (col("code_type"), col("code_stability"), col("code_optin"), col("code_deprecated_version"));
    let (default_enabled, order) = (col("resource_default_enabled"), col("code_order"));
    lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f.get(in_code) == Some(&"yes"))
        .map(|f| Row {
            resource: f[resource].into(),
            metric: f[metric].into(),
            code_type: f[ty].into(),
            code_stability: f[stability].into(),
            opt_in: f[optin] == "yes",
            deprecated: Some(f[deprecated].to_string()).filter(|d| !d.is_empty()),
            default_enabled: f[default_enabled] == "yes",
            order: f[order].parse().expect("code_order"),
        })
        .collect()
}

#[test]
fn implemented_resources_have_every_upstream_family_in_order() {
    let rows = reference();
    let mut by_resource: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        by_resource.entry(r.resource.as_str()).or_default().push(r);
    }
    let mut problems = Vec::new();
    for entry in REGISTRY {
        let Some(expected) = by_resource.get_mut(entry.name) else {
            problems.push(format!("{}: not an upstream resource", entry.name));
            continue;
        };
        expected.sort_by_key(|r| r.order);
        if expected[0].default_enabled != entry.default_enabled {
            problems.push(format!("{}: default_enabled differs from upstream", entry.name));
        }
        let got: Vec<FamilyInfo> = (entry.families)();
        let want: Vec<&str> = expected.iter().map(|r| r.metric.as_str()).collect();
        let have: Vec<&str> = got.iter().map(|f| f.name).collect();
        if want != have {
            problems
                .push(format!("{}: families differ\n  upstream: {want:?}\n  ours:     {have:?}", entry.name));
            continue;
        }
        for (f, r) in got.iter().zip(expected.iter()) {
            if f.metric_type != r.code_type
                || f.stability != r.code_stability
                || f.opt_in != r.opt_in
                || f.deprecated_since.map(str::to_string) != r.deprecated
            {
                problems.push(format!(
                    "{}: ours {}/{}/opt-in {}/deprecated {:?}, upstream {}/{}/opt-in {}/deprecated {:?}",
                    f.name,
                    f.metric_type,
                    f.stability,
                    f.opt_in,
                    f.deprecated_since,
                    r.code_type,
                    r.code_stability,
                    r.opt_in,
                    r.deprecated
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn coverage_is_reported() {
    let rows = reference();
    let implemented: usize =
        REGISTRY.iter().map(|e| rows.iter().filter(|r| r.resource == e.name).count()).sum();
    // Printed for `cargo test -- --nocapture`; `just conformance` prints it per resource.
    println!("coverage: {implemented}/{} upstream families in {} resources", rows.len(), REGISTRY.len());
    assert!(implemented > 0);
}
