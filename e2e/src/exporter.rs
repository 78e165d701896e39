//! The exporter under test, run as a local process on free loopback ports, and its `render`
//! subcommand.

use crate::{
    Error, IoContext, Result,
    expo::{self, Exposition},
    http,
    process::{self, Stop, Supervised},
};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::time::Instant;

const START_ATTEMPTS: usize = 3;
/// How long the exporter may take to list everything and report ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `statefleet-exporter`. Stopped on drop; when dropped during a panic (a failing test)
/// its log is printed.
pub struct Exporter {
    label: String,
    args: Vec<String>,
    metrics: SocketAddr,
    telemetry: SocketAddr,
    // Field order: the process stops before its log directory goes away.
    proc: Supervised,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// Starts the exporter against the cluster of `kubeconfig` with `args` (e.g. `--resources`,
    /// `--namespaces`, shard flags) and waits until its `/readyz` answers 200. `label` names it in
    /// messages (e.g. `md5 shard 1/3`). Retries on a port clash.
    pub async fn start(label: &str, kubeconfig: &Path, args: &[String]) -> Result<Self> {
        let bin = process::exporter_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("statefleet-e2e-exporter-")
            .tempdir()
            .io(|| "create the exporter's log directory".into())?;
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let (port, telemetry_port) = (process::free_port()?, process::free_port()?);
            let mut full: Vec<String> = vec![
                format!("--kubeconfig={}", kubeconfig.display()),
                "--host=127.0.0.1".into(),
                format!("--port={port}"),
                "--telemetry-host=127.0.0.1".into(),
                format!("--telemetry-port={telemetry_port}"),
            ];
            full.extend(args.iter().cloned());
            let log = dir.path().join(format!("exporter-{attempt}.log"));
            let mut proc = Supervised::spawn(
                &format!("statefleet-exporter ({label})"),
                &bin,
                &full,
                &log,
                Stop::Term,
                &[],
            )?;
            let telemetry = SocketAddr::from(([127, 0, 0, 1], telemetry_port));
            match wait_ready(&mut proc, telemetry).await {
                Ok(()) => {
                    return Ok(Self {
                        label: label.to_string(),
                        args: full,
                        metrics: SocketAddr::from(([127, 0, 0, 1], port)),
                        telemetry,
                        proc,
                        _dir: dir,
                    });
                }
                Err(detail) => {
                    let clash = detail.contains("failed to listen");
                    last = detail;
                    if !clash {
                        break;
                    }
                }
            }
        }
        Err(Error::Process {
            what: format!("start statefleet-exporter ({label}) with {}", args.join(" ")),
            detail: last,
        })
    }

    /// The label given at start.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Every argument it runs with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Main port address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
    }

    /// Telemetry port address.
    pub fn telemetry_addr(&self) -> SocketAddr {
        self.telemetry
    }

    /// `GET /metrics` on the main port; fails unless the answer is 200.
    pub async fn scrape(&self) -> Result<String> {
        self.get_ok(self.metrics, "/metrics").await
    }

    /// [`Self::scrape`], parsed.
    pub async fn scrape_parsed(&self) -> Result<Exposition> {
        let text = self.scrape().await?;
        expo::parse(&text).map_err(|e| Error::Parse {
            what: format!("the scrape of {}", self.label),
            detail: e.to_string(),
        })
    }

    /// `GET /metrics` on the telemetry port.
    pub async fn telemetry(&self) -> Result<String> {
        self.get_ok(self.telemetry, "/metrics").await
    }

    async fn get_ok(&self, addr: SocketAddr, path: &str) -> Result<String> {
        let r = http::get(addr, path).await?;
        if r.status == 200 {
            Ok(r.text())
        } else {
            Err(Error::Process {
                what: format!("scrape http://{addr}{path} of {}", self.label),
                detail: format!("HTTP {}: {}", r.status, r.text()),
            })
        }
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        self.proc.log()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.proc.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- log of statefleet-exporter ({}), args {:?} ----\n{}\n---- end of log ----",
                self.label,
                self.args,
                self.proc.log_tail(60)
            );
        }
    }
}

async fn wait_ready(proc: &mut Supervised, telemetry: SocketAddr) -> std::result::Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = proc.exited() {
            return Err(format!(
                "it exited with {status} before /readyz said 200; log tail:\n{}",
                proc.log_tail(30)
            ));
        }
        let last = match http::get(telemetry, "/readyz").await {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => format!("HTTP {}", r.status),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(format!(
                "/readyz on {telemetry} not 200 after {READY_TIMEOUT:?} (last: {last}); log tail:\n{}",
                proc.log_tail(30)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `statefleet-exporter render --input FILE args...` on `objects` (written to a file in
/// `dir`) and returns the exposition text.
pub async fn render(objects: &serde_json::Value, args: &[String], dir: &Path) -> Result<String> {
    let bin = process::exporter_bin()?;
    let input: PathBuf = dir.join(format!("render-input-{}.json", crate::random_hex(4)));
    let bytes = serde_json::to_vec(objects)
        .map_err(|e| Error::Parse { what: "the object list".into(), detail: e.to_string() })?;
    std::fs::write(&input, bytes).io(|| format!("write {}", input.display()))?;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&bin)
            .arg("render")
            .arg(format!("--input={}", input.display()))
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| Error::Process {
        what: "run statefleet-exporter render".into(),
        detail: "no result within 60s".into(),
    })?
    .io(|| format!("run {} render", bin.display()))?;
    if !out.status.success() {
        return Err(Error::Process {
            what: format!("run statefleet-exporter render {}", args.join(" ")),
            detail: format!(
                "{}: {} (input kept at {})",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                input.display()
            ),
        });
    }
    let _ = std::fs::remove_file(&input);
    String::from_utf8(out.stdout)
        .map_err(|e| Error::Parse { what: "render output".into(), detail: e.to_string() })
}
