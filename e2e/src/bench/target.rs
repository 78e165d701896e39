//! An exporter under measurement: upstream kube-state-metrics or statefleet-exporter, started
//! with the same flags (they are compatible) on free loopback ports under a supervisor, with the
//! pid of the real process for `/proc` readings.

use crate::{
    Error, Result,
    bench::{procstat, proxy::CountingProxy},
    process::{self, Stop, Supervised},
    random_hex,
};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::time::Instant;

/// Which exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// Upstream kube-state-metrics.
    Upstream,
    /// statefleet-exporter.
    Ours,
}

impl Impl {
    /// `upstream` or `ours`.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Upstream => "upstream",
            Impl::Ours => "ours",
        }
    }
}

/// The two binaries.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// kube-state-metrics.
    pub upstream: PathBuf,
    /// statefleet-exporter (release build).
    pub ours: PathBuf,
}

impl Binaries {
    /// The binary of `which`.
    pub fn of(&self, which: Impl) -> &Path {
        match which {
            Impl::Upstream => &self.upstream,
            Impl::Ours => &self.ours,
        }
    }
}

/// A running exporter. Stopped (SIGTERM, then SIGKILL) on drop.
pub struct Target {
    /// Which exporter.
    pub which: Impl,
    /// `upstream`, `ours shard 2/4`.
    pub label: String,
    /// The exporter's own pid.
    pub pid: u32,
    /// Main port.
    pub metrics: SocketAddr,
    /// Telemetry port.
    pub telemetry: SocketAddr,
    /// When it was started.
    pub started: Instant,
    proc: Supervised,
    proxy: CountingProxy,
}

impl Target {
    /// Starts `which` against the API server at `server` (of `kubeconfig`), through a counting
    /// proxy of its own, with gzip allowed, `--shard`/`--total-shards` when `shard` is given and
    /// `extra` flags (none: default resources); logs go to `logs`. The flags are the same for
    /// both implementations, which is what makes their outputs comparable.
    pub async fn start(
        which: Impl,
        bins: &Binaries,
        kubeconfig: &Path,
        server: &str,
        shard: Option<(u32, u32)>,
        extra: &[String],
        logs: &Path,
    ) -> Result<Self> {
        let bin = bins.of(which);
        let apiserver: SocketAddr = server.trim_start_matches("https://").parse().map_err(|e| {
            Error::Parse { what: format!("the API server address {server}"), detail: format!("{e}") }
        })?;
        let proxy = CountingProxy::start(apiserver).await?;
        let kubeconfig = proxy.kubeconfig(kubeconfig, server, logs)?;
        let (port, telemetry_port) = (process::free_port()?, process::free_port()?);
        let mut args = vec![
            format!("--kubeconfig={}", kubeconfig.display()),
            "--host=127.0.0.1".into(),
            format!("--port={port}"),
            "--telemetry-host=127.0.0.1".into(),
            format!("--telemetry-port={telemetry_port}"),
            "--enable-gzip-encoding".into(),
        ];
        let label = match shard {
            Some((i, n)) => {
                args.push(format!("--shard={i}"));
                args.push(format!("--total-shards={n}"));
                format!("{} shard {i}/{n}", which.name())
            }
            None => which.name().to_string(),
        };
        args.extend(extra.iter().cloned());
        let log = logs.join(format!("{}-{}.log", label.replace([' ', '/'], "-"), random_hex(3)));
        let started = Instant::now();
        let mut proc = Supervised::spawn(&label, bin, &args, &log, Stop::Term, &[])?;
        let program = bin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let needle = format!("--telemetry-port={telemetry_port}");
        let pid = loop {
            if let Some(pid) = procstat::find_pid(&program, &needle) {
                break pid;
            }
            if let Some(status) = proc.exited() {
                return Err(Error::Process {
                    what: format!("start {label}"),
                    detail: format!("it exited with {status}; log tail:\n{}", proc.log_tail(20)),
                });
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(Error::Process {
                    what: format!("start {label}"),
                    detail: format!("no process with {needle} after 10 s"),
                });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        Ok(Self {
            which,
            label,
            pid,
            metrics: SocketAddr::from(([127, 0, 0, 1], port)),
            telemetry: SocketAddr::from(([127, 0, 0, 1], telemetry_port)),
            started,
            proc,
            proxy,
        })
    }

    /// Fails with the log tail if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.proc.exited() {
            Some(status) => Err(Error::Process {
                what: format!("run {}", self.label),
                detail: format!("it exited with {status}; log tail:\n{}", self.proc.log_tail(30)),
            }),
            None => Ok(()),
        }
    }

    /// Resident memory now.
    pub fn rss(&self) -> u64 {
        procstat::rss(self.pid).unwrap_or(0)
    }

    /// Peak resident memory.
    pub fn hwm(&self) -> u64 {
        procstat::hwm(self.pid).unwrap_or(0)
    }

    /// CPU time so far.
    pub fn cpu(&self) -> Duration {
        procstat::cpu(self.pid).unwrap_or_default()
    }

    /// Bytes the API server has sent it so far (TLS included).
    pub fn api_bytes(&self) -> u64 {
        self.proxy.received()
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        self.proc.log()
    }

    /// Stops the process and waits for it.
    pub fn stop(mut self) {
        self.proc.stop();
    }
}
