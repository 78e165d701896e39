//! Static sharding: for each hash, three shards are pairwise disjoint and together serve exactly
//! what one unsharded exporter serves. The checker itself is shown to catch a dropped shard and a
//! shard run with the wrong `--total-shards`.

use futures::future::try_join_all;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use serde_json::json;
use statefleet_e2e::{
    Exporter, Poll, TestNs,
    checks::{assert_covers, assert_lint_clean},
    expo::{self, Exposition},
    fixtures::{make_daemonset, make_deployment, make_statefulset, one_of_each_kind},
    resources::{self, ResourceKind, resources_flag},
    shards::{ShardHash, check_assignment, check_union, list_objects, objects},
    wait_for, with_temp_ns,
};
use std::time::Duration;

const SHARDS: u32 = 3;

/// Enough workloads (20) that every one of three shards almost surely gets some, in several
/// states, and objects of every other covered kind.
async fn create_objects(ns: &TestNs) {
    for i in 0..10 {
        let mut d = make_deployment(&format!("d{i}"), i % 3).label("index", &i.to_string());
        if i % 4 == 0 {
            d = d.set("/spec/paused", true);
        }
        if i % 3 == 1 {
            d = d.set("/spec/strategy", json!({"type": "Recreate"}));
        }
        ns.create(&d.typed::<Deployment>()).await.expect("create deployment");
    }
    for i in 0..6 {
        let mut s = make_statefulset(&format!("s{i}"), i % 3);
        if i % 2 == 0 {
            s = s.set("/spec/podManagementPolicy", "Parallel");
        }
        ns.create(&s.typed::<StatefulSet>()).await.expect("create statefulset");
    }
    for i in 0..4 {
        ns.create(&make_daemonset(&format!("ds{i}")).typed::<DaemonSet>()).await.expect("create daemonset");
    }
    for f in one_of_each_kind(ns.name()) {
        ns.create_fixture(f).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Scrapes every exporter (concurrently) and parses the results, linting each.
async fn scrape_all(exporters: &[&Exporter]) -> statefleet_e2e::Result<Vec<(String, Exposition)>> {
    let texts = try_join_all(exporters.iter().map(|e| e.scrape())).await?;
    let mut out = Vec::new();
    for (e, text) in exporters.iter().zip(texts) {
        assert_lint_clean(e.label(), &text);
        let parsed = expo::parse(&text).map_err(|err| statefleet_e2e::Error::Parse {
            what: format!("the scrape of {}", e.label()),
            detail: err.to_string(),
        })?;
        out.push((e.label().to_string(), parsed));
    }
    Ok(out)
}

async fn start_shards(ns: &TestNs, base: &[String], hash: &str) -> Vec<Exporter> {
    try_join_all((0..SHARDS).map(|shard| {
        let mut args = base.to_vec();
        args.extend([
            format!("--shard={shard}"),
            format!("--total-shards={SHARDS}"),
            format!("--shard-hash={hash}"),
        ]);
        let label = format!("{hash} shard {shard}/{SHARDS}");
        async move { Exporter::start(&label, ns.kubeconfig(), &args).await }
    }))
    .await
    .unwrap_or_else(|e| panic!("{hash} shards start: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_shards_partition_the_unsharded_output() {
    with_temp_ns("shard", |ns| async move {
        let kinds: Vec<&ResourceKind> = resources::under_test();
        let _kubelet = ns.start_kubelet();
        create_objects(&ns).await;
        let base = vec![resources_flag(&kinds), format!("--namespaces={}", ns.name())];

        let (unsharded, md5, jump) = tokio::join!(
            Exporter::start("unsharded", ns.kubeconfig(), &base),
            start_shards(&ns, &base, "md5"),
            start_shards(&ns, &base, "jump"),
        );
        let unsharded = unsharded.expect("unsharded exporter starts");

        // Controllers and the stand-in kubelet keep changing statuses for a while, and the
        // exporters see each change at slightly different moments: retry until one consistent
        // snapshot partitions, for both hashes.
        let snapshot = wait_for(
            "md5 and jump shards to partition the unsharded output in one snapshot",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || async {
                let all: Vec<&Exporter> = std::iter::once(&unsharded).chain(&md5).chain(&jump).collect();
                let before = resources::fetch_list(&ns.client(), &kinds, ns.name()).await?;
                let mut scraped = scrape_all(&all).await?;
                let list = resources::fetch_list(&ns.client(), &kinds, ns.name()).await?;
                if before != list {
                    return Ok(Poll::Pending("objects changed while scraping".into()));
                }
                let jump_out = scraped.split_off(1 + SHARDS as usize);
                let md5_out = scraped.split_off(1);
                let whole = scraped.pop().expect("the unsharded scrape").1;
                let md5_check = check_union(&whole, &md5_out);
                let jump_check = check_union(&whole, &jump_out);
                if md5_check.is_err() || jump_check.is_err() {
                    return Ok(Poll::Pending(format!(
                        "md5: {}\njump: {}",
                        md5_check.err().map(|r| r.to_string()).unwrap_or_else(|| "ok".into()),
                        jump_check.err().map(|r| r.to_string()).unwrap_or_else(|| "ok".into()),
                    )));
                }
                // Every object of the API is served, and nothing else.
                let (served, in_api) = (objects(&whole), list_objects(&list));
                if served != in_api {
                    return Ok(Poll::Pending(format!(
                        "objects served but not in the API: {:?}; in the API but not served: {:?}",
                        served.difference(&in_api).collect::<Vec<_>>(),
                        in_api.difference(&served).collect::<Vec<_>>()
                    )));
                }
                Ok(Poll::Ready((whole, md5_out, jump_out, list)))
            },
        )
        .await
        .expect("shards partition the unsharded output");
        let (whole, md5_out, jump_out, list) = snapshot;
        assert_covers("unsharded", &whole, &kinds);
        let total = objects(&whole).len();
        assert!(total >= 20, "the 20 created objects (and what they own) are served; got {total}");
        // Each object sits on the shard the specified hash of its UID names (computed here
        // independently of the exporter's code).
        for (hash, outs) in [(ShardHash::Md5, &md5_out), (ShardHash::Jump, &jump_out)] {
            let counts: Vec<usize> = outs.iter().map(|(_, e)| objects(e).len()).collect();
            eprintln!("{}: objects per shard {counts:?} of {total}", hash.flag());
            if let Err(wrong) = check_assignment(&list, outs, hash) {
                panic!(
                    "{} objects on the wrong {} shard:\n  {}",
                    wrong.len(),
                    hash.flag(),
                    wrong.join("\n  ")
                );
            }
        }

        // Each shard reports its place on the telemetry port (reference §9.2).
        for (i, e) in md5.iter().chain(&jump).enumerate() {
            let shard = (i % SHARDS as usize).to_string();
            let text = e.telemetry().await.expect("telemetry scrape");
            let telemetry = expo::parse(&text).unwrap_or_else(|err| panic!("{} telemetry: {err}", e.label()));
            assert_eq!(
                telemetry.value("kube_state_metrics_total_shards", &[]),
                Some(f64::from(SHARDS)),
                "{}: kube_state_metrics_total_shards",
                e.label()
            );
            assert_eq!(
                telemetry.value("kube_state_metrics_shard_ordinal", &[("shard_ordinal", &shard)]),
                shard.parse().ok(),
                "{}: kube_state_metrics_shard_ordinal",
                e.label()
            );
        }

        // Test of the test, on the same snapshot: without one (non-empty) shard the union is short.
        let (dropped_at, _) =
            md5_out.iter().enumerate().max_by_key(|(_, (_, e))| objects(e).len()).expect("three shards");
        let mut without = md5_out.clone();
        let (dropped, _) = without.remove(dropped_at);
        let report = check_union(&whole, &without).expect_err("dropping a shard must fail the check");
        assert!(
            !report.union_diff.missing.is_empty(),
            "dropping {dropped} must leave series missing: {report}"
        );
        assert!(report.overlaps.is_empty() && report.union_diff.extra.is_empty(), "{report}");
        eprintln!(
            "the checker caught the dropped shard ({dropped}): {} series missing",
            report.union_diff.missing.len()
        );

        // ... and a shard run with the wrong --total-shards breaks the partition.
        let mut wrong_args = base.clone();
        wrong_args.extend(["--shard=2".into(), "--total-shards=4".into(), "--shard-hash=md5".into()]);
        let wrong = Exporter::start("md5 shard 2/4 (wrong total)", ns.kubeconfig(), &wrong_args)
            .await
            .expect("wrong-total shard starts");
        let verdict = wait_for(
            "a consistent snapshot with the wrong-total shard",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || async {
                let all: Vec<&Exporter> =
                    [&unsharded, &md5[0], &md5[1], &md5[2], &wrong].into_iter().collect();
                let mut scraped = scrape_all(&all).await?;
                let wrong_out = scraped.pop().expect("wrong shard scrape");
                let whole = scraped.remove(0).1;
                // The real shards must still partition, or the snapshot is not consistent yet.
                if let Err(r) = check_union(&whole, &scraped) {
                    return Ok(Poll::Pending(format!("real shards do not partition yet: {r}")));
                }
                let right_objects = objects(&scraped[2].1);
                let wrong_objects = objects(&wrong_out.1);
                let mut broken = scraped.clone();
                broken[2] = wrong_out;
                Ok(Poll::Ready((right_objects == wrong_objects, check_union(&whole, &broken))))
            },
        )
        .await
        .expect("consistent snapshot");
        match verdict {
            (true, _) => eprintln!(
                "md5 mod 4 == 2 picked the same objects as md5 mod 3 == 2 (about 1 in 50,000 for 20 \
                 objects); nothing to catch"
            ),
            (false, Ok(())) => panic!("the checker accepted a shard run with --total-shards=4"),
            (false, Err(report)) => {
                assert!(
                    !report.union_diff.missing.is_empty()
                        || !report.overlaps.is_empty()
                        || !report.union_diff.extra.is_empty(),
                    "{report}"
                );
                eprintln!(
                    "the checker caught the wrong total: {} missing, {} overlapping",
                    report.union_diff.missing.len(),
                    report.overlaps.len()
                );
            }
        }
    })
    .await;
}
