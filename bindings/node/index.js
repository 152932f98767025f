'use strict'
// The Node.js API of Lightning DB: the idiomatic layer over the native addon
// (binding.js loads the `.node` file, which calls the C ABI of
// liblightning_db_ffi). Keys and values cross the boundary as Uint8Arrays without
// a copy on the way in; strings are encoded UTF-8 here, once.

const native = require('./binding.js')

// ---------------------------------------------------------------------------
// Errors: one class per C error code, `.code` is the C name.

class LightningDBError extends Error {
  constructor(message, code = 'UnknownError') {
    super(message)
    this.code = code
  }
  get name() {
    return this.constructor.name
  }
}
class NullPointerError extends LightningDBError {}
class InvalidUtf8Error extends LightningDBError {}
class IoError extends LightningDBError {}
class CorruptedDataError extends LightningDBError {}
class InvalidArgumentError extends LightningDBError {}
class OutOfMemoryError extends LightningDBError {}
class DatabaseLockedError extends LightningDBError {}
class TransactionConflictError extends LightningDBError {}
class UnknownError extends LightningDBError {}

const errorClasses = {
  NullPointer: NullPointerError,
  InvalidUtf8: InvalidUtf8Error,
  IoError: IoError,
  CorruptedData: CorruptedDataError,
  InvalidArgument: InvalidArgumentError,
  OutOfMemory: OutOfMemoryError,
  DatabaseLocked: DatabaseLockedError,
  TransactionConflict: TransactionConflictError,
  UnknownError: UnknownError,
}

function makeError(code, message) {
  return new (errorClasses[code] || UnknownError)(message, code)
}

// The addon reports a library error as "[<C name>] <message>".
const nativeMessage = /^\[(\w+)\] ([\s\S]*)$/
function convert(e) {
  if (e instanceof LightningDBError || !(e instanceof Error)) return e
  const m = nativeMessage.exec(e.message)
  return m ? makeError(m[1], m[2]) : e
}

function rejected(e) {
  throw convert(e)
}

// ---------------------------------------------------------------------------
// The fast path (see the end of src/lib.rs): keys and values of point calls
// travel through one buffer shared with the addon, so a call passes only
// numbers. Keys at [0, KEY_AREA), values after.

const KEY_AREA = 16384
const VALUE_AREA = 64 * 1024
// One per thread, the same for every copy of this module in it (see the addon).
const shared = native.sharedBuffer()
if (shared.length !== KEY_AREA + VALUE_AREA) throw new Error('lightning-db: the addon does not match index.js')

// Writes the key into the key area; returns its length, or -1 if it does not fit
// (then the caller takes the ordinary path, which reports the error).
function sharedKey(key) {
  if (typeof key === 'string') {
    if (key.length > KEY_AREA / 3) return -1
    return shared.utf8Write(key, 0)
  }
  if (!(key instanceof Uint8Array)) bytes(key, 'key') // throws the TypeError
  if (key.length > KEY_AREA) return -1
  shared.set(key, 0)
  return key.length
}

function sharedValue(length) {
  const out = Buffer.allocUnsafe(length)
  shared.copy(out, 0, KEY_AREA, KEY_AREA + length)
  return out
}

// Arguments

function bytes(value, what) {
  if (value instanceof Uint8Array) return value
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  throw new TypeError(`${what} must be a Buffer, Uint8Array or string, not ${value === null ? 'null' : typeof value}`)
}

const syncModes = { full: 0, normal: 1, off: 2 }
const optionNames = new Set([
  'pageSize',
  'cacheSize',
  'syncMode',
  'readOnly',
  'segmentSize',
  'autoCompact',
  'compactionDeadRatio',
  'compactionMinDeadBytes',
  'normalSyncIntervalMs',
])

function count(options, name) {
  const v = options[name]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw makeError('InvalidArgument', `${name} must be a non-negative integer, not ${String(v)}`)
  }
  return v
}

function flag(options, name) {
  const v = options[name]
  if (v === undefined || typeof v === 'boolean') return v
  throw makeError('InvalidArgument', `${name} must be a boolean, not ${String(v)}`)
}

function nativeConfig(options) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') throw new TypeError('options must be an object')
  for (const name of Object.keys(options)) {
    if (!optionNames.has(name)) throw makeError('InvalidArgument', `unknown option ${name}`)
  }
  const config = {
    pageSize: count(options, 'pageSize'),
    cacheSize: count(options, 'cacheSize'),
    readOnly: flag(options, 'readOnly'),
    segmentSize: count(options, 'segmentSize'),
    autoCompact: flag(options, 'autoCompact'),
  }
  if (config.pageSize !== undefined && config.pageSize > 0xffffffff) {
    throw makeError('InvalidArgument', `invalid page size ${config.pageSize}`)
  }
  if (options.syncMode !== undefined) {
    const mode = syncModes[String(options.syncMode).toLowerCase()]
    if (mode === undefined) {
      throw makeError('InvalidArgument', `syncMode must be 'full', 'normal' or 'off', not ${String(options.syncMode)}`)
    }
    config.syncMode = mode
  }
  const ratio = options.compactionDeadRatio
  if (ratio !== undefined) {
    if (typeof ratio !== 'number') throw makeError('InvalidArgument', `compactionDeadRatio must be a number, not ${String(ratio)}`)
    config.compactionDeadRatio = ratio
  }
  config.compactionMinDeadBytes = count(options, 'compactionMinDeadBytes')
  config.normalSyncIntervalMs = count(options, 'normalSyncIntervalMs')
  return config
}

// ---------------------------------------------------------------------------
// Bounds. The C scan is start-inclusive and end-exclusive; an exclusive start or
// an inclusive end becomes the key that immediately follows it in byte order.

const MAX_KEY_SIZE = native.maxKeySize()

// The smallest key greater than `key`, or null if there is none.
function successor(key) {
  if (key.length < MAX_KEY_SIZE) {
    const next = Buffer.allocUnsafe(key.length + 1)
    next.set(key)
    next[key.length] = 0
    return next
  }
  // A key of the maximum length has no longer extensions: increment it.
  let end = key.length
  while (end > 0 && key[end - 1] === 0xff) end--
  if (end === 0) return null
  const next = Buffer.from(key.subarray(0, end))
  next[end - 1]++
  return next
}

const NOTHING = Symbol('nothing')

// { gt, gte, lt, lte, start, end } -> [start inclusive | undefined, end exclusive
// | undefined], or NOTHING when the range is empty by construction. As in the
// level ecosystem, gte (or start) wins over gt and lte over lt (or end).
function bounds(options) {
  let start
  let end
  const given = (v) => v !== undefined && v !== null
  if (given(options.gte)) start = bytes(options.gte, 'gte')
  else if (given(options.start)) start = bytes(options.start, 'start')
  else if (given(options.gt)) {
    start = successor(bytes(options.gt, 'gt'))
    if (start === null) return NOTHING
  }
  if (given(options.lte)) {
    end = successor(bytes(options.lte, 'lte'))
    if (end === null) end = undefined
  } else if (given(options.lt)) end = bytes(options.lt, 'lt')
  else if (given(options.end)) end = bytes(options.end, 'end')
  return [start, end]
}

// ---------------------------------------------------------------------------
// Scans

const FIRST_PAGE = 16
const MAX_PAGE = 1024

/**
 * A scan over a snapshot taken when it was created. Iterable (sync and async);
 * fetches entries from the library in pages and releases its native iterator when
 * it ends, when a loop over it breaks or throws, on close() and on dispose.
 */
class Scan {
  #native
  #page = null
  #pos = 0
  #end = 0
  #pageSize = FIRST_PAGE
  #done = false
  #left

  constructor(nativeIter, limit = Infinity) {
    this.#native = nativeIter
    this.#left = limit
  }

  #fill() {
    if (this.#left <= 0) {
      this.close()
      return false
    }
    let page
    const entries = Math.min(this.#pageSize, this.#left)
    try {
      // Into the shared buffer, then one copy into a (pooled, when small) Buffer
      // made here: cheaper than a Buffer made by the addon.
      const used = this.#native.nextPageShared(entries)
      if (used > 0) {
        page = Buffer.allocUnsafe(used)
        shared.copy(page, 0, KEY_AREA, KEY_AREA + used)
      } else if (used < 0) {
        page = this.#native.nextPage(1, -used)
      }
    } catch (e) {
      throw convert(e)
    }
    // Short scans stay cheap; long ones move to large pages.
    if (this.#pageSize < MAX_PAGE) this.#pageSize *= 4
    if (page === null || page === undefined) {
      this.close()
      return false
    }
    this.#page = page
    this.#pos = 0
    this.#end = page.length
    if (this.#left !== Infinity) this.#left -= countEntries(page)
    return true
  }

  next() {
    if (this.#pos === this.#end) {
      if (this.#done) return { done: true, value: undefined }
      if (!this.#fill()) return { done: true, value: undefined }
    }
    const page = this.#page
    const at = this.#pos
    const keyLen = page.readUInt32LE(at)
    const valueLen = page.readUInt32LE(at + 4)
    const k = at + 8
    const v = k + keyLen
    this.#pos = v + valueLen
    return { done: false, value: [page.subarray(k, v), page.subarray(v, v + valueLen)] }
  }

  /** Reads up to `n` more entries (fewer only at the end). */
  take(n) {
    const out = []
    while (out.length < n) {
      const r = this.next()
      if (r.done) break
      out.push(r.value)
    }
    return out
  }

  /** Releases the native iterator; later reads end the scan. */
  close() {
    if (!this.#done) {
      this.#done = true
      this.#native.free()
    }
    this.#page = null
    this.#pos = this.#end = 0
  }

  return(value) {
    this.close()
    return { done: true, value }
  }

  [Symbol.iterator]() {
    return this
  }

  [Symbol.asyncIterator]() {
    const scan = this
    return {
      next: async () => scan.next(),
      return: async (value) => scan.return(value),
      [Symbol.asyncIterator]() {
        return this
      },
    }
  }

  [Symbol.dispose]() {
    this.close()
  }
}

function countEntries(page) {
  let n = 0
  for (let at = 0; at < page.length; n++) at += 8 + page.readUInt32LE(at) + page.readUInt32LE(at + 4)
  return n
}

class EmptyScan extends Scan {
  constructor() {
    super({ nextPage: () => null, nextPageShared: () => 0, free() {} })
  }
}

function limitOf(options) {
  const limit = options && options.limit
  if (limit === undefined || limit === null || limit === Infinity || limit < 0) return Infinity
  if (!Number.isInteger(limit)) throw new TypeError('limit must be an integer')
  return limit
}

function openScan(opener, limit) {
  try {
    return new Scan(opener(), limit)
  } catch (e) {
    throw convert(e)
  }
}

function rangeScan(db, tx, options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('range options must be an object')
  const b = bounds(options)
  const reverse = Boolean(options.reverse)
  if (b === NOTHING) {
    // Still refuse a closed database or finished transaction as a real scan would.
    openScan(() => db.range(Buffer.from([0]), Buffer.from([0]), reverse, tx)).close()
    return new EmptyScan()
  }
  return openScan(() => db.range(b[0], b[1], reverse, tx), limitOf(options))
}

function prefixScan(db, tx, prefix, options = {}) {
  const p = prefix === undefined || prefix === null ? Buffer.alloc(0) : bytes(prefix, 'prefix')
  return openScan(() => db.prefix(p, Boolean(options && options.reverse), tx), limitOf(options))
}

// ---------------------------------------------------------------------------
// Batches: operations are packed into one buffer and applied by one native call.

const OP_PUT = 1
const OP_DELETE = 2

class Batch {
  #db
  #parts = []
  #size = 0
  #count = 0

  constructor(db) {
    this.#db = db
  }

  #add(op, key, value) {
    const header = Buffer.allocUnsafe(9)
    header[0] = op
    header.writeUInt32LE(key.length, 1)
    header.writeUInt32LE(value ? value.length : 0, 5)
    this.#parts.push(header, key)
    if (value) this.#parts.push(value)
    this.#size += 9 + key.length + (value ? value.length : 0)
    this.#count++
    return this
  }

  put(key, value) {
    return this.#add(OP_PUT, bytes(key, 'key'), bytes(value, 'value'))
  }

  delete(key) {
    return this.#add(OP_DELETE, bytes(key, 'key'), null)
  }

  del(key) {
    return this.delete(key)
  }

  get length() {
    return this.#count
  }

  clear() {
    this.#parts = []
    this.#size = 0
    this.#count = 0
    return this
  }

  /** @internal */
  packed() {
    return [Buffer.concat(this.#parts, this.#size), this.#count]
  }

  /** Applies every operation atomically, as one commit. */
  write() {
    this.#db.writeBatch(this)
  }

  /** As write(), off the main thread. */
  writeAsync() {
    return this.#db.writeBatchAsync(this)
  }
}

function batchOf(db, ops) {
  if (ops instanceof Batch) return ops
  if (!Array.isArray(ops)) throw new TypeError('write() takes an array of operations or a Batch')
  const batch = new Batch(db)
  for (const op of ops) {
    if (op === null || typeof op !== 'object') throw new TypeError('an operation must be an object')
    if (op.type === 'put') batch.put(op.key, op.value)
    else if (op.type === 'del' || op.type === 'delete') batch.delete(op.key)
    else throw new TypeError(`unknown operation type ${String(op.type)} (expected 'put' or 'del')`)
  }
  return batch
}

// ---------------------------------------------------------------------------
// Transactions

class Transaction {
  #native
  #id
  #finished = false

  constructor(nativeDb, id) {
    this.#native = nativeDb
    this.#id = id
  }

  /** True once committed or rolled back (successfully or not). */
  get finished() {
    return this.#finished
  }

  // The library answers a finished id with "no open transaction"; every other
  // language says "finished", and so does this.
  #live() {
    if (this.#finished) throw makeError('InvalidArgument', 'the transaction is finished (committed or rolled back)')
  }

  get(key) {
    this.#live()
    const n = sharedKey(key)
    if (n >= 0) {
      let length
      try {
        length = native.fastTxGet(this.#native.handle, this.#id, n)
      } catch (e) {
        // Through the ordinary path, which knows a closed database by name.
        return this.#slowGet(key)
      }
      if (length < 0) return undefined
      if (length <= VALUE_AREA) return sharedValue(length)
    }
    return this.#slowGet(key)
  }

  #slowGet(key) {
    try {
      return this.#native.txGet(this.#id, bytes(key, 'key')) ?? undefined
    } catch (e) {
      throw convert(e)
    }
  }

  getString(key) {
    const v = this.get(key)
    return v === undefined ? undefined : v.toString('utf8')
  }

  put(key, value) {
    this.#live()
    try {
      this.#native.txPut(this.#id, bytes(key, 'key'), bytes(value, 'value'))
    } catch (e) {
      throw convert(e)
    }
  }

  delete(key) {
    this.#live()
    try {
      this.#native.txDelete(this.#id, bytes(key, 'key'))
    } catch (e) {
      throw convert(e)
    }
  }

  has(key) {
    this.#live()
    try {
      return this.#native.txContains(this.#id, bytes(key, 'key'))
    } catch (e) {
      throw convert(e)
    }
  }

  range(options) {
    this.#live()
    return rangeScan(this.#native, this.#id, options)
  }

  prefix(prefix, options) {
    this.#live()
    return prefixScan(this.#native, this.#id, prefix, options)
  }

  commit() {
    this.#live()
    this.#finished = true
    try {
      this.#native.commit(this.#id)
    } catch (e) {
      throw convert(e)
    }
  }

  /** Commits on libuv's thread pool, so the event loop does not wait for the sync. */
  commitAsync() {
    try {
      this.#live()
      this.#finished = true
      return this.#native.commitAsync(this.#id).catch(rejected)
    } catch (e) {
      return Promise.reject(convert(e))
    }
  }

  rollback() {
    this.#live()
    this.#finished = true
    try {
      this.#native.rollback(this.#id)
    } catch (e) {
      throw convert(e)
    }
  }

  /** Rolls back unless already finished (for `using`). */
  [Symbol.dispose]() {
    if (!this.#finished) {
      try {
        this.rollback()
      } catch {
        // The database was closed meanwhile, which already discarded it.
      }
    }
  }
}

function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function'
}

// ---------------------------------------------------------------------------
// Database

const defaults = {
  pageSize: 4096,
  cacheSize: 64 * 1024 * 1024,
  syncMode: 'full',
  readOnly: false,
  segmentSize: 64 * 1024 * 1024,
  autoCompact: true,
  compactionDeadRatio: 0.5,
  compactionMinDeadBytes: 16 * 1024 * 1024,
  normalSyncIntervalMs: 100,
}

class Database {
  #native
  #handle
  #path
  #config
  #closed = false

  /** @internal use open() or create() */
  constructor(nativeDb, path, config) {
    this.#native = nativeDb
    this.#handle = nativeDb.handle
    this.#path = path
    this.#config = Object.freeze(config)
  }

  // The fast path goes around NativeDb and its check of close(): the library
  // refuses the closed handle, and this says so in the words of the others.
  #fail(e) {
    if (this.#closed) return makeError('InvalidArgument', 'the database is closed')
    return convert(e)
  }

  /** The directory it was opened from, as given. */
  get path() {
    return this.#path
  }

  /** The options it was opened with, defaults filled in. */
  get config() {
    return this.#config
  }

  /** True once close() was called (or the database was disposed). */
  get isClosed() {
    return this.#closed
  }

  get(key) {
    const n = sharedKey(key)
    if (n >= 0) {
      let length
      try {
        length = native.fastGet(this.#handle, n)
      } catch (e) {
        throw this.#fail(e)
      }
      if (length < 0) return undefined
      if (length <= VALUE_AREA) return sharedValue(length)
    }
    try {
      return this.#native.get(bytes(key, 'key')) ?? undefined
    } catch (e) {
      throw convert(e)
    }
  }

  getString(key) {
    const n = sharedKey(key)
    if (n >= 0) {
      let length
      try {
        length = native.fastGet(this.#handle, n)
      } catch (e) {
        throw this.#fail(e)
      }
      if (length < 0) return undefined
      if (length <= VALUE_AREA) return shared.utf8Slice(KEY_AREA, KEY_AREA + length)
    }
    const v = this.get(key)
    return v === undefined ? undefined : v.toString('utf8')
  }

  put(key, value) {
    const n = sharedKey(key)
    if (n >= 0) {
      let length = -1
      if (typeof value === 'string') {
        if (value.length <= VALUE_AREA / 3) length = shared.utf8Write(value, KEY_AREA)
      } else if (value instanceof Uint8Array && value.length <= VALUE_AREA) {
        shared.set(value, KEY_AREA)
        length = value.length
      }
      if (length >= 0) {
        try {
          native.fastPut(this.#handle, n, length)
          return
        } catch (e) {
          throw this.#fail(e)
        }
      }
    }
    try {
      this.#native.put(bytes(key, 'key'), bytes(value, 'value'))
    } catch (e) {
      throw convert(e)
    }
  }

  /** Removes `key`; returns whether it was present. */
  delete(key) {
    const k = bytes(key, 'key')
    try {
      const present = this.#native.contains(k)
      if (present) this.#native.delete(k)
      return present
    } catch (e) {
      throw convert(e)
    }
  }

  has(key) {
    const n = sharedKey(key)
    try {
      return n >= 0 ? native.fastHas(this.#handle, n) : this.#native.contains(bytes(key, 'key'))
    } catch (e) {
      throw this.#fail(e)
    }
  }

  /** The number of keys stored. */
  len() {
    return this.stats().liveKeys
  }

  batch() {
    return new Batch(this)
  }

  write(ops) {
    this.writeBatch(batchOf(this, ops))
  }

  writeAsync(ops) {
    try {
      return this.writeBatchAsync(batchOf(this, ops))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** @internal */
  writeBatch(batch) {
    const [ops, n] = batch.packed()
    try {
      this.#native.writePacked(ops, n)
    } catch (e) {
      throw convert(e)
    }
  }

  /** @internal */
  writeBatchAsync(batch) {
    const [ops, n] = batch.packed()
    try {
      return this.#native.writePackedAsync(ops, n).catch(rejected)
    } catch (e) {
      return Promise.reject(convert(e))
    }
  }

  begin() {
    try {
      return new Transaction(this.#native, this.#native.begin())
    } catch (e) {
      throw convert(e)
    }
  }

  transaction(fn) {
    const tx = this.begin()
    let result
    try {
      result = fn(tx)
    } catch (e) {
      tx[Symbol.dispose]()
      throw e
    }
    if (isThenable(result)) {
      tx[Symbol.dispose]()
      throw new TypeError('transaction() callbacks must be synchronous: use transactionAsync() for an async callback')
    }
    if (!tx.finished) tx.commit()
    return result
  }

  async transactionAsync(fn) {
    const tx = this.begin()
    let result
    try {
      result = await fn(tx)
    } catch (e) {
      tx[Symbol.dispose]()
      throw e
    }
    if (!tx.finished) await tx.commitAsync()
    return result
  }

  range(options) {
    return rangeScan(this.#native, undefined, options)
  }

  prefix(prefix, options) {
    return prefixScan(this.#native, undefined, prefix, options)
  }

  checkpoint() {
    try {
      this.#native.checkpoint()
    } catch (e) {
      throw convert(e)
    }
  }

  checkpointAsync() {
    return this.#async(() => this.#native.checkpointAsync())
  }

  compact() {
    try {
      return this.#native.compact()
    } catch (e) {
      throw convert(e)
    }
  }

  compactAsync() {
    return this.#async(() => this.#native.compactAsync())
  }

  backup(dest) {
    try {
      this.#native.backup(String(dest))
    } catch (e) {
      throw convert(e)
    }
  }

  backupAsync(dest) {
    return this.#async(() => this.#native.backupAsync(String(dest)))
  }

  verify() {
    try {
      return verifyReport(this.#native.verify())
    } catch (e) {
      throw convert(e)
    }
  }

  verifyAsync() {
    return this.#async(() => this.#native.verifyAsync()).then(verifyReport)
  }

  stats() {
    try {
      return this.#native.stats()
    } catch (e) {
      throw convert(e)
    }
  }

  refresh() {
    try {
      this.#native.refresh()
    } catch (e) {
      throw convert(e)
    }
  }

  close() {
    try {
      this.#closed = true
      this.#native.close()
    } catch (e) {
      throw convert(e)
    }
  }

  /** Closes unless already closed (for `using`). */
  [Symbol.dispose]() {
    try {
      this.#closed = true
      this.#native.close()
    } catch {
      // Already closed.
    }
  }

  #async(start) {
    try {
      return start().catch(rejected)
    } catch (e) {
      return Promise.reject(convert(e))
    }
  }
}

function verifyReport(r) {
  return { ...r, isClean: r.corruptions === 0 }
}

function openWith(path, options, create) {
  if (typeof path !== 'string') throw new TypeError('path must be a string')
  const config = nativeConfig(options)
  try {
    const given = { ...defaults, ...options }
    given.syncMode = String(given.syncMode).toLowerCase()
    return new Database(native.NativeDb.open(path, create, config), path, given)
  } catch (e) {
    throw convert(e)
  }
}

/** Opens the database in `path`, creating it (and the directory) if there is none. */
function create(path, options) {
  return openWith(path, options, true)
}

/** Opens the existing database in `path` (IoError if there is none). */
function open(path, options) {
  return openWith(path, options, false)
}

module.exports = {
  open,
  create,
  version: native.version,
  maxKeySize: native.maxKeySize,
  maxValueSize: native.maxValueSize,
  liveHandleCount: native.liveHandleCount,
  Database,
  Transaction,
  Scan,
  Batch,
  LightningDBError,
  NullPointerError,
  InvalidUtf8Error,
  IoError,
  CorruptedDataError,
  InvalidArgumentError,
  OutOfMemoryError,
  DatabaseLockedError,
  TransactionConflictError,
  UnknownError,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE: native.maxValueSize(),
}
