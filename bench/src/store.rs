//! The one interface every engine is driven through, so that each row runs the
//! same code for all of them and only the calls into the engine differ.

use std::path::Path;

pub const KEY_SIZE: usize = 24;
pub const VALUE_SIZE: usize = 150;
pub type Key = [u8; KEY_SIZE];
pub type Value = [u8; VALUE_SIZE];

/// A read view: a read transaction where the engine has them, so that a thread
/// pays for opening it once per row rather than once per lookup, as the redb
/// benchmark does.
pub trait Reader {
    /// Looks `key` up; returns the first byte and the length of its value.
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)>;
    /// Reads up to `n` entries in key order from `start` (inclusive); returns
    /// how many it read and the sum of their values' first bytes.
    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64);
}

/// An engine configured for durable commits: every `commit_*` and `put_one` is
/// on stable storage when it returns.
pub trait Store: Sized + Sync {
    type Reader<'a>: Reader
    where
        Self: 'a;

    /// Opens the database in `dir`, creating it when there is none.
    fn open(dir: &Path) -> Self;
    /// One atomic, durable commit of every pair.
    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>);
    /// One durable commit of a single pair: the engine's simplest write call.
    fn put_one(&mut self, key: &Key, value: &Value) {
        self.commit_puts(&mut std::iter::once((*key, *value)));
    }
    /// One atomic, durable commit removing every key.
    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>);
    /// Exact number of live keys.
    fn len(&self) -> u64;
    fn reader(&self) -> Self::Reader<'_>;
    /// Explicit compaction; false when the engine has none to call.
    fn compact(&mut self) -> bool;
    /// Writes an index checkpoint so that the next open need not replay the log;
    /// false when the engine has no such step.
    fn checkpoint(&self) -> bool {
        false
    }
    /// Closes cleanly (the default drops the handle).
    fn close(self) {}
}
