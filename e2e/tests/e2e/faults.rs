//! Faults on a control plane of the test's own: the API server restarts and etcd compacts its
//! history. The harness helpers do what they say (a watch from before the compaction gets 410
//! Gone), and the exporter keeps following the cluster through both, exact again within
//! seconds and never serving a broken exposition. On the shared control plane: a resource the
//! exporter may not list is reported while the others are served exactly.

use futures::StreamExt;
use k8s_openapi::api::{apps::v1::Deployment, core::v1::ConfigMap};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams, WatchEvent, WatchParams},
};
use serde_json::json;
use statefleet_e2e::{
    ControlPlane, Exporter, Poll,
    checks::{
        assert_lint_clean, compare_with_render, lint_every_scrape, time_until_scrape, wait_matches_render_in,
        wait_scrape_matches_render,
    },
    expo,
    fixtures::{make, make_deployment},
    resources::{self, ResourceKind, resources_flag},
    wait_for, with_temp_ns,
};
use std::time::Duration;
use tokio::time::Instant;

/// How long the exporter may take to notice a restarted API server and catch up (watch errors are
/// retried with backoff), before the test gives up waiting.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);
/// How long after the restarted API server is ready the exporter must be exact again.
const EXACT_AGAIN_LIMIT: Duration = Duration::from_secs(10);

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

    // From here until the exporter is exact again, every scrape is linted in the background.
    let linter = lint_every_scrape(exporter.label(), exporter.metrics_addr(), Duration::from_millis(50));
    let compacted = cp.compact_etcd().await.expect("compact etcd");
    assert!(
        compacted > old_rv.parse::<i64>().unwrap_or(i64::MAX),
        "compacted at {compacted}, after {old_rv}"
    );
    let restart = Instant::now();
    cp.restart_apiserver().await.expect("restart the API server");
    // The API server answers /readyz again: the clock of the recovery starts.
    let ready = Instant::now();
    eprintln!("API server restarted in {:.1?}", restart.elapsed());

    // Changes made right after the restart: the exporter sees them only through new watches or
    // relists (its old watches are gone, and their revision is compacted away).
    let client = cp.client().await.expect("client after the restart");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .expect("scale web");
    configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "after-restart"}})).expect("configmap"),
        )
        .await
        .expect("create a configmap after the restart");
    configmaps.delete("probe", &Default::default()).await.expect("delete configmap probe");
    let took = time_until_scrape(
        &exporter,
        "kube_deployment_spec_replicas of web to be 4 after the restart",
        ready,
        RECOVERY_LIMIT,
        |s| s.value("kube_deployment_spec_replicas", &[("deployment", "web")]) == Some(4.0),
    )
    .await
    .expect("the exporter follows changes after an API server restart");
    eprintln!("a change made after the restart reached the scrape {took:?} after /readyz");
    let exact =
        wait_for("the exporter to be exact again", RECOVERY_LIMIT, Duration::from_millis(100), || {
            compare_with_render(&client, ns, dir.path(), &exporter, &kinds, &args)
        })
        .await
        .unwrap_or_else(|e| panic!("the exporter does not recover: {e}"));
    let recovery = ready.elapsed();
    let report = linter.finish().await;
    eprintln!(
        "the exporter was exact again {recovery:.1?} after the API server was ready \
         ({} series; {} scrapes linted during the faults, {} failed)",
        exact.scrape.samples.len(),
        report.scrapes,
        report.failed.len()
    );
    assert!(recovery <= EXACT_AGAIN_LIMIT, "exact again after {recovery:?} (limit {EXACT_AGAIN_LIMIT:?})");
    assert!(
        report.bad.is_empty(),
        "broken expositions served during the faults:\n  {}",
        report.bad.join("\n  ")
    );
    assert!(report.failed.is_empty(), "scrapes failed during the faults: {:?}", report.failed);
    assert!(report.scrapes >= 10, "only {} scrapes during the faults", report.scrapes);
    assert_lint_clean(exporter.label(), &exact.text);

    // The watch cache starts empty after the restart and etcd no longer has the revision.
    assert_eq!(
        first_watch_answer(&configmaps, &old_rv).await,
        Err(410),
        "a watch from the compacted revision {old_rv} gets 410 Gone"
    );

    // The exporter's call counters show the outage: calls made while the API server was away
    // failed.
    let telemetry = expo::parse(&exporter.telemetry().await.expect("telemetry")).expect("telemetry parses");
    let errors: f64 = telemetry
        .samples
        .iter()
        .filter(|s| {
            matches!(s.name.as_str(), "kube_state_metrics_list_total" | "kube_state_metrics_watch_total")
                && s.labels.get("result").map(String::as_str) == Some("error")
        })
        .map(|s| s.value)
        .sum();
    eprintln!("list/watch calls that failed during the faults: {errors}");
    assert!(errors > 0.0, "no failed list/watch call counted across an API server restart");
}

/// The `kube_state_metrics_list_total` count of `resource` (upstream's Go type name) and
/// `result`.
fn list_total(telemetry: &expo::Exposition, resource: &str, result: &str) -> f64 {
    calls(telemetry, "kube_state_metrics_list_total", resource, result)
}

/// The `kube_state_metrics_watch_total` count, likewise.
fn watch_total(telemetry: &expo::Exposition, resource: &str, result: &str) -> f64 {
    calls(telemetry, "kube_state_metrics_watch_total", resource, result)
}

fn calls(telemetry: &expo::Exposition, family: &str, resource: &str, result: &str) -> f64 {
    telemetry.value(family, &[("resource", resource), ("result", result)]).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_resource_is_reported_while_the_others_are_served_exactly() {
    with_temp_ns("denied", |ns| async move {
        let _kubelet = ns.start_kubelet();
        ns.create(&make_deployment("web", 1).typed::<Deployment>()).await.expect("create deployment");
        ns.create_fixture(make("v1", "ConfigMap", "settings").set("/data", json!({"a": "b"})))
            .await
            .expect("create configmap");
        ns.create_fixture(make("v1", "Secret", "token").set("/stringData", json!({"t": "x"})))
            .await
            .expect("create secret");
        // The service account may list and watch deployments and config maps, not secrets.
        let rule = |group: &str, resource: &str| {
            json!({"apiGroups": [group], "resources": [resource], "verbs": ["list", "watch"]})
        };
        ns.create_fixture(
            make("rbac.authorization.k8s.io/v1", "Role", "limited")
                .set("/rules", json!([rule("apps", "deployments"), rule("", "configmaps")])),
        )
        .await
        .expect("create role");
        ns.create_fixture(
            make("rbac.authorization.k8s.io/v1", "RoleBinding", "limited")
                .set("/roleRef", json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "limited"}))
                .set("/subjects", json!([{"kind": "ServiceAccount", "name": "limited", "namespace": ns.name()}])),
        )
        .await
        .expect("create rolebinding");
        let kubeconfig = ns
            .control_plane()
            .service_account_kubeconfig(ns.name(), "limited", ns.dir())
            .await
            .expect("service account kubeconfig");

        let namespaces = format!("--namespaces={}", ns.name());
        let args = vec!["--resources=configmaps,deployments,secrets".to_string(), namespaces.clone()];
        // Ready although secrets are refused.
        let exporter = Exporter::start("limited", &kubeconfig, &args).await.expect("the exporter becomes ready");
        let allowed: Vec<&ResourceKind> =
            ["configmaps", "deployments"].iter().map(|n| resources::find(n).expect("known")).collect();
        let allowed_args = vec![resources_flag(&allowed), namespaces.clone()];
        let matched = wait_scrape_matches_render(&ns, &exporter, &allowed, &allowed_args, Duration::from_secs(30))
            .await
            .expect("the allowed resources are served exactly");
        assert_lint_clean(exporter.label(), &matched.text);
        assert!(
            matched.scrape.samples.iter().all(|s| !s.name.starts_with("kube_secret_")),
            "no secret series without the right to list secrets"
        );
        let logged: Vec<String> = statefleet_e2e::process::grep(exporter.log_path(), "forbidden", 50)
            .into_iter()
            .filter(|l| l.contains("WARN"))
            .collect();
        assert!(
            logged.iter().any(|l| l.contains("exporter::watch: forbidden"))
                && logged.iter().all(|l| l.contains("resource=\"secrets\"")),
            "the exporter warns about the forbidden resource, and only it; warnings: {logged:?}\nlog tail:\n{}",
            exporter.log_tail(20)
        );
        // An unsharded exporter lists in pages (streaming lists are for shards): the refusals
        // are list calls; deployments were listed, then watched. The watch starts after the
        // list that made them served, so on a busy machine it may be counted a little later.
        let telemetry =
            wait_for("the deployments watch to be counted", Duration::from_secs(10), Duration::from_millis(100), || async {
                let telemetry =
                    expo::parse(&exporter.telemetry().await.expect("telemetry")).expect("telemetry parses");
                let watched = watch_total(&telemetry, "*v1.Deployment", "success");
                Ok(if watched >= 1.0 { Poll::Ready(telemetry) } else { Poll::Pending(format!("watch_total {watched}")) })
            })
            .await
            .unwrap_or_else(|e| panic!("deployments were listed, then watched: {e}"));
        let refused = list_total(&telemetry, "*v1.Secret", "error");
        assert!(refused >= 1.0, "list_total of secrets with result=error: {refused}");
        assert_eq!(watch_total(&telemetry, "*v1.Secret", "error"), 0.0, "secrets were never watched");
        assert!(list_total(&telemetry, "*v1.Deployment", "success") >= 1.0, "deployments were listed in pages");
        assert!(watch_total(&telemetry, "*v1.Deployment", "success") >= 1.0, "then watched");
        assert_eq!(list_total(&telemetry, "*v1.Deployment", "error"), 0.0, "deployments were never refused");
        assert_eq!(watch_total(&telemetry, "*v1.Deployment", "error"), 0.0, "deployments were never refused");
        let warning = logged.iter().find(|l| l.contains("exporter::watch: forbidden")).map(String::as_str);
        eprintln!("secrets refused {refused} times; logged: {}", warning.unwrap_or_default());

        // Once the right is granted, the exporter (which keeps retrying) serves secrets too.
        ns.api::<k8s_openapi::api::rbac::v1::Role>()
            .patch(
                "limited",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"rules": [rule("apps", "deployments"), rule("", "configmaps"), rule("", "secrets")]}),
                ),
            )
            .await
            .expect("grant secrets");
        let all: Vec<&ResourceKind> =
            ["configmaps", "deployments", "secrets"].iter().map(|n| resources::find(n).expect("known")).collect();
        let granted = Instant::now();
        wait_scrape_matches_render(&ns, &exporter, &all, &args, Duration::from_secs(30))
            .await
            .expect("secrets are served once allowed");
        eprintln!("secrets served {:.1?} after the grant", granted.elapsed());
    })
    .await;
}
