'use strict'
// The test suite that abstract-level ships (abstract-level/test, run with tape,
// its required runner), against LightningLevel on disk; one node:test test
// wrapping the tape run, failing when any tape assertion fails.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

test('the abstract-level test suite passes against LightningLevel', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '../scripts/level-suite.js')], { encoding: 'utf8', maxBuffer: 64 << 20 })
  const out = r.stdout + r.stderr
  const fails = out.split('\n').filter((l) => l.startsWith('not ok'))
  const summary = out.match(/# pass +(\d+)(?:\n# fail +(\d+))?/)
  console.log(`abstract-level suite: ${summary ? summary[1] : '?'} assertions passed, ${summary && summary[2] ? summary[2] : 0} failed`)
  assert.deepEqual(fails, [], out.slice(-4000))
  assert.equal(r.status, 0, out.slice(-4000))
  assert.ok(summary && Number(summary[1]) > 1000, 'the suite ran')
})
