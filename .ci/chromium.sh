#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser test (test/ui-browser.test.ts), driven by playwright-core.
# The test tool's own browser download cannot work here: only package registries are reachable.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  /usr/bin/chromium --version
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
