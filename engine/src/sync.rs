//! Every fsync the engine issues goes through this module.
//!
//! Durability rests on three calls: `fdatasync` of a file's data (`data`), `fsync`
//! of a file with its metadata (`all`) and `fsync` of a directory after entries
//! were created, renamed or removed in it (`dir`). Nothing written and not yet
//! passed through one of them may be relied on after a power loss. Funnelling them
//! through one place keeps that rule auditable, and lets the power-loss suite
//! (feature `fault-injection`, test-only) see each one, snapshot what it makes
//! durable, or fail it.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};

/// Makes the data written to `file` durable (`fdatasync`).
pub fn data(file: &File) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    fault_injection::observe(fault_injection::SyncTarget::Data(file))?;
    file.sync_data()
}

/// Makes the data and metadata of `file` durable (`fsync`).
pub fn all(file: &File) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    fault_injection::observe(fault_injection::SyncTarget::All(file))?;
    file.sync_all()
}

/// Asks the kernel to start writing `len` bytes of `file` at `offset` to the
/// device now, without waiting: a large commit's later `data` sync then finds
/// most of it written while the commit was updating the index. A hint only: it
/// makes nothing durable, and a failure is ignored (the sync reports real errors).
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    range(file, offset, offset + len, RangeWork::Start);
}

/// Bytes of a file written front to back that [`WriteBehind`] hands to the
/// device at a time: small beside a file of hundreds of megabytes, large
/// enough that the syscalls are few and the commits made meanwhile keep their
/// latency (steps of a megabyte raised it: `bench/results/write-behind-2026-12-07.md`).
/// (A page in tests, so that every index file they write takes several steps.)
const WRITE_BEHIND_STEP: u64 = if cfg!(test) { 4096 } else { 8 << 20 };

/// The writeback of a large file as it is written front to back, a step at a
/// time, so that its final sync has little left to write. A file of hundreds
/// of megabytes synced at once fills the device's queue for a hundred
/// milliseconds or more, and the commits of the writers meanwhile wait behind
/// it for their own syncs. Each step's writeback is started as the writer
/// passes it, and the writer then waits for the step before it: no more than
/// two steps are in flight, and the device writes while the writer encodes.
/// It makes nothing durable: the file's sync still does.
pub(crate) struct WriteBehind {
    /// Where the step whose writeback was started last begins.
    started: u64,
    /// Where it ends: what the writer had written when it was started.
    started_to: u64,
}

impl WriteBehind {
    /// For a file whose writer starts at `from`.
    pub(crate) fn new(from: u64) -> WriteBehind {
        WriteBehind {
            started: from,
            started_to: from,
        }
    }

    /// The file is written (not merely buffered) up to `to`.
    pub(crate) fn wrote_to(&mut self, file: &File, to: u64) {
        while to >= self.started_to + WRITE_BEHIND_STEP {
            let next = self.started_to + WRITE_BEHIND_STEP;
            range(file, self.started_to, next, RangeWork::Start);
            range(file, self.started, self.started_to, RangeWork::Finish);
            self.started = self.started_to;
            self.started_to = next;
        }
    }

    /// Writes back the whole steps from the start to `to`, each started while
    /// the one before is written, and waits for the last; what is left of a
    /// step is left to the sync. For a region filled out of order (a table),
    /// once it is complete.
    pub(crate) fn write_back(mut self, file: &File, to: u64) {
        self.wrote_to(file, to);
        range(file, self.started, self.started_to, RangeWork::Finish);
    }
}

enum RangeWork {
    /// Start the writeback of the range's dirty pages.
    Start,
    /// Wait for the writeback under way in the range, write what is still
    /// dirty there and wait for that too.
    Finish,
}

/// Asks the kernel to write back, or to finish writing back, `from..to` of `file`.
/// A hint only: it makes nothing durable, and a failure is left to the sync after it.
fn range(file: &File, from: u64, to: u64, work: RangeWork) {
    #[cfg(target_os = "linux")]
    if to > from {
        use std::os::fd::AsRawFd;
        let flags = match work {
            RangeWork::Start => libc::SYNC_FILE_RANGE_WRITE,
            RangeWork::Finish => {
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER
            }
        };
        // SAFETY: sync_file_range reads no memory of ours; the descriptor is
        // open for as long as `file` is borrowed.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                from as libc::off64_t,
                (to - from) as libc::off64_t,
                flags,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to, work);
}

/// Makes the creation, rename or removal of entries in `dir` durable.
pub fn dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io(dir.display(), e))?;
    #[cfg(feature = "fault-injection")]
    fault_injection::observe(fault_injection::SyncTarget::Dir(dir))
        .map_err(|e| Error::io(format!("sync directory {}", dir.display()), e))?;
    d.sync_all()
        .map_err(|e| Error::io(format!("sync directory {}", dir.display()), e))
}

/// Test-only: a hook called before every sync, which may fail it.
#[cfg(feature = "fault-injection")]
pub mod fault_injection {
    use std::fs::File;
    use std::io;
    use std::path::Path;
    use std::sync::{Arc, RwLock};

    /// What is about to be synced.
    #[derive(Debug, Clone, Copy)]
    pub enum SyncTarget<'a> {
        /// `fdatasync` of this file.
        Data(&'a File),
        /// `fsync` of this file.
        All(&'a File),
        /// `fsync` of this directory.
        Dir(&'a Path),
    }

    /// Called before the sync; an `Err` is returned by the engine in place of the
    /// sync's result, and the sync is not made.
    pub type SyncHook = Arc<dyn Fn(SyncTarget<'_>) -> io::Result<()> + Send + Sync>;

    static HOOK: RwLock<Option<SyncHook>> = RwLock::new(None);

    /// Installs (or with `None` removes) the hook for the whole process.
    pub fn set_sync_hook(hook: Option<SyncHook>) {
        *HOOK.write().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    pub(super) fn observe(target: SyncTarget<'_>) -> io::Result<()> {
        let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
        match hook {
            Some(hook) => hook(target),
            None => Ok(()),
        }
    }
}
