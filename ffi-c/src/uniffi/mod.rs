//! The object interface of `idl/lightning_db.udl`: the scaffolding UniFFI
//! generates from the UDL (`include_scaffolding!` below) calls the `Database`,
//! `Transaction` and `Cursor` methods of this module. It is the complete API,
//! and what every generated wrapper (Kotlin, Swift, Python, Ruby) programs
//! against; a language's hot calls may take the C ABI instead, on the same open
//! database (`Database.native_handle()`).
//!
//! Translation only: every decision about data belongs to the engine.

use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use lightning_db as engine;

use crate::boundary::handles::{OpenDatabase, DATABASES};
use crate::boundary::{Failure, LightningDBError};

uniffi::include_scaffolding!("lightning_db");

/// Bytes of keys and values a cursor page holds at most, unless a single pair is
/// larger (it then travels alone): bounds the memory of a scan whatever its size.
pub(crate) const PAGE_BYTES: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Errors

/// Lists the UDL's error variants once, each beside its code in the boundary's
/// table: the conversions both ways are exhaustive matches, so a code without a
/// variant (or the reverse) does not compile.
macro_rules! error_variants {
    ($($variant:ident => $code:ident),* $(,)?) => {
        /// The UDL's `[Error]`: one variant per failure code, with the message.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum LightningDbError {
            $($variant { message: String },)*
        }

        impl LightningDbError {
            pub fn new(code: LightningDBError, message: impl Into<String>) -> Self {
                let message = message.into();
                match code {
                    $(LightningDBError::$code => Self::$variant { message },)*
                    LightningDBError::Success => Self::Unknown {
                        message: format!("a success reported as a failure: {message}"),
                    },
                }
            }

            /// The code of this error in the C API's table.
            pub fn code(&self) -> LightningDBError {
                match self {
                    $(Self::$variant { .. } => LightningDBError::$code,)*
                }
            }

            pub fn message(&self) -> &str {
                match self {
                    $(Self::$variant { message } => message,)*
                }
            }
        }
    };
}

error_variants! {
    NullPointer => NullPointer,
    InvalidUtf8 => InvalidUtf8,
    IoError => IoError,
    CorruptedData => CorruptedData,
    InvalidArgument => InvalidArgument,
    OutOfMemory => OutOfMemory,
    DatabaseLocked => DatabaseLocked,
    TransactionConflict => TransactionConflict,
    Unknown => UnknownError,
}

impl LightningDbError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            message: message.into(),
        }
    }
}

impl From<engine::Error> for LightningDbError {
    fn from(e: engine::Error) -> Self {
        // The variant already names the kind; the message is the engine's detail.
        Self::new(LightningDBError::from_kind(e.kind()), e.message())
    }
}

impl From<LightningDbError> for Failure {
    fn from(e: LightningDbError) -> Self {
        Failure::new(e.code(), e.message())
    }
}

impl From<Failure> for LightningDbError {
    fn from(f: Failure) -> Self {
        Self::new(f.code, f.message)
    }
}

impl std::fmt::Display for LightningDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code(), self.message())
    }
}

impl std::error::Error for LightningDbError {}

pub(crate) type Result<T, E = LightningDbError> = std::result::Result<T, E>;

/// A poisoned lock only means another call panicked (and was reported as
/// Unknown); the state it guards is still consistent, so keep serving.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Records and enums of the UDL

// The UDL's SyncMode, Stats and CompactionReport are the engine's own types
// (same names, fields and field types): UniFFI's converters are implemented for
// them through this crate's tag, so no mirror type and no copy is needed.
pub use engine::{CompactionReport, Stats, SyncMode};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub page_size: u32,
    pub cache_size: u64,
    pub sync_mode: SyncMode,
    pub read_only: bool,
    pub segment_size: u64,
    pub auto_compact: bool,
    pub compaction_dead_ratio: f64,
    pub compaction_min_dead_bytes: u64,
    pub normal_sync_interval_ms: u64,
}

impl Default for Config {
    /// The engine's defaults, which the UDL repeats as its default values.
    fn default() -> Self {
        Config::from(&engine::Config::default())
    }
}

impl From<&engine::Config> for Config {
    fn from(c: &engine::Config) -> Self {
        Config {
            page_size: u32::try_from(c.page_size).unwrap_or(u32::MAX),
            cache_size: c.cache_size as u64,
            sync_mode: c.sync_mode,
            read_only: c.read_only,
            segment_size: c.segment_size,
            auto_compact: c.auto_compact,
            compaction_dead_ratio: c.compaction_dead_ratio,
            compaction_min_dead_bytes: c.compaction_min_dead_bytes,
            normal_sync_interval_ms: c.normal_sync_interval_ms,
        }
    }
}

impl TryFrom<Config> for engine::Config {
    type Error = LightningDbError;
    fn try_from(c: Config) -> Result<Self> {
        let cache_size = usize::try_from(c.cache_size).map_err(|_| {
            LightningDbError::invalid(format!(
                "cache size {} does not fit this platform",
                c.cache_size
            ))
        })?;
        // The engine validates every value when it opens the database.
        Ok(engine::Config {
            page_size: c.page_size as usize,
            cache_size,
            sync_mode: c.sync_mode,
            read_only: c.read_only,
            segment_size: c.segment_size,
            auto_compact: c.auto_compact,
            compaction_dead_ratio: c.compaction_dead_ratio,
            compaction_min_dead_bytes: c.compaction_min_dead_bytes,
            normal_sync_interval_ms: c.normal_sync_interval_ms,
        })
    }
}

pub enum KeyBound {
    Included { key: Vec<u8> },
    Excluded { key: Vec<u8> },
    Unbounded,
}

impl From<KeyBound> for Bound<Vec<u8>> {
    fn from(b: KeyBound) -> Self {
        match b {
            KeyBound::Included { key } => Bound::Included(key),
            KeyBound::Excluded { key } => Bound::Excluded(key),
            KeyBound::Unbounded => Bound::Unbounded,
        }
    }
}

pub enum BatchOp {
    Put { key: Vec<u8>, value: Vec<u8> },
    Delete { key: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

pub struct Corruption {
    pub file: String,
    pub offset: u64,
    pub reason: String,
}

pub struct VerifyReport {
    pub segments: u64,
    pub records: u64,
    pub bytes: u64,
    pub live_keys: u64,
    pub unreadable_keys: u64,
    pub corruptions: Vec<Corruption>,
    pub is_clean: bool,
}

impl From<engine::VerifyReport> for VerifyReport {
    fn from(r: engine::VerifyReport) -> Self {
        VerifyReport {
            is_clean: r.is_clean(),
            segments: r.segments,
            records: r.records,
            bytes: r.bytes,
            live_keys: r.live_keys,
            unreadable_keys: r.unreadable_keys,
            corruptions: r
                .corruptions
                .into_iter()
                .map(|c| Corruption {
                    file: c.file,
                    offset: c.offset,
                    reason: c.reason,
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------
// Namespace functions

fn engine_config(config: Option<Config>) -> Result<engine::Config> {
    config.map_or_else(|| Ok(engine::Config::default()), engine::Config::try_from)
}

pub fn create(path: String, config: Option<Config>) -> Result<Arc<Database>> {
    Database::create(path, config).map(Arc::new)
}

pub fn open(path: String, config: Option<Config>) -> Result<Arc<Database>> {
    Database::open(path, config).map(Arc::new)
}

pub fn max_key_size() -> u32 {
    engine::MAX_KEY_SIZE as u32
}

pub fn max_value_size() -> u32 {
    engine::MAX_VALUE_SIZE as u32
}

pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

// ---------------------------------------------------------------------------
// Database

pub struct Database {
    /// Shared with the `LightningDB*` handles `native_handle()` lends out.
    db: Arc<engine::Database>,
}

fn key_range(start: KeyBound, end: KeyBound) -> engine::KeyRange {
    engine::KeyRange {
        start: start.into(),
        end: end.into(),
    }
}

impl Database {
    pub fn create(path: String, config: Option<Config>) -> Result<Self> {
        crate::init_logging();
        let db = engine::Database::create(path, engine_config(config)?)?;
        Ok(Database { db: Arc::new(db) })
    }

    pub fn open(path: String, config: Option<Config>) -> Result<Self> {
        crate::init_logging();
        let db = engine::Database::open(path, engine_config(config)?)?;
        Ok(Database { db: Arc::new(db) })
    }

    pub fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.put_slice(&key, &value)
    }

    pub(crate) fn put_slice(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.db.put(key, value)?)
    }

    pub fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        self.get_slice(&key)
    }

    pub(crate) fn get_slice(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?)
    }

    pub fn delete(&self, key: Vec<u8>) -> Result<bool> {
        self.delete_slice(&key)
    }

    pub(crate) fn delete_slice(&self, key: &[u8]) -> Result<bool> {
        Ok(self.db.delete(key)?)
    }

    pub fn contains(&self, key: Vec<u8>) -> Result<bool> {
        self.contains_slice(&key)
    }

    pub(crate) fn contains_slice(&self, key: &[u8]) -> Result<bool> {
        Ok(self.db.contains(key)?)
    }

    pub fn write(&self, ops: Vec<BatchOp>) -> Result<()> {
        let mut batch = engine::WriteBatch::new();
        for op in ops {
            match op {
                BatchOp::Put { key, value } => batch.put(key, value),
                BatchOp::Delete { key } => batch.delete(key),
            };
        }
        self.write_batch(&batch)
    }

    pub(crate) fn write_batch(&self, batch: &engine::WriteBatch) -> Result<()> {
        Ok(self.db.write(batch)?)
    }

    pub fn len(&self) -> Result<u64> {
        Ok(self.db.len()? as u64)
    }

    pub fn begin_transaction(&self) -> Result<Arc<Transaction>> {
        Ok(Arc::new(Transaction::new(self.db.begin()?)))
    }

    pub fn scan(&self, start: KeyBound, end: KeyBound, reverse: bool) -> Result<Arc<Cursor>> {
        self.scan_range(key_range(start, end), reverse)
    }

    pub fn scan_prefix(&self, prefix: Vec<u8>, reverse: bool) -> Result<Arc<Cursor>> {
        self.scan_range(engine::KeyRange::prefix(&prefix), reverse)
    }

    pub(crate) fn scan_range(&self, range: engine::KeyRange, reverse: bool) -> Result<Arc<Cursor>> {
        Ok(Arc::new(Cursor::new(self.db.range(range)?, reverse)))
    }

    pub fn checkpoint(&self) -> Result<()> {
        Ok(self.db.checkpoint()?)
    }

    pub fn compact(&self) -> Result<CompactionReport> {
        Ok(self.db.compact()?)
    }

    pub fn backup(&self, dest: String) -> Result<()> {
        Ok(self.db.backup(dest)?)
    }

    pub fn verify(&self) -> Result<VerifyReport> {
        Ok(self.db.verify()?.into())
    }

    pub fn stats(&self) -> Result<Stats> {
        Ok(self.db.stats()?)
    }

    pub fn refresh(&self) -> Result<()> {
        Ok(self.db.refresh()?)
    }

    pub fn close(&self) -> Result<()> {
        Ok(self.db.close()?)
    }

    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }

    pub fn path(&self) -> String {
        self.db.path().to_string_lossy().into_owned()
    }

    pub fn config(&self) -> Config {
        Config::from(self.db.config())
    }

    /// A `LightningDB*` of the C ABI for this same open database, so that a
    /// language's hot calls can take the C functions; release it with
    /// `lightning_db_release` (closing this object closes the database for
    /// both).
    pub fn native_handle(&self) -> u64 {
        DATABASES.insert(OpenDatabase::new(Arc::clone(&self.db))) as u64
    }

    /// The object over a database a `LightningDB*` handle refers to.
    pub(crate) fn shared(db: Arc<engine::Database>) -> Database {
        Database { db }
    }
}

// ---------------------------------------------------------------------------
// Transaction

pub struct Transaction {
    /// `None` once committed or rolled back.
    tx: Mutex<Option<engine::Transaction>>,
    snapshot_seq: u64,
}

fn finished() -> LightningDbError {
    LightningDbError::invalid("the transaction is finished (committed or rolled back)")
}

impl Transaction {
    pub(crate) fn new(tx: engine::Transaction) -> Self {
        Transaction {
            snapshot_seq: tx.snapshot_seq(),
            tx: Mutex::new(Some(tx)),
        }
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut engine::Transaction) -> engine::Result<T>,
    ) -> Result<T> {
        let mut guard = lock(&self.tx);
        let tx = guard.as_mut().ok_or_else(finished)?;
        Ok(f(tx)?)
    }

    fn take(&self) -> Result<engine::Transaction> {
        lock(&self.tx).take().ok_or_else(finished)
    }

    pub fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        self.with(|tx| tx.get(&key))
    }

    pub fn contains(&self, key: Vec<u8>) -> Result<bool> {
        self.with(|tx| tx.contains(&key))
    }

    pub fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.with(|tx| tx.put(&key, &value))
    }

    pub fn delete(&self, key: Vec<u8>) -> Result<()> {
        self.with(|tx| tx.delete(&key))
    }

    pub fn scan(&self, start: KeyBound, end: KeyBound, reverse: bool) -> Result<Arc<Cursor>> {
        self.scan_range(key_range(start, end), reverse)
    }

    pub fn scan_prefix(&self, prefix: Vec<u8>, reverse: bool) -> Result<Arc<Cursor>> {
        self.scan_range(engine::KeyRange::prefix(&prefix), reverse)
    }

    pub(crate) fn scan_range(&self, range: engine::KeyRange, reverse: bool) -> Result<Arc<Cursor>> {
        let iter = self.with(|tx| tx.range(range))?;
        Ok(Arc::new(Cursor::new(iter, reverse)))
    }

    pub fn commit(&self) -> Result<()> {
        Ok(self.take()?.commit()?)
    }

    pub fn rollback(&self) -> Result<()> {
        self.take()?.rollback();
        Ok(())
    }

    pub fn is_finished(&self) -> bool {
        lock(&self.tx).is_none()
    }

    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot_seq
    }

    pub fn native_handle(self: Arc<Self>) -> u64 {
        Arc::into_raw(self) as usize as u64
    }
}

// ---------------------------------------------------------------------------
// Cursor

pub struct Cursor {
    pub(crate) state: Mutex<CursorState>,
}

pub(crate) struct CursorState {
    /// `None` once the scan is exhausted or closed: the snapshot is released.
    iter: Option<engine::Iter>,
    reverse: bool,
    /// What was read but not returned: a pair that did not fit the last page, or
    /// an error met after that page already held pairs. It comes first next time,
    /// so nothing is lost or repeated.
    pending: Option<engine::Result<(Vec<u8>, Vec<u8>)>>,
}

/// How a page is measured: `fixed + per_pair * pairs + key and value bytes`
/// must stay within `max_bytes`.
pub(crate) struct PageLimit {
    pub max_items: usize,
    pub max_bytes: usize,
    pub fixed: usize,
    pub per_pair: usize,
}

pub(crate) enum Page {
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
    /// The next pair alone needs a page of this many bytes (it stays pending).
    TooSmall(usize),
}

impl CursorState {
    fn next_pair(&mut self) -> Option<engine::Result<(Vec<u8>, Vec<u8>)>> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        let iter = self.iter.as_mut()?;
        let item = if self.reverse {
            iter.next_back()
        } else {
            iter.next()
        };
        if item.is_none() {
            self.iter = None;
        }
        item
    }

    /// The next page: as many pairs as `limit` allows (none at the end). A first
    /// pair larger than the limit is returned alone if `oversized_alone`, else
    /// kept pending and reported as `TooSmall`.
    pub(crate) fn next_page(
        &mut self,
        limit: &PageLimit,
        oversized_alone: bool,
    ) -> engine::Result<Page> {
        let mut out = Vec::new();
        let mut bytes = limit.fixed;
        while out.len() < limit.max_items.max(1) {
            let (k, v) = match self.next_pair() {
                None => break,
                Some(Err(e)) if out.is_empty() => return Err(e),
                Some(Err(e)) => {
                    self.pending = Some(Err(e));
                    break;
                }
                Some(Ok(kv)) => kv,
            };
            let size = limit.per_pair + k.len() + v.len();
            if bytes + size > limit.max_bytes {
                if !out.is_empty() {
                    self.pending = Some(Ok((k, v)));
                    break;
                }
                if !oversized_alone {
                    self.pending = Some(Ok((k, v)));
                    return Ok(Page::TooSmall(bytes + size));
                }
            }
            bytes += size;
            out.push((k, v));
        }
        Ok(Page::Pairs(out))
    }
}

impl Cursor {
    fn new(iter: engine::Iter, reverse: bool) -> Self {
        Cursor {
            state: Mutex::new(CursorState {
                iter: Some(iter),
                reverse,
                pending: None,
            }),
        }
    }

    pub fn next_page(&self, max_items: u32) -> Result<Vec<KeyValue>> {
        let limit = PageLimit {
            max_items: max_items as usize,
            max_bytes: PAGE_BYTES,
            fixed: 0,
            per_pair: 0,
        };
        let pairs = match lock(&self.state).next_page(&limit, true)? {
            Page::Pairs(pairs) => pairs,
            Page::TooSmall(_) => unreachable!("oversized pairs travel alone"),
        };
        Ok(pairs
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect())
    }

    pub fn next(&self) -> Result<Option<KeyValue>> {
        Ok(self.next_page(1)?.pop())
    }

    pub fn close(&self) {
        let mut s = lock(&self.state);
        s.iter = None;
        s.pending = None;
    }
}
