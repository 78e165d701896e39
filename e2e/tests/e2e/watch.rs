//! Watch correctness: an exporter serves exactly what `render` makes of the API's objects, and
//! follows updates and deletes within 2 s.

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::{ConfigMap, Namespace, Pod, Secret},
};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use statefleet_e2e::{
    Exporter, TestNs,
    checks::{assert_covers, assert_lint_clean, time_until_scrape, wait_scrape_matches_render},
    expo::Exposition,
    fixtures::{make_daemonset, make_deployment, make_statefulset, one_of_each_kind},
    namespace::KUBELET_IGNORE_LABEL,
    resources::{self, resources_flag},
    with_temp_ns,
};
use std::time::Duration;
use tokio::time::Instant;

/// The most a change may take to reach the scrape.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(2);

/// Workloads in many states: rolling, recreate, paused, scaled to zero, stuck past their
/// progress deadline (pods the stand-in kubelet ignores), ordered and parallel StatefulSets, a
/// DaemonSet limited by a node selector.
async fn create_varied_workloads(ns: &TestNs) {
    let deployments: Vec<Deployment> = vec![
        make_deployment("web", 2)
            .label("tier", "front")
            .set(
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}}),
            )
            .typed(),
        make_deployment("batch", 1)
            .set("/spec/strategy", json!({"type": "Recreate"}))
            .set("/metadata/annotations/statefleet.io~1note", "recreated on change")
            .typed(),
        make_deployment("frozen", 1).set("/spec/paused", true).typed(),
        make_deployment("idle", 0).label("tier", "back").typed(),
        make_deployment("stuck", 1)
            .set("/spec/progressDeadlineSeconds", 1)
            .set(
                &format!("/spec/template/metadata/labels/{}", KUBELET_IGNORE_LABEL.replace('/', "~1")),
                "yes",
            )
            .typed(),
    ];
    for d in &deployments {
        ns.create(d).await.expect("create deployment");
    }
    let statefulsets: Vec<StatefulSet> = vec![
        make_statefulset("db", 2).label("tier", "back").typed(),
        make_statefulset("cache", 2)
            .set("/spec/podManagementPolicy", "Parallel")
            .set("/spec/updateStrategy", json!({"type": "OnDelete"}))
            .set(
                "/spec/persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Delete", "whenScaled": "Retain"}),
            )
            .typed(),
        make_statefulset("slow", 2)
            .set(
                &format!("/spec/template/metadata/labels/{}", KUBELET_IGNORE_LABEL.replace('/', "~1")),
                "yes",
            )
            .typed(),
    ];
    for s in &statefulsets {
        ns.create(s).await.expect("create statefulset");
    }
    let daemonsets: Vec<DaemonSet> = vec![
        make_daemonset("agent")
            .set(
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
            )
            .typed(),
        make_daemonset("zonal")
            .set("/spec/updateStrategy", json!({"type": "OnDelete"}))
            .set("/spec/template/spec/nodeSelector", json!({"topology.kubernetes.io/zone": "zone-0"}))
            .typed(),
    ];
    for d in &daemonsets {
        ns.create(d).await.expect("create daemonset");
    }
}

/// One or more objects of every other covered kind ([`one_of_each_kind`]).
async fn create_other_kinds(ns: &TestNs) {
    for f in one_of_each_kind(ns.name()) {
        ns.create_fixture(f).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Waits for the states the assertions rely on, as the API reports them.
async fn wait_workloads_settled(ns: &TestNs) {
    let limit = Duration::from_secs(30);
    ns.wait_object::<Deployment>("web", "2 available replicas", limit, |d| {
        d.status.as_ref().and_then(|s| s.available_replicas) == Some(2)
    })
    .await
    .expect("web becomes available");
    ns.wait_object::<Deployment>("stuck", "Progressing=False (deadline exceeded)", limit, |d| {
        d.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_.as_deref() == Some("Progressing") && c.status.as_deref() == Some("False"))
    })
    .await
    .expect("stuck misses its progress deadline");
    ns.wait_object::<StatefulSet>("db", "2 ready replicas", limit, |s| {
        s.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await
    .expect("db rolls through its ordinals");
    let nodes = ns.control_plane().nodes().len() as i32;
    ns.wait_object::<DaemonSet>("agent", "a ready pod on every node", limit, |d| {
        d.status.as_ref().is_some_and(|s| s.number_ready == nodes)
    })
    .await
    .expect("agent runs everywhere");
}

/// Waits for `holds` on the scrape and asserts it took at most [`PROPAGATION_LIMIT`] since
/// `since` (the change).
async fn within_limit(exporter: &Exporter, what: &str, since: Instant, holds: impl Fn(&Exposition) -> bool) {
    let took = time_until_scrape(exporter, what, since, Duration::from_secs(10), holds)
        .await
        .unwrap_or_else(|e| panic!("the change never showed in the scrape: {e}"));
    eprintln!("{what}: {took:?}");
    assert!(
        took <= PROPAGATION_LIMIT,
        "{what} took {took:?} to reach the scrape (limit {PROPAGATION_LIMIT:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_equals_render_and_follows_updates_and_deletes() {
    with_temp_ns("watch", |ns| async move {
        let kinds = resources::under_test();
        let _kubelet = ns.start_kubelet();
        create_varied_workloads(&ns).await;
        create_other_kinds(&ns).await;

        wait_workloads_settled(&ns).await;

        let args = vec![
            resources_flag(&kinds),
            format!("--namespaces={}", ns.name()),
            "--metric-labels-allowlist=*=[tier,app]".to_string(),
            "--metric-annotations-allowlist=deployments=[statefleet.io/note]".to_string(),
        ];
        let exporter = Exporter::start("unsharded", ns.kubeconfig(), &args)
            .await
            .expect("exporter starts and reports ready");

        let matched = wait_scrape_matches_render(&ns, &exporter, &kinds, &args, Duration::from_secs(60))
            .await
            .expect("scrape equals render");
        assert_lint_clean(exporter.label(), &matched.text);
        assert_covers(exporter.label(), &matched.scrape, &kinds);
        eprintln!(
            "scrape equals render: {} series in {} families",
            matched.scrape.samples.len(),
            matched.scrape.family_order().len()
        );
        // The controllers' conditions made it through (the stuck rollout missed its deadline).
        let deadline_exceeded = matched.scrape.value(
            "kube_deployment_status_condition",
            &[("deployment", "stuck"), ("condition", "Progressing"), ("status", "false")],
        );
        assert_eq!(
            deadline_exceeded,
            Some(1.0),
            "Progressing=false of deployment stuck; its condition series: {:?}",
            matched
                .scrape
                .matching(&[("deployment", "stuck")])
                .filter(|s| s.name == "kube_deployment_status_condition")
                .collect::<Vec<_>>()
        );

        // Updates reach the scrape within the limit: a workload's spec, a config map's labels,
        // the (cluster-scoped) namespace's labels.
        let deployments: kube::Api<Deployment> = ns.api();
        let since = Instant::now();
        deployments
            .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 5}})))
            .await
            .expect("scale deployment web");
        within_limit(&exporter, "kube_deployment_spec_replicas of web to be 5", since, |s| {
            s.value("kube_deployment_spec_replicas", &[("deployment", "web")]) == Some(5.0)
        })
        .await;
        let configmaps: kube::Api<ConfigMap> = ns.api();
        let since = Instant::now();
        configmaps
            .patch(
                "settings",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
            )
            .await
            .expect("relabel config map settings");
        within_limit(&exporter, "config map settings to be labelled tier=front", since, |s| {
            s.value("kube_configmap_labels", &[("configmap", "settings"), ("label_tier", "front")])
                == Some(1.0)
        })
        .await;
        let namespaces: kube::Api<Namespace> = kube::Api::all(ns.client());
        let since = Instant::now();
        namespaces
            .patch(
                ns.name(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"tier": "e2e"}}})),
            )
            .await
            .expect("label the namespace");
        within_limit(&exporter, "the namespace to be labelled tier=e2e", since, |s| {
            s.value("kube_namespace_labels", &[("namespace", ns.name()), ("label_tier", "e2e")]) == Some(1.0)
        })
        .await;

        // Deletes reach the scrape within the limit: a workload, a pod, a secret.
        let statefulsets: kube::Api<StatefulSet> = ns.api();
        let since = Instant::now();
        statefulsets.delete("cache", &DeleteParams::background()).await.expect("delete statefulset cache");
        within_limit(&exporter, "every series of statefulset cache to disappear", since, |s| {
            s.matching(&[("statefulset", "cache")]).next().is_none()
        })
        .await;
        let pods: kube::Api<Pod> = ns.api();
        let since = Instant::now();
        pods.delete("doomed", &DeleteParams::default().grace_period(0)).await.expect("delete pod doomed");
        within_limit(&exporter, "every series of pod doomed to disappear", since, |s| {
            s.matching(&[("pod", "doomed")]).next().is_none()
        })
        .await;
        let secrets: kube::Api<Secret> = ns.api();
        let since = Instant::now();
        secrets.delete("token", &DeleteParams::default()).await.expect("delete secret token");
        within_limit(&exporter, "every series of secret token to disappear", since, |s| {
            s.matching(&[("secret", "token")]).next().is_none()
        })
        .await;

        // After the changes settle, the watch-fed state is again exactly the API's state.
        ns.wait_object::<Deployment>("web", "5 available replicas", Duration::from_secs(30), |d| {
            d.status.as_ref().and_then(|s| s.available_replicas) == Some(5)
        })
        .await
        .expect("web scales up");
        let matched = wait_scrape_matches_render(&ns, &exporter, &kinds, &args, Duration::from_secs(60))
            .await
            .expect("scrape equals render after the update and the delete");
        assert_lint_clean(exporter.label(), &matched.text);
        assert_eq!(
            matched.scrape.value("kube_deployment_status_replicas_available", &[("deployment", "web")]),
            Some(5.0),
            "the stand-in kubelet made all five web pods available"
        );
    })
    .await;
}
