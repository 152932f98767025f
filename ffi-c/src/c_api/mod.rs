//! The C ABI of the integration guide (`lightning_db_*`).
//!
//! cbindgen turns this module (and its submodules, in declaration order) into
//! `ffi-c/include/lightning_db_ffi.h`; the doc comments below become the header's
//! documentation, so they are written for C programmers. The general rules
//! (handles, errors, memory, threads) are in the header's preamble, in
//! `ffi-c/cbindgen.toml`.
//!
//! Every entry point is thin: it checks its arguments, translates them, calls the
//! engine and translates the outcome (`boundary`). Handles handed to C are keys
//! into tables of live objects, never addresses (`handles`), which is what makes a
//! freed or invented handle a detectable error instead of undefined behaviour.

// The memory and validity rules of every function are written, in C terms, in its
// doc comment ("Memory:" paragraphs) because that text is what the header shows;
// a Rust-style `# Safety` section would repeat them in the wrong vocabulary.
#![allow(clippy::missing_safety_doc)]

mod info;

mod config;

mod database;

mod batch;

mod maintenance;

mod transaction;

mod iterator;

pub use crate::boundary::errors::LightningDBError;
pub use batch::*;
pub use config::*;
pub use database::*;
pub use info::*;
pub use iterator::*;
pub use maintenance::*;
pub use transaction::*;

/// The longest key accepted, in bytes. Keys are 1 to this many bytes long.
pub const LIGHTNING_DB_MAX_KEY_SIZE: usize = 16384;

/// The longest value accepted, in bytes (256 MiB). Values may be empty.
pub const LIGHTNING_DB_MAX_VALUE_SIZE: usize = 268435456;

// The header states the limits as literals (cbindgen cannot evaluate a path into
// another crate); these assertions keep them equal to the engine's.
const _: () = assert!(LIGHTNING_DB_MAX_KEY_SIZE == lightning_db::MAX_KEY_SIZE);
const _: () = assert!(LIGHTNING_DB_MAX_VALUE_SIZE == lightning_db::MAX_VALUE_SIZE);

/// An open database. Opaque: obtained from `lightning_db_create` or
/// `lightning_db_open`, released with `lightning_db_close` or `lightning_db_free`.
pub struct LightningDB {
    _opaque: [u8; 0],
}

/// Options for `lightning_db_create` / `lightning_db_open`. Opaque: obtained from
/// `lightning_db_config_new`, released with `lightning_db_config_free`.
pub struct LightningDBConfig {
    _opaque: [u8; 0],
}

/// A group of puts and deletes applied atomically by `lightning_db_write_batch`.
/// Opaque: obtained from `lightning_db_batch_new`, released with
/// `lightning_db_batch_free`.
pub struct LightningDBWriteBatch {
    _opaque: [u8; 0],
}

/// An ordered scan over a snapshot. Opaque: obtained from `lightning_db_iter_*`,
/// released with `lightning_db_iter_free`.
pub struct LightningDBIterator {
    _opaque: [u8; 0],
}

/// A byte buffer returned by the library (a value, or a key during iteration).
///
/// Memory: `data` is owned by the caller once returned and must be released
/// exactly once with `lightning_db_free_result(data, len)`; never with `free()`.
/// `data` is NULL (and `len` 0) when there is nothing: an absent key, the end of an
/// iteration, or a failed call. A present but empty value has a non-NULL `data`
/// and `len` 0 (and must be released too). The bytes are not NUL-terminated.
#[repr(C)]
#[derive(Debug)]
pub struct LightningDBResult {
    pub data: *mut u8,
    pub len: usize,
}

impl LightningDBResult {
    pub(crate) const EMPTY: LightningDBResult = LightningDBResult {
        data: std::ptr::null_mut(),
        len: 0,
    };
}

/// When a commit is forced to stable storage; values for
/// `lightning_db_config_set_sync_mode`. In every mode a commit has been handed to
/// the operating system before the call returns, so it survives the process being
/// killed; the modes differ on power loss.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LightningDBSyncMode {
    /// Default. The commit is on stable storage (fdatasync) before the call returns;
    /// concurrent committers share one sync. Survives power loss.
    SyncFull = 0,
    /// A background thread syncs shortly after each commit (within 100 ms); a power
    /// loss loses at most that last interval, and keeps a prefix of the commits.
    SyncNormal = 1,
    /// Synced only by checkpoint, close, segment roll-over and compaction.
    SyncOff = 2,
}

/// Counters and sizes filled in by `lightning_db_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct LightningDBStats {
    /// Keys currently stored.
    pub live_keys: u64,
    /// Encoded bytes of the newest record of every live key.
    pub live_bytes: u64,
    /// Bytes of all segment files (live and dead data).
    pub total_bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Sequence number of the latest commit.
    pub last_seq: u64,
    /// Point reads of records of 1 KiB and more answered from the value cache
    /// (smaller records are read from the map, past the cache, and not counted).
    pub cache_hits: u64,
    /// Point reads of records of 1 KiB and more that went to the segment files.
    pub cache_misses: u64,
    /// Compactions run through this handle (explicit or background).
    pub compactions: u64,
    /// Commits made through this handle.
    pub commits: u64,
    /// fdatasync calls made through this handle.
    pub fsyncs: u64,
    /// Checkpoints written through this handle.
    pub checkpoints: u64,
}

/// What one `lightning_db_compact` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct LightningDBCompactionReport {
    pub segments_before: u64,
    pub segments_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Live records rewritten into new segments.
    pub records_copied: u64,
}

/// What `lightning_db_verify` read and found.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct LightningDBVerifyReport {
    /// Segment files read.
    pub segments: u64,
    /// Records (puts and deletes) read with a good checksum.
    pub records: u64,
    /// Bytes of those records.
    pub bytes: u64,
    /// Keys currently stored.
    pub live_keys: u64,
    /// Live keys whose newest value cannot be read back intact.
    pub unreadable_keys: u64,
    /// Damaged places found (0 for a clean database).
    pub corruptions: u64,
}
