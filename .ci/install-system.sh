#!/usr/bin/env bash
# Every Debian package the test suite uses, in one apt transaction (needs root or sudo): Chromium
# (browser tests), HAProxy and PostgreSQL (gateway replicas, Temporal on PostgreSQL), Prometheus
# (the Prometheus backend), etcd (storage for the kube-apiserver the Kubernetes tests run).
# `npm test` skips, and lists, the suites whose parts are missing; CI (CI=true) needs them all.
# Safe to run again: installs only what is missing, in one `apt-get update` + `apt-get install`.
set -euo pipefail

want=()
[ -x /usr/bin/chromium ] || want+=(chromium fonts-dejavu-core)
{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || want+=(haproxy)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || want+=(postgresql)
command -v prometheus >/dev/null 2>&1 || want+=(prometheus)
command -v etcd >/dev/null 2>&1 || want+=(etcd-server)

if [ "${#want[@]}" -eq 0 ]; then
  echo "system packages: all present (chromium, haproxy, postgresql, prometheus, etcd)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "installing from Debian packages: ${want[*]}"
# PostgreSQL: no system cluster; the tests make their own.
$SUDO mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  echo 'create_main_cluster = false' | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
# The packages may start system services on default ports; the tests start their own on free ones.
for svc in haproxy prometheus etcd; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "system packages installed: ${want[*]}"
