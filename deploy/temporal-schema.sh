#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings their schemas up to date: the compose
# stack's one-shot `temporal-schema` job (temporalio/admin-tools), and the same commands CI runs
# against a real PostgreSQL (test/postgres/rollouts.e2e.ts). Idempotent: run it before every server
# start and after every upgrade. The password comes from SQL_PASSWORD, never from the command line.
set -eu
: "${POSTGRES_SEEDS:?host of PostgreSQL}" "${SQL_PASSWORD:?password of POSTGRES_USER}"
port="${DB_PORT:-5432}"
user="${POSTGRES_USER:-temporal}"

for pair in temporal:postgresql/v12/temporal temporal_visibility:postgresql/v12/visibility; do
  db="${pair%%:*}"
  schema="${pair#*:}"
  set -- --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$user" --db "$db"
  # Retried: in compose the database may still be starting.
  tries=0
  until temporal-sql-tool "$@" create-database; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then echo "PostgreSQL at $POSTGRES_SEEDS:$port: no answer after 60 tries" >&2; exit 1; fi
    sleep 2
  done
  temporal-sql-tool "$@" setup-schema -v 0.0
  # The versioned schema embedded in this temporal-sql-tool: the one its server version needs.
  temporal-sql-tool "$@" update-schema --schema-name "$schema"
  echo "database $db: schema $schema up to date"
done
