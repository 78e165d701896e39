//! statefleet operator: runs a sharded `statefleet-exporter` fleet from one `KubeStateMetrics`
//! custom resource.
//!
//! ```text
//! crd (KubeStateMetrics, CEL rules) ─▶ desired (pure: CR ─▶ Vec<Child>) ─▶ reconciler (SSA, status)
//!                                        └─ alerts (PrometheusRule and the plain rules file)
//! manifests: the generated install files (CRD YAML, the operator's own ClusterRole)
//! ```
//!
//! The reconcile loop is not written yet; everything here is pure and unit-tested.

pub mod alerts;
pub mod conditions;
pub mod crd;
pub mod desired;
pub mod manifests;
