package dev.lightningdb

/**
 * The JNI entry points of liblightning_db_ffi (ffi-c/src/jvm): the hot calls, on the C handle
 * of a database the generated API opened. Each throws the [LightningDBException] of the C
 * API's error code, with the library's message.
 */
internal object Jni {
    init {
        NativeLibrary.ensureLoaded()
    }

    /** Releases a handle from `Database.nativeHandle()` (the database stays as it is). */
    @JvmStatic external fun release(db: Long)

    /** Objects of every kind the C ABI holds for callers (lightning_db_live_handle_count). */
    @JvmStatic external fun liveHandles(): Long

    @JvmStatic external fun get(db: Long, key: ByteArray): ByteArray?
    @JvmStatic external fun put(db: Long, key: ByteArray, value: ByteArray)
    @JvmStatic external fun delete(db: Long, key: ByteArray): Boolean
    @JvmStatic external fun contains(db: Long, key: ByteArray): Boolean

    /** The first [len] bytes of [ops]: [count] operations packed as [WriteBatch] keeps them. */
    @JvmStatic external fun writePacked(db: Long, ops: ByteArray, len: Int, count: Int)

    @JvmStatic external fun txBegin(db: Long): Long
    @JvmStatic external fun txGet(db: Long, tx: Long, key: ByteArray): ByteArray?
    @JvmStatic external fun txPut(db: Long, tx: Long, key: ByteArray, value: ByteArray)
    @JvmStatic external fun txDelete(db: Long, tx: Long, key: ByteArray)
    @JvmStatic external fun txContains(db: Long, tx: Long, key: ByteArray): Boolean
    @JvmStatic external fun txCommit(db: Long, tx: Long)
    @JvmStatic external fun txAbort(db: Long, tx: Long)

    /** A C iterator over `start <= key < end` (null: unbounded), in transaction [tx] when [inTx]. */
    @JvmStatic external fun iterRange(db: Long, inTx: Boolean, tx: Long, start: ByteArray?, end: ByteArray?, reverse: Boolean): Long
    @JvmStatic external fun iterPrefix(db: Long, inTx: Boolean, tx: Long, prefix: ByteArray, reverse: Boolean): Long

    /**
     * The first entries of a range (bounds as [iterRange]) in one call (lightning_db_range_first):
     * fills [page] with up to [maxEntries], returns `used shl 32 or count`, and stores in
     * `unfit[0]` an iterator starting with the first of them that did not fit in [page], or 0
     * when none was left out (whether or not the range goes on past [maxEntries]).
     */
    @JvmStatic external fun rangeFirst(
        db: Long, inTx: Boolean, tx: Long, start: ByteArray?, end: ByteArray?, reverse: Boolean,
        page: ByteArray, maxEntries: Int, unfit: LongArray,
    ): Long

    /** Fills [page]; returns `used shl 32 or count` (see lightning_db_iter_next_page). */
    @JvmStatic external fun iterNextPage(iter: Long, page: ByteArray, maxEntries: Int): Long
    @JvmStatic external fun iterFree(iter: Long)
}

/**
 * Releases what a Kotlin object holds in the library when the object is collected without
 * having been closed (a cursor or transaction left to the garbage collector, say), so a
 * forgotten one costs memory for a while, not for the life of the process.
 */
internal val CLEANER: java.lang.ref.Cleaner = java.lang.ref.Cleaner.create()

/** Pages of a C iterator, read through JNI into one reused buffer and cut into entries. */
internal class JniPages(private val iter: Long) : PageSource {
    private var buffer = ByteArray(16 * 1024)

    @Volatile
    private var released = false

    // The action holds the handle, not this object, so that this object can be collected.
    private val cleanable = iter.let { handle -> CLEANER.register(this, Runnable { Jni.iterFree(handle) }) }

    override fun nextPage(max: Int): List<Entry> {
        if (released) throw InvalidArgumentException("the cursor is closed")
        while (true) {
            // Reachable through the call, so the cleaner cannot free the iterator under it.
            val result = try {
                Jni.iterNextPage(iter, buffer, max)
            } finally {
                java.lang.ref.Reference.reachabilityFence(this)
            }
            val count = (result and 0xffffffffL).toInt()
            val used = (result ushr 32).toInt()
            if (count == 0 && used > 0) {
                // The next entry alone is larger than the buffer; it was kept.
                buffer = ByteArray(maxOf(used, buffer.size * 2))
                continue
            }
            return parsePage(buffer, count)
        }
    }

    /** Frees the iterator; the cleaner runs its action once, whoever asks first. */
    override fun release() {
        released = true
        cleanable.clean()
    }
}

private fun u32(b: ByteArray, at: Int): Int =
    (b[at].toInt() and 0xff) or ((b[at + 1].toInt() and 0xff) shl 8) or
        ((b[at + 2].toInt() and 0xff) shl 16) or ((b[at + 3].toInt() and 0xff) shl 24)

/** The [count] entries at the start of [b], in the page layout of lightning_db_iter_next_page. */
internal fun parsePage(b: ByteArray, count: Int): List<Entry> {
    val out = ArrayList<Entry>(count)
    var at = 0
    repeat(count) {
        val keyLen = u32(b, at)
        val valueLen = u32(b, at + 4)
        val keyAt = at + 8
        val valueAt = keyAt + keyLen
        out.add(Entry(b.copyOfRange(keyAt, valueAt), b.copyOfRange(valueAt, valueAt + valueLen)))
        at = valueAt + valueLen
    }
    return out
}
