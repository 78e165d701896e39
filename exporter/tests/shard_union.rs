//! Property: for random UID sets and any number of shards, with either hash, the shards' outputs
//! are disjoint and together equal the unsharded output, byte for byte after sorting.

use clap::Parser;
use exporter::{
    options::{Cli, Options},
    render::render,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn objects(uids: &[String]) -> Vec<Value> {
    uids.iter()
        .enumerate()
        .flat_map(|(i, uid)| {
            let meta = |kind: &str| {
                json!({"name": format!("{kind}-{i}"), "namespace": "ns", "uid": format!("{kind}-{uid}"),
                       "creationTimestamp": "2026-11-01T10:00:00Z", "labels": {"app": format!("a{i}")}})
            };
            [
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("d"),
                       "spec": {"replicas": i, "selector": {}, "template": {}}, "status": {"replicas": i}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("c")}),
                json!({"apiVersion": "v1", "kind": "Node", "metadata": meta("n"),
                       "status": {"capacity": {"cpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}]}}),
            ]
        })
        .collect()
}

fn sample_lines(args: &[String], objects: &[Value]) -> Vec<String> {
    let mut argv = vec!["statefleet-exporter".to_string(), "--resources=deployments,configmaps,nodes".into()];
    argv.push("--metric-labels-allowlist=*=[app]".into());
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("flags parse");
    let options = Options::validate(&cli.flags).expect("options are valid");
    let out = render(objects.to_vec(), &options).expect("render");
    let text = String::from_utf8(out).expect("utf8");
    text.lines().filter(|l| !l.starts_with('#')).map(str::to_string).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn shards_partition_the_unsharded_output(
        uids in prop::collection::hash_set("[0-9a-f]{8}-[0-9a-f]{4}", 0..24),
        total in 1u32..=16,
        jump in any::<bool>(),
    ) {
        let uids: Vec<String> = uids.into_iter().collect();
        let objects = objects(&uids);
        let hash = if jump { "jump" } else { "md5" };
        let mut all = sample_lines(&[], &objects);
        all.sort();
        let mut union = Vec::new();
        for shard in 0..total {
            let args = [format!("--shard={shard}"), format!("--total-shards={total}"), format!("--shard-hash={hash}")];
            union.extend(sample_lines(&args, &objects));
        }
        union.sort();
        let before = union.len();
        union.dedup();
        prop_assert_eq!(before, union.len(), "a series was served by two shards");
        prop_assert_eq!(union, all);
    }
}
