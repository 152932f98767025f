'use strict'
// Plays every scenario of tests/conformance/scenarios.json (format in its README)
// through the public Node API, one test per scenario.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const ldb = require('..')

const file = path.join(__dirname, '../../../tests/conformance/scenarios.json')
const { format, scenarios } = JSON.parse(fs.readFileSync(file, 'utf8'))
if (format !== 1) throw new Error(`unknown scenario format ${format}`)

function toBytes(v) {
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  if (v && typeof v.hex === 'string') return Buffer.from(v.hex, 'hex')
  if (v && typeof v.fill === 'number') return Buffer.alloc(v.len, v.fill)
  throw new Error(`bad bytes ${JSON.stringify(v)}`)
}

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

function toOptions(config) {
  if (config === undefined) return undefined
  const options = {}
  for (const [k, v] of Object.entries(config)) options[camel(k)] = k === 'sync_mode' ? v.toLowerCase() : v
  return options
}

function rangeOptions(step) {
  const o = { reverse: Boolean(step.reverse) }
  if (step.start) {
    if ('included' in step.start) o.gte = toBytes(step.start.included)
    else o.gt = toBytes(step.start.excluded)
  }
  if (step.end) {
    if ('included' in step.end) o.lte = toBytes(step.end.included)
    else o.lt = toBytes(step.end.excluded)
  }
  return o
}

const pairs = (list) => list.map(([k, v]) => [toBytes(k), toBytes(v)])
const asPairs = (list) => list.map(([k, v]) => [Buffer.from(k), Buffer.from(v)])

function checkScan(scan, step) {
  const got = asPairs([...scan])
  if ('expect' in step) assert.deepEqual(got, pairs(step.expect))
  if ('expect_count' in step) assert.equal(got.length, step.expect_count)
  if ('expect_first' in step) assert.deepEqual(got[0], pairs([step.expect_first])[0])
  if ('expect_last' in step) assert.deepEqual(got[got.length - 1], pairs([step.expect_last])[0])
}

// The UDL's error variant names; the Node classes carry the C names as `.code`.
const variantOf = { UnknownError: 'Unknown' }

function run(dir, scenario) {
  const dbs = new Map() // name -> { db, path, options }
  const txs = new Map()
  const cursors = new Map()
  const dbOf = (step) => dbs.get(step.db ?? 'main').db
  const opts = (step) => toOptions(step.config ?? scenario.config)

  const ops = {
    create(step) {
      const p = path.join(dir, step.path ?? 'db')
      const options = opts(step)
      dbs.set(step.db ?? 'main', { db: ldb.create(p, options), path: p, options })
    },
    open(step) {
      const p = path.join(dir, step.path ?? 'db')
      const options = opts(step)
      dbs.set(step.db ?? 'main', { db: ldb.open(p, options), path: p, options })
    },
    close: (step) => dbOf(step).close(),
    reopen(step) {
      const h = dbs.get(step.db ?? 'main')
      h.db.close()
      h.db = ldb.open(h.path, h.options)
    },
    put: (step) => dbOf(step).put(toBytes(step.key), toBytes(step.value)),
    get: (step) => dbOf(step).get(toBytes(step.key)),
    delete: (step) => dbOf(step).delete(toBytes(step.key)),
    contains: (step) => dbOf(step).has(toBytes(step.key)),
    len: (step) => dbOf(step).len(),
    write(step) {
      dbOf(step).write(
        step.ops.map((op) =>
          'put' in op
            ? { type: 'put', key: toBytes(op.put[0]), value: toBytes(op.put[1]) }
            : { type: 'del', key: toBytes(op.delete) },
        ),
      )
    },
    fill(step) {
      const batch = dbOf(step).batch()
      for (let i = 0; i < step.count; i++) {
        const n = String(i).padStart(5, '0')
        batch.put(Buffer.concat([toBytes(step.key_prefix), Buffer.from(n)]), Buffer.concat([toBytes(step.value_prefix), Buffer.from(n)]))
      }
      batch.write()
    },
    scan: (step) => dbOf(step).range(rangeOptions(step)),
    scan_prefix: (step) => dbOf(step).prefix(toBytes(step.prefix), { reverse: Boolean(step.reverse) }),
    tx_scan: (step) => txs.get(step.tx).range(rangeOptions(step)),
    tx_scan_prefix: (step) => txs.get(step.tx).prefix(toBytes(step.prefix), { reverse: Boolean(step.reverse) }),
    next: (step) => cursors.get(step.cursor).take(step.count),
    begin: (step) => txs.set(step.tx, dbOf(step).begin()),
    tx_get: (step) => txs.get(step.tx).get(toBytes(step.key)),
    tx_put: (step) => txs.get(step.tx).put(toBytes(step.key), toBytes(step.value)),
    tx_delete: (step) => txs.get(step.tx).delete(toBytes(step.key)),
    tx_contains: (step) => txs.get(step.tx).has(toBytes(step.key)),
    commit: (step) => txs.get(step.tx).commit(),
    rollback: (step) => txs.get(step.tx).rollback(),
    checkpoint: (step) => dbOf(step).checkpoint(),
    compact: (step) => dbOf(step).compact(),
    verify: (step) => dbOf(step).verify(),
    stats: (step) => dbOf(step).stats(),
    backup: (step) => dbOf(step).backup(path.join(dir, step.dest)),
  }

  const isScan = (op) => op === 'scan' || op === 'scan_prefix' || op === 'tx_scan' || op === 'tx_scan_prefix'
  try {
    scenario.steps.forEach((step, index) => {
      const where = `${scenario.name}: step ${index} ${JSON.stringify(step).slice(0, 300)}`
      const fn = ops[step.op]
      if (!fn) throw new Error(`unknown op in ${where}`)
      let result
      try {
        result = fn(step)
        if (isScan(step.op) && !step.cursor) {
          // Read it to the end here, so that an error of the read counts as the step's.
          result = asPairs([...result])
        }
      } catch (e) {
        if (!step.expect_error) throw new Error(`${where}: unexpected ${e.stack}`)
        assert.ok(e instanceof ldb.LightningDBError, `${where}: not a LightningDBError: ${e.stack}`)
        assert.equal(variantOf[e.code] ?? e.code, step.expect_error, `${where}: ${e.message}`)
        assert.ok(e instanceof ldb[`${e.code.replace(/Error$/, '')}Error`], `${where}: class of ${e.code}`)
        if (step.error_contains) assert.ok(e.message.includes(step.error_contains), `${where}: message ${e.message}`)
        return
      }
      assert.ok(!step.expect_error, `${where}: expected ${step.expect_error}, got success`)
      if (isScan(step.op)) {
        if (step.cursor) cursors.set(step.cursor, result)
        else checkScan(result, step)
        return
      }
      if (!('expect' in step)) return
      const expect = step.expect
      if (step.op === 'get' || step.op === 'tx_get') {
        assert.deepEqual(result, expect === null ? undefined : toBytes(expect), where)
      } else if (step.op === 'next') {
        assert.deepEqual(asPairs(result), pairs(expect), where)
      } else if (step.op === 'stats' || step.op === 'verify') {
        for (const [k, v] of Object.entries(expect)) assert.equal(result[camel(k)], v, `${where}: ${k}`)
      } else {
        assert.deepEqual(result, expect, where)
      }
    })
  } finally {
    for (const c of cursors.values()) c.close()
    for (const h of dbs.values()) h.db[Symbol.dispose]()
  }
}

for (const scenario of scenarios) {
  test(scenario.name, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldb-node-conf-'))
    try {
      run(dir, scenario)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
}
