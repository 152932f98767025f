//! The state an open database shares with its transactions, iterators and
//! maintenance, and the coordination of commit, point read and snapshot over it.
//!
//! Invariants:
//! - One writer at a time holds `Shared::writer`; it appends a commit's frame
//!   through the log writer and updates the writer's index and the hash index.
//!   Point reads go through the hash index and the segment table: they never
//!   take the writer lock and never wait for a sync.
//! - Immutable `Version`s (snapshots for iterators, transactions, checkpoints) are
//!   made on demand: `Shared::snapshot` returns the materialized version if it is
//!   of the latest commit, or clones the writer's index (O(1)) under the writer
//!   lock. A commit first drops the materialized version, so that when no reader
//!   holds it the writer's index is not shared and the commit updates its nodes in
//!   place instead of copying every node it touches.
//! - Sequence numbers are assigned under the writer lock, so versions are
//!   published in commit order and each reflects a prefix of the commit order.
//! - The point-read table (`tables`) holds every segment the hash index may point
//!   into: it is stored before the hash index is given locations in a new segment
//!   or a larger map, and loses a segment only after nothing points into it.
//! - Maintenance (checkpoint, compaction, backup, verify) is serialised by
//!   `Shared::maintenance` and runs beside readers and writers.
//! - Locks are taken in the order `installing`, `writer`, `walking`; a thread
//!   that holds `walking` takes no other (but in tests, whose commits during
//!   a walk are made on the walking thread, small enough not to wait for it).
//! - Once `closed` is set, every call through a handle, transaction or iterator
//!   fails; the writer is gone and the last version stays materialized.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::{Condvar, Mutex};

use crate::btree::Index;
use crate::config::Config;
use crate::disk_index::{DiskIndex, Probed};
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, EntryKind, MAX_COMMIT_SIZE, MAX_KEY_SIZE, MAX_VALUE_SIZE};
use crate::hash_index::{Change, HashIndex, Slot};
use crate::index::{self, Key, Loc, Probe};
use crate::index_file;
use crate::key_index::{self, KeyIndex, Relocations};
use crate::log_writer::{LogSync, LogWriter};
use crate::prefetch;
use crate::recovery;
use crate::reports::Stats;
use crate::segment::{file_len, Segment, Span};
use crate::tracker::Tracker;
use crate::value_cache::{ValueCache, CACHED_FROM};
use crate::version::{self, SegmentTable, Version};
use crate::write_set::WriteSet;

/// One write of a commit: a key and its new value (a put), or `None` (a delete).
pub type Op<'a> = (&'a [u8], Option<&'a [u8]>);

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

/// What the writer changes, under `Shared::writer`.
pub(crate) struct Writer {
    pub index: KeyIndex,
    /// Changed through `Arc::make_mut`: versions and readers share it until then.
    pub segments: SegmentTable,
    pub log: LogWriter,
    pub next_seq: u64,
    /// Kept between commits to reuse their allocations (see `keep_for_reuse`).
    pub buf: Vec<u8>,
    pub placed: Vec<Placed>,
    pub changes: Vec<(u64, Change)>,
    /// Since the index was pinned for a checkpoint or a compaction (or, while
    /// a checkpoint is put in place, since the changes were last taken to be
    /// applied outside the lock): the changes made after, so that putting
    /// the index over the new file looks at these alone.
    /// `None` when not pinned, or past [`WRITTEN_SINCE_PIN_MAX`] changes.
    pub written_since_pin: Option<Written>,
}

/// The changes made since a commit, in the order made.
pub(crate) struct Written {
    /// The commit they were made after.
    pub since: u64,
    /// Each change to the index's changes (`key_index::written_after`).
    pub changes: Vec<(Key, Loc)>,
    /// Each change to the hash index, where asked for.
    pub hashed: Option<Vec<(u64, Change)>>,
}

impl Written {
    fn since(seq: u64, hashed: bool) -> Written {
        Written {
            since: seq,
            changes: Vec::new(),
            hashed: hashed.then(Vec::new),
        }
    }
}

/// The most changes kept in `Writer::written_since_pin`, 28 MB of them (and
/// 32 MB more of their changes to the hash index while a checkpoint is put
/// in place): the changes of a few seconds of commits of a thousand puts.
/// Past them (a commit of a million puts during a checkpoint), every change
/// of the index is walked instead, from a clone outside the writer lock, by
/// the install of a checkpoint or a compaction (`Shared::install_checkpoint`).
/// (Few in tests, so that the walk is taken too.)
const WRITTEN_SINCE_PIN_MAX: usize = if cfg!(test) { 1 << 12 } else { 1 << 19 };

/// The commits made while a checkpoint is put in place are applied to its
/// changes outside the writer lock while they are more than this many (a
/// few milliseconds' work), for up to [`ROUNDS`] rounds; then under it.
const CAUGHT_UP: usize = if cfg!(test) { 100 } else { 16_384 };
const ROUNDS: usize = 4;

/// A commit of more changes than this is not made while a checkpoint is put
/// in place: a few such commits would pass what the record keeps, and leave
/// the whole rebase to be done under the writer lock, where every commit
/// waits for it. (Tests: more than [`WRITTEN_SINCE_PIN_MAX`], so that a
/// commit there can still pass it.)
const LARGE_COMMIT: usize = if cfg!(test) { 1 << 13 } else { 1 << 16 };

/// While a clone of the writer's index is walked to put a checkpoint in
/// place, the commits go on, copying each node of the clone they change.
/// Past this many changes since the clone, a commit waits for the walk
/// instead: copying most of the tree raised a bulk load's peak memory by
/// a third (`bench/results/write-behind-2026-12-07.md`).
const COPIED_WHILE_WALKING: usize = if cfg!(test) { 1 << 10 } else { 1 << 13 };

/// Applies the record of the commits made since `kept` and `hash` were of the
/// index: their changes after commit `seq` (`changes`, taken) and their
/// changes to the hash index.
fn apply_record(
    seq: u64,
    kept: &mut Index,
    hash: &HashIndex,
    changes: &mut Vec<(Key, Loc)>,
    hashed: &[(u64, Change)],
) {
    key_index::written_after(seq, changes, kept);
    hash.apply(hashed);
}

impl Writer {
    pub(crate) fn new(
        index: KeyIndex,
        segments: SegmentTable,
        log: LogWriter,
        next_seq: u64,
    ) -> Writer {
        Writer {
            index,
            segments,
            log,
            next_seq,
            buf: Vec::with_capacity(64 * 1024),
            placed: Vec::new(),
            changes: Vec::new(),
            written_since_pin: None,
        }
    }

    /// Pins the index at the latest commit (`KeyIndex::pin`) and starts
    /// keeping the changes made after it.
    pub(crate) fn pin(&mut self) {
        let seq = self.next_seq - 1;
        self.index.pin(seq);
        self.written_since_pin = Some(Written::since(seq, false));
    }

    /// Starts a record of the commits made from now on, with their changes
    /// to the hash index, for a checkpoint being put in place.
    fn record_from_now(&mut self) {
        self.written_since_pin = Some(Written::since(self.next_seq - 1, true));
    }

    /// The bytes allocated for the scratch vectors kept for the next commit.
    #[cfg(test)]
    pub(crate) fn scratch_bytes(&self) -> usize {
        scratch_bytes(&self.buf, &self.placed, &self.changes)
    }

    /// Takes the scratch space of large commits out, for the caller to give
    /// back to the allocator once it has let go of the lock.
    pub(crate) fn release_scratch(&mut self) -> Released {
        fn release<T>(v: &mut Vec<T>) -> Vec<T> {
            if v.capacity() * std::mem::size_of::<T>() > SCRATCH_KEPT {
                std::mem::take(v)
            } else {
                Vec::new()
            }
        }
        Released {
            buf: release(&mut self.buf),
            placed: release(&mut self.placed),
            changes: release(&mut self.changes),
        }
    }

    pub(crate) fn version(&self) -> Version {
        Version {
            seq: self.next_seq - 1,
            index: self.index.clone(),
            segments: self.segments.clone(),
            active: Some((self.log.active_id(), self.log.active_len())),
        }
    }
}

/// The scratch vectors of a commit are kept for the next one up to this many
/// bytes each, and beyond it while the commits that follow use a quarter of
/// them or more: a large allocation is given back to the system when freed,
/// and taken anew page by page (each page faulted in and zeroed) by the next
/// commit, a large part of a large batch's time. A smaller commit, or a
/// second with none (`Writer::release_scratch`, from the background thread),
/// gives them back.
pub(crate) const SCRATCH_KEPT: usize = 4 << 20;

/// `v` cleared for the next commit, or, if it is larger than
/// [`SCRATCH_KEPT`] and this commit used under a quarter of it, nothing, and
/// `v` in `released`.
fn keep_for_reuse<T>(mut v: Vec<T>, released: &mut Vec<T>) -> Vec<T> {
    if v.capacity() * std::mem::size_of::<T>() > SCRATCH_KEPT && v.len() < v.capacity() / 4 {
        *released = v;
        return Vec::new();
    }
    v.clear();
    v
}

/// Scratch vectors the writer no longer keeps. Giving hundreds of megabytes
/// back to the system unmaps every page, which after a commit of millions of
/// writes took most of the next small commit's time, under the writer lock.
/// They are freed after the lock is let go, by the background thread when
/// the commit released them (`Shared::free_released`).
#[derive(Default)]
pub(crate) struct Released {
    buf: Vec<u8>,
    placed: Vec<Placed>,
    changes: Vec<(u64, Change)>,
}

impl Released {
    fn holds_any(&self) -> bool {
        self.buf.capacity() + self.placed.capacity() + self.changes.capacity() > 0
    }
}

/// The bytes allocated for a commit's scratch vectors.
#[cfg(test)]
fn scratch_bytes(buf: &Vec<u8>, placed: &Vec<Placed>, changes: &Vec<(u64, Change)>) -> usize {
    buf.capacity()
        + placed.capacity() * std::mem::size_of::<Placed>()
        + changes.capacity() * std::mem::size_of::<(u64, Change)>()
}

/// How many writes ahead a commit's encoding asks for the bytes it will copy.
const PREFETCH_DISTANCE: usize = 8;

/// Where one write of a commit went in its frame, and the hashes of its key.
pub(crate) struct Placed {
    prefix: u64,
    hash: u64,
    /// From the start of the frame.
    offset: u32,
    /// Its index in the commit's writes.
    op: u32,
    /// The index file's entry of its key, looked up before the commit is
    /// written (`KeyIndex::in_file`).
    in_file: Option<Loc>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub compactions: AtomicU64,
    pub commits: AtomicU64,
    pub checkpoints: AtomicU64,
}

/// How the handle and the commits reach the background thread between its
/// periodic looks: to stop it, or to have it look at compaction now because
/// a commit left a segment without a live record (such a segment goes
/// without copying anything, and its disk space and page-cache pages come
/// back before the next commits need new ones, not a look later).
#[derive(Default)]
pub(crate) struct Wake {
    state: Mutex<WakeState>,
    signal: Condvar,
    /// `state.stop`, read without the lock by work that ends early on a stop
    /// ([`AtClose::Abandon`]).
    stop_asked: AtomicBool,
}

#[derive(Default)]
struct WakeState {
    stop: bool,
    nudged: bool,
}

/// Why [`Wake::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    Stop,
    Nudged,
    TimedOut,
}

impl Wake {
    /// Asks the thread to look at compaction now.
    pub(crate) fn nudge(&self) {
        self.state.lock().nudged = true;
        self.signal.notify_one();
    }

    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.stop_asked.store(true, Ordering::Release);
        self.signal.notify_all();
    }

    /// Clears a stop asked of the thread before, for a thread started anew.
    pub(crate) fn restart(&self) {
        self.state.lock().stop = false;
        self.stop_asked.store(false, Ordering::Release);
    }

    /// Whether the thread has been asked to stop.
    pub(crate) fn stop_asked(&self) -> bool {
        self.stop_asked.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for a stop or a nudge; a nudge is taken.
    pub(crate) fn wait(&self, timeout: std::time::Duration) -> Woken {
        let mut state = self.state.lock();
        if !state.stop && !state.nudged {
            self.signal.wait_for(&mut state, timeout);
        }
        if state.stop {
            Woken::Stop
        } else if std::mem::take(&mut state.nudged) {
            Woken::Nudged
        } else {
            Woken::TimedOut
        }
    }
}

/// Whether a checkpoint or compaction goes on once the handle closes. Work
/// the background thread took up and the close would not do itself (a
/// compaction, a new index file that takes in a delta) is abandoned, so that a
/// close never waits seconds for it on a large database; a checkpoint the
/// close would write as well, and everything a caller asked for, is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtClose {
    Finish,
    Abandon,
}

/// The entries an index file is written from between two looks at whether
/// the work is to be abandoned (an atomic load each); a compaction also looks
/// before each segment it scans and each frame of copies it writes.
const ENTRIES_PER_LOOK: usize = 4096;

/// What [`Shared::index_changes`] reports, read under the writer lock.
pub(crate) struct IndexChanges {
    pub changes: usize,
    /// The keys of the index on disk.
    pub in_file: usize,
    /// The entries of its first delta, if it has one.
    pub in_delta: usize,
    /// The entries of its second delta, over the first, if it has one.
    pub in_second: usize,
    /// About how many lookups have read the deltas as well as the file
    /// (`DiskIndex::lookups_through_delta`).
    pub delta_lookups: u64,
    /// A delta can be written over it: it has an index file that says the
    /// live bytes of each segment.
    pub delta_possible: bool,
    pub last_seq: u64,
    /// The commit the index on disk (its file, or its delta) is of.
    pub file_seq: Option<u64>,
}

pub(crate) struct Shared {
    pub dir: PathBuf,
    pub config: Config,
    /// The newest version made by `snapshot`; it may lag behind the writer (see
    /// the invariants above), so only `snapshot` reads it. None after a commit
    /// until someone asks for a snapshot.
    materialized: ArcSwapOption<Version>,
    /// The segments the hash index may point into, for point reads.
    tables: ArcSwap<BTreeMap<u32, Arc<Segment>>>,
    /// Keys after the latest commit, so that `len()` is one atomic load.
    pub live_keys: AtomicU64,
    hash: ArcSwap<HashIndex>,
    /// The index file of the latest version, for point reads of the keys the
    /// hash index does not hold. Stored before the hash index that relies on it.
    base: ArcSwapOption<DiskIndex>,
    /// None for a read-only handle, and once closed.
    pub writer: Mutex<Option<Writer>>,
    pub log: Arc<LogSync>,
    pub maintenance: Mutex<()>,
    pub wake: Wake,
    pub tracker: Mutex<Tracker>,
    /// The buffered writes of a finished transaction, cleared, for the next
    /// one to fill without allocating (see `keep_for_reuse`).
    spare_writes: Mutex<WriteSet>,
    /// The scratch vectors a commit released, until the background thread
    /// frees them.
    released: Mutex<Option<Released>>,
    cache: Option<ValueCache>,
    pub counters: Counters,
    pub closed: AtomicBool,
    /// A replay of every segment gives the index (see `index_file`): what the
    /// next checkpoint's file says, and whether recovery may rebuild the index
    /// from the log should that file be damaged.
    pub replayable: AtomicBool,
    /// Held while a checkpoint is put in place (see [`LARGE_COMMIT`]).
    installing: Mutex<()>,
    /// Held while the writer's index is walked from a clone to put a
    /// checkpoint in place (see [`COPIED_WHILE_WALKING`]).
    walking: Mutex<()>,
    /// Run by `install_checkpoint` during its walk and after each round of
    /// its work outside the writer lock, while the lock is free (tests commit
    /// there).
    #[cfg(test)]
    pub while_rebasing: Mutex<Option<Box<dyn FnMut() + Send>>>,
    /// Run by [`Shared::go_on`] at each look (tests stop the background
    /// thread there, at a chosen look, or wait for a close).
    #[cfg(test)]
    pub at_each_look: Mutex<Option<Box<dyn FnMut() + Send>>>,
}

impl Shared {
    /// Err, of [`Error::is_abandoned`], once work of `at_close`
    /// [`AtClose::Abandon`] is to end because the handle is closing: the work
    /// then undoes what it wrote, as after any failure.
    pub(crate) fn go_on(&self, at_close: AtClose) -> Result<()> {
        #[cfg(test)]
        if let Some(look) = self.at_each_look.lock().as_mut() {
            look();
        }
        if at_close == AtClose::Abandon && self.wake.stop_asked() {
            return Err(Error::abandoned());
        }
        Ok(())
    }

    /// `entries`, ending early with the error of [`Shared::go_on`] when
    /// work of `at_close` is to be abandoned, looking every
    /// [`ENTRIES_PER_LOOK`] entries.
    pub(crate) fn until_abandoned<'a, T: 'a>(
        &'a self,
        at_close: AtClose,
        entries: impl Iterator<Item = Result<T>> + 'a,
    ) -> impl Iterator<Item = Result<T>> + 'a {
        entries.enumerate().map(move |(i, entry)| {
            if i % ENTRIES_PER_LOOK == 0 {
                self.go_on(at_close)?;
            }
            entry
        })
    }

    pub(crate) fn new(
        dir: PathBuf,
        config: Config,
        version: Version,
        writer: Option<Writer>,
        log: Arc<LogSync>,
        cache: Option<ValueCache>,
        replayable: bool,
    ) -> Shared {
        Shared {
            dir,
            hash: ArcSwap::from_pointee(HashIndex::build(version.index.changes())),
            base: ArcSwapOption::new(version.index.base().cloned()),
            live_keys: AtomicU64::new(version.index.len() as u64),
            tables: ArcSwap::new(version.segments.clone()),
            materialized: ArcSwapOption::from_pointee(version),
            writer: Mutex::new(writer),
            log,
            maintenance: Mutex::new(()),
            wake: Wake::default(),
            tracker: Mutex::new(Tracker::default()),
            spare_writes: Mutex::new(WriteSet::default()),
            released: Mutex::new(None),
            cache,
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            replayable: AtomicBool::new(replayable),
            installing: Mutex::new(()),
            walking: Mutex::new(()),
            config,
            #[cfg(test)]
            while_rebasing: Mutex::new(None),
            #[cfg(test)]
            at_each_look: Mutex::new(None),
        }
    }

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
    pub(crate) fn get_latest(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.through_hash(
            key,
            None,
            |segments, segment, offset, span| {
                Ok(self
                    .read_record(segments, key, segment, offset, span)?
                    .map(Some))
            },
            |version| match version.index.get(&Probe::new(key))? {
                None => Ok(None),
                Some(loc) => self.read_value(version, key, loc).map(Some),
            },
        )
    }

    pub(crate) fn contains_latest(&self, key: &[u8]) -> Result<bool> {
        self.through_hash(
            key,
            false,
            |segments, segment, offset, span| {
                Ok((segments[&segment].entry_in(offset, span)?.key == key).then_some(true))
            },
            |version| version.index.contains_key(&Probe::new(key)),
        )
    }

    /// Looks `key` up in the hash index: `absent` if it was removed, or if no
    /// key with its hash has changed and the index file does not hold it;
    /// `at(segments, segment, offset, len)` on the record the hash index or the
    /// file names, `None` if that record holds another key; `ordered` on a
    /// snapshot if several keys share the hash, or a file's key may.
    fn through_hash<T>(
        &self,
        key: &[u8],
        absent: T,
        at: impl Fn(&BTreeMap<u32, Arc<Segment>>, u32, u32, Span) -> Result<Option<T>>,
        ordered: impl FnOnce(&Version) -> Result<T>,
    ) -> Result<T> {
        let hash = self.hash.load();
        let h = hash.hash(key);
        for _ in 0..64 {
            let segments = self.tables.load();
            let (segment, offset, span) = match hash.lookup(h) {
                Some(Slot::Removed) => return Ok(absent),
                Some(Slot::Shared) => break,
                Some(Slot::At {
                    segment,
                    offset,
                    len,
                }) => (segment, offset, Span::Exact(len)),
                None => {
                    let Some(base) = self.base.load_full() else {
                        return Ok(absent);
                    };
                    // The file's table names records by place; their headers
                    // give their lengths, and a tag may match another key's
                    // record. A record moved by a compaction since the hash
                    // index was loaded is looked for again.
                    let mut moved = false;
                    let found = base.probe(index_file::hash(key), |segment, offset, most| {
                        if !segments.contains_key(&segment) {
                            moved = true;
                            return Ok(None);
                        }
                        at(&segments, segment, offset, Span::AtMost(most))
                    })?;
                    match found {
                        Probed::Found(found) => return Ok(found),
                        Probed::Unsure => break,
                        Probed::Absent if moved => {
                            std::thread::yield_now();
                            continue;
                        }
                        Probed::Absent => return Ok(absent),
                    }
                }
            };
            if !segments.contains_key(&segment) {
                // The table is stored before the hash index points into a new
                // segment, but an older table may have been loaded just before;
                // a compaction may have moved a record the file names.
                std::thread::yield_now();
                continue;
            }
            match at(&segments, segment, offset, span)? {
                Some(found) => return Ok(found),
                None if self.base.load().is_none() => return Ok(absent),
                None => break,
            }
        }
        ordered(&self.snapshot())
    }

    #[cfg(test)]
    pub(crate) fn materialized(&self) -> Option<Arc<Version>> {
        self.materialized.load_full()
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
        let latest = self.log.written_seq();
        self.materialized.load_full().filter(|v| v.seq == latest)
    }

    /// The version of the latest commit; the caller holds the writer lock.
    pub(crate) fn materialize(&self, writer: Option<&Writer>) -> Arc<Version> {
        let latest = self.log.written_seq();
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
    pub(crate) fn rematerialize(&self, w: &Writer) -> Arc<Version> {
        let v = Arc::new(w.version());
        self.materialized.store(Some(v.clone()));
        self.tables.store(w.segments.clone());
        v
    }

    /// The value at `loc`, which the ordered index says holds `key`.
    pub(crate) fn read_value(&self, version: &Version, key: &[u8], loc: Loc) -> Result<Vec<u8>> {
        self.read_record(
            &version.segments,
            key,
            loc.segment,
            loc.offset,
            Span::Exact(loc.len),
        )?
        .ok_or_else(|| {
            Error::corrupted(format!(
                "segment {} at offset {}: index entry does not match the record on disk",
                loc.segment, loc.offset
            ))
        })
    }

    /// Makes `version`, loaded again from the files, the latest of a read-only
    /// handle.
    pub(crate) fn publish_read_only(&self, version: Version) {
        let hash = HashIndex::build(version.index.changes());
        self.base.store(version.index.base().cloned());
        self.hash.store(Arc::new(hash));
        self.live_keys
            .store(version.index.len() as u64, Ordering::Release);
        self.tables.store(version.segments.clone());
        self.log.set_written(version.seq);
        self.materialized.store(Some(Arc::new(version)));
    }

    /// The value of the record at the given place if it is a put of `key`, through
    /// the cache if the record is large enough to gain from it; `None` if the
    /// record holds another key.
    fn read_record(
        &self,
        segments: &BTreeMap<u32, Arc<Segment>>,
        key: &[u8],
        segment: u32,
        offset: u32,
        span: Span,
    ) -> Result<Option<Vec<u8>>> {
        // A hit needs no segment: it is looked up only for what reads one.
        let seg = || version::segment_in(segments, segment);
        let through_cache = match span {
            Span::Exact(len) => len as usize >= CACHED_FROM,
            Span::AtMost(most) => {
                most as usize >= CACHED_FROM
                    && seg()?
                        .stated_len(offset, most)
                        .is_some_and(|l| l >= CACHED_FROM)
            }
        };
        if !through_cache {
            let e = seg()?.entry_in(offset, span)?;
            return Ok((e.key == key).then(|| e.value.to_vec()));
        }
        if let Some(cache) = &self.cache {
            if let Some((key_len, bytes)) = cache.get(segment, offset) {
                self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                let (k, v) = bytes.split_at(key_len as usize);
                return Ok((k == key).then(|| v.to_vec()));
            }
        }
        self.counters.cache_misses.fetch_add(1, Ordering::Relaxed);
        let e = seg()?.entry_in(offset, span)?;
        if let Some(cache) = &self.cache {
            cache.offer(segment, offset, e.key, e.value);
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
            return Ok(self.log.written_seq());
        }
        let (seq, beside, emptied_a_segment, released) = {
            let _no_install = (ops.len() > LARGE_COMMIT).then(|| self.installing.lock());
            let mut guard = self.writer.lock();
            let w = guard.as_mut().ok_or_else(Error::closed)?;
            self.log.check_not_poisoned()?;
            if w.written_since_pin.as_ref().is_some_and(|r| {
                r.hashed.is_some() && r.changes.len() + ops.len() > COPIED_WHILE_WALKING
            }) {
                drop(self.walking.lock());
            }
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
                in_file: None,
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
            // The index file's entry of each key, in key order (neighbours share
            // its blocks), before the commit is written: a part of the file that
            // fails its check fails the commit, not the index update after it.
            if w.index.base().is_some() {
                // A put of a key the changes hold replaces their entry, so the
                // file's is not needed (`KeyIndex::insert_all_over`): a commit
                // that rewrites keys written since the file looks none up.
                let mut changed = w.index.changes().finger();
                let wanted: Vec<usize> = (0..sorted.len())
                    .filter(|&j| {
                        let (k, v) = sorted[j];
                        v.is_none() || !changed.contains(k)
                    })
                    .collect();
                let mut to = wanted.iter();
                let looked_up =
                    w.index
                        .in_file_sorted(wanted.iter().map(|&j| sorted[j].0), |found| {
                            if let Some(&j) = to.next() {
                                placed[j].in_file = found;
                            }
                        });
                if let Err(e) = looked_up {
                    w.buf = buf;
                    w.placed = placed;
                    return Err(e);
                }
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
            let written = w.log.append(&mut w.segments, &buf, seq - 1);
            // Before the hash index points into a new segment or a larger map.
            if !Arc::ptr_eq(&self.tables.load(), &w.segments) {
                self.tables.store(w.segments.clone());
            }
            w.buf = buf;
            let at = match written {
                Ok(at) => at,
                Err(e) => {
                    w.placed = placed;
                    return Err(e);
                }
            };
            // Nothing below returns early: the commit always waits for this sync.
            let beside = w.log.sync_beside(seq, frame_len);
            // Unless a reader still holds it, this leaves the writer's index
            // unshared, to be updated in place.
            self.materialized.store(None);
            hash.reserve(ops.iter().filter(|(_, v)| v.is_some()).count());
            let mut changes = std::mem::take(&mut w.changes);
            changes.clear();
            let emptied = w.index.segments_emptied();
            // The key as the frame holds it, not where the caller left it: the
            // frame is read front to back, the caller's bytes out of order (a
            // cache miss a key in a large commit).
            let frame_key = |p: &Placed, k: &[u8], value_len: usize| {
                let header_len = format::header_len(k.len(), value_len, 0);
                let key_at = start + p.offset as usize + header_len;
                (key_at, header_len + k.len() + value_len)
            };
            let segment = w.log.active_id();
            let mut written = w.written_since_pin.take();
            let mut j = 0;
            while j < placed.len() {
                let (p, (k, v)) = (&placed[j], sorted[j]);
                if v.is_none() {
                    let (key_at, _) = frame_key(p, k, 0);
                    let k = &w.buf[key_at..key_at + k.len()];
                    let removal = w.index.remove_over(&Probe::new(k), seq, p.in_file);
                    if let (Some(written), Some(r)) = (&mut written, removal) {
                        if r.marked {
                            written.changes.push((Key::new(k), key_index::removal(seq)));
                        }
                    }
                    if let Some(r) = removal {
                        let change = Change::Delete {
                            old: r.old,
                            hide: r.marked,
                        };
                        changes.push((p.hash, change));
                    }
                    j += 1;
                    continue;
                }
                // A run of puts, in key order: placed a leaf at a time.
                let end = sorted[j..]
                    .iter()
                    .position(|(_, v)| v.is_none())
                    .map_or(sorted.len(), |n| j + n);
                let buf = &w.buf;
                let puts = placed[j..end]
                    .iter()
                    .zip(&sorted[j..end])
                    .map(|(p, &(k, v))| {
                        let (key_at, len) = frame_key(p, k, v.map_or(0, |v| v.len()));
                        let new = Loc {
                            seq,
                            segment,
                            offset: (at + p.offset as u64) as u32,
                            len: len as u32,
                        };
                        let key = Key::new(&buf[key_at..key_at + k.len()]);
                        if let Some(written) = &mut written {
                            written.changes.push((key.clone(), new));
                        }
                        (key, new, p.in_file, (p.hash, new))
                    });
                w.index.insert_all_over(puts, |old, (hash, new)| {
                    changes.push((hash, Change::Put { old, new }));
                });
                j = end;
            }
            hash.apply(&changes);
            if let Some(hashed) = written.as_mut().and_then(|w| w.hashed.as_mut()) {
                hashed.extend_from_slice(&changes);
            }
            if written
                .as_ref()
                .is_some_and(|w| w.changes.len() > WRITTEN_SINCE_PIN_MAX)
            {
                written = None;
            }
            w.written_since_pin = written;
            let mut released = Released::default();
            w.changes = keep_for_reuse(changes, &mut released.changes);
            w.placed = keep_for_reuse(placed, &mut released.placed);
            w.buf = keep_for_reuse(std::mem::take(&mut w.buf), &mut released.buf);
            w.next_seq += 1;
            // The key count first: a `len()` racing with a commit may see either
            // count, and sees the new one once the commit has returned.
            self.live_keys
                .store(w.index.len() as u64, Ordering::Release);
            self.log.set_written(seq);
            self.tracker
                .lock()
                .record(ops.iter().map(|(k, _)| *k), seq, snapshot_seq);
            (seq, beside, w.index.segments_emptied() != emptied, released)
        };
        if released.holds_any() {
            // The one before, if the background thread has not freed it yet,
            // is freed here, so that at most one waits.
            let before = self.released.lock().replace(released);
            drop(before);
        }
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        if emptied_a_segment && self.config.auto_compact {
            self.wake.nudge();
        }
        self.log.finish_commit(seq, beside)?;
        Ok(seq)
    }

    /// Gives the scratch space of large commits and transactions back (the
    /// database at rest).
    pub(crate) fn release_scratch(&self) {
        let released = self.writer.lock().as_mut().map(Writer::release_scratch);
        drop(released);
        let spare = {
            let mut spare = self.spare_writes.lock();
            (spare.allocated() > SCRATCH_KEPT).then(|| std::mem::take(&mut *spare))
        };
        drop(spare);
        self.free_released();
    }

    /// Frees the scratch vectors the last commit that released any left
    /// (see [`Released`]).
    pub(crate) fn free_released(&self) {
        let released = self.released.lock().take();
        drop(released);
    }

    /// The bytes of the scratch vectors a commit released that wait to be
    /// freed.
    #[cfg(test)]
    pub(crate) fn released_bytes(&self) -> usize {
        self.released
            .lock()
            .as_ref()
            .map_or(0, |r| scratch_bytes(&r.buf, &r.placed, &r.changes))
    }

    /// An empty write set for a transaction, with the allocations of one
    /// finished before if there was one.
    pub(crate) fn write_set(&self) -> WriteSet {
        std::mem::take(&mut *self.spare_writes.lock())
    }

    #[cfg(test)]
    pub(crate) fn spare_write_set_bytes(&self) -> usize {
        self.spare_writes.lock().allocated()
    }

    /// Keeps a finished transaction's writes' allocations for the next, if
    /// larger than the ones kept, and if not mostly unused (the rule of
    /// `keep_for_reuse`).
    pub(crate) fn give_back_write_set(&self, mut writes: WriteSet) {
        if writes.allocated() > SCRATCH_KEPT && writes.used() < writes.allocated() / 4 {
            return;
        }
        let mut spare = self.spare_writes.lock();
        if writes.allocated() > spare.allocated() {
            writes.clear();
            *spare = writes;
        }
    }

    /// The index file the latest version reads, if any.
    pub(crate) fn index_file(&self) -> Option<Arc<DiskIndex>> {
        self.base.load_full()
    }

    /// Seals the active segment and starts a new one, so that every record written
    /// so far lies in a sealed segment. Returns the version after the roll.
    pub(crate) fn roll_for_compaction(&self) -> Result<Arc<Version>> {
        let mut guard = self.writer.lock();
        let w = guard.as_mut().ok_or_else(Error::closed)?;
        // Keys deleted while the copies are made leave a removal, which keeps
        // them hidden over the index file the compaction writes from this
        // snapshot; the file after it takes the removals away.
        w.pin();
        if w.log.active_len() > 0 {
            let last_seq = w.next_seq - 1;
            w.log.roll(&mut w.segments, last_seq)?;
            return Ok(self.rematerialize(w));
        }
        Ok(self.materialize(Some(w)))
    }

    /// Swaps compacted segments in under `file`, the index file of the
    /// compaction's snapshot (commit `seq`) with the copied keys at their
    /// copies: the changes since stay over it, as over a checkpoint, put in
    /// place the same way; the copies are counted and the inputs leave the
    /// table as the writer's index is replaced.
    pub(crate) fn install_compaction(
        &self,
        file: Arc<DiskIndex>,
        seq: u64,
        relocations: &Relocations,
        inputs: &BTreeSet<u32>,
        outputs: Vec<Arc<Segment>>,
    ) -> Result<()> {
        let outputs = outputs
            .into_iter()
            .map(|seg| Ok((file_len(&seg.path)?, seg)))
            .collect::<Result<Vec<_>>>()?;
        self.install(file, seq, |w| {
            // The outputs join the point-read table before the file points
            // into them; the inputs leave it after, when nothing points into
            // them (`rematerialize`).
            let mut with_outputs = (*w.segments).clone();
            for (_, seg) in &outputs {
                with_outputs.insert(seg.id, seg.clone());
            }
            self.tables.store(Arc::new(with_outputs));
            let looked_up = w.index.relocated(relocations);
            log::debug!(
                "compaction of {}: {} copies counted, {looked_up} entries looked up",
                self.dir.display(),
                relocations.len()
            );
            let segments = Arc::make_mut(&mut w.segments);
            for id in inputs {
                if let Some(seg) = segments.remove(id) {
                    w.log.sealed_removed(file_len(&seg.path).unwrap_or(0));
                }
            }
            for (len, seg) in outputs {
                w.log.sealed_added(len);
                segments.insert(seg.id, seg);
            }
        })
    }

    /// A snapshot of the latest commit to write a checkpoint from: until the
    /// checkpoint is installed, keys it holds that are deleted leave a removal.
    pub(crate) fn snapshot_for_checkpoint(&self) -> Arc<Version> {
        let mut guard = self.writer.lock();
        let v = self.materialize(guard.as_ref());
        if let Some(w) = guard.as_mut() {
            w.pin();
        }
        v
    }

    /// Puts the writer's index over `file`, a checkpoint as of commit `seq`:
    /// the changes it holds leave memory, and the hash index keeps the rest.
    ///
    /// The changes kept over the file are those made since the index was
    /// pinned for it; they, and their hash index, are built outside the
    /// writer lock from the record of them, so that the commits made while a
    /// large file was written do not wait for a walk of every change and a
    /// map of those kept. The commits made meanwhile are recorded as they are
    /// made and applied to both, outside the lock while many, under it once
    /// few; then the two take the writer's place. Without a record (too many
    /// changes since the pin, as in a bulk load), the kept changes come from
    /// a walk of a clone of the index, also outside the lock.
    ///
    /// Large commits wait until the install is done ([`LARGE_COMMIT`]), and
    /// a commit that would copy much of the clone waits for the walk
    /// ([`COPIED_WHILE_WALKING`]). If the record is passed all the same, all
    /// is done under the lock.
    pub(crate) fn install_checkpoint(&self, file: Arc<DiskIndex>, seq: u64) -> Result<()> {
        self.install(file, seq, |_| {})
    }

    /// `install_checkpoint`, with `at_swap` done to the writer under the
    /// lock once its index is over `file`, before readers are.
    fn install(
        &self,
        file: Arc<DiskIndex>,
        seq: u64,
        at_swap: impl FnOnce(&mut Writer),
    ) -> Result<()> {
        let installing = self.installing.lock();
        // Only a checkpoint or a compaction replaces the hash index, and the
        // caller holds the maintenance lock: this one stays until the end.
        let hash = self.hash.load_full();
        let mut guard = self.writer.lock();
        let w = guard.as_mut().ok_or_else(Error::closed)?;
        let mut kept = match w.written_since_pin.take() {
            Some(mut since_pin) if since_pin.since <= seq => {
                w.record_from_now();
                drop(guard);
                let mut kept = Index::new();
                key_index::written_after(seq, &mut since_pin.changes, &mut kept);
                kept
            }
            // Too many commits since the pin to have been recorded: the index
            // as it is now is walked, from a clone, outside the lock.
            _ => {
                let index = w.index.clone();
                w.record_from_now();
                let walking = self.walking.lock();
                drop(guard);
                self.meanwhile();
                let kept = index.changes_after(seq);
                // Before the commits waiting for the walk change the nodes
                // the clone holds.
                drop(index);
                drop(walking);
                kept
            }
        };
        let new_hash = hash.build_alike(&kept);
        let mut rounds = 0;
        let (mut guard, new_hash, freed) = loop {
            self.meanwhile();
            let mut guard = self.writer.lock();
            let w = guard.as_mut().ok_or_else(Error::closed)?;
            let recorded = w
                .written_since_pin
                .take()
                .and_then(|r| Some((r.changes, r.hashed?)));
            match recorded {
                // Many commits since: applied outside the lock.
                Some((mut changes, hashed)) if changes.len() > CAUGHT_UP && rounds < ROUNDS => {
                    w.record_from_now();
                    drop(guard);
                    apply_record(seq, &mut kept, &new_hash, &mut changes, &hashed);
                    rounds += 1;
                }
                Some((mut changes, hashed)) => {
                    apply_record(seq, &mut kept, &new_hash, &mut changes, &hashed);
                    let rebased = w.index.over(file.clone(), kept);
                    let old = std::mem::replace(&mut w.index, rebased);
                    break (guard, new_hash, (old, None));
                }
                // Too many commits to record: all under the lock.
                None => {
                    let rebased = w.index.rebased(file.clone(), seq);
                    let rebuilt = HashIndex::build(rebased.changes());
                    let old = std::mem::replace(&mut w.index, rebased);
                    break (guard, rebuilt, (old, Some((kept, new_hash))));
                }
            }
        };
        let w = guard.as_mut().ok_or_else(Error::closed)?;
        at_swap(w);
        // The file before the hash index that leaves its keys to it.
        self.base.store(Some(file));
        self.hash.store(Arc::new(new_hash));
        self.rematerialize(w);
        drop(guard);
        drop(installing);
        // Freeing the nodes the commits copied takes tens of milliseconds at
        // millions of changes: not under the lock.
        drop(freed);
        Ok(())
    }

    /// Runs the test's commits (`while_rebasing`) where `install_checkpoint`
    /// leaves the writer lock free.
    fn meanwhile(&self) {
        #[cfg(test)]
        if let Some(commits) = self.while_rebasing.lock().as_mut() {
            commits();
        }
    }

    /// The number of the index's changes since its file, of the file's keys,
    /// and the sequence number of the last commit they include; `None` without
    /// a writer.
    pub(crate) fn index_changes(&self) -> Option<IndexChanges> {
        let guard = self.writer.lock();
        let w = guard.as_ref()?;
        Some(IndexChanges {
            changes: w.index.changes().len(),
            in_file: w.index.base().map_or(0, |b| b.len()),
            in_delta: w
                .index
                .base()
                .and_then(|b| b.deltas().first())
                .map_or(0, |d| d.len()),
            in_second: w
                .index
                .base()
                .and_then(|b| b.deltas().get(1))
                .map_or(0, |d| d.len()),
            delta_lookups: w.index.base().map_or(0, |b| b.lookups_through_delta()),
            delta_possible: w.index.base().is_some() && w.index.live_by_segment().is_some(),
            last_seq: w.next_seq - 1,
            file_seq: w.index.base().map(|b| b.seq()),
        })
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let writer_bytes = self
            .writer
            .lock()
            .as_ref()
            .map(|w| (w.index.live_bytes(), w.log.total_bytes()));
        let (live_bytes, total_bytes) = writer_bytes.unwrap_or_else(|| {
            let version = self.snapshot();
            (
                version.index.live_bytes(),
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
            last_seq: self.log.written_seq(),
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            cache_misses: c.cache_misses.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            fsyncs: self.log.fsyncs(),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
        }
    }

    /// Closes the writer's log after the last commit; the caller holds the
    /// maintenance lock and has set `closed`.
    pub(crate) fn close_writer(&self) -> Result<()> {
        let mut guard = self.writer.lock();
        if let Some(w) = guard.as_ref() {
            // Iterators and snapshots taken after this point read the last version.
            self.materialize(Some(w));
        }
        let Some(w) = guard.take() else {
            return Ok(());
        };
        let (mut segments, last_seq) = (w.segments, w.next_seq - 1);
        let result = w.log.close(&mut segments, last_seq);
        log::info!("closed {} at seq {last_seq}", self.dir.display());
        result
    }
}
