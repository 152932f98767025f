//! The buffered writes of a transaction.
//!
//! Keys and values are appended to one arena and found through a hash table of
//! small fixed-size slots, so a put costs no allocation of its own and finishing
//! a transaction frees a handful of large blocks. Slots are kept in the order the
//! keys were first written, so that iterating reads the arena front to back. A million boxed keys and values
//! freed at once would instead leave the allocator with millions of small free
//! chunks to sort through on later allocations (milliseconds at a time).
//!
//! Invariants:
//! - Each key has one slot, and the table holds the index of each slot once, with
//!   the hash of its key; the slot holds where the key's bytes and its newest
//!   value's bytes lie in the arena, and `DELETED` as the value length for a
//!   delete.
//! - Arena ranges named by slots are never changed, except a value overwritten by
//!   one no longer than it, which is written over it in place.

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};

/// The value length that marks a delete.
const DELETED: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Slot {
    key_at: u64,
    value_at: u64,
    key_len: u32,
    value_len: u32,
}

#[derive(Default)]
pub(crate) struct WriteSet {
    /// Indices into `slots`, with the hash of their key: growing the table then
    /// reads the table alone, not every slot in random order.
    table: HashTable<(u64, usize)>,
    slots: Vec<Slot>,
    arena: Vec<u8>,
    hasher: foldhash::fast::RandomState,
}

impl WriteSet {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Forgets every write, keeping the allocations for the next transaction.
    pub fn clear(&mut self) {
        self.table.clear();
        self.slots.clear();
        self.arena.clear();
    }

    /// The bytes allocated for the writes.
    pub fn allocated(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<(u64, usize)>()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
    }

    /// The bytes the writes take of those allocated.
    pub fn used(&self) -> usize {
        self.table.len() * std::mem::size_of::<(u64, usize)>()
            + self.slots.len() * std::mem::size_of::<Slot>()
            + self.arena.len()
    }

    /// `None` if the key was not written; `Some(None)` if it was deleted.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&(h, i)| h == hash && self.key(&self.slots[i]) == key)
            .map(|&(_, i)| self.value(&self.slots[i]))
    }

    /// Records a put (`Some`) or a delete (`None`) of `key`, replacing an earlier
    /// write of it.
    pub fn insert(&mut self, key: &[u8], value: Option<&[u8]>) {
        let hash = self.hasher.hash_one(key);
        let (arena, slots) = (&mut self.arena, &mut self.slots);
        let entry = self.table.entry(
            hash,
            |&(h, i)| {
                let s = &slots[i];
                h == hash
                    && &arena[s.key_at as usize..s.key_at as usize + s.key_len as usize] == key
            },
            |&(h, _)| h,
        );
        let value_len = value.map_or(DELETED, |v| v.len() as u32);
        match entry {
            Entry::Occupied(e) => {
                let slot = &mut slots[e.get().1];
                match value {
                    Some(v) if slot.value_len != DELETED && v.len() <= slot.value_len as usize => {
                        let at = slot.value_at as usize;
                        arena[at..at + v.len()].copy_from_slice(v);
                    }
                    Some(v) => {
                        slot.value_at = arena.len() as u64;
                        arena.extend_from_slice(v);
                    }
                    None => {}
                }
                slot.value_len = value_len;
            }
            Entry::Vacant(e) => {
                let key_at = arena.len() as u64;
                arena.extend_from_slice(key);
                let value_at = arena.len() as u64;
                if let Some(v) = value {
                    arena.extend_from_slice(v);
                }
                e.insert((hash, slots.len()));
                slots.push(Slot {
                    key_at,
                    value_at,
                    key_len: key.len() as u32,
                    value_len,
                });
            }
        }
    }

    /// Every write, in the order the keys were first written.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.slots.iter().map(|s| (self.key(s), self.value(s)))
    }

    fn key(&self, s: &Slot) -> &[u8] {
        &self.arena[s.key_at as usize..s.key_at as usize + s.key_len as usize]
    }

    fn value(&self, s: &Slot) -> Option<&[u8]> {
        (s.value_len != DELETED)
            .then(|| &self.arena[s.value_at as usize..s.value_at as usize + s.value_len as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        // Small keys and values so that overwrites, shrinking and growing values
        // and deletes of the same keys meet often.
        fn behaves_as_a_map(ops in prop::collection::vec(
            (prop::collection::vec(0u8..4, 1..3), prop::option::of(prop::collection::vec(any::<u8>(), 0..6))),
            0..200,
        )) {
            let mut set = WriteSet::default();
            let mut model: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
            for (k, v) in &ops {
                set.insert(k, v.as_deref());
                model.insert(k.clone(), v.clone());
            }
            prop_assert_eq!(set.len(), model.len());
            for (k, v) in &model {
                prop_assert_eq!(set.get(k), Some(v.as_deref()));
            }
            prop_assert_eq!(set.get(&[9, 9, 9]), None);
            let mut seen: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                set.iter().map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))).collect();
            seen.sort();
            let mut expected: Vec<_> = model.clone().into_iter().collect();
            expected.sort();
            prop_assert_eq!(seen, expected);
            // Cleared for reuse, it is empty and keeps its allocations.
            let allocated = set.allocated();
            prop_assert!(set.used() <= allocated);
            prop_assert!(set.used() >= set.len() * std::mem::size_of::<Slot>());
            set.clear();
            prop_assert_eq!((set.len(), set.iter().count(), set.allocated()), (0, 0, allocated));
            for (k, v) in &model {
                prop_assert_eq!(set.get(k), None);
                set.insert(k, v.as_deref());
                prop_assert_eq!(set.get(k), Some(v.as_deref()));
            }
        }
    }
}
