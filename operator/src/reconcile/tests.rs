//! Mock-API-server scenarios of the reconciler: what it writes, and that it writes nothing when
//! nothing changed.

use super::*;
use crate::{
    conditions::{DEGRADED, PROGRESSING, READY},
    crd::{KubeStateMetricsSpec, KubeStateMetricsStatus},
    desired::desired,
    drift::HASH_ANNOTATION,
    fixtures::{ApiServerVerifier, Recorded, ksm_path, with_deadline},
};
use http::Method;
use serde_json::{Value, json};

/// The URL path of a child.
fn child_path(child: &Child) -> String {
    let r = &child.resource;
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    match &child.object.metadata.namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/{}/{}", r.plural, child.name()),
        None => format!("{base}/{}/{}", r.plural, child.name()),
    }
}

fn find_path(children: &[Child], kind: &str, name: &str) -> String {
    child_path(children.iter().find(|c| c.resource.kind == kind && c.name() == name).expect("a child"))
}

fn writes_in(requests: &[Recorded]) -> Vec<&Recorded> {
    requests.iter().filter(|r| r.is_write()).collect()
}

fn lines(requests: &[&Recorded]) -> Vec<String> {
    requests.iter().map(|r| r.line()).collect()
}

/// Stores `ksm` in the fake cluster and returns the context and verifier.
fn setup(ksm: &KubeStateMetrics, monitoring_crds: bool) -> (Arc<Context>, ApiServerVerifier) {
    let (ctx, verifier) = ApiServerVerifier::context();
    {
        let mut cluster = verifier.cluster.lock();
        cluster.monitoring_crds = monitoring_crds;
        cluster.put_ksm(ksm);
    }
    (ctx, verifier)
}

/// Reconciles the stored custom resource, as the controller would after a watch event.
async fn reconcile_stored(
    ctx: &Arc<Context>,
    verifier: &ApiServerVerifier,
    ksm: &KubeStateMetrics,
) -> Result<Action, Error> {
    let stored = verifier.cluster.lock().ksm(ksm);
    with_deadline(reconcile(Arc::new(stored), ctx.clone())).await
}

/// Replaces the stored custom resource's spec (keeping status), bumping its generation.
fn edit_spec(
    verifier: &ApiServerVerifier,
    ksm: &KubeStateMetrics,
    f: impl FnOnce(&mut KubeStateMetricsSpec),
) {
    let mut cluster = verifier.cluster.lock();
    let stored = cluster.ksm(ksm).with_spec(f);
    cluster.put_ksm(&stored);
}

fn stored_status(verifier: &ApiServerVerifier, ksm: &KubeStateMetrics) -> KubeStateMetricsStatus {
    verifier.cluster.lock().ksm(ksm).status.expect("status written")
}

fn condition<'a>(status: &'a KubeStateMetricsStatus, type_: &str) -> (&'a str, &'a str, &'a str) {
    let c = status.conditions.iter().find(|c| c.type_ == type_).expect("condition present");
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

fn make_large() -> KubeStateMetrics {
    KubeStateMetrics::test().with_spec(|s| {
        s.sharding.shards = 2;
        s.sharding.pods_per_node = true;
        s.service_monitor.enabled = true;
        s.prometheus_rule.enabled = true;
    })
}

fn assert_server_side_apply(write: &Recorded) {
    assert_eq!(write.method, Method::PATCH, "{}", write.line());
    assert_eq!(write.query.get("fieldManager").map(String::as_str), Some(FIELD_MANAGER), "{}", write.line());
    assert_eq!(write.query.get("force").map(String::as_str), Some("true"), "{}", write.line());
    assert_eq!(write.content_type.as_deref(), Some("application/apply-patch+yaml"), "{}", write.line());
}

#[tokio::test]
async fn first_reconcile_applies_every_child_with_ssa_and_patches_status() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, true);
    let action = reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(action, Action::requeue(RESYNC));

    let requests = verifier.take_requests();
    let writes = writes_in(&requests);
    let children = desired(&ksm).expect("a valid spec");
    assert_eq!(writes.len(), children.len() + 1, "{:#?}", lines(&writes));
    for (child, write) in children.iter().zip(&writes) {
        assert_eq!(write.path, child_path(child));
        assert_server_side_apply(write);
        let body = write.body.as_ref().expect("a body");
        assert_eq!(body["kind"], child.resource.kind.as_str());
        assert_eq!(body["apiVersion"], child.resource.api_version.as_str());
        assert!(body["metadata"]["annotations"][HASH_ANNOTATION].is_string());
        let owners = &body["metadata"]["ownerReferences"];
        if child.namespaced {
            assert_eq!(
                *owners,
                json!([{"apiVersion": "statefleet.io/v1alpha1", "kind": "KubeStateMetrics", "name": "ksm",
                        "uid": "ksm-uid", "controller": true, "blockOwnerDeletion": true}])
            );
        } else {
            assert!(owners.is_null(), "cluster-scoped {} has no owner", child.resource.kind);
        }
    }

    let status_write = writes.last().expect("a status write");
    assert_eq!(status_write.path, format!("{}/status", ksm_path(&ksm)));
    assert_server_side_apply(status_write);
    let status: KubeStateMetricsStatus =
        serde_json::from_value(status_write.body.as_ref().expect("a body")["status"].clone())
            .expect("a status");
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!((status.desired_shards, status.ready_shards), (2, 0));
    assert_eq!(status.mode.as_deref(), Some("StatefulSet+DaemonSet"));
    assert_eq!(status.selector, Some(crate::desired::shard_selector(&ksm)));
    assert_eq!(status.components.len(), 3);
    assert_eq!(condition(&status, READY).1, "PodsNotReady");
    assert_eq!(condition(&status, PROGRESSING).0, "True");
    assert_eq!(condition(&status, DEGRADED), ("False", "AsExpected", ""));

    // Discovery, the lists for pruning and the cluster-scoped gets are reads.
    let reads: Vec<&Recorded> = requests.iter().filter(|r| !r.is_write()).collect();
    assert!(reads.iter().any(|r| r.path == "/apis/monitoring.coreos.com/v1"));
    let list = reads
        .iter()
        .find(|r| r.path == "/apis/apps/v1/namespaces/monitoring/statefulsets")
        .expect("statefulsets listed");
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some(
            "app.kubernetes.io/name=statefleet-exporter,app.kubernetes.io/instance=ksm,\
             app.kubernetes.io/managed-by=statefleet-operator"
        )
    );
}

#[tokio::test]
async fn second_reconcile_of_an_unchanged_fleet_writes_nothing() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, true);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    verifier.take_requests();

    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    let requests = verifier.take_requests();
    assert_eq!(lines(&writes_in(&requests)), Vec::<String>::new());
    assert!(!requests.is_empty(), "the second reconcile still reads");

    // The workloads become ready: only status changes, once.
    let children = desired(&ksm).expect("valid");
    {
        let mut cluster = verifier.cluster.lock();
        cluster.object_mut(&find_path(&children, "StatefulSet", "ksm"))["status"] =
            json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2});
        cluster.object_mut(&find_path(&children, "DaemonSet", "ksm-node-pods"))["status"] = json!({
            "observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
            "numberReady": 3, "updatedNumberScheduled": 3});
        cluster.object_mut(&find_path(&children, "Deployment", "ksm-unscheduled-pods"))["status"] =
            json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1});
    }
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    let requests = verifier.take_requests();
    let writes = writes_in(&requests);
    assert_eq!(lines(&writes), [format!("PATCH {}/status", ksm_path(&ksm))]);
    let status = stored_status(&verifier, &ksm);
    assert_eq!(status.ready_shards, 2);
    assert_eq!(
        condition(&status, READY),
        ("True", "Reconciled", "shards 2/2, node-pods 3/3, unscheduled-pods 1/1 ready")
    );
    assert_eq!(condition(&status, PROGRESSING).0, "False");

    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(lines(&writes_in(&verifier.take_requests())), Vec::<String>::new());
}

#[tokio::test]
async fn drift_in_an_owned_field_is_corrected() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, true);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    verifier.take_requests();

    let children = desired(&ksm).expect("valid");
    let sts = find_path(&children, "StatefulSet", "ksm");
    {
        let mut cluster = verifier.cluster.lock();
        let object = cluster.object_mut(&sts);
        object["spec"]["replicas"] = json!(5);
        object["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array_mut()
            .expect("args")
            .push(json!("--metric-denylist=.*"));
    }
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    let requests = verifier.take_requests();
    let writes = writes_in(&requests);
    assert_eq!(lines(&writes), [format!("PATCH {sts}")]);
    assert_server_side_apply(writes[0]);
    let body = writes[0].body.as_ref().expect("a body");
    assert_eq!(body["spec"]["replicas"], 2);
    let stored = verifier.cluster.lock().objects[&sts].clone();
    assert_eq!(stored["spec"]["replicas"], 2);
    assert!(!stored["spec"]["template"]["spec"]["containers"][0]["args"].to_string().contains("denylist"));
}

#[tokio::test]
async fn spec_error_sets_degraded_and_emits_an_event_without_touching_children() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, true);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    verifier.take_requests();
    let fleet_before: Vec<(String, Value)> = verifier
        .cluster
        .lock()
        .objects
        .iter()
        .filter(|(k, _)| !k.contains("kubestatemetrics"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    edit_spec(&verifier, &ksm, |s| s.metric_denylist = vec!["kube_pod_(".into()]);
    let action = reconcile_stored(&ctx, &verifier, &ksm).await.expect("an invalid spec is not a failure");
    assert_eq!(action, Action::requeue(RESYNC));
    let requests = verifier.take_requests();
    let writes = writes_in(&requests);
    assert_eq!(
        lines(&writes),
        [
            format!("PATCH {}/status", ksm_path(&ksm)),
            "POST /apis/events.k8s.io/v1/namespaces/monitoring/events".to_string()
        ]
    );
    // Nothing but the custom resource was even read: the fleet is left as it is.
    assert!(requests.iter().all(|r| r.path.contains("kubestatemetrics") || r.path.contains("/events")));

    let status = stored_status(&verifier, &ksm);
    assert_eq!(status.observed_generation, Some(3));
    let (degraded, reason, message) = condition(&status, DEGRADED);
    assert_eq!((degraded, reason), ("True", "InvalidSpec"));
    assert!(message.starts_with("invalid spec.metricDenylist: "), "{message}");
    assert_eq!(condition(&status, READY).1, "PodsNotReady", "readiness of the running fleet is kept");
    assert_eq!(status.desired_shards, 2);

    let event = writes[1].body.as_ref().expect("an event");
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "InvalidSpec");
    assert_eq!(event["note"], message);
    assert_eq!(event["regarding"]["name"], "ksm");
    assert_eq!(event["regarding"]["kind"], "KubeStateMetrics");

    let fleet_after: Vec<(String, Value)> = verifier
        .cluster
        .lock()
        .objects
        .iter()
        .filter(|(k, _)| !k.contains("kubestatemetrics") && !k.contains("/events/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(fleet_before, fleet_after);

    // The same invalid spec again: no status write, no second Event.
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(lines(&writes_in(&verifier.take_requests())), Vec::<String>::new());
}

#[tokio::test]
async fn missing_monitoring_crds_skip_servicemonitor_and_prometheusrule_until_installed() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, false);
    let action = reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(action, Action::requeue(CRD_RECHECK));
    let requests = verifier.take_requests();
    let writes = writes_in(&requests);
    assert!(writes.iter().all(|w| !w.path.contains("monitoring.coreos.com")), "{:#?}", lines(&writes));
    let children = desired(&ksm).expect("valid");
    assert_eq!(writes.len(), children.len() - 2 + 1);
    let status = stored_status(&verifier, &ksm);
    let (degraded, reason, message) = condition(&status, DEGRADED);
    assert_eq!((degraded, reason), ("True", "MonitoringCRDsMissing"));
    assert!(message.contains("ServiceMonitor (CRD servicemonitors.monitoring.coreos.com is not installed)"));
    assert!(message.contains("PrometheusRule (CRD prometheusrules.monitoring.coreos.com is not installed)"));

    // prometheus-operator gets installed: the next reconcile adds both, without a restart.
    verifier.cluster.lock().monitoring_crds = true;
    let action = reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(action, Action::requeue(RESYNC));
    let requests = verifier.take_requests();
    assert_eq!(
        lines(&writes_in(&requests)),
        [
            format!("PATCH {}", find_path(&children, "ServiceMonitor", "ksm")),
            format!("PATCH {}", find_path(&children, "PrometheusRule", "ksm")),
            format!("PATCH {}/status", ksm_path(&ksm)),
        ]
    );
    assert_eq!(condition(&stored_status(&verifier, &ksm), DEGRADED), ("False", "AsExpected", ""));
}

#[tokio::test]
async fn discovery_is_cached_for_its_ttl() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, true);
    let discovery = Discovery::new(Duration::from_secs(3600));
    let resource =
        &child_kinds().into_iter().find(|k| k.resource.kind == "ServiceMonitor").expect("a kind").resource;
    assert!(with_deadline(discovery.serves(&ctx.client, resource)).await.expect("discovers"));
    verifier.cluster.lock().monitoring_crds = false;
    assert!(with_deadline(discovery.serves(&ctx.client, resource)).await.expect("cached"));
    let asked =
        verifier.take_requests().iter().filter(|r| r.path == "/apis/monitoring.coreos.com/v1").count();
    assert_eq!(asked, 1);
}

#[tokio::test]
async fn turning_pods_per_node_off_prunes_its_children() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, true);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    let children = desired(&ksm).expect("valid");
    // A look-alike with the fleet's labels that another controller owns stays.
    let foreign = "/apis/apps/v1/namespaces/monitoring/deployments/lookalike";
    {
        let mut cluster = verifier.cluster.lock();
        let mut object = cluster.objects[&find_path(&children, "Deployment", "ksm-unscheduled-pods")].clone();
        object["metadata"]["name"] = json!("lookalike");
        object["metadata"]["ownerReferences"][0]["uid"] = json!("someone-else");
        cluster.objects.insert(foreign.to_string(), object);
    }
    verifier.take_requests();

    edit_spec(&verifier, &ksm, |s| s.sharding.pods_per_node = false);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    let requests = verifier.take_requests();
    let deletes: Vec<String> =
        requests.iter().filter(|r| r.method == Method::DELETE).map(|r| r.path.clone()).collect();
    let mut want = vec![
        find_path(&children, "Service", "ksm-pods"),
        find_path(&children, "DaemonSet", "ksm-node-pods"),
        find_path(&children, "Deployment", "ksm-unscheduled-pods"),
    ];
    want.sort();
    let mut got = deletes.clone();
    got.sort();
    assert_eq!(got, want);
    let cluster = verifier.cluster.lock();
    assert!(cluster.objects.contains_key(foreign));
    for path in &want {
        assert!(!cluster.objects.contains_key(path), "{path} still exists");
    }
    // The StatefulSet now serves pods too, and status lists only it.
    let sts = &cluster.objects[&find_path(&children, "StatefulSet", "ksm")];
    assert!(sts["spec"]["template"]["spec"]["containers"][0]["args"].to_string().contains("pods"));
    drop(cluster);
    let status = stored_status(&verifier, &ksm);
    assert_eq!(status.mode.as_deref(), Some("StatefulSet"));
    assert_eq!(status.components.len(), 1);
}

#[tokio::test]
async fn a_new_custom_resource_gets_the_finalizer_first() {
    let ksm = KubeStateMetrics::test().without_finalizer();
    let (ctx, verifier) = setup(&ksm, true);
    let action = reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(action, Action::await_change());
    let requests = verifier.take_requests();
    let writes = writes_in(&requests);
    assert_eq!(lines(&writes), [format!("PATCH {}", ksm_path(&ksm))]);
    assert_eq!(writes[0].content_type.as_deref(), Some("application/json-patch+json"));
    assert_eq!(verifier.cluster.lock().ksm(&ksm).metadata.finalizers, Some(vec![FINALIZER.to_string()]));
}

#[tokio::test]
async fn deletion_removes_the_cluster_scoped_rbac_then_the_finalizer() {
    let ksm = KubeStateMetrics::test();
    let (ctx, verifier) = setup(&ksm, true);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    {
        let mut cluster = verifier.cluster.lock();
        let deleting = cluster.ksm(&ksm).deleting();
        cluster.put_ksm(&deleting);
    }
    verifier.take_requests();

    let action = reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(action, Action::await_change());
    let requests = verifier.take_requests();
    let name = "statefleet:monitoring:ksm";
    assert_eq!(
        lines(&writes_in(&requests)),
        [
            format!("DELETE /apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"),
            format!("DELETE /apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}"),
            format!("PATCH {}", ksm_path(&ksm)),
        ]
    );
    let cluster = verifier.cluster.lock();
    assert!(!cluster.objects.keys().any(|k| k.contains("clusterrole")));
    assert_eq!(cluster.ksm(&ksm).metadata.finalizers, Some(vec![]));
}

#[tokio::test]
async fn deletion_of_a_never_applied_fleet_only_removes_the_finalizer() {
    let ksm = KubeStateMetrics::test().with_spec(|s| s.metric_denylist = vec!["(".into()]).deleting();
    let (ctx, verifier) = setup(&ksm, true);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(lines(&writes_in(&verifier.take_requests())), [format!("PATCH {}", ksm_path(&ksm))]);
}

#[tokio::test]
async fn a_failed_apply_is_retried_with_backoff_and_shows_in_status() {
    let ksm = KubeStateMetrics::test();
    let (ctx, verifier) = setup(&ksm, true);
    let children = desired(&ksm).expect("valid");
    let sts = find_path(&children, "StatefulSet", "ksm");
    verifier.cluster.lock().forbidden.push((Method::PATCH, sts.clone()));

    let error = reconcile_stored(&ctx, &verifier, &ksm).await.expect_err("the apply is forbidden");
    assert_eq!(error.reason(), "ApplyFailed");
    assert!(error.to_string().starts_with("failed to apply StatefulSet ksm: "), "{error}");
    let status = stored_status(&verifier, &ksm);
    let (degraded, reason, message) = condition(&status, DEGRADED);
    assert_eq!((degraded, reason), ("True", "ApplyFailed"));
    assert!(message.starts_with("failed to apply StatefulSet ksm"), "{message}");
    let writes_done = verifier.take_requests();
    assert!(writes_in(&writes_done).iter().any(|w| w.path.ends_with("/events")));

    let stored = Arc::new(verifier.cluster.lock().ksm(&ksm));
    let delays: Vec<Action> = (0..3).map(|_| error_policy(stored.clone(), &error, ctx.clone())).collect();
    assert_eq!(
        delays,
        [5, 10, 20].map(|s| Action::requeue(Duration::from_secs(s))),
        "doubling per consecutive failure"
    );

    // Once allowed, it heals: the StatefulSet is applied and Degraded clears; backoff resets.
    verifier.cluster.lock().forbidden.clear();
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    assert_eq!(condition(&stored_status(&verifier, &ksm), DEGRADED).0, "False");
    assert_eq!(error_policy(stored, &error, ctx.clone()), Action::requeue(BACKOFF_BASE));
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let delays: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
}

#[test]
fn every_error_reason_is_a_known_reason() {
    let api = || kube::Error::Api(Box::new(kube::core::Status::failure("nope", "Forbidden")));
    let errors = [
        Error::List { kind: "StatefulSet".into(), source: api() },
        Error::Get { kind: "ClusterRole".into(), name: "x".into(), source: api() },
        Error::Discovery { api_version: "monitoring.coreos.com/v1".into(), source: api() },
        Error::Apply { kind: "StatefulSet".into(), name: "x".into(), source: api() },
        Error::Prune { kind: "DaemonSet".into(), name: "x".into(), source: api() },
        Error::Cleanup { kind: "ClusterRole".into(), name: "x".into(), source: api() },
        Error::Status { name: "x".into(), source: api() },
        Error::Finalizer(Box::new(finalizer::Error::AddFinalizer(api()))),
        Error::Finalizer(Box::new(finalizer::Error::ApplyFailed(Error::Prune {
            kind: "DaemonSet".into(),
            name: "x".into(),
            source: api(),
        }))),
        Error::MissingMetadata("metadata.uid"),
    ];
    let reasons: Vec<&str> = errors.iter().map(Error::reason).collect();
    assert_eq!(
        reasons,
        [
            "ReadFailed",
            "ReadFailed",
            "ReadFailed",
            "ApplyFailed",
            "PruneFailed",
            "CleanupFailed",
            "StatusFailed",
            "FinalizerFailed",
            "PruneFailed",
            "InvalidSpec"
        ]
    );
    for reason in reasons {
        assert!(crate::conditions::reasons::ALL.contains(&reason), "{reason}");
    }
    for error in &errors {
        assert!(error.to_string().starts_with("failed to "), "{error}");
    }
}

#[tokio::test]
async fn a_stale_cache_does_not_write_the_same_status_twice() {
    let ksm = make_large();
    let (ctx, verifier) = setup(&ksm, true);
    // The controller's store still holds the object from before the first status write.
    let stale = Arc::new(verifier.cluster.lock().ksm(&ksm));
    with_deadline(reconcile(stale.clone(), ctx.clone())).await.expect("reconciles");
    verifier.take_requests();
    with_deadline(reconcile(stale, ctx.clone())).await.expect("reconciles");
    assert_eq!(lines(&writes_in(&verifier.take_requests())), Vec::<String>::new());
    // Someone else's change of the object is a new version: status is compared as usual.
    edit_spec(&verifier, &ksm, |s| s.sharding.shards = 3);
    reconcile_stored(&ctx, &verifier, &ksm).await.expect("reconciles");
    let requests = verifier.take_requests();
    let written = lines(&writes_in(&requests));
    assert_eq!(written.len(), 2, "{written:#?}");
    assert!(written[0].contains("/statefulsets/ksm") && written[1].ends_with("/status"), "{written:#?}");
}
