//! The database handle: opening, the write path, point reads, maintenance.
//!
//! Invariants:
//! - One writer at a time holds `Shared::writer`; it appends a commit's frame to the
//!   active segment and updates the writer's index and the hash index. Point reads
//!   go through the hash index and the segment table: they never take the writer
//!   lock and never wait for a sync.
//! - Immutable `Version`s (snapshots for iterators, transactions, checkpoints) are
//!   made on demand: `Shared::snapshot` returns the materialized version if it is
//!   of the latest commit, or clones the writer's index (O(1)) under the writer
//!   lock. A commit first drops the materialized version, so that when no reader
//!   holds it the writer's index is not shared and the commit updates its nodes in
//!   place instead of copying every node it touches.
//! - Sequence numbers are assigned under the writer lock, so versions are
//!   published in commit order and each reflects a prefix of the commit order.
//! - A commit's call returns only after its frame is written to the file (all
//!   modes) and, in `SyncMode::Full`, synced. Syncs are shared: one `fdatasync`
//!   covers every commit written before it started (group commit). A large
//!   commit starts its sync on a thread of its own as soon as its frame is
//!   written, and waits for it after its index updates.
//! - After a sync fails, nothing is synced again through this handle: the failed
//!   call alone was told that pages may be lost, so a later sync that succeeds
//!   proves nothing about them. Commits, checkpoints and backups then fail.
//! - Sealing a segment (roll-over, close) always syncs it, so a sync of the active
//!   segment covers every earlier commit.
//! - Maintenance (checkpoint, compaction, backup, verify) is serialised by
//!   `Shared::maintenance` and runs beside readers and writers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::{Condvar, Mutex};

use crate::checkpoint;
use crate::config::{Config, SyncMode};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, EntryKind, MAX_COMMIT_SIZE, MAX_KEY_SIZE, MAX_VALUE_SIZE};
use crate::hash_index::{Change, HashIndex, Slot};
use crate::index::{self, Index, Key, Loc, Probe, SegmentTable, Version};
use crate::iter::{Iter, KeyRange};
use crate::prefetch;
use crate::recovery;
use crate::segment::{self, segment_path, Segment};
use crate::sync;
use crate::transaction::{Tracker, Transaction};
use crate::{CompactionReport, Stats, VerifyReport};

const LOCK_FILE: &str = "LOCK";

/// One write of a commit: a put (`Some(value)`) or a delete (`None`).
pub(crate) type Op<'a> = (&'a [u8], Option<&'a [u8]>);

/// An atomic group of puts and deletes, applied all or nothing by [`Database::write`].
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    pub(crate) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push((key.into(), Some(value.into())));
        self
    }
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push((key.into(), None));
        self
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn clear(&mut self) {
        self.ops.clear();
    }
}

struct ActiveSegment {
    id: u32,
    file: Arc<File>,
    /// Bytes written.
    len: u64,
    /// Bytes allocated ahead of the writes.
    allocated: u64,
    /// Bytes covered by the segment's memory map.
    mapped: u64,
}

struct Writer {
    index: Index,
    /// Changed through `Arc::make_mut`: versions and readers share it until then.
    segments: SegmentTable,
    active: ActiveSegment,
    next_seq: u64,
    live_bytes: u64,
    sealed_bytes: u64,
    /// Kept between commits to reuse their allocations.
    buf: Vec<u8>,
    placed: Vec<Placed>,
    changes: Vec<(u64, Change)>,
}

/// The scratch vectors of a commit are kept for the next one up to this many
/// bytes each: a bulk load's (hundreds of MiB) are given back to the allocator.
const SCRATCH_KEPT: usize = 4 << 20;

fn keep_for_reuse<T>(mut v: Vec<T>) -> Vec<T> {
    if v.capacity() * std::mem::size_of::<T>() > SCRATCH_KEPT {
        v = Vec::new();
    }
    v.clear();
    v
}

/// In `SyncMode::Normal`, a frame at least this large starts going to the device
/// as soon as it is written, rather than at the next background sync. (In `Full`
/// mode large frames are synced at once: [`SYNC_BESIDE_AT`].)
const START_WRITEBACK_AT: u64 = 1 << 20;

/// A commit frame at least this large is synced beside its index updates
/// ([`Shared::sync_beside`]): about 350 puts of 150-byte values, whose updates
/// take some hundreds of microseconds, against tens to start a thread.
const SYNC_BESIDE_AT: u64 = 64 << 10;

/// How many writes ahead a commit's encoding asks for the bytes it will copy.
const PREFETCH_DISTANCE: usize = 8;

/// Where one write of a commit went in its frame, and the hashes of its key.
struct Placed {
    prefix: u64,
    hash: u64,
    /// From the start of the frame.
    offset: u32,
    /// Its index in the commit's writes.
    op: u32,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub compactions: AtomicU64,
    pub commits: AtomicU64,
    pub fsyncs: AtomicU64,
    pub checkpoints: AtomicU64,
}

/// A cached record: its key length and its key and value bytes, as on disk.
type Cached = (u32, Arc<[u8]>);

#[derive(Clone)]
struct ValueWeight;
impl quick_cache::Weighter<(u32, u32), Cached> for ValueWeight {
    fn weight(&self, _: &(u32, u32), v: &Cached) -> u64 {
        v.1.len() as u64 + 64
    }
}
type ValueCache = quick_cache::sync::Cache<(u32, u32), Cached, ValueWeight>;

/// A value read from disk enters the cache on one miss in this many, so uniform
/// reads and scans of more data than the cache holds do not pay to churn it,
/// while a value read often gets in after a few reads.
const CACHE_ADMIT_ONE_IN: u32 = 8;

fn admit_to_cache() -> bool {
    thread_local!(static MISSES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    MISSES.with(|m| {
        let n = m.get().wrapping_add(1);
        m.set(n);
        n % CACHE_ADMIT_ONE_IN == 0
    })
}

pub(crate) struct Shared {
    pub dir: PathBuf,
    pub config: Config,
    /// The newest version made by `snapshot`; it may lag behind the writer (see
    /// the invariants above), so only `snapshot` reads it. None after a commit
    /// until someone asks for a snapshot.
    materialized: ArcSwapOption<Version>,
    /// The segments the hash index may point into, for point reads. Stored before
    /// the hash index is given locations in a new segment or a larger map.
    tables: ArcSwap<BTreeMap<u32, Arc<Segment>>>,
    /// Keys after the latest commit, so that `len()` is one atomic load.
    live_keys: AtomicU64,
    hash: ArcSwap<HashIndex>,
    writer: Mutex<Option<Writer>>,
    /// Highest sequence number known to be synced; held while syncing.
    synced: Mutex<u64>,
    written_seq: AtomicU64,
    active_file: ArcSwap<Option<Arc<File>>>,
    next_segment_id: AtomicU32,
    pub maintenance: Mutex<()>,
    pub tracker: Mutex<Tracker>,
    pub txns: Mutex<HashMap<u64, Arc<Mutex<Option<Transaction>>>>>,
    pub next_txn_id: AtomicU64,
    cache: Option<ValueCache>,
    pub counters: Counters,
    closed: AtomicBool,
    poisoned: AtomicBool,
    lock_file: Mutex<Option<File>>,
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop: (Mutex<bool>, Condvar),
}

/// An open database. `Send + Sync`: share it between threads by reference or in
/// an `Arc`. Dropping it closes it.
pub struct Database {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({})", self.shared.dir.display())
    }
}

fn validate_path(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::invalid("the database path is empty"));
    }
    Ok(())
}

pub(crate) fn validate_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("keys must not be empty"));
    }
    if key.len() > MAX_KEY_SIZE {
        return Err(Error::invalid(format!(
            "key of {} bytes exceeds the limit of {MAX_KEY_SIZE}",
            key.len()
        )));
    }
    Ok(())
}

pub(crate) fn validate_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(Error::invalid(format!(
            "value of {} bytes exceeds the limit of {MAX_VALUE_SIZE}",
            value.len()
        )));
    }
    Ok(())
}

impl Database {
    /// Opens the database in `path`, creating the directory and an empty database
    /// if there is none. Opening an existing database is not an error.
    pub fn create(path: impl AsRef<Path>, config: Config) -> Result<Database> {
        let path = path.as_ref();
        config.validate()?;
        validate_path(path)?;
        if config.read_only {
            return Err(Error::invalid("cannot create a database read-only"));
        }
        if !path.exists() {
            std::fs::create_dir_all(path).map_err(|e| Error::io(path.display(), e))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync::dir(parent)?;
            }
            log::info!("created database directory {}", path.display());
        }
        Self::open_dir(path, config)
    }

    /// Opens an existing database; IoError (not found) if `path` does not exist.
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Database> {
        let path = path.as_ref();
        config.validate()?;
        validate_path(path)?;
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
        if !meta.is_dir() {
            return Err(Error::invalid(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        Self::open_dir(path, config)
    }

    fn open_dir(dir: &Path, config: Config) -> Result<Database> {
        let started = Instant::now();
        let dir = dir.to_path_buf();
        let lock_file = if config.read_only {
            None
        } else {
            Some(lock_dir(&dir)?)
        };
        let (version, writer, next_segment_id) = if config.read_only {
            let version = load_read_only(&dir)?;
            let next = version.segments.keys().last().map_or(1, |id| id + 1);
            (version, None, next)
        } else {
            open_writer(&dir, &config)?
        };
        let cache = (config.cache_size > 0).then(|| {
            let estimated_items = (config.cache_size / 256).max(16);
            ValueCache::with_weighter(estimated_items, config.cache_size as u64, ValueWeight)
        });
        let seq = version.seq;
        let active_file = writer.as_ref().map(|w: &Writer| w.active.file.clone());
        log::info!(
            "opened {} ({} keys, seq {}, {}) in {:?}",
            dir.display(),
            version.index.len(),
            seq,
            if config.read_only {
                "read-only"
            } else {
                "writer"
            },
            started.elapsed()
        );
        let shared = Arc::new(Shared {
            dir,
            hash: ArcSwap::from_pointee(HashIndex::build(&version.index)),
            live_keys: AtomicU64::new(version.index.len() as u64),
            tables: ArcSwap::new(version.segments.clone()),
            materialized: ArcSwapOption::from_pointee(version),
            writer: Mutex::new(writer),
            synced: Mutex::new(seq),
            written_seq: AtomicU64::new(seq),
            active_file: ArcSwap::from_pointee(active_file),
            next_segment_id: AtomicU32::new(next_segment_id),
            maintenance: Mutex::new(()),
            tracker: Mutex::new(Tracker::default()),
            txns: Mutex::new(HashMap::new()),
            next_txn_id: AtomicU64::new(1),
            cache,
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            lock_file: Mutex::new(lock_file),
            background: Mutex::new(None),
            stop: (Mutex::new(false), Condvar::new()),
            config,
        });
        if !shared.config.read_only {
            let bg = shared.clone();
            let handle = std::thread::Builder::new()
                .name("lightning-db-bg".into())
                .spawn(move || bg.background_loop())
                .map_err(|e| Error::io("spawn background thread", e))?;
            *shared.background.lock() = Some(handle);
        }
        Ok(Database { shared })
    }

    pub fn path(&self) -> &Path {
        &self.shared.dir
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.shared.commit(&[(key, Some(value))], None).map(|_| ())
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.shared.check_open()?;
        validate_key(key)?;
        self.shared.get_latest(key)
    }

    /// Deletes `key`; returns whether it was present. Deleting a missing key is
    /// not an error (and writes nothing).
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.shared.check_open()?;
        self.shared.check_writable()?;
        validate_key(key)?;
        if !self.shared.contains_latest(key)? {
            return Ok(false);
        }
        self.shared.commit(&[(key, None)], None).map(|_| true)
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        self.shared.check_open()?;
        validate_key(key)?;
        self.shared.contains_latest(key)
    }

    /// Applies every operation of `batch` atomically, in order.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        let ops: Vec<Op<'_>> = batch
            .ops
            .iter()
            .map(|(k, v)| (&k[..], v.as_deref()))
            .collect();
        self.shared.commit(&ops, None).map(|_| ())
    }

    /// Number of live keys.
    pub fn len(&self) -> Result<usize> {
        self.shared.check_open()?;
        Ok(self.shared.live_keys.load(Ordering::Acquire) as usize)
    }

    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|n| n == 0)
    }

    /// Starts a transaction reading the snapshot of the latest commit.
    pub fn begin(&self) -> Result<Transaction> {
        Transaction::begin(self.shared.clone())
    }

    /// Iterates over the keys in `range`, in order (`.rev()` for reverse), as of now.
    pub fn range(&self, range: KeyRange) -> Result<Iter> {
        self.shared.check_open()?;
        Ok(Iter::new(
            self.shared.clone(),
            self.shared.snapshot(),
            range,
            None,
        ))
    }

    pub fn iter(&self) -> Result<Iter> {
        self.range(KeyRange::all())
    }

    pub fn prefix(&self, prefix: &[u8]) -> Result<Iter> {
        self.range(KeyRange::prefix(prefix))
    }

    /// Syncs everything written and writes a checkpoint of the index, so the next
    /// open reads the checkpoint instead of replaying the log, and a plain copy of
    /// the directory taken now opens as a consistent database.
    pub fn checkpoint(&self) -> Result<()> {
        self.shared.check_open()?;
        self.shared.check_writable()?;
        let _m = self.shared.maintenance.lock();
        self.shared.checkpoint_locked()
    }

    /// Rewrites the live records of the sealed segments that hold dead ones into
    /// new segments and removes the old ones; a segment whose dead bytes are under
    /// 1/64 of it (plus a page) is left as it is. Readers and writers continue
    /// meanwhile.
    pub fn compact(&self) -> Result<CompactionReport> {
        self.shared.check_open()?;
        self.shared.check_writable()?;
        let _m = self.shared.maintenance.lock();
        crate::compaction::compact(&self.shared)
    }

    /// Writes a consistent copy of the database into `dest` (which must not exist
    /// or be empty) while readers and writers continue.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<()> {
        self.shared.check_open()?;
        let _m = self.shared.maintenance.lock();
        crate::maintenance::backup(&self.shared, dest.as_ref())
    }

    /// Reads every record of every segment and checks every checksum.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.shared.check_open()?;
        let _m = self.shared.maintenance.lock();
        crate::maintenance::verify(&self.shared)
    }

    pub fn stats(&self) -> Result<Stats> {
        self.shared.check_open()?;
        Ok(self.shared.stats())
    }

    /// For a read-only handle: loads the commits made since it was opened or last
    /// refreshed by the writing process. For a writer it is a no-op.
    pub fn refresh(&self) -> Result<()> {
        self.shared.check_open()?;
        if !self.shared.config.read_only {
            return Ok(());
        }
        let version = load_read_only(&self.shared.dir)?;
        log::debug!(
            "refreshed {} to seq {}",
            self.shared.dir.display(),
            version.seq
        );
        let hash = HashIndex::build(&version.index);
        self.shared.hash.store(Arc::new(hash));
        self.shared.publish_read_only(version);
        Ok(())
    }

    /// Syncs, seals the active segment and releases the writer lock. Every later
    /// call on this handle (or its transactions and iterators) fails with
    /// InvalidArgument; a second close does too.
    pub fn close(&self) -> Result<()> {
        self.shared.close()
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    // Transactions addressed by id, for the C API.

    pub fn begin_transaction(&self) -> Result<u64> {
        let tx = self.begin()?;
        let id = self.shared.next_txn_id.fetch_add(1, Ordering::Relaxed);
        self.shared
            .txns
            .lock()
            .insert(id, Arc::new(Mutex::new(Some(tx))));
        Ok(id)
    }

    fn with_txn<T>(&self, id: u64, f: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        self.shared.check_open()?;
        let slot = self.shared.txns.lock().get(&id).cloned();
        let slot = slot.ok_or_else(|| unknown_txn(id))?;
        let mut guard = slot.lock();
        let tx = guard.as_mut().ok_or_else(|| unknown_txn(id))?;
        f(tx)
    }

    fn take_txn(&self, id: u64) -> Result<Transaction> {
        self.shared.check_open()?;
        let slot = self
            .shared
            .txns
            .lock()
            .remove(&id)
            .ok_or_else(|| unknown_txn(id))?;
        let tx = slot.lock().take();
        tx.ok_or_else(|| unknown_txn(id))
    }

    pub fn tx_get(&self, id: u64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.with_txn(id, |tx| tx.get(key))
    }
    pub fn tx_put(&self, id: u64, key: &[u8], value: &[u8]) -> Result<()> {
        self.with_txn(id, |tx| tx.put(key, value))
    }
    pub fn tx_delete(&self, id: u64, key: &[u8]) -> Result<()> {
        self.with_txn(id, |tx| tx.delete(key))
    }
    pub fn tx_contains(&self, id: u64, key: &[u8]) -> Result<bool> {
        self.with_txn(id, |tx| tx.contains(key))
    }
    pub fn tx_range(&self, id: u64, range: KeyRange) -> Result<Iter> {
        self.with_txn(id, |tx| tx.range(range))
    }
    /// Commits transaction `id`; the id is finished whatever the outcome.
    pub fn tx_commit(&self, id: u64) -> Result<()> {
        self.take_txn(id)?.commit()
    }
    pub fn tx_abort(&self, id: u64) -> Result<()> {
        self.take_txn(id)?.rollback();
        Ok(())
    }
}

fn unknown_txn(id: u64) -> Error {
    Error::invalid(format!("no open transaction with id {id}"))
}

impl Drop for Database {
    fn drop(&mut self) {
        if !self.is_closed() {
            if let Err(e) = self.shared.close() {
                log::warn!("closing {} on drop failed: {e}", self.shared.dir.display());
            }
        }
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(path.display(), e))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::new(
            ErrorKind::DatabaseLocked,
            format!(
                "{} is open for writing by another handle or process",
                dir.display()
            ),
        )),
        Err(e) => Err(Error::io(format!("lock {}", path.display()), e.into())),
    }
}

fn open_segments(dir: &Path, ids: &[u32]) -> Result<BTreeMap<u32, Arc<Segment>>> {
    ids.iter()
        .map(|&id| {
            Ok((
                id,
                Arc::new(Segment::open_sealed(id, segment_path(dir, id))?),
            ))
        })
        .collect()
}

fn load_read_only(dir: &Path) -> Result<Version> {
    // A writer in another process may remove segments (compaction) while we read
    // the directory; a missing file means "look again".
    let mut attempt = 0;
    loop {
        let result = recovery::recover(dir).and_then(|r| {
            let segments = open_segments(dir, &r.segment_ids)?;
            Ok(Version {
                seq: r.last_seq,
                index: r.index,
                segments: Arc::new(segments),
                active: None,
            })
        });
        match result {
            Err(e)
                if attempt < 10
                    && e.io_error()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
                    || attempt < 10
                        && e.kind() == ErrorKind::CorruptedData
                        && e.message().contains("missing") =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(5 << attempt.min(5)));
            }
            other => return other,
        }
    }
}

fn open_writer(dir: &Path, config: &Config) -> Result<(Version, Option<Writer>, u32)> {
    let r = recovery::recover(dir)?;
    // Go on appending to the newest segment if it has room, rather than starting
    // one per open: a program that opens, writes a little and exits would
    // otherwise leave a file behind each time.
    let reuse = r
        .tail
        .filter(|&(_, data_len)| data_len > 0 && (data_len as u64) < config.segment_size / 2);
    for (id, valid_len) in &r.unsealed {
        if reuse.is_some_and(|(t, _)| t == *id) {
            continue;
        }
        if *valid_len == 0 {
            let p = segment_path(dir, *id);
            std::fs::remove_file(&p).map_err(|e| Error::io(p.display(), e))?;
            log::debug!("removed empty segment {}", p.display());
        } else {
            log::info!("recovery: sealing segment {} at {} bytes", id, valid_len);
            recovery::seal_in_place(dir, *id, *valid_len, r.last_seq)?;
        }
    }
    for id in &r.garbage {
        let p = segment_path(dir, *id);
        log::info!(
            "recovery: removing segment {} left by an interrupted compaction",
            p.display()
        );
        std::fs::remove_file(&p).map_err(|e| Error::io(p.display(), e))?;
    }
    remove_temp_files(dir)?;
    sync::dir(dir)?;
    let mut ids: Vec<u32> = segment::list_segments(dir)?;
    let next_id = ids.last().map_or(1, |id| id + 1);
    let active = match reuse {
        Some((id, data_len)) => {
            // Zero the seal frame (or a torn tail) and append after the data. The
            // file is not cut: readers in other processes may have it mapped.
            let path = segment_path(dir, id);
            let io = |e| Error::io(format!("reopen {}", path.display()), e);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io)?;
            recovery::zero_from(&file, data_len as u64).map_err(io)?;
            sync::all(&file).map_err(io)?;
            // Space up to the first hole is allocated; a hole (given back after
            // a seal) is allocated again before it is written.
            let allocated = segment::hole_at_or_after(&file, data_len as u64).map_err(io)?;
            ids.retain(|&i| i != id);
            log::debug!(
                "appending to segment {} after {} bytes",
                path.display(),
                data_len
            );
            (id, path, Arc::new(file), data_len as u64, allocated)
        }
        None => {
            let (path, file) = create_segment(dir, next_id)?;
            (next_id, path, file, 0, 0)
        }
    };
    let mut segments = open_segments(dir, &ids)?;
    let sealed_bytes = segments
        .values()
        .map(|s| file_len(&s.path))
        .sum::<Result<u64>>()?;
    let live_bytes = r.index.values().map(|l| l.len as u64).sum();
    let (active_id, active_path, active_file, active_len, allocated) = active;
    let map_len = config.segment_size.max(allocated.next_power_of_two());
    let active_segment = Segment::active(active_id, active_path, &active_file, map_len)?;
    segments.insert(active_id, Arc::new(active_segment));
    let writer = Writer {
        index: r.index,
        segments: Arc::new(segments),
        active: ActiveSegment {
            id: active_id,
            file: active_file,
            len: active_len,
            allocated,
            mapped: map_len,
        },
        next_seq: r.last_seq + 1,
        live_bytes,
        sealed_bytes,
        buf: Vec::with_capacity(64 * 1024),
        placed: Vec::new(),
        changes: Vec::new(),
    };
    log::info!(
        "recovery of {}: checkpoint seq {}, last seq {}, {} segments",
        dir.display(),
        r.checkpoint_seq,
        r.last_seq,
        ids.len() + 1
    );
    let version = writer.version();
    Ok((version, Some(writer), active_id.max(next_id - 1) + 1))
}

fn remove_temp_files(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))? {
        let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(segment::TEMP_SUFFIX))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

pub(crate) fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(path.display(), e))?
        .len())
}

fn clone_file(f: &File) -> Result<File> {
    f.try_clone()
        .map_err(|e| Error::io("duplicate file handle", e))
}

fn create_segment(dir: &Path, id: u32) -> Result<(PathBuf, Arc<File>)> {
    let path = segment_path(dir, id);
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
    sync::dir(dir)?;
    Ok((path, Arc::new(file)))
}

impl Writer {
    fn version(&self) -> Version {
        Version {
            seq: self.next_seq - 1,
            index: self.index.clone(),
            segments: self.segments.clone(),
            active: Some((self.active.id, self.active.len)),
        }
    }
}

impl Shared {
    #[inline]
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.config.read_only {
            Err(Error::invalid("the database was opened read-only"))
        } else {
            Ok(())
        }
    }

    /// The value of `key` in the newest commit, found through the hash index.
    fn get_latest(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.through_hash(
            key,
            None,
            |segments, segment, offset, len| self.read_record(segments, key, segment, offset, len),
            |version| match version.index.get(&Probe::new(key)) {
                None => Ok(None),
                Some(loc) => self.read_value(version, key, *loc).map(Some),
            },
        )
    }

    fn contains_latest(&self, key: &[u8]) -> Result<bool> {
        self.through_hash(
            key,
            false,
            |segments, segment, offset, len| Ok(segments[&segment].entry(offset, len)?.key == key),
            |version| Ok(version.index.contains_key(&Probe::new(key))),
        )
    }

    /// Looks `key` up in the hash index: `absent` if no live key has its hash;
    /// `at(segments, segment, offset, len)` on the record of the one live key that
    /// has it (a record of another key then means `key` is absent); `ordered` on a
    /// snapshot if several keys share the hash.
    fn through_hash<T>(
        &self,
        key: &[u8],
        absent: T,
        at: impl FnOnce(&BTreeMap<u32, Arc<Segment>>, u32, u32, u32) -> Result<T>,
        ordered: impl FnOnce(&Version) -> Result<T>,
    ) -> Result<T> {
        let hash = self.hash.load();
        let h = hash.hash(key);
        for _ in 0..64 {
            let segments = self.tables.load();
            match hash.lookup(h) {
                None => return Ok(absent),
                Some(Slot::Shared) => break,
                Some(Slot::At {
                    segment,
                    offset,
                    len,
                }) if segments.contains_key(&segment) => {
                    return at(&segments, segment, offset, len)
                }
                // The table is stored before the hash index points into a new
                // segment, but an older table may have been loaded just before.
                Some(Slot::At { .. }) => std::thread::yield_now(),
            }
        }
        ordered(&self.snapshot())
    }

    /// A consistent, immutable version as of the latest commit.
    pub(crate) fn snapshot(&self) -> Arc<Version> {
        if let Some(v) = self.fresh_snapshot() {
            return v;
        }
        let guard = self.writer.lock();
        self.materialize(guard.as_ref())
    }

    /// The materialized version if it is of the latest commit.
    pub(crate) fn fresh_snapshot(&self) -> Option<Arc<Version>> {
        let latest = self.written_seq.load(Ordering::Acquire);
        self.materialized.load_full().filter(|v| v.seq == latest)
    }

    /// The version of the latest commit; the caller holds the writer lock.
    fn materialize(&self, writer: Option<&Writer>) -> Arc<Version> {
        let latest = self.written_seq.load(Ordering::Acquire);
        match (self.materialized.load_full(), writer) {
            (Some(v), _) if v.seq == latest => v,
            (_, Some(w)) => {
                let v = Arc::new(w.version());
                self.materialized.store(Some(v.clone()));
                v
            }
            // Closed (the writer is gone): close left the last version behind.
            (v, None) => v.expect("a closed or read-only handle keeps its last version"),
        }
    }

    /// A snapshot of the latest commit, registered with the tracker before any
    /// later commit can record its keys.
    pub(crate) fn snapshot_registered(&self) -> Arc<Version> {
        let guard = self.writer.lock();
        let v = self.materialize(guard.as_ref());
        self.tracker.lock().register(v.seq);
        v
    }

    /// Replaces the materialized version after a change that keeps the sequence
    /// number (roll-over, compaction), so that new snapshots see it; the caller
    /// holds the writer lock.
    fn rematerialize(&self, w: &Writer) -> Arc<Version> {
        let v = Arc::new(w.version());
        self.materialized.store(Some(v.clone()));
        self.tables.store(w.segments.clone());
        v
    }

    /// The value at `loc`, which the ordered index says holds `key`.
    pub(crate) fn read_value(&self, version: &Version, key: &[u8], loc: Loc) -> Result<Vec<u8>> {
        self.read_record(&version.segments, key, loc.segment, loc.offset, loc.len)?
            .ok_or_else(|| {
                Error::corrupted(format!(
                    "segment {} at offset {}: index entry does not match the record on disk",
                    loc.segment, loc.offset
                ))
            })
    }

    /// Makes `version`, loaded again from the files, the latest of a read-only
    /// handle.
    fn publish_read_only(&self, version: Version) {
        self.live_keys
            .store(version.index.len() as u64, Ordering::Release);
        self.tables.store(version.segments.clone());
        self.written_seq.store(version.seq, Ordering::Release);
        self.materialized.store(Some(Arc::new(version)));
    }

    /// The value of the record at the given place if it is a put of `key`, through
    /// the cache; `None` if the record holds another key.
    fn read_record(
        &self,
        segments: &BTreeMap<u32, Arc<Segment>>,
        key: &[u8],
        segment: u32,
        offset: u32,
        len: u32,
    ) -> Result<Option<Vec<u8>>> {
        if let Some(cache) = &self.cache {
            if let Some((key_len, bytes)) = cache.get(&(segment, offset)) {
                self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                let (k, v) = bytes.split_at(key_len as usize);
                return Ok((k == key).then(|| v.to_vec()));
            }
        }
        self.counters.cache_misses.fetch_add(1, Ordering::Relaxed);
        let seg = index::segment_in(segments, segment)?;
        let e = seg.entry(offset, len)?;
        if let Some(cache) = &self.cache {
            if e.key.len() + e.value.len() <= self.config.cache_size / 16 && admit_to_cache() {
                let bytes: Arc<[u8]> = [e.key, e.value].concat().into();
                cache.insert((segment, offset), (e.key.len() as u32, bytes));
            }
        }
        Ok((e.key == key).then(|| e.value.to_vec()))
    }

    /// Appends one commit. With `snapshot_seq`, fails with TransactionConflict if
    /// any key was written by a commit after that sequence number.
    pub(crate) fn commit(
        self: &Arc<Self>,
        ops: &[Op<'_>],
        snapshot_seq: Option<u64>,
    ) -> Result<u64> {
        self.check_open()?;
        self.check_writable()?;
        let mut size = 0usize;
        for (k, v) in ops {
            validate_key(k)?;
            if let Some(v) = v {
                validate_value(v)?;
            }
            size += format::entry_len(k.len(), v.map_or(0, |v| v.len()), 0);
        }
        if size > MAX_COMMIT_SIZE {
            return Err(Error::invalid(format!(
                "commit of {size} bytes exceeds the limit of {MAX_COMMIT_SIZE}"
            )));
        }
        if ops.is_empty() {
            return Ok(self.written_seq.load(Ordering::Acquire));
        }
        let (seq, beside) = {
            let mut guard = self.writer.lock();
            let w = guard.as_mut().ok_or_else(Error::closed)?;
            self.check_not_poisoned()?;
            if let Some(snap) = snapshot_seq {
                self.tracker
                    .lock()
                    .check(ops.iter().map(|(k, _)| *k), snap)?;
            }
            // Recovery refuses sequence numbers from MAX_SEQ on; 2^63 commits take
            // centuries, but a commit must not be the one to write such a number.
            if w.next_seq >= recovery::MAX_SEQ {
                return Err(Error::new(
                    ErrorKind::IoError,
                    "sequence numbers are used up: no further commit can be made",
                ));
            }
            let seq = w.next_seq;
            let hash = self.hash.load();
            let mut buf = std::mem::take(&mut w.buf);
            let mut placed = std::mem::take(&mut w.placed);
            buf.clear();
            buf.reserve(size + format::FRAME_HEADER_LEN);
            placed.clear();
            placed.reserve(ops.len());
            // In key order (equal keys, which a batch may hold, keep their order):
            // a range of keys written together is then read from consecutive
            // records, and consecutive index updates meet in the same nodes.
            placed.extend(ops.iter().enumerate().map(|(i, (k, _))| Placed {
                prefix: index::prefix_of(k),
                hash: 0,
                offset: 0,
                op: i as u32,
            }));
            if placed.len() > 1 {
                placed.sort_unstable_by(|a, b| {
                    a.prefix
                        .cmp(&b.prefix)
                        .then_with(|| ops[a.op as usize].0.cmp(ops[b.op as usize].0))
                        .then(a.op.cmp(&b.op))
                });
            }
            // Sorted, the writes are read out of order. Gather them in key order
            // once, asking for each a few steps ahead, so that the passes below
            // read them front to back.
            let mut sorted: Vec<Op<'_>> = Vec::with_capacity(placed.len());
            for j in 0..placed.len() {
                if let Some(ahead) = placed.get(j + 2 * PREFETCH_DISTANCE) {
                    prefetch::line(&ops[ahead.op as usize]);
                }
                sorted.push(ops[placed[j].op as usize]);
            }
            let frame = format::begin_frame(&mut buf, seq);
            let start = frame.start;
            for j in 0..placed.len() {
                // The bytes of each write are where the caller left them: ask
                // for them a few steps ahead too.
                if let Some(&(k, v)) = sorted.get(j + PREFETCH_DISTANCE) {
                    prefetch::lines(k, 2);
                    if let Some(v) = v {
                        prefetch::lines(v, 2);
                    }
                }
                let p = &mut placed[j];
                let (k, v) = sorted[j];
                let kind = if v.is_some() {
                    EntryKind::Put
                } else {
                    EntryKind::Delete
                };
                p.hash = hash.hash(k);
                p.offset = (buf.len() - start) as u32;
                format::encode_entry(&mut buf, &frame, kind, seq, k, v.unwrap_or(&[]));
            }
            format::finish_frame(&mut buf, frame);
            let frame_len = buf.len() as u64;
            let written = self.append_frame(w, &buf);
            w.buf = buf;
            let at = match written {
                Ok(at) => at,
                Err(e) => {
                    w.placed = placed;
                    return Err(e);
                }
            };
            // Nothing below returns early: the commit always waits for this sync.
            let beside = self.sync_beside(&w.active.file, seq, frame_len);
            // Unless a reader still holds it, this leaves the writer's index
            // unshared, to be updated in place.
            self.materialized.store(None);
            hash.reserve(ops.iter().filter(|(_, v)| v.is_some()).count());
            let mut changes = std::mem::take(&mut w.changes);
            changes.clear();
            for (p, &(k, v)) in placed.iter().zip(&sorted) {
                let value_len = v.map_or(0, |v| v.len());
                let header_len = format::header_len(k.len(), value_len, 0);
                let len = header_len + k.len() + value_len;
                // The key as the frame holds it, not where the caller left it:
                // the frame is read front to back, the caller's bytes out of order
                // (a cache miss a key in a large commit).
                let key_at = start + p.offset as usize + header_len;
                let k = &w.buf[key_at..key_at + k.len()];
                let (old, change) = match v {
                    Some(_) => {
                        let new = Loc {
                            seq,
                            segment: w.active.id,
                            offset: (at + p.offset as u64) as u32,
                            len: len as u32,
                        };
                        w.live_bytes += len as u64;
                        let old = w.index.insert(Key::new(k), new);
                        (old, Some(Change::Put { old, new }))
                    }
                    None => {
                        let old = w.index.remove(&Probe::new(k));
                        (old, old.map(|old| Change::Delete { old }))
                    }
                };
                if let Some(old) = old {
                    w.live_bytes -= old.len as u64;
                }
                if let Some(change) = change {
                    changes.push((p.hash, change));
                }
            }
            hash.apply(&changes);
            w.changes = keep_for_reuse(changes);
            w.placed = keep_for_reuse(placed);
            w.buf = keep_for_reuse(std::mem::take(&mut w.buf));
            w.active.len += frame_len;
            w.next_seq += 1;
            // The key count first: a `len()` racing with a commit may see either
            // count, and sees the new one once the commit has returned.
            self.live_keys
                .store(w.index.len() as u64, Ordering::Release);
            self.written_seq.store(seq, Ordering::Release);
            self.tracker
                .lock()
                .record(ops.iter().map(|(k, _)| *k), seq, snapshot_seq);
            (seq, beside)
        };
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        if self.config.sync_mode == SyncMode::Full {
            match beside {
                Some(sync) => sync
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                None => self.sync_to(seq)?,
            }
        }
        Ok(seq)
    }

    /// In `SyncMode::Full`, starts the sync of a commit's frame of `frame_len`
    /// bytes, just written to `file`, on a thread of its own, if the frame is large
    /// enough ([`SYNC_BESIDE_AT`]) that its index updates take far longer than
    /// starting a thread: the device then writes while the CPU updates the indexes,
    /// where syncing after them left each idle in turn (100 commits of 1,000 puts:
    /// the sync was a third of each). `None` otherwise, or if no thread could be
    /// started: the commit then syncs after its updates, as a small one does.
    ///
    /// Not a scoped thread: `std::thread::scope` gives the calling thread a
    /// `Thread` handle that a C program's thread never frees (valgrind: possibly
    /// lost), where a spawned thread's handle is freed when it is joined.
    fn sync_beside(
        self: &Arc<Self>,
        file: &Arc<File>,
        seq: u64,
        frame_len: u64,
    ) -> Option<std::thread::JoinHandle<Result<()>>> {
        if self.config.sync_mode != SyncMode::Full || frame_len < SYNC_BESIDE_AT {
            return None;
        }
        let (shared, file) = (Arc::clone(self), Arc::clone(file));
        std::thread::Builder::new()
            .name("lightning-db-sync".into())
            .spawn(move || shared.sync_file_to(&file, seq))
            .ok()
    }

    /// Writes a commit's frame at the end of the active segment (rolling over to a
    /// new one if it does not fit) and returns where it starts.
    fn append_frame(&self, w: &mut Writer, frame: &[u8]) -> Result<u64> {
        let frame_len = frame.len() as u64;
        if w.active.len > 0 && w.active.len + frame_len > self.config.segment_size {
            self.roll(w)?;
        }
        self.ensure_allocated(w, frame_len)?;
        if !Arc::ptr_eq(&self.tables.load(), &w.segments) {
            self.tables.store(w.segments.clone());
        }
        let at = w.active.len;
        w.active
            .file
            .write_all_at(frame, at)
            .map_err(|e| Error::io(format!("append to segment {}", w.active.id), e))?;
        // In `Full` mode a frame this large is synced at once, beside the commit.
        if frame_len >= START_WRITEBACK_AT && self.config.sync_mode == SyncMode::Normal {
            sync::start_writeback(&w.active.file, at, frame_len);
        }
        Ok(at)
    }

    fn ensure_allocated(&self, w: &mut Writer, extra: u64) -> Result<()> {
        let need = w.active.len + extra;
        if need <= w.active.allocated {
            return Ok(());
        }
        let step = self.config.growth_step();
        let target = need.div_ceil(step) * step;
        let file = &w.active.file;
        // Only the new part: below `allocated` there is no hole, and asking for
        // the whole file again makes the file system walk all of it (on tmpfs, page
        // by page: 9% of a run of 1,000-put commits).
        let (from, len) = (w.active.allocated, target - w.active.allocated);
        match rustix::fs::fallocate(&**file, rustix::fs::FallocateFlags::empty(), from, len) {
            Ok(()) => {}
            // Filesystems without fallocate: writes extend the file instead.
            Err(rustix::io::Errno::OPNOTSUPP) => {}
            Err(e) => {
                return Err(Error::io(
                    format!("allocate space in segment {}", w.active.id),
                    e.into(),
                ))
            }
        }
        w.active.allocated = target;
        if target > w.active.mapped {
            // A commit larger than the rest of the map: map the segment anew. Older
            // versions keep the old, smaller map, which covers all they refer to.
            let mapped = target.max(w.active.mapped * 2);
            let path = segment_path(&self.dir, w.active.id);
            let seg = Segment::active(w.active.id, path, &w.active.file, mapped)?;
            Arc::make_mut(&mut w.segments).insert(w.active.id, Arc::new(seg));
            w.active.mapped = mapped;
        }
        Ok(())
    }

    /// Seals the active segment (seal frame, trim, sync) and starts a new one.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        let id = self.allocate_segment_id()?;
        self.seal_active(w)?;
        let (path, file) = create_segment(&self.dir, id)?;
        let mapped = self.config.segment_size;
        Arc::make_mut(&mut w.segments)
            .insert(id, Arc::new(Segment::active(id, path, &file, mapped)?));
        w.active = ActiveSegment {
            id,
            file: file.clone(),
            len: 0,
            allocated: 0,
            mapped,
        };
        self.active_file.store(Arc::new(Some(file)));
        log::debug!("rolled to segment {id}");
        Ok(())
    }

    fn seal_active(&self, w: &mut Writer) -> Result<()> {
        let id = w.active.id;
        let path = segment_path(&self.dir, id);
        let io = |e| Error::io(format!("seal {}", path.display()), e);
        let mut file = clone_file(&w.active.file)?;
        let end = recovery::write_seal(&mut file, w.active.len, w.next_seq - 1).map_err(io)?;
        sync::data(&file).map_err(io)?;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        // Give back the space allocated past the seal without shortening the file
        // (readers in other processes may map it; see `recovery::seal_in_place`).
        let page = self.config.page_size as u64;
        let keep = end.div_ceil(page) * page;
        let size = file.metadata().map_err(io)?.len();
        if size > keep {
            let punch =
                rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
            let _ = rustix::fs::fallocate(&file, punch, keep, size - keep);
        }
        w.active.len = end;
        w.sealed_bytes += size.max(end);
        Arc::make_mut(&mut w.segments).insert(id, Arc::new(Segment::open_sealed(id, path)?));
        Ok(())
    }

    /// Returns once every commit up to `seq` is on stable storage.
    pub(crate) fn sync_to(&self, seq: u64) -> Result<()> {
        let mut synced = self.synced.lock();
        if *synced >= seq {
            return Ok(());
        }
        let target = self.written_seq.load(Ordering::Acquire);
        match self.active_file.load_full().as_ref() {
            Some(file) => self.sync_locked(&mut synced, file, target),
            None => {
                *synced = target.max(*synced);
                Ok(())
            }
        }
    }

    /// Makes `file`, the segment commit `seq` was written to, durable, and with it
    /// every commit before `seq`: each was written before it, to this file or to a
    /// segment sealed (and so synced) since.
    fn sync_file_to(&self, file: &File, seq: u64) -> Result<()> {
        let mut synced = self.synced.lock();
        if *synced >= seq {
            return Ok(());
        }
        self.sync_locked(&mut synced, file, seq)
    }

    /// Syncs `file`, which holds every commit up to `upto`, under the `synced` lock.
    fn sync_locked(&self, synced: &mut u64, file: &File, upto: u64) -> Result<()> {
        // A failed sync may have dropped dirty pages and reports that to the one
        // call that failed: no later sync can vouch for what was written before it.
        self.check_not_poisoned()?;
        if let Err(e) = sync::data(file) {
            self.poisoned.store(true, Ordering::Release);
            return Err(Error::io("sync segment", e));
        }
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        *synced = upto.max(*synced);
        Ok(())
    }

    fn check_not_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::IoError,
                "an earlier sync failed; reopen the database to recover",
            ));
        }
        Ok(())
    }

    pub(crate) fn checkpoint_locked(&self) -> Result<()> {
        let version = self.snapshot();
        self.sync_to(version.seq)?;
        let covered: BTreeSet<u32> = version
            .segments
            .keys()
            .copied()
            .filter(|id| version.active.map(|(a, _)| a) != Some(*id))
            .collect();
        let started = Instant::now();
        checkpoint::write(&self.dir, version.seq, &covered, &version.index)?;
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "checkpoint of {} at seq {}: {} keys in {:?}",
            self.dir.display(),
            version.seq,
            version.index.len(),
            started.elapsed()
        );
        Ok(())
    }

    /// Seals the active segment and starts a new one, so that every record written
    /// so far lies in a sealed segment. Returns the version after the roll.
    pub(crate) fn roll_for_compaction(&self) -> Result<Arc<Version>> {
        let mut guard = self.writer.lock();
        let w = guard.as_mut().ok_or_else(Error::closed)?;
        if w.active.len > 0 {
            self.roll(w)?;
            return Ok(self.rematerialize(w));
        }
        Ok(self.materialize(Some(w)))
    }

    /// The id for a new segment. Recovery refuses the last two ids of the range
    /// (see `recovery::recover`), so they are never handed out: running out is an
    /// error, where wrapping around to 0 would put new records before old ones.
    pub(crate) fn allocate_segment_id(&self) -> Result<u32> {
        self.next_segment_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| {
                (id <= u32::MAX - 2).then_some(id + 1)
            })
            .map_err(|_| {
                Error::new(
                    ErrorKind::IoError,
                    "segment ids are used up: no new segment can be started",
                )
            })
    }

    /// Swaps compacted segments in: entries still pointing at their old location
    /// move to the new one; the input segments leave the table.
    pub(crate) fn install_compaction(
        &self,
        relocations: &[(Key, Loc, Loc)],
        inputs: &BTreeSet<u32>,
        outputs: Vec<Arc<Segment>>,
    ) -> Result<Arc<Version>> {
        let mut guard = self.writer.lock();
        let w = guard.as_mut().ok_or_else(Error::closed)?;
        // The outputs join the point-read table before the hash index points into
        // them; the inputs leave it after, when nothing points into them.
        let mut with_outputs = (*w.segments).clone();
        for seg in &outputs {
            with_outputs.insert(seg.id, seg.clone());
        }
        self.tables.store(Arc::new(with_outputs));
        let hash = self.hash.load();
        let mut changes = Vec::with_capacity(relocations.len());
        for (key, old, new) in relocations {
            // Entries overwritten since the copy was made keep their newer value.
            if let Some(loc) = w.index.get_mut(&Probe::new(key)).filter(|l| **l == *old) {
                *loc = *new;
                let (old, new) = (*old, *new);
                changes.push((hash.hash(key), Change::Relocate { old, new }));
            }
        }
        hash.apply(&changes);
        let segments = Arc::make_mut(&mut w.segments);
        for id in inputs {
            if let Some(seg) = segments.remove(id) {
                w.sealed_bytes = w
                    .sealed_bytes
                    .saturating_sub(file_len(&seg.path).unwrap_or(0));
            }
        }
        for seg in outputs {
            w.sealed_bytes += file_len(&seg.path)?;
            segments.insert(seg.id, seg);
        }
        Ok(self.rematerialize(w))
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let writer_bytes = self
            .writer
            .lock()
            .as_ref()
            .map(|w| (w.live_bytes, w.sealed_bytes + w.active.len));
        let (live_bytes, total_bytes) = writer_bytes.unwrap_or_else(|| {
            let version = self.snapshot();
            (
                version.index.values().map(|l| l.len as u64).sum(),
                version
                    .segments
                    .values()
                    .map(|s| file_len(&s.path).unwrap_or(0))
                    .sum(),
            )
        });
        Stats {
            live_keys: self.live_keys.load(Ordering::Acquire),
            live_bytes,
            total_bytes,
            segments: self.tables.load().len() as u64,
            last_seq: self.written_seq.load(Ordering::Acquire),
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            cache_misses: c.cache_misses.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
        }
    }

    fn background_loop(self: Arc<Self>) {
        let period = Duration::from_millis(if self.config.sync_mode == SyncMode::Normal {
            self.config.normal_sync_interval_ms
        } else {
            250
        });
        let mut last_compaction_check = Instant::now();
        loop {
            {
                let mut stop = self.stop.0.lock();
                if !*stop {
                    self.stop.1.wait_for(&mut stop, period);
                }
                if *stop {
                    return;
                }
            }
            if self.config.sync_mode == SyncMode::Normal {
                let written = self.written_seq.load(Ordering::Acquire);
                if let Err(e) = self.sync_to(written) {
                    log::error!("background sync of {} failed: {e}", self.dir.display());
                }
            }
            if self.config.auto_compact && last_compaction_check.elapsed() >= Duration::from_secs(1)
            {
                last_compaction_check = Instant::now();
                let s = self.stats();
                let dead = s.total_bytes.saturating_sub(s.live_bytes);
                if dead >= self.config.compaction_min_dead_bytes
                    && dead as f64 >= self.config.compaction_dead_ratio * s.total_bytes as f64
                {
                    if let Some(_m) = self.maintenance.try_lock() {
                        log::info!(
                            "background compaction of {}: {dead} dead bytes",
                            self.dir.display()
                        );
                        if let Err(e) = crate::compaction::compact(&self) {
                            log::error!(
                                "background compaction of {} failed: {e}",
                                self.dir.display()
                            );
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::closed());
        }
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(handle) = self.background.lock().take() {
            let _ = handle.join();
        }
        self.txns.lock().clear();
        let _m = self.maintenance.lock();
        let mut result = Ok(());
        let mut guard = self.writer.lock();
        if let Some(w) = guard.as_ref() {
            // Iterators and snapshots taken after this point read the last version.
            self.materialize(Some(w));
        }
        if let Some(mut w) = guard.take() {
            if w.active.len > 0 {
                result = self.seal_active(&mut w);
            } else {
                let p = segment_path(&self.dir, w.active.id);
                result = std::fs::remove_file(&p)
                    .map_err(|e| Error::io(p.display(), e))
                    .and_then(|_| sync::dir(&self.dir));
            }
            log::info!("closed {} at seq {}", self.dir.display(), w.next_seq - 1);
        }
        self.lock_file.lock().take();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Database {
        let config = Config {
            sync_mode: SyncMode::Off,
            ..Config::default()
        };
        Database::create(dir, config).unwrap()
    }

    #[test]
    fn a_commit_writes_its_records_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        // Keys that share their first eight bytes are ordered past the prefix.
        let keys: [&[u8]; 6] = [b"zz", b"prefix-1b", b"a", b"prefix-1a", b"m", b"prefix-1"];
        let mut tx = db.begin().unwrap();
        for k in keys {
            tx.put(k, b"value").unwrap();
        }
        tx.commit().unwrap();
        let version = db.shared.snapshot();
        let offsets: Vec<u32> = version.index.values().map(|l| l.offset).collect();
        assert_eq!(offsets.len(), keys.len());
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "records in key order: {offsets:?}"
        );
        // A batch may write a key twice: the later write wins, in the log too.
        let mut batch = WriteBatch::new();
        batch
            .put(&b"m"[..], &b"first"[..])
            .put(&b"a"[..], &b"x"[..]);
        batch.put(&b"m"[..], &b"second"[..]).delete(&b"a"[..]);
        db.write(&batch).unwrap();
        drop(db);
        let db = open(dir.path());
        assert_eq!(db.get(b"m").unwrap(), Some(b"second".to_vec()));
        assert_eq!(db.get(b"a").unwrap(), None);
    }

    #[test]
    fn the_writer_stops_at_the_end_of_the_sequence_and_segment_id_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.put(b"k", b"1").unwrap();
        db.shared.writer.lock().as_mut().unwrap().next_seq = recovery::MAX_SEQ - 1;
        db.put(b"k", b"last").unwrap();
        let err = db.put(b"k", b"past").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IoError, "{err}");
        assert_eq!(db.get(b"k").unwrap(), Some(b"last".to_vec()));

        db.shared
            .next_segment_id
            .store(u32::MAX - 3, Ordering::Relaxed);
        assert_eq!(db.shared.allocate_segment_id().unwrap(), u32::MAX - 3);
        assert_eq!(db.shared.allocate_segment_id().unwrap(), u32::MAX - 2);
        let err = db.shared.allocate_segment_id().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IoError, "{err}");
        drop(db);
        // What was written opens: the last sequence number is still a valid one.
        let db = open(dir.path());
        assert_eq!(db.get(b"k").unwrap(), Some(b"last".to_vec()));
    }

    #[test]
    fn a_large_commit_gives_its_scratch_space_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let mut tx = db.begin().unwrap();
        for i in 0..20_000u32 {
            tx.put(&i.to_be_bytes(), &[7; 300]).unwrap();
        }
        tx.commit().unwrap();
        db.put(b"small", b"commit").unwrap();
        let guard = db.shared.writer.lock();
        let w = guard.as_ref().unwrap();
        assert!(w.buf.capacity() <= SCRATCH_KEPT, "{}", w.buf.capacity());
        assert!(w.placed.capacity() * std::mem::size_of::<Placed>() <= SCRATCH_KEPT);
        assert!(w.changes.capacity() * std::mem::size_of::<(u64, Change)>() <= SCRATCH_KEPT);
    }

    #[test]
    fn snapshots_are_made_on_demand_and_reused_until_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.put(b"k", b"1").unwrap();
        assert!(
            db.shared.materialized.load().is_none(),
            "a commit leaves no version behind"
        );
        let first = db.shared.snapshot();
        assert_eq!(first.seq, db.shared.written_seq.load(Ordering::Acquire));
        assert!(Arc::ptr_eq(&first, &db.shared.snapshot()));
        db.put(b"k", b"2").unwrap();
        let second = db.shared.snapshot();
        assert_eq!(second.seq, first.seq + 1);
        // The first snapshot, still held, is unchanged by the commit.
        assert_eq!(
            first.index.get(&Probe::new(b"k")).map(|l| l.seq),
            Some(first.seq)
        );
        assert_eq!(
            second.index.get(&Probe::new(b"k")).map(|l| l.seq),
            Some(second.seq)
        );
        // A transaction that began before a commit keeps its snapshot.
        let tx = db.begin().unwrap();
        db.put(b"k", b"3").unwrap();
        assert_eq!(tx.get(b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(db.get(b"k").unwrap(), Some(b"3".to_vec()));
        assert_eq!(
            db.iter().unwrap().map(|r| r.unwrap().1).collect::<Vec<_>>(),
            vec![b"3".to_vec()]
        );
    }
}
