//! Checkpoint, hot backup and verification.
//!
//! Invariants:
//! - All run under the maintenance lock, held by the caller, so no compaction
//!   removes a segment they are reading; writers continue meanwhile.
//! - A checkpoint covers only records already synced, and only sealed segments:
//!   recovery replays the active one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::index_file::IndexFile;
use crate::key_index::KeyIndex;
use crate::recovery;
use crate::reports::{Corruption, VerifyReport};
use crate::segment::{self, segment_path};
use crate::shared::Shared;
use crate::sync;
use crate::version::Version;

/// When a database is at rest, a checkpoint spares the next open the replay
/// of the changes since the last one, but writes every key of the index, the
/// changes and those of the last checkpoint alike. It is written only if the
/// changes number at least [`AT_REST_CHANGES`] and a share of the last
/// checkpoint's keys that depends on who waits for it.
pub(crate) enum AtRest {
    /// No commit for a while; nobody waits: one in eight, so that a process
    /// killed at rest leaves little to replay.
    Idle,
    /// Closing; the caller waits: one in two, so that a close costs about as
    /// much as the replay it saves (writing a key costs about half of replaying
    /// one: `bench/results/close-checkpoint-2026-12-06.md`), and the close of a
    /// large database after a few changes stays short.
    Closing,
}

/// Fewer changes are replayed at the next open in a few milliseconds.
const AT_REST_CHANGES: usize = 16_384;

/// Whether a database at rest with `changes` keys changed since its last
/// checkpoint, which holds `in_file` keys, is worth a checkpoint now.
pub(crate) fn worth_checkpoint(at_rest: AtRest, changes: usize, in_file: usize) -> bool {
    let share = match at_rest {
        AtRest::Idle => 8,
        AtRest::Closing => 2,
    };
    changes >= AT_REST_CHANGES && changes * share >= in_file
}

/// At close, writes a checkpoint if it is worth it ([`AtRest::Closing`]). A
/// failure is logged, not returned: the log holds every commit, and the next
/// open replays it.
pub(crate) fn checkpoint_at_close(shared: &Shared) {
    // A read-only handle has no writer, and so no changes to count.
    let Some(c) = shared.index_changes() else {
        return;
    };
    if !worth_checkpoint(AtRest::Closing, c.changes, c.in_file) {
        return;
    }
    if let Err(e) = checkpoint(shared) {
        log::warn!(
            "checkpoint at close of {} failed (the next open replays the log): {e}",
            shared.dir.display()
        );
    }
}

/// When a read has found the writer's index file damaged and the segments
/// alone give the index, renames the file aside, so that no open meets the
/// damage again, and returns true; the caller then rebuilds the index in
/// place, or leaves that to the next open (this handle goes on refusing the
/// reads of the damaged parts until then).
pub(crate) fn set_aside_damaged_index(shared: &Shared) -> bool {
    let damaged = shared.index_file().is_some_and(|f| f.damaged());
    if !damaged || shared.config.read_only || !shared.replayable.load(Ordering::Acquire) {
        return false;
    }
    // Under the maintenance lock no checkpoint replaces the file meanwhile: the
    // one at the name is the one the reads found damaged.
    if !checkpoint::path(&shared.dir).exists() {
        return true;
    }
    match checkpoint::set_aside(&shared.dir) {
        Ok(to) => {
            log::error!(
                "the index file of {} is damaged: set aside as {}",
                shared.dir.display(),
                to.display()
            );
            true
        }
        Err(e) => {
            log::error!(
                "the index file of {} is damaged, and setting it aside failed: {e}",
                shared.dir.display()
            );
            false
        }
    }
}

/// Sets a damaged index file aside and writes a checkpoint of the index
/// rebuilt from the segments in its place, so that reads and checkpoints work
/// again without a reopen; false if that could not be done. Commits go on
/// meanwhile: the checkpoint is of a snapshot, and the writer's changes since
/// stay over it, as over any checkpoint.
pub(crate) fn heal_damaged_index(shared: &Shared) -> bool {
    if !set_aside_damaged_index(shared) {
        return false;
    }
    let started = Instant::now();
    let rebuilt = || {
        let version = shared.snapshot_for_checkpoint();
        let index = replay_segments(&version)?;
        checkpoint_of(shared, &version, &index)
    };
    match rebuilt() {
        Ok(()) => {
            log::warn!(
                "rebuilt the index of {} from its segments in {:?}",
                shared.dir.display(),
                started.elapsed()
            );
            true
        }
        Err(e) => {
            log::error!(
                "rebuilding the index of {} from its segments failed (the next \
                 open tries again): {e}",
                shared.dir.display()
            );
            false
        }
    }
}

/// The index of `version` from its segments alone: every record up to its
/// commit (the active segment up to its length then), newest per key.
fn replay_segments(version: &Version) -> Result<KeyIndex> {
    let mut newest = recovery::Newest::default();
    for (id, seg) in version.segments.iter() {
        let data = seg.data();
        let bytes = match version.active {
            Some((active, len)) if active == *id => &data[..(len as usize).min(data.len())],
            _ => data,
        };
        let end = segment::scan(bytes, |offset, e| newest.offer(*id, offset, e));
        if let Some((offset, why)) = end.corruption {
            return Err(seg.corrupt(offset, why));
        }
    }
    let mut index = KeyIndex::new();
    newest.apply(&mut index)?;
    Ok(index)
}

/// Syncs everything written and writes a checkpoint of the latest version.
pub(crate) fn checkpoint(shared: &Shared) -> Result<()> {
    let version = shared.snapshot_for_checkpoint();
    checkpoint_of(shared, &version, &version.index)
}

/// Writes `index`, the index of `version` (a snapshot taken for a checkpoint),
/// as the checkpoint, and puts the writer's index over it.
fn checkpoint_of(shared: &Shared, version: &Version, index: &KeyIndex) -> Result<()> {
    shared.log.sync_to(version.seq)?;
    let covered: BTreeSet<u32> = version
        .segments
        .keys()
        .copied()
        .filter(|id| version.active.map(|(a, _)| a) != Some(*id))
        .collect();
    let started = Instant::now();
    checkpoint::write(
        &shared.dir,
        shared.replayable.load(Ordering::Acquire),
        version.seq,
        &covered,
        index.len(),
        index.iter(),
    )?;
    if !shared.config.read_only {
        // The file just written serves the writer's reads from now on, and the
        // changes it holds leave memory.
        let file = IndexFile::open(&checkpoint::path(&shared.dir))?;
        shared.install_checkpoint(Arc::new(file), version.seq)?;
    }
    shared.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
    log::info!(
        "checkpoint of {} at seq {}: {} keys in {:?}",
        shared.dir.display(),
        version.seq,
        index.len(),
        started.elapsed()
    );
    Ok(())
}

pub(crate) fn backup(shared: &Shared, dest: &Path) -> Result<()> {
    if dest.exists() {
        let mut entries = std::fs::read_dir(dest).map_err(|e| Error::io(dest.display(), e))?;
        if entries.next().is_some() {
            return Err(Error::invalid(format!(
                "backup destination {} is not empty",
                dest.display()
            )));
        }
    } else {
        std::fs::create_dir_all(dest).map_err(|e| Error::io(dest.display(), e))?;
    }
    let version = shared.snapshot();
    if !shared.config.read_only {
        shared.log.sync_to(version.seq)?;
    }
    let active = version.active;
    for (id, seg) in version.segments.iter() {
        let limit = match active {
            Some((a, len)) if a == *id => len,
            _ => u64::MAX,
        };
        let to = segment_path(dest, *id);
        let io = |e| {
            Error::io(
                format!("copy {} to {}", seg.path.display(), to.display()),
                e,
            )
        };
        // From the handle's own map: a compaction in a writer process may have
        // removed the file since this snapshot was taken.
        let data = seg.data();
        let mut out = File::create(&to).map_err(io)?;
        out.write_all(&data[..(limit as usize).min(data.len())])
            .map_err(io)?;
        sync::all(&out).map_err(io)?;
    }
    let covered: BTreeSet<u32> = version
        .segments
        .keys()
        .copied()
        .filter(|id| active.map(|(a, _)| a) != Some(*id))
        .collect();
    let index = &version.index;
    let replayable = shared.replayable.load(Ordering::Acquire);
    checkpoint::write(
        dest,
        replayable,
        version.seq,
        &covered,
        index.len(),
        index.iter(),
    )?;
    sync::dir(dest)?;
    log::info!(
        "backup of {} to {} at seq {}",
        shared.dir.display(),
        dest.display(),
        version.seq
    );
    Ok(())
}

/// Bytes scanned between two calls of a verify's progress callback.
const PROGRESS_STEP: u64 = 1 << 20;

pub(crate) fn verify(shared: &Shared, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
    let version = shared.snapshot();
    let mut report = VerifyReport {
        live_keys: version.index.len() as u64,
        ..Default::default()
    };
    // Through the handle's own maps: a compaction in a writer process may have
    // removed the files since this snapshot was taken.
    fn segment_bytes(seg: &segment::Segment, id: u32, active: Option<(u32, u64)>) -> &[u8] {
        let bytes = seg.data();
        match active {
            Some((a, len)) if a == id => &bytes[..(len as usize).min(bytes.len())],
            _ => bytes,
        }
    }
    let total: u64 = version
        .segments
        .iter()
        .map(|(id, seg)| segment_bytes(seg, *id, version.active).len() as u64)
        .sum();
    let mut done = 0u64;
    let mut reported = 0u64;
    progress(0, total);
    for (id, seg) in version.segments.iter() {
        let bytes = segment_bytes(seg, *id, version.active);
        report.segments += 1;
        let mut base = 0usize;
        loop {
            let end = segment::scan(&bytes[base..], |_, e| {
                report.records += 1;
                report.bytes += e.len as u64;
                done += e.len as u64;
                if done - reported >= PROGRESS_STEP {
                    reported = done;
                    progress(done.min(total), total);
                }
            });
            match end.corruption {
                None => {
                    // A writer's segments other than the one it appends to all end
                    // with a seal; without one, the end of the file is damaged. (A
                    // read-only handle cannot tell which segment another process
                    // is appending to.)
                    let appending = version.active.is_none_or(|(a, _)| a == *id);
                    if !end.sealed && !appending {
                        report.corruptions.push(Corruption {
                            file: seg.path.display().to_string(),
                            offset: (base + end.valid_len) as u64,
                            reason: "sealed segment does not end with its seal frame".into(),
                        });
                    }
                    break;
                }
                Some((offset, why)) => {
                    let at = base + offset;
                    report.corruptions.push(Corruption {
                        file: seg.path.display().to_string(),
                        offset: at as u64,
                        reason: why.to_string(),
                    });
                    match next_frame(bytes, at) {
                        Some(next) => base = next,
                        None => break,
                    }
                }
            }
        }
    }
    progress(total, total);
    if let Some(file) = version.index.base() {
        if let Err(e) = file.check_all() {
            report.corruptions.push(Corruption {
                file: checkpoint::path(&shared.dir).display().to_string(),
                offset: 0,
                reason: e.message().to_string(),
            });
        }
    }
    for entry in version.index.iter() {
        let (key, loc) = match entry {
            Ok(entry) => entry,
            Err(e) => {
                report.corruptions.push(Corruption {
                    file: checkpoint::path(&shared.dir).display().to_string(),
                    offset: 0,
                    reason: e.message().to_string(),
                });
                break;
            }
        };
        let Some(seg) = version.segments.get(&loc.segment) else {
            report.corruptions.push(Corruption {
                file: segment_path(&shared.dir, loc.segment).display().to_string(),
                offset: loc.offset as u64,
                reason: "index refers to a missing segment".into(),
            });
            continue;
        };
        if let Err(e) = seg.read_value(loc.offset, loc.len, &key, |_| ()) {
            report.unreadable_keys += 1;
            report.corruptions.push(Corruption {
                file: seg.path.display().to_string(),
                offset: loc.offset as u64,
                reason: format!("live record unreadable: {}", e.message()),
            });
        }
    }
    log::info!(
        "verify of {}: {} records, {} corruptions",
        shared.dir.display(),
        report.records,
        report.corruptions.len()
    );
    Ok(report)
}

/// Offset of the next valid frame after `pos`, to resume scanning past corruption.
fn next_frame(bytes: &[u8], pos: usize) -> Option<usize> {
    let magic = crate::format::FRAME_MAGIC.to_le_bytes();
    (pos + 1
        ..bytes
            .len()
            .saturating_sub(crate::format::FRAME_HEADER_LEN - 1))
        .find(|&p| bytes[p..p + 4] == magic && crate::format::check_frame(bytes, p).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_at_rest_needs_enough_changes_and_a_share_that_depends_on_who_waits() {
        // A short log is left to the next open, whoever waits.
        assert!(!worth_checkpoint(AtRest::Idle, 16_383, 0));
        assert!(!worth_checkpoint(AtRest::Closing, 16_383, 0));
        assert!(worth_checkpoint(AtRest::Idle, 16_384, 0));
        assert!(worth_checkpoint(AtRest::Closing, 16_384, 0));
        // Over a checkpoint of 800,000 keys: idle from 100,000 changes, closing
        // from 400,000.
        assert!(!worth_checkpoint(AtRest::Idle, 99_999, 800_000));
        assert!(worth_checkpoint(AtRest::Idle, 100_000, 800_000));
        assert!(!worth_checkpoint(AtRest::Closing, 399_999, 800_000));
        assert!(worth_checkpoint(AtRest::Closing, 400_000, 800_000));
    }
}
