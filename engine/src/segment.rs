//! Segment files: append-only logs of frames (see `format`).
//!
//! A segment is either *active* — the one the writer appends to — or *sealed*:
//! complete, ended by a seal frame, never written again. Both are read through a
//! shared read-only memory map, so a get is a bounds-checked slice and a copy, no
//! system call. The active segment's map is made larger than the file (the writer
//! remaps before a commit would pass its end); only bytes already written, which
//! lie inside the file, are ever read through it. Readers hold an `Arc<Segment>`,
//! so a segment deleted by compaction stays readable for every snapshot that still
//! refers to it (the mapping outlives the directory entry).

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::format::{self, EntryKind};
use crate::prefetch;

pub const SEGMENT_SUFFIX: &str = ".seg";
pub const TEMP_SUFFIX: &str = ".tmp";

pub fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}{SEGMENT_SUFFIX}"))
}

pub fn parse_segment_name(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
    if stem.len() == 10 && stem.bytes().all(|b| b.is_ascii_digit()) {
        stem.parse().ok()
    } else {
        None
    }
}

pub fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| Error::io(path.display(), e))?
        .len())
}

/// Ids of the segment files in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_segment_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

pub struct Segment {
    pub id: u32,
    pub path: PathBuf,
    map: Option<Mmap>,
    /// Bytes of the map before the file's first hole, when it was mapped.
    data_end: usize,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Segment({})", self.path.display())
    }
}

/// Where the first hole at or after `from` begins (the file's length if none).
///
/// Lightning DB leaves holes only past the last frame of a file (space given back
/// after a seal), and they read as zeros, so scans stop at the first one. They must
/// not be read through a map: on a full tmpfs, touching a hole of a shared mapping
/// needs a page the file system cannot give, and the kernel kills the process with
/// SIGBUS.
pub fn hole_at_or_after(file: &File, from: u64) -> std::io::Result<u64> {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(from)) {
        Ok(at) => Ok(at),
        // `from` is at or past the end of the file.
        Err(rustix::io::Errno::NXIO) => Ok(from),
        Err(e) => Err(e.into()),
    }
}

/// Maps a whole file read-only. `None` for an empty file, which cannot be mapped.
fn map_file(file: &File, path: &Path) -> Result<Option<Mmap>> {
    let len = file
        .metadata()
        .map_err(|e| Error::io(path.display(), e))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the map is read-only and Lightning DB never shrinks a file below the
    // bytes any snapshot refers to: sealed files are immutable and the active file
    // is only trimmed of space allocated past its last frame. Every access through
    // the map is bounds-checked against the map length.
    // The length is given so that the map does not ask the file for it again.
    let map = unsafe { memmap2::MmapOptions::new().len(len as usize).map(file) }
        .map_err(|e| Error::io(format!("map {}", path.display()), e))?;
    Ok(Some(map))
}

impl Segment {
    /// Maps a segment no writer of this handle appends to: a sealed one, or one
    /// recovery reads whole; a segment of another record format is refused.
    pub fn open_sealed(id: u32, path: PathBuf) -> Result<Segment> {
        let segment = Segment::open_sealed_of_known_format(id, path)?;
        format::check_format(segment.data()).map_err(|why| segment.corrupt(0, why))?;
        Ok(segment)
    }

    /// `open_sealed` without the check of the record format, for a segment
    /// whose format is known: recovery checked it as it read it, or an index
    /// file covers it (only versions of this record format write one). The
    /// check reads the segment's first page, from the disk when the page cache
    /// does not hold it, and an open maps every segment: a cold open would pay
    /// a disk read for each (`bench/results/cold-open-2026-12-07.md`).
    pub fn open_sealed_of_known_format(id: u32, path: PathBuf) -> Result<Segment> {
        let file = File::open(&path).map_err(|e| Error::io(path.display(), e))?;
        let map = map_file(&file, &path)?;
        let data_end = hole_at_or_after(&file, 0).map_err(|e| Error::io(path.display(), e))?;
        Ok(Segment {
            id,
            path,
            data_end: (data_end as usize).min(map.as_ref().map_or(0, |m| m.len())),
            map,
        })
    }

    /// Maps `len` bytes of the active segment: more than it holds yet.
    pub fn active(id: u32, path: PathBuf, file: &File, len: u64) -> Result<Segment> {
        // SAFETY: as in `map_file`; in addition, pages past the end of the file are
        // never touched: the index only points at bytes already written, and the
        // writer extends the file (fallocate or write) before it writes them.
        let map = unsafe { memmap2::MmapOptions::new().len(len as usize).map(file) }
            .map_err(|e| Error::io(format!("map {}", path.display()), e))?;
        Ok(Segment {
            id,
            path,
            // Past what the writer has written the map must not be read at all;
            // whoever reads an active segment whole clamps to its written length.
            data_end: len as usize,
            map: Some(map),
        })
    }

    /// The file's length when it was mapped: a sealed segment's length, as
    /// sealed files do not change.
    pub fn mapped_len(&self) -> u64 {
        self.map.as_ref().map_or(0, |m| m.len() as u64)
    }

    /// The mapped bytes up to the first hole. Read through the map the handle
    /// already holds, so it works after a compaction in another process removed
    /// the file.
    pub fn data(&self) -> &[u8] {
        self.map.as_deref().map_or(&[], |m| &m[..self.data_end])
    }

    /// The `len` bytes at `offset`, if the file holds them.
    #[inline]
    fn record_bytes(&self, offset: usize, len: usize) -> Option<&[u8]> {
        self.map.as_ref()?.get(offset..offset.checked_add(len)?)
    }

    /// The put record at `offset` (encoded length `len`), its checksum verified.
    #[inline(always)]
    pub fn entry(&self, offset: u32, len: u32) -> Result<format::Record<'_>> {
        self.entry_in(offset, Span::Exact(len))
    }

    /// The put record at `offset`, of the length `span` gives or allows, its
    /// checksum verified.
    #[inline(always)]
    pub fn entry_in(&self, offset: u32, span: Span) -> Result<format::Record<'_>> {
        let (offset, len) = (offset as usize, self.bytes_in(offset, span));
        let bytes = self
            .record_bytes(offset, len)
            .ok_or_else(|| self.corrupt(offset, "record lies past the end of the file"))?;
        let e = format::decode_entry(bytes).map_err(|why| self.corrupt(offset, why))?;
        if e.kind != EntryKind::Put || matches!(span, Span::Exact(_)) && e.len != len {
            return Err(self.corrupt(offset, "index entry does not match the record on disk"));
        }
        Ok(e)
    }

    /// The length the header of the record at `offset` states, read within
    /// `most` bytes and not checked: `None` if no header can be read there (the
    /// read that follows reports why).
    #[inline]
    pub fn stated_len(&self, offset: u32, most: u32) -> Option<usize> {
        let len = self.bytes_in(offset, Span::AtMost(most));
        format::stated_len(self.record_bytes(offset as usize, len)?).ok()
    }

    /// How many bytes from `offset` a read of the record there takes in.
    #[inline(always)]
    fn bytes_in(&self, offset: u32, span: Span) -> usize {
        match span {
            Span::Exact(len) => len as usize,
            // A record that the segment still holds whole is read even when the
            // file was cut short after it: its header says where it ends.
            Span::AtMost(most) => {
                let held = self.data().len().saturating_sub(offset as usize);
                (most as usize).min(held)
            }
        }
    }

    /// A hint that the record at `offset` will be read soon: its first lines are
    /// fetched while the caller does other work.
    #[inline]
    pub fn prefetch(&self, offset: u32, len: u32) {
        if let Some(bytes) = self.record_bytes(offset as usize, len as usize) {
            prefetch::lines(bytes, 4);
        }
    }

    /// The value of the put of `key` at `offset` ([`Segment::entry`], and it must
    /// hold `key`), handed to `f`.
    #[inline(always)]
    pub fn read_value<T>(
        &self,
        offset: u32,
        len: u32,
        key: &[u8],
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<T> {
        let e = self.entry(offset, len)?;
        if e.key != key {
            return Err(self.corrupt(
                offset as usize,
                "index entry does not match the record on disk",
            ));
        }
        Ok(f(e.value))
    }

    pub fn corrupt(&self, offset: usize, why: &str) -> Error {
        Error::corrupted(format!("{} at offset {offset}: {why}", self.path.display()))
    }
}

/// How many bytes a record to be read takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// As the index says.
    Exact(u32),
    /// What its header says, within this many and within the segment's data:
    /// a place in the index file's table names no length, and the file's
    /// record of the segment bounds it.
    AtMost(u32),
}

/// What scanning a segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEnd {
    /// Bytes up to the end of the last whole frame.
    pub valid_len: usize,
    /// Bytes up to the end of the last whole frame holding data (the seal frame
    /// and a torn tail left out): where a writer reusing the segment appends.
    pub data_len: usize,
    /// The segment ends with a seal frame.
    pub sealed: bool,
    /// A bad frame followed by a good one, or a bad frame in a sealed segment:
    /// (offset, reason). A bad frame with nothing valid after it is a torn tail.
    pub corruption: Option<(usize, &'static str)>,
}

/// Walks every frame of `bytes`, calling `visit(offset, entry)` for each data entry.
pub fn scan<'a>(bytes: &'a [u8], visit: impl FnMut(usize, &format::EntryRef<'a>)) -> ScanEnd {
    scan_from(bytes, 0, visit)
}

/// [`scan`] from `from`, the end of a frame holding data (or 0) and at most
/// the length of `bytes`: the frames before it are not read. Offsets are
/// from the start of `bytes`.
pub fn scan_from<'a>(
    bytes: &'a [u8],
    from: usize,
    mut visit: impl FnMut(usize, &format::EntryRef<'a>),
) -> ScanEnd {
    assert!(from <= bytes.len(), "a scan from past the end of its bytes");
    let mut pos = from;
    let mut data_len = from;
    // A seal frame marks where a writer stopped; one that reopens the segment
    // appends after it, so frames may follow a seal. The segment is sealed when its
    // last frame is a seal.
    let mut sealed = false;
    let end = |valid_len, sealed, corruption| ScanEnd {
        valid_len,
        data_len: 0,
        sealed,
        corruption,
    };
    loop {
        if pos == bytes.len() {
            return ScanEnd {
                data_len,
                ..end(pos, sealed, None)
            };
        }
        let frame = match format::check_frame(bytes, pos) {
            Ok(f) => f,
            Err(err) => {
                let why = match err {
                    format::FrameError::Zeroed => "unexpected zero bytes",
                    format::FrameError::Invalid(why) => why,
                };
                if format::valid_frame_after(bytes, pos) {
                    return end(pos, false, Some((pos, why)));
                }
                // Zeros (space allocated ahead, or given back after a seal) or a
                // torn last write.
                return ScanEnd {
                    data_len,
                    ..end(pos, sealed, None)
                };
            }
        };
        let frame_end = frame.payload.end;
        match format::entries(bytes, &frame) {
            // A writer writes a seal entry alone in its frame. Data entries beside
            // one would be visited, yet lie past `data_len`, where a writer reusing
            // the segment overwrites: not a frame of ours.
            Ok(entries)
                if entries.len() > 1 && entries.iter().any(|(_, e)| e.kind == EntryKind::Seal) =>
            {
                return end(pos, false, Some((pos, "seal entry beside other entries")));
            }
            Ok(entries) => {
                sealed = false;
                for (off, e) in &entries {
                    if e.kind == EntryKind::Seal {
                        sealed = true;
                    } else {
                        visit(*off, e);
                    }
                }
            }
            Err(why) => return end(pos, false, Some((pos, why))),
        }
        pos = frame_end;
        if !sealed {
            data_len = pos;
        }
    }
}
