//! Opening a database directory: load the checkpoint, replay the log after it.
//!
//! Rules (see `format` and `checkpoint` for the invariants they rely on):
//! - Segments covered by the checkpoint are not read; each must exist.
//! - Every other segment is replayed in id order, the one where the
//!   checkpoint's log begins (`index_file::LOG_FROM`) from that offset: the
//!   frames before it hold commits the checkpoint reflects. A record whose
//!   sequence number is at or below the checkpoint's is already reflected and
//!   skipped; otherwise
//!   the highest sequence number per key wins (deletes included; within one
//!   commit the later entry), which makes
//!   replay correct whatever order compaction left the files in.
//! - A bad frame with no valid frame after it, in a segment without a seal, is a
//!   torn tail: the commit it held never returned, and it is cut off. Any other
//!   bad frame is reported as CorruptedData with its file and offset.
//! - A checkpoint refused as torn or rotten is never trusted. If its header says
//!   the segments alone give the index (`index_file::REPLAYABLE`), every segment
//!   is replayed instead, as in a database that never had a checkpoint, and a
//!   writer sets the file aside; otherwise opening fails with CorruptedData.
//! - A delta over the checkpoint's index file, or over the delta over it
//!   (`disk_index`), is used if it names that file and opens; then only the
//!   log after it is replayed. Otherwise it is refused with any delta over it,
//!   logged, and set aside by a writer: the file under it and the log after
//!   that give the same index.
//! - A segment is removed as the leftover of an interrupted compaction only if
//!   it holds no delete: a delete may be the one record that keeps an older put
//!   of its key from coming back in such a replay.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::{self, Loaded};
use crate::disk_index::DiskIndex;
use crate::error::{Error, Result};
use crate::format::{EntryKind, EntryRef};
use crate::index::{Key, Loc, Probe};
use crate::index_file::{self, IndexFile, MAX_DELTAS};
use crate::key_index::KeyIndex;
use crate::segment::{self, segment_path, Segment};

/// Sequence numbers at or above this are corruption (see `recover`).
pub const MAX_SEQ: u64 = 1 << 63;

pub struct Recovered {
    pub index: KeyIndex,
    pub last_seq: u64,
    /// Segment ids present after recovery, ascending.
    pub segment_ids: Vec<u32>,
    /// Segments without a seal frame, with the length of their valid prefix.
    pub unsealed: Vec<(u32, usize)>,
    /// The newest segment, if the checkpoint does not cover it: a writer may go
    /// on appending to it.
    pub tail: Option<Tail>,
    /// Segments every record of which is covered by the checkpoint and that no
    /// index entry refers to: leftovers of an interrupted compaction.
    pub garbage: Vec<u32>,
    pub checkpoint_seq: u64,
    /// A replay of every segment gives `index` (see `index_file`).
    pub replayable: bool,
    /// The checkpoint was refused as damaged, and `index` is rebuilt from every
    /// segment: a writer sets the file aside.
    pub rebuilt: bool,
    /// The level of the first delta found and refused: a writer sets it and
    /// those over it aside.
    pub refused_delta: Option<usize>,
}

/// The newest segment, where a writer may go on appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    pub id: u32,
    /// The end of its data: where a writer appends.
    pub data_len: usize,
    /// It ends with a seal frame, at `data_len`.
    pub sealed: bool,
}

/// `base` with the deltas of `dir` over it, each while it names the file
/// under it and opens; sets `refused` to the level of the first delta not
/// used when there is one (it and those over it are not).
fn with_deltas(dir: &Path, base: IndexFile, refused: &mut Option<usize>) -> Result<DiskIndex> {
    let mut disk = DiskIndex::new(base);
    for level in 0..MAX_DELTAS {
        let path = checkpoint::delta_path(dir, level);
        let delta = match IndexFile::open(&path) {
            Ok(delta) => delta,
            Err(e)
                if e.io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
            {
                // A delta over this one, left by a crash that removed it, is
                // not used either.
                if (level..MAX_DELTAS).any(|l| checkpoint::delta_path(dir, l).exists()) {
                    *refused = Some(level);
                }
                break;
            }
            Err(e) if e.kind() == crate::error::ErrorKind::CorruptedData => {
                log::error!(
                    "{}; replaying the log after the file under it instead",
                    e.message()
                );
                *refused = Some(level);
                break;
            }
            Err(e) => return Err(e),
        };
        disk = match disk.with_delta(Arc::new(delta)) {
            Ok(disk) => disk,
            Err((disk, why)) => {
                log::warn!("index delta {} not used: {why}", path.display());
                *refused = Some(level);
                return Ok(disk);
            }
        };
    }
    Ok(disk)
}

/// The checkpoint of `dir`, or None when there is none or when it is damaged
/// and the segments can take its place (then the flag is set).
fn trusted_checkpoint(dir: &Path, rebuilt: &mut bool) -> Result<Option<Loaded>> {
    let err = match checkpoint::read(dir) {
        Err(e) if e.kind() == crate::error::ErrorKind::CorruptedData => e,
        other => return other,
    };
    let path = checkpoint::path(dir);
    let mut header = [0u8; index_file::HEADER_LEN];
    if std::fs::File::open(&path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .is_err()
        || !index_file::is_index_file(header[..8].try_into().expect("eight bytes"))
    {
        return Err(err);
    }
    let why_not = match index_file::header_flags(&header) {
        Some(flags) if flags & index_file::REPLAYABLE != 0 => None,
        Some(_) => Some("the segments do not hold every delete (see compaction)"),
        None if &header[..8] == index_file::MAGIC => Some("its header is damaged too"),
        None => Some("it comes from a version whose compaction dropped deletes"),
    };
    if let Some(why_not) = why_not {
        return Err(Error::corrupted(format!(
            "{}; the index cannot be rebuilt from the segments: {why_not}",
            err.message()
        )));
    }
    log::error!("{}; rebuilding the index from every segment", err.message());
    *rebuilt = true;
    Ok(None)
}

/// The newest record of each key among the records offered: replay settles
/// records among themselves this way, then applies the result to the ordered
/// index in key order, which is far cheaper than random inserts. Every record
/// offered is newer than what the index holds.
///
/// Records are kept in the order offered and settled by a stable sort on the
/// key (each key's first bytes inline, so most comparisons do not reach into
/// the maps): a hash map of them cost more in hashing and growing than the
/// sort. Settling again whenever the records kept have doubled bounds the
/// memory of a log that rewrites few keys many times.
pub struct Newest<'a> {
    records: Vec<Offered<'a>>,
    settle_at: usize,
}

struct Offered<'a> {
    prefix: u64,
    key: &'a [u8],
    /// A removal (`REMOVED`) for a delete.
    loc: Loc,
}

/// Records kept before the first settling.
const SETTLE_FIRST: usize = if cfg!(test) { 64 } else { 1 << 20 };

impl Default for Newest<'_> {
    fn default() -> Self {
        Newest {
            records: Vec::new(),
            settle_at: SETTLE_FIRST,
        }
    }
}

impl<'a> Newest<'a> {
    /// Offers the entry at `offset` in segment `segment`.
    pub fn offer(&mut self, segment: u32, offset: usize, e: &EntryRef<'a>) {
        let (segment, offset, len) = match e.kind {
            EntryKind::Put => (segment, offset as u32, e.len as u32),
            _ => (crate::index::REMOVED, 0, 0),
        };
        self.records.push(Offered {
            prefix: crate::index::prefix_of(e.key),
            key: e.key,
            loc: Loc {
                seq: e.seq,
                segment,
                offset,
                len,
            },
        });
        self.settle_when_doubled();
    }

    /// Takes the records of `later`, offered after every record offered here.
    fn append(&mut self, mut later: Newest<'a>) {
        if self.records.is_empty() {
            *self = later;
            return;
        }
        self.records.append(&mut later.records);
        self.settle_when_doubled();
    }

    fn settle_when_doubled(&mut self) {
        if self.records.len() >= self.settle_at {
            self.settle();
            self.settle_at = (2 * self.records.len()).max(SETTLE_FIRST);
        }
    }

    /// Sorts the records by key and keeps each key's newest.
    fn settle(&mut self) {
        self.records
            .sort_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| a.key.cmp(b.key)));
        // Equal sequence numbers come from one commit (later entries of the
        // frame win, as they did when it was applied) or from a compaction copy
        // of the same record; only an older commit loses. The sort kept the
        // order offered among a key's records.
        self.records.dedup_by(|later, kept| {
            if later.key != kept.key {
                return false;
            }
            if later.loc.seq >= kept.loc.seq {
                std::mem::swap(later, kept);
            }
            true
        });
    }

    /// Puts every key's newest record over `index`: its put, or the removal
    /// of the key.
    pub fn apply(mut self, index: &mut KeyIndex) -> Result<()> {
        self.settle();
        // Looked up a run at a time, so that the answers take little memory
        // whatever the length of the log.
        let mut in_files = Vec::with_capacity(APPLY_RUN);
        for run in self.records.chunks(APPLY_RUN) {
            in_files.clear();
            index.in_file_sorted(run.iter().map(|r| r.key), |f| in_files.push(f))?;
            for (r, &in_file) in run.iter().zip(&in_files) {
                if r.loc.segment == crate::index::REMOVED {
                    index.remove_over(&Probe::new(r.key), r.loc.seq, in_file);
                } else {
                    index.insert_over(Key::new(r.key), r.loc, in_file);
                }
            }
        }
        Ok(())
    }
}

/// Records of the log applied to the index a run at a time.
const APPLY_RUN: usize = 4096;

/// What the scan of one segment found besides its records.
struct SegmentScan {
    end: segment::ScanEnd,
    /// The highest sequence number of its records.
    max_seq: u64,
    /// The highest of those above the checkpoint's (0 if none).
    newest_seq: u64,
    deletes: bool,
}

/// Replay reads this many bytes of log or more on threads of its own.
const SCAN_ON_THREADS_FROM: usize = 32 << 20;
/// The most threads a replay reads the log on.
const SCAN_THREADS: usize = 4;

/// Where the scan of each segment starts: the checkpoint's log begins in
/// `segment` at `offset`, every other segment is read from its start.
///
/// Both fields are always set (no segment has the id `u32::MAX`): with an
/// `Option`, the optimiser compares the ids before it looks at the tag, and
/// valgrind reports a jump on the uninitialised id of `None`.
#[derive(Clone, Copy)]
struct Starts {
    segment: u32,
    offset: usize,
}

impl Starts {
    /// Every segment from its start.
    const WHOLE: Starts = Starts {
        segment: u32::MAX,
        offset: 0,
    };

    fn of(self, seg: &Segment) -> usize {
        if seg.id == self.segment {
            self.offset
        } else {
            0
        }
    }

    fn bytes(self, seg: &Segment) -> usize {
        seg.data().len() - self.of(seg)
    }
}

/// Scans `segments` (in id order) for the records above `ckpt_seq`: a large
/// log in contiguous runs of about equal bytes, one thread each, whose
/// records are then put one after the other, so that they are offered in the
/// order a single scan would offer them.
fn scan_segments(
    segments: &[Segment],
    starts: Starts,
    ckpt_seq: u64,
) -> (Newest<'_>, Vec<SegmentScan>) {
    let bytes: usize = segments.iter().map(|s| starts.bytes(s)).sum();
    let threads = if bytes < SCAN_ON_THREADS_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    scan_on(segments, starts, ckpt_seq, threads.min(SCAN_THREADS))
}

/// `scan_segments` on up to `threads` threads.
fn scan_on(
    segments: &[Segment],
    starts: Starts,
    ckpt_seq: u64,
    threads: usize,
) -> (Newest<'_>, Vec<SegmentScan>) {
    let bytes: usize = segments.iter().map(|s| starts.bytes(s)).sum();
    let threads = threads.clamp(1, segments.len().max(1));
    let mut runs: Vec<&[Segment]> = Vec::with_capacity(threads);
    let (mut start, mut seen) = (0, 0);
    for (i, seg) in segments.iter().enumerate() {
        seen += starts.bytes(seg);
        if seen * threads >= bytes * (runs.len() + 1) && runs.len() + 1 < threads {
            runs.push(&segments[start..=i]);
            start = i + 1;
        }
    }
    if start < segments.len() || runs.is_empty() {
        runs.push(&segments[start..]);
    }
    if let [run] = runs[..] {
        // No thread scope: it would register the calling thread with the
        // standard library (an allocation for the life of the thread).
        return scan_run(run, starts, ckpt_seq);
    }
    let scanned: Vec<(Newest<'_>, Vec<SegmentScan>)> = std::thread::scope(|scope| {
        let others: Vec<_> = runs[1..]
            .iter()
            .map(|run| {
                let spawned = std::thread::Builder::new()
                    .name("lightning-db-replay".into())
                    .spawn_scoped(scope, move || scan_run(run, starts, ckpt_seq));
                (run, spawned)
            })
            .collect();
        let mut scanned = vec![scan_run(runs[0], starts, ckpt_seq)];
        for (run, spawned) in others {
            // A thread that could not be started leaves its run to this one.
            scanned.push(match spawned {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => scan_run(run, starts, ckpt_seq),
            });
        }
        scanned
    });
    let mut newest = Newest::default();
    let mut scans = Vec::with_capacity(segments.len());
    for (run_newest, run_scans) in scanned {
        newest.append(run_newest);
        scans.extend(run_scans);
    }
    (newest, scans)
}

fn scan_run(run: &[Segment], starts: Starts, ckpt_seq: u64) -> (Newest<'_>, Vec<SegmentScan>) {
    let mut newest = Newest::default();
    let scans = run
        .iter()
        .map(|seg| {
            let (mut max_seq, mut newest_seq, mut deletes) = (0u64, 0u64, false);
            let end = segment::scan_from(seg.data(), starts.of(seg), |offset, e| {
                max_seq = max_seq.max(e.seq);
                deletes |= e.kind == EntryKind::Delete;
                if e.seq > ckpt_seq {
                    newest_seq = newest_seq.max(e.seq);
                    newest.offer(seg.id, offset, e);
                }
            });
            SegmentScan {
                end,
                max_seq,
                newest_seq,
                deletes,
            }
        })
        .collect();
    (newest, scans)
}

pub fn recover(dir: &Path) -> Result<Recovered> {
    let ids = segment::list_segments(dir)?;
    // Ids are handed out upwards and never reused: a handle takes the next one
    // for its active segment and the one after for its first roll-over, so a
    // file named with one of the last two ids leaves no room (opening would
    // overflow the id).
    if let Some(&last) = ids.last().filter(|&&id| id >= u32::MAX - 1) {
        return Err(Error::corrupted(format!(
            "{}: segment id at the end of the id space",
            segment_path(dir, last).display()
        )));
    }
    // Segments the checkpoint itself points into must survive as long as it does,
    // and hold every record it points at: the furthest byte it refers to in each.
    let mut ckpt_ends: BTreeMap<u32, u64> = BTreeMap::new();
    let (mut rebuilt, mut refused_delta) = (false, None);
    // Without a checkpoint no compaction has run, so no delete was dropped.
    let mut log_from = None;
    let (ckpt_seq, covered, mut index, replayable) = match trusted_checkpoint(dir, &mut rebuilt)? {
        Some(Loaded::Mapped(file)) => {
            let disk = with_deltas(dir, *file, &mut refused_delta)?;
            ckpt_ends.extend(disk.segment_ends());
            log_from = disk.log_from();
            let (seq, covered, replayable) =
                (disk.seq(), disk.covered().clone(), disk.replayable());
            (seq, covered, KeyIndex::on(Arc::new(disk)), replayable)
        }
        Some(Loaded::Legacy(c)) => {
            for l in c.index.values() {
                let end = ckpt_ends.entry(l.segment).or_default();
                *end = (*end).max(l.offset as u64 + l.len as u64);
            }
            (c.seq, c.covered, KeyIndex::from_tree(c.index), false)
        }
        None => (0, BTreeSet::new(), KeyIndex::new(), true),
    };
    let present: BTreeSet<u32> = ids.iter().copied().collect();
    if let Some(missing) = covered.difference(&present).next() {
        return Err(Error::corrupted(format!(
            "segment {} named by the checkpoint is missing",
            segment_path(dir, *missing).display()
        )));
    }
    if let Some(missing) = ckpt_ends.keys().find(|id| !present.contains(id)) {
        return Err(Error::corrupted(format!(
            "the checkpoint points at missing segment {missing}"
        )));
    }
    let mut referenced: BTreeSet<u32> = ckpt_ends.keys().copied().collect();
    let mut last_seq = ckpt_seq;
    let mut unsealed = Vec::new();
    let mut tail = None;
    let mut max_seq_of: BTreeMap<u32, u64> = BTreeMap::new();
    let mut with_deletes: BTreeSet<u32> = BTreeSet::new();
    let replayed: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|id| !covered.contains(id))
        .collect();
    let maps = replayed
        .iter()
        .map(|&id| Segment::open_sealed(id, segment_path(dir, id)))
        .collect::<Result<Vec<Segment>>>()?;
    // The segment the checkpoint's log begins in was the active one when it
    // was written; a close that had written nothing to it since removed it.
    let log_from = log_from.and_then(|from| {
        let seg = maps.iter().find(|s| s.id == from.segment)?;
        Some((seg, from.offset))
    });
    if let Some((seg, offset)) = log_from {
        if offset > seg.data().len() as u64 {
            return Err(Error::corrupted(format!(
                "{}: the checkpoint's log begins at offset {offset}, past the end of the \
                 valid data ({} bytes)",
                seg.path.display(),
                seg.data().len()
            )));
        }
    }
    let starts = log_from.map_or(Starts::WHOLE, |(seg, offset)| Starts {
        segment: seg.id,
        offset: offset as usize,
    });
    let (changes, scans) = scan_segments(&maps, starts, ckpt_seq);
    for (seg, scan) in maps.iter().zip(scans) {
        let (id, path, end) = (&seg.id, &seg.path, scan.end);
        if let Some((offset, why)) = end.corruption {
            return Err(seg.corrupt(offset, why));
        }
        last_seq = last_seq.max(scan.newest_seq);
        // The checkpoint was written after the records it points at were synced,
        // so they lie in whole frames. A reference past them means the frames were
        // damaged (taken for a torn tail), not torn: the writer would otherwise
        // zero or remove the segment, and a later read could fault on the map.
        if let Some(&ckpt_end) = ckpt_ends.get(id) {
            if ckpt_end > end.data_len as u64 {
                return Err(Error::corrupted(format!(
                    "{} at offset {}: the checkpoint refers to records up to offset {ckpt_end}, \
                     past the end of the valid data",
                    path.display(),
                    end.data_len
                )));
            }
        }
        if !end.sealed {
            unsealed.push((*id, end.valid_len));
        }
        if Some(id) == ids.last() {
            tail = Some(Tail {
                id: *id,
                data_len: end.data_len,
                sealed: end.sealed,
            });
        }
        max_seq_of.insert(*id, scan.max_seq);
        if scan.deletes {
            with_deletes.insert(*id);
        }
        log::debug!(
            "replayed segment {} ({} bytes, sealed: {})",
            path.display(),
            end.valid_len,
            end.sealed
        );
    }
    changes.apply(&mut index)?;
    drop(maps);
    // Commits take `last_seq + 1`, `+ 2`, ... without a check for overflow, which
    // is safe only because no database gets near the end of the range: 2^63
    // commits take centuries. A record or checkpoint claiming a sequence number
    // that high was not written by Lightning DB.
    if last_seq >= MAX_SEQ {
        return Err(Error::corrupted(format!(
            "{}: sequence number {last_seq} is beyond any a commit can have",
            dir.display()
        )));
    }

    referenced.extend(
        index
            .changes()
            .values()
            .filter(|l| l.segment != crate::index::REMOVED)
            .map(|l| l.segment),
    );
    // The segment the checkpoint's log begins in is a writer's, not the output
    // of a compaction, and its frames before that offset were not read.
    let garbage = replayed
        .iter()
        .copied()
        .filter(|id| *id != starts.segment)
        .filter(|id| ckpt_seq > 0 && !referenced.contains(id) && max_seq_of[id] <= ckpt_seq)
        .filter(|id| !with_deletes.contains(id))
        .filter(|id| !unsealed.iter().any(|(u, _)| u == id))
        .filter(|id| tail.map(|t| t.id) != Some(*id))
        .collect();
    Ok(Recovered {
        index,
        last_seq,
        segment_ids: ids,
        unsealed,
        tail,
        garbage,
        checkpoint_seq: ckpt_seq,
        replayable,
        rebuilt,
        refused_delta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A log of several segments, records of many keys rewritten and deleted
    /// across them, some in one commit with repeats.
    fn several_segments(dir: &Path) -> Vec<Segment> {
        let config = crate::Config {
            segment_size: 64 << 10,
            auto_compact: false,
            ..crate::Config::default()
        };
        let db = crate::Database::create(dir, config).unwrap();
        for round in 0..6u32 {
            let mut batch = crate::WriteBatch::new();
            for i in 0..400u32 {
                let key = format!("key-{:03}", (i * 7 + round) % 300);
                if (i + round) % 5 == 0 {
                    batch.delete(key.as_bytes());
                } else {
                    batch.put(key.as_bytes(), format!("{round}-{i}").repeat(32).as_bytes());
                }
                if i % 50 == 49 {
                    db.write(&batch).unwrap();
                    batch.clear();
                }
            }
        }
        db.close().unwrap();
        let ids = segment::list_segments(dir).unwrap();
        assert!(ids.len() >= 4, "{} segments", ids.len());
        ids.iter()
            .map(|&id| Segment::open_sealed(id, segment_path(dir, id)).unwrap())
            .collect()
    }

    #[test]
    fn a_scan_on_threads_offers_what_one_scan_does() {
        let tmp = tempfile::tempdir().unwrap();
        let segments = several_segments(tmp.path());
        let settled = |starts: Starts, threads: usize, ckpt_seq: u64| {
            let (mut newest, scans) = scan_on(&segments, starts, ckpt_seq, threads);
            let offered = newest.records.len();
            newest.settle();
            let records: Vec<(Vec<u8>, Loc)> = newest
                .records
                .iter()
                .map(|r| (r.key.to_vec(), r.loc))
                .collect();
            let scans: Vec<(usize, u64, u64, bool)> = scans
                .iter()
                .map(|s| (s.end.data_len, s.max_seq, s.newest_seq, s.deletes))
                .collect();
            (records, scans, offered)
        };
        // The log of a checkpoint begins after the second segment's first frame.
        let second = &segments[1];
        let first_frame_end = crate::format::check_frame(second.data(), 0)
            .unwrap()
            .payload
            .end;
        let from_second = Starts {
            segment: second.id,
            offset: first_frame_end,
        };
        for ckpt_seq in [0, 10] {
            let whole = settled(Starts::WHOLE, 1, ckpt_seq);
            assert!(!whole.0.is_empty());
            let skipped = settled(from_second, 1, ckpt_seq);
            assert_eq!(skipped.1[1].0, whole.1[1].0, "the same end of data");
            assert!(
                skipped
                    .0
                    .iter()
                    .all(|(_, loc)| loc.segment != second.id
                        || loc.offset as usize >= first_frame_end),
                "a record of the frame before the log's start was offered"
            );
            if ckpt_seq == 0 {
                assert!(
                    skipped.2 < whole.2,
                    "the first frame's records were offered"
                );
            }
            for starts in [Starts::WHOLE, from_second] {
                // Records offered before settling vary with the runs (each
                // settles as its records double); what settles does not.
                let (records, scans, _) = settled(starts, 1, ckpt_seq);
                for threads in [2, 3, 16] {
                    let (r, s, _) = settled(starts, threads, ckpt_seq);
                    assert_eq!(
                        (r, s),
                        (records.clone(), scans.clone()),
                        "{threads} threads"
                    );
                }
            }
        }
    }

    proptest! {
        /// Whatever the order, the repeats and the settling rounds (every
        /// 64 records and more in tests), each key ends at its newest record: the
        /// highest sequence number, and among equal ones the last offered.
        #[test]
        fn replay_keeps_each_keys_newest_record(
            records in proptest::collection::vec((0u8..6, 1u64..5, any::<bool>()), 0..300)
        ) {
            let keys: Vec<Vec<u8>> = (0..6u8).map(|k| vec![b'k', k]).collect();
            let mut newest = Newest::default();
            let mut model: BTreeMap<&[u8], (u64, Option<usize>)> = BTreeMap::new();
            for (offset, &(k, seq, put)) in records.iter().enumerate() {
                let key = &keys[k as usize][..];
                let entry = EntryRef {
                    kind: if put { EntryKind::Put } else { EntryKind::Delete },
                    seq,
                    key,
                    value: b"",
                    len: 10,
                };
                newest.offer(1, offset, &entry);
                let slot = model.entry(key).or_insert((seq, None));
                if seq >= slot.0 {
                    *slot = (seq, put.then_some(offset));
                }
            }
            let mut index = KeyIndex::new();
            newest.apply(&mut index).unwrap();
            let got: Vec<(Vec<u8>, u32)> = index
                .iter()
                .map(|e| e.map(|(k, l)| (k.as_ref().to_vec(), l.offset)))
                .collect::<Result<_>>()
                .unwrap();
            let want: Vec<(Vec<u8>, u32)> = model
                .into_iter()
                .filter_map(|(k, (_, put))| put.map(|o| (k.to_vec(), o as u32)))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
