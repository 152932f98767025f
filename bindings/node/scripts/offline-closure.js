// Prints, one per line as name@version, every package the packed-tarball
// install test (scripts/pack-test.sh) installs into its fresh project from
// npm's cache: the main package's dependencies and typescript and @types/node,
// with everything they depend on, at the versions of package-lock.json.
//
// `npm ci` caches the tarballs of the lock file but not the registry's package
// documents that an install by name resolves against, so ci/install-deps-node
// adds these with `npm cache add`; the test then installs with --offline.
"use strict";
const path = require("path");
const root = path.join(__dirname, "..");
const pkg = require(path.join(root, "package.json"));
const lock = require(path.join(root, "package-lock.json")).packages;

// Node's lookup: a dependency of the package at `from` is in the nearest
// node_modules above it.
function locate(name, from) {
  let dir = from;
  for (;;) {
    const key = (dir ? dir + "/" : "") + "node_modules/" + name;
    if (lock[key]) return key;
    if (!dir) return null;
    const cut = dir.lastIndexOf("/node_modules/");
    dir = cut < 0 ? "" : dir.slice(0, cut);
  }
}

const wanted = new Set();
const queue = [
  ...Object.keys(pkg.dependencies || {}),
  "typescript",
  "@types/node",
].map((name) => [name, ""]);
while (queue.length) {
  const [name, from] = queue.pop();
  const key = locate(name, from);
  if (!key) {
    // Optional platform packages of other systems may be absent from the lock.
    continue;
  }
  const spec = `${name}@${lock[key].version}`;
  if (wanted.has(spec)) continue;
  wanted.add(spec);
  const entry = lock[key];
  for (const deps of [entry.dependencies, entry.optionalDependencies]) {
    for (const dep of Object.keys(deps || {})) queue.push([dep, key]);
  }
}
console.log([...wanted].sort().join("\n"));
