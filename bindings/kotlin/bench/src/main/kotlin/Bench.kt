// The JVM benchmark: Lightning DB through JNI (dev.lightningdb, the idiomatic layer) and
// through UniFFI/JNA (dev.lightningdb.generated) beside lmdbjava and RocksDB's Java binding,
// in one JVM, on the same random 24-byte keys and 150-byte values. Every commit is durable
// in every store (Lightning DB SyncMode.FULL, LMDB without NOSYNC, RocksDB sync writes).
// Prints one table of operations per second and the ratio to lmdbjava. Run by ./run.
import dev.lightningdb.LightningDB
import dev.lightningdb.WriteBatch
import dev.lightningdb.generated.BatchOp
import dev.lightningdb.generated.Database
import dev.lightningdb.generated.KeyBound
import org.lmdbjava.DbiFlags
import org.lmdbjava.Env
import org.lmdbjava.KeyRange
import org.rocksdb.Options
import org.rocksdb.RocksDB
import org.rocksdb.WriteOptions
import java.io.File
import java.nio.ByteBuffer
import java.nio.file.Files
import kotlin.random.Random

interface Store : AutoCloseable {
    val name: String
    fun get(key: ByteArray): ByteArray?
    fun put(key: ByteArray, value: ByteArray)
    fun putBatch(keys: List<ByteArray>, values: List<ByteArray>)
    /** Reads up to [n] entries from [start] on; returns the bytes seen. */
    fun range(start: ByteArray, n: Int): Int
    /** Reads every entry; returns the number read. */
    fun scanAll(): Int
}

class LightningJni(dir: File) : Store {
    override val name = "Lightning DB (JNI)"
    private val db = LightningDB.open(dir.path)
    override fun get(key: ByteArray) = db[key]
    override fun put(key: ByteArray, value: ByteArray) = db.put(key, value)
    private val batch = WriteBatch()
    override fun putBatch(keys: List<ByteArray>, values: List<ByteArray>) {
        batch.clear()
        for (i in keys.indices) batch.put(keys[i], values[i])
        db.write(batch)
    }
    override fun range(start: ByteArray, n: Int): Int {
        var bytes = 0
        for ((k, v) in db.first(n, dev.lightningdb.Bound.included(start))) bytes += k.size + v.size
        return bytes
    }
    override fun scanAll(): Int = db.scan().use { c -> var n = 0; for (e in c) n++; n }
    override fun close() = db.close()
}

class LightningJna(dir: File) : Store {
    override val name = "Lightning DB (UniFFI/JNA)"
    private val db = Database.create(dir.path, null)
    override fun get(key: ByteArray) = db.get(key)
    override fun put(key: ByteArray, value: ByteArray) = db.put(key, value)
    override fun putBatch(keys: List<ByteArray>, values: List<ByteArray>) =
        db.write(keys.indices.map { BatchOp.Put(keys[it], values[it]) })
    override fun range(start: ByteArray, n: Int): Int = db.scan(KeyBound.Included(start), KeyBound.Unbounded, false).use { c ->
        c.nextPage(n.toUInt()).sumOf { it.key.size + it.value.size }
    }
    override fun scanAll(): Int = db.scanPrefix(ByteArray(0), false).use { c ->
        var n = 0
        while (true) {
            val page = c.nextPage(512u)
            if (page.isEmpty()) return n
            n += page.size
        }
        @Suppress("UNREACHABLE_CODE") n
    }
    override fun close() {
        db.closeDatabase()
        db.close()
    }
}

class Lmdb(dir: File) : Store {
    override val name = "lmdbjava"
    private val env: Env<ByteBuffer> = Env.create().setMapSize(4L shl 30).setMaxDbs(1).open(dir.also { it.mkdirs() })
    private val dbi = env.openDbi("bench", DbiFlags.MDB_CREATE)
    private val keyBuf = ByteBuffer.allocateDirect(511)
    private val valBuf = ByteBuffer.allocateDirect(1024)
    // One read transaction renewed per call (LMDB's cheap way to see the latest commit).
    private val reader = env.txnRead().also { it.reset() }

    private fun key(key: ByteArray) = keyBuf.clear().put(key).flip()
    private fun copy(buf: ByteBuffer) = ByteArray(buf.remaining()).also { buf.get(it) }

    override fun get(key: ByteArray): ByteArray? {
        reader.renew()
        try {
            return dbi.get(reader, key(key))?.let(::copy)
        } finally {
            reader.reset()
        }
    }
    override fun put(key: ByteArray, value: ByteArray) {
        dbi.put(key(key), valBuf.clear().put(value).flip())
    }
    override fun putBatch(keys: List<ByteArray>, values: List<ByteArray>) {
        env.txnWrite().use { txn ->
            for (i in keys.indices) dbi.put(txn, key(keys[i]), valBuf.clear().put(values[i]).flip())
            txn.commit()
        }
    }
    override fun range(start: ByteArray, n: Int): Int {
        reader.renew()
        try {
            dbi.iterate(reader, KeyRange.atLeast(key(start))).use { it ->
                var bytes = 0
                var seen = 0
                for (kv in it) {
                    bytes += copy(kv.key()).size + copy(kv.`val`()).size
                    if (++seen == n) break
                }
                return bytes
            }
        } finally {
            reader.reset()
        }
    }
    override fun scanAll(): Int {
        reader.renew()
        try {
            dbi.iterate(reader).use { it ->
                var n = 0
                for (kv in it) {
                    copy(kv.key()); copy(kv.`val`())
                    n++
                }
                return n
            }
        } finally {
            reader.reset()
        }
    }
    override fun close() {
        reader.close()
        env.close()
    }
}

class Rocks(dir: File) : Store {
    override val name = "rocksdbjni"
    private val options = Options().setCreateIfMissing(true)
    private val db = RocksDB.open(options, dir.path)
    private val sync = WriteOptions().setSync(true)
    override fun get(key: ByteArray): ByteArray? = db.get(key)
    override fun put(key: ByteArray, value: ByteArray) = db.put(sync, key, value)
    override fun putBatch(keys: List<ByteArray>, values: List<ByteArray>) {
        org.rocksdb.WriteBatch().use { b ->
            for (i in keys.indices) b.put(keys[i], values[i])
            db.write(sync, b)
        }
    }
    override fun range(start: ByteArray, n: Int): Int = db.newIterator().use { it ->
        var bytes = 0
        it.seek(start)
        var seen = 0
        while (it.isValid && seen < n) {
            bytes += it.key().size + it.value().size
            seen++
            it.next()
        }
        bytes
    }
    override fun scanAll(): Int = db.newIterator().use { it ->
        var n = 0
        it.seekToFirst()
        while (it.isValid) {
            it.key(); it.value()
            n++
            it.next()
        }
        n
    }
    override fun close() {
        db.close()
        sync.close()
        options.close()
    }
}

/** Operations per second of [ops] operations taking [nanos]. */
fun rate(ops: Int, nanos: Long) = ops * 1e9 / nanos

inline fun timed(block: () -> Unit): Long {
    val start = System.nanoTime()
    block()
    return System.nanoTime() - start
}

fun main(args: Array<String>) {
    val keysArg = args.indexOf("--keys").let { if (it >= 0) args[it + 1].toInt() else 200_000 }
    val singles = args.indexOf("--single-puts").let { if (it >= 0) args[it + 1].toInt() else 2_000 }
    val random = Random(42)
    val keys = List(keysArg) { random.nextBytes(24) }
    val values = List(keysArg) { random.nextBytes(150) }
    val order = keys.indices.shuffled(random)
    val rangeStarts = List(keysArg / 10) { keys[random.nextInt(keysArg)] }
    val singleKeys = List(singles) { random.nextBytes(24) }

    val root = Files.createTempDirectory("lightning-db-jvm-bench").toFile()
    RocksDB.loadLibrary()
    val makers: List<(File) -> Store> = listOf(::LightningJni, ::LightningJna, ::Lmdb, ::Rocks)
    val workloads = listOf(
        "get (random, $keysArg)",
        "single durable put ($singles commits)",
        "batched put (1,000 per commit, $keysArg)",
        "range of 10 (${rangeStarts.size} ranges)",
        "full scan ($keysArg entries)",
    )
    val results = LinkedHashMap<String, DoubleArray>()
    for (w in workloads) results[w] = DoubleArray(makers.size)
    val names = ArrayList<String>()

    for ((s, make) in makers.withIndex()) {
        val dir = File(root, "store$s")
        make(dir).use { store ->
            names.add(store.name)
            System.err.println("::: ${store.name}")
            val batched = timed {
                for (from in 0 until keysArg step 1000) {
                    val to = minOf(from + 1000, keysArg)
                    store.putBatch(keys.subList(from, to), values.subList(from, to))
                }
            }
            results.getValue(workloads[2])[s] = rate(keysArg, batched)
            // Warm-up round, then the measured one: the JIT compiles the paths first.
            var best = Long.MAX_VALUE
            repeat(3) {
                val t = timed { for (i in order) checkNotNull(store.get(keys[i])) }
                best = minOf(best, t)
            }
            results.getValue(workloads[0])[s] = rate(keysArg, best)
            best = Long.MAX_VALUE
            repeat(3) {
                val t = timed { for (start in rangeStarts) store.range(start, 10) }
                best = minOf(best, t)
            }
            results.getValue(workloads[3])[s] = rate(rangeStarts.size, best)
            best = Long.MAX_VALUE
            repeat(3) {
                var n = 0
                val t = timed { n = store.scanAll() }
                check(n == keysArg) { "${store.name} scanned $n of $keysArg" }
                best = minOf(best, t)
            }
            results.getValue(workloads[4])[s] = rate(keysArg, best)
            val single = timed { for (k in singleKeys) store.put(k, values[0]) }
            results.getValue(workloads[1])[s] = rate(singles, single)
        }
        dir.deleteRecursively()
    }
    root.deleteRecursively()

    val lmdb = names.indexOf("lmdbjava")
    val jni = 0
    println("| operations per second | ${names.joinToString(" | ")} | JNI ÷ lmdbjava | JNI ÷ JNA |")
    println("|---|${"---:|".repeat(names.size + 2)}")
    for ((w, r) in results) {
        val cells = r.joinToString(" | ") { "%,.0f".format(it) }
        println("| $w | $cells | %.2f | %.2f |".format(r[jni] / r[lmdb], r[jni] / r[1]))
    }
}
