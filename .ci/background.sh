#!/usr/bin/env bash
# Long builds that CI overlaps with its other steps.
#   .ci/background.sh start NAME CMD...   runs CMD under nice (out of this shell's job control), returns at once
#   .ci/background.sh wait NAME           waits for it, printing progress every 30 s, then its log; fails as it failed
set -euo pipefail
state="${TMPDIR:-/tmp}/agent-canary-ci-$(id -u)"
mkdir -p "$state"

case "${1:-}" in
  start)
    name="$2"
    shift 2
    rm -f "$state/$name.rc" "$state/$name.log"
    setsid nice -n 19 bash -c '"${@:3}" > "$1" 2>&1; echo $? > "$2"' _ "$state/$name.log" "$state/$name.rc" "$@" \
      < /dev/null > /dev/null 2>&1 &
    echo "$name: started in the background (log: $state/$name.log)"
    ;;
  wait)
    name="$2"
    if [ ! -f "$state/$name.log" ]; then
      echo "$name: was never started" >&2
      exit 1
    fi
    started=$(date +%s)
    next=0
    until [ -f "$state/$name.rc" ]; do
      now=$(( $(date +%s) - started ))
      if [ "$now" -ge "$next" ]; then
        echo "waiting for $name (${now}s): $(tail -n 1 "$state/$name.log" 2>/dev/null)"
        next=$(( now + 30 ))
      fi
      if [ "$now" -gt 3600 ]; then echo "$name: no result after an hour" >&2; exit 1; fi
      sleep 2
    done
    cat "$state/$name.log"
    rc="$(cat "$state/$name.rc")"
    if [ "$rc" != 0 ]; then echo "$name failed (exit $rc)" >&2; exit 1; fi
    ;;
  *)
    echo "usage: $0 start NAME CMD... | wait NAME" >&2
    exit 2
    ;;
esac
