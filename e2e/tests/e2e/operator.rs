//! The operator on the real control plane: CRDs installed, `statefleet-operator` running, a
//! `KubeStateMetrics` applied; the process kubelet runs the exporter pods it creates, status turns
//! Ready, the fleet's shards partition an unsharded exporter's output (also across reshards),
//! invalid custom resources are rejected with the CEL messages, and deleting the custom resource
//! removes everything, cluster-scoped RBAC included.

use futures::future::try_join_all;
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::{Service, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    core::NamespaceResourceScope,
};
use serde::de::DeserializeOwned;
use serde_json::json;
use statefleet_e2e::{
    Error, Exporter, KubeletConfig, Poll, ProcessKubelet, Result, TestNs,
    expo::Exposition,
    kubelet::{EXPORTER_METRICS_PORT, LocalPod, scrape_exporters},
    operator::{
        self, LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY, Operator, cluster_scoped_name, install_crds,
        ksm_api,
    },
    resources,
    shards::{ShardHash, check_assignment, check_union, objects},
    wait_for, with_temp_ns,
};
use std::{fmt::Debug, time::Duration};
use tokio::time::Instant;

/// How long a fleet may take from apply to Ready (pods roll out one by one).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// How long the shards may take to agree with the unsharded exporter.
const CONVERGE_LIMIT: Duration = Duration::from_secs(90);
/// How long deletion (finalizer, garbage collection, pods stopping) may take.
const DELETE_LIMIT: Duration = Duration::from_secs(60);

/// Flags of the StatefulSet's exporter that the unsharded reference must not copy: ports and
/// log format (the harness picks its own), and autosharding.
const NOT_FOR_REFERENCE: &[&str] =
    &["--port=", "--telemetry-port=", "--log-format=", "--pod=", "--pod-namespace=", "--shard-hash="];

fn selector(name: &str) -> ListParams {
    ListParams::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_INSTANCE}={name}"))
}

/// Names of the fleet's children of kind `K` in the namespace.
async fn children<K>(ns: &TestNs, name: &str) -> Result<Vec<String>>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let list = ns
        .api::<K>()
        .list(&selector(name))
        .await
        .map_err(|source| Error::Kube { what: format!("list {} of {name}", K::kind(&())), source })?;
    Ok(list.items.iter().map(|o| o.meta().name.clone().unwrap_or_default()).collect())
}

/// Every child of the fleet by kind (`Kind/name`), cluster-scoped RBAC included.
async fn all_children(ns: &TestNs, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let tag =
        |kind: &str, names: Vec<String>| names.into_iter().map(|n| format!("{kind}/{n}")).collect::<Vec<_>>();
    out.extend(tag("ServiceAccount", children::<ServiceAccount>(ns, name).await?));
    out.extend(tag("Role", children::<Role>(ns, name).await?));
    out.extend(tag("RoleBinding", children::<RoleBinding>(ns, name).await?));
    out.extend(tag("Service", children::<Service>(ns, name).await?));
    out.extend(tag("StatefulSet", children::<StatefulSet>(ns, name).await?));
    out.extend(tag("DaemonSet", children::<DaemonSet>(ns, name).await?));
    out.extend(tag("Deployment", children::<Deployment>(ns, name).await?));
    let cluster = cluster_scoped_name(ns.name(), name);
    let roles: Api<ClusterRole> = Api::all(ns.client());
    if roles
        .get_opt(&cluster)
        .await
        .map_err(|source| Error::Kube { what: "get ClusterRole".into(), source })?
        .is_some()
    {
        out.push(format!("ClusterRole/{cluster}"));
    }
    let bindings: Api<ClusterRoleBinding> = Api::all(ns.client());
    if bindings
        .get_opt(&cluster)
        .await
        .map_err(|source| Error::Kube { what: "get ClusterRoleBinding".into(), source })?
        .is_some()
    {
        out.push(format!("ClusterRoleBinding/{cluster}"));
    }
    out.sort();
    Ok(out)
}

/// Waits until the fleet has exactly the children of `kinds` (`Kind` prefixes), each at least once.
async fn wait_children(ns: &TestNs, name: &str, kinds: &[&str]) -> Vec<String> {
    wait_for(
        &format!("the children of {name}: {kinds:?}"),
        READY_LIMIT,
        Duration::from_millis(200),
        || async {
            let have = all_children(ns, name).await?;
            let kinds_seen: std::collections::BTreeSet<&str> =
                have.iter().map(|c| c.split_once('/').map(|(k, _)| k).unwrap_or(c)).collect();
            let want: std::collections::BTreeSet<&str> = kinds.iter().copied().collect();
            Ok(if kinds_seen == want { Poll::Ready(have) } else { Poll::Pending(format!("{have:?}")) })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The StatefulSet's exporter arguments, without the flags the reference must not copy.
async fn reference_args(ns: &TestNs, sts: &str) -> Vec<String> {
    let sts = ns.api::<StatefulSet>().get(sts).await.unwrap_or_else(|e| panic!("get statefulset {sts}: {e}"));
    let container = &sts.spec.template.spec.as_ref().expect("pod spec").containers[0];
    assert_eq!(
        container.command.as_deref(),
        Some(&["statefleet-exporter".to_string()][..]),
        "the container runs the exporter"
    );
    container
        .args
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !NOT_FOR_REFERENCE.iter().any(|p| a.starts_with(p)))
        .collect()
}

/// Waits until the fleet's StatefulSet pods `<name>-0..n` (plus `extra` pods, e.g. per-node
/// exporters) report `n` shards and together partition `unsharded`'s output. With `assign_in`,
/// also checks each object of that namespace sits on the md5 shard of its UID.
async fn wait_partition(
    kubelet: &ProcessKubelet,
    unsharded: &Exporter,
    name: &str,
    n: usize,
    extra: &[String],
    assign_in: Option<&TestNs>,
) {
    let started = Instant::now();
    let sts_pods: Vec<String> = (0..n).map(|i| format!("{name}-{i}")).collect();
    let kinds = resources::under_test();
    let parts = wait_for(
        &format!("{n} shards of {name} to partition the unsharded output"),
        CONVERGE_LIMIT,
        Duration::from_millis(300),
        || async {
            let mut pods = Vec::new();
            for p in sts_pods.iter().chain(extra) {
                match kubelet.pod(p) {
                    Some(pod) if pod.ready => pods.push(pod),
                    Some(_) => return Ok(Poll::Pending(format!("pod {p} is not ready"))),
                    None => return Ok(Poll::Pending(format!("the kubelet does not run pod {p}"))),
                }
            }
            let running: Vec<String> = kubelet.pods().into_keys().collect();
            if running.len() != pods.len() {
                return Ok(Poll::Pending(format!("the kubelet runs {running:?}")));
            }
            for (i, pod) in pods.iter().take(n).enumerate() {
                let shard = pod.exporter_shard().await?;
                if !shard.is(i, n) {
                    return Ok(Poll::Pending(format!("{}: {shard:?}", pod.name)));
                }
            }
            let before = match assign_in {
                Some(ns) => Some(resources::fetch_list(&ns.client(), &kinds, ns.name()).await?),
                None => None,
            };
            let (whole, parts) = tokio::join!(unsharded.scrape_parsed(), scrape_exporters(&pods));
            let (whole, parts) = (whole?, parts?);
            if let Err(report) = check_union(&whole, &parts) {
                return Ok(Poll::Pending(report.to_string()));
            }
            if let (Some(ns), Some(before)) = (assign_in, before) {
                let after = resources::fetch_list(&ns.client(), &kinds, ns.name()).await?;
                if before != after {
                    return Ok(Poll::Pending("objects changed while scraping".into()));
                }
                let sharded: Vec<(String, Exposition)> = parts.iter().take(n).cloned().collect();
                if let Err(wrong) = check_assignment(&after, &sharded, ShardHash::Md5) {
                    return Ok(Poll::Pending(format!("misplaced objects:\n  {}", wrong.join("\n  "))));
                }
            }
            Ok(Poll::Ready(parts))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let counts: Vec<(String, usize)> = parts.iter().map(|(p, e)| (p.clone(), objects(e).len())).collect();
    eprintln!(
        "{name}: {n} shards partition the unsharded output after {:.1?} (objects {counts:?})",
        started.elapsed()
    );
}

/// Deletes the custom resource and waits until it and every child (cluster-scoped RBAC
/// included) are gone and the kubelet runs no pod.
async fn delete_and_wait_gone(ns: &TestNs, kubelet: Option<&ProcessKubelet>, name: &str) {
    let started = Instant::now();
    let api = ksm_api(&ns.client(), ns.name());
    api.delete(name, &DeleteParams::background()).await.unwrap_or_else(|e| panic!("delete {name}: {e}"));
    wait_for(
        &format!("{name} and all its children to be deleted"),
        DELETE_LIMIT,
        Duration::from_millis(200),
        || async {
            let cr = api
                .get_opt(name)
                .await
                .map_err(|source| Error::Kube { what: "get the custom resource".into(), source })?;
            let left = all_children(ns, name).await?;
            let pods: Vec<String> = kubelet.map(|k| k.pods().into_keys().collect()).unwrap_or_default();
            Ok(if cr.is_none() && left.is_empty() && pods.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!(
                    "custom resource present: {}, children {left:?}, pods run {pods:?}",
                    cr.is_some()
                ))
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{name}: deleted with all children in {:.1?}", started.elapsed());
}

async fn setup(ns: &TestNs) -> (Client, Operator, ProcessKubelet) {
    let client = ns.client();
    install_crds(&client).await.expect("install the CRDs");
    let op = Operator::start(ns).await.expect("the operator starts");
    let kubelet = ProcessKubelet::start(
        ns.control_plane(),
        KubeletConfig::exporter(Some(ns.name())).expect("kubelet config"),
    )
    .await
    .expect("process kubelet starts");
    (client, op, kubelet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_small_sample_runs_a_ready_fleet_and_deletion_removes_it() {
    with_temp_ns("op-small", |ns| async move {
        let (client, _op, kubelet) = setup(&ns).await;
        let sample = operator::sample("small").expect("small sample");
        let name = operator::yaml_name(&sample).expect("the sample names its resource");
        let started = Instant::now();
        operator::apply_yaml(&client, ns.name(), &sample).await.expect("apply the small sample");

        let kids = wait_children(
            &ns,
            &name,
            &[
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "Service",
                "StatefulSet",
            ],
        )
        .await;
        eprintln!("{name}: children {kids:?} after {:.1?}", started.elapsed());
        let sts =
            ns.api::<StatefulSet>().get(&name).await.expect("the StatefulSet is named after the resource");
        assert_eq!(sts.spec.replicas, Some(1), "spec: {{}} is one shard");
        let cr = ksm_api(&client, ns.name()).get(&name).await.expect("get the custom resource");
        assert!(
            cr.metadata.finalizers.unwrap_or_default().iter().any(|f| f == "statefleet.io/cluster-rbac"),
            "finalizer set"
        );

        let pod = format!("{name}-0");
        kubelet.wait_ready(&[&pod], READY_LIMIT).await.expect("the exporter pod runs and is ready");
        let status =
            operator::wait_ready(&client, ns.name(), &name, 1, READY_LIMIT).await.expect("status Ready");
        eprintln!("{name}: Ready after {:.1?}: {}", started.elapsed(), operator::describe_status(&status));

        let args = reference_args(&ns, &name).await;
        let unsharded = Exporter::start("unsharded reference", ns.kubeconfig(), &args)
            .await
            .expect("reference exporter starts");
        wait_partition(&kubelet, &unsharded, &name, 1, &[], None).await;

        delete_and_wait_gone(&ns, Some(&kubelet), &name).await;
    })
    .await;
}

async fn set_shards(client: &Client, ns: &TestNs, name: &str, shards: i64) {
    ksm_api(client, ns.name())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"sharding": {"shards": shards}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("set shards of {name} to {shards}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_resharding_2_4_3_converges_to_an_exact_union() {
    with_temp_ns("op-reshard", |ns| async move {
        let _standin = ns.start_kubelet();
        ns.seed_workloads().await.expect("create the workloads");
        let (client, _op, kubelet) = setup(&ns).await;
        let name = "fleet";
        let kinds: Vec<&str> = resources::under_test().iter().map(|k| k.name).collect();
        operator::create_ksm(
            &client,
            ns.name(),
            name,
            json!({"namespaces": [ns.name()], "resources": kinds, "sharding": {"shards": 2}}),
        )
        .await
        .expect("create the custom resource");
        let started = Instant::now();
        operator::wait_ready(&client, ns.name(), name, 2, READY_LIMIT).await.expect("2 shards Ready");
        eprintln!("{name}: 2 shards Ready after {:.1?}", started.elapsed());
        let args = reference_args(&ns, name).await;
        let unsharded = Exporter::start("unsharded reference", ns.kubeconfig(), &args)
            .await
            .expect("reference exporter starts");
        wait_partition(&kubelet, &unsharded, name, 2, &[], Some(&ns)).await;

        for (n, gone) in [(4, vec![]), (3, vec!["fleet-3"])] {
            let started = Instant::now();
            set_shards(&client, &ns, name, n).await;
            operator::wait_ready(&client, ns.name(), name, n, READY_LIMIT)
                .await
                .unwrap_or_else(|e| panic!("{n} shards Ready: {e}"));
            kubelet.wait_gone(&gone, READY_LIMIT).await.expect("scaled-down pods stop");
            eprintln!("{name}: {n} shards Ready after {:.1?}", started.elapsed());
            wait_partition(&kubelet, &unsharded, name, n as usize, &[], Some(&ns)).await;
        }
        delete_and_wait_gone(&ns, Some(&kubelet), name).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_invalid_resources_are_rejected_with_the_cel_messages() {
    with_temp_ns("op-invalid", |ns| async move {
        let client = ns.client();
        install_crds(&client).await.expect("install the CRDs");
        let cases = [
            (
                "both-lists",
                json!({"metricAllowlist": ["kube_pod_.*"], "metricDenylist": ["kube_node_.*"]}),
                "metricAllowlist and metricDenylist are mutually exclusive",
            ),
            ("zero-shards", json!({"sharding": {"shards": 0}}), "sharding.shards must be between 1 and 1000"),
            (
                "too-many-shards",
                json!({"sharding": {"shards": 1001}}),
                "sharding.shards must be between 1 and 1000",
            ),
            ("unknown-resource", json!({"resources": ["pods", "widgets"]}), "unknown resource widgets"),
            (
                "per-node-no-pods",
                json!({"resources": ["deployments"], "sharding": {"podsPerNode": true}}),
                "sharding.podsPerNode serves pod metrics from a DaemonSet, so resources must include 'pods'",
            ),
            (
                "per-node-only-pods",
                json!({"resources": ["pods"], "sharding": {"podsPerNode": true}}),
                "leaves nothing for the StatefulSet shards",
            ),
        ];
        for (name, spec, want) in cases {
            match operator::create_ksm(&client, ns.name(), name, spec.clone()).await {
                Ok(_) => panic!("{name}: {spec} was accepted"),
                Err(kube::Error::Api(status)) => {
                    assert_eq!(status.code, 422, "{name}: {status:?}");
                    assert!(
                        status.message.contains(want),
                        "{name}: the message {:?} lacks {want:?}",
                        status.message
                    );
                    eprintln!("{name}: rejected: {}", status.message);
                }
                Err(e) => panic!("{name}: unexpected error {e}"),
            }
        }
        let list = ksm_api(&client, ns.name()).list(&Default::default()).await.expect("list");
        assert!(list.items.is_empty(), "nothing was stored");
        // And the valid spec is accepted.
        operator::create_ksm(&client, ns.name(), "valid", json!({})).await.expect("spec: {} is valid");
        ksm_api(&client, ns.name()).delete("valid", &DeleteParams::default()).await.expect("delete");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_large_sample_serves_pods_per_node() {
    with_temp_ns("op-large", |ns| async move {
        let (client, _op, kubelet) = setup(&ns).await;
        let sample = operator::sample("large").expect("large sample");
        let name = operator::yaml_name(&sample).expect("the sample names its resource");
        let started = Instant::now();
        operator::apply_yaml(&client, ns.name(), &sample).await.expect("apply the large sample");
        let kids = wait_children(
            &ns,
            &name,
            &[
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "Service",
                "StatefulSet",
                "DaemonSet",
                "Deployment",
            ],
        )
        .await;
        eprintln!("{name}: children {kids:?} after {:.1?}", started.elapsed());
        let status = operator::wait_ready(&client, ns.name(), &name, 8, Duration::from_secs(240))
            .await
            .expect("status Ready");
        eprintln!("{name}: Ready after {:.1?}: {}", started.elapsed(), operator::describe_status(&status));

        let nodes = ns.control_plane().nodes().len();
        // Per-node and unscheduled-pods exporters: every pod the kubelet runs but the shards.
        let extra: Vec<String> = kubelet
            .pods()
            .into_values()
            .map(|p| p.name)
            .filter(|p| {
                p.starts_with(&format!("{name}-node-pods-"))
                    || p.starts_with(&format!("{name}-unscheduled-pods-"))
            })
            .collect();
        assert_eq!(extra.len(), nodes + 1, "one exporter per node and the unscheduled tracker: {extra:?}");
        let mut args = reference_args(&ns, &name).await;
        // The reference serves pods too.
        for a in &mut args {
            if let Some(list) = a.strip_prefix("--resources=") {
                *a = format!("--resources={list},pods");
            }
        }
        let unsharded = Exporter::start("unsharded reference", ns.kubeconfig(), &args)
            .await
            .expect("reference exporter starts");
        wait_partition(&kubelet, &unsharded, &name, 8, &extra, None).await;
        delete_and_wait_gone(&ns, Some(&kubelet), &name).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_multi_cluster_sample_labels_every_series_with_its_cluster() {
    with_temp_ns("op-multi", |ns| async move {
        let (client, _op, kubelet) = setup(&ns).await;
        let sample = operator::sample("multi-cluster").expect("multi-cluster sample");
        let name = operator::yaml_name(&sample).expect("the sample names its resource");
        operator::apply_yaml(&client, ns.name(), &sample).await.expect("apply the multi-cluster sample");
        wait_children(
            &ns,
            &name,
            &[
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "Service",
                "StatefulSet",
            ],
        )
        .await;
        operator::wait_ready(&client, ns.name(), &name, 2, Duration::from_secs(180))
            .await
            .expect("status Ready");

        let args = reference_args(&ns, &name).await;
        assert!(args.iter().any(|a| a == "--cluster-name=eu-west-1"), "cluster name passed on: {args:?}");
        let unsharded = Exporter::start("unsharded reference", ns.kubeconfig(), &args)
            .await
            .expect("reference exporter starts");
        wait_partition(&kubelet, &unsharded, &name, 2, &[], None).await;

        // Every object series of every shard carries the cluster label.
        let pods: Vec<LocalPod> = (0..2)
            .map(|i| kubelet.pod(&format!("{name}-{i}")).unwrap_or_else(|| panic!("pod {name}-{i} runs")))
            .collect();
        for (pod, text) in pods.iter().zip(
            try_join_all(pods.iter().map(|p| p.scrape(EXPORTER_METRICS_PORT))).await.expect("scrape shards"),
        ) {
            let unlabelled: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty() && !l.contains("cluster=\"eu-west-1\""))
                .take(3)
                .collect();
            assert!(
                unlabelled.is_empty(),
                "{}: series without cluster=\"eu-west-1\": {unlabelled:?}",
                pod.name
            );
        }
        delete_and_wait_gone(&ns, Some(&kubelet), &name).await;
    })
    .await;
}
