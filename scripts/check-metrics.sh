#!/usr/bin/env bash
# Renders every resource fixture with all labels and annotations allowed and checks the result
# with promtool, so the exposition stays valid for Prometheus' own parser and linter.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${STATEFLEET_BIN_DIR:-$HOME/.cache/statefleet/bin}
cd "$root"
cargo build -q -p statefleet-exporter
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for f in exporter/src/resources/fixtures/*.yaml; do printf -- '---\n'; cat "$f"; printf '\n'; done \
  | "${CARGO_TARGET_DIR:-target}/debug/statefleet-exporter" render --input - --metric-labels-allowlist='*=[*]' \
      --metric-annotations-allowlist='*=[*]' --cluster-name=check >"$out"
lines=$(grep -vc '^#' "$out" || true)
"$bin/promtool" check metrics <"$out"
echo "check-metrics: promtool accepted $lines samples from $(ls exporter/src/resources/fixtures/*.yaml | wc -l) fixtures"
