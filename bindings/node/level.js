'use strict'
// `lightning-db/level`: an abstract-level database over the same addon, so the
// level ecosystem (sublevels, encodings, streams, ...) runs on Lightning DB.
//
// - Reads (get, getMany, has, hasMany, getSync) are synchronous native calls
//   wrapped in promises: each reads the latest commit at the moment of the call,
//   which is the implicit snapshot abstract-level asks for.
// - Writes (put, del, batch, chained batch, clear) are packed batches committed
//   on the thread pool, so the event loop never waits for a sync.
// - Explicit snapshots and iterators read a transaction's snapshot (a
//   transaction that never writes): an iterator keeps its own, so that seek()
//   reopens the scan on the same snapshot.

const fs = require('node:fs')
const path = require('node:path')
const ModuleError = require('module-error')
const {
  AbstractLevel,
  AbstractIterator,
  AbstractKeyIterator,
  AbstractValueIterator,
  AbstractChainedBatch,
  AbstractSnapshot,
} = require('abstract-level')
const ldb = require('./index.js')

const lightningOptions = [
  'pageSize',
  'cacheSize',
  'syncMode',
  'readOnly',
  'segmentSize',
  'autoCompact',
  'compactionDeadRatio',
  'compactionMinDeadBytes',
  'normalSyncIntervalMs',
]

const levelCodes = {
  IoError: 'LEVEL_IO_ERROR',
  CorruptedData: 'LEVEL_CORRUPTION',
  DatabaseLocked: 'LEVEL_LOCKED',
}

// Lightning DB errors keep their class and `.code`; the level code, where the
// level ecosystem has one, is on a ModuleError whose cause is the original.
function levelError(e) {
  const code = e instanceof ldb.LightningDBError && levelCodes[e.code]
  return code ? new ModuleError(e.message, { code, cause: e }) : e
}

function packOps(db, operations) {
  const batch = db.batch()
  for (const op of operations) {
    if (op.type === 'put') batch.put(op.key, op.value)
    else batch.delete(op.key)
  }
  return batch
}

class LightningSnapshot extends AbstractSnapshot {
  constructor(options, tx) {
    super(options)
    this.tx = tx
    this.closing = false
  }

  close() {
    this.closing = true
    return super.close()
  }

  async _close() {
    this.tx[Symbol.dispose]()
  }
}

function checkSnapshot(options) {
  if (options.snapshot && options.snapshot.closing) {
    throw new ModuleError('Snapshot is not open: cannot use snapshot after close()', { code: 'LEVEL_SNAPSHOT_NOT_OPEN' })
  }
}

// The scan behind the three kinds of iterator.
class Cursor {
  #tx
  #ownTx
  #options
  #scan
  #map

  constructor(database, options, map) {
    const snapshot = options.snapshot
    this.#ownTx = !snapshot
    this.#tx = snapshot ? snapshot.tx : database.begin()
    this.#options = options
    this.#map = map
    this.#scan = this.#tx.range(options)
  }

  next() {
    const r = this.#scan.next()
    return r.done ? undefined : this.#map(r.value)
  }

  nextv(size) {
    const out = []
    while (out.length < size) {
      const r = this.#scan.next()
      if (r.done) break
      out.push(this.#map(r.value))
    }
    return out
  }

  all(count, limit) {
    return this.nextv(limit >= 0 ? Math.max(0, limit - count) : Infinity)
  }

  seek(target) {
    // Reopen the scan on the same snapshot, from the target on, within the
    // iterator's own bounds.
    const o = this.#options
    const narrowed = { ...o }
    delete narrowed.gt
    delete narrowed.gte
    delete narrowed.lt
    delete narrowed.lte
    if (o.gte !== undefined) narrowed.gte = o.gte
    else if (o.gt !== undefined) narrowed.gt = o.gt
    if (o.lte !== undefined) narrowed.lte = o.lte
    else if (o.lt !== undefined) narrowed.lt = o.lt
    if (o.reverse) {
      const end = narrowed.lte ?? narrowed.lt
      if (end === undefined || Buffer.compare(target, end) < 0) {
        delete narrowed.lt
        narrowed.lte = target
      }
    } else {
      const start = narrowed.gte ?? narrowed.gt
      if (start === undefined || Buffer.compare(target, start) > 0) {
        delete narrowed.gt
        narrowed.gte = target
      }
    }
    this.#scan.close()
    this.#scan = this.#tx.range(narrowed)
  }

  close() {
    this.#scan.close()
    if (this.#ownTx) this.#tx[Symbol.dispose]()
  }
}

// Keys and values of one page share its buffer; copies keep no page alive.
const entryOf = ([k, v]) => [Buffer.from(k), Buffer.from(v)]
const keyOf = ([k]) => Buffer.from(k)
const valueOf = ([, v]) => Buffer.from(v)

function iteratorClass(Base) {
  return class extends Base {
    #cursor

    constructor(db, options, database, map) {
      checkSnapshot(options)
      super(db, options)
      this.#cursor = new Cursor(database, options, map)
    }

    async _next() {
      return this.#cursor.next()
    }

    async _nextv(size) {
      return this.#cursor.nextv(size)
    }

    async _all() {
      return this.#cursor.all(this.count, this.limit)
    }

    _seek(target) {
      this.#cursor.seek(target)
    }

    async _close() {
      this.#cursor.close()
    }
  }
}

const LightningIterator = iteratorClass(AbstractIterator)
const LightningKeyIterator = iteratorClass(AbstractKeyIterator)
const LightningValueIterator = iteratorClass(AbstractValueIterator)

class LightningChainedBatch extends AbstractChainedBatch {
  #batch

  constructor(db, database) {
    super(db, { add: true })
    this.#batch = database.batch()
  }

  _add(op) {
    if (op.type === 'put') this.#batch.put(op.key, op.value)
    else this.#batch.delete(op.key)
  }

  _clear() {
    this.#batch.clear()
  }

  async _write() {
    try {
      await this.#batch.writeAsync()
    } catch (e) {
      throw levelError(e)
    }
  }
}

/**
 * An abstract-level database stored in Lightning DB at `location`. `options`
 * takes the level options (keyEncoding, valueEncoding, ...) and the Lightning DB
 * options of `open()` (pageSize, syncMode, ...).
 */
class LightningLevel extends AbstractLevel {
  #location
  #options
  #db = null

  constructor(location, options = {}) {
    if (typeof location !== 'string' || location === '') {
      throw new TypeError("The first argument 'location' must be a non-empty string")
    }
    super(
      {
        encodings: { buffer: true },
        implicitSnapshots: true,
        explicitSnapshots: true,
        has: true,
        getSync: true,
        seek: true,
        createIfMissing: true,
        errorIfExists: true,
        permanence: true,
        additionalMethods: {},
      },
      options,
    )
    this.#location = location
    this.#options = {}
    for (const name of lightningOptions) {
      if (options && options[name] !== undefined) this.#options[name] = options[name]
    }
  }

  get location() {
    return this.#location
  }

  /** The Lightning DB database underneath (while open). */
  get database() {
    return this.#db
  }

  async _open(options) {
    const exists = fs.existsSync(this.#location) && fs.readdirSync(this.#location).length > 0
    if (exists && options.errorIfExists) {
      throw new ModuleError(`Database already exists at ${path.resolve(this.#location)}`, { code: 'LEVEL_DATABASE_NOT_OPEN' })
    }
    if (!options.createIfMissing && !fs.existsSync(this.#location)) {
      throw levelError(new ldb.IoError(`${path.resolve(this.#location)} does not exist (createIfMissing is false)`, 'IoError'))
    }
    try {
      this.#db = options.createIfMissing && !this.#options.readOnly ? ldb.create(this.#location, this.#options) : ldb.open(this.#location, this.#options)
    } catch (e) {
      throw levelError(e)
    }
  }

  async _close() {
    if (this.#db) {
      const db = this.#db
      this.#db = null
      db.close()
    }
  }

  _getSync(key, options) {
    return this.#dbOrSnapshot(options).get(key)
  }

  async _get(key) {
    try {
      return this.#dbOrSnapshot(arguments[1]).get(key)
    } catch (e) {
      throw levelError(e)
    }
  }

  async _getMany(keys, options) {
    const source = this.#dbOrSnapshot(options)
    try {
      return keys.map((key) => source.get(key))
    } catch (e) {
      throw levelError(e)
    }
  }

  async _has(key, options) {
    try {
      return this.#dbOrSnapshot(options).has(key)
    } catch (e) {
      throw levelError(e)
    }
  }

  async _hasMany(keys, options) {
    const source = this.#dbOrSnapshot(options)
    try {
      return keys.map((key) => source.has(key))
    } catch (e) {
      throw levelError(e)
    }
  }

  async _put(key, value) {
    try {
      await this.#db.batch().put(key, value).writeAsync()
    } catch (e) {
      throw levelError(e)
    }
  }

  async _del(key) {
    try {
      await this.#db.batch().delete(key).writeAsync()
    } catch (e) {
      throw levelError(e)
    }
  }

  async _batch(operations) {
    try {
      await packOps(this.#db, operations).writeAsync()
    } catch (e) {
      throw levelError(e)
    }
  }

  _chainedBatch() {
    return new LightningChainedBatch(this, this.#db)
  }

  _iterator(options) {
    const map = options.keys === false ? ([, v]) => [undefined, Buffer.from(v)] : options.values === false ? ([k]) => [Buffer.from(k), undefined] : entryOf
    return new LightningIterator(this, options, this.#db, map)
  }

  _keys(options) {
    return new LightningKeyIterator(this, options, this.#db, keyOf)
  }

  _values(options) {
    return new LightningValueIterator(this, options, this.#db, valueOf)
  }

  _snapshot(options) {
    return new LightningSnapshot(options, this.#db.begin())
  }

  async _clear(options) {
    // On a snapshot taken now, so writes made after clear() are untouched.
    const tx = options.snapshot ? null : this.#db.begin()
    const source = options.snapshot ? options.snapshot.tx : tx
    try {
      const scan = source.range(options)
      const limit = options.limit ?? -1
      let n = 0
      let batch = this.#db.batch()
      for (const [key] of scan) {
        if (limit >= 0 && n >= limit) break
        batch.delete(Buffer.from(key))
        n++
        if (batch.length === 1000) {
          await batch.writeAsync()
          batch = this.#db.batch()
        }
      }
      scan.close()
      if (batch.length > 0) await batch.writeAsync()
    } catch (e) {
      throw levelError(e)
    } finally {
      if (tx) tx[Symbol.dispose]()
    }
  }

  #dbOrSnapshot(options) {
    return options && options.snapshot ? options.snapshot.tx : this.#db
  }
}

module.exports = { LightningLevel }
