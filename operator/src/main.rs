//! statefleet-operator: parse flags, set up telemetry, wait for leadership, run the controller
//! and the HTTP endpoints until SIGTERM; no logic here (see `operator::reconcile`).

use anyhow::{Context as _, anyhow};
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::{Service, ServiceAccount},
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client, Config, Resource,
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{Controller, controller, events::Reporter, watcher},
};
use operator::{
    crd::KubeStateMetrics,
    desired::{LABEL_MANAGED_BY, MANAGED_BY},
    http::{Health, health_router, metrics_router},
    leader::LeaderElection,
    metrics::{Metrics, PREFIX},
    reconcile::{Context, FIELD_MANAGER, error_policy, reconcile},
    telemetry::{self, LogFormat},
};
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use std::{fmt::Debug, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::watch};
use tracing::{debug, error, info, warn};

/// Runs a sharded statefleet-exporter fleet for every KubeStateMetrics custom resource.
#[derive(Parser, Debug)]
#[command(name = "statefleet-operator", version)]
struct Args {
    /// Watch KubeStateMetrics (and their children) in this namespace only; every namespace when
    /// unset.
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,

    /// Port of `/metrics`.
    #[arg(long, default_value_t = 8080)]
    metrics_port: u16,

    /// Port of `/healthz` and `/readyz`.
    #[arg(long, default_value_t = 8081)]
    health_port: u16,

    /// Address the metrics and health ports listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: String,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,

    /// Reconcile only while holding a coordination.k8s.io Lease, so several replicas can run
    /// (`--leader-election=false` for exactly one replica, or local runs).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,

    /// Namespace of the Lease: the operator's own.
    #[arg(long, env = "POD_NAMESPACE", default_value = "statefleet-system")]
    leader_election_namespace: String,

    /// Name of the Lease.
    #[arg(long, default_value = "statefleet-operator")]
    leader_election_id: String,

    /// This replica's identity in the Lease (default: the pod name, else host name and pid).
    #[arg(long, env = "POD_NAME")]
    leader_election_identity: Option<String>,

    /// Kubeconfig to use instead of the in-cluster configuration (or $KUBECONFIG).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,

    /// Custom resources reconciled at once (never the same one twice).
    #[arg(long, default_value_t = 4)]
    concurrency: u16,

    /// How long an answer of API discovery about the prometheus-operator CRDs is trusted.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    crd_discovery_interval: u64,
}

/// Timeout of each request a reconcile makes (watches use the client's default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args = Args::parse();
    telemetry::init(args.log_format);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

async fn kube_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("failed to read --kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("failed to load --kubeconfig {}", path.display()))
        }
        None => Config::infer().await.context("failed to find a kubeconfig or in-cluster configuration"),
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn wait_for_shutdown(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// A oneshot that fires when `shutdown` does: `Controller::graceful_shutdown_on` wants a `Sync`
/// future, which a oneshot receiver is.
fn shutdown_oneshot(shutdown: watch::Receiver<bool>) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        wait_for_shutdown(shutdown).await;
        let _ = tx.send(());
    });
    rx
}

fn owns<K>(
    controller: Controller<KubeStateMetrics>,
    client: &Client,
    namespace: Option<&str>,
) -> Controller<KubeStateMetrics>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    // Only the operator's children: an edit to one triggers a reconcile of its owner.
    let children = watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}"));
    controller.owns(api::<K>(client, namespace), children)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut registry = Registry::with_prefix(PREFIX);
    let metrics = Metrics::register(&mut registry);
    let health = Arc::new(Health::default());

    let config = kube_config(args.kubeconfig.as_ref()).await?;
    let url = config.cluster_url.clone();
    let watch_client = Client::try_from(config.clone()).context("failed to build the API client")?;
    let mut request_config = config;
    request_config.read_timeout = Some(REQUEST_TIMEOUT);
    request_config.write_timeout = Some(REQUEST_TIMEOUT);
    let client = Client::try_from(request_config).context("failed to build the API client")?;
    let version = tokio::time::timeout(Duration::from_secs(15), client.apiserver_version())
        .await
        .map_err(|_| anyhow!("failed to reach the API server at {url}: timed out after 15s"))?
        .with_context(|| format!("failed to reach the API server at {url}"))?;
    info!(
        server = %url,
        version = %version.git_version,
        namespace = args.namespace.as_deref().unwrap_or("*"),
        "connected to the API server"
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let metrics_listener = TcpListener::bind((args.bind_address.as_str(), args.metrics_port))
        .await
        .with_context(|| format!("failed to listen on --metrics-port={}", args.metrics_port))?;
    let health_listener = TcpListener::bind((args.bind_address.as_str(), args.health_port))
        .await
        .with_context(|| format!("failed to listen on --health-port={}", args.health_port))?;
    info!(metrics = %metrics_listener.local_addr()?, health = %health_listener.local_addr()?, "serving");
    let servers = [
        tokio::spawn(
            axum::serve(metrics_listener, metrics_router(Arc::new(registry)))
                .with_graceful_shutdown(wait_for_shutdown(shutdown_rx.clone()))
                .into_future(),
        ),
        tokio::spawn(
            axum::serve(health_listener, health_router(health.clone()))
                .with_graceful_shutdown(wait_for_shutdown(shutdown_rx.clone()))
                .into_future(),
        ),
    ];
    let shutdown_tx = Arc::new(shutdown_tx);
    let signalled = shutdown_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutdown requested");
        let _ = signalled.send(true);
    });
    // A standby replica is ready too: a rollout must not wait for it to become the leader.
    health.set_ready(true);

    let elector = args.leader_election.then(|| {
        let identity = args.leader_election_identity.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "statefleet-operator".into());
            format!("{host}-{}", std::process::id())
        });
        Arc::new(LeaderElection::new(
            client.clone(),
            &args.leader_election_namespace,
            &args.leader_election_id,
            &identity,
        ))
    });
    let mut holder = None;
    let mut lost = None;
    if let Some(elector) = &elector {
        tokio::select! {
            () = elector.acquire() => {}
            () = wait_for_shutdown(shutdown_rx.clone()) => {
                for server in servers {
                    let _ = server.await;
                }
                return Ok(());
            }
        }
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        let elector = elector.clone();
        holder = Some(tokio::spawn(async move {
            elector.hold().await;
            let _ = lost_tx.send(());
        }));
        lost = Some(lost_rx);
    }
    metrics.leader.set(1);

    let reporter = Reporter {
        controller: FIELD_MANAGER.to_string(),
        instance: elector.as_ref().map(|e| e.identity().to_string()),
    };
    let ctx = Arc::new(Context::new(
        client,
        metrics.clone(),
        reporter,
        Duration::from_secs(args.crd_discovery_interval),
    ));
    let ns = args.namespace.as_deref();
    let mut controller =
        Controller::new(api::<KubeStateMetrics>(&watch_client, ns), watcher::Config::default());
    controller = owns::<StatefulSet>(controller, &watch_client, ns);
    controller = owns::<DaemonSet>(controller, &watch_client, ns);
    controller = owns::<Deployment>(controller, &watch_client, ns);
    controller = owns::<Service>(controller, &watch_client, ns);
    controller = owns::<ServiceAccount>(controller, &watch_client, ns);
    controller = owns::<Role>(controller, &watch_client, ns);
    controller = owns::<RoleBinding>(controller, &watch_client, ns);
    let stop = shutdown_oneshot(shutdown_rx.clone());
    let mut controller = controller
        .with_config(controller::Config::default().concurrency(args.concurrency))
        .graceful_shutdown_on(async move {
            let _ = stop.await;
        });
    let lost_leadership = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(lost) = lost {
        let flag = lost_leadership.clone();
        controller = controller.graceful_shutdown_on(async move {
            if lost.await.is_ok() {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    info!(concurrency = args.concurrency, "starting the controller");
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => debug!(object = %object, "reconciled"),
                // Reconcile failures were logged by error_policy.
                Err(controller::Error::ReconcilerFailed(..)) => {}
                Err(error) => warn!(%error, "controller error"),
            }
        })
        .await;
    metrics.leader.set(0);

    let lost = lost_leadership.load(std::sync::atomic::Ordering::SeqCst);
    if let Some(holder) = holder {
        holder.abort();
    }
    if let Some(elector) = elector.filter(|_| !lost) {
        match tokio::time::timeout(Duration::from_secs(5), elector.release()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "failed to release the lease"),
            Err(_) => warn!("releasing the lease timed out"),
        }
    }
    health.set_ready(false);
    // Stops the HTTP servers also when lost leadership, not a signal, ended the controller.
    let _ = shutdown_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    if lost {
        return Err(anyhow!("lost leadership; exiting so that a restart makes this replica a standby"));
    }
    info!("shut down");
    Ok(())
}
