//! Compaction: rewrite the live records of every sealed segment that holds dead
//! ones, drop the rest.
//!
//! Steps, each safe to interrupt with kill -9:
//! 1. Seal the active segment, so every record so far is in a sealed segment.
//!    Writers continue in a new active segment. The sealed segments with more
//!    than a sliver of dead bytes are the *inputs*.
//! 2. Copy each live record of the snapshot that lives in an input, then the
//!    deletes kept (below), into new segments written under temporary names;
//!    seal, sync, rename, sync directory.
//!    A crash here leaves temporary files, removed at the next open.
//! 3. Write the index file of the snapshot with every copied key at its copy: a
//!    checkpoint as of the snapshot's commit, covering the sealed segments that
//!    stay and the copies. A crash before its rename leaves the old checkpoint
//!    and all inputs in place; the copies are then replayed like any uncovered
//!    segment and, carrying the records' own sequence numbers, change nothing.
//!    A failure before its rename removes the copies.
//!    A crash after it leaves inputs the checkpoint does not need, which
//!    recovery removes.
//! 4. Put the writer's index over that file as a checkpoint is put in place
//!    (`Shared::install_checkpoint`: the changes since the snapshot kept,
//!    outside the writer lock but for the last commits): a key written or
//!    deleted while its record was copied keeps its newer state (the index is
//!    pinned from step 1, so a deletion leaves a removal there). Under the lock,
//!    as the index is replaced, the copies are counted and the outputs take the
//!    inputs' place in the segment table.
//! 5. Remove the inputs. Snapshots that still read them keep their mappings.
//!
//! A background compaction is abandoned when its handle closes (`AtClose`):
//! it looks before each segment it scans, each frame it writes and every few
//! thousand entries of its index file, and ends before the rename of step 3,
//! as a failure there does, so that the next open finds the segments and the
//! index file as they were.
//!
//! Deletes: the segments alone must give the index, so that recovery can
//! rebuild it by replaying all of them when the index file is torn or rotten
//! (the file's flag `REPLAYABLE`). A delete in an input is copied as it is (a
//! *tombstone*) when its key is not live and a sealed segment outside the
//! inputs may still hold an older put of that key; it is dropped when the key is
//! live again (the newer put wins a replay) or when every sealed segment is an
//! input, as every older record of the key then goes too. None is kept when
//! every put in the segments left out is live (their put entries' bytes are
//! the live bytes the index counts there): a key not live has no put there.
//! Inputs without live records are not walked at all, and the checkpoint's
//! walk refuses an entry left in an input. Tombstones are bounded:
//! when those of a compaction would exceed 1/[`FULL_AFTER`] of the sealed bytes
//! left out, the compaction takes every sealed segment instead and keeps none.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::checkpoint;
use crate::disk_index::DiskIndex;
use crate::error::{Error, Result};
use crate::format::{self, EntryKind};
use crate::index::{Key, Loc, Probe};
use crate::index_file::IndexFile;
use crate::key_index::Relocations;
use crate::pages_ahead::PagesAhead;
use crate::reports::CompactionReport;
use crate::segment::{self, file_len, segment_path, Segment, TEMP_SUFFIX};
use crate::shared::{AtClose, Shared};
use crate::sync;
use crate::version::Version;

/// A sealed segment whose dead bytes (frame headers and seal included) are under
/// 1/CLEAN_SLACK of its size, plus a page, is not worth copying.
const CLEAN_SLACK: u64 = 64;

/// Frames written by compaction hold up to this many bytes of entries.
const FRAME_TARGET: usize = 1 << 20;

/// A compaction whose tombstones would take more than 1/FULL_AFTER of the
/// sealed bytes it leaves out takes every sealed segment instead: rewriting
/// them costs about what carrying the tombstones from compaction to
/// compaction would.
const FULL_AFTER: u64 = 16;

/// About the bytes of a delete's entry besides its key (checksum, tag, lengths
/// and sequence number).
const TOMBSTONE_HEADER: u64 = 8;

/// A delete a compaction copies: its key and sequence number.
type Tombstone = (Vec<u8>, u64);

/// What a compaction writes: a live record of an input, or a delete it keeps.
enum Carried<'a> {
    Record(Key, Loc),
    Delete(&'a [u8], u64),
}

struct Output {
    id: u32,
    tmp: PathBuf,
    file: std::io::BufWriter<File>,
    len: u64,
    ahead: PagesAhead,
}

/// Compacts; abandoned once the handle closes if `at_close` says so.
pub(crate) fn compact(shared: &Shared, at_close: AtClose) -> Result<CompactionReport> {
    let mut outputs = Vec::new();
    let mut index_placed = false;
    let result = compact_into(shared, &mut outputs, at_close, &mut index_placed);
    if result.is_err() {
        // Most often the disk is full (or the handle is closing): give the
        // space of the copies back now rather than at the next open. Until the
        // index file that names them is renamed into place (step 3), nothing
        // does: they go, renamed or not, or the next open would replay them.
        // After it they are the index's, and recovery keeps them.
        for o in &outputs {
            let _ = std::fs::remove_file(&o.tmp);
            if !index_placed {
                let _ = std::fs::remove_file(segment_path(&shared.dir, o.id));
            }
        }
        if !index_placed && !outputs.is_empty() {
            let _ = sync::dir(&shared.dir);
        }
    }
    result
}

fn compact_into(
    shared: &Shared,
    outputs: &mut Vec<Output>,
    at_close: AtClose,
    index_placed: &mut bool,
) -> Result<CompactionReport> {
    let started = Instant::now();
    let version = shared.roll_for_compaction()?;
    let active = version.active.map(|(id, _)| id);
    // Sealed segments with nothing dead in them (the output of an earlier
    // compaction, most often) are left as they are: copying them frees nothing.
    // Skipping them is safe because the checkpoint written below covers every
    // sealed segment, so a delete dropped here cannot let an older put in a
    // skipped segment come back on replay.
    // The index keeps each segment's live bytes; over an index file of the
    // format before, they are counted here.
    let live: BTreeMap<u32, u64> = match version.index.live_by_segment() {
        Some(live) => live.clone(),
        None => {
            let mut live = BTreeMap::new();
            for loc in version.index.values() {
                let loc = loc?;
                *live.entry(loc.segment).or_default() += u64::from(loc.len);
            }
            live
        }
    };
    let sealed: BTreeSet<u32> = version
        .segments
        .keys()
        .copied()
        .filter(|id| Some(*id) != active)
        .collect();
    let mut inputs: BTreeSet<u32> = sealed
        .iter()
        .copied()
        .filter(|id| {
            // The mapped data runs to the page after the seal.
            let size = version.segments[id].data().len() as u64;
            let slack = size / CLEAN_SLACK + shared.config.page_size as u64;
            live.get(id).copied().unwrap_or(0) + slack < size
        })
        .collect();
    if inputs.is_empty() {
        return Ok(CompactionReport::default());
    }
    // The segments with the largest share of dead bytes first: the likeliest
    // to hold a dead put, which ends the scan.
    let mut left_out_ids: Vec<u32> = sealed.difference(&inputs).copied().collect();
    left_out_ids.sort_by_cached_key(|id| {
        let size = version.segments[id].data().len() as u64;
        let dead = size.saturating_sub(live.get(id).copied().unwrap_or(0));
        std::cmp::Reverse(dead * 1024 / size.max(1))
    });
    let left_out: u64 = left_out_ids
        .iter()
        .map(|id| version.segments[id].data().len() as u64)
        .sum();
    let go_on = || shared.go_on(at_close);
    let tombstones = if inputs == sealed || every_put_live(&version, &left_out_ids, &live, &go_on)?
    {
        Vec::new()
    } else {
        match tombstones_to_keep(&version, &inputs, left_out / FULL_AFTER, &go_on)? {
            Some(tombstones) => tombstones,
            None => {
                inputs = sealed.clone();
                Vec::new()
            }
        }
    };
    let full = inputs == sealed;
    let bytes_before: u64 = inputs
        .iter()
        .map(|id| file_len(&version.segments[id].path))
        .sum::<Result<u64>>()?;

    let mut relocations: Vec<(Key, Loc, Loc)> = Vec::new();
    let mut frame = Vec::with_capacity(FRAME_TARGET + 4096);
    // Each copy: its key, where it was, and where and how long it is in `frame`.
    let mut pending: Vec<(Key, Loc, usize, usize)> = Vec::new();
    let mut frame_start: Option<format::FrameStart> = None;

    let flush = |frame: &mut Vec<u8>,
                 frame_start: &mut Option<format::FrameStart>,
                 pending: &mut Vec<(Key, Loc, usize, usize)>,
                 outputs: &mut Vec<Output>,
                 relocations: &mut Vec<(Key, Loc, Loc)>|
     -> Result<()> {
        let Some(started) = frame_start.take() else {
            return Ok(());
        };
        format::finish_frame(frame, started);
        let needs_new = outputs
            .last()
            .is_none_or(|o| o.len > 0 && o.len + frame.len() as u64 > shared.config.segment_size);
        if needs_new {
            if let Some(o) = outputs.last_mut() {
                finish_output(o, version.seq)?;
            }
            let id = shared.log.allocate_segment_id()?;
            let tmp = PathBuf::from(format!(
                "{}{TEMP_SUFFIX}",
                segment_path(&shared.dir, id).display()
            ));
            let file = OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(&tmp)
                .map_err(|e| Error::io(tmp.display(), e))?;
            let ahead = PagesAhead::start(&file, 0, 0);
            outputs.push(Output {
                id,
                tmp,
                file: std::io::BufWriter::with_capacity(1 << 20, file),
                len: 0,
                ahead,
            });
        }
        let out = outputs.last_mut().unwrap();
        let io = |e| Error::io(out.tmp.display(), e);
        out.file.write_all(frame).map_err(io)?;
        // Let the device write this frame while the next one is copied, rather
        // than all of them at the final sync.
        out.file.flush().map_err(io)?;
        out.ahead
            .wrote_to(out.file.get_ref(), out.len + frame.len() as u64)
            .map_err(io)?;
        sync::start_writeback(out.file.get_ref(), out.len, frame.len() as u64);
        for (key, old, rel, len) in pending.drain(..) {
            let new = Loc {
                seq: old.seq,
                segment: out.id,
                offset: (out.len as usize + rel) as u32,
                len: len as u32,
            };
            relocations.push((key, old, new));
        }
        out.len += frame.len() as u64;
        frame.clear();
        Ok(())
    };

    // The live records of the inputs in key order, then the deletes kept.
    // Inputs without a live record (the segments of a mass delete, most
    // often) need no walk: only the deletes kept are copied.
    let records_to_copy = inputs.iter().any(|id| live.get(id).is_some_and(|&b| b > 0));
    // When no entry of the snapshot is left in place, the relocations are the
    // whole index in key order and the checkpoint is written from them rather
    // than from a second walk.
    let mut left_in_place = if records_to_copy {
        0
    } else {
        version.index.len()
    };
    let carried = records_to_copy
        .then(|| version.index.iter())
        .into_iter()
        .flatten()
        .filter(|entry| {
            let copied = entry
                .as_ref()
                .map_or(true, |(_, loc)| inputs.contains(&loc.segment));
            left_in_place += usize::from(!copied);
            copied
        })
        .map(|entry| entry.map(|(key, loc)| Carried::Record(key, loc)))
        .chain(
            tombstones
                .iter()
                .map(|(key, seq)| Ok(Carried::Delete(key, *seq))),
        );
    for item in carried {
        match item? {
            Carried::Record(key, loc) => {
                let seg = &version.segments[&loc.segment];
                // The copy keeps the record's key, value and sequence number; its
                // header is written anew, as the sequence number is relative to
                // the frame's (the first copy's), and the value's checksum is
                // verified on the way.
                let started =
                    *frame_start.get_or_insert_with(|| format::begin_frame(&mut frame, loc.seq));
                let rel = frame.len();
                seg.read_value(loc.offset, loc.len, &key, |value| {
                    format::encode_entry(&mut frame, &started, EntryKind::Put, loc.seq, &key, value)
                })?;
                pending.push((key, loc, rel, frame.len() - rel));
            }
            Carried::Delete(key, seq) => {
                let started =
                    *frame_start.get_or_insert_with(|| format::begin_frame(&mut frame, seq));
                format::encode_entry(&mut frame, &started, EntryKind::Delete, seq, key, b"");
            }
        }
        if frame.len() >= FRAME_TARGET {
            shared.go_on(at_close)?;
            flush(
                &mut frame,
                &mut frame_start,
                &mut pending,
                outputs,
                &mut relocations,
            )?;
        }
    }
    flush(
        &mut frame,
        &mut frame_start,
        &mut pending,
        outputs,
        &mut relocations,
    )?;
    if let Some(o) = outputs.last_mut() {
        finish_output(o, version.seq)?;
    }
    let mut segments = Vec::new();
    for o in outputs.iter() {
        let path = segment_path(&shared.dir, o.id);
        std::fs::rename(&o.tmp, &path).map_err(|e| Error::io(o.tmp.display(), e))?;
    }
    sync::dir(&shared.dir)?;
    for o in outputs.iter() {
        segments.push(Arc::new(Segment::open_sealed(
            o.id,
            segment_path(&shared.dir, o.id),
        )?));
    }
    let bytes_after: u64 = outputs.iter().map(|o| o.len).sum();

    // The snapshot's records are synced (the roll sealed their segments), and
    // the copies are: the checkpoint may cover both.
    shared.log.sync_to(version.seq)?;
    let covered: BTreeSet<u32> = version
        .segments
        .keys()
        .copied()
        .filter(|id| Some(*id) != active && !inputs.contains(id))
        .chain(outputs.iter().map(|o| o.id))
        .collect();
    // A full compaction leaves, of every key, its live record or nothing: the
    // segments give the index again even where an earlier version dropped
    // deletes.
    let replayable = full || shared.replayable.load(Ordering::Acquire);
    let mut write_checkpoint = |entries: &mut dyn Iterator<Item = Result<(Key, Loc)>>| {
        checkpoint::write(
            &shared.dir,
            replayable,
            version.seq,
            &covered,
            version.log_from(),
            version.index.len(),
            shared.until_abandoned(at_close, entries),
            index_placed,
        )
    };
    if left_in_place == 0 {
        write_checkpoint(
            &mut relocations
                .iter()
                .map(|(key, _, new)| Ok((key.clone(), *new))),
        )?;
    } else {
        // The copies were made in key order, so each relocation is met in turn
        // by the walk over the snapshot; a record's place names it alone.
        let mut moves = relocations.iter().peekable();
        write_checkpoint(&mut version.index.iter().map(|entry| {
            let (key, loc) = entry?;
            match moves.next_if(|(_, old, _)| *old == loc) {
                Some((_, _, new)) => Ok((key, *new)),
                // The inputs are removed below: nothing may be left there,
                // whatever the live bytes counted in them said.
                None if inputs.contains(&loc.segment) => Err(Error::corrupted(format!(
                    "compaction: a live record in segment {} was not copied",
                    loc.segment
                ))),
                None => Ok((key, loc)),
            }
        }))?;
        debug_assert!(
            moves.next().is_none(),
            "every relocation is in the snapshot"
        );
    }
    let file = IndexFile::open(&checkpoint::path(&shared.dir))?;
    let relocations = Relocations::new(relocations);
    shared.install_compaction(
        Arc::new(DiskIndex::new(file)),
        version.seq,
        &relocations,
        &inputs,
        segments,
    )?;
    shared.replayable.store(replayable, Ordering::Release);
    shared.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
    for id in &inputs {
        let p = segment_path(&shared.dir, *id);
        std::fs::remove_file(&p).map_err(|e| Error::io(p.display(), e))?;
    }
    sync::dir(&shared.dir)?;
    shared.counters.compactions.fetch_add(1, Ordering::Relaxed);
    let report = CompactionReport {
        segments_before: inputs.len() as u64,
        segments_after: outputs.len() as u64,
        bytes_before,
        bytes_after,
        records_copied: relocations.len() as u64,
    };
    log::info!(
        "compaction of {}: {report:?} in {:?}",
        shared.dir.display(),
        started.elapsed()
    );
    Ok(report)
}

/// Whether every put record in the sealed segments `ids` is live in the
/// snapshot: their put entries' bytes are the live bytes the index counts in
/// them. A key not live then has no older put there, so no delete needs to be
/// kept for it. Stops at the first segment that holds a dead put. `go_on`
/// is asked before each segment is read.
fn every_put_live(
    version: &Version,
    ids: &[u32],
    live: &BTreeMap<u32, u64>,
    go_on: &dyn Fn() -> Result<()>,
) -> Result<bool> {
    for &id in ids {
        go_on()?;
        let seg = &version.segments[&id];
        let mut puts = 0u64;
        let end = segment::scan(seg.data(), |_, e| {
            if e.kind == EntryKind::Put {
                puts += e.len as u64;
            }
        });
        if let Some((offset, why)) = end.corruption {
            return Err(seg.corrupt(offset, why));
        }
        if puts != live.get(&id).copied().unwrap_or(0) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The deletes in `inputs` to copy: the newest of each key the snapshot does
/// not hold, in key order, with their sequence numbers; `None` as soon as they
/// would take more than `budget` bytes. The newest inputs, where a mass
/// delete lies, are read first, and each key is looked up as it is first met,
/// so that such a compaction learns early that it takes every segment.
/// `go_on` is asked before each segment is read.
fn tombstones_to_keep(
    version: &Version,
    inputs: &BTreeSet<u32>,
    budget: u64,
    go_on: &dyn Fn() -> Result<()>,
) -> Result<Option<Vec<Tombstone>>> {
    // Each deleted key: its newest delete, and whether the snapshot lacks it.
    let mut newest: HashMap<&[u8], (u64, bool), foldhash::fast::RandomState> = HashMap::default();
    let mut bytes = 0u64;
    let mut failed = None;
    for id in inputs.iter().rev() {
        go_on()?;
        let seg = &version.segments[id];
        let end = segment::scan(seg.data(), |_, e| {
            if e.kind != EntryKind::Delete || failed.is_some() || bytes > budget {
                return;
            }
            let (seq, _) = newest.entry(e.key).or_insert_with(|| {
                let gone = match version.index.get(&Probe::new(e.key)) {
                    Ok(loc) => loc.is_none(),
                    Err(err) => {
                        failed = Some(err);
                        false
                    }
                };
                if gone {
                    bytes += e.key.len() as u64 + TOMBSTONE_HEADER;
                }
                (e.seq, gone)
            });
            *seq = (*seq).max(e.seq);
        });
        if let Some((offset, why)) = end.corruption {
            return Err(seg.corrupt(offset, why));
        }
        if let Some(err) = failed {
            return Err(err);
        }
        if bytes > budget {
            return Ok(None);
        }
    }
    let mut kept: Vec<Tombstone> = newest
        .into_iter()
        .filter(|(_, (_, gone))| *gone)
        .map(|(key, (seq, _))| (key.to_vec(), seq))
        .collect();
    kept.sort_unstable();
    Ok(Some(kept))
}

fn finish_output(o: &mut Output, last_seq: u64) -> Result<()> {
    let mut seal = Vec::new();
    format::encode_seal_frame(&mut seal, last_seq);
    let io = |e| Error::io(o.tmp.display(), e);
    o.file.write_all(&seal).map_err(io)?;
    o.len += seal.len() as u64;
    o.file.flush().map_err(io)?;
    o.ahead.finish(o.file.get_ref(), o.len).map_err(io)?;
    sync::all(o.file.get_ref()).map_err(io)
}
