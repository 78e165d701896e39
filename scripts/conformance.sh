#!/usr/bin/env bash
# Coverage of upstream kube-state-metrics' metric families per resource: implemented/expected,
# from `statefleet-exporter families` against ../shared/reference/ksm-metrics.tsv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tsv=${STATEFLEET_SHARED:-$root/../shared}/reference/ksm-metrics.tsv
cd "$root"
cargo build -q -p statefleet-exporter
have=$(mktemp)
trap 'rm -f "$have"' EXIT
"${CARGO_TARGET_DIR:-target}/debug/statefleet-exporter" families | cut -f1 >"$have"
printf '%-36s %s\n' resource implemented/expected
awk -F'\t' -v have="$have" '
  BEGIN { while ((getline m < have) > 0) got[m] = 1 }
  NR > 1 && $7 == "yes" { want[$1]++; if ($2 in got) ok[$1]++ }
  END { for (r in want) printf "%-36s %d/%d%s\n", r, ok[r], want[r], (ok[r] == want[r] ? "" : "  <- missing") }
' "$tsv" | sort
awk -F'\t' -v have="$have" '
  BEGIN { while ((getline m < have) > 0) got[m] = 1 }
  NR > 1 && $7 == "yes" { total++; if ($2 in got) ok++ }
  END { printf "%-36s %d/%d\n", "total", ok, total }
' "$tsv"
