//! On-disk record format of segment files (record format 2).
//!
//! A segment is a sequence of *frames*; one frame is one commit (a put, a batch or
//! a transaction), so after a crash a commit is present whole or not at all.
//!
//! ```text
//! frame   = magic:u32 payload_len:u32 seq:u64 payload_crc:u32 header_crc:u32 payload
//! payload = entry*
//! entry   = entry_crc:u32 tag:u8 [key_len:varint] value_len:varint seq_delta:varint key value
//! tag     = kind << 6 | short_key_len
//! ```
//!
//! Fixed-width integers are little-endian; varints are unsigned LEB128 in their
//! shortest form (a longer one is refused, so every entry has one encoding).
//! `short_key_len` is the key length when under 63; 63 says the length follows as
//! a varint, and is then at least 63. An entry's sequence number is the frame's
//! `seq` plus its `seq_delta`, a zigzag-encoded signed difference (wrapping): a
//! commit's entries all carry the commit's number, a delta of 0 in one byte, and
//! compaction, whose frames mix records of many commits, writes small deltas from
//! its frame's first record. A record of a 24-byte key and a 150-byte value has an
//! 8-byte header.
//!
//! Crcs are CRC-32 (`crc32fast`). `header_crc` covers the first 20 bytes of the
//! frame header, `payload_crc` the payload and `entry_crc` the rest of the entry,
//! one run of bytes (the hasher has a fixed cost a run, which shows on small
//! entries). The entry crc lets a single value be checked when it is read, long
//! after recovery validated its frame, so a get never returns bytes that rotted on
//! disk; such a read has no frame at hand, so it learns no sequence number (the
//! index holds it).
//!
//! Record format 1 (frames with the magic `LDBF`, fixed 21-byte entry headers) is
//! not read: [`check_format`] refuses a segment that starts with one.
//!
//! Invariants:
//! - A sealed segment's last frame holds one `Seal` entry; only zeros may follow
//!   it. Only the segment being written (or being written when the process
//!   stopped) lacks one. A writer that reopens a segment zeroes its seal frame
//!   and appends there.
//! - Files never get shorter while the database is open anywhere: other
//!   processes may map them, and a mapped page past the end of a file is SIGBUS.
//! - Every entry carries the sequence number of the commit that wrote it, also when
//!   compaction copies it into another segment; recovery keeps the highest.

pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"LDF2");
/// The frame magic of record format 1, recognised only to be refused.
const FORMAT_1_FRAME_MAGIC: [u8; 4] = *b"LDBF";
pub const FRAME_HEADER_LEN: usize = 24;

/// Longest key accepted, in bytes. Keys live in RAM, so they are kept short.
pub const MAX_KEY_SIZE: usize = 16 * 1024;
/// Longest value accepted, in bytes.
pub const MAX_VALUE_SIZE: usize = 256 * 1024 * 1024;
/// Largest commit (sum of its encoded entries) accepted, in bytes.
pub const MAX_COMMIT_SIZE: usize = 1024 * 1024 * 1024;

/// Key lengths from this one on follow the tag byte as a varint.
const LONG_KEY: usize = 63;
const CRC_LEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    Put = 1,
    Delete = 2,
    Seal = 3,
}

impl EntryKind {
    fn from_tag(tag: u8) -> Option<Self> {
        match tag >> 6 {
            1 => Some(EntryKind::Put),
            2 => Some(EntryKind::Delete),
            3 => Some(EntryKind::Seal),
            _ => None,
        }
    }
}

/// An entry read on its own, out of its frame: its sequence number is relative.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub kind: EntryKind,
    /// The entry's sequence number minus its frame's (wrapping).
    pub seq_delta: u64,
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Encoded length of the entry, header included.
    pub len: usize,
}

/// An entry read within its frame.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub kind: EntryKind,
    pub seq: u64,
    pub key: &'a [u8],
    // Recovery and verification need no values; the fuzz targets check them.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub value: &'a [u8],
    /// Encoded length of the entry, header included.
    pub len: usize,
}

/// A frame being built: where it starts in its buffer and its sequence number.
#[derive(Debug, Clone, Copy)]
pub struct FrameStart {
    pub start: usize,
    pub seq: u64,
}

/// Bytes of the shortest LEB128 encoding of `v`.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A signed difference as an unsigned number with small magnitudes small.
fn zigzag(delta: u64) -> u64 {
    let d = delta as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> u64 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

/// Bytes of an entry's header, its crc included.
pub fn header_len(key_len: usize, value_len: usize, seq_delta: u64) -> usize {
    let long_key = if key_len >= LONG_KEY {
        varint_len(key_len as u64)
    } else {
        0
    };
    CRC_LEN + 1 + long_key + varint_len(value_len as u64) + varint_len(zigzag(seq_delta))
}

/// Encoded length of an entry.
pub fn entry_len(key_len: usize, value_len: usize, seq_delta: u64) -> usize {
    header_len(key_len, value_len, seq_delta) + key_len + value_len
}

fn put_varint(buf: &mut Vec<u8>, v: u64) {
    leb128::write::unsigned(buf, v).expect("writing to a Vec cannot fail");
}

/// Appends one entry of the frame `frame` to `buf`.
pub fn encode_entry(
    buf: &mut Vec<u8>,
    frame: &FrameStart,
    kind: EntryKind,
    seq: u64,
    key: &[u8],
    value: &[u8],
) {
    let start = buf.len();
    let seq_delta = seq.wrapping_sub(frame.seq);
    buf.reserve(entry_len(key.len(), value.len(), seq_delta));
    buf.extend_from_slice(&[0; CRC_LEN]);
    buf.push((kind as u8) << 6 | key.len().min(LONG_KEY) as u8);
    if key.len() >= LONG_KEY {
        put_varint(buf, key.len() as u64);
    }
    put_varint(buf, value.len() as u64);
    put_varint(buf, zigzag(seq_delta));
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
    let crc = entry_crc(&buf[start + CRC_LEN..]);
    buf[start..start + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// The CRC-32 of an entry's bytes after its crc field.
///
/// From a copy of one hasher made once: `crc32fast::Hasher::new` asks the CPU
/// for its features each time, a sizeable part of the cost of checking a small
/// record.
fn entry_crc(bytes: &[u8]) -> u32 {
    static HASHER: std::sync::LazyLock<crc32fast::Hasher> =
        std::sync::LazyLock::new(crc32fast::Hasher::new);
    let mut h = HASHER.clone();
    h.update(bytes);
    h.finalize()
}

/// Reserves room for the header of a frame of commit `seq`; call
/// [`finish_frame`] after the entries.
pub fn begin_frame(buf: &mut Vec<u8>, seq: u64) -> FrameStart {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    FrameStart { start, seq }
}

pub fn finish_frame(buf: &mut [u8], frame: FrameStart) {
    let start = frame.start;
    let payload_len = (buf.len() - start - FRAME_HEADER_LEN) as u32;
    let payload_crc = crc32fast::hash(&buf[start + FRAME_HEADER_LEN..]);
    buf[start..start + 4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&payload_len.to_le_bytes());
    buf[start + 8..start + 16].copy_from_slice(&frame.seq.to_le_bytes());
    buf[start + 16..start + 20].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&buf[start..start + 20]);
    buf[start + 20..start + 24].copy_from_slice(&header_crc.to_le_bytes());
}

/// Appends the frame that seals a segment whose last commit is `last_seq`.
pub fn encode_seal_frame(buf: &mut Vec<u8>, last_seq: u64) {
    let frame = begin_frame(buf, last_seq);
    encode_entry(buf, &frame, EntryKind::Seal, last_seq, b"", b"");
    finish_frame(buf, frame);
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Reads a varint in its shortest form at `bytes[*pos..]`, moving `pos` past it.
///
/// By hand rather than through the `leb128` crate's `io::Read` interface: this
/// runs for every record read, and the generic reader's overhead was a large part
/// of a record's decoding on a range scan.
#[inline(always)]
fn take_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, &'static str> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let &byte = bytes.get(*pos).ok_or("entry header cut short")?;
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err("entry header varint overflows");
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            if byte == 0 && shift > 0 {
                return Err("entry header has an overlong varint");
            }
            return Ok(value);
        }
        shift += 7;
        if shift > 63 {
            return Err("entry header varint overflows");
        }
    }
}

/// What an entry's header says: its kind, lengths and sequence delta.
struct Header {
    kind: EntryKind,
    seq_delta: u64,
    /// Bytes before the key: checksum, tag and varints.
    len: usize,
    key_len: usize,
    value_len: usize,
}

impl Header {
    /// The encoded length of the whole entry.
    #[inline(always)]
    fn entry_len(&self) -> Result<usize, &'static str> {
        self.len
            .checked_add(self.key_len)
            .and_then(|n| n.checked_add(self.value_len))
            .ok_or("entry length overflows")
    }
}

#[inline(always)]
fn decode_header(bytes: &[u8]) -> Result<Header, &'static str> {
    if bytes.len() < CRC_LEN {
        return Err("entry header cut short");
    }
    let mut pos = CRC_LEN;
    let &tag = bytes.get(pos).ok_or("entry header cut short")?;
    pos += 1;
    let kind = EntryKind::from_tag(tag).ok_or("unknown entry kind")?;
    let key_len = match (tag & 63) as usize {
        LONG_KEY => {
            let n = take_varint(bytes, &mut pos)?;
            if n < LONG_KEY as u64 {
                return Err("entry header has an overlong key length");
            }
            usize::try_from(n).map_err(|_| "entry key length out of range")?
        }
        short => short,
    };
    let value_len =
        usize::try_from(take_varint(bytes, &mut pos)?).map_err(|_| "entry length overflows")?;
    let seq_delta = unzigzag(take_varint(bytes, &mut pos)?);
    // A put or delete of a key no writer accepts (empty, or longer than the
    // limit) cannot have been written by Lightning DB: reading it back would make
    // a key that iteration shows but get and delete refuse.
    if kind != EntryKind::Seal && (key_len == 0 || key_len > MAX_KEY_SIZE) {
        return Err("entry key length out of range");
    }
    Ok(Header {
        kind,
        seq_delta,
        len: pos,
        key_len,
        value_len,
    })
}

/// The encoded length the header at the start of `bytes` states, its checksum
/// not verified: enough to choose how to read the entry, never to trust it.
#[inline]
pub fn stated_len(bytes: &[u8]) -> Result<usize, &'static str> {
    decode_header(bytes)?.entry_len()
}

/// Decodes and checks the entry at the start of `bytes`.
#[inline(always)]
pub fn decode_entry(bytes: &[u8]) -> Result<Record<'_>, &'static str> {
    let h = decode_header(bytes)?;
    let len = h.entry_len()?;
    if len > bytes.len() {
        return Err("entry extends past its frame");
    }
    if entry_crc(&bytes[CRC_LEN..len]) != u32_at(bytes, 0) {
        return Err("entry checksum mismatch");
    }
    let key_at = h.len;
    Ok(Record {
        kind: h.kind,
        seq_delta: h.seq_delta,
        key: &bytes[key_at..key_at + h.key_len],
        value: &bytes[key_at + h.key_len..len],
        len,
    })
}

/// Why a file of a database in record format 1 is refused.
pub const FORMAT_1_REFUSED: &str = "written in record format 1, which this version of \
    Lightning DB does not read; export its data with the version that wrote it";

/// Refuses a segment written in another record format than this one reads.
pub fn check_format(bytes: &[u8]) -> Result<(), &'static str> {
    if bytes.starts_with(&FORMAT_1_FRAME_MAGIC) {
        return Err(FORMAT_1_REFUSED);
    }
    Ok(())
}

/// Why a frame could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Only zero bytes from here: space allocated ahead of writes, never written.
    Zeroed,
    Invalid(&'static str),
}

/// A frame whose checksums matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Where its payload lies in the bytes it was checked in.
    pub payload: std::ops::Range<usize>,
    /// The sequence number its entries' deltas start from.
    pub seq: u64,
}

/// Checks the frame at `bytes[pos..]`.
pub fn check_frame(bytes: &[u8], pos: usize) -> Result<Frame, FrameError> {
    let rest = &bytes[pos..];
    if rest.len() < FRAME_HEADER_LEN {
        return if rest.iter().all(|&b| b == 0) {
            Err(FrameError::Zeroed)
        } else {
            Err(FrameError::Invalid("frame header cut short"))
        };
    }
    let header = &rest[..FRAME_HEADER_LEN];
    if header.iter().all(|&b| b == 0) {
        return Err(FrameError::Zeroed);
    }
    if u32_at(header, 0) != FRAME_MAGIC {
        return Err(FrameError::Invalid("bad frame magic"));
    }
    if crc32fast::hash(&header[..20]) != u32_at(header, 20) {
        return Err(FrameError::Invalid("frame header checksum mismatch"));
    }
    let payload_len = u32_at(header, 4) as usize;
    if payload_len > rest.len() - FRAME_HEADER_LEN {
        return Err(FrameError::Invalid(
            "frame extends past the end of the file",
        ));
    }
    let start = pos + FRAME_HEADER_LEN;
    let payload = &bytes[start..start + payload_len];
    if crc32fast::hash(payload) != u32_at(header, 16) {
        return Err(FrameError::Invalid("frame payload checksum mismatch"));
    }
    Ok(Frame {
        payload: start..start + payload_len,
        seq: u64_at(header, 8),
    })
}

/// Splits a checked frame into its entries, each with its offset in `bytes`.
pub fn entries<'a>(
    bytes: &'a [u8],
    frame: &Frame,
) -> Result<Vec<(usize, EntryRef<'a>)>, &'static str> {
    let mut out = Vec::new();
    let mut pos = frame.payload.start;
    while pos < frame.payload.end {
        let r = decode_entry(&bytes[pos..frame.payload.end])?;
        out.push((
            pos,
            EntryRef {
                kind: r.kind,
                seq: frame.seq.wrapping_add(r.seq_delta),
                key: r.key,
                value: r.value,
                len: r.len,
            },
        ));
        pos += r.len;
    }
    if out.is_empty() {
        return Err("empty frame");
    }
    Ok(out)
}

/// True when a whole, valid frame starts anywhere after `pos`: a bad frame with a
/// good one after it is corruption, not a torn tail.
pub fn valid_frame_after(bytes: &[u8], pos: usize) -> bool {
    let magic = FRAME_MAGIC.to_le_bytes();
    let mut p = pos + 1;
    while p + FRAME_HEADER_LEN <= bytes.len() {
        if bytes[p..p + 4] == magic && check_frame(bytes, p).is_ok() {
            return true;
        }
        p += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, entries: &[(EntryKind, u64, &[u8], &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        let f = begin_frame(&mut buf, seq);
        for (k, s, key, value) in entries {
            encode_entry(&mut buf, &f, *k, *s, key, value);
        }
        finish_frame(&mut buf, f);
        buf
    }

    fn one_entry(seq: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_entry(
            &mut buf,
            &FrameStart { start: 0, seq: 0 },
            EntryKind::Put,
            seq,
            key,
            value,
        );
        buf
    }

    #[test]
    fn frame_round_trips() {
        let buf = frame(
            7,
            &[
                (EntryKind::Put, 7, b"a\0b", b""),
                (EntryKind::Delete, 7, b"z", b""),
                (EntryKind::Put, 3, b"older", b"v"),
                (EntryKind::Put, u64::MAX, b"wraps", b"v"),
            ],
        );
        let f = check_frame(&buf, 0).unwrap();
        assert_eq!(f.seq, 7);
        let es = entries(&buf, &f).unwrap();
        assert_eq!(es.len(), 4);
        assert_eq!(es[0].1.key, b"a\0b");
        assert_eq!(es[0].1.value, b"");
        assert_eq!(es[0].1.seq, 7);
        assert_eq!(es[1].1.kind, EntryKind::Delete);
        assert_eq!(es[2].1.seq, 3);
        assert_eq!(es[3].1.seq, u64::MAX);
        assert_eq!(es[0].0, FRAME_HEADER_LEN);
    }

    #[test]
    fn header_lengths_match_the_encoding() {
        // The workload the benchmark measures: 24-byte keys, 150-byte values, in
        // their commit's frame.
        assert_eq!(header_len(24, 150, 0), 8);
        for key_len in [1, 62, 63, 64, 127, 128, 16_384] {
            for value_len in [0, 127, 128, 16_383, 16_384, 1 << 20] {
                for seq in [0, 1, 63, 64, 65, 8_191, 8_192, 1 << 40, u64::MAX] {
                    let key = vec![b'k'; key_len];
                    let value = vec![b'v'; value_len];
                    let buf = one_entry(seq, &key, &value);
                    assert_eq!(buf.len(), entry_len(key_len, value_len, seq));
                    let r = decode_entry(&buf).unwrap();
                    assert_eq!(
                        (r.key.len(), r.value.len(), r.seq_delta),
                        (key_len, value_len, seq)
                    );
                    assert_eq!(r.len, buf.len());
                }
            }
        }
    }

    #[test]
    fn varints_match_leb128() {
        let mut values = vec![0u64, 1, u64::MAX, i64::MAX as u64, i64::MIN as u64];
        for bit in 0..64 {
            values.extend([1u64 << bit, (1u64 << bit) - 1, (1u64 << bit) + 1]);
            values.extend([(1u64 << bit).wrapping_neg(), !(1u64 << bit)]);
        }
        for v in values {
            let mut u = Vec::new();
            leb128::write::unsigned(&mut u, v).unwrap();
            assert_eq!(varint_len(v), u.len(), "{v}");
            let mut pos = 0;
            assert_eq!(take_varint(&u, &mut pos), Ok(v));
            assert_eq!(pos, u.len());
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        // Zigzag keeps small differences either way short.
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(u64::MAX), 1);
        // An eleventh byte, or a tenth with more than the 64th bit, overflows.
        let mut pos = 0;
        assert!(take_varint(&[0xff; 10], &mut pos).is_err());
        let mut pos = 0;
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            take_varint(&over, &mut pos),
            Err("entry header varint overflows")
        );
    }

    #[test]
    fn overlong_varints_are_refused() {
        // value_len 5 written in two bytes instead of one, crc made to match.
        let good = one_entry(0, b"k", b"vvvvv");
        let with_crc = |mut bytes: Vec<u8>| {
            let crc = crc32fast::hash(&bytes[4..]);
            bytes[..4].copy_from_slice(&crc.to_le_bytes());
            bytes
        };
        let mut bad = good[..5].to_vec();
        bad.extend_from_slice(&[0x85, 0x00]);
        bad.extend_from_slice(&good[6..]);
        assert_eq!(
            decode_entry(&with_crc(bad)).unwrap_err(),
            "entry header has an overlong varint"
        );
        // A short key length given in the long form.
        let mut bad = good[..4].to_vec();
        bad.extend_from_slice(&[(EntryKind::Put as u8) << 6 | 63, 1]);
        bad.extend_from_slice(&good[5..]);
        assert_eq!(
            decode_entry(&with_crc(bad)).unwrap_err(),
            "entry header has an overlong key length"
        );
        assert!(decode_entry(&good).is_ok());
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let buf = frame(1, &[(EntryKind::Put, 1, b"key", b"value")]);
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                let ok = check_frame(&bad, 0)
                    .ok()
                    .and_then(|f| entries(&bad, &f).ok())
                    .is_some();
                assert!(!ok, "flip of bit {bit} in byte {byte} went unnoticed");
            }
        }
    }

    #[test]
    fn zeros_are_unwritten_space_and_a_later_frame_is_found() {
        let mut buf = vec![0u8; 40];
        assert_eq!(check_frame(&buf, 0), Err(FrameError::Zeroed));
        buf.extend(frame(1, &[(EntryKind::Put, 1, b"k", b"v")]));
        buf[0] = 0xff;
        assert!(valid_frame_after(&buf, 0));
        assert!(!valid_frame_after(&buf, 40));
    }

    #[test]
    fn entry_crc_catches_value_rot() {
        let mut buf = one_entry(3, b"k", b"value");
        assert!(decode_entry(&buf).is_ok());
        let n = buf.len();
        buf[n - 1] ^= 0x20;
        assert!(decode_entry(&buf).is_err());
    }

    #[test]
    fn record_format_1_is_refused() {
        let mut v1 = b"LDBF".to_vec();
        v1.extend_from_slice(&[0; 60]);
        assert!(check_format(&v1).unwrap_err().contains("record format 1"));
        assert!(check_format(&frame(1, &[(EntryKind::Put, 1, b"k", b"v")])).is_ok());
        assert!(check_format(&[]).is_ok());
    }
}
