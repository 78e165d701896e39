//! A control plane for the benchmark: etcd and kube-apiserver only. Objects are created with
//! their status already posted, so no controller or scheduler is needed, and none runs to take
//! CPU from the processes being measured or to react to the synthetic objects (a deployment
//! controller would create ReplicaSets and pods of its own, the garbage collector would chase
//! owner references).
//!
//! Differences from the test harness' [`crate::ControlPlane`]: the ServiceAccount and
//! TaintNodesByCondition admission plugins are off (no controller creates `default`
//! ServiceAccounts or lifts the not-ready taint), the Service IP range is a /16 (the full mode
//! has 10,000 Services) and etcd may grow to 16 GiB.

use crate::{
    Error, IoContext, Result,
    control_plane::client_from_kubeconfig,
    pki,
    process::{self, Stop, Supervised},
    random_hex,
};
use kube::Client;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::time::Instant;

/// etcd plus kube-apiserver on loopback; stopped, and its directory removed, on drop.
pub struct BenchCluster {
    dir: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    // Stopped in this order: the API server first.
    apiserver: Option<Supervised>,
    etcd: Option<Supervised>,
}

impl BenchCluster {
    /// Starts etcd and kube-apiserver in a new directory under the system's temporary directory.
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("statefleet-bench-")
            .tempdir()
            .io(|| "create the benchmark cluster directory".into())?
            .keep();
        let pki = pki::generate(&dir)?;
        let token = random_hex(16);
        let tokens = dir.join("tokens.csv");
        std::fs::write(&tokens, format!("{token},admin,admin-uid,\"system:masters\"\n"))
            .io(|| format!("write {}", tokens.display()))?;

        let etcd_port = process::free_port()?;
        let peer_port = process::free_port()?;
        let client_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_args = vec![
            "--name=bench".into(),
            format!("--data-dir={}", dir.join("etcd-data").display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=bench={peer_url}"),
            "--log-level=warn".into(),
            "--unsafe-no-fsync".into(),
            "--quota-backend-bytes=17179869184".into(),
        ];
        // The supervisor removes the directory once the benchmark is gone, however it ends.
        let mut etcd = Supervised::spawn(
            "etcd",
            &process::cluster_bin("etcd")?,
            &etcd_args,
            &dir.join("etcd.log"),
            Stop::Kill,
            &[&dir],
        )?;
        let etcd_addr = SocketAddr::from(([127, 0, 0, 1], etcd_port));
        wait_process(&mut etcd, Duration::from_secs(30), || async move {
            let r = crate::http::get(etcd_addr, "/health").await?;
            Ok(r.status == 200 && r.text().contains("true"))
        })
        .await?;

        let port = process::free_port()?;
        let server = format!("https://127.0.0.1:{port}");
        let d = |p: &Path| p.display().to_string();
        let args = vec![
            format!("--etcd-servers={client_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            "--endpoint-reconciler-type=none".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", d(&dir.join("apiserver-certs"))),
            format!("--tls-cert-file={}", d(&pki.serving_cert)),
            format!("--tls-private-key-file={}", d(&pki.serving_key)),
            format!("--client-ca-file={}", d(&pki.ca_cert)),
            format!("--token-auth-file={}", d(&tokens)),
            "--authorization-mode=RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", d(&pki.sa_pub)),
            format!("--service-account-signing-key-file={}", d(&pki.sa_key)),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition".into(),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
            "--v=1".into(),
        ];
        let kubeconfig = dir.join("admin.kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n    server: {server}\n    \
                 certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    token: {token}\n\
                 contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: admin\n\
                 current-context: bench\n",
                ca = pki.ca_cert.display(),
            ),
        )
        .io(|| format!("write {}", kubeconfig.display()))?;
        let mut apiserver = Supervised::spawn(
            "kube-apiserver",
            &process::cluster_bin("kube-apiserver")?,
            &args,
            &dir.join("kube-apiserver.log"),
            Stop::Kill,
            &[],
        )?;
        let client = client_from_kubeconfig(&kubeconfig).await?;
        wait_process(&mut apiserver, Duration::from_secs(90), || {
            let client = client.clone();
            async move {
                let req = ::http::Request::get("/readyz").body(Vec::new()).map_err(|e| Error::Parse {
                    what: "the /readyz request".into(),
                    detail: e.to_string(),
                })?;
                Ok(client.request_text(req).await.is_ok_and(|t| t.trim() == "ok"))
            }
        })
        .await?;
        Ok(Self { dir, kubeconfig, server, apiserver: Some(apiserver), etcd: Some(etcd) })
    }

    /// The admin kubeconfig (a `system:masters` token).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// The cluster's directory (certificates, logs, etcd data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new admin client.
    pub async fn client(&self) -> Result<Client> {
        client_from_kubeconfig(&self.kubeconfig).await
    }
}

impl Drop for BenchCluster {
    fn drop(&mut self) {
        for proc in [&mut self.apiserver, &mut self.etcd] {
            if let Some(mut p) = proc.take() {
                p.stop();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` until true, failing with the log tail if the process exits or `timeout` passes.
async fn wait_process<F, Fut>(proc: &mut Supervised, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = proc.exited() {
            return Err(Error::Process {
                what: format!("start {}", proc.name()),
                detail: format!("it exited with {status}; log tail:\n{}", proc.log_tail(30)),
            });
        }
        if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(5), check()).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Process {
                what: format!("start {}", proc.name()),
                detail: format!("not ready after {timeout:?}; log tail:\n{}", proc.log_tail(30)),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
