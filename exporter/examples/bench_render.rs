//! Renders N synthetic pods (default 100,000) the way the watch layer does (decode JSON, render
//! every pod family), then writes one full scrape from the store, plain and gzipped, into one
//! buffer on one thread, and scrapes as the server writes them (pieces on several threads, in
//! chunks) to a client that drops each chunk at once.
//!
//!     cargo run --release -p statefleet-exporter --example bench_render [N] [SCRAPES]

use clap::Parser;
use exporter::{
    options::{Cli, Options},
    parallel,
    resources::{Kind, pod::Pod},
    runtime::renderer_for,
    scrape,
    store::{Part, ResourceStore, Store},
};
use flate2::{Compression, write::GzEncoder};
use serde_json::{Value, json};
use std::{
    io::Write,
    sync::Arc,
    time::{Duration, Instant},
};

fn synthetic_pod(i: usize) -> Value {
    let ns = format!("team-{}", i % 20);
    let rs = format!("app-{}-7d9f8c6b5d", i / 10);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{rs}-{:05}", i), "namespace": ns,
            "uid": format!("{:08x}-1b2c-4d5e-8f90-{:012x}", i, i * 7919),
            "resourceVersion": (1000 + i).to_string(),
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app": format!("app-{}", i / 10), "pod-template-hash": "7d9f8c6b5d", "team": ns, "tier": "backend", "version": "v1.2.3"},
            "annotations": {"prometheus.io/scrape": "true", "kubectl.kubernetes.io/restartedAt": "2026-11-01T09:00:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "x", "controller": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}}]
        },
        "spec": {
            "nodeName": format!("node-{}", i % 100),
            "serviceAccountName": "default", "priorityClassName": "standard", "schedulerName": "default-scheduler",
            "containers": [
                {"name": "app", "image": "registry.example/app:v1.2.3",
                 "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
                 "ports": [{"containerPort": 8080}]},
                {"name": "sidecar", "image": "registry.example/proxy:v9",
                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": format!("data-{i}")}}, {"name": "cfg", "configMap": {"name": "cfg"}}]
        },
        "status": {
            "phase": "Running", "qosClass": "Burstable", "hostIP": "10.0.0.1", "podIP": format!("10.1.{}.{}", (i / 250) % 250, i % 250),
            "podIPs": [{"ip": format!("10.1.{}.{}", (i / 250) % 250, i % 250)}],
            "startTime": "2026-11-01T10:00:05Z",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-01T10:00:01Z"},
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-01T10:00:02Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-01T10:00:09Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-01T10:00:09Z"}
            ],
            "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": i % 3, "image": "registry.example/app:v1.2.3", "imageID": "sha256:abc", "containerID": "containerd://1", "started": true,
                 "state": {"running": {"startedAt": "2026-11-01T10:00:07Z"}}},
                {"name": "sidecar", "ready": true, "restartCount": 0, "image": "registry.example/proxy:v9", "imageID": "sha256:def", "containerID": "containerd://2", "started": true,
                 "state": {"running": {"startedAt": "2026-11-01T10:00:08Z"}}}
            ]
        }
    })
}

/// The median of `times`, in seconds.
fn p50(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times[times.len() / 2].as_secs_f64()
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let scrapes: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let cli = Cli::parse_from(["statefleet-exporter"]);
    let options = Options::validate(&cli.flags).expect("default options are valid");
    let renderer = renderer_for::<Pod>(&options);

    let payloads: Vec<Vec<u8>> =
        (0..n).map(|i| serde_json::to_vec(&synthetic_pod(i)).expect("json")).collect();
    let input_bytes: usize = payloads.iter().map(Vec::len).sum();

    let part = Arc::new(Part::default());
    let started = Instant::now();
    let mut decode_ns = 0u128;
    for p in &payloads {
        let t = Instant::now();
        let pod: Pod = serde_json::from_slice(p).expect("pod decodes");
        decode_ns += t.elapsed().as_nanos();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        part.apply(&uid, renderer.render(&pod));
    }
    let total = started.elapsed();
    let held = part.byte_size();
    let store = ResourceStore::new(Pod::RESOURCE, renderer.headers());
    store.set_parts(vec![part]);
    let (objects, series) = store.counts();
    let store = Arc::new(store);
    let snapshot: scrape::Snapshot = vec![(store.clone(), store.snapshot())];
    let store = Store::new(vec![store]);

    let t = Instant::now();
    let plain = store.exposition();
    let plain_time = t.elapsed();
    let t = Instant::now();
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&plain).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let gz_time = t.elapsed();

    let served = |encoding: scrape::Encoding, workers: usize| {
        let times: Vec<Duration> = (0..scrapes)
            .map(|_| {
                let t = Instant::now();
                scrape::write(&snapshot, encoding, workers, &mut |chunk| {
                    std::hint::black_box(chunk);
                    Ok(())
                })
                .expect("scrape");
                t.elapsed()
            })
            .collect();
        p50(times)
    };
    // The same through a loopback socket to a reader thread that drops what it reads: the
    // kernel's copies and the client's reads share the cores with the writers, as in a real
    // scrape on one machine.
    let over_loopback = |workers: usize| -> std::io::Result<f64> {
        let mut times = Vec::with_capacity(scrapes);
        for _ in 0..scrapes {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let reader = std::thread::spawn(move || -> std::io::Result<u64> {
                let (mut conn, _) = listener.accept()?;
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0u64;
                loop {
                    match std::io::Read::read(&mut conn, &mut buf)? {
                        0 => return Ok(total),
                        n => total += n as u64,
                    }
                }
            });
            let t = Instant::now();
            let mut conn = std::net::TcpStream::connect(addr)?;
            scrape::write(&snapshot, scrape::Encoding::default(), workers, &mut |chunk| {
                conn.write_all(&chunk)
            })?;
            drop(conn);
            reader.join().map_err(|_| std::io::Error::other("reader panicked"))??;
            times.push(t.elapsed());
        }
        Ok(p50(times))
    };
    let workers = parallel::default_workers();
    let plain_served = [1, workers].map(|w| served(scrape::Encoding::default(), w));
    let gzip_served = [1, workers].map(|w| served(scrape::Encoding { gzip: true, eof: false }, w));
    let loopback = [1, workers].map(|w| over_loopback(w).expect("loopback scrape"));

    let per = |d: u128| d as f64 / n as f64;
    println!("objects            {objects}");
    println!("series             {series}");
    println!("input JSON         {:.1} MB", input_bytes as f64 / 1e6);
    println!("store holds        {:.1} MB of rendered bytes", held as f64 / 1e6);
    println!("decode             {:.0} ns/object", per(decode_ns));
    println!("decode + render    {:.0} ns/object", per(total.as_nanos()));
    println!("render only        {:.0} ns/object", per(total.as_nanos() - decode_ns));
    println!(
        "scrape plain       {:.1} MB in {:.3} s ({:.0} MB/s)",
        plain.len() as f64 / 1e6,
        plain_time.as_secs_f64(),
        plain.len() as f64 / 1e6 / plain_time.as_secs_f64()
    );
    println!(
        "scrape gzip        {:.1} MB in {:.3} s ({:.0} MB/s of exposition)",
        gz.len() as f64 / 1e6,
        gz_time.as_secs_f64(),
        plain.len() as f64 / 1e6 / gz_time.as_secs_f64()
    );
    for (what, [one, many]) in [("plain", plain_served), ("gzip", gzip_served)] {
        println!("served {what:<11} p50 of {scrapes}: {one:.3} s on 1 thread, {many:.3} s on {workers}");
    }
    let [one, many] = loopback;
    println!("loopback plain     p50 of {scrapes}: {one:.3} s on 1 thread, {many:.3} s on {workers}");
}
