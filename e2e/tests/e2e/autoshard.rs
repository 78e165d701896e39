//! Exporter pods run by the process kubelet: an auto-sharded StatefulSet partitions the
//! unsharded output and follows scaling without restarts, and per-node DaemonSet exporters plus
//! one `--track-unscheduled-pods` exporter cover every pod exactly once.

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::Pod,
};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;
use statefleet_e2e::{
    Error, Exporter, KubeletConfig, Poll, ProcessKubelet, Result, TestNs,
    checks::{assert_lint_clean, wait_scrape_matches_render},
    expo,
    fixtures::{
        EXPORTER_SERVICE_ACCOUNT, make_deployment, make_exporter_daemonset, make_exporter_deployment,
        make_exporter_statefulset, make_pod,
    },
    kubelet::{LocalPod, scrape_exporters},
    namespace::KUBELET_IGNORE_LABEL,
    resources::{self, resources_flag},
    shards::{ShardHash, check_assignment, check_union, objects},
    wait_for, with_temp_ns,
};
use std::{collections::BTreeMap, time::Duration};

/// How long shards may take to agree with the unsharded exporter after a change.
const CONVERGE_LIMIT: Duration = Duration::from_secs(60);
/// How long the StatefulSet may take to roll out its exporter pods one by one.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(90);

/// Waits until the StatefulSet's exporter pods `ksm-0..n` report `n` shards, are pairwise
/// disjoint, their union is exactly the unsharded output, and each object sits on the shard md5
/// of its UID names, all in one consistent snapshot.
async fn wait_partition(ns: &TestNs, kubelet: &ProcessKubelet, unsharded: &Exporter, n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("ksm-{i}")).collect();
    let kinds = resources::under_test();
    let started = tokio::time::Instant::now();
    let shards = wait_for(
        &format!("{n} auto-shards to partition the unsharded output"),
        CONVERGE_LIMIT,
        Duration::from_millis(300),
        || async {
            let pods: Vec<LocalPod> = names
                .iter()
                .map(|name| {
                    kubelet.pod(name).ok_or_else(|| Error::Process {
                        what: format!("find pod {name}"),
                        detail: "the kubelet does not run it".into(),
                    })
                })
                .collect::<Result<_>>()?;
            for (i, pod) in pods.iter().enumerate() {
                let shard = pod.exporter_shard().await?;
                if !shard.is(i, n) {
                    return Ok(Poll::Pending(format!("{}: {shard:?}", pod.name)));
                }
            }
            let before = resources::fetch_list(&ns.client(), &kinds, ns.name()).await?;
            let (whole, parts) = tokio::join!(unsharded.scrape(), scrape_exporters(&pods));
            let after = resources::fetch_list(&ns.client(), &kinds, ns.name()).await?;
            let (whole, parts) = (whole?, parts?);
            assert_lint_clean(unsharded.label(), &whole);
            if before != after {
                return Ok(Poll::Pending("objects changed while scraping".into()));
            }
            let whole = expo::parse(&whole)
                .map_err(|e| Error::Parse { what: "the unsharded scrape".into(), detail: e.to_string() })?;
            if let Err(report) = check_union(&whole, &parts) {
                return Ok(Poll::Pending(report.to_string()));
            }
            if let Err(wrong) = check_assignment(&after, &parts, ShardHash::Md5) {
                return Ok(Poll::Pending(format!("misplaced objects:\n  {}", wrong.join("\n  "))));
            }
            Ok(Poll::Ready(parts))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let counts: Vec<usize> = shards.iter().map(|(_, e)| objects(e).len()).collect();
    eprintln!(
        "{n} auto-shards partition the unsharded output (objects per shard {counts:?}) after {:.1?}",
        started.elapsed()
    );
}

fn pids(kubelet: &ProcessKubelet, names: &[&str]) -> BTreeMap<String, (u32, u32)> {
    names
        .iter()
        .map(|n| {
            let p = kubelet.pod(n).unwrap_or_else(|| panic!("pod {n} runs"));
            (n.to_string(), (p.pid.unwrap_or_else(|| panic!("pod {n} has a pid")), p.restarts))
        })
        .collect()
}

fn assert_same_processes(kubelet: &ProcessKubelet, before: &BTreeMap<String, (u32, u32)>, when: &str) {
    let names: Vec<&str> = before.keys().map(String::as_str).collect();
    let now = pids(kubelet, &names);
    assert_eq!(&now, before, "{when}: the remaining exporter processes (pid, restarts) must stay the same");
    for (name, (pid, _)) in &now {
        assert!(statefleet_e2e::process::pid_alive(*pid), "{when}: pid {pid} of {name} is gone");
    }
}

async fn scale(ns: &TestNs, name: &str, replicas: i32) {
    let api: Api<StatefulSet> = ns.api();
    api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": replicas}})))
        .await
        .unwrap_or_else(|e| panic!("scale statefulset {name} to {replicas}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autosharded_statefulset_partitions_and_follows_scaling() {
    with_temp_ns("autoshard", |ns| async move {
        let kinds = resources::under_test();
        let _standin = ns.start_kubelet();
        ns.seed_workloads().await.expect("create the workloads");
        ns.grant_read_all(EXPORTER_SERVICE_ACCOUNT).await.expect("grant the exporter's service account");
        let kubelet = ProcessKubelet::start(
            ns.control_plane(),
            KubeletConfig::exporter(Some(ns.name())).expect("kubelet config"),
        )
        .await
        .expect("process kubelet starts");

        let base = vec![resources_flag(&kinds), format!("--namespaces={}", ns.name())];
        let mut args = base.clone();
        args.extend(["--pod=$(POD_NAME)".to_string(), "--pod-namespace=$(POD_NAMESPACE)".to_string()]);
        ns.create(&make_exporter_statefulset("ksm", 3, &args).typed::<StatefulSet>())
            .await
            .expect("create the exporter statefulset");
        let unsharded =
            Exporter::start("unsharded", ns.kubeconfig(), &base).await.expect("unsharded exporter starts");

        let started = tokio::time::Instant::now();
        let pods = kubelet
            .wait_ready(&["ksm-0", "ksm-1", "ksm-2"], ROLLOUT_LIMIT)
            .await
            .expect("3 exporter pods ready");
        eprintln!("3 exporter pods rolled out in {:.1?}", started.elapsed());
        // OrderedReady: the controller made pod N+1 only after the kubelet reported pod N ready.
        for w in pods.windows(2) {
            let ready = w[0].ready_at.expect("ready pods have a ready time");
            assert!(w[1].seen_at >= ready, "{} was created before {} was ready", w[1].name, w[0].name);
        }
        for p in &pods {
            assert!(
                p.args.iter().any(|a| a == &format!("--pod={}", p.name)),
                "$(POD_NAME) expanded: {:?}",
                p.args
            );
            assert!(p.args.iter().any(|a| a == &format!("--pod-namespace={}", ns.name())), "{:?}", p.args);
        }
        wait_partition(&ns, &kubelet, &unsharded, 3).await;
        let first = pids(&kubelet, &["ksm-0", "ksm-1", "ksm-2"]);

        scale(&ns, "ksm", 5).await;
        kubelet
            .wait_ready(&["ksm-0", "ksm-1", "ksm-2", "ksm-3", "ksm-4"], ROLLOUT_LIMIT)
            .await
            .expect("5 exporter pods ready");
        wait_partition(&ns, &kubelet, &unsharded, 5).await;
        assert_same_processes(&kubelet, &first, "after scaling 3 -> 5");

        scale(&ns, "ksm", 2).await;
        kubelet.wait_gone(&["ksm-2", "ksm-3", "ksm-4"], ROLLOUT_LIMIT).await.expect("scaled-down pods stop");
        wait_partition(&ns, &kubelet, &unsharded, 2).await;
        let kept: BTreeMap<String, (u32, u32)> =
            first.into_iter().filter(|(n, _)| n == "ksm-0" || n == "ksm-1").collect();
        assert_same_processes(&kubelet, &kept, "after scaling 5 -> 2");
        let pods: Api<Pod> = ns.api();
        for gone in ["ksm-2", "ksm-3", "ksm-4"] {
            assert!(pods.get_opt(gone).await.expect("get pod").is_none(), "pod {gone} is deleted");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_node_exporters_and_the_unscheduled_tracker_cover_every_pod_once() {
    with_temp_ns("pernode", |ns| async move {
        let _standin = ns.start_kubelet();
        ns.grant_read_all(EXPORTER_SERVICE_ACCOUNT).await.expect("grant the exporter's service account");
        let kubelet = ProcessKubelet::start(
            ns.control_plane(),
            KubeletConfig::exporter(Some(ns.name())).expect("kubelet config"),
        )
        .await
        .expect("process kubelet starts");

        ns.create(&make_deployment("web", 4).typed::<Deployment>()).await.expect("create deployment");
        // Never scheduled: no node has the label.
        ns.create(
            &make_pod("nowhere")
                .set("/spec/nodeSelector", json!({"statefleet.io/no-such-node": "true"}))
                .typed::<Pod>(),
        )
        .await
        .expect("create unschedulable pod");
        // Scheduled but never started.
        ns.create(&make_pod("stuck").label(KUBELET_IGNORE_LABEL, "yes").typed::<Pod>())
            .await
            .expect("create a pod left pending");

        let namespaces = format!("--namespaces={}", ns.name());
        ns.create(
            &make_exporter_daemonset("ksm-node", &["--node=$(NODE_NAME)".into(), namespaces.clone()])
                .typed::<DaemonSet>(),
        )
        .await
        .expect("create the per-node exporter daemonset");
        ns.create(
            &make_exporter_deployment(
                "ksm-unscheduled",
                1,
                &["--track-unscheduled-pods".into(), namespaces.clone()],
            )
            .typed::<Deployment>(),
        )
        .await
        .expect("create the unscheduled-pods exporter");
        let all_args = vec!["--resources=pods".to_string(), namespaces.clone()];
        let unsharded =
            Exporter::start("all pods", ns.kubeconfig(), &all_args).await.expect("unsharded exporter starts");

        let nodes = ns.control_plane().nodes().to_vec();
        let exporters: Vec<LocalPod> = wait_for(
            "one ready exporter per node and the unscheduled-pods exporter",
            ROLLOUT_LIMIT,
            Duration::from_millis(100),
            || async {
                let pods: Vec<LocalPod> =
                    kubelet.pods().into_values().filter(|p| p.ready && p.pid.is_some()).collect();
                Ok(if pods.len() == nodes.len() + 1 {
                    Poll::Ready(pods)
                } else {
                    Poll::Pending(format!("ready: {:?}", pods.iter().map(|p| &p.name).collect::<Vec<_>>()))
                })
            },
        )
        .await
        .expect("exporter pods ready");
        let tracker = exporters
            .iter()
            .find(|p| p.args.iter().any(|a| a == "--track-unscheduled-pods"))
            .expect("the tracker runs")
            .name
            .clone();
        let per_node: BTreeMap<String, String> = exporters
            .iter()
            .filter(|p| p.name != tracker)
            .map(|p| {
                let node =
                    p.env.iter().find(|(k, _)| k == "NODE_NAME").map(|(_, v)| v.clone()).unwrap_or_default();
                assert_eq!(node, p.node, "NODE_NAME of {} is its node", p.name);
                assert!(p.args.contains(&format!("--node={node}")), "$(NODE_NAME) expanded in {:?}", p.args);
                (p.name.clone(), node)
            })
            .collect();
        let mut covered_nodes: Vec<&String> = per_node.values().collect();
        covered_nodes.sort();
        assert_eq!(covered_nodes, nodes.iter().collect::<Vec<_>>(), "one exporter per node");

        // The unsharded exporter is exact, and the per-node outputs partition it.
        wait_scrape_matches_render(
            &ns,
            &unsharded,
            &[resources::find("pods").expect("pods")],
            &all_args,
            CONVERGE_LIMIT,
        )
        .await
        .expect("the unsharded pod exporter equals render");
        let parts = wait_for(
            "per-node and unscheduled exporters to partition every pod",
            CONVERGE_LIMIT,
            Duration::from_millis(300),
            || async {
                let (whole, parts) = tokio::join!(unsharded.scrape_parsed(), scrape_exporters(&exporters));
                let (whole, parts) = (whole?, parts?);
                Ok(match check_union(&whole, &parts) {
                    Ok(()) => Poll::Ready((whole, parts)),
                    Err(report) => Poll::Pending(report.to_string()),
                })
            },
        )
        .await
        .expect("the exporters partition the pods");
        let (whole, parts) = parts;

        // Each pod sits with the exporter of its node, or with the tracker when it has none.
        let node_of: BTreeMap<String, String> = whole
            .samples
            .iter()
            .filter(|s| s.name == "kube_pod_info")
            .map(|s| (s.labels["pod"].clone(), s.labels.get("node").cloned().unwrap_or_default()))
            .collect();
        let pods: Api<Pod> = ns.api();
        let in_api = pods.list(&Default::default()).await.expect("list pods").items.len();
        assert_eq!(node_of.len(), in_api, "every pod of the namespace is served: {node_of:?}");
        assert_eq!(node_of.get("nowhere").map(String::as_str), Some(""), "the unschedulable pod has no node");
        let mut seen = 0;
        for (exporter, out) in &parts {
            let want_node = per_node.get(exporter).cloned().unwrap_or_default();
            for (_, _, pod) in objects(out) {
                seen += 1;
                assert_eq!(
                    node_of.get(&pod),
                    Some(&want_node),
                    "pod {pod} is served by {exporter} (node {want_node:?})"
                );
            }
        }
        assert_eq!(seen, in_api, "every pod is served exactly once");
        let tracked: Vec<String> =
            parts.iter().filter(|(n, _)| *n == tracker).flat_map(|(_, o)| objects(o)).map(|o| o.2).collect();
        assert_eq!(tracked, ["nowhere"], "the tracker serves the unscheduled pod only");
        eprintln!("{in_api} pods covered once by {} per-node exporters and the tracker", per_node.len());
    })
    .await;
}
