#!/usr/bin/env bash
# Builds the real parts the tests run against, from their official Go modules (and upstream
# kube-state-metrics from ../shared), into a cache outside the repository keyed by version.
# A warm run finds the binaries and builds nothing.
#
#   scripts/cluster-bins.sh [k8s|etcd|ksm|prometheus|all]
#
# Prints the binary directory on its last line.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/scripts/versions.env"
cache=${STATEFLEET_CACHE:-$HOME/.cache/statefleet}
shared=${STATEFLEET_SHARED:-$root/../shared}
what=${1:-all}

step() { echo "cluster-bins: $*" >&2; }
fail() {
  echo "cluster-bins: FAILED at step '$1'. Retry with: scripts/cluster-bins.sh $2 (build log: $3)" >&2
  tail -n 30 "$3" >&2 || true
  exit 1
}

command -v go >/dev/null || { echo "cluster-bins: no Go toolchain on PATH (need go >= 1.25); install Go and retry" >&2; exit 1; }

build_k8s() {
  local out="$cache/k8s-$K8S_VERSION"
  if [[ -x $out/kube-apiserver && -x $out/kube-controller-manager && -x $out/kube-scheduler ]]; then return; fi
  local work log; work=$(mktemp -d); log="$cache/k8s-$K8S_VERSION.log"
  mkdir -p "$cache"; : >"$log"
  step "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION (about 6 min cold)"
  (
    cd "$work"
    go mod init statefleet.io/cluster-bins >>"$log" 2>&1
    # k8s.io/kubernetes points its staging modules at ./staging, which does not apply to a
    # dependency; pin each one to the matching published v0.x.y instead.
    local gomod minor staging
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    minor=${K8S_VERSION#v1.}
    staging=$(grep -E '=> \./staging/' "$gomod" | awk '{print $1}')
    {
      echo "require k8s.io/kubernetes $K8S_VERSION"
      for m in $staging; do echo "replace $m => $m v0.$minor"; done
    } >>go.mod
    cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
    go mod tidy -e >>"$log" 2>&1
    local major=${K8S_VERSION#v}; major=${major%%.*}
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ld+=" -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
    ld+=" -X k8s.io/component-base/version.gitCommit=statefleet-module-build"
    ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ld+=" -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
    mkdir -p "$out.tmp"
    for b in kube-apiserver kube-controller-manager kube-scheduler; do
      go build -ldflags "$ld" -o "$out.tmp/$b" "k8s.io/kubernetes/cmd/$b" >>"$log" 2>&1
    done
  ) || fail "build kubernetes $K8S_VERSION" k8s "$log"
  rm -rf "$out"; mv "$out.tmp" "$out"; rm -rf "$work"
}

build_etcd() {
  local out="$cache/etcd-$ETCD_VERSION"
  [[ -x $out/etcd ]] && return
  local log="$cache/etcd-$ETCD_VERSION.log" work; work=$(mktemp -d); mkdir -p "$cache" "$out.tmp"
  step "building etcd $ETCD_VERSION"
  # etcd's server module carries replace directives, so `go install pkg@version` refuses it;
  # build it as a dependency of a throwaway module instead.
  (
    cd "$work"
    go mod init statefleet.io/etcd-bin
    cat >tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION" >>go.mod
    go mod tidy -e
    go build -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
  ) >"$log" 2>&1 || fail "build etcd $ETCD_VERSION" etcd "$log"
  rm -rf "$out" "$work"; mv "$out.tmp" "$out"
}

build_ksm() {
  local out="$cache/ksm-$KSM_VERSION"
  [[ -x $out/kube-state-metrics ]] && return
  [[ -f $shared/upstream/kube-state-metrics/go.mod ]] \
    || { echo "cluster-bins: upstream kube-state-metrics source not found at $shared/upstream/kube-state-metrics" >&2; exit 1; }
  local log="$cache/ksm-$KSM_VERSION.log" work; work=$(mktemp -d); mkdir -p "$cache" "$out.tmp"
  step "building upstream kube-state-metrics $KSM_VERSION from $shared/upstream"
  cp -r "$shared/upstream/kube-state-metrics" "$work/src"
  (cd "$work/src" && go build -ldflags "-s -w -X github.com/prometheus/common/version.Version=$KSM_VERSION" \
    -o "$out.tmp/kube-state-metrics" .) >"$log" 2>&1 || fail "build kube-state-metrics $KSM_VERSION" ksm "$log"
  rm -rf "$out" "$work"; mv "$out.tmp" "$out"
}

build_prometheus() {
  local out="$cache/prometheus-$PROMETHEUS_MODULE_VERSION"
  [[ -x $out/prometheus && -x $out/promtool ]] && return
  local log="$cache/prometheus-$PROMETHEUS_MODULE_VERSION.log"; mkdir -p "$cache" "$out.tmp"
  step "building prometheus and promtool (module $PROMETHEUS_MODULE_VERSION, about 2 min cold)"
  # The Nomad discovery plugin needs a module the proxy does not serve; the tags keep file,
  # static and Kubernetes discovery, which is all the tests use.
  GOBIN="$out.tmp" go install -tags remove_all_sd,enable_kubernetes_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" >"$log" 2>&1 \
    || fail "build prometheus $PROMETHEUS_MODULE_VERSION" prometheus "$log"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

bindir="$cache/bin"
link_all() {
  mkdir -p "$bindir"
  local d
  for d in "$cache/k8s-$K8S_VERSION" "$cache/etcd-$ETCD_VERSION" "$cache/ksm-$KSM_VERSION" \
    "$cache/prometheus-$PROMETHEUS_MODULE_VERSION"; do
    [[ -d $d ]] || continue
    ln -sf "$d"/* "$bindir/"
  done
}

case $what in
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  ksm) build_ksm ;;
  prometheus) build_prometheus ;;
  all) build_etcd; build_k8s; build_ksm; build_prometheus ;;
  *) echo "cluster-bins: unknown target '$what' (k8s|etcd|ksm|prometheus|all)" >&2; exit 2 ;;
esac
link_all
echo "$bindir"
