//! The tables: absolute figures and ratios ours/upstream with the targets, as markdown
//! for the terminal and for docs/performance.md (a trend row plus the run's full tables).

use crate::{
    Error, IoContext, Result,
    bench::run::{Measured, Results, Sharded},
};
use std::{fmt::Write as _, path::Path, time::Duration};

/// The `p` quantile (nearest rank) of `v`; zero when empty.
pub fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut s = v.to_vec();
    s.sort();
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 { format!("{s:.1} s") } else { format!("{s:.3} s") }
}

fn mib(b: u64) -> String {
    let m = b as f64 / 1_048_576.0;
    if m >= 100.0 { format!("{m:.0} MiB") } else { format!("{m:.1} MiB") }
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(ours: f64, upstream: f64) -> Option<f64> {
    (upstream > 0.0 && ours.is_finite()).then(|| ours / upstream)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}"))
}

fn target(r: Option<f64>, limit: f64) -> String {
    match r {
        Some(r) if r <= limit => format!("≤ {limit} ✓"),
        Some(_) => format!("≤ {limit} ✗ MISSED"),
        None => format!("≤ {limit} ?"),
    }
}

struct Table {
    text: String,
}

impl Table {
    fn new() -> Self {
        Self { text: "| figure | upstream | ours | ours/upstream | target |\n|---|---|---|---|---|\n".into() }
    }

    fn row(&mut self, figure: &str, upstream: String, ours: String, r: Option<f64>, limit: Option<f64>) {
        let t = limit.map(|l| target(r, l)).unwrap_or_default();
        self.row_text(figure, upstream, ours, fmt_ratio(r), t);
    }

    fn row_text(&mut self, figure: &str, upstream: String, ours: String, r: String, target: String) {
        let _ = writeln!(self.text, "| {figure} | {upstream} | {ours} | {r} | {target} |");
    }

    fn dur(&mut self, figure: &str, u: Duration, o: Duration, limit: Option<f64>) {
        self.row(figure, secs(u), secs(o), ratio(o.as_secs_f64(), u.as_secs_f64()), limit);
    }

    fn mem(&mut self, figure: &str, u: u64, o: u64, limit: Option<f64>) {
        self.row(figure, mib(u), mib(o), ratio(o as f64, u as f64), limit);
    }
}

fn rounds_table(m: &[Measured; 2], scrapes: usize, churn_note: &str, sequential: bool) -> String {
    let [u, o] = m;
    let mut t = Table::new();
    t.dur("time to ready (every loaded object served)", u.ready, o.ready, sequential.then_some(1.0));
    if let Some(rz) = o.readyz {
        t.row("ours: /readyz 200 after", "–".into(), secs(rz), None, None);
    }
    let (ub, ob) = (u.api_bytes_at_ready, o.api_bytes_at_ready);
    t.row("bytes from the API server until ready", mb(ub), mb(ob), ratio(ob as f64, ub as f64), None);
    t.mem("peak RSS at ready (VmHWM)", u.hwm_ready, o.hwm_ready, None);
    t.mem("RSS after sync", u.rss_sync, o.rss_sync, sequential.then_some(0.25));
    t.mem(
        &format!("RSS after {} scrapes", 2 * scrapes),
        u.rss_scraped,
        o.rss_scraped,
        sequential.then_some(0.25),
    );
    t.mem("peak RSS over the round (VmHWM)", u.hwm_end, o.hwm_end, None);
    t.mem(
        &format!(
            "RSS at the end of the round (after churn; {:.0} s / {:.0} s after start)",
            u.lifetime.as_secs_f64(),
            o.lifetime.as_secs_f64()
        ),
        u.rss_end,
        o.rss_end,
        None,
    );
    t.row("series", thousands(u.series), thousands(o.series), ratio(o.series as f64, u.series as f64), None);
    t.row(
        "plain bytes",
        mb(u.plain_bytes),
        mb(o.plain_bytes),
        ratio(o.plain_bytes as f64, u.plain_bytes as f64),
        None,
    );
    t.row(
        "gzip bytes (decompressed)",
        format!("{} ({})", mb(u.gzip_bytes), mb(u.gunzipped)),
        format!("{} ({})", mb(o.gzip_bytes), mb(o.gunzipped)),
        ratio(o.gzip_bytes as f64, u.gzip_bytes as f64),
        None,
    );
    let n = u.plain.len();
    t.dur(
        &format!("scrape p50, plain ({n} scrapes)"),
        pct(&u.plain, 0.5),
        pct(&o.plain, 0.5),
        sequential.then_some(0.25),
    );
    t.dur("scrape p99, plain", pct(&u.plain, 0.99), pct(&o.plain, 0.99), None);
    t.dur(
        &format!("scrape p50, gzip ({n} scrapes)"),
        pct(&u.gzip, 0.5),
        pct(&o.gzip, 0.5),
        sequential.then_some(0.2),
    );
    t.dur("scrape p99, gzip", pct(&u.gzip, 0.99), pct(&o.gzip, 0.99), None);
    t.dur(&format!("CPU under churn ({churn_note})"), u.churn_cpu, o.churn_cpu, Some(0.5));
    let (ub, ob) = (u.churn_api_bytes, o.churn_api_bytes);
    t.row("bytes from the API server during churn", mb(ub), mb(ob), ratio(ob as f64, ub as f64), None);
    let p = u.probes.len();
    t.dur(&format!("event to metric p50 ({p} probes)"), pct(&u.probes, 0.5), pct(&o.probes, 0.5), None);
    t.dur("event to metric p99", pct(&u.probes, 0.99), pct(&o.probes, 0.99), None);
    t.text
}

fn max(v: &[u64]) -> u64 {
    v.iter().copied().max().unwrap_or(0)
}

fn mean(v: &[u64]) -> u64 {
    if v.is_empty() { 0 } else { v.iter().sum::<u64>() / v.len() as u64 }
}

fn sharded_table(s: &[Sharded; 2], unsharded: &[Measured; 2], shards: u32, per_shard: usize) -> String {
    let [u, o] = s;
    let mut t = Table::new();
    t.dur(&format!("time to ready (all {shards} shards)"), u.ready, o.ready, None);
    let (ub, ob): (u64, u64) = (u.api_bytes_at_ready.iter().sum(), o.api_bytes_at_ready.iter().sum());
    t.row(
        "bytes from the API server until ready, all shards",
        mb(ub),
        mb(ob),
        ratio(ob as f64, ub as f64),
        None,
    );
    t.mem("per-shard peak RSS at ready, max", max(&u.hwm_ready), max(&o.hwm_ready), None);
    t.mem("per-shard RSS after sync, max", max(&u.rss_sync), max(&o.rss_sync), Some(0.25));
    t.mem("per-shard RSS after sync, mean", mean(&u.rss_sync), mean(&o.rss_sync), None);
    t.mem("per-shard RSS after scrapes, max", max(&u.rss_scraped), max(&o.rss_scraped), None);
    let share = |sh: &Sharded, m: &Measured| ratio(max(&sh.rss_sync) as f64, m.rss_sync as f64);
    let (us, os) = (share(u, &unsharded[0]), share(o, &unsharded[1]));
    t.row_text(
        "per-shard RSS max / same exporter unsharded",
        fmt_ratio(us),
        fmt_ratio(os),
        "–".into(),
        format!("ours {}", target(os, 0.3)),
    );
    t.row(
        "series per shard, max",
        thousands(max(&u.series)),
        thousands(max(&o.series)),
        ratio(max(&o.series) as f64, max(&u.series) as f64),
        None,
    );
    t.dur(
        &format!("per-shard scrape p50, plain ({per_shard} per shard)"),
        pct(&u.plain, 0.5),
        pct(&o.plain, 0.5),
        Some(0.25),
    );
    t.dur("per-shard scrape p99, plain", pct(&u.plain, 0.99), pct(&o.plain, 0.99), None);
    t.dur("per-shard scrape p50, gzip", pct(&u.gzip, 0.5), pct(&o.gzip, 0.5), Some(0.2));
    t.dur("per-shard scrape p99, gzip", pct(&u.gzip, 0.99), pct(&o.gzip, 0.99), None);
    t.text
}

/// The run as markdown: a heading with the setup, then one table per round.
pub fn markdown(r: &Results, machine: &str, commit: &str, command: &str) -> String {
    let c = &r.config;
    let s = &c.scale;
    let mut out = String::new();
    let _ =
        writeln!(out, "### {} · {} · {} pods · commit {commit}\n", r.date, c.mode, thousands(s.pods as u64));
    let _ = writeln!(
        out,
        "Command: `{command}`. Machine: {machine}; load average {:.2} at start (other processes), {:.2} after \
         loading and {:.2} at the end (mostly the benchmark's own API server, etcd and exporters).",
        r.loadavg[0], r.loadavg[1], r.loadavg[2]
    );
    let held: Vec<String> =
        r.counted.iter().map(|k| format!("{} {}", thousands(k.expected), k.resource)).collect();
    let _ = writeln!(
        out,
        "Cluster (kube-apiserver {}, no controllers): {}; loaded in {:.1} s ({} requests, {} retries, {} in flight, \
         {:.0} requests/s). Upstream kube-state-metrics v2.20.0 and statefleet-exporter (release build), both with \
         default resources and `--enable-gzip-encoding`.\n",
        crate::control_plane::KUBERNETES_VERSION,
        held.join(", "),
        r.load.elapsed.as_secs_f64(),
        thousands(r.load.requests),
        r.load.retries,
        c.concurrency,
        r.load.requests as f64 / r.load.elapsed.as_secs_f64()
    );
    let churn_note = |ch: &crate::bench::load::ChurnStats| {
        format!(
            "{} pod label+annotation patches in {:.0} s, {:.0}/s",
            thousands(ch.updates),
            ch.elapsed.as_secs_f64(),
            ch.rate()
        )
    };
    let [cu, co] = &r.sequential_churn;
    let seq_note = format!("{}; {:.0}/s in ours' window", churn_note(cu), co.rate());
    let _ = writeln!(out, "**One after the other** (upstream, then ours; each alone on the cluster)\n");
    out.push_str(&rounds_table(&r.sequential, c.scrapes, &seq_note, true));
    if let Some((m, ch)) = &r.interleaved {
        let _ = writeln!(
            out,
            "\n**Interleaved** (both started together and running; scrapes alternate; the same churn reaches both)\n"
        );
        out.push_str(&rounds_table(m, c.scrapes, &churn_note(ch), false));
    }
    if let Some(sh) = &r.sharded {
        let _ = writeln!(
            out,
            "\n**{} shards** (`--total-shards={0} --shard=i`, all running; shards scraped one at a time)\n",
            c.shards
        );
        out.push_str(&sharded_table(sh, &r.sequential, c.shards, c.shard_scrapes));
    }
    out
}

/// One row of the trend table: ratios ours/upstream of the targeted figures.
pub fn trend_row(r: &Results, commit: &str) -> String {
    let [u, o] = &r.sequential;
    let d = |a: Duration, b: Duration| fmt_ratio(ratio(a.as_secs_f64(), b.as_secs_f64()));
    let shard = r
        .sharded
        .as_ref()
        .map_or_else(|| "–".into(), |[_, os]| fmt_ratio(ratio(max(&os.rss_sync) as f64, o.rss_sync as f64)));
    format!(
        "| {} | {commit} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {shard} | {:.2} |",
        &r.date[..10],
        r.config.mode,
        thousands(r.config.scale.pods as u64),
        d(o.ready, u.ready),
        fmt_ratio(ratio(o.rss_scraped as f64, u.rss_scraped as f64)),
        d(pct(&o.plain, 0.5), pct(&u.plain, 0.5)),
        d(pct(&o.gzip, 0.5), pct(&u.gzip, 0.5)),
        d(o.churn_cpu, u.churn_cpu),
        secs(pct(&u.plain, 0.5)),
        secs(pct(&o.plain, 0.5)),
        r.loadavg[0],
    )
}

const TREND_HEADING: &str = "### Trend";
const TREND_HEADER: &str = "| date | commit | mode | pods | ready | RSS | scrape p50 plain | scrape p50 gzip | churn CPU | \
plain p50 upstream / ours | shard RSS / unsharded (ours) | load avg at start |\n|---|---|---|---|---|---|---|---|---|---|---|---|";

/// Adds the trend row under `### Trend` (creating the section when missing) and appends the
/// run's tables at the end of `doc`.
pub fn append(doc: &Path, row: &str, run: &str) -> Result<()> {
    let text = std::fs::read_to_string(doc).io(|| format!("read {}", doc.display()))?;
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let heading = match lines.iter().position(|l| l.trim() == TREND_HEADING) {
        Some(i) => i,
        None => {
            lines.push(String::new());
            lines.push("## Side-by-side benchmark (`just bench`)".into());
            lines.push(String::new());
            lines.push(TREND_HEADING.into());
            lines.push(String::new());
            lines.push("Ratios ours/upstream from the one-after-the-other round.".into());
            lines.push(String::new());
            lines.extend(TREND_HEADER.lines().map(String::from));
            lines.push(String::new());
            lines.push("### Runs".into());
            lines.len() - 8
        }
    };
    let table_start =
        lines[heading..].iter().position(|l| l.starts_with("| date")).map(|i| i + heading).ok_or_else(
            || Error::Parse {
                what: doc.display().to_string(),
                detail: format!("no trend table header under {TREND_HEADING}"),
            },
        )?;
    let mut end = table_start;
    while end < lines.len() && lines[end].starts_with('|') {
        end += 1;
    }
    lines.insert(end, row.to_string());
    let mut out = lines.join("\n");
    out.push_str("\n\n");
    out.push_str(run.trim_end());
    out.push('\n');
    std::fs::write(doc, out).io(|| format!("write {}", doc.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        assert_eq!(pct(&v, 0.5), Duration::from_millis(10));
        assert_eq!(pct(&v, 0.99), Duration::from_millis(20));
        assert_eq!(pct(&[], 0.5), Duration::ZERO);
        assert_eq!(thousands(4_820_000), "4,820,000");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn rows_go_under_the_trend_table_and_runs_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let doc = dir.path().join("perf.md");
        std::fs::write(&doc, "# Performance\n\nintro\n").expect("write");
        append(&doc, "| r1 |", "### run 1\n").expect("first");
        append(&doc, "| r2 |", "### run 2\n").expect("second");
        let text = std::fs::read_to_string(&doc).expect("read");
        let r1 = text.find("| r1 |").expect("r1");
        let r2 = text.find("| r2 |").expect("r2");
        let runs = text.find("### Runs").expect("runs heading");
        assert!(r1 < r2 && r2 < runs, "{text}");
        assert!(text.find("### run 1").expect("run 1") < text.find("### run 2").expect("run 2"));
        assert!(text.starts_with("# Performance\n\nintro\n"));
    }
}
