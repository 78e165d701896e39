//! The measurement plan: load the cluster once, then measure upstream and ours one after the
//! other, again interleaved (both running, scrapes alternating, the same churn reaching both),
//! and with 4 shards each.

use crate::{
    Error, Result,
    bench::{
        cluster::BenchCluster,
        load::{self, ChurnStats, Counted, LoadStats, Scale, Writer},
        procstat,
        scrape::{self, LineScan},
        target::{Binaries, Impl, Target},
    },
};
use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};
use tokio::time::Instant;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// `quick`, `full` or `custom`.
    pub mode: String,
    /// The synthetic cluster.
    pub scale: Scale,
    /// The two exporters.
    pub bins: Binaries,
    /// Timed scrapes per exporter and encoding.
    pub scrapes: usize,
    /// Timed scrapes per shard and encoding.
    pub shard_scrapes: usize,
    /// Shards for the sharded run; below 2 skips it.
    pub shards: u32,
    /// Churn updates per second.
    pub churn_rate: f64,
    /// Churn window.
    pub churn: Duration,
    /// Event-to-metric probes per exporter.
    pub probes: usize,
    /// Requests in flight while loading.
    pub concurrency: usize,
    /// Whether to run the interleaved round.
    pub interleaved: bool,
    /// Longest wait for an exporter to serve every object.
    pub ready_timeout: Duration,
    /// Load the cluster, then keep it until SIGINT/SIGTERM instead of measuring (for profiling
    /// an exporter by hand against it).
    pub hold: bool,
    /// While holding, churn pods at `churn_rate` all the time.
    pub hold_churn: bool,
    /// Where to copy the exporters' and the API server's logs at the end (a directory per run).
    pub keep_logs: Option<PathBuf>,
}

/// Figures of one exporter in one round.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Start until every loaded object is served.
    pub ready: Duration,
    /// Start until `/readyz` answered 200 (ours).
    pub readyz: Option<Duration>,
    /// Bytes the API server sent until ready.
    pub api_bytes_at_ready: u64,
    /// Bytes the API server sent during the churn window.
    pub churn_api_bytes: u64,
    /// VmHWM when ready.
    pub hwm_ready: u64,
    /// VmRSS 2 s after ready.
    pub rss_sync: u64,
    /// VmRSS after the timed scrapes.
    pub rss_scraped: u64,
    /// VmHWM at the end of the round.
    pub hwm_end: u64,
    /// VmRSS at the end of the round (after churn and probes).
    pub rss_end: u64,
    /// From start to the end of the round.
    pub lifetime: Duration,
    /// Sample lines of a full scrape.
    pub series: u64,
    /// Bytes of a full plain scrape.
    pub plain_bytes: u64,
    /// Bytes of a full gzip scrape.
    pub gzip_bytes: u64,
    /// The gzip scrape decompressed.
    pub gunzipped: u64,
    /// Timed plain scrapes.
    pub plain: Vec<Duration>,
    /// Timed gzip scrapes.
    pub gzip: Vec<Duration>,
    /// CPU spent during the churn window (plus 3 s to drain).
    pub churn_cpu: Duration,
    /// Event-to-metric latencies.
    pub probes: Vec<Duration>,
}

/// Figures of one exporter run as N shards.
#[derive(Clone, Debug, Default)]
pub struct Sharded {
    /// Start until the shards together serve every object.
    pub ready: Duration,
    /// Bytes the API server sent each shard until ready.
    pub api_bytes_at_ready: Vec<u64>,
    /// VmHWM per shard when ready.
    pub hwm_ready: Vec<u64>,
    /// VmRSS per shard 2 s after ready.
    pub rss_sync: Vec<u64>,
    /// VmRSS per shard after the scrapes.
    pub rss_scraped: Vec<u64>,
    /// Series per shard.
    pub series: Vec<u64>,
    /// Timed plain scrapes, all shards.
    pub plain: Vec<Duration>,
    /// Timed gzip scrapes, all shards.
    pub gzip: Vec<Duration>,
}

/// Everything a run found.
#[derive(Clone, Debug)]
pub struct Results {
    /// The configuration.
    pub config: Config,
    /// When the run started (RFC 3339).
    pub date: String,
    /// Loading.
    pub load: LoadStats,
    /// What the API server held.
    pub counted: Vec<Counted>,
    /// Load average at start, before the exporters ran, at the end.
    pub loadavg: [f64; 3],
    /// One after the other: upstream, ours.
    pub sequential: [Measured; 2],
    /// The churn of each sequential run.
    pub sequential_churn: [ChurnStats; 2],
    /// Interleaved: upstream, ours, and the churn both saw.
    pub interleaved: Option<([Measured; 2], ChurnStats)>,
    /// Sharded: upstream, ours.
    pub sharded: Option<[Sharded; 2]>,
}

struct Bench {
    cfg: Config,
    kubeconfig: PathBuf,
    server: String,
    logs: PathBuf,
    writer: Writer,
    counted: Vec<Counted>,
    churn_seq: AtomicU64,
    probe_seq: AtomicU64,
}

/// Runs the whole plan; `None` when the configuration only holds the cluster.
pub async fn run(cfg: Config) -> Result<Option<Results>> {
    let date = crate::rfc3339_now();
    let load_start = procstat::loadavg();
    eprintln!("bench: starting etcd and kube-apiserver");
    let cluster = BenchCluster::start().await?;
    let client = cluster.client().await?;
    let writer = Writer::new(client.clone(), cfg.concurrency);
    eprintln!("bench: loading {:?} with {} requests in flight", cfg.scale, cfg.concurrency);
    let load = load::load(&writer, &cfg.scale).await?;
    eprintln!(
        "bench: loaded in {:.1?} ({} requests, {} retries, {:.0}/s)",
        load.elapsed,
        load.requests,
        load.retries,
        load.requests as f64 / load.elapsed.as_secs_f64()
    );
    let counted = load::expected_counts(&client).await?;
    eprintln!(
        "bench: the API server holds {}",
        counted.iter().map(|c| format!("{} {}", c.expected, c.resource)).collect::<Vec<_>>().join(", ")
    );
    if cfg.hold {
        eprintln!(
            "bench: holding the cluster until SIGINT/SIGTERM (pid {}): KUBECONFIG={}",
            std::process::id(),
            cluster.kubeconfig().display()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|source| Error::Io { what: "listen for SIGTERM".into(), source })?;
        let churn = async {
            let seq = AtomicU64::new(0);
            if cfg.hold_churn {
                eprintln!(
                    "bench: churn starts in 60 s (time to start exporters: they cannot sync under churn)"
                );
                tokio::time::sleep(Duration::from_secs(60)).await;
                loop {
                    let c = load::churn(&writer, &cfg.scale, cfg.churn_rate, cfg.churn, 128, &seq).await;
                    eprintln!("bench: churn: {} updates in {:.1?} ({:.0}/s)", c.updates, c.elapsed, c.rate());
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            () = churn => {}
        }
        return Ok(None);
    }
    let logs = cluster.dir().join("exporter-logs");
    std::fs::create_dir_all(&logs)
        .map_err(|source| Error::Io { what: format!("create {}", logs.display()), source })?;
    // Let the API server's post-load work (watch cache, compaction) finish.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let load_measure = procstat::loadavg();
    let bench = Bench {
        cfg: cfg.clone(),
        kubeconfig: cluster.kubeconfig().to_path_buf(),
        server: cluster.server_url().to_string(),
        logs,
        writer,
        counted,
        churn_seq: AtomicU64::new(0),
        probe_seq: AtomicU64::new(0),
    };

    let measured = async {
        let mut sequential: [Measured; 2] = Default::default();
        let mut sequential_churn: [ChurnStats; 2] = Default::default();
        for (i, which) in [Impl::Upstream, Impl::Ours].into_iter().enumerate() {
            eprintln!("bench: sequential round: {}", which.name());
            let mut targets = vec![bench.start(which, None).await?];
            let (mut measured, churn) = bench.measure(&mut targets).await?;
            sequential[i] = measured.remove(0);
            sequential_churn[i] = churn;
            stop_all(targets);
        }

        let interleaved = if cfg.interleaved {
            eprintln!("bench: interleaved round: both at once");
            let mut targets =
                vec![bench.start(Impl::Upstream, None).await?, bench.start(Impl::Ours, None).await?];
            let (measured, churn) = bench.measure(&mut targets).await?;
            stop_all(targets);
            let mut it = measured.into_iter();
            Some(([it.next().unwrap_or_default(), it.next().unwrap_or_default()], churn))
        } else {
            None
        };

        let sharded = if cfg.shards > 1 {
            let mut out: [Sharded; 2] = Default::default();
            for (i, which) in [Impl::Upstream, Impl::Ours].into_iter().enumerate() {
                eprintln!("bench: sharded round: {} x{}", which.name(), cfg.shards);
                out[i] = bench.sharded(which).await?;
            }
            Some(out)
        } else {
            None
        };
        Ok::<_, Error>((sequential, sequential_churn, interleaved, sharded))
    }
    .await;
    if let Some(dest) = &cfg.keep_logs {
        keep_logs(cluster.dir(), dest, &date);
    }
    let (sequential, sequential_churn, interleaved, sharded) = measured?;

    let load_end = procstat::loadavg();
    Ok(Some(Results {
        config: cfg,
        date,
        load,
        counted: bench.counted,
        loadavg: [load_start, load_measure, load_end],
        sequential,
        sequential_churn,
        interleaved,
        sharded,
    }))
}

/// Copies the exporters' logs and the API server's log to `dest/<date>/`.
fn keep_logs(cluster_dir: &std::path::Path, dest: &std::path::Path, date: &str) {
    let dir = dest.join(date.replace(':', "-"));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(cluster_dir.join("exporter-logs"))
        .map(|d| {
            d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "log")).collect()
        })
        .unwrap_or_default();
    files.push(cluster_dir.join("kube-apiserver.log"));
    files.push(cluster_dir.join("etcd.log"));
    for f in files {
        if let Some(name) = f.file_name() {
            let _ = std::fs::copy(&f, dir.join(name));
        }
    }
    eprintln!("bench: logs kept in {}", dir.display());
}

fn stop_all(targets: Vec<Target>) {
    for t in targets {
        t.stop();
    }
}

impl Bench {
    async fn start(&self, which: Impl, shard: Option<(u32, u32)>) -> Result<Target> {
        Target::start(which, &self.cfg.bins, &self.kubeconfig, &self.server, shard, &[], &self.logs).await
    }

    /// Start-to-served of a group of targets whose series together must cover every object
    /// (one exporter, or the shards of one), and the latest `/readyz` 200 among ours.
    async fn wait_ready(&self, group: &mut [Target]) -> Result<(Duration, Option<Duration>)> {
        let started = group.iter().map(|t| t.started).min().unwrap_or_else(Instant::now);
        let deadline = started + self.cfg.ready_timeout;
        let readyz = async {
            let mut latest = None;
            for t in group.iter().filter(|t| t.which == Impl::Ours) {
                loop {
                    if let Ok(r) = crate::http::get(t.telemetry, "/readyz").await
                        && r.status == 200
                    {
                        latest = latest.max(Some(t.started.elapsed()));
                        break;
                    }
                    if Instant::now() > deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            latest
        };
        let addrs: Vec<_> = group.iter().map(|t| t.metrics).collect();
        let served = async {
            let mut done = vec![false; self.counted.len()];
            loop {
                for (i, c) in self.counted.iter().enumerate() {
                    if done[i] {
                        continue;
                    }
                    let mut sum = 0;
                    for addr in &addrs {
                        let mut scan = LineScan::new(&[c.family], None);
                        let path = format!("/metrics?resources={}", c.resource);
                        if scrape::fetch(*addr, &path, false, &mut |b| scan.feed(b)).await.is_ok() {
                            sum += scan.counts[0];
                        }
                    }
                    if sum >= c.expected {
                        done[i] = true;
                    } else {
                        break;
                    }
                }
                if done.iter().all(|d| *d) {
                    return Ok(started.elapsed());
                }
                if Instant::now() > deadline {
                    let missing: Vec<&str> = self
                        .counted
                        .iter()
                        .zip(&done)
                        .filter(|(_, d)| !**d)
                        .map(|(c, _)| c.resource)
                        .collect();
                    return Err(Error::Timeout {
                        what: "every loaded object to be served".into(),
                        waited: self.cfg.ready_timeout,
                        last: format!("incomplete: {}", missing.join(", ")),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let (served, readyz) = tokio::join!(served, readyz);
        for t in group.iter_mut() {
            t.check_alive()?;
        }
        Ok((served?, readyz))
    }

    /// Runs a full measurement round on one or more independent targets (upstream and ours
    /// when interleaved).
    async fn measure(&self, targets: &mut [Target]) -> Result<(Vec<Measured>, ChurnStats)> {
        let mut out: Vec<Measured> = targets.iter().map(|_| Measured::default()).collect();
        // Ready: every target on its own, concurrently.
        let readies = {
            let futs = targets.chunks_mut(1).map(|group| self.wait_ready(group));
            futures::future::join_all(futs).await
        };
        for (i, r) in readies.into_iter().enumerate() {
            let (served, readyz) = r?;
            out[i].ready = served;
            out[i].readyz = readyz;
            out[i].api_bytes_at_ready = targets[i].api_bytes();
            out[i].hwm_ready = targets[i].hwm();
            eprintln!(
                "bench:   {} serves everything after {:.2?} (readyz {:?})",
                targets[i].label, served, readyz
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (m, t) in out.iter_mut().zip(targets.iter()) {
            m.rss_sync = t.rss();
        }
        for (m, t) in out.iter_mut().zip(targets.iter()) {
            self.validate(t, m).await?;
        }
        // Timed scrapes, alternating between targets.
        for gzip in [false, true] {
            for _ in 0..self.cfg.scrapes {
                for (m, t) in out.iter_mut().zip(targets.iter()) {
                    let f = scrape::timed(t.metrics, "/metrics", gzip).await?;
                    if gzip { &mut m.gzip } else { &mut m.plain }.push(f.elapsed);
                }
            }
        }
        for (m, t) in out.iter_mut().zip(targets.iter()) {
            m.rss_scraped = t.rss();
            eprintln!(
                "bench:   {}: {} series, plain p50 {:.3?}, gzip p50 {:.3?}, RSS {} MiB",
                t.label,
                m.series,
                crate::bench::report::pct(&m.plain, 0.5),
                crate::bench::report::pct(&m.gzip, 0.5),
                m.rss_scraped >> 20
            );
        }
        // Churn: CPU spent while pods change at the configured rate.
        let cpu_before: Vec<Duration> = targets.iter().map(Target::cpu).collect();
        let bytes_before: Vec<u64> = targets.iter().map(Target::api_bytes).collect();
        let churn = load::churn(
            &self.writer,
            &self.cfg.scale,
            self.cfg.churn_rate,
            self.cfg.churn,
            128,
            &self.churn_seq,
        )
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        for ((m, t), (cpu, bytes)) in
            out.iter_mut().zip(targets.iter()).zip(cpu_before.into_iter().zip(bytes_before))
        {
            m.churn_cpu = t.cpu().saturating_sub(cpu);
            m.churn_api_bytes = t.api_bytes().saturating_sub(bytes);
        }
        eprintln!(
            "bench:   churn: {} updates ({} failed) in {:.1?} ({:.0}/s); CPU {:?}",
            churn.updates,
            churn.failed,
            churn.elapsed,
            churn.rate(),
            out.iter().map(|m| m.churn_cpu).collect::<Vec<_>>()
        );
        // Event to metric: a Deployment's replicas, polled on ?resources=deployments.
        for _ in 0..self.cfg.probes {
            let k = self.probe_seq.fetch_add(1, Ordering::Relaxed) as usize;
            let w = (k * 37 + 11) % self.cfg.scale.workloads;
            let value = (self.cfg.scale.pods_of(w) + 1 + k) as u64;
            load::set_replicas(&self.writer, &self.cfg.scale, w, value).await?;
            let acked = Instant::now();
            let ns = self.cfg.scale.namespace_of(w);
            let name = load::workload_name(w);
            let polls = targets.iter().map(|t| poll_replicas(t, &ns, &name, value, acked));
            for (m, r) in out.iter_mut().zip(futures::future::join_all(polls).await) {
                m.probes.push(r?);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (m, t) in out.iter_mut().zip(targets.iter_mut()) {
            t.check_alive()?;
            m.hwm_end = t.hwm();
            m.rss_end = t.rss();
            m.lifetime = t.started.elapsed();
        }
        Ok((out, churn))
    }

    /// One full plain scrape (series, bytes, every object present) and one gzip scrape
    /// (bytes, and that it decompresses to the same size).
    async fn validate(&self, t: &Target, m: &mut Measured) -> Result<()> {
        let families: Vec<&'static str> = self.counted.iter().map(|c| c.family).collect();
        let mut scan = LineScan::new(&families, None);
        let plain = scrape::fetch(t.metrics, "/metrics", false, &mut |b| scan.feed(b)).await?;
        for (c, n) in self.counted.iter().zip(&scan.counts) {
            if *n != c.expected {
                return Err(Error::Process {
                    what: format!("check the full scrape of {}", t.label),
                    detail: format!("{n} {} series for {} {} objects", c.family, c.expected, c.resource),
                });
            }
        }
        let mut body = Vec::new();
        let gz = scrape::fetch(t.metrics, "/metrics", true, &mut |b| body.extend_from_slice(b)).await?;
        if !gz.gzipped {
            return Err(Error::Process {
                what: format!("check the gzip scrape of {}", t.label),
                detail: "no Content-Encoding: gzip in the answer to Accept-Encoding: gzip".into(),
            });
        }
        m.series = scan.series;
        m.plain_bytes = plain.body_bytes;
        m.gzip_bytes = gz.body_bytes;
        m.gunzipped = scrape::gunzip_len(body).await?;
        Ok(())
    }

    async fn sharded(&self, which: Impl) -> Result<Sharded> {
        let n = self.cfg.shards;
        let mut shards = Vec::new();
        for i in 0..n {
            shards.push(self.start(which, Some((i, n))).await?);
        }
        let (ready, _) = self.wait_ready(&mut shards).await?;
        let mut out = Sharded { ready, ..Default::default() };
        out.api_bytes_at_ready = shards.iter().map(Target::api_bytes).collect();
        out.hwm_ready = shards.iter().map(Target::hwm).collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        out.rss_sync = shards.iter().map(Target::rss).collect();
        for t in &shards {
            let mut scan = LineScan::new(&[], None);
            scrape::fetch(t.metrics, "/metrics", false, &mut |b| scan.feed(b)).await?;
            out.series.push(scan.series);
            for gzip in [false, true] {
                for _ in 0..self.cfg.shard_scrapes {
                    let f = scrape::timed(t.metrics, "/metrics", gzip).await?;
                    if gzip { &mut out.gzip } else { &mut out.plain }.push(f.elapsed);
                }
            }
        }
        out.rss_scraped = shards.iter().map(Target::rss).collect();
        for t in &mut shards {
            t.check_alive()?;
        }
        eprintln!(
            "bench:   {} x{n}: ready {:.2?}, RSS per shard {:?} MiB",
            which.name(),
            ready,
            out.rss_sync.iter().map(|r| r >> 20).collect::<Vec<_>>()
        );
        stop_all(shards);
        Ok(out)
    }
}

/// Scrapes `?resources=deployments` until `kube_deployment_spec_replicas` of `ns/name` is
/// `value`; returns the time since `since`.
async fn poll_replicas(t: &Target, ns: &str, name: &str, value: u64, since: Instant) -> Result<Duration> {
    let (ns_label, name_label) = (format!("namespace=\"{ns}\""), format!("deployment=\"{name}\""));
    let mut last = String::from("(no sample)");
    while since.elapsed() < Duration::from_secs(60) {
        let mut scan = LineScan::new(&[], Some("kube_deployment_spec_replicas{"));
        if scrape::fetch(t.metrics, "/metrics?resources=deployments", false, &mut |b| scan.feed(b))
            .await
            .is_ok()
            && let Some(line) =
                scan.captured.iter().find(|l| l.contains(&ns_label) && l.contains(&name_label))
        {
            if line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) == Some(value as f64) {
                return Ok(since.elapsed());
            }
            last.clone_from(line);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(Error::Timeout {
        what: format!("{} to serve replicas {value} of deployment {ns}/{name}", t.label),
        waited: Duration::from_secs(60),
        last,
    })
}
