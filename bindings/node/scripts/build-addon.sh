#!/usr/bin/env bash
# Builds the addon (napi-rs, release, stripped) against the library of
# ci/build-native and puts the native files where they are loaded from:
# bindings/node/ (for the tests) and bindings/node/npm/linux-x64-gnu/ (the
# platform package): lightning-db.linux-x64-gnu.node and, beside it (rpath
# $ORIGIN), the stripped liblightning_db_ffi.so.
#
# With --generated DIR, also leaves the loader (binding.js) and the addon's types
# (binding.d.ts) that napi-rs generates in DIR; ci/generate uses it.
set -euo pipefail

generated=""
if [ "${1:-}" = "--generated" ]; then generated=$(realpath "$2"); fi
cd "$(dirname "$0")/.."

native_dir=$(../../ci/build-native)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
LIGHTNING_DB_LIB_DIR="$native_dir" npx napi build --platform --release --strip \
  --output-dir "$out" --js binding.js --dts binding.d.ts >&2
for dir in . npm/linux-x64-gnu; do
  cp "$out/lightning-db.linux-x64-gnu.node" "$native_dir/liblightning_db_ffi.so" "$dir/"
done
if [ -n "$generated" ]; then
  cp "$out/binding.js" "$out/binding.d.ts" "$generated/"
fi
