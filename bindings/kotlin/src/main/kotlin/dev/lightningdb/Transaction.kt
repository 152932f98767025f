package dev.lightningdb

import java.io.Closeable

/**
 * A transaction: it reads the snapshot of the latest commit at its start plus its own writes,
 * and [commit] applies all its writes atomically or none ([TransactionConflictException] when a
 * key it wrote was changed by a commit after it began). After commit or rollback every call
 * throws [InvalidArgumentException]. Closing it unfinished rolls it back, so
 * try-with-resources / [use] never leaves one open. Use it from one thread at a time.
 *
 * Every call goes through JNI: [id] is a transaction of the C ABI on the database's C handle.
 */
class Transaction internal constructor(private val owner: LightningDB, private val id: Long) : Closeable {
    /** Set once, by whichever comes first: commit, rollback, close or the garbage collector. */
    private val finished = java.util.concurrent.atomic.AtomicBoolean(false)

    init {
        // A transaction collected unfinished is rolled back, which releases its snapshot.
        val finished = finished
        val owner = owner
        val id = id
        CLEANER.register(this) { if (!finished.getAndSet(true)) abortQuietly(owner, id) }
    }

    /** Keeps this transaction reachable through a JNI call, so its cleaner cannot abort it under the call. */
    private inline fun <T> held(call: () -> T): T =
        try {
            call()
        } finally {
            java.lang.ref.Reference.reachabilityFence(this)
        }

    /** True after commit or rollback (whether the commit succeeded or not). */
    val isFinished: Boolean get() = finished.get()

    private fun live(): Long {
        // The generated API's words, so that both paths fail alike.
        if (finished.get()) throw finishedError()
        // Its database's handle, or the error of a closed database.
        return owner.live()
    }

    operator fun get(key: ByteArray): ByteArray? = held { Jni.txGet(live(), id, key) }
    operator fun get(key: String): ByteArray? = get(key.toByteArray())
    fun getString(key: String): String? = get(key)?.toString(Charsets.UTF_8)

    fun put(key: ByteArray, value: ByteArray) = held { Jni.txPut(live(), id, key, value) }
    fun put(key: String, value: String) = put(key.toByteArray(), value.toByteArray())
    fun put(key: String, value: ByteArray) = put(key.toByteArray(), value)
    operator fun set(key: ByteArray, value: ByteArray) = put(key, value)
    operator fun set(key: String, value: ByteArray) = put(key.toByteArray(), value)
    operator fun set(key: String, value: String) = put(key.toByteArray(), value.toByteArray())

    fun delete(key: ByteArray) = held { Jni.txDelete(live(), id, key) }
    fun delete(key: String) = delete(key.toByteArray())

    operator fun contains(key: ByteArray): Boolean = held { Jni.txContains(live(), id, key) }
    operator fun contains(key: String): Boolean = contains(key.toByteArray())

    /** Scans as this transaction sees the database: its snapshot with its own writes so far. */
    @JvmOverloads
    fun scan(start: Bound = Bound.Unbounded, end: Bound = Bound.Unbounded, reverse: Boolean = false): Cursor =
        held { scanOf(live(), id, start, end, reverse) }

    /** The first [n] entries between [start] and [end] as this transaction sees them ([LightningDB.first]). */
    @JvmOverloads
    fun first(n: Int, start: Bound = Bound.Unbounded, end: Bound = Bound.Unbounded, reverse: Boolean = false): List<Entry> =
        held { firstOf(live(), id, n, start, end, reverse) }

    @JvmOverloads
    fun scanPrefix(prefix: ByteArray, reverse: Boolean = false): Cursor =
        held { Cursor(JniPages(Jni.iterPrefix(live(), true, id, prefix, reverse))) }

    @JvmOverloads
    fun scanPrefix(prefix: String, reverse: Boolean = false): Cursor = scanPrefix(prefix.toByteArray(), reverse)

    /** Applies every write atomically, or none. The transaction is finished either way. */
    fun commit() {
        val db = live()
        if (finished.getAndSet(true)) throw finishedError()
        held { Jni.txCommit(db, id) }
    }

    /** Discards every write. */
    fun rollback() {
        val db = live()
        if (finished.getAndSet(true)) throw finishedError()
        held { Jni.txAbort(db, id) }
    }

    /** Rolls back if unfinished; calling it again does nothing. */
    override fun close() {
        if (!finished.getAndSet(true)) abortQuietly(owner, id)
    }
}

private fun finishedError() = InvalidArgumentException("the transaction is finished (committed or rolled back)")

/** Rolls back [id]; a database closed first has discarded it already. */
private fun abortQuietly(owner: LightningDB, id: Long) {
    try {
        Jni.txAbort(owner.live(), id)
    } catch (e: InvalidArgumentException) {
        // Closed database: nothing left to roll back.
    }
}
