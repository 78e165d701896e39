//! statefleet-operator: will reconcile `KubeStateMetrics` objects into exporter fleets.
//!
//! The reconcile loop is the next piece of work (issue 3); until it lands the binary says so and
//! exits non-zero rather than pretending to run. `crdgen` prints the CRD, and the `operator`
//! library already computes every child object (`operator::desired::desired`).

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--version" || a == "-V") {
        println!("statefleet-operator {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "statefleet-operator {}: the reconcile loop is not implemented yet; \
         the CRD (crdgen) and the desired-state library are",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
