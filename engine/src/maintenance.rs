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
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::btree::Index;
use crate::checkpoint;
use crate::disk_index::DiskIndex;
use crate::error::{Error, Result};
use crate::index::{Key, Loc};
use crate::index_file::{DeltaMeta, IndexFile, MAX_DELTAS};
use crate::key_index::KeyIndex;
use crate::recovery;
use crate::reports::{Corruption, VerifyReport};
use crate::segment::{self, segment_path};
use crate::shared::{AtClose, IndexChanges, Shared};
use crate::sync;
use crate::version::Version;

/// When a database is at rest, a checkpoint spares the next open the replay
/// of the changes since the last one. It is written only if the changes
/// are enough ([`enough_changes`]); as a delta if the deltas fit (under half
/// the file's keys when idle, fewer than the file's keys at close; see
/// [`delta_kind`] for which delta), otherwise as a new index file, which
/// writes every key, if the changes are a share of the file's keys that
/// depends on who waits for it (or the deltas have grown too large). Idle,
/// the changes and the deltas together count: once they are that share, a
/// new index file takes them all in, with no change since the deltas as
/// well.
pub(crate) enum AtRest {
    /// No commit for a while; nobody waits: one in eight, so that a process
    /// killed at rest leaves little to replay, and reads of a delta that
    /// large (written at close) stop probing two files.
    Idle,
    /// Closing; the caller waits: one in two, so that a close costs about as
    /// much as the replay it saves (writing a key costs about half of replaying
    /// one: `bench/results/close-checkpoint-2026-12-06.md`), and the close of a
    /// large database after a few changes stays short.
    Closing,
}

/// Fewer changes are replayed at the next open in a few milliseconds.
const AT_REST_CHANGES: usize = 16_384;

/// The fewest changes a close writes a checkpoint for, when no delta is
/// there to rewrite. A replay looks each key up in an index file the new
/// process has not read yet, about a page fault a key, so that a few
/// thousand changes already cost the next open milliseconds, and their delta
/// costs the close less (`bench/results/lookups-ahead-2026-12-07.md`).
const CLOSING_CHANGES: usize = 4_096;

/// Whether the changes `c` are enough for a checkpoint at rest. A close's
/// delta rewrites the deltas it takes in: it waits for a quarter as many
/// changes as they hold, from [`CLOSING_CHANGES`] up to [`AT_REST_CHANGES`].
fn enough_changes(at_rest: &AtRest, c: &IndexChanges) -> bool {
    let least = match at_rest {
        AtRest::Idle => AT_REST_CHANGES,
        AtRest::Closing => (taken_in(delta_kind(c), c) / 4).clamp(CLOSING_CHANGES, AT_REST_CHANGES),
    };
    c.changes >= least
}

/// A checkpoint's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A new index file of every key.
    Full,
    /// A delta of the changes since the index file: the first delta, which
    /// takes in the deltas before.
    Delta,
    /// A delta of the changes since the first delta, over it: the second,
    /// which takes in the second before.
    SecondDelta,
}

/// The delta to write for the changes `c`: a second one over the first while
/// it holds no more entries than the first (it takes in the second before,
/// and the first is not written again), otherwise a first one, which takes in
/// both. A close after a few changes then writes them, not the delta the
/// background thread wrote during a bulk load.
pub(crate) fn delta_kind(c: &IndexChanges) -> Kind {
    if c.in_delta > 0 && (c.in_second + c.changes) <= c.in_delta {
        Kind::SecondDelta
    } else {
        Kind::Delta
    }
}

/// The entries of the deltas a delta of `kind` takes in.
pub(crate) fn taken_in(kind: Kind, c: &IndexChanges) -> usize {
    match kind {
        Kind::Full | Kind::Delta => c.in_delta + c.in_second,
        Kind::SecondDelta => c.in_second,
    }
}

/// The checkpoint worth writing now, if any, for a database at rest with the
/// index changes `c`.
pub(crate) fn checkpoint_at_rest(at_rest: AtRest, c: &IndexChanges) -> Option<Kind> {
    let share = match at_rest {
        AtRest::Idle => 8,
        AtRest::Closing => 2,
    };
    // The keys a new index file would take out of memory and out of the deltas.
    let unfolded = c.changes + c.in_delta + c.in_second;
    if matches!(at_rest, AtRest::Idle)
        && unfolded >= AT_REST_CHANGES
        && unfolded * share >= c.in_file
    {
        // Nobody waits: a new index file, so that reads probe one file, not
        // more (a delta written at close is folded in here, changes or not).
        Some(Kind::Full)
    } else if !enough_changes(&at_rest, c) {
        None
    } else if delta_fits_at(&at_rest, c) {
        Some(delta_kind(c))
    } else if c.in_delta + c.in_second > 0 || c.changes * share >= c.in_file {
        Some(Kind::Full)
    } else {
        None
    }
}

/// Whether the deltas with the changes `c` in them stay under half the keys
/// of the index file: then a delta costs a fraction of a new file, and a
/// lookup it answers spares one in the file.
pub(crate) fn delta_fits(c: &IndexChanges) -> bool {
    c.delta_possible && (c.in_delta + c.in_second + c.changes) * 2 < c.in_file
}

/// Whether a delta fits a checkpoint at rest: idle, as [`delta_fits`]; at
/// close, while it holds fewer entries than the file has keys, when it costs
/// the close less than a new file would (a new file writes them too), and the
/// first look at rest of the next writer folds it (`AtRest::Idle`). A close
/// after the bulk load of a large database then writes what was loaded since
/// the file, not every key, and abandons a new index file the background
/// thread had started (`bench/results/background-deltas-2026-12-08.md`).
fn delta_fits_at(at_rest: &AtRest, c: &IndexChanges) -> bool {
    match at_rest {
        AtRest::Idle => delta_fits(c),
        AtRest::Closing => c.delta_possible && c.in_delta + c.in_second + c.changes < c.in_file,
    }
}

/// Writes the checkpoint a caller asks for: a delta if it fits
/// ([`delta_fits`]), otherwise a new index file; nothing if the one on disk is
/// of the latest commit and sound (it would be written again as it is).
pub(crate) fn checkpoint_on_request(shared: &Shared) -> Result<()> {
    let changes = shared.index_changes();
    if let Some(c) = &changes {
        let sound = shared.index_file().is_some_and(|f| !f.damaged())
            && checkpoint::path(&shared.dir).exists();
        if c.file_seq == Some(c.last_seq) && sound {
            return shared.log.sync_to(c.last_seq);
        }
    }
    let kind = match changes {
        Some(c) if delta_fits(&c) => delta_kind(&c),
        _ => Kind::Full,
    };
    checkpoint_of_kind(shared, kind, AtClose::Finish)
}

/// Writes a checkpoint of `kind`; abandoned once the handle closes if
/// `at_close` says so.
pub(crate) fn checkpoint_of_kind(shared: &Shared, kind: Kind, at_close: AtClose) -> Result<()> {
    match kind {
        Kind::Full => checkpoint(shared, at_close),
        Kind::Delta => checkpoint_delta(shared, 0, at_close),
        Kind::SecondDelta => checkpoint_delta(shared, 1, at_close),
    }
}

/// At close, writes a checkpoint if it is worth it ([`AtRest::Closing`]). A
/// failure is logged, not returned: the log holds every commit, and the next
/// open replays it.
pub(crate) fn checkpoint_at_close(shared: &Shared) {
    // A read-only handle has no writer, and so no changes to count.
    let Some(c) = shared.index_changes() else {
        return;
    };
    let Some(kind) = checkpoint_at_rest(AtRest::Closing, &c) else {
        return;
    };
    if let Err(e) = checkpoint_of_kind(shared, kind, AtClose::Finish) {
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
    let Some(file) = shared.index_file().filter(|f| f.damaged()) else {
        return false;
    };
    if shared.config.read_only {
        return false;
    }
    if let Some(damaged) = file.damaged_delta().filter(|_| !file.base().damaged()) {
        // The files under the damaged delta and the log after them give the
        // index without it and those over it: the next open replays that log.
        for level in damaged..MAX_DELTAS {
            if !checkpoint::delta_path(&shared.dir, level).exists() {
                continue;
            }
            match checkpoint::set_aside_delta(&shared.dir, level) {
                Ok(to) => log::error!(
                    "the index delta of {} is damaged or lies over a damaged one: set aside as {}",
                    shared.dir.display(),
                    to.display()
                ),
                Err(e) => {
                    log::error!(
                        "the index delta of {} is damaged, and setting it aside failed: {e}",
                        shared.dir.display()
                    );
                    return false;
                }
            }
        }
        return shared.replayable.load(Ordering::Acquire);
    }
    if !shared.replayable.load(Ordering::Acquire) {
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
        checkpoint_of(shared, &version, &index, AtClose::Finish)
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
pub(crate) fn checkpoint(shared: &Shared, at_close: AtClose) -> Result<()> {
    let version = shared.snapshot_for_checkpoint();
    checkpoint_of(shared, &version, &version.index, at_close)
}

/// Writes `index`, the index of `version` (a snapshot taken for a checkpoint),
/// as the checkpoint, and puts the writer's index over it.
fn checkpoint_of(
    shared: &Shared,
    version: &Version,
    index: &KeyIndex,
    at_close: AtClose,
) -> Result<()> {
    shared.log.sync_to(version.seq)?;
    let covered = covered_by(version);
    let started = Instant::now();
    checkpoint::write(
        &shared.dir,
        shared.replayable.load(Ordering::Acquire),
        version.seq,
        &covered,
        version.log_from(),
        index.len(),
        shared.until_abandoned(at_close, index.iter()),
        &mut false,
    )?;
    if !shared.config.read_only {
        // The file just written serves the writer's reads from now on, and the
        // changes it holds leave memory.
        let file = IndexFile::open(&checkpoint::path(&shared.dir))?;
        shared.install_checkpoint(Arc::new(DiskIndex::new(file)), version.seq)?;
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

/// Syncs everything written and writes the delta at `level` of the latest
/// version: the changes since the file under it, merged with those of the
/// deltas it replaces (the one at `level` and any over it).
fn checkpoint_delta(shared: &Shared, level: usize, at_close: AtClose) -> Result<()> {
    let version = shared.snapshot_for_checkpoint();
    let index = &version.index;
    let (Some(disk), Some(live_by_segment)) = (index.base(), index.live_by_segment()) else {
        return Err(Error::invalid(
            "a delta needs an index file that names its live bytes",
        ));
    };
    // The kind was chosen from changes read before the maintenance lock was
    // taken: a checkpoint meanwhile may have replaced the delta this one was
    // to lie over. Then it is written over the files there are.
    let level = level.min(disk.deltas().len());
    shared.log.sync_to(version.seq)?;
    let started = Instant::now();
    let under = disk.lowest(level);
    let meta = DeltaMeta {
        base: under.top().id,
        len: index.len(),
        live_bytes: index.live_bytes(),
        live_by_segment: live_by_segment.clone(),
    };
    let replaced = &disk.deltas()[level..];
    // The writer sizes the table by the entries: over deltas before, the
    // keys two name are counted by a first pass of the merge.
    let len = match replaced {
        [] => index.changes().len(),
        _ => delta_entries(replaced, index.changes()).try_fold(0, |n, e| e.map(|_| n + 1))?,
    };
    checkpoint::write_delta(
        &shared.dir,
        level,
        version.seq,
        &covered_by(&version),
        version.log_from(),
        len,
        shared.until_abandoned(at_close, delta_entries(replaced, index.changes())),
        &meta,
    )?;
    let delta = IndexFile::open(&checkpoint::delta_path(&shared.dir, level))?;
    let merged = under
        .with_delta(Arc::new(delta))
        .map_err(|(_, why)| Error::corrupted(why))?;
    shared.install_checkpoint(Arc::new(merged), version.seq)?;
    shared.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
    log::info!(
        "delta checkpoint {} of {} at seq {}: {len} entries in {:?}",
        level + 1,
        shared.dir.display(),
        version.seq,
        started.elapsed()
    );
    Ok(())
}

/// The entries of a delta of `changes` over the deltas `before` (the first
/// the oldest), all in key order: a key's newest entry, removals kept.
fn delta_entries<'a>(
    before: &'a [Arc<IndexFile>],
    changes: &'a Index,
) -> impl Iterator<Item = Result<(Key, Loc)>> + 'a {
    let mut merged: Box<dyn Iterator<Item = Result<(Key, Loc)>> + 'a> =
        Box::new(std::iter::empty());
    for d in before {
        merged = Box::new(overlay(
            merged,
            d.range((Bound::Unbounded, Bound::Unbounded)),
        ));
    }
    overlay(merged, changes.iter().map(|(k, l)| Ok((k.clone(), *l))))
}

/// The entries of `older` and `newer`, both in key order, merged: a key's
/// entry in `newer` replaces its entry in `older`. A failure ends the merge.
fn overlay<'a>(
    older: impl Iterator<Item = Result<(Key, Loc)>> + 'a,
    newer: impl Iterator<Item = Result<(Key, Loc)>> + 'a,
) -> impl Iterator<Item = Result<(Key, Loc)>> + 'a {
    let (mut older, mut newer) = (older.fuse(), newer.fuse());
    let (mut old, mut new) = (None::<(Key, Loc)>, None::<(Key, Loc)>);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        for (walk, next) in [
            (&mut older as &mut dyn Iterator<Item = _>, &mut old),
            (&mut newer, &mut new),
        ] {
            if next.is_none() {
                match walk.next() {
                    Some(Ok(entry)) => *next = Some(entry),
                    Some(Err(e)) => {
                        failed = true;
                        return Some(Err(e));
                    }
                    None => {}
                }
            }
        }
        let order = match (&old, &new) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((o, _)), Some((n, _))) => o[..].cmp(&n[..]),
        };
        if order == std::cmp::Ordering::Equal {
            old = None;
        }
        if order == std::cmp::Ordering::Less {
            old.take().map(Ok)
        } else {
            new.take().map(Ok)
        }
    })
}

/// The segments a checkpoint of `version` covers: every sealed one.
fn covered_by(version: &Version) -> BTreeSet<u32> {
    version
        .segments
        .keys()
        .copied()
        .filter(|id| version.active.map(|(a, _)| a) != Some(*id))
        .collect()
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
    let covered = covered_by(&version);
    let index = &version.index;
    let replayable = shared.replayable.load(Ordering::Acquire);
    checkpoint::write(
        dest,
        replayable,
        version.seq,
        &covered,
        version.log_from(),
        index.len(),
        index.iter(),
        &mut false,
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
    if let Some(disk) = version.index.base() {
        let deltas = disk
            .deltas()
            .iter()
            .enumerate()
            .map(|(level, d)| (&**d, checkpoint::delta_path(&shared.dir, level)));
        let base = (&**disk.base(), checkpoint::path(&shared.dir));
        for (file, path) in deltas.chain([base]) {
            if let Err(e) = file.check_all() {
                report.corruptions.push(Corruption {
                    file: path.display().to_string(),
                    offset: 0,
                    reason: e.message().to_string(),
                });
            }
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

    fn changes(
        changes: usize,
        in_file: usize,
        in_delta: usize,
        delta_possible: bool,
    ) -> IndexChanges {
        IndexChanges {
            changes,
            in_file,
            in_delta,
            in_second: 0,
            delta_lookups: 0,
            delta_possible,
            last_seq: 1,
            file_seq: None,
        }
    }

    #[test]
    fn a_checkpoint_at_rest_needs_enough_changes_and_a_share_that_depends_on_who_waits() {
        let kind = |at_rest, c| checkpoint_at_rest(at_rest, &c);
        // A short log is left to the next open: shorter when closing.
        assert_eq!(kind(AtRest::Idle, changes(16_383, 0, 0, false)), None);
        assert_eq!(kind(AtRest::Closing, changes(4_095, 0, 0, false)), None);
        assert_eq!(
            kind(AtRest::Idle, changes(16_384, 0, 0, false)),
            Some(Kind::Full)
        );
        assert_eq!(
            kind(AtRest::Closing, changes(4_096, 0, 0, false)),
            Some(Kind::Full)
        );
        // Over an index file of 800,000 keys of the format before (no delta
        // possible): idle from 100,000 changes, closing from 400,000.
        assert_eq!(kind(AtRest::Idle, changes(99_999, 800_000, 0, false)), None);
        assert_eq!(
            kind(AtRest::Idle, changes(100_000, 800_000, 0, false)),
            Some(Kind::Full)
        );
        assert_eq!(
            kind(AtRest::Closing, changes(399_999, 800_000, 0, false)),
            None
        );
        assert_eq!(
            kind(AtRest::Closing, changes(400_000, 800_000, 0, false)),
            Some(Kind::Full)
        );
    }

    #[test]
    fn a_checkpoint_at_rest_is_a_delta_while_the_delta_stays_under_half_the_keys() {
        let kind = |at_rest, c| checkpoint_at_rest(at_rest, &c);
        for at_rest in [AtRest::Idle, AtRest::Closing] {
            assert_eq!(
                kind(at_rest, changes(16_384, 800_000, 0, true)),
                Some(Kind::Delta)
            );
        }
        assert_eq!(kind(AtRest::Idle, changes(16_383, 800_000, 0, true)), None);
        assert_eq!(
            kind(AtRest::Closing, changes(4_095, 800_000, 0, true)),
            None
        );
        assert_eq!(
            kind(AtRest::Closing, changes(4_096, 800_000, 0, true)),
            Some(Kind::Delta)
        );
        // Closing over a delta, a second delta over it: the first is not
        // written again, and 4,096 changes are enough.
        assert_eq!(
            kind(AtRest::Closing, changes(4_095, 800_000, 100_000, true)),
            None
        );
        assert_eq!(
            kind(AtRest::Closing, changes(4_096, 800_000, 100_000, true)),
            Some(Kind::SecondDelta)
        );
        // Over a second delta, a quarter of the entries it takes in, up to
        // 16,384.
        let over_second = |changes_now, in_second| IndexChanges {
            in_second,
            ..changes(changes_now, 800_000, 100_000, true)
        };
        assert_eq!(kind(AtRest::Closing, over_second(9_999, 40_000)), None);
        assert_eq!(
            kind(AtRest::Closing, over_second(10_000, 40_000)),
            Some(Kind::SecondDelta)
        );
        assert_eq!(kind(AtRest::Closing, over_second(16_383, 80_000)), None);
        assert_eq!(
            kind(AtRest::Closing, over_second(16_384, 80_000)),
            Some(Kind::SecondDelta)
        );
        // Changes and a second delta past the first: a first delta takes in
        // both, and so waits for a quarter of their entries.
        assert_eq!(kind(AtRest::Closing, over_second(16_383, 90_000)), None);
        assert_eq!(
            kind(AtRest::Closing, over_second(16_384, 90_000)),
            Some(Kind::Delta)
        );
        assert_eq!(
            kind(AtRest::Closing, changes(200_000, 800_000, 100_000, true)),
            Some(Kind::Delta)
        );
        // The deltas hold the changes and those before: at close, fewer than
        // the file's keys, past half of them (a new file would write them as
        // well as the rest).
        assert_eq!(
            kind(AtRest::Closing, changes(200_000, 800_000, 599_999, true)),
            Some(Kind::SecondDelta)
        );
        assert_eq!(
            kind(AtRest::Closing, changes(200_000, 800_000, 600_000, true)),
            Some(Kind::Full)
        );
        assert_eq!(
            kind(AtRest::Closing, changes(500_000, 800_000, 0, true)),
            Some(Kind::Delta)
        );
        // A delta that cannot be written over the file: a new one.
        assert_eq!(
            kind(AtRest::Closing, changes(500_000, 800_000, 0, false)),
            Some(Kind::Full)
        );
        // A delta grown that large is replaced, idle or not.
        assert_eq!(
            kind(AtRest::Idle, changes(20_000, 800_000, 390_000, true)),
            Some(Kind::Full)
        );
    }

    #[test]
    fn idle_a_delta_of_one_in_eight_of_the_keys_is_folded_into_a_new_index_file() {
        let kind = |at_rest, c| checkpoint_at_rest(at_rest, &c);
        // A delta written at close, and no change since: kept while closing,
        // folded once idle.
        assert_eq!(
            kind(AtRest::Closing, changes(0, 800_000, 100_000, true)),
            None
        );
        assert_eq!(
            kind(AtRest::Idle, changes(0, 800_000, 100_000, true)),
            Some(Kind::Full)
        );
        assert_eq!(kind(AtRest::Idle, changes(0, 800_000, 99_999, true)), None);
        // Changes and delta count together; a smaller sum is a delta.
        assert_eq!(
            kind(AtRest::Idle, changes(50_000, 800_000, 50_000, true)),
            Some(Kind::Full)
        );
        assert_eq!(
            kind(AtRest::Idle, changes(50_000, 800_000, 49_999, true)),
            Some(Kind::Delta)
        );
        // A second delta counts as well.
        let second = IndexChanges {
            in_second: 25_000,
            ..changes(25_000, 800_000, 50_000, true)
        };
        assert_eq!(kind(AtRest::Idle, second), Some(Kind::Full));
        // Closing keeps to a delta (the caller waits): a second one.
        assert_eq!(
            kind(AtRest::Closing, changes(50_000, 800_000, 50_000, true)),
            Some(Kind::SecondDelta)
        );
        // Fewer than AT_REST_CHANGES are left alone, whatever their share.
        assert_eq!(kind(AtRest::Idle, changes(0, 100_000, 16_383, true)), None);
    }

    use crate::shared::Op;
    use crate::{Config, Database, SyncMode, WriteBatch};
    use parking_lot::Mutex;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    type Model = BTreeMap<Vec<u8>, Vec<u8>>;
    /// A write of a commit, owned: a put, or a delete.
    type Owned = (Vec<u8>, Option<Vec<u8>>);

    fn key(i: u32) -> Vec<u8> {
        format!("key-{i:08}").into_bytes()
    }

    fn config() -> Config {
        Config {
            sync_mode: SyncMode::Off,
            auto_compact: false,
            ..Config::default()
        }
    }

    /// Writes `keys`, each as `value(i)`, or deletes it, in one commit.
    fn write(
        db: &Database,
        model: &mut Model,
        keys: impl Iterator<Item = u32>,
        value: Option<&str>,
    ) {
        let mut batch = WriteBatch::new();
        for i in keys {
            match value {
                Some(v) => {
                    let v = format!("{v}-{i}").repeat(3).into_bytes();
                    batch.put(key(i), v.clone());
                    model.insert(key(i), v);
                }
                None => {
                    batch.delete(key(i));
                    model.remove(&key(i));
                }
            }
        }
        db.write(&batch).unwrap();
    }

    /// A commit of `keys`, each deleted if `deleted(i)`, otherwise written
    /// with a value naming `round`; the model takes it too.
    fn changes_of(
        model: &mut Model,
        round: usize,
        keys: impl Iterator<Item = u32>,
        deleted: impl Fn(u32) -> bool,
    ) -> Vec<Owned> {
        keys.map(|i| {
            if deleted(i) {
                model.remove(&key(i));
                (key(i), None)
            } else {
                let v = format!("round-{round}-{i}").into_bytes();
                model.insert(key(i), v.clone());
                (key(i), Some(v))
            }
        })
        .collect()
    }

    /// Makes one of `commits` each time an install lets commits in
    /// (`while_rebasing`); how many are left to make.
    fn commit_while_installing(db: &Database, commits: Vec<Vec<Owned>>) -> Arc<AtomicUsize> {
        let shared = db.shared.clone();
        let left = Arc::new(AtomicUsize::new(commits.len()));
        let (left_ours, mut commits) = (left.clone(), commits.into_iter());
        *db.shared.while_rebasing.lock() = Some(Box::new(move || {
            if let Some(commit) = commits.next() {
                let ops: Vec<Op<'_>> = commit.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
                shared.commit(&ops, None).unwrap();
                left_ours.fetch_sub(1, Ordering::Relaxed);
            }
        }));
        left
    }

    /// 60,000 keys in an index file, then 20,000 changes since: overwrites,
    /// deletes and new keys.
    fn changed_since_checkpoint(dir: &Path) -> (Database, Model) {
        let db = Database::create(dir, config()).unwrap();
        let mut model = Model::new();
        write(&db, &mut model, 0..60_000, Some("first"));
        db.checkpoint().unwrap();
        assert!(!checkpoint::delta_path(dir, 0).exists());
        write(&db, &mut model, 0..8_000, Some("second"));
        write(&db, &mut model, 8_000..12_000, None);
        write(&db, &mut model, 60_000..68_000, Some("new"));
        (db, model)
    }

    fn assert_holds(db: &Database, model: &Model) {
        let forwards: Model = db.iter().unwrap().map(|e| e.unwrap()).collect();
        assert!(
            forwards == *model,
            "{} entries, {} in the model",
            forwards.len(),
            model.len()
        );
        let mut backwards: Vec<(Vec<u8>, Vec<u8>)> =
            db.iter().unwrap().rev().map(|e| e.unwrap()).collect();
        backwards.reverse();
        assert!(backwards.into_iter().eq(model.clone()));
        for i in (0..70_000).step_by(7) {
            assert_eq!(
                db.get(&key(i)).unwrap().as_ref(),
                model.get(&key(i)),
                "key {i}"
            );
        }
        assert_eq!(db.len().unwrap(), model.len());
    }

    /// `assert_holds` before and after a close and an open, which counts the
    /// same live bytes.
    fn assert_holds_across_a_reopen(db: Database, dir: &Path, model: &Model) {
        assert_holds(&db, model);
        let live_bytes = db.stats().unwrap().live_bytes;
        db.close().unwrap();
        let db = Database::open(dir, config()).unwrap();
        assert_eq!(db.stats().unwrap().live_bytes, live_bytes);
        assert_holds(&db, model);
    }

    fn changes_in_memory(db: &Database) -> usize {
        db.shared.index_changes().unwrap().changes
    }

    #[test]
    fn the_writes_made_while_a_checkpoint_is_written_stay_in_memory_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut model) = changed_since_checkpoint(dir.path());
        // The snapshot a checkpoint is written from, then commits before the
        // file is put in place: overwrites, deletes of keys in the file, keys
        // deleted since it written again, new keys.
        let maintenance = db.shared.maintenance.lock();
        let version = db.shared.snapshot_for_checkpoint();
        write(&db, &mut model, 100..300, Some("during"));
        write(&db, &mut model, 300..400, None);
        write(&db, &mut model, 9_000..9_100, Some("back"));
        write(&db, &mut model, 70_000..70_100, Some("new"));
        checkpoint_of(&db.shared, &version, &version.index, AtClose::Finish).unwrap();
        assert_eq!(changes_in_memory(&db), 500, "the writes made meanwhile");
        drop(maintenance);
        assert_holds_across_a_reopen(db, dir.path(), &model);
    }

    /// The changes kept over a new file are built outside the writer lock
    /// from the record of those made while it was written
    /// (`Shared::install_checkpoint`), and the commits made meanwhile,
    /// recorded as made, are applied outside the lock while many, for up to
    /// four rounds, and under it once few; without a record (too many
    /// changes) the changes kept are walked from a clone of the index,
    /// outside the lock, and past a record during the rounds all is done
    /// under the lock. Every way there leaves the same index. Tests record
    /// at most 4,096 changes and apply more than 100 outside the lock.
    #[test]
    fn the_commits_made_while_a_checkpoint_is_put_in_place_stay_over_it() {
        // Changes while the file is written; those of each round after.
        let cases: [(u32, &[u32]); 7] = [
            (500, &[300]),      // applied outside the lock, then nothing left
            (500, &[50]),       // applied under the lock
            (500, &[300; 5]),   // four rounds outside, the fifth under the lock
            (500, &[5_000]),    // too many to record meanwhile: under the lock
            (5_000, &[]),       // too many while the file was written: walked
            (5_000, &[300; 2]), // the same, a commit during the walk, one after
            (500, &[]),         // nothing meanwhile
        ];
        for (while_written, rounds) in cases {
            let dir = tempfile::tempdir().unwrap();
            let (db, mut model) = changed_since_checkpoint(dir.path());
            // As a checkpoint of the handle's: no other until this one is in place.
            let maintenance = db.shared.maintenance.lock();
            let version = db.shared.snapshot_for_checkpoint();
            write(&db, &mut model, 100..100 + while_written, Some("during"));
            write(&db, &mut model, 20_000..20_100, None);
            // Keys changed before the snapshot, while the file was written,
            // in the file alone, deleted since it, and new; overwritten or
            // deleted, in a different spread each round.
            let commits = (0..)
                .zip(rounds)
                .map(|(round, &n)| {
                    let step = 70_000 / n.max(1);
                    let keys = (0..n).map(|i| (i * step + round as u32 * 3) % 80_000);
                    changes_of(&mut model, round, keys, |i| i % 5 == 0)
                })
                .collect();
            let left = commit_while_installing(&db, commits);
            checkpoint_of(&db.shared, &version, &version.index, AtClose::Finish).unwrap();
            *db.shared.while_rebasing.lock() = None;
            assert_eq!(left.load(Ordering::Relaxed), 0, "every round committed");
            drop(maintenance);
            assert_holds_across_a_reopen(db, dir.path(), &model);
        }
    }

    /// A compaction is put in place as a checkpoint is: the commits made
    /// while the writer's index is put over its index file are made outside
    /// the writer lock (here by `while_rebasing`), stay over the file, and
    /// the copies of the keys they change are not counted: the live bytes are
    /// those a replay of every segment counts.
    #[test]
    fn the_commits_made_while_a_compaction_is_put_in_place_stay_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut model) = changed_since_checkpoint(dir.path());
        // Overwrites and deletes of copied keys, and new keys, in two rounds
        // of more than the tests apply under the lock.
        let commits = (0..2)
            .map(|round| {
                let keys = (0..300u32).map(|i| i * 211 + round as u32);
                changes_of(&mut model, round, keys, |i| i % 3 == 0)
            })
            .collect();
        let left = commit_while_installing(&db, commits);
        let report = db.compact().unwrap();
        *db.shared.while_rebasing.lock() = None;
        assert!(report.records_copied > 50_000, "{report:?}");
        assert_eq!(left.load(Ordering::Relaxed), 0, "both rounds committed");
        assert_holds(&db, &model);
        let live_bytes = db.stats().unwrap().live_bytes;
        db.close().unwrap();
        for path in [
            checkpoint::path(dir.path()),
            checkpoint::delta_path(dir.path(), 0),
        ] {
            if path.exists() {
                std::fs::remove_file(path).unwrap();
            }
        }
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(db.stats().unwrap().live_bytes, live_bytes);
        assert_holds(&db, &model);
    }

    /// While a checkpoint is put in place from a walk of the index, a commit
    /// that would copy the nodes of more changes than the walk allows waits
    /// for the walk, and a large commit waits for the whole install; both are
    /// then made, over the new file.
    #[test]
    fn commits_that_would_copy_the_walked_index_or_pass_the_record_wait_for_the_install() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut model) = changed_since_checkpoint(dir.path());
        let maintenance = db.shared.maintenance.lock();
        let version = db.shared.snapshot_for_checkpoint();
        // More than a record keeps: the install walks the index.
        write(&db, &mut model, 100..5_100, Some("during"));
        let copying = 30_000..31_100; // more than the walk allows: 1,024
        let large = 40_000..48_200; // more than a large commit: 8,192
        let shared = db.shared.clone();
        let commit_on_a_thread = move |keys: std::ops::Range<u32>| {
            let (shared, done) = (shared.clone(), Arc::new(AtomicBool::new(false)));
            let made = done.clone();
            let thread = std::thread::spawn(move || {
                let owned: Vec<Owned> = keys.map(|i| (key(i), Some(b"waited".to_vec()))).collect();
                let ops: Vec<Op<'_>> = owned.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
                shared.commit(&ops, None).unwrap();
                made.store(true, Ordering::Release);
            });
            (thread, done)
        };
        let threads = Arc::new(Mutex::new(Vec::new()));
        let (ours, mut calls) = (threads.clone(), 0);
        let mut spawned = [copying.clone(), large.clone()]
            .into_iter()
            .map(commit_on_a_thread);
        *db.shared.while_rebasing.lock() = Some(Box::new(move || {
            // The first call comes during the walk, the second once it is done.
            calls += 1;
            if let Some((thread, done)) = spawned.next() {
                std::thread::sleep(std::time::Duration::from_millis(200));
                assert!(!done.load(Ordering::Acquire), "commit {calls} did not wait");
                ours.lock().push(thread);
            }
        }));
        checkpoint_of(&db.shared, &version, &version.index, AtClose::Finish).unwrap();
        *db.shared.while_rebasing.lock() = None;
        let threads = std::mem::take(&mut *threads.lock());
        assert_eq!(threads.len(), 2, "both commits were started");
        for thread in threads {
            thread.join().unwrap();
        }
        for i in copying.chain(large) {
            model.insert(key(i), b"waited".to_vec());
        }
        drop(maintenance);
        assert_holds_across_a_reopen(db, dir.path(), &model);
    }

    /// Threads commit, each at its own size, while checkpoints are written
    /// and put in place one after another, by every way there: from the
    /// record, from a walk (a commit past the record while the file is
    /// written), under the lock (past it during the rounds). The commits
    /// that must wait for the walk or the install do, and none waits for
    /// good: every write is there, before and after a reopen.
    #[test]
    fn commits_of_every_size_beside_checkpoints_keep_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path(), config()).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        // One put; recorded; past the walk's copies (1,024); large (8,192).
        let sizes = [1u32, 300, 2_000, 9_000];
        let writers: Vec<_> = (0u32..)
            .zip(sizes)
            .map(|(w, size)| {
                let (db, stop) = (db.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut model = Model::new();
                    let mut round = 0u32;
                    // Three rounds at least, so that each size meets a checkpoint.
                    while round < 3 || !stop.load(Ordering::Relaxed) {
                        let mut batch = WriteBatch::new();
                        for j in 0..size {
                            // Overwrites and deletes among 20,000 keys of its own.
                            let k = key(w * 1_000_000 + (round * 7_919 + j * 13) % 20_000);
                            if (j + round) % 11 == 0 {
                                batch.delete(k.clone());
                                model.remove(&k);
                            } else {
                                let v = format!("{w}-{round}-{j}").into_bytes();
                                batch.put(k.clone(), v.clone());
                                model.insert(k, v);
                            }
                        }
                        db.write(&batch).unwrap();
                        round += 1;
                    }
                    model
                })
            })
            .collect();
        let started = Instant::now();
        let mut checkpoints = 0;
        while checkpoints < 3 || started.elapsed() < std::time::Duration::from_secs(3) {
            // As `Database::checkpoint` does: the background thread's own
            // checkpoints wait their turn.
            let _m = db.shared.maintenance.lock();
            checkpoint(&db.shared, AtClose::Finish).unwrap();
            checkpoints += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let mut model = Model::new();
        for writer in writers {
            model.extend(writer.join().unwrap());
        }
        let db = Arc::into_inner(db).unwrap();
        assert_holds_across_a_reopen(db, dir.path(), &model);
    }

    #[test]
    fn a_close_after_many_changes_writes_a_delta_and_the_open_replays_none_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = changed_since_checkpoint(dir.path());
        let live_bytes = db.stats().unwrap().live_bytes;
        db.close().unwrap();
        let delta = checkpoint::delta_path(dir.path(), 0);
        let base_len = std::fs::metadata(checkpoint::path(dir.path()))
            .unwrap()
            .len();
        let delta_len = std::fs::metadata(&delta).unwrap().len();
        assert!(
            delta_len * 2 < base_len,
            "delta {delta_len} bytes, base {base_len}"
        );
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(changes_in_memory(&db), 0, "the open replayed the changes");
        assert_eq!(db.stats().unwrap().live_bytes, live_bytes);
        assert_holds(&db, &model);
    }

    #[test]
    fn a_delta_left_by_close_is_folded_into_a_new_index_file_once_idle() {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = changed_since_checkpoint(dir.path());
        db.close().unwrap();
        assert!(checkpoint::delta_path(dir.path(), 0).exists());
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(db.shared.index_file().unwrap().delta_entries(), 20_000);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while db.shared.index_file().unwrap().delta_entries() > 0 {
            assert!(std::time::Instant::now() < deadline, "the delta stays");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(!checkpoint::delta_path(dir.path(), 0).exists());
        assert_eq!(changes_in_memory(&db), 0);
        assert_holds(&db, &model);
        db.close().unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(db.shared.index_file().unwrap().delta_entries(), 0);
        assert_holds(&db, &model);
    }

    #[test]
    fn deltas_take_in_the_ones_before_until_a_new_index_file_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path(), config()).unwrap();
        let mut model = Model::new();
        let in_deltas = |db: &Database| -> Vec<usize> {
            let file = db.shared.index_file().unwrap();
            file.deltas().iter().map(|d| d.len()).collect()
        };
        let files = |dir: &Path| [0, 1].map(|l| checkpoint::delta_path(dir, l).exists());
        write(&db, &mut model, 0..100_000, Some("first"));
        db.checkpoint().unwrap();
        // A first delta over the index file.
        write(&db, &mut model, 0..8_000, Some("second"));
        write(&db, &mut model, 8_000..10_000, None);
        db.checkpoint().unwrap();
        let first = db.shared.index_file().unwrap();
        assert_eq!(in_deltas(&db), [10_000]);
        // A second over it, of changes fewer than the first holds: the
        // first is not written again.
        write(&db, &mut model, 5_000..9_000, Some("third"));
        db.checkpoint().unwrap();
        let second = db.shared.index_file().unwrap();
        assert!(Arc::ptr_eq(first.base(), second.base()));
        assert!(Arc::ptr_eq(&first.deltas()[0], &second.deltas()[0]));
        assert_eq!(in_deltas(&db), [10_000, 4_000]);
        assert_eq!(files(dir.path()), [true, true]);
        assert_holds(&db, &model);
        db.close().unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(changes_in_memory(&db), 0);
        assert_eq!(in_deltas(&db), [10_000, 4_000]);
        assert_holds(&db, &model);
        // The second takes in the one before (keys both name count once).
        write(&db, &mut model, 8_500..11_000, Some("fourth"));
        db.checkpoint().unwrap();
        assert_eq!(in_deltas(&db), [10_000, 6_000]);
        // Past the first, a first delta takes in both, and the second goes.
        write(&db, &mut model, 20_000..25_000, None);
        db.checkpoint().unwrap();
        assert_eq!(in_deltas(&db), [16_000]);
        assert_eq!(files(dir.path()), [true, false]);
        assert_holds(&db, &model);
        db.close().unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(changes_in_memory(&db), 0);
        assert_holds(&db, &model);
        // A second again; then, past half the index file's keys, a new index
        // file, and both deltas go.
        write(&db, &mut model, 30_000..32_000, Some("fifth"));
        db.checkpoint().unwrap();
        assert_eq!(in_deltas(&db), [16_000, 2_000]);
        write(&db, &mut model, 40_000..75_000, Some("sixth"));
        db.checkpoint().unwrap();
        assert_eq!(files(dir.path()), [false, false]);
        assert!(in_deltas(&db).is_empty());
        db.close().unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        assert_holds(&db, &model);
    }

    #[test]
    fn a_delta_over_another_index_file_is_set_aside_and_the_log_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = changed_since_checkpoint(dir.path());
        db.checkpoint().unwrap();
        let delta = checkpoint::delta_path(dir.path(), 0);
        let stale = std::fs::read(&delta).unwrap();
        // A compaction writes a new index file (of the same commit, moving
        // records) and removes the delta; put back, the delta is what a crash
        // between the two would leave.
        db.compact().unwrap();
        assert!(!delta.exists());
        db.close().unwrap();
        std::fs::write(&delta, stale).unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        assert!(!delta.exists());
        assert!(dir.path().join(checkpoint::DELTA_SET_ASIDE[0]).exists());
        assert_holds(&db, &model);
    }

    #[test]
    fn a_close_writes_a_second_delta_and_one_over_a_replaced_first_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path(), config()).unwrap();
        let mut model = Model::new();
        write(&db, &mut model, 0..100_000, Some("first"));
        db.checkpoint().unwrap();
        write(&db, &mut model, 0..10_000, Some("second"));
        db.checkpoint().unwrap();
        let (first, second) = (
            checkpoint::delta_path(dir.path(), 0),
            checkpoint::delta_path(dir.path(), 1),
        );
        let first_bytes = std::fs::read(&first).unwrap();
        // A close after fewer changes than the first delta holds writes them
        // over it, and leaves the first as it was.
        write(&db, &mut model, 30_000..35_000, Some("closing"));
        write(&db, &mut model, 5_000..6_000, None);
        db.close().unwrap();
        assert!(second.exists());
        assert_eq!(std::fs::read(&first).unwrap(), first_bytes);
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(changes_in_memory(&db), 0, "the open replayed the changes");
        assert_holds(&db, &model);
        // A first delta written anew removes the second; put back, the
        // second is what a crash between the two would leave.
        let stale = std::fs::read(&second).unwrap();
        write(&db, &mut model, 40_000..48_000, Some("more"));
        db.checkpoint().unwrap();
        assert!(first.exists() && !second.exists());
        assert!(std::fs::read(&first).unwrap() != first_bytes);
        db.close().unwrap();
        std::fs::write(&second, stale).unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        assert!(!second.exists());
        assert!(dir.path().join(checkpoint::DELTA_SET_ASIDE[1]).exists());
        assert_eq!(db.shared.index_file().unwrap().deltas().len(), 1);
        assert_holds(&db, &model);
    }

    #[test]
    fn a_second_delta_chosen_before_its_first_was_replaced_lies_over_the_files_there_are() {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = changed_since_checkpoint(dir.path());
        // No delta yet: the second is written as a first.
        let maintenance = db.shared.maintenance.lock();
        checkpoint_of_kind(&db.shared, Kind::SecondDelta, AtClose::Finish).unwrap();
        drop(maintenance);
        assert_eq!(db.shared.index_file().unwrap().deltas().len(), 1);
        assert!(!checkpoint::delta_path(dir.path(), 1).exists());
        assert_holds_across_a_reopen(db, dir.path(), &model);
    }

    #[test]
    fn a_delta_refused_at_open_is_set_aside_and_the_log_after_the_index_file_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = changed_since_checkpoint(dir.path());
        db.close().unwrap();
        let delta = checkpoint::delta_path(dir.path(), 0);
        let mut bytes = std::fs::read(&delta).unwrap();
        let at = bytes.len() - 20;
        bytes[at] ^= 1;
        std::fs::write(&delta, bytes).unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        assert!(!delta.exists());
        assert!(dir.path().join(checkpoint::DELTA_SET_ASIDE[0]).exists());
        assert_eq!(
            changes_in_memory(&db),
            20_000,
            "the changes since the index file"
        );
        assert_holds(&db, &model);
    }

    #[test]
    fn a_delta_a_read_finds_rotten_is_set_aside_and_the_next_open_replays_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = changed_since_checkpoint(dir.path());
        db.close().unwrap();
        let delta = checkpoint::delta_path(dir.path(), 0);
        let file = IndexFile::open(&delta).unwrap();
        // A byte in the first block, after the table.
        let at = 4096 + 12 * crate::index_file::table_slots(file.len() as u64) as usize + 3;
        drop(file);
        let mut bytes = std::fs::read(&delta).unwrap();
        bytes[at] ^= 0x10;
        std::fs::write(&delta, bytes).unwrap();
        let db = Database::open(dir.path(), config()).unwrap();
        let err = db
            .iter()
            .unwrap()
            .find_map(|e| e.err())
            .expect("the rotten block is refused");
        assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
        db.close().unwrap();
        assert!(!delta.exists());
        let db = Database::open(dir.path(), config()).unwrap();
        assert_holds(&db, &model);
    }

    /// The files of `dir` by name: their lengths, and the bytes of the index
    /// files.
    fn files_of(dir: &Path) -> BTreeMap<String, (u64, Option<Vec<u8>>)> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                let bytes = name
                    .starts_with("index")
                    .then(|| std::fs::read(e.path()).unwrap());
                (name, (e.metadata().unwrap().len(), bytes))
            })
            .collect()
    }

    /// 20,000 keys of 600-byte values in segments of 4 MiB, every other one
    /// deleted since: a compaction copies a few frames, then writes an index
    /// file of 10,000 keys.
    fn half_deleted(dir: &Path, config: Config) -> (Database, Model) {
        let db = Database::create(
            dir,
            Config {
                segment_size: 4 << 20,
                ..config
            },
        )
        .unwrap();
        let mut model = Model::new();
        write(&db, &mut model, 0..20_000, Some(&"v".repeat(200)));
        write(&db, &mut model, (0..20_000).step_by(2), None);
        (db, model)
    }

    /// Work of `AtClose::Abandon` in `db` ends at its `look`-th look (the
    /// stop a close asks); the looks are counted in the returned counter.
    fn stop_at_look(db: &Database, look: usize) -> Arc<AtomicUsize> {
        let looks = Arc::new(AtomicUsize::new(0));
        let (counted, shared) = (looks.clone(), Arc::downgrade(&db.shared));
        *db.shared.at_each_look.lock() = Some(Box::new(move || {
            if counted.fetch_add(1, Ordering::Relaxed) + 1 == look {
                shared.upgrade().unwrap().wake.stop();
            }
        }));
        looks
    }

    /// The background thread's work, at its first look, tells the test and
    /// waits until the handle closes.
    fn wait_at_first_look_for_the_close(db: &Database) -> std::sync::mpsc::Receiver<()> {
        let (looked, first_look) = std::sync::mpsc::channel();
        let shared = Arc::downgrade(&db.shared);
        *db.shared.at_each_look.lock() = Some(Box::new(move || {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if looked.send(()).is_ok() {
                let deadline = Instant::now() + std::time::Duration::from_secs(60);
                while !shared.wake.stop_asked() && Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }));
        first_look
    }

    #[test]
    fn a_compaction_abandoned_at_any_look_leaves_the_files_as_they_were() {
        let mut abandoned = 0;
        for look in 1.. {
            let dir = tempfile::tempdir().unwrap();
            let (db, model) = half_deleted(dir.path(), config());
            db.checkpoint().unwrap();
            db.replace_background(None);
            db.shared.wake.restart();
            let before = files_of(dir.path());
            let looks = stop_at_look(&db, look);
            let result = {
                let _m = db.shared.maintenance.lock();
                crate::compaction::compact(&db.shared, AtClose::Abandon)
            };
            *db.shared.at_each_look.lock() = None;
            let report = match result {
                Ok(report) => report,
                Err(e) => {
                    assert!(e.is_abandoned(), "{e}");
                    abandoned += 1;
                    // The copies, renamed or not, are gone, and so is the
                    // index file being written: only the segment the
                    // compaction rolled to is new.
                    let after = files_of(dir.path());
                    let new: Vec<&String> =
                        after.keys().filter(|f| !before.contains_key(*f)).collect();
                    assert_eq!(new.len(), 1, "look {look}: {new:?}");
                    assert_eq!(after[new[0]].0, 0, "look {look}: {new:?}");
                    for (name, file) in &before {
                        assert_eq!(after.get(name), Some(file), "look {look}: {name}");
                    }
                    assert_holds_across_a_reopen(db, dir.path(), &model);
                    continue;
                }
            };
            assert_eq!(
                looks.load(Ordering::Relaxed),
                look - 1,
                "looked at every frame and every 4096 entries"
            );
            assert_eq!(report.records_copied, 10_000);
            // A look at each frame of copies (1 MiB), then three as the index
            // file of 10,000 keys is written.
            assert_eq!(abandoned, look - 1);
            assert!(abandoned >= 6, "{abandoned}");
            assert_holds_across_a_reopen(db, dir.path(), &model);
            break;
        }
    }

    #[test]
    fn a_close_abandons_a_background_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            auto_compact: true,
            compaction_min_dead_bytes: 1 << 20,
            ..config()
        };
        let (db, model) = half_deleted(dir.path(), config.clone());
        db.replace_background(None);
        let first_look = wait_at_first_look_for_the_close(&db);
        // The thread looks at compaction at once when nudged.
        db.replace_background(Some(std::time::Duration::from_secs(3600)));
        db.shared.wake.nudge();
        first_look
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a background compaction");
        db.close().unwrap();
        assert_eq!(db.shared.counters.compactions.load(Ordering::Relaxed), 0);
        // No copy is left for the next open to replay.
        let segments = files_of(dir.path())
            .keys()
            .filter(|f| f.ends_with(".seg"))
            .count();
        let db = Database::open(dir.path(), config).unwrap();
        assert!(segments <= 5, "{segments} segments");
        assert_holds(&db, &model);
    }

    #[test]
    fn a_close_abandons_a_background_index_file_it_would_write_as_a_delta() {
        let dir = tempfile::tempdir().unwrap();
        let (db, model) = changed_since_checkpoint(dir.path());
        db.replace_background(None);
        let before = files_of(dir.path());
        // At rest, the changes are a third of the file's keys: the thread
        // writes a new index file of every key, a close a delta of them.
        let first_look = wait_at_first_look_for_the_close(&db);
        db.replace_background(Some(std::time::Duration::from_millis(20)));
        first_look
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a background checkpoint");
        db.close().unwrap();
        let after = files_of(dir.path());
        assert_eq!(
            after["index.ckpt"], before["index.ckpt"],
            "the index file stays"
        );
        assert!(
            checkpoint::delta_path(dir.path(), 0).exists(),
            "the close writes a delta"
        );
        let db = Database::open(dir.path(), config()).unwrap();
        assert_eq!(changes_in_memory(&db), 0, "nothing to replay");
        assert_holds(&db, &model);
    }

    #[test]
    fn beside_commits_the_background_thread_writes_a_delta_over_a_large_index_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path(), config()).unwrap();
        db.replace_background(None);
        let mut model = Model::new();
        write(&db, &mut model, 0..60_000, Some("first"));
        db.checkpoint().unwrap();
        let file = checkpoint::path(dir.path());
        let file_id = db.shared.index_file().unwrap().base().id;
        // 9,000 changes in commits of 1,000: past what the thread writes a
        // checkpoint for (8,192 in tests), under what rest asks (16,384).
        for start in (60_000..69_000).step_by(1_000) {
            write(&db, &mut model, start..start + 1_000, Some("second"));
        }
        db.replace_background(Some(std::time::Duration::from_millis(20)));
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while db.shared.index_file().unwrap().delta_entries() == 0 {
            assert!(Instant::now() < deadline, "no delta was put in place");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let index = db.shared.index_file().unwrap();
        assert_eq!(index.base().id, file_id, "the index file stays");
        assert!(file.exists() && checkpoint::delta_path(dir.path(), 0).exists());
        assert_eq!(index.delta_entries(), 9_000);
        assert_eq!(db.shared.index_changes().unwrap().changes, 0);
        assert_holds_across_a_reopen(db, dir.path(), &model);
    }

    #[test]
    fn a_second_delta_is_taken_into_the_first_once_lookups_have_paid_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path(), config()).unwrap();
        let mut model = Model::new();
        write(&db, &mut model, 0..120_000, Some("first"));
        db.checkpoint().unwrap();
        write(&db, &mut model, (0..120_000).step_by(12), Some("second"));
        db.checkpoint().unwrap();
        // A close writes 4,096 changes over the first delta as a second
        // (1,024 of their keys are the first's); the two stay under the
        // eighth of the keys an idle fold into a new index file waits for.
        write(&db, &mut model, (0..61_440).step_by(15), Some("third"));
        db.close().unwrap();
        let second = checkpoint::delta_path(dir.path(), 1);
        assert!(second.exists());
        let db = Database::open(dir.path(), config()).unwrap();
        db.replace_background(Some(std::time::Duration::from_millis(20)));
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(second.exists(), "idle, a small second delta stays");
        // Gets of as many keys as the deltas hold entries, and more: the
        // first delta takes the second in; no new index file is written.
        let file = db.shared.index_file().unwrap();
        let entries: usize = file.deltas().iter().map(|d| d.len()).sum();
        let base = file.base().clone();
        drop(file);
        for i in 0..(entries as u32 + 1_000) {
            assert_eq!(db.get(&key(i)).unwrap().as_ref(), model.get(&key(i)));
        }
        // The file goes before the new index is put in place: wait for that.
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while db.shared.index_file().unwrap().deltas().len() > 1 {
            assert!(Instant::now() < deadline, "the second delta stays");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!second.exists());
        let file = db.shared.index_file().unwrap();
        assert!(Arc::ptr_eq(file.base(), &base));
        assert_eq!(file.deltas().len(), 1);
        assert_eq!(file.delta_entries(), entries - 1_024);
        drop(file);
        assert_holds_across_a_reopen(db, dir.path(), &model);
    }

    #[test]
    fn a_delta_too_small_to_fold_at_rest_is_folded_once_lookups_have_paid_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path(), config()).unwrap();
        let mut model = Model::new();
        write(&db, &mut model, 0..60_000, Some("first"));
        db.checkpoint().unwrap();
        // 5,000 changes: a close writes them as a delta, which is under one
        // in eight of the keys and under what an idle fold waits for.
        write(&db, &mut model, (0..60_000).step_by(12), Some("second"));
        db.close().unwrap();
        let delta = checkpoint::delta_path(dir.path(), 0);
        assert!(delta.exists());
        let db = Database::open(dir.path(), config()).unwrap();
        db.replace_background(Some(std::time::Duration::from_millis(20)));
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(delta.exists(), "idle, a small delta stays");
        let lookups = |db: &Database| db.shared.index_file().unwrap().lookups_through_delta();
        // Gets of every key, then ranges, read the delta too: once they
        // number the keys, the delta is folded into a new index file.
        for i in 0..40_000 {
            assert_eq!(db.get(&key(i)).unwrap().as_ref(), model.get(&key(i)));
        }
        assert!(lookups(&db) >= 39_000, "{}", lookups(&db));
        for i in (0..60_000).step_by(2) {
            let first = db
                .range(crate::KeyRange::from(key(i)))
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(first.0, key(i));
        }
        assert!(lookups(&db) >= 60_000, "{}", lookups(&db));
        // The file goes before the new index is put in place: wait for that.
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while db.shared.index_file().unwrap().delta_entries() > 0 {
            assert!(Instant::now() < deadline, "the delta stays");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!delta.exists());
        assert_holds_across_a_reopen(db, dir.path(), &model);
    }
}
