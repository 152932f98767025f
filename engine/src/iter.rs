//! Ordered iteration over a snapshot.
//!
//! An iterator holds its `Version`, so later writes never disturb it, and walks
//! the index with one cursor from either end: memory stays bounded however large
//! the scan, and `.rev()` walks backwards. A transaction's iterator
//! also carries the transaction's own writes (the overlay), merged in key order.

use std::collections::VecDeque;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use crate::error::Result;
use crate::index::{Key, Loc};
use crate::segment::Segment;
use crate::shared::Shared;
use crate::version::Version;

/// A range of keys: `[start, end)` by default, any `Bound` on either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    pub fn all() -> KeyRange {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Keys `k` with `start <= k < end`.
    pub fn between(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            start: Bound::Included(start.into()),
            end: Bound::Excluded(end.into()),
        }
    }

    pub fn from(start: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            start: Bound::Included(start.into()),
            end: Bound::Unbounded,
        }
    }

    pub fn until(end: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Excluded(end.into()),
        }
    }

    /// Keys that start with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        let mut end = prefix.to_vec();
        // The first key after every key with this prefix: drop trailing 0xff bytes
        // and increment the last remaining one; none left means "no upper bound".
        while end.last() == Some(&0xff) {
            end.pop();
        }
        let end = match end.last_mut() {
            Some(b) => {
                *b += 1;
                Bound::Excluded(end)
            }
            None => Bound::Unbounded,
        };
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    pub(crate) fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_ref(&self.start), as_ref(&self.end))
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(&v[..]),
        Bound::Excluded(v) => Bound::Excluded(&v[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A transaction's own writes in key order: `None` is a delete.
pub(crate) type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;
type Overlay = VecDeque<(Vec<u8>, Option<Vec<u8>>)>;

type Cursor<'a> = crate::key_index::Range<'a>;

/// What a walk's cursor borrows: the snapshot and the range's bounds.
struct Scope {
    version: Arc<Version>,
    range: KeyRange,
}

self_cell::self_cell!(
    /// A snapshot and one cursor over a range of its index, walked from both
    /// ends. The cursor borrows the index the snapshot owns, and the range's
    /// bounds; keeping them together lets an iterator seek once, rather than
    /// once per page of keys.
    struct Walk {
        owner: Scope,
        #[covariant]
        dependent: Cursor,
    }
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Front,
    Back,
}

impl End {
    fn index(self) -> usize {
        self as usize
    }
    fn other(self) -> End {
        match self {
            End::Front => End::Back,
            End::Back => End::Front,
        }
    }
    /// Whether `a` comes before `b` walking from this end.
    fn before(self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        match self {
            End::Front => a.cmp(b),
            End::Back => b.cmp(a),
        }
    }
}

/// Iterator over `(key, value)` pairs in key order; reverse with `.rev()`.
/// Items are `Result`s: a value that fails its checksum yields CorruptedData.
pub struct Iter {
    shared: Arc<Shared>,
    walk: Walk,
    /// An entry taken from the cursor at each end but not yet yielded: merging a
    /// transaction's writes needs to look at the next key before taking it.
    peeked: [Option<(Key, Loc)>; 2],
    overlay: Overlay,
    segment: LastSegment,
}

/// The segment of the record read last. A scan's consecutive records nearly
/// always lie in one segment, so the version's table of them is searched only
/// when that changes. Values are read from the segment, past the value cache: a
/// scan reads each value once, so looking it up would cost more than checking
/// its checksum, and admitting it would push out values that are read again.
#[derive(Default)]
struct LastSegment(Option<Arc<Segment>>);

impl LastSegment {
    #[inline]
    fn get(&mut self, version: &Version, id: u32) -> Result<&Segment> {
        if self.0.as_ref().is_none_or(|last| last.id != id) {
            self.0 = Some(Arc::clone(version.segment(id)?));
        }
        Ok(self.0.as_deref().expect("set just above"))
    }
}

impl Iter {
    pub(crate) fn new(
        shared: Arc<Shared>,
        version: Arc<Version>,
        range: KeyRange,
        overlay: Option<Writes>,
    ) -> Iter {
        let walk = Walk::new(Scope { version, range }, |scope| {
            scope.version.index.range(scope.range.bounds())
        });
        Iter {
            shared,
            walk,
            peeked: [None, None],
            overlay: overlay.unwrap_or_default().into(),
            segment: LastSegment::default(),
        }
    }

    /// The next index entry from `end`, from the cursor or, once the cursor's
    /// two ends have met, the entry peeked at the other end.
    fn take_base(&mut self, end: End) -> Result<Option<(Key, Loc)>> {
        if let Some(entry) = self.peeked[end.index()].take() {
            return Ok(Some(entry));
        }
        let next = self.walk.with_dependent_mut(|_, cursor| match end {
            End::Front => cursor.next(),
            End::Back => cursor.next_back(),
        });
        match next {
            Some(entry) => entry.map(Some),
            None => Ok(self.peeked[end.other().index()].take()),
        }
    }

    fn overlay_at(&self, end: End) -> Option<&(Vec<u8>, Option<Vec<u8>>)> {
        match end {
            End::Front => self.overlay.front(),
            End::Back => self.overlay.back(),
        }
    }

    fn take_overlay(&mut self, end: End) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        match end {
            End::Front => self.overlay.pop_front(),
            End::Back => self.overlay.pop_back(),
        }
    }

    fn resolve<T>(&mut self, key: &[u8], loc: Loc, f: impl FnOnce(&[u8], &[u8]) -> T) -> Result<T> {
        self.shared.check_open()?;
        let segment = self
            .segment
            .get(&self.walk.borrow_owner().version, loc.segment)?;
        segment.read_value(loc.offset, loc.len, key, |value| f(key, value))
    }

    /// Steps from `end` and hands the key and value to `f`, borrowed from the
    /// index and the segment map: nothing is copied unless `f` copies it.
    #[inline]
    fn next_from<T>(&mut self, end: End, f: impl FnOnce(&[u8], &[u8]) -> T) -> Option<Result<T>> {
        loop {
            if self.overlay.is_empty() && self.peeked[end.index()].is_none() {
                // Nothing to merge: read straight through the cursor, without
                // copying the key out of the index first.
                let (shared, last) = (&self.shared, &mut self.segment);
                let mut f = Some(f);
                let item = self.walk.with_dependent_mut(|scope, cursor| {
                    step(shared, &scope.version, cursor, last, end, &mut f)
                });
                return match (item, f) {
                    (Some(item), _) => Some(item),
                    (None, Some(f)) => {
                        let (key, loc) = self.peeked[end.other().index()].take()?;
                        Some(self.resolve(&key, loc, f))
                    }
                    (None, None) => None,
                };
            }
            let base = match self.take_base(end) {
                Ok(base) => base,
                Err(e) => return Some(Err(e)),
            };
            let Some(over_key) = self.overlay_at(end).map(|(k, _)| k) else {
                let (key, loc) = base?;
                return Some(self.resolve(&key, loc, f));
            };
            if let Some((key, loc)) = &base {
                match end.before(key, over_key) {
                    std::cmp::Ordering::Less => return Some(self.resolve(key, *loc, f)),
                    // The transaction's own write of this key replaces it.
                    std::cmp::Ordering::Equal => {}
                    std::cmp::Ordering::Greater => self.peeked[end.index()] = base,
                }
            }
            match self.take_overlay(end) {
                Some((k, Some(v))) => return Some(Ok(f(&k, &v))),
                _ => continue, // the transaction deleted this key
            }
        }
    }

    /// Like `next`, but lends the key and value to `f` instead of copying them
    /// into vectors: the cheapest way to read a scan whose items are not kept.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::create(dir.path(), Default::default()).unwrap();
    /// db.put(b"a", b"1").unwrap();
    /// db.put(b"b", b"22").unwrap();
    /// let mut it = db.iter().unwrap();
    /// let mut total = 0;
    /// while let Some(len) = it.next_with(|_key, value| value.len()) {
    ///     total += len.unwrap();
    /// }
    /// assert_eq!(total, 3);
    /// ```
    pub fn next_with<T>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> T) -> Option<Result<T>> {
        self.next_from(End::Front, f)
    }

    /// Like `next_back`, lending the key and value to `f` (see [`Iter::next_with`]).
    pub fn next_back_with<T>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> T) -> Option<Result<T>> {
        self.next_from(End::Back, f)
    }

    /// Tells the iterator that about `n` more items will be taken from the
    /// front, so that it reads and fetches nothing beyond them: a short range
    /// whose length the caller knows (a page, the first ten) then costs no
    /// more than its entries. Taking more is allowed, and reads on as usual.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lightning_db::Database::create(dir.path(), Default::default()).unwrap();
    /// # for i in 0..100u8 { db.put(&[i], b"v").unwrap(); }
    /// let mut range = db.range(lightning_db::KeyRange::from(&[40u8][..])).unwrap();
    /// range.will_take(10);
    /// let first_ten: Vec<_> = range.by_ref().take(10).collect::<Result<_, _>>().unwrap();
    /// assert_eq!(first_ten[9].0, vec![49u8]);
    /// assert_eq!(range.next().unwrap().unwrap().0, vec![50u8]); // and on
    /// ```
    pub fn will_take(&mut self, n: usize) {
        self.walk
            .with_dependent_mut(|_, cursor| cursor.will_take(n));
    }

    /// Sequence number of the snapshot this iterator reads.
    pub fn snapshot_seq(&self) -> u64 {
        self.walk.borrow_owner().version.seq
    }
}

/// Takes the next entry of `cursor` from `end` and hands its key and value to
/// `f` (taken from its option), borrowed from the index and the segment map;
/// None once the cursor is done (`f` then stays).
#[inline(always)]
fn step<T>(
    shared: &Shared,
    version: &Version,
    cursor: &mut Cursor<'_>,
    last: &mut LastSegment,
    end: End,
    f: &mut Option<impl FnOnce(&[u8], &[u8]) -> T>,
) -> Option<Result<T>> {
    // The first record of a range is fetched while the index entries after it
    // are decoded.
    let sought = |loc: Loc| {
        if let Some(segment) = version.segments.get(&loc.segment) {
            segment.prefetch(loc.offset, loc.len);
        }
    };
    let taken = |key: &[u8], loc: Loc, upcoming: &[Loc]| {
        let f = f.take()?;
        let read = || {
            shared.check_open()?;
            let segment = last.get(version, loc.segment)?;
            // Start fetching the next records while this one is checked.
            for next in upcoming {
                if next.segment == segment.id {
                    segment.prefetch(next.offset, next.len);
                } else if let Some(other) = version.segments.get(&next.segment) {
                    other.prefetch(next.offset, next.len);
                }
            }
            segment.read_value(loc.offset, loc.len, key, |value| f(key, value))
        };
        Some(read())
    };
    let item = match end {
        End::Front => cursor.next_hinted(sought, taken),
        End::Back => cursor.next_back_with(taken),
    };
    match item? {
        Ok(item) => item,
        Err(e) => Some(Err(e)),
    }
}

/// Lends the entries of `bounds` in `version` to `f`, from the front or the
/// back, until `f` breaks, `limit` entries have been lent or the range ends;
/// returns how many were lent (the one `f` broke at included). The walk lives
/// on the stack and borrows the bounds: a short read allocates nothing
/// ([`crate::Database::range_with`]).
pub(crate) fn walk(
    shared: &Shared,
    version: &Version,
    bounds: (Bound<&[u8]>, Bound<&[u8]>),
    reverse: bool,
    limit: usize,
    mut f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>,
) -> Result<usize> {
    let mut cursor = version.index.range(bounds);
    if !reverse && limit < usize::MAX {
        cursor.will_take(limit);
    }
    let end = if reverse { End::Back } else { End::Front };
    let mut last = LastSegment::default();
    let mut lent = 0;
    while lent < limit {
        let mut lend = Some(|key: &[u8], value: &[u8]| f(key, value));
        match step(shared, version, &mut cursor, &mut last, end, &mut lend) {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(flow)) => {
                lent += 1;
                if flow.is_break() {
                    break;
                }
            }
        }
    }
    Ok(lent)
}

impl Iterator for Iter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_from(End::Front, |k, v| (k.to_vec(), v.to_vec()))
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.next_from(End::Back, |k, v| (k.to_vec(), v.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(KeyRange::prefix(b"ab").end, Bound::Excluded(b"ac".to_vec()));
        assert_eq!(
            KeyRange::prefix(b"a\xff\xff").end,
            Bound::Excluded(b"b".to_vec())
        );
        assert_eq!(KeyRange::prefix(b"\xff").end, Bound::Unbounded);
        assert_eq!(KeyRange::prefix(b"").end, Bound::Unbounded);
    }
}
