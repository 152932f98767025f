//! The log writer: the active segment, and what makes a commit durable.
//!
//! Two halves of one type. [`LogWriter`] is owned by the writer and used under
//! its lock: it appends a commit's frame to the active segment, allocates space
//! ahead of the writes, rolls over to a new segment and seals the old one.
//! [`LogSync`] is shared with everyone who may ask for durability (commits, the
//! background thread, checkpoints, backups): group commit, the sync policy of
//! each [`SyncMode`] and the failed-sync state. Every fsync still goes through
//! `sync`, the layer below.
//!
//! Invariants:
//! - `SyncMode` is read in one place, [`SyncPolicy::of`]; everything else asks
//!   the policy.
//! - A commit's frame is written to the file before its call returns (all modes)
//!   and, in `SyncMode::Full`, synced. Syncs are shared: one `fdatasync` covers
//!   every commit written before it started (group commit). A large commit
//!   starts its sync on a thread of its own as soon as its frame is written, and
//!   waits for it after its index updates.
//! - After a sync fails, nothing is synced again through this handle: the failed
//!   call alone was told that pages may be lost, so a later sync that succeeds
//!   proves nothing about them. Commits, checkpoints and backups then fail.
//! - Sealing a segment (roll-over, close) always syncs it, so a sync of the
//!   active segment covers every earlier commit. A writer that reopens a
//!   sealed segment leaves the seal frame in place until its first frame is
//!   written over it; a close with none finds the segment sealed and writes
//!   nothing.
//! - A frame of `PREFAULT_AT` bytes or more has its page-cache pages made by a
//!   second thread while it is written (`prefault_beside`: reads only, of space
//!   that holds zeros), joined before `append` returns.
//! - Segment files are never shortened: another process may have them mapped,
//!   and touching a mapped page past the end of a file kills it with SIGBUS.
//!   Space is given back by punching holes, torn tails are overwritten with zeros.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::config::{Config, SyncMode};
use crate::error::{Error, ErrorKind, Result};
use crate::format;
use crate::pages_ahead;
use crate::segment::{self, segment_path, Segment};
use crate::sync;
use crate::version::SegmentTable;

/// In `SyncMode::Normal`, a frame at least this large starts going to the device
/// as soon as it is written, rather than at the next background sync. (In `Full`
/// mode large frames are synced at once: [`SYNC_BESIDE_AT`].)
const START_WRITEBACK_AT: u64 = 1 << 20;

/// A commit frame at least this large is synced beside its index updates
/// ([`LogWriter::sync_beside`]): about 350 puts of 150-byte values, whose
/// updates take some hundreds of microseconds, against tens to start a thread.
const SYNC_BESIDE_AT: u64 = 64 << 10;

/// What a [`SyncMode`] asks of the log: the only reader of the mode.
#[derive(Debug, Clone, Copy)]
struct SyncPolicy {
    /// A commit returns only once it is on stable storage.
    commit_waits: bool,
    /// Frames at least this large are synced on a thread of their own.
    sync_beside_at: u64,
    /// Frames at least this large start writeback as soon as they are written.
    writeback_at: u64,
    /// The background thread syncs what was written this often.
    background_sync: Option<Duration>,
}

impl SyncPolicy {
    fn of(config: &Config) -> SyncPolicy {
        match config.sync_mode {
            SyncMode::Full => SyncPolicy {
                commit_waits: true,
                sync_beside_at: SYNC_BESIDE_AT,
                writeback_at: u64::MAX,
                background_sync: None,
            },
            SyncMode::Normal => SyncPolicy {
                commit_waits: false,
                sync_beside_at: u64::MAX,
                writeback_at: START_WRITEBACK_AT,
                background_sync: Some(Duration::from_millis(config.normal_sync_interval_ms)),
            },
            SyncMode::Off => SyncPolicy {
                commit_waits: false,
                sync_beside_at: u64::MAX,
                writeback_at: u64::MAX,
                background_sync: None,
            },
        }
    }
}

/// The half of the log writer shared beyond the writer lock.
pub(crate) struct LogSync {
    policy: SyncPolicy,
    /// Highest sequence number known to be synced; held while syncing.
    synced: Mutex<u64>,
    /// Sequence number of the latest commit written to the log.
    written_seq: AtomicU64,
    /// The file the latest commit went to (None for a read-only handle).
    active_file: ArcSwap<Option<Arc<File>>>,
    next_segment_id: AtomicU32,
    poisoned: AtomicBool,
    fsyncs: AtomicU64,
}

/// A sync started beside a commit's index updates, or none.
#[must_use]
pub(crate) struct PendingSync(Option<std::thread::JoinHandle<Result<()>>>);

impl LogSync {
    /// The log of a handle whose latest commit is `seq`, all of it synced;
    /// `active_file` is where new commits go.
    pub(crate) fn new(
        config: &Config,
        seq: u64,
        active_file: Option<Arc<File>>,
        next_segment_id: u32,
    ) -> LogSync {
        LogSync {
            policy: SyncPolicy::of(config),
            synced: Mutex::new(seq),
            written_seq: AtomicU64::new(seq),
            active_file: ArcSwap::from_pointee(active_file),
            next_segment_id: AtomicU32::new(next_segment_id),
            poisoned: AtomicBool::new(false),
            fsyncs: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn written_seq(&self) -> u64 {
        self.written_seq.load(Ordering::Acquire)
    }

    /// Publishes `seq` as written: the writer, after its commit's frame is in
    /// the file; a read-only handle, after loading the log again.
    #[inline]
    pub(crate) fn set_written(&self, seq: u64) {
        self.written_seq.store(seq, Ordering::Release);
    }

    /// `fdatasync` calls made through this handle.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// How often the background thread is to call [`LogSync::sync_written`].
    pub(crate) fn background_sync_period(&self) -> Option<Duration> {
        self.policy.background_sync
    }

    /// Syncs every commit written so far.
    pub(crate) fn sync_written(&self) -> Result<()> {
        self.sync_to(self.written_seq())
    }

    /// Returns once commit `seq`, just made, is as durable as the sync mode
    /// promises before the commit's call returns.
    pub(crate) fn finish_commit(&self, seq: u64, pending: PendingSync) -> Result<()> {
        match pending.0 {
            Some(sync) => sync
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None if self.policy.commit_waits => self.sync_to(seq),
            None => Ok(()),
        }
    }

    /// Returns once every commit up to `seq` is on stable storage.
    pub(crate) fn sync_to(&self, seq: u64) -> Result<()> {
        let mut synced = self.synced.lock();
        if *synced >= seq {
            return Ok(());
        }
        let target = self.written_seq();
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
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        *synced = upto.max(*synced);
        Ok(())
    }

    pub(crate) fn check_not_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::IoError,
                "an earlier sync failed; reopen the database to recover",
            ));
        }
        Ok(())
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

    #[cfg(test)]
    pub(crate) fn set_next_segment_id(&self, id: u32) {
        self.next_segment_id.store(id, Ordering::Relaxed);
    }
}

/// A frame at least this large has the page-cache pages it fills made on a
/// second thread while it is written: about 1,000 pages, against the tens of
/// microseconds a thread takes to start.
const PREFAULT_AT: u64 = 4 << 20;

/// Asks, on a thread of its own, for the page-cache pages of `len` bytes of
/// `file` from `at` to be made (`posix_fadvise(WILLNEED)`), from the last
/// backwards, while the caller writes them from the first: the cost of getting
/// a page for the page cache (on a virtual machine, often the host's first
/// touch of guest memory, the larger part of a large buffered write) is then
/// shared by two cores. The space past the log's end holds only zeros (holes,
/// or unwritten allocated space), which is what such a page is filled with; a
/// page the writer has already made is left as it is. Only reads: a race with
/// the write can cost time, never data. None if no thread could be started.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn prefault_beside(file: &Arc<File>, at: u64, len: u64) -> Option<std::thread::JoinHandle<()>> {
    const STEP: u64 = 1 << 20;
    let file = Arc::clone(file);
    std::thread::Builder::new()
        .name("lightning-db-prefault".into())
        .spawn(move || {
            let mut end = at + len;
            while end > at {
                let from = end.saturating_sub(STEP).max(at);
                pages_ahead::ask_for_pages(&file, from, end);
                end = from;
            }
        })
        .ok()
}

/// Elsewhere the write makes its pages itself.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn prefault_beside(_: &Arc<File>, _: u64, _: u64) -> Option<std::thread::JoinHandle<()>> {
    None
}

/// The active segment, appended to under the writer lock.
pub(crate) struct LogWriter {
    sync: Arc<LogSync>,
    dir: PathBuf,
    segment_size: u64,
    page_size: u64,
    growth_step: u64,
    id: u32,
    file: Arc<File>,
    /// Bytes written.
    len: u64,
    /// Bytes allocated ahead of the writes.
    allocated: u64,
    /// Bytes covered by the segment's memory map.
    mapped: u64,
    /// Bytes of the sealed segments' files.
    sealed_bytes: u64,
    /// While the seal frame the handle before left at `len` is in place
    /// (nothing appended since): the end of what may follow `len` other than
    /// zeros (the first hole), zeroed once the first frame is written.
    seal_left: Option<u64>,
}

/// Where a writer appends after opening: its segment, file, the bytes written
/// and allocated in it, the length of its map, and, if the segment was left
/// sealed, where the bytes after its seal frame may end (`LogWriter::seal_left`).
pub(crate) struct ActiveAt {
    pub id: u32,
    pub file: Arc<File>,
    pub len: u64,
    pub allocated: u64,
    pub mapped: u64,
    pub seal_left: Option<u64>,
}

impl LogWriter {
    pub(crate) fn new(
        sync: Arc<LogSync>,
        dir: &Path,
        config: &Config,
        active: ActiveAt,
        sealed_bytes: u64,
    ) -> LogWriter {
        LogWriter {
            sync,
            dir: dir.to_path_buf(),
            segment_size: config.segment_size,
            page_size: config.page_size as u64,
            growth_step: config.growth_step(),
            id: active.id,
            file: active.file,
            len: active.len,
            allocated: active.allocated,
            mapped: active.mapped,
            sealed_bytes,
            seal_left: active.seal_left,
        }
    }

    /// Id of the active segment.
    #[inline]
    pub(crate) fn active_id(&self) -> u32 {
        self.id
    }

    /// Bytes written to the active segment.
    #[inline]
    pub(crate) fn active_len(&self) -> u64 {
        self.len
    }

    /// Bytes of every segment file, the active one's written part included.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.sealed_bytes + self.len
    }

    /// Compaction removed a sealed segment file of `bytes`.
    pub(crate) fn sealed_removed(&mut self, bytes: u64) {
        self.sealed_bytes = self.sealed_bytes.saturating_sub(bytes);
    }

    /// Compaction added a sealed segment file of `bytes`.
    pub(crate) fn sealed_added(&mut self, bytes: u64) {
        self.sealed_bytes += bytes;
    }

    /// Writes a commit's frame at the end of the active segment (rolling over to
    /// a new one, sealed up to `last_seq`, if it does not fit) and returns where
    /// it starts. New maps and segments go into `segments`.
    pub(crate) fn append(
        &mut self,
        segments: &mut SegmentTable,
        frame: &[u8],
        last_seq: u64,
    ) -> Result<u64> {
        let frame_len = frame.len() as u64;
        if self.len > 0 && self.len + frame_len > self.segment_size {
            self.roll(segments, last_seq)?;
        }
        self.ensure_allocated(segments, frame_len)?;
        let at = self.len;
        let io = |e| Error::io(format!("append to segment {}", self.id), e);
        // The first frame goes over the seal frame left by the handle before:
        // from here on the segment is not sealed, even if the write fails.
        let seal_left = self.seal_left.take();
        let prefault = if frame_len >= PREFAULT_AT {
            prefault_beside(&self.file, at, frame_len)
        } else {
            None
        };
        let written = self.file.write_all_at(frame, at);
        if let Some(thread) = prefault {
            let _ = thread.join();
        }
        written.map_err(io)?;
        if let Some(end) = seal_left {
            // Only zeros may follow the last frame: what the frame left of the
            // seal, and anything a torn write of the past left after it, up to
            // the first hole, is zeroed (as a writer's open did before). Not
            // synced: the seal intact is the state before this commit, a part
            // of it a torn tail, either way cut off by a scan.
            write_zeros(&self.file, at + frame_len, end).map_err(io)?;
        }
        if frame_len >= self.sync.policy.writeback_at {
            sync::start_writeback(&self.file, at, frame_len);
        }
        self.len += frame_len;
        Ok(at)
    }

    /// Starts the sync of commit `seq`'s frame of `frame_len` bytes, just
    /// appended, on a thread of its own if the policy asks for it: the device
    /// then writes while the CPU updates the indexes, where syncing after them
    /// left each idle in turn. No thread (a small frame, or none could be
    /// started): [`LogSync::finish_commit`] syncs after the updates.
    ///
    /// Not a scoped thread: `std::thread::scope` gives the calling thread a
    /// `Thread` handle that a C program's thread never frees (valgrind: possibly
    /// lost), where a spawned thread's handle is freed when it is joined.
    pub(crate) fn sync_beside(&self, seq: u64, frame_len: u64) -> PendingSync {
        if frame_len < self.sync.policy.sync_beside_at {
            return PendingSync(None);
        }
        let (sync, file) = (Arc::clone(&self.sync), Arc::clone(&self.file));
        PendingSync(
            std::thread::Builder::new()
                .name("lightning-db-sync".into())
                .spawn(move || sync.sync_file_to(&file, seq))
                .ok(),
        )
    }

    fn ensure_allocated(&mut self, segments: &mut SegmentTable, extra: u64) -> Result<()> {
        let need = self.len + extra;
        if need <= self.allocated {
            return Ok(());
        }
        let step = self.growth_step;
        let target = need.div_ceil(step) * step;
        // Only the new part: below `allocated` there is no hole, and asking for
        // the whole file again makes the file system walk all of it (on tmpfs,
        // page by page).
        let (from, len) = (self.allocated, target - self.allocated);
        match rustix::fs::fallocate(&*self.file, rustix::fs::FallocateFlags::empty(), from, len) {
            Ok(()) => {}
            // Filesystems without fallocate: writes extend the file instead.
            Err(rustix::io::Errno::OPNOTSUPP) => {}
            Err(e) => {
                return Err(Error::io(
                    format!("allocate space in segment {}", self.id),
                    e.into(),
                ))
            }
        }
        self.allocated = target;
        if target > self.mapped {
            // A commit larger than the rest of the map: map the segment anew. Older
            // versions keep the old, smaller map, which covers all they refer to.
            let mapped = target.max(self.mapped * 2);
            let path = segment_path(&self.dir, self.id);
            let seg = Segment::active(self.id, path, &self.file, mapped)?;
            Arc::make_mut(segments).insert(self.id, Arc::new(seg));
            self.mapped = mapped;
        }
        Ok(())
    }

    /// Seals the active segment after commit `last_seq` (seal frame, trim, sync)
    /// and starts a new one.
    pub(crate) fn roll(&mut self, segments: &mut SegmentTable, last_seq: u64) -> Result<()> {
        let id = self.sync.allocate_segment_id()?;
        self.seal(segments, last_seq)?;
        let (path, file) = create_segment(&self.dir, id)?;
        let mapped = self.segment_size;
        Arc::make_mut(segments).insert(id, Arc::new(Segment::active(id, path, &file, mapped)?));
        self.id = id;
        self.file = file.clone();
        self.len = 0;
        self.allocated = 0;
        self.mapped = mapped;
        self.sync.active_file.store(Arc::new(Some(file)));
        log::debug!("rolled to segment {id}");
        Ok(())
    }

    fn seal(&mut self, segments: &mut SegmentTable, last_seq: u64) -> Result<()> {
        let id = self.id;
        let path = segment_path(&self.dir, id);
        let io = |e| Error::io(format!("seal {}", path.display()), e);
        let mut file = self
            .file
            .try_clone()
            .map_err(|e| Error::io("duplicate file handle", e))?;
        // A seal frame left by the handle before, with nothing appended since,
        // is the one written here (`last_seq` is still its commit's): written
        // again, synced again.
        self.seal_left = None;
        let end = write_seal(&mut file, self.len, last_seq).map_err(io)?;
        sync::data(&file).map_err(io)?;
        self.sync.fsyncs.fetch_add(1, Ordering::Relaxed);
        // Give back the space allocated past the seal without shortening the file.
        let keep = end.div_ceil(self.page_size) * self.page_size;
        let size = file.metadata().map_err(io)?.len();
        if size > keep {
            let punch =
                rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
            let _ = rustix::fs::fallocate(&file, punch, keep, size - keep);
        }
        self.len = end;
        self.sealed_bytes += size.max(end);
        Arc::make_mut(segments).insert(id, Arc::new(Segment::open_sealed(id, path)?));
        Ok(())
    }

    /// Closes the log after commit `last_seq`: seals the active segment, or
    /// removes it if nothing was written to it. A segment still sealed by the
    /// handle before this one is left as it is: nothing was appended since.
    pub(crate) fn close(mut self, segments: &mut SegmentTable, last_seq: u64) -> Result<()> {
        if self.seal_left.is_some() {
            Ok(())
        } else if self.len > 0 {
            self.seal(segments, last_seq)
        } else {
            let p = segment_path(&self.dir, self.id);
            std::fs::remove_file(&p)
                .map_err(|e| Error::io(p.display(), e))
                .and_then(|_| sync::dir(&self.dir))
        }
    }
}

/// Creates segment file `id` in `dir`, durably.
pub(crate) fn create_segment(dir: &Path, id: u32) -> Result<(PathBuf, Arc<File>)> {
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

/// Seals an unsealed segment after its valid prefix, so that every segment but
/// the one being written is sealed. Called by a writer only, at open; a torn
/// tail is overwritten with zeros.
pub(crate) fn seal_in_place(dir: &Path, id: u32, valid_len: usize, last_seq: u64) -> Result<()> {
    let path = segment_path(dir, id);
    let io = |e| Error::io(format!("seal {}", path.display()), e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io)?;
    zero_from(&file, valid_len as u64).map_err(io)?;
    write_seal(&mut file, valid_len as u64, last_seq).map_err(io)?;
    sync::all(&file).map_err(io)
}

/// Overwrites everything from `offset` to the end of the file with zeros.
pub(crate) fn zero_from(file: &File, offset: u64) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    let mut at = offset;
    while at < len {
        // Holes already read as zeros: writing into them would only take space,
        // which a full disk does not have.
        let data = match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(at)) {
            Ok(data) => data,
            Err(rustix::io::Errno::NXIO) => break, // only a hole from here on
            Err(e) => return Err(e.into()),
        };
        let end = segment::hole_at_or_after(file, data)?.min(len);
        write_zeros(file, data, end)?;
        at = end;
    }
    Ok(())
}

/// Overwrites `from..to` with zeros (nothing if `to` is not past `from`), a
/// bounded buffer at a time.
fn write_zeros(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; to.saturating_sub(from).min(64 * 1024) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Writes a seal frame at `offset`; returns the offset after it.
fn write_seal(file: &mut File, offset: u64, last_seq: u64) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(64);
    format::encode_seal_frame(&mut buf, last_seq);
    file.write_all_at(&buf, offset)?;
    Ok(offset + buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer over segment 1 of `dir`, whose first `len` bytes are written
    /// and, with `seal_left`, followed by a seal frame left by a handle before.
    fn writer_at(dir: &Path, len: u64, seal_left: Option<u64>) -> (LogWriter, SegmentTable) {
        let config = Config::default();
        let (path, file) = create_segment(dir, 1).unwrap();
        let mapped = config.segment_size;
        let segment = Segment::active(1, path, &file, mapped).unwrap();
        let segments: SegmentTable = Arc::new([(1, Arc::new(segment))].into_iter().collect());
        let sync = Arc::new(LogSync::new(&config, 7, Some(file.clone()), 2));
        let active = ActiveAt {
            id: 1,
            file,
            len,
            allocated: 0,
            mapped,
            seal_left,
        };
        (LogWriter::new(sync, dir, &config, active, 0), segments)
    }

    #[test]
    // The pages of a large frame are made by a second thread as the frame is
    // written over them: what is read back is the frames, then zeros.
    fn large_frames_read_back_whole_beside_the_thread_that_makes_their_pages() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut segments) = writer_at(dir.path(), 0, None);
        let frame_len = PREFAULT_AT as usize * 2 + 4097;
        let frames: Vec<Vec<u8>> = (1..=3u8)
            .map(|n| (0..frame_len).map(|i| (i % 251) as u8 ^ n).collect())
            .collect();
        for (n, frame) in frames.iter().enumerate() {
            let at = log.append(&mut segments, frame, 7).unwrap();
            assert_eq!(at, (n * frame_len) as u64);
        }
        let bytes = std::fs::read(segment_path(dir.path(), 1)).unwrap();
        for (n, frame) in frames.iter().enumerate() {
            assert!(
                bytes[n * frame_len..(n + 1) * frame_len] == frame[..],
                "frame {n}"
            );
        }
        let end = 3 * frame_len;
        assert!(
            bytes[end..].iter().all(|&b| b == 0),
            "only zeros after the frames"
        );
        let map = segments[&1].data();
        assert!(
            map[..end] == bytes[..end],
            "the map sees what the file holds"
        );
    }

    #[test]
    fn the_first_frame_over_the_seal_left_before_leaves_only_zeros_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut seal = Vec::new();
        format::encode_seal_frame(&mut seal, 7);
        let data = [0x5au8; 100];
        // The seal, then what a torn write of the past may have left after it.
        let left = [0x33u8; 50];
        let end = 100 + (seal.len() + left.len()) as u64;
        let (mut log, mut segments) = writer_at(dir.path(), 100, Some(end));
        log.file.write_all_at(&data, 0).unwrap();
        log.file.write_all_at(&seal, 100).unwrap();
        log.file
            .write_all_at(&left, 100 + seal.len() as u64)
            .unwrap();
        // Shorter than any commit's frame, so a part of the seal stays too.
        let frame = [0xa5u8; 5];
        assert_eq!(log.append(&mut segments, &frame, 7).unwrap(), 100);
        let bytes = std::fs::read(segment_path(dir.path(), 1)).unwrap();
        assert_eq!(&bytes[..100], &data[..]);
        assert_eq!(&bytes[100..105], &frame[..]);
        let after = &bytes[105..end as usize];
        assert!(
            after.iter().all(|&b| b == 0),
            "left after the frame: {after:?}"
        );
        assert_eq!(log.seal_left, None);
    }

    #[test]
    fn a_close_with_nothing_appended_leaves_the_seal_before_and_syncs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut seal = Vec::new();
        format::encode_seal_frame(&mut seal, 7);
        let (log, mut segments) = writer_at(dir.path(), 100, Some(4096));
        log.file.write_all_at(&[0x5a; 100], 0).unwrap();
        log.file.write_all_at(&seal, 100).unwrap();
        let before = std::fs::read(segment_path(dir.path(), 1)).unwrap();
        let sync = Arc::clone(&log.sync);
        log.close(&mut segments, 7).unwrap();
        assert_eq!(std::fs::read(segment_path(dir.path(), 1)).unwrap(), before);
        assert_eq!(sync.fsyncs(), 0);
    }
}
