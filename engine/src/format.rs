//! On-disk record format of segment files.
//!
//! A segment is a sequence of *frames*; one frame is one commit (a put, a batch or
//! a transaction), so after a crash a commit is present whole or not at all.
//!
//! ```text
//! frame  = magic:u32 payload_len:u32 payload_crc:u32 header_crc:u32 payload
//! payload = entry*
//! entry  = kind:u8 key_len:u32 value_len:u32 seq:u64 entry_crc:u32 key value
//! ```
//!
//! All integers are little-endian; crcs are CRC-32 (`crc32fast`). `header_crc`
//! covers the first 12 bytes of the frame header, `payload_crc` the payload and
//! `entry_crc` the entry with its crc field left out. The entry crc lets a single
//! value be checked when it is read, long after recovery validated its frame, so a
//! get never returns bytes that rotted on disk.
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

pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"LDBF");
pub const FRAME_HEADER_LEN: usize = 16;
pub const ENTRY_HEADER_LEN: usize = 21;

/// Longest key accepted, in bytes. Keys live in RAM, so they are kept short.
pub const MAX_KEY_SIZE: usize = 16 * 1024;
/// Longest value accepted, in bytes.
pub const MAX_VALUE_SIZE: usize = 256 * 1024 * 1024;
/// Largest commit (sum of its encoded entries) accepted, in bytes.
pub const MAX_COMMIT_SIZE: usize = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    Put = 1,
    Delete = 2,
    Seal = 3,
}

impl EntryKind {
    fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(EntryKind::Put),
            2 => Some(EntryKind::Delete),
            3 => Some(EntryKind::Seal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub kind: EntryKind,
    pub seq: u64,
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Encoded length of the entry, header included.
    pub len: usize,
}

pub fn entry_len(key_len: usize, value_len: usize) -> usize {
    ENTRY_HEADER_LEN + key_len + value_len
}

/// Appends one entry to `buf`.
pub fn encode_entry(buf: &mut Vec<u8>, kind: EntryKind, seq: u64, key: &[u8], value: &[u8]) {
    let start = buf.len();
    buf.push(kind as u8);
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
    let crc = entry_crc(&buf[start..]);
    buf[start + 17..start + ENTRY_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// The checksum of an encoded entry: its header up to the checksum, then its key
/// and value, which follow the checksum. Two runs of bytes, not three: each
/// update of the hasher has a fixed cost that shows on small entries.
fn entry_crc(entry: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&entry[..17]);
    h.update(&entry[ENTRY_HEADER_LEN..]);
    h.finalize()
}

/// Reserves room for a frame header; call [`finish_frame`] after the entries.
pub fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    start
}

pub fn finish_frame(buf: &mut [u8], start: usize) {
    let payload_len = (buf.len() - start - FRAME_HEADER_LEN) as u32;
    let payload_crc = crc32fast::hash(&buf[start + FRAME_HEADER_LEN..]);
    buf[start..start + 4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&payload_len.to_le_bytes());
    buf[start + 8..start + 12].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&buf[start..start + 12]);
    buf[start + 12..start + 16].copy_from_slice(&header_crc.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Decodes and checks the entry at the start of `bytes`.
pub fn decode_entry(bytes: &[u8]) -> Result<EntryRef<'_>, &'static str> {
    if bytes.len() < ENTRY_HEADER_LEN {
        return Err("entry header cut short");
    }
    let kind = EntryKind::from_u8(bytes[0]).ok_or("unknown entry kind")?;
    let key_len = u32_at(bytes, 1) as usize;
    let value_len = u32_at(bytes, 5) as usize;
    let seq = u64_at(bytes, 9);
    let crc = u32_at(bytes, 17);
    // A put or delete of a key no writer accepts (empty, or longer than the
    // limit) cannot have been written by Lightning DB: reading it back would make
    // a key that iteration shows but get and delete refuse.
    if kind != EntryKind::Seal && (key_len == 0 || key_len > MAX_KEY_SIZE) {
        return Err("entry key length out of range");
    }
    let len = ENTRY_HEADER_LEN
        .checked_add(key_len)
        .and_then(|n| n.checked_add(value_len))
        .ok_or("entry length overflows")?;
    if len > bytes.len() {
        return Err("entry extends past its frame");
    }
    let key = &bytes[ENTRY_HEADER_LEN..ENTRY_HEADER_LEN + key_len];
    let value = &bytes[ENTRY_HEADER_LEN + key_len..len];
    if entry_crc(&bytes[..len]) != crc {
        return Err("entry checksum mismatch");
    }
    Ok(EntryRef {
        kind,
        seq,
        key,
        value,
        len,
    })
}

/// Why a frame could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Only zero bytes from here: space allocated ahead of writes, never written.
    Zeroed,
    Invalid(&'static str),
}

/// Checks the frame at `bytes[pos..]` and returns its payload range.
pub fn check_frame(bytes: &[u8], pos: usize) -> Result<std::ops::Range<usize>, FrameError> {
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
    if crc32fast::hash(&header[..12]) != u32_at(header, 12) {
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
    if crc32fast::hash(payload) != u32_at(header, 8) {
        return Err(FrameError::Invalid("frame payload checksum mismatch"));
    }
    Ok(start..start + payload_len)
}

/// Splits a checked payload into its entries, each with its offset in `bytes`.
pub fn entries(
    bytes: &[u8],
    payload: std::ops::Range<usize>,
) -> Result<Vec<(usize, EntryRef<'_>)>, &'static str> {
    let mut out = Vec::new();
    let mut pos = payload.start;
    while pos < payload.end {
        let e = decode_entry(&bytes[pos..payload.end])?;
        out.push((pos, e));
        pos += e.len;
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

    fn frame(entries: &[(EntryKind, u64, &[u8], &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        let start = begin_frame(&mut buf);
        for (k, s, key, value) in entries {
            encode_entry(&mut buf, *k, *s, key, value);
        }
        finish_frame(&mut buf, start);
        buf
    }

    #[test]
    fn frame_round_trips() {
        let buf = frame(&[
            (EntryKind::Put, 7, b"a\0b", b""),
            (EntryKind::Delete, 7, b"z", b""),
        ]);
        let payload = check_frame(&buf, 0).unwrap();
        let es = entries(&buf, payload).unwrap();
        assert_eq!(es.len(), 2);
        assert_eq!(es[0].1.key, b"a\0b");
        assert_eq!(es[0].1.value, b"");
        assert_eq!(es[0].1.seq, 7);
        assert_eq!(es[1].1.kind, EntryKind::Delete);
        assert_eq!(es[0].0, FRAME_HEADER_LEN);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let buf = frame(&[(EntryKind::Put, 1, b"key", b"value")]);
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                let ok = check_frame(&bad, 0)
                    .ok()
                    .and_then(|p| entries(&bad, p).ok())
                    .is_some();
                assert!(!ok, "flip of bit {bit} in byte {byte} went unnoticed");
            }
        }
    }

    #[test]
    fn zeros_are_unwritten_space_and_a_later_frame_is_found() {
        let mut buf = vec![0u8; 40];
        assert_eq!(check_frame(&buf, 0), Err(FrameError::Zeroed));
        buf.extend(frame(&[(EntryKind::Put, 1, b"k", b"v")]));
        buf[0] = 0xff;
        assert!(valid_frame_after(&buf, 0));
        assert!(!valid_frame_after(&buf, 40));
    }

    #[test]
    fn entry_crc_catches_value_rot() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, EntryKind::Put, 3, b"k", b"value");
        assert!(decode_entry(&buf).is_ok());
        let n = buf.len();
        buf[n - 1] ^= 0x20;
        assert!(decode_entry(&buf).is_err());
    }
}
