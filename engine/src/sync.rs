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
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: sync_file_range reads no memory of ours; the descriptor is open
        // for as long as `file` is borrowed.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
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
