//! The point-lookup index: a hash of each key changed since the index file was
//! written, mapped to where its newest value lives (or to its removal), beside
//! the ordered index.
//!
//! A get in the ordered index compares its key with about twenty others and takes
//! a cache miss at most of them; here it takes one probe. The map stores no key,
//! only a 64-bit hash, which keeps it at about 30 bytes a key: the key is checked
//! against the record on disk, which carries it anyway.
//!
//! Invariants (kept by the writer, under the writer lock):
//! - Every key changed since the index file (every live key, without one) has
//!   its hash in the map; a hash not in the map is the file's to answer. A slot
//!   `At(loc)` means exactly one changed key has this hash and `loc` is its
//!   newest record; a record whose key differs from the one asked for means
//!   "absent" without a file, and "ask the ordered index" with one (a key of the
//!   file may share the hash). `Removed` means the one changed key with this
//!   hash was deleted.
//! - `Shared` means two or more keys have had this hash; readers then ask the
//!   ordered index. A slot never returns from `Shared` to `At`.
//! - The map may run ahead of the published version (it is updated first), so a
//!   reader that finds a segment it does not know yet loads the version again.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use parking_lot::RwLock;

use crate::btree::Index;
use crate::index::{Loc, REMOVED};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    At { segment: u32, offset: u32, len: u32 },
    Removed,
    Shared,
}

impl Slot {
    fn at(loc: Loc) -> Slot {
        Slot::At {
            segment: loc.segment,
            offset: loc.offset,
            len: loc.len,
        }
    }
}

/// The keys of the map are already hashes: pass them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, Slot, BuildHasherDefault<PassThrough>>;

/// Shards, so that readers of different keys rarely touch the same lock, and so
/// that building the index fills one small table at a time.
const SHARDS: usize = 64;

pub struct HashIndex {
    hasher: foldhash::fast::RandomState,
    shards: Box<[RwLock<Shard>]>,
}

fn shard_of(hash: u64) -> usize {
    // The top bits: the tables themselves use the low bits and the next seven.
    (hash >> 58) as usize % SHARDS
}

impl HashIndex {
    /// The map of `changes` (the changes of a `KeyIndex`, removals included).
    pub fn build(changes: &Index) -> HashIndex {
        HashIndex::build_with(changes, foldhash::fast::RandomState::default())
    }

    /// The map of `changes` with this map's hash function, so that the hashes
    /// of changes to this one apply to it too.
    pub fn build_alike(&self, changes: &Index) -> HashIndex {
        HashIndex::build_with(changes, self.hasher.clone())
    }

    fn build_with(changes: &Index, hasher: foldhash::fast::RandomState) -> HashIndex {
        let index = changes;
        // Bucket first, then fill each shard alone: each table is small enough to
        // stay in cache while it is filled.
        let mut buckets: Vec<Vec<(u64, Loc)>> = (0..SHARDS)
            .map(|_| Vec::with_capacity(index.len() / SHARDS + 16))
            .collect();
        for (key, loc) in index.iter() {
            let h = hasher.hash_one(&key[..]);
            buckets[shard_of(h)].push((h, *loc));
        }
        let shards = buckets
            .into_iter()
            .map(|bucket| {
                let mut shard = Shard::with_capacity_and_hasher(bucket.len(), Default::default());
                for (h, loc) in bucket {
                    if loc.segment == REMOVED {
                        remove_in(&mut shard, h, None);
                    } else {
                        put_in(&mut shard, h, None, loc);
                    }
                }
                RwLock::new(shard)
            })
            .collect();
        HashIndex { hasher, shards }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn lookup(&self, hash: u64) -> Option<Slot> {
        self.shards[shard_of(hash)].read().get(&hash).copied()
    }

    /// Makes room for `additional` more keys, spread evenly over the shards.
    pub fn reserve(&self, additional: usize) {
        if additional < 4 * SHARDS {
            return;
        }
        for shard in self.shards.iter() {
            shard
                .write()
                .reserve(additional / SHARDS + additional / (4 * SHARDS));
        }
    }

    /// Applies many changes, shard by shard: each shard is locked once, and its
    /// table (a few hundred KiB at a million keys) stays in cache while its
    /// changes land, where applying them in key order would miss the cache on
    /// nearly every one. Changes to the same hash keep their order.
    pub fn apply(&self, changes: &[(u64, Change)]) {
        if changes.len() < 4 * SHARDS {
            for &(hash, change) in changes {
                apply_in(&mut self.shards[shard_of(hash)].write(), hash, change);
            }
            return;
        }
        // A counting sort by shard: stable, and linear in the number of changes.
        let mut starts = [0usize; SHARDS + 1];
        for &(hash, _) in changes {
            starts[shard_of(hash) + 1] += 1;
        }
        for s in 0..SHARDS {
            starts[s + 1] += starts[s];
        }
        let mut order = vec![0u32; changes.len()];
        let mut next = starts;
        for (i, &(hash, _)) in changes.iter().enumerate() {
            let s = shard_of(hash);
            order[next[s]] = i as u32;
            next[s] += 1;
        }
        for s in 0..SHARDS {
            let run = &order[starts[s]..starts[s + 1]];
            if run.is_empty() {
                continue;
            }
            let mut shard = self.shards[s].write();
            for &i in run {
                let (hash, change) = changes[i as usize];
                apply_in(&mut shard, hash, change);
            }
        }
    }
}

/// A change to the location of the key with a given hash.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// The key, previously at `old` (from the ordered index), is now at `new`.
    Put { old: Option<Loc>, new: Loc },
    /// The key at `old` was deleted. With `hide`, its slot says so (an index
    /// file below holds the key, or will); without, the slot goes.
    Delete { old: Loc, hide: bool },
}

fn apply_in(shard: &mut Shard, hash: u64, change: Change) {
    match change {
        Change::Put { old, new } => put_in(shard, hash, old, new),
        Change::Delete { old, hide: false } => {
            if shard.get(&hash) == Some(&Slot::at(old)) {
                shard.remove(&hash);
            }
        }
        Change::Delete { old, hide: true } => remove_in(shard, hash, Some(old)),
    }
}

fn put_in(shard: &mut Shard, hash: u64, old: Option<Loc>, new: Loc) {
    let slot = shard.entry(hash).or_insert(Slot::at(new));
    match *slot {
        Slot::At { .. } if *slot == Slot::at(new) => {}
        Slot::At { .. } if old.is_some_and(|o| *slot == Slot::at(o)) => *slot = Slot::at(new),
        Slot::At { .. } => *slot = Slot::Shared,
        // The removed key written again, or another key with its hash: either
        // way the one changed key with this hash is now at `new`.
        Slot::Removed => *slot = Slot::at(new),
        Slot::Shared => {}
    }
}

/// The key at `old` (`None`: a removal being rebuilt) was deleted.
fn remove_in(shard: &mut Shard, hash: u64, old: Option<Loc>) {
    let slot = shard.entry(hash).or_insert(Slot::Removed);
    match (*slot, old) {
        (Slot::Removed | Slot::Shared, _) => {}
        (Slot::At { .. }, Some(old)) if *slot == Slot::at(old) => *slot = Slot::Removed,
        (Slot::At { .. }, _) => *slot = Slot::Shared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(offset: u32) -> Loc {
        Loc {
            seq: 1,
            segment: 1,
            offset,
            len: 10,
        }
    }

    #[test]
    fn collisions_fall_back_to_shared_and_stay_there() {
        let h = HashIndex::build(&Index::new());
        let put = |hash, old, new| h.apply(&[(hash, Change::Put { old, new })]);
        let delete = |hash, old, hide| h.apply(&[(hash, Change::Delete { old, hide })]);
        put(7, None, loc(0));
        assert_eq!(h.lookup(7), Some(Slot::at(loc(0))));
        put(7, Some(loc(0)), loc(10)); // the same key overwritten
        assert_eq!(h.lookup(7), Some(Slot::at(loc(10))));
        put(7, None, loc(20)); // another key with the same hash
        assert_eq!(h.lookup(7), Some(Slot::Shared));
        delete(7, loc(20), false);
        assert_eq!(h.lookup(7), Some(Slot::Shared));
        put(8, None, loc(30));
        delete(8, loc(30), false);
        assert_eq!(h.lookup(8), None);
        put(8, None, loc(30));
        delete(8, loc(30), true);
        assert_eq!(h.lookup(8), Some(Slot::Removed));
        put(8, None, loc(40)); // written again
        assert_eq!(h.lookup(8), Some(Slot::at(loc(40))));
    }

    #[test]
    fn a_large_batch_lands_shard_by_shard_in_order() {
        // Enough changes to take the shard-by-shard path, several to each hash:
        // the last change to a hash must win, as applied one by one.
        let h = HashIndex::build(&Index::new());
        let hashes: Vec<u64> = (0..2000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut changes = Vec::new();
        for (i, &hash) in hashes.iter().enumerate() {
            let first = loc(i as u32);
            changes.push((
                hash,
                Change::Put {
                    old: None,
                    new: first,
                },
            ));
            let second = loc(100_000 + i as u32);
            changes.push((
                hash,
                Change::Put {
                    old: Some(first),
                    new: second,
                },
            ));
            if i % 3 == 0 {
                changes.push((
                    hash,
                    Change::Delete {
                        old: second,
                        hide: i % 2 == 0,
                    },
                ));
            } else if i % 3 == 1 {
                let moved = loc(200_000 + i as u32);
                changes.push((
                    hash,
                    Change::Put {
                        old: Some(second),
                        new: moved,
                    },
                ));
            }
        }
        assert!(changes.len() > 4 * SHARDS);
        h.apply(&changes);
        for (i, &hash) in hashes.iter().enumerate() {
            let expected = match i % 3 {
                0 if i % 2 == 0 => Some(Slot::Removed),
                0 => None,
                1 => Some(Slot::at(loc(200_000 + i as u32))),
                _ => Some(Slot::at(loc(100_000 + i as u32))),
            };
            assert_eq!(h.lookup(hash), expected, "change {i}");
        }
    }
}
