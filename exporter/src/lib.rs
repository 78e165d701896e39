//! statefleet exporter: a kube-state-metrics compatible, sharded exporter of Kubernetes object state.
//!
//! ```text
//! options ─▶ runtime ─▶ watch (list+watch per resource/namespace) ─▶ resources::<kind> render
//!                                                                  ─▶ store (bytes per object)
//! http /metrics ◀── snapshot of the store ◀───────────────────────────┘
//! ```
pub mod arena;
pub mod http;
pub mod metric;
pub mod options;
pub mod parallel;
pub mod render;
pub mod resources;
pub mod runtime;
pub mod scrape;
pub mod shard;
pub mod store;
pub mod telemetry;
pub mod watch;
