//! Recovery of a database directory holding arbitrary files.
//!
//! The input lays out segment files (`NNNNNNNNNN.seg`) made of raw bytes, valid
//! frames (with puts, deletes, seals, unknown entry kinds), zeros, flipped bytes
//! and cut tails, optionally an `index.ckpt` checkpoint and stray files. The
//! checkpoint is of either format: the earlier `LDBCKPT3` (raw bytes, or a
//! well-formed one whose entries may point at real records), or an index file
//! (`LDBCKPT6`) written by the engine's own writer (entries built the same way, in
//! key order or not, with or without duplicates), then maybe damaged by flipped
//! bytes and a cut tail. Over an index file, optionally an `index.delta`
//! written by the engine's delta writer (puts and removals built the same way,
//! over that index file or a made-up one, its meta made up), damaged the same
//! way. Then
//! `Database::open` must return Ok or an error, never panic or hang. When it
//! opens: iteration forwards and backwards agree, every key read by the iteration
//! reads the same through `get`, `len` and `verify` agree with it, a put is
//! readable, and after a reopen the database still holds everything that was
//! readable plus the put; a read-only handle then sees the same.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lightning_db::fuzzing::{
    begin_frame, encode_entry, encode_seal_frame, finish_frame, write_index_delta,
    write_index_file, EntryKind, FrameStart,
};
use lightning_db::{Config, Database, ErrorKind, SyncMode};
use lightning_db_fuzz::{scratch_dir, Key, Pairs, MAX_KEY_SIZE};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Seq {
    Small(u8),
    Any(u64),
}

impl Seq {
    fn get(self) -> u64 {
        match self {
            Seq::Small(s) => s as u64,
            Seq::Any(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum EntKind {
    Put,
    Delete,
    Seal,
    /// Any kind byte, with a correct entry checksum.
    Other(u8),
}

#[derive(Arbitrary, Debug)]
struct Ent {
    kind: EntKind,
    seq: Seq,
    key: Key,
    value: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Part {
    /// One valid frame (one commit).
    Frame(Vec<Ent>),
    Seal(Seq),
    Raw(Vec<u8>),
    Zeros(u16),
    /// Xor one byte of what the segment holds so far.
    Flip(u16, u8),
    /// Cut bytes off the end.
    Cut(u16),
}

#[derive(Arbitrary, Debug)]
enum SegId {
    /// One more than the previous segment's.
    Next,
    Skip(u8),
    Exact(u32),
}

#[derive(Arbitrary, Debug)]
struct SegSpec {
    id: SegId,
    parts: Vec<Part>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum SegRef {
    /// The n-th segment of the input (modulo their number).
    Nth(u8),
    Id(u32),
}

#[derive(Arbitrary, Debug)]
enum LocSpec {
    /// The n-th entry written to the n-th segment: a real record.
    Entry {
        seg: u8,
        nth: u8,
    },
    Raw {
        seg: SegRef,
        offset: u32,
        len: u32,
    },
}

#[derive(Arbitrary, Debug)]
struct CkptEntry {
    /// `None`: the key of the record the location points at.
    key: Option<Key>,
    /// `None`: the sequence number of that record.
    seq: Option<Seq>,
    loc: LocSpec,
}

#[derive(Arbitrary, Debug)]
enum CkptSpec {
    Raw {
        bytes: Vec<u8>,
        magic: bool,
        crc: bool,
    },
    Built {
        seq: Seq,
        covered: Vec<SegRef>,
        entries: Vec<CkptEntry>,
        damage: Option<(u16, u8)>,
    },
    /// An index file (`LDBCKPT6`), written by the engine's writer.
    Index {
        seq: Seq,
        covered: Vec<SegRef>,
        entries: Vec<CkptEntry>,
        order: Order,
        /// Bytes to xor, counted from the start or from the end of the file.
        flips: Vec<(bool, u16, u8)>,
        /// Bytes to cut off the end of the file.
        cut: Option<u16>,
        delta: Option<DeltaSpec>,
    },
}

/// A delta over the index file (`index.delta`), written by the engine's
/// writer.
#[derive(Arbitrary, Debug)]
struct DeltaSpec {
    seq: Seq,
    covered: Vec<SegRef>,
    /// Each a put as in an index file, or (true) a removal of its key.
    entries: Vec<(CkptEntry, bool)>,
    order: Order,
    /// Name the index file below as its base, or a made-up one.
    names_base: bool,
    /// The merged index's key count, as the meta says it.
    len: u16,
    flips: Vec<(bool, u16, u8)>,
    cut: Option<u16>,
}

/// The order the index file's entries are given to the writer in. The engine
/// gives it ascending, unique keys; the reader must refuse the others.
#[derive(Arbitrary, Debug)]
enum Order {
    AsGiven,
    Sorted,
    SortedUnique,
}

#[derive(Arbitrary, Debug)]
enum Stray {
    TempFile(Vec<u8>),
    CheckpointTemp(Vec<u8>),
    SegmentDir(u32),
    CheckpointDir,
    Lock(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    segments: Vec<SegSpec>,
    checkpoint: Option<CkptSpec>,
    strays: Vec<Stray>,
    segment_size: u8,
    cache: bool,
    put_key: Key,
    put_value: Vec<u8>,
}

/// A record written to a segment: (offset, encoded length, key, seq).
type Written = (u32, u32, Vec<u8>, u64);

fn entry_bytes(buf: &mut Vec<u8>, frame: &FrameStart, e: &Ent) {
    let (kind, other) = match e.kind {
        EntKind::Put => (EntryKind::Put, None),
        EntKind::Delete => (EntryKind::Delete, None),
        EntKind::Seal => (EntryKind::Seal, None),
        EntKind::Other(b) => (EntryKind::Put, Some(b)),
    };
    let mut value = e.value.clone();
    value.truncate(300);
    let start = buf.len();
    encode_entry(buf, frame, kind, e.seq.get(), &e.key.0, &value);
    if let Some(b) = other {
        // Another tag byte (kind and short key length), after the entry's crc,
        // and the crc made to match it.
        buf[start + 4] = b;
        let crc = crc32fast::hash(&buf[start + 4..]).to_le_bytes();
        buf[start..start + 4].copy_from_slice(&crc);
    }
}

fn build_segment(spec: &SegSpec) -> (Vec<u8>, Vec<Written>) {
    let mut buf = Vec::new();
    let mut written = Vec::new();
    for part in spec.parts.iter().take(16) {
        match part {
            Part::Frame(entries) => {
                // A commit's frame carries its entries' sequence number; frames
                // that mix numbers (compaction's) start from the first one.
                let frame_seq = entries.first().map_or(0, |e| e.seq.get());
                let frame = begin_frame(&mut buf, frame_seq);
                for e in entries.iter().take(16) {
                    let at = buf.len();
                    entry_bytes(&mut buf, &frame, e);
                    written.push((
                        at as u32,
                        (buf.len() - at) as u32,
                        e.key.0.clone(),
                        e.seq.get(),
                    ));
                }
                finish_frame(&mut buf, frame);
            }
            Part::Seal(seq) => encode_seal_frame(&mut buf, seq.get()),
            Part::Raw(bytes) => buf.extend_from_slice(&bytes[..bytes.len().min(4096)]),
            Part::Zeros(n) => buf.resize(buf.len() + *n as usize % 16384, 0),
            Part::Flip(at, xor) => {
                if !buf.is_empty() {
                    let at = *at as usize % buf.len();
                    buf[at] ^= if *xor == 0 { 1 } else { *xor };
                }
            }
            Part::Cut(n) => {
                let n = *n as usize % (buf.len() + 1);
                buf.truncate(buf.len() - n);
                // A record cut off is no longer there to point at: the frames
                // written next take its offsets, and a row naming it would name
                // another record under its key and length (the table, which
                // keeps no length, reads that record by its header; a walk
                // refuses it as not the length the row says).
                written.retain(|(at, len, _, _)| (*at + *len) as usize <= buf.len());
            }
        }
    }
    (buf, written)
}

const CKPT_MAGIC: &[u8; 8] = b"LDBCKPT3";
/// Where a writer sets aside an index file it found damaged.
const SET_ASIDE: &str = "index.ckpt.damaged";
/// Where a writer sets aside a delta it did not use.
const DELTA_SET_ASIDE: &str = "index.delta.damaged";

/// An entry of a checkpoint: (key, seq, segment, offset, len).
type Row = (Vec<u8>, u64, u32, u32, u32);

fn seg_id(ids: &[u32], r: SegRef) -> u32 {
    match r {
        SegRef::Nth(n) if !ids.is_empty() => ids[n as usize % ids.len()],
        SegRef::Nth(n) => n as u32,
        SegRef::Id(id) => id,
    }
}

/// The first 32 entries, each pointing at a real record or anywhere.
fn build_rows(entries: &[CkptEntry], ids: &[u32], written: &[Vec<Written>]) -> Vec<Row> {
    build_rows_of(&entries.iter().collect::<Vec<_>>(), ids, written)
}

fn build_rows_of(entries: &[&CkptEntry], ids: &[u32], written: &[Vec<Written>]) -> Vec<Row> {
    let mut rows = Vec::new();
    for e in entries.iter().take(32) {
        let (mut key, mut rseq, segment, offset, len) = match &e.loc {
            LocSpec::Entry { seg, nth } if !ids.is_empty() => {
                let s = *seg as usize % ids.len();
                match written[s].get(*nth as usize % written[s].len().max(1)) {
                    Some((off, len, key, seq)) => (key.clone(), *seq, ids[s], *off, *len),
                    None => (Vec::new(), 0, ids[s], 0, 0),
                }
            }
            LocSpec::Entry { seg, nth } => (Vec::new(), 0, *seg as u32, *nth as u32, 0),
            LocSpec::Raw { seg, offset, len } => (Vec::new(), 0, seg_id(ids, *seg), *offset, *len),
        };
        if let Some(k) = &e.key {
            key = k.0.clone();
        }
        if let Some(s) = e.seq {
            rseq = s.get();
        }
        rows.push((key, rseq, segment, offset, len));
    }
    rows
}

/// Writes an index file at `path` with the engine's writer, then damages it
/// as `flips` and `cut` say. Returns whether a part of it may be refused only
/// when read (see `Lenience`): bytes were changed, or the entries are not the
/// ascending, unique, valid-length keys the engine gives the writer.
fn write_index(path: &Path, spec: &CkptSpec, ids: &[u32], written: &[Vec<Written>]) -> Lenience {
    let CkptSpec::Index {
        seq,
        covered,
        entries,
        order,
        flips,
        cut,
        delta: _,
    } = spec
    else {
        unreachable!("not an index file");
    };
    let seq = seq.get();
    let covered: BTreeSet<u32> = covered.iter().take(8).map(|r| seg_id(ids, *r)).collect();
    let mut rows = build_rows(entries, ids, written);
    // A made-up location of no length, which no row can take, names where the
    // log after the file begins instead: the end of the segment's n-th record
    // (a frame's end when it is the frame's last) for an offset n under the
    // number of records written there, otherwise the offset itself.
    let log_from = entries.iter().find_map(|e| match e.loc {
        LocSpec::Raw {
            seg,
            offset,
            len: 0,
        } => {
            let id = seg_id(ids, seg);
            let record_end = ids
                .iter()
                .position(|&i| i == id)
                .and_then(|s| written[s].get(offset as usize))
                .map(|(at, len, _, _)| u64::from(at + len));
            Some((id, record_end.unwrap_or(u64::from(offset))))
        }
        _ => None,
    });
    // The writer is trusted: it refuses (with an error, leaving a torn file)
    // what the engine never gives it, which would not test the reader.
    rows.retain(|(_, rseq, segment, _, len)| *rseq <= seq && *len != 0 && *segment < u32::MAX - 1);
    match order {
        Order::AsGiven => {}
        Order::Sorted => rows.sort_by(|a, b| a.0.cmp(&b.0)),
        Order::SortedUnique => {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.dedup_by(|a, b| a.0 == b.0);
        }
    }
    write_index_file(path, seq, &covered, log_from, &rows).expect("write an index file");
    let made_up =
        !rows.windows(2).all(|w| w[0].0 < w[1].0) || rows.iter().any(|r| r.0.len() > MAX_KEY_SIZE);
    let lenience = if twice(rows.iter().map(|r| &r.0)) {
        Lenience::KeysMadeUp
    } else if made_up {
        Lenience::RefusedWhenRead
    } else {
        Lenience::Strict
    };
    if damage(path, flips, *cut) {
        lenience.max(Lenience::RefusedWhenRead)
    } else {
        lenience
    }
}

/// Whether a key comes twice among `keys`.
fn twice<'a>(keys: impl Iterator<Item = &'a Vec<u8>>) -> bool {
    let mut seen = BTreeSet::new();
    keys.into_iter().any(|k| !seen.insert(k))
}

/// Xors the bytes `flips` name (counted from the start or from the end) and
/// cuts `cut` bytes off the end of the file at `path`; whether it changed.
fn damage(path: &Path, flips: &[(bool, u16, u8)], cut: Option<u16>) -> bool {
    if flips.is_empty() && cut.is_none() {
        return false;
    }
    let good = std::fs::read(path).unwrap();
    let mut bytes = good.clone();
    for &(from_end, at, xor) in flips.iter().take(8) {
        if bytes.is_empty() {
            break;
        }
        let at = at as usize % bytes.len();
        let at = if from_end { bytes.len() - 1 - at } else { at };
        bytes[at] ^= if xor == 0 { 1 } else { xor };
    }
    if let Some(n) = cut {
        let n = n as usize % (bytes.len() + 1);
        bytes.truncate(bytes.len() - n);
    }
    let damaged = bytes != good;
    std::fs::write(path, bytes).unwrap();
    damaged
}

/// Writes the delta `spec` at `dir/index.delta` over `dir/index.ckpt` with the
/// engine's delta writer, then damages it. Its meta is made up (the key count
/// the fuzzer chose, the live bytes of its puts), so a database that uses it
/// agrees with itself only as far as `Lenience::RefusedWhenRead` says, or
/// `KeysMadeUp` if its keys are out of order or twice (the merged walk may
/// hand out an index file's entry that the delta replaces further on).
fn write_delta(dir: &Path, spec: &DeltaSpec, ids: &[u32], written: &[Vec<Written>]) -> Lenience {
    let seq = spec.seq.get();
    let covered: BTreeSet<u32> = spec
        .covered
        .iter()
        .take(8)
        .map(|r| seg_id(ids, *r))
        .collect();
    let (entries, removed): (Vec<&CkptEntry>, Vec<bool>) =
        spec.entries.iter().take(32).map(|(e, r)| (e, *r)).unzip();
    let rows = build_rows_of(&entries, ids, written);
    let mut rows: Vec<(Vec<u8>, u64, u32, u32, u32, bool)> = rows
        .into_iter()
        .zip(removed)
        .map(|((key, rseq, segment, offset, len), removed)| {
            (key, rseq, segment, offset, len, removed)
        })
        .collect();
    // What the writer refuses (see `write_index`).
    rows.retain(|r| r.1 <= seq && (r.5 || (r.4 != 0 && r.2 < u32::MAX - 1)));
    match spec.order {
        Order::AsGiven => {}
        Order::Sorted => rows.sort_by(|a, b| a.0.cmp(&b.0)),
        Order::SortedUnique => {
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.dedup_by(|a, b| a.0 == b.0);
        }
    }
    let live_bytes = rows.iter().filter(|r| !r.5).map(|r| u64::from(r.4)).sum();
    let path = dir.join("index.delta");
    write_index_delta(
        &path,
        &dir.join("index.ckpt"),
        spec.names_base,
        seq,
        &covered,
        &rows,
        usize::from(spec.len),
        live_bytes,
    )
    .expect("write a delta");
    damage(&path, &spec.flips, spec.cut);
    if rows.windows(2).all(|w| w[0].0 < w[1].0) {
        Lenience::RefusedWhenRead
    } else {
        Lenience::KeysMadeUp
    }
}

fn build_checkpoint(spec: &CkptSpec, ids: &[u32], written: &[Vec<Written>]) -> Vec<u8> {
    let seg_id = |r: SegRef| seg_id(ids, r);
    match spec {
        CkptSpec::Raw { bytes, magic, crc } => {
            let mut out = Vec::new();
            if *magic {
                out.extend_from_slice(CKPT_MAGIC);
            }
            out.extend_from_slice(bytes);
            if *crc {
                let c = crc32fast::hash(&out);
                out.extend_from_slice(&c.to_le_bytes());
            }
            out
        }
        CkptSpec::Built {
            seq,
            covered,
            entries,
            damage,
        } => {
            let mut out = CKPT_MAGIC.to_vec();
            out.extend_from_slice(&seq.get().to_le_bytes());
            let covered: Vec<u32> = covered.iter().take(8).map(|r| seg_id(*r)).collect();
            out.extend_from_slice(&(covered.len() as u32).to_le_bytes());
            for id in &covered {
                out.extend_from_slice(&id.to_le_bytes());
            }
            let rows = build_rows(entries, ids, written);
            // The engine writes the index in key order; a checkpoint may not be.
            // Each field is left out where it follows from the previous row, as
            // the engine does (see the engine's checkpoint.rs).
            out.extend_from_slice(&(rows.len() as u64).to_le_bytes());
            let varint = |out: &mut Vec<u8>, v: u64| {
                leb128::write::unsigned(out, v).unwrap();
            };
            let mut prev: Option<&Row> = None;
            for row in &rows {
                let (key, rseq, segment, offset, len) = row;
                let shared = prev.map_or(0, |p| {
                    p.0.iter().zip(key).take_while(|(a, b)| a == b).count()
                });
                let mut flags = 0u8;
                if let Some((pkey, pseq, pseg, poff, plen)) = prev {
                    flags |= u8::from(pkey.len() == key.len()) << 4;
                    flags |= u8::from(pseq == rseq);
                    if pseg == segment {
                        flags |= 2;
                        if poff.checked_add(*plen) == Some(*offset) {
                            flags |= 4;
                        }
                    }
                    flags |= u8::from(plen == len) << 3;
                }
                out.push((shared.min(7) as u8) << 5 | flags);
                if shared >= 7 {
                    varint(&mut out, shared as u64);
                }
                if flags & 16 == 0 {
                    varint(&mut out, (key.len() - shared) as u64);
                }
                out.extend_from_slice(&key[shared..]);
                if flags & 1 == 0 {
                    // A row newer than the checkpoint cannot be written: it reads
                    // back as malformed.
                    varint(&mut out, seq.get().checked_sub(*rseq).unwrap_or(u64::MAX));
                }
                if flags & 2 == 0 {
                    varint(&mut out, u64::from(*segment));
                }
                if flags & 4 == 0 {
                    varint(&mut out, u64::from(*offset));
                }
                if flags & 8 == 0 {
                    varint(&mut out, u64::from(*len));
                }
                prev = Some(row);
            }
            let c = crc32fast::hash(&out);
            out.extend_from_slice(&c.to_le_bytes());
            if let Some((at, xor)) = damage {
                let at = *at as usize % out.len();
                out[at] ^= if *xor == 0 { 1 } else { *xor };
            }
            out
        }
        CkptSpec::Index { .. } => unreachable!("written by write_index"),
    }
}

fn segment_name(id: u32) -> String {
    format!("{id:010}.seg")
}

/// Whether the index file `spec` covers a segment in `dir` holding a record
/// newer than the file: a contradiction no crash or bit rot makes (a
/// checkpoint covers only segments whose every record it reflects). An open
/// that trusts the file reads no covered segment and numbers the next commit
/// after the file's sequence number; a rebuild from every segment then ranks
/// the covered record above that commit.
fn covers_newer_records(dir: &Path, spec: &CkptSpec, ids: &[u32]) -> bool {
    let CkptSpec::Index {
        seq,
        covered,
        delta,
        ..
    } = spec
    else {
        return false;
    };
    covers_newer(dir, seq.get(), covered, ids)
        || delta
            .as_ref()
            .is_some_and(|d| covers_newer(dir, d.seq.get(), &d.covered, ids))
}

fn covers_newer(dir: &Path, seq: u64, covered: &[SegRef], ids: &[u32]) -> bool {
    covered.iter().take(8).any(|r| {
        let Ok(bytes) = std::fs::read(dir.join(segment_name(seg_id(ids, *r)))) else {
            return false;
        };
        let mut newest = 0;
        lightning_db::fuzzing::scan(&bytes, |_, e| newest = newest.max(e.seq));
        newest > seq
    })
}

/// Lays the input out in `dir`; returns every key it mentions, how lenient
/// the checks are without a delta (an index file may refuse parts of itself
/// when read) and with it, and whether an index file covers records newer
/// than itself (`covers_newer_records`).
fn lay_out(dir: &Path, input: &Input) -> (Vec<Vec<u8>>, Lenience, Lenience, bool) {
    let mut lenience = Lenience::Strict;
    let mut with_delta = Lenience::Strict;
    let mut covers_newer = false;
    let mut keys = vec![input.put_key.0.clone()];
    let mut ids = Vec::new();
    let mut written = Vec::new();
    let mut prev: u32 = 0;
    for spec in input.segments.iter().take(6) {
        let id = match spec.id {
            SegId::Next => prev.wrapping_add(1),
            SegId::Skip(n) => prev.wrapping_add(n as u32 % 8),
            SegId::Exact(id) => id,
        };
        prev = id;
        if ids.contains(&id) {
            continue;
        }
        let (bytes, w) = build_segment(spec);
        std::fs::write(dir.join(segment_name(id)), bytes).unwrap();
        keys.extend(w.iter().map(|w| w.2.clone()));
        ids.push(id);
        written.push(w);
    }
    if let Some(c) = &input.checkpoint {
        if let CkptSpec::Built { entries, .. } | CkptSpec::Index { entries, .. } = c {
            keys.extend(
                entries
                    .iter()
                    .filter_map(|e| e.key.as_ref().map(|k| k.0.clone())),
            );
        }
        let path = dir.join("index.ckpt");
        match c {
            CkptSpec::Index { delta, .. } => {
                lenience = write_index(&path, c, &ids, &written);
                if let Some(d) = delta {
                    keys.extend(
                        d.entries
                            .iter()
                            .filter_map(|(e, _)| e.key.as_ref().map(|k| k.0.clone())),
                    );
                    with_delta = write_delta(dir, d, &ids, &written);
                }
            }
            _ => std::fs::write(path, build_checkpoint(c, &ids, &written)).unwrap(),
        }
        covers_newer = covers_newer_records(dir, c, &ids);
    }
    for s in input.strays.iter().take(4) {
        match s {
            Stray::TempFile(b) => std::fs::write(dir.join("0000000001.seg.tmp"), b).unwrap(),
            Stray::CheckpointTemp(b) => std::fs::write(dir.join("index.ckpt.tmp"), b).unwrap(),
            Stray::SegmentDir(id) => {
                let _ = std::fs::create_dir(dir.join(segment_name(*id)));
            }
            Stray::CheckpointDir => {
                let _ = std::fs::create_dir(dir.join("index.ckpt"));
            }
            Stray::Lock(b) => std::fs::write(dir.join("LOCK"), b).unwrap(),
        }
    }
    keys.sort();
    keys.dedup();
    keys.retain(|k| Key(k.clone()).is_valid());
    (keys, lenience, with_delta.max(lenience), covers_newer)
}

/// Every item of a full scan: the readable pairs in order, and how many failed.
fn scan(db: &Database) -> (Pairs, usize) {
    let mut ok = Vec::new();
    let mut errs = 0;
    for item in db.iter().expect("iter on an open database") {
        match item {
            Ok(kv) => ok.push(kv),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}");
                if std::env::var_os("LDB_FUZZ_DEBUG").is_some() {
                    eprintln!("unreadable item: {e}");
                }
                errs += 1;
            }
        }
    }
    (ok, errs)
}

/// How much of a database that opened has to agree with itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lenience {
    Strict,
    /// The checkpoint is an index file with bytes changed, or made up with
    /// keys out of order, twice or too long, or it has a delta (whose meta,
    /// made up, may count keys the scans do not see). Opening checks only its footer and
    /// what that describes; a block or a chunk of the table is checked the first
    /// time it is read, and refused then (CorruptedData), by design. A scan ends
    /// at the first refused block, so the two directions see different parts and
    /// neither counts the entries behind it, which `len` and `verify` do; a get,
    /// or a put (which checks the block of its key first), of a key in a refused
    /// part fails. A legacy checkpoint, read whole at open, never opens so. What
    /// still holds: every error is CorruptedData, every scan is in order, a key
    /// a scan read reads the same or fails, and a reopen sees what the scan
    /// before it saw, as does a read-only handle.
    RefusedWhenRead,
    /// As `RefusedWhenRead`, and the index file or delta was made up with a
    /// key twice (or a delta with keys out of order): a get, through the hash
    /// table, may find another of the key's entries than the scan did.
    KeysMadeUp,
}

/// The checks of `check_open_database` that hold for a checkpoint whose parts
/// may be refused when read (`Lenience::RefusedWhenRead`).
fn check_refused_when_read(db: &Database, lenience: Lenience) -> (Pairs, usize) {
    let (ok, errs) = scan(db);
    assert!(ok.windows(2).all(|w| w[0].0 < w[1].0), "keys out of order");
    let mut back_ok = Vec::new();
    for item in db.iter().unwrap().rev() {
        match item {
            Ok(kv) => back_ok.push(kv),
            Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}"),
        }
    }
    back_ok.reverse();
    assert!(
        back_ok.windows(2).all(|w| w[0].0 < w[1].0),
        "keys out of order in reverse"
    );
    for (k, v) in ok.iter().chain(&back_ok) {
        match db.get(k) {
            // Another of the key's entries, or none if its record holds
            // another key (see `KeysMadeUp`).
            Ok(_) if lenience == Lenience::KeysMadeUp => {}
            Ok(got) => assert_eq!(got.as_ref(), Some(v), "get of a key a scan read"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}"),
        }
    }
    match db.verify() {
        Ok(report) => assert!(errs == 0 || !report.is_clean(), "unreadable but clean"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}"),
    }
    (ok, errs)
}

fn check_open_database(db: &Database, probe: &[Vec<u8>], lenience: Lenience) -> (Pairs, usize) {
    if lenience != Lenience::Strict {
        return check_refused_when_read(db, lenience);
    }
    let (ok, errs) = scan(db);
    assert!(ok.windows(2).all(|w| w[0].0 < w[1].0), "keys out of order");

    let mut back_ok = Vec::new();
    let mut back_errs = 0;
    for item in db.iter().unwrap().rev() {
        match item {
            Ok(kv) => back_ok.push(kv),
            Err(_) => back_errs += 1,
        }
    }
    back_ok.reverse();
    assert_eq!(back_ok, ok, "reverse iteration differs");
    assert_eq!(back_errs, errs);
    assert_eq!(
        db.len().unwrap(),
        ok.len() + errs,
        "len differs from the iteration"
    );

    for (k, v) in &ok {
        assert_eq!(
            db.get(k).expect("get of a key the iteration read").as_ref(),
            Some(v)
        );
        assert!(db.contains(k).unwrap());
    }
    let found: BTreeMap<_, _> = ok.iter().cloned().collect();
    for k in probe {
        if let Ok(Some(v)) = db.get(k) {
            assert_eq!(
                found.get(k),
                Some(&v),
                "get returned a value the iteration did not"
            );
        }
    }

    let report = db.verify().expect("verify");
    assert_eq!(report.live_keys as usize, ok.len() + errs);
    assert!(report.unreadable_keys as usize <= errs);
    if errs > 0 {
        assert!(!report.is_clean(), "unreadable values but a clean verify");
    }
    (ok, errs)
}

fn config(input: &Input) -> Config {
    Config {
        page_size: 512,
        segment_size: [4096, 16384, 1 << 20][input.segment_size as usize % 3],
        cache_size: if input.cache { 64 * 1024 } else { 0 },
        sync_mode: SyncMode::Off,
        auto_compact: false,
        ..Config::default()
    }
}

fuzz_target!(|input: Input| {
    let tmp = scratch_dir();
    let dir = tmp.path();
    let (probe, base_lenience, lenience, covers_newer) = lay_out(dir, &input);
    let cfg = config(&input);
    // A checkpoint that opens has a good checksum, so here it was made up by the
    // fuzzer rather than damaged: it may contradict the segments in ways no crash
    // or bit rot can (point at records that are not there, at segments the writer
    // then removes as empty). Such a directory only has to open or fail cleanly,
    // also the second time.
    let made_up_checkpoint = dir.join("index.ckpt").is_file();

    let db = match Database::open(dir, cfg.clone()) {
        Ok(db) => db,
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::CorruptedData | ErrorKind::IoError),
                "open failed with {:?}: {e}",
                e.kind()
            );
            return;
        }
    };
    let (before, errs) = check_open_database(&db, &probe, lenience);

    let (pk, pv) = (&input.put_key.0, &input.put_value);
    let mut put = input.put_key.is_valid();
    if put {
        match db.put(pk, pv) {
            Ok(()) => assert_eq!(db.get(pk).unwrap().as_ref(), Some(pv)),
            // A log whose last commit took the last sequence number a commit
            // can have opens (it is whole) but takes no further commit, whatever
            // the index file.
            Err(e) if e.message().contains("sequence numbers are used up") => {
                assert_eq!(e.kind(), ErrorKind::IoError, "{e}");
                put = false;
            }
            // The block its key belongs in is refused (see `Lenience`).
            Err(e) if lenience != Lenience::Strict => {
                assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}");
                put = false;
            }
            Err(e) => panic!("put into a database that opened: {e}"),
        }
    }
    drop(db);
    // A writer that found the index file damaged set it aside: at open, in
    // the background (rebuilding the index from the segments in place, a
    // second after opening) or at close. Then the index is the segments' alone:
    // the reopen has to agree with itself and keep the put, not with what the
    // made-up file said (unless that file covered records newer than itself,
    // which then outrank the put: `covers_newer_records`).
    let rebuilt = dir.join(SET_ASIDE).is_file();
    // A delta set aside leaves the index file and the log after it: the
    // reopen agrees with itself as that file lets it, and keeps the put.
    let delta_set_aside = !rebuilt && dir.join(DELTA_SET_ASIDE).is_file();

    let mut expect: BTreeMap<_, _> = before.into_iter().collect();
    if put {
        expect.insert(pk.clone(), pv.clone());
    }
    let db = match Database::open(dir, cfg.clone()) {
        Ok(db) => db,
        Err(e) if made_up_checkpoint => {
            assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}");
            return;
        }
        Err(e) => panic!("reopen of a database that opened: {e}"),
    };
    let lenience = if rebuilt {
        Lenience::Strict
    } else if delta_set_aside {
        base_lenience
    } else {
        lenience
    };
    let (after, after_errs) = check_open_database(&db, &probe, lenience);
    let after: BTreeMap<_, _> = after.into_iter().collect();
    if rebuilt || delta_set_aside {
        if put && !covers_newer {
            assert_eq!(after.get(pk), Some(pv), "the put lost in the rebuild");
        }
    } else if errs == 0 {
        assert_eq!(after_errs, 0);
        assert_eq!(after, expect, "contents changed across a reopen");
    } else {
        for (k, v) in &expect {
            assert_eq!(
                after.get(k),
                Some(v),
                "a readable key changed across a reopen"
            );
        }
    }
    drop(db);
    // A file whose damage only the reads after the reopen met (a made-up
    // index file the delta hid, say) was set aside at that close: the
    // read-only handle replays segments the writer did not read, which may be
    // made up too. It opens as a writer would now, or fails cleanly.
    let set_aside_since = (!rebuilt && dir.join(SET_ASIDE).is_file())
        || (!rebuilt && !delta_set_aside && dir.join(DELTA_SET_ASIDE).is_file());
    let ro = match Database::open(
        dir,
        Config {
            read_only: true,
            ..cfg
        },
    ) {
        Ok(ro) => ro,
        Err(e) if set_aside_since && made_up_checkpoint => {
            assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}");
            return;
        }
        Err(e) => panic!("read-only open of a database that opened: {e}"),
    };
    if set_aside_since {
        check_refused_when_read(&ro, Lenience::KeysMadeUp);
        return;
    }
    let (ro_ok, ro_errs) = scan(&ro);
    assert_eq!(ro_errs, after_errs);
    assert_eq!(
        ro_ok.into_iter().collect::<BTreeMap<_, _>>(),
        after,
        "read-only handle differs"
    );
});
