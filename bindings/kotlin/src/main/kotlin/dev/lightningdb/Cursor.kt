package dev.lightningdb

import java.io.Closeable
import java.util.Spliterator
import java.util.Spliterators
import java.util.stream.Stream
import java.util.stream.StreamSupport

/** Where a cursor's pages come from: the JNI path or the generated API. */
internal interface PageSource {
    /** Up to [max] next entries (at least one unless the scan is over). */
    fun nextPage(max: Int): List<Entry>
    fun release()
}

/** The pages of a scan whose range holds no key. */
internal object EmptyPages : PageSource {
    override fun nextPage(max: Int): List<Entry> = emptyList()
    override fun release() = Unit
}

/**
 * An ordered scan over a snapshot taken when it was made. It fetches entries a page at a time
 * (small pages first, so an early exit reads little; larger ones as the scan goes on), so a
 * scan of any size holds only one page.
 *
 * Close it ([use] in Kotlin, try-with-resources in Java) to release its snapshot; a cursor read
 * to its end has released its pages but still holds its place until closed. After [close],
 * [hasNext] is false and [next] throws [InvalidArgumentException].
 *
 * It is its own [Iterator] and, for Java's for-each, an [Iterable] that can be walked once.
 */
class Cursor internal constructor(private var source: PageSource?) : Iterator<Entry>, Iterable<Entry>, Closeable {
    private var page: List<Entry> = emptyList()
    private var index = 0
    private var pageSize = FIRST_PAGE
    private var done = false

    override fun hasNext(): Boolean {
        if (index < page.size) return true
        if (done) return false
        val source = source ?: return false
        page = source.nextPage(pageSize)
        index = 0
        pageSize = minOf(pageSize * 2, LAST_PAGE)
        if (page.isEmpty()) done = true
        return page.isNotEmpty()
    }

    override fun next(): Entry {
        if (source == null) throw InvalidArgumentException("the cursor is closed")
        if (!hasNext()) throw NoSuchElementException("the scan is over")
        return page[index++]
    }

    /** Up to [max] next entries; fewer only at the end of the scan. */
    fun next(max: Int): List<Entry> {
        require(max >= 0) { "max must not be negative" }
        val out = ArrayList<Entry>(minOf(max, LAST_PAGE))
        while (out.size < max && hasNext()) out.add(next())
        return out
    }

    /** Returns this cursor: it can be iterated once. */
    override fun iterator(): Iterator<Entry> = this

    /** The rest of the scan as a lazy sequence (iterable once). */
    fun asSequence(): Sequence<Entry> = Sequence { this }.constrainOnce()

    /** The rest of the scan as a sequential stream; closing the stream closes the cursor. */
    fun stream(): Stream<Entry> =
        StreamSupport.stream(
            Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED or Spliterator.NONNULL),
            false,
        ).onClose(::close)

    /** Releases the snapshot; calling it again does nothing. */
    override fun close() {
        val source = source ?: return
        this.source = null
        page = emptyList()
        source.release()
    }

    private companion object {
        const val FIRST_PAGE = 16
        const val LAST_PAGE = 512
    }
}
