// The conformance runner's adapter for the UniFFI-generated API (every call over JNA).
package dev.lightningdb.conformance

import dev.lightningdb.generated.BatchOp
import dev.lightningdb.generated.Config
import dev.lightningdb.generated.Cursor
import dev.lightningdb.generated.Database
import dev.lightningdb.generated.KeyBound
import dev.lightningdb.generated.LightningDbException
import dev.lightningdb.generated.SyncMode
import dev.lightningdb.generated.Transaction
import org.json.JSONObject

/** A `config` object: the UDL's field names, every missing field at its default. */
fun toGeneratedConfig(spec: JSONObject?): Config? {
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
 * The UDL variant name and the engine's message of a generated error. Kotlin's generated
 * classes are not named exactly as the UDL's variants (UniFFI turns a trailing "Error" into
 * "Exception": IoError is IoException), so each is mapped by hand; `detail` is the variant's
 * one field (named `message` in the UDL, see ffi-c/uniffi.toml).
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

private fun bound(spec: BoundSpec?): KeyBound = when {
    spec == null -> KeyBound.Unbounded
    spec.included -> KeyBound.Included(spec.key)
    else -> KeyBound.Excluded(spec.key)
}

object GeneratedApi : Api {
    override val name = "generated"

    override fun create(path: String, config: JSONObject?): Db = GeneratedDb(Database.create(path, toGeneratedConfig(config)))
    override fun open(path: String, config: JSONObject?): Db = GeneratedDb(Database.open(path, toGeneratedConfig(config)))

    override fun <T> call(body: () -> T): T = try {
        body()
    } catch (e: LightningDbException) {
        val (kind, message) = variant(e)
        throw ApiError(kind, message, e)
    }
}

private class GeneratedCur(val cursor: Cursor) : Cur {
    override fun next(count: Int): List<Pair> {
        val out = mutableListOf<Pair>()
        while (out.size < count) {
            val page = cursor.nextPage(minOf(count - out.size, 100).toUInt())
            if (page.isEmpty()) break
            page.mapTo(out) { Pair(it.key, it.value) }
        }
        return out
    }

    override fun release() = cursor.close()
}

private class GeneratedDb(val db: Database) : Db {
    override fun close() = db.closeDatabase()
    override fun put(key: ByteArray, value: ByteArray) = db.put(key, value)
    override fun get(key: ByteArray) = db.get(key)
    override fun delete(key: ByteArray) = db.delete(key)
    override fun contains(key: ByteArray) = db.contains(key)
    override fun len() = db.len().toLong()
    override fun write(ops: List<Op>) =
        db.write(ops.map { if (it.value != null) BatchOp.Put(it.key, it.value) else BatchOp.Delete(it.key) })

    override fun scan(start: BoundSpec?, end: BoundSpec?, reverse: Boolean): Cur =
        GeneratedCur(db.scan(bound(start), bound(end), reverse))

    override fun scanPrefix(prefix: ByteArray, reverse: Boolean): Cur = GeneratedCur(db.scanPrefix(prefix, reverse))
    override fun begin(): Tx = GeneratedTx(db.beginTransaction())
    override fun backup(dest: String) = db.backup(dest)
    override fun checkpoint() = db.checkpoint()
    override fun compact() {
        db.compact()
    }

    override fun verify(): Map<String, Any> = db.verify().let {
        mapOf(
            "segments" to it.segments.toLong(), "records" to it.records.toLong(), "bytes" to it.bytes.toLong(),
            "live_keys" to it.liveKeys.toLong(), "unreadable_keys" to it.unreadableKeys.toLong(),
            "corruptions" to it.corruptions.size.toLong(), "is_clean" to it.isClean,
        )
    }

    override fun stats(): Map<String, Any> = db.stats().let {
        mapOf(
            "live_keys" to it.liveKeys.toLong(), "live_bytes" to it.liveBytes.toLong(),
            "total_bytes" to it.totalBytes.toLong(), "segments" to it.segments.toLong(),
            "last_seq" to it.lastSeq.toLong(), "cache_hits" to it.cacheHits.toLong(),
            "cache_misses" to it.cacheMisses.toLong(), "compactions" to it.compactions.toLong(),
            "commits" to it.commits.toLong(), "fsyncs" to it.fsyncs.toLong(), "checkpoints" to it.checkpoints.toLong(),
        )
    }

    override fun release() = db.close()
}

private class GeneratedTx(val tx: Transaction) : Tx {
    override fun get(key: ByteArray) = tx.get(key)
    override fun put(key: ByteArray, value: ByteArray) = tx.put(key, value)
    override fun delete(key: ByteArray) = tx.delete(key)
    override fun contains(key: ByteArray) = tx.contains(key)
    override fun scan(start: BoundSpec?, end: BoundSpec?, reverse: Boolean): Cur =
        GeneratedCur(tx.scan(bound(start), bound(end), reverse))

    override fun scanPrefix(prefix: ByteArray, reverse: Boolean): Cur = GeneratedCur(tx.scanPrefix(prefix, reverse))
    override fun commit() = tx.commit()
    override fun rollback() = tx.rollback()
    override fun release() = tx.close()
}
