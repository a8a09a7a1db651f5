#!/bin/sh
# Registers the namespace and agent-canary's five search attributes (DESIGN.md §3): the compose
# stack's one-shot `temporal-namespace` job (temporalio/admin-tools), also run by CI against a real
# server (test/postgres/rollouts.e2e.ts). Idempotent: what exists already counts as done.
set -eu
: "${TEMPORAL_ADDRESS:?host:port of the Temporal frontend}"
ns="${TEMPORAL_NAMESPACE:-default}"
retention="${NAMESPACE_RETENTION:-30d}"

# Retries until the server answers; a namespace just created is "not found" for a few seconds.
retry() {
  tries=0
  until "$@"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then echo "giving up after 60 tries: $*" >&2; exit 1; fi
    sleep 2
  done
}

exists() { temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$ns" >/dev/null 2>&1; }
create_namespace() {
  exists || temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$ns" --retention "$retention"
}
retry create_namespace
echo "namespace $ns ready"

has() { temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$ns" | grep -qw "$1"; }
create() {
  has "$1" || temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$ns" --name "$1" --type "$2"
}
for sa in CanaryAgent=Keyword CanaryState=Keyword CanaryPercent=Int CanaryVersion=Keyword StableVersion=Keyword CanaryCodeVersion=Int; do
  retry create "${sa%=*}" "${sa#*=}"
  echo "search attribute ${sa%=*} (${sa#*=}) ready"
done
