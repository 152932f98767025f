//! What the handle reports: stats, verification and compaction results. Plain
//! data, re-exported at the crate root.

/// Counters and sizes reported by [`Database::stats`](crate::Database::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub live_keys: u64,
    /// Encoded bytes of the newest record of every live key.
    pub live_bytes: u64,
    /// Bytes of all segment files.
    pub total_bytes: u64,
    pub segments: u64,
    /// Sequence number of the latest commit.
    pub last_seq: u64,
    /// Point reads of records of 1 KiB and more (header, key and value) answered from
    /// the value cache; smaller records are read past it and not counted.
    pub cache_hits: u64,
    /// Point reads of records of 1 KiB and more that went to the segments.
    pub cache_misses: u64,
    pub compactions: u64,
    /// Commits made through this handle.
    pub commits: u64,
    /// `fdatasync` calls made through this handle.
    pub fsyncs: u64,
    pub checkpoints: u64,
}

/// One damaged place found by [`Database::verify`](crate::Database::verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub file: String,
    pub offset: u64,
    pub reason: String,
}

/// What [`Database::verify`](crate::Database::verify) read and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: u64,
    /// Records (puts and deletes) read with a good checksum.
    pub records: u64,
    pub bytes: u64,
    pub live_keys: u64,
    /// Live keys whose newest value cannot be read back intact.
    pub unreadable_keys: u64,
    pub corruptions: Vec<Corruption>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.corruptions.is_empty()
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    pub segments_before: u64,
    pub segments_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_copied: u64,
}
