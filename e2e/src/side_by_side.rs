//! Upstream kube-state-metrics and statefleet-exporter run side by side on one control plane with
//! exactly the same flags ([`crate::bench::target::Target`], the benchmark's start code), scraped
//! and compared series by series: names, label sets and values, plus the families each declares
//! and their TYPE (HELP wording is not compared).
//!
//! ```text
//! let pair = Pair::start(cp, &full_coverage_flags(&cluster.namespaces())?, dir).await?;
//! let outcome = pair.compare_stable(|labels| cluster.owns(labels), timeout).await?;
//! assert!(outcome.is_equal(), "{}", outcome.report());
//! ```
//!
//! A comparison only counts on a stable state: each round scrapes upstream, ours, upstream
//! again, and only rounds whose two upstream scrapes agree are compared. A difference must show
//! in [`STABLE_ROUNDS`] such rounds in a row before it is reported, so a change that reached one
//! exporter a moment before the other is not mistaken for one.
//!
//! No value is given a tolerance: upstream's store code never reads the clock (every time-like
//! value, `kube_cronjob_next_schedule_time` included, comes from the objects).

use crate::{
    ControlPlane, Error, Result,
    bench::target::{Binaries, Impl, Target},
    expo::{self, Diff, HeaderKind, Labels, SeriesKey},
    http, process,
};
use std::{collections::BTreeMap, path::Path, time::Duration};
use tokio::time::Instant;

/// Stable rounds in a row that must show the same difference before it is reported.
pub const STABLE_ROUNDS: usize = 3;
/// The opt-in families of upstream v2.20.0 (`NewOptInFamilyGenerator` in its store code); both
/// exporters get them through `--metric-opt-in-list`.
pub const OPT_IN_FAMILIES: &[&str] = &["kube_persistentvolume_csi_attributes", "kube_pod_nodeselectors"];

/// The namespaces the control plane makes for itself; no test creates objects in them.
pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Whether a series belongs to an object the control plane made for itself (bootstrap RBAC,
/// the system namespaces and what they hold, the registered nodes `nodes`): real-world shapes
/// the same in every run, which no test changes.
pub fn control_plane_owns(labels: &Labels, nodes: &[String]) -> bool {
    let bootstrap_rbac = |v: &String| {
        v.starts_with("system:") || matches!(v.as_str(), "admin" | "edit" | "view" | "cluster-admin")
    };
    labels.get("namespace").is_some_and(|n| SYSTEM_NAMESPACES.contains(&n.as_str()))
        || labels.get("clusterrole").is_some_and(bootstrap_rbac)
        || labels.get("clusterrolebinding").is_some_and(bootstrap_rbac)
        || labels.get("node").is_some_and(|n| nodes.contains(n))
}

/// Series and their values, after filtering.
pub type Series = BTreeMap<SeriesKey, f64>;

/// Every resource statefleet-exporter implements, from its `families` subcommand (so the test
/// follows the exporter's registry instead of a copy of it).
pub fn exporter_resources() -> Result<Vec<String>> {
    let bin = process::exporter_bin()?;
    let out = std::process::Command::new(&bin)
        .arg("families")
        .output()
        .map_err(|source| Error::Io { what: format!("run {} families", bin.display()), source })?;
    if !out.status.success() {
        return Err(Error::Process {
            what: format!("run {} families", bin.display()),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('\t').nth(3))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The flags that switch everything on: every resource, every opt-in family, every label and
/// annotation as `label_*`/`annotation_*`, restricted to `namespaces` for namespaced kinds.
pub fn full_coverage_flags(namespaces: &[String]) -> Result<Vec<String>> {
    Ok(vec![
        format!("--resources={}", exporter_resources()?.join(",")),
        format!("--namespaces={}", namespaces.join(",")),
        format!("--metric-opt-in-list={}", OPT_IN_FAMILIES.join(",")),
        "--metric-labels-allowlist=*=[*]".into(),
        "--metric-annotations-allowlist=*=[*]".into(),
    ])
}

/// The two exporters, running. Stopped on drop.
pub struct Pair {
    /// Upstream kube-state-metrics.
    pub upstream: Target,
    /// statefleet-exporter.
    pub ours: Target,
}

impl Pair {
    /// Starts upstream (`kube-state-metrics` in the cluster binary directory) and ours
    /// ([`process::exporter_bin`]) against `cp` with `flags`; logs go to `logs`.
    pub async fn start(cp: &ControlPlane, flags: &[String], logs: &Path) -> Result<Self> {
        Self::start_sharded(cp, None, flags, &[], logs).await
    }

    /// [`Self::start`] as shard `shard.0` of `shard.1` (`--shard`, `--total-shards`) when given,
    /// with `ours_only` appended to our flags: statefleet-only flags such as `--shard-hash=jump`
    /// (upstream's assignment, ours is MD5 by default) that upstream would reject.
    pub async fn start_sharded(
        cp: &ControlPlane,
        shard: Option<(u32, u32)>,
        flags: &[String],
        ours_only: &[String],
        logs: &Path,
    ) -> Result<Self> {
        let bins = Binaries {
            upstream: process::cluster_bin("kube-state-metrics")?,
            ours: process::exporter_bin()?,
        };
        let server = cp.server_url();
        let ours_flags: Vec<String> = flags.iter().chain(ours_only).cloned().collect();
        let start = |which, flags| Target::start(which, &bins, cp.kubeconfig(), &server, shard, flags, logs);
        let (upstream, ours) =
            tokio::try_join!(start(Impl::Upstream, flags), start(Impl::Ours, &ours_flags))?;
        Ok(Self { upstream, ours })
    }

    /// Compares the two on a stable state (see the module doc), keeping the series whose labels
    /// `keep` accepts. Returns the first equal comparison, or the difference once it held for
    /// [`STABLE_ROUNDS`] stable rounds in a row; fails if no stable round happens in `timeout`.
    pub async fn compare_stable(
        &mut self,
        keep: impl Fn(&Labels) -> bool,
        timeout: Duration,
    ) -> Result<Outcome> {
        let started = Instant::now();
        let (mut rounds, mut unstable, mut same_diff) = (0usize, 0usize, 0usize);
        let mut last: Option<String> = None;
        loop {
            rounds += 1;
            self.upstream.check_alive()?;
            self.ours.check_alive()?;
            match self.round(&keep).await {
                Ok(Some((upstream, ours))) if !upstream.series.is_empty() => {
                    let diff = expo::diff_series(&upstream.series, &ours.series);
                    let types = type_differences(&upstream.types, &ours.types);
                    let shown = format!("{diff}\n{}", types.join("\n"));
                    same_diff = if last.as_deref() == Some(shown.as_str()) { same_diff + 1 } else { 1 };
                    if (diff.is_empty() && types.is_empty()) || same_diff >= STABLE_ROUNDS {
                        return Ok(Outcome {
                            upstream: upstream.series,
                            ours: ours.series,
                            diff,
                            types,
                            rounds,
                            unstable,
                            took: started.elapsed(),
                        });
                    }
                    last = Some(shown);
                }
                Ok(_) => unstable += 1,
                // Not serving yet (both start at once with the test's objects).
                Err(_) if started.elapsed() < timeout => {}
                Err(e) => return Err(e),
            }
            if started.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: "a stable state in which upstream and ours can be compared".into(),
                    waited: started.elapsed(),
                    last: format!(
                        "{rounds} rounds, {unstable} unstable; last difference: {}",
                        last.unwrap_or_else(|| "(none compared)".into())
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Upstream, ours, upstream: both sets when the two upstream scrapes agree, else `None`.
    async fn round(&self, keep: &impl Fn(&Labels) -> bool) -> Result<Option<(Scrape, Scrape)>> {
        let first = scrape(&self.upstream, keep).await?;
        let ours = scrape(&self.ours, keep).await?;
        let second = scrape(&self.upstream, keep).await?;
        Ok((first.series == second.series).then_some((second, ours)))
    }

    /// The last lines of both logs, for a failure message.
    pub fn log_tails(&self, lines: usize) -> String {
        format!(
            "---- upstream log ----\n{}\n---- ours log ----\n{}\n",
            process::tail(self.upstream.log(), lines),
            process::tail(self.ours.log(), lines)
        )
    }
}

/// One scrape: the kept series, and every declared family's TYPE.
struct Scrape {
    series: Series,
    types: BTreeMap<String, String>,
}

/// `GET /metrics` of `target`, parsed, keeping the series `keep` accepts.
async fn scrape(target: &Target, keep: &impl Fn(&Labels) -> bool) -> Result<Scrape> {
    let r = http::get(target.metrics, "/metrics").await?;
    if r.status != 200 {
        return Err(Error::Process {
            what: format!("scrape {}", target.label),
            detail: format!("HTTP {}: {}", r.status, r.text()),
        });
    }
    let parsed = expo::parse(&r.text()).map_err(|e| Error::Parse {
        what: format!("the scrape of {}", target.label),
        detail: e.to_string(),
    })?;
    let types = parsed
        .headers
        .iter()
        .filter(|h| h.kind == HeaderKind::Type)
        .map(|h| (h.name.clone(), h.text.clone()))
        .collect();
    Ok(Scrape { series: parsed.series().into_iter().filter(|(k, _)| keep(&k.labels)).collect(), types })
}

/// Families declared by one side only, or with another TYPE, as readable lines. (HELP texts
/// are not compared: upstream's wording is not part of the contract.)
fn type_differences(upstream: &BTreeMap<String, String>, ours: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (family, t) in upstream {
        match ours.get(family) {
            None => out.push(format!("family {family} ({t}) declared by upstream only")),
            Some(o) if o != t => out.push(format!("family {family}: TYPE {t} upstream, {o} ours")),
            Some(_) => {}
        }
    }
    for (family, t) in ours.iter().filter(|(f, _)| !upstream.contains_key(*f)) {
        out.push(format!("family {family} ({t}) declared by ours only"));
    }
    out
}

/// A finished comparison.
#[derive(Debug)]
pub struct Outcome {
    /// Upstream's series (the second scrape of the compared round).
    pub upstream: Series,
    /// Ours.
    pub ours: Series,
    /// Upstream as expected, ours as actual.
    pub diff: Diff,
    /// Families declared by one side only or with another TYPE ([`type_differences`]).
    pub types: Vec<String>,
    /// Rounds taken, the compared one included.
    pub rounds: usize,
    /// Rounds skipped because upstream changed between its two scrapes.
    pub unstable: usize,
    /// Time from the first round to the compared one.
    pub took: Duration,
}

impl Outcome {
    /// Same series, values and family types.
    pub fn is_equal(&self) -> bool {
        self.diff.is_empty() && self.types.is_empty()
    }

    /// Series compared per family (upstream's and ours together).
    pub fn per_family(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for k in self.upstream.keys().chain(self.ours.keys().filter(|k| !self.upstream.contains_key(*k))) {
            *out.entry(k.name.as_str()).or_insert(0) += 1;
        }
        out
    }

    /// A readable report: counts, then every difference as family, labels, upstream and ours
    /// values (capped at [`REPORT_LINES`] lines).
    pub fn report(&self) -> String {
        let families = self.per_family();
        let mut out = format!(
            "{} series in {} families compared ({} upstream, {} ours) after {} rounds ({} unstable) in {:.1?}\n",
            families.values().sum::<usize>(),
            families.len(),
            self.upstream.len(),
            self.ours.len(),
            self.rounds,
            self.unstable,
            self.took
        );
        if self.is_equal() {
            return out;
        }
        for t in &self.types {
            out.push_str(&format!("  {t}\n"));
        }
        out.push_str(&format!(
            "{} only upstream, {} only ours, {} with different values:\n",
            self.diff.missing.len(),
            self.diff.extra.len(),
            self.diff.different.len()
        ));
        let lines = self
            .diff
            .missing
            .iter()
            .map(|(k, v)| format!("  only upstream  {k} = {v}"))
            .chain(self.diff.extra.iter().map(|(k, v)| format!("  only ours      {k} = {v}")))
            .chain(
                self.diff
                    .different
                    .iter()
                    .map(|(k, u, o)| format!("  different      {k}: upstream {u}, ours {o}")),
            );
        let lines: Vec<String> = lines.collect();
        for l in lines.iter().take(REPORT_LINES) {
            out.push_str(l);
            out.push('\n');
        }
        if lines.len() > REPORT_LINES {
            out.push_str(&format!("  ... and {} more\n", lines.len() - REPORT_LINES));
        }
        out
    }
}

/// Most difference lines [`Outcome::report`] prints.
pub const REPORT_LINES: usize = 300;
