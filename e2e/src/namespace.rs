//! One labelled, randomly named namespace per test ([`with_temp_ns`]), with helpers to create
//! objects in it, a stand-in kubelet that marks its scheduled pods Running and Ready, and a dump
//! of its state when the test fails.

use crate::{
    ControlPlane, KubeContext, Poll, Result,
    control_plane::E2E_LABEL,
    fixtures::{make_daemonset, make_deployment, make_statefulset},
    resources::{self, ResourceKind},
    rfc3339_now,
};
use futures::FutureExt;
use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        core::v1::{Event, Namespace, Pod, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding},
    },
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use std::{
    collections::BTreeMap, fmt::Debug, future::Future, panic::AssertUnwindSafe, path::Path, sync::Arc,
    time::Duration,
};

/// Pods with this label (any value) are left Pending by the stand-in kubelet, e.g. to make a
/// rollout miss its progress deadline.
pub const KUBELET_IGNORE_LABEL: &str = "statefleet.io/e2e-kubelet-ignore";
/// A ClusterRole that may get, list and watch everything (see [`TestNs::grant_read_all`]).
pub const READ_ALL_CLUSTER_ROLE: &str = "statefleet-e2e-read-all";
/// Label on cluster-scoped objects made for a test's namespace; deleted with it.
pub const NAMESPACE_LABEL: &str = "statefleet.io/e2e-namespace";

/// A test's namespace on the shared control plane. Cheap to clone.
#[derive(Clone)]
pub struct TestNs {
    name: String,
    cp: &'static ControlPlane,
    client: Client,
    dir: Arc<tempfile::TempDir>,
}

impl TestNs {
    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The control plane it lives in.
    pub fn control_plane(&self) -> &'static ControlPlane {
        self.cp
    }

    /// An admin client (bound to the test's runtime).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        self.cp.kubeconfig()
    }

    /// A scratch directory for this test, removed afterwards.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An `Api` for a namespaced kind in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// The workloads the sharding tests spread over shards: six Deployments `d0`..`d5` of 0-2
    /// replicas, a StatefulSet `db` of 2 and a DaemonSet `agent`.
    pub async fn seed_workloads(&self) -> Result<()> {
        for i in 0..6 {
            self.create(&make_deployment(&format!("d{i}"), i % 3).typed::<Deployment>()).await?;
        }
        self.create(&make_statefulset("db", 2).typed::<StatefulSet>()).await?;
        self.create(&make_daemonset("agent").typed::<DaemonSet>()).await?;
        Ok(())
    }

    /// Creates `obj` in this namespace.
    pub async fn create<K>(&self, obj: &K) -> Result<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + Serialize
            + DeserializeOwned,
    {
        let name = obj.meta().name.clone().unwrap_or_default();
        self.api::<K>()
            .create(&PostParams::default(), obj)
            .await
            .kube(|| format!("create {} {}/{name}", K::kind(&()), self.name))
    }

    /// Creates a fixture of any kind the harness knows ([`resources::KINDS`]) in this
    /// namespace.
    pub async fn create_fixture(&self, fixture: crate::fixtures::Fixture) -> Result<DynamicObject> {
        let v = fixture.0;
        let kind = v["kind"].as_str().unwrap_or_default().to_string();
        let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let ar = resources::for_api_kind(&kind)
            .ok_or_else(|| crate::Error::Parse {
                what: format!("fixture {kind} {name}"),
                detail: "a kind the harness does not know".into(),
            })?
            .api_resource();
        let obj: DynamicObject = serde_json::from_value(v).map_err(|e| crate::Error::Parse {
            what: format!("fixture {kind} {name}"),
            detail: e.to_string(),
        })?;
        Api::<DynamicObject>::namespaced_with(self.client.clone(), &self.name, &ar)
            .create(&PostParams::default(), &obj)
            .await
            .kube(|| format!("create {kind} {}/{name}", self.name))
    }

    /// Waits until object `name` of kind `K` exists and `holds` is true for it; `what` names the
    /// condition in the timeout message, which also shows the object's last status.
    pub async fn wait_object<K>(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        holds: impl Fn(&K) -> bool,
    ) -> Result<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + Serialize
            + DeserializeOwned,
    {
        let api = self.api::<K>();
        let kind = K::kind(&());
        let holds = &holds;
        crate::wait_for(
            &format!("{kind} {}/{name}: {what}", self.name),
            timeout,
            Duration::from_millis(100),
            || {
                let api = api.clone();
                async move {
                    let obj = api.get_opt(name).await.kube(|| format!("get {} {name}", K::kind(&())))?;
                    Ok(match obj {
                        Some(obj) if holds(&obj) => Poll::Ready(obj),
                        Some(obj) => {
                            let status = serde_json::to_value(&obj)
                                .ok()
                                .and_then(|v| v.get("status").cloned())
                                .map(|s| truncate(&s.to_string(), 600))
                                .unwrap_or_default();
                            Poll::Pending(format!("status {status}"))
                        }
                        None => Poll::Pending("not found".into()),
                    })
                }
            },
        )
        .await
    }

    /// Starts a stand-in kubelet for this namespace: every pod bound to a node is patched to
    /// Running with all containers ready, so controllers see available replicas and
    /// StatefulSets roll through their ordinals; pods being deleted are removed for good, as a
    /// kubelet does after stopping them. Pods labelled [`KUBELET_IGNORE_LABEL`] stay Pending (and
    /// Terminating when deleted), and pods of our own programs
    /// ([`crate::kubelet::LOCAL_PROGRAMS`]) are left to the [`crate::ProcessKubelet`]. Stops when
    /// the guard is dropped.
    pub fn start_kubelet(&self) -> KubeletGuard {
        let api: Api<Pod> = self.api();
        KubeletGuard(tokio::spawn(async move {
            loop {
                if let Ok(pods) = api.list(&ListParams::default()).await {
                    for pod in pods.items {
                        if ignored(&pod) || crate::kubelet::runs_locally(&pod) {
                            continue;
                        }
                        let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
                        if bound && pod.metadata.deletion_timestamp.is_some() {
                            // What a kubelet does once the containers stopped: the final delete.
                            let name = pod.metadata.name.clone().unwrap_or_default();
                            let _ = api.delete(&name, &DeleteParams::default().grace_period(0)).await;
                            continue;
                        }
                        if let Some(patch) = running_patch(&pod) {
                            let name = pod.metadata.name.clone().unwrap_or_default();
                            // A failure (e.g. the pod was just deleted) is retried on the next round.
                            let _ =
                                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }))
    }

    /// Lets ServiceAccount `sa` of this namespace (created if missing) get, list and watch
    /// every resource in the cluster, through a ClusterRoleBinding to [`READ_ALL_CLUSTER_ROLE`]
    /// that [`with_temp_ns`] deletes with the namespace.
    pub async fn grant_read_all(&self, sa: &str) -> Result<()> {
        let sas: Api<ServiceAccount> = self.api();
        if sas.get_opt(sa).await.kube(|| format!("get serviceaccount {sa}"))?.is_none() {
            let obj: ServiceAccount =
                serde_json::from_value(json!({"metadata": {"name": sa}})).map_err(|e| {
                    crate::Error::Parse { what: "a ServiceAccount".into(), detail: e.to_string() }
                })?;
            self.create(&obj).await?;
        }
        let roles: Api<ClusterRole> = Api::all(self.client.clone());
        if roles
            .get_opt(READ_ALL_CLUSTER_ROLE)
            .await
            .kube(|| "get the read-all cluster role".into())?
            .is_none()
        {
            let role: ClusterRole = serde_json::from_value(json!({
                "metadata": {"name": READ_ALL_CLUSTER_ROLE, "labels": {E2E_LABEL: "true"}},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
            }))
            .map_err(|e| crate::Error::Parse { what: "a ClusterRole".into(), detail: e.to_string() })?;
            match roles.create(&PostParams::default(), &role).await {
                Ok(_) => {}
                // Another test made it meanwhile.
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => return Err(e).kube(|| "create the read-all cluster role".into()),
            }
        }
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {
                "name": format!("{}-{sa}", self.name),
                "labels": {E2E_LABEL: "true", NAMESPACE_LABEL: self.name},
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": READ_ALL_CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": self.name}],
        }))
        .map_err(|e| crate::Error::Parse { what: "a ClusterRoleBinding".into(), detail: e.to_string() })?;
        Api::<ClusterRoleBinding>::all(self.client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .kube(|| format!("bind {sa} to {READ_ALL_CLUSTER_ROLE}"))?;
        Ok(())
    }

    /// A readable summary of the namespace (objects of every known kind with their status, and
    /// events), printed when a test fails.
    pub async fn dump(&self) -> String {
        let mut out = format!("---- state of namespace {} ----\n", self.name);
        for kind in resources::KINDS.iter().filter(|k| k.namespaced) {
            out.push_str(&self.dump_kind(kind).await);
        }
        let events: Api<Event> = self.api();
        if let Ok(list) = events.list(&ListParams::default()).await {
            out.push_str(&format!("events ({}):\n", list.items.len()));
            for e in list.items.iter().rev().take(30) {
                out.push_str(&format!(
                    "  {} {}/{}: {} {}\n",
                    e.type_.as_deref().unwrap_or("?"),
                    e.involved_object.kind.as_deref().unwrap_or("?"),
                    e.involved_object.name.as_deref().unwrap_or("?"),
                    e.reason.as_deref().unwrap_or("?"),
                    e.message.as_deref().unwrap_or("")
                ));
            }
        }
        out.push_str(&format!(
            "control plane logs: {:?}{}\n",
            self.cp.logs(),
            if crate::keep_on_failure() {
                ""
            } else {
                " (removed at exit; set STATEFLEET_E2E_KEEP=1 to keep them and the namespace)"
            }
        ));
        out
    }

    async fn dump_kind(&self, kind: &ResourceKind) -> String {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.name, &kind.api_resource());
        match api.list(&ListParams::default()).await {
            Err(e) => format!("{}: cannot list: {e}\n", kind.name),
            Ok(list) => {
                let mut out = format!("{} ({}):\n", kind.name, list.items.len());
                for obj in list.items {
                    let status = obj.data.get("status").map(|s| s.to_string()).unwrap_or_default();
                    let spec_nodes =
                        obj.data.pointer("/spec/nodeName").map(|n| format!(" node={n}")).unwrap_or_default();
                    out.push_str(&format!(
                        "  {} gen={:?}{spec_nodes} status={}\n",
                        obj.metadata.name.unwrap_or_default(),
                        obj.metadata.generation,
                        truncate(&status, 600)
                    ));
                }
                out
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Whether the stand-in kubelet leaves this pod alone.
fn ignored(pod: &Pod) -> bool {
    pod.metadata.labels.as_ref().is_some_and(|l| l.contains_key(KUBELET_IGNORE_LABEL))
}

/// The status patch that makes a scheduled, not yet running pod Running and Ready.
fn running_patch(pod: &Pod) -> Option<serde_json::Value> {
    if ignored(pod) {
        return None;
    }
    let spec = pod.spec.as_ref()?;
    let node = spec.node_name.as_ref()?;
    let status = pod.status.as_ref();
    if status.and_then(|s| s.phase.as_deref()) == Some("Running") || pod.metadata.deletion_timestamp.is_some()
    {
        return None;
    }
    let now = rfc3339_now();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    // A stable fake pod IP from the UID.
    let h = uid.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let ip = format!("10.2.{}.{}", (h >> 8) % 250, h % 250 + 2);
    let host_ip = node
        .rsplit('-')
        .next()
        .and_then(|i| i.parse::<u32>().ok())
        .map(|i| format!("10.1.0.{}", i + 1))
        .unwrap_or_else(|| "10.1.0.250".into());
    let containers: Vec<_> = spec
        .containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "ready": true,
                "started": true,
                "restartCount": 0,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": format!("e2e://{}", c.image.clone().unwrap_or_default()),
                "containerID": format!("e2e://{uid}-{}", c.name),
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    let condition = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
    Some(json!({"status": {
        "phase": "Running",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [
            condition("PodReadyToStartContainers"),
            condition("Initialized"),
            condition("Ready"),
            condition("ContainersReady"),
            condition("PodScheduled"),
        ],
        "containerStatuses": containers,
    }}))
}

/// Stops the stand-in kubelet on drop.
pub struct KubeletGuard(tokio::task::JoinHandle<()>);

impl Drop for KubeletGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `test` with a fresh namespace `e2e-<prefix>-<random>` (labelled `statefleet.io/e2e`) on
/// the shared control plane. The namespace is deleted afterwards. If the test panics, the
/// namespace's state is printed first, and with `STATEFLEET_E2E_KEEP=1` the namespace is kept.
pub async fn with_temp_ns<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(TestNs) -> Fut,
    Fut: Future<Output = ()>,
{
    let cp = ControlPlane::shared().await.unwrap_or_else(|e| panic!("{e}"));
    let client = cp.client().await.unwrap_or_else(|e| panic!("{e}"));
    let name = format!("e2e-{prefix}-{}", crate::random_hex(3));
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([
                (E2E_LABEL.to_string(), "true".to_string()),
                ("statefleet.io/e2e-test".to_string(), prefix.to_string()),
            ])),
            ..Default::default()
        },
        ..Default::default()
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("failed to create namespace {name}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix(&format!("statefleet-e2e-{prefix}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("failed to create a scratch directory: {e}"));
    let client_for_cleanup = client.clone();
    let test_ns = TestNs { name: name.clone(), cp, client, dir: Arc::new(dir) };
    let outcome = AssertUnwindSafe(test(test_ns.clone())).catch_unwind().await;
    if outcome.is_err() {
        eprintln!("{}", test_ns.dump().await);
    }
    if outcome.is_ok() || !crate::keep_on_failure() {
        // Not waited for: namespace finalization takes seconds and nothing depends on it.
        let _ = namespaces.delete(&name, &DeleteParams::background()).await;
        let bindings: Api<ClusterRoleBinding> = Api::all(client_for_cleanup.clone());
        let _ = bindings
            .delete_collection(
                &DeleteParams::background(),
                &ListParams::default().labels(&format!("{NAMESPACE_LABEL}={name}")),
            )
            .await;
    } else {
        eprintln!("statefleet-e2e: kept namespace {name}");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
