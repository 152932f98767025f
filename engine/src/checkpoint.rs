//! The checkpoint: the index as of one commit, in `index.ckpt`, so that
//! opening replays only the log after it.
//!
//! A checkpoint is written as an index file (`index_file`), which an open maps
//! and serves reads from. Databases made before it hold a checkpoint of the
//! earlier format, read into memory until the next checkpoint replaces it:
//!
//! ```text
//! magic "LDBCKPT3" | seq:u64 | covered_count:u32 | covered segment ids:u32*
//! | entry_count:u64 | entry* | crc32 of everything before it:u32
//! ```
//!
//! with the entries of `entry_codec`, in key order. Files of the formats before
//! it, `LDBCKPT1` and `LDBCKPT2`, belong to databases in record format 1 and are
//! refused.
//!
//! Invariants:
//! - Every entry reflects all commits up to `seq` and none after.
//! - The *covered* segments are sealed and their every record is already reflected
//!   here; recovery reads only the other segments, skipping records with a
//!   sequence number at or below `seq`.
//! - The file is written to a temporary name, synced, renamed into place and the
//!   directory synced: a crash leaves either the old checkpoint or the new one.
//!
//! A checkpoint may instead be a *delta*, `index.delta`, of the changes since
//! the index file, or `index.delta2`, of the changes since that delta
//! (`disk_index`), written the same way. Writing an index file removes the
//! deltas, and writing the first delta the second: each names the file under
//! it, so in whichever order a crash leaves the rename and the removals, the
//! open finds each delta over the file it names, or sets it aside.

use std::collections::BTreeSet;
use std::fs::File;
#[cfg(test)]
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::btree::Index;
use crate::entry_codec::{decode_entry, Reader};
#[cfg(test)]
use crate::entry_codec::{
    encode_entry, CONTIGUOUS, SAME_KEY_LEN, SAME_LEN, SAME_SEGMENT, SAME_SEQ, SHARED_SHIFT,
};
use crate::error::{Error, Result};
use crate::index::{Key, Loc};
use crate::index_file::{self, DeltaMeta, IndexFile, LogFrom, MAX_DELTAS};
use crate::sync;

pub const CHECKPOINT_FILE: &str = "index.ckpt";
/// The deltas, the first over the index file, the second over the first.
pub const DELTA_FILES: [&str; MAX_DELTAS] = ["index.delta", "index.delta2"];
const MAGIC: &[u8; 8] = b"LDBCKPT3";
/// Checkpoints of databases in record format 1.
const MAGICS_OF_FORMAT_1: [&[u8; 8]; 2] = [b"LDBCKPT1", b"LDBCKPT2"];

pub struct Checkpoint {
    pub seq: u64,
    pub covered: BTreeSet<u32>,
    pub index: Index,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

/// The path of the delta at `level` (0 the first).
pub fn delta_path(dir: &Path, level: usize) -> PathBuf {
    dir.join(DELTA_FILES[level])
}

/// Where a writer sets aside a checkpoint it found damaged.
pub const SET_ASIDE: &str = "index.ckpt.damaged";
/// Where a writer sets aside a delta it found damaged, or one that lies
/// over a damaged one.
pub const DELTA_SET_ASIDE: [&str; MAX_DELTAS] = ["index.delta.damaged", "index.delta2.damaged"];

/// Renames the delta at `level` of `dir` to its [`DELTA_SET_ASIDE`] name and
/// syncs the directory; returns the new path.
pub fn set_aside_delta(dir: &Path, level: usize) -> Result<PathBuf> {
    let (from, to) = (delta_path(dir, level), dir.join(DELTA_SET_ASIDE[level]));
    std::fs::rename(&from, &to).map_err(|e| Error::io(from.display(), e))?;
    sync::dir(dir)?;
    Ok(to)
}

/// Removes the deltas of `dir` from `level` up, the last first; the caller
/// syncs the directory.
fn remove_deltas(dir: &Path, level: usize) -> Result<()> {
    for level in (level..MAX_DELTAS).rev() {
        let p = delta_path(dir, level);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(p.display(), e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Renames the checkpoint of `dir` to [`SET_ASIDE`] (kept for whoever looks
/// into the damage; the next checkpoint takes the name) and syncs the
/// directory; returns the new path.
pub fn set_aside(dir: &Path) -> Result<PathBuf> {
    let (from, to) = (path(dir), dir.join(SET_ASIDE));
    std::fs::rename(&from, &to).map_err(|e| Error::io(from.display(), e))?;
    sync::dir(dir)?;
    Ok(to)
}

#[cfg(test)]
struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

#[cfg(test)]
impl<W: Write> CrcWriter<W> {
    fn new(inner: W) -> CrcWriter<W> {
        CrcWriter {
            inner,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// The checksum of everything written so far.
    fn crc(&self) -> u32 {
        self.crc.clone().finalize()
    }

    fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a checkpoint of the `len` entries (ascending, unique keys) durably
/// into `dir`, as an index file; `replayable` when a replay of every segment
/// gives the same entries (see `index_file`). The delta over the file before
/// goes. Sets `placed` once the file is renamed into place: a failure after
/// that (the removal of the delta, the directory's sync) leaves the new file
/// there, naming the segments it covers.
#[allow(clippy::too_many_arguments)]
pub fn write<K: AsRef<[u8]>>(
    dir: &Path,
    replayable: bool,
    seq: u64,
    covered: &BTreeSet<u32>,
    log_from: Option<LogFrom>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
    placed: &mut bool,
) -> Result<()> {
    let flags = if replayable {
        index_file::REPLAYABLE
    } else {
        0
    };
    write_into_place(
        dir,
        CHECKPOINT_FILE,
        |tmp| index_file::write_from(tmp, flags, seq, covered, log_from, len, entries),
        || remove_deltas(dir, 0),
        placed,
    )
}

/// Writes a delta of the `len` entries (ascending, unique keys, removals
/// among them) over the file `meta` names, durably into `dir` as the delta at
/// `level`. The deltas over it go (they lie over the one it replaces).
#[allow(clippy::too_many_arguments)]
pub fn write_delta<K: AsRef<[u8]>>(
    dir: &Path,
    level: usize,
    seq: u64,
    covered: &BTreeSet<u32>,
    log_from: Option<LogFrom>,
    len: usize,
    entries: impl Iterator<Item = Result<(K, Loc)>>,
    meta: &DeltaMeta,
) -> Result<()> {
    write_into_place(
        dir,
        DELTA_FILES[level],
        |tmp| index_file::write_delta_from(tmp, seq, covered, log_from, len, entries, meta),
        || remove_deltas(dir, level + 1),
        &mut false,
    )
}

/// Writes `name` in `dir` through `write` (which syncs it) at a temporary
/// name, renames it into place (and sets `placed`), runs `renamed`, then
/// syncs the directory.
fn write_into_place(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> Result<()>,
    renamed: impl FnOnce() -> Result<()>,
    placed: &mut bool,
) -> Result<()> {
    let tmp_path = dir.join(format!("{name}.tmp"));
    let result = write(&tmp_path).and_then(|()| {
        std::fs::rename(&tmp_path, dir.join(name))
            .map_err(|e| Error::io(format!("rename {}", tmp_path.display()), e))?;
        *placed = true;
        renamed()?;
        sync::dir(dir)
    });
    if result.is_err() {
        // Most often the disk is full: give the space back now, not at the next open.
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

/// A checkpoint as found on disk.
pub enum Loaded {
    /// An index file, mapped and checked.
    Mapped(Box<IndexFile>),
    /// A checkpoint of the earlier format, read into memory; the next checkpoint
    /// replaces it with an index file.
    Legacy(Checkpoint),
}

/// Writes a checkpoint in the earlier format, `LDBCKPT3`: what databases made
/// before the index file hold.
#[cfg(test)]
pub fn write_legacy(dir: &Path, seq: u64, covered: &BTreeSet<u32>, index: &Index) -> Result<()> {
    let tmp_path = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    write_via(&tmp_path, dir, seq, covered, index)
}

#[cfg(test)]
fn write_via(
    tmp_path: &Path,
    dir: &Path,
    seq: u64,
    covered: &BTreeSet<u32>,
    index: &Index,
) -> Result<()> {
    let final_path = path(dir);
    let io = |e| Error::io(format!("write checkpoint {}", tmp_path.display()), e);
    let file = File::create(tmp_path).map_err(io)?;
    let mut w = CrcWriter::new(BufWriter::with_capacity(1 << 20, file));
    w.write_all(MAGIC).map_err(io)?;
    w.write_all(&seq.to_le_bytes()).map_err(io)?;
    w.write_all(&(covered.len() as u32).to_le_bytes())
        .map_err(io)?;
    for id in covered {
        w.write_all(&id.to_le_bytes()).map_err(io)?;
    }
    w.write_all(&(index.len() as u64).to_le_bytes())
        .map_err(io)?;
    let mut entry = Vec::with_capacity(64);
    let mut prev: Option<(&Key, Loc)> = None;
    for (key, loc) in index.iter() {
        entry.clear();
        encode_entry(&mut entry, seq, prev.map(|(k, l)| (&k[..], l)), key, *loc)?;
        w.write_all(&entry).map_err(io)?;
        prev = Some((key, *loc));
    }
    let crc = w.crc();
    let mut inner = w.into_inner();
    inner.write_all(&crc.to_le_bytes()).map_err(io)?;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    sync::all(&file).map_err(io)?;
    drop(file);
    std::fs::rename(tmp_path, &final_path).map_err(io)?;
    sync::dir(dir)
}

/// Reads the checkpoint of `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<Loaded>> {
    let p = path(dir);
    let mut magic = [0u8; 8];
    match File::open(&p).and_then(|mut f| std::io::Read::read(&mut f, &mut magic)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(p.display(), e)),
    }
    if index_file::is_index_file(&magic) {
        return IndexFile::open(&p).map(|f| Some(Loaded::Mapped(Box::new(f))));
    }
    read_legacy(&p).map(|c| c.map(Loaded::Legacy))
}

fn read_legacy(p: &Path) -> Result<Option<Checkpoint>> {
    let bytes = match std::fs::read(p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(p.display(), e)),
    };
    let corrupt = |why: &str| Error::corrupted(format!("checkpoint {}: {why}", p.display()));
    if MAGICS_OF_FORMAT_1.iter().any(|m| bytes.starts_with(*m)) {
        return Err(corrupt(crate::format::FORMAT_1_REFUSED));
    }
    if bytes.len() < MAGIC.len() + 4 || &bytes[..8] != MAGIC {
        return Err(corrupt("not a checkpoint file"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
        return Err(corrupt("checksum mismatch"));
    }
    let mut r = Reader::new(body, 8);
    let parse = |r: &mut Reader| -> Option<Checkpoint> {
        let seq = r.u64()?;
        let n = r.u32()?;
        let mut covered = BTreeSet::new();
        for _ in 0..n {
            covered.insert(r.u32()?);
        }
        let count = r.u64()?;
        let mut index = Index::new();
        let mut key = Vec::new();
        let mut prev = None;
        for _ in 0..count {
            let loc = decode_entry(r, seq, &mut key, prev)?;
            index.insert(Key::new(&key), loc);
            prev = Some(loc);
        }
        r.at_end().then_some(Checkpoint {
            seq,
            covered,
            index,
        })
    };
    parse(&mut r)
        .map(Some)
        .ok_or_else(|| corrupt("malformed contents"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn legacy(dir: &Path) -> Result<Checkpoint> {
        match read(dir)? {
            Some(Loaded::Legacy(c)) => Ok(c),
            Some(Loaded::Mapped(_)) => {
                panic!("an index file, not a checkpoint of the earlier format")
            }
            None => panic!("no checkpoint"),
        }
    }

    fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    fn header(magic: &[u8; 8], seq: u64, count: u64) -> Vec<u8> {
        let mut out = magic.to_vec();
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out
    }

    fn loc_strategy() -> impl Strategy<Value = Loc> {
        // Few distinct values, so runs of equal and contiguous fields occur.
        (
            0u64..4,
            0u32..3,
            prop::sample::select(vec![0u32, 16, 40, 64, u32::MAX - 8]),
            1u32..3,
        )
            .prop_map(|(seq, segment, offset, len)| Loc {
                seq: 100 - seq,
                segment,
                offset,
                len: len * 24,
            })
    }

    proptest! {
        #[test]
        fn every_index_reads_back_as_written(
            entries in prop::collection::btree_map(
                prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..40),
                loc_strategy(),
                0..60,
            )
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut index = Index::new();
            for (k, l) in &entries {
                index.insert(Key::new(k), *l);
            }
            write_legacy(dir.path(), 100, &[3].into(), &index).unwrap();
            let c = legacy(dir.path()).unwrap();
            prop_assert_eq!(c.seq, 100);
            prop_assert_eq!(&c.index, &index);
            // The index file of the same entries reads back the same.
            write(dir.path(), true, 100, &[3].into(), None, index.len(), index.iter().map(|(k, l)| Ok((k, *l))), &mut false).unwrap();
            let Some(Loaded::Mapped(file)) = read(dir.path()).unwrap() else {
                panic!("an index file");
            };
            let mapped: Vec<(Key, Loc)> = file
                .range((std::ops::Bound::Unbounded, std::ops::Bound::Unbounded))
                .collect::<Result<_>>()
                .unwrap();
            let expected: Vec<(Key, Loc)> = index.iter().map(|(k, l)| (k.clone(), *l)).collect();
            prop_assert_eq!(mapped, expected);
        }
    }

    #[test]
    fn compacted_records_cost_their_keys_unshared_bytes_and_one_more() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::new();
        let n = 10_000u32;
        for i in 0..n {
            // 24-byte keys that share a 2-byte prefix with their neighbours, as a
            // sorted set of 10,000 random keys does; records back to back.
            let mut key = [0u8; 24];
            key[..4].copy_from_slice(&(i * 6).to_be_bytes());
            key[4..].fill(i as u8);
            let loc = Loc {
                seq: 7,
                segment: 2,
                offset: 16 + i * 195,
                len: 195,
            };
            index.insert(Key::new(&key), loc);
        }
        write_legacy(dir.path(), 9, &[2].into(), &index).unwrap();
        let size = std::fs::metadata(path(dir.path())).unwrap().len();
        // About 22 unshared key bytes and the head byte: a key as long as the one
        // before it, the record after that one's, all else the same.
        assert!(size <= 64 + u64::from(n) * 23, "{size} bytes for {n} keys");
        assert_eq!(legacy(dir.path()).unwrap().index, index);
        // The index file adds to the entries its table (12 bytes a slot), the
        // whole first entry of each block of 16, and 20 bytes of fences and
        // checks a block: under two bytes a key beside the table.
        write(
            dir.path(),
            true,
            9,
            &[2].into(),
            None,
            index.len(),
            index.iter().map(|(k, l)| Ok((k, *l))),
            &mut false,
        )
        .unwrap();
        let size = std::fs::metadata(path(dir.path())).unwrap().len();
        let table = 12 * index_file::table_slots(u64::from(n)) + 4 * 64;
        assert!(
            size <= 4096 + table + 128 + u64::from(n) * 25,
            "{size} bytes for {n} keys"
        );
        let Some(Loaded::Mapped(file)) = read(dir.path()).unwrap() else {
            panic!("an index file");
        };
        assert_eq!(file.len(), n as usize);
    }

    #[test]
    fn checkpoints_of_the_first_format_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for magic in MAGICS_OF_FORMAT_1 {
            std::fs::write(path(dir.path()), with_crc(header(magic, 9, 0))).unwrap();
            let err = legacy(dir.path())
                .err()
                .expect("a format 1 checkpoint is refused");
            assert_eq!(err.kind(), crate::ErrorKind::CorruptedData);
            assert!(err.message().contains("record format 1"), "{err}");
        }
    }

    #[test]
    // Whole files with a good checksum whose contents make no sense.
    fn malformed_entries_are_corrupted_data() {
        // Each entry's key suffix is one byte, "k", its length given.
        let entry = |shared: u8, flags: u8, tail: &[u8]| {
            let mut e = vec![shared << SHARED_SHIFT | flags, 1, b'k'];
            e.extend_from_slice(tail);
            e
        };
        let first = entry(0, 0, &[1, 3, 16, 24]);
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "flags on the first entry",
                vec![entry(0, SAME_SEQ, &[3, 16, 24])],
            ),
            (
                "shares more than the previous key",
                vec![first.clone(), entry(2, 15, &[])],
            ),
            (
                "a long shared prefix longer than the previous key",
                vec![first.clone(), {
                    let mut e = vec![7 << SHARED_SHIFT, 9, 1, b'k'];
                    e.extend_from_slice(&[1, 3, 16, 24]);
                    e
                }],
            ),
            (
                "the previous key's length, shorter than the shared prefix",
                vec![
                    entry(0, 0, &[1, 3, 16, 24]),
                    vec![2 << SHARED_SHIFT | SAME_KEY_LEN, 1, 3, 16, 24],
                ],
            ),
            (
                "contiguous in another segment",
                vec![first.clone(), entry(1, CONTIGUOUS, &[1, 4, 24])],
            ),
            (
                "newer than the checkpoint",
                vec![entry(0, 0, &[10, 3, 16, 24])],
            ),
            (
                "offset past u32",
                vec![entry(0, 0, &[1, 3, 0x80, 0x80, 0x80, 0x80, 0x10, 24])],
            ),
            ("truncated", vec![entry(0, 0, &[1, 3])]),
        ];
        for (why, entries) in cases {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = header(MAGIC, 9, entries.len() as u64);
            entries.iter().for_each(|e| bytes.extend_from_slice(e));
            std::fs::write(path(dir.path()), with_crc(bytes)).unwrap();
            let err = legacy(dir.path())
                .err()
                .unwrap_or_else(|| panic!("{why}: accepted"));
            assert_eq!(err.kind(), crate::ErrorKind::CorruptedData, "{why}");
        }
        // The same frame with sane fields reads.
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = header(MAGIC, 9, 2);
        bytes.extend_from_slice(&first);
        bytes.extend_from_slice(&entry(
            0,
            SAME_SEQ | SAME_SEGMENT | CONTIGUOUS | SAME_LEN,
            &[],
        ));
        std::fs::write(path(dir.path()), with_crc(bytes)).unwrap();
        let c = legacy(dir.path()).unwrap();
        assert_eq!(c.index.len(), 1, "two entries of one key");
        assert_eq!(c.index.iter().next().unwrap().1.offset, 40);
    }

    #[test]
    fn round_trip_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::new();
        index.insert(
            Key::new(b"k\0"),
            Loc {
                seq: 5,
                segment: 2,
                offset: 16,
                len: 30,
            },
        );
        let covered: BTreeSet<u32> = [1, 2].into();
        write_legacy(dir.path(), 9, &covered, &index).unwrap();
        let c = legacy(dir.path()).unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.covered, covered);
        assert_eq!(c.index, index);

        let mut bytes = std::fs::read(path(dir.path())).unwrap();
        bytes[20] ^= 1;
        std::fs::write(path(dir.path()), bytes).unwrap();
        assert_eq!(
            read(dir.path()).err().unwrap().kind(),
            crate::ErrorKind::CorruptedData
        );

        write(
            dir.path(),
            true,
            9,
            &covered,
            None,
            index.len(),
            index.iter().map(|(k, l)| Ok((k, *l))),
            &mut false,
        )
        .unwrap();
        let Some(Loaded::Mapped(file)) = read(dir.path()).unwrap() else {
            panic!("an index file");
        };
        assert_eq!((file.seq, &file.covered), (9, &covered));
        let mut bytes = std::fs::read(path(dir.path())).unwrap();
        bytes[10] ^= 1;
        std::fs::write(path(dir.path()), bytes).unwrap();
        assert_eq!(
            read(dir.path()).err().unwrap().kind(),
            crate::ErrorKind::CorruptedData
        );
    }
}
