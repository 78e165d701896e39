//! The end-to-end suite. One test binary, so one control plane (started by the first test that
//! needs it) serves every test; each test works in a namespace of its own.
//!
//! Needs the cluster binaries (scripts/cluster-bins.sh, or STATEFLEET_BIN_DIR) and a built
//! exporter (`cargo build -p statefleet-exporter`, or STATEFLEET_EXPORTER).

mod alerts;
mod autoshard;
mod config;
mod faults;
mod kubelet;
mod operator;
mod sharding;
mod smoke;
mod upstream;
mod watch;
