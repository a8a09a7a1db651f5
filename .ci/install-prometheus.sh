#!/usr/bin/env bash
# Installs the Prometheus server from Debian's packages when it is missing, so the Prometheus metrics
# backend is tested against the real thing. Safe to run again: it does nothing when prometheus is there.
# The test harness starts its own instance (loopback, temp config); the distro service is not used.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1; then
  echo "prometheus already installed: $(prometheus --version 2>&1 | head -n1)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "installing prometheus from Debian packages..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps out the exporters and web assets we do not need;
# policy-rc.d-free installs may try to start the service: stop it so it holds no port.
$SUDO apt-get install -y -qq --no-install-recommends prometheus
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus || true
fi
echo "installed: $(prometheus --version 2>&1 | head -n1)"
