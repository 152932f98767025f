// The JVM benchmark: Lightning DB through JNI (dev.lightningdb, the idiomatic layer) and
// through UniFFI/JNA (dev.lightningdb.generated) beside lmdbjava and RocksDB's Java binding,
// each in a JVM of its own, on the same random 24-byte keys and 150-byte values. Every
// commit is durable in every store (Lightning DB SyncMode.FULL, LMDB without NOSYNC, RocksDB sync writes).
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
    init {
        RocksDB.loadLibrary()
    }
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

/** The stores, in the table's column order. */
val makers: List<(File) -> Store> = listOf(::LightningJni, ::LightningJna, ::Lmdb, ::Rocks)

fun workloads(keys: Int, singles: Int) = listOf(
    "get (random, $keys)",
    "single durable put ($singles commits)",
    "batched put (1,000 per commit, $keys)",
    "range of 10 (${keys / 10} ranges)",
    "full scan ($keys entries)",
)

fun intArg(args: Array<String>, name: String, default: Int) =
    args.indexOf(name).let { if (it >= 0) args[it + 1].toInt() else default }

/**
 * Each store runs in a JVM of its own (`--store i`), so that no store's garbage, JIT
 * state or heap layout weighs on another's rows; this JVM only starts them and prints
 * the table.
 */
fun main(args: Array<String>) {
    val store = intArg(args, "--store", -1)
    if (store >= 0) return measure(args, store)
    val keysArg = intArg(args, "--keys", 200_000)
    val singles = intArg(args, "--single-puts", 2_000)
    val launcher = ProcessHandle.current().info().command().orElse("java")
    val jvmArgs = java.lang.management.ManagementFactory.getRuntimeMXBean().inputArguments
    val results = ArrayList<DoubleArray>()
    val names = ArrayList<String>()
    for (s in makers.indices) {
        val command = listOf(launcher) + jvmArgs + listOf("-cp", System.getProperty("java.class.path"), "BenchKt") +
            args.toList() + listOf("--store", "$s")
        val process = ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start()
        val lines = process.inputStream.bufferedReader().readLines()
        check(process.waitFor() == 0) { "store $s failed: $lines" }
        names.add(lines.first())
        results.add(lines.drop(1).map { it.toDouble() }.toDoubleArray())
    }
    val lmdb = names.indexOf("lmdbjava")
    val jni = 0
    println("| operations per second | ${names.joinToString(" | ")} | JNI ÷ lmdbjava | JNI ÷ JNA |")
    println("|---|${"---:|".repeat(names.size + 2)}")
    for ((w, name) in workloads(keysArg, singles).withIndex()) {
        val r = DoubleArray(names.size) { results[it][w] }
        val cells = r.joinToString(" | ") { "%,.0f".format(it) }
        println("| $name | $cells | %.2f | %.2f |".format(r[jni] / r[lmdb], r[jni] / r[1]))
    }
}

/** The shortest time of [rounds] runs of [round]. */
fun best(rounds: Int, round: () -> Unit): Long = (1..rounds).minOf { timed(round) }

fun getAll(store: Store, keys: List<ByteArray>, order: List<Int>) {
    for (i in order) checkNotNull(store.get(keys[i]))
}

fun rangeAll(store: Store, starts: List<ByteArray>) {
    for (start in starts) store.range(start, 10)
}

/** Runs every workload on store [s] and prints its name, then one rate per workload. */
fun measure(args: Array<String>, s: Int) {
    val keysArg = intArg(args, "--keys", 200_000)
    val singles = intArg(args, "--single-puts", 2_000)
    val rounds = intArg(args, "--rounds", 5)
    val random = Random(42)
    val keys = List(keysArg) { random.nextBytes(24) }
    val values = List(keysArg) { random.nextBytes(150) }
    val order = keys.indices.shuffled(random)
    val rangeStarts = List(keysArg / 10) { keys[random.nextInt(keysArg)] }
    val singleKeys = List(singles) { random.nextBytes(24) }
    val rates = DoubleArray(5)

    val dir = Files.createTempDirectory("lightning-db-jvm-bench").toFile()
    makers[s](File(dir, "store")).use { store ->
        println(store.name)
        System.err.println("::: ${store.name}")
        val batched = timed {
            for (from in 0 until keysArg step 1000) {
                val to = minOf(from + 1000, keysArg)
                store.putBatch(keys.subList(from, to), values.subList(from, to))
            }
        }
        rates[2] = rate(keysArg, batched)
        // Best of the rounds: the first ones let the JIT compile the paths. Each round is a
        // call of its own, so the JIT compiles the loop as a method, not on-stack mid-loop.
        rates[0] = rate(keysArg, best(rounds) { getAll(store, keys, order) })
        rates[3] = rate(rangeStarts.size, best(rounds) { rangeAll(store, rangeStarts) })
        rates[4] = rate(keysArg, best(rounds) {
            val n = store.scanAll()
            check(n == keysArg) { "${store.name} scanned $n of $keysArg" }
        })
        val single = timed { for (k in singleKeys) store.put(k, values[0]) }
        rates[1] = rate(singles, single)
    }
    dir.deleteRecursively()
    for (r in rates) println(r)
}
