//! The alert rules on a real Prometheus scraping real exporters: a test copy of
//! `config/prometheus/statefleet-rules.yaml` (`for:` 3 s, rate windows 20 s), scrapes and
//! evaluations every second, targets from file-based discovery written from the pods the process
//! kubelet runs, labelled as the operator's ServiceMonitor labels them.
//!
//! Two fleets share the Prometheus, as several fleets and clusters may: `ksm`, an auto-sharded
//! StatefulSet of 3 exporter pods, and `solo`, one unsharded exporter (1 shard of 1, so an alert
//! that forgot to group by job would see shards disagree). Then, in turn:
//! 1. healthy: once nothing is active, no alert fires over several evaluation cycles (longer than
//!    `for:`), and every rule evaluates without error;
//! 2. an extra `ksm` exporter run with `--total-shards=4` fires KubeStateMetricsShardingMismatch
//!    for `ksm`, while a third fleet `locked`, whose service account may not list secrets, fires
//!    StatefleetExporterNotSynced and KubeStateMetricsListErrors for secrets; nothing concerns
//!    `solo`; once the stray exporter is removed, `ksm`'s alerts resolve;
//! 3. a killed `ksm` shard fires KubeStateMetricsShardsMissing and StatefleetExporterDown, and
//!    nothing else fires but `locked`'s; once the pod is replaced, `ksm`'s alerts resolve while
//!    `locked`'s keep firing.

use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Pod};
use kube::api::DeleteParams;
use serde_json::json;
use statefleet_e2e::{
    Exporter, KubeletConfig, Poll, ProcessKubelet, TestNs,
    fixtures::{EXPORTER_SERVICE_ACCOUNT, make, make_exporter_statefulset},
    kubelet::LocalPod,
    prometheus::{self, Alert, Prometheus, Target, describe},
    wait_for, with_temp_ns,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};
use tokio::time::Instant;

/// `for:` of every alert in the test copy of the rules.
const FOR: &str = "3s";
const FOR_DURATION: Duration = Duration::from_secs(3);
/// Rate window of the error-ratio alerts in the test copy (5m in the real rules).
const RATE_WINDOW: &str = "20s";
/// How long an alert may take to fire after its fault: a scrape, `for:`, an evaluation, with
/// room for a loaded machine.
const FIRE_LIMIT: Duration = Duration::from_secs(30);
/// How long Prometheus may take to see the fleet, or to resolve alerts after a fix.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How long the exporter pods may take to run.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(60);
/// The `cluster` label every target gets (as `spec.clusterName` makes the ServiceMonitor add).
const CLUSTER: &str = "e2e";
const FLEET: &str = "ksm";
const SHARDS: usize = 3;

fn shard_names() -> Vec<String> {
    (0..SHARDS).map(|i| format!("{FLEET}-{i}")).collect()
}

/// The telemetry targets of the StatefulSet's pods, as a ServiceMonitor with `jobLabel` would
/// discover them (not-ready pods included, as Endpoints list them under notReadyAddresses).
fn fleet_targets(kubelet: &ProcessKubelet) -> Vec<Target> {
    shard_names()
        .iter()
        .map(|name| {
            let pod: LocalPod = kubelet.pod(name).unwrap_or_else(|| panic!("the kubelet runs {name}"));
            Target::pod(&pod, "telemetry", FLEET, FLEET)
                .unwrap_or_else(|| panic!("{name} has its telemetry port mapped: {:?}", pod.ports))
                .label("cluster", CLUSTER)
        })
        .collect()
}

/// The telemetry target of an exporter run by the harness, labelled as a pod of `job`.
fn exporter_target(exporter: &Exporter, ns: &TestNs, job: &str, pod: &str) -> Target {
    Target::new(
        exporter.telemetry_addr(),
        &[
            ("job", job),
            ("namespace", ns.name()),
            ("service", job),
            ("pod", pod),
            ("endpoint", "telemetry"),
            ("cluster", CLUSTER),
        ],
    )
}

/// Whether `alert` is `name` and has every label of `labels`.
fn is(alert: &Alert, name: &str, labels: &[(&str, &str)]) -> bool {
    alert.name() == name && labels.iter().all(|(k, v)| alert.label(k) == *v)
}

/// Waits until every expected alert fires, and returns the alerts at that moment.
async fn wait_firing(prom: &Prometheus, what: &str, expected: &[(&str, Vec<(&str, &str)>)]) -> Vec<Alert> {
    prom.wait_alerts(what, FIRE_LIMIT, |alerts| {
        let all =
            expected.iter().all(|(name, labels)| alerts.iter().any(|a| a.firing() && is(a, name, labels)));
        all.then(|| alerts.to_vec())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until no alert is active at all (resolved alerts leave the list).
async fn wait_quiet(prom: &Prometheus, what: &str) {
    prom.wait_alerts(what, SETTLE_LIMIT, |alerts| alerts.is_empty().then_some(()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_stay_quiet_on_a_healthy_fleet_and_fire_for_real_faults() {
    with_temp_ns("alerts", |ns| async move {
        let started = Instant::now();
        let rules = prometheus::test_rules(&prometheus::rules_file().expect("rules file"), FOR, RATE_WINDOW)
            .expect("test copy of the rules");
        ns.grant_read_all(EXPORTER_SERVICE_ACCOUNT).await.expect("grant the exporter's service account");
        let mut config = KubeletConfig::exporter(Some(ns.name())).expect("kubelet config");
        // A killed shard stays down until the test replaces its pod.
        config.restart_delay = Duration::from_secs(600);
        let kubelet =
            ProcessKubelet::start(ns.control_plane(), config).await.expect("process kubelet starts");

        // Gzip on: Prometheus asks for it, so the rules below also prove it reads our gzip bodies.
        let base = vec![
            "--resources=configmaps,deployments".to_string(),
            format!("--namespaces={}", ns.name()),
            "--enable-gzip-encoding".to_string(),
        ];
        let mut args = base.clone();
        args.extend(["--pod=$(POD_NAME)".to_string(), "--pod-namespace=$(POD_NAMESPACE)".to_string()]);
        // Parallel: the 3 pods start at once instead of one after the other.
        let sts = make_exporter_statefulset(FLEET, SHARDS as i32, &args).set("/spec/podManagementPolicy", "Parallel");
        ns.create(&sts.typed::<StatefulSet>()).await.expect("create the exporter statefulset");
        let names = shard_names();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        // The exporters of the later faults start now too, but are not scraped yet: `stray`, an
        // extra exporter of the fleet with the wrong total, and `locked`, whose service account
        // may list config maps but not secrets.
        let rule = |resource: &str| json!({"apiGroups": [""], "resources": [resource], "verbs": ["list", "watch"]});
        ns.create_fixture(make("rbac.authorization.k8s.io/v1", "Role", "locked").set("/rules", json!([rule("configmaps")])))
            .await
            .expect("create role");
        ns.create_fixture(
            make("rbac.authorization.k8s.io/v1", "RoleBinding", "locked")
                .set("/roleRef", json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "locked"}))
                .set("/subjects", json!([{"kind": "ServiceAccount", "name": "locked", "namespace": ns.name()}])),
        )
        .await
        .expect("create rolebinding");
        let kubeconfig = ns
            .control_plane()
            .service_account_kubeconfig(ns.name(), "locked", ns.dir())
            .await
            .expect("service account kubeconfig");
        let locked_args = vec!["--resources=configmaps,secrets".to_string(), format!("--namespaces={}", ns.name())];
        let mut stray_args = base.clone();
        stray_args.extend(["--shard=1".to_string(), "--total-shards=4".to_string()]);
        let (pods, solo, stray, locked) = tokio::join!(
            kubelet.wait_ready(&name_refs, ROLLOUT_LIMIT),
            Exporter::start("solo", ns.kubeconfig(), &base),
            Exporter::start("ksm stray, --total-shards=4", ns.kubeconfig(), &stray_args),
            Exporter::start("locked", &kubeconfig, &locked_args),
        );
        pods.expect("exporter pods ready");
        let solo = solo.expect("solo exporter starts");
        let (stray, locked) = (stray.expect("stray exporter starts"), locked.expect("locked exporter starts"));
        let mut targets = fleet_targets(&kubelet);
        targets.push(exporter_target(&solo, &ns, "solo", "solo-0"));
        let prom = Prometheus::start(&rules, &targets).await.expect("prometheus starts");
        eprintln!("prometheus {} up, fleet running, after {:.1?}", prom.url(), started.elapsed());

        // 1. Healthy. Prometheus sees both fleets' shards ...
        prom.wait_query("count by (job) (kube_state_metrics_shard_ordinal)", SETTLE_LIMIT, |samples| {
            let counts: BTreeMap<&str, f64> =
                samples.iter().map(|s| (s.labels.get("job").map_or("", String::as_str), s.value)).collect();
            (counts == BTreeMap::from([(FLEET, SHARDS as f64), ("solo", 1.0)])).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        prom.wait_query("up", SETTLE_LIMIT, |s| (s.len() == SHARDS + 1 && s.iter().all(|s| s.value == 1.0)).then_some(()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // ... a first scrape of one shard before the others may have left an alert pending for
        // an evaluation; once nothing is active, nothing may fire. (A scrape slower than its 1 s
        // timeout on a loaded machine may leave an alert pending for a moment: noted, and waited
        // out, but only firing fails the test.)
        eprintln!("prometheus scrapes both fleets after {:.1?}", started.elapsed());
        wait_quiet(&prom, "the healthy fleet to have no active alert").await;
        let quiet_from = Instant::now();
        let iterations = prom.rule_iterations().await.expect("rule iterations");
        let observe = FOR_DURATION + Duration::from_secs(4);
        let mut pending_seen = BTreeSet::new();
        loop {
            let alerts = prom.alerts().await.expect("alerts");
            if alerts.iter().any(Alert::firing) {
                panic!(
                    "a healthy fleet fired alerts {:.1?} into the quiet period:\n{}\n{}",
                    quiet_from.elapsed(),
                    describe(&alerts),
                    prom.report().await
                );
            }
            pending_seen.extend(alerts.iter().map(|a| format!("{} {:?}", a.name(), a.labels)));
            if alerts.is_empty() && quiet_from.elapsed() >= observe {
                break;
            }
            assert!(
                quiet_from.elapsed() < observe + SETTLE_LIMIT,
                "alerts of a healthy fleet stay pending:\n{}\n{}",
                describe(&alerts),
                prom.report().await
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if !pending_seen.is_empty() {
            eprintln!("note: alerts were pending for a moment on the healthy fleet: {pending_seen:#?}");
        }
        let evaluated = prom.rule_iterations().await.expect("rule iterations") - iterations;
        assert!(
            evaluated >= observe.as_secs_f64() / 2.0,
            "the rules were evaluated only {evaluated} times in {observe:?}\n{}",
            prom.report().await
        );
        let (health, _) = prom.rules().await.expect("rules");
        assert_eq!(health.len(), 6, "every alert of the rules file is loaded: {health:?}");
        for rule in &health {
            assert!(rule.health == "ok" && rule.last_error.is_empty(), "rule {rule:?}\n{}", prom.report().await);
        }
        eprintln!("healthy: no alert over {evaluated} evaluations ({observe:?}), after {:.1?}", started.elapsed());

        // 2. The stray exporter joins the fleet, and `locked` becomes a third fleet.
        targets.push(exporter_target(&locked, &ns, "locked", "locked-0"));
        let mut with_stray = targets.clone();
        with_stray.push(exporter_target(&stray, &ns, FLEET, "ksm-stray"));
        let fault = Instant::now();
        prom.set_targets(&with_stray).expect("add the stray and locked targets");
        let shard_set = [("cluster", CLUSTER), ("namespace", ns.name()), ("job", FLEET), ("service", FLEET)];
        let locked_alerts = [
            ("StatefleetExporterNotSynced", vec![("cluster", CLUSTER), ("job", "locked"), ("resource", "secrets")]),
            // An exporter that keeps every object lists in pages, so the refusals are list calls.
            ("KubeStateMetricsListErrors", vec![("cluster", CLUSTER), ("job", "locked"), ("resource", "*v1.Secret")]),
        ];
        let mut expected = vec![("KubeStateMetricsShardingMismatch", shard_set.to_vec())];
        expected.extend(locked_alerts.iter().cloned());
        let alerts = wait_firing(&prom, "the stray exporter and the forbidden resource to fire their alerts", &expected).await;
        eprintln!("firing {:.1?} after the stray and locked targets were added:\n{}", fault.elapsed(), describe(&alerts));
        let fired = alerts.iter().find(|a| a.name() == "KubeStateMetricsShardingMismatch").expect("found above");
        assert_eq!(fired.label("severity"), "critical");
        assert!(
            fired.annotations.get("description").is_some_and(|d| d.contains(&format!(
                "The shards of {FLEET} (service {FLEET}) in namespace {} of cluster {CLUSTER} report different",
                ns.name()
            ))),
            "description: {:?}",
            fired.annotations
        );
        // Shards 0..2 of 4 report, so ShardsMissing may fire for the fleet too; nothing concerns
        // `solo`, nothing else concerns `locked`.
        let also_ok = ("KubeStateMetricsShardsMissing", shard_set.to_vec());
        for a in alerts.iter().filter(|a| a.firing()) {
            assert!(
                expected.iter().chain([&also_ok]).any(|(name, labels)| is(a, name, labels)),
                "unexpected alert {a}\n{}",
                prom.report().await
            );
        }
        let not_synced = alerts.iter().find(|a| a.name() == "StatefleetExporterNotSynced").expect("found above");
        assert_eq!(not_synced.value, 1.0, "one exporter has not synced secrets: {not_synced}");
        prom.set_targets(&targets).expect("remove the stray target");
        drop(stray);
        let fix = Instant::now();
        let only_locked = |alerts: &[Alert]| {
            let only = alerts.len() == locked_alerts.len()
                && locked_alerts.iter().all(|(name, labels)| alerts.iter().any(|a| a.firing() && is(a, name, labels)));
            only.then(|| alerts.to_vec())
        };
        prom.wait_alerts("the fleet's alerts to resolve once the stray exporter is gone", SETTLE_LIMIT, only_locked)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("the fleet's alerts resolved {:.1?} after the stray target was removed", fix.elapsed());

        // 3. A killed shard: its target stays discovered (not-ready pods stay in Endpoints).
        let victim = format!("{FLEET}-1");
        let victim_pod = kubelet.pod(&victim).expect("the victim runs");
        let victim_addr = victim_pod.named_addr("telemetry").expect("telemetry port").to_string();
        let fault = Instant::now();
        kubelet.kill(&victim).expect("kill a shard");
        let mut expected = vec![
            ("KubeStateMetricsShardsMissing", shard_set.to_vec()),
            ("StatefleetExporterDown", [shard_set.as_slice(), &[("pod", &victim), ("instance", &victim_addr)]].concat()),
        ];
        expected.extend(locked_alerts.iter().cloned());
        let alerts = wait_firing(&prom, "a killed shard to fire its alerts", &expected).await;
        eprintln!("firing {:.1?} after the kill:\n{}", fault.elapsed(), describe(&alerts));
        let firing: Vec<&Alert> = alerts.iter().filter(|a| a.firing()).collect();
        let unexpected: Vec<&&Alert> =
            firing.iter().filter(|a| !expected.iter().any(|(name, labels)| is(a, name, labels))).collect();
        assert!(unexpected.is_empty(), "alerts nobody expected: {unexpected:#?}\n{}", prom.report().await);
        assert_eq!(firing.len(), expected.len(), "one alert per fault:\n{}", describe(&alerts));
        let missing = alerts.iter().find(|a| a.name() == "KubeStateMetricsShardsMissing").expect("found above");
        assert_eq!(missing.value, 1.0, "one shard of {SHARDS} is missing: {missing}");

        // The shard is fixed: its pod is replaced (new process, new ports). The fleet's alerts
        // resolve; `locked`'s keep firing.
        let old_uid = victim_pod.uid.clone();
        ns.api::<Pod>().delete(&victim, &DeleteParams::default()).await.expect("delete the killed pod");
        let fix = Instant::now();
        wait_for("the killed shard's pod to be replaced and ready", ROLLOUT_LIMIT, Duration::from_millis(100), || async {
            Ok(match kubelet.pod(&victim) {
                Some(p) if p.uid != old_uid && p.ready => Poll::Ready(()),
                other => Poll::Pending(format!("{:?}", other.map(|p| (p.uid, p.ready)))),
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{victim} replaced {:.1?} after the delete", fix.elapsed());
        let mut fixed = fleet_targets(&kubelet);
        fixed.extend(targets[SHARDS..].iter().cloned());
        prom.set_targets(&fixed).expect("rediscover the fleet");
        let alerts = prom
            .wait_alerts("the fleet's alerts to resolve once the shard is back", SETTLE_LIMIT, only_locked)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "the fleet's alerts resolved {:.1?} after the pod was deleted, locked's still firing:\n{}\ntest took {:.1?}",
            fix.elapsed(),
            describe(&alerts),
            started.elapsed()
        );
        drop(locked);
    })
    .await;
}
