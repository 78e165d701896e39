//! The side-by-side benchmark (`just bench`, issue 5): statefleet-exporter against upstream
//! kube-state-metrics on the same synthetic cluster, in the same run.
//!
//! ```text
//!  BenchCluster (etcd + kube-apiserver, no controllers)
//!    <- load::load: namespaces, nodes, deployments -> replicasets -> pods (owned by UID),
//!       services, endpointslices, configmaps, secrets; status posted; N requests in flight
//!  run::run
//!    sequential: upstream alone, then ours alone       } each: ready (every object served,
//!    interleaved: both at once, scrapes alternating    }  /readyz), RSS, 20+20 scrapes,
//!    sharded: 4 shards of upstream, then of ours       }  churn CPU, event-to-metric probes
//!  report: markdown tables (ratios, targets) -> stdout and docs/performance.md
//! ```
//!
//! Readings come from `/proc` (VmHWM, VmRSS, utime+stime) of the exporter's own pid; each
//! exporter reaches the API server through a counting TCP proxy (bytes received); scrapes use
//! a streaming client that counts bytes without keeping them.

pub mod cluster;
pub mod load;
pub mod procstat;
pub mod proxy;
pub mod report;
pub mod run;
pub mod scrape;
pub mod target;
