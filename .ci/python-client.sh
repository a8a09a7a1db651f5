#!/usr/bin/env bash
# The Temporal Python SDK for test/python-client.test.ts, in a per-user cached venv: a team's deploy
# pipeline in another language starts, signals and queries a rollout. Prints the venv's python.
# Cold: a venv and one wheel from PyPI (tens of seconds); warm: nothing to do.
set -euo pipefail
TEMPORALIO_VERSION=1.35.0
dir="${AGENT_CANARY_CACHE:-$HOME/.cache/agent-canary}/python-temporalio/${TEMPORALIO_VERSION}"
py="$dir/bin/python"
if [ -x "$py" ] && "$py" -c "import temporalio" 2>/dev/null; then
  echo "$py"
  exit 0
fi
if ! command -v python3 >/dev/null; then
  echo "python3 not found: the Python client test will be skipped" >&2
  exit 0
fi
echo "creating a venv for temporalio ${TEMPORALIO_VERSION} in $dir" >&2
rm -rf "$dir.tmp"
python3 -m venv "$dir.tmp" >&2
"$dir.tmp/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
  "temporalio==${TEMPORALIO_VERSION}" >&2
# Moved into place only once complete: an interrupted install never looks usable.
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$py"
