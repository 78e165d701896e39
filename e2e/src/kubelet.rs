//! A process kubelet: containers cannot run here, so for the pods of our own programs (a
//! container whose command, or image when there is no command, names a [`Program`]) bound to a
//! harness node, the harness runs the program locally as a process, the way a kubelet would run
//! the container:
//!
//! - arguments: the container's `command[1..]` and `args`, with `$(VAR)` references expanded
//!   against the container's environment as the kubelet does ([`expand`]);
//! - environment: the container's `env` entries, plain values and the downward API
//!   (`fieldRef` to `metadata.name`, `metadata.namespace`, `spec.nodeName`, ...);
//! - network: the program's listen flags (for the exporter `--host`, `--port`,
//!   `--telemetry-host`, `--telemetry-port`) are rewritten to free loopback ports; the mapping
//!   from container port to local address is kept in [`LocalPod::ports`], so tests reach each pod;
//! - identity: a kubeconfig is injected (`--kubeconfig`), with a token of the pod's service
//!   account ([`Identity::PodServiceAccount`], as in a cluster) or the admin's;
//! - status: the pod is reported Running once the process started, and Ready (condition
//!   `Ready=True`, the container status ready) once its readiness endpoint answers 200: the pod's
//!   `httpGet` readiness probe, else the program's default (`/readyz` on the exporter's telemetry
//!   port). A process that dies makes the pod not ready (`CrashLoopBackOff`, restart count + 1)
//!   and is started again after [`KubeletConfig::restart_delay`] as `restartPolicy` asks;
//! - deletion: a pod being deleted has its process stopped (SIGTERM), then is removed for good.
//!
//! So a StatefulSet with the default `OrderedReady` policy gets pod N+1 only once pod N's process
//! is ready, and exporter pods auto-detect their shard through the real API.
//!
//! ```text
//! let kubelet = ProcessKubelet::start(cp, KubeletConfig::exporter(Some(ns.name()))?).await?;
//! ns.create(&make_exporter_statefulset("ksm", 3, &args).typed::<StatefulSet>()).await?;
//! let pods = kubelet.wait_ready(&["ksm-0", "ksm-1", "ksm-2"], Duration::from_secs(60)).await?;
//! let text = pods[0].scrape(EXPORTER_METRICS_PORT).await?;
//! ```
//!
//! Other pods are none of its business: the namespace's stand-in kubelet
//! ([`crate::TestNs::start_kubelet`]) leaves pods of [`LOCAL_PROGRAMS`] alone for it.

use crate::{
    ControlPlane, Error, Poll, Result,
    control_plane::ClusterAccess,
    expo::{self, Exposition},
    http, process,
    process::{Stop, Supervised},
    rfc3339_now, wait_for,
};
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions},
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::Instant;

/// The exporter's command name.
pub const EXPORTER_PROGRAM: &str = "statefleet-exporter";
/// Programs the process kubelet runs by default; the stand-in kubelet leaves their pods alone.
pub const LOCAL_PROGRAMS: &[&str] = &[EXPORTER_PROGRAM];
/// The exporter's default main port (`--port`), as a container port.
pub const EXPORTER_METRICS_PORT: u16 = 8080;
/// The exporter's default telemetry port (`--telemetry-port`), as a container port.
pub const EXPORTER_TELEMETRY_PORT: u16 = 8081;

/// How often the kubelet lists its pods, and probes processes that are not ready yet.
const SYNC_EVERY: Duration = Duration::from_millis(100);
/// How often a ready process is probed again.
const PROBE_READY_EVERY: Duration = Duration::from_secs(1);
/// Limit of one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A program the kubelet can run, and how to run it on loopback.
#[derive(Clone, Debug)]
pub struct Program {
    /// Matched against the base name of the container's `command[0]`, or when the container has
    /// no command, the last path part of its image without tag or digest.
    pub name: String,
    /// The local executable.
    pub path: PathBuf,
    /// Flags that take a port to listen on, with the port used when the flag is absent.
    pub port_flags: Vec<(String, u16)>,
    /// Flags that take an address to listen on; set to `127.0.0.1`.
    pub host_flags: Vec<String>,
    /// The flag that takes a kubeconfig path, if the program talks to the API.
    pub kubeconfig_flag: Option<String>,
    /// `(container port, path)` probed for readiness when the pod declares no `httpGet`
    /// readiness probe.
    pub default_readiness: Option<(u16, String)>,
}

impl Program {
    /// `statefleet-exporter`, from [`process::exporter_bin`].
    pub fn exporter() -> Result<Self> {
        Ok(Self {
            name: EXPORTER_PROGRAM.into(),
            path: process::exporter_bin()?,
            port_flags: vec![
                ("--port".into(), EXPORTER_METRICS_PORT),
                ("--telemetry-port".into(), EXPORTER_TELEMETRY_PORT),
            ],
            host_flags: vec!["--host".into(), "--telemetry-host".into()],
            kubeconfig_flag: Some("--kubeconfig".into()),
            default_readiness: Some((EXPORTER_TELEMETRY_PORT, "/readyz".into())),
        })
    }
}

/// Whose credentials the processes get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A token of the pod's `spec.serviceAccountName` (`default` when unset), as in a cluster:
    /// the test grants it what the program needs.
    PodServiceAccount,
    /// The admin (`system:masters`).
    Admin,
}

/// What the kubelet runs, where, and as whom.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The namespace whose pods it runs, or `None` for every namespace.
    pub namespace: Option<String>,
    /// The programs it knows.
    pub programs: Vec<Program>,
    /// Credentials of the processes.
    pub identity: Identity,
    /// How long a dead process stays dead before it is started again (when `restartPolicy`
    /// says so); the pod is not ready meanwhile.
    pub restart_delay: Duration,
}

impl KubeletConfig {
    /// Runs `statefleet-exporter` pods of `namespace` with their service account's identity.
    pub fn exporter(namespace: Option<&str>) -> Result<Self> {
        Ok(Self {
            namespace: namespace.map(str::to_string),
            programs: vec![Program::exporter()?],
            identity: Identity::PodServiceAccount,
            restart_delay: Duration::from_secs(1),
        })
    }
}

/// What the kubelet knows of one pod it runs (a snapshot).
#[derive(Clone, Debug)]
pub struct LocalPod {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// The node it is bound to.
    pub node: String,
    /// The container run as a process.
    pub container: String,
    /// The program's name.
    pub program: String,
    /// The arguments it runs with, after expansion and rewriting.
    pub args: Vec<String>,
    /// The environment from the container spec, resolved.
    pub env: Vec<(String, String)>,
    /// Container port to local address.
    pub ports: BTreeMap<u16, SocketAddr>,
    /// Named container ports (`spec.containers[].ports[].name`) to container port.
    pub port_names: BTreeMap<String, u16>,
    /// The program's process id while it runs.
    pub pid: Option<u32>,
    /// Whether the pod was last reported ready.
    pub ready: bool,
    /// How many times the process died and is (to be) started again, counted when the exit is
    /// noticed as the kubelet's `restartCount`.
    pub restarts: u32,
    /// The current (or last) process's log (stdout and stderr).
    pub log: PathBuf,
    /// When the kubelet first saw the pod.
    pub seen_at: Instant,
    /// When the kubelet reported it ready (most recently).
    pub ready_at: Option<Instant>,
}

impl LocalPod {
    /// The local address of container port `port`.
    pub fn addr(&self, port: u16) -> Option<SocketAddr> {
        self.ports.get(&port).copied()
    }

    /// The local address of the container port named `name`.
    pub fn named_addr(&self, name: &str) -> Option<SocketAddr> {
        self.port_names.get(name).and_then(|p| self.addr(*p))
    }

    /// `GET /metrics` on container port `port`; fails unless the answer is 200.
    pub async fn scrape(&self, port: u16) -> Result<String> {
        let addr = self.addr(port).ok_or_else(|| Error::Process {
            what: format!("scrape pod {}/{} on container port {port}", self.namespace, self.name),
            detail: format!("the port is not mapped (mapped: {:?})", self.ports),
        })?;
        let r = http::get(addr, "/metrics").await?;
        if r.status == 200 {
            Ok(r.text())
        } else {
            Err(Error::Process {
                what: format!("scrape pod {}/{} at http://{addr}/metrics", self.namespace, self.name),
                detail: format!("HTTP {}: {}", r.status, r.text()),
            })
        }
    }

    /// The last `lines` lines of the current process's log.
    pub fn log_tail(&self, lines: usize) -> String {
        process::tail(&self.log, lines)
    }

    /// An exporter pod's `/metrics`, parsed; panics on structural problems (see
    /// [`crate::checks::assert_lint_clean`]).
    pub async fn scrape_exporter(&self) -> Result<Exposition> {
        let text = self.scrape(EXPORTER_METRICS_PORT).await?;
        crate::checks::assert_lint_clean(&format!("pod {}", self.name), &text);
        expo::parse(&text).map_err(|e| Error::Parse {
            what: format!("the scrape of pod {}", self.name),
            detail: e.to_string(),
        })
    }

    /// The shard an exporter pod reports on its telemetry port.
    pub async fn exporter_shard(&self) -> Result<ExporterShard> {
        let addr = self.addr(EXPORTER_TELEMETRY_PORT).ok_or_else(|| Error::Process {
            what: format!("read the telemetry of pod {}", self.name),
            detail: "the telemetry port is not mapped".into(),
        })?;
        let text = http::get(addr, "/metrics").await?.text();
        let t = expo::parse(&text).map_err(|e| Error::Parse {
            what: format!("telemetry of {}", self.name),
            detail: e.to_string(),
        })?;
        let ordinals = t
            .samples
            .iter()
            .filter(|s| s.name == "kube_state_metrics_shard_ordinal")
            .map(|s| (s.labels.get("shard_ordinal").cloned().unwrap_or_default(), s.value))
            .collect();
        Ok(ExporterShard { total: t.value("kube_state_metrics_total_shards", &[]), ordinals })
    }
}

/// What an exporter's telemetry says about its shard.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterShard {
    /// `kube_state_metrics_total_shards`.
    pub total: Option<f64>,
    /// `kube_state_metrics_shard_ordinal` samples: the `shard_ordinal` label and the value.
    pub ordinals: Vec<(String, f64)>,
}

impl ExporterShard {
    /// Whether the exporter reports exactly shard `ordinal` of `total`.
    pub fn is(&self, ordinal: usize, total: usize) -> bool {
        self.total == Some(total as f64) && self.ordinals == [(ordinal.to_string(), ordinal as f64)]
    }
}

/// Scrapes exporter pods at once (see [`LocalPod::scrape_exporter`]), named by pod.
pub async fn scrape_exporters(pods: &[LocalPod]) -> Result<Vec<(String, Exposition)>> {
    let scrapes = futures::future::try_join_all(pods.iter().map(LocalPod::scrape_exporter)).await?;
    Ok(pods.iter().map(|p| p.name.clone()).zip(scrapes).collect())
}

/// One pod's process and what was reported about it.
struct Slot {
    pod: LocalPod,
    launch: Launch,
    proc: Option<Supervised>,
    /// The status last patched successfully (patches are sent only on change).
    reported: Option<Value>,
    started_at: String,
    pod_started_at: String,
    ready_since: Option<String>,
    not_ready_since: String,
    /// Exit of the last process: code, finished at, started at.
    last_exit: Option<(i32, String, String)>,
    restart_at: Option<Instant>,
    next_probe: Instant,
    pod_ip: String,
    host_ip: String,
    image: String,
    /// Other containers, reported running and ready as the stand-in kubelet does.
    others: Vec<(String, String)>,
    restart_policy: String,
    /// Processes started so far; each run logs to a file of its own in `log_dir`.
    runs: u32,
    log_dir: PathBuf,
}

/// How to start a pod's process (everything but the ports, which may change on a clash).
#[derive(Clone)]
struct Launch {
    program: Program,
    /// Arguments after expansion, listen and kubeconfig flags removed.
    base_args: Vec<String>,
    /// Container port per port flag.
    port_flags: Vec<(String, u16)>,
    kubeconfig: PathBuf,
    probe: Option<(u16, String)>,
}

struct Shared {
    slots: Mutex<BTreeMap<String, Slot>>,
    /// Set when the kubelet is dropped: no process starts after that.
    closed: std::sync::atomic::AtomicBool,
    /// Problems with pods it could not run (bad env reference, token failure ...).
    problems: Mutex<Vec<String>>,
    /// Pods (UID to name) dropped from `slots` whose process is still being stopped.
    stopping: Mutex<BTreeMap<String, String>>,
}

impl Shared {
    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the slots of `uids`, recording them as stopping before they leave `slots`, so
    /// a pod is always in one of the two until its process has stopped ([`Self::stop`]).
    fn take_slots(&self, uids: &[String]) -> Vec<Slot> {
        let mut slots = self.slots();
        let mut stopping = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
        uids.iter()
            .filter_map(|uid| {
                let slot = slots.remove(uid)?;
                stopping.insert(uid.clone(), slot.pod.name.clone());
                Some(slot)
            })
            .collect()
    }

    /// Stops the process of a slot taken by [`Self::take_slots`] (on a blocking thread), then
    /// forgets it.
    async fn stop(&self, slot: Slot) {
        let uid = slot.pod.uid.clone();
        stop_in_background(slot).await;
        self.stopping.lock().unwrap_or_else(|e| e.into_inner()).remove(&uid);
    }

    fn problem(&self, p: String) {
        let mut problems = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if !problems.contains(&p) {
            problems.push(p);
        }
    }
}

/// The running process kubelet. Dropping it stops every process it started (the pods stay as
/// they are in the API); while a test panics, each process's log tail is printed.
pub struct ProcessKubelet {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl ProcessKubelet {
    /// Starts the kubelet for the pods `config` selects on control plane `cp`.
    pub async fn start(cp: &ControlPlane, config: KubeletConfig) -> Result<Self> {
        let access = cp.access();
        let client = access.client().await?;
        let dir = tempfile::Builder::new()
            .prefix("statefleet-e2e-kubelet-")
            .tempdir()
            .map_err(|source| Error::Io { what: "create the kubelet's directory".into(), source })?;
        let shared = Arc::new(Shared {
            slots: Mutex::default(),
            closed: Default::default(),
            problems: Mutex::default(),
            stopping: Mutex::default(),
        });
        let mut kubelet = Kubelet {
            access,
            client,
            config,
            dir: dir.path().to_path_buf(),
            shared: shared.clone(),
            tokens: BTreeMap::new(),
        };
        let task = tokio::spawn(async move {
            loop {
                kubelet.sync().await;
                tokio::time::sleep(SYNC_EVERY).await;
            }
        });
        Ok(Self { shared, task, _dir: dir })
    }

    /// Snapshots of every pod it runs, by `namespace/name`.
    pub fn pods(&self) -> BTreeMap<String, LocalPod> {
        self.shared
            .slots()
            .values()
            .map(|s| (format!("{}/{}", s.pod.namespace, s.pod.name), s.pod.clone()))
            .collect()
    }

    /// The pod named `name` (in any namespace it runs).
    pub fn pod(&self, name: &str) -> Option<LocalPod> {
        self.shared.slots().values().find(|s| s.pod.name == name).map(|s| s.pod.clone())
    }

    /// Problems it met with pods it could not run as asked.
    pub fn problems(&self) -> Vec<String> {
        self.shared.problems.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the pods `names` run here and are all ready (others may run too), and
    /// returns them in that order.
    pub async fn wait_ready(&self, names: &[&str], timeout: Duration) -> Result<Vec<LocalPod>> {
        wait_for(&format!("the process kubelet to run {names:?}, ready"), timeout, SYNC_EVERY, || async {
            let pods = self.pods();
            let found: Vec<Option<&LocalPod>> =
                names.iter().map(|n| pods.values().find(|p| p.name == *n)).collect();
            if found.iter().all(|p| p.is_some_and(|p| p.ready && p.pid.is_some())) {
                return Ok(Poll::Ready(found.into_iter().flatten().cloned().collect()));
            }
            let seen: Vec<String> = pods
                .values()
                .map(|p| format!("{}(ready={}, pid={:?}, restarts={})", p.name, p.ready, p.pid, p.restarts))
                .collect();
            Ok(Poll::Pending(format!("running: {seen:?}; problems: {:?}", self.problems())))
        })
        .await
    }

    /// Waits until no process runs for the pods `names`: the kubelet dropped them and finished
    /// stopping their processes (which takes a moment after SIGTERM).
    pub async fn wait_gone(&self, names: &[&str], timeout: Duration) -> Result<()> {
        wait_for(&format!("the processes of {names:?} to stop"), timeout, SYNC_EVERY, || async {
            // Slots first: a dropped slot is in `stopping` before it leaves `slots`.
            let mut left: Vec<String> = self
                .pods()
                .into_values()
                .filter(|p| names.contains(&p.name.as_str()))
                .map(|p| p.name)
                .collect();
            let stopping = self.shared.stopping.lock().unwrap_or_else(|e| e.into_inner());
            left.extend(
                stopping.values().filter(|n| names.contains(&n.as_str())).map(|n| format!("{n} (stopping)")),
            );
            Ok(if left.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("still running: {left:?}"))
            })
        })
        .await
    }

    /// Kills the process of pod `name` with SIGKILL, as a crash; the kubelet then reports the
    /// pod not ready and restarts it after the restart delay.
    pub fn kill(&self, name: &str) -> Result<u32> {
        let pid = self.pod(name).and_then(|p| p.pid).ok_or_else(|| Error::Process {
            what: format!("kill the process of pod {name}"),
            detail: "no such process".into(),
        })?;
        let status = std::process::Command::new("kill")
            .args(["-s", "KILL", &pid.to_string()])
            .status()
            .map_err(|source| Error::Io { what: format!("run kill {pid}"), source })?;
        if status.success() {
            Ok(pid)
        } else {
            Err(Error::Process { what: format!("kill pid {pid}"), detail: status.to_string() })
        }
    }
}

impl Drop for ProcessKubelet {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.closed.store(true, std::sync::atomic::Ordering::Release);
        let slots = std::mem::take(&mut *self.shared.slots());
        let panicking = std::thread::panicking();
        for (_, mut slot) in slots {
            if let Some(mut proc) = slot.proc.take() {
                proc.stop();
            }
            if panicking {
                eprintln!(
                    "---- log of pod {}/{} ({}), args {:?} ----\n{}\n---- end of log ----",
                    slot.pod.namespace,
                    slot.pod.name,
                    slot.pod.program,
                    slot.pod.args,
                    slot.pod.log_tail(40)
                );
            }
        }
        if panicking {
            let problems = self.problems();
            if !problems.is_empty() {
                eprintln!("process kubelet problems: {problems:#?}");
            }
        }
    }
}

/// The kubelet's loop state (owned by its task).
struct Kubelet {
    access: ClusterAccess,
    client: Client,
    config: KubeletConfig,
    dir: PathBuf,
    shared: Arc<Shared>,
    /// Kubeconfig per `namespace/serviceaccount`.
    tokens: BTreeMap<String, PathBuf>,
}

impl Kubelet {
    async fn sync(&mut self) {
        let api: Api<Pod> = match &self.config.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let Ok(list) = api.list(&ListParams::default()).await else {
            // The API server may be restarting; try again next round.
            return;
        };
        let mut present = BTreeSet::new();
        for pod in &list.items {
            let Some((container, program)) = self.ours(pod) else {
                continue;
            };
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let (ns, name) = (
                pod.metadata.namespace.clone().unwrap_or_default(),
                pod.metadata.name.clone().unwrap_or_default(),
            );
            if pod.metadata.deletion_timestamp.is_some() {
                // What a kubelet does: stop the containers, then remove the pod for good.
                for slot in self.shared.take_slots(std::slice::from_ref(&uid)) {
                    self.shared.stop(slot).await;
                }
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                    ..Default::default()
                };
                let _ = api.delete(&name, &dp).await;
                continue;
            }
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default();
            let known = self.shared.slots().contains_key(&uid);
            if !known && matches!(phase, "Succeeded" | "Failed") {
                continue;
            }
            present.insert(uid.clone());
            if !known {
                match self.prepare(pod, &container, &program).await {
                    Ok(slot) => {
                        self.shared.slots().insert(uid, slot);
                    }
                    Err(e) => self.shared.problem(format!("pod {ns}/{name}: {e}")),
                }
            }
        }
        // Pods that went away without a graceful delete (or are no longer ours).
        let uids: Vec<String> =
            self.shared.slots().keys().filter(|u| !present.contains(*u)).cloned().collect();
        for slot in self.shared.take_slots(&uids) {
            self.shared.stop(slot).await;
        }
        self.drive().await;
    }

    /// The container and program the kubelet runs for `pod`, if the pod is ours: bound to a
    /// harness node and running one of the programs.
    fn ours(&self, pod: &Pod) -> Option<(Container, Program)> {
        let spec = pod.spec.as_ref()?;
        let node = spec.node_name.as_ref()?;
        if !self.access.nodes.contains(node) {
            return None;
        }
        spec.containers.iter().find_map(|c| {
            let name = program_name(c)?;
            let program = self.config.programs.iter().find(|p| p.name == name)?;
            Some((c.clone(), program.clone()))
        })
    }

    /// Resolves env and args, gets the identity, and makes the slot; the process starts in
    /// [`Self::drive`].
    async fn prepare(&mut self, pod: &Pod, container: &Container, program: &Program) -> Result<Slot> {
        let meta = &pod.metadata;
        let spec = pod
            .spec
            .as_ref()
            .ok_or_else(|| Error::Parse { what: "a pod".into(), detail: "no spec".into() })?;
        let (ns, name, uid) = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
            meta.uid.clone().unwrap_or_default(),
        );
        let node = spec.node_name.clone().unwrap_or_default();
        let pod_ip = fake_pod_ip(&uid);
        let host_ip = node_ip(&node);
        let pod_json = serde_json::to_value(pod).unwrap_or_default();
        let mut env: Vec<(String, String)> = Vec::new();
        for var in container.env.iter().flatten() {
            let value = if let Some(source) = &var.value_from {
                if let Some(field) = &source.field_ref {
                    field_value(&pod_json, &field.field_path, &pod_ip, &host_ip).ok_or_else(|| {
                        Error::Parse {
                            what: format!("env {} of container {}", var.name, container.name),
                            detail: format!("unsupported fieldRef {:?}", field.field_path),
                        }
                    })?
                } else {
                    return Err(Error::Parse {
                        what: format!("env {} of container {}", var.name, container.name),
                        detail: "only fieldRef sources are supported".into(),
                    });
                }
            } else {
                let known = env.clone();
                expand(var.value.as_deref().unwrap_or_default(), |n| lookup(&known, n))
            };
            env.retain(|(k, _)| k != &var.name);
            env.push((var.name.clone(), value));
        }
        let expanded: Vec<String> = container
            .command
            .iter()
            .flatten()
            .skip(1)
            .chain(container.args.iter().flatten())
            .map(|a| expand(a, |n| lookup(&env, n)))
            .collect();
        let mut removed: Vec<&str> = program.host_flags.iter().map(String::as_str).collect();
        removed.extend(program.port_flags.iter().map(|(f, _)| f.as_str()));
        removed.extend(program.kubeconfig_flag.as_deref());
        let (base_args, values) = strip_flags(&expanded, &removed);
        let mut port_flags = Vec::new();
        for (flag, default) in &program.port_flags {
            let port = match values.get(flag.as_str()) {
                Some(v) => v.parse::<u16>().map_err(|_| Error::Parse {
                    what: format!("{flag} of pod {ns}/{name}"),
                    detail: format!("{v:?} is not a port"),
                })?,
                None => *default,
            };
            port_flags.push((flag.clone(), port));
        }
        let port_names: BTreeMap<String, u16> = container
            .ports
            .iter()
            .flatten()
            .filter_map(|p| Some((p.name.clone()?, u16::try_from(p.container_port).ok()?)))
            .collect();
        let probe = container
            .readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|get| {
                use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
                let port = match &get.port {
                    IntOrString::Int(p) => u16::try_from(*p).ok()?,
                    IntOrString::String(n) => *port_names.get(n)?,
                };
                Some((port, get.path.clone().unwrap_or_else(|| "/".into())))
            })
            .or_else(|| program.default_readiness.clone());
        let kubeconfig = match self.config.identity {
            Identity::Admin => self.access.admin_kubeconfig.clone(),
            Identity::PodServiceAccount => {
                let sa = spec.service_account_name.clone().unwrap_or_else(|| "default".into());
                let key = format!("{ns}/{sa}");
                match self.tokens.get(&key) {
                    Some(path) => path.clone(),
                    None => {
                        let path =
                            self.access.service_account_kubeconfig(&self.client, &ns, &sa, &self.dir).await?;
                        self.tokens.insert(key, path.clone());
                        path
                    }
                }
            }
        };
        let now = rfc3339_now();
        let others = spec
            .containers
            .iter()
            .filter(|c| c.name != container.name)
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect();
        Ok(Slot {
            pod: LocalPod {
                namespace: ns.clone(),
                name: name.clone(),
                uid,
                node,
                container: container.name.clone(),
                program: program.name.clone(),
                args: Vec::new(),
                env,
                ports: BTreeMap::new(),
                port_names,
                pid: None,
                ready: false,
                restarts: 0,
                log: PathBuf::new(),
                seen_at: Instant::now(),
                ready_at: None,
            },
            launch: Launch { program: program.clone(), base_args, port_flags, kubeconfig, probe },
            proc: None,
            reported: None,
            started_at: now.clone(),
            pod_started_at: now.clone(),
            ready_since: None,
            not_ready_since: now,
            last_exit: None,
            restart_at: Some(Instant::now()),
            next_probe: Instant::now(),
            pod_ip,
            host_ip,
            image: container.image.clone().unwrap_or_default(),
            others,
            restart_policy: spec.restart_policy.clone().unwrap_or_else(|| "Always".into()),
            runs: 0,
            log_dir: self.dir.clone(),
        })
    }

    /// Starts due processes, notices exits, probes readiness and reports status changes.
    async fn drive(&mut self) {
        // Process bookkeeping under the lock (no await), probes and patches outside it.
        let mut probes = Vec::new();
        {
            let mut slots = self.shared.slots();
            for slot in slots.values_mut() {
                tick(slot, &self.shared, self.config.restart_delay);
                if let (Some(_), Some((port, path))) = (&slot.proc, &slot.launch.probe)
                    && Instant::now() >= slot.next_probe
                    && let Some(addr) = slot.pod.addr(*port)
                {
                    probes.push((slot.pod.uid.clone(), addr, path.clone()));
                }
            }
        }
        let results = futures::future::join_all(probes.into_iter().map(|(uid, addr, path)| async move {
            let ok = tokio::time::timeout(PROBE_TIMEOUT, http::get(addr, &path))
                .await
                .is_ok_and(|r| r.is_ok_and(|r| r.status == 200));
            (uid, ok)
        }))
        .await;
        let mut patches = Vec::new();
        {
            let mut slots = self.shared.slots();
            for (uid, ok) in results {
                if let Some(slot) = slots.get_mut(&uid)
                    && slot.proc.is_some()
                {
                    slot.next_probe = Instant::now() + if ok { PROBE_READY_EVERY } else { SYNC_EVERY };
                    set_ready(slot, ok);
                }
            }
            for slot in slots.values() {
                let status = status_of(slot);
                if slot.reported.as_ref() != Some(&status) {
                    patches.push((
                        slot.pod.uid.clone(),
                        slot.pod.namespace.clone(),
                        slot.pod.name.clone(),
                        status,
                    ));
                }
            }
        }
        for (uid, ns, name, status) in patches {
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            // The UID in the patch makes it fail if the pod was replaced by one of the same name.
            let patch = json!({"metadata": {"uid": uid}, "status": status});
            if api.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await.is_ok()
                && let Some(slot) = self.shared.slots().get_mut(&uid)
            {
                slot.reported = Some(status);
            }
        }
    }
}

/// Starts a due process, or notices that one exited.
fn tick(slot: &mut Slot, shared: &Shared, restart_delay: Duration) {
    if let Some(proc) = slot.proc.as_mut() {
        if slot.pod.pid.is_none() {
            slot.pod.pid = proc.program_pid();
        }
        let Some(status) = proc.exited() else {
            return;
        };
        let code = status.code().unwrap_or(-1);
        let clash = !slot.pod.ready && process::grep(&slot.pod.log, "failed to listen", 1).len() == 1;
        slot.proc = None;
        slot.pod.pid = None;
        if clash {
            // Another process took a port between the check and the bind: new ports, no restart.
            slot.pod.ports.clear();
            slot.restart_at = Some(Instant::now());
            return;
        }
        set_ready(slot, false);
        slot.last_exit = Some((code, rfc3339_now(), slot.started_at.clone()));
        let again = match slot.restart_policy.as_str() {
            "Never" => false,
            "OnFailure" => code != 0,
            _ => true,
        };
        slot.restart_at = again.then(|| Instant::now() + restart_delay);
        if again {
            // As the kubelet: the count goes up with the crash, before the back-off ends.
            slot.pod.restarts += 1;
        }
        return;
    }
    let Some(at) = slot.restart_at else {
        return;
    };
    if shared.closed.load(std::sync::atomic::Ordering::Acquire) {
        return;
    }
    if Instant::now() < at {
        return;
    }
    for (_, port) in &slot.launch.port_flags {
        if !slot.pod.ports.contains_key(port) {
            match process::free_port() {
                Ok(p) => {
                    slot.pod.ports.insert(*port, SocketAddr::from(([127, 0, 0, 1], p)));
                }
                Err(e) => {
                    shared.problem(format!("pod {}/{}: {e}", slot.pod.namespace, slot.pod.name));
                    return;
                }
            }
        }
    }
    let mut args = slot.launch.base_args.clone();
    for flag in &slot.launch.program.host_flags {
        args.push(format!("{flag}=127.0.0.1"));
    }
    for (flag, port) in &slot.launch.port_flags {
        args.push(format!("{flag}={}", slot.pod.ports[port].port()));
    }
    if let Some(flag) = &slot.launch.program.kubeconfig_flag {
        args.push(format!("{flag}={}", slot.launch.kubeconfig.display()));
    }
    let label = format!("{} (pod {}/{})", slot.launch.program.name, slot.pod.namespace, slot.pod.name);
    slot.runs += 1;
    let log = slot.log_dir.join(format!("{}_{}_{}.log", slot.pod.namespace, slot.pod.name, slot.runs));
    slot.pod.log = log.clone();
    match Supervised::spawn_with_env(
        &label,
        &slot.launch.program.path,
        &args,
        &slot.pod.env,
        &log,
        Stop::Term,
        &[],
    ) {
        Ok(proc) => {
            slot.proc = Some(proc);
            slot.pod.args = args;
            slot.started_at = rfc3339_now();
            slot.restart_at = None;
            slot.next_probe = Instant::now();
        }
        Err(e) => {
            shared.problem(format!("pod {}/{}: {e}", slot.pod.namespace, slot.pod.name));
            slot.restart_at = Some(Instant::now() + Duration::from_secs(1));
        }
    }
}

fn set_ready(slot: &mut Slot, ready: bool) {
    if slot.pod.ready == ready {
        return;
    }
    slot.pod.ready = ready;
    if ready {
        slot.ready_since = Some(rfc3339_now());
        slot.pod.ready_at = Some(Instant::now());
    } else {
        slot.ready_since = None;
        slot.not_ready_since = rfc3339_now();
    }
}

/// The pod status the kubelet reports for `slot` (a merge patch's `status`).
fn status_of(slot: &Slot) -> Value {
    let ready = slot.pod.ready && slot.proc.is_some();
    let transition = slot.ready_since.clone().unwrap_or_else(|| slot.not_ready_since.clone());
    let started = &slot.pod_started_at;
    let cond = |t: &str, ok: bool, at: &str| json!({"type": t, "status": if ok { "True" } else { "False" }, "lastTransitionTime": at});
    let running = slot.proc.is_some();
    let last_state = match &slot.last_exit {
        Some((code, finished, began)) => json!({"terminated": {
            "exitCode": code,
            "reason": if *code == 0 { "Completed" } else { "Error" },
            "startedAt": began,
            "finishedAt": finished,
        }}),
        None => json!({}),
    };
    let state = if running {
        json!({"running": {"startedAt": slot.started_at}})
    } else if slot.restart_at.is_some() && slot.last_exit.is_some() {
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "statefleet e2e process kubelet: the process exited"}})
    } else if let Some((code, finished, began)) = &slot.last_exit {
        json!({"terminated": {
            "exitCode": code,
            "reason": if *code == 0 { "Completed" } else { "Error" },
            "startedAt": began,
            "finishedAt": finished,
        }})
    } else {
        json!({"waiting": {"reason": "ContainerCreating"}})
    };
    let mut containers = vec![json!({
        "name": slot.pod.container,
        "ready": ready,
        "started": running,
        "restartCount": slot.pod.restarts,
        "image": slot.image,
        "imageID": format!("e2e-process://{}", slot.image),
        "containerID": format!("e2e-process://{}-{}", slot.pod.uid, slot.pod.restarts),
        "state": state,
        "lastState": last_state,
    })];
    for (name, image) in &slot.others {
        containers.push(json!({
            "name": name,
            "ready": true,
            "started": true,
            "restartCount": 0,
            "image": image,
            "imageID": format!("e2e://{image}"),
            "containerID": format!("e2e://{}-{name}", slot.pod.uid),
            "state": {"running": {"startedAt": started}},
        }));
    }
    containers.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let done = !running && slot.restart_at.is_none() && slot.last_exit.is_some();
    let phase = match (&slot.last_exit, done) {
        (Some((0, _, _)), true) => "Succeeded",
        (Some(_), true) => "Failed",
        _ => "Running",
    };
    json!({
        "phase": phase,
        "hostIP": slot.host_ip,
        "hostIPs": [{"ip": slot.host_ip}],
        "podIP": slot.pod_ip,
        "podIPs": [{"ip": slot.pod_ip}],
        "startTime": started,
        "conditions": [
            cond("PodReadyToStartContainers", true, started),
            cond("Initialized", true, started),
            cond("Ready", ready, &transition),
            cond("ContainersReady", ready, &transition),
            cond("PodScheduled", true, started),
        ],
        "containerStatuses": containers,
    })
}

/// Stops a slot's process without blocking the runtime.
async fn stop_in_background(mut slot: Slot) {
    if let Some(mut proc) = slot.proc.take() {
        let _ = tokio::task::spawn_blocking(move || proc.stop()).await;
    }
}

/// The program a container runs: the base name of `command[0]`, or without a command, the last
/// path part of the image without tag or digest.
pub fn program_name(container: &Container) -> Option<String> {
    if let Some(cmd) = container.command.as_ref().and_then(|c| c.first()) {
        return Some(cmd.rsplit('/').next().unwrap_or(cmd).to_string());
    }
    let image = container.image.as_deref()?;
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    Some(last.split(':').next().unwrap_or(last).to_string())
}

/// Whether a pod runs one of [`LOCAL_PROGRAMS`] (so the stand-in kubelet leaves it alone).
pub fn runs_locally(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| program_name(c).is_some_and(|n| LOCAL_PROGRAMS.contains(&n.as_str())))
    })
}

/// Expands `$(VAR)` references as the kubelet does for command, args and env values: a defined
/// variable is replaced by its value, an undefined reference is kept as written, `$$` is a
/// literal `$`, and a `$` before anything else is kept.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::new();
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let (text, advance) = match rest.as_bytes()[0] {
                b'$' => ("$".to_string(), 1),
                b'(' => match rest.find(')') {
                    Some(end) => {
                        let name = &rest[1..end];
                        (lookup(name).unwrap_or_else(|| format!("$({name})")), end + 1)
                    }
                    None => ("$(".to_string(), 1),
                },
                _ => {
                    let c = rest.chars().next().unwrap_or_default();
                    (format!("${c}"), c.len_utf8())
                }
            };
            out.push_str(&text);
            cursor += advance + 1;
            checkpoint = cursor;
        } else {
            cursor += 1;
        }
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

fn lookup(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Removes `flags` (`--flag=value` or `--flag value`, one or two leading dashes) from `args`;
/// returns the rest and the last value of each removed flag.
fn strip_flags<'a>(args: &[String], flags: &[&'a str]) -> (Vec<String>, BTreeMap<&'a str, String>) {
    let canonical = |a: &str| -> Option<&'a str> {
        let bare = a.trim_start_matches('-');
        flags.iter().copied().find(|f| f.trim_start_matches('-') == bare)
    };
    let mut rest = Vec::new();
    let mut values = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.starts_with('-') {
            let (head, inline) = match arg.split_once('=') {
                Some((h, v)) => (h, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            if let Some(flag) = canonical(head) {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i).cloned().unwrap_or_default()
                    }
                };
                values.insert(flag, value);
                i += 1;
                continue;
            }
        }
        rest.push(arg.clone());
        i += 1;
    }
    (rest, values)
}

/// The value of a downward-API `fieldRef`.
fn field_value(pod: &Value, path: &str, pod_ip: &str, host_ip: &str) -> Option<String> {
    let s = |p: &str| pod.pointer(p).and_then(Value::as_str).map(str::to_string);
    let keyed = |prefix: &str, map: &str| -> Option<Option<String>> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(Some(
            pod.pointer(&format!("/metadata/{map}"))
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ))
    };
    if let Some(v) = keyed("metadata.labels['", "labels") {
        return v;
    }
    if let Some(v) = keyed("metadata.annotations['", "annotations") {
        return v;
    }
    match path {
        "metadata.name" => s("/metadata/name"),
        "metadata.namespace" => s("/metadata/namespace"),
        "metadata.uid" => s("/metadata/uid"),
        "spec.nodeName" => s("/spec/nodeName"),
        "spec.serviceAccountName" => s("/spec/serviceAccountName").or_else(|| Some("default".into())),
        "status.podIP" | "status.podIPs" => Some(pod_ip.to_string()),
        "status.hostIP" | "status.hostIPs" => Some(host_ip.to_string()),
        _ => None,
    }
}

/// A stable fake pod IP from the UID (as the stand-in kubelet's).
fn fake_pod_ip(uid: &str) -> String {
    let h = uid.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("10.2.{}.{}", (h >> 8) % 250, h % 250 + 2)
}

/// The InternalIP the harness gives node `e2e-node-N`.
fn node_ip(node: &str) -> String {
    node.rsplit('-')
        .next()
        .and_then(|i| i.parse::<u32>().ok())
        .map(|i| format!("10.1.0.{}", i + 1))
        .unwrap_or_else(|| "10.1.0.250".into())
}

/// Waits until `path` of every pod in `pods` answers 200 on container port `port`, e.g. to
/// check that restarted processes serve again.
pub async fn wait_http_ok(pods: &[LocalPod], port: u16, path: &str, timeout: Duration) -> Result<()> {
    wait_for(
        &format!("{path} on port {port} of {} pods to answer 200", pods.len()),
        timeout,
        SYNC_EVERY,
        || async {
            for p in pods {
                let addr = p.addr(port).ok_or_else(|| Error::Process {
                    what: format!("reach pod {}", p.name),
                    detail: format!("port {port} not mapped"),
                })?;
                let r = http::get(addr, path).await?;
                if r.status != 200 {
                    return Ok(Poll::Pending(format!("{}: HTTP {}", p.name, r.status)));
                }
            }
            Ok(Poll::Ready(()))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn expansion_follows_the_kubelet() {
        let e = env(&[("POD_NAME", "ksm-1"), ("NS", "e2e"), ("EMPTY", "")]);
        let x = |s: &str| expand(s, |n| lookup(&e, n));
        assert_eq!(x("--pod=$(POD_NAME)"), "--pod=ksm-1");
        assert_eq!(x("$(NS)/$(POD_NAME)"), "e2e/ksm-1");
        assert_eq!(x("$(MISSING)"), "$(MISSING)");
        assert_eq!(x("$$(POD_NAME)"), "$(POD_NAME)");
        assert_eq!(x("$$$(NS)"), "$e2e");
        assert_eq!(x("a$(EMPTY)b"), "ab");
        assert_eq!(x("$(unclosed"), "$(unclosed");
        assert_eq!(x("cost $5"), "cost $5");
        assert_eq!(x("end$"), "end$");
        assert_eq!(x("ünï$(NS)ç"), "ünïe2eç");
    }

    #[test]
    fn listen_flags_are_stripped_in_both_spellings() {
        let args: Vec<String> = [
            "--port=9000",
            "--resources=pods",
            "--telemetry-port",
            "9001",
            "-host=0.0.0.0",
            "--kubeconfig",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (rest, values) = strip_flags(&args, &["--port", "--telemetry-port", "--host", "--kubeconfig"]);
        assert_eq!(rest, ["--resources=pods"]);
        assert_eq!(values.get("--port").map(String::as_str), Some("9000"));
        assert_eq!(values.get("--telemetry-port").map(String::as_str), Some("9001"));
        assert_eq!(values.get("--host").map(String::as_str), Some("0.0.0.0"));
        assert_eq!(values.get("--kubeconfig").map(String::as_str), Some("x"));
    }

    #[test]
    fn programs_are_named_by_command_or_image() {
        let c = |command: Option<&[&str]>, image: &str| Container {
            name: "c".into(),
            command: command.map(|c| c.iter().map(|s| s.to_string()).collect()),
            image: Some(image.into()),
            ..Default::default()
        };
        assert_eq!(
            program_name(&c(Some(&["/bin/statefleet-exporter", "-v"]), "x")).as_deref(),
            Some("statefleet-exporter")
        );
        assert_eq!(
            program_name(&c(None, "registry.local:5000/sf/statefleet-exporter:1.2")).as_deref(),
            Some("statefleet-exporter")
        );
        assert_eq!(
            program_name(&c(None, "statefleet-exporter@sha256:abc")).as_deref(),
            Some("statefleet-exporter")
        );
    }

    #[test]
    fn downward_api_fields_resolve() {
        let pod = json!({"metadata": {"name": "p", "namespace": "n", "uid": "u", "labels": {"app": "a"}},
                         "spec": {"nodeName": "e2e-node-1"}});
        let f = |p: &str| field_value(&pod, p, "10.2.0.2", "10.1.0.2");
        assert_eq!(f("metadata.name").as_deref(), Some("p"));
        assert_eq!(f("metadata.namespace").as_deref(), Some("n"));
        assert_eq!(f("spec.nodeName").as_deref(), Some("e2e-node-1"));
        assert_eq!(f("metadata.labels['app']").as_deref(), Some("a"));
        assert_eq!(f("metadata.labels['none']").as_deref(), Some(""));
        assert_eq!(f("status.podIP").as_deref(), Some("10.2.0.2"));
        assert_eq!(f("spec.unknown"), None);
        assert_eq!(node_ip("e2e-node-2"), "10.1.0.3");
    }
}
