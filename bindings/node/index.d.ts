// Types of the Node.js API of Lightning DB (index.js). Written by hand beside the
// idiomatic layer; scripts/check-udl.js checks that every operation of
// idl/lightning_db.udl is declared here and implemented in index.js.

/// <reference types="node" />

/** A key, value, prefix or bound: bytes, or a string (encoded UTF-8). */
export type Bytes = Buffer | Uint8Array | string

/** Options of {@link open} and {@link create}; every field has the engine's default. */
export interface Options {
  /** I/O unit in bytes: a power of two from 512 to 65536 (default 4096). */
  pageSize?: number
  /** Bytes of values kept in the read cache, for records of 1 KiB and more (default 64 MiB; 0 disables it). */
  cacheSize?: number
  /**
   * When a commit reaches stable storage (default 'full'):
   * - 'full': before the call returns (fdatasync; concurrent commits share one sync); survives power loss.
   * - 'normal': a background thread syncs within 100 ms; a power loss loses at most that interval.
   * - 'off': synced only by checkpoint, close, segment roll-over and compaction.
   * Every mode survives the process being killed.
   */
  syncMode?: 'full' | 'normal' | 'off'
  /** Open without the writer lock (`open` only); writes fail with InvalidArgumentError. */
  readOnly?: boolean
  /** A segment file is sealed and a new one started at this size (default 64 MiB, minimum 4096). */
  segmentSize?: number
  /** Compact in the background when enough of the segment bytes are dead (default true). */
  autoCompact?: boolean
  /** Share of dead segment bytes, in (0, 1], at which background compaction starts (default 0.5). */
  compactionDeadRatio?: number
  /** Background compaction waits until this many bytes are dead (default 16 MiB). */
  compactionMinDeadBytes?: number
  /** How long after a commit syncMode 'normal' syncs it, in ms (at least 1; default 100). */
  normalSyncIntervalMs?: number
}

/** The options a database was opened with, defaults filled in. */
export type Config = Readonly<Required<Options>>

/**
 * Bounds of a scan. `gte`/`start` and `gt` bound it from below, `lt`/`end` and
 * `lte` from above (`start` is inclusive, `end` exclusive); absent bounds are open.
 * As in the level ecosystem, `gte` wins over `gt` and `lte` over `lt`.
 */
export interface RangeOptions {
  gt?: Bytes
  gte?: Bytes
  lt?: Bytes
  lte?: Bytes
  /** Same as `gte`. */
  start?: Bytes
  /** Same as `lt`. */
  end?: Bytes
  /** Descending key order. */
  reverse?: boolean
  /** At most this many entries (-1 or absent: no limit); a short scan then fetches no more. */
  limit?: number
}

export interface PrefixOptions {
  reverse?: boolean
  /** At most this many entries (-1 or absent: no limit). */
  limit?: number
}

/** One operation of {@link Database.write}. */
export type BatchOperation = { type: 'put'; key: Bytes; value: Bytes } | { type: 'del' | 'delete'; key: Bytes }

/** A key and its value. */
export type Entry = [key: Buffer, value: Buffer]

/** Counters and sizes of an open database. */
export interface Stats {
  liveKeys: number
  /** Encoded bytes of the newest record of every live key. */
  liveBytes: number
  /** Bytes of all segment files. */
  totalBytes: number
  segments: number
  /** Sequence number of the latest commit. */
  lastSeq: number
  /** Point reads of records of 1 KiB and more answered from the value cache; smaller records are read past it and not counted. */
  cacheHits: number
  /** Point reads of records of 1 KiB and more that went to the segments. */
  cacheMisses: number
  compactions: number
  /** Commits made through this handle. */
  commits: number
  /** fdatasync calls made through this handle. */
  fsyncs: number
  checkpoints: number
}

/** What {@link Database.verify} read and found. */
export interface VerifyReport {
  segments: number
  /** Records (puts and deletes) read with a good checksum. */
  records: number
  bytes: number
  liveKeys: number
  /** Live keys whose newest value cannot be read back intact. */
  unreadableKeys: number
  /** Damaged places found. */
  corruptions: number
  /** True when nothing is damaged. */
  isClean: boolean
  /** The first damaged places (file, offset, reason); empty when clean. */
  message: string
}

/** What {@link Database.compact} did. */
export interface CompactionReport {
  segmentsBefore: number
  segmentsAfter: number
  bytesBefore: number
  bytesAfter: number
  /** Live records rewritten into new segments. */
  recordsCopied: number
}

/**
 * A scan over the snapshot taken when it was created. Iterate it with `for...of`
 * or `for await...of`; it fetches entries in pages and releases its native
 * iterator when the loop ends, breaks or throws, and on close() or dispose.
 * Keys and values of one page share one buffer: copy them (`Buffer.from(k)`) to
 * keep them long without keeping the page.
 */
export declare class Scan implements IterableIterator<Entry>, AsyncIterable<Entry>, Disposable {
  private constructor()
  next(): IteratorResult<Entry, undefined>
  /** Reads up to `n` more entries (fewer only at the end). */
  take(n: number): Entry[]
  /** Releases the native iterator; later reads end the scan. */
  close(): void
  return(value?: unknown): IteratorResult<Entry, undefined>
  [Symbol.iterator](): Scan
  [Symbol.asyncIterator](): AsyncIterableIterator<Entry>
  [Symbol.dispose](): void
}

/** Operations applied together, atomically, by write() or writeAsync(). */
export declare class Batch {
  private constructor()
  put(key: Bytes, value: Bytes): this
  delete(key: Bytes): this
  /** Same as delete(), the level ecosystem's name. */
  del(key: Bytes): this
  readonly length: number
  clear(): this
  /** Applies every operation atomically, as one commit. */
  write(): void
  /** As write(), waiting for the disk off the main thread. */
  writeAsync(): Promise<void>
}

/**
 * A transaction: reads the snapshot of its start plus its own writes; commit()
 * applies its writes atomically or throws TransactionConflictError if a key it
 * wrote was written by another commit since it began. Disposing it rolls it back
 * unless it finished.
 */
export declare class Transaction implements Disposable {
  private constructor()
  /** True once committed or rolled back. Every later call throws InvalidArgumentError. */
  readonly finished: boolean
  get(key: Bytes): Buffer | undefined
  getString(key: Bytes): string | undefined
  put(key: Bytes, value: Bytes): void
  delete(key: Bytes): void
  has(key: Bytes): boolean
  range(options?: RangeOptions): Scan
  prefix(prefix: Bytes, options?: PrefixOptions): Scan
  commit(): void
  /** Commits on the thread pool, so the event loop does not wait for the sync. */
  commitAsync(): Promise<void>
  rollback(): void
  [Symbol.dispose](): void
}

/** An open database. Every call after close() throws InvalidArgumentError. */
export declare class Database implements Disposable {
  private constructor()
  /** The directory, as given to open/create. */
  readonly path: string
  /** The options it was opened with, defaults filled in. */
  readonly config: Config
  readonly isClosed: boolean
  /** The value of `key`, or undefined if it is absent. */
  get(key: Bytes): Buffer | undefined
  /** The value of `key` decoded as UTF-8, or undefined. */
  getString(key: Bytes): string | undefined
  /** Stores `value` under `key` as one commit. */
  put(key: Bytes, value: Bytes): void
  /** Removes `key`; returns whether it was present. */
  delete(key: Bytes): boolean
  has(key: Bytes): boolean
  /** The number of keys stored. */
  len(): number
  /** A chained batch: `db.batch().put(k, v).del(k2).write()`. */
  batch(): Batch
  /** Applies the operations atomically, as one commit. */
  write(ops: BatchOperation[] | Batch): void
  /** As write(), waiting for the disk off the main thread. */
  writeAsync(ops: BatchOperation[] | Batch): Promise<void>
  /** Begins a transaction; finish it with commit() or rollback(). */
  begin(): Transaction
  /** Runs `fn` in a transaction: commits when it returns, rolls back when it throws. */
  transaction<T>(fn: (tx: Transaction) => T extends PromiseLike<unknown> ? never : T): T
  /** Awaits `fn` in a transaction, then commits off the main thread; rolls back if it rejects. */
  transactionAsync<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T>
  /** The entries within the bounds, in key order (or reversed). */
  range(options?: RangeOptions): Scan
  /** The entries whose keys begin with `prefix`. */
  prefix(prefix: Bytes, options?: PrefixOptions): Scan
  /** Syncs and saves a checkpoint of the index, so the next open starts from it. */
  checkpoint(): void
  checkpointAsync(): Promise<void>
  /** Rewrites the live data of segments holding dead records and removes them. */
  compact(): CompactionReport
  compactAsync(): Promise<CompactionReport>
  /** Writes a consistent copy into `dest` (absent or empty), while readers and writers go on. */
  backup(dest: string): void
  backupAsync(dest: string): Promise<void>
  /** Reads every record and checks every checksum. */
  verify(): VerifyReport
  verifyAsync(): Promise<VerifyReport>
  stats(): Stats
  /** Read-only handle: loads the commits made by the writer since. */
  refresh(): void
  /** Closes the database (syncing it); open transactions are discarded. */
  close(): void
  /** Closes unless already closed. */
  [Symbol.dispose](): void
}

/** Opens the database in `path`, creating it (and the directory) if there is none. */
export declare function create(path: string, options?: Options): Database
/** Opens the existing database in `path` (IoError if there is none). */
export declare function open(path: string, options?: Options): Database
/** The version of the native library. */
export declare function version(): string
/** Native handles of every kind not yet released in this process (a leak check). */
export declare function liveHandleCount(): number
/** The longest key accepted, in bytes (keys are 1 to this many bytes). */
export declare function maxKeySize(): number
/** The longest value accepted, in bytes (values may be empty). */
export declare function maxValueSize(): number
/** The longest key, in bytes: maxKeySize(). */
export declare const MAX_KEY_SIZE: number
/** The longest value, in bytes: maxValueSize(). */
export declare const MAX_VALUE_SIZE: number

/** The C error names, the `.code` of each error class. */
export type ErrorCode =
  | 'NullPointer'
  | 'InvalidUtf8'
  | 'IoError'
  | 'CorruptedData'
  | 'InvalidArgument'
  | 'OutOfMemory'
  | 'DatabaseLocked'
  | 'TransactionConflict'
  | 'UnknownError'

/** Every error of the library; `code` is the C name of the error. */
export declare class LightningDBError extends Error {
  constructor(message: string, code?: ErrorCode)
  readonly code: ErrorCode
}
/** A required argument was missing. */
export declare class NullPointerError extends LightningDBError {}
/** A path was not valid UTF-8. */
export declare class InvalidUtf8Error extends LightningDBError {}
/** The operating system reported an error (not found, permission, disk full...). */
export declare class IoError extends LightningDBError {}
/** Stored data failed its checksum; nothing wrong was returned. */
export declare class CorruptedDataError extends LightningDBError {}
/** A bad argument, a write to a read-only database, use after close or after a transaction finished. */
export declare class InvalidArgumentError extends LightningDBError {}
export declare class OutOfMemoryError extends LightningDBError {}
/** Another handle or process has the database open for writing. */
export declare class DatabaseLockedError extends LightningDBError {}
/** A key the transaction wrote was changed by a commit after it began; nothing was written. */
export declare class TransactionConflictError extends LightningDBError {}
/** An internal error, caught at the boundary. */
export declare class UnknownError extends LightningDBError {}
