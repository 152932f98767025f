//! The value cache: recently read records of point reads, by their place on disk.
//!
//! Invariants:
//! - An entry is keyed by (segment, offset) and holds the record's key and value
//!   as they are on disk. Records are never rewritten in place and a segment id
//!   is never reused, so an entry can only go stale by being no longer pointed
//!   at, never by holding other bytes than the disk does.
//! - A hit is checked against the key asked for (a hash index slot may point at
//!   another key's record), like a read from the segment.
//! - Only point reads use it; scans read past it (see `iter`).
//! - Only records of [`CACHED_FROM`] bytes and more go through it: a smaller
//!   record in the page cache is read from the map and its checksum verified
//!   in less time than a lookup here takes (the table probe, the entry and the
//!   shared bytes behind it touch cache lines the record read does not).
//!   `bench/results/value-cache-2026-12-06.md` has the measurements.

use std::sync::Arc;

/// The encoded length (header, key and value) from which a record is read
/// through the cache; hits and misses count only these reads.
pub(crate) const CACHED_FROM: usize = 1024;

/// A cached record: its key length and its key and value bytes, as on disk.
pub(crate) type Cached = (u32, Arc<[u8]>);

#[derive(Clone)]
struct ValueWeight;
impl quick_cache::Weighter<(u32, u32), Cached> for ValueWeight {
    fn weight(&self, _: &(u32, u32), v: &Cached) -> u64 {
        v.1.len() as u64 + 64
    }
}

/// A value read from disk enters the cache on one miss in this many, so uniform
/// reads and scans of more data than the cache holds do not pay to churn it,
/// while a value read often gets in after a few reads.
const CACHE_ADMIT_ONE_IN: u32 = 8;

fn admit_to_cache() -> bool {
    thread_local!(static MISSES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    MISSES.with(|m| {
        let n = m.get().wrapping_add(1);
        m.set(n);
        n % CACHE_ADMIT_ONE_IN == 0
    })
}

pub(crate) struct ValueCache {
    cache: quick_cache::sync::Cache<(u32, u32), Cached, ValueWeight>,
    /// Records larger than this (a sixteenth of the cache) are never cached.
    largest: usize,
}

impl ValueCache {
    /// A cache of `size` bytes; None for 0 (no cache).
    pub(crate) fn new(size: usize) -> Option<ValueCache> {
        (size > 0).then(|| {
            let estimated_items = (size / 256).max(16);
            ValueCache {
                cache: quick_cache::sync::Cache::with_weighter(
                    estimated_items,
                    size as u64,
                    ValueWeight,
                ),
                largest: size / 16,
            }
        })
    }

    #[inline]
    pub(crate) fn get(&self, segment: u32, offset: u32) -> Option<Cached> {
        self.cache.get(&(segment, offset))
    }

    /// Offers the record at (`segment`, `offset`), just read from disk after a
    /// miss; it is admitted if small enough, one miss in [`CACHE_ADMIT_ONE_IN`].
    #[inline]
    pub(crate) fn offer(&self, segment: u32, offset: u32, key: &[u8], value: &[u8]) {
        if key.len() + value.len() <= self.largest && admit_to_cache() {
            let bytes: Arc<[u8]> = [key, value].concat().into();
            self.cache
                .insert((segment, offset), (key.len() as u32, bytes));
        }
    }
}
