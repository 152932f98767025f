//! The index on disk: the index file of the last full checkpoint (the
//! *base*) and, over it, up to two *deltas* of the changes since, if any were
//! written (see `index_file`): the first over the base, the second over the
//! first.
//!
//! A full checkpoint rewrites every key; a delta only the keys changed since
//! the file under it, so that a checkpoint at close, or beside commits, costs
//! what its changes do however many keys the base holds, and the next open
//! maps the files and replays nothing. A second delta spares the first: a
//! close after a few changes writes them over the first delta instead of
//! writing the first again with them.
//!
//! Invariants:
//! - A delta's entries win over those of the files under it; a removal in a
//!   delta hides the entries of its key under it.
//! - A delta is used only over the file it names (`index_file::FileId`): a
//!   full checkpoint or a compaction writes a new base, then removes the
//!   deltas, and a first delta written anew removes the second; a delta a
//!   crash left between the two names a file that is no longer there.
//! - A delta covers every segment the file under it covers, and is of a later
//!   commit or the same (both are refused otherwise).
//! - A delta is never needed: it covers no segment that a compaction could
//!   have removed while the base did not cover it (compactions write a base),
//!   so the file under it and the log after that give the same index. A
//!   damaged delta is set aside with any delta over it, and that log replayed.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrayvec::ArrayVec;

use crate::error::Result;
use crate::index::{Key, Loc, REMOVED};
use crate::index_file::{self, FileRange, IndexFile, LogFrom, GONE, MAX_DELTAS};
use crate::prefetch;

pub struct DiskIndex {
    base: Arc<IndexFile>,
    /// The deltas, each over the one before it, the first over the base.
    deltas: ArrayVec<Arc<IndexFile>, MAX_DELTAS>,
    /// The writer's lookups of late, in no file less in one (see
    /// [`LACKING_MOST`]): whether the tables are worth probing first.
    lacking: AtomicI32,
    /// The greatest key of any file, once a lookup has asked: a key past it
    /// (an append) is in none.
    last_key: OnceLock<Option<Vec<u8>>>,
    /// The lookups (gets, ranges, a commit's lookups of its keys) that have
    /// read the deltas as well as the base: what the deltas have cost the
    /// reads so far, an estimate (see [`LOOKUPS_PER_ADD`]).
    through_delta: AtomicU64,
}

/// A thread adds its lookups through deltas to [`DiskIndex::through_delta`]
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
    /// A delta removes a key whose tag matches: an ordered lookup says
    /// whether it is this one.
    Unsure,
}

/// Where an ascending run of lookups stopped in each file
/// (`IndexFile::get_ascending`).
#[derive(Default)]
pub struct Ascending {
    /// In the order of [`DiskIndex::deltas_to_read`].
    deltas: [index_file::Ascending; MAX_DELTAS],
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

/// `DiskIndex::lacking` counts the keys of late lookups in no file, less
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
            .field("deltas", &self.deltas)
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
            deltas: ArrayVec::new(),
            lacking: AtomicI32::new(0),
            last_key: OnceLock::new(),
            through_delta: AtomicU64::new(0),
        }
    }

    /// These files with `delta` over them, if it is a delta that names the
    /// top one and there is room for it; otherwise why not, and these files
    /// back.
    pub fn with_delta(
        self,
        delta: Arc<IndexFile>,
    ) -> std::result::Result<DiskIndex, (DiskIndex, String)> {
        let under = self.top();
        let why_not = match &delta.delta {
            _ if self.deltas.is_full() => Some(format!("there are {MAX_DELTAS} deltas already")),
            None => Some("it is not a delta".to_string()),
            Some(meta) if meta.base != under.id => Some(format!(
                "it lies over another index file (seq {}, checksum {:08x}), not this one \
                 (seq {}, checksum {:08x})",
                meta.base.seq, meta.base.crc, under.id.seq, under.id.crc
            )),
            Some(_) if delta.seq < under.seq => Some("it is older than the file under it".into()),
            // Segments leave the log only with a new index file (compaction):
            // a delta covers at least what the file under it does. The log
            // after that file must replay what the delta says.
            Some(_) if !under.covered.is_subset(&delta.covered) => {
                Some("it does not cover every segment the file under it covers".into())
            }
            Some(_) => None,
        };
        match why_not {
            Some(why) => Err((self, why)),
            None => {
                let mut deltas = self.deltas.clone();
                deltas.push(delta);
                Ok(DiskIndex {
                    deltas,
                    ..DiskIndex::over(self.base.clone())
                })
            }
        }
    }

    /// The base and the first `deltas` deltas, to write a delta over.
    pub fn lowest(&self, deltas: usize) -> DiskIndex {
        DiskIndex {
            deltas: self.deltas.iter().take(deltas).cloned().collect(),
            ..DiskIndex::over(self.base.clone())
        }
    }

    pub fn base(&self) -> &Arc<IndexFile> {
        &self.base
    }

    /// The deltas, the first over the base.
    pub fn deltas(&self) -> &[Arc<IndexFile>] {
        &self.deltas
    }

    /// The file whose sequence number and covered segments the index is of:
    /// the last delta, or the base.
    pub fn top(&self) -> &IndexFile {
        self.deltas.last().unwrap_or(&self.base)
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
        match self.deltas.last() {
            Some(d) => d.delta.as_ref().map_or(0, |m| m.len),
            None => self.base.len(),
        }
    }

    /// The entries of the deltas, removals included.
    #[cfg(test)]
    pub fn delta_entries(&self) -> usize {
        self.deltas.iter().map(|d| d.len()).sum()
    }

    /// The sum of the lengths of the keys' records.
    pub fn live_bytes(&self) -> u64 {
        match self.deltas.last() {
            Some(d) => d.delta.as_ref().map_or(0, |m| m.live_bytes),
            None => self.base.live_bytes(),
        }
    }

    /// The bytes of the keys' records in each segment, if known (a base of
    /// the format before does not say).
    pub fn live_by_segment(&self) -> Option<BTreeMap<u32, u64>> {
        match self.deltas.last() {
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
            .chain(self.deltas.iter().flat_map(|d| &d.segments))
        {
            let end: &mut u64 = ends.entry(s.id).or_default();
            *end = (*end).max(s.end);
        }
        ends
    }

    /// A read has found one of the files damaged.
    pub fn damaged(&self) -> bool {
        self.base.damaged() || self.damaged_delta().is_some()
    }

    /// The first delta a read has found damaged, if any: it and the deltas
    /// over it are not to be trusted.
    pub fn damaged_delta(&self) -> Option<usize> {
        self.deltas.iter().position(|d| d.damaged())
    }

    /// The deltas that hold entries, the last first, in the order a lookup
    /// reads them (one with no entry, a checkpoint with no change since the
    /// one before, is passed over). A lookup that reads any is counted
    /// ([`DiskIndex::lookups_through_delta`]).
    fn deltas_to_read(&self) -> ArrayVec<&IndexFile, MAX_DELTAS> {
        let deltas: ArrayVec<&IndexFile, MAX_DELTAS> = self
            .deltas
            .iter()
            .rev()
            .map(|d| &**d)
            .filter(|d| d.len() > 0)
            .collect();
        if !deltas.is_empty() {
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
        }
        deltas
    }

    /// About how many lookups have read the deltas as well as the base, each
    /// a probe or a seek more a delta than without them (`LOOKUPS_PER_ADD`).
    pub fn lookups_through_delta(&self) -> u64 {
        self.through_delta.load(Ordering::Relaxed)
    }

    /// The location of `key`'s newest value, if the index holds it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Loc>> {
        for d in self.deltas_to_read() {
            if let Some(loc) = d.get(key)? {
                return Ok(live(loc));
            }
        }
        self.base.get(key)
    }

    /// `get`, for keys looked up in ascending order (see
    /// `IndexFile::get_ascending`).
    fn get_ascending(&self, key: &[u8], near: &mut Ascending) -> Result<Option<Loc>> {
        for (d, near) in self.deltas_to_read().into_iter().zip(&mut near.deltas) {
            if let Some(loc) = d.get_ascending(key, near)? {
                return Ok(live(loc));
            }
        }
        self.base.get_ascending(key, &mut near.base)
    }

    /// The greatest key of any file (`last_key`).
    fn last_key(&self) -> Result<Option<&[u8]>> {
        if self.last_key.get().is_none() {
            let last = |file: &IndexFile| -> Result<Option<Vec<u8>>> {
                let mut all = file.range((Bound::Unbounded, Bound::Unbounded));
                all.next_back()
                    .transpose()
                    .map(|e| e.map(|(k, _)| k.to_vec()))
            };
            let mut greatest = last(&self.base)?;
            for d in self.deltas_to_read() {
                greatest = greatest.max(last(d)?);
            }
            let _ = self.last_key.set(greatest);
        }
        Ok(self.last_key.get().and_then(|k| k.as_deref()))
    }

    /// Whether no file's table has a slot with hash `h`'s tag (a removal's
    /// included): then no file has an entry of a key of that hash.
    fn surely_lacks(&self, h: u64) -> Result<bool> {
        let tagged = self.probe(h, |_, _, _| Ok(Some(())))?;
        Ok(matches!(tagged, Probed::Absent))
    }
    /// `get_ascending` of each of `keys` (ascending, repeats allowed), whose
    /// answers `found` is handed in turn.
    ///
    /// A key past the greatest key of any file (an append) is in none.
    /// A key the tables lack is answered without its fences and block: a
    /// probe reads a slot or two where the search reads a stretch of fences
    /// and decodes a block. The tables are probed while the keys looked up
    /// of late were mostly in no file (a commit of new keys), and not
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
        let deltas = self.deltas_to_read();
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
                    for d in &deltas {
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
                    for (d, near) in deltas.iter().zip(&mut near.deltas) {
                        d.ask_for_fences(k, near);
                    }
                    self.base.ask_for_fences(k, &mut near.base);
                }
            }
            if let Some((j, k)) = block_ahead.next() {
                let a = &ahead[at(j)];
                if a.pos != j || !a.lacked {
                    for (d, near) in deltas.iter().zip(&mut near.deltas) {
                        d.ask_for_block(k, near);
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
    /// hash `h`, the last delta's first (see `IndexFile::probe`), until it
    /// returns `Some`.
    pub fn probe<T>(
        &self,
        h: u64,
        mut found: impl FnMut(u32, u32, u32) -> Result<Option<T>>,
    ) -> Result<Probed<T>> {
        for d in self.deltas_to_read() {
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
            deltas: self
                .deltas_to_read()
                .into_iter()
                .map(|d| d.range(bounds))
                .collect(),
            delta_peeked: Default::default(),
            base_peeked: [None, None],
            hints: ArrayVec::new(),
            failed: false,
        }
    }
}

/// An entry taken from each end of a walk but not yet merged.
type Peeked = [Option<(Key, Loc)>; 2];

/// The merged entries of the files within a range, walked from either end.
pub struct DiskRange<'a> {
    base: FileRange<'a>,
    /// The walks of the deltas that hold entries, the last delta's first.
    deltas: ArrayVec<FileRange<'a>, MAX_DELTAS>,
    delta_peeked: [Peeked; MAX_DELTAS],
    base_peeked: Peeked,
    /// The records the walks hinted while their entries were peeked, handed
    /// out with the next entry taken.
    hints: ArrayVec<Loc, 8>,
    /// A walk failed: the merge ends there, as the entries of the files under
    /// it past that point may be ones it replaces or removes.
    failed: bool,
}

const FRONT: usize = 0;
const BACK: usize = 1;

/// Takes the next entry of `walk` from `end` into `peeked[end]` if none is
/// there, keeping its hints; when the walk has met its other end, the entry
/// peeked there is the last.
fn peek(
    walk: &mut FileRange<'_>,
    peeked: &mut Peeked,
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
        for d in &mut self.deltas {
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

    /// Takes the next entry of every delta's walk from `end` that has none
    /// peeked there; a failure ends the merge.
    fn peek_deltas(&mut self, end: usize) -> Result<()> {
        for (walk, peeked) in self.deltas.iter_mut().zip(&mut self.delta_peeked) {
            if let Err(e) = peek(walk, peeked, &mut self.hints, end) {
                self.failed = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Whether the base's walk goes on alone from `end`, with its own hints:
    /// there is no delta, or none has an entry left there and no entry of
    /// the base is waiting (most ranges over a small delta hold none of its
    /// keys: the merge would cost them the base's early fetch of the first
    /// record). A failure of a delta's walk ends the merge, as the base's
    /// entries past it may be ones the delta replaces or removes.
    fn base_alone(&mut self, end: usize) -> Result<bool> {
        if self.deltas.is_empty() {
            return Ok(true);
        }
        if self.failed || self.base_peeked.iter().any(Option::is_some) {
            // An entry the base's walk handed over is merged first (one
            // peeked at the other end is the last, and the walk's own end
            // would stop before it).
            return Ok(false);
        }
        self.peek_deltas(end)?;
        Ok(self.delta_peeked.iter().all(|p| p[end].is_none()))
    }

    /// The entries peeked of the `i`th walk, the deltas' first, then the
    /// base's.
    fn peeked(&mut self, i: usize) -> &mut Peeked {
        if i < self.deltas.len() {
            &mut self.delta_peeked[i]
        } else {
            &mut self.base_peeked
        }
    }

    /// The key peeked at `end` of the `i`th walk (see `peeked`).
    fn peeked_key(&self, i: usize, end: usize) -> Option<&Key> {
        let peeked = if i < self.deltas.len() {
            &self.delta_peeked[i]
        } else {
            &self.base_peeked
        };
        peeked[end].as_ref().map(|(k, _)| k)
    }

    fn merged<T>(
        &mut self,
        end: usize,
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        let walks = self.deltas.len() + 1;
        loop {
            if self.failed {
                return None;
            }
            if let Err(e) = self
                .peek_deltas(end)
                .and_then(|()| peek(&mut self.base, &mut self.base_peeked, &mut self.hints, end))
            {
                self.failed = true;
                return Some(Err(e));
            }
            // The walk whose key comes first from `end`; of walks at the
            // same key, the newest file's.
            let mut first: Option<usize> = None;
            for i in 0..walks {
                let Some(key) = self.peeked_key(i, end) else {
                    continue;
                };
                let ahead = first
                    .and_then(|j| self.peeked_key(j, end))
                    .is_none_or(|best| {
                        let order = key.cmp(best);
                        order.is_ne() && (order.is_lt() == (end == FRONT))
                    });
                if ahead {
                    first = Some(i);
                }
            }
            let first = first?;
            let (key, loc) = self.peeked(first)[end].take().expect("peeked");
            // The older files' entries of the key are replaced.
            for i in first + 1..walks {
                if self.peeked(i)[end].as_ref().is_some_and(|(k, _)| *k == key) {
                    self.peeked(i)[end] = None;
                }
            }
            if loc.segment == REMOVED {
                continue;
            }
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

    /// A delta at `level` (0 the first) of `entries` over the file `base`,
    /// of seq 200 for the first, 300 for the second; `merged` the index it
    /// makes.
    fn write_delta(
        dir: &std::path::Path,
        level: usize,
        base: FileId,
        entries: &BTreeMap<Vec<u8>, Loc>,
        merged: &BTreeMap<Vec<u8>, Loc>,
    ) -> Arc<IndexFile> {
        let path = dir.join(format!("delta{level}"));
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
            200 + 100 * level as u64,
            &(1..3 + level as u32).collect(),
            entries.len(),
            entries.iter().map(|(k, l)| Ok((k, *l))),
            &meta,
        )
        .unwrap();
        Arc::new(IndexFile::open(&path).unwrap())
    }

    /// `changes` (true a put, false a removal) as a delta's entries, the
    /// `i`th put at a record of its own past `first`, of sequence number
    /// `seq`.
    fn delta_of(
        changes: &BTreeMap<Vec<u8>, bool>,
        first: usize,
        seq: u64,
    ) -> BTreeMap<Vec<u8>, Loc> {
        changes
            .iter()
            .enumerate()
            .map(|(i, (k, &put))| {
                (
                    k.clone(),
                    if put {
                        loc(first + i, seq)
                    } else {
                        removal(seq + 10)
                    },
                )
            })
            .collect()
    }

    /// `index` with `delta`'s puts and removals applied.
    fn apply(index: &mut BTreeMap<Vec<u8>, Loc>, delta: &BTreeMap<Vec<u8>, Loc>) {
        for (k, l) in delta {
            if l.segment == REMOVED {
                index.remove(k);
            } else {
                index.insert(k.clone(), *l);
            }
        }
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
        /// A delta's puts replace the entries of the files under it and its
        /// removals hide them, over a base and over a first delta, in
        /// lookups, ascending lookups, probes of the tables and ranges walked
        /// from either end.
        #[test]
        fn deltas_over_a_base_read_as_the_merged_map(
            base_keys in prop::collection::btree_set(key_strategy(), 0..120),
            first in prop::collection::btree_map(key_strategy(), any::<bool>(), 1..120),
            second in prop::option::of(prop::collection::btree_map(key_strategy(), any::<bool>(), 0..120)),
            ranges in prop::collection::vec((bound_strategy(), bound_strategy(), any::<u8>()), 6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let base_entries: BTreeMap<Vec<u8>, Loc> =
                base_keys.iter().enumerate().map(|(i, k)| (k.clone(), loc(i, 90))).collect();
            // The deltas' entries, the first's first.
            let mut deltas = vec![delta_of(&first, 1000, 150)];
            deltas.extend(second.as_ref().map(|s| delta_of(s, 2000, 250)));
            let base = write_base(dir.path(), &base_entries);
            let mut merged = base_entries.clone();
            let mut disk = DiskIndex::over(base);
            for (level, entries) in deltas.iter().enumerate() {
                apply(&mut merged, entries);
                let delta = write_delta(dir.path(), level, disk.top().id, entries, &merged);
                disk = disk.with_delta(delta).map_err(|(_, why)| why).unwrap();
            }
            let in_deltas: usize = deltas.iter().map(BTreeMap::len).sum();
            prop_assert_eq!(disk.len(), merged.len());
            prop_assert_eq!(disk.seq(), 100 + 100 * deltas.len() as u64);
            prop_assert_eq!(disk.covered(), &(1..2 + deltas.len() as u32).collect::<BTreeSet<u32>>());
            prop_assert_eq!(disk.delta_entries(), in_deltas);
            // A key's entry in the newest delta that has one.
            let newest = |key: &Vec<u8>| deltas.iter().rev().find_map(|d| d.get(key));

            // Every key any file names, and some no file does.
            let mut probes: BTreeSet<Vec<u8>> = base_keys.clone();
            for d in &deltas {
                probes.extend(d.keys().cloned());
            }
            probes.insert(vec![7]);
            let mut near = Ascending::default();
            let places: BTreeMap<(u32, u32), &Vec<u8>> = deltas
                .iter()
                .flatten()
                .chain(&base_entries)
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
                        prop_assert_eq!(newest(key).map(|l| l.segment), Some(REMOVED));
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
                // A range that holds none of the deltas' keys is the base's
                // walk alone, which names the first record as soon as it
                // has sought it.
                if deltas.iter().all(|d| d.range::<[u8], _>(bounds).next().is_none()) {
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
        let disk = DiskIndex::over(base);
        let delta = write_delta(dir.path(), 0, other, &changes, &entries);
        let (disk, why) = disk.with_delta(delta).expect_err("refused");
        assert!(why.contains("another index file"), "{why}");
        // An index file that is no delta is refused as one.
        let path = dir.path().join("delta");
        let meta = DeltaMeta {
            base: disk.base().id,
            len: 40,
            live_bytes: 0,
            live_by_segment: BTreeMap::new(),
        };
        let no_entries = std::iter::empty::<Result<(Vec<u8>, Loc)>>();
        index_file::write_delta(&path, 200, &[2].into(), 0, no_entries, &meta).unwrap();
        let uncovering = Arc::new(IndexFile::open(&path).unwrap());
        let (disk, why) = disk.with_delta(uncovering).expect_err("refused");
        assert!(why.contains("does not cover"), "{why}");
        let not_delta = Arc::new(IndexFile::open(&dir.path().join("base")).unwrap());
        let (disk, why) = disk.with_delta(not_delta).expect_err("refused");
        assert!(why.contains("not a delta"), "{why}");
        let first = write_delta(dir.path(), 0, disk.base().id, &changes, &entries);
        let disk = disk
            .with_delta(first.clone())
            .map_err(|(_, why)| why)
            .unwrap();
        assert_eq!(disk.get(&[3]).unwrap(), None);
        assert_eq!(disk.get(&[4]).unwrap(), Some(loc(4, 90)));
        // A second delta lies over the first, not over the base; and two are
        // the most.
        let put_back: BTreeMap<Vec<u8>, Loc> = [(vec![3], loc(3, 250))].into();
        let over_base = write_delta(dir.path(), 1, disk.base().id, &put_back, &entries);
        let (disk, why) = disk.with_delta(over_base).expect_err("refused");
        assert!(why.contains("another index file"), "{why}");
        let second = write_delta(dir.path(), 1, first.id, &put_back, &entries);
        let disk = disk
            .with_delta(second.clone())
            .map_err(|(_, why)| why)
            .unwrap();
        assert_eq!(disk.get(&[3]).unwrap(), Some(loc(3, 250)));
        let (disk, why) = disk.with_delta(second).expect_err("refused");
        assert!(why.contains("2 deltas already"), "{why}");
        // The base and the first delta alone, to write a second over.
        assert_eq!(disk.lowest(1).get(&[3]).unwrap(), None);
        assert_eq!(disk.lowest(1).top().id, first.id);
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
