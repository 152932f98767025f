package dev.lightningdb

import dev.lightningdb.generated.Config as GeneratedConfig
import dev.lightningdb.generated.SyncMode as GeneratedSyncMode

/** When a commit is forced to stable storage; in every mode it survives the process being killed. */
enum class SyncMode {
    /** On stable storage before the call returns (concurrent committers share one sync). */
    FULL,

    /** Synced by a background thread within [Config.normalSyncIntervalMs]; power loss loses at most that. */
    NORMAL,

    /** Synced only by checkpoint, close, segment roll-over and compaction. */
    OFF,
}

/**
 * Options for opening a database; every field defaults to the engine's default, so name only
 * what you change: `Config(cacheSize = 256.MiB, syncMode = SyncMode.NORMAL)`. From Java:
 * `Config.builder().cacheSize(256L << 20).build()`.
 */
data class Config @JvmOverloads constructor(
    /** I/O unit in bytes: a power of two between 512 and 65536. */
    val pageSize: Int = 4096,
    /** Bytes of values kept in the read cache, for records of 1 KiB and more; 0 disables it. */
    val cacheSize: Long = 64.MiB,
    val syncMode: SyncMode = SyncMode.FULL,
    /** Open without the writer lock (other processes may write); writes fail with [InvalidArgumentException]. */
    val readOnly: Boolean = false,
    /** A segment file is sealed and a new one started at this size. */
    val segmentSize: Long = 64.MiB,
    /** Compact in the background when dead bytes pass [compactionDeadRatio] and [compactionMinDeadBytes]. */
    val autoCompact: Boolean = true,
    val compactionDeadRatio: Double = 0.5,
    val compactionMinDeadBytes: Long = 16.MiB,
    /** Background sync period of [SyncMode.NORMAL]. */
    val normalSyncIntervalMs: Long = 100,
) {
    /** Java's way to name only the fields that differ from the defaults. */
    class Builder internal constructor(private var config: Config) {
        fun pageSize(value: Int) = apply { config = config.copy(pageSize = value) }
        fun cacheSize(value: Long) = apply { config = config.copy(cacheSize = value) }
        fun syncMode(value: SyncMode) = apply { config = config.copy(syncMode = value) }
        fun readOnly(value: Boolean) = apply { config = config.copy(readOnly = value) }
        fun segmentSize(value: Long) = apply { config = config.copy(segmentSize = value) }
        fun autoCompact(value: Boolean) = apply { config = config.copy(autoCompact = value) }
        fun compactionDeadRatio(value: Double) = apply { config = config.copy(compactionDeadRatio = value) }
        fun compactionMinDeadBytes(value: Long) = apply { config = config.copy(compactionMinDeadBytes = value) }
        fun normalSyncIntervalMs(value: Long) = apply { config = config.copy(normalSyncIntervalMs = value) }
        fun build(): Config = config
    }

    /** A builder starting from this configuration. */
    fun toBuilder(): Builder = Builder(this)

    companion object {
        /** A builder starting from the defaults. */
        @JvmStatic
        fun builder(): Builder = Builder(Config())
    }

    internal fun toGenerated(): GeneratedConfig {
        // Negative sizes would wrap to huge unsigned values and be accepted; refuse them here
        // with the error the library gives for other bad values.
        fun nonNegative(name: String, value: Long): ULong {
            if (value < 0) throw InvalidArgumentException("$name must not be negative, got $value")
            return value.toULong()
        }
        if (pageSize < 0) throw InvalidArgumentException("pageSize must not be negative, got $pageSize")
        return GeneratedConfig(
            pageSize = pageSize.toUInt(),
            cacheSize = nonNegative("cacheSize", cacheSize),
            syncMode = when (syncMode) {
                SyncMode.FULL -> GeneratedSyncMode.FULL
                SyncMode.NORMAL -> GeneratedSyncMode.NORMAL
                SyncMode.OFF -> GeneratedSyncMode.OFF
            },
            readOnly = readOnly,
            segmentSize = nonNegative("segmentSize", segmentSize),
            autoCompact = autoCompact,
            compactionDeadRatio = compactionDeadRatio,
            compactionMinDeadBytes = nonNegative("compactionMinDeadBytes", compactionMinDeadBytes),
            normalSyncIntervalMs = nonNegative("normalSyncIntervalMs", normalSyncIntervalMs),
        )
    }
}

internal fun GeneratedConfig.toConfig() = Config(
    pageSize = pageSize.toInt(),
    cacheSize = cacheSize.toLong(),
    syncMode = when (syncMode) {
        GeneratedSyncMode.FULL -> SyncMode.FULL
        GeneratedSyncMode.NORMAL -> SyncMode.NORMAL
        GeneratedSyncMode.OFF -> SyncMode.OFF
    },
    readOnly = readOnly,
    segmentSize = segmentSize.toLong(),
    autoCompact = autoCompact,
    compactionDeadRatio = compactionDeadRatio,
    compactionMinDeadBytes = compactionMinDeadBytes.toLong(),
    normalSyncIntervalMs = normalSyncIntervalMs.toLong(),
)

/** This many KiB, in bytes: `cacheSize = 512.KiB`. */
val Int.KiB: Long get() = toLong() shl 10

/** This many MiB, in bytes: `cacheSize = 64.MiB`. */
val Int.MiB: Long get() = toLong() shl 20

/** This many GiB, in bytes. */
val Int.GiB: Long get() = toLong() shl 30
