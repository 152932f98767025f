'use strict'
// The Node API against the real library: values, errors, scans, transactions,
// async variants, release of native resources, and a second process.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawn } = require('node:child_process')
const ldb = require('..')

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldb-node-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function fresh(t, options) {
  const db = ldb.create(path.join(tmpdir(t), 'db'), options)
  t.after(() => db[Symbol.dispose]())
  return db
}

const keys = (scan) => [...scan].map(([k]) => k.toString())

test('get, put, delete, has with Buffers, Uint8Arrays and strings', (t) => {
  const db = fresh(t)
  assert.equal(db.get('missing'), undefined)
  db.put('hello', 'world')
  assert.ok(Buffer.isBuffer(db.get('hello')))
  assert.deepEqual(db.get(Buffer.from('hello')), Buffer.from('world'))
  assert.equal(db.getString(new Uint8Array(Buffer.from('hello'))), 'world')
  db.put(Buffer.from([0, 1, 2]), new Uint8Array([255, 0]))
  assert.deepEqual(db.get(Buffer.from([0, 1, 2])), Buffer.from([255, 0]))
  db.put('empty', '')
  assert.deepEqual(db.get('empty'), Buffer.alloc(0))
  assert.equal(db.has('empty'), true)
  db.put('ü', 'ß')
  assert.equal(db.getString('ü'), 'ß')
  assert.equal(db.len(), 4)
  assert.equal(db.delete('hello'), true)
  assert.equal(db.delete('hello'), false)
  assert.equal(db.has('hello'), false)
  assert.equal(db.len(), 3)
  // A value read is a copy: changing it changes nothing stored.
  const v = db.get('ü')
  v[0] = 0
  assert.equal(db.getString('ü'), 'ß')
})

test('bad arguments are typed errors, never crashes', (t) => {
  const db = fresh(t)
  assert.throws(() => db.put(42, 'v'), TypeError)
  assert.throws(() => db.get(null), TypeError)
  assert.throws(() => db.put('', 'v'), (e) => e instanceof ldb.InvalidArgumentError && e.code === 'InvalidArgument' && /empty/.test(e.message))
  assert.throws(() => db.get(Buffer.alloc(ldb.MAX_KEY_SIZE + 1, 1)), { code: 'InvalidArgument' })
  assert.throws(() => ldb.create(path.join(tmpdir(t), 'x'), { pageSize: 1000 }), (e) => e instanceof ldb.InvalidArgumentError && /page size/.test(e.message))
  assert.throws(() => ldb.create(path.join(tmpdir(t), 'x'), { syncMode: 'sometimes' }), ldb.InvalidArgumentError)
  assert.throws(() => ldb.create(path.join(tmpdir(t), 'x'), { pagesize: 4096 }), /unknown option/)
  assert.throws(() => ldb.create(path.join(tmpdir(t), 'x'), { compactionDeadRatio: 0 }), ldb.InvalidArgumentError)
  assert.throws(() => ldb.create(path.join(tmpdir(t), 'x'), { normalSyncIntervalMs: 0 }), ldb.InvalidArgumentError)
  assert.throws(() => db.write([{ type: 'merge', key: 'a' }]), TypeError)
})

test('every option reaches the library', (t) => {
  const options = { syncMode: 'normal', compactionDeadRatio: 0.25, compactionMinDeadBytes: 1 << 20, normalSyncIntervalMs: 5, pageSize: 8192, cacheSize: 0, segmentSize: 1 << 20, autoCompact: false }
  const db = fresh(t, options)
  assert.deepEqual({ ...db.config }, { ...options, readOnly: false })
  db.put('a', '1')
  assert.equal(db.getString('a'), '1')
  assert.equal(db.stats().cacheHits, 0)
})

test('every error class is a LightningDBError with the C name as .code', () => {
  const names = ['NullPointer', 'InvalidUtf8', 'IoError', 'CorruptedData', 'InvalidArgument', 'OutOfMemory', 'DatabaseLocked', 'TransactionConflict', 'UnknownError']
  for (const code of names) {
    const cls = ldb[code.endsWith('Error') ? code : `${code}Error`]
    const e = new cls('m', code)
    assert.ok(e instanceof ldb.LightningDBError && e instanceof Error)
    assert.equal(e.name, cls.name)
  }
})

test('errors thrown by the library: IoError, DatabaseLocked, TransactionConflict, CorruptedData', (t) => {
  const dir = tmpdir(t)
  assert.throws(() => ldb.open(path.join(dir, 'none')), (e) => e instanceof ldb.IoError && e.code === 'IoError')
  const p = path.join(dir, 'db')
  const db = ldb.create(p, { autoCompact: false })
  t.after(() => db[Symbol.dispose]())
  assert.throws(() => ldb.open(p), (e) => e instanceof ldb.DatabaseLockedError && e.code === 'DatabaseLocked')
  const t1 = db.begin()
  t1.put('k', '1')
  db.put('k', 'other')
  assert.throws(() => t1.commit(), (e) => e instanceof ldb.TransactionConflictError && e.code === 'TransactionConflict')
  assert.equal(db.getString('k'), 'other')
  // Damage a stored value: the database refuses it with the file and offset.
  const marker = 'V'.repeat(64)
  db.put('damaged', marker)
  db.close()
  const seg = fs.readdirSync(p).map((f) => path.join(p, f)).find((f) => fs.readFileSync(f).includes(marker))
  const bytes = fs.readFileSync(seg)
  bytes[bytes.indexOf(marker) + 10] ^= 0x55
  fs.writeFileSync(seg, bytes)
  assert.throws(() => ldb.open(p), (e) => e instanceof ldb.CorruptedDataError && e.code === 'CorruptedData' && /\.seg at offset \d+/.test(e.message))
})

test('close, Symbol.dispose and use after close', (t) => {
  const p = path.join(tmpdir(t), 'db')
  // What `using` does (Node 20 has Symbol.dispose but not the syntax).
  const first = ldb.create(p)
  first.put('a', '1')
  first[Symbol.dispose]()
  // Disposing closed it, so the writer lock is free again.
  const db = ldb.open(p)
  assert.equal(db.getString('a'), '1')
  const tx = db.begin()
  db.close()
  assert.throws(() => db.get('a'), (e) => e instanceof ldb.InvalidArgumentError && /closed/.test(e.message))
  assert.throws(() => db.close(), /closed/)
  assert.throws(() => tx.put('a', '2'), /closed/)
  assert.throws(() => db.range(), /closed/)
  db[Symbol.dispose]() // no throw
})

test('batches: arrays of operations and chained batches, atomic', (t) => {
  const db = fresh(t)
  db.write([
    { type: 'put', key: 'a', value: '1' },
    { type: 'put', key: 'b', value: '2' },
    { type: 'del', key: 'a' },
  ])
  assert.deepEqual(keys(db.range()), ['b'])
  const batch = db.batch().put('c', '3').put('d', '4').del('b')
  assert.equal(batch.length, 3)
  batch.write()
  assert.deepEqual(keys(db.range()), ['c', 'd'])
  assert.throws(() => db.batch().put('e', '5').put('', 'x').write(), ldb.InvalidArgumentError)
  assert.equal(db.has('e'), false)
  assert.equal(db.stats().commits, 2)
})

test('scans: every kind of bound, both directions, prefixes, pages', (t) => {
  const db = fresh(t)
  const batch = db.batch()
  for (let i = 0; i < 3000; i++) batch.put(`k${String(i).padStart(4, '0')}`, `v${i}`)
  batch.put('j', 'before').put('l', 'after')
  batch.write()
  const all = keys(db.range())
  assert.equal(all.length, 3002)
  assert.deepEqual(keys(db.range({ reverse: true })), [...all].reverse())
  const k = (i) => `k${String(i).padStart(4, '0')}`
  assert.deepEqual(keys(db.range({ gte: k(10), lt: k(13) })), [k(10), k(11), k(12)])
  assert.deepEqual(keys(db.range({ start: k(10), end: k(13) })), [k(10), k(11), k(12)])
  assert.deepEqual(keys(db.range({ gt: k(10), lte: k(13) })), [k(11), k(12), k(13)])
  assert.deepEqual(keys(db.range({ gt: k(10), lte: k(13), reverse: true })), [k(13), k(12), k(11)])
  assert.deepEqual(keys(db.range({ lt: 'k' })), ['j'])
  assert.deepEqual(keys(db.range({ gt: k(2999) })), ['l'])
  assert.deepEqual(keys(db.range({ gt: 'z' })), [])
  assert.deepEqual(keys(db.range({ gte: 'b', lt: 'a' })), [])
  // A bound of the maximum key length still has a successor.
  assert.deepEqual(keys(db.range({ gt: Buffer.alloc(ldb.MAX_KEY_SIZE, 0xff) })), [])
  assert.equal(keys(db.range({ lte: Buffer.alloc(ldb.MAX_KEY_SIZE, 0xff) })).length, 3002)
  assert.equal(keys(db.prefix('k1')).length, 1000)
  assert.deepEqual(keys(db.prefix('k299', { reverse: true })).slice(0, 2), [k(2999), k(2998)])
  assert.deepEqual(keys(db.range({ gte: k(10), limit: 3 })), [k(10), k(11), k(12)])
  assert.deepEqual(keys(db.range({ limit: 0 })), [])
  assert.equal(keys(db.range({ limit: 2000 })).length, 2000)
  assert.deepEqual(keys(db.prefix('k', { reverse: true, limit: 2 })), [k(2999), k(2998)])
  // gte wins over gt, lte over lt (the level ecosystem's rule).
  assert.deepEqual(keys(db.range({ gt: k(10), gte: k(10), lt: k(12), lte: k(12) })), [k(10), k(11), k(12)])
  const [[key, value]] = db.prefix('l')
  assert.equal(key.toString() + value.toString(), 'lafter')
})

test('an early break releases the native iterator; close() and dispose too', (t) => {
  const db = fresh(t)
  const batch = db.batch()
  for (let i = 0; i < 100; i++) batch.put(`k${i}`, 'v')
  batch.write()
  const before = ldb.liveHandleCount()
  const scan = db.range()
  assert.equal(ldb.liveHandleCount(), before + 1)
  for (const [key] of scan) {
    if (key.toString() === 'k5') break
  }
  assert.equal(ldb.liveHandleCount(), before)
  assert.equal(scan.next().done, true)
  const s = db.prefix('k')
  s.next()
  assert.equal(ldb.liveHandleCount(), before + 1)
  s[Symbol.dispose]()
  assert.equal(ldb.liveHandleCount(), before)
  assert.throws(() => {
    for (const _ of db.range()) throw new Error('boom')
  }, /boom/)
  assert.equal(ldb.liveHandleCount(), before)
  // Reading to the end releases it too.
  assert.equal([...db.range()].length, 100)
  assert.equal(ldb.liveHandleCount(), before)
})

test('async iteration, with break', async (t) => {
  const db = fresh(t)
  db.write(['a', 'b', 'c'].map((k) => ({ type: 'put', key: k, value: k })))
  const seen = []
  const before = ldb.liveHandleCount()
  for await (const [k] of db.range()) {
    seen.push(k.toString())
    if (seen.length === 2) break
  }
  assert.deepEqual(seen, ['a', 'b'])
  assert.equal(ldb.liveHandleCount(), before)
})

test('closing the database while a scan is open: the scan fails, never crashes', (t) => {
  const p = path.join(tmpdir(t), 'db')
  const db = ldb.create(p)
  db.write(['a', 'b'].map((k) => ({ type: 'put', key: k, value: k })))
  const scan = db.range()
  const before = ldb.liveHandleCount()
  db.close()
  assert.throws(() => scan.next(), (e) => e instanceof ldb.InvalidArgumentError && /closed/.test(e.message))
  scan.close()
  assert.equal(ldb.liveHandleCount(), before - 2)
})

test('a scan reads the snapshot it started on', (t) => {
  const db = fresh(t)
  db.put('a', '1')
  const scan = db.range()
  db.put('b', '2')
  assert.deepEqual(keys(scan), ['a'])
})

test('transactions: callback commits on return, rolls back on throw; explicit calls', (t) => {
  const db = fresh(t)
  const r = db.transaction((tx) => {
    tx.put('a', '1')
    assert.equal(tx.getString('a'), '1')
    assert.equal(db.get('a'), undefined)
    return 42
  })
  assert.equal(r, 42)
  assert.equal(db.getString('a'), '1')
  assert.throws(
    () =>
      db.transaction((tx) => {
        tx.put('b', '2')
        throw new Error('no')
      }),
    /no/,
  )
  assert.equal(db.has('b'), false)
  assert.throws(() => db.transaction(async () => {}), TypeError)
  const tx = db.begin()
  tx.put('c', '3')
  tx.delete('a')
  assert.equal(tx.has('a'), false)
  assert.deepEqual(keys(tx.range()), ['c'])
  assert.deepEqual(keys(tx.prefix('c')), ['c'])
  tx.commit()
  assert.equal(tx.finished, true)
  assert.throws(() => tx.commit(), (e) => e instanceof ldb.InvalidArgumentError && /finished/.test(e.message))
  assert.deepEqual(keys(db.range()), ['c'])
  const rb = db.begin()
  rb.put('d', '4')
  rb.rollback()
  assert.equal(db.has('d'), false)
  const u = db.begin()
  u.put('e', '5')
  u[Symbol.dispose]()
  assert.equal(db.has('e'), false)
})

test('async transactions await their callback and commit off the main thread', async (t) => {
  const db = fresh(t)
  const r = await db.transactionAsync(async (tx) => {
    await new Promise((resolve) => setImmediate(resolve))
    tx.put('a', '1')
    return 'done'
  })
  assert.equal(r, 'done')
  assert.equal(db.getString('a'), '1')
  await assert.rejects(
    db.transactionAsync(async (tx) => {
      tx.put('b', '2')
      throw new Error('no')
    }),
    /no/,
  )
  assert.equal(db.has('b'), false)
  const t1 = db.begin()
  t1.put('a', 'mine')
  db.put('a', 'theirs')
  await assert.rejects(t1.commitAsync(), ldb.TransactionConflictError)
})

test('concurrent async commits all land', async (t) => {
  const db = fresh(t)
  const n = 200
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      i % 2
        ? db.transactionAsync(async (tx) => tx.put(`t${i}`, String(i)))
        : db.writeAsync([{ type: 'put', key: `w${i}`, value: String(i) }]),
    ),
  )
  assert.equal(db.len(), n)
  assert.equal(db.getString('t199'), '199')
  assert.equal(db.getString('w0'), '0')
  // The event loop keeps running while commits wait for their sync.
  let ticks = 0
  const timer = setInterval(() => ticks++, 0)
  const big = db.batch()
  for (let i = 0; i < 20000; i++) big.put(`big${i}`, Buffer.alloc(100, i))
  await big.writeAsync()
  clearInterval(timer)
  assert.equal(db.len(), n + 20000)
})

test('disk calls: checkpoint, compact, backup, verify, stats, sync and async', async (t) => {
  const dir = tmpdir(t)
  const db = ldb.create(path.join(dir, 'db'), { segmentSize: 4096 })
  t.after(() => db[Symbol.dispose]())
  for (let i = 0; i < 50; i++) db.put(`k${i}`, Buffer.alloc(200, i))
  for (let i = 0; i < 40; i++) db.delete(`k${i}`)
  db.checkpoint()
  await db.checkpointAsync()
  const report = db.compact()
  assert.ok(report.segmentsBefore >= report.segmentsAfter)
  const asyncReport = await db.compactAsync()
  assert.equal(typeof asyncReport.recordsCopied, 'number')
  const v = await db.verifyAsync()
  assert.equal(v.isClean, true)
  assert.equal(v.liveKeys, 10)
  assert.equal(db.verify().liveKeys, 10)
  db.backup(path.join(dir, 'b1'))
  await db.backupAsync(path.join(dir, 'b2'))
  await assert.rejects(db.backupAsync(path.join(dir, 'b2')), ldb.InvalidArgumentError)
  for (const b of ['b1', 'b2']) {
    const copy = ldb.open(path.join(dir, b))
    assert.equal(copy.len(), 10)
    copy.close()
  }
  const s = db.stats()
  assert.equal(s.liveKeys, 10)
  assert.ok(s.checkpoints >= 2)
  db.close()
  await assert.rejects(db.checkpointAsync(), /closed/)
})

test('a second process opens read-only while this one writes', async (t) => {
  const p = path.join(tmpdir(t), 'db')
  const db = ldb.create(p)
  t.after(() => db[Symbol.dispose]())
  db.put('k0', '0')
  const child = `
    const ldb = require(${JSON.stringify(path.join(__dirname, '..'))})
    const db = ldb.open(process.argv[1], { readOnly: true })
    try { db.put('x', 'y') } catch (e) { process.stdout.write(e.code + '\\n') }
    process.stdin.on('data', () => {
      db.refresh()
      process.stdout.write(db.len() + ' ' + db.getString('k0') + '\\n')
    })
    process.stdin.on('end', () => db.close())
  `
  const proc = spawn(process.execPath, ['-e', child, p], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = []
  let waiting = null
  let buffered = ''
  proc.stdout.on('data', (d) => {
    buffered += d
    let i
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, i))
      buffered = buffered.slice(i + 1)
      if (waiting) waiting()
    }
  })
  const line = async (n) => {
    while (lines.length < n) await new Promise((resolve) => (waiting = resolve))
    return lines[n - 1]
  }
  assert.equal(await line(1), 'InvalidArgument')
  proc.stdin.write('\n')
  assert.equal(await line(2), '1 0')
  for (let i = 1; i < 20; i++) db.put(`k${i}`, String(i))
  db.put('k0', 'changed')
  proc.stdin.write('\n')
  assert.equal(await line(3), '20 changed')
  proc.stdin.end()
  const code = await new Promise((resolve) => proc.on('exit', resolve))
  assert.equal(code, 0)
})

test('the library is the one beside the addon (rpath $ORIGIN)', () => {
  const addon = require.resolve('../lightning-db.linux-x64-gnu.node')
  const out = execFileSync('ldd', [addon], { encoding: 'utf8' })
  assert.match(out, new RegExp(`liblightning_db_ffi\\.so => ${path.dirname(addon).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/liblightning_db_ffi\\.so`))
  assert.match(ldb.version(), /^\d+\.\d+\.\d+/)
  assert.equal(ldb.maxKeySize(), 16384)
  assert.equal(ldb.maxValueSize(), 256 * 1024 * 1024)
})

test('two copies of the module in one thread, and a worker thread, read correctly', async (t) => {
  const p = path.join(tmpdir(t), 'db')
  const db = ldb.create(p)
  t.after(() => db[Symbol.dispose]())
  db.put('k', 'from the writer')
  db.put('big', Buffer.alloc(100000, 7)) // larger than the shared buffer's value area
  // A second evaluation of index.js (as test runners that reset the module registry do).
  const saved = { ...require.cache }
  for (const k of Object.keys(require.cache)) if (!k.endsWith('.node')) delete require.cache[k]
  const again = require('..')
  Object.assign(require.cache, saved)
  assert.notEqual(again, ldb)
  const reader = again.open(p, { readOnly: true })
  assert.equal(reader.getString('k'), 'from the writer')
  assert.equal(db.getString('k'), 'from the writer')
  assert.deepEqual(reader.get('big'), Buffer.alloc(100000, 7))
  reader.close()
  const { Worker } = require('node:worker_threads')
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const ldb = require(workerData.module)
     const db = ldb.open(workerData.path, { readOnly: true })
     let n = 0
     for (let i = 0; i < 1000; i++) n += db.getString('k') === 'from the writer' ? 1 : 0
     db.close()
     parentPort.postMessage(n)`,
    { eval: true, workerData: { module: path.join(__dirname, '..'), path: p } },
  )
  let mine = 0
  for (let i = 0; i < 1000; i++) mine += db.getString('k') === 'from the writer' ? 1 : 0
  const theirs = await new Promise((resolve, reject) => worker.on('message', resolve).on('error', reject))
  assert.equal(mine, 1000)
  assert.equal(theirs, 1000)
})
