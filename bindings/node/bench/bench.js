'use strict'
// Lightning DB against lmdb-js and better-sqlite3 from Node.js, in one run: the
// same random 24-byte keys and 150-byte values for all three, each engine in a
// fresh directory. Prints ops/s per engine and Lightning DB's ratio to each peer
// (above 1.00: Lightning DB is faster). A program, not a test; not run by CI.
//
//   cd bindings/node/bench && ./install.sh && node bench.js [keys]
//
// Durability: rows marked "durable" sync every commit in every engine
// (Lightning DB syncMode 'full'; lmdb-js with its default sync; SQLite in WAL
// mode with synchronous=FULL). The other rows use the engines' no-sync settings
// (Lightning DB 'off', lmdb-js noSync, SQLite synchronous=OFF), where a commit
// survives a killed process but not a power loss.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const ldb = require('..')
const lmdb = require('lmdb')
const Sqlite = require('better-sqlite3')

const N = Number(process.argv[2] || 200000)
const VALUE = 150
const GETS = 500000
const DURABLE_PUTS = 1000
const PUTS = 50000
const BATCHES = 100
const BATCH = 1000
const RANGES = 100000
const SCANS = 3

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ldb-node-bench-'))
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }))

const keys = Array.from({ length: N }, () => crypto.randomBytes(24))
const values = Array.from({ length: 1024 }, () => crypto.randomBytes(VALUE))
const order = Array.from({ length: GETS }, () => keys[crypto.randomInt(N)])
const fresh = (n) => Array.from({ length: n }, () => crypto.randomBytes(24))

function time(ops, fn) {
  const start = process.hrtime.bigint()
  fn()
  const ns = Number(process.hrtime.bigint() - start)
  return ops / (ns / 1e9)
}
// Best of three, for the rows that take well under a second.
const best = (ops, fn) => Math.max(time(ops, fn), time(ops, fn), time(ops, fn))

// Each engine behind the same six operations.
const engines = {
  'Lightning DB': (dir, durable) => {
    const db = ldb.create(dir, { syncMode: durable ? 'full' : 'off' })
    return {
      load(ks) {
        for (let i = 0; i < ks.length; i += 10000) {
          const batch = db.batch()
          for (let j = i; j < Math.min(i + 10000, ks.length); j++) batch.put(ks[j], values[j & 1023])
          batch.write()
        }
      },
      get: (k) => db.get(k),
      put: (k, v) => db.put(k, v),
      batch(ks) {
        const batch = db.batch()
        for (let i = 0; i < ks.length; i++) batch.put(ks[i], values[i & 1023])
        batch.write()
      },
      range10(k) {
        let n = 0
        for (const entry of db.range({ gte: k, limit: 10 })) n += entry[1].length
        return n
      },
      scan() {
        let n = 0
        for (const entry of db.range()) n += entry[1].length
        return n
      },
      close: () => db.close(),
    }
  },
  'lmdb-js': (dir, durable) => {
    const db = lmdb.open({ path: dir, compression: false, encoding: 'binary', keyEncoding: 'binary', noSync: !durable, mapSize: 4 << 30 })
    return {
      load(ks) {
        for (let i = 0; i < ks.length; i += 10000) {
          db.transactionSync(() => {
            for (let j = i; j < Math.min(i + 10000, ks.length); j++) db.put(ks[j], values[j & 1023])
          })
        }
      },
      get: (k) => db.getBinary(k),
      put: (k, v) => db.putSync(k, v),
      batch(ks) {
        db.transactionSync(() => {
          for (let i = 0; i < ks.length; i++) db.put(ks[i], values[i & 1023])
        })
      },
      range10(k) {
        let n = 0
        for (const { value } of db.getRange({ start: k, limit: 10 })) n += value.length
        return n
      },
      scan() {
        let n = 0
        for (const { value } of db.getRange()) n += value.length
        return n
      },
      close: () => db.close(),
    }
  },
  'better-sqlite3': (dir, durable) => {
    fs.mkdirSync(dir)
    const db = new Sqlite(path.join(dir, 'db.sqlite'))
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${durable ? 'FULL' : 'OFF'}`)
    db.exec('CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID')
    const get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck()
    const put = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)')
    const range = db.prepare('SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT 10').raw()
    const all = db.prepare('SELECT k, v FROM kv ORDER BY k').raw()
    const many = db.transaction((ks, off) => {
      for (let i = 0; i < ks.length; i++) put.run(ks[i], values[(off + i) & 1023])
    })
    return {
      load(ks) {
        for (let i = 0; i < ks.length; i += 10000) many(ks.slice(i, i + 10000), i)
      },
      get: (k) => get.get(k),
      put: (k, v) => put.run(k, v),
      batch: (ks) => many(ks, 0),
      range10(k) {
        let n = 0
        for (const row of range.iterate(k)) n += row[1].length
        return n
      },
      scan() {
        let n = 0
        for (const row of all.iterate()) n += row[1].length
        return n
      },
      close: () => db.close(),
    }
  },
}

const rows = [
  ['get (random keys)', 'off'],
  ['put, one per commit, durable', 'full'],
  ['put, one per commit, not synced', 'off'],
  ['batched put (1,000 per commit), durable', 'full'],
  ['range of 10 (random start)', 'off'],
  ['full scan', 'off'],
]
const results = new Map(rows.map(([name]) => [name, {}]))

let sink = 0
for (const [engine, make] of Object.entries(engines)) {
  for (const durable of [false, true]) {
    const dir = path.join(root, `${engine.replace(/\W/g, '')}-${durable}`)
    const db = make(dir, durable)
    db.load(keys)
    const r = (name, v) => (results.get(name)[engine] = v)
    if (durable) {
      const ks = fresh(DURABLE_PUTS)
      r('put, one per commit, durable', time(DURABLE_PUTS, () => ks.forEach((k, i) => db.put(k, values[i & 1023]))))
      const batches = Array.from({ length: BATCHES }, () => fresh(BATCH))
      r('batched put (1,000 per commit), durable', time(BATCHES * BATCH, () => batches.forEach((b) => db.batch(b))))
    } else {
      r('get (random keys)', best(GETS, () => order.forEach((k) => (sink += db.get(k).length))))
      const ks = fresh(PUTS)
      r('put, one per commit, not synced', time(PUTS, () => ks.forEach((k, i) => db.put(k, values[i & 1023]))))
      const starts = order.slice(0, RANGES)
      r('range of 10 (random start)', best(RANGES, () => starts.forEach((k) => (sink += db.range10(k)))))
      r('full scan', best(SCANS * (N + PUTS), () => {
        for (let i = 0; i < SCANS; i++) sink += db.scan()
      }))
    }
    db.close()
  }
}

const fmt = (v) => (v === undefined ? '—' : Math.round(v).toLocaleString('en-US'))
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : '—')
const names = Object.keys(engines)
console.log(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model}, ${os.platform()} ${os.release()}`)
console.log(`${N.toLocaleString('en-US')} random 24-byte keys, ${VALUE}-byte values; ops/s (higher is better); ratio = Lightning DB ÷ peer`)
console.log(`lightning-db ${ldb.version()}, lmdb-js ${JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules/lmdb/package.json'))).version}, better-sqlite3 ${require('better-sqlite3/package.json').version}`)
console.log()
console.log(`| | ${names.join(' | ')} | ÷ lmdb-js | ÷ better-sqlite3 |`)
console.log(`|---|${names.map(() => '---:').join('|')}|---:|---:|`)
for (const [name] of rows) {
  const r = results.get(name)
  console.log(`| ${name} | ${names.map((n) => fmt(r[n])).join(' | ')} | ${ratio(r['Lightning DB'], r['lmdb-js'])} | ${ratio(r['Lightning DB'], r['better-sqlite3'])} |`)
}
if (sink === 0) console.log('')
