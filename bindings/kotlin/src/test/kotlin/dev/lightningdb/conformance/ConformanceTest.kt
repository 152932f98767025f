// Runs tests/conformance/scenarios.json (format: tests/conformance/README.md) through both
// ways into the library, against the one copy of it that the tests load from the classpath:
// - `generated`: the UniFFI-generated API alone (JNA for every call);
// - `idiomatic`: the package's own API (dev.lightningdb.LightningDB), whose hot calls go
//   through JNI.
// Both must satisfy every scenario: that is what shows the fast path gives the same results
// and the same errors. It mirrors bindings/python/tests/conformance.py step for step, so a
// scenario means the same thing in every language.
package dev.lightningdb.conformance

import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.DynamicContainer
import org.junit.jupiter.api.DynamicNode
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths

private val SCENARIOS: Path = Paths.get(
    System.getenv("LIGHTNING_DB_CONFORMANCE")
        ?: System.getProperty("lightningdb.scenarios")
        ?: "../../tests/conformance/scenarios.json",
)

class ConformanceTest {
    /** One dynamic test per scenario and path, named after them, so reports list each. */
    @TestFactory
    fun scenarios(): List<DynamicNode> {
        val scenarios = load()
        return listOf(GeneratedApi, IdiomaticApi).map { api ->
            DynamicContainer.dynamicContainer(
                api.name,
                scenarios.map { scenario ->
                    DynamicTest.dynamicTest("${api.name}: ${scenario.getString("name")}") {
                        val root = Files.createTempDirectory("lightning-db-conformance-")
                        try {
                            Runner(api, root).run(scenario)
                        } finally {
                            root.toFile().deleteRecursively()
                        }
                    }
                },
            )
        }
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

/** A scenario's bound: null = unbounded, else whether it is included, and its key. */
class BoundSpec(val included: Boolean, val key: ByteArray)

fun toBound(spec: Any?): BoundSpec? {
    if (spec == null || spec == JSONObject.NULL) return null
    val obj = spec as JSONObject
    require(obj.length() == 1) { "a bound has one field: $spec" }
    return when {
        obj.has("included") -> BoundSpec(true, toBytes(obj.get("included")))
        obj.has("excluded") -> BoundSpec(false, toBytes(obj.get("excluded")))
        else -> throw IllegalArgumentException("not a bound: $spec")
    }
}

/** One operation of a `write`: a put (value not null) or a delete. */
class Op(val key: ByteArray, val value: ByteArray?)

/** Whether a result equals a scalar expectation of the scenario (JSON bool, integer). */
fun sameScalar(got: Any?, want: Any?): Boolean = when (want) {
    is Boolean -> got == want
    is Int, is Long -> got is Long && got == (want as Number).toLong()
    else -> false
}

class StepFailed(message: String) : AssertionError(message)

// ---- the API a runner drives: one adapter per path ---------------------------------------

/** An error as the scenarios name it: the UDL variant and the library's message. */
class ApiError(val variant: String, message: String, cause: Throwable) : Exception(message, cause)

interface Api {
    val name: String
    fun create(path: String, config: JSONObject?): Db
    fun open(path: String, config: JSONObject?): Db

    /** Runs [body], turning this path's exceptions into [ApiError]. */
    fun <T> call(body: () -> T): T
}

interface Db {
    fun close()
    fun put(key: ByteArray, value: ByteArray)
    fun get(key: ByteArray): ByteArray?
    fun delete(key: ByteArray): Boolean
    fun contains(key: ByteArray): Boolean
    fun len(): Long
    fun write(ops: List<Op>)
    fun scan(start: BoundSpec?, end: BoundSpec?, reverse: Boolean): Cur
    fun scanPrefix(prefix: ByteArray, reverse: Boolean): Cur
    fun begin(): Tx
    fun backup(dest: String)
    fun checkpoint()
    fun compact()
    fun verify(): Map<String, Any>
    fun stats(): Map<String, Any>

    /** Frees what close() leaves (the generated object); a no-op where close() frees all. */
    fun release()
}

interface Tx {
    fun get(key: ByteArray): ByteArray?
    fun put(key: ByteArray, value: ByteArray)
    fun delete(key: ByteArray)
    fun contains(key: ByteArray): Boolean
    fun scan(start: BoundSpec?, end: BoundSpec?, reverse: Boolean): Cur
    fun scanPrefix(prefix: ByteArray, reverse: Boolean): Cur
    fun commit()
    fun rollback()
    fun release()
}

interface Cur {
    /** Up to [count] pairs, fewer only at the end. */
    fun next(count: Int): List<Pair>
    fun release()
}

/** Runs one scenario in directory [root] through [api], holding the handles its steps name. */
class Runner(private val api: Api, private val root: Path) {
    private val dbs = mutableMapOf<String, Db>()
    private val openedWith = mutableMapOf<String, kotlin.Pair<String, JSONObject?>>()
    private val txs = mutableMapOf<String, Tx>()
    private val cursors = mutableMapOf<String, Cur>()

    // Every object the scenario made, replaced ones too, released at the end (in reverse:
    // cursors and transactions before the databases they came from).
    private val made = mutableListOf<() -> Unit>()

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
                    api.call { db.close() }
                } catch (e: ApiError) {
                    // Already closed by the scenario: expected here.
                }
            }
            for (release in made.reversed()) release()
        }
    }

    private fun step(scenario: JSONObject, step: JSONObject) {
        val wantError = step.optString("expect_error", null)
        val result = try {
            api.call { execute(scenario, step) }
        } catch (e: StepFailed) {
            throw e
        } catch (e: ApiError) {
            val kind = e.variant
            val message = e.message ?: ""
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
            @Suppress("UNCHECKED_CAST")
            val got = result as Map<String, Any>
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

    private fun drain(cursor: Cur): List<Pair> {
        val out = mutableListOf<Pair>()
        while (true) {
            val page = cursor.next(1000)
            out.addAll(page)
            if (page.size < 1000) return out
        }
    }

    private fun keepDb(db: Db) = db.also { made.add(it::release) }
    private fun keepTx(tx: Tx) = tx.also { made.add(it::release) }
    private fun keepCur(cur: Cur) = cur.also { made.add(it::release) }

    private fun execute(scenario: JSONObject, step: JSONObject): Any? {
        val op = step.getString("op")
        val name = step.optString("db", "main")
        val config = if (step.has("config")) step.optJSONObject("config") else scenario.optJSONObject("config")
        val path = root.resolve(step.optString("path", "db")).toString()
        when (op) {
            "create", "open" -> {
                val db = if (op == "create") api.create(path, config) else api.open(path, config)
                dbs[name] = keepDb(db)
                openedWith[name] = path to config
                return Unit
            }
            "reopen" -> {
                dbs.getValue(name).close()
                val (lastPath, lastConfig) = openedWith.getValue(name)
                dbs[name] = keepDb(api.open(lastPath, lastConfig))
                return Unit
            }
            "tx_get", "tx_put", "tx_delete", "tx_contains", "tx_scan", "tx_scan_prefix", "commit", "rollback" ->
                return executeTx(op, txs.getValue(step.getString("tx")), step)
            "next" -> return cursors.getValue(step.getString("cursor")).next(step.getInt("count"))
        }
        val db = dbs.getValue(name)
        val key = if (step.has("key")) toBytes(step.get("key")) else ByteArray(0)
        return when (op) {
            "close" -> db.close()
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
                    Op("$keyPrefix$n".toByteArray(), "$valuePrefix$n".toByteArray())
                })
            }
            "scan", "scan_prefix" -> scan(op, step, db::scan, db::scanPrefix)
            "begin" -> {
                txs[step.getString("tx")] = keepTx(db.begin())
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

    private fun executeTx(op: String, tx: Tx, step: JSONObject): Any? {
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
        scan: (BoundSpec?, BoundSpec?, Boolean) -> Cur,
        scanPrefix: (ByteArray, Boolean) -> Cur,
    ): Any? {
        val reverse = step.optBoolean("reverse", false)
        val cursor = keepCur(
            if (op == "scan") scan(toBound(step.opt("start")), toBound(step.opt("end")), reverse)
            else scanPrefix(toBytes(step.get("prefix")), reverse),
        )
        if (step.has("cursor")) {
            cursors[step.getString("cursor")] = cursor
            return Unit
        }
        return drain(cursor)
    }

    private fun batchOp(spec: JSONObject): Op =
        if (spec.has("put")) toPair(spec.get("put")).let { Op(it.key, it.value) }
        else Op(toBytes(spec.get("delete")), null)
}
