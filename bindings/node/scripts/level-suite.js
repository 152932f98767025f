'use strict'
// Runs abstract-level/test against LightningLevel (spawned by test/level.test.js, and
// kept out of test/, where node --test would run it as a file of its own; tape
// prints TAP and exits non-zero on any failure).
const test = require('tape')
const suite = require('abstract-level/test')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { LightningLevel } = require('lightning-db/level')

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ldb-level-'))
let n = 0
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }))

// The tests that cannot apply, each with the reason; README.md lists them too.
// Lightning DB keys are 1 to 16384 bytes: the empty key is refused
// (InvalidArgument) in every language, and these tests store it. They are
// skipped only on the database itself: the suite runs a second time on a
// sublevel, where every key has the sublevel's prefix, and there they run.
const notApplicable = new Map([
  ['put(), get(), del() with empty Buffer key', 'stores the empty key'],
  ['empty keys in batch with utf8 keyEncoding', 'stores the empty key'],
  ['empty keys in batch with buffer keyEncoding', 'stores the empty key'],
  ['empty keys in batch with view keyEncoding', 'stores the empty key'],
  ['iterator() sorts lexicographically', 'stores the empty key among others'],
])
const seen = new Set()
function filtered(name, ...rest) {
  if (notApplicable.has(name) && !seen.has(name)) {
    seen.add(name)
    return test(name, (t) => {
      t.skip(`not applicable: ${notApplicable.get(name)}`)
      t.end()
    })
  }
  return test(name, ...rest)
}
Object.assign(filtered, test)

suite({
  test: filtered,
  factory(options) {
    return new LightningLevel(path.join(root, String(n++)), options)
  },
})
