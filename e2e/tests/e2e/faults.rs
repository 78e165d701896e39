//! Faults on a control plane of the test's own: the API server restarts and etcd compacts its
//! history. The harness helpers do what they say (a watch from before the compaction gets 410
//! Gone), and the exporter keeps following the cluster through both.

use futures::StreamExt;
use k8s_openapi::api::{apps::v1::Deployment, core::v1::ConfigMap};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams},
};
use serde_json::json;
use statefleet_e2e::{
    ControlPlane, Exporter,
    checks::{assert_lint_clean, time_until_scrape, wait_matches_render_in},
    fixtures::make_deployment,
    resources::{self, resources_flag},
};
use std::time::Duration;
use tokio::time::Instant;

/// How long the exporter may take to notice a restarted API server and catch up (watch errors are
/// retried with backoff).
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

/// The first thing a watch from `rv` reports: `Ok(event kind)` or the HTTP code of its error.
async fn first_watch_answer(api: &Api<ConfigMap>, rv: &str) -> Result<String, u16> {
    let stream = api.watch(&WatchParams::default().timeout(5), rv).await;
    let mut stream = match stream {
        Ok(s) => s.boxed(),
        Err(kube::Error::Api(status)) => return Err(status.code),
        Err(e) => panic!("watch from {rv}: {e}"),
    };
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Ok(WatchEvent::Error(status)))) => Err(status.code),
        Ok(Some(Err(kube::Error::Api(status)))) => Err(status.code),
        Ok(Some(Ok(WatchEvent::Added(_)))) => Ok("ADDED".into()),
        Ok(Some(Ok(WatchEvent::Modified(_)))) => Ok("MODIFIED".into()),
        Ok(Some(Ok(other))) => Ok(format!("{other:?}")),
        Ok(Some(Err(e))) => panic!("watch from {rv}: {e}"),
        Ok(None) => Ok("end of stream".into()),
        Err(_) => Ok("nothing within 10s".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporter_follows_the_cluster_through_apiserver_restart_and_compaction() {
    let mut cp = ControlPlane::start().await.expect("own control plane starts");
    let dir = tempfile::tempdir().expect("scratch dir");
    let client = cp.client().await.expect("client");
    let ns = "default";
    let kinds = resources::under_test();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments
        .create(&PostParams::default(), &make_deployment("web", 1).typed())
        .await
        .expect("create deployment");

    let args = vec![resources_flag(&kinds), format!("--namespaces={ns}")];
    let exporter = Exporter::start("unsharded", cp.kubeconfig(), &args).await.expect("exporter starts");
    wait_matches_render_in(&client, ns, dir.path(), &exporter, &kinds, &args, Duration::from_secs(30))
        .await
        .expect("scrape equals render before the faults");

    // Some history to compact away.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "probe"}, "data": {"n": "0"}}))
                .expect("configmap"),
        )
        .await
        .expect("create configmap");
    let old_rv = cm.metadata.resource_version.clone().expect("resourceVersion");
    for n in 1..=3 {
        configmaps
            .patch("probe", &PatchParams::default(), &Patch::Merge(json!({"data": {"n": n.to_string()}})))
            .await
            .expect("update configmap");
    }
    assert_eq!(
        first_watch_answer(&configmaps, &old_rv).await,
        Ok("MODIFIED".to_string()),
        "before compaction a watch from {old_rv} replays the updates"
    );

    let compacted = cp.compact_etcd().await.expect("compact etcd");
    assert!(
        compacted > old_rv.parse::<i64>().unwrap_or(i64::MAX),
        "compacted at {compacted}, after {old_rv}"
    );
    let restart = Instant::now();
    cp.restart_apiserver().await.expect("restart the API server");
    eprintln!("API server restarted in {:.1?}", restart.elapsed());

    // The watch cache starts empty after the restart and etcd no longer has the revision.
    let client = cp.client().await.expect("client after the restart");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    assert_eq!(
        first_watch_answer(&configmaps, &old_rv).await,
        Err(410),
        "a watch from the compacted revision {old_rv} gets 410 Gone"
    );

    // The exporter reconnects and sees a change made after the restart.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let since = Instant::now();
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .expect("scale web");
    let took = time_until_scrape(
        &exporter,
        "kube_deployment_spec_replicas of web to be 4 after the restart",
        since,
        RECOVERY_LIMIT,
        |s| s.value("kube_deployment_spec_replicas", &[("deployment", "web")]) == Some(4.0),
    )
    .await
    .expect("the exporter follows changes after an API server restart");
    eprintln!("change after the restart reached the scrape in {took:?}");
    let matched = wait_matches_render_in(&client, ns, dir.path(), &exporter, &kinds, &args, RECOVERY_LIMIT)
        .await
        .expect("scrape equals render after the faults");
    assert_lint_clean(exporter.label(), &matched.text);
}
