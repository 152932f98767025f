#!/usr/bin/env bash
# Installs the benchmark's peers (lmdb-js, better-sqlite3 12: 13 crashes on
# Node 20) from package-lock.json. better-sqlite3 downloads a prebuilt addon
# from GitHub when it can; where it cannot (no network but the registry), it is
# compiled here against the installed Node headers.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
if ! node -e 'require("better-sqlite3")' 2>/dev/null; then
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  [ -f "$nodedir/include/node/node_api.h" ] || nodedir=/usr
  gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
  (cd node_modules/better-sqlite3 && node "$gyp" rebuild --release --nodedir="$nodedir" -j 2)
fi
