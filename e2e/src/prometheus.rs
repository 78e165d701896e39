//! A real Prometheus server scraping exporter processes, for the alert tests.
//!
//! [`Prometheus::start`] writes a `prometheus.yml` with one scrape job whose targets come from a
//! file (`file_sd_configs`) the harness rewrites with [`Prometheus::set_targets`]: each target
//! carries the labels a ServiceMonitor would give it (`job`, `namespace`, `service`, `pod`,
//! `endpoint`, optionally `cluster`), see [`Target::pod`]. The rules are a test copy of
//! `config/prometheus/statefleet-rules.yaml` with short `for:` durations and rate windows
//! ([`test_rules`]); scrapes and rule evaluations run every second. Prometheus runs under the
//! supervisor ([`crate::process`]) with its TSDB in a temporary directory.
//!
//! ```text
//! let prom = Prometheus::start(&test_rules(&rules_file()?, "5s", "20s")?, &targets).await?;
//! let alerts = prom.alerts().await?;             // GET /api/v1/alerts
//! let up = prom.query("up == 1").await?;          // GET /api/v1/query
//! eprintln!("{}", prom.report().await);           // alerts, targets, rule health
//! ```

use crate::{
    Error, IoContext, Poll, Result, http,
    kubelet::LocalPod,
    process::{self, Stop, Supervised},
    wait_for,
};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};
use tokio::time::Instant;

const START_ATTEMPTS: usize = 3;
/// How long Prometheus may take to answer `/-/ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Scrape and rule evaluation interval of the test server.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// The scrape job's name; the targets' own `job` labels override it.
const SCRAPE_JOB: &str = "statefleet";

/// The plain rules file the operator generates, relative to the workspace root.
pub const RULES_PATH: &str = "config/prometheus/statefleet-rules.yaml";

/// The Prometheus binary: `$STATEFLEET_PROMETHEUS`, `$STATEFLEET_BIN_DIR/prometheus`, or the
/// directory printed by `scripts/cluster-bins.sh prometheus` (which builds it when missing).
pub fn prometheus_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("STATEFLEET_PROMETHEUS").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        if let Some(dir) = std::env::var_os("STATEFLEET_BIN_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join("prometheus"));
        }
        let script = process::workspace_root().join("scripts/cluster-bins.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("prometheus")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("failed to run {} prometheus: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} prometheus failed ({}); its stderr above names the step that failed. \
                 Alternatively set STATEFLEET_BIN_DIR to a directory with the binaries",
                script.display(),
                out.status
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout.lines().last().map(|l| PathBuf::from(l.trim()));
        dir.map(|d| d.join("prometheus")).ok_or_else(|| format!("{} printed no directory", script.display()))
    })
    .clone()
    .map_err(|detail| Error::Process { what: "locate the prometheus binary".into(), detail })
    .and_then(|path| {
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::Process {
                what: "find prometheus".into(),
                detail: format!(
                    "{} does not exist; run `scripts/cluster-bins.sh prometheus` (or fix \
                     STATEFLEET_BIN_DIR / STATEFLEET_PROMETHEUS)",
                    path.display()
                ),
            })
        }
    })
}

/// The generated plain rules file ([`RULES_PATH`]).
pub fn rules_file() -> Result<String> {
    let path = process::workspace_root().join(RULES_PATH);
    std::fs::read_to_string(&path).io(|| format!("read {}", path.display()))
}

/// A test copy of a rules file: every `for:` set to `for_` and every `[5m]` rate window set to
/// `[rate_window]`. Fails when the file has no alert, or an alert without `for:`, so a change of
/// the generated format cannot silently leave the long durations in place.
pub fn test_rules(rules: &str, for_: &str, rate_window: &str) -> Result<String> {
    let mut out = String::with_capacity(rules.len());
    let (mut alerts, mut fors) = (0, 0);
    for line in rules.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("- alert:") {
            alerts += 1;
        }
        if trimmed.starts_with("for:") {
            fors += 1;
            let _ = writeln!(out, "{indent}for: {for_}");
        } else {
            out.push_str(&line.replace("[5m]", &format!("[{rate_window}]")));
            out.push('\n');
        }
    }
    if alerts == 0 || fors != alerts {
        return Err(Error::Parse {
            what: "the rules file".into(),
            detail: format!("{alerts} alerts and {fors} `for:` lines; expected one `for:` per alert"),
        });
    }
    Ok(out)
}

/// One scrape target and its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub addr: SocketAddr,
    /// Target labels (`job`, `namespace`, ...).
    pub labels: BTreeMap<String, String>,
}

impl Target {
    /// A target with `labels`.
    pub fn new(addr: SocketAddr, labels: &[(&str, &str)]) -> Self {
        Self { addr, labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    /// The named container port of a pod the process kubelet runs, labelled as a ServiceMonitor
    /// with `jobLabel` would: `job`, `namespace` (the pod's), `service`, `pod`, `endpoint` (the
    /// port name). `None` when the pod has no such port mapped.
    pub fn pod(pod: &LocalPod, port_name: &str, job: &str, service: &str) -> Option<Self> {
        let addr = pod.named_addr(port_name)?;
        Some(Self::new(
            addr,
            &[
                ("job", job),
                ("namespace", &pod.namespace),
                ("service", service),
                ("pod", &pod.name),
                ("endpoint", port_name),
            ],
        ))
    }

    /// Adds or replaces a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
}

/// An alert as `/api/v1/alerts` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Labels, `alertname` included.
    pub labels: BTreeMap<String, String>,
    /// Annotations after templating.
    pub annotations: BTreeMap<String, String>,
    /// `pending` or `firing`.
    pub state: String,
    /// The expression's value when it was last evaluated.
    pub value: f64,
    /// When the alert became active (pending).
    pub active_at: String,
}

impl Alert {
    /// The `alertname` label.
    pub fn name(&self) -> &str {
        self.label("alertname")
    }

    /// A label, empty when absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or_default()
    }

    /// Whether it is firing (not just pending).
    pub fn firing(&self) -> bool {
        self.state == "firing"
    }
}

impl std::fmt::Display for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        write!(
            f,
            "{} {} {{{}}} = {} (active since {})",
            self.state,
            self.name(),
            labels.join(", "),
            self.value,
            self.active_at
        )
    }
}

/// One-line-per-alert listing, `(no alerts)` when empty.
pub fn describe(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return "(no alerts)".into();
    }
    alerts.iter().map(|a| format!("  {a}")).collect::<Vec<_>>().join("\n")
}

/// A sample of an instant query's vector result.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Series labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Health of one rule as `/api/v1/rules` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleHealth {
    /// Alert name.
    pub name: String,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    pub health: String,
    /// The last evaluation error, if any.
    pub last_error: String,
}

/// A running Prometheus server. Stopped on drop; while a test panics, its log tail is printed.
pub struct Prometheus {
    addr: SocketAddr,
    targets_file: PathBuf,
    // Field order: the process stops before its directory goes away.
    proc: Supervised,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Writes the configuration (1 s scrape and evaluation interval, `rules` as the only rules
    /// file, `targets` through file-based discovery), starts Prometheus on a free loopback port
    /// and waits until `/-/ready` answers 200. Retries on a port clash.
    pub async fn start(rules: &str, targets: &[Target]) -> Result<Self> {
        let bin = prometheus_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("statefleet-e2e-prometheus-")
            .tempdir()
            .io(|| "create Prometheus' directory".into())?;
        let rules_path = dir.path().join("rules.yaml");
        std::fs::write(&rules_path, rules).io(|| format!("write {}", rules_path.display()))?;
        let targets_file = dir.path().join("targets.json");
        write_targets(&targets_file, targets)?;
        let config = dir.path().join("prometheus.yml");
        let secs = INTERVAL.as_secs().max(1);
        // JSON is YAML: no YAML writer needed.
        let config_text = json!({
            "global": {
                "scrape_interval": format!("{secs}s"),
                "scrape_timeout": format!("{secs}s"),
                "evaluation_interval": format!("{secs}s"),
            },
            "rule_files": [rules_path],
            "scrape_configs": [{
                "job_name": SCRAPE_JOB,
                // File changes are seen through inotify; the re-read is the fallback.
                "file_sd_configs": [{"files": [targets_file], "refresh_interval": "1s"}],
            }],
        });
        std::fs::write(&config, config_text.to_string()).io(|| format!("write {}", config.display()))?;
        let data = dir.path().join("data");
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = process::free_port()?;
            let args = vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", data.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--storage.tsdb.retention.time=1h".into(),
                // Hidden flag: apply discovered target changes at once instead of every 5 s.
                "--scrape.discovery-reload-interval=100ms".into(),
                "--log.level=info".into(),
            ];
            let log = dir.path().join(format!("prometheus-{attempt}.log"));
            // SIGKILL: the TSDB is thrown away, no need to wait for a clean shutdown.
            let mut proc = Supervised::spawn("prometheus", &bin, &args, &log, Stop::Kill, &[dir.path()])?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match wait_ready(&mut proc, addr).await {
                Ok(()) => return Ok(Self { addr, targets_file, proc, dir }),
                Err(detail) => {
                    let clash = detail.contains("address already in use");
                    last = detail;
                    if !clash {
                        break;
                    }
                }
            }
        }
        Err(Error::Process { what: "start prometheus".into(), detail: last })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its directory (configuration, rules, targets file, TSDB, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the discovered targets (written atomically; Prometheus picks the file up within
    /// about a second).
    pub fn set_targets(&self, targets: &[Target]) -> Result<()> {
        write_targets(&self.targets_file, targets)
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    /// `GET path` answered with `{"status": "success", "data": ...}`: the data.
    async fn api(&self, path: &str) -> Result<Value> {
        let r = http::get(self.addr, path).await?;
        let body: Value = serde_json::from_slice(&r.body).map_err(|e| Error::Parse {
            what: format!("the answer to GET {path} (HTTP {})", r.status),
            detail: format!("{e}: {}", r.text()),
        })?;
        if r.status != 200 || body["status"] != "success" {
            return Err(Error::Process {
                what: format!("GET {}{path}", self.url()),
                detail: format!("HTTP {}: {body}", r.status),
            });
        }
        Ok(body["data"].clone())
    }

    /// Active (pending and firing) alerts, sorted by name and labels.
    pub async fn alerts(&self) -> Result<Vec<Alert>> {
        let data = self.api("/api/v1/alerts").await?;
        let mut alerts: Vec<Alert> = data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| Alert {
                labels: string_map(&a["labels"]),
                annotations: string_map(&a["annotations"]),
                state: a["state"].as_str().unwrap_or_default().to_string(),
                value: a["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
                active_at: a["activeAt"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(alerts)
    }

    /// An instant query whose result is a vector.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>> {
        let data = self.api(&format!("/api/v1/query?query={}", urlencode(promql))).await?;
        if data["resultType"] != "vector" {
            return Err(Error::Parse {
                what: format!("the result of {promql}"),
                detail: format!("not a vector: {data}"),
            });
        }
        Ok(data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Sample {
                labels: string_map(&s["metric"]),
                value: s["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN),
            })
            .collect())
    }

    /// Health of every alerting rule, and the latest evaluation time of their groups (RFC 3339,
    /// empty before the first one).
    pub async fn rules(&self) -> Result<(Vec<RuleHealth>, String)> {
        let data = self.api("/api/v1/rules?type=alert").await?;
        let mut rules = Vec::new();
        let mut last = String::new();
        for group in data["groups"].as_array().into_iter().flatten() {
            last = last.max(group["lastEvaluation"].as_str().unwrap_or_default().to_string());
            for rule in group["rules"].as_array().into_iter().flatten() {
                rules.push(RuleHealth {
                    name: rule["name"].as_str().unwrap_or_default().to_string(),
                    health: rule["health"].as_str().unwrap_or_default().to_string(),
                    last_error: rule["lastError"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        Ok((rules, last))
    }

    /// How many times the rule groups have been evaluated so far (the sum of Prometheus' own
    /// `prometheus_rule_group_iterations_total`).
    pub async fn rule_iterations(&self) -> Result<f64> {
        let r = http::get(self.addr, "/metrics").await?;
        if r.status != 200 {
            return Err(Error::Process {
                what: format!("GET {}/metrics", self.url()),
                detail: format!("HTTP {}", r.status),
            });
        }
        Ok(r.text()
            .lines()
            .filter(|l| l.starts_with("prometheus_rule_group_iterations_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Every discovered target: labels, health (`up`, `down`, `unknown`) and last scrape error.
    pub async fn targets(&self) -> Result<Vec<(BTreeMap<String, String>, String, String)>> {
        let data = self.api("/api/v1/targets?state=active").await?;
        Ok(data["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    string_map(&t["labels"]),
                    t["health"].as_str().unwrap_or_default().to_string(),
                    t["lastError"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    /// What Prometheus sees, for failure messages: alerts, targets, rule health, the sharding
    /// series, and its log tail.
    pub async fn report(&self) -> String {
        let mut out = format!("---- Prometheus {} ----\nalerts:\n", self.url());
        match self.alerts().await {
            Ok(a) => out.push_str(&describe(&a)),
            Err(e) => out.push_str(&format!("  (error: {e})")),
        }
        out.push_str("\ntargets:\n");
        match self.targets().await {
            Ok(targets) => {
                for (labels, health, error) in targets {
                    let _ = writeln!(out, "  {health} {labels:?} {error}");
                }
            }
            Err(e) => out.push_str(&format!("  (error: {e})\n")),
        }
        out.push_str("rules:\n");
        match self.rules().await {
            Ok((rules, last)) => {
                for r in rules {
                    let _ = writeln!(out, "  {} {} {}", r.name, r.health, r.last_error);
                }
                let _ = writeln!(out, "  last evaluation {last}");
            }
            Err(e) => out.push_str(&format!("  (error: {e})\n")),
        }
        for q in [
            "kube_state_metrics_total_shards",
            "kube_state_metrics_shard_ordinal",
            "statefleet_resource_synced == 0",
            "up",
        ] {
            let _ = writeln!(out, "{q}:");
            match self.query(q).await {
                Ok(samples) => {
                    for s in samples {
                        let _ = writeln!(out, "  {:?} {}", s.labels, s.value);
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "  (error: {e})");
                }
            }
        }
        let _ = write!(out, "log tail:\n{}\n---- end of Prometheus ----", self.log_tail(20));
        out
    }

    /// Polls the active alerts every 250 ms until `check` returns `Some`, or fails after
    /// `timeout` with the last alerts seen and [`Self::report`].
    pub async fn wait_alerts<T>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&[Alert]) -> Option<T>,
    ) -> Result<T> {
        let check = &check;
        let waited = wait_for(what, timeout, Duration::from_millis(250), || async move {
            let alerts = self.alerts().await?;
            Ok(match check(&alerts) {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending(format!("alerts:\n{}", describe(&alerts))),
            })
        })
        .await;
        match waited {
            Ok(v) => Ok(v),
            Err(Error::Timeout { what, waited, last }) => {
                Err(Error::Timeout { what, waited, last: format!("{last}\n{}", self.report().await) })
            }
            Err(e) => Err(e),
        }
    }

    /// Polls `promql` until `check` accepts its result, or fails after `timeout` with the last
    /// result and [`Self::report`].
    pub async fn wait_query<T>(
        &self,
        promql: &str,
        timeout: Duration,
        check: impl Fn(&[Sample]) -> Option<T>,
    ) -> Result<T> {
        let check = &check;
        let what = format!("Prometheus to see the expected result of {promql}");
        let waited = wait_for(&what, timeout, Duration::from_millis(250), || async move {
            let samples = self.query(promql).await?;
            Ok(match check(&samples) {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending(format!("{samples:?}")),
            })
        })
        .await;
        match waited {
            Ok(v) => Ok(v),
            Err(Error::Timeout { what, waited, last }) => {
                Err(Error::Timeout { what, waited, last: format!("{last}\n{}", self.report().await) })
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.proc.stop();
        if std::thread::panicking() {
            eprintln!(
                "---- log of prometheus {} ----\n{}\n---- end of log ----",
                self.url(),
                self.log_tail(40)
            );
        }
    }
}

async fn wait_ready(proc: &mut Supervised, addr: SocketAddr) -> std::result::Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = proc.exited() {
            return Err(format!(
                "it exited with {status} before /-/ready said 200; log tail:\n{}",
                proc.log_tail(30)
            ));
        }
        let last = match http::get(addr, "/-/ready").await {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => format!("HTTP {}", r.status),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(format!(
                "/-/ready on {addr} not 200 after {READY_TIMEOUT:?} (last: {last}); log tail:\n{}",
                proc.log_tail(30)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes the file-based discovery file: one group per target, written to a temporary file and
/// renamed so Prometheus never reads half of it.
fn write_targets(path: &Path, targets: &[Target]) -> Result<()> {
    let groups: Vec<Value> =
        targets.iter().map(|t| json!({"targets": [t.addr.to_string()], "labels": t.labels})).collect();
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, Value::Array(groups).to_string()).io(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).io(|| format!("rename {} to {}", tmp.display(), path.display()))
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
        .collect()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rules_shorten_every_for_and_rate_window() {
        let rules = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x[5m]) > 0\n    for: 15m\n  \
                     - alert: B\n    expr: max_over_time(y[1h])\n    for: 10m\n";
        let short = test_rules(rules, "5s", "20s").expect("rewritten");
        assert_eq!(short.matches("for: 5s").count(), 2, "{short}");
        assert!(short.contains("rate(x[20s])") && short.contains("y[1h]"), "{short}");
        assert!(!short.contains("15m") && !short.contains("10m"), "{short}");
        assert!(
            test_rules("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n", "5s", "20s").is_err()
        );
    }

    #[test]
    fn the_generated_rules_file_has_a_for_per_alert() {
        let rules = rules_file().expect("the rules file is readable");
        test_rules(&rules, "5s", "20s").expect("every alert has a `for:`");
    }

    #[test]
    fn urlencode_escapes_promql() {
        assert_eq!(urlencode(r#"up{job="a b"} == 0"#), "up%7Bjob%3D%22a%20b%22%7D%20%3D%3D%200");
    }
}
