//! The index file: a checkpoint of the index, sorted and memory-mapped, that
//! serves lookups and ranges in place, so that opening a database costs a map
//! and a check of a few hundred bytes per thousand keys instead of rebuilding
//! every key in memory.
//!
//! ```text
//! header | pad to 4096 | table | block* | checks | fences | [stretches] | meta | footer
//! header = "LDBCKPT6" | flags:u32 | crc32 of the 12 bytes before:u32
//! table  = slot * table_slots, slot = tag:u32 segment:u32 offset:u32
//! block  = entry* (of entry_codec; each block starts afresh)
//! checks = crc32:u32 per block | crc32:u32 per 4096 bytes of the table
//! fences = first-key prefix:u64 per block | block start:u64 per block, and the
//!          end of the last block
//! stretches = blocks per stretch:u32 | first-key prefix:u64 per stretch
//!          | block start:u64 per stretch | crc32:u32 per stretch
//!          (header flag STRETCHES)
//! meta   = seq:u64 | covered_count:u32 | covered ids:u32* | key_count:u64
//!          | live_bytes:u64 | segment_count:u32 | (id:u32 end:u64 live:u64)*
//!          [| base seq:u64 | base crc:u32 | index keys:u64 | index live bytes:u64
//!           | segment_count:u32 | (id:u32 live:u64)*]  (a delta's only)
//!          [| log segment:u32 | log offset:u64]  (header flag LOG_FROM)
//! footer = block_count:u64 | table_slots:u64 | checks at:u64 | fences at:u64
//!          | meta at:u64 | crc32:u32 | "LDBINDEX"
//! ```
//!
//! A block holds up to [`BLOCK_ENTRIES`] entries in key order, encoded as in
//! `entry_codec` (each key as the prefix it shares with the one before it and
//! the rest). An ordered lookup searches the dense array of the blocks'
//! first-key prefixes (and the first key itself where prefixes tie), then
//! decodes one block. `(id, end, live)` names every segment an entry points
//! into, the furthest byte it points at there, so that recovery checks the
//! segments without reading the entries, and the bytes of the records it names
//! there, so that a compaction picks its segments without reading the entries
//! either.
//!
//! The header's flag [`REPLAYABLE`] says that the segments alone hold the same
//! index: every key's newest record, put or delete, is in some segment (see
//! `compaction`), so a replay of all of them can take the file's place when it
//! is torn or rotten. It sits in the first bytes, under a checksum of its own,
//! so that it can still be read when the rest of the file cannot. Files of the
//! formats before (`LDBCKPT5`, and `LDBCKPT4`, which has no `live`) have no
//! header but the magic, are read as well, and are never replayable: versions
//! before it dropped deletes in compaction.
//!
//! The table serves point reads without the binary search, as the in-memory
//! hash index does for the keys changed since: open addressing with linear
//! probing over slots at most four fifths full, each key's in slot
//! `(h * table_slots) >> 64` or after, where `h` is the key's XXH3-64 hash. A
//! slot holds the low 32 bits of `h` as its tag and where the key's record is
//! (its length is in the record's header); a segment of `u32::MAX`, which no
//! segment has, marks an empty slot. A tag can match another key's: the
//! record, which holds its key, says which.
//!
//! The header's flag [`STRETCHES`] says that the fences are checked a stretch
//! of blocks at a time, the first time a read needs them, as the blocks are:
//! a stretch's checksum covers its blocks' checks, first-key prefixes and
//! starts (and the start after its last block), and the stretch's first
//! prefix and start are repeated in the stretches, which the footer's
//! checksum covers with the table's checks and the meta. An open then reads a
//! few bytes per thousand keys instead of 20 per 16, and a search narrows to
//! one stretch with the stretches' prefixes alone. Without the flag (files of
//! the versions before) the footer's checksum covers the checks, the fences
//! and the meta, and an open checks them all.
//!
//! The header's flag [`LOG_FROM`] says where the log after the file begins:
//! every frame of the named segment before the offset holds commits the file
//! reflects, so that an open replays that segment from there instead of
//! reading it whole (the active segment, which a checkpoint cannot cover, is
//! up to its size of log). A file without it is replayed as before.
//!
//! A *delta* (header flag [`DELTA`]) holds the changes of the index since
//! another file, its *base*: entries that replace the base's, and removals
//! (entries in segment `REMOVED`, of length 0, whose table slots name segment
//! [`GONE`]) that hide them. Its meta names the base by its sequence number
//! and the checksum in its footer, and gives the key count and live bytes of
//! the merged index, in all and per segment (`disk_index`). A delta's own
//! `live_bytes` and `(id, end, live)` count its records, not its removals.
//!
//! Invariants:
//! - Keys are unique and ascending within a block and from one block to the
//!   next; every block holds at least one entry.
//! - Opening checks the footer's checksum and the structure it describes; each
//!   block, each stretch of fences and each 4096 bytes of the table is checked
//!   against its checksum the first time it is read. A torn or rotten file is
//!   refused, never trusted: opening fails, and so does a read that meets a
//!   bad block or stretch, with CorruptedData. Once renamed into place
//!   a file is never changed (a new checkpoint replaces the name).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::entry_codec::{self, Reader};
use crate::error::{Error, Result};
use crate::index::{prefix_of, Key, Loc};
use crate::pages_ahead::PagesAhead;
use crate::prefetch;
use crate::sync::{self, WriteBehind};

pub const MAGIC: &[u8; 8] = b"LDBCKPT6";
/// The format before the header's flags; read, never written.
const MAGIC_5: &[u8; 8] = b"LDBCKPT5";
/// The format before per-segment live bytes; read, never written.
const MAGIC_4: &[u8; 8] = b"LDBCKPT4";
/// Bytes of the header: the magic, the flags and their checksum.
pub const HEADER_LEN: usize = 16;
/// Header flag: a replay of every segment gives the index this file holds.
pub const REPLAYABLE: u32 = 1;
/// Header flag: the file is a delta over another (see above).
pub const DELTA: u32 = 2;
/// Header flag: the meta ends with where the log after the file begins.
pub const LOG_FROM: u32 = 4;
/// Header flag: the fences are checked a stretch at a time (see above).
pub const STRETCHES: u32 = 8;

/// Whether a file starting with `magic` is an index file of a format this
/// version reads.
pub fn is_index_file(magic: &[u8; 8]) -> bool {
    magic == MAGIC || magic == MAGIC_5 || magic == MAGIC_4
}

/// The header's flags, if `bytes` start with a whole header of this format:
/// read on their own when the rest of the file is refused.
pub fn header_flags(bytes: &[u8]) -> Option<u32> {
    let header = bytes.get(..HEADER_LEN)?;
    (&header[..8] == MAGIC && crc32fast::hash(&header[..12]) == u32_at(header, 12))
        .then(|| u32_at(header, 8))
}
const END_MAGIC: &[u8; 8] = b"LDBINDEX";
const FOOTER_LEN: usize = 5 * 8 + 4 + 8;
/// Where the table starts: a page, so that it can be mapped for writing alone.
const TABLE_AT: u64 = 4096;
const SLOT: usize = 12;
const EMPTY: u32 = u32::MAX;
/// The segment a removal's table slot names: no segment has the id either
/// (recovery refuses the last two ids).
pub const GONE: u32 = u32::MAX - 1;
/// Bytes of the table per checksum.
const CHUNK: usize = 4096;

/// Entries per block: a lookup decodes on average half a block after its
/// binary search, and a block's first-key prefix costs 16 bytes of fences.
pub const BLOCK_ENTRIES: usize = 16;
/// The most cache lines of a block fetched ahead of decoding it.
const BLOCK_LINES: usize = 16;

/// The hash of a key in the table. Fixed by the file format.
pub fn hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Slots for `len` keys: at most four fifths full, and never full, so that a
/// probe always ends.
pub(crate) fn table_slots(len: u64) -> u64 {
    len + len / 4 + 1
}

/// The slot where the probe for hash `h` starts.
fn home_slot(h: u64, slots: usize) -> usize {
    ((u128::from(h) * slots as u128) >> 64) as usize
}

/// A segment that entries of the file point into, the furthest byte they
/// point at in it, and the bytes of the records they name there (`None` in a
/// file of the format before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentEnd {
    pub id: u32,
    pub end: u64,
    pub live: Option<u64>,
}

/// Where the log after an index file begins: the active segment when it was
/// written, and the end of the last frame it reflects there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFrom {
    pub segment: u32,
    pub offset: u64,
}

/// Which file a delta lies over: its sequence number and the checksum in its
/// footer (which covers the checksums of every block and of the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub seq: u64,
    pub crc: u32,
}

/// The most deltas over one index file, each over the one before
/// (`disk_index`): each costs a lookup of a key they lack a probe more.
pub const MAX_DELTAS: usize = 2;

/// A delta's meta beyond its own entries: its base, and the merged index's
/// key count and live bytes, in all and per segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaMeta {
    pub base: FileId,
    pub len: usize,
    pub live_bytes: u64,
    pub live_by_segment: BTreeMap<u32, u64>,
}

/// Where an ascending run of lookups (`IndexFile::get_ascending`) stopped:
/// a block, and in it the position after the last entry decoded, that
/// entry's key and location; and the stretch and block its lookups ahead
/// were last asked for in (`IndexFile::ask_for_fences`, `ask_for_block`).
#[derive(Default)]
pub struct Ascending {
    block: Option<usize>,
    pos: usize,
    key: Vec<u8>,
    last: Option<Loc>,
    asked_stretch: Option<usize>,
    asked_block: Option<usize>,
}

impl Ascending {
    fn enter(&mut self, block: usize) {
        self.block = Some(block);
        self.pos = 0;
        self.key.clear();
        self.last = None;
    }
}

pub struct IndexFile {
    map: Mmap,
    /// A replay of every segment gives the index this file holds (the
    /// header's [`REPLAYABLE`]).
    pub replayable: bool,
    pub seq: u64,
    pub covered: BTreeSet<u32>,
    pub segments: Vec<SegmentEnd>,
    /// This file, as a delta over it names it.
    pub id: FileId,
    /// Set in a delta (header flag [`DELTA`]).
    pub delta: Option<DeltaMeta>,
    /// Where the log after this file begins (header flag [`LOG_FROM`]).
    pub log_from: Option<LogFrom>,
    len: usize,
    live_bytes: u64,
    blocks: usize,
    slots: usize,
    checks: usize,
    fences: usize,
    /// Where the stretches' first-key prefixes begin (header flag
    /// [`STRETCHES`]); `None` in a file whose fences the open checked whole.
    stretches: Option<usize>,
    /// Blocks per stretch.
    per_stretch: usize,
    /// The unit of `checked` of the first stretch.
    first_stretch_unit: usize,
    /// One bit per block, then per chunk of the table, then per stretch:
    /// checked already.
    checked: Box<[AtomicU64]>,
    /// The first-key prefix of each stretch's first block: a search narrows
    /// to one stretch of the fences in this small array, which stays in
    /// cache, instead of missing it at each of its last steps.
    samples: Box<[u64]>,
    /// Set by the first read that finds the file damaged.
    damaged: AtomicBool,
}

/// What the checksum of the stretch of blocks `first..end` covers: their
/// checks, their first-key prefixes and their starts with the one after the
/// last, in `bytes` whose checks begin at `checks` and fences at `fences`.
fn stretch_crc(
    bytes: &[u8],
    checks: usize,
    fences: usize,
    blocks: usize,
    first: usize,
    end: usize,
) -> u32 {
    let starts = fences + 8 * blocks;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[checks + 4 * first..checks + 4 * end]);
    crc.update(&bytes[fences + 8 * first..fences + 8 * end]);
    crc.update(&bytes[starts + 8 * first..starts + 8 * (end + 1)]);
    crc.finalize()
}

/// Blocks per stretch in the files this version writes: the prefixes a
/// search ends in are 512 bytes, and a stretch's fences and checks 1,280.
/// Unit tests make stretches of two blocks, so that their small files have
/// many, and ties between their prefixes.
const STRETCH: usize = if cfg!(test) { 2 } else { 64 };

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("seq", &self.seq)
            .field("len", &self.len)
            .field("blocks", &self.blocks)
            .finish()
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// Writes the `len` entries (ascending, unique keys) as an index file at
/// `path`, synced, with the header's `flags`; the caller renames it into place.
#[cfg(test)]
pub fn write<K: AsRef<[u8]>>(
    path: &Path,
    flags: u32,
    seq: u64,
    covered: &BTreeSet<u32>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
) -> Result<()> {
    write_format(
        path, MAGIC, flags, seq, covered, len, entries, None, None, true,
    )
}

/// A file of the format before [`STRETCHES`].
#[cfg(test)]
fn write_unstretched<K: AsRef<[u8]>>(
    path: &Path,
    seq: u64,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
) -> Result<()> {
    let covered = &BTreeSet::new();
    write_format(
        path, MAGIC, REPLAYABLE, seq, covered, len, entries, None, None, false,
    )
}

/// [`write`], naming where the log after the file begins.
#[allow(clippy::too_many_arguments)]
pub fn write_from<K: AsRef<[u8]>>(
    path: &Path,
    flags: u32,
    seq: u64,
    covered: &BTreeSet<u32>,
    log_from: Option<LogFrom>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
) -> Result<()> {
    write_format(
        path, MAGIC, flags, seq, covered, len, entries, None, log_from, true,
    )
}

/// Writes the `len` entries (ascending, unique keys; removals among them) as
/// a delta over the file `meta` names, synced; the caller renames it into
/// place.
#[cfg(any(test, feature = "fuzzing"))]
pub fn write_delta<K: AsRef<[u8]>>(
    path: &Path,
    seq: u64,
    covered: &BTreeSet<u32>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
    meta: &DeltaMeta,
) -> Result<()> {
    write_delta_from(path, seq, covered, None, len, entries, meta)
}

/// [`write_delta`], naming where the log after the delta begins.
pub fn write_delta_from<K: AsRef<[u8]>>(
    path: &Path,
    seq: u64,
    covered: &BTreeSet<u32>,
    log_from: Option<LogFrom>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
    meta: &DeltaMeta,
) -> Result<()> {
    write_format(
        path,
        MAGIC,
        DELTA,
        seq,
        covered,
        len,
        entries,
        Some(meta),
        log_from,
        true,
    )
}

/// A file of the format before, for the tests of its reader.
#[cfg(test)]
fn write_format_4<K: AsRef<[u8]>>(
    path: &Path,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
) -> Result<()> {
    write_format(
        path,
        MAGIC_4,
        0,
        100,
        &BTreeSet::new(),
        len,
        entries,
        None,
        None,
        false,
    )
}

/// A file of the format before the header's flags.
#[cfg(test)]
pub(crate) fn write_format_5<K: AsRef<[u8]>>(
    path: &Path,
    seq: u64,
    covered: &BTreeSet<u32>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
) -> Result<()> {
    write_format(
        path, MAGIC_5, 0, seq, covered, len, entries, None, None, false,
    )
}

#[allow(clippy::too_many_arguments)]
fn write_format<K: AsRef<[u8]>>(
    path: &Path,
    magic: &[u8; 8],
    flags: u32,
    seq: u64,
    covered: &BTreeSet<u32>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
    delta: Option<&DeltaMeta>,
    log_from: Option<LogFrom>,
    stretched: bool,
) -> Result<()> {
    debug_assert_eq!(delta.is_some(), flags & DELTA != 0);
    debug_assert!(
        flags & (LOG_FROM | STRETCHES) == 0,
        "set from the arguments"
    );
    debug_assert!(magic == MAGIC || (log_from.is_none() && !stretched));
    let flags = flags
        | if log_from.is_some() { LOG_FROM } else { 0 }
        | if stretched { STRETCHES } else { 0 };
    let io = |e| Error::io(format!("write index file {}", path.display()), e);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    if len >= EMPTY as usize {
        return Err(Error::invalid(format!(
            "an index file holds fewer than {EMPTY} keys, not {len}"
        )));
    }
    let slots = table_slots(len as u64);
    let table_bytes = slots * SLOT as u64;
    let blocks_at = TABLE_AT + table_bytes;
    file.set_len(blocks_at).map_err(io)?;
    let mut head = [0u8; HEADER_LEN];
    head[..8].copy_from_slice(magic);
    let head = if magic == MAGIC {
        head[8..12].copy_from_slice(&flags.to_le_bytes());
        let crc = crc32fast::hash(&head[..12]);
        head[12..16].copy_from_slice(&crc.to_le_bytes());
        &head[..]
    } else {
        &head[..8]
    };
    std::io::Write::write_all(&mut &file, head).map_err(io)?;
    let mut ahead = PagesAhead::start(&file, TABLE_AT, blocks_at);
    // The table starts with every slot empty. Written, its pages come into the
    // page cache as they are; filled through the map, each would be read in
    // (as zeros, the file being sparse) and then overwritten.
    file.seek(SeekFrom::Start(TABLE_AT)).map_err(io)?;
    let empty = vec![0xffu8; table_bytes.min(1 << 20) as usize];
    let mut left = table_bytes;
    while left > 0 {
        let n = left.min(empty.len() as u64) as usize;
        std::io::Write::write_all(&mut &file, &empty[..n]).map_err(io)?;
        left -= n as u64;
        ahead.wrote_to(&file, blocks_at - left).map_err(io)?;
    }
    // SAFETY: the file was made above and nothing else maps or writes it.
    let table = unsafe {
        MmapOptions::new()
            .offset(TABLE_AT)
            .len(table_bytes as usize)
            .map_mut(&file)
    }
    .map_err(io)?;
    file.seek(SeekFrom::Start(blocks_at)).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, &file);
    let mut pos = blocks_at;
    let (mut prefixes, mut starts, mut block_crcs) = (Vec::new(), Vec::new(), Vec::new());
    // Per segment: the furthest byte an entry points at, and the bytes of the
    // records the entries name.
    let mut ends: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let (mut count, mut live_bytes) = (0usize, 0u64);
    let mut block: Vec<u8> = Vec::with_capacity(4096);
    let mut prev: Option<(Vec<u8>, Loc)> = None;
    let mut placer = Placer::start(table, len);
    // The blocks are written front to back: their writeback follows them.
    let mut behind = WriteBehind::new(blocks_at);
    let mut flush_block = |block: &mut Vec<u8>,
                           w: &mut BufWriter<&File>,
                           pos: &mut u64,
                           block_crcs: &mut Vec<u32>,
                           ahead: &mut PagesAhead|
     -> Result<()> {
        if !block.is_empty() {
            w.write_all(block).map_err(io)?;
            block_crcs.push(crc32fast::hash(block));
            *pos += block.len() as u64;
            block.clear();
            ahead.wrote_to(&file, *pos).map_err(io)?;
            behind.wrote_to(&file, *pos - w.buffer().len() as u64);
        }
        Ok(())
    };
    for entry in entries {
        let (key, loc) = entry?;
        let key = key.as_ref();
        let removal = delta.is_some() && loc.segment == EMPTY && loc.len == 0 && loc.offset == 0;
        if (loc.len == 0 && !removal) || count == len {
            return Err(Error::corrupted(format!(
                "index file {}: an entry of length 0, or more than the {len} the index holds",
                path.display()
            )));
        }
        if count % BLOCK_ENTRIES == 0 {
            flush_block(&mut block, &mut w, &mut pos, &mut block_crcs, &mut ahead)?;
            prefixes.push(prefix_of(key));
            starts.push(pos);
            prev = None;
        }
        entry_codec::encode_entry(
            &mut block,
            seq,
            prev.as_ref().map(|(k, l)| (&k[..], *l)),
            key,
            loc,
        )?;
        let kept = prev.get_or_insert_with(|| (Vec::new(), loc));
        kept.0.clear();
        kept.0.extend_from_slice(key);
        kept.1 = loc;
        count += 1;
        if removal {
            placer.push((hash(key), GONE, 0));
        } else {
            if loc.segment >= GONE {
                return Err(Error::corrupted(format!(
                    "an index entry in segment {}",
                    loc.segment
                )));
            }
            live_bytes += u64::from(loc.len);
            let (end, live) = ends.entry(loc.segment).or_default();
            *end = (*end).max(u64::from(loc.offset) + u64::from(loc.len));
            *live += u64::from(loc.len);
            placer.push((hash(key), loc.segment, loc.offset));
        }
    }
    let table = placer.finish();
    // The table's pages were made dirty in the order of the keys' hashes,
    // round after round: written back only now that they are all placed.
    WriteBehind::new(TABLE_AT).write_back(&file, blocks_at);
    if count != len {
        return Err(Error::corrupted(format!(
            "index file {}: {count} entries where the index holds {len}",
            path.display()
        )));
    }
    flush_block(&mut block, &mut w, &mut pos, &mut block_crcs, &mut ahead)?;
    let checks_at = pos;
    let mut tail = Vec::new();
    for crc in &block_crcs {
        tail.extend_from_slice(&crc.to_le_bytes());
    }
    for chunk in table.chunks(CHUNK) {
        tail.extend_from_slice(&crc32fast::hash(chunk).to_le_bytes());
    }
    let fences_at = checks_at + tail.len() as u64;
    for p in &prefixes {
        tail.extend_from_slice(&p.to_le_bytes());
    }
    for s in starts.iter().chain([&pos]) {
        tail.extend_from_slice(&s.to_le_bytes());
    }
    let blocks = prefixes.len();
    let (fences_rel, stretches_rel) = ((fences_at - checks_at) as usize, tail.len());
    if stretched {
        let stretch_count = blocks.div_ceil(STRETCH);
        tail.extend_from_slice(&(STRETCH as u32).to_le_bytes());
        for first in (0..blocks).step_by(STRETCH) {
            tail.extend_from_slice(&prefixes[first].to_le_bytes());
        }
        for first in (0..blocks).step_by(STRETCH) {
            tail.extend_from_slice(&starts[first].to_le_bytes());
        }
        for i in 0..stretch_count {
            let (first, end) = (i * STRETCH, ((i + 1) * STRETCH).min(blocks));
            let crc = stretch_crc(&tail, 0, fences_rel, blocks, first, end);
            tail.extend_from_slice(&crc.to_le_bytes());
        }
    }
    let meta_at = checks_at + tail.len() as u64;
    tail.extend_from_slice(&seq.to_le_bytes());
    tail.extend_from_slice(&(covered.len() as u32).to_le_bytes());
    for id in covered {
        tail.extend_from_slice(&id.to_le_bytes());
    }
    tail.extend_from_slice(&(count as u64).to_le_bytes());
    tail.extend_from_slice(&live_bytes.to_le_bytes());
    tail.extend_from_slice(&(ends.len() as u32).to_le_bytes());
    for (id, (end, live)) in &ends {
        tail.extend_from_slice(&id.to_le_bytes());
        tail.extend_from_slice(&end.to_le_bytes());
        if magic != MAGIC_4 {
            tail.extend_from_slice(&live.to_le_bytes());
        }
    }
    if let Some(d) = delta {
        tail.extend_from_slice(&d.base.seq.to_le_bytes());
        tail.extend_from_slice(&d.base.crc.to_le_bytes());
        tail.extend_from_slice(&(d.len as u64).to_le_bytes());
        tail.extend_from_slice(&d.live_bytes.to_le_bytes());
        tail.extend_from_slice(&(d.live_by_segment.len() as u32).to_le_bytes());
        for (id, live) in &d.live_by_segment {
            tail.extend_from_slice(&id.to_le_bytes());
            tail.extend_from_slice(&live.to_le_bytes());
        }
    }
    if let Some(from) = log_from {
        tail.extend_from_slice(&from.segment.to_le_bytes());
        tail.extend_from_slice(&from.offset.to_le_bytes());
    }
    let crc = if stretched {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&tail[4 * blocks..fences_rel]);
        crc.update(&tail[stretches_rel..]);
        crc.finalize()
    } else {
        crc32fast::hash(&tail)
    };
    for n in [blocks as u64, slots, checks_at, fences_at, meta_at] {
        tail.extend_from_slice(&n.to_le_bytes());
    }
    tail.extend_from_slice(&crc.to_le_bytes());
    tail.extend_from_slice(END_MAGIC);
    w.write_all(&tail).map_err(io)?;
    w.flush().map_err(io)?;
    drop(w);
    table.flush().map_err(io)?;
    drop(table);
    ahead
        .finish(&file, checks_at + tail.len() as u64)
        .map_err(io)?;
    sync::all(&file).map_err(io)
}

/// Entries whose table slots are filled at once, in the order of their home
/// slots: keys arrive in key order, so their slots are random, and a table
/// larger than the caches would take a miss per entry. (Small in tests, so
/// that their files take several rounds.)
const UNPLACED: usize = if cfg!(test) { 3 } else { 1 << 20 };

/// The top bits of a hash by which entries are put in order before they are
/// placed. `home_slot` grows with the hash, so the entries of one bucket have
/// their home slots within 1/65,536 of the table (a few cache lines at ten
/// million keys); their order within it does not matter. (Few in tests, so
/// that their buckets hold several entries.)
const BUCKET_BITS: u32 = if cfg!(test) { 1 } else { 16 };

/// Entries waiting for their slots, and the room to put them in order.
#[derive(Default)]
struct Unplaced {
    entries: Vec<TableEntry>,
    ordered: Vec<TableEntry>,
    starts: Vec<u32>,
}

impl Unplaced {
    /// Puts each entry (hash, segment, offset) in the first empty slot from
    /// its home slot on, in the order of the top bits of the hashes (a
    /// counting sort: far cheaper than sorting them whole); a probe finds an
    /// entry wherever it went, as every slot between its home and it is taken.
    fn place(&mut self, table: &mut [u8]) {
        let slots = table.len() / SLOT;
        // About as many buckets as entries, up to BUCKET_BITS: a small file's
        // few entries do not pay for clearing 65,536 counts.
        let bits = BUCKET_BITS.min(usize::BITS - self.entries.len().leading_zeros());
        let bucket = |h: u64| h.checked_shr(64 - bits).unwrap_or(0) as usize;
        self.starts.clear();
        self.starts.resize((1 << bits) + 1, 0);
        for e in &self.entries {
            self.starts[bucket(e.0) + 1] += 1;
        }
        for b in 1..self.starts.len() {
            self.starts[b] += self.starts[b - 1];
        }
        self.ordered.clear();
        self.ordered.resize(self.entries.len(), (0, 0, 0));
        for &e in &self.entries {
            let at = &mut self.starts[bucket(e.0)];
            self.ordered[*at as usize] = e;
            *at += 1;
        }
        for &(h, segment, offset) in &self.ordered {
            let mut slot = home_slot(h, slots);
            while u32_at(table, slot * SLOT + 4) != EMPTY {
                slot = (slot + 1) % slots;
            }
            let bytes = &mut table[slot * SLOT..(slot + 1) * SLOT];
            bytes[0..4].copy_from_slice(&(h as u32).to_le_bytes());
            bytes[4..8].copy_from_slice(&segment.to_le_bytes());
            bytes[8..12].copy_from_slice(&offset.to_le_bytes());
        }
        self.entries.clear();
    }
}

/// A table entry: the key's hash, and the segment and offset of its record.
type TableEntry = (u64, u32, u32);

/// Fills the table's slots a round of [`UNPLACED`] entries at a time. A file
/// of more than one round has them placed on a thread beside the writer,
/// which goes on encoding blocks meanwhile: each round's placement walks the
/// whole table, and a large file's rounds take a good share of its writing.
/// Two rounds are in hand at once, the one filling and the one being placed;
/// the writer waits only when it has filled one before the thread has placed
/// the one before, and at the end.
struct Placer {
    filling: Vec<TableEntry>,
    at: Option<Place>,
}

enum Place {
    Here {
        table: MmapMut,
        unplaced: Unplaced,
    },
    Beside {
        full: std::sync::mpsc::SyncSender<Vec<TableEntry>>,
        emptied: std::sync::mpsc::Receiver<Vec<TableEntry>>,
        spare: Option<Vec<TableEntry>>,
        thread: std::thread::JoinHandle<MmapMut>,
    },
}

impl Placer {
    /// A placer for the `len` entries of a file into `table`.
    fn start(table: MmapMut, len: usize) -> Placer {
        let filling = Vec::with_capacity(UNPLACED.min(len));
        if len <= UNPLACED {
            return Placer::here(table, filling);
        }
        // The table is lent to the thread once it has started, and comes
        // back when it ends; a thread that cannot be started leaves it here.
        let (lend, lent) = std::sync::mpsc::sync_channel::<MmapMut>(1);
        let (full, rounds) = std::sync::mpsc::sync_channel::<Vec<TableEntry>>(1);
        let (give_back, emptied) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("lightning-db-table".into())
            .spawn(move || {
                let mut table = lent.recv().expect("the table is lent once started");
                let mut unplaced = Unplaced::default();
                for round in rounds {
                    unplaced.entries = round;
                    unplaced.place(&mut table);
                    // The writer may have stopped on an error meanwhile.
                    let _ = give_back.send(std::mem::take(&mut unplaced.entries));
                }
                table
            });
        match spawned {
            Ok(thread) => {
                lend.send(table).expect("the thread waits for the table");
                Placer {
                    filling,
                    at: Some(Place::Beside {
                        full,
                        emptied,
                        spare: Some(Vec::with_capacity(UNPLACED)),
                        thread,
                    }),
                }
            }
            Err(e) => {
                log::warn!("index file: the table is placed on the writer's thread ({e})");
                Placer::here(table, filling)
            }
        }
    }

    fn here(table: MmapMut, filling: Vec<TableEntry>) -> Placer {
        Placer {
            filling,
            at: Some(Place::Here {
                table,
                unplaced: Unplaced::default(),
            }),
        }
    }

    fn push(&mut self, entry: TableEntry) {
        self.filling.push(entry);
        if self.filling.len() == UNPLACED {
            self.place_filling();
        }
    }

    /// Places the round filled so far, or hands it to the thread.
    fn place_filling(&mut self) {
        match self.at.as_mut().expect("placing") {
            Place::Here { table, unplaced } => {
                std::mem::swap(&mut unplaced.entries, &mut self.filling);
                unplaced.place(table);
                std::mem::swap(&mut unplaced.entries, &mut self.filling);
            }
            Place::Beside {
                full,
                emptied,
                spare,
                ..
            } => {
                let next = match spare.take() {
                    Some(spare) => spare,
                    // Only a thread that panicked hangs up: `finish` says so.
                    None => emptied.recv().unwrap_or_default(),
                };
                let round = std::mem::replace(&mut self.filling, next);
                let _ = full.send(round);
            }
        }
    }

    /// Places what is left and hands the table back, every entry in it.
    fn finish(mut self) -> MmapMut {
        if !self.filling.is_empty() {
            self.place_filling();
        }
        match self.at.take().expect("placing") {
            Place::Here { table, .. } => table,
            Place::Beside { full, thread, .. } => {
                drop(full);
                match thread.join() {
                    Ok(table) => table,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        }
    }
}

impl Drop for Placer {
    /// A writer stopped by an error: the thread ends once it has placed what
    /// it holds, and lets go of the table before the file is given up.
    fn drop(&mut self) {
        if let Some(Place::Beside { full, thread, .. }) = self.at.take() {
            drop(full);
            let _ = thread.join();
        }
    }
}

impl IndexFile {
    /// Maps the index file at `path` and checks its footer and the checks,
    /// fences and meta it describes.
    pub fn open(path: &Path) -> Result<IndexFile> {
        let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
        // SAFETY: index files are never changed once renamed into place (a new
        // checkpoint replaces the name, not the contents).
        let map = unsafe { Mmap::map(&file) }
            .map_err(|e| Error::io(format!("map {}", path.display()), e))?;
        let corrupt = |why: &str| Error::corrupted(format!("index file {}: {why}", path.display()));
        let parsed = parse(&map).ok_or_else(|| corrupt("not an index file, torn or rotten"))?;
        let first_stretch_unit = parsed.blocks + (parsed.slots * SLOT).div_ceil(CHUNK);
        let bits = (first_stretch_unit + parsed.samples.len()).div_ceil(64);
        Ok(IndexFile {
            map,
            replayable: parsed.flags & REPLAYABLE != 0,
            seq: parsed.seq,
            covered: parsed.covered,
            segments: parsed.segments,
            id: FileId {
                seq: parsed.seq,
                crc: parsed.crc,
            },
            delta: parsed.delta,
            log_from: parsed.log_from,
            len: parsed.len,
            live_bytes: parsed.live_bytes,
            blocks: parsed.blocks,
            slots: parsed.slots,
            checks: parsed.checks,
            fences: parsed.fences,
            stretches: parsed.stretches,
            per_stretch: parsed.per_stretch,
            first_stretch_unit,
            checked: (0..bits).map(|_| AtomicU64::new(0)).collect(),
            samples: parsed.samples,
            damaged: AtomicBool::new(false),
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The sum of the lengths of the records the entries point at.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    pub(crate) fn corrupt(&self, what: String) -> Error {
        self.damaged.store(true, Ordering::Relaxed);
        Error::corrupted(format!("index file at seq {}: {what}", self.seq))
    }

    /// A read has found the file damaged.
    pub fn damaged(&self) -> bool {
        self.damaged.load(Ordering::Relaxed)
    }

    /// How many entries block `block` holds: all but the last are full.
    fn entries_in(&self, block: usize) -> usize {
        if block + 1 < self.blocks {
            BLOCK_ENTRIES
        } else {
            self.len - BLOCK_ENTRIES * (self.blocks - 1)
        }
    }

    fn wrong_count(&self, block: usize) -> Error {
        self.corrupt(format!("block {block} holds the wrong number of entries"))
    }

    /// How many of the blocks, and of the table's chunks, have been read
    /// (and so checked).
    #[cfg(test)]
    pub fn units_read(&self) -> (usize, usize) {
        let read = |units: std::ops::Range<usize>| units.filter(|&n| self.is_checked(n)).count();
        (
            read(0..self.blocks),
            read(self.blocks..self.first_stretch_unit),
        )
    }

    /// Whether unit `n` passed its check.
    fn is_checked(&self, n: usize) -> bool {
        self.checked[n / 64].load(Ordering::Acquire) & (1u64 << (n % 64)) != 0
    }

    /// Runs `check` of unit `n` unless it passed before: each unit is
    /// checked the first time it is read.
    fn check_once(&self, n: usize, check: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.is_checked(n) {
            return Ok(());
        }
        check()?;
        self.checked[n / 64].fetch_or(1u64 << (n % 64), Ordering::Release);
        Ok(())
    }

    /// Checks unit `n` (a block, or a chunk of the table after the blocks)
    /// against its checksum the first time it is read.
    fn check(&self, n: usize, bytes: &[u8]) -> Result<()> {
        self.check_once(n, || {
            if crc32fast::hash(bytes) != u32_at(&self.map, self.checks + 4 * n) {
                return Err(self.corrupt(format!("checksum mismatch in unit {n}")));
            }
            Ok(())
        })
    }

    /// Checks the stretch of fences that holds block `block`'s the first
    /// time it is read: its checksum, and that its prefixes and starts ascend
    /// from the stretch's sample to the next one's.
    fn check_stretch(&self, block: usize) -> Result<()> {
        let Some(at) = self.stretches else {
            return Ok(());
        };
        let i = block / self.per_stretch;
        self.check_once(self.first_stretch_unit + i, || {
            self.check_stretch_now(at, i)
        })
    }

    /// Checks stretch `i`, whose samples begin at `at` (see `check_stretch`).
    fn check_stretch_now(&self, at: usize, i: usize) -> Result<()> {
        let count = self.samples.len();
        let (first, end) = (
            i * self.per_stretch,
            ((i + 1) * self.per_stretch).min(self.blocks),
        );
        let map = &self.map[..];
        let prefixes = &map[self.fences + 8 * first..self.fences + 8 * end];
        let starts = &map
            [self.fences + 8 * (self.blocks + first)..self.fences + 8 * (self.blocks + end + 1)];
        let crc = stretch_crc(map, self.checks, self.fences, self.blocks, first, end);
        let sample_start = |j: usize| u64_at(map, at + 8 * count + 8 * j) as usize;
        let last = |words: &[u8]| u64_at(words, words.len() - 8);
        let sound = crc == u32_at(map, at + 16 * count + 4 * i)
            && u64_at(prefixes, 0) == self.samples[i]
            && ascending(prefixes, false)
            && self
                .samples
                .get(i + 1)
                .is_none_or(|&next| last(prefixes) <= next)
            && u64_at(starts, 0) as usize == sample_start(i)
            && ascending(starts, true)
            && last(starts) as usize
                == if i + 1 < count {
                    sample_start(i + 1)
                } else {
                    self.checks
                };
        if !sound {
            return Err(self.corrupt(format!(
                "the fences of blocks {first} to {end} are torn or rotten"
            )));
        }
        Ok(())
    }

    /// Block `block`'s first-key prefix; its stretch is checked already.
    fn prefix(&self, block: usize) -> u64 {
        u64_at(&self.map, self.fences + 8 * block)
    }

    /// Where block `block` starts and ends, as its stretch of the fences
    /// says (checked or not).
    fn block_span(&self, block: usize) -> (usize, usize) {
        let starts = self.fences + 8 * self.blocks;
        let at = |b: usize| u64_at(&self.map, starts + 8 * b) as usize;
        (at(block), at(block + 1))
    }

    /// The stretch whose sample is the last at most `probe`, the first-key
    /// prefix of a key: the stretch a key with that prefix is most likely in.
    fn stretch_of(&self, probe: u64) -> usize {
        self.samples
            .partition_point(|&p| p <= probe)
            .saturating_sub(1)
    }

    fn block_bytes(&self, block: usize) -> Result<&[u8]> {
        self.check_stretch(block)?;
        let (start, end) = self.block_span(block);
        let bytes = &self.map[start..end];
        // Decoding walks the block entry by entry, each position known only
        // from the entry before: fetch its lines at once.
        prefetch::lines(bytes, BLOCK_LINES);
        self.check(block, bytes)?;
        Ok(bytes)
    }

    /// Decodes block `block` into `into`.
    fn decode_block(&self, block: usize, into: &mut BlockCursor) -> Result<()> {
        into.keys.clear();
        into.ends.clear();
        into.locs.clear();
        into.block = block;
        let mut r = Reader::new(self.block_bytes(block)?, 0);
        let mut prev: Option<(usize, Loc)> = None;
        while !r.at_end() {
            let prev_key = prev.map_or(&[][..], |_| into.key(into.locs.len() - 1));
            let e = entry_codec::decode_parts(&mut r, self.seq, prev_key.len(), prev.map(|p| p.1))
                .ok_or_else(|| self.corrupt(format!("malformed entry in block {block}")))?;
            // A file with good checksums holds what the writer wrote; these
            // checks cost little and keep a made-up one from breaking the
            // order the readers rely on.
            if prev.is_some() && !e.follows(prev_key) {
                return Err(self.corrupt(format!("keys out of order in block {block}")));
            }
            // Each key is the one before it, up to `shared`, then its suffix.
            let start = prev.map_or(0, |(start, _)| start);
            let at = into.keys.len();
            into.keys.extend_from_within(start..start + e.shared);
            into.keys.extend_from_slice(e.suffix);
            into.ends.push(into.keys.len() as u32);
            into.locs.push(e.loc);
            prev = Some((at, e.loc));
        }
        if into.locs.len() != self.entries_in(block) {
            return Err(self.wrong_count(block));
        }
        Ok(())
    }

    /// The first key of block `block`, decoded from its first entry.
    fn first_key(&self, block: usize) -> Result<&[u8]> {
        let mut r = Reader::new(self.block_bytes(block)?, 0);
        // A block's first entry shares nothing: its suffix is its key.
        let e = entry_codec::decode_parts(&mut r, self.seq, 0, None)
            .ok_or_else(|| self.corrupt(format!("malformed entry in block {block}")))?;
        Ok(e.suffix)
    }

    /// The last block whose first key is at most `key` (or, with `strict`,
    /// below it); `None` if every block starts above it.
    fn block_for(&self, key: &[u8], strict: bool) -> Result<Option<usize>> {
        let probe = prefix_of(key);
        // Blocks before `lo` start at or below the key; from `hi` on, above.
        // A sampled block with a smaller prefix starts below the key, and one
        // with a greater prefix above it, as do the blocks before and after it.
        let per = self.per_stretch;
        let below = self.samples.partition_point(|&p| p < probe);
        let above = self.samples.partition_point(|&p| p <= probe);
        let mut lo = below.saturating_sub(1) * per;
        let mut hi = (above * per).min(self.blocks);
        // The search's steps depend on each other: asking for its stretch of
        // the fences, and of the block starts it ends in, at once lets their
        // misses overlap instead of following one another.
        if lo < hi {
            let stretch = |at: usize| &self.map[at + 8 * lo..at + 8 * hi];
            prefetch::lines(stretch(self.fences), 2 * per * 8 / 64);
            prefetch::lines(stretch(self.fences + 8 * self.blocks), 2 * per * 8 / 64);
        }
        while lo < hi {
            let mid = (lo + hi) / 2;
            // Only the stretches the search reads: keys that share their first
            // eight bytes tie every sample, and the search spans the file.
            self.check_stretch(mid)?;
            let below = match self.prefix(mid).cmp(&probe) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Greater => false,
                std::cmp::Ordering::Equal => {
                    let first = self.first_key(mid)?;
                    if strict {
                        first < key
                    } else {
                        first <= key
                    }
                }
            };
            if below {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.checked_sub(1))
    }

    /// Checks every block and every chunk of the table (`verify`).
    pub fn check_all(&self) -> Result<()> {
        for block in 0..self.blocks {
            self.block_bytes(block)?;
        }
        let table_end = TABLE_AT as usize + self.slots * SLOT;
        for (chunk, at) in (TABLE_AT as usize..table_end).step_by(CHUNK).enumerate() {
            self.check(
                self.blocks + chunk,
                &self.map[at..(at + CHUNK).min(table_end)],
            )?;
        }
        Ok(())
    }

    /// The location of `key`'s newest value, if the file holds it: an ordered
    /// lookup.
    pub fn get(&self, key: &[u8]) -> Result<Option<Loc>> {
        match self.block_for(key, false)? {
            Some(block) => self.get_in(block, key),
            None => Ok(None),
        }
    }

    /// `get`, for keys looked up in ascending order (repeats allowed): `near`
    /// starts as `Ascending::default()` and is kept between the calls. A key
    /// in the block of the key before is found by decoding on from where that
    /// search stopped, without searching the fences or decoding the block's
    /// first entries again: the keys of a large sorted commit cost one pass
    /// over the blocks they fall in.
    pub fn get_ascending(&self, key: &[u8], near: &mut Ascending) -> Result<Option<Loc>> {
        // The key before started at or after block `b`'s first key, and this
        // one is not below it: it is in `b` if the next block starts above it.
        let stays = match near.block {
            Some(b) if b + 1 < self.blocks => {
                self.check_stretch(b + 1)?;
                self.prefix(b + 1) > prefix_of(key)
            }
            Some(_) => true,
            None => false,
        };
        let block = match near.block {
            Some(b) if stays => b,
            // A dense run of keys (a bulk load's over the file) moves on to the
            // next block more often than anywhere else: it is the next one if
            // the key is past that block's first key and before the one after.
            Some(b) if self.starts_next_block(b, key)? => {
                near.enter(b + 1);
                b + 1
            }
            _ => {
                let Some(b) = self.block_for(key, false)? else {
                    near.block = None;
                    return Ok(None);
                };
                near.enter(b);
                b
            }
        };
        self.search_on(block, key, near)
    }

    /// Asks for the fences a lookup of `key` will search: the first of the
    /// two hints an ascending run of lookups gives ahead of itself (see
    /// `DiskIndex::get_sorted`), for a key further ahead: the samples, in
    /// memory, say which stretch. A key in the stretch the one before was
    /// asked for in asks for nothing more.
    pub fn ask_for_fences(&self, key: &[u8], near: &mut Ascending) {
        if self.blocks == 0 {
            return;
        }
        let probe = prefix_of(key);
        if let Some(s) = near.asked_stretch {
            if self.samples.get(s + 1).is_none_or(|&next| next > probe) {
                return;
            }
        }
        let s = self.stretch_of(probe);
        near.asked_stretch = Some(s);
        let per = self.per_stretch;
        let (lo, hi) = (s * per, ((s + 1) * per).min(self.blocks));
        let starts = self.fences + 8 * self.blocks;
        prefetch::lines(
            &self.map[self.fences + 8 * lo..self.fences + 8 * hi],
            per / 8,
        );
        prefetch::lines(
            &self.map[starts + 8 * lo..starts + 8 * (hi + 1)],
            per / 8 + 1,
        );
        if !self.is_checked(self.first_stretch_unit + s) {
            // The first read of a stretch checks its blocks' checks too.
            prefetch::lines(
                &self.map[self.checks + 4 * lo..self.checks + 4 * hi],
                per / 16,
            );
        }
    }

    /// Asks for the block a lookup of `key` will decode, and its check: the
    /// second hint (see `ask_for_fences`), for a nearer key, whose fences the
    /// first has brought in. The fences are read unchecked: what they say
    /// only chooses which lines are asked for, never what a lookup returns.
    pub fn ask_for_block(&self, key: &[u8], near: &mut Ascending) {
        if self.blocks == 0 {
            return;
        }
        let probe = prefix_of(key);
        // A block whose first-key prefix is at most the key's (the search
        // leaves ties alone: a hint needs only be near).
        let past = |b: usize| b < self.blocks && self.prefix(b) <= probe;
        let b = match near.asked_block {
            Some(b) if !past(b + 1) => return,
            // A dense run of keys: the next block.
            Some(b) if !past(b + 2) => b + 1,
            _ => {
                let per = self.per_stretch;
                let s = self.stretch_of(probe);
                let (mut lo, mut hi) = (s * per, ((s + 1) * per).min(self.blocks));
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if past(mid) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo.saturating_sub(1)
            }
        };
        near.asked_block = Some(b);
        let (start, end) = self.block_span(b);
        let end = end.min(self.map.len());
        let start = start.min(end);
        prefetch::lines(&self.map[start..end], BLOCK_LINES);
        if !self.is_checked(b) {
            prefetch::line(&self.map[self.checks + 4 * b]);
        }
    }

    /// Whether `key` is in the block after `b` by the fences' prefixes alone:
    /// above that block's first-key prefix and below the next block's.
    fn starts_next_block(&self, b: usize, key: &[u8]) -> Result<bool> {
        let probe = prefix_of(key);
        if b + 1 >= self.blocks || self.prefix(b + 1) >= probe {
            return Ok(false);
        }
        if b + 2 == self.blocks {
            return Ok(true);
        }
        self.check_stretch(b + 2)?;
        Ok(self.prefix(b + 2) > probe)
    }

    /// The entry of `key` in block `block`, which holds it if the file does.
    fn get_in(&self, block: usize, key: &[u8]) -> Result<Option<Loc>> {
        let mut near = Ascending::default();
        near.enter(block);
        self.search_on(block, key, &mut near)
    }

    /// Decodes block `block` on from where `near` stopped, up to `key`.
    fn search_on(&self, block: usize, key: &[u8], near: &mut Ascending) -> Result<Option<Loc>> {
        // The entry the last search stopped at is not below the key before;
        // the entries before it are below it, so below this key too.
        if let Some(last) = near.last {
            match near.key[..].cmp(key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(Some(last)),
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
        let mut r = Reader::new(self.block_bytes(block)?, near.pos);
        while !r.at_end() {
            let loc = entry_codec::decode_entry(&mut r, self.seq, &mut near.key, near.last)
                .ok_or_else(|| self.corrupt(format!("malformed entry in block {block}")))?;
            (near.pos, near.last) = (r.pos(), Some(loc));
            match near.key[..].cmp(key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(Some(loc)),
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Hands `found` the places (segment, offset, and the most bytes the
    /// record there may take: to the furthest byte the file refers to in that
    /// segment) of the records of the keys whose tag matches hash `h`, in probe
    /// order, until it returns `Some`; `None` if it never did: the file does
    /// not hold the key. A removal's slot is handed over as `(GONE, 0, 0)`.
    pub fn probe<T>(
        &self,
        h: u64,
        mut found: impl FnMut(u32, u32, u32) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let tag = h as u32;
        let table_end = TABLE_AT as usize + self.slots * SLOT;
        let mut slot = home_slot(h, self.slots);
        for _ in 0..self.slots {
            let at = TABLE_AT as usize + slot * SLOT;
            let chunk = (at - TABLE_AT as usize) / CHUNK;
            let chunk_at = TABLE_AT as usize + chunk * CHUNK;
            let chunk_end = (chunk_at + CHUNK).min(table_end);
            self.check(self.blocks + chunk, &self.map[chunk_at..chunk_end])?;
            // A slot may straddle two chunks.
            if at + SLOT > chunk_end {
                let next_end = (chunk_end + CHUNK).min(table_end);
                self.check(self.blocks + chunk + 1, &self.map[chunk_end..next_end])?;
            }
            let segment = u32_at(&self.map, at + 4);
            if segment == EMPTY {
                return Ok(None);
            }
            if u32_at(&self.map, at) == tag && segment == GONE {
                // A removal, of this key or of one whose tag matches.
                if let Some(t) = found(GONE, 0, 0)? {
                    return Ok(Some(t));
                }
            } else if u32_at(&self.map, at) == tag {
                let offset = u32_at(&self.map, at + 8);
                let end = self
                    .segments
                    .binary_search_by_key(&segment, |s| s.id)
                    .map_or(0, |i| self.segments[i].end);
                // Only a made-up file names a place past the records it refers
                // to; recovery checked that those lie in whole frames.
                let max_len = end
                    .saturating_sub(u64::from(offset))
                    .min(u64::from(u32::MAX));
                if max_len == 0 {
                    return Err(self.corrupt(format!(
                        "the table names segment {segment} at {offset}, past its entries"
                    )));
                }
                if let Some(t) = found(segment, offset, max_len as u32)? {
                    return Ok(Some(t));
                }
            }
            slot = (slot + 1) % self.slots;
        }
        Ok(None)
    }

    /// Whether `key` falls in the block the lookups ahead last asked for
    /// (`ask_for_block`), by the fences' prefixes alone: a dense run of keys,
    /// which that block answers. Not where a prefix ties with the key's. A
    /// hint, like the asking: the prefixes are read as they are, checked or
    /// not, and the answer only chooses which checked part says the key is
    /// absent.
    pub fn in_asked_block(&self, key: &[u8], near: &Ascending) -> bool {
        let probe = prefix_of(key);
        near.asked_block.is_some_and(|b| {
            self.prefix(b) < probe && (b + 1 >= self.blocks || probe < self.prefix(b + 1))
        })
    }

    /// Asks for the table slot a probe of hash `h` starts at (`tagged`), for
    /// a key further ahead.
    pub fn ask_for_slot(&self, h: u64) {
        if self.slots > 0 {
            prefetch::line(&self.map[TABLE_AT as usize + home_slot(h, self.slots) * SLOT]);
        }
    }

    /// The entries with keys within `bounds`, in order from either end.
    pub fn range<'a>(&'a self, (start, end): (Bound<&'a [u8]>, Bound<&'a [u8]>)) -> FileRange<'a> {
        FileRange {
            file: self,
            start,
            end,
            front: Front::Unstarted,
            back: Side::Unstarted,
            wanted: None,
        }
    }
}

struct Parsed {
    flags: u32,
    seq: u64,
    covered: BTreeSet<u32>,
    segments: Vec<SegmentEnd>,
    crc: u32,
    delta: Option<DeltaMeta>,
    log_from: Option<LogFrom>,
    len: usize,
    live_bytes: u64,
    blocks: usize,
    slots: usize,
    checks: usize,
    fences: usize,
    stretches: Option<usize>,
    per_stretch: usize,
    samples: Box<[u64]>,
}

/// Whether the little-endian words of `bytes` ascend, `strictly` or not.
/// Every pair is compared, without a branch, so that the compiler can compare
/// many at once: an open checks a word per 16 keys this way.
fn ascending(bytes: &[u8], strictly: bool) -> bool {
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().expect("eight bytes"));
    let (words, next) = (bytes.chunks_exact(8), bytes.get(8..).unwrap_or_default());
    let out_of_order = words
        .map(word)
        .zip(next.chunks_exact(8).map(word))
        .fold(false, |out, (a, b)| out | (a > b) | (strictly & (a == b)));
    !out_of_order
}

/// The footer and what it describes, if they are whole and consistent.
fn parse(bytes: &[u8]) -> Option<Parsed> {
    if bytes.len() < TABLE_AT as usize + FOOTER_LEN
        || !is_index_file(bytes[..8].try_into().expect("eight bytes"))
        || &bytes[bytes.len() - 8..] != END_MAGIC
    {
        return None;
    }
    let (flags, pad_from) = if &bytes[..8] == MAGIC {
        (header_flags(bytes)?, HEADER_LEN)
    } else {
        (0, 8)
    };
    if bytes[pad_from..TABLE_AT as usize].iter().any(|&b| b != 0) {
        return None;
    }
    let footer = bytes.len() - FOOTER_LEN;
    let field = |i: usize| usize::try_from(u64_at(bytes, footer + 8 * i)).ok();
    let (blocks, slots, checks, fences, meta) =
        (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
    let crc = u32_at(bytes, footer + 40);
    // The footer is not under the checksum: every size derived from it is
    // checked for overflow, so that no made-up count wraps into agreement.
    let table_bytes = slots.checked_mul(SLOT)?;
    let table_end = (TABLE_AT as usize).checked_add(table_bytes)?;
    let checks_len = blocks
        .checked_add(table_bytes.div_ceil(CHUNK))?
        .checked_mul(4)?;
    let fences_end = fences.checked_add(blocks.checked_mul(16)?.checked_add(8)?)?;
    if checks < table_end
        || checks.checked_add(checks_len)? != fences
        || fences_end > meta
        || meta > footer
    {
        return None;
    }
    let word = |at: usize| u64_at(bytes, at);
    let (stretches, per_stretch, samples) = if flags & STRETCHES != 0 {
        // The stretches' first prefixes and starts ascend, from the table's
        // end on; each stretch is checked against them when first read.
        let per = usize::try_from(u32_at(bytes, fences_end)).ok()?;
        let count = blocks.div_ceil(per.max(1));
        let samples_at = fences_end + 4;
        let mut footer_crc = crc32fast::Hasher::new();
        footer_crc.update(&bytes[checks + 4 * blocks..fences]);
        footer_crc.update(&bytes[fences_end..footer]);
        if per == 0
            || samples_at.checked_add(count.checked_mul(20)?)? != meta
            || footer_crc.finalize() != crc
        {
            return None;
        }
        let prefixes = &bytes[samples_at..samples_at + 8 * count];
        let starts = &bytes[samples_at + 8 * count..samples_at + 16 * count];
        // With no blocks, nothing ends where the checks begin but the table.
        let first_start = if count == 0 {
            checks
        } else {
            word(samples_at + 8 * count) as usize
        };
        if !ascending(prefixes, false) || !ascending(starts, true) || first_start != table_end {
            return None;
        }
        let samples = (0..count).map(|i| word(samples_at + 8 * i)).collect();
        (Some(samples_at), per, samples)
    } else {
        if fences_end != meta || crc32fast::hash(&bytes[checks..footer]) != crc {
            return None;
        }
        // Block starts ascend from the table's end to the checks, each block
        // non-empty, and first-key prefixes ascend with the blocks.
        let starts = &bytes[fences + 8 * blocks..fences_end];
        let prefixes = &bytes[fences..fences + 8 * blocks];
        if word(fences + 8 * blocks) as usize != table_end
            || word(fences_end - 8) as usize != checks
            || !ascending(starts, true)
            || !ascending(prefixes, false)
        {
            return None;
        }
        let samples = (0..blocks)
            .step_by(STRETCH)
            .map(|b| word(fences + 8 * b))
            .collect();
        (None, STRETCH, samples)
    };
    let mut r = Reader::new(&bytes[..footer], meta);
    let seq = r.u64()?;
    let mut covered = BTreeSet::new();
    for _ in 0..r.u32()? {
        covered.insert(r.u32()?);
    }
    let len = usize::try_from(r.u64()?).ok()?;
    let live_bytes = r.u64()?;
    let with_live = &bytes[..8] != MAGIC_4;
    let mut segments = Vec::new();
    for _ in 0..r.u32()? {
        segments.push(SegmentEnd {
            id: r.u32()?,
            end: r.u64()?,
            live: if with_live { Some(r.u64()?) } else { None },
        });
    }
    let delta = if flags & DELTA != 0 {
        let base = FileId {
            seq: r.u64()?,
            crc: r.u32()?,
        };
        let (len, live_bytes) = (usize::try_from(r.u64()?).ok()?, r.u64()?);
        let mut live_by_segment = BTreeMap::new();
        for _ in 0..r.u32()? {
            live_by_segment.insert(r.u32()?, r.u64()?);
        }
        Some(DeltaMeta {
            base,
            len,
            live_bytes,
            live_by_segment,
        })
    } else {
        None
    };
    let log_from = if flags & LOG_FROM != 0 {
        Some(LogFrom {
            segment: r.u32()?,
            offset: r.u64()?,
        })
    } else {
        None
    };
    let blocks_needed = len.div_ceil(BLOCK_ENTRIES);
    // The writer holds fewer keys than that; more would overflow the table's size.
    if len >= EMPTY as usize {
        return None;
    }
    if !r.at_end() || blocks != blocks_needed || slots as u64 != table_slots(len as u64) {
        return None;
    }
    Some(Parsed {
        flags,
        seq,
        covered,
        segments,
        crc,
        delta,
        log_from,
        len,
        live_bytes,
        blocks,
        slots,
        checks,
        fences,
        stretches,
        per_stretch,
        samples,
    })
}

/// One decoded block: its keys back to back, where each ends, and the
/// locations.
#[derive(Default)]
struct BlockCursor {
    block: usize,
    keys: Vec<u8>,
    ends: Vec<u32>,
    locs: Vec<Loc>,
}

impl BlockCursor {
    /// Room for a block of keys of up to 32 bytes without growing: a range
    /// decodes at least one block.
    fn new() -> BlockCursor {
        BlockCursor {
            block: 0,
            keys: Vec::with_capacity(BLOCK_ENTRIES * 32),
            ends: Vec::with_capacity(BLOCK_ENTRIES),
            locs: Vec::with_capacity(BLOCK_ENTRIES),
        }
    }

    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.keys[start..self.ends[i] as usize]
    }
}

/// Entries the front end of a range keeps decoded: the next to take and those
/// after it, whose records a reader can start fetching early.
const RING: usize = 4;

/// Keys up to this long are held in a decoded entry itself.
const INLINE_KEY: usize = 40;

/// The key of a decoded entry: inline up to [`INLINE_KEY`] bytes, as most keys
/// are, so that a range allocates nothing for its keys.
struct KeyBuf {
    len: usize,
    inline: [u8; INLINE_KEY],
    long: Vec<u8>,
}

impl KeyBuf {
    fn new() -> KeyBuf {
        KeyBuf {
            len: 0,
            inline: [0; INLINE_KEY],
            long: Vec::new(),
        }
    }

    #[inline]
    fn get(&self) -> &[u8] {
        if self.len <= INLINE_KEY {
            &self.inline[..self.len]
        } else {
            &self.long
        }
    }

    /// Makes this key `head` followed by `tail`.
    #[inline]
    fn set(&mut self, head: &[u8], tail: &[u8]) {
        self.len = head.len() + tail.len();
        if self.len <= INLINE_KEY {
            self.inline[..head.len()].copy_from_slice(head);
            self.inline[head.len()..self.len].copy_from_slice(tail);
        } else {
            self.long.clear();
            self.long.extend_from_slice(head);
            self.long.extend_from_slice(tail);
        }
    }
}

/// A decoded entry and its position (block, index in the block).
struct Decoded {
    key: KeyBuf,
    loc: Loc,
    pos: (usize, usize),
}

/// Why the front end stopped decoding ahead.
enum Stop {
    EndOfFile,
    Failed(Error),
}

/// The front end of a range: entries decoded as the range comes near them, a
/// few ahead of the one taken, each key built from the one before; a short
/// range decodes little more than it reads.
struct Forward<'a> {
    reader: Reader<'a>,
    /// Entries decoded and not yet taken are `ring[first..first + len]`,
    /// wrapping; the slot before them holds the last one taken.
    ring: [Decoded; RING],
    first: usize,
    len: usize,
    /// Whether any entry has been decoded (the last one is the base of the next).
    started: bool,
    stop: Option<Stop>,
}

impl<'a> Forward<'a> {
    fn new() -> Forward<'a> {
        Forward {
            reader: Reader::new(&[], 0),
            ring: std::array::from_fn(|_| Decoded {
                key: KeyBuf::new(),
                loc: Loc {
                    seq: 0,
                    segment: 0,
                    offset: 0,
                    len: 0,
                },
                pos: (0, 0),
            }),
            first: 0,
            len: 0,
            started: false,
            stop: None,
        }
    }

    fn last(&self) -> &Decoded {
        &self.ring[(self.first + self.len + RING - 1) % RING]
    }

    /// Decodes the first entry of block `block` into the next free slot.
    fn enter(&mut self, file: &'a IndexFile, block: usize) -> Result<()> {
        self.reader = Reader::new(file.block_bytes(block)?, 0);
        let e = entry_codec::decode_parts(&mut self.reader, file.seq, 0, None)
            .ok_or_else(|| file.corrupt(format!("malformed entry in block {block}")))?;
        let slot = &mut self.ring[(self.first + self.len) % RING];
        slot.key.set(&[], e.suffix);
        slot.loc = e.loc;
        slot.pos = (block, 0);
        self.len += 1;
        self.started = true;
        Ok(())
    }

    /// Decodes the first entry from block `block` on whose key is at least
    /// `target` (above it, with `excluded`) into the first slot; `false` if
    /// the file has none.
    ///
    /// The entries before it are not built: each key is the one before it up
    /// to `shared`, then its suffix, so its order against the target follows
    /// from how much of the target the key before it matched (`matched`) and
    /// its own suffix. A key that shares more than that with the key before it
    /// sorts where that key did, below the target; one that shares at most
    /// that much equals the target up to `shared` and is compared from there.
    /// Neither step relies on the file's keys ascending.
    fn seek(
        &mut self,
        file: &'a IndexFile,
        mut block: usize,
        target: &[u8],
        excluded: bool,
    ) -> Result<bool> {
        loop {
            let mut reader = Reader::new(file.block_bytes(block)?, 0);
            let expected = file.entries_in(block);
            let (mut matched, mut prev_len, mut prev_loc) = (0, 0, None);
            let mut index = 0;
            while !reader.at_end() {
                if index >= expected {
                    return Err(file.wrong_count(block));
                }
                let e = entry_codec::decode_parts(&mut reader, file.seq, prev_len, prev_loc)
                    .ok_or_else(|| file.corrupt(format!("malformed entry in block {block}")))?;
                let (order, now_matched) = if e.shared <= matched {
                    let rest = &target[e.shared..];
                    let common = e
                        .suffix
                        .iter()
                        .zip(rest)
                        .take_while(|(a, b)| a == b)
                        .count();
                    (e.suffix.cmp(rest), e.shared + common)
                } else {
                    (std::cmp::Ordering::Less, matched)
                };
                let reached = match order {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Equal => !excluded,
                    std::cmp::Ordering::Less => false,
                };
                if reached {
                    let slot = &mut self.ring[0];
                    slot.key.set(&target[..e.shared], e.suffix);
                    slot.loc = e.loc;
                    slot.pos = (block, index);
                    (self.reader, self.first, self.len, self.started) = (reader, 0, 1, true);
                    return Ok(true);
                }
                (matched, prev_len, prev_loc) =
                    (now_matched, e.shared + e.suffix.len(), Some(e.loc));
                index += 1;
            }
            if index != expected {
                return Err(file.wrong_count(block));
            }
            block += 1;
            if block >= file.blocks {
                return Ok(false);
            }
        }
    }

    /// Decodes the entry after the last one decoded into the next free slot
    /// (there must be one); `false` at the end of the file.
    fn decode_one(&mut self, file: &'a IndexFile) -> Result<bool> {
        let (block, index) = self.last().pos;
        let expected = file.entries_in(block);
        if self.reader.at_end() {
            if index + 1 != expected {
                return Err(file.wrong_count(block));
            }
            if block + 1 >= file.blocks {
                return Ok(false);
            }
            self.enter(file, block + 1)?;
            // Open checks only the first keys' prefixes from block to block: a
            // made-up file may start a block below where the one before ended.
            let at = (self.first + self.len + RING - 1) % RING;
            let prev = (at + RING - 1) % RING;
            if self.ring[at].key.get() <= self.ring[prev].key.get() {
                self.len -= 1;
                return Err(file.corrupt(format!(
                    "keys out of order from block {block} to {}",
                    block + 1
                )));
            }
            return Ok(true);
        }
        if index + 1 >= expected {
            return Err(file.wrong_count(block));
        }
        let at = (self.first + self.len) % RING;
        let prev = (at + RING - 1) % RING;
        let (prev_len, prev_loc) = (self.ring[prev].key.get().len(), self.ring[prev].loc);
        let e = entry_codec::decode_parts(&mut self.reader, file.seq, prev_len, Some(prev_loc))
            .ok_or_else(|| file.corrupt(format!("malformed entry in block {block}")))?;
        // A file with good checksums holds what the writer wrote; this check
        // costs little and keeps a made-up one from breaking the order the
        // readers rely on.
        let in_order = e.follows(self.ring[prev].key.get());
        // The slot written and the one before it, borrowed together.
        let (slot, before) = if at > prev {
            let (low, high) = self.ring.split_at_mut(at);
            (&mut high[0], &low[prev])
        } else {
            let (low, high) = self.ring.split_at_mut(prev);
            (&mut low[at], &high[0])
        };
        slot.key.set(&before.key.get()[..e.shared], e.suffix);
        slot.loc = e.loc;
        slot.pos = (block, index + 1);
        if !in_order {
            return Err(file.corrupt(format!("keys out of order in block {block}")));
        }
        self.len += 1;
        Ok(true)
    }

    /// Decodes ahead until `ahead` entries (at most the ring) are decoded and
    /// not taken, the range's end or the back end is reached, or decoding
    /// stops (an error is kept for when the range reaches it). Returns how many
    /// entries were decoded.
    fn fill(
        &mut self,
        file: &'a IndexFile,
        end: &Bound<&[u8]>,
        back: Option<(usize, usize)>,
        ahead: usize,
    ) -> usize {
        let mut decoded = 0;
        while self.len < ahead && self.stop.is_none() {
            if self.len > 0 {
                let last = self.last();
                if back.is_some_and(|b| last.pos >= b) || !within_end(end, last.key.get()) {
                    break;
                }
            }
            match self.decode_one(file) {
                Ok(true) => decoded += 1,
                Ok(false) => self.stop = Some(Stop::EndOfFile),
                Err(e) => self.stop = Some(Stop::Failed(e)),
            }
        }
        decoded
    }

    /// The next entry to take, if decoded.
    fn front(&self) -> Option<&Decoded> {
        (self.len > 0).then(|| &self.ring[self.first])
    }

    fn take(&mut self) {
        self.first = (self.first + 1) % RING;
        self.len -= 1;
    }

    /// The position of the next entry to take, as (block, index).
    fn pos(&self) -> (usize, usize) {
        match self.front() {
            Some(d) => d.pos,
            None => {
                let (block, index) = self.last().pos;
                (block, index + 1)
            }
        }
    }
}

// A range is made once per scan and kept in place: the walker inline saves an
// allocation per scan.
#[allow(clippy::large_enum_variant)]
enum Front<'a> {
    Unstarted,
    At(Forward<'a>),
    Done,
}

enum Side {
    Unstarted,
    /// The decoded block and the position of the next entry to take (from the
    /// front: its index; from the back: one past it).
    At(BlockCursor, usize),
    Done,
}

/// A range of a file's entries, walked from either end. The two ends meet
/// where the last key taken from one is reached from the other.
pub struct FileRange<'a> {
    file: &'a IndexFile,
    start: Bound<&'a [u8]>,
    end: Bound<&'a [u8]>,
    front: Front<'a>,
    back: Side,
    /// How many more entries the caller means to take from the front, if it
    /// said (`will_take`): decoding ahead stops there.
    wanted: Option<usize>,
}

impl<'a> FileRange<'a> {
    fn seek_front(&mut self) -> Result<()> {
        let file = self.file;
        self.front = Front::Done;
        let (block, bound) = match &self.start {
            Bound::Unbounded => (0, None),
            Bound::Included(k) => (file.block_for(k, true)?.unwrap_or(0), Some((k, false))),
            Bound::Excluded(k) => (file.block_for(k, false)?.unwrap_or(0), Some((k, true))),
        };
        if block >= file.blocks {
            return Ok(());
        }
        let mut walk = Forward::new();
        let found = match bound {
            None => {
                walk.enter(file, block)?;
                true
            }
            Some((k, excluded)) => walk.seek(file, block, k, excluded)?,
        };
        if found {
            self.front = Front::At(walk);
        }
        Ok(())
    }

    fn seek_back(&mut self) -> Result<()> {
        let file = self.file;
        self.back = Side::Done;
        if file.blocks == 0 {
            return Ok(());
        }
        let (block, pos) = match &self.end {
            Bound::Unbounded => (Some(file.blocks - 1), None),
            Bound::Included(k) => (file.block_for(k, false)?, Some((k, false))),
            Bound::Excluded(k) => (file.block_for(k, true)?, Some((k, true))),
        };
        let Some(block) = block else {
            return Ok(());
        };
        let mut cursor = BlockCursor::new();
        file.decode_block(block, &mut cursor)?;
        let n = cursor.locs.len();
        let i = match pos {
            None => n,
            Some((k, excluded)) => (0..n)
                .rev()
                .find(|&i| {
                    let c = cursor.key(i);
                    if excluded {
                        c < &k[..]
                    } else {
                        c <= &k[..]
                    }
                })
                .map_or(0, |i| i + 1),
        };
        self.back = Side::At(cursor, i);
        Ok(())
    }

    /// The position of the next entry from the front, as (block, index).
    fn front_pos(&self) -> Option<(usize, usize)> {
        match &self.front {
            Front::At(walk) => Some(walk.pos()),
            _ => None,
        }
    }

    /// One past the last entry taken from the back, as (block, index).
    fn back_pos(&self) -> Option<(usize, usize)> {
        match &self.back {
            Side::At(c, i) => Some((c.block, *i)),
            _ => None,
        }
    }

    fn finish(&mut self) {
        // An end stops at the range's bound or where the other end has been:
        // either way nothing is left for the other end.
        self.front = Front::Done;
        self.back = Side::Done;
    }

    /// Announces that the caller means to take `n` more entries from the
    /// front: decoding ahead, and the hints for fetching records it gives, stop
    /// there, so a short range reads nothing past its end. Taking more is
    /// allowed; past `n` the range decodes ahead as usual.
    pub fn will_take(&mut self, n: usize) {
        self.wanted = (n > 0).then_some(n);
    }

    /// Takes the next entry from the front and lends its key to `f`, with the
    /// locations of the entries decoded after it (a hint for prefetching).
    pub fn next_with<T>(&mut self, f: impl FnOnce(&[u8], Loc, &[Loc]) -> T) -> Option<Result<T>> {
        self.next_hinted(|_| {}, f)
    }

    /// `next_with`, and when this step seeks the range's start, `sought` is
    /// told the location of the first entry before the entries after it are
    /// decoded: its record can be fetched meanwhile.
    pub fn next_hinted<T>(
        &mut self,
        sought: impl FnOnce(Loc),
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        if let Front::Unstarted = self.front {
            if let Err(e) = self.seek_front() {
                self.finish();
                return Some(Err(e));
            }
            if let Front::At(walk) = &self.front {
                if let Some(first) = walk.front() {
                    sought(first.loc);
                }
            }
        }
        let back = self.back_pos();
        let file = self.file;
        let Front::At(walk) = &mut self.front else {
            self.finish();
            return None;
        };
        // Entries decoded ahead, the next one to take included.
        let ahead = self.wanted.map_or(RING, |w| w.clamp(1, RING));
        let decoded = walk.fill(file, &self.end, back, ahead);
        let Some(next) = walk.front() else {
            let stop = walk.stop.take();
            self.finish();
            return match stop {
                Some(Stop::Failed(e)) => Some(Err(e)),
                _ => None,
            };
        };
        if back.is_some_and(|b| next.pos >= b) || !within_end(&self.end, next.key.get()) {
            self.finish();
            return None;
        }
        // The records of the entries decoded just now, after this one, are
        // worth fetching early.
        let mut ahead = [next.loc; RING];
        let fresh = decoded.min(walk.len) - usize::from(decoded >= walk.len);
        for (i, slot) in ahead.iter_mut().take(fresh).enumerate() {
            *slot = walk.ring[(walk.first + walk.len - fresh + i) % RING].loc;
        }
        let out = f(next.key.get(), next.loc, &ahead[..fresh]);
        walk.take();
        // Past the number announced, decoding ahead goes back to its usual depth.
        self.wanted = self
            .wanted
            .and_then(|w| w.checked_sub(1))
            .filter(|&w| w > 0);
        Some(Ok(out))
    }

    /// Takes the next entry from the back and lends its key to `f`, with the
    /// location of the entry before it in the block.
    pub fn next_back_with<T>(
        &mut self,
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        if let Side::Unstarted = self.back {
            if let Err(e) = self.seek_back() {
                self.finish();
                return Some(Err(e));
            }
        }
        let front = self.front_pos();
        let taken = loop {
            let Side::At(cursor, i) = &mut self.back else {
                self.finish();
                return None;
            };
            if *i == 0 {
                if cursor.block == 0 || front.is_some_and(|(fb, _)| cursor.block - 1 < fb) {
                    break Ok(None);
                }
                let (block, file) = (cursor.block, self.file);
                let first = match file.first_key(block) {
                    Ok(first) => first,
                    Err(e) => break Err(e),
                };
                if let Err(e) = file.decode_block(block - 1, cursor) {
                    break Err(e);
                }
                // Open checks only the first keys' prefixes from block to block:
                // a made-up file may end a block above where the next one starts.
                let n = cursor.locs.len();
                if n > 0 && cursor.key(n - 1) >= first {
                    break Err(file.corrupt(format!(
                        "keys out of order from block {} to {block}",
                        block - 1
                    )));
                }
                *i = n;
                continue;
            }
            let at = *i - 1;
            if front.is_some_and(|f| (cursor.block, at) < f)
                || !within_start(&self.start, cursor.key(at))
            {
                break Ok(None);
            }
            *i = at;
            break Ok(Some(at));
        };
        self.lend_back(taken, f)
    }

    /// Lends entry `taken` of the block decoded at the back to `f`, with the
    /// location of the entry before it; or, on none or an error, ends the
    /// range.
    fn lend_back<T>(
        &mut self,
        taken: Result<Option<usize>>,
        f: impl FnOnce(&[u8], Loc, &[Loc]) -> T,
    ) -> Option<Result<T>> {
        match (taken, &self.back) {
            (Ok(Some(at)), Side::At(cursor, _)) => {
                let before = at.checked_sub(1).map(|i| cursor.locs[i]);
                Some(Ok(f(cursor.key(at), cursor.locs[at], before.as_slice())))
            }
            (Err(e), _) => {
                self.finish();
                Some(Err(e))
            }
            _ => {
                self.finish();
                None
            }
        }
    }
}

fn within_end(end: &Bound<&[u8]>, key: &[u8]) -> bool {
    match end {
        Bound::Unbounded => true,
        Bound::Included(e) => key <= &e[..],
        Bound::Excluded(e) => key < &e[..],
    }
}

fn within_start(start: &Bound<&[u8]>, key: &[u8]) -> bool {
    match start {
        Bound::Unbounded => true,
        Bound::Included(s) => key >= &s[..],
        Bound::Excluded(s) => key > &s[..],
    }
}

impl Iterator for FileRange<'_> {
    type Item = Result<(Key, Loc)>;
    fn next(&mut self) -> Option<Result<(Key, Loc)>> {
        self.next_with(|k, l, _| (Key::new(k), l))
    }
}

impl DoubleEndedIterator for FileRange<'_> {
    fn next_back(&mut self) -> Option<Result<(Key, Loc)>> {
        self.next_back_with(|k, l, _| (Key::new(k), l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn loc(i: u32) -> Loc {
        Loc {
            seq: 90 + u64::from(i % 7),
            segment: 1 + i % 3,
            offset: 16 + i * 40,
            len: 40,
        }
    }

    fn written(entries: &BTreeMap<Vec<u8>, Loc>) -> (tempfile::TempDir, IndexFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        write(
            &path,
            REPLAYABLE,
            100,
            &[1, 2].into(),
            entries.len(),
            entries.iter().map(|(k, l)| Ok((k, *l))),
        )
        .unwrap();
        let file = IndexFile::open(&path).unwrap();
        (dir, file)
    }

    fn bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
        b.as_ref().map(|k| &k[..])
    }

    fn bound_strategy() -> impl Strategy<Value = Bound<Vec<u8>>> {
        prop_oneof![
            Just(Bound::Unbounded),
            key_strategy().prop_map(Bound::Included),
            key_strategy().prop_map(Bound::Excluded),
        ]
    }

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Few distinct bytes and lengths around the prefix's eight, so that
        // prefixes tie and keys share long prefixes.
        prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 1..12)
    }

    proptest! {
        /// The fences' check agrees with a comparison of each word with the
        /// next (few distinct words, so that ties and descents are common).
        #[test]
        fn ascending_compares_every_word_with_the_next(
            words in prop::collection::vec(0u64..4, 0..40),
            strictly in any::<bool>(),
        ) {
            let bytes: Vec<u8> = words.iter().flat_map(|w| (w << 56 | w).to_le_bytes()).collect();
            let want = words.windows(2).all(|p| p[0] < p[1] || !strictly && p[0] == p[1]);
            prop_assert_eq!(ascending(&bytes, strictly), want);
        }

        #[test]
        fn lookups_and_ranges_agree_with_a_sorted_map(
            keys in prop::collection::btree_set(key_strategy(), 0..300),
            probes in prop::collection::vec(key_strategy(), 20),
            ranges in prop::collection::vec((bound_strategy(), bound_strategy(), any::<u8>()), 8),
            ahead_by in 0usize..40,
        ) {
            let entries: BTreeMap<Vec<u8>, Loc> =
                keys.iter().enumerate().map(|(i, k)| (k.clone(), loc(i as u32))).collect();
            let (_dir, file) = written(&entries);
            prop_assert_eq!(file.len(), entries.len());
            prop_assert_eq!(file.live_bytes(), 40 * entries.len() as u64);
            for p in probes.iter().chain(keys.iter()) {
                prop_assert_eq!(file.get(p).unwrap(), entries.get(p).copied());
                // The table finds every key's record, maybe after others whose
                // tag matches.
                let mut places = Vec::new();
                file.probe(hash(p), |segment, offset, _| { places.push((segment, offset)); Ok(None::<()>) }).unwrap();
                if let Some(l) = entries.get(p) {
                    prop_assert!(places.contains(&(l.segment, l.offset)), "{:?} not among {:?}", l, places);
                }
            }
            // Looked up in ascending order, with repeats, from one block to the
            // next, asking for the keys' fences and blocks a few keys ahead
            // with the same `near`, as `DiskIndex::get_sorted` does.
            let mut ascending: Vec<&Vec<u8>> = probes.iter().chain(keys.iter()).chain(probes.iter().take(3)).collect();
            ascending.sort();
            let mut near = Ascending::default();
            for (i, p) in ascending.iter().enumerate() {
                if let Some(ahead) = ascending.get(i + ahead_by) {
                    file.ask_for_fences(ahead, &mut near);
                    file.ask_for_block(ahead, &mut near);
                }
                prop_assert_eq!(file.get_ascending(p, &mut near).unwrap(), entries.get(*p).copied());
            }
            for (start, end, turns) in &ranges {
                // Bounds BTreeMap::range refuses.
                match (start, end) {
                    (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) if s > e => continue,
                    (Bound::Excluded(s), Bound::Excluded(e)) if s == e => continue,
                    _ => {}
                }
                let expected: Vec<(Vec<u8>, Loc)> = entries
                    .range::<[u8], _>((bound(start), bound(end)))
                    .map(|(k, l)| (k.clone(), *l))
                    .collect();
                // Take from both ends, in an order given by the bits of `turns`,
                // and check the two ends meet without losing or repeating one.
                let mut range = file.range((bound(start), bound(end)));
                let (mut front, mut back) = (Vec::new(), Vec::new());
                for step in 0.. {
                    let from_back = step < 8 && turns >> step & 1 == 1;
                    let item = if from_back { range.next_back() } else { range.next() };
                    match item {
                        Some(Ok((k, l))) if from_back => back.push((k.to_vec(), l)),
                        Some(Ok((k, l))) => front.push((k.to_vec(), l)),
                        Some(Err(e)) => panic!("{e}"),
                        None if from_back => {}
                        None => break,
                    }
                }
                prop_assert!(range.next_back().is_none());
                back.reverse();
                front.extend(back);
                prop_assert_eq!(&front, &expected);
            }
        }
    }

    #[test]
    fn a_front_walk_names_each_record_before_it_is_taken() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..100u32)
            .map(|i| (format!("key{i:03}").into_bytes(), loc(i)))
            .collect();
        let (_dir, file) = written(&entries);
        let start = b"key013".to_vec();
        let end = b"key090".to_vec();
        let mut range = file.range((Bound::Included(&start[..]), Bound::Excluded(&end[..])));
        let (mut hinted, mut taken) = (Vec::new(), Vec::new());
        while let Some(step) = range.next_with(|_, l, ahead| {
            taken.push(l);
            hinted.extend_from_slice(ahead);
        }) {
            step.unwrap();
        }
        let expected: Vec<Loc> = (13..90).map(loc).collect();
        assert_eq!(taken, expected);
        // Every record after the first is hinted a few steps before the step
        // that takes it, and little past the range's end is.
        for (step, l) in taken.iter().enumerate().skip(1) {
            let at = hinted.iter().position(|h| h == l).expect("hinted");
            assert!(at < step + RING, "hinted at {at}, taken at step {step}");
        }
        assert!(hinted.len() <= taken.len() + RING);
        assert_eq!(hinted[..RING - 1], expected[1..RING]);
    }

    #[test]
    fn a_front_walk_told_how_much_will_be_taken_hints_nothing_past_it() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..100u32)
            .map(|i| (format!("key{i:03}").into_bytes(), loc(i)))
            .collect();
        let (_dir, file) = written(&entries);
        let start = b"key013".to_vec();
        let mut range = file.range((Bound::Included(&start[..]), Bound::Unbounded));
        range.will_take(5);
        let (mut hinted, mut taken) = (Vec::new(), Vec::new());
        let sought = std::cell::Cell::new(None);
        let step = |range: &mut FileRange, hinted: &mut Vec<Loc>, taken: &mut Vec<Loc>| {
            range
                .next_hinted(
                    |l| sought.set(Some(l)),
                    |_, l, ahead| {
                        taken.push(l);
                        hinted.extend_from_slice(ahead);
                    },
                )
                .unwrap()
                .unwrap()
        };
        for _ in 0..5 {
            step(&mut range, &mut hinted, &mut taken);
        }
        assert_eq!(taken, (13..18).map(loc).collect::<Vec<_>>());
        // The first entry was named when sought, the others as they were decoded,
        // and nothing after the fifth.
        assert_eq!(sought.get(), Some(loc(13)));
        assert_eq!(hinted, (14..18).map(loc).collect::<Vec<_>>());
        // Taking more reads on, decoding ahead again.
        for _ in 0..5 {
            step(&mut range, &mut hinted, &mut taken);
        }
        assert_eq!(taken, (13..23).map(loc).collect::<Vec<_>>());
        assert!(
            hinted.len() > 4 + 5,
            "hints resume past the fifth: {hinted:?}"
        );
    }

    proptest! {
        #[test]
        // A made-up file whose keys do not ascend: a range never hands out a key
        // outside its bounds or out of order; it may refuse the block instead.
        fn a_range_of_a_made_up_file_stays_within_its_bounds(
            keys in prop::collection::vec(key_strategy(), 1..80),
            start in key_strategy(),
            excluded in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index");
            let entries = keys.iter().enumerate().map(|(i, k)| Ok((k, loc(i as u32))));
            write(&path, REPLAYABLE, 100, &BTreeSet::new(), keys.len(), entries).unwrap();
            // Blocks whose first keys do not ascend are refused at open.
            let Ok(file) = IndexFile::open(&path) else {
                return Ok(());
            };
            let bound = if excluded { Bound::Excluded(&start[..]) } else { Bound::Included(&start[..]) };
            let mut last: Option<Vec<u8>> = None;
            for item in file.range((bound, Bound::Unbounded)) {
                match item {
                    Ok((k, _)) => {
                        let within = if excluded { k[..] > start[..] } else { k[..] >= start[..] };
                        prop_assert!(within, "{:?} before the start {:?}", &k[..], start);
                        prop_assert!(last.as_deref().is_none_or(|l| l < &k[..]));
                        last = Some(k.to_vec());
                    }
                    Err(e) => prop_assert_eq!(e.kind(), crate::ErrorKind::CorruptedData),
                }
            }
            // The same range from the back: descending keys, or a refusal.
            let mut last: Option<Vec<u8>> = None;
            for item in file.range((bound, Bound::Unbounded)).rev() {
                match item {
                    Ok((k, _)) => {
                        let within = if excluded { k[..] > start[..] } else { k[..] >= start[..] };
                        prop_assert!(within, "{:?} before the start {:?}", &k[..], start);
                        prop_assert!(last.as_deref().is_none_or(|l| l > &k[..]), "{:?} after {:?}", &k[..], last);
                        last = Some(k.to_vec());
                    }
                    Err(e) => prop_assert_eq!(e.kind(), crate::ErrorKind::CorruptedData),
                }
            }
        }
    }

    #[test]
    // Where the log after the file begins is kept under the header's flag and
    // read back; a file without it has none, and a flag whose meta is missing
    // is refused.
    fn a_file_names_where_the_log_after_it_begins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let keys: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 3]).collect();
        let entries = || keys.iter().enumerate().map(|(i, k)| Ok((k, loc(i as u32))));
        let from = LogFrom {
            segment: 7,
            offset: 1 << 33,
        };
        let covered = BTreeSet::from([5, 6]);
        write_from(
            &path,
            REPLAYABLE,
            100,
            &covered,
            Some(from),
            keys.len(),
            entries(),
        )
        .unwrap();
        let file = IndexFile::open(&path).unwrap();
        assert_eq!(file.log_from, Some(from));
        assert_eq!(
            (file.seq, &file.covered, file.replayable),
            (100, &covered, true)
        );
        assert_eq!(file.len(), keys.len());
        let meta = DeltaMeta {
            base: file.id,
            len: keys.len(),
            live_bytes: 0,
            live_by_segment: BTreeMap::new(),
        };
        let delta_path = dir.path().join("delta");
        write_delta_from(
            &delta_path,
            120,
            &covered,
            Some(from),
            0,
            std::iter::empty::<Result<(Key, Loc)>>(),
            &meta,
        )
        .unwrap();
        let delta = IndexFile::open(&delta_path).unwrap();
        assert_eq!(
            (delta.log_from, delta.delta.as_ref()),
            (Some(from), Some(&meta))
        );

        write(&path, REPLAYABLE, 100, &covered, keys.len(), entries()).unwrap();
        assert_eq!(IndexFile::open(&path).unwrap().log_from, None);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&(REPLAYABLE | LOG_FROM).to_le_bytes());
        let crc = crc32fast::hash(&bytes[..12]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            IndexFile::open(&path).unwrap_err().kind(),
            crate::ErrorKind::CorruptedData
        );
    }

    #[test]
    // A made-up file whose block ends above where the next block starts (the
    // first keys' prefixes still ascend, so open accepts it): a walk from
    // either end refuses the crossing instead of handing out a key out of order.
    fn a_walk_refuses_a_block_that_starts_below_the_end_of_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let mut keys: Vec<Vec<u8>> = (0..BLOCK_ENTRIES - 1).map(|i| vec![0, i as u8]).collect();
        keys.push(vec![255, 255, 255]);
        keys.push(vec![255, 255]);
        let entries = keys.iter().enumerate().map(|(i, k)| Ok((k, loc(i as u32))));
        write(
            &path,
            REPLAYABLE,
            100,
            &BTreeSet::new(),
            keys.len(),
            entries,
        )
        .unwrap();
        let file = IndexFile::open(&path).unwrap();
        assert_eq!(file.blocks, 2);
        let refused = |items: Vec<Result<(Key, Loc)>>| {
            let err = items
                .into_iter()
                .find_map(|item| item.err())
                .expect("refused");
            assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
        };
        let start = [1u8];
        refused(
            file.range((Bound::Included(&start[..]), Bound::Unbounded))
                .collect(),
        );
        refused(file.range((Bound::Unbounded, Bound::Unbounded)).collect());
        refused(
            file.range((Bound::Unbounded, Bound::Unbounded))
                .rev()
                .collect(),
        );
    }

    #[test]
    // A block count in the footer that wraps the sizes derived from it into
    // agreement (2^62 more blocks: 4 and 16 bytes each) is refused at open,
    // not an overflow (a panic where overflow is checked: debug and fuzz
    // builds, where the recover target found it).
    fn a_block_count_that_wraps_is_refused() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..100u32)
            .map(|i| (i.to_be_bytes().to_vec(), loc(i)))
            .collect();
        let (dir, file) = written(&entries);
        drop(file);
        let path = dir.path().join("index");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - FOOTER_LEN;
        let blocks = u64_at(&bytes, at) + (1 << 62);
        bytes[at..at + 8].copy_from_slice(&blocks.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let err = IndexFile::open(&path).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
    }

    #[test]
    // Only a writer given keys out of order makes such a file (its checksums
    // are good): scans refuse it rather than break their order.
    fn keys_out_of_order_are_corrupted_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let entries = [(b"b".to_vec(), loc(0)), (b"a".to_vec(), loc(1))];
        write(
            &path,
            REPLAYABLE,
            100,
            &BTreeSet::new(),
            2,
            entries.into_iter().map(Ok),
        )
        .unwrap();
        let file = IndexFile::open(&path).unwrap();
        let err = file
            .range((Bound::Unbounded, Bound::Unbounded))
            .find_map(|e| e.err())
            .expect("a scan refuses the block");
        assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
    }

    #[test]
    fn meta_names_the_segments_the_furthest_byte_and_the_live_bytes_in_each() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..100u32)
            .map(|i| (i.to_be_bytes().to_vec(), loc(i)))
            .collect();
        let (_dir, file) = written(&entries);
        assert_eq!(file.seq, 100);
        assert_eq!(file.covered, [1, 2].into());
        let in_segment = |id| entries.values().filter(move |l| l.segment == id);
        let expected: Vec<SegmentEnd> = (1..=3)
            .map(|id| SegmentEnd {
                id,
                end: in_segment(id)
                    .map(|l| u64::from(l.offset + l.len))
                    .max()
                    .unwrap(),
                live: Some(in_segment(id).map(|l| u64::from(l.len)).sum()),
            })
            .collect();
        assert_eq!(file.segments, expected);
    }

    #[test]
    // A file of the format before per-segment live bytes opens, reads, and
    // says it does not know them.
    fn a_file_of_the_format_before_is_read() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..100u32)
            .map(|i| (i.to_be_bytes().to_vec(), loc(i)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        write_format_4(
            &path,
            entries.len(),
            entries.iter().map(|(k, l)| Ok((k, *l))),
        )
        .unwrap();
        let file = IndexFile::open(&path).unwrap();
        assert!(file.segments.iter().all(|s| s.live.is_none()));
        assert_eq!(file.segments.len(), 3);
        for (k, l) in &entries {
            assert_eq!(file.get(k).unwrap(), Some(*l));
        }
        let all: Vec<Loc> = file
            .range((Bound::Unbounded, Bound::Unbounded))
            .map(|e| e.unwrap().1)
            .collect();
        assert_eq!(all, entries.values().copied().collect::<Vec<_>>());
    }

    /// Reads every part of `file`: a scan, and a lookup of every key both ways.
    fn read_all(file: &IndexFile, keys: &[Vec<u8>]) -> Result<()> {
        // Hints read the fences unchecked: first, so that they meet every
        // flipped byte before a lookup refuses the file.
        let mut near = Ascending::default();
        for k in keys {
            file.ask_for_fences(k, &mut near);
            file.ask_for_block(k, &mut near);
        }
        for entry in file.range((Bound::Unbounded, Bound::Unbounded)) {
            entry?;
        }
        for k in keys {
            file.get(k)?;
            file.probe(hash(k), |_, _, _| Ok(None::<()>))?;
        }
        Ok(())
    }

    #[test]
    fn every_flipped_byte_and_every_cut_is_refused() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..70u32)
            .map(|i| (format!("key{i:04}").into_bytes(), loc(i)))
            .collect();
        let (dir, _) = written(&entries);
        let path = dir.path().join("index");
        let good = std::fs::read(&path).unwrap();
        let bad = dir.path().join("bad");
        let keys: Vec<Vec<u8>> = entries.keys().cloned().collect();
        read_all(&IndexFile::open(&path).unwrap(), &keys).unwrap();
        for at in (0..good.len()).step_by(3) {
            let mut bytes = good.clone();
            bytes[at] ^= 0x10;
            std::fs::write(&bad, &bytes).unwrap();
            // Refused when opened, or when the part it is in is first read.
            let err = IndexFile::open(&bad)
                .and_then(|file| read_all(&file, &keys))
                .expect_err("a flipped byte is refused");
            assert_eq!(err.kind(), crate::ErrorKind::CorruptedData, "byte {at}");
        }
        for len in [0, 8, good.len() / 2, good.len() - 1] {
            std::fs::write(&bad, &good[..len]).unwrap();
            let err = IndexFile::open(&bad).expect_err("a cut file is refused");
            assert_eq!(err.kind(), crate::ErrorKind::CorruptedData, "cut at {len}");
        }
    }

    /// 70 keys in five blocks; stretches of two blocks in unit tests.
    fn seventy() -> (tempfile::TempDir, BTreeMap<Vec<u8>, Loc>) {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..70u32)
            .map(|i| (format!("key{i:04}").into_bytes(), loc(i)))
            .collect();
        let (dir, _) = written(&entries);
        (dir, entries)
    }

    /// Where the footer says the checks and the fences are, and the blocks.
    fn layout(bytes: &[u8]) -> (usize, usize, usize) {
        let footer = bytes.len() - FOOTER_LEN;
        let field = |i: usize| u64_at(bytes, footer + 8 * i) as usize;
        (field(0), field(2), field(3))
    }

    #[test]
    fn the_fences_are_checked_a_stretch_at_a_time_when_first_read() {
        let (dir, entries) = seventy();
        let path = dir.path().join("index");
        let mut bytes = std::fs::read(&path).unwrap();
        let (blocks, _, fences) = layout(&bytes);
        assert_eq!((blocks, STRETCH), (5, 2));
        // Block 3's first-key prefix, in the second stretch (a key with the
        // prefix of the third's first block may be in the second's last).
        bytes[fences + 8 * 3] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let file = IndexFile::open(&path).expect("an open reads no stretch");
        for i in [0, 31, 65, 69] {
            let key = format!("key{i:04}");
            assert_eq!(
                file.get(key.as_bytes()).unwrap(),
                Some(entries[key.as_bytes()])
            );
        }
        assert!(!file.damaged());
        for i in [32, 50, 63] {
            let err = file.get(format!("key{i:04}").as_bytes()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::CorruptedData, "key {i}");
        }
        assert!(file.damaged());
        assert!(file.check_all().is_err());
    }

    #[test]
    // Where the keys' first eight bytes are all alike, every sample ties and
    // a search spans every stretch: it checks those it reads, not all of them.
    fn a_search_checks_only_the_stretches_it_reads() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..70u32)
            .map(|i| (format!("alike---{i:04}").into_bytes(), loc(i)))
            .collect();
        let (dir, _) = written(&entries);
        let path = dir.path().join("index");
        let mut bytes = std::fs::read(&path).unwrap();
        let (blocks, checks, _) = layout(&bytes);
        assert_eq!(blocks, 5);
        // Block 4's checksum, in the third stretch, which a search for a key
        // of block 0 (blocks 2, 1 and 0) does not read.
        bytes[checks + 4 * 4] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let file = IndexFile::open(&path).unwrap();
        let first = b"alike---0000".to_vec();
        assert_eq!(file.get(&first).unwrap(), Some(entries[&first]));
        let err = file.get(b"alike---0065").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
    }

    #[test]
    // Only a made-up file has fences that agree with their checksums and not
    // with the stretches' samples: a search would go astray in them.
    fn a_stretch_out_of_order_with_its_samples_is_refused() {
        let (dir, entries) = seventy();
        let path = dir.path().join("index");
        let mut bytes = std::fs::read(&path).unwrap();
        let (blocks, checks, fences) = layout(&bytes);
        // Block 3's prefix above the third stretch's first, the checksums of
        // its stretch and of the footer made to agree.
        bytes[fences + 8 * 3..fences + 8 * 4].copy_from_slice(&u64::MAX.to_le_bytes());
        let fences_end = fences + 16 * blocks + 8;
        let count = blocks.div_ceil(STRETCH);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[checks + 4 * 2..checks + 4 * 4]);
        crc.update(&bytes[fences + 8 * 2..fences + 8 * 4]);
        crc.update(&bytes[fences + 8 * (blocks + 2)..fences + 8 * (blocks + 5)]);
        let crc_at = fences_end + 4 + 16 * count + 4;
        bytes[crc_at..crc_at + 4].copy_from_slice(&crc.finalize().to_le_bytes());
        let footer = bytes.len() - FOOTER_LEN;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[checks + 4 * blocks..fences]);
        crc.update(&bytes[fences_end..footer]);
        bytes[footer + 40..footer + 44].copy_from_slice(&crc.finalize().to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let file = IndexFile::open(&path).unwrap();
        let first = b"key0000".to_vec();
        assert_eq!(file.get(&first).unwrap(), Some(entries[&first]));
        let err = file.get(b"key0050").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
    }

    #[test]
    fn a_file_without_stretches_has_its_fences_checked_at_open() {
        let (dir, entries) = seventy();
        let path = dir.path().join("unstretched");
        let source = entries.iter().map(|(k, l)| Ok((k, *l)));
        write_unstretched(&path, 100, entries.len(), source).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(header_flags(&bytes), Some(REPLAYABLE));
        let keys: Vec<Vec<u8>> = entries.keys().cloned().collect();
        let file = IndexFile::open(&path).unwrap();
        read_all(&file, &keys).unwrap();
        for (k, l) in &entries {
            assert_eq!(file.get(k).unwrap(), Some(*l));
        }
        let (_, _, fences) = layout(&bytes);
        bytes[fences + 8 * 3] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let err = IndexFile::open(&path).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
    }

    #[test]
    // Recovery reads the flags of a file it refuses, to tell whether the
    // segments can take its place: they survive damage to the rest of the
    // file, and damage to them is told apart from a flag's value.
    fn the_header_flags_outlive_damage_elsewhere_and_are_checked_themselves() {
        let entries: BTreeMap<Vec<u8>, Loc> = (0..70u32)
            .map(|i| (format!("key{i:04}").into_bytes(), loc(i)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let (path, bad) = (dir.path().join("index"), dir.path().join("bad"));
        for flags in [0, REPLAYABLE] {
            let source = entries.iter().map(|(k, l)| Ok((k, *l)));
            write(&path, flags, 100, &BTreeSet::new(), entries.len(), source).unwrap();
            let good = std::fs::read(&path).unwrap();
            let file = IndexFile::open(&path).unwrap();
            assert_eq!(file.replayable, flags == REPLAYABLE);
            assert_eq!(header_flags(&good), Some(flags | STRETCHES));
            assert_eq!(
                header_flags(&good[..good.len() / 3]),
                Some(flags | STRETCHES)
            );
            for at in 0..HEADER_LEN {
                let mut bytes = good.clone();
                bytes[at] ^= 0x01;
                assert_eq!(header_flags(&bytes), None, "byte {at}");
                std::fs::write(&bad, &bytes).unwrap();
                assert!(IndexFile::open(&bad).is_err(), "byte {at}");
            }
        }
        let source = entries.iter().map(|(k, l)| Ok((k, *l)));
        write_format_5(&path, 100, &BTreeSet::new(), entries.len(), source).unwrap();
        let file = IndexFile::open(&path).unwrap();
        assert!(!file.replayable, "a file of the format before");
        assert!(file.segments.iter().all(|s| s.live.is_some()));
        assert_eq!(header_flags(&std::fs::read(&path).unwrap()), None);
    }
}
