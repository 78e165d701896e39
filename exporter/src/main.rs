//! statefleet-exporter: parse options, start telemetry, watchers and servers; no logic here.

use anyhow::{Context, anyhow};
use clap::Parser;
use exporter::{
    http::{AppState, metrics_router, telemetry_router},
    options::{Cli, Command, Flags, Options, ShardMode},
    render,
    resources::REGISTRY,
    runtime::{Current, Runtime},
    shard::ShardFilter,
    telemetry::{self, ConfigLabels, Metrics},
    watch,
};
use kube::{Client, Config, config::Kubeconfig};
use parking_lot::RwLock;
use prometheus_client::registry::Registry;
use std::{io::Read, process::ExitCode, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tracing::{error, info, warn};

// Every watch event allocates and frees some sixty small strings while the store holds
// thousands of long-lived objects; glibc's malloc spent a third of decoding on that (tcache
// overflow, fastbin consolidation). With jemalloc a pod event cost 17% less CPU at 10k pods and
// 46% less at 100k, and a 100k scrape took 0.41 s instead of 1.1 s (docs/performance.md, fifth
// round).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How long a new configuration may take to sync before it is served anyway.
const SWAP_LIMIT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Families) => {
            families();
            Ok(())
        }
        Some(Command::Render { input }) => render_cmd(&cli.flags, &input),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(serve(cli.flags))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn families() {
    for r in REGISTRY {
        for f in (r.families)() {
            println!("{}\t{}\t{}\t{}", f.name, f.metric_type, f.stability, f.resource);
        }
    }
}

fn render_cmd(flags: &Flags, input: &str) -> anyhow::Result<()> {
    let options = Options::load(flags)?;
    let mut text = String::new();
    if input == "-" {
        std::io::stdin().read_to_string(&mut text).context("failed to read standard input")?;
    } else {
        text = std::fs::read_to_string(input).with_context(|| format!("failed to read --input {input}"))?;
    }
    let objects = render::parse_objects(&text)?;
    let out = render::render(objects, &options)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out).context("failed to write output")?;
    Ok(())
}

async fn client_for(options: &Options, metrics: &Metrics) -> anyhow::Result<Client> {
    let mut config = match &options.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("failed to read --kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .with_context(|| format!("failed to load --kubeconfig {}", path.display()))?
        }
        None => Config::infer().await.context("failed to find a kubeconfig or in-cluster config")?,
    };
    if let Some(url) = &options.apiserver {
        config.cluster_url = url.parse().map_err(|e| anyhow!("--apiserver={url:?}: {e}"))?;
    }
    let url = config.cluster_url.clone();
    let client = kube::client::ClientBuilder::try_from(config)
        .context("failed to build the API client")?
        .with_layer(&watch::CountCalls::new(metrics.clone()))
        .build();
    match tokio::time::timeout(Duration::from_secs(15), client.apiserver_version()).await {
        Ok(Ok(v)) => info!(server = %url, version = %v.git_version, "connected to the API server"),
        Ok(Err(e)) => return Err(anyhow!("failed to reach the API server at {url}: {e}")),
        Err(_) => {
            return Err(anyhow!("failed to reach the API server at {url}: timed out after 15s"));
        }
    }
    Ok(client)
}

async fn serve(flags: Flags) -> anyhow::Result<()> {
    let options = Options::load(&flags)?;
    telemetry::init_logging(flags.log_format == "json");
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let client = client_for(&options, &metrics).await?;
    let current = Arc::new(Current::new(Runtime::empty(ShardFilter::all())));
    let shared_options = Arc::new(RwLock::new(options.clone()));

    match &options.shard_mode {
        ShardMode::Static { shard, total } => {
            metrics.set_shard(*shard, *total);
            let filter = ShardFilter { hash: options.shard_hash, shard: *shard, total: *total };
            current.swap_now(Runtime::start(&client, &options, filter, &metrics));
        }
        ShardMode::Auto { pod, namespace } => {
            let sts = watch::owning_statefulset(&client, namespace, pod).await?;
            let ordinal: u32 = pod
                .strip_prefix(&format!("{sts}-"))
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| anyhow!("--pod={pod}: no ordinal after the StatefulSet name {sts:?}"))?;
            info!(statefulset = %sts, ordinal, "autosharding from the owning StatefulSet");
            tokio::spawn(autoshard(
                client.clone(),
                namespace.clone(),
                sts,
                ordinal,
                shared_options.clone(),
                current.clone(),
                metrics.clone(),
            ));
        }
    }

    if let Some(path) = options.config.clone() {
        metrics.config_reload_ok.get_or_create(&config_labels(&path)).set(1);
        tokio::spawn(reload_on_change(
            flags.clone(),
            path,
            client.clone(),
            shared_options.clone(),
            current.clone(),
            metrics.clone(),
        ));
    }

    let state = Arc::new(AppState {
        current,
        metrics,
        registry: Arc::new(registry),
        enable_gzip: options.enable_gzip,
        client: Some(client),
    });
    let main_listener = TcpListener::bind((options.host.as_str(), options.port))
        .await
        .with_context(|| format!("failed to listen on --host={} --port={}", options.host, options.port))?;
    let telemetry_listener = TcpListener::bind((options.telemetry_host.as_str(), options.telemetry_port))
        .await
        .with_context(|| {
            format!(
                "failed to listen on --telemetry-host={} --telemetry-port={}",
                options.telemetry_host, options.telemetry_port
            )
        })?;
    info!(metrics = %main_listener.local_addr()?, telemetry = %telemetry_listener.local_addr()?, "serving");
    let main =
        axum::serve(main_listener, metrics_router(state.clone())).with_graceful_shutdown(shutdown_signal());
    let tele =
        axum::serve(telemetry_listener, telemetry_router(state)).with_graceful_shutdown(shutdown_signal());
    let (a, b) = tokio::join!(main, tele);
    a.context("metrics server failed")?;
    b.context("telemetry server failed")?;
    info!("shut down");
    Ok(())
}

fn config_labels(path: &std::path::Path) -> ConfigLabels {
    ConfigLabels { r#type: "config".into(), filename: path.display().to_string() }
}

/// Follows the StatefulSet's replicas and re-shards live when they change.
async fn autoshard(
    client: Client,
    namespace: String,
    sts: String,
    ordinal: u32,
    options: Arc<RwLock<Options>>,
    current: Arc<Current>,
    metrics: Metrics,
) {
    let (tx, mut rx) = tokio::sync::watch::channel(None);
    tokio::spawn(watch::watch_replicas(client.clone(), namespace, sts, tx));
    let mut active: Option<u32> = None;
    while rx.changed().await.is_ok() {
        let Some(total) = *rx.borrow_and_update() else {
            continue;
        };
        if active == Some(total) {
            continue;
        }
        if ordinal >= total {
            warn!(ordinal, total, "this pod's ordinal is beyond the StatefulSet's replicas; serving nothing");
        }
        let first = active.is_none();
        active = Some(total);
        info!(shard = ordinal, total, "sharding changed");
        metrics.set_shard(ordinal, total);
        let opts = options.read().clone();
        let filter = ShardFilter { hash: opts.shard_hash, shard: ordinal, total: total.max(1) };
        let runtime = Runtime::start(&client, &opts, filter, &metrics);
        if first {
            current.swap_now(runtime);
        } else {
            current.swap_when_synced(runtime, SWAP_LIMIT).await;
        }
    }
}

/// Polls the `--config` file; a valid change is applied without a restart, an invalid one is
/// logged and counted while the previous configuration keeps serving.
async fn reload_on_change(
    flags: Flags,
    path: std::path::PathBuf,
    client: Client,
    options: Arc<RwLock<Options>>,
    current: Arc<Current>,
    metrics: Metrics,
) {
    let labels = config_labels(&path);
    let mut last = std::fs::read(&path).ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = std::fs::read(&path).ok();
        if now == last {
            continue;
        }
        last = now;
        match Options::load(&flags) {
            Err(e) => {
                error!(error = %e, "config reload failed; keeping the previous configuration");
                metrics.config_reload_ok.get_or_create(&labels).set(0);
            }
            Ok(next) => {
                let prev = options.read().clone();
                if (prev.host.as_str(), prev.port, prev.telemetry_port)
                    != (next.host.as_str(), next.port, next.telemetry_port)
                {
                    warn!("listen addresses changed in the config file; they apply after a restart");
                }
                *options.write() = next.clone();
                metrics.config_reload_ok.get_or_create(&labels).set(1);
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                metrics.config_reload_time.get_or_create(&labels).set(secs);
                let filter = match next.shard_mode {
                    ShardMode::Static { shard, total } => {
                        metrics.set_shard(shard, total);
                        ShardFilter { hash: next.shard_hash, shard, total }
                    }
                    ShardMode::Auto { .. } => ShardFilter { hash: next.shard_hash, ..current.get().filter },
                };
                info!("config file changed; applying");
                let runtime = Runtime::start(&client, &next, filter, &metrics);
                current.swap_when_synced(runtime, SWAP_LIMIT).await;
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
