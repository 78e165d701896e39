//! `just demo`: a whole statefleet installation on this machine, without containers.
//!
//! Starts a real control plane (etcd, kube-apiserver, controller-manager, scheduler and a few
//! registered nodes), installs the CRDs (statefleet's, and prometheus-operator's when found, so
//! the ServiceMonitor and PrometheusRule get created), runs the operator as a local process,
//! loads a sample cluster of a few thousand objects, applies `config/samples/large.yaml`, lets
//! the process kubelet run the fleet's exporter pods as local processes, starts Prometheus
//! scraping every exporter pod (file-based service discovery, rewritten when pods change) with
//! `config/prometheus/statefleet-rules.yaml`, and prints a summary every ~15 s until Ctrl-C;
//! then it stops everything and removes its temporary directories.
//!
//! Flags:
//! - `--exit-after SECONDS`: non-interactive; exit 0 after printing the summary once the fleet
//!   is ready (every shard ready and scraped, no alert firing), 1 if not ready within SECONDS;
//! - `--namespaces N`: sample namespaces to create (default 20, ~110 objects each).
//!
//! Environment: `STATEFLEET_BIN_DIR` (cluster binaries and prometheus, as the e2e suite),
//! `CARGO_TARGET_DIR` (where `statefleet-exporter` and `statefleet-operator` were built),
//! `STATEFLEET_PROMETHEUS_OPERATOR_CRDS` (directory of prometheus-operator's CRD files; default
//! `../shared/upstream/prometheus-operator-crds` next to the workspace).

use futures::{StreamExt, stream};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Namespace, Pod, Secret, Service},
};
use kube::{
    Api, Client,
    api::{ListParams, PostParams},
};
use serde_json::{Value, json};
use statefleet_e2e::{
    ControlPlane, Error, KubeContext, KubeletConfig, Poll, ProcessKubelet, Result,
    control_plane::ControlPlaneOptions,
    http,
    kubelet::{EXPORTER_METRICS_PORT, EXPORTER_TELEMETRY_PORT, LocalPod},
    process::{self, Stop, Supervised},
    wait_for,
};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};
use tokio::time::Instant;

/// Namespace the fleet is installed in (as in the sample's comment).
const FLEET_NAMESPACE: &str = "monitoring";
/// The sample applied there.
const SAMPLE: &str = "config/samples/large.yaml";
/// The plain rules file Prometheus loads.
const RULES: &str = "config/prometheus/statefleet-rules.yaml";
/// statefleet's CRD.
const CRD: &str = "crds/statefleet.io_kubestatemetrics.yaml";
/// Field manager of everything the demo applies.
const MANAGER: &str = "statefleet-demo";
/// Scrape and rule evaluation interval.
const PROM_INTERVAL: &str = "5s";
/// How often the summary is printed.
const REFRESH: Duration = Duration::from_secs(15);
/// Label put on the sample namespaces.
const SAMPLE_LABEL: &str = "statefleet.io/demo-sample";

struct Options {
    exit_after: Option<Duration>,
    namespaces: usize,
}

fn parse_args() -> std::result::Result<Options, String> {
    let mut opts = Options { exit_after: None, namespaces: 20 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--exit-after" => {
                let v = value("--exit-after")?;
                let secs: u64 =
                    v.parse().map_err(|_| format!("--exit-after: not a number of seconds: {v}"))?;
                opts.exit_after = Some(Duration::from_secs(secs));
            }
            "--namespaces" => {
                let v = value("--namespaces")?;
                opts.namespaces = v.parse().map_err(|_| format!("--namespaces: not a number: {v}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: demo [--exit-after SECONDS] [--namespaces N]\n\n\
                     Runs a control plane, the statefleet operator, a sharded exporter fleet and \
                     Prometheus locally;\nprints a summary every 15 s until Ctrl-C. With \
                     --exit-after, exits 0 once everything is ready\n(1 if not within SECONDS)."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(opts)
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut demo = Demo::default();
    let code = tokio::select! {
        r = demo.run(&opts) => match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo: {e}");
                demo.print_logs_hint();
                ExitCode::FAILURE
            }
        },
        () = shutdown_signal() => {
            eprintln!("\ndemo: interrupted, stopping everything");
            ExitCode::SUCCESS
        }
    };
    demo.shutdown();
    code
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {},
        _ = term.recv() => {},
    }
}

fn step(what: &str) {
    eprintln!("demo: {what}");
}

/// Everything the demo started; stopped in reverse order by [`Demo::shutdown`].
#[derive(Default)]
struct Demo {
    cp: Option<ControlPlane>,
    operator: Option<Supervised>,
    operator_dir: Option<tempfile::TempDir>,
    kubelet: Option<ProcessKubelet>,
    prometheus: Option<Prometheus>,
}

impl Demo {
    fn shutdown(&mut self) {
        // Users of the API first, the control plane last.
        drop(self.prometheus.take());
        drop(self.kubelet.take());
        if let Some(mut op) = self.operator.take() {
            op.stop();
        }
        drop(self.operator_dir.take());
        drop(self.cp.take());
        eprintln!("demo: stopped; all processes and temporary directories are gone");
    }

    fn print_logs_hint(&self) {
        if let Some(op) = &self.operator {
            eprintln!("---- operator log tail ----\n{}", op.log_tail(20));
        }
        if let Some(k) = &self.kubelet {
            let problems = k.problems();
            if !problems.is_empty() {
                eprintln!("process kubelet problems: {problems:#?}");
            }
        }
        if let Some(p) = &self.prometheus {
            eprintln!("---- prometheus log tail ----\n{}", p.proc.log_tail(20));
        }
    }

    async fn run(&mut self, opts: &Options) -> Result<()> {
        let started = Instant::now();
        let root = process::workspace_root();
        let operator_bin = target_bin("statefleet-operator")?;
        process::exporter_bin()?;
        let prometheus_bin = process::cluster_bin("prometheus")?;

        step("starting the control plane (etcd, kube-apiserver, controller-manager, scheduler)");
        let cp = self.cp.insert(ControlPlane::start_with(ControlPlaneOptions::default()).await?);
        let client = cp.client().await?;

        step("installing the CRDs");
        let mut crds = vec![root.join(CRD)];
        match prometheus_operator_crds(&root) {
            Some(dir) => {
                for name in ["servicemonitors", "prometheusrules", "podmonitors"] {
                    let path = dir.join(format!("monitoring.coreos.com_{name}.yaml"));
                    if path.is_file() {
                        crds.push(path);
                    }
                }
            }
            None => eprintln!(
                "demo: prometheus-operator's CRDs not found (set STATEFLEET_PROMETHEUS_OPERATOR_CRDS); \
                 the fleet gets no ServiceMonitor/PrometheusRule"
            ),
        }
        for crd in &crds {
            install_crd(&client, crd).await?;
        }

        step("starting the operator (--leader-election=false)");
        let op_dir = self.operator_dir.insert(temp_dir("statefleet-demo-operator-")?);
        let (op_metrics, op_health) = (process::free_port()?, process::free_port()?);
        let op_args = vec![
            format!("--kubeconfig={}", cp.kubeconfig().display()),
            "--leader-election=false".into(),
            "--log-format=text".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--metrics-port={op_metrics}"),
            format!("--health-port={op_health}"),
        ];
        let op_log = op_dir.path().join("operator.log");
        let mut operator =
            Supervised::spawn("statefleet-operator", &operator_bin, &op_args, &op_log, Stop::Term, &[])?;
        let health = SocketAddr::from(([127, 0, 0, 1], op_health));
        let ready =
            wait_for("the operator's /readyz", Duration::from_secs(60), Duration::from_millis(200), || {
                let exited = operator.exited();
                async move {
                    if let Some(status) = exited {
                        return Err(Error::Process {
                            what: "run the operator".into(),
                            detail: format!("exited with {status}"),
                        });
                    }
                    let r = http::get(health, "/readyz").await?;
                    Ok(if r.status == 200 {
                        Poll::Ready(())
                    } else {
                        Poll::Pending(format!("HTTP {}", r.status))
                    })
                }
            })
            .await;
        self.operator = Some(operator);
        ready?;

        step(&format!("loading a sample cluster ({} namespaces)", opts.namespaces));
        let t = Instant::now();
        let created = load_sample_cluster(&client, opts.namespaces).await?;
        step(&format!(
            "created {created} objects in {:.1?} (the controller-manager adds ReplicaSets, pods, EndpointSlices)",
            t.elapsed()
        ));

        step(&format!("applying {SAMPLE} in namespace {FLEET_NAMESPACE}"));
        create_namespace(&client, FLEET_NAMESPACE, &[]).await?;
        apply_fleet(&client, &root.join(SAMPLE), FLEET_NAMESPACE).await?;

        step("starting the process kubelet (exporter pods run as local processes)");
        let cp = self.cp.as_ref().expect("started above");
        let kubelet = self
            .kubelet
            .insert(ProcessKubelet::start(cp, KubeletConfig::exporter(Some(FLEET_NAMESPACE))?).await?);

        step("starting Prometheus");
        let prom = self.prometheus.insert(Prometheus::start(&prometheus_bin, &root.join(RULES)).await?);

        let deadline = opts.exit_after.map(|d| started + d);
        let mut announced = false;
        let mut last_print: Option<Instant> = None;
        loop {
            let fleet = Fleet::observe(&client, kubelet).await;
            prom.set_targets(&fleet.targets())?;
            let report = Report::collect(&fleet, prom).await;
            let healthy = report.healthy();
            if healthy && !announced {
                announced = true;
                step(&format!("fleet ready after {:.0?}", started.elapsed()));
                println!("{}", report.render(prom, cp));
                last_print = Some(Instant::now());
                if opts.exit_after.is_some() {
                    return Ok(());
                }
                eprintln!("demo: refreshing every {}s; Ctrl-C stops everything", REFRESH.as_secs());
            } else if announced && last_print.is_none_or(|t| t.elapsed() >= REFRESH) {
                println!("{}", report.render(prom, cp));
                last_print = Some(Instant::now());
            } else if !announced && last_print.is_none_or(|t| t.elapsed() >= REFRESH) {
                eprintln!("demo: waiting for the fleet: {}", report.pending());
                last_print = Some(Instant::now());
            }
            if let Some(deadline) = deadline
                && Instant::now() > deadline
            {
                println!("{}", report.render(prom, cp));
                return Err(Error::Timeout {
                    what: "the fleet to be ready and scraped without alerts".into(),
                    waited: started.elapsed(),
                    last: report.pending(),
                });
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

fn temp_dir(prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| Error::Io { what: format!("create a temporary directory {prefix}*"), source })
}

/// A binary built by cargo next to the exporter.
fn target_bin(name: &str) -> Result<PathBuf> {
    let exporter = process::exporter_bin()?;
    let path = exporter.with_file_name(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Process {
            what: format!("find {name}"),
            detail: format!("{} does not exist; run `cargo build -p {name}` first", path.display()),
        })
    }
}

fn prometheus_operator_crds(root: &Path) -> Option<PathBuf> {
    let dir = std::env::var_os("STATEFLEET_PROMETHEUS_OPERATOR_CRDS")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/upstream/prometheus-operator-crds"));
    dir.is_dir().then_some(dir)
}

/// `metadata.name` of a single-document YAML manifest (the first two-space-indented `name:`
/// under the top-level `metadata:`).
fn manifest_name(text: &str) -> Option<String> {
    let mut in_meta = false;
    for line in text.lines() {
        if line.starts_with("metadata:") {
            in_meta = true;
        } else if in_meta {
            if let Some(rest) = line.strip_prefix("  name:") {
                return Some(rest.trim().trim_matches(['"', '\'']).to_string());
            }
            if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
                in_meta = false;
            }
        }
    }
    None
}

/// Server-side apply of a YAML manifest at `path` (the API server takes YAML apply patches).
async fn apply_yaml(client: &Client, url_path: &str, yaml: &str) -> Result<Value> {
    let uri = format!("{url_path}?fieldManager={MANAGER}&force=true");
    let req = ::http::Request::patch(&uri)
        .header("Content-Type", "application/apply-patch+yaml")
        .body(yaml.as_bytes().to_vec())
        .map_err(|e| Error::Parse { what: format!("the apply request {uri}"), detail: e.to_string() })?;
    let text = client.request_text(req).await.kube(|| format!("apply {url_path}"))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Parse { what: format!("the answer to apply {url_path}"), detail: e.to_string() })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|source| Error::Io { what: format!("read {}", path.display()), source })
}

/// Applies a CRD file and waits until it is Established.
async fn install_crd(client: &Client, path: &Path) -> Result<()> {
    let text = read(path)?;
    let name = manifest_name(&text).ok_or_else(|| Error::Parse {
        what: path.display().to_string(),
        detail: "no metadata.name".into(),
    })?;
    let url = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    apply_yaml(client, &url, &text).await?;
    wait_for(
        &format!("CRD {name} to be established"),
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let url = url.clone();
            async move {
                let req = ::http::Request::get(&url)
                    .body(Vec::new())
                    .map_err(|e| Error::Parse { what: url.clone(), detail: e.to_string() })?;
                let v: Value = client.request(req).await.kube(|| format!("get {url}"))?;
                let established = v["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
                Ok(if established { Poll::Ready(()) } else { Poll::Pending("not established".into()) })
            }
        },
    )
    .await?;
    eprintln!("demo:   CRD {name}");
    Ok(())
}

/// Applies the KubeStateMetrics sample in `namespace`.
async fn apply_fleet(client: &Client, path: &Path, namespace: &str) -> Result<()> {
    let text = read(path)?;
    let name = manifest_name(&text).ok_or_else(|| Error::Parse {
        what: path.display().to_string(),
        detail: "no metadata.name".into(),
    })?;
    let url = format!("/apis/statefleet.io/v1alpha1/namespaces/{namespace}/kubestatemetrics/{name}");
    apply_yaml(client, &url, &text).await?;
    Ok(())
}

async fn create_namespace(client: &Client, name: &str, labels: &[(&str, &str)]) -> Result<()> {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
        .map_err(|e| Error::Parse { what: "a Namespace".into(), detail: e.to_string() })?;
    match Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).kube(|| format!("create namespace {name}")),
    }
}

/// One object of the sample cluster.
enum SampleObject {
    Deployment(String, Value),
    Service(String, Value),
    ConfigMap(String, Value),
    Secret(String, Value),
}

/// Creates `namespaces` namespaces, each with 4 Deployments (3 replicas), 8 Services,
/// 40 ConfigMaps and 30 Secrets, 64 requests at a time. Returns the number created.
async fn load_sample_cluster(client: &Client, namespaces: usize) -> Result<usize> {
    let names: Vec<String> = (0..namespaces).map(|i| format!("sample-{i:02}")).collect();
    let created_ns = stream::iter(names.iter())
        .map(|n| create_namespace(client, n, &[(SAMPLE_LABEL, "true")]))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    created_ns.into_iter().collect::<Result<Vec<()>>>()?;

    let mut objects = Vec::new();
    for ns in &names {
        for d in 0..4 {
            let app = format!("app-{d}");
            objects.push(SampleObject::Deployment(ns.clone(), json!({
                "metadata": {"name": app, "labels": {"app": app, "tier": if d % 2 == 0 { "web" } else { "worker" }}},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": app}},
                    "template": {
                        "metadata": {"labels": {"app": app}},
                        "spec": {"containers": [{
                            "name": "main",
                            "image": format!("registry.example/{app}:1.{d}"),
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }]},
                    },
                },
            })));
        }
        for s in 0..8 {
            objects.push(SampleObject::Service(ns.clone(), json!({
                "metadata": {"name": format!("svc-{s}")},
                "spec": {"selector": {"app": format!("app-{}", s % 4)}, "ports": [{"port": 80, "targetPort": "http"}]},
            })));
        }
        for c in 0..40 {
            objects.push(SampleObject::ConfigMap(
                ns.clone(),
                json!({
                    "metadata": {"name": format!("config-{c}"), "labels": {"demo": "true"}},
                    "data": {"key": format!("value-{c}")},
                }),
            ));
        }
        for s in 0..30 {
            objects.push(SampleObject::Secret(
                ns.clone(),
                json!({
                    "metadata": {"name": format!("secret-{s}")},
                    "type": "Opaque",
                    "stringData": {"token": format!("t{s}")},
                }),
            ));
        }
    }
    let total = objects.len() + names.len();
    let results = stream::iter(objects)
        .map(|o| create_sample(client, o))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(total)
}

async fn create_sample(client: &Client, object: SampleObject) -> Result<()> {
    async fn create<K>(client: &Client, ns: &str, v: Value) -> Result<()>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let kind = K::kind(&());
        let obj: K = serde_json::from_value(v)
            .map_err(|e| Error::Parse { what: format!("a {kind}"), detail: e.to_string() })?;
        let name = obj.meta().name.clone().unwrap_or_default();
        match Api::<K>::namespaced(client.clone(), ns).create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e).kube(|| format!("create {kind} {ns}/{name}")),
        }
    }
    match object {
        SampleObject::Deployment(ns, v) => create::<Deployment>(client, &ns, v).await,
        SampleObject::Service(ns, v) => create::<Service>(client, &ns, v).await,
        SampleObject::ConfigMap(ns, v) => create::<ConfigMap>(client, &ns, v).await,
        SampleObject::Secret(ns, v) => create::<Secret>(client, &ns, v).await,
    }
}

/// One exporter pod of the fleet, from the API and the process kubelet.
struct FleetPod {
    name: String,
    /// `shard` or `pods`.
    role: String,
    instance: String,
    node: String,
    api_ready: bool,
    local: Option<LocalPod>,
}

/// What the fleet looks like now.
struct Fleet {
    desired_shards: i64,
    ready_shards: i64,
    cr_ready: bool,
    pods: Vec<FleetPod>,
    error: Option<String>,
}

impl Fleet {
    async fn observe(client: &Client, kubelet: &ProcessKubelet) -> Fleet {
        let mut fleet =
            Fleet { desired_shards: 0, ready_shards: 0, cr_ready: false, pods: Vec::new(), error: None };
        let url = format!("/apis/statefleet.io/v1alpha1/namespaces/{FLEET_NAMESPACE}/kubestatemetrics");
        let cr: Option<Value> = async {
            let req = ::http::Request::get(&url).body(Vec::new()).ok()?;
            client.request::<Value>(req).await.ok()
        }
        .await;
        if let Some(items) = cr.as_ref().and_then(|v| v["items"].as_array()) {
            for item in items {
                let status = &item["status"];
                fleet.desired_shards += status["desiredShards"].as_i64().unwrap_or(0);
                fleet.ready_shards += status["readyShards"].as_i64().unwrap_or(0);
                fleet.cr_ready = status["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            }
        }
        let local = kubelet.pods();
        let lp = ListParams::default().labels("app.kubernetes.io/managed-by");
        match Api::<Pod>::namespaced(client.clone(), FLEET_NAMESPACE).list(&lp).await {
            Ok(list) => {
                for pod in list.items {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    let labels = pod.metadata.labels.clone().unwrap_or_default();
                    let status = pod.status.as_ref();
                    let api_ready = status
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                    fleet.pods.push(FleetPod {
                        role: labels.get("statefleet.io/role").cloned().unwrap_or_default(),
                        instance: labels.get("app.kubernetes.io/instance").cloned().unwrap_or_default(),
                        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
                        api_ready,
                        local: local.get(&format!("{FLEET_NAMESPACE}/{name}")).cloned(),
                        name,
                    });
                }
            }
            Err(e) => fleet.error = Some(format!("list the fleet's pods: {e}")),
        }
        // Shards in ordinal order, then the pod exporters.
        fleet.pods.sort_by_key(|p| (p.role != "shard", ordinal(&p.name), p.name.clone()));
        fleet
    }

    /// file_sd target groups: both ports of every running pod, labelled as the operator's
    /// ServiceMonitor labels them (`job` = fleet, `service` = shards or pod exporters).
    fn targets(&self) -> Value {
        let mut groups = Vec::new();
        for pod in &self.pods {
            let Some(local) = &pod.local else { continue };
            let service =
                if pod.role == "shard" { pod.instance.clone() } else { format!("{}-pods", pod.instance) };
            for (port, endpoint) in
                [(EXPORTER_METRICS_PORT, "http-metrics"), (EXPORTER_TELEMETRY_PORT, "telemetry")]
            {
                let Some(addr) = local.addr(port) else { continue };
                groups.push(json!({
                    "targets": [addr.to_string()],
                    "labels": {
                        "job": pod.instance,
                        "namespace": FLEET_NAMESPACE,
                        "service": service,
                        "pod": pod.name,
                        "endpoint": endpoint,
                        "__scrape_endpoint__": endpoint,
                    },
                }));
            }
        }
        Value::Array(groups)
    }
}

fn ordinal(name: &str) -> u64 {
    name.rsplit('-').next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX)
}

/// Telemetry of one pod.
#[derive(Default)]
struct PodStats {
    objects: f64,
    series: f64,
    shard: Option<f64>,
    total_shards: Option<f64>,
    error: Option<String>,
}

struct Report {
    fleet: Fleet,
    stats: Vec<PodStats>,
    targets_up: usize,
    targets_total: usize,
    firing: Vec<String>,
    pending_alerts: usize,
    rule_groups: usize,
    prom_error: Option<String>,
}

impl Report {
    async fn collect(fleet: &Fleet, prom: &Prometheus) -> Report {
        let stats = futures::future::join_all(fleet.pods.iter().map(|p| async move {
            let Some(local) = &p.local else {
                return PodStats { error: Some("not running yet".into()), ..Default::default() };
            };
            match local.scrape(EXPORTER_TELEMETRY_PORT).await {
                Ok(text) => parse_telemetry(&text),
                Err(e) => PodStats { error: Some(e.to_string()), ..Default::default() },
            }
        }))
        .await;
        let mut report = Report {
            fleet: Fleet {
                desired_shards: fleet.desired_shards,
                ready_shards: fleet.ready_shards,
                cr_ready: fleet.cr_ready,
                pods: Vec::new(),
                error: fleet.error.clone(),
            },
            stats,
            targets_up: 0,
            targets_total: 0,
            firing: Vec::new(),
            pending_alerts: 0,
            rule_groups: 0,
            prom_error: None,
        };
        match prom.api("/api/v1/targets?state=active").await {
            Ok(v) => {
                if let Some(ts) = v["data"]["activeTargets"].as_array() {
                    report.targets_total = ts.len();
                    report.targets_up = ts.iter().filter(|t| t["health"] == "up").count();
                }
            }
            Err(e) => report.prom_error = Some(e.to_string()),
        }
        match prom.api("/api/v1/alerts").await {
            Ok(v) => {
                for a in v["data"]["alerts"].as_array().into_iter().flatten() {
                    if a["state"] == "firing" {
                        let l = &a["labels"];
                        report.firing.push(format!(
                            "{} (job={}, service={})",
                            l["alertname"].as_str().unwrap_or("?"),
                            l["job"].as_str().unwrap_or(""),
                            l["service"].as_str().unwrap_or("")
                        ));
                    } else {
                        report.pending_alerts += 1;
                    }
                }
            }
            Err(e) => report.prom_error = Some(e.to_string()),
        }
        match prom.api("/api/v1/rules").await {
            Ok(v) => {
                report.rule_groups = v["data"]["groups"].as_array().map_or(0, Vec::len);
            }
            Err(e) => report.prom_error = Some(e.to_string()),
        }
        // Keep a copy of the pods for rendering.
        report.fleet.pods = fleet
            .pods
            .iter()
            .map(|p| FleetPod {
                name: p.name.clone(),
                role: p.role.clone(),
                instance: p.instance.clone(),
                node: p.node.clone(),
                api_ready: p.api_ready,
                local: p.local.clone(),
            })
            .collect();
        report
    }

    /// Every shard ready and serving, every target up, no alert firing.
    fn healthy(&self) -> bool {
        let f = &self.fleet;
        f.desired_shards > 0
            && f.ready_shards == f.desired_shards
            && f.cr_ready
            && !f.pods.is_empty()
            && f.pods.iter().all(|p| p.api_ready && p.local.as_ref().is_some_and(|l| l.ready))
            // Shards always hold objects; the unscheduled-pods exporter holds none on a
            // cluster where every pod is bound.
            && f.pods.iter().zip(&self.stats).all(|(p, s)| s.error.is_none() && (p.role != "shard" || s.objects > 0.0))
            && self.targets_total == 2 * f.pods.len()
            && self.targets_up == self.targets_total
            && self.rule_groups > 0
            && self.firing.is_empty()
            && self.prom_error.is_none()
    }

    /// What is not ready yet, in one line.
    fn pending(&self) -> String {
        let f = &self.fleet;
        let not_ready: Vec<&str> = f
            .pods
            .iter()
            .filter(|p| !(p.api_ready && p.local.as_ref().is_some_and(|l| l.ready)))
            .map(|p| p.name.as_str())
            .collect();
        let mut out = format!(
            "shards {}/{} ready (Ready={}), {} exporter pods ({} not ready: {not_ready:?}), \
             Prometheus targets {}/{} up, {} alerts firing",
            f.ready_shards,
            f.desired_shards,
            f.cr_ready,
            f.pods.len(),
            not_ready.len(),
            self.targets_up,
            self.targets_total,
            self.firing.len()
        );
        if let Some(e) = f.error.as_ref().or(self.prom_error.as_ref()) {
            let _ = write!(out, "; error: {e}");
        }
        out
    }

    fn render(&self, prom: &Prometheus, cp: &ControlPlane) -> String {
        let f = &self.fleet;
        let mut out = String::new();
        let _ = writeln!(out, "\n==== statefleet demo ({}) ====", clock());
        let _ =
            writeln!(out, "API server   {}   (kubeconfig {})", cp.server_url(), cp.kubeconfig().display());
        let _ = writeln!(
            out,
            "Prometheus   http://{}   targets {}/{} up, {} rule groups",
            prom.addr, self.targets_up, self.targets_total, self.rule_groups
        );
        let _ = writeln!(
            out,
            "Fleet        {FLEET_NAMESPACE}/{}: shards {}/{} ready, {} exporter pods",
            f.pods.first().map_or("?", |p| p.instance.as_str()),
            f.ready_shards,
            f.desired_shards,
            f.pods.len()
        );
        let w = f.pods.iter().map(|p| p.name.len()).max().unwrap_or(3).max(5);
        let _ = writeln!(
            out,
            "\n  {:<w$} {:<16} {:>5} {:>8} {:>8}  {:<31} TELEMETRY",
            "POD", "ROLE", "READY", "OBJECTS", "SERIES", "METRICS"
        );
        let (mut objects, mut series) = (0.0, 0.0);
        for (p, s) in f.pods.iter().zip(&self.stats) {
            let role = match (p.role.as_str(), s.shard, s.total_shards) {
                ("shard", Some(n), Some(t)) => format!("shard {n}/{t}"),
                ("shard", ..) => "shard".into(),
                ("pods", ..) if p.name.contains("unscheduled") => "unbound pods".into(),
                ("pods", ..) => format!("pods@{}", p.node),
                (role, ..) => role.to_string(),
            };
            let ready = p.api_ready && p.local.as_ref().is_some_and(|l| l.ready);
            let url = |port| {
                p.local
                    .as_ref()
                    .and_then(|l| l.addr(port))
                    .map_or_else(|| "-".to_string(), |a| format!("http://{a}/metrics"))
            };
            objects += s.objects;
            series += s.series;
            let _ = writeln!(
                out,
                "  {:<w$} {:<16} {:>5} {:>8} {:>8}  {:<31} {}{}",
                p.name,
                role,
                if ready { "yes" } else { "no" },
                s.objects,
                s.series,
                url(EXPORTER_METRICS_PORT),
                url(EXPORTER_TELEMETRY_PORT),
                s.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
            );
        }
        let _ = writeln!(out, "  {:<w$} {:<16} {:>5} {:>8} {:>8}", "total", "", "", objects, series);
        if self.firing.is_empty() {
            let _ = writeln!(out, "\nAlerts firing: none ({} pending)", self.pending_alerts);
        } else {
            let _ = writeln!(out, "\nAlerts firing: {}", self.firing.len());
            for a in &self.firing {
                let _ = writeln!(out, "  - {a}");
            }
        }
        if let Some(e) = f.error.as_ref().or(self.prom_error.as_ref()) {
            let _ = writeln!(out, "Error: {e}");
        }
        out
    }
}

fn clock() -> String {
    statefleet_e2e::rfc3339_now()
}

/// Sums statefleet_resource_objects/series and reads the shard gauges from a telemetry page.
fn parse_telemetry(text: &str) -> PodStats {
    let mut stats = PodStats::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap_or("");
        let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        match name {
            "statefleet_resource_objects" => stats.objects += value,
            "statefleet_resource_series" => stats.series += value,
            "kube_state_metrics_shard_ordinal" => stats.shard = Some(value),
            "kube_state_metrics_total_shards" => stats.total_shards = Some(value),
            _ => {}
        }
    }
    stats
}

/// Prometheus 3 scraping the fleet through a file_sd file.
struct Prometheus {
    proc: Supervised,
    addr: SocketAddr,
    sd_file: PathBuf,
    last_targets: Option<Value>,
    // Removed on drop, after the process stopped (fields drop in order).
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(bin: &Path, rules: &Path) -> Result<Prometheus> {
        let dir = temp_dir("statefleet-demo-prometheus-")?;
        let sd_file = dir.path().join("targets.json");
        write_atomic(&sd_file, "[]")?;
        let config = format!(
            "global:\n  scrape_interval: {PROM_INTERVAL}\n  scrape_timeout: 4s\n  evaluation_interval: {PROM_INTERVAL}\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n\
             - job_name: statefleet-metrics\n  honor_labels: true\n  file_sd_configs:\n  - files: [{sd}]\n    refresh_interval: 5s\n  \
             relabel_configs:\n  - source_labels: [__scrape_endpoint__]\n    regex: http-metrics\n    action: keep\n\
             - job_name: statefleet-telemetry\n  file_sd_configs:\n  - files: [{sd}]\n    refresh_interval: 5s\n  \
             relabel_configs:\n  - source_labels: [__scrape_endpoint__]\n    regex: telemetry\n    action: keep\n",
            rules = rules.display(),
            sd = sd_file.display(),
        );
        let config_file = dir.path().join("prometheus.yml");
        write_atomic(&config_file, &config)?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = process::free_port()?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let args = vec![
                format!("--config.file={}", config_file.display()),
                format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                format!("--web.listen-address={addr}"),
                "--log.level=warn".into(),
            ];
            let log = dir.path().join("prometheus.log");
            let mut proc = Supervised::spawn("prometheus", bin, &args, &log, Stop::Term, &[])?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = proc.exited() {
                    last = format!("exited with {status}; log tail:\n{}", proc.log_tail(20));
                    break;
                }
                if http::get(addr, "/-/ready").await.is_ok_and(|r| r.status == 200) {
                    return Ok(Prometheus { proc, addr, sd_file, last_targets: None, _dir: dir });
                }
                if Instant::now() > deadline {
                    last = format!("not ready after 30s; log tail:\n{}", proc.log_tail(20));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Err(Error::Process { what: "start prometheus".into(), detail: last })
    }

    /// Rewrites the file_sd file when the targets changed.
    fn set_targets(&mut self, targets: &Value) -> Result<()> {
        if self.last_targets.as_ref() == Some(targets) {
            return Ok(());
        }
        write_atomic(&self.sd_file, &serde_json::to_string_pretty(targets).unwrap_or_else(|_| "[]".into()))?;
        self.last_targets = Some(targets.clone());
        Ok(())
    }

    async fn api(&self, path: &str) -> Result<Value> {
        let r = http::get(self.addr, path).await?;
        if r.status != 200 {
            return Err(Error::Process {
                what: format!("GET {path} from Prometheus"),
                detail: format!("HTTP {}", r.status),
            });
        }
        serde_json::from_slice(&r.body).map_err(|e| Error::Parse {
            what: format!("Prometheus' answer to {path}"),
            detail: e.to_string(),
        })
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.proc.stop();
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::Io { what: format!("write {}", path.display()), source })
}
