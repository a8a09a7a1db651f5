#!/usr/bin/env bash
# Builds Helm v3 from the Go module proxy (once; reused from the per-user cache), so the chart under
# deploy/helm/agent-canary is linted and rendered by the real `helm` in the tests. Safe to run again:
# a cached build of the same version is reused. Prints the binary's path on its last line.
#
# Cache: ${AGENT_CANARY_HELM_CACHE:-$HOME/.cache/agent-canary/helm}/bin/helm
#   cold: 20 min measured on a loaded 2-core machine; warm: <1 s
# ${CACHE}/crds/prometheus-operator-<v>/  ServiceMonitor and PrometheusRule CRDs (the chart renders both),
#   from the Go module github.com/prometheus-operator/prometheus-operator, so the test's server-side
#   dry run validates them too.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
# The Kubernetes minor that helm assumes without a cluster (`helm template`, `helm lint`): what its
# Makefile derives from its k8s.io/client-go (v0.36.x for helm v3.21.4 -> Kubernetes 1.36).
HELM_K8S_MINOR="${HELM_K8S_MINOR:-36}"
CACHE="${AGENT_CANARY_HELM_CACHE:-$HOME/.cache/agent-canary/helm}"
BIN="$CACHE/bin"
stamp="$BIN/.version"
log() { printf '[helm %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

PO_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.88.0}"
PO_DIR="$CACHE/crds/prometheus-operator-$PO_VERSION"
if [ ! -f "$PO_DIR/monitoring.coreos.com_servicemonitors.yaml" ]; then
  log "fetching github.com/prometheus-operator/prometheus-operator@$PO_VERSION CRDs"
  mkdir -p "$CACHE/crds"
  dir=$(cd "$CACHE" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PO_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  src="$dir/example/prometheus-operator-crd"
  if [ -z "$dir" ] || [ ! -f "$src/monitoring.coreos.com_servicemonitors.yaml" ]; then
    echo "could not find $src/monitoring.coreos.com_servicemonitors.yaml (dir: '$dir')" >&2
    exit 1
  fi
  rm -rf "$PO_DIR.tmp" && mkdir -p "$PO_DIR.tmp"
  cp "$src/monitoring.coreos.com_servicemonitors.yaml" "$src/monitoring.coreos.com_prometheusrules.yaml" "$PO_DIR.tmp/"
  chmod -R u+w "$PO_DIR.tmp" && rm -rf "$PO_DIR" && mv "$PO_DIR.tmp" "$PO_DIR"
fi
log "prometheus-operator CRDs: $PO_DIR"

want="$HELM_VERSION k8s1.$HELM_K8S_MINOR"
if [ -x "$BIN/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "helm $HELM_VERSION cached"
  echo "$BIN/helm"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "go is not installed: helm is built with it" >&2; exit 1; }
mkdir -p "$BIN"
staging="$CACHE/staging"
rm -rf "$staging" && mkdir -p "$staging"
log "building helm.sh/helm/v3/cmd/helm@$HELM_VERSION with $(go version | cut -d' ' -f3) (first time only)"
started=$(date +%s)
# Progress while the build runs: go install prints nothing until it is done.
( while sleep 30; do log "still building... $(($(date +%s) - started))s"; done ) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
done
GOBIN="$staging" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
kill "$ticker" 2>/dev/null || true
mv "$staging/helm" "$BIN/helm.tmp" && mv "$BIN/helm.tmp" "$BIN/helm"
echo "$want" >"$stamp"
rm -rf "$staging"
log "built in $(($(date +%s) - started))s: $("$BIN/helm" version --short)"
echo "$BIN/helm"
