//! The index on disk: the index file of the last full checkpoint (the
//! *base*) and, over it, a *delta* file of the changes since, if one was
//! written (see `index_file`).
//!
//! A full checkpoint rewrites every key; a delta only the keys changed since
//! the base, so that a checkpoint at close, or when the database goes idle,
//! costs what its changes do however many keys the base holds, and the next
//! open maps two files and replays nothing.
//!
//! Invariants:
//! - The delta's entries win over the base's; a removal in the delta hides
//!   the base's entry of its key.
//! - A delta is used only over the base it names (`index_file::FileId`): a
//!   full checkpoint or a compaction writes a new base, then removes the
//!   delta, and a delta a crash left between the two names the base before.
//! - A delta covers every segment its base covers, and is of a later commit
//!   or the same (both are refused otherwise).
//! - A delta is never needed: it covers no segment that a compaction could
//!   have removed while the base did not cover it (compactions write a base),
//!   so the base and the log after it give the same index. A damaged delta is
//!   set aside and that log replayed.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrayvec::ArrayVec;

use crate::error::Result;
use crate::index::{Key, Loc, REMOVED};
use crate::index_file::{self, FileRange, IndexFile, LogFrom, GONE};
use crate::prefetch;

pub struct DiskIndex {
    base: Arc<IndexFile>,
    delta: Option<IndexFile>,
    /// The writer's lookups of late, in neither file less in one (see
    /// [`LACKING_MOST`]): whether its tables are worth probing first.
    lacking: AtomicI32,
    /// The greatest key of either file, once a lookup has asked: a key past
    /// it (an append) is in neither.
    last_key: OnceLock<Option<Vec<u8>>>,
    /// The lookups (gets, ranges, a commit's lookups of its keys) that have
    /// read the delta as well as the base: what the delta has cost the reads
    /// so far, an estimate (see [`LOOKUPS_PER_ADD`]).
    through_delta: AtomicU64,
}

/// A thread adds its lookups through a delta to [`DiskIndex::through_delta`]
/// this many at a time, so that readers on several cores do not write one
/// cache line at each lookup. The thread's count is one for every database it
/// reads: the add goes to the one read last, which for a thread that reads
/// several with deltas is right on average.
const LOOKUPS_PER_ADD: u32 = 64;

thread_local! {
    static LOOKUPS_NOT_ADDED: Cell<u32> = const { Cell::new(0) };
}

/// What a probe of the files' tables found (`DiskIndex::probe`).
pub enum Probed<T> {
    Found(T),
    Absent,
    /// The delta removes a key whose tag matches: an ordered lookup says
    /// whether it is this one.
    Unsure,
}

/// Where an ascending run of lookups stopped in each file
/// (`IndexFile::get_ascending`).
#[derive(Default)]
pub struct Ascending {
    delta: index_file::Ascending,
    base: index_file::Ascending,
}

/// How many keys ahead of its turn a lookup of `DiskIndex::get_sorted` asks
/// for the fences it will search.
const LOOK_AHEAD: usize = 16;

/// What `DiskIndex::get_sorted` has learnt of the key at `pos` before its
/// turn: its hash, if the tables are to be probed for it, and whether they
/// lack it.
#[derive(Clone, Copy)]
struct Ahead {
    pos: usize,
    hash: Option<u64>,
    lacked: bool,
}

/// `DiskIndex::lacking` counts the keys of late lookups in neither file, less
/// those in one, within this bound either way: the tables are probed while
/// it is not negative.
const LACKING_MOST: i32 = 32;

fn live(loc: Loc) -> Option<Loc> {
    (loc.segment != REMOVED).then_some(loc)
}

impl std::fmt::Debug for DiskIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskIndex")
            .field("base", &self.base)
            .field("delta", &self.delta)
            .finish()
    }
}

impl DiskIndex {
    pub fn new(base: IndexFile) -> DiskIndex {
        DiskIndex::over(Arc::new(base))
    }

    /// `base` with no delta.
    pub fn over(base: Arc<IndexFile>) -> DiskIndex {
        DiskIndex {
            base,
            delta: None,
            lacking: AtomicI32::new(0),
            last_key: OnceLock::new(),
            through_delta: AtomicU64::new(0),
        }
    }

    /// `delta` over `base`, if it is a delta that names `base`; otherwise
    /// why not, and `base` back.
    pub fn with_delta(
        base: Arc<IndexFile>,
        delta: IndexFile,
    ) -> std::result::Result<DiskIndex, (Arc<IndexFile>, String)> {
        let why_not = match &delta.delta {
            None => Some("it is not a delta".to_string()),
            Some(meta) if meta.base != base.id => Some(format!(
                "it lies over another index file (seq {}, checksum {:08x}), not this one \
                 (seq {}, checksum {:08x})",
                meta.base.seq, meta.base.crc, base.id.seq, base.id.crc
            )),
            Some(_) if delta.seq < base.seq => Some("it is older than the index file".into()),
            // Segments leave the log only with a new index file (compaction):
            // a delta covers at least what its index file does. The log after
            // the index file must replay what the delta says.
            Some(_) if !base.covered.is_subset(&delta.covered) => {
                Some("it does not cover every segment the index file covers".into())
            }
            Some(_) => None,
        };
        match why_not {
            Some(why) => Err((base, why)),
            None => Ok(DiskIndex {
                delta: Some(delta),
                ..DiskIndex::over(base)
            }),
        }
    }

    pub fn base(&self) -> &Arc<IndexFile> {
        &self.base
    }

    pub fn delta(&self) -> Option<&IndexFile> {
        self.delta.as_ref()
    }

    /// The file whose sequence number and covered segments the index is of.
    fn top(&self) -> &IndexFile {
        self.delta.as_ref().unwrap_or(&self.base)
    }

    /// The commit the index is of.
    pub fn seq(&self) -> u64 {
        self.top().seq
    }

    /// The segments whose every record the index reflects.
    pub fn covered(&self) -> &BTreeSet<u32> {
        &self.top().covered
    }

    /// Where the log after the index begins, if its file names it.
    pub fn log_from(&self) -> Option<LogFrom> {
        self.top().log_from
    }

    /// A replay of every segment gives the index (`index_file::REPLAYABLE`).
    pub fn replayable(&self) -> bool {
        self.base.replayable
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        match &self.delta {
            Some(d) => d.delta.as_ref().map_or(0, |m| m.len),
            None => self.base.len(),
        }
    }

    /// The entries of the delta, removals included.
    pub fn delta_entries(&self) -> usize {
        self.delta.as_ref().map_or(0, |d| d.len())
    }

    /// The sum of the lengths of the keys' records.
    pub fn live_bytes(&self) -> u64 {
        match &self.delta {
            Some(d) => d.delta.as_ref().map_or(0, |m| m.live_bytes),
            None => self.base.live_bytes(),
        }
    }

    /// The bytes of the keys' records in each segment, if known (a base of
    /// the format before does not say).
    pub fn live_by_segment(&self) -> Option<BTreeMap<u32, u64>> {
        match &self.delta {
            Some(d) => d.delta.as_ref().map(|m| m.live_by_segment.clone()),
            None => self
                .base
                .segments
                .iter()
                .map(|s| Some((s.id, s.live?)))
                .collect(),
        }
    }

    /// Each segment the files point into and the furthest byte they point at
    /// there.
    pub fn segment_ends(&self) -> BTreeMap<u32, u64> {
        let mut ends = BTreeMap::new();
        for s in self
            .base
            .segments
            .iter()
            .chain(self.delta.iter().flat_map(|d| &d.segments))
        {
            let end: &mut u64 = ends.entry(s.id).or_default();
            *end = (*end).max(s.end);
        }
        ends
    }

    /// A read has found one of the files damaged.
    pub fn damaged(&self) -> bool {
        self.base.damaged() || self.delta_damaged()
    }

    /// A read has found the delta damaged.
    pub fn delta_damaged(&self) -> bool {
        self.delta.as_ref().is_some_and(|d| d.damaged())
    }

    /// The delta, unless it holds no entry (a checkpoint with no change
    /// since the one before): reads then go to the base alone. A lookup
    /// that reads it is counted ([`DiskIndex::lookups_through_delta`]).
    fn delta_to_read(&self) -> Option<&IndexFile> {
        let delta = self.delta.as_ref().filter(|d| d.len() > 0)?;
        LOOKUPS_NOT_ADDED.with(|n| {
            let lookups = n.get() + 1;
            if lookups == LOOKUPS_PER_ADD {
                self.through_delta
                    .fetch_add(u64::from(lookups), Ordering::Relaxed);
                n.set(0);
            } else {
                n.set(lookups);
            }
        });
        Some(delta)
    }

    /// About how many lookups have read the delta as well as the base, each
    /// a probe or a seek more than without it (`LOOKUPS_PER_ADD`).
    pub fn lookups_through_delta(&self) -> u64 {
        self.through_delta.load(Ordering::Relaxed)
    }

    /// The location of `key`'s newest value, if the index holds it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Loc>> {
        if let Some(d) = self.delta_to_read() {
            if let Some(loc) = d.get(key)? {
                return Ok(live(loc));
            }
        }
        self.base.get(key)
    }

    /// `get`, for keys looked up in ascending order (see
    /// `IndexFile::get_ascending`).
    fn get_ascending(&self, key: &[u8], near: &mut Ascending) -> Result<Option<Loc>> {
        if let Some(d) = self.delta_to_read() {
            if let Some(loc) = d.get_ascending(key, &mut near.delta)? {
                return Ok(live(loc));
            }
        }
        self.base.get_ascending(key, &mut near.base)
    }

    /// The greatest key of either file (`last_key`).
    fn last_key(&self) -> Result<Option<&[u8]>> {
        if self.last_key.get().is_none() {
            let last = |file: &IndexFile| -> Result<Option<Vec<u8>>> {
                let mut all = file.range((Bound::Unbounded, Bound::Unbounded));
                all.next_back()
                    .transpose()
                    .map(|e| e.map(|(k, _)| k.to_vec()))
            };
            let base = last(&self.base)?;
            let delta = match self.delta_to_read() {
                Some(d) => last(d)?,
                None => None,
            };
            let _ = self.last_key.set(base.max(delta));
        }
        Ok(self.last_key.get().and_then(|k| k.as_deref()))
    }

    /// Whether neither file's table has a slot with hash `h`'s tag (a
    /// removal's included): then neither has an entry of a key of that hash.
    fn surely_lacks(&self, h: u64) -> Result<bool> {
        let tagged = self.probe(h, |_, _, _| Ok(Some(())))?;
        Ok(matches!(tagged, Probed::Absent))
    }

    /// `get_ascending` of each of `keys` (ascending, repeats allowed), whose
    /// answers `found` is handed in turn.
    ///
    /// A key past the greatest key of either file (an append) is in neither.
    /// A key the tables lack is answered without its fences and block: a
    /// probe reads a slot or two where the search reads a stretch of fences
    /// and decodes a block. The tables are probed while the keys looked up
    /// of late were mostly in neither file (a commit of new keys), and not
    /// for a dense run of keys, which one block answers. Each lookup asks
    /// ahead of its turn, so that the misses of neighbouring lookups overlap
    /// instead of following one another: for the key itself ([`LOOK_AHEAD`]
    /// × 2 keys before; a sorted commit finds it out of order in the
    /// caller's memory), its table slots (× 3/2), then, if not lacking, its
    /// fences (× 1) and its block (× 1/2).
    pub fn get_sorted<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]> + Clone,
        mut found: impl FnMut(Option<Loc>),
    ) -> Result<()> {
        let delta = self.delta_to_read();
        let near = &mut Ascending::default();
        let mut lacking = self.lacking.load(Ordering::Relaxed);
        let last_key = self.last_key()?;
        let past_last = |k: &[u8]| last_key.is_none_or(|last| k > last);
        // By position, what was learnt of each key before its turn.
        let unknown = Ahead {
            pos: usize::MAX,
            hash: None,
            lacked: false,
        };
        let mut ahead = [unknown; 2 * LOOK_AHEAD];
        let at = |i: usize| i % (2 * LOOK_AHEAD);
        let mut key_ahead = keys.clone().skip(2 * LOOK_AHEAD);
        let mut slot_ahead = keys.clone().enumerate().skip(LOOK_AHEAD * 3 / 2);
        let mut fences_ahead = keys.clone().enumerate().skip(LOOK_AHEAD);
        let mut block_ahead = keys.clone().enumerate().skip(LOOK_AHEAD / 2);
        for (i, key) in keys.enumerate() {
            if let Some(k) = key_ahead.next() {
                prefetch::line(k.as_ptr());
            }
            if let Some((j, k)) = slot_ahead.next() {
                let past = past_last(k);
                let probed = lacking >= 0 && !past && !self.base.in_asked_block(k, &near.base);
                let hash = probed.then(|| index_file::hash(k));
                if let Some(h) = hash {
                    if let Some(d) = delta {
                        d.ask_for_slot(h);
                    }
                    self.base.ask_for_slot(h);
                }
                ahead[at(j)] = Ahead {
                    pos: j,
                    hash,
                    lacked: past,
                };
            }
            if let Some((j, k)) = fences_ahead.next() {
                let a = &mut ahead[at(j)];
                if let Some(h) = a.hash.filter(|_| a.pos == j) {
                    a.lacked = !self.base.in_asked_block(k, &near.base) && self.surely_lacks(h)?;
                }
                if a.pos != j || !a.lacked {
                    if let Some(d) = delta {
                        d.ask_for_fences(k, &mut near.delta);
                    }
                    self.base.ask_for_fences(k, &mut near.base);
                }
            }
            if let Some((j, k)) = block_ahead.next() {
                let a = &ahead[at(j)];
                if a.pos != j || !a.lacked {
                    if let Some(d) = delta {
                        d.ask_for_block(k, &mut near.delta);
                    }
                    self.base.ask_for_block(k, &mut near.base);
                }
            }
            let a = &ahead[at(i)];
            // The first keys, asked for no slot, are not probed.
            let lacked = if a.pos == i { a.lacked } else { past_last(key) };
            let loc = if lacked {
                None
            } else {
                self.get_ascending(key, near)?
            };
            lacking = if loc.is_none() {
                (lacking + 1).min(LACKING_MOST)
            } else {
                (lacking - 1).max(-LACKING_MOST)
            };
            found(loc);
        }
        self.lacking.store(lacking, Ordering::Relaxed);
        Ok(())
    }

    /// Hands `found` the places of the records of the keys whose tag matches
    /// hash `h`, the delta's first (see `IndexFile::probe`), until it returns
    /// `Some`.
    pub fn probe<T>(
        &self,
        h: u64,
        mut found: impl FnMut(u32, u32, u32) -> Result<Option<T>>,
    ) -> Result<Probed<T>> {
        if let Some(d) = self.delta_to_read() {
            let mut removed = false;
            let in_delta = d.probe(h, |segment, offset, most| {
                if segment == GONE {
                    removed = true;
                    return Ok(None);
                }
                found(segment, offset, most)
            })?;
            if let Some(t) = in_delta {
                return Ok(Probed::Found(t));
            }
            if removed {
                return Ok(Probed::Unsure);
            }
        }
        let base = &self.base;
        let in_base = base.probe(h, |segment, offset, most| {
            if segment == GONE {
                return Err(base.corrupt("a removal in an index file that is no delta".into()));
            }
            found(segment, offset, most)
        })?;
        Ok(in_base.map_or(Probed::Absent, Probed::Found))
    }

    /// The entries with keys within `bounds`, in order from either end.
    pub fn range<'a>(&'a self, bounds: (Bound<&'a [u8]>, Bound<&'a [u8]>)) -> DiskRange<'a> {
        DiskRange {
            base: self.base.range(bounds),
            delta: self.delta_to_read().map(|d| d.range(bounds)),
            delta_peeked: [None, None],
            base_peeked: [None, None],
            hints: ArrayVec::new(),
            failed: false,
        }
    }
}

/// The merged entries of the files within a range, walked from either end.
pub struct DiskRange<'a> {
    base: FileRange<'a>,
    delta: Option<FileRange<'a>>,
    /// An entry taken from each end of each file but not yet merged.
    delta_peeked: [Option<(Key, Loc)>; 2],
    base_peeked: [Option<(Key, Loc)>; 2],
    /// The records the walks hinted while their entries were peeked, handed
    /// out with the next entry taken.
    hints: ArrayVec<Loc, 8>,
    /// A walk failed: the merge ends there, as the base's entries past it
    /// may be ones the delta replaces or removes.
    failed: bool,
}

const FRONT: usize = 0;
const BACK: usize = 1;

/// Takes the next entry of `walk` from `end` into `peeked[end]` if none is
/// there, keeping its hints; when the walk has met its other end, the entry
/// peeked there is the last.
fn peek(
    walk: &mut FileRange<'_>,
    peeked: &mut [Option<(Key, Loc)>; 2],
    hints: &mut ArrayVec<Loc, 8>,
    end: usize,
) -> Result<()> {
    if peeked[end].is_some() {
        return Ok(());
    }
    let keep = |key: &[u8], loc: Loc, ahead: &[Loc]| {
        for &hint in ahead.iter().filter(|l| l.segment != REMOVED) {
            // Only hints: one that does not fit is dropped.
            let _ = hints.try_push(hint);
        }
        (Key::new(key), loc)
    };
    let step = if end == FRONT {
        walk.next_with(keep)
    } else {
        walk.next_back_with(keep)
    };
    peeked[end] = match step {
        Some(entry) => Some(entry?),
        None => peeked[1 - end].take(),
    };
    Ok(())
}

impl DiskRange<'_> {
    /// Announces that the caller means to take `n` more entries from the
    /// front (see `FileRange::will_take`).
    pub fn will_take(&mut self, n: usize) {
        self.base.will_take(n);
        if let Some(d) = self.delta.as_mut() {
            d.will_take(n);
        }
    }

    /// Takes the next entry from the front, lent to `f` with a prefetching
    /// hint (see `FileRange::next_hinted`).
    pub fn next_hinted<T>(
        &mut self,
        sought: impl FnOnce(Loc),
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        match self.base_alone(FRONT) {
            Ok(true) => self.base.next_hinted(sought, f),
            Ok(false) => self.merged(FRONT, f),
            Err(e) => Some(Err(e)),
        }
    }

    /// Takes the next entry from the back, lent to `f` with a prefetching hint.
    pub fn next_back_with<T>(
        &mut self,
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        match self.base_alone(BACK) {
            Ok(true) => self.base.next_back_with(f),
            Ok(false) => self.merged(BACK, f),
            Err(e) => Some(Err(e)),
        }
    }

    /// Whether the base's walk goes on alone from `end`, with its own hints:
    /// there is no delta, or it has no entry left there and no entry of the
    /// base is waiting (most ranges over a small delta hold none of its keys:
    /// the merge would cost them the base's early fetch of the first record).
    /// A failure of the delta's walk ends the merge, as the base's entries past
    /// it may be ones the delta replaces or removes.
    fn base_alone(&mut self, end: usize) -> Result<bool> {
        let Some(delta) = self.delta.as_mut() else {
            return Ok(true);
        };
        if self.failed || self.base_peeked.iter().any(Option::is_some) {
            // An entry the base's walk handed over is merged first (one
            // peeked at the other end is the last, and the walk's own end
            // would stop before it).
            return Ok(false);
        }
        if let Err(e) = peek(delta, &mut self.delta_peeked, &mut self.hints, end) {
            self.failed = true;
            return Err(e);
        }
        Ok(self.delta_peeked[end].is_none())
    }

    fn merged<T>(
        &mut self,
        end: usize,
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        let delta = self.delta.as_mut().expect("a delta");
        loop {
            if self.failed {
                return None;
            }
            if let Err(e) = peek(delta, &mut self.delta_peeked, &mut self.hints, end)
                .and_then(|()| peek(&mut self.base, &mut self.base_peeked, &mut self.hints, end))
            {
                self.failed = true;
                return Some(Err(e));
            }
            let order = match (&self.delta_peeked[end], &self.base_peeked[end]) {
                (None, None) => return None,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((dk, _)), Some((bk, _))) => {
                    let o = dk.cmp(bk);
                    if end == FRONT {
                        o
                    } else {
                        o.reverse()
                    }
                }
            };
            let (key, loc) = if order == std::cmp::Ordering::Greater {
                self.base_peeked[end].take().expect("peeked")
            } else {
                if order == std::cmp::Ordering::Equal {
                    self.base_peeked[end] = None;
                }
                let taken = self.delta_peeked[end].take().expect("peeked");
                if taken.1.segment == REMOVED {
                    continue;
                }
                taken
            };
            let out = f(&key, loc, &self.hints);
            self.hints.clear();
            return Some(Ok(out));
        }
    }
}

impl Iterator for DiskRange<'_> {
    type Item = Result<(Key, Loc)>;

    fn next(&mut self) -> Option<Result<(Key, Loc)>> {
        self.next_hinted(|_| {}, |k, l, _| (Key::new(k), l))
    }
}

impl DoubleEndedIterator for DiskRange<'_> {
    fn next_back(&mut self) -> Option<Result<(Key, Loc)>> {
        self.next_back_with(|k, l, _| (Key::new(k), l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index_file::{DeltaMeta, FileId, REPLAYABLE};
    use proptest::prelude::*;

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Few distinct bytes, so that the base and the delta share many keys.
        prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 1..6)
    }

    /// A record of its own for the `i`th entry, so that a place names one key.
    fn loc(i: usize, seq: u64) -> Loc {
        Loc {
            seq,
            segment: 1 + (i % 3) as u32,
            offset: 16 + 40 * i as u32,
            len: 40,
        }
    }

    fn removal(seq: u64) -> Loc {
        Loc {
            seq,
            segment: REMOVED,
            offset: 0,
            len: 0,
        }
    }

    fn write_base(dir: &std::path::Path, entries: &BTreeMap<Vec<u8>, Loc>) -> Arc<IndexFile> {
        let path = dir.join("base");
        index_file::write(
            &path,
            REPLAYABLE,
            100,
            &[1].into(),
            entries.len(),
            entries.iter().map(|(k, l)| Ok((k, *l))),
        )
        .unwrap();
        Arc::new(IndexFile::open(&path).unwrap())
    }

    fn write_delta(
        dir: &std::path::Path,
        base: FileId,
        entries: &BTreeMap<Vec<u8>, Loc>,
        merged: &BTreeMap<Vec<u8>, Loc>,
    ) -> IndexFile {
        let path = dir.join("delta");
        let mut live_by_segment = BTreeMap::new();
        for l in merged.values() {
            *live_by_segment.entry(l.segment).or_default() += u64::from(l.len);
        }
        let meta = DeltaMeta {
            base,
            len: merged.len(),
            live_bytes: merged.values().map(|l| u64::from(l.len)).sum(),
            live_by_segment,
        };
        index_file::write_delta(
            &path,
            200,
            &[1, 2].into(),
            entries.len(),
            entries.iter().map(|(k, l)| Ok((k, *l))),
            &meta,
        )
        .unwrap();
        IndexFile::open(&path).unwrap()
    }

    /// Keys the file lacks, looked up in key order, are answered by its
    /// table, without reading their blocks; keys it holds by their blocks;
    /// a dense run of keys by its one block, and keys past the file's last
    /// by that alone, without the table.
    #[test]
    fn ascending_lookups_of_keys_the_file_lacks_read_its_table_not_its_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let key = |i: u64| i.to_be_bytes().to_vec();
        let entries: BTreeMap<Vec<u8>, Loc> = (0..20_000)
            .map(|i| (key(i * 1_000), loc(i as usize, 90)))
            .collect();
        let base = write_base(dir.path(), &entries);
        let lookups = |disk: &DiskIndex, keys: &[Vec<u8>]| {
            let mut answers = Vec::new();
            disk.get_sorted(keys.iter().map(|k| &k[..]), |found| answers.push(found))
                .unwrap();
            answers
        };
        let disk = DiskIndex::over(base);
        let fresh = || DiskIndex::new(IndexFile::open(&dir.path().join("base")).unwrap());
        // Between the file's keys, 40 entries apart: a block each.
        let lacking: Vec<Vec<u8>> = (0..500).map(|i| key(i * 40_000 + 1)).collect();
        assert!(lookups(&disk, &lacking).iter().all(Option::is_none));
        // The first keys are looked up before the table is probed ahead;
        // the last block gives the file's last key.
        let (blocks, chunks) = disk.base().units_read();
        assert!(blocks <= LOOK_AHEAD * 3 / 2 + 1, "{blocks} blocks read");
        assert!(chunks > 0);
        let held: Vec<Vec<u8>> = (0..500).map(|i| key(i * 40_000 + 20_000)).collect();
        let want: Vec<Option<Loc>> = held.iter().map(|k| entries.get(k).copied()).collect();
        assert_eq!(lookups(&disk, &held), want);
        assert!(disk.base().units_read().0 >= blocks + 480);
        // Keys the file holds, from the first: the table is not probed, but
        // at the first key asked ahead for.
        let disk = fresh();
        assert_eq!(lookups(&disk, &held), want);
        assert!(disk.base().units_read().1 <= 1);

        // Between two of the file's keys: one block (and the last), and no
        // probe.
        let disk = fresh();
        let run: Vec<Vec<u8>> = (1..200).map(|i| key(10_000_000 + i)).collect();
        assert!(lookups(&disk, &run).iter().all(Option::is_none));
        assert_eq!(disk.base().units_read(), (2, 0));
        // Past the file's last key: the last block alone, even where the
        // fences' prefixes tie and cannot tell a dense run.
        let tied = tempfile::tempdir().unwrap();
        let user = |i: u64| format!("user:{i:012}").into_bytes();
        let entries: BTreeMap<Vec<u8>, Loc> = (0..20_000)
            .map(|i| (user(i), loc(i as usize, 90)))
            .collect();
        let disk = DiskIndex::over(write_base(tied.path(), &entries));
        let appended: Vec<Vec<u8>> = (20_000..20_200).map(user).collect();
        assert!(lookups(&disk, &appended).iter().all(Option::is_none));
        assert_eq!(disk.base().units_read(), (1, 0));
    }

    fn bound_strategy() -> impl Strategy<Value = Bound<Vec<u8>>> {
        prop_oneof![
            Just(Bound::Unbounded),
            key_strategy().prop_map(Bound::Included),
            key_strategy().prop_map(Bound::Excluded),
        ]
    }

    proptest! {
        /// A delta's puts replace the base's entries and its removals hide
        /// them, in lookups, ascending lookups, probes of the tables and
        /// ranges walked from either end.
        #[test]
        fn a_delta_over_a_base_reads_as_the_merged_map(
            base_keys in prop::collection::btree_set(key_strategy(), 0..120),
            changes in prop::collection::btree_map(key_strategy(), any::<bool>(), 1..120),
            ranges in prop::collection::vec((bound_strategy(), bound_strategy(), any::<u8>()), 6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let base_entries: BTreeMap<Vec<u8>, Loc> =
                base_keys.iter().enumerate().map(|(i, k)| (k.clone(), loc(i, 90))).collect();
            let delta_entries: BTreeMap<Vec<u8>, Loc> = changes
                .iter()
                .enumerate()
                .map(|(i, (k, &put))| (k.clone(), if put { loc(1000 + i, 150) } else { removal(160) }))
                .collect();
            let mut merged = base_entries.clone();
            for (k, l) in &delta_entries {
                if l.segment == REMOVED {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), *l);
                }
            }
            let base = write_base(dir.path(), &base_entries);
            let delta = write_delta(dir.path(), base.id, &delta_entries, &merged);
            let disk = DiskIndex::with_delta(base, delta).map_err(|(_, why)| why).unwrap();
            prop_assert_eq!(disk.len(), merged.len());
            prop_assert_eq!(disk.seq(), 200);
            prop_assert_eq!(disk.covered(), &BTreeSet::from([1, 2]));
            prop_assert_eq!(disk.delta_entries(), delta_entries.len());

            // Every key any file names, and some no file does.
            let mut probes: BTreeSet<Vec<u8>> = base_keys.clone();
            probes.extend(changes.keys().cloned());
            probes.insert(vec![7]);
            let mut near = Ascending::default();
            let places: BTreeMap<(u32, u32), &Vec<u8>> = base_entries
                .iter()
                .chain(&delta_entries)
                .filter(|(_, l)| l.segment != REMOVED)
                .map(|(k, l)| ((l.segment, l.offset), k))
                .collect();
            let mut sorted = Vec::new();
            let twice = probes.iter().flat_map(|k| [&k[..], &k[..]]);
            disk.get_sorted(twice.clone(), |found| sorted.push(found)).unwrap();
            let want: Vec<Option<Loc>> = twice.map(|k| merged.get(k).copied()).collect();
            prop_assert_eq!(sorted, want);
            for key in &probes {
                let want = merged.get(key).copied();
                prop_assert_eq!(disk.get(key).unwrap(), want);
                prop_assert_eq!(disk.get_ascending(key, &mut near).unwrap(), want);
                let probed = disk
                    .probe(index_file::hash(key), |segment, offset, _| {
                        Ok((places[&(segment, offset)] == key).then_some((segment, offset)))
                    })
                    .unwrap();
                match probed {
                    Probed::Found(at) => prop_assert_eq!(Some(at), want.map(|l| (l.segment, l.offset))),
                    Probed::Absent => prop_assert_eq!(want, None),
                    Probed::Unsure => {
                        prop_assert_eq!(want, None);
                        prop_assert_eq!(delta_entries[key].segment, REMOVED);
                    }
                }
            }

            for (start, end, take) in &ranges {
                let bounds = (start.as_ref().map(|k| &k[..]), end.as_ref().map(|k| &k[..]));
                // Ranges a sorted map refuses.
                let refused = match (start, end) {
                    (Bound::Included(s), Bound::Included(e)) => s > e,
                    (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => s >= e,
                    _ => false,
                };
                if refused {
                    continue;
                }
                let want: Vec<(Vec<u8>, Loc)> = merged
                    .range::<[u8], _>(bounds)
                    .map(|(k, l)| (k.clone(), *l))
                    .collect();
                let forwards: Vec<(Vec<u8>, Loc)> = disk
                    .range(bounds)
                    .map(|e| e.map(|(k, l)| (k.to_vec(), l)))
                    .collect::<Result<_>>()
                    .unwrap();
                prop_assert_eq!(&forwards, &want);
                let backwards: Vec<(Vec<u8>, Loc)> = disk
                    .range(bounds)
                    .rev()
                    .map(|e| e.map(|(k, l)| (k.to_vec(), l)))
                    .collect::<Result<_>>()
                    .unwrap();
                prop_assert_eq!(backwards.into_iter().rev().collect::<Vec<_>>(), want.clone());
                // Taken from both ends at once, the walks meet without a
                // repeat or a gap.
                let mut walk = disk.range(bounds);
                let (mut front, mut back) = (Vec::new(), Vec::new());
                for i in 0.. {
                    let step = if (i + *take as usize) % 3 == 0 { walk.next_back() } else { walk.next() };
                    match step {
                        None => break,
                        Some(e) => {
                            let (k, l) = e.unwrap();
                            if (i + *take as usize) % 3 == 0 { back.push((k.to_vec(), l)) } else { front.push((k.to_vec(), l)) }
                        }
                    }
                }
                front.extend(back.into_iter().rev());
                prop_assert_eq!(&front, &want);
                // A range that holds none of the delta's keys is the base's
                // walk alone, which names the first record as soon as it
                // has sought it.
                if delta_entries.range::<[u8], _>(bounds).next().is_none() {
                    let sought = std::cell::Cell::new(None);
                    let first = disk.range(bounds).next_hinted(|l| sought.set(Some(l)), |_, l, _| l);
                    let want_first = want.first().map(|(_, l)| *l);
                    prop_assert_eq!(first.transpose().unwrap(), want_first);
                    if want_first.is_some() {
                        // (With none, a hint may name the entry past the end.)
                        prop_assert_eq!(sought.get(), want_first);
                    }
                }
            }
        }
    }

    #[test]
    fn a_delta_is_used_only_over_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let entries: BTreeMap<Vec<u8>, Loc> =
            (0..40).map(|i| (vec![i as u8], loc(i, 90))).collect();
        let base = write_base(dir.path(), &entries);
        let other = FileId {
            seq: base.id.seq,
            crc: base.id.crc ^ 1,
        };
        let changes: BTreeMap<Vec<u8>, Loc> = [(vec![3], removal(150))].into();
        let delta = write_delta(dir.path(), other, &changes, &entries);
        let (base, why) = DiskIndex::with_delta(base, delta).expect_err("refused");
        assert!(why.contains("another index file"), "{why}");
        // An index file that is no delta is refused as one.
        let path = dir.path().join("delta");
        let meta = DeltaMeta {
            base: base.id,
            len: 40,
            live_bytes: 0,
            live_by_segment: BTreeMap::new(),
        };
        let no_entries = std::iter::empty::<Result<(Vec<u8>, Loc)>>();
        index_file::write_delta(&path, 200, &[2].into(), 0, no_entries, &meta).unwrap();
        let uncovering = IndexFile::open(&path).unwrap();
        let (base, why) = DiskIndex::with_delta(base, uncovering).expect_err("refused");
        assert!(why.contains("does not cover"), "{why}");
        let not_delta = IndexFile::open(&dir.path().join("base")).unwrap();
        let (base, why) = DiskIndex::with_delta(base, not_delta).expect_err("refused");
        assert!(why.contains("not a delta"), "{why}");
        let delta = write_delta(dir.path(), base.id, &changes, &entries);
        let disk = DiskIndex::with_delta(base, delta)
            .map_err(|(_, why)| why)
            .unwrap();
        assert_eq!(disk.get(&[3]).unwrap(), None);
        assert_eq!(disk.get(&[4]).unwrap(), Some(loc(4, 90)));
    }

    #[test]
    fn only_a_delta_holds_removals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base");
        let entries = [(vec![1u8], removal(5))];
        let err = index_file::write(
            &path,
            REPLAYABLE,
            100,
            &BTreeSet::new(),
            1,
            entries.iter().map(|(k, l)| Ok((k, *l))),
        )
        .expect_err("a removal outside a delta is refused");
        assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
    }
}
