//! The database handle: open, close, and the public methods, which coordinate
//! the shared state's commit, read and snapshot paths (`shared`), transactions,
//! iteration and maintenance.
//!
//! Invariants:
//! - A `Database` is the only owner of what an open database holds beyond its
//!   shared state: the background thread, the transactions addressed by id and
//!   the writer lock on the directory. Closing (or dropping) it stops the thread,
//!   rolls those transactions back, seals the log and then lets go of the lock.
//! - Every public method checks, through the shared state, that the handle is
//!   open and, for writes, that it is not read-only, before it does anything.

use std::fs::File;
use std::ops::{ControlFlow, RangeBounds};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::background::Background;
use crate::compaction;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::iter::{self, Iter, KeyRange};
use crate::maintenance;
use crate::open::{self, load_read_only, Opened};
use crate::reports::{CompactionReport, Stats, VerifyReport};
use crate::shared::{validate_key, AtClose, Op, Shared};
use crate::sync;
use crate::transaction::Transaction;

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

/// An open database. `Send + Sync`: share it between threads by reference or in
/// an `Arc`. Dropping it closes it.
pub struct Database {
    pub(crate) shared: Arc<Shared>,
    background: Mutex<Option<Background>>,
    lock_file: Mutex<Option<File>>,
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
        let Opened { shared, lock_file } = open::open(dir, config)?;
        let background = if shared.config.read_only {
            None
        } else {
            Some(Background::start(shared.clone())?)
        };
        Ok(Database {
            shared,
            background: Mutex::new(background),
            lock_file: Mutex::new(lock_file),
        })
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
        self.write_ops(&ops)
    }

    /// Applies `ops` atomically, in order, as [`Database::write`] does, reading
    /// each key and value where the caller keeps it: a batch that already
    /// lives elsewhere (a foreign language's objects, a packed buffer) is
    /// written without first being copied into a [`WriteBatch`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::create(dir.path(), Default::default()).unwrap();
    /// db.write_ops(&[(b"a", Some(b"1")), (b"b", None)]).unwrap();
    /// assert_eq!(db.get(b"a").unwrap(), Some(b"1".to_vec()));
    /// ```
    pub fn write_ops(&self, ops: &[Op<'_>]) -> Result<()> {
        self.shared.commit(ops, None).map(|_| ())
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

    /// Reads up to `limit` entries of `range` in key order (descending if
    /// `reverse`), lending each key and value to `f`, which returns
    /// `ControlFlow::Break(())` to stop there; returns how many entries were
    /// lent, the one `f` stopped at included. As of now, like
    /// [`Database::range`], but without an iterator: nothing is allocated and
    /// nothing copied unless `f` copies it, and nothing past `limit` is read,
    /// which makes it the cheapest way to read a short range. An entry that
    /// fails its checksum ends the read with CorruptedData, after the entries
    /// before it were lent.
    ///
    /// ```
    /// # use std::ops::ControlFlow;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::create(dir.path(), Default::default()).unwrap();
    /// # for i in 0..100u8 { db.put(&[i], b"v").unwrap(); }
    /// let mut keys = Vec::new();
    /// let lent = db.range_with(&[40u8][..].., false, 10, |key, _value| {
    ///     keys.push(key[0]);
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(lent, 10);
    /// assert_eq!(keys, (40..50).collect::<Vec<u8>>());
    /// # Ok::<(), lightning_db::Error>(())
    /// ```
    pub fn range_with<'k>(
        &self,
        range: impl RangeBounds<&'k [u8]>,
        reverse: bool,
        limit: usize,
        f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
    ) -> Result<usize> {
        self.shared.check_open()?;
        let version = self.shared.snapshot();
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        iter::walk(&self.shared, &version, bounds, reverse, limit, f)
    }

    pub fn iter(&self) -> Result<Iter> {
        self.range(KeyRange::all())
    }

    pub fn prefix(&self, prefix: &[u8]) -> Result<Iter> {
        self.range(KeyRange::prefix(prefix))
    }

    /// Syncs everything written and writes a checkpoint of the index, so the next
    /// open reads the checkpoint instead of replaying the log, and a plain copy of
    /// the directory taken now opens as a consistent database. The checkpoint is
    /// a delta of the keys changed since the last index file (or, over such a
    /// delta, since that delta) while the deltas stay under half the file's
    /// keys, otherwise a new index file of every key; nothing new when no
    /// commit came since the checkpoint on disk.
    pub fn checkpoint(&self) -> Result<()> {
        self.shared.check_open()?;
        self.shared.check_writable()?;
        let _m = self.shared.maintenance.lock();
        maintenance::checkpoint_on_request(&self.shared)
    }

    /// Rewrites the live records of the sealed segments that hold dead ones into
    /// new segments and removes the old ones; a segment whose dead bytes are under
    /// 1/64 of it (plus a page) is left as it is. Readers and writers continue
    /// meanwhile.
    pub fn compact(&self) -> Result<CompactionReport> {
        self.shared.check_open()?;
        self.shared.check_writable()?;
        let _m = self.shared.maintenance.lock();
        compaction::compact(&self.shared, AtClose::Finish)
    }

    /// Writes a consistent copy of the database into `dest` (which must not exist
    /// or be empty) while readers and writers continue.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<()> {
        self.shared.check_open()?;
        let _m = self.shared.maintenance.lock();
        maintenance::backup(&self.shared, dest.as_ref())
    }

    /// Reads every record of every segment and checks every checksum.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.verify_with_progress(|_, _| ())
    }

    /// `verify`, calling `progress(bytes_scanned, bytes_total)` as it reads the
    /// segments (at the start, about every MiB, and once all are read, before the
    /// live keys are checked), for a progress bar over a long verify.
    pub fn verify_with_progress(&self, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
        self.shared.check_open()?;
        let _m = self.shared.maintenance.lock();
        maintenance::verify(&self.shared, &mut progress)
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
        let (version, replayable) = load_read_only(&self.shared.dir)?;
        self.shared.replayable.store(replayable, Ordering::Release);
        log::debug!(
            "refreshed {} to seq {}",
            self.shared.dir.display(),
            version.seq
        );
        self.shared.publish_read_only(version);
        Ok(())
    }

    /// Syncs, seals the active segment and releases the writer lock. Every later
    /// call on this handle (or its transactions and iterators) fails with
    /// InvalidArgument; a second close does too. If many keys changed since the
    /// last checkpoint, writes one first, so that the next open maps it instead
    /// of replaying the log. A compaction the background thread is running is
    /// abandoned, not waited for, and so is a checkpoint of its that the close
    /// would not write itself.
    pub fn close(&self) -> Result<()> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::closed());
        }
        if let Some(background) = self.background.lock().take() {
            background.stop();
        }
        let _m = self.shared.maintenance.lock();
        // Left to the next open to rebuild.
        maintenance::set_aside_damaged_index(&self.shared);
        maintenance::checkpoint_at_close(&self.shared);
        let result = self.shared.close_writer();
        self.lock_file.lock().take();
        result
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
impl Database {
    /// Stops the background thread and, given `look`, starts one whose
    /// periodic looks come that far apart; without, the stop stays asked.
    pub(crate) fn replace_background(&self, look: Option<std::time::Duration>) {
        if let Some(background) = self.background.lock().take() {
            background.stop();
        }
        if let Some(look) = look {
            let started = Background::start_looking_every(self.shared.clone(), look).unwrap();
            *self.background.lock() = Some(started);
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if !self.is_closed() {
            if let Err(e) = self.close() {
                log::warn!("closing {} on drop failed: {e}", self.shared.dir.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncMode;
    use crate::error::ErrorKind;
    use crate::hash_index::Change;
    use crate::index::Probe;
    use crate::recovery;
    use crate::shared::{Placed, SCRATCH_KEPT};
    use std::time::Duration;

    fn open(dir: &Path) -> Database {
        let config = Config {
            sync_mode: SyncMode::Off,
            ..Config::default()
        };
        Database::create(dir, config).unwrap()
    }

    /// The scratch space of a commit of many writes is given back when a
    /// small commit follows, and then by the background thread, not by the
    /// small commit under the writer lock: freeing hundreds of megabytes
    /// takes a tenth of a second.
    #[test]
    fn a_small_commit_leaves_the_scratch_of_a_large_one_to_the_background_thread() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.background.lock().take().unwrap().stop();
        let keys: Vec<[u8; 16]> = (0..200_000u128).map(|i| i.to_be_bytes()).collect();
        let ops: Vec<(&[u8], Option<&[u8]>)> =
            keys.iter().map(|k| (&k[..], Some(&b"value"[..]))).collect();
        db.write_ops(&ops).unwrap();
        let kept = |db: &Database| db.shared.writer.lock().as_ref().unwrap().scratch_bytes();
        let large = kept(&db);
        assert!(large > 3 * SCRATCH_KEPT, "kept for the next large commit");
        assert_eq!(db.shared.released_bytes(), 0);
        db.put(b"small", b"value").unwrap();
        assert!(kept(&db) <= 3 * SCRATCH_KEPT);
        assert_eq!(db.shared.released_bytes() + kept(&db), large);
        *db.background.lock() = Some(Background::start(db.shared.clone()).unwrap());
        let started = std::time::Instant::now();
        while db.shared.released_bytes() > 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "never freed");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(db.get(b"small").unwrap().as_deref(), Some(&b"value"[..]));
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
        let offsets: Vec<u32> = version.index.values().map(|l| l.unwrap().offset).collect();
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

        db.shared.log.set_next_segment_id(u32::MAX - 3);
        assert_eq!(db.shared.log.allocate_segment_id().unwrap(), u32::MAX - 3);
        assert_eq!(db.shared.log.allocate_segment_id().unwrap(), u32::MAX - 2);
        let err = db.shared.log.allocate_segment_id().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IoError, "{err}");
        drop(db);
        // What was written opens: the last sequence number is still a valid one.
        let db = open(dir.path());
        assert_eq!(db.get(b"k").unwrap(), Some(b"last".to_vec()));
    }

    fn large_commit(db: &Database, value: u8) {
        let mut tx = db.begin().unwrap();
        for i in 0..20_000u32 {
            tx.put(&i.to_be_bytes(), &[value; 300]).unwrap();
        }
        tx.commit().unwrap();
    }

    fn scratch_bytes(db: &Database) -> (usize, *const u8) {
        let guard = db.shared.writer.lock();
        let w = guard.as_ref().unwrap();
        (w.buf.capacity(), w.buf.as_ptr())
    }

    #[test]
    fn large_commits_reuse_their_scratch_space_and_a_small_one_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        large_commit(&db, 1);
        let (kept, at) = scratch_bytes(&db);
        assert!(kept > 20_000 * 300, "{kept}");
        let writes = db.shared.spare_write_set_bytes();
        assert!(writes > 20_000 * 300, "{writes}");
        // The second large transaction fills the first's write set, and the
        // commit its scratch space.
        let mut tx = db.begin().unwrap();
        assert_eq!(db.shared.spare_write_set_bytes(), 0, "taken");
        for i in 0..20_000u32 {
            tx.put(&i.to_be_bytes(), &[2; 300]).unwrap();
        }
        tx.commit().unwrap();
        assert_eq!(db.shared.spare_write_set_bytes(), writes, "given back");
        assert_eq!(scratch_bytes(&db), (kept, at), "the same buffer");
        let mut tx = db.begin().unwrap();
        tx.put(b"small", b"transaction").unwrap();
        tx.commit().unwrap();
        assert_eq!(
            db.shared.spare_write_set_bytes(),
            0,
            "a small one lets it go"
        );
        db.put(b"small", b"commit").unwrap();
        let guard = db.shared.writer.lock();
        let w = guard.as_ref().unwrap();
        assert!(w.buf.capacity() <= SCRATCH_KEPT, "{}", w.buf.capacity());
        assert!(w.placed.capacity() * std::mem::size_of::<Placed>() <= SCRATCH_KEPT);
        assert!(w.changes.capacity() * std::mem::size_of::<(u64, Change)>() <= SCRATCH_KEPT);
    }

    #[test]
    fn the_scratch_space_of_a_large_commit_is_given_back_at_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        large_commit(&db, 1);
        assert!(scratch_bytes(&db).0 > SCRATCH_KEPT);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        assert!(db.shared.spare_write_set_bytes() > SCRATCH_KEPT);
        while scratch_bytes(&db).0 > SCRATCH_KEPT || db.shared.spare_write_set_bytes() > 0 {
            assert!(std::time::Instant::now() < deadline, "scratch kept at rest");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(db.get(&7u32.to_be_bytes()).unwrap(), Some(vec![1; 300]));
    }

    #[test]
    fn a_commit_that_empties_a_segment_brings_compaction_forward() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            sync_mode: SyncMode::Off,
            segment_size: 64 * 1024,
            compaction_min_dead_bytes: 4096,
            compaction_dead_ratio: 0.25,
            ..Config::default()
        };
        let db = Database::create(dir.path(), config).unwrap();
        // Periodic looks an hour apart: only a nudge starts a compaction.
        db.background.lock().take().unwrap().stop();
        *db.background.lock() = Some(
            Background::start_looking_every(db.shared.clone(), Duration::from_secs(3600)).unwrap(),
        );
        let keys: Vec<[u8; 8]> = (0..300u64).map(|i| i.to_be_bytes()).collect();
        let commit = |keys: &[[u8; 8]], value: u8| {
            let mut batch = WriteBatch::new();
            for k in keys {
                batch.put(&k[..], &[value; 150][..]);
            }
            db.write(&batch).unwrap();
        };
        // Segment 1 nearly full; half of it overwritten in segment 2: dead
        // bytes past the ratio, but no segment without a live record.
        commit(&keys, 1);
        commit(&keys[..150], 2);
        let stats = db.stats().unwrap();
        assert_eq!(stats.segments, 2);
        assert!(stats.total_bytes - stats.live_bytes >= stats.total_bytes / 4);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(db.stats().unwrap().compactions, 0);
        // The other half: segment 1 holds nothing live.
        commit(&keys[150..], 3);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while db.stats().unwrap().compactions == 0 {
            assert!(std::time::Instant::now() < deadline, "no compaction");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!crate::segment::segment_path(dir.path(), 1).exists());
        for (i, k) in keys.iter().enumerate() {
            let value = if i < 150 { 2 } else { 3 };
            assert_eq!(db.get(k).unwrap(), Some(vec![value; 150]));
        }
    }

    #[test]
    fn snapshots_are_made_on_demand_and_reused_until_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        db.put(b"k", b"1").unwrap();
        assert!(
            db.shared.materialized().is_none(),
            "a commit leaves no version behind"
        );
        let first = db.shared.snapshot();
        assert_eq!(first.seq, db.shared.log.written_seq());
        assert!(Arc::ptr_eq(&first, &db.shared.snapshot()));
        db.put(b"k", b"2").unwrap();
        let second = db.shared.snapshot();
        assert_eq!(second.seq, first.seq + 1);
        // The first snapshot, still held, is unchanged by the commit.
        assert_eq!(
            first.index.get(&Probe::new(b"k")).unwrap().map(|l| l.seq),
            Some(first.seq)
        );
        assert_eq!(
            second.index.get(&Probe::new(b"k")).unwrap().map(|l| l.seq),
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
