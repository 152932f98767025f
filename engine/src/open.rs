//! Opening a database directory: the writer lock, recovery up to a writer
//! ready to append, or a read-only view of the files.
//!
//! Invariants:
//! - A writing handle holds an exclusive `flock` on the directory's LOCK file
//!   from before recovery until close: a second writer fails with
//!   DatabaseLocked and never touches the files.
//! - A writer leaves every segment but its active one sealed, removes the
//!   leftovers of interrupted compactions and temporary files, and makes those
//!   changes durable before it appends. An open that changes nothing syncs
//!   nothing: every change to the directory was synced by the handle that
//!   made it, and a cleanly sealed segment it appends to keeps its seal frame
//!   until the first commit is written over it (see `open_writer`).
//! - A read-only handle changes nothing on disk, and retries when a writer in
//!   another process removes a segment while it reads the directory.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checkpoint;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::index_file::MAX_DELTAS;
use crate::log_writer::{self, create_segment, ActiveAt, LogSync, LogWriter};
use crate::recovery::{self, Tail};
use crate::segment::{self, segment_path, Segment};
use crate::shared::{Shared, Writer};
use crate::sync;
use crate::value_cache::ValueCache;
use crate::version::Version;

const LOCK_FILE: &str = "LOCK";

/// An open database's shared state, and the writer lock it holds.
pub(crate) struct Opened {
    pub shared: Arc<Shared>,
    pub lock_file: Option<File>,
}

pub(crate) fn open(dir: &Path, config: Config) -> Result<Opened> {
    let started = Instant::now();
    let dir = dir.to_path_buf();
    let lock_file = if config.read_only {
        None
    } else {
        Some(lock_dir(&dir)?)
    };
    let (version, writer, log, replayable) = if config.read_only {
        let (version, replayable) = load_read_only(&dir)?;
        let next = version.segments.keys().last().map_or(1, |id| id + 1);
        let log = Arc::new(LogSync::new(&config, version.seq, None, next));
        (version, None, log, replayable)
    } else {
        open_writer(&dir, &config)?
    };
    let cache = ValueCache::new(config.cache_size);
    log::info!(
        "opened {} ({} keys, seq {}, {}) in {:?}",
        dir.display(),
        version.index.len(),
        version.seq,
        if config.read_only {
            "read-only"
        } else {
            "writer"
        },
        started.elapsed()
    );
    let shared = Arc::new(Shared::new(
        dir, config, version, writer, log, cache, replayable,
    ));
    Ok(Opened { shared, lock_file })
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

/// Maps the sealed segments `ids` that recovery found: it read and checked
/// every one its checkpoint does not cover, and the checkpoint vouches for the
/// record format of the others, so none is read here.
fn open_segments(dir: &Path, ids: &[u32]) -> Result<BTreeMap<u32, Arc<Segment>>> {
    ids.iter()
        .map(|&id| {
            let path = segment_path(dir, id);
            Ok((
                id,
                Arc::new(Segment::open_sealed_of_known_format(id, path)?),
            ))
        })
        .collect()
}

/// The version a read-only handle serves, and whether a replay of every
/// segment gives its index.
pub(crate) fn load_read_only(dir: &Path) -> Result<(Version, bool)> {
    // A writer in another process may remove segments (compaction) while we read
    // the directory; a missing file means "look again".
    let mut attempt = 0;
    loop {
        let result = recovery::recover(dir).and_then(|r| {
            let segments = open_segments(dir, &r.segment_ids)?;
            let version = Version {
                seq: r.last_seq,
                index: r.index,
                segments: Arc::new(segments),
                active: None,
            };
            Ok((version, r.replayable))
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

type WriterParts = (Version, Option<Writer>, Arc<LogSync>, bool);

fn open_writer(dir: &Path, config: &Config) -> Result<WriterParts> {
    let r = recovery::recover(dir)?;
    if r.rebuilt {
        // Until the next checkpoint, every open replays all segments.
        let to = checkpoint::set_aside(dir)?;
        log::warn!("set the damaged index file aside as {}", to.display());
    }
    for level in r.refused_delta.unwrap_or(MAX_DELTAS)..MAX_DELTAS {
        if checkpoint::delta_path(dir, level).exists() {
            let to = checkpoint::set_aside_delta(dir, level)?;
            log::warn!(
                "set the index delta that was not used aside as {}",
                to.display()
            );
        }
    }
    // Go on appending to the newest segment if it has room, rather than starting
    // one per open: a program that opens, writes a little and exits would
    // otherwise leave a file behind each time.
    let reuse = r
        .tail
        .filter(|t| t.data_len > 0 && (t.data_len as u64) < config.segment_size / 2);
    // Whether this open changed the directory's entries.
    let mut changed = !r.garbage.is_empty();
    for (id, valid_len) in &r.unsealed {
        if reuse.is_some_and(|t| t.id == *id) {
            continue;
        }
        changed = true;
        if *valid_len == 0 {
            let p = segment_path(dir, *id);
            std::fs::remove_file(&p).map_err(|e| Error::io(p.display(), e))?;
            log::debug!("removed empty segment {}", p.display());
        } else {
            log::info!("recovery: sealing segment {} at {} bytes", id, valid_len);
            log_writer::seal_in_place(dir, *id, *valid_len, r.last_seq)?;
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
    changed |= remove_temp_files(dir)?;
    if changed {
        sync::dir(dir)?;
    }
    let mut ids: Vec<u32> = segment::list_segments(dir)?;
    let next_id = ids.last().map_or(1, |id| id + 1);
    let active = match reuse {
        Some(Tail {
            id,
            data_len,
            sealed,
        }) => {
            // Append after the data. The file is not cut: readers in other
            // processes may have it mapped.
            let path = segment_path(dir, id);
            let io = |e| Error::io(format!("reopen {}", path.display()), e);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io)?;
            // After a torn tail, frames written before the crash may lie past
            // the tear: zeroed durably before a new frame can end where one of
            // them begins. A seal frame is left in place: the first frame
            // appended is written over it, and what follows it up to the first
            // hole is zeroed then (see `LogWriter::append`). Until then the
            // segment stays sealed, so a handle that commits nothing changes
            // nothing on disk.
            if !sealed {
                log_writer::zero_from(&file, data_len as u64).map_err(io)?;
                sync::all(&file).map_err(io)?;
            }
            // Space up to the first hole is allocated; a hole (given back after
            // a seal) is allocated again before it is written.
            let allocated = segment::hole_at_or_after(&file, data_len as u64).map_err(io)?;
            let seal_left = sealed.then_some(allocated);
            ids.retain(|&i| i != id);
            log::debug!(
                "appending to segment {} after {} bytes",
                path.display(),
                data_len
            );
            (
                id,
                path,
                Arc::new(file),
                data_len as u64,
                allocated,
                seal_left,
            )
        }
        None => {
            // Recovery refuses a file named with one of the last two ids (see
            // `recover`); making one here would lock the next open out.
            if next_id > u32::MAX - 2 {
                return Err(Error::new(
                    ErrorKind::IoError,
                    "segment ids are used up: no new segment can be started",
                ));
            }
            let (path, file) = create_segment(dir, next_id)?;
            (next_id, path, file, 0, 0, None)
        }
    };
    let mut segments = open_segments(dir, &ids)?;
    let sealed_bytes = segments.values().map(|s| s.mapped_len()).sum();
    let (active_id, active_path, active_file, active_len, allocated, seal_left) = active;
    let map_len = config.segment_size.max(allocated.next_power_of_two());
    let active_segment = Segment::active(active_id, active_path, &active_file, map_len)?;
    segments.insert(active_id, Arc::new(active_segment));
    let log = Arc::new(LogSync::new(
        config,
        r.last_seq,
        Some(active_file.clone()),
        active_id.max(next_id - 1) + 1,
    ));
    let active = ActiveAt {
        id: active_id,
        file: active_file,
        len: active_len,
        allocated,
        mapped: map_len,
        seal_left,
    };
    let log_writer = LogWriter::new(log.clone(), dir, config, active, sealed_bytes);
    let writer = Writer::new(r.index, Arc::new(segments), log_writer, r.last_seq + 1);
    log::info!(
        "recovery of {}: checkpoint seq {}, last seq {}, {} segments",
        dir.display(),
        r.checkpoint_seq,
        r.last_seq,
        ids.len() + 1
    );
    let version = writer.version();
    Ok((version, Some(writer), log, r.replayable))
}

/// Removes the temporary files of `dir`; returns whether there were any.
fn remove_temp_files(dir: &Path) -> Result<bool> {
    let mut removed = false;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))? {
        let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(segment::TEMP_SUFFIX))
        {
            let _ = std::fs::remove_file(entry.path());
            removed = true;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    /// Whether the page cache holds the first page of the file at `path`.
    #[cfg(target_os = "linux")]
    fn first_page_cached(path: &Path) -> bool {
        let file = File::open(path).unwrap();
        // SAFETY: a read-only map that is never read: mincore only asks the
        // kernel about its pages.
        let map = unsafe { memmap2::MmapOptions::new().len(4096).map(&file) }.unwrap();
        let mut resident = [0u8; 1];
        // SAFETY: the map is one page long and `resident` has a byte for it.
        let r = unsafe { libc::mincore(map.as_ptr() as *mut _, 4096, resident.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
        resident[0] & 1 == 1
    }

    /// A cold open of a large database would otherwise read a page of every
    /// segment from the disk (the check of its record format).
    #[cfg(target_os = "linux")]
    #[test]
    fn an_open_reads_no_page_of_the_segments_the_index_file_covers() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            segment_size: 1 << 20,
            ..Config::default()
        };
        let db = Database::create(dir.path(), config.clone()).unwrap();
        let value = [7u8; 200];
        let keys: Vec<[u8; 4]> = (0..20_000u32).map(|i| i.to_be_bytes()).collect();
        // A commit lies in one segment: 20 of about 200 KiB fill several.
        for commit in keys.chunks(1_000) {
            let ops: Vec<(&[u8], Option<&[u8]>)> =
                commit.iter().map(|k| (&k[..], Some(&value[..]))).collect();
            db.write_ops(&ops).unwrap();
        }
        db.checkpoint().unwrap();
        // Dropped, so that it maps no page the eviction below must leave.
        drop(db);
        let mut ids = segment::list_segments(dir.path()).unwrap();
        // The last was active when the checkpoint was written: the open
        // replays it.
        ids.pop();
        assert!(ids.len() >= 3, "{ids:?}");
        let covered: Vec<_> = ids.iter().map(|&id| segment_path(dir.path(), id)).collect();
        for path in &covered {
            let file = File::open(path).unwrap();
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            assert!(!first_page_cached(path), "{} stays cached", path.display());
        }
        let db = Database::open(dir.path(), config).unwrap();
        for path in &covered {
            assert!(!first_page_cached(path), "the open read {}", path.display());
        }
        assert_eq!(db.get(&keys[0]).unwrap().as_deref(), Some(&value[..]));
        assert_eq!(db.len().unwrap(), keys.len());
    }
}
