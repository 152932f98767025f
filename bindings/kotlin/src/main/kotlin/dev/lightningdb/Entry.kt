package dev.lightningdb

/**
 * A key and its value, as a scan returns them. Destructures (`for ((key, value) in ...)`);
 * equal to another entry with the same bytes.
 */
class Entry(val key: ByteArray, val value: ByteArray) {
    operator fun component1(): ByteArray = key
    operator fun component2(): ByteArray = value

    /** The key decoded as UTF-8. */
    val keyString: String get() = key.toString(Charsets.UTF_8)

    /** The value decoded as UTF-8. */
    val valueString: String get() = value.toString(Charsets.UTF_8)

    fun toPair(): Pair<ByteArray, ByteArray> = key to value

    override fun equals(other: Any?) =
        other is Entry && key.contentEquals(other.key) && value.contentEquals(other.value)

    override fun hashCode() = 31 * key.contentHashCode() + value.contentHashCode()

    override fun toString() = "Entry(${show(key)}, ${show(value)})"

    private fun show(bytes: ByteArray): String =
        if (bytes.all { it in 0x20..0x7e }) "\"${bytes.toString(Charsets.US_ASCII)}\""
        else bytes.joinToString("", "0x") { "%02x".format(it) }
}

/** One end of a key range: [included], [excluded] or [unbounded]. */
sealed class Bound {
    /** Keys from (or up to) [key], including it. */
    class Included internal constructor(val key: ByteArray) : Bound()

    /** Keys after (or before) [key], excluding it. */
    class Excluded internal constructor(val key: ByteArray) : Bound()

    /** No limit on this side. */
    object Unbounded : Bound()

    companion object {
        @JvmStatic fun included(key: ByteArray): Bound = Included(key.copyOf())
        @JvmStatic fun included(key: String): Bound = Included(key.toByteArray())
        @JvmStatic fun excluded(key: ByteArray): Bound = Excluded(key.copyOf())
        @JvmStatic fun excluded(key: String): Bound = Excluded(key.toByteArray())
        @JvmStatic fun unbounded(): Bound = Unbounded
    }
}
