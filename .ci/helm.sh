#!/usr/bin/env bash
# Builds Helm v3 from the Go module proxy (once; reused from the per-user cache), so the chart under
# deploy/helm/agent-canary is linted and rendered by the real `helm` in the tests. Safe to run again:
# a cached build of the same version is reused. Prints the binary's path on its last line.
#
# Cache: ${AGENT_CANARY_HELM_CACHE:-$HOME/.cache/agent-canary/helm}/bin/helm
#   cold: a few minutes on 2 cores (measured in the report); warm: <1 s
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
CACHE="${AGENT_CANARY_HELM_CACHE:-$HOME/.cache/agent-canary/helm}"
BIN="$CACHE/bin"
stamp="$BIN/.version"
log() { printf '[helm %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [ -x "$BIN/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$HELM_VERSION" ]; then
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
GOBIN="$staging" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
kill "$ticker" 2>/dev/null || true
mv "$staging/helm" "$BIN/helm.tmp" && mv "$BIN/helm.tmp" "$BIN/helm"
echo "$HELM_VERSION" >"$stamp"
rm -rf "$staging"
log "built in $(($(date +%s) - started))s: $("$BIN/helm" version --short)"
echo "$BIN/helm"
