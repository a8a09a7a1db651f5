#!/usr/bin/env bash
# Temporal on PostgreSQL without containers (docs/production.md):
#   scripts/temporal-postgres.sh build   # temporal-server + temporal-sql-tool into the per-user cache
#   scripts/temporal-postgres.sh up      # PostgreSQL and Temporal on it, until Ctrl-C
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec node -r "$root/bin/register.js" "$root/src/temporal/postgres-main.ts" "$@"
