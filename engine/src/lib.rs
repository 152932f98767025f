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
//!
//! ## Layers
//!
//! Each module uses only modules on lower layers (a higher number is a higher
//! layer); `ci/check-layers` fails when the code and this map disagree.
//!
//! <!-- layers:begin -->
//! ```text
//! 11 db          the handle: open, close, the public methods
//! 10 background  the periodic sync of SyncMode::Normal, background compaction
//!                and checkpoints
//! 9 compaction   rewrites live records of sealed segments, drops the rest
//! 9 transaction  snapshot reads, buffered writes, optimistic commit
//! 8 iter         ordered scans over a version
//! 8 maintenance  checkpoint (and when one is worth it at rest, and of which kind),
//!                hot backup, verify, the rebuild of a damaged index file from the
//!                segments
//! 8 open         the writer lock; recovery up to a writer; read-only loading
//! 7 shared       the state all of the above share: commit, point reads, snapshots
//! 6 log_writer   the active segment: append, allocate, roll, seal; group commit,
//!                the sync policy of each SyncMode, the failed-sync state
//! 5 recovery     load the checkpoint, replay the log after it (all of it
//!                when the checkpoint is damaged)
//! 5 version      immutable versions (snapshots) and their segment tables
//! 4 key_index    every live key: the index files, and the changes since in memory
//! 3 checkpoint   `index.ckpt`: an index file, or one of the earlier format;
//!                `index.delta`, the changes since it; `index.delta2`, those
//!                since that
//! 3 disk_index   the index files on disk: the last full one and up to two
//!                deltas over it
//! 2 hash_index   the point-read index of the changes: key hash to record location
//! 2 index_file   the checkpoint's sorted, mapped index file and its hash table
//! 1 btree        the persistent B+ tree the changes are held in
//! 1 config       Config and SyncMode
//! 1 entry_codec  the prefix-compressed index entries of index and checkpoint files
//! 1 segment      segment files: maps, reading records, scanning frames
//! 1 sync         every fsync, and the power-loss tests' hook
//! 1 tracker      which keys commits wrote while transactions are open
//! 0 error        Error and ErrorKind
//! 0 format       the record and frame encoding
//! 0 index        keys and value locations, the entries of the index
//! 0 pages_ahead  page-cache pages made on a second thread ahead of a file's writer
//! 0 prefetch     cache-line prefetch hints
//! 0 reports      Stats, VerifyReport, CompactionReport
//! 0 value_cache  recently read records of 1 KiB and more, for point reads
//! 0 write_set    a transaction's buffered writes
//! ```
//! <!-- layers:end -->

mod background;
mod btree;
mod checkpoint;
mod compaction;
mod config;
mod db;
mod disk_index;
mod entry_codec;
mod error;
mod format;
mod hash_index;
mod index;
mod index_file;
mod iter;
mod key_index;
mod log_writer;
mod maintenance;
mod open;
mod pages_ahead;
mod prefetch;
mod recovery;
mod reports;
mod segment;
mod shared;
mod sync;
mod tracker;
mod transaction;
mod value_cache;
mod version;
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

    /// Writes (key, seq, segment, offset, len) entries to `path` with the index
    /// file writer, naming `log_from` (segment, offset) as where the log after
    /// it begins.
    pub fn write_index_file(
        path: &std::path::Path,
        seq: u64,
        covered: &std::collections::BTreeSet<u32>,
        log_from: Option<(u32, u64)>,
        entries: &[(Vec<u8>, u64, u32, u32, u32)],
    ) -> crate::Result<()> {
        let locs = entries.iter().map(|(key, seq, segment, offset, len)| {
            let loc = crate::index::Loc {
                seq: *seq,
                segment: *segment,
                offset: *offset,
                len: *len,
            };
            Ok((key, loc))
        });
        crate::index_file::write_from(
            path,
            crate::index_file::REPLAYABLE,
            seq,
            covered,
            log_from.map(|(segment, offset)| crate::index_file::LogFrom { segment, offset }),
            entries.len(),
            locs,
        )
    }

    /// Writes a delta of (key, seq, segment, offset, len, removed) entries to
    /// `path`, over the index file at `base` if `names_base` and it opens,
    /// otherwise over a made-up one; `len` and `live_bytes` are what its meta
    /// says of the merged index.
    #[allow(clippy::too_many_arguments)]
    pub fn write_index_delta(
        path: &std::path::Path,
        base: &std::path::Path,
        names_base: bool,
        seq: u64,
        covered: &std::collections::BTreeSet<u32>,
        entries: &[(Vec<u8>, u64, u32, u32, u32, bool)],
        len: usize,
        live_bytes: u64,
    ) -> crate::Result<()> {
        let base = match crate::index_file::IndexFile::open(base) {
            Ok(file) if names_base => file.id,
            _ => crate::index_file::FileId { seq, crc: 0 },
        };
        let locs = entries
            .iter()
            .map(|(key, seq, segment, offset, len, removed)| {
                let loc = match removed {
                    true => crate::index::Loc {
                        seq: *seq,
                        segment: crate::index::REMOVED,
                        offset: 0,
                        len: 0,
                    },
                    false => crate::index::Loc {
                        seq: *seq,
                        segment: *segment,
                        offset: *offset,
                        len: *len,
                    },
                };
                Ok((key, loc))
            });
        let meta = crate::index_file::DeltaMeta {
            base,
            len,
            live_bytes,
            live_by_segment: entries
                .iter()
                .filter(|e| !e.5)
                .map(|e| (e.2, u64::from(e.4)))
                .collect(),
        };
        crate::index_file::write_delta(path, seq, covered, entries.len(), locs, &meta)
    }
}

#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub use sync::fault_injection;

pub use config::{Config, SyncMode, DEFAULT_CACHE_SIZE, DEFAULT_PAGE_SIZE, DEFAULT_SEGMENT_SIZE};
pub use db::{Database, WriteBatch};
pub use error::{Error, ErrorKind, Result};
pub use format::{MAX_COMMIT_SIZE, MAX_KEY_SIZE, MAX_VALUE_SIZE};
pub use iter::{Iter, KeyRange};
pub use reports::{CompactionReport, Corruption, Stats, VerifyReport};
pub use shared::Op;
pub use transaction::Transaction;

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
