//! Side by side with upstream: kube-state-metrics v2.20.0 and statefleet-exporter, started with
//! the same flags on the same control plane loaded with a varied cluster
//! (`e2e/fixtures/varied-cluster.yaml`), must serve the same series with the same values and
//! declare the same families with the same TYPE. Rounds: every resource, opt-in family, label
//! and annotation; the same again after updates and deletes; selective flags; each of 2 shards.
//! Every difference upstream has on purpose is listed in docs/compatibility.md; this test has no
//! allowance for any of them, since none shows on this cluster.
//!
//! Only this cluster's series are compared (those of the test's namespaces and of the
//! cluster-scoped objects named `sbs-<id>-...`) and those of the control plane's own objects;
//! other tests create nodes, namespaces and cluster roles meanwhile.

use futures::FutureExt;
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::{CronJob, Job},
    core::v1::{
        ConfigMap, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController,
        Secret,
    },
};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::json;
use statefleet_e2e::{
    KubeContext, Poll, TestNs,
    expo::Labels,
    side_by_side::{
        Outcome, Pair, SYSTEM_NAMESPACES, control_plane_owns, exporter_resources, full_coverage_flags,
    },
    varied::VariedCluster,
    wait_for, with_temp_ns,
};
use std::{panic::AssertUnwindSafe, time::Duration};
use tokio::time::Instant;

/// How long the controllers may take to bring the workloads to their final state.
const SETTLE: Duration = Duration::from_secs(45);
/// How long the two exporters may take to serve one stable state.
const COMPARE: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_by_side_varied_cluster_matches_upstream() {
    with_temp_ns("sbs", |ns| async move {
        let started = Instant::now();
        let _kubelet = ns.start_kubelet();
        let cluster = VariedCluster::create(&ns).await.unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "side-by-side: created {} objects in {:.1?}: {:?}",
            cluster.len(),
            started.elapsed(),
            cluster.kinds()
        );
        let outcome = AssertUnwindSafe(compare(&ns, &cluster)).catch_unwind().await;
        cluster.cleanup().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        eprintln!("side-by-side: done in {:.1?}", started.elapsed());
    })
    .await;
}

/// Waits for the workloads, then compares the two exporters with every family on, and again
/// with each of [`selective_flags`].
async fn compare(ns: &TestNs, cluster: &VariedCluster) {
    wait_settled(ns).await;
    wait_namespaces_conditioned(ns, cluster).await;
    let mut namespaces = cluster.namespaces();
    namespaces.extend(SYSTEM_NAMESPACES.iter().map(|n| n.to_string()));
    let full = full_coverage_flags(&namespaces).unwrap_or_else(|e| panic!("{e}"));
    let mut pair = start_pair(ns, &full).await;
    let outcome = compare_pair(&mut pair, ns, cluster, "every family", &full).await;
    for (family, n) in outcome.per_family() {
        eprintln!("  {n:5}  {family}");
    }
    assert_every_resource_covered(&outcome.per_family());
    churn(ns, cluster).await;
    // Both must agree in every round; the changes may take a moment to show in both.
    let deadline = Instant::now() + COMPARE;
    loop {
        let after =
            compare_pair(&mut pair, ns, cluster, "every family, after updates and deletes", &full).await;
        let unseen = churn_unseen(&after, cluster);
        if unseen.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the comparison after the changes does not show: {unseen:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(pair);
    for (what, flags) in selective_flags(cluster) {
        let mut pair = start_pair(ns, &flags).await;
        compare_pair(&mut pair, ns, cluster, what, &flags).await;
    }
    compare_shards(ns, cluster, &full).await;
}

/// Each of 2 shards: upstream's `--shard=i --total-shards=2` against ours with the same flags
/// and `--shard-hash=jump` (upstream's assignment; ours defaults to MD5, see
/// docs/compatibility.md). Both shards must hold series, so the assignment was exercised.
async fn compare_shards(ns: &TestNs, cluster: &VariedCluster, flags: &[String]) {
    let ours_only = ["--shard-hash=jump".to_string()];
    for i in 0..2 {
        let what = format!("every family, shard {i} of 2");
        let mut pair = Pair::start_sharded(ns.control_plane(), Some((i, 2)), flags, &ours_only, ns.dir())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let outcome = compare_pair(&mut pair, ns, cluster, &what, flags).await;
        assert!(outcome.upstream.len() > 100, "{what}: only {} series", outcome.upstream.len());
    }
}

async fn start_pair(ns: &TestNs, flags: &[String]) -> Pair {
    Pair::start(ns.control_plane(), flags, ns.dir()).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Changes through the watch path: labels and annotations changed and removed, statuses moved on
/// (a restart, a node going NotReady, an HPA decision), a scale-up, a suspend, deletes of a
/// namespaced and a cluster-scoped object. Returns once the API shows the scale-up done.
async fn churn(ns: &TestNs, cluster: &VariedCluster) {
    let merge = |v: serde_json::Value| Patch::Merge(v);
    let pp = PatchParams::default();
    ns.api::<ConfigMap>()
        .patch(
            "settings",
            &pp,
            &merge(json!({"metadata": {
                "labels": {"tier": "front", "app.kubernetes.io/name": null},
                "annotations": {"statefleet.io/reloaded-at": null, "statefleet.io/new": "yes"},
            }})),
        )
        .await
        .unwrap_or_else(|e| panic!("churn: relabel configmap settings: {e}"));
    ns.api::<Secret>()
        .delete("login", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("churn: delete secret login: {e}"));
    let pod = ns
        .api::<Pod>()
        .get("running-restarts")
        .await
        .unwrap_or_else(|e| panic!("churn: get pod running-restarts: {e}"));
    let mut statuses = pod.status.and_then(|s| s.container_statuses).unwrap_or_default();
    for c in statuses.iter_mut().filter(|c| c.name == "sidecar") {
        c.restart_count += 1;
        c.state = Some(
            serde_json::from_value(json!({"waiting": {"reason": "CreateContainerConfigError"}}))
                .expect("state"),
        );
    }
    ns.api::<Pod>()
        .patch_status("running-restarts", &pp, &merge(json!({"status": {"containerStatuses": statuses}})))
        .await
        .unwrap_or_else(|e| panic!("churn: restart a container: {e}"));
    let nodes: Api<Node> = Api::all(ns.client());
    let node_a = format!("{}node-a", cluster.prefix());
    let node = nodes.get(&node_a).await.unwrap_or_else(|e| panic!("churn: get node a: {e}"));
    let mut conditions = node.status.and_then(|s| s.conditions).unwrap_or_default();
    for c in conditions.iter_mut().filter(|c| c.type_ == "Ready") {
        c.status = "False".into();
        c.reason = Some("KubeletNotReady".into());
    }
    nodes
        .patch_status(&node_a, &pp, &merge(json!({"status": {"conditions": conditions}})))
        .await
        .unwrap_or_else(|e| panic!("churn: node a NotReady: {e}"));
    let pvs: Api<PersistentVolume> = Api::all(ns.client());
    pvs.delete(&format!("{}pv-free", cluster.prefix()), &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("churn: delete pv-free: {e}"));
    ns.api::<HorizontalPodAutoscaler>()
        .patch_status("api", &pp, &merge(json!({"status": {"desiredReplicas": 5}})))
        .await
        .unwrap_or_else(|e| panic!("churn: HPA api decides 5: {e}"));
    ns.api::<CronJob>()
        .patch("yearly", &pp, &merge(json!({"spec": {"suspend": true}})))
        .await
        .unwrap_or_else(|e| panic!("churn: suspend yearly: {e}"));
    ns.api::<Deployment>()
        .patch("web", &pp, &merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap_or_else(|e| panic!("churn: scale web to 3: {e}"));
    ns.wait_object::<Deployment>("web", "3 available replicas", SETTLE, |d| {
        d.status.as_ref().and_then(|s| s.available_replicas) == Some(3)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The changes of [`churn`] the compared state does not show yet (a comparison before they
/// arrive would only show that both exporters lag alike).
fn churn_unseen(outcome: &Outcome, cluster: &VariedCluster) -> Vec<&'static str> {
    let value = |name: &str, label: &str, object: &str| {
        outcome
            .upstream
            .iter()
            .find(|(k, _)| k.name == name && k.labels.get(label).is_some_and(|v| v == object))
            .map(|(_, v)| *v)
    };
    let node_a = format!("{}node-a", cluster.prefix());
    let checks = [
        (
            "web has 3 available replicas",
            value("kube_deployment_status_replicas_available", "deployment", "web") == Some(3.0),
        ),
        ("secret login is gone", value("kube_secret_info", "secret", "login").is_none()),
        (
            "pv-free is gone",
            value("kube_persistentvolume_info", "persistentvolume", &format!("{}pv-free", cluster.prefix()))
                .is_none(),
        ),
        ("yearly is suspended", value("kube_cronjob_spec_suspend", "cronjob", "yearly") == Some(1.0)),
        (
            "HPA api desires 5",
            value("kube_horizontalpodautoscaler_status_desired_replicas", "horizontalpodautoscaler", "api")
                == Some(5.0),
        ),
        (
            "node a is NotReady",
            outcome.upstream.iter().any(|(k, v)| {
                k.name == "kube_node_status_condition"
                    && k.labels.get("node") == Some(&node_a)
                    && k.labels.get("condition").is_some_and(|c| c == "Ready")
                    && k.labels.get("status").is_some_and(|s| s == "false")
                    && *v == 1.0
            }),
        ),
    ];
    checks.iter().filter(|(_, ok)| !ok).map(|(what, _)| *what).collect()
}

/// Compares the two exporters of `pair` (started with `flags`) on a stable state and fails with
/// a readable difference unless they agree.
async fn compare_pair(
    pair: &mut Pair,
    ns: &TestNs,
    cluster: &VariedCluster,
    what: &str,
    flags: &[String],
) -> Outcome {
    let nodes = ns.control_plane().nodes();
    let keep = |labels: &Labels| cluster.owns(labels) || control_plane_owns(labels, nodes);
    let outcome = match pair.compare_stable(keep, COMPARE).await {
        Ok(o) => o,
        Err(e) => panic!("{what}: {e}\n{}", pair.log_tails(40)),
    };
    let report = outcome.report();
    assert!(
        outcome.is_equal(),
        "{what}: upstream and ours differ on a stable state (flags {flags:?}):\n{report}\n{}",
        pair.log_tails(20)
    );
    eprintln!("side-by-side ({what}): {report}");
    outcome
}

/// Flag sets that select: family deny- and allowlists (regexes), label and annotation allowlists
/// with exact keys and partial wildcards per resource, a namespace denylist instead of a list
/// (every namespace watched; the comparison still keeps this cluster's series only).
fn selective_flags(cluster: &VariedCluster) -> Vec<(&'static str, Vec<String>)> {
    let resources =
        format!("--resources={}", exporter_resources().unwrap_or_else(|e| panic!("{e}")).join(","));
    let namespaces = format!("--namespaces={}", cluster.namespaces().join(","));
    vec![
        (
            "denylist and per-resource allowlists",
            vec![
                resources.clone(),
                namespaces,
                "--metric-denylist=kube_.*_created,kube_pod_container_status_.*,kube_node_status_.+".into(),
                "--metric-labels-allowlist=pods=[app,app.kubernetes.io/name],configmaps=[a.b,x_*,MixedCase],\
                 nodes=[topology.kubernetes.io/zone],jobs=[*]"
                    .into(),
                "--metric-annotations-allowlist=configmaps=[statefleet.io/*],nodes=[statefleet.io/rack]".into(),
            ],
        ),
        (
            "allowlist, opt-in by regex, namespace denylist",
            vec![
                resources,
                "--namespaces-denylist=kube-system,default".into(),
                "--metric-allowlist=kube_pod_.*,kube_node_info,kube_configmap_labels,kube_persistentvolume_.*".into(),
                "--metric-opt-in-list=kube_pod_node.*".into(),
                "--metric-labels-allowlist=*=[app]".into(),
            ],
        ),
    ]
}

/// Every resource the exporter serves must have produced series, or the comparison proves
/// nothing about it.
fn assert_every_resource_covered(per_family: &std::collections::BTreeMap<&str, usize>) {
    // `--resources` name to the metric prefix's singular: policies, classes, ingresses, pods.
    let singular = |resource: &str| -> String {
        if let Some(stem) = resource.strip_suffix("ies") {
            format!("{stem}y")
        } else if let Some(stem) = resource.strip_suffix("sses") {
            format!("{stem}ss")
        } else {
            resource.strip_suffix('s').unwrap_or(resource).to_string()
        }
    };
    let missing: Vec<String> = exporter_resources()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|r| {
            let prefix = format!("kube_{}_", singular(r));
            !per_family.keys().any(|f| f.starts_with(&prefix))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "no series compared for {missing:?}: the varied cluster must cover every resource"
    );
}

/// The states the fixture's workloads converge to, as the API reports them.
async fn wait_settled(ns: &TestNs) {
    let ready = |want: i32| move |got: Option<i32>| got == Some(want);
    ns.wait_object::<Deployment>("web", "2 available replicas", SETTLE, |d| {
        ready(2)(d.status.as_ref().and_then(|s| s.available_replicas))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    ns.wait_object::<StatefulSet>("db", "2 ready replicas", SETTLE, |s| {
        ready(2)(s.status.as_ref().and_then(|s| s.ready_replicas))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    ns.wait_object::<ReplicationController>("legacy", "2 ready replicas", SETTLE, |r| {
        ready(2)(r.status.as_ref().and_then(|s| s.ready_replicas))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    ns.wait_object::<ReplicaSet>("loose", "1 ready replica", SETTLE, |r| {
        ready(1)(r.status.as_ref().and_then(|s| s.ready_replicas))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    ns.wait_object::<DaemonSet>("agent", "every scheduled pod ready", SETTLE, |d| {
        d.status
            .as_ref()
            .is_some_and(|s| s.desired_number_scheduled > 0 && s.number_ready == s.desired_number_scheduled)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    ns.wait_object::<Job>("runner", "1 ready pod", SETTLE, |j| {
        ready(1)(j.status.as_ref().and_then(|s| s.ready))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    ns.wait_object::<PersistentVolumeClaim>("data-bound", "Bound", SETTLE, |c| {
        c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    ns.wait_object::<Pod>("unplaced", "PodScheduled=False", SETTLE, |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "PodScheduled")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The fixture's terminating namespaces carry the namespace controller's status conditions
/// (they come a moment after the delete).
async fn wait_namespaces_conditioned(ns: &TestNs, cluster: &VariedCluster) {
    let api: Api<Namespace> = Api::all(ns.client());
    for name in cluster.namespaces().into_iter().filter(|n| n != ns.name()) {
        let api = &api;
        wait_for(
            &format!("status conditions on namespace {name}"),
            SETTLE,
            Duration::from_millis(200),
            || {
                let name = name.clone();
                async move {
                    let got = api.get(&name).await.kube(|| format!("get namespace {name}"))?;
                    let conditions = got.status.and_then(|s| s.conditions).unwrap_or_default();
                    Ok(if conditions.is_empty() {
                        Poll::Pending("no conditions".into())
                    } else {
                        Poll::Ready(())
                    })
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
}
