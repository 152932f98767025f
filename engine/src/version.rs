//! Snapshots: an immutable, consistent state of the database as of one commit.
//!
//! The index maps every live key to the location of its newest value
//! (`key_index`: the mapped index file and a persistent B+ tree of the changes
//! since): cloning it is O(1) and later writes copy only the nodes they touch,
//! so a [`Version`] made from it stays immutable for the readers, iterators and
//! transactions that use it without holding any lock.
//!
//! Invariant: every segment a version's index points into is in its segment
//! table, whose `Arc`s keep the maps alive after compaction removes the files.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index_file::LogFrom;
use crate::key_index::KeyIndex;
use crate::segment::Segment;

pub type SegmentTable = Arc<BTreeMap<u32, Arc<Segment>>>;

/// An immutable, consistent state of the database as of commit `seq`.
#[derive(Clone)]
pub struct Version {
    pub seq: u64,
    pub index: KeyIndex,
    pub segments: SegmentTable,
    /// The active segment and the bytes written to it, if this handle writes.
    pub active: Option<(u32, u64)>,
}

impl Version {
    /// The open segment `id`, which the index refers to.
    #[inline]
    pub fn segment(&self, id: u32) -> Result<&Arc<Segment>> {
        segment_in(&self.segments, id)
    }

    /// Where the log after a checkpoint of this version begins: the active
    /// segment after the last frame of the version's commits (the writer
    /// appends a commit's frame and counts its sequence number under one lock).
    pub fn log_from(&self) -> Option<LogFrom> {
        self.active
            .map(|(segment, offset)| LogFrom { segment, offset })
    }
}

/// Segment `id` of `segments`, which an index entry refers to.
#[inline]
pub fn segment_in(segments: &BTreeMap<u32, Arc<Segment>>, id: u32) -> Result<&Arc<Segment>> {
    segments
        .get(&id)
        .ok_or_else(|| Error::corrupted(format!("index points at segment {id} which is not open")))
}
