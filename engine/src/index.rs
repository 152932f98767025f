//! The in-memory index and the snapshots built on it.
//!
//! The index maps every live key to the location of its newest value. It is a
//! persistent B+ tree (`imbl::OrdMap`): cloning it is O(1) and later writes copy
//! only the nodes they touch, so every commit publishes an immutable [`Version`]
//! that readers, iterators and transactions use without holding any lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::segment::Segment;

/// Keys are shared, so copying index nodes copies pointers, not key bytes.
pub type Key = Arc<[u8]>;

/// Where the newest value of a key lives, and the commit that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub seq: u64,
    pub segment: u32,
    /// Offset of the entry within its segment.
    pub offset: u32,
    /// Encoded length of the entry.
    pub len: u32,
}

pub type Index = imbl::OrdMap<Key, Loc>;
pub type SegmentTable = Arc<BTreeMap<u32, Arc<Segment>>>;

/// An immutable, consistent state of the database as of commit `seq`.
#[derive(Clone)]
pub struct Version {
    pub seq: u64,
    pub index: Index,
    pub segments: SegmentTable,
    /// The active segment and the bytes written to it, if this handle writes.
    pub active: Option<(u32, u64)>,
}
