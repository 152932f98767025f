//! The record decoder and the segment scanner on arbitrary bytes.
//!
//! The input is used twice:
//! 1. as raw segment bytes: `scan`, `check_frame`, `entries`, `decode_entry` and
//!    `valid_frame_after` must not panic and must agree with each other (every
//!    accepted entry decodes again to the same thing and re-encodes to exactly its
//!    bytes, the scanner's end matches a frame-by-frame walk, corruption is
//!    reported exactly when the rules in segment.rs say so);
//! 2. as a description of frames built with `begin_frame`/`encode_entry`/
//!    `finish_frame`: the scan must return exactly those entries, and after one
//!    byte of a frame is changed the scan must stop before that frame, never
//!    returning different content.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use lightning_db::fuzzing::{
    begin_frame, check_frame, decode_entry, encode_entry, entries, entry_len, finish_frame, scan,
    valid_frame_after, EntryKind, FrameError, FrameStart, ScanEnd, FRAME_HEADER_LEN,
};

const MAX_KEY_SIZE: usize = lightning_db::MAX_KEY_SIZE;

/// One visited entry, owned: (offset, kind, seq, key, value, encoded length).
type Seen = (usize, EntryKind, u64, Vec<u8>, Vec<u8>, usize);

fn scan_all(bytes: &[u8]) -> (ScanEnd, Vec<Seen>) {
    let mut seen = Vec::new();
    let end = scan(bytes, |off, e| {
        seen.push((off, e.kind, e.seq, e.key.to_vec(), e.value.to_vec(), e.len))
    });
    (end, seen)
}

/// An entry on its own: its sequence number relative to a frame's of 0.
fn encoded(kind: EntryKind, seq_delta: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    let frame = FrameStart { start: 0, seq: 0 };
    encode_entry(&mut buf, &frame, kind, seq_delta, key, value);
    buf
}

/// An accepted entry is canonical: encoding what it decoded to gives its bytes.
fn check_entry_at(bytes: &[u8], off: usize) {
    let Ok(e) = decode_entry(&bytes[off..]) else {
        return;
    };
    assert!(e.len <= bytes.len() - off);
    assert_eq!(e.len, entry_len(e.key.len(), e.value.len(), e.seq_delta));
    assert_eq!(
        encoded(e.kind, e.seq_delta, e.key, e.value),
        &bytes[off..off + e.len],
        "decoded entry does not re-encode to its bytes"
    );
}

/// Properties of any byte string as a segment.
fn raw(b: &[u8]) {
    let (end, seen) = scan_all(b);
    assert!(end.valid_len <= b.len());
    assert!(end.data_len <= end.valid_len);
    if let Some((off, _)) = end.corruption {
        assert_eq!(
            off, end.valid_len,
            "corruption is reported where the scan stops"
        );
        assert!(!end.sealed);
    }

    // Every visited entry lies inside the valid prefix, in order, decodes again
    // from its offset to the same thing and re-encodes to its bytes.
    let mut last_end = 0;
    // (Sequence numbers need the frame: the frame walk below checks them.)
    for (off, kind, _, key, value, len) in &seen {
        assert!(*off >= last_end + FRAME_HEADER_LEN || *off == last_end);
        assert!(off + len <= end.valid_len);
        assert_ne!(*kind, EntryKind::Seal, "seal entries are not data");
        let e = decode_entry(&b[*off..]).expect("a visited entry decodes again");
        assert_eq!(
            (e.kind, e.key, e.value, e.len),
            (*kind, &key[..], &value[..], *len)
        );
        check_entry_at(b, *off);
        last_end = off + len;
    }

    // A walk frame by frame stops where the scan does and finds the entries it
    // visited, sequence numbers included; every whole frame found on the way
    // re-encodes to exactly its bytes.
    let mut pos = 0;
    let mut walked: Vec<Seen> = Vec::new();
    while pos < b.len() {
        let Ok(frame) = check_frame(b, pos) else {
            break;
        };
        let payload = frame.payload.clone();
        assert_eq!(payload.start, pos + FRAME_HEADER_LEN);
        assert!(payload.end <= b.len());
        let Ok(es) = entries(b, &frame) else {
            break;
        };
        if es.len() > 1 && es.iter().any(|(_, e)| e.kind == EntryKind::Seal) {
            break;
        }
        let mut rebuilt = Vec::new();
        let start = begin_frame(&mut rebuilt, frame.seq);
        let mut at = payload.start;
        for (off, e) in &es {
            assert_eq!(*off, at, "entries are contiguous");
            at += e.len;
            encode_entry(&mut rebuilt, &start, e.kind, e.seq, e.key, e.value);
            if e.kind != EntryKind::Seal {
                walked.push((*off, e.kind, e.seq, e.key.to_vec(), e.value.to_vec(), e.len));
            }
        }
        assert_eq!(at, payload.end, "entries fill the payload");
        finish_frame(&mut rebuilt, start);
        assert_eq!(&rebuilt[..], &b[pos..payload.end], "frame is not canonical");
        pos = payload.end;
    }
    assert_eq!(
        pos, end.valid_len,
        "scan and a frame walk stop at the same place"
    );
    assert_eq!(walked, seen, "scan and a frame walk find the same entries");

    // Corruption rule: the scan stops at a bad frame; it is corruption when the
    // frame's checksums were good (its entries were not) or a good frame
    // follows, and a torn tail otherwise.
    let good: Vec<usize> = (0..b.len().saturating_sub(FRAME_HEADER_LEN - 1))
        .filter(|&q| check_frame(b, q).is_ok())
        .collect();
    for p in [0, end.valid_len] {
        if p < b.len() {
            assert_eq!(
                valid_frame_after(b, p),
                good.iter().any(|&q| q > p),
                "valid_frame_after({p})"
            );
        }
    }
    let expect_corruption = end.valid_len < b.len()
        && (check_frame(b, end.valid_len).is_ok() || good.iter().any(|&q| q > end.valid_len));
    assert_eq!(end.corruption.is_some(), expect_corruption);

    // check_frame and decode_entry at the first offsets.
    for p in 0..b.len().min(48) {
        match check_frame(b, p) {
            Ok(f) => {
                assert_eq!(f.payload.start, p + FRAME_HEADER_LEN);
                assert!(f.payload.end <= b.len());
            }
            Err(FrameError::Zeroed) => {
                let n = (b.len() - p).min(FRAME_HEADER_LEN);
                assert!(
                    b[p..p + n].iter().all(|&x| x == 0),
                    "Zeroed on non-zero bytes"
                );
            }
            Err(FrameError::Invalid(_)) => {}
        }
        check_entry_at(b, p);
    }

    // The valid prefix alone scans to the same entries, cleanly.
    let (end2, seen2) = scan_all(&b[..end.valid_len]);
    assert_eq!(seen2, seen);
    assert_eq!(end2.valid_len, end.valid_len);
    assert!(end2.corruption.is_none());
    if end.corruption.is_none() {
        assert_eq!(end2, end);
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Put,
    Delete,
    Seal,
}

impl Kind {
    fn kind(self) -> EntryKind {
        match self {
            Kind::Put => EntryKind::Put,
            Kind::Delete => EntryKind::Delete,
            Kind::Seal => EntryKind::Seal,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct EntrySpec {
    kind: Kind,
    seq: u64,
    key: Vec<u8>,
    value: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Tail {
    Nothing,
    Zeros(u16),
    Garbage(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct FrameSpec {
    /// The frame's sequence number; `None`: its first entry's, as a commit's.
    seq: Option<u64>,
    entries: Vec<EntrySpec>,
}

impl FrameSpec {
    fn seq(&self) -> u64 {
        self.seq
            .unwrap_or_else(|| self.entries.first().map_or(0, |e| e.seq))
    }
}

#[derive(Arbitrary, Debug)]
struct Spec {
    frames: Vec<FrameSpec>,
    tail: Tail,
    /// Byte (modulo the frames' length) to change, and the xor to change it with.
    flip: Option<(u32, u8)>,
}

/// What scanning the frames of `spec` must give, up to and including frame
/// `upto` (exclusive): (valid_len, data_len, sealed, corruption offset, entries).
struct Expect {
    valid_len: usize,
    data_len: usize,
    sealed: bool,
    corruption: Option<usize>,
    seen: Vec<Seen>,
}

/// Puts and deletes need a key a writer accepts; a seal entry may have any.
fn entry_ok(e: &EntrySpec) -> bool {
    matches!(e.kind, Kind::Seal) || (!e.key.is_empty() && e.key.len() <= MAX_KEY_SIZE)
}

/// `entries` splits the frame's payload.
fn splits(f: &[EntrySpec]) -> bool {
    !f.is_empty() && f.iter().all(entry_ok)
}

/// The scan stops at the frame: it does not split, or has a seal entry beside
/// others (a writer puts a seal alone in its frame).
fn rejected(f: &[EntrySpec]) -> bool {
    !splits(f) || (f.len() > 1 && f.iter().any(|e| matches!(e.kind, Kind::Seal)))
}

fn expect(frames: &[FrameSpec], starts: &[usize], upto: usize) -> Expect {
    let mut x = Expect {
        valid_len: 0,
        data_len: 0,
        sealed: false,
        corruption: None,
        seen: Vec::new(),
    };
    for (i, frame) in frames.iter().enumerate().take(upto) {
        let (start, f) = (starts[i], &frame.entries);
        if rejected(f) {
            // A frame without entries, with a key no writer accepts or with a seal
            // entry beside others passes its checksums but is not one a writer makes.
            x.valid_len = start;
            x.data_len = 0;
            x.sealed = false;
            x.corruption = Some(start);
            return x;
        }
        let mut off = start + FRAME_HEADER_LEN;
        x.sealed = false;
        for e in f {
            let len = entry_len(e.key.len(), e.value.len(), e.seq.wrapping_sub(frame.seq()));
            if let Kind::Seal = e.kind {
                x.sealed = true;
            } else {
                x.seen.push((
                    off,
                    e.kind.kind(),
                    e.seq,
                    e.key.clone(),
                    e.value.clone(),
                    len,
                ));
            }
            off += len;
        }
        x.valid_len = off;
        if !x.sealed {
            x.data_len = off;
        }
    }
    x
}

fn structured(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(spec) = Spec::arbitrary(&mut u) else {
        return;
    };
    let mut buf = Vec::new();
    let mut starts = Vec::new();
    for f in &spec.frames {
        starts.push(buf.len());
        let start = begin_frame(&mut buf, f.seq());
        for e in &f.entries {
            encode_entry(&mut buf, &start, e.kind.kind(), e.seq, &e.key, &e.value);
        }
        finish_frame(&mut buf, start);
    }
    let frames_len = buf.len();

    // Each frame checks and splits back into its entries.
    for (i, frame) in spec.frames.iter().enumerate() {
        let f = &frame.entries;
        let checked = check_frame(&buf, starts[i]).expect("a built frame checks");
        assert_eq!(checked.payload.start, starts[i] + FRAME_HEADER_LEN);
        assert_eq!(checked.seq, frame.seq());
        match entries(&buf, &checked) {
            Ok(es) => {
                assert!(splits(f), "a frame with an invalid entry was split");
                assert_eq!(es.len(), f.len());
                for ((_, got), want) in es.iter().zip(f) {
                    assert_eq!(got.kind, want.kind.kind());
                    assert_eq!(
                        (got.seq, got.key, got.value),
                        (want.seq, &want.key[..], &want.value[..])
                    );
                }
            }
            Err(_) => assert!(!splits(f), "a built frame does not split"),
        }
    }

    let x = expect(&spec.frames, &starts, spec.frames.len());
    let check_exact = |bytes: &[u8], x: &Expect| {
        let (end, seen) = scan_all(bytes);
        assert_eq!(
            seen, x.seen,
            "scan returned other entries than were written"
        );
        assert_eq!(end.valid_len, x.valid_len);
        assert_eq!(end.data_len, x.data_len);
        assert_eq!(end.sealed, x.sealed);
        assert_eq!(end.corruption.map(|c| c.0), x.corruption);
    };

    match &spec.tail {
        Tail::Nothing => {}
        Tail::Zeros(n) => buf.resize(frames_len + (*n as usize % 8192), 0),
        Tail::Garbage(g) => buf.extend_from_slice(g),
    }
    match &spec.tail {
        Tail::Garbage(_) if x.corruption.is_none() => {
            // The garbage may hold frames of its own; what was written comes first.
            let (end, seen) = scan_all(&buf);
            assert!(seen.len() >= x.seen.len());
            assert_eq!(seen[..x.seen.len()], x.seen[..]);
            assert!(end.valid_len >= x.valid_len);
        }
        _ => check_exact(&buf, &x),
    }
    raw(&buf);

    // Change one byte of one frame: the scan must stop at that frame, having
    // returned exactly the frames before it.
    let Some((at, xor)) = spec.flip else { return };
    if frames_len == 0 || spec.frames.iter().any(|f| rejected(&f.entries)) {
        return;
    }
    let xor = if xor == 0 { 0x80 } else { xor };
    let at = at as usize % frames_len;
    let i = starts.iter().rposition(|&s| s <= at).unwrap();
    let mut bad = buf.clone();
    bad[at] ^= xor;
    let before = expect(&spec.frames, &starts, i);
    let (end, seen) = scan_all(&bad);
    assert_eq!(seen, before.seen, "a changed frame was accepted");
    assert_eq!(end.valid_len, starts[i]);
    match end.corruption {
        Some((off, _)) => assert_eq!(off, starts[i]),
        None => {
            // A torn tail only when no whole frame follows.
            assert!(
                i + 1 == spec.frames.len(),
                "damage before a good frame is not a torn tail"
            );
            assert_eq!(end.data_len, before.data_len);
            assert_eq!(end.sealed, before.sealed);
        }
    }
    raw(&bad);
}

fuzz_target!(|data: &[u8]| {
    raw(data);
    structured(data);
});
