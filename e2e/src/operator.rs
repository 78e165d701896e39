//! The operator under test: its CRDs installed with server-side apply from `crds/`, the
//! `statefleet-operator` binary run as a supervised local process against the control plane, and
//! helpers to apply `KubeStateMetrics` custom resources and wait for their status.
//!
//! ```text
//! install_crds(&client).await?;                       // once per binary, idempotent
//! let op = Operator::start(&ns).await?;              // --namespace=<ns> --leader-election=false
//! apply_yaml(&client, ns.name(), &sample("small")?).await?;
//! let ksm = wait_ready(&client, ns.name(), "kube-state-metrics", 1, LIMIT).await?;
//! ```

use crate::{
    Error, IoContext, KubeContext, Poll, Result, TestNs, http,
    process::{self, Stop, Supervised},
    wait_for,
};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde_json::Value;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

/// The custom resource's group.
pub const GROUP: &str = "statefleet.io";
/// The custom resource's version.
pub const VERSION: &str = "v1alpha1";
/// The custom resource's kind.
pub const KIND: &str = "KubeStateMetrics";
/// The custom resource's plural.
pub const PLURAL: &str = "kubestatemetrics";
/// The field manager of the harness's own server-side applies.
pub const FIELD_MANAGER: &str = "statefleet-e2e";
/// Label every child of a fleet carries, with [`MANAGED_BY`].
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The operator's field manager and `managed-by` label value.
pub const MANAGED_BY: &str = "statefleet-operator";
/// Label naming the custom resource a child belongs to.
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";

/// How long the operator may take to answer `/readyz`.
const OPERATOR_READY_LIMIT: Duration = Duration::from_secs(30);

/// `KubeStateMetrics` as a dynamic API resource.
pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// `KubeStateMetrics` in `namespace`.
pub fn ksm_api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &api_resource())
}

/// Name of the fleet's ClusterRole and ClusterRoleBinding (the operator's
/// `cluster_scoped_name`).
pub fn cluster_scoped_name(namespace: &str, name: &str) -> String {
    format!("statefleet:{namespace}:{name}")
}

/// The operator binary: `$STATEFLEET_OPERATOR` or `<target>/debug/statefleet-operator`.
pub fn operator_bin() -> Result<PathBuf> {
    let path = match std::env::var_os("STATEFLEET_OPERATOR").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| process::workspace_root().join("target"))
            .join("debug/statefleet-operator"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Process {
            what: "find the operator binary".into(),
            detail: format!(
                "{} does not exist; run `cargo build -p statefleet-operator` (or set STATEFLEET_OPERATOR)",
                path.display()
            ),
        })
    }
}

/// The text of `config/samples/<name>.yaml`.
pub fn sample(name: &str) -> Result<String> {
    let path = process::workspace_root().join(format!("config/samples/{name}.yaml"));
    std::fs::read_to_string(&path).io(|| format!("read {}", path.display()))
}

/// `metadata.name` of a one-object YAML document (the first `name:` indented by two under
/// `metadata:`), enough for the CRD and sample files.
pub fn yaml_name(yaml: &str) -> Option<String> {
    let mut in_meta = false;
    for line in yaml.lines() {
        if line.starts_with("metadata:") {
            in_meta = true;
        } else if in_meta && let Some(rest) = line.strip_prefix("  name:") {
            return Some(rest.trim().trim_matches(['"', '\'']).to_string());
        } else if in_meta && !line.starts_with(' ') && !line.trim().is_empty() {
            in_meta = false;
        }
    }
    None
}

/// Server-side applies a YAML document (the API server takes YAML apply patches) to `path`
/// (the object's URL path), forcing ownership for the harness's field manager.
async fn apply_raw(client: &Client, path: &str, yaml: &str) -> Result<Value> {
    let req = ::http::Request::patch(format!("{path}?fieldManager={FIELD_MANAGER}&force=true"))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(yaml.as_bytes().to_vec())
        .map_err(|e| Error::Process { what: format!("build the apply of {path}"), detail: e.to_string() })?;
    let text = client.request_text(req).await.kube(|| format!("apply {path}"))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Parse { what: format!("the answer to apply {path}"), detail: e.to_string() })
}

/// Installs (or updates) every CRD in `<workspace>/crds/` with server-side apply and waits until
/// each is established and its resources are served. Idempotent; safe to call from concurrent
/// tests.
pub async fn install_crds(client: &Client) -> Result<()> {
    let dir = process::workspace_root().join("crds");
    let mut names = Vec::new();
    let entries = std::fs::read_dir(&dir).io(|| format!("list {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    for file in files {
        let yaml = std::fs::read_to_string(&file).io(|| format!("read {}", file.display()))?;
        let name = yaml_name(&yaml).ok_or_else(|| Error::Parse {
            what: file.display().to_string(),
            detail: "no metadata.name".into(),
        })?;
        apply_raw(client, &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"), &yaml)
            .await?;
        names.push(name);
    }
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    for name in names {
        wait_for(
            &format!("CRD {name} to be established"),
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let (crds, name) = (crds.clone(), name.clone());
                async move {
                    let crd = crds.get(&name).await.kube(|| format!("get CRD {name}"))?;
                    Ok(if condition_status(&crd.data, "Established").as_deref() == Some("True") {
                        Poll::Ready(())
                    } else {
                        Poll::Pending(format!("conditions {}", crd.data["status"]["conditions"]))
                    })
                }
            },
        )
        .await?;
    }
    // Established CRDs can take a moment to be served to clients.
    wait_for("KubeStateMetrics to be served", Duration::from_secs(30), Duration::from_millis(200), || async {
        Ok(match ksm_api(client, "default").list(&Default::default()).await {
            Ok(_) => Poll::Ready(()),
            Err(e) => Poll::Pending(e.to_string()),
        })
    })
    .await
}

/// Server-side applies a `KubeStateMetrics` YAML document (e.g. a [`sample`]) into `namespace`;
/// returns the object as stored.
pub async fn apply_yaml(client: &Client, namespace: &str, yaml: &str) -> Result<Value> {
    let name = yaml_name(yaml).ok_or_else(|| Error::Parse {
        what: "the custom resource's YAML".into(),
        detail: "no metadata.name".into(),
    })?;
    apply_raw(client, &format!("/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"), yaml).await
}

/// A `KubeStateMetrics` document with `spec` (JSON is YAML).
pub fn ksm_doc(name: &str, spec: Value) -> String {
    serde_json::json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": KIND,
        "metadata": {"name": name},
        "spec": spec,
    })
    .to_string()
}

/// Creates a `KubeStateMetrics` with `spec`; the error carries the API server's message (the
/// CEL validation messages on rejection).
pub async fn create_ksm(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: Value,
) -> kube::Result<DynamicObject> {
    let obj: DynamicObject = serde_json::from_str(&ksm_doc(name, spec)).expect("a KubeStateMetrics document");
    ksm_api(client, namespace).create(&Default::default(), &obj).await
}

/// `status` of the condition `type_` in an object's `status.conditions`.
pub fn condition_status(obj: &Value, type_: &str) -> Option<String> {
    condition(obj, type_).and_then(|c| c["status"].as_str().map(str::to_string))
}

/// The condition `type_` of an object's `status.conditions`.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

/// One line about a custom resource's status, for timeouts.
pub fn describe_status(obj: &Value) -> String {
    let s = &obj["status"];
    let conds: Vec<String> = s["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{}={} ({}: {})",
                        c["type"].as_str().unwrap_or("?"),
                        c["status"],
                        c["reason"],
                        c["message"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "generation {} observedGeneration {} desiredShards {} readyShards {} conditions [{}]",
        obj["metadata"]["generation"],
        s["observedGeneration"],
        s["desiredShards"],
        s["readyShards"],
        conds.join("; ")
    )
}

/// Waits until the custom resource's status is about its current generation, `Ready=True`, and
/// reports `shards` desired and ready shards; returns the object.
pub async fn wait_ready(
    client: &Client,
    namespace: &str,
    name: &str,
    shards: i64,
    timeout: Duration,
) -> Result<Value> {
    let api = ksm_api(client, namespace);
    wait_for(
        &format!("KubeStateMetrics {namespace}/{name} to be Ready with {shards} shards"),
        timeout,
        Duration::from_millis(200),
        || {
            let api = api.clone();
            async move {
                let obj = api.get(name).await.kube(|| format!("get KubeStateMetrics {name}"))?;
                let v = serde_json::to_value(&obj)
                    .map_err(|e| Error::Parse { what: "a KubeStateMetrics".into(), detail: e.to_string() })?;
                let s = &v["status"];
                let current = s["observedGeneration"] == v["metadata"]["generation"];
                let ready = condition_status(&v, "Ready").as_deref() == Some("True");
                Ok(if current && ready && s["desiredShards"] == shards && s["readyShards"] == shards {
                    Poll::Ready(v)
                } else {
                    Poll::Pending(describe_status(&v))
                })
            }
        },
    )
    .await
}

/// A running `statefleet-operator` watching one namespace, with leader election off. Stopped
/// (SIGTERM) on drop; its log is printed when dropped during a panic.
pub struct Operator {
    proc: Supervised,
    metrics: SocketAddr,
    health: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Operator {
    /// Starts the operator for `ns` with the admin kubeconfig and waits until `/readyz` says 200.
    pub async fn start(ns: &TestNs) -> Result<Self> {
        Self::start_with(ns.kubeconfig(), Some(ns.name()), &[]).await
    }

    /// Starts the operator with `kubeconfig`, watching `namespace` (every namespace when
    /// `None`), with `extra` flags.
    pub async fn start_with(kubeconfig: &Path, namespace: Option<&str>, extra: &[String]) -> Result<Self> {
        let bin = operator_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("statefleet-e2e-operator-")
            .tempdir()
            .io(|| "create the operator's log directory".into())?;
        let (metrics_port, health_port) = (process::free_port()?, process::free_port()?);
        let mut args = vec![
            format!("--kubeconfig={}", kubeconfig.display()),
            "--leader-election=false".into(),
            "--log-format=text".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--metrics-port={metrics_port}"),
            format!("--health-port={health_port}"),
        ];
        if let Some(ns) = namespace {
            args.push(format!("--namespace={ns}"));
        }
        args.extend(extra.iter().cloned());
        let log = dir.path().join("operator.log");
        let mut proc = Supervised::spawn("statefleet-operator", &bin, &args, &log, Stop::Term, &[])?;
        let health = SocketAddr::from(([127, 0, 0, 1], health_port));
        let started =
            wait_for("the operator's /readyz", OPERATOR_READY_LIMIT, Duration::from_millis(100), || {
                let exited = proc.exited();
                async move {
                    if let Some(status) = exited {
                        return Ok(Poll::Ready(Err(format!("it exited: {status}"))));
                    }
                    Ok(match http::get(health, "/readyz").await {
                        Ok(r) if r.status == 200 => Poll::Ready(Ok(())),
                        Ok(r) => Poll::Pending(format!("status {}", r.status)),
                        Err(e) => Poll::Pending(e.to_string()),
                    })
                }
            })
            .await
            .and_then(|r| r.map_err(|detail| Error::Process { what: "run the operator".into(), detail }));
        if let Err(e) = started {
            return Err(Error::Process {
                what: "start the operator".into(),
                detail: format!("{e}\n{}", proc.log_tail(40)),
            });
        }
        Ok(Self { proc, metrics: SocketAddr::from(([127, 0, 0, 1], metrics_port)), health, _dir: dir })
    }

    /// Address of `/metrics`.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
    }

    /// Address of `/healthz` and `/readyz`.
    pub fn health_addr(&self) -> SocketAddr {
        self.health
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.proc.exited().is_none()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- statefleet-operator log (last 80 lines) ---\n{}", self.proc.log_tail(80));
        }
        self.proc.stop();
    }
}
