package dev.lightningdb

import java.io.Closeable
import dev.lightningdb.generated.Transaction as GeneratedTransaction

/**
 * A transaction: it reads the snapshot of the latest commit at its start plus its own writes,
 * and [commit] applies all its writes atomically or none ([TransactionConflictException] when a
 * key it wrote was changed by a commit after it began). After commit or rollback every call
 * throws [InvalidArgumentException]. Closing it unfinished rolls it back, so
 * try-with-resources / [use] never leaves one open.
 */
class Transaction internal constructor(private val tx: GeneratedTransaction) : Closeable {
    private inline fun <T> call(body: (GeneratedTransaction) -> T): T = try {
        generated { body(tx) }
    } catch (e: IllegalStateException) {
        throw InvalidArgumentException("the transaction is closed").also { it.initCause(e) }
    }

    operator fun get(key: ByteArray): ByteArray? = call { it.get(key) }
    operator fun get(key: String): ByteArray? = get(key.toByteArray())
    fun getString(key: String): String? = get(key)?.toString(Charsets.UTF_8)

    fun put(key: ByteArray, value: ByteArray) = call { it.put(key, value) }
    fun put(key: String, value: String) = put(key.toByteArray(), value.toByteArray())
    fun put(key: String, value: ByteArray) = put(key.toByteArray(), value)
    operator fun set(key: ByteArray, value: ByteArray) = put(key, value)
    operator fun set(key: String, value: ByteArray) = put(key.toByteArray(), value)
    operator fun set(key: String, value: String) = put(key.toByteArray(), value.toByteArray())

    fun delete(key: ByteArray) = call { it.delete(key) }
    fun delete(key: String) = delete(key.toByteArray())

    operator fun contains(key: ByteArray): Boolean = call { it.contains(key) }
    operator fun contains(key: String): Boolean = contains(key.toByteArray())

    /** Scans as this transaction sees the database: its snapshot with its own writes so far. */
    @JvmOverloads
    fun scan(start: Bound = Bound.Unbounded, end: Bound = Bound.Unbounded, reverse: Boolean = false): Cursor =
        Cursor(GeneratedPages(call { it.scan(start.toGenerated(), end.toGenerated(), reverse) }))

    @JvmOverloads
    fun scanPrefix(prefix: ByteArray, reverse: Boolean = false): Cursor =
        Cursor(GeneratedPages(call { it.scanPrefix(prefix, reverse) }))

    @JvmOverloads
    fun scanPrefix(prefix: String, reverse: Boolean = false): Cursor = scanPrefix(prefix.toByteArray(), reverse)

    /** Applies every write atomically, or none. The transaction is finished either way. */
    fun commit() = call { it.commit() }

    /** Discards every write. */
    fun rollback() = call { it.rollback() }

    /** True after commit or rollback. */
    val isFinished: Boolean get() = call { it.isFinished() }

    /** Rolls back if unfinished and releases the transaction; calling it again does nothing. */
    override fun close() {
        try {
            if (!tx.uniffiIsDestroyed && !tx.isFinished()) generated { tx.rollback() }
        } finally {
            tx.close()
        }
    }
}
