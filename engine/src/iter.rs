//! Ordered iteration over a snapshot.
//!
//! An iterator holds its `Version`, so later writes never disturb it, and fetches
//! keys from the index a page at a time from either end: memory stays bounded
//! however large the scan, and `.rev()` walks backwards. A transaction's iterator
//! also carries the transaction's own writes (the overlay), merged in key order.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use crate::db::Shared;
use crate::error::Result;
use crate::index::{probe_bounds, Key, Loc, Version};

/// Keys fetched per page: the first page is small, so a short range scan does not
/// pay for a long one; later pages double up to the maximum.
const FIRST_PAGE: usize = 8;
const MAX_PAGE: usize = 512;

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

    fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e) | Bound::Included(e)) => {
                s >= e
            }
            _ => false,
        }
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

/// Iterator over `(key, value)` pairs in key order; reverse with `.rev()`.
/// Items are `Result`s: a value that fails its checksum yields CorruptedData.
pub struct Iter {
    shared: Arc<Shared>,
    version: Arc<Version>,
    /// Keys not yet fetched into either buffer.
    remaining: KeyRange,
    front: VecDeque<(Key, Loc)>,
    back: VecDeque<(Key, Loc)>,
    front_page: usize,
    back_page: usize,
    overlay: Overlay,
}

enum Next {
    Base(Key, Loc),
    Overlay(Vec<u8>, Option<Vec<u8>>),
}

impl Iter {
    pub(crate) fn new(
        shared: Arc<Shared>,
        version: Arc<Version>,
        range: KeyRange,
        overlay: Option<Writes>,
    ) -> Iter {
        Iter {
            shared,
            version,
            remaining: range,
            front: VecDeque::new(),
            back: VecDeque::new(),
            front_page: FIRST_PAGE,
            back_page: FIRST_PAGE,
            overlay: overlay.unwrap_or_default().into(),
        }
    }

    fn fill_front(&mut self) {
        if !self.front.is_empty() || self.remaining.is_empty() {
            return;
        }
        let page: Vec<(Key, Loc)> = self
            .version
            .index
            .range(probe_bounds(self.remaining.bounds()))
            .take(self.front_page)
            .map(|(k, l)| (k.clone(), *l))
            .collect();
        let full = page.len() == self.front_page;
        self.front_page = (self.front_page * 2).min(MAX_PAGE);
        match page.last() {
            Some((k, _)) if full => self.remaining.start = Bound::Excluded(k.to_vec()),
            _ => {
                self.remaining = KeyRange {
                    start: Bound::Excluded(vec![1]),
                    end: Bound::Excluded(vec![0]),
                }
            }
        }
        self.front.extend(page);
    }

    fn fill_back(&mut self) {
        if !self.back.is_empty() || self.remaining.is_empty() {
            return;
        }
        let page: Vec<(Key, Loc)> = self
            .version
            .index
            .range(probe_bounds(self.remaining.bounds()))
            .rev()
            .take(self.back_page)
            .map(|(k, l)| (k.clone(), *l))
            .collect();
        let full = page.len() == self.back_page;
        self.back_page = (self.back_page * 2).min(MAX_PAGE);
        match page.last() {
            Some((k, _)) if full => self.remaining.end = Bound::Excluded(k.to_vec()),
            _ => {
                self.remaining = KeyRange {
                    start: Bound::Excluded(vec![1]),
                    end: Bound::Excluded(vec![0]),
                }
            }
        }
        self.back.extend(page);
    }

    fn peek_front(&mut self) -> Option<&(Key, Loc)> {
        self.fill_front();
        self.front.front().or_else(|| self.back.back())
    }

    fn pop_front_base(&mut self) -> Option<(Key, Loc)> {
        self.front.pop_front().or_else(|| self.back.pop_back())
    }

    fn peek_back(&mut self) -> Option<&(Key, Loc)> {
        self.fill_back();
        self.back.front().or_else(|| self.front.back())
    }

    fn pop_back_base(&mut self) -> Option<(Key, Loc)> {
        self.back.pop_front().or_else(|| self.front.pop_back())
    }

    fn next_front(&mut self) -> Option<Next> {
        let base_key = self.peek_front().map(|(k, _)| k.clone());
        let over_key = self.overlay.front().map(|(k, _)| k.clone());
        match (base_key, over_key) {
            (None, None) => None,
            (Some(_), None) => self.pop_front_base().map(|(k, l)| Next::Base(k, l)),
            (b, Some(o)) => {
                if let Some(b) = &b {
                    match b[..].cmp(&o[..]) {
                        std::cmp::Ordering::Less => {
                            return self.pop_front_base().map(|(k, l)| Next::Base(k, l))
                        }
                        std::cmp::Ordering::Equal => {
                            self.pop_front_base();
                        }
                        std::cmp::Ordering::Greater => {}
                    }
                }
                self.overlay.pop_front().map(|(k, v)| Next::Overlay(k, v))
            }
        }
    }

    fn next_back_item(&mut self) -> Option<Next> {
        let base_key = self.peek_back().map(|(k, _)| k.clone());
        let over_key = self.overlay.back().map(|(k, _)| k.clone());
        match (base_key, over_key) {
            (None, None) => None,
            (Some(_), None) => self.pop_back_base().map(|(k, l)| Next::Base(k, l)),
            (b, Some(o)) => {
                if let Some(b) = &b {
                    match b[..].cmp(&o[..]) {
                        std::cmp::Ordering::Greater => {
                            return self.pop_back_base().map(|(k, l)| Next::Base(k, l))
                        }
                        std::cmp::Ordering::Equal => {
                            self.pop_back_base();
                        }
                        std::cmp::Ordering::Less => {}
                    }
                }
                self.overlay.pop_back().map(|(k, v)| Next::Overlay(k, v))
            }
        }
    }

    fn resolve(&self, next: Next) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        match next {
            Next::Base(k, loc) => Some(
                self.shared
                    .check_open()
                    .and_then(|_| self.shared.read_value(&self.version, &k, loc))
                    .map(|v| (k.to_vec(), v)),
            ),
            Next::Overlay(k, Some(v)) => Some(Ok((k, v))),
            Next::Overlay(_, None) => None,
        }
    }

    /// Sequence number of the snapshot this iterator reads.
    pub fn snapshot_seq(&self) -> u64 {
        self.version.seq
    }
}

impl Iterator for Iter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let n = self.next_front()?;
            if let Some(item) = self.resolve(n) {
                return Some(item);
            }
        }
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            let n = self.next_back_item()?;
            if let Some(item) = self.resolve(n) {
                return Some(item);
            }
        }
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
