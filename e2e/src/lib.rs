//! End-to-end harness for statefleet: a real Kubernetes control plane on loopback, the exporter
//! run as a local process, and helpers to create objects, wait for conditions and compare
//! expositions.
//!
//! ```text
//!  ControlPlane::shared()  (one per test binary, started on first use)
//!    etcd <- kube-apiserver <- kube-controller-manager, kube-scheduler      (each under a supervisor)
//!        ^
//!        |  with_temp_ns("case", |ns| ...)   a labelled random namespace per test
//!        |
//!  Exporter::start(..) --scrape()--> expo::parse --> expo::diff / expo::lint / shards::check_union
//!  render_objects(..)  (statefleet-exporter render over objects fetched from the API)
//!
//!  VariedCluster::create(ns)   every resource in many states (e2e/fixtures/varied-cluster.yaml)
//!  side_by_side::Pair::start   upstream kube-state-metrics + ours, same flags; compare_stable()
//!
//!  ns.start_kubelet()          stand-in kubelet: bound pods look Running/Ready (no process)
//!  ProcessKubelet::start(..)   pods of our own programs (statefleet-exporter) run as local
//!                              processes: downward-API env, $(VAR) args, loopback ports,
//!                              a service-account kubeconfig; Ready once /readyz says 200
//!
//!  Prometheus::start(rules, targets)  a real Prometheus: file-based discovery of the exporters'
//!                              telemetry ports, a test copy of the alert rules with short
//!                              `for:`; alerts() / query() / wait_alerts() on its HTTP API
//! ```
//!
//! Every child process runs under a small `sh` supervisor that kills it as soon as the test
//! process goes away (see [`process`]), so a panicking or killed test binary leaves nothing behind.
//!
//! Running: `cargo build -p statefleet-exporter && cargo test -p statefleet-e2e -- --test-threads=N`.
//! Environment:
//! - `STATEFLEET_BIN_DIR`: directory with etcd and the Kubernetes binaries (default: the last
//!   line of `scripts/cluster-bins.sh etcd` / `k8s` / `prometheus`, which builds them when
//!   missing); `STATEFLEET_PROMETHEUS` overrides the Prometheus binary;
//! - `STATEFLEET_EXPORTER`: the exporter binary (default `<workspace>/target/debug/statefleet-exporter`);
//! - `STATEFLEET_E2E_RESOURCES`: comma-separated resources under test (default
//!   [`DEFAULT_RESOURCES`]);
//! - `STATEFLEET_E2E_KEEP=1`: keep failing tests' namespaces and the control plane directory.

pub mod bench;
pub mod checks;
pub mod control_plane;
pub mod expo;
pub mod exporter;
pub mod fixtures;
pub mod http;
pub mod kubelet;
pub mod namespace;
pub mod operator;
mod pki;
pub mod process;
pub mod prometheus;
pub mod resources;
pub mod shards;
pub mod side_by_side;
pub mod varied;

pub use control_plane::ControlPlane;
pub use exporter::Exporter;
pub use kubelet::{KubeletConfig, ProcessKubelet};
pub use namespace::{TestNs, with_temp_ns};
pub use resources::DEFAULT_RESOURCES;

use std::{future::Future, time::Duration};
use tokio::time::Instant;

/// Why a harness step failed. Messages say what was being done; sources are attached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or socket operation failed.
    #[error("failed to {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An API call failed.
    #[error("failed to {what}: {source}")]
    Kube {
        /// What was being done.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A condition did not hold before its deadline.
    #[error("timed out after {waited:?} waiting for {what}; last observation: {last}")]
    Timeout {
        /// The condition.
        what: String,
        /// How long it was waited for.
        waited: Duration,
        /// The last thing seen while polling, to tell why it did not hold.
        last: String,
    },
    /// A child process or external tool failed.
    #[error("failed to {what}: {detail}")]
    Process {
        /// What was being done.
        what: String,
        /// Exit status, log tail or other detail.
        detail: String,
    },
    /// Something the harness read did not parse.
    #[error("failed to parse {what}: {detail}")]
    Parse {
        /// What was parsed.
        what: String,
        /// Why it did not parse.
        detail: String,
    },
}

/// The harness result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a description to I/O errors.
pub(crate) trait IoContext<T> {
    fn io(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { what: what(), source })
    }
}

/// Attaches a description to API errors.
pub trait KubeContext<T> {
    /// Wraps the error as [`Error::Kube`] with `what` as the description.
    fn kube(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> KubeContext<T> for kube::Result<T> {
    fn kube(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Kube { what: what(), source })
    }
}

/// What one poll of [`wait_for`] saw: done with a value, or not yet, with a description of the
/// current state for the timeout message.
pub enum Poll<T> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the string describes what was seen.
    Pending(String),
}

/// Polls `check` every `every` until it returns [`Poll::Ready`] or `timeout` passes. Errors from
/// `check` count as "not yet" (the cluster may be converging) and end up in the timeout message.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last = String::from("(never polled)");
    loop {
        match tokio::time::timeout_at(deadline, check()).await {
            Ok(Ok(Poll::Ready(v))) => return Ok(v),
            Ok(Ok(Poll::Pending(seen))) => last = seen,
            Ok(Err(e)) => last = format!("error: {e}"),
            Err(_) => last = format!("(a poll was still running at the deadline; before that: {last})"),
        }
        if Instant::now() + every > deadline {
            return Err(Error::Timeout { what: what.to_string(), waited: start.elapsed(), last });
        }
        tokio::time::sleep(every).await;
    }
}

/// Whether failing tests should keep their namespace and the control plane's directory.
pub fn keep_on_failure() -> bool {
    std::env::var_os("STATEFLEET_E2E_KEEP").is_some_and(|v| !v.is_empty() && v != "0")
}

/// `2 * bytes` random lowercase hex digits from the kernel, for tokens and namespace names.
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // Unique enough for names when the kernel source is unavailable.
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let seed = nanos ^ (u128::from(std::process::id()) << 64);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The current time as RFC 3339 UTC with seconds (`2026-01-02T03:04:05Z`), as Kubernetes
/// writes timestamps.
pub fn rfc3339_now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
            as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}
