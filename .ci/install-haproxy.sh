#!/usr/bin/env bash
# Installs Debian's HAProxy when it is missing: the gateway replicas test puts it in front of
# several gateway replicas, as a team's load balancer would be. Safe to run again.
set -euo pipefail
if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then
  echo "haproxy already installed: $( (command -v haproxy || echo /usr/sbin/haproxy) | xargs -I{} {} -v | head -1)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing haproxy from Debian packages..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends haproxy
# The package starts a system haproxy on its default config; the tests run their own.
$SUDO systemctl disable --now haproxy >/dev/null 2>&1 || $SUDO service haproxy stop >/dev/null 2>&1 || true
/usr/sbin/haproxy -v | head -1
