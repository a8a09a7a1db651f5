#!/usr/bin/env bash
# Temporal on PostgreSQL, end to end (docs/production.md), in two steps so the Go build of the
# server (7 minutes or more when nothing is cached) overlaps the rest of CI:
#   .ci/postgres-e2e.sh build-in-background   returns at once; the build runs under nice -n 19, -p=1
#   .ci/postgres-e2e.sh test                  waits for that build, installs PostgreSQL if missing,
#                                             runs npm run test:postgres on Node 24
set -euo pipefail
cd "$(dirname "$0")/.."
state="${TMPDIR:-/tmp}/agent-canary-ci-temporal-server-$(id -u)"

case "${1:-}" in
  build-in-background)
    mkdir -p "$state"
    rm -f "$state/build.rc" "$state/build.log"
    # setsid: out of this shell's job control; `test` below waits for it through build.rc.
    setsid bash -c 'bash scripts/temporal-postgres.sh build > "$1/build.log" 2>&1; echo $? > "$1/build.rc"' _ "$state" \
      < /dev/null > /dev/null 2>&1 &
    echo "temporal-server build started in the background (log: $state/build.log)"
    ;;
  test)
    if [ -f "$state/build.log" ]; then
      started=$(date +%s)
      next=0
      until [ -f "$state/build.rc" ]; do
        now=$(( $(date +%s) - started ))
        if [ "$now" -ge "$next" ]; then
          echo "waiting for the temporal-server build (${now}s): $(tail -n 1 "$state/build.log" 2>/dev/null)"
          next=$(( now + 30 ))
        fi
        if [ "$now" -gt 3600 ]; then echo "temporal-server build: no result after an hour" >&2; exit 1; fi
        sleep 2
      done
      cat "$state/build.log"
      if [ "$(cat "$state/build.rc")" != 0 ]; then echo "temporal-server build failed" >&2; exit 1; fi
    else
      bash scripts/temporal-postgres.sh build
    fi
    bash .ci/install-postgres.sh
    bash .ci/install-haproxy.sh
    # On Node 24, the runtime of the image: the production topology on the production runtime.
    node24="$(bash .ci/node24.sh)"
    PATH="$(dirname "$node24"):$PATH" npm run test:postgres
    ;;
  *)
    echo "usage: $0 build-in-background | test" >&2
    exit 2
    ;;
esac
