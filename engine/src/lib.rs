//! # Lightning DB
//!
//! An embedded, crash-safe, transactional key-value store.
//!
//! * Data lives in append-only **segments** of checksummed frames; one frame is one
//!   commit, so after a crash a commit is there whole or not at all (`format`,
//!   `segment`).
//! * An in-memory, persistent ordered **index** maps each live key to its newest
//!   value on disk; every commit publishes an immutable snapshot of it, so reads,
//!   scans and transactions never wait for writers (`index`, `iter`).
//! * **Recovery** loads the last checkpoint and replays the log after it
//!   (`checkpoint`, `recovery`); **compaction** rewrites live data and drops the rest
//!   (`compaction`).
//!
//! ```
//! use lightning_db::{Config, Database, KeyRange};
//! let dir = tempfile::tempdir().unwrap();
//! let db = Database::create(dir.path().join("db"), Config::default())?;
//! db.put(b"hello", b"world")?;
//! assert_eq!(db.get(b"hello")?.as_deref(), Some(&b"world"[..]));
//!
//! let mut tx = db.begin()?;
//! tx.put(b"k1", b"v1")?;
//! tx.commit()?;
//!
//! for item in db.range(KeyRange::prefix(b"k"))? {
//!     let (key, value) = item?;
//!     println!("{key:?} = {value:?}");
//! }
//! # Ok::<(), lightning_db::Error>(())
//! ```

mod btree;
mod checkpoint;
mod compaction;
mod config;
mod db;
mod error;
mod format;
mod hash_index;
mod index;
mod iter;
mod maintenance;
mod prefetch;
mod recovery;
mod segment;
mod sync;
mod transaction;
mod write_set;

/// The record decoder and segment scanner, for the fuzz targets in `fuzz/`.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::format::{
        begin_frame, check_frame, decode_entry, encode_entry, encode_seal_frame, entries,
        entry_len, finish_frame, header_len, valid_frame_after, EntryKind, EntryRef, Frame,
        FrameError, FrameStart, Record, FRAME_HEADER_LEN,
    };
    pub use crate::segment::{scan, ScanEnd};
}

#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub use sync::fault_injection;

pub use config::{Config, SyncMode, DEFAULT_CACHE_SIZE, DEFAULT_PAGE_SIZE, DEFAULT_SEGMENT_SIZE};
pub use db::{Database, WriteBatch};
pub use error::{Error, ErrorKind, Result};
pub use format::{MAX_COMMIT_SIZE, MAX_KEY_SIZE, MAX_VALUE_SIZE};
pub use iter::{Iter, KeyRange};
pub use transaction::Transaction;

/// Counters and sizes reported by [`Database::stats`].
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
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub compactions: u64,
    /// Commits made through this handle.
    pub commits: u64,
    /// `fdatasync` calls made through this handle.
    pub fsyncs: u64,
    pub checkpoints: u64,
}

/// One damaged place found by [`Database::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub file: String,
    pub offset: u64,
    pub reason: String,
}

/// What [`Database::verify`] read and found.
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

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<crate::Database>();
        assert_send_sync::<crate::Transaction>();
        assert_send_sync::<crate::Iter>();
    }
}
