//! `bench [quick|full] [options]`: the side-by-side benchmark of statefleet-exporter against
//! upstream kube-state-metrics. See `statefleet_e2e::bench`. Run it through `just bench`, which
//! builds the release binaries first.

use statefleet_e2e::{
    bench::{
        load::Scale,
        procstat, report,
        run::{self, Config},
        target::Binaries,
    },
    process,
};
use std::{path::PathBuf, process::ExitCode, time::Duration};

const USAGE: &str = "usage: bench [quick|full] [--pods N] [--exporter PATH] [--ksm PATH] [--append FILE]
             [--scrapes N] [--shard-scrapes N] [--shards N] [--churn-rate R] [--churn-secs S]
             [--probes N] [--concurrency N] [--no-interleaved] [--command TEXT] [--hold [--hold-churn]]
             [--keep-logs DIR | --no-logs]

  quick: 10,000 pods, 100 nodes, 20 namespaces, 1,000 workloads (default); full: 10x.
  --pods N scales the quick ratios to N pods. --append adds the tables to a markdown file
  (docs/performance.md). --exporter defaults to <target>/release/statefleet-exporter,
  --ksm to kube-state-metrics in the cluster binary directory. --hold loads the cluster, prints
  its kubeconfig and keeps it until SIGINT/SIGTERM, for profiling by hand; with --hold-churn it
  patches pods at --churn-rate meanwhile. Logs of the exporters and the API server are copied to
  --keep-logs (default <target>/bench-logs/<date>/).";

fn parse() -> Result<(Config, Option<PathBuf>, String), String> {
    let mut args = std::env::args().skip(1);
    let mut mode = "quick".to_string();
    let mut pods: Option<usize> = None;
    let mut exporter: Option<PathBuf> = None;
    let mut ksm: Option<PathBuf> = None;
    let mut append: Option<PathBuf> = None;
    let mut command: Option<String> = None;
    let mut scrapes = 20;
    let mut shard_scrapes = 10;
    let mut shards = 4;
    let mut churn_rate = 1000.0;
    let mut churn_secs: Option<u64> = None;
    let mut probes = 20;
    let mut concurrency = 48;
    let mut interleaved = true;
    let mut hold = false;
    let mut hold_churn = false;
    let mut keep_logs: Option<PathBuf> = None;
    let mut no_logs = false;
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        v.as_deref().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{flag} needs a number"))
    }
    while let Some(a) = args.next() {
        match a.as_str() {
            "quick" | "full" => mode = a,
            "--pods" => pods = Some(num(&a, args.next())?),
            "--exporter" => exporter = args.next().map(PathBuf::from),
            "--ksm" => ksm = args.next().map(PathBuf::from),
            "--append" => append = args.next().map(PathBuf::from),
            "--command" => command = args.next().map(|c| c.trim().to_string()),
            "--scrapes" => scrapes = num(&a, args.next())?,
            "--shard-scrapes" => shard_scrapes = num(&a, args.next())?,
            "--shards" => shards = num(&a, args.next())?,
            "--churn-rate" => churn_rate = num(&a, args.next())?,
            "--churn-secs" => churn_secs = Some(num(&a, args.next())?),
            "--probes" => probes = num(&a, args.next())?,
            "--concurrency" => concurrency = num(&a, args.next())?,
            "--no-interleaved" => interleaved = false,
            "--hold" => hold = true,
            "--hold-churn" => hold_churn = true,
            "--keep-logs" => keep_logs = args.next().map(PathBuf::from),
            "--no-logs" => no_logs = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let full = mode == "full";
    let scale = match pods {
        Some(p) => {
            mode = "custom".into();
            Scale {
                pods: p,
                nodes: (p / 100).max(1),
                namespaces: (p / 500).max(1),
                workloads: (p / 10).max(1),
            }
        }
        None if full => Scale::FULL,
        None => Scale::QUICK,
    };
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| process::workspace_root().join("target"));
    let ours = exporter.unwrap_or_else(|| target_dir.join("release/statefleet-exporter"));
    let keep_logs =
        if no_logs { None } else { Some(keep_logs.unwrap_or_else(|| target_dir.join("bench-logs"))) };
    let upstream = match ksm {
        Some(p) => p,
        None => process::cluster_bin("kube-state-metrics").map_err(|e| e.to_string())?,
    };
    for bin in [&ours, &upstream] {
        if !bin.is_file() {
            return Err(format!("{} does not exist (build it first: just bench does)", bin.display()));
        }
    }
    let churn = Duration::from_secs(churn_secs.unwrap_or(if full { 60 } else { 30 }));
    let ready_timeout = Duration::from_secs(if full { 1_800 } else { 300 });
    let command =
        command.unwrap_or_else(|| if full { "just bench full".into() } else { "just bench".into() });
    Ok((
        Config {
            mode,
            scale,
            bins: Binaries { upstream, ours },
            scrapes,
            shard_scrapes,
            shards,
            churn_rate,
            churn,
            probes,
            concurrency,
            interleaved,
            ready_timeout,
            hold,
            hold_churn,
            keep_logs,
        },
        append,
        command,
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let (config, append, command) = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let machine = procstat::machine();
    let commit = procstat::commit(&process::workspace_root());
    eprintln!("bench: {machine}; commit {commit}; load average {:.2}", procstat::loadavg());
    let results = match run::run(config).await {
        Ok(Some(r)) => r,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = report::markdown(&results, &machine, &commit, &command);
    println!("{text}");
    if let Some(doc) = append {
        let row = report::trend_row(&results, &commit);
        if let Err(e) = report::append(&doc, &row, &text) {
            eprintln!("bench: could not update {}: {e}", doc.display());
            return ExitCode::FAILURE;
        }
        eprintln!("bench: added the run to {}", doc.display());
    }
    ExitCode::SUCCESS
}
