// The conformance runner's adapter for the package's own API (dev.lightningdb), whose hot
// calls go through JNI.
package dev.lightningdb.conformance

import dev.lightningdb.Bound
import dev.lightningdb.Config
import dev.lightningdb.Cursor
import dev.lightningdb.LightningDB
import dev.lightningdb.LightningDBException
import dev.lightningdb.SyncMode
import dev.lightningdb.Transaction
import dev.lightningdb.WriteBatch
import org.json.JSONObject

/** A `config` object as the idiomatic [Config]: named arguments, the rest at their defaults. */
fun toConfig(spec: JSONObject?): Config {
    var config = Config()
    if (spec == null) return config
    for (field in spec.keySet()) {
        config = when (field) {
            "page_size" -> config.copy(pageSize = spec.getInt(field))
            "cache_size" -> config.copy(cacheSize = spec.getLong(field))
            "sync_mode" -> config.copy(syncMode = SyncMode.valueOf(spec.getString(field).uppercase()))
            "read_only" -> config.copy(readOnly = spec.getBoolean(field))
            "segment_size" -> config.copy(segmentSize = spec.getLong(field))
            "auto_compact" -> config.copy(autoCompact = spec.getBoolean(field))
            "compaction_dead_ratio" -> config.copy(compactionDeadRatio = spec.getDouble(field))
            "compaction_min_dead_bytes" -> config.copy(compactionMinDeadBytes = spec.getLong(field))
            "normal_sync_interval_ms" -> config.copy(normalSyncIntervalMs = spec.getLong(field))
            else -> throw IllegalArgumentException("unknown config field $field")
        }
    }
    return config
}

/** The UDL's variant name of an error code. */
fun variantOf(code: Int): String = when (code) {
    -1 -> "NullPointer"
    -2 -> "InvalidUtf8"
    -3 -> "IoError"
    -4 -> "CorruptedData"
    -5 -> "InvalidArgument"
    -6 -> "OutOfMemory"
    -7 -> "DatabaseLocked"
    -8 -> "TransactionConflict"
    else -> "Unknown"
}

private fun bound(spec: BoundSpec?): Bound = when {
    spec == null -> Bound.unbounded()
    spec.included -> Bound.included(spec.key)
    else -> Bound.excluded(spec.key)
}

object IdiomaticApi : Api {
    override val name = "idiomatic"

    override fun create(path: String, config: JSONObject?): Db = IdiomaticDb(LightningDB.open(path, toConfig(config)))
    override fun open(path: String, config: JSONObject?): Db = IdiomaticDb(LightningDB.openExisting(path, toConfig(config)))

    override fun <T> call(body: () -> T): T = try {
        body()
    } catch (e: LightningDBException) {
        throw ApiError(variantOf(e.code), e.message ?: "", e)
    }
}

private class IdiomaticCur(val cursor: Cursor) : Cur {
    override fun next(count: Int): List<Pair> = cursor.next(count).map { Pair(it.key, it.value) }
    override fun release() = cursor.close()
}

private class IdiomaticDb(val db: LightningDB) : Db {
    override fun close() = db.close()
    override fun put(key: ByteArray, value: ByteArray) = db.put(key, value)
    override fun get(key: ByteArray) = db[key]
    override fun delete(key: ByteArray) = db.delete(key)
    override fun contains(key: ByteArray) = key in db
    override fun len() = db.size()
    override fun write(ops: List<Op>) {
        val batch = WriteBatch()
        for (op in ops) if (op.value != null) batch.put(op.key, op.value) else batch.delete(op.key)
        db.write(batch)
    }

    override fun scan(start: BoundSpec?, end: BoundSpec?, reverse: Boolean): Cur =
        IdiomaticCur(db.scan(bound(start), bound(end), reverse))

    override fun scanPrefix(prefix: ByteArray, reverse: Boolean): Cur = IdiomaticCur(db.scanPrefix(prefix, reverse))
    override fun begin(): Tx = IdiomaticTx(db.beginTransaction())
    override fun backup(dest: String) = db.backup(dest)
    override fun checkpoint() = db.checkpoint()
    override fun compact() {
        db.compact()
    }

    override fun verify(): Map<String, Any> = db.verify().let {
        mapOf(
            "segments" to it.segments, "records" to it.records, "bytes" to it.bytes,
            "live_keys" to it.liveKeys, "unreadable_keys" to it.unreadableKeys,
            "corruptions" to it.corruptions.size.toLong(), "is_clean" to it.isClean,
        )
    }

    override fun stats(): Map<String, Any> = db.stats().let {
        mapOf(
            "live_keys" to it.liveKeys, "live_bytes" to it.liveBytes, "total_bytes" to it.totalBytes,
            "segments" to it.segments, "last_seq" to it.lastSeq, "cache_hits" to it.cacheHits,
            "cache_misses" to it.cacheMisses, "compactions" to it.compactions, "commits" to it.commits,
            "fsyncs" to it.fsyncs, "checkpoints" to it.checkpoints,
        )
    }

    // close() released everything; closing an unclosed one is the runner's job.
    override fun release() = Unit
}

private class IdiomaticTx(val tx: Transaction) : Tx {
    override fun get(key: ByteArray) = tx[key]
    override fun put(key: ByteArray, value: ByteArray) = tx.put(key, value)
    override fun delete(key: ByteArray) = tx.delete(key)
    override fun contains(key: ByteArray) = key in tx
    override fun scan(start: BoundSpec?, end: BoundSpec?, reverse: Boolean): Cur =
        IdiomaticCur(tx.scan(bound(start), bound(end), reverse))

    override fun scanPrefix(prefix: ByteArray, reverse: Boolean): Cur = IdiomaticCur(tx.scanPrefix(prefix, reverse))
    override fun commit() = tx.commit()
    override fun rollback() = tx.rollback()
    override fun release() = tx.close()
}
