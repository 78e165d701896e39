//! A real Kubernetes control plane on loopback: etcd, kube-apiserver (token auth, RBAC),
//! kube-controller-manager (without the node lifecycle controller, since no kubelet renews node
//! Leases) and kube-scheduler, plus Node objects that look Ready so pods get scheduled.
//!
//! [`ControlPlane::shared`] starts one per test binary on first use. Tests that break the control
//! plane on purpose ([`ControlPlane::restart_apiserver`], [`ControlPlane::compact_etcd`]) start
//! their own with [`ControlPlane::start`].

use crate::{
    Error, IoContext, KubeContext, Result, http,
    pki::{self, Pki},
    process::{self, Stop, Supervised},
    random_hex,
};
use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Node, ServiceAccount},
};
use kube::{
    Api, Client, Config,
    api::{Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::{sync::OnceCell, time::Instant};

/// Version the cluster binaries are built at (scripts/versions.env).
pub const KUBERNETES_VERSION: &str = "v1.37.2";
/// A static user without any RBAC binding, for forbidden-path tests.
pub const RESTRICTED_USER: &str = "e2e-restricted";
/// Label put on everything the harness registers cluster-wide (nodes) or creates (namespaces).
pub const E2E_LABEL: &str = "statefleet.io/e2e";

const START_ATTEMPTS: usize = 3;

/// How to start a control plane.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    /// Number of Node objects to register (`e2e-node-0` ...).
    pub nodes: usize,
    /// Extra kube-apiserver flags, e.g. `--feature-gates=ShardedListAndWatch=true`.
    pub apiserver_args: Vec<String>,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        Self { nodes: 3, apiserver_args: Vec::new() }
    }
}

/// A running control plane. Dropping it stops every process and removes its directory (kept,
/// and printed, when `STATEFLEET_E2E_KEEP` is set).
pub struct ControlPlane {
    dir: PathBuf,
    pki: Pki,
    options: ControlPlaneOptions,
    etcd_client: SocketAddr,
    apiserver_port: u16,
    admin_token: String,
    restricted_token: String,
    kubeconfig: PathBuf,
    nodes: Vec<String>,
    // Stopped in this order on drop: users of the API first, etcd last.
    scheduler: Option<Supervised>,
    controller_manager: Option<Supervised>,
    apiserver: Option<Supervised>,
    etcd: Option<Supervised>,
}

static SHARED: OnceCell<std::result::Result<ControlPlane, String>> = OnceCell::const_new();

impl ControlPlane {
    /// The control plane shared by every test of this binary, started on first use. A failed start
    /// is remembered, so the other tests fail at once with the same message.
    ///
    /// It is never dropped; its supervisors stop the processes and remove its directory when the
    /// test binary exits.
    pub async fn shared() -> Result<&'static ControlPlane> {
        SHARED
            .get_or_init(|| async {
                Self::start_inner(ControlPlaneOptions::default(), true).await.map_err(|e| e.to_string())
            })
            .await
            .as_ref()
            .map_err(|detail| Error::Process {
                what: "start the shared control plane".into(),
                detail: detail.clone(),
            })
    }

    /// Starts a control plane of its own with default options.
    pub async fn start() -> Result<Self> {
        Self::start_with(ControlPlaneOptions::default()).await
    }

    /// Starts a control plane of its own.
    pub async fn start_with(options: ControlPlaneOptions) -> Result<Self> {
        Self::start_inner(options, false).await
    }

    async fn start_inner(options: ControlPlaneOptions, shared: bool) -> Result<Self> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("statefleet-e2e-")
            .tempdir()
            .io(|| "create the control plane directory".into())?
            .keep();
        let pki = pki::generate(&dir)?;
        let admin_token = random_hex(16);
        let restricted_token = random_hex(16);
        let tokens = dir.join("tokens.csv");
        std::fs::write(
            &tokens,
            format!(
                "{admin_token},admin,admin-uid,\"system:masters\"\n\
                 {restricted_token},{RESTRICTED_USER},{RESTRICTED_USER}-uid\n"
            ),
        )
        .io(|| format!("write {}", tokens.display()))?;
        let mut cp = ControlPlane {
            kubeconfig: dir.join("admin.kubeconfig"),
            dir,
            pki,
            options,
            etcd_client: SocketAddr::from(([127, 0, 0, 1], 0)),
            apiserver_port: 0,
            admin_token,
            restricted_token,
            nodes: Vec::new(),
            scheduler: None,
            controller_manager: None,
            apiserver: None,
            etcd: None,
        };
        // When shared, etcd's supervisor removes the directory once the test binary is gone.
        cp.start_etcd(shared && !crate::keep_on_failure()).await?;
        cp.start_apiserver_retrying().await?;
        cp.start_controllers()?;
        let client = cp.client().await?;
        cp.register_nodes(&client).await?;
        cp.wait_controllers(&client).await?;
        eprintln!(
            "statefleet-e2e: control plane {} up in {:.1?} (dir {})",
            cp.server_url(),
            started.elapsed(),
            cp.dir.display()
        );
        Ok(cp)
    }

    fn bin(name: &str) -> Result<PathBuf> {
        process::cluster_bin(name)
    }

    async fn start_etcd(&mut self, cleanup_dir: bool) -> Result<()> {
        let etcd = Self::bin("etcd")?;
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let (client_port, peer_port) = (process::free_port()?, process::free_port()?);
            let client = format!("http://127.0.0.1:{client_port}");
            let peer = format!("http://127.0.0.1:{peer_port}");
            let data = self.dir.join(format!("etcd-data-{attempt}"));
            let args = vec![
                "--name=e2e".into(),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={client}"),
                format!("--advertise-client-urls={client}"),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--initial-cluster=e2e={peer}"),
                "--log-level=warn".into(),
                // Throwaway data: no fsync latency on a shared build machine.
                "--unsafe-no-fsync".into(),
            ];
            let cleanup: Vec<&Path> = if cleanup_dir { vec![&self.dir] } else { vec![] };
            let log = self.dir.join("etcd.log");
            let mut proc = Supervised::spawn("etcd", &etcd, &args, &log, Stop::Kill, &cleanup)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], client_port));
            let ready = await_ready(&mut proc, Duration::from_secs(30), || async move {
                let r = http::get(addr, "/health").await?;
                Ok(r.status == 200 && r.text().contains("true"))
            })
            .await;
            match ready {
                Ok(()) => {
                    self.etcd_client = addr;
                    self.etcd = Some(proc);
                    return Ok(());
                }
                Err(detail) => last = detail,
            }
        }
        Err(Error::Process { what: format!("start etcd ({START_ATTEMPTS} attempts)"), detail: last })
    }

    async fn start_apiserver_retrying(&mut self) -> Result<()> {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = process::free_port()?;
            match self.start_apiserver(port).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::Process {
            what: format!("start kube-apiserver ({START_ATTEMPTS} attempts)"),
            detail: last,
        })
    }

    async fn start_apiserver(&mut self, port: u16) -> Result<()> {
        let bin = Self::bin("kube-apiserver")?;
        let d = |p: &Path| p.display().to_string();
        let mut args = vec![
            format!("--etcd-servers=http://{}", self.etcd_client),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            // The endpoint reconciler refuses a loopback advertise address; nothing in the tests
            // reaches the API server through the `kubernetes` Service.
            "--endpoint-reconciler-type=none".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", d(&self.dir.join("apiserver-certs"))),
            format!("--tls-cert-file={}", d(&self.pki.serving_cert)),
            format!("--tls-private-key-file={}", d(&self.pki.serving_key)),
            format!("--client-ca-file={}", d(&self.pki.ca_cert)),
            format!("--token-auth-file={}", d(&self.dir.join("tokens.csv"))),
            "--authorization-mode=Node,RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", d(&self.pki.sa_pub)),
            format!("--service-account-signing-key-file={}", d(&self.pki.sa_key)),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
            "--v=1".into(),
        ];
        args.extend(self.options.apiserver_args.iter().cloned());
        self.apiserver_port = port;
        self.write_kubeconfig(&self.kubeconfig, &self.admin_token.clone(), "admin")?;
        let log = self.dir.join("kube-apiserver.log");
        let mut proc = Supervised::spawn("kube-apiserver", &bin, &args, &log, Stop::Kill, &[])?;
        let client = self.client().await?;
        let ready = await_ready(&mut proc, Duration::from_secs(60), || {
            let client = client.clone();
            async move {
                // kube's client fails on HTTP errors, and /readyz answers 500 (with a body) while
                // post-start hooks still run: only a 200 counts.
                let req = ::http::Request::get("/readyz").body(Vec::new()).map_err(|e| Error::Parse {
                    what: "the /readyz request".into(),
                    detail: e.to_string(),
                })?;
                Ok(client.request_text(req).await.is_ok_and(|t| t.trim() == "ok"))
            }
        })
        .await;
        match ready {
            Ok(()) => {
                self.apiserver = Some(proc);
                Ok(())
            }
            Err(detail) => {
                Err(Error::Process { what: format!("start kube-apiserver on port {port}"), detail })
            }
        }
    }

    fn start_controllers(&mut self) -> Result<()> {
        let d = |p: &Path| p.display().to_string();
        let kc = d(&self.kubeconfig);
        let common = [
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            "--secure-port=0".into(),
            "--kube-api-qps=200".into(),
            "--kube-api-burst=400".into(),
        ];
        let mut kcm = common.to_vec();
        kcm.extend([
            format!("--service-account-private-key-file={}", d(&self.pki.sa_key)),
            format!("--root-ca-file={}", d(&self.pki.ca_cert)),
            format!("--cluster-signing-cert-file={}", d(&self.pki.ca_cert)),
            format!("--cluster-signing-key-file={}", d(&self.pki.ca_key)),
            // No kubelet renews node Leases here; the node lifecycle controller would taint and
            // then evict everything.
            "--controllers=*,-node-lifecycle-controller".into(),
        ]);
        self.controller_manager = Some(Supervised::spawn(
            "kube-controller-manager",
            &Self::bin("kube-controller-manager")?,
            &kcm,
            &self.dir.join("kube-controller-manager.log"),
            Stop::Kill,
            &[],
        )?);
        self.scheduler = Some(Supervised::spawn(
            "kube-scheduler",
            &Self::bin("kube-scheduler")?,
            &common,
            &self.dir.join("kube-scheduler.log"),
            Stop::Kill,
            &[],
        )?);
        Ok(())
    }

    /// Creates the Node objects, clears the not-ready taint the TaintNodesByCondition admission
    /// plugin puts on new nodes (the node lifecycle controller, which would lift it, is off), and
    /// posts a Ready status with allocatable resources.
    async fn register_nodes(&mut self, client: &Client) -> Result<()> {
        let api: Api<Node> = Api::all(client.clone());
        for i in 0..self.options.nodes {
            let name = format!("e2e-node-{i}");
            let node: Node = serde_json::from_value(json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/zone": format!("zone-{}", i % 2),
                        E2E_LABEL: "true",
                    },
                },
            }))
            .map_err(|e| Error::Parse { what: "the Node fixture".into(), detail: e.to_string() })?;
            api.create(&PostParams::default(), &node).await.kube(|| format!("create node {name}"))?;
            api.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"taints": null}})))
                .await
                .kube(|| format!("clear the taints of node {name}"))?;
            let resources = json!({
                "cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi",
            });
            let condition = |t: &str, s: &str, reason: &str| json!({"type": t, "status": s, "reason": reason, "message": "statefleet e2e stand-in kubelet"});
            let status = json!({"status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [
                    condition("Ready", "True", "KubeletReady"),
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                ],
                "addresses": [
                    {"type": "InternalIP", "address": format!("10.1.0.{}", i + 1)},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "machineID": format!("e2e-machine-{i}"),
                    "systemUUID": format!("e2e-uuid-{i}"),
                    "bootID": format!("e2e-boot-{i}"),
                    "kernelVersion": "6.1.0-e2e",
                    "osImage": "statefleet e2e",
                    "containerRuntimeVersion": "e2e://1.0.0",
                    "kubeletVersion": KUBERNETES_VERSION,
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            }});
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                .await
                .kube(|| format!("post the status of node {name}"))?;
            self.nodes.push(name);
        }
        Ok(())
    }

    /// Waits until the controller manager works (the `default` ServiceAccount, which pod creation
    /// needs, exists) while watching that neither controller process died.
    async fn wait_controllers(&mut self, client: &Client) -> Result<()> {
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for proc in [&mut self.controller_manager, &mut self.scheduler].into_iter().flatten() {
                if let Some(status) = proc.exited() {
                    return Err(Error::Process {
                        what: format!("run {}", proc.name()),
                        detail: format!("it exited with {status}; log tail:\n{}", proc.log_tail(30)),
                    });
                }
            }
            if sas.get_opt("default").await.ok().flatten().is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: "the controller manager to create the default ServiceAccount".into(),
                    waited: Duration::from_secs(60),
                    last: self.controller_manager.as_ref().map(|p| p.log_tail(20)).unwrap_or_default(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn write_kubeconfig(&self, path: &Path, token: &str, user: &str) -> Result<()> {
        write_kubeconfig(path, &self.server_url(), &self.pki.ca_cert, token, user)
    }

    /// What a component needs to reach this control plane, detached from it.
    pub fn access(&self) -> ClusterAccess {
        ClusterAccess {
            server: self.server_url(),
            ca_cert: self.pki.ca_cert.clone(),
            admin_kubeconfig: self.kubeconfig.clone(),
            nodes: self.nodes.clone(),
        }
    }

    /// The admin kubeconfig (user `admin` in `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.apiserver_port)
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The CA that signed the API server's serving certificate.
    pub fn ca_cert(&self) -> &Path {
        &self.pki.ca_cert
    }

    /// The control plane's directory (certificates, kubeconfigs, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registered node names.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// etcd's client address (plain HTTP).
    pub fn etcd_addr(&self) -> SocketAddr {
        self.etcd_client
    }

    /// Log files of the components that are running.
    pub fn logs(&self) -> Vec<PathBuf> {
        [&self.etcd, &self.apiserver, &self.controller_manager, &self.scheduler]
            .into_iter()
            .flatten()
            .map(|p| p.log().to_path_buf())
            .collect()
    }

    /// A new admin client. Clients are made per call: a `kube::Client` runs a task on the runtime
    /// that built it, and each `#[tokio::test]` has its own runtime.
    pub async fn client(&self) -> Result<Client> {
        client_from_kubeconfig(&self.kubeconfig).await
    }

    /// A kubeconfig for [`RESTRICTED_USER`], a static token user with no RBAC bindings (only what
    /// `system:authenticated` gets).
    pub fn restricted_user_kubeconfig(&self) -> Result<PathBuf> {
        let path = self.dir.join(format!("{RESTRICTED_USER}.kubeconfig"));
        self.write_kubeconfig(&path, &self.restricted_token, RESTRICTED_USER)?;
        Ok(path)
    }

    /// A kubeconfig with a one-hour token of ServiceAccount `namespace/name` (created if missing),
    /// written to `dir`. Bind roles to `system:serviceaccount:NAMESPACE:NAME` to grant access.
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
        dir: &Path,
    ) -> Result<PathBuf> {
        let client = self.client().await?;
        self.access().service_account_kubeconfig(&client, namespace, name, dir).await
    }

    /// Kills kube-apiserver and starts it again on the same port and etcd; returns once /readyz
    /// says ok. Clients reconnect on their own (the URL does not change).
    pub async fn restart_apiserver(&mut self) -> Result<()> {
        if let Some(mut old) = self.apiserver.take() {
            old.stop();
        }
        let port = self.apiserver_port;
        // The port was just released; a lingering socket can hold it for a moment.
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match self.start_apiserver(port).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Process {
            what: "restart kube-apiserver".into(),
            detail: "no attempt made".into(),
        }))
    }

    /// Compacts etcd's history up to its current revision (physically), so watches and lists
    /// from an older resourceVersion get 410 Gone once the API server's watch cache no longer
    /// has them. Returns the compacted revision.
    pub async fn compact_etcd(&self) -> Result<i64> {
        let range = http::request(
            self.etcd_client,
            "POST",
            "/v3/kv/range",
            &[("Content-Type", "application/json")],
            // Key "/" (base64 "Lw=="): any key works, only the header's revision is wanted.
            Some(br#"{"key":"Lw==","limit":1}"#),
        )
        .await?;
        let body: serde_json::Value = serde_json::from_slice(&range.body).map_err(|e| Error::Parse {
            what: "etcd's range answer".into(),
            detail: format!("{e}: {}", range.text()),
        })?;
        // The gRPC gateway writes int64 as a JSON string.
        let revision = body
            .pointer("/header/revision")
            .and_then(|r| r.as_str().and_then(|s| s.parse().ok()).or_else(|| r.as_i64()))
            .ok_or_else(|| Error::Parse {
                what: "etcd's range answer".into(),
                detail: format!("no header.revision in {body}"),
            })?;
        let compact = http::request(
            self.etcd_client,
            "POST",
            "/v3/kv/compaction",
            &[("Content-Type", "application/json")],
            Some(format!(r#"{{"revision":"{revision}","physical":true}}"#).as_bytes()),
        )
        .await?;
        if compact.status != 200 {
            return Err(Error::Process {
                what: format!("compact etcd at revision {revision}"),
                detail: format!("HTTP {}: {}", compact.status, compact.text()),
            });
        }
        Ok(revision)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for proc in [&mut self.scheduler, &mut self.controller_manager, &mut self.apiserver, &mut self.etcd] {
            if let Some(mut p) = proc.take() {
                p.stop();
            }
        }
        if crate::keep_on_failure() {
            eprintln!("statefleet-e2e: kept control plane directory {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// How to reach a control plane: server, CA, admin kubeconfig and harness nodes. Owned and
/// cheap to clone, for tasks that outlive a borrow of the [`ControlPlane`] (e.g. the process
/// kubelet).
#[derive(Clone, Debug)]
pub struct ClusterAccess {
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The CA of the API server's serving certificate.
    pub ca_cert: PathBuf,
    /// The admin kubeconfig.
    pub admin_kubeconfig: PathBuf,
    /// The registered node names.
    pub nodes: Vec<String>,
}

impl ClusterAccess {
    /// A new admin client.
    pub async fn client(&self) -> Result<Client> {
        client_from_kubeconfig(&self.admin_kubeconfig).await
    }

    /// A kubeconfig with a one-hour token of ServiceAccount `namespace/name` (created if
    /// missing), written to `dir`; `client` needs the right to create both.
    pub async fn service_account_kubeconfig(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
        dir: &Path,
    ) -> Result<PathBuf> {
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
        if api.get_opt(name).await.kube(|| format!("get serviceaccount {namespace}/{name}"))?.is_none() {
            let sa = ServiceAccount {
                metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &sa).await {
                // Created meanwhile by someone else (e.g. the test): fine.
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => return Err(e).kube(|| format!("create serviceaccount {namespace}/{name}")),
            }
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() }),
            ..Default::default()
        };
        let token = api
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .kube(|| format!("request a token for serviceaccount {namespace}/{name}"))?
            .status
            .and_then(|s| s.token)
            .ok_or_else(|| Error::Parse {
                what: "the TokenRequest answer".into(),
                detail: "no status.token".into(),
            })?;
        let path = dir.join(format!("sa-{namespace}-{name}.kubeconfig"));
        write_kubeconfig(&path, &self.server, &self.ca_cert, &token, &format!("{namespace}-{name}"))?;
        Ok(path)
    }
}

/// Writes a kubeconfig for `server` (trusting `ca`) with a bearer token.
pub fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str, user: &str) -> Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    \
         certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\n\
         contexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: {user}\ncurrent-context: e2e\n",
        ca = ca.display(),
    );
    std::fs::write(path, text).io(|| format!("write kubeconfig {}", path.display()))
}

/// A client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Parse {
        what: format!("kubeconfig {}", path.display()),
        detail: e.to_string(),
    })?;
    let config =
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.map_err(|e| {
            Error::Parse { what: format!("kubeconfig {}", path.display()), detail: e.to_string() }
        })?;
    Client::try_from(config).kube(|| format!("build a client from {}", path.display()))
}

/// Polls `check` until it is true, failing with the log tail if the process exits first.
async fn await_ready<F, Fut>(
    proc: &mut Supervised,
    timeout: Duration,
    mut check: F,
) -> std::result::Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = proc.exited() {
            return Err(format!(
                "{} exited with {status} before it was ready; log tail:\n{}",
                proc.name(),
                proc.log_tail(30)
            ));
        }
        if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(5), check()).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not ready after {timeout:?}; log tail:\n{}",
                proc.name(),
                proc.log_tail(30)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
