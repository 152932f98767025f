#!/usr/bin/env bash
# The packed-tarball install test: `npm pack`s the main package (with the
# optionalDependencies on the platform package that publishing adds, as
# `napi pre-publish` does) and the linux-x64-gnu package, installs both
# tarballs into a fresh temporary project with --offline (no registry, no
# NODE_PATH or other path variables), then from there runs the JavaScript
# example and type-checks (`tsc --noEmit --strict`), compiles and runs the
# TypeScript example. Needs scripts/build-addon.sh to have filled
# npm/linux-x64-gnu, and npm's cache filled by ci/install-deps-node with every
# package installed here from the registry (scripts/offline-closure.js).
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(node -p 'require("./package.json").version')

# The main package, staged with its optionalDependencies.
mkdir "$work/stage"
cp package.json index.js index.d.ts binding.js binding.d.ts level.js level.d.ts "$work/stage/"
node -e '
  const fs = require("fs"); const p = JSON.parse(fs.readFileSync(process.argv[1]));
  p.optionalDependencies = { "lightning-db-linux-x64-gnu": p.version };
  delete p.devDependencies; delete p.scripts;
  fs.writeFileSync(process.argv[1], JSON.stringify(p, null, 2) + "\n");
' "$work/stage/package.json"
(cd "$work/stage" && npm pack --silent --pack-destination "$work" >/dev/null)
(cd npm/linux-x64-gnu && npm pack --silent --pack-destination "$work" >/dev/null)
main_tgz=$work/lightning-db-$version.tgz
platform_tgz=$work/lightning-db-linux-x64-gnu-$version.tgz
listing=$(tar -tzf "$platform_tgz")
for f in liblightning_db_ffi.so lightning-db.linux-x64-gnu.node; do
  grep -qx "package/$f" <<<"$listing" || { echo "the platform package lacks $f" >&2; exit 1; }
done

# A fresh project, installed offline from the two tarballs and npm's cache.
mkdir "$work/app"
cd "$work/app"
echo '{"name": "app", "version": "1.0.0", "private": true}' > package.json
ts_version=$(node -p "require('$here/package-lock.json').packages['node_modules/typescript'].version")
types_version=$(node -p "require('$here/package-lock.json').packages['node_modules/@types/node'].version")
env -u NODE_PATH npm install --offline --no-audit --no-fund --loglevel=error \
  "$main_tgz" "$platform_tgz" "typescript@$ts_version" "@types/node@$types_version" >/dev/null
[ -f node_modules/lightning-db-linux-x64-gnu/liblightning_db_ffi.so ]
cp "$here/examples/example.js" "$here/examples/example.ts" "$here/examples/tsconfig.json" .

echo "--- example.js from the installed package"
env -u NODE_PATH node example.js
echo "--- tsc --noEmit --strict example.ts"
npx tsc --noEmit --strict -p .
echo "--- example.ts, compiled"
npx tsc -p .
env -u NODE_PATH node dist/example.js
# Loaded from the installed platform package, not from the source tree.
env -u NODE_PATH node -e '
  require("lightning-db");
  const path = require("path");
  const loaded = Object.keys(require.cache).filter((f) => f.endsWith(".node"));
  const want = path.join(process.cwd(), "node_modules/lightning-db-linux-x64-gnu/lightning-db.linux-x64-gnu.node");
  if (loaded.length !== 1 || loaded[0] !== want) { console.error("loaded", loaded); process.exit(1) }
  console.log("addon loaded from", path.relative(process.cwd(), loaded[0]));
'
echo "packed-tarball install test passed"
