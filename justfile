# statefleet: every workflow is a recipe. `just --list` shows them.
set shell := ["bash", "-euo", "pipefail", "-c"]

cache := env_var_or_default("STATEFLEET_CACHE", home_directory() / ".cache/statefleet")
export STATEFLEET_CACHE := cache
export STATEFLEET_BIN_DIR := cache / "bin"

default:
    @just --list

# Build kube-apiserver/-controller-manager/-scheduler, etcd, upstream kube-state-metrics and Prometheus from source (cached by version; warm runs build nothing)
cluster-bins:
    scripts/cluster-bins.sh all >/dev/null

# Format all Rust code
fmt:
    cargo fmt --all

# The whole thing on this machine: control plane, CRDs, operator, a sample cluster, the large-cluster fleet (exporter pods as processes) and Prometheus with the alert rules; prints a summary every 15 s until Ctrl-C (`just demo --exit-after 300` exits once ready)
demo *ARGS: cluster-bins
    cargo build -p statefleet-exporter -p statefleet-operator
    cargo run -q -p statefleet-e2e --bin demo -- {{ARGS}}

# Formatting and clippy, warnings are errors
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Unit and golden tests (no cluster needed)
unit:
    cargo test --workspace --exclude statefleet-e2e

# The exporter's output for every fixture must pass `promtool check metrics`
check-metrics: cluster-bins
    scripts/check-metrics.sh

# End-to-end suite on a real control plane built from the official Kubernetes modules
e2e: cluster-bins
    cargo build -p statefleet-exporter -p statefleet-operator
    cargo test -p statefleet-e2e -- --test-threads=2

# Everything CI runs
test: lint unit check-metrics check-rules e2e

# Render 100k synthetic pods-shaped objects and one full scrape; prints ns/object and bytes/s
bench-render:
    cargo run --release -p statefleet-exporter --example bench_render

# Print the implemented metric families
families:
    cargo run -q -p statefleet-exporter -- families

# Side-by-side benchmark against upstream kube-state-metrics on a synthetic cluster (quick: 10k pods; `just bench full`: 100k pods); prints the table and appends it to docs/performance.md
bench mode="quick" *args="":
    scripts/cluster-bins.sh etcd >/dev/null
    scripts/cluster-bins.sh k8s >/dev/null
    scripts/cluster-bins.sh ksm >/dev/null
    cargo build --release -p statefleet-exporter
    cargo build --release -p statefleet-e2e --bin bench
    "${CARGO_TARGET_DIR:-target}/release/bench" {{mode}} --append docs/performance.md --command "just bench {{mode}} {{args}}" {{args}}

# Coverage of upstream's metric families per resource (implemented/expected)
conformance:
    scripts/conformance.sh

# Regenerate everything generated: the CRD, the operator's ClusterRole, Prometheus rules, golden files
generate:
    cargo run -q -p statefleet-operator --bin crdgen > crds/statefleet.io_kubestatemetrics.yaml
    UPDATE_GOLDEN=1 cargo test -q -p statefleet-operator --test generated --test golden

# Fail when generated files are stale
check-generated: generate
    git diff --exit-code -- crds config operator/tests/golden

# Alert rules: syntax and promtool unit tests (fire and no-fire cases)
check-rules: cluster-bins
    "$STATEFLEET_BIN_DIR/promtool" check rules config/prometheus/statefleet-rules.yaml
    "$STATEFLEET_BIN_DIR/promtool" test rules config/prometheus/statefleet-rules.test.yaml
