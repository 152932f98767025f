package dev.lightningdb

import dev.lightningdb.generated.Database
import java.io.Closeable

/**
 * An open Lightning DB database: an embedded, crash-safe, transactional key-value store.
 * Thread-safe: share one instance between threads.
 *
 * ```kotlin
 * LightningDB.open("app.ldb").use { db ->
 *     db["hello"] = "world"
 *     db.transaction { tx -> tx["n"] = tx["hello"] ?: ByteArray(0) }
 *     db.scanPrefix("h").use { for ((key, value) in it) println(key.decodeToString()) }
 * }
 * ```
 *
 * Keys are 1 to 16 KiB, values 0 to 256 MiB; `String` arguments are encoded as UTF-8.
 * Closing twice, or any call after close, throws [InvalidArgumentException].
 */
class LightningDB private constructor(private val db: Database) : Closeable {
    /**
     * The C ABI's handle of this same open database: the hot calls take it through JNI
     * ([Jni]), everything else goes through the generated API. Released at close.
     */
    private val handle: Long = generated { db.nativeHandle() }.toLong()

    // Releases the handle at close or, for a database never closed, when this object is
    // collected (the database closes when its last owner, this or the generated object,
    // lets go).
    private val release = handle.let { h -> CLEANER.register(this, Runnable { Jni.release(h) }) }

    @Volatile
    private var closed = false

    /** The C handle, or [InvalidArgumentException] once closed. */
    internal fun live(): Long {
        if (closed) throw closedError()
        return handle
    }

    /**
     * Runs a JNI call on [handle], keeping this object reachable until it returns: otherwise
     * the JIT may let it be collected mid-call (nothing reads it after [live]), and the
     * cleaner would release the handle under the call.
     */
    private inline fun <T> held(call: () -> T): T =
        try {
            call()
        } finally {
            java.lang.ref.Reference.reachabilityFence(this)
        }

    /** Runs a call of the generated API on the open database. */
    private inline fun <T> call(body: (Database) -> T): T {
        if (closed) throw closedError()
        return try {
            generated { body(db) }
        } catch (e: IllegalStateException) {
            // The generated object was released by a concurrent close().
            throw closedError().also { it.initCause(e) }
        }
    }

    /** The value stored under [key], or null. */
    operator fun get(key: ByteArray): ByteArray? = held { Jni.get(live(), key) }
    operator fun get(key: String): ByteArray? = get(key.toByteArray())

    /** The value under [key] decoded as UTF-8, or null. */
    fun getString(key: String): String? = get(key)?.toString(Charsets.UTF_8)

    /** Stores [value] under [key] as one commit. */
    fun put(key: ByteArray, value: ByteArray) = held { Jni.put(live(), key, value) }
    fun put(key: String, value: String) = put(key.toByteArray(), value.toByteArray())
    fun put(key: String, value: ByteArray) = put(key.toByteArray(), value)
    operator fun set(key: ByteArray, value: ByteArray) = put(key, value)
    operator fun set(key: String, value: ByteArray) = put(key.toByteArray(), value)
    operator fun set(key: String, value: String) = put(key.toByteArray(), value.toByteArray())

    /** Deletes [key]; whether it was there. */
    fun delete(key: ByteArray): Boolean = held { Jni.delete(live(), key) }
    fun delete(key: String): Boolean = delete(key.toByteArray())

    /** Whether [key] is stored (`key in db`). */
    operator fun contains(key: ByteArray): Boolean = held { Jni.contains(live(), key) }
    operator fun contains(key: String): Boolean = contains(key.toByteArray())

    /** Applies [batch] atomically, as one commit. */
    fun write(batch: WriteBatch) = held { Jni.writePacked(live(), batch.bytes, batch.used, batch.size) }

    /** Builds a batch with [build] and applies it atomically: `db.write { put("a", "1"); delete("b") }`. */
    fun write(build: WriteBatch.() -> Unit) = write(WriteBatch().apply(build))

    /** Number of live keys. */
    fun size(): Long = call { it.len().toLong() }

    /**
     * Scans the keys between [start] and [end] in key order, or reverse order, over a snapshot
     * taken now. Close the cursor when done.
     */
    @JvmOverloads
    fun scan(start: Bound = Bound.Unbounded, end: Bound = Bound.Unbounded, reverse: Boolean = false): Cursor =
        held { scanOf(live(), null, start, end, reverse) }

    /**
     * The first [n] entries between [start] and [end] (fewer if the range holds fewer), from
     * one snapshot: what `scan(start, end, reverse).use { it.next(n) }` returns, read in one
     * call into the library with no cursor to close.
     */
    @JvmOverloads
    fun first(n: Int, start: Bound = Bound.Unbounded, end: Bound = Bound.Unbounded, reverse: Boolean = false): List<Entry> =
        held { firstOf(live(), null, n, start, end, reverse) }

    /** Scans the keys that start with [prefix] (every key when it is empty). */
    @JvmOverloads
    fun scanPrefix(prefix: ByteArray, reverse: Boolean = false): Cursor =
        held { Cursor(JniPages(Jni.iterPrefix(live(), false, 0, prefix, reverse))) }

    @JvmOverloads
    fun scanPrefix(prefix: String, reverse: Boolean = false): Cursor = scanPrefix(prefix.toByteArray(), reverse)

    /** Runs [block] over the scan as a sequence and closes the cursor however the block ends. */
    inline fun <R> scan(
        start: Bound = Bound.Unbounded,
        end: Bound = Bound.Unbounded,
        reverse: Boolean = false,
        block: (Sequence<Entry>) -> R,
    ): R = scan(start, end, reverse).use { block(it.asSequence()) }

    /**
     * Begins a transaction (snapshot reads, read-your-own-writes, optimistic commit). Commit it
     * or roll it back; closing it unfinished rolls it back.
     */
    fun beginTransaction(): Transaction = held { Transaction(this, Jni.txBegin(live())) }

    /**
     * Runs [body] in a transaction that commits when it returns and rolls back when it throws.
     * A commit can throw [TransactionConflictException]: nothing was written; run it again.
     */
    fun <R> transaction(body: TransactionBody<R>): R {
        val tx = beginTransaction()
        tx.use {
            val result = body.run(tx)
            if (!tx.isFinished) tx.commit()
            return result
        }
    }

    /** Syncs everything and writes a checkpoint, so the next open does not replay the log. */
    fun checkpoint() = call { it.checkpoint() }

    /** Rewrites live data into new segments and removes the old ones. */
    fun compact(): CompactionReport = call { it.compact() }.let {
        CompactionReport(
            it.segmentsBefore.toLong(), it.segmentsAfter.toLong(),
            it.bytesBefore.toLong(), it.bytesAfter.toLong(), it.recordsCopied.toLong(),
        )
    }

    /** Writes a consistent copy into [dest] (missing or empty) while work goes on. */
    fun backup(dest: String) = call { it.backup(dest) }

    /** Reads every record and checks every checksum. */
    fun verify(): VerifyReport = call { it.verify() }.let { r ->
        VerifyReport(
            r.segments.toLong(), r.records.toLong(), r.bytes.toLong(), r.liveKeys.toLong(),
            r.unreadableKeys.toLong(), r.corruptions.map { Corruption(it.file, it.offset.toLong(), it.reason) }, r.isClean,
        )
    }

    fun stats(): Stats = call { it.stats() }.let { s ->
        Stats(
            s.liveKeys.toLong(), s.liveBytes.toLong(), s.totalBytes.toLong(), s.segments.toLong(),
            s.lastSeq.toLong(), s.cacheHits.toLong(), s.cacheMisses.toLong(), s.compactions.toLong(),
            s.commits.toLong(), s.fsyncs.toLong(), s.checkpoints.toLong(),
        )
    }

    /** For a read-only handle: loads the commits made since it was opened or last refreshed. */
    fun refresh() = call { it.refresh() }

    /** The directory of the database. */
    val path: String get() = call { it.path() }

    /** The configuration it was opened with. */
    val config: Config get() = call { it.config() }.toConfig()

    val isClosed: Boolean get() = closed

    /**
     * Syncs, seals the active segment and releases the writer lock. A second call throws
     * [InvalidArgumentException], as does every other call from then on.
     */
    @Synchronized
    override fun close() {
        if (closed) throw closedError()
        closed = true
        try {
            generated { db.closeDatabase() }
        } finally {
            release.clean()
            db.close()
        }
    }

    companion object {
        init {
            NativeLibrary.ensureLoaded()
        }

        /**
         * Opens the database in the directory [path], creating the directory and an empty
         * database if there is none.
         */
        @JvmStatic
        @JvmOverloads
        fun open(path: String, config: Config = Config()): LightningDB =
            LightningDB(generated { Database.create(path, config.toGenerated()) })

        /** Opens the existing database in [path]; [StorageIOException] if there is none. */
        @JvmStatic
        @JvmOverloads
        fun openExisting(path: String, config: Config = Config()): LightningDB =
            LightningDB(generated { Database.open(path, config.toGenerated()) })

        /** Opens (or creates) the database in [path], runs [block] with it and closes it. */
        inline fun <R> open(path: String, config: Config = Config(), block: (LightningDB) -> R): R =
            open(path, config).use(block)

        /** The version of the native library. */
        @JvmStatic
        fun version(): String = dev.lightningdb.generated.version()

        private fun closedError() = InvalidArgumentException("the database is closed")
    }
}

/** The body of [LightningDB.transaction]; a lambda in Kotlin and Java alike. */
fun interface TransactionBody<R> {
    fun run(tx: Transaction): R
}

/**
 * A scan through JNI, in the C ABI's terms (`start <= key < end`): an excluded start or an
 * included end becomes the first key after it, so every bound of the generated API has its
 * exact equivalent.
 */
internal fun scanOf(handle: Long, tx: Long?, start: Bound, end: Bound, reverse: Boolean): Cursor {
    val (from, to) = halfOpen(start, end) ?: return Cursor(EmptyPages)
    return Cursor(JniPages(Jni.iterRange(handle, tx != null, tx ?: 0, from, to, reverse)))
}

/** [start] and [end] as the C ABI's `start <= key < end` (null: unbounded); null if no key is in the range. */
private fun halfOpen(start: Bound, end: Bound): Pair<ByteArray?, ByteArray?>? {
    val from = when (start) {
        is Bound.Included -> start.key
        // No key after it: nothing can be in the range.
        is Bound.Excluded -> successor(start.key) ?: return null
        Bound.Unbounded -> null
    }
    val to = when (end) {
        // No key after it: every key up to the last is in the range.
        is Bound.Included -> successor(end.key)
        is Bound.Excluded -> end.key
        Bound.Unbounded -> null
    }
    return from to to
}

/** This thread's buffer for a range's first page, and the slot for the iterator of an entry that did not fit. */
private class FirstPage {
    val page = ByteArray(16 * 1024)
    val unfit = LongArray(1)
}

private val FIRST_PAGE = ThreadLocal.withInitial { FirstPage() }

/**
 * The first [n] entries of a range through JNI in one call (lightning_db_range_first); an
 * iterator comes back only when an entry did not fit in the buffer, and is read from there.
 */
internal fun firstOf(handle: Long, tx: Long?, n: Int, start: Bound, end: Bound, reverse: Boolean): List<Entry> {
    require(n >= 0) { "n must not be negative" }
    if (n == 0) return emptyList()
    val (from, to) = halfOpen(start, end) ?: return emptyList()
    val scratch = FIRST_PAGE.get()
    val result = Jni.rangeFirst(handle, tx != null, tx ?: 0, from, to, reverse, scratch.page, n, scratch.unfit)
    val count = (result and 0xffffffffL).toInt()
    val unfit = scratch.unfit[0]
    val entries = parsePage(scratch.page, count)
    if (unfit == 0L) return entries
    // An entry did not fit in the buffer: the iterator starts with it.
    return Cursor(JniPages(unfit)).use { entries + it.next(n - count) }
}

/** The longest key, in bytes, as the library says (read once). */
internal val MAX_KEY_SIZE: Int by lazy { dev.lightningdb.generated.maxKeySize().toInt() }

/**
 * The smallest key greater than [key]: the key and a zero byte; for a key at the size limit,
 * which nothing can extend, the key with its trailing 0xff bytes cut and its last byte
 * raised; null when there is none (a key of 0xff bytes only, at the size limit). Longer
 * keys are left to the library to refuse.
 */
internal fun successor(key: ByteArray): ByteArray? {
    if (key.size != MAX_KEY_SIZE) return key.copyOf(key.size + 1)
    var end = key.size
    while (end > 0 && key[end - 1] == 0xff.toByte()) end--
    if (end == 0) return null
    return key.copyOf(end).also { it[end - 1]++ }
}
