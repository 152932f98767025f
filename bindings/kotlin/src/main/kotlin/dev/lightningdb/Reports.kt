package dev.lightningdb

/** Counters and sizes of an open database. */
data class Stats(
    val liveKeys: Long,
    /** Encoded bytes of the newest record of every live key. */
    val liveBytes: Long,
    /** Bytes of all segment files. */
    val totalBytes: Long,
    val segments: Long,
    /** Sequence number of the latest commit. */
    val lastSeq: Long,
    /** Point reads of records of 1 KiB and more answered from the value cache; smaller records are read past it and not counted. */
    val cacheHits: Long,
    /** Point reads of records of 1 KiB and more that went to the segments. */
    val cacheMisses: Long,
    val compactions: Long,
    /** Commits made through this handle. */
    val commits: Long,
    /** fdatasync calls made through this handle. */
    val fsyncs: Long,
    val checkpoints: Long,
)

/** One damaged place found by [LightningDB.verify]. */
data class Corruption(val file: String, val offset: Long, val reason: String)

/** What [LightningDB.verify] read and found. */
data class VerifyReport(
    val segments: Long,
    /** Records read with a good checksum. */
    val records: Long,
    val bytes: Long,
    val liveKeys: Long,
    /** Live keys whose newest value cannot be read back intact. */
    val unreadableKeys: Long,
    val corruptions: List<Corruption>,
    /** True when nothing damaged was found. */
    val isClean: Boolean,
)

/** What one compaction did. */
data class CompactionReport(
    val segmentsBefore: Long,
    val segmentsAfter: Long,
    val bytesBefore: Long,
    val bytesAfter: Long,
    val recordsCopied: Long,
)
