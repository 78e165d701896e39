//! statefleet operator: runs a sharded `statefleet-exporter` fleet from one `KubeStateMetrics`
//! custom resource.
//!
//! ```text
//! crd (KubeStateMetrics, CEL rules) ─▶ desired (pure: CR ─▶ Vec<Child>) ─▶ reconcile (SSA, prune, status)
//!                                        └─ alerts (PrometheusRule and the plain rules file)    │
//!                       drift (pure: apply or skip?) ◀──────────────────────────────────────────┤
//!                       status (pure: conditions from the live workloads) ◀──────────────────────┘
//! main: flags, leader election (leader), Controller wiring, http (/metrics, /healthz, /readyz)
//! manifests: the generated install files (CRD YAML, the operator's own ClusterRole)
//! ```
//!
//! Only `reconcile` (children, status, Events) and `leader` (the Lease) talk to the API server.

pub mod alerts;
pub mod conditions;
pub mod crd;
pub mod desired;
pub mod drift;
pub mod http;
pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod reconcile;
pub mod status;
pub mod telemetry;

#[cfg(test)]
mod fixtures;
