//! Decodes and renders pod watch events the way the watch layer does, from a PodList in a file
//! (for example `GET /api/v1/pods?limit=200` of a benchmark cluster), and prints the time per
//! event of each step: what churn costs the exporter besides reading the stream.
//!
//! HELD more pods (copies of the list's with other UIDs) are stored first, so the allocator
//! works in a heap of the size the exporter's has at that scale.
//!
//!     cargo run --release -p statefleet-exporter --example bench_events -- PODLIST.json [ROUNDS] [HELD]

use clap::Parser;
use exporter::{
    options::{Cli, Options},
    resources::pod::Pod,
    runtime::renderer_for,
    store::Part,
};
use kube::core::WatchEvent;
use std::time::Instant;

/// Decodes one watch event line, which must be `MODIFIED`, as kube's watcher does.
fn decode_event(line: &str) -> Result<Pod, Box<dyn std::error::Error>> {
    match serde_json::from_str(line)? {
        WatchEvent::Modified(pod) => Ok(pod),
        _ => Err("not a MODIFIED event".into()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: bench_events PODLIST.json [ROUNDS] [HELD]")?;
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let held: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(0);
    let list: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let items = list["items"].as_array().ok_or("no items in the list")?;
    let lines: Vec<String> = items
        .iter()
        .map(|pod| {
            let mut pod = pod.clone();
            pod["apiVersion"] = "v1".into();
            pod["kind"] = "Pod".into();
            // As the API server writes them: the type first, which spares serde buffering.
            format!(r#"{{"type":"MODIFIED","object":{pod}}}"#)
        })
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    let cli = Cli::parse_from(["statefleet-exporter"]);
    let options = Options::validate(&cli.flags)?;
    let renderer = renderer_for::<Pod>(&options);
    let part = Part::default();
    for i in 0..held {
        let pod = decode_event(&lines[i % lines.len()])?;
        part.apply(&format!("held-{i}"), renderer.render(&pod));
    }

    let (mut decode, mut render, mut apply) = (0u128, 0u128, 0u128);
    for _ in 0..rounds {
        for line in &lines {
            let t = Instant::now();
            let pod = decode_event(line)?;
            let t1 = Instant::now();
            let rendered = renderer.render(&pod);
            let t2 = Instant::now();
            part.apply(pod.metadata.uid.as_deref().unwrap_or_default(), rendered);
            drop(pod);
            let t3 = Instant::now();
            decode += (t1 - t).as_nanos();
            render += (t2 - t1).as_nanos();
            apply += (t3 - t2).as_nanos();
        }
    }
    let n = (rounds * lines.len()) as f64;
    println!(
        "events             {} x {rounds}, {:.0} bytes each",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );
    println!("decode             {:.0} ns/event", decode as f64 / n);
    println!("render             {:.0} ns/event", render as f64 / n);
    println!("apply + drop       {:.0} ns/event", apply as f64 / n);
    Ok(())
}
