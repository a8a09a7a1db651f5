#!/usr/bin/env bash
# Builds a real kube-apiserver and kubectl from the Go module proxy (once; reused from the per-user
# cache), installs etcd from Debian, and fetches the Gateway API CRDs, so the Kubernetes router and
# the manifests are tested against the real API server. Safe to run again: a cached build is reused.
#
# Cache: ${AGENT_CANARY_KUBE_CACHE:-$HOME/.cache/agent-canary/kube}
#   bin/kube-apiserver, bin/kubectl    built here (cold: 35 min measured on a busy 2-core machine; warm: <1 s)
#   crds/gateway-api-<v>/              standard-channel CRDs of sigs.k8s.io/gateway-api
#   crds/flagger-<v>.yaml              Flagger's CRDs (Canary, MetricTemplate, AlertProvider)
#
# k8s.io/kubernetes replaces its staging modules with local paths, so `go install` refuses it; a
# small wrapper module pins each staging module to its published v0.33.x version instead.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.33.13}"
STAGING_VERSION="v0${K8S_VERSION#v1}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.2.1}"
CACHE="${AGENT_CANARY_KUBE_CACHE:-$HOME/.cache/agent-canary/kube}"
BIN="$CACHE/bin"
mkdir -p "$BIN" "$CACHE/crds"

log() { printf '[kube %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# --- etcd (storage for the API server) ---------------------------------------------------------
if ! command -v etcd >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  log "installing etcd-server from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends etcd-server
  # The package may start a system etcd on 2379; the tests start their own on free ports.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    $SUDO systemctl stop etcd || true
  fi
fi
log "etcd: $(etcd --version 2>/dev/null | head -n1)"

# --- Gateway API CRDs from the Go module proxy ----------------------------------------------------
CRD_DIR="$CACHE/crds/gateway-api-$GATEWAY_API_VERSION"
if [ ! -f "$CRD_DIR/gateway.networking.k8s.io_httproutes.yaml" ]; then
  log "fetching sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION CRDs"
  dir=$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir/config/crd/standard" ]; then
    echo "could not find config/crd/standard in the gateway-api module (dir: '$dir')" >&2
    exit 1
  fi
  rm -rf "$CRD_DIR.tmp" && mkdir -p "$CRD_DIR.tmp"
  cp "$dir"/config/crd/standard/*.yaml "$CRD_DIR.tmp/"
  chmod -R u+w "$CRD_DIR.tmp"
  rm -rf "$CRD_DIR" && mv "$CRD_DIR.tmp" "$CRD_DIR"
fi
log "gateway-api CRDs: $CRD_DIR"

# --- Flagger CRDs (for `export flagger`, validated by the real API server) ---------------------------
FLAGGER_VERSION="${FLAGGER_VERSION:-v1.41.0}"
FLAGGER_CRD="$CACHE/crds/flagger-$FLAGGER_VERSION.yaml"
if [ ! -f "$FLAGGER_CRD" ]; then
  log "fetching github.com/fluxcd/flagger@$FLAGGER_VERSION CRDs"
  dir=$(cd "$CACHE" && go mod download -json "github.com/fluxcd/flagger@$FLAGGER_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -f "$dir/artifacts/flagger/crd.yaml" ]; then
    echo "could not find artifacts/flagger/crd.yaml in the flagger module (dir: '$dir')" >&2
    exit 1
  fi
  cp "$dir/artifacts/flagger/crd.yaml" "$FLAGGER_CRD.tmp" && chmod u+w "$FLAGGER_CRD.tmp" && mv "$FLAGGER_CRD.tmp" "$FLAGGER_CRD"
fi
log "flagger CRDs: $FLAGGER_CRD"

# --- kube-apiserver and kubectl -------------------------------------------------------------------
stamp="$BIN/.version"
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kubectl" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$K8S_VERSION" ]; then
  log "kube-apiserver $K8S_VERSION cached in $BIN"
  exit 0
fi

SRC="$CACHE/src-$K8S_VERSION"
mkdir -p "$SRC"
cd "$SRC"
staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver"
{
  echo "module agentcanary.local/kubebuild"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  for m in $staging; do echo "	k8s.io/$m => k8s.io/$m $STAGING_VERSION"; done
  echo ")"
} >go.mod

export GOFLAGS="${GOFLAGS:--p=1}"
started=$(date +%s)
log "resolving k8s.io/kubernetes $K8S_VERSION modules (GOFLAGS=$GOFLAGS)"
nice -n 19 go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
log "resolved in $(($(date +%s) - started)) s"

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
for cmd in kubectl kube-apiserver; do
  t=$(date +%s)
  log "building $cmd (several minutes cold for kube-apiserver)"
  nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  log "built $cmd in $(($(date +%s) - t)) s"
done
echo "$K8S_VERSION" >"$stamp"
log "kube-apiserver and kubectl $K8S_VERSION built in $(($(date +%s) - started)) s into $BIN"
