// Runs tests/conformance/scenarios.json (format: tests/conformance/README.md)
// through the UniFFI-generated Kotlin API alone, against the shared cdylib
// target/release/liblightning_db_ffi.so (pom.xml points the generated loader at
// it). It mirrors bindings/python/tests/conformance.py, step for step, so that a
// scenario means the same thing in every language.
package dev.lightningdb.conformance

import dev.lightningdb.BatchOp
import dev.lightningdb.Config
import dev.lightningdb.Cursor
import dev.lightningdb.Database
import dev.lightningdb.KeyBound
import dev.lightningdb.LightningDbException
import dev.lightningdb.Stats
import dev.lightningdb.SyncMode
import dev.lightningdb.Transaction
import dev.lightningdb.VerifyReport
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths

private val SCENARIOS: Path = Paths.get(
    System.getenv("LIGHTNING_DB_CONFORMANCE")
        ?: System.getProperty("lightningdb.scenarios")
        ?: "../../tests/conformance/scenarios.json",
)

class ConformanceTest {
    /** One dynamic test per scenario, named after it, so reports list each. */
    @TestFactory
    fun scenarios(): List<DynamicTest> {
        checkLibrary()
        return load().map { scenario ->
            DynamicTest.dynamicTest(scenario.getString("name")) {
                val root = Files.createTempDirectory("lightning-db-conformance-")
                try {
                    Runner(root).run(scenario)
                } finally {
                    root.toFile().deleteRecursively()
                }
            }
        }
    }

    /** A missing library would otherwise surface as an UnsatisfiedLinkError in every scenario. */
    private fun checkLibrary() {
        val lib = System.getProperty("uniffi.component.lightning_db.libraryOverride") ?: return
        check(File(lib).isFile) { "$lib is missing: build it with `cargo build --release -p lightning-db-ffi`" }
    }
}

fun load(): List<JSONObject> {
    val data = JSONObject(Files.readString(SCENARIOS))
    val format = data.opt("format")
    require(format == 1) { "unknown conformance format $format in $SCENARIOS" }
    val scenarios = data.getJSONArray("scenarios")
    return (0 until scenarios.length()).map { scenarios.getJSONObject(it) }
}

// ---- values of the scenario format -------------------------------------------------------

fun toBytes(spec: Any?): ByteArray = when (spec) {
    is String -> spec.toByteArray(Charsets.UTF_8)
    is JSONObject -> when {
        spec.has("hex") -> hexToBytes(spec.getString("hex"))
        spec.has("fill") -> ByteArray(spec.getInt("len")) { spec.getInt("fill").toByte() }
        else -> throw IllegalArgumentException("not a bytes spec: $spec")
    }
    else -> throw IllegalArgumentException("not a bytes spec: $spec")
}

private fun hexToBytes(hex: String): ByteArray {
    require(hex.length % 2 == 0) { "odd hex length: $hex" }
    return ByteArray(hex.length / 2) { hex.substring(2 * it, 2 * it + 2).toInt(16).toByte() }
}

/** A key and value; a class of its own because ByteArray's equals is identity. */
class Pair(val key: ByteArray, val value: ByteArray) {
    override fun equals(other: Any?) =
        other is Pair && key.contentEquals(other.key) && value.contentEquals(other.value)

    override fun hashCode() = 31 * key.contentHashCode() + value.contentHashCode()
    override fun toString() = "(${show(key)}, ${show(value)})"
}

fun toPair(spec: Any?): Pair {
    val array = spec as JSONArray
    return Pair(toBytes(array.get(0)), toBytes(array.get(1)))
}

/** Bytes for a failure message: the text if it is printable ASCII, else hex; both cut short. */
fun show(bytes: ByteArray): String {
    val head = bytes.copyOf(minOf(bytes.size, 40))
    val more = if (bytes.size > 40) "…(${bytes.size} bytes)" else ""
    return if (head.all { it in 0x20..0x7e }) "\"${String(head, Charsets.US_ASCII)}\"$more"
    else "hex:" + head.joinToString("") { "%02x".format(it) } + more
}

fun toBound(spec: Any?): KeyBound {
    if (spec == null || spec == JSONObject.NULL) return KeyBound.Unbounded
    val obj = spec as JSONObject
    require(obj.length() == 1) { "a bound has one field: $spec" }
    return when {
        obj.has("included") -> KeyBound.Included(toBytes(obj.get("included")))
        obj.has("excluded") -> KeyBound.Excluded(toBytes(obj.get("excluded")))
        else -> throw IllegalArgumentException("not a bound: $spec")
    }
}

/** A `config` object: the UDL's field names, every missing field at its default. */
fun toConfig(spec: JSONObject?): Config? {
    if (spec == null) return null
    val config = Config()
    for (field in spec.keySet()) {
        when (field) {
            "page_size" -> config.pageSize = spec.getLong(field).toUInt()
            "cache_size" -> config.cacheSize = spec.getLong(field).toULong()
            "sync_mode" -> config.syncMode = SyncMode.valueOf(spec.getString(field).uppercase())
            "read_only" -> config.readOnly = spec.getBoolean(field)
            "segment_size" -> config.segmentSize = spec.getLong(field).toULong()
            "auto_compact" -> config.autoCompact = spec.getBoolean(field)
            "compaction_dead_ratio" -> config.compactionDeadRatio = spec.getDouble(field)
            "compaction_min_dead_bytes" -> config.compactionMinDeadBytes = spec.getLong(field).toULong()
            "normal_sync_interval_ms" -> config.normalSyncIntervalMs = spec.getLong(field).toULong()
            else -> throw IllegalArgumentException("unknown config field $field")
        }
    }
    return config
}

/**
 * The UDL variant name and the engine's message of a generated error. Kotlin's
 * generated classes are not named exactly as the UDL's variants (UniFFI turns a
 * trailing "Error" into "Exception": IoError is IoException), so each is mapped
 * by hand; `detail` is the variant's one field (named `message` in the UDL, see
 * the workaround in pom.xml).
 */
fun variant(e: LightningDbException): kotlin.Pair<String, String> = when (e) {
    is LightningDbException.NullPointer -> "NullPointer" to e.detail
    is LightningDbException.InvalidUtf8 -> "InvalidUtf8" to e.detail
    is LightningDbException.IoException -> "IoError" to e.detail
    is LightningDbException.CorruptedData -> "CorruptedData" to e.detail
    is LightningDbException.InvalidArgument -> "InvalidArgument" to e.detail
    is LightningDbException.OutOfMemory -> "OutOfMemory" to e.detail
    is LightningDbException.DatabaseLocked -> "DatabaseLocked" to e.detail
    is LightningDbException.TransactionConflict -> "TransactionConflict" to e.detail
    is LightningDbException.Unknown -> "Unknown" to e.detail
}

/** The partial records `stats` and `verify` are compared by, under the UDL's field names. */
fun fields(stats: Stats): Map<String, Any> = mapOf(
    "live_keys" to stats.liveKeys, "live_bytes" to stats.liveBytes, "total_bytes" to stats.totalBytes,
    "segments" to stats.segments, "last_seq" to stats.lastSeq, "cache_hits" to stats.cacheHits,
    "cache_misses" to stats.cacheMisses, "compactions" to stats.compactions, "commits" to stats.commits,
    "fsyncs" to stats.fsyncs, "checkpoints" to stats.checkpoints,
)

fun fields(report: VerifyReport): Map<String, Any> = mapOf(
    "segments" to report.segments, "records" to report.records, "bytes" to report.bytes,
    "live_keys" to report.liveKeys, "unreadable_keys" to report.unreadableKeys,
    "corruptions" to report.corruptions.size.toULong(), "is_clean" to report.isClean,
)

/** Whether a result equals a scalar expectation of the scenario (JSON bool, integer). */
fun sameScalar(got: Any?, want: Any?): Boolean = when (want) {
    is Boolean -> got == want
    is Int, is Long -> got is ULong && got == (want as Number).toLong().toULong()
    else -> false
}

class StepFailed(message: String) : AssertionError(message)

/** Runs one scenario in directory [root], holding the handles its steps name. */
class Runner(private val root: Path) {
    private val dbs = mutableMapOf<String, Database>()
    private val openedWith = mutableMapOf<String, kotlin.Pair<String, JSONObject?>>()
    private val txs = mutableMapOf<String, Transaction>()
    private val cursors = mutableMapOf<String, Cursor>()

    // Every object the scenario made, replaced ones too: their Rust side is freed
    // at the end (destroy) rather than whenever the JVM's cleaner gets to it.
    private val made = mutableListOf<AutoCloseable>()

    fun run(scenario: JSONObject) {
        try {
            val steps = scenario.getJSONArray("steps")
            for (index in 0 until steps.length()) {
                val step = steps.getJSONObject(index)
                try {
                    step(scenario, step)
                } catch (e: StepFailed) {
                    throw StepFailed("'${scenario.getString("name")}' step $index ${step.toString().take(300)}: ${e.message}")
                }
            }
        } finally {
            for (db in dbs.values) {
                try {
                    db.closeDatabase()
                } catch (e: LightningDbException) {
                    // Already closed by the scenario: expected here.
                }
            }
            // Cursors and transactions before the databases they came from.
            for (obj in made.reversed()) obj.close()
        }
    }

    private fun step(scenario: JSONObject, step: JSONObject) {
        val wantError = step.optString("expect_error", null)
        val result = try {
            execute(scenario, step)
        } catch (e: StepFailed) {
            throw e
        } catch (e: LightningDbException) {
            val (kind, message) = variant(e)
            if (wantError == null) throw StepFailed("failed with $kind: $message")
            if (kind != wantError) throw StepFailed("failed with $kind ($message), expected $wantError")
            val contains = step.optString("error_contains", "")
            if (!message.contains(contains)) throw StepFailed("message \"$message\" lacks \"$contains\"")
            return
        } catch (e: Exception) {
            throw StepFailed("raised a non-Lightning DB error $e").also { it.initCause(e) }
        }
        if (wantError != null) throw StepFailed("succeeded (${result.toString().take(200)}), expected $wantError")
        check(step, result)
    }

    private fun check(step: JSONObject, result: Any?) {
        val op = step.getString("op")
        if (op == "stats" || op == "verify") {
            val got = if (result is Stats) fields(result) else fields(result as VerifyReport)
            val want = step.optJSONObject("expect") ?: JSONObject()
            for (field in want.keySet()) {
                require(field in got) { "no field $field in the result of $op" }
                if (!sameScalar(got[field], want.get(field))) {
                    throw StepFailed("$field is ${got[field]}, expected ${want.get(field)}")
                }
            }
            return
        }
        if (result is List<*>) { // pairs of a scan or next
            @Suppress("UNCHECKED_CAST")
            checkPairs(step, result as List<Pair>)
            return
        }
        if (!step.has("expect")) return
        val spec = step.get("expect")
        val ok = when {
            spec == JSONObject.NULL -> result == null
            spec is Boolean || spec is Int || spec is Long -> sameScalar(result, spec)
            else -> result is ByteArray && result.contentEquals(toBytes(spec))
        }
        if (!ok) {
            val got = if (result is ByteArray) show(result) else result.toString()
            val want = if (spec == JSONObject.NULL || spec is Boolean || spec is Number) spec.toString() else show(toBytes(spec))
            throw StepFailed("got $got, expected $want")
        }
    }

    private fun checkPairs(step: JSONObject, pairs: List<Pair>) {
        fun show(ps: List<Pair>) = ps.take(20).toString()
        if (step.has("expect")) {
            val array = step.getJSONArray("expect")
            val want = (0 until array.length()).map { toPair(array.get(it)) }
            if (want != pairs) throw StepFailed("got ${show(pairs)}, expected ${show(want)}")
        }
        if (step.has("expect_count") && pairs.size != step.getInt("expect_count")) {
            throw StepFailed("got ${pairs.size} pairs, expected ${step.getInt("expect_count")}")
        }
        if (step.has("expect_first") && pairs.firstOrNull() != toPair(step.get("expect_first"))) {
            throw StepFailed("first pair ${show(pairs.take(1))}, expected ${step.get("expect_first")}")
        }
        if (step.has("expect_last") && pairs.lastOrNull() != toPair(step.get("expect_last"))) {
            throw StepFailed("last pair ${show(pairs.takeLast(1))}, expected ${step.get("expect_last")}")
        }
    }

    /** Up to [count] pairs, fewer only at the end; read in pages of at most 100. */
    private fun next(cursor: Cursor, count: Int): List<Pair> {
        val out = mutableListOf<Pair>()
        while (out.size < count) {
            val page = cursor.nextPage(minOf(count - out.size, 100).toUInt())
            if (page.isEmpty()) break
            page.mapTo(out) { Pair(it.key, it.value) }
        }
        return out
    }

    private fun drain(cursor: Cursor): List<Pair> {
        val out = mutableListOf<Pair>()
        while (true) {
            val page = next(cursor, 1000)
            out.addAll(page)
            if (page.size < 1000) return out
        }
    }

    private fun <T : AutoCloseable> keep(obj: T): T = obj.also { made.add(it) }

    private fun execute(scenario: JSONObject, step: JSONObject): Any? {
        val op = step.getString("op")
        val name = step.optString("db", "main")
        val config = if (step.has("config")) step.optJSONObject("config") else scenario.optJSONObject("config")
        val path = root.resolve(step.optString("path", "db")).toString()
        when (op) {
            "create", "open" -> {
                val db = if (op == "create") Database.create(path, toConfig(config)) else Database.open(path, toConfig(config))
                dbs[name] = keep(db)
                openedWith[name] = path to config
                return Unit
            }
            "reopen" -> {
                dbs.getValue(name).closeDatabase()
                val (lastPath, lastConfig) = openedWith.getValue(name)
                dbs[name] = keep(Database.open(lastPath, toConfig(lastConfig)))
                return Unit
            }
            "tx_get", "tx_put", "tx_delete", "tx_contains", "tx_scan", "tx_scan_prefix", "commit", "rollback" ->
                return executeTx(op, txs.getValue(step.getString("tx")), step)
            "next" -> return next(cursors.getValue(step.getString("cursor")), step.getInt("count"))
        }
        val db = dbs.getValue(name)
        val key = if (step.has("key")) toBytes(step.get("key")) else ByteArray(0)
        return when (op) {
            "close" -> db.closeDatabase()
            "put" -> db.put(key, toBytes(step.get("value")))
            "get" -> db.get(key)
            "delete" -> db.delete(key)
            "contains" -> db.contains(key)
            "len" -> db.len()
            "write" -> {
                val ops = step.getJSONArray("ops")
                db.write((0 until ops.length()).map { batchOp(ops.getJSONObject(it)) })
            }
            "fill" -> {
                val keyPrefix = step.getString("key_prefix")
                val valuePrefix = step.getString("value_prefix")
                db.write((0 until step.getInt("count")).map { i ->
                    val n = "%05d".format(i)
                    BatchOp.Put("$keyPrefix$n".toByteArray(), "$valuePrefix$n".toByteArray())
                })
            }
            "scan", "scan_prefix" -> scan(op, step, db::scan, db::scanPrefix)
            "begin" -> {
                txs[step.getString("tx")] = keep(db.beginTransaction())
                Unit
            }
            "backup" -> db.backup(root.resolve(step.getString("dest")).toString())
            "checkpoint" -> db.checkpoint()
            "compact" -> db.compact()
            "verify" -> db.verify()
            "stats" -> db.stats()
            else -> throw IllegalArgumentException("unknown operation $op")
        }
    }

    private fun executeTx(op: String, tx: Transaction, step: JSONObject): Any? {
        val key = if (step.has("key")) toBytes(step.get("key")) else ByteArray(0)
        return when (op) {
            "tx_get" -> tx.get(key)
            "tx_put" -> tx.put(key, toBytes(step.get("value")))
            "tx_delete" -> tx.delete(key)
            "tx_contains" -> tx.contains(key)
            "tx_scan", "tx_scan_prefix" -> scan(op.removePrefix("tx_"), step, tx::scan, tx::scanPrefix)
            "commit" -> tx.commit()
            "rollback" -> tx.rollback()
            else -> throw IllegalArgumentException("unknown operation $op")
        }
    }

    private fun scan(
        op: String,
        step: JSONObject,
        scan: (KeyBound, KeyBound, Boolean) -> Cursor,
        scanPrefix: (ByteArray, Boolean) -> Cursor,
    ): Any? {
        val reverse = step.optBoolean("reverse", false)
        val cursor = keep(
            if (op == "scan") scan(toBound(step.opt("start")), toBound(step.opt("end")), reverse)
            else scanPrefix(toBytes(step.get("prefix")), reverse),
        )
        if (step.has("cursor")) {
            cursors[step.getString("cursor")] = cursor
            return Unit
        }
        return drain(cursor)
    }

    private fun batchOp(spec: JSONObject): BatchOp =
        if (spec.has("put")) toPair(spec.get("put")).let { BatchOp.Put(it.key, it.value) }
        else BatchOp.Delete(toBytes(spec.get("delete")))
}
