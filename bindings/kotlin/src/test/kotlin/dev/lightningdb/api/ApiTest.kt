// The idiomatic layer (dev.lightningdb) against the real library, loaded from the classpath
// as a user of the jar loads it.
package dev.lightningdb.api

import dev.lightningdb.Bound
import dev.lightningdb.Config
import dev.lightningdb.CorruptedDataException
import dev.lightningdb.DatabaseLockedException
import dev.lightningdb.Entry
import dev.lightningdb.InvalidArgumentException
import dev.lightningdb.LightningDB
import dev.lightningdb.LightningDBException
import dev.lightningdb.MiB
import dev.lightningdb.StorageIOException
import dev.lightningdb.SyncMode
import dev.lightningdb.TransactionConflictException
import dev.lightningdb.WriteBatch
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.stream.Collectors

class ApiTest {
    @TempDir
    lateinit var dir: Path

    private fun path(name: String = "db") = dir.resolve(name).toString()

    /** A database holding k00..k19 → v00..v19. */
    private fun twenty(): LightningDB = LightningDB.open(path()).also { db ->
        db.write { for (i in 0 until 20) put("k%02d".format(i), "v%02d".format(i)) }
    }

    private fun keys(entries: Sequence<Entry>) = entries.map { it.keyString }.toList()

    @Test
    fun `index operators, contains and String overloads`() {
        LightningDB.open(path()) { db ->
            db["hello"] = "world"
            db["bytes".toByteArray()] = byteArrayOf(0, 1, 2)
            assertEquals("world", db.getString("hello"))
            assertArrayEquals("world".toByteArray(), db["hello"])
            assertArrayEquals(byteArrayOf(0, 1, 2), db["bytes"])
            assertTrue("hello" in db)
            assertFalse("absent" in db)
            assertNull(db["absent"])
            db["empty"] = ByteArray(0)
            assertArrayEquals(ByteArray(0), db["empty"]) // present and empty is not absent
            assertEquals(3L, db.size())
            assertTrue(db.delete("hello"))
            assertFalse(db.delete("hello"))
            assertNull(db["hello"])
        }
    }

    @Test
    fun `values survive close and reopen`() {
        LightningDB.open(path()).use { it["k"] = "v" }
        LightningDB.openExisting(path()).use { assertEquals("v", it.getString("k")) }
    }

    @Test
    fun `close twice and use after close are errors, not crashes`() {
        val db = LightningDB.open(path())
        db["k"] = "v"
        db.close()
        assertTrue(db.isClosed)
        val twice = assertThrows<InvalidArgumentException> { db.close() }
        assertTrue("closed" in twice.message!!, twice.message)
        assertEquals(-5, twice.code)
        assertThrows<InvalidArgumentException> { db["k"] }
        assertThrows<InvalidArgumentException> { db["k"] = "w" }
        assertThrows<InvalidArgumentException> { db.scan() }
        assertThrows<InvalidArgumentException> { db.beginTransaction() }
        assertThrows<InvalidArgumentException> { db.stats() }
        // The directory is free again: the writer lock went with close().
        LightningDB.open(path()).use { assertEquals("v", it.getString("k")) }
    }

    @Test
    fun `transaction block commits on return`() {
        LightningDB.open(path()) { db ->
            db["a"] = "1"
            val seen = db.transaction { tx ->
                tx["b"] = tx["a"]!!
                assertEquals("1", tx.getString("b")) // reads its own writes
                assertFalse("b" in db) // not visible outside before commit
                tx.delete("a")
                "done"
            }
            assertEquals("done", seen)
            assertEquals("1", db.getString("b"))
            assertFalse("a" in db)
        }
    }

    @Test
    fun `transaction block rolls back on throw`() {
        LightningDB.open(path()) { db ->
            db["a"] = "1"
            val thrown = assertThrows<IllegalStateException> {
                db.transaction<Unit> { tx ->
                    tx["a"] = "2"
                    tx["b"] = "2"
                    throw IllegalStateException("abandon")
                }
            }
            assertEquals("abandon", thrown.message)
            assertEquals("1", db.getString("a"))
            assertFalse("b" in db)
        }
    }

    @Test
    fun `a conflicting commit throws TransactionConflictException and writes nothing`() {
        LightningDB.open(path()) { db ->
            db["n"] = "0"
            val first = db.beginTransaction()
            val second = db.beginTransaction()
            first["n"] = "1"
            second["n"] = "2"
            second["other"] = "x"
            first.commit()
            val e = assertThrows<TransactionConflictException> { second.commit() }
            assertEquals(-8, e.code)
            assertTrue(e.message!!.isNotEmpty())
            assertEquals("1", db.getString("n"))
            assertFalse("other" in db)
            // Finished either way: further use is an error, closing is not.
            assertTrue(second.isFinished)
            assertThrows<InvalidArgumentException> { second["n"] }
            second.close()
            first.close()
        }
    }

    @Test
    fun `closing an unfinished transaction rolls it back`() {
        LightningDB.open(path()) { db ->
            db.beginTransaction().use { tx -> tx["k"] = "v" }
            assertFalse("k" in db)
        }
    }

    @Test
    fun `a second writer gets DatabaseLockedException`() {
        LightningDB.open(path()) {
            val e = assertThrows<DatabaseLockedException> { LightningDB.open(path()) }
            assertEquals(-7, e.code)
        }
    }

    @Test
    fun `opening a missing database gets StorageIOException`() {
        val e = assertThrows<StorageIOException> { LightningDB.openExisting(path("missing")) }
        assertEquals(-3, e.code)
        assertTrue(e.message!!.isNotEmpty())
    }

    @Test
    fun `bad arguments get InvalidArgumentException with the library's message`() {
        LightningDB.open(path()) { db ->
            val empty = assertThrows<InvalidArgumentException> { db[ByteArray(0)] = "v".toByteArray() }
            assertTrue("empty" in empty.message!!, empty.message)
            assertThrows<InvalidArgumentException> { db[ByteArray(16385)] = ByteArray(1) }
            assertThrows<InvalidArgumentException> { db[ByteArray(0)] }
        }
        assertThrows<InvalidArgumentException> { LightningDB.open(path("p"), Config(pageSize = 1000)) }
        assertThrows<InvalidArgumentException> { LightningDB.open(path("c"), Config(cacheSize = -1)) }
    }

    @Test
    fun `a damaged value is CorruptedDataException, never wrong bytes`() {
        val value = ByteArray(8192) { (it % 251).toByte() }
        LightningDB.open(path()).use { db ->
            db["victim"] = value
            db.checkpoint()
        }
        // Flip one byte in the middle of the stored value.
        val needle = value.copyOfRange(4000, 4032)
        val file = File(path()).walk().filter { it.isFile }.first { indexOf(it.readBytes(), needle) >= 0 }
        val bytes = file.readBytes()
        val at = indexOf(bytes, needle) + 16
        bytes[at] = (bytes[at].toInt() xor 0xff).toByte()
        file.writeBytes(bytes)
        // Noticed at open (the frame's checksum) or at the read (the entry's): never returned.
        val e = assertThrows<CorruptedDataException> { LightningDB.openExisting(path()).use { it["victim"] } }
        assertEquals(-4, e.code)
        assertTrue("checksum" in e.message!!, e.message)
    }

    private fun indexOf(haystack: ByteArray, needle: ByteArray): Int {
        outer@ for (i in 0..haystack.size - needle.size) {
            for (j in needle.indices) if (haystack[i + j] != needle[j]) continue@outer
            return i
        }
        return -1
    }

    @Test
    fun `exceptions form one sealed hierarchy with the C API's codes`() {
        val codes = mapOf(
            -1 to "NullArgumentException", -2 to "InvalidUtf8Exception", -3 to "StorageIOException",
            -4 to "CorruptedDataException", -5 to "InvalidArgumentException", -6 to "OutOfMemoryException",
            -7 to "DatabaseLockedException", -8 to "TransactionConflictException", -99 to "UnknownErrorException",
        )
        assertEquals(codes.values.toSet(), LightningDBException::class.java.permittedSubclasses.map { it.simpleName }.toSet())
        for ((code, name) in codes) {
            val e = dev.lightningdb.exceptionOf(code, "message $code")
            assertEquals(name, e::class.simpleName)
            assertEquals(code, e.code)
            assertEquals("message $code", e.message)
        }
    }

    @Test
    fun `batches are atomic`() {
        LightningDB.open(path()) { db ->
            db.write(WriteBatch().put("a", "1").put("b", "2"))
            val bad = WriteBatch().put("c", "3").delete("a").put(ByteArray(0), ByteArray(0))
            assertEquals(3, bad.size)
            assertThrows<InvalidArgumentException> { db.write(bad) }
            assertFalse("c" in db)
            assertTrue("a" in db)
            db.write(bad.clear().delete("a").put("c", "3"))
            assertEquals(listOf("b", "c"), db.scan { keys(it) })
        }
    }

    @Test
    fun `scans with every bound and direction`() {
        twenty().use { db ->
            fun scan(start: Bound, end: Bound, reverse: Boolean) = db.scan(start, end, reverse) { keys(it) }
            val all = (0 until 20).map { "k%02d".format(it) }
            val cases = listOf(
                Triple(Bound.unbounded(), Bound.unbounded(), all),
                Triple(Bound.included("k05"), Bound.unbounded(), all.subList(5, 20)),
                Triple(Bound.excluded("k05"), Bound.unbounded(), all.subList(6, 20)),
                Triple(Bound.unbounded(), Bound.included("k05"), all.subList(0, 6)),
                Triple(Bound.unbounded(), Bound.excluded("k05"), all.subList(0, 5)),
                Triple(Bound.included("k03"), Bound.included("k07"), all.subList(3, 8)),
                Triple(Bound.excluded("k03"), Bound.excluded("k07"), all.subList(4, 7)),
                Triple(Bound.included("k03"), Bound.excluded("k07"), all.subList(3, 7)),
                Triple(Bound.excluded("k03"), Bound.included("k07"), all.subList(4, 8)),
                Triple(Bound.included("k045"), Bound.included("k065"), all.subList(5, 7)), // bounds between keys
                Triple(Bound.excluded("k07"), Bound.excluded("k03"), emptyList()), // empty range
            )
            for ((start, end, want) in cases) {
                assertEquals(want, scan(start, end, false), "$start..$end")
                assertEquals(want.reversed(), scan(start, end, true), "$start..$end reversed")
            }
            assertEquals(listOf("k10", "k11"), db.scanPrefix("k1").use { c -> c.asSequence().take(2).map { it.keyString }.toList() })
            assertEquals((19 downTo 10).map { "k$it" }, db.scanPrefix("k1", reverse = true).use { c -> keys(c.asSequence()) })
            assertEquals(emptyList<String>(), db.scanPrefix("x").use { keys(it.asSequence()) })
        }
    }

    @Test
    fun `first reads the start of a range in one call and leaves no iterator behind`() {
        val db = twenty()
        // Larger than the buffer a first page is read into: read through the rest iterator.
        val big = ByteArray(40 * 1024) { 3 }
        db["big"] = big
        fun pairs(entries: List<Entry>) = entries.map { it.keyString to it.value.toList() }
        val ranges = listOf(
            Bound.unbounded() to Bound.unbounded(),
            Bound.included("k05") to Bound.unbounded(),
            Bound.excluded("k05") to Bound.included("k09"),
            Bound.included("k045") to Bound.excluded("k07"),
            Bound.excluded("k07") to Bound.excluded("k03"),
            Bound.included("a") to Bound.included("k01"),
        )
        for ((start, end) in ranges) for (reverse in listOf(false, true)) for (n in listOf(0, 1, 3, 10, 100)) {
            val want = db.scan(start, end, reverse) { it.take(n).toList() }
            assertEquals(pairs(want), pairs(db.first(n, start, end, reverse)), "first($n) of $start..$end, reverse $reverse")
        }
        val live = { dev.lightningdb.Jni.liveHandles() }
        val before = live()
        repeat(50) {
            assertEquals(listOf("big", "k00", "k01"), db.first(3).map { it.keyString }) // "big" did not fit
            assertEquals(listOf("k05", "k06"), db.first(2, Bound.included("k05")).map { it.keyString })
        }
        assertTrue(live() <= before, "${live()} handles live, $before before")
        // Below first(n): no iterator is made for a range that only goes on past n entries,
        // one is made for an entry that did not fit, and none for a range that ended.
        val page = ByteArray(16 * 1024)
        val unfit = LongArray(1)
        fun rangeFirst(start: String, n: Int): Int {
            unfit[0] = -1
            val result = dev.lightningdb.Jni.rangeFirst(
                db.live(), false, 0, start.toByteArray(), null, false, page, n, unfit,
            )
            return (result and 0xffffffffL).toInt()
        }
        assertEquals(2, rangeFirst("k05", 2))
        assertEquals(0L, unfit[0], "an iterator for entries not asked for")
        assertEquals(2, rangeFirst("k18", 5))
        assertEquals(0L, unfit[0], "an iterator after the last entry")
        assertEquals(0, rangeFirst("big", 2))
        assertNotEquals(0L, unfit[0], "no iterator for the entry that did not fit")
        dev.lightningdb.Jni.iterFree(unfit[0])
        assertEquals(before, live())
        assertArrayEquals(big, db.first(1)[0].value)
        assertThrows<IllegalArgumentException> { db.first(-1) }
        db.beginTransaction().use { tx ->
            tx["k051"] = "mine"
            tx.delete("k06")
            assertEquals(listOf("k05", "k051", "k07"), tx.first(3, Bound.included("k05")).map { it.keyString })
            tx.rollback()
            assertThrows<InvalidArgumentException> { tx.first(1) }
        }
        db.close()
        assertThrows<InvalidArgumentException> { db.first(1) }
    }

    @Test
    fun `an early exit closes the cursor and the database closes after`() {
        val db = twenty()
        val firstThree = mutableListOf<String>()
        val cursor = db.scan()
        cursor.use {
            for ((key, _) in it) {
                firstThree.add(key.decodeToString())
                if (firstThree.size == 3) break
            }
        }
        assertEquals(listOf("k00", "k01", "k02"), firstThree)
        assertFalse(cursor.hasNext())
        assertThrows<InvalidArgumentException> { cursor.next() }
        cursor.close() // twice: nothing happens
        db.close()
    }

    @Test
    fun `a large scan reads in pages and sees a snapshot`() {
        LightningDB.open(path()) { db ->
            val value = ByteArray(300) { 7 }
            db.write { for (i in 0 until 5000) put("key%05d".format(i), value) }
            db.scan().use { cursor ->
                db.write { for (i in 0 until 5000) delete("key%05d".format(i)) }
                var n = 0
                for ((key, v) in cursor) {
                    assertEquals("key%05d".format(n), key.decodeToString())
                    assertArrayEquals(value, v)
                    n++
                }
                assertEquals(5000, n)
            }
            assertEquals(0L, db.size())
        }
    }

    @Test
    fun `bounds on keys at the size limit`() {
        // The JNI path turns an excluded start or an included end into the next key after it;
        // at the size limit that key cannot be the key and a zero byte.
        val max = 16384
        val a = ByteArray(max) { 'a'.code.toByte() }
        val ab = a.copyOf().also { it[max - 1] = 'b'.code.toByte() }
        val ff = ByteArray(max) { 0xff.toByte() }
        LightningDB.open(path()) { db ->
            db.write { put(a, "a".toByteArray()); put(ab, "ab".toByteArray()); put("b", "b"); put(ff, "ff".toByteArray()) }
            fun values(start: Bound, end: Bound, reverse: Boolean = false) =
                db.scan(start, end, reverse) { seq -> seq.map { it.valueString }.toList() }
            assertEquals(listOf("ab", "b", "ff"), values(Bound.excluded(a), Bound.unbounded()))
            assertEquals(listOf("a"), values(Bound.unbounded(), Bound.included(a)))
            assertEquals(listOf("a", "ab"), values(Bound.included(a), Bound.included(ab)))
            assertEquals(listOf("ab", "a"), values(Bound.included(a), Bound.included(ab), reverse = true))
            assertEquals(emptyList<String>(), values(Bound.excluded(ff), Bound.unbounded()))
            assertEquals(listOf("a", "ab", "b", "ff"), values(Bound.unbounded(), Bound.included(ff)))
            db.transaction { tx -> assertEquals(listOf("ff"), tx.scan(Bound.excluded("b")).use { c -> c.asSequence().map { it.valueString }.toList() }) }
        }
    }

    @Test
    fun `values larger than the JNI buffers come back whole`() {
        val big = ByteArray(3 shl 20) { (it * 31).toByte() }
        LightningDB.open(path()) { db ->
            db["big"] = big
            db["small"] = "s"
            assertArrayEquals(big, db["big"])
            assertEquals("s", db.getString("small"))
            val scanned = db.scan { seq -> seq.toList() }
            assertEquals(listOf("big", "small"), scanned.map { it.keyString })
            assertArrayEquals(big, scanned[0].value)
            db.transaction { tx -> assertArrayEquals(big, tx["big"]) }
        }
    }

    @Test
    fun `cursors, transactions and databases left unclosed are released when collected`() {
        fun live() = dev.lightningdb.Jni.liveHandles()
        val before = live()
        fun leak() {
            val db = twenty()
            repeat(20) { db.scan().next() } // each cursor is a C iterator
            db.close()
            val other = LightningDB.open(path("other"))
            repeat(20) { other.beginTransaction()["k"] = "v" }
            // `other` itself is never closed either.
        }
        leak()
        val deadline = System.nanoTime() + 20_000_000_000L
        while (live() > before && System.nanoTime() < deadline) {
            System.gc()
            Thread.sleep(50)
        }
        // Not equal: objects other tests left behind may be collected meanwhile too.
        assertTrue(live() <= before, "${live()} handles live, $before before")
        // The forgotten database was closed when collected: its directory can be opened again.
        LightningDB.open(path("other")).use { assertFalse("k" in it) }
    }

    @Test
    fun `streams close their cursor`() {
        twenty().use { db ->
            val keys = db.scanPrefix("k0").stream().use { s -> s.map { it.keyString }.collect(Collectors.toList()) }
            assertEquals((0..9).map { "k0$it" }, keys)
        }
    }

    @Test
    fun `transactions scan their own writes`() {
        twenty().use { db ->
            db.transaction { tx ->
                tx["k050"] = "new"
                tx.delete("k00")
                val seen = tx.scan(Bound.unbounded(), Bound.excluded("k06")).use { keys(it.asSequence()) }
                assertEquals(listOf("k01", "k02", "k03", "k04", "k05", "k050"), seen)
            }
        }
    }

    @Test
    fun `config has named defaults and round-trips`() {
        val config = Config(cacheSize = 8.MiB, syncMode = SyncMode.NORMAL)
        assertEquals(4096, config.pageSize)
        assertEquals(64L shl 20, Config().cacheSize)
        assertEquals(config, Config.builder().cacheSize(8L shl 20).syncMode(SyncMode.NORMAL).build())
        LightningDB.open(path(), config).use { db ->
            assertEquals(config, db.config)
            assertEquals(File(path()).canonicalPath, File(db.path).canonicalPath)
        }
    }

    @Test
    fun `concurrent readers on threads see consistent values`() {
        LightningDB.open(path(), Config(syncMode = SyncMode.OFF)).use { db ->
            db.write { for (i in 0 until 1000) put("k$i", "v$i") }
            val pool = Executors.newFixedThreadPool(4)
            val readers = (0 until 4).map {
                pool.submit<Int> {
                    var checked = 0
                    repeat(5) {
                        for (i in 0 until 1000) {
                            assertEquals("v$i", db.getString("k$i"))
                            checked++
                        }
                        assertEquals(1000, db.scanPrefix("k").use { c -> c.asSequence().count() })
                    }
                    checked
                }
            }
            // A writer goes on meanwhile with keys the readers do not look at.
            for (i in 0 until 200) db["w$i"] = "x"
            assertEquals(4 * 5 * 1000, readers.sumOf { it.get(60, TimeUnit.SECONDS) })
            pool.shutdown()
        }
    }

    @Test
    fun `a second process reads while this one writes`() {
        LightningDB.open(path()).use { db ->
            db["shared"] = "from the writer"
            val java = File(System.getProperty("java.home"), "bin/java").path
            val child = ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), ReadOnlyChild::class.java.name, path())
                .redirectErrorStream(true).start()
            val output = child.inputStream.bufferedReader().readText()
            assertTrue(child.waitFor(60, TimeUnit.SECONDS))
            assertEquals(0, child.exitValue(), output)
            assertEquals(listOf("value: from the writer", "write refused: InvalidArgumentException"), output.trim().lines())
        }
    }

    @Test
    fun `one copy of the native library serves both paths`() {
        LightningDB.open(path()).use { it["k"] = "v" }
        dev.lightningdb.generated.version() // the generated API is loaded too
        val copies = File("/proc/self/maps").readLines()
            .filter { "lightning_db_ffi" in it }
            .map { it.substringAfterLast(' ') }
            .toSet()
        assertEquals(1, copies.size, copies.toString())
    }
}

/** Run by `a second process reads while this one writes`: opens read-only, reads, tries to write. */
object ReadOnlyChild {
    @JvmStatic
    fun main(args: Array<String>) {
        LightningDB.openExisting(args[0], Config(readOnly = true)).use { db ->
            println("value: ${db.getString("shared")}")
            try {
                db["shared"] = "from the reader"
                println("write accepted")
            } catch (e: LightningDBException) {
                println("write refused: ${e::class.simpleName}")
            }
        }
    }
}
