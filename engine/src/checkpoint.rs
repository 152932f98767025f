//! The checkpoint file: a self-contained copy of the index as of one commit.
//!
//! ```text
//! magic "LDBCKPT1" | seq:u64 | covered_count:u32 | covered segment ids:u32*
//! | entry_count:u64 | (key_len:u32 key seq:u64 segment:u32 offset:u32 len:u32)*
//! | crc32 of everything before it:u32
//! ```
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

use crate::error::{Error, Result};
use crate::index::{Index, Key, Loc};
use crate::sync;

pub const CHECKPOINT_FILE: &str = "index.ckpt";
const MAGIC: &[u8; 8] = b"LDBCKPT1";

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
    for (key, loc) in index.iter() {
        entry.clear();
        entry.extend_from_slice(&(key.len() as u32).to_le_bytes());
        entry.extend_from_slice(key);
        entry.extend_from_slice(&loc.seq.to_le_bytes());
        entry.extend_from_slice(&loc.segment.to_le_bytes());
        entry.extend_from_slice(&loc.offset.to_le_bytes());
        entry.extend_from_slice(&loc.len.to_le_bytes());
        w.write_all(&entry).map_err(io)?;
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

/// Reads the checkpoint of `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>> {
    let p = path(dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(p.display(), e)),
    };
    let corrupt = |why: &str| Error::corrupted(format!("checkpoint {}: {why}", p.display()));
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
        for _ in 0..count {
            let klen = r.u32()? as usize;
            let key = Key::new(r.take(klen)?);
            let loc = Loc {
                seq: r.u64()?,
                segment: r.u32()?,
                offset: r.u32()?,
                len: r.u32()?,
            };
            index.insert(key, loc);
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
