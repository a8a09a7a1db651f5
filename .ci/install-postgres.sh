#!/usr/bin/env bash
# Installs Debian's PostgreSQL server when it is missing, for the Temporal-on-PostgreSQL end-to-end
# test. Safe to run again: it does nothing when initdb and postgres are there. The test runs its own
# cluster (temp folder, loopback port, no Unix socket); no distro cluster is created or started.
set -euo pipefail

for dir in /usr/lib/postgresql/*/bin; do
  if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
    echo "postgresql already installed: $("$dir/postgres" --version)"
    exit 0
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "installing postgresql from Debian packages..."
export DEBIAN_FRONTEND=noninteractive
# No "main" cluster on port 5432: postgresql-common reads this before its postinst runs.
$SUDO mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  echo 'create_main_cluster = false' | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/postgres" ] && echo "installed: $("$dir/postgres" --version)" && exit 0
done
echo "postgresql installed but no /usr/lib/postgresql/*/bin/postgres found" >&2
exit 1
