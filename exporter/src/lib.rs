//! statefleet exporter: a kube-state-metrics compatible, sharded exporter of Kubernetes object state.
pub mod metric;
pub mod resources;
pub mod shard;
pub mod store;
