//! Every live key and the location of its newest value: the index files of
//! the last checkpoint, mapped (`disk_index`), and the changes since it, in
//! memory.
//!
//! The files (an index file, and a delta over it if one was written) answer
//! for every key the changes do not name; below, "the file" is what the two
//! say together. A change is either a location or a *removal* (a location in
//! segment [`REMOVED`]), which hides the file's entry of a key deleted since
//! the checkpoint. Cloning is O(1): the changes are a persistent B+ tree and
//! the files are shared.
//!
//! Invariants:
//! - `len` and `live_bytes` count the keys, and the lengths of their records,
//!   of the merged view. They start from what the files say, which a delta
//!   states rather than derives from its entries: the counts saturate, so
//!   that a made-up delta skews them without overflowing.
//! - A key deleted since the file was written has a removal in the changes if
//!   the file holds it, or while a checkpoint is being written (from a
//!   snapshot that may hold it); otherwise it leaves the changes. A removal's
//!   `seq` is the commit that deleted the key, so that `rebased` can tell
//!   which changes a newer file holds.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use arrayvec::ArrayVec;

use crate::btree::{self, Index};
use crate::disk_index::{DiskIndex, DiskRange};
use crate::error::Result;
use crate::index::{Key, Loc, Probe};

pub use crate::index::REMOVED;

/// Puts into `changes` the last change of each key of `written` (changes in
/// the order made, taken) made after commit `seq`, over what `changes` held.
pub fn written_after(seq: u64, written: &mut Vec<(Key, Loc)>, changes: &mut Index) {
    // Stable: a key's changes stay in the order made, the last one its own.
    written.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept = written.drain(..).peekable();
    let last_of_each = std::iter::from_fn(|| loop {
        let (key, loc) = kept.next()?;
        if kept.peek().is_none_or(|(next, _)| *next != key) {
            return Some((key, loc));
        }
    });
    changes.insert_all(
        last_of_each
            .filter(|(_, loc)| loc.seq > seq)
            .map(|(key, loc)| (key, loc, ())),
        |_, ()| {},
    );
}

/// The change that hides a file's entry of a key deleted by commit `seq`.
pub(crate) fn removal(seq: u64) -> Loc {
    Loc {
        seq,
        segment: REMOVED,
        offset: 0,
        len: 0,
    }
}

fn live(loc: &Loc) -> Option<Loc> {
    (loc.segment != REMOVED).then_some(*loc)
}

#[derive(Clone, Default)]
pub struct KeyIndex {
    base: Option<Arc<DiskIndex>>,
    changes: Index,
    len: usize,
    live_bytes: u64,
    /// The commit a checkpoint being written is a snapshot of, if any (one
    /// that failed leaves it set: removals made meanwhile are merely kept).
    pinned: Option<u64>,
    /// The bytes of the live records in each segment: from the file's
    /// metadata at open, then kept as the index changes; unknown over a file
    /// of the format before. A compaction picks its segments by them; a wrong
    /// count could only make it copy a segment it need not, or leave one.
    by_segment: Option<Arc<BTreeMap<u32, u64>>>,
    /// How many times a segment's live bytes fell to zero: a commit that moves
    /// it has left a segment that compaction drops without copying anything.
    emptied: u64,
}

/// What `KeyIndex::remove` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    /// The location the key had.
    pub old: Loc,
    /// Whether a removal stays in the changes to hide a file's entry.
    pub marked: bool,
}

/// The live bytes of each segment, as writes change them: the map is made
/// unshared once for all the writes of a commit.
struct Accounts<'a> {
    map: Option<&'a mut BTreeMap<u32, u64>>,
    emptied: &'a mut u64,
}

impl<'a> Accounts<'a> {
    fn of(by_segment: &'a mut Option<Arc<BTreeMap<u32, u64>>>, emptied: &'a mut u64) -> Self {
        Accounts {
            map: by_segment.as_mut().map(Arc::make_mut),
            emptied,
        }
    }

    /// Moves a record's bytes from `old`'s segment to `new`'s.
    fn account(&mut self, old: Option<Loc>, new: Option<Loc>) {
        let bytes = |l: Loc| (l.segment, u64::from(l.len));
        self.moved(old.map(bytes), new.map(bytes));
    }

    /// Moves bytes out of segments, `from`, and into segments, `to`, as
    /// (segment, bytes). The new records first: an overwrite within one
    /// segment never leaves it empty for a moment.
    fn moved(
        &mut self,
        from: impl IntoIterator<Item = (u32, u64)>,
        to: impl IntoIterator<Item = (u32, u64)>,
    ) {
        let Some(map) = self.map.as_deref_mut() else {
            return;
        };
        for (segment, bytes) in to.into_iter().filter(|&(_, b)| b > 0) {
            *map.entry(segment).or_default() += bytes;
        }
        for (segment, bytes) in from.into_iter().filter(|&(_, b)| b > 0) {
            if let Some(live) = map.get_mut(&segment) {
                *live = live.saturating_sub(bytes);
                if *live == 0 {
                    map.remove(&segment);
                    *self.emptied += 1;
                }
            }
        }
    }
}

/// The records a compaction copied, in key order: each key, where its record
/// was and where the copy is; with the bytes they take out of each segment
/// and put into each, summed when made, outside the writer's lock. Under it,
/// `KeyIndex::relocated` then looks up only the keys changed since the
/// compaction's snapshot, where counting millions of copies one by one held
/// the lock for hundreds of milliseconds.
pub struct Relocations {
    moves: Vec<(Key, Loc, Loc)>,
    from: BTreeMap<u32, u64>,
    to: BTreeMap<u32, u64>,
}

impl Relocations {
    /// `moves` must be in key order, each key once.
    pub fn new(moves: Vec<(Key, Loc, Loc)>) -> Relocations {
        debug_assert!(
            moves.windows(2).all(|w| w[0].0 < w[1].0),
            "moves in key order"
        );
        let (mut from, mut to) = (BTreeMap::new(), BTreeMap::new());
        for (_, old, new) in &moves {
            *from.entry(old.segment).or_default() += u64::from(old.len);
            *to.entry(new.segment).or_default() += u64::from(new.len);
        }
        Relocations { moves, from, to }
    }

    pub fn moves(&self) -> &[(Key, Loc, Loc)] {
        &self.moves
    }

    pub fn len(&self) -> usize {
        self.moves.len()
    }

    /// The copy of `key`, if it was copied.
    fn of(&self, key: &[u8]) -> Option<(Loc, Loc)> {
        let at = self
            .moves
            .binary_search_by(|(k, _, _)| k[..].cmp(key))
            .ok()?;
        let (_, old, new) = self.moves[at];
        Some((old, new))
    }
}

/// `KeyIndex::relocated` looks the changed keys up among the copies while
/// they are fewer than the copies by this factor (a lookup costs about as
/// many comparisons), and otherwise looks each copy up among the changes.
const LOOKUPS_WORTH: usize = 32;

impl KeyIndex {
    pub fn new() -> KeyIndex {
        KeyIndex {
            by_segment: Some(Arc::default()),
            ..KeyIndex::default()
        }
    }

    /// An index of exactly the entries of `tree` (a checkpoint of the earlier
    /// format, read into memory), with no file below.
    pub fn from_tree(tree: Index) -> KeyIndex {
        let mut by_segment = BTreeMap::new();
        for l in tree.values() {
            *by_segment.entry(l.segment).or_default() += u64::from(l.len);
        }
        KeyIndex {
            base: None,
            len: tree.len(),
            live_bytes: tree.values().map(|l| u64::from(l.len)).sum(),
            changes: tree,
            pinned: None,
            by_segment: Some(Arc::new(by_segment)),
            emptied: 0,
        }
    }

    /// The entries of `file`, with no changes yet.
    pub fn on(file: Arc<DiskIndex>) -> KeyIndex {
        let by_segment = file.live_by_segment();
        KeyIndex {
            len: file.len(),
            live_bytes: file.live_bytes(),
            base: Some(file),
            changes: Index::new(),
            pinned: None,
            by_segment: by_segment.map(Arc::new),
            emptied: 0,
        }
    }

    /// The bytes of the live records in each segment, if known.
    pub fn live_by_segment(&self) -> Option<&BTreeMap<u32, u64>> {
        self.by_segment.as_deref()
    }

    /// Counts a record that stopped being live (`old`) and one that started
    /// (`new`) in their segments' live bytes.
    fn account(&mut self, old: Option<Loc>, new: Option<Loc>) {
        Accounts::of(&mut self.by_segment, &mut self.emptied).account(old, new);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// How many times a segment was left without a live record (counted
    /// where the live bytes per segment are known).
    pub fn segments_emptied(&self) -> u64 {
        self.emptied
    }

    /// The sum of the lengths of the live keys' records.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    pub fn base(&self) -> Option<&Arc<DiskIndex>> {
        self.base.as_ref()
    }

    /// The changes since the file, removals included.
    pub fn changes(&self) -> &Index {
        &self.changes
    }

    /// The file's entry of `key`, read through a checked part of the file.
    #[cfg(test)]
    pub fn in_file(&self, key: &[u8]) -> Result<Option<Loc>> {
        match &self.base {
            Some(base) => base.get(key),
            None => Ok(None),
        }
    }

    /// The file's entry of each of `keys` (ascending, repeats allowed),
    /// handed to `found` in turn, read through checked parts of the file
    /// (`DiskIndex::get_sorted`). The writer looks up every key of a commit,
    /// in key order, before the commit is written and hands the answers to
    /// `insert_over` or `remove_over`: changing the index after cannot fail,
    /// and the file is searched once a key.
    pub fn in_file_sorted<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]> + Clone,
        mut found: impl FnMut(Option<Loc>),
    ) -> Result<()> {
        match &self.base {
            Some(base) => base.get_sorted(keys, found),
            None => {
                keys.for_each(|_| found(None));
                Ok(())
            }
        }
    }

    pub fn get(&self, probe: &Probe) -> Result<Option<Loc>> {
        match self.changes.get(probe) {
            Some(loc) => Ok(live(loc)),
            None => match &self.base {
                Some(base) => base.get(probe.bytes()),
                None => Ok(None),
            },
        }
    }

    pub fn contains_key(&self, probe: &Probe) -> Result<bool> {
        Ok(self.get(probe)?.is_some())
    }

    /// Sets the location of `key`, returning the one it replaces.
    #[cfg(test)]
    pub fn insert(&mut self, key: Key, loc: Loc) -> Option<Loc> {
        let in_file = self.in_file(&key).unwrap();
        self.insert_over(key, loc, in_file)
    }

    /// Sets the location of `key`, returning the one it replaces; `in_file` is
    /// the file's entry of the key (`in_file_ascending`).
    pub fn insert_over(&mut self, key: Key, loc: Loc, in_file: Option<Loc>) -> Option<Loc> {
        let mut old = None;
        self.insert_all_over([(key, loc, in_file, ())], |replaced, ()| old = replaced);
        old
    }

    /// `insert_over` for each entry of `entries` (a key, its new location and
    /// the file's entry of the key, with a `T` handed back), in order; `report`
    /// is told the location each replaced (the live one: the changes' entry,
    /// or the file's if the changes have none). Keys in ascending order, as a
    /// commit writes them, are placed a leaf at a time ([`Index::insert_all`]).
    pub fn insert_all_over<T>(
        &mut self,
        entries: impl IntoIterator<Item = (Key, Loc, Option<Loc>, T)>,
        mut report: impl FnMut(Option<Loc>, T),
    ) {
        let KeyIndex {
            changes,
            len,
            live_bytes,
            by_segment,
            emptied,
            ..
        } = self;
        let mut accounts = Accounts::of(by_segment, emptied);
        let entries = entries
            .into_iter()
            .map(|(key, loc, in_file, t)| (key, loc, (loc, in_file, t)));
        changes.insert_all(entries, |replaced, (loc, in_file, t)| {
            let old = match replaced {
                Some(old) => live(&old),
                None => in_file,
            };
            match old {
                Some(old) => *live_bytes = live_bytes.saturating_sub(u64::from(old.len)),
                None => *len += 1,
            }
            *live_bytes += u64::from(loc.len);
            accounts.account(old, Some(loc));
            report(old, t);
        });
    }

    /// Notes that a checkpoint is being written from the snapshot of commit
    /// `seq` of this index, or that a compaction is copying the records of
    /// one, until `rebased` puts the index over a new file.
    pub fn pin(&mut self, seq: u64) {
        self.pinned = Some(seq);
    }

    /// Removes `probe`'s key, deleted by commit `seq`.
    #[cfg(test)]
    pub fn remove(&mut self, probe: &Probe, seq: u64) -> Option<Removal> {
        let in_file = self.in_file(probe.bytes()).unwrap();
        self.remove_over(probe, seq, in_file)
    }

    /// Removes `probe`'s key, deleted by commit `seq`; `in_file` is the file's
    /// entry of the key (`in_file`).
    pub fn remove_over(
        &mut self,
        probe: &Probe,
        seq: u64,
        in_file: Option<Loc>,
    ) -> Option<Removal> {
        let changed = self.changes.get(probe).copied();
        if changed.is_some_and(|l| l.segment == REMOVED) {
            return None;
        }
        let old = changed.or(in_file)?;
        let marked = self.pinned.is_some() || in_file.is_some();
        if marked {
            self.changes.insert(Key::new(probe.bytes()), removal(seq));
        } else {
            self.changes.remove(probe);
        }
        self.len = self.len.saturating_sub(1);
        self.live_bytes = self.live_bytes.saturating_sub(u64::from(old.len));
        self.account(Some(old), None);
        Some(Removal { old, marked })
    }

    /// Counts the records a compaction copied at their copies' lengths, once
    /// the index is over the file that names the copies. A key changed since the
    /// snapshot the copies were made from is in the changes (the index was
    /// pinned), and its record is not the copy. Returns how many entries it
    /// looked up, the work the caller's lock is held for.
    pub fn relocated(&mut self, copies: &Relocations) -> usize {
        if self.changes.len().saturating_mul(LOOKUPS_WORTH) <= copies.len() {
            self.relocated_by_changes(copies)
        } else {
            self.relocated_by_copies(copies)
        }
    }

    /// The copies' sums, less the copies of the keys changed since.
    fn relocated_by_changes(&mut self, copies: &Relocations) -> usize {
        let (mut from, mut to) = (copies.from.clone(), copies.to.clone());
        for (key, _) in self.changes.iter() {
            if let Some((old, new)) = copies.of(&key[..]) {
                for (sums, loc) in [(&mut from, old), (&mut to, new)] {
                    if let Some(bytes) = sums.get_mut(&loc.segment) {
                        *bytes -= u64::from(loc.len);
                    }
                }
            }
        }
        self.live_bytes =
            self.live_bytes.saturating_sub(from.values().sum()) + to.values().sum::<u64>();
        Accounts::of(&mut self.by_segment, &mut self.emptied).moved(from, to);
        self.changes.len()
    }

    /// Each copy, unless its key changed since.
    fn relocated_by_copies(&mut self, copies: &Relocations) -> usize {
        for (key, old, new) in copies.moves() {
            if self.changes.len() == 0 || self.changes.get(&Probe::new(key)).is_none() {
                self.live_bytes =
                    self.live_bytes.saturating_sub(u64::from(old.len)) + u64::from(new.len);
                self.account(Some(*old), Some(*new));
            }
        }
        copies.len()
    }

    /// The same entries over `file`, a checkpoint of this index as of commit
    /// `seq`: changes up to `seq` are in the file and leave memory. Records
    /// keep their `seq` when a compaction copies them, so a copy is never
    /// newer than the snapshot it was copied from.
    pub fn rebased(&self, file: Arc<DiskIndex>, seq: u64) -> KeyIndex {
        self.over(file, self.changes_after(seq))
    }

    /// The changes made after commit `seq`: those a checkpoint as of `seq`
    /// leaves in memory. They come out of the walk in key order, and are
    /// placed a leaf at a time.
    pub fn changes_after(&self, seq: u64) -> Index {
        let mut changes = Index::new();
        changes.insert_all(
            self.changes
                .iter()
                .filter(|(_, l)| l.seq > seq)
                .map(|(key, loc)| (key.clone(), *loc, ())),
            |_, ()| {},
        );
        changes
    }

    /// This index's counts over `file`, with `changes` since it.
    pub fn over(&self, file: Arc<DiskIndex>, changes: Index) -> KeyIndex {
        KeyIndex {
            base: Some(file),
            changes,
            len: self.len,
            live_bytes: self.live_bytes,
            pinned: None,
            by_segment: self.by_segment.clone(),
            emptied: self.emptied,
        }
    }

    /// The entries with keys within `bounds`, in order from either end.
    pub fn range<'a>(&'a self, bounds: (Bound<&'a [u8]>, Bound<&'a [u8]>)) -> Range<'a> {
        Range {
            changes: self.changes.range(bounds),
            base: self.base.as_ref().map(|b| b.range(bounds)),
            only_base: self.changes.len() == 0,
            changes_peeked: [None, None],
            base_peeked: [None, None],
            hinted: [0, 0],
            wanted: None,
            base_hints: ArrayVec::new(),
        }
    }

    pub fn iter(&self) -> Range<'_> {
        self.range((Bound::Unbounded, Bound::Unbounded))
    }

    pub fn values(&self) -> impl Iterator<Item = Result<Loc>> + '_ {
        self.iter().map(|entry| entry.map(|(_, loc)| loc))
    }
}

/// The merged entries of a range, walked from either end.
pub struct Range<'a> {
    changes: btree::Range<'a>,
    base: Option<DiskRange<'a>>,
    /// No changes: the file's entries are the index's.
    only_base: bool,
    /// An entry taken from each end of each side but not yet merged.
    changes_peeked: [Option<(&'a Key, &'a Loc)>; 2],
    base_peeked: [Option<(Key, Loc)>; 2],
    /// Without a file: how many entries past each end's position were already
    /// handed out as hints, so each is hinted once.
    hinted: [usize; 2],
    /// How many more entries the caller means to take from the front, if it
    /// said (`will_take`): hints stop there.
    wanted: Option<usize>,
    /// With a file and changes: the records the file's walk hinted while its
    /// entries were peeked, handed out with the next entry taken.
    base_hints: ArrayVec<Loc, 8>,
}

/// How many entries ahead the changes in memory hint their records: enough to
/// keep several of a short range's misses in flight at once.
const HINTS_AHEAD: usize = 4;

const FRONT: usize = 0;
const BACK: usize = 1;

impl<'a> Range<'a> {
    fn peek_changes(&mut self, end: usize) -> Option<(&'a Key, &'a Loc)> {
        if self.changes_peeked[end].is_none() {
            self.changes_peeked[end] = if end == FRONT {
                self.changes.next()
            } else {
                self.changes.next_back()
            }
            .or_else(|| self.changes_peeked[1 - end].take());
        }
        self.changes_peeked[end]
    }

    fn peek_base(&mut self, end: usize) -> Result<Option<&(Key, Loc)>> {
        if self.base_peeked[end].is_none() {
            let Some(base) = self.base.as_mut() else {
                return Ok(None);
            };
            let hints = &mut self.base_hints;
            let sought = std::cell::Cell::new(None);
            let peeked = |key: &[u8], loc: Loc, ahead: &[Loc]| {
                for &hint in ahead {
                    // Only hints: one that does not fit is dropped.
                    let _ = hints.try_push(hint);
                }
                (Key::new(key), loc)
            };
            let step = if end == FRONT {
                base.next_hinted(|loc| sought.set(Some(loc)), peeked)
            } else {
                base.next_back_with(peeked)
            };
            if let Some(loc) = sought.get() {
                let _ = self.base_hints.try_push(loc);
            }
            self.base_peeked[end] = match step {
                Some(entry) => Some(entry?),
                None => self.base_peeked[1 - end].take(),
            };
        }
        Ok(self.base_peeked[end].as_ref())
    }

    /// Lends an entry of the merged walk to `f` with the records hinted since
    /// the last one (the file's and the next change's), then forgets them.
    #[inline]
    fn lend_merged<T>(
        &mut self,
        end: usize,
        key: &[u8],
        loc: Loc,
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> T {
        if let Some(&next) = self.changes.upcoming(end == BACK) {
            let _ = self.base_hints.try_push(next);
        }
        let out = f(key, loc, &self.base_hints);
        self.base_hints.clear();
        out
    }

    /// The next entry from `end`, lent to `f` with the locations of records
    /// to fetch ahead (hints for prefetching).
    #[inline]
    fn next_from<T>(
        &mut self,
        end: usize,
        sought: impl FnOnce(Loc),
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        if self.base.is_none() {
            // Without a file the changes are the index.
            loop {
                let (key, loc) = if end == FRONT {
                    self.changes.next()
                } else {
                    self.changes.next_back()
                }?;
                self.hinted[end] = self.hinted[end].saturating_sub(1);
                if let Some(loc) = live(loc) {
                    let mut ahead = HINTS_AHEAD;
                    if end == FRONT {
                        // The entries still announced after this one; past them
                        // the range hints as usual.
                        let left = self.wanted.map(|w| w - 1);
                        ahead = left.map_or(ahead, |w| w.min(ahead));
                        self.wanted = left.filter(|&w| w > 0);
                    }
                    return Some(Ok(f(key, loc, self.new_hints(end, ahead))));
                }
            }
        }
        if self.only_base {
            let base = self.base.as_mut()?;
            return if end == FRONT {
                base.next_hinted(sought, f)
            } else {
                base.next_back_with(f)
            };
        }
        loop {
            // The file first: its seek starts fetching what it found while the
            // changes' tree is searched.
            if let Err(e) = self.peek_base(end) {
                return Some(Err(e));
            }
            let change = self.peek_changes(end);
            let base = self.base_peeked[end].as_ref();
            let order = match (change, base) {
                (None, None) => return None,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((ck, _)), Some((bk, _))) => {
                    let o = ck.cmp(bk);
                    if end == FRONT {
                        o
                    } else {
                        o.reverse()
                    }
                }
            };
            if order != std::cmp::Ordering::Greater {
                let (key, loc) = self.changes_peeked[end].take().expect("peeked");
                if order == std::cmp::Ordering::Equal {
                    self.base_peeked[end] = None;
                }
                match live(loc) {
                    Some(loc) => return Some(Ok(self.lend_merged(end, key, loc, f))),
                    None => continue,
                }
            }
            let (key, loc) = self.base_peeked[end].take().expect("peeked");
            return Some(Ok(self.lend_merged(end, &key, loc, f)));
        }
    }

    /// The locations of the `ahead` entries after `end`'s position (as far as
    /// the leaf holds them) that were not hinted before.
    #[inline]
    fn new_hints(&mut self, end: usize, ahead: usize) -> &'a [Loc] {
        let back = end == BACK;
        let run = self.changes.upcoming_run(back, ahead);
        let done = self.hinted[end].min(run.len());
        self.hinted[end] = run.len();
        if back {
            &run[..run.len() - done]
        } else {
            &run[done..]
        }
    }

    /// Announces that the caller means to take `n` more entries from the
    /// front (see `FileRange::will_take`): no record past them is hinted
    /// until the caller takes more.
    pub fn will_take(&mut self, n: usize) {
        self.wanted = (n > 0).then_some(n);
        if let Some(base) = self.base.as_mut() {
            base.will_take(n);
        }
    }

    /// Takes the next entry from the front, lent to `f` with a prefetching
    /// hint; `sought` is told where the range's first entry is as soon as the
    /// index file's part of it has been sought (see `FileRange::next_hinted`).
    pub fn next_hinted<T>(
        &mut self,
        sought: impl FnOnce(Loc),
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        self.next_from(FRONT, sought, f)
    }

    /// Takes the next entry from the back, lent to `f` with a prefetching hint.
    pub fn next_back_with<T>(
        &mut self,
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        self.next_from(BACK, |_| {}, f)
    }
}

impl Iterator for Range<'_> {
    type Item = Result<(Key, Loc)>;

    fn next(&mut self) -> Option<Result<(Key, Loc)>> {
        self.next_from(FRONT, |_| {}, |k, l, _| (Key::new(k), l))
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Result<(Key, Loc)>> {
        self.next_from(BACK, |_| {}, |k, l, _| (Key::new(k), l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index_file::IndexFile;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn loc(seq: u64, i: u32) -> Loc {
        Loc {
            seq,
            // Written in turn, as the log writes them.
            segment: 1 + i / 4,
            offset: i * 8,
            len: 8 + i % 5,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8),
        Remove(u8),
        /// A checkpoint; with `true`, a compaction's, which also moves the
        /// records of every key whose byte is odd.
        Checkpoint(bool),
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u8>().prop_map(Op::Put),
            3 => any::<u8>().prop_map(Op::Remove),
            1 => any::<bool>().prop_map(Op::Checkpoint),
        ]
    }

    /// The index file a compaction as of commit `seq` writes: every key of
    /// `moves` at its copy.
    fn compacted<K: AsRef<[u8]>>(
        dir: &std::path::Path,
        seq: u64,
        moves: &[(K, Loc, Loc)],
    ) -> Arc<DiskIndex> {
        let path = dir.join("compacted");
        let entries = moves.iter().map(|(key, _, new)| Ok((key.as_ref(), *new)));
        crate::index_file::write(
            &path,
            crate::index_file::REPLAYABLE,
            seq,
            &BTreeSet::new(),
            moves.len(),
            entries,
        )
        .unwrap();
        Arc::new(DiskIndex::new(IndexFile::open(&path).unwrap()))
    }

    fn key(k: u8) -> Vec<u8> {
        // Keys of several lengths sharing prefixes.
        vec![b'k'; 1 + k as usize % 11]
            .into_iter()
            .chain([k])
            .collect()
    }

    proptest! {
        #[test]
        // Writes, removals, checkpoints and compactions in any order leave the
        // merged view equal to a sorted map given the same writes, from both ends.
        fn the_merged_view_is_the_map_of_the_writes(ops in prop::collection::vec(op_strategy(), 1..200)) {
            let dir = tempfile::tempdir().unwrap();
            let mut index = KeyIndex::new();
            let mut model: BTreeMap<Vec<u8>, Loc> = BTreeMap::new();
            let mut pending: Option<(u64, KeyIndex, bool)> = None;
            // The changes made since the last pin, for `written_after`.
            let mut written: Vec<(Key, Loc)> = Vec::new();
            let mut segments: BTreeSet<u32> = BTreeSet::new();
            for (i, op) in ops.iter().enumerate() {
                let seq = i as u64 + 1;
                let emptied = index.segments_emptied();
                match op {
                    Op::Put(k) => {
                        let l = loc(seq, i as u32);
                        written.push((Key::new(&key(*k)), l));
                        prop_assert_eq!(index.insert(Key::new(&key(*k)), l), model.insert(key(*k), l));
                    }
                    Op::Remove(k) => {
                        let removed = index.remove(&Probe::new(&key(*k)), seq);
                        if removed.is_some_and(|r| r.marked) {
                            written.push((Key::new(&key(*k)), removal(seq)));
                        }
                        prop_assert_eq!(removed.map(|r| r.old), model.remove(&key(*k)));
                    }
                    Op::Checkpoint(compact) => {
                        // A checkpoint (or compaction) of this commit's snapshot,
                        // made while the writes that follow, up to the next one,
                        // land.
                        if let Some((file_seq, snapshot, compacted)) = pending.take() {
                            let moves: Vec<(Vec<u8>, Loc, Loc)> = if compacted {
                                snapshot
                                    .iter()
                                    .map(|e| e.unwrap())
                                    .filter(|(k, _)| k[k.len() - 1] % 2 == 1)
                                    .map(|(k, old)| (k.to_vec(), old, Loc { segment: old.segment + 1, len: old.len + 1, ..old }))
                                    .collect()
                            } else {
                                Vec::new()
                            };
                            let mut moved = moves.iter().peekable();
                            let entries = snapshot.iter().map(|e| {
                                let (k, l) = e?;
                                Ok(match moved.next_if(|m| m.1 == l) {
                                    Some(m) => (k, m.2),
                                    None => (k, l),
                                })
                            });
                            let path = dir.path().join(format!("index{i}"));
                            crate::index_file::write(&path, crate::index_file::REPLAYABLE, file_seq, &BTreeSet::new(), snapshot.len(), entries).unwrap();
                            let file = Arc::new(DiskIndex::new(IndexFile::open(&path).unwrap()));
                            // Both ways of putting the index over the file.
                            index = if file_seq % 2 == 0 {
                                let mut kept = Index::new();
                                written_after(file_seq, &mut written, &mut kept);
                                index.over(file, kept)
                            } else {
                                index.rebased(file, file_seq)
                            };
                            let copies = Relocations::new(moves.iter().map(|(k, old, new)| (Key::new(k), *old, *new)).collect());
                            // Both ways of counting the copies.
                            if i % 2 == 0 {
                                index.relocated_by_changes(&copies);
                            } else {
                                index.relocated_by_copies(&copies);
                            }
                            for (k, old, new) in &moves {
                                if model.get(k) == Some(old) {
                                    model.insert(k.clone(), *new);
                                }
                            }
                        }
                        index.pin(seq);
                        written.clear();
                        pending = Some((seq, index.clone(), *compact));
                    }
                }
                prop_assert_eq!(index.len(), model.len());
                prop_assert_eq!(index.live_bytes(), model.values().map(|l| u64::from(l.len)).sum::<u64>());
                let mut by_segment: BTreeMap<u32, u64> = BTreeMap::new();
                for l in model.values() {
                    *by_segment.entry(l.segment).or_default() += u64::from(l.len);
                }
                prop_assert_eq!(index.live_by_segment(), Some(&by_segment));
                if !matches!(op, Op::Checkpoint(_)) {
                    // A write empties at most the segment of the record it replaces.
                    let gone = segments.iter().filter(|s| !by_segment.contains_key(s)).count();
                    prop_assert_eq!(index.segments_emptied() - emptied, gone as u64);
                }
                segments = by_segment.keys().copied().collect();
            }
            let forward: Vec<(Vec<u8>, Loc)> = index.iter().map(|e| { let (k, l) = e.unwrap(); (k.to_vec(), l) }).collect();
            let expected: Vec<(Vec<u8>, Loc)> = model.iter().map(|(k, l)| (k.clone(), *l)).collect();
            prop_assert_eq!(&forward, &expected);
            let mut backward: Vec<(Vec<u8>, Loc)> = index.iter().rev().map(|e| { let (k, l) = e.unwrap(); (k.to_vec(), l) }).collect();
            backward.reverse();
            prop_assert_eq!(&backward, &expected);
            for k in 0..=255u8 {
                prop_assert_eq!(index.get(&Probe::new(&key(k))).unwrap(), model.get(&key(k)).copied());
            }
            // Both ends of a bounded range at once.
            let (lo, hi) = (key(40), key(200));
            let mut range = index.range((Bound::Included(&lo[..]), Bound::Excluded(&hi[..])));
            let mut ends = Vec::new();
            let mut back = Vec::new();
            loop {
                match (range.next(), range.next_back()) {
                    (Some(a), Some(b)) => { ends.push(a.unwrap().0.to_vec()); back.push(b.unwrap().0.to_vec()); }
                    (Some(a), None) => { ends.push(a.unwrap().0.to_vec()); break; }
                    (None, _) => break,
                }
            }
            back.reverse();
            ends.extend(back);
            let expected: Vec<Vec<u8>> = model.range::<Vec<u8>, _>(&lo..&hi).map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(ends, expected);
        }
    }

    /// Takes `steps` entries from the front of `range`; returns each step's
    /// location and the hints it came with.
    fn walk(range: &mut Range, steps: usize) -> Vec<(Loc, Vec<Loc>)> {
        (0..steps)
            .map_while(|_| {
                let hints = std::cell::RefCell::new(Vec::new());
                let taken = range.next_hinted(
                    |l| hints.borrow_mut().push(l),
                    |_, l, ahead| {
                        hints.borrow_mut().extend_from_slice(ahead);
                        l
                    },
                )?;
                Some((taken.unwrap(), hints.into_inner()))
            })
            .collect()
    }

    #[test]
    // Without a file, each record is hinted once, a few entries before it is
    // taken, and none past what the caller announced until it takes more.
    fn changes_hint_the_next_records_once_and_not_past_what_will_be_taken() {
        let mut index = KeyIndex::new();
        for i in 0..200u32 {
            index.insert(Key::new(format!("key{i:03}").as_bytes()), loc(1, i));
        }
        let start = b"key010".to_vec();
        let mut range = index.range((Bound::Included(&start[..]), Bound::Unbounded));
        range.will_take(6);
        let steps = walk(&mut range, 6);
        let taken: Vec<Loc> = steps.iter().map(|s| s.0).collect();
        assert_eq!(taken, (10..16).map(|i| loc(1, i)).collect::<Vec<_>>());
        let hinted: Vec<Loc> = steps.iter().flat_map(|s| s.1.clone()).collect();
        assert_eq!(hinted, (11..16).map(|i| loc(1, i)).collect::<Vec<_>>());
        // The first step hints several at once (as many as its leaf holds).
        assert!(
            (2..=HINTS_AHEAD).contains(&steps[0].1.len()),
            "{:?}",
            steps[0].1
        );
        // Taking on: hints resume, still each once, up to the end.
        let rest = walk(&mut range, 1000);
        assert_eq!(rest.len(), 200 - 16);
        let hinted: Vec<Loc> = rest.iter().flat_map(|s| s.1.clone()).collect();
        assert_eq!(hinted, (17..200).map(|i| loc(1, i)).collect::<Vec<_>>());
    }

    #[test]
    // With a file and changes, the file's records are hinted as far ahead as
    // its walk decodes, not only the next one.
    fn a_merged_walk_hands_out_the_files_hints_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let in_file: Vec<(Vec<u8>, Loc)> = (0..100u32)
            .map(|i| (format!("key{:03}", 2 * i).into_bytes(), loc(1, 2 * i)))
            .collect();
        crate::index_file::write(
            &path,
            crate::index_file::REPLAYABLE,
            1,
            &BTreeSet::new(),
            in_file.len(),
            in_file.iter().cloned().map(Ok),
        )
        .unwrap();
        let mut index = KeyIndex::on(Arc::new(DiskIndex::new(IndexFile::open(&path).unwrap())));
        for i in (1..200u32).step_by(20) {
            index.insert(Key::new(format!("key{i:03}").as_bytes()), loc(2, i));
        }
        let steps = walk(&mut index.iter(), 1000);
        assert_eq!(steps.len(), 110);
        for (i, (taken, _)) in steps.iter().enumerate().skip(4) {
            if taken.seq != 1 {
                continue;
            }
            let at = steps
                .iter()
                .position(|s| s.1.contains(taken))
                .expect("hinted");
            assert!(
                at + 2 <= i,
                "{taken:?}, taken at step {i}, hinted at step {at}"
            );
        }
    }

    #[test]
    // A compaction pins the index, copies a key's record, and writes the file
    // of its snapshot with the key at the copy; a commit deleting the key
    // meanwhile must win.
    fn a_key_deleted_while_its_record_is_copied_stays_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let in_file = (b"in-file".to_vec(), loc(1, 1));
        crate::index_file::write(
            &path,
            crate::index_file::REPLAYABLE,
            1,
            &BTreeSet::new(),
            1,
            [Ok(in_file)].into_iter(),
        )
        .unwrap();
        let mut index = KeyIndex::on(Arc::new(DiskIndex::new(IndexFile::open(&path).unwrap())));
        index.insert(Key::new(b"changed"), loc(2, 2));
        index.pin(2);
        let snapshot = index.clone();
        for k in [&b"changed"[..], b"in-file"] {
            assert!(index.remove(&Probe::new(k), 3).unwrap().marked, "{k:?}");
        }
        let moves: Vec<(Vec<u8>, Loc, Loc)> = snapshot
            .iter()
            .map(|e| e.unwrap())
            .map(|(k, old)| (k.to_vec(), old, Loc { segment: 9, ..old }))
            .collect();
        index = index.rebased(compacted(dir.path(), 2, &moves), 2);
        index.relocated(&Relocations::new(
            moves
                .iter()
                .map(|(k, old, new)| (Key::new(k), *old, *new))
                .collect(),
        ));
        for k in [&b"changed"[..], b"in-file"] {
            assert_eq!(index.get(&Probe::new(k)).unwrap(), None, "{k:?}");
        }
        assert_eq!(index.iter().count(), 0);
        assert_eq!((index.len(), index.live_bytes()), (0, 0));
    }

    /// A compaction's copies are counted from their sums and the keys changed
    /// while they were made, each looked up among them: the writer's lock is
    /// not held for a walk of every copy. Counted one by one, the same.
    #[test]
    fn copies_are_counted_by_the_keys_changed_since_not_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let k = |i: u32| format!("key{i:05}").into_bytes();
        let mut index = KeyIndex::new();
        for i in 0..4_000 {
            index.insert(Key::new(&k(i)), loc(1, i));
        }
        index.pin(1);
        let snapshot = index.clone();
        // Made while the copies are: an overwrite, a removal, a new key.
        index.insert(
            Key::new(&k(7)),
            Loc {
                seq: 2,
                segment: 2_000,
                offset: 0,
                len: 40,
            },
        );
        index.remove(&Probe::new(&k(8)), 3);
        index.insert(
            Key::new(b"new"),
            Loc {
                seq: 4,
                segment: 2_000,
                offset: 40,
                len: 30,
            },
        );
        let moves: Vec<(Key, Loc, Loc)> = snapshot
            .iter()
            .map(|e| e.unwrap())
            .enumerate()
            .map(|(i, (key, old))| {
                let new = Loc {
                    segment: 1_500 + i as u32 / 1_000,
                    offset: i as u32 * 20,
                    ..old
                };
                (Key::new(&key), old, new)
            })
            .collect();
        let file = compacted(dir.path(), 1, &moves);
        let copies = Relocations::new(moves);
        let mut by_changes = index.rebased(file.clone(), 1);
        let mut by_copies = index.rebased(file, 1);
        let emptied = by_changes.segments_emptied();
        assert_eq!(by_changes.relocated(&copies), 3);
        assert_eq!(by_copies.relocated_by_copies(&copies), 4_000);
        let mut want: BTreeMap<u32, u64> = BTreeMap::new();
        for (i, (key, _, new)) in copies.moves().iter().enumerate() {
            if ![k(7), k(8)].contains(&key.to_vec()) {
                *want.entry(1_500 + i as u32 / 1_000).or_default() += u64::from(new.len);
            }
        }
        want.insert(2_000, 70);
        let live: u64 = want.values().sum();
        for counted in [&by_changes, &by_copies] {
            assert_eq!(counted.live_by_segment(), Some(&want));
            assert_eq!(counted.live_bytes(), live);
            // Every segment the copies came from is left empty.
            assert_eq!(counted.segments_emptied() - emptied, 1_000);
        }
    }
}
