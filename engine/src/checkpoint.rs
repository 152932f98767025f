//! The checkpoint file: a self-contained copy of the index as of one commit.
//!
//! ```text
//! magic "LDBCKPT3" | seq:u64 | covered_count:u32 | covered segment ids:u32*
//! | entry_count:u64 | entry* | crc32 of everything before it:u32
//! entry = head:u8 [shared:varint] [suffix_len:varint] suffix
//!         [seq_back:varint] [segment:varint] [offset:varint] [len:varint]
//! head  = short_shared << 5 | flags
//! ```
//!
//! Entries are in key order, each key written as the length of the prefix it
//! shares with the previous key and the rest. `short_shared` is that length when
//! under 7; 7 says it follows as a varint. The other fields are left out where
//! `flags` says they follow from the previous entry: `SAME_KEY_LEN` (the suffix
//! length), `SAME_SEQ`, `SAME_SEGMENT`, `CONTIGUOUS` (the record starts where the
//! previous one ended, as after compaction; only with `SAME_SEGMENT`) and
//! `SAME_LEN`. `seq_back` is the checkpoint's `seq` minus the entry's. Varints are
//! unsigned LEB128. A key of a fixed length costs about its unshared bytes and one
//! more. Files of the earlier formats, `LDBCKPT1` and `LDBCKPT2`, belong to
//! databases in record format 1 and are refused.
//!
//! Invariants:
//! - Every entry reflects all commits up to `seq` and none after.
//! - The *covered* segments are sealed and their every record is already reflected
//!   here; recovery reads only the other segments, skipping records with a
//!   sequence number at or below `seq`.
//! - The file is written to a temporary name, synced, renamed into place and the
//!   directory synced: a crash leaves either the old checkpoint or the new one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::btree::Index;
use crate::error::{Error, Result};
use crate::format::MAX_KEY_SIZE;
use crate::index::{Key, Loc};
use crate::sync;

pub const CHECKPOINT_FILE: &str = "index.ckpt";
const MAGIC: &[u8; 8] = b"LDBCKPT3";
/// Checkpoints of databases in record format 1.
const MAGICS_OF_FORMAT_1: [&[u8; 8]; 2] = [b"LDBCKPT1", b"LDBCKPT2"];

const SAME_SEQ: u8 = 1;
const SAME_SEGMENT: u8 = 2;
const CONTIGUOUS: u8 = 4;
const SAME_LEN: u8 = 8;
const SAME_KEY_LEN: u8 = 16;
const FLAGS: u8 = SAME_SEQ | SAME_SEGMENT | CONTIGUOUS | SAME_LEN | SAME_KEY_LEN;
/// The head byte's shared-prefix field: this value says a varint follows.
const LONG_SHARED: usize = 7;
const SHARED_SHIFT: u32 = 5;

pub struct Checkpoint {
    pub seq: u64,
    pub covered: BTreeSet<u32>,
    pub index: Index,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

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

/// Writes a checkpoint durably into `dir`.
pub fn write(dir: &Path, seq: u64, covered: &BTreeSet<u32>, index: &Index) -> Result<()> {
    let tmp_path = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let result = write_via(&tmp_path, dir, seq, covered, index);
    if result.is_err() {
        // Most often the disk is full: give the space back now, not at the next open.
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

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
    let mut w = CrcWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
    };
    w.write_all(MAGIC).map_err(io)?;
    w.write_all(&seq.to_le_bytes()).map_err(io)?;
    w.write_all(&(covered.len() as u32).to_le_bytes())
        .map_err(io)?;
    for id in covered {
        w.write_all(&id.to_le_bytes()).map_err(io)?;
    }
    w.write_all(&(index.len() as u64).to_le_bytes())
        .map_err(io)?;
    // One write per entry: each write also updates the checksum, which costs
    // far more per call than per byte.
    let mut entry = Vec::with_capacity(64);
    let mut prev: Option<(&Key, Loc)> = None;
    for (key, loc) in index.iter() {
        entry.clear();
        encode_entry(&mut entry, seq, prev, key, *loc)?;
        w.write_all(&entry).map_err(io)?;
        prev = Some((key, *loc));
    }
    let crc = w.crc.clone().finalize();
    let mut inner = w.inner;
    inner.write_all(&crc.to_le_bytes()).map_err(io)?;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    sync::all(&file).map_err(io)?;
    drop(file);
    std::fs::rename(tmp_path, &final_path).map_err(io)?;
    sync::dir(dir)
}

fn put_varint(out: &mut Vec<u8>, value: u64) {
    leb128::write::unsigned(out, value).expect("writing to a Vec cannot fail");
}

/// Appends the entry of `key` at `loc`, following `prev`, the entry before it.
fn encode_entry(
    out: &mut Vec<u8>,
    checkpoint_seq: u64,
    prev: Option<(&Key, Loc)>,
    key: &Key,
    loc: Loc,
) -> Result<()> {
    let shared = prev.map_or(0, |(p, _)| {
        p.iter().zip(key.iter()).take_while(|(a, b)| a == b).count()
    });
    let mut flags = 0;
    if let Some((prev_key, p)) = prev {
        if prev_key.len() == key.len() {
            flags |= SAME_KEY_LEN;
        }
        if p.seq == loc.seq {
            flags |= SAME_SEQ;
        }
        if p.segment == loc.segment {
            flags |= SAME_SEGMENT;
            if p.offset.checked_add(p.len) == Some(loc.offset) {
                flags |= CONTIGUOUS;
            }
        }
        if p.len == loc.len {
            flags |= SAME_LEN;
        }
    }
    out.push((shared.min(LONG_SHARED) as u8) << SHARED_SHIFT | flags);
    if shared >= LONG_SHARED {
        put_varint(out, shared as u64);
    }
    if flags & SAME_KEY_LEN == 0 {
        put_varint(out, (key.len() - shared) as u64);
    }
    out.extend_from_slice(&key[shared..]);
    if flags & SAME_SEQ == 0 {
        let back = checkpoint_seq.checked_sub(loc.seq).ok_or_else(|| {
            Error::corrupted(format!(
                "index entry of seq {} is newer than its checkpoint {checkpoint_seq}",
                loc.seq
            ))
        })?;
        put_varint(out, back);
    }
    if flags & SAME_SEGMENT == 0 {
        put_varint(out, loc.segment.into());
    }
    if flags & CONTIGUOUS == 0 {
        put_varint(out, loc.offset.into());
    }
    if flags & SAME_LEN == 0 {
        put_varint(out, loc.len.into());
    }
    Ok(())
}

/// Reads the entry after `prev` (the previous key is in `key`, which becomes this
/// entry's key); `None` if it is malformed.
fn decode_entry(
    r: &mut Reader,
    checkpoint_seq: u64,
    key: &mut Vec<u8>,
    prev: Option<Loc>,
) -> Option<Loc> {
    let head = r.take(1)?[0];
    let flags = head & FLAGS;
    if (flags & CONTIGUOUS != 0 && flags & SAME_SEGMENT == 0) || (flags != 0 && prev.is_none()) {
        return None;
    }
    let shared = match usize::from(head >> SHARED_SHIFT) {
        LONG_SHARED => usize::try_from(r.varint()?).ok()?,
        short => short,
    };
    let suffix_len = if flags & SAME_KEY_LEN != 0 {
        key.len().checked_sub(shared)?
    } else {
        usize::try_from(r.varint()?).ok()?
    };
    if shared > key.len() || shared.checked_add(suffix_len)? > MAX_KEY_SIZE {
        return None;
    }
    key.truncate(shared);
    key.extend_from_slice(r.take(suffix_len)?);
    let u32_field = |r: &mut Reader| r.varint().and_then(|v| u32::try_from(v).ok());
    let seq = match prev {
        Some(p) if flags & SAME_SEQ != 0 => p.seq,
        _ => checkpoint_seq.checked_sub(r.varint()?)?,
    };
    let segment = match prev {
        Some(p) if flags & SAME_SEGMENT != 0 => p.segment,
        _ => u32_field(r)?,
    };
    let offset = match prev {
        Some(p) if flags & CONTIGUOUS != 0 => p.offset.checked_add(p.len)?,
        _ => u32_field(r)?,
    };
    let len = match prev {
        Some(p) if flags & SAME_LEN != 0 => p.len,
        _ => u32_field(r)?,
    };
    Some(Loc {
        seq,
        segment,
        offset,
        len,
    })
}

/// Reads the checkpoint of `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>> {
    let p = path(dir);
    let bytes = match std::fs::read(&p) {
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
    let mut r = Reader {
        bytes: body,
        pos: 8,
    };
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
        (r.pos == r.bytes.len()).then_some(Checkpoint {
            seq,
            covered,
            index,
        })
    };
    parse(&mut r)
        .map(Some)
        .ok_or_else(|| corrupt("malformed contents"))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
    fn varint(&mut self) -> Option<u64> {
        let mut rest = self.bytes.get(self.pos..)?;
        let before = rest.len();
        let value = leb128::read::unsigned(&mut rest).ok()?;
        self.pos += before - rest.len();
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            write(dir.path(), 100, &[3].into(), &index).unwrap();
            let c = read(dir.path()).unwrap().unwrap();
            prop_assert_eq!(c.seq, 100);
            prop_assert_eq!(c.index, index);
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
        write(dir.path(), 9, &[2].into(), &index).unwrap();
        let size = std::fs::metadata(path(dir.path())).unwrap().len();
        // About 22 unshared key bytes and the head byte: a key as long as the one
        // before it, the record after that one's, all else the same.
        assert!(size <= 64 + u64::from(n) * 23, "{size} bytes for {n} keys");
        assert_eq!(read(dir.path()).unwrap().unwrap().index, index);
    }

    #[test]
    fn checkpoints_of_the_first_format_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for magic in MAGICS_OF_FORMAT_1 {
            std::fs::write(path(dir.path()), with_crc(header(magic, 9, 0))).unwrap();
            let err = read(dir.path())
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
            let err = read(dir.path())
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
        let c = read(dir.path()).unwrap().unwrap();
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
        write(dir.path(), 9, &covered, &index).unwrap();
        let c = read(dir.path()).unwrap().unwrap();
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
    }
}
