package dev.lightningdb

import dev.lightningdb.generated.BatchOp

/**
 * Puts and deletes applied together by [LightningDB.write]: atomically, in order, as one
 * commit. Reusable: [clear] it and fill it again.
 *
 * Kept packed as the C ABI's `lightning_db_write_packed` takes it (per operation: a u8 op,
 * 1 = put and 2 = delete; u32 key and value lengths, little-endian; the key; the value), so
 * writing it hands one array to the library, whatever the number of operations.
 */
class WriteBatch {
    internal var bytes = ByteArray(256)
        private set
    internal var used = 0
        private set

    /** Operations in the batch. */
    var size = 0
        private set

    fun put(key: ByteArray, value: ByteArray): WriteBatch = apply { add(PUT, key, value) }
    fun put(key: String, value: String): WriteBatch = put(key.toByteArray(), value.toByteArray())
    fun put(key: String, value: ByteArray): WriteBatch = put(key.toByteArray(), value)
    fun delete(key: ByteArray): WriteBatch = apply { add(DELETE, key, EMPTY) }
    fun delete(key: String): WriteBatch = delete(key.toByteArray())

    /** Removes every operation. */
    fun clear(): WriteBatch = apply {
        used = 0
        size = 0
    }

    fun isEmpty() = size == 0

    private fun add(op: Int, key: ByteArray, value: ByteArray) {
        val need = used.toLong() + 9 + key.size + value.size
        if (need > Int.MAX_VALUE - 8) throw InvalidArgumentException("the batch is over 2 GiB")
        if (need > bytes.size) bytes = bytes.copyOf(maxOf(need.toInt(), minOf(bytes.size.toLong() * 2, Int.MAX_VALUE - 8L).toInt()))
        val b = bytes
        var at = used
        b[at++] = op.toByte()
        at = putU32(b, at, key.size)
        at = putU32(b, at, value.size)
        System.arraycopy(key, 0, b, at, key.size)
        at += key.size
        System.arraycopy(value, 0, b, at, value.size)
        used = at + value.size
        size++
    }

    /** The operations as the generated API takes them. */
    internal fun toOps(): List<BatchOp> {
        val out = ArrayList<BatchOp>(size)
        var at = 0
        while (at < used) {
            val op = bytes[at].toInt()
            val keyLen = getU32(bytes, at + 1)
            val valueLen = getU32(bytes, at + 5)
            val key = bytes.copyOfRange(at + 9, at + 9 + keyLen)
            val valueAt = at + 9 + keyLen
            out.add(if (op == PUT) BatchOp.Put(key, bytes.copyOfRange(valueAt, valueAt + valueLen)) else BatchOp.Delete(key))
            at = valueAt + valueLen
        }
        return out
    }

    private companion object {
        const val PUT = 1
        const val DELETE = 2
        val EMPTY = ByteArray(0)

        fun putU32(b: ByteArray, at: Int, v: Int): Int {
            b[at] = v.toByte()
            b[at + 1] = (v ushr 8).toByte()
            b[at + 2] = (v ushr 16).toByte()
            b[at + 3] = (v ushr 24).toByte()
            return at + 4
        }

        fun getU32(b: ByteArray, at: Int): Int =
            (b[at].toInt() and 0xff) or ((b[at + 1].toInt() and 0xff) shl 8) or
                ((b[at + 2].toInt() and 0xff) shl 16) or ((b[at + 3].toInt() and 0xff) shl 24)
    }
}
