//! The process kubelet itself: it runs an exporter pod as a process, reports it Running and
//! Ready through the API, reports a crash (not ready, restart count), starts it again, and stops
//! the process when the pod goes away.

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use statefleet_e2e::{
    KubeContext, KubeletConfig, Poll, ProcessKubelet,
    fixtures::{EXPORTER_SERVICE_ACCOUNT, make_exporter_deployment},
    kubelet::{EXPORTER_METRICS_PORT, LocalPod},
    process::pid_alive,
    wait_for, with_temp_ns,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// The pod's Ready condition and its container's ready flag, restart count and state, as the
/// API has them.
fn readiness(pod: &Pod) -> (Option<String>, Option<bool>, i32, String) {
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    let container = status.and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first());
    let state = container
        .and_then(|c| c.state.as_ref())
        .map(|s| {
            if s.running.is_some() {
                "running".to_string()
            } else if let Some(w) = &s.waiting {
                format!("waiting {}", w.reason.clone().unwrap_or_default())
            } else if s.terminated.is_some() {
                "terminated".to_string()
            } else {
                "?".to_string()
            }
        })
        .unwrap_or_default();
    (ready, container.map(|c| c.ready), container.map_or(-1, |c| c.restart_count), state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_kubelet_reports_readiness_crashes_and_stops_deleted_pods() {
    with_temp_ns("kubelet", |ns| async move {
        ns.grant_read_all(EXPORTER_SERVICE_ACCOUNT).await.expect("grant the exporter's service account");
        let mut config = KubeletConfig::exporter(Some(ns.name())).expect("kubelet config");
        // Long enough to see the crashed pod reported not ready before it runs again.
        config.restart_delay = Duration::from_secs(2);
        let kubelet =
            ProcessKubelet::start(ns.control_plane(), config).await.expect("process kubelet starts");
        let args = ["--resources=configmaps".to_string(), format!("--namespaces={}", ns.name())];
        ns.create(&make_exporter_deployment("solo", 1, &args).typed::<Deployment>())
            .await
            .expect("create the exporter deployment");

        let pod: LocalPod =
            wait_for("the exporter pod to run, ready", LIMIT, Duration::from_millis(100), || async {
                let pods: Vec<LocalPod> = kubelet.pods().into_values().collect();
                Ok(match pods.as_slice() {
                    [p] if p.ready && p.pid.is_some() => Poll::Ready(p.clone()),
                    _ => Poll::Pending(format!("{pods:?}")),
                })
            })
            .await
            .expect("pod ready");
        let api = ns.api::<Pod>();
        let in_api = api.get(&pod.name).await.expect("get pod");
        assert_eq!(
            readiness(&in_api),
            (Some("True".into()), Some(true), 0, "running".into()),
            "the API shows the pod ready"
        );
        assert_eq!(in_api.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
        assert_eq!(
            pod.env.iter().find(|(k, _)| k == "POD_NAMESPACE").map(|(_, v)| v.as_str()),
            Some(ns.name()),
            "downward API env"
        );
        let text = pod.scrape(EXPORTER_METRICS_PORT).await.expect("scrape the pod");
        assert!(text.contains("kube_configmap_info{"), "the pod's exporter serves config maps:\n{text}");

        // A crash: not ready, then running again with a restart counted.
        let old = kubelet.kill(&pod.name).expect("kill the process");
        let name = pod.name.clone();
        let seen = |want: (Option<String>, Option<bool>, i32, String), what: &'static str| {
            let (api, name) = (api.clone(), name.clone());
            async move {
                wait_for(what, LIMIT, Duration::from_millis(50), || {
                    let (api, name, want) = (api.clone(), name.clone(), want.clone());
                    async move {
                        let p = api.get(&name).await.kube(|| format!("get pod {name}"))?;
                        let now = readiness(&p);
                        Ok(if now == want { Poll::Ready(()) } else { Poll::Pending(format!("{now:?}")) })
                    }
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            }
        };
        seen(
            (Some("False".into()), Some(false), 1, "waiting CrashLoopBackOff".into()),
            "the crash to be reported",
        )
        .await;
        seen((Some("True".into()), Some(true), 1, "running".into()), "the restarted pod to be ready").await;
        let restarted = kubelet.pod(&name).expect("the pod still runs here");
        assert_eq!(restarted.restarts, 1);
        assert!(restarted.pid.is_some_and(|p| p != old), "a new process: {:?} after {old}", restarted.pid);
        assert!(!pid_alive(old), "the killed process is gone");
        restarted
            .scrape(EXPORTER_METRICS_PORT)
            .await
            .expect("the restarted process serves on the same ports");
        assert_eq!(restarted.ports, pod.ports, "a restart keeps the pod's ports");

        // Scaled to zero: the pod is deleted, its process stopped, the pod removed for good.
        let pid = restarted.pid.expect("pid");
        ns.api::<Deployment>()
            .patch("solo", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 0}})))
            .await
            .expect("scale to zero");
        kubelet.wait_gone(&[name.as_str()], LIMIT).await.expect("the process stops");
        assert!(!pid_alive(pid), "pid {pid} stopped with its pod");
        wait_for("the pod to be removed", LIMIT, Duration::from_millis(100), || async {
            let left = api.list(&ListParams::default()).await.kube(|| "list pods".into())?.items.len();
            Ok(if left == 0 { Poll::Ready(()) } else { Poll::Pending(format!("{left} pods")) })
        })
        .await
        .expect("the pod is gone");
        assert!(kubelet.problems().is_empty(), "{:?}", kubelet.problems());
    })
    .await;
}
