//! Side by side with upstream: kube-state-metrics v2.20.0 and statefleet-exporter, started with
//! the same flags (every resource, every opt-in family, every label and annotation) on the same
//! control plane loaded with a varied cluster (`e2e/fixtures/varied-cluster.yaml`), must serve
//! the same series with the same values. Every difference upstream has on purpose is listed in
//! docs/compatibility.md; this test has no allowance for any of them, since none shows on this
//! cluster.
//!
//! Only this cluster's series are compared: those of the test namespace and of the cluster-scoped
//! objects named `sbs-<id>-...`; other tests create nodes, namespaces and cluster roles meanwhile.

use futures::FutureExt;
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    batch::v1::Job,
    core::v1::{Namespace, PersistentVolumeClaim, Pod, ReplicationController},
};
use kube::Api;
use statefleet_e2e::{
    Poll, TestNs,
    side_by_side::{Outcome, Pair, exporter_resources, full_coverage_flags},
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
    let full = full_coverage_flags(&cluster.namespaces()).unwrap_or_else(|e| panic!("{e}"));
    let outcome = compare_with(ns, cluster, "every family", &full).await;
    for (family, n) in outcome.per_family() {
        eprintln!("  {n:5}  {family}");
    }
    assert_every_resource_covered(&outcome.per_family());
    for (what, flags) in selective_flags(cluster) {
        compare_with(ns, cluster, what, &flags).await;
    }
}

/// Starts both exporters with `flags`, compares them on a stable state and fails with a readable
/// difference unless they agree.
async fn compare_with(ns: &TestNs, cluster: &VariedCluster, what: &str, flags: &[String]) -> Outcome {
    let mut pair = Pair::start(ns.control_plane(), flags, ns.dir()).await.unwrap_or_else(|e| panic!("{e}"));
    let outcome = match pair.compare_stable(|labels| cluster.owns(labels), COMPARE).await {
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
                    let got = api.get(&name).await.map_err(|e| statefleet_e2e::Error::Kube {
                        what: format!("get namespace {name}"),
                        source: e,
                    })?;
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
