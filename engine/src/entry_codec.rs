//! The encoding of an index entry, shared by the index file's blocks and the
//! checkpoint format before it.
//!
//! ```text
//! entry = head:u8 [shared:varint] [suffix_len:varint] suffix
//!         [seq_back:varint] [segment:varint] [offset:varint] [len:varint]
//! head  = short_shared << 5 | flags
//! ```
//!
//! Each key is written as the length of the prefix it shares with the previous
//! key and the rest. `short_shared` is that length when under 7; 7 says it
//! follows as a varint. The other fields are left out where `flags` says they
//! follow from the previous entry: `SAME_KEY_LEN` (the suffix length),
//! `SAME_SEQ`, `SAME_SEGMENT`, `CONTIGUOUS` (the record starts where the
//! previous one ended, as after compaction; only with `SAME_SEGMENT`) and
//! `SAME_LEN`. `seq_back` is the file's `seq` minus the entry's. Varints are
//! unsigned LEB128. A key of a fixed length costs about its unshared bytes and
//! one more.

use crate::error::{Error, Result};
use crate::format::MAX_KEY_SIZE;
use crate::index::Loc;

pub(crate) const SAME_SEQ: u8 = 1;
pub(crate) const SAME_SEGMENT: u8 = 2;
pub(crate) const CONTIGUOUS: u8 = 4;
pub(crate) const SAME_LEN: u8 = 8;
pub(crate) const SAME_KEY_LEN: u8 = 16;
pub(crate) const FLAGS: u8 = SAME_SEQ | SAME_SEGMENT | CONTIGUOUS | SAME_LEN | SAME_KEY_LEN;
/// The head byte's shared-prefix field: this value says a varint follows.
pub(crate) const LONG_SHARED: usize = 7;
pub(crate) const SHARED_SHIFT: u32 = 5;

fn put_varint(out: &mut Vec<u8>, value: u64) {
    leb128::write::unsigned(out, value).expect("writing to a Vec cannot fail");
}

/// Appends the entry of `key` at `loc`, following `prev`, the entry before it.
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    checkpoint_seq: u64,
    prev: Option<(&[u8], Loc)>,
    key: &[u8],
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
pub(crate) fn decode_entry(
    r: &mut Reader,
    checkpoint_seq: u64,
    key: &mut Vec<u8>,
    prev: Option<Loc>,
) -> Option<Loc> {
    let e = decode_parts(r, checkpoint_seq, key.len(), prev)?;
    key.truncate(e.shared);
    key.extend_from_slice(e.suffix);
    Some(e.loc)
}

/// An entry as written: its key is the first `shared` bytes of the previous
/// key followed by `suffix`.
pub(crate) struct Parts<'a> {
    pub shared: usize,
    pub suffix: &'a [u8],
    pub loc: Loc,
}

impl Parts<'_> {
    /// Whether this entry's key sorts after `prev`, the key of the entry
    /// before it. The writer shares the longest common prefix, so the first
    /// byte after it decides; a made-up file that shares less is compared in
    /// full.
    #[inline]
    pub(crate) fn follows(&self, prev: &[u8]) -> bool {
        match (prev.get(self.shared), self.suffix.first()) {
            // `prev` is a prefix of this key.
            (None, Some(_)) => true,
            (Some(&p), Some(&s)) if s != p => s > p,
            // This key is `prev` or a prefix of it.
            (_, None) => false,
            (Some(_), Some(_)) => &prev[self.shared..] < self.suffix,
        }
    }
}

/// Reads the entry after one whose key is `prev_key_len` bytes long and whose
/// location is `prev`, without building its key; `None` if it is malformed.
#[inline(always)]
pub(crate) fn decode_parts<'a>(
    r: &mut Reader<'a>,
    checkpoint_seq: u64,
    prev_key_len: usize,
    prev: Option<Loc>,
) -> Option<Parts<'a>> {
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
        prev_key_len.checked_sub(shared)?
    } else {
        usize::try_from(r.varint()?).ok()?
    };
    if shared > prev_key_len || shared.checked_add(suffix_len)? > MAX_KEY_SIZE {
        return None;
    }
    let suffix = r.take(suffix_len)?;
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
    Some(Parts {
        shared,
        suffix,
        loc: Loc {
            seq,
            segment,
            offset,
            len,
        },
    })
}

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { bytes, pos }
    }
    /// Where the next read starts.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
    /// An unsigned LEB128 number, read as the `leb128` crate reads one
    /// (overlong forms accepted, a tenth byte above 1 refused), but from the
    /// slice directly: an offset in a segment takes four bytes, so nearly every
    /// entry has one, and the crate's `io::Read` loop cost a call per byte.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let bytes = self.bytes.get(self.pos..)?;
        let mut value = 0u64;
        for (i, &b) in bytes.iter().take(10).enumerate() {
            if i == 9 && b > 1 {
                return None;
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the `leb128` crate reads from `bytes`, and how many bytes it took.
    fn leb128_reads(bytes: &[u8]) -> Option<(u64, usize)> {
        let mut rest = bytes;
        let value = leb128::read::unsigned(&mut rest).ok()?;
        Some((value, bytes.len() - rest.len()))
    }

    #[test]
    fn varints_read_as_the_leb128_crate_reads_them() {
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for bit in 0..64 {
            for v in [1u64 << bit, (1u64 << bit) - 1, !(1u64 << bit), u64::MAX] {
                let mut b = Vec::new();
                leb128::write::unsigned(&mut b, v).unwrap();
                inputs.push(b.clone());
                b.push(0x55); // followed by more of the block
                inputs.push(b);
            }
        }
        // Overlong forms, a tenth byte of 1, 2 and with its continuation bit,
        // an eleventh byte, and numbers cut short.
        inputs.extend([
            vec![0x80, 0x00],
            vec![0xff, 0x80, 0x80, 0x00],
            [vec![0xff; 9], vec![0x01]].concat(),
            [vec![0xff; 9], vec![0x02]].concat(),
            [vec![0xff; 9], vec![0x81, 0x00]].concat(),
            [vec![0x80; 10], vec![0x00]].concat(),
            vec![0x80],
            vec![0xff, 0xff],
            vec![],
        ]);
        for bytes in inputs {
            let mut r = Reader::new(&bytes, 0);
            let ours = r.varint().map(|v| (v, r.pos()));
            assert_eq!(ours, leb128_reads(&bytes), "{bytes:02x?}");
        }
    }

    proptest! {
        #[test]
        // Any split of a key into a shared part and a suffix, as a made-up
        // file may write, orders like the keys themselves.
        fn follows_agrees_with_the_order_of_the_keys(
            prev in prop::collection::vec(0u8..4, 0..6),
            shared in 0usize..7,
            suffix in prop::collection::vec(0u8..4, 0..6),
        ) {
            let shared = shared.min(prev.len());
            let key: Vec<u8> = prev[..shared].iter().chain(&suffix).copied().collect();
            let loc = Loc { seq: 1, segment: 1, offset: 0, len: 1 };
            let parts = Parts { shared, suffix: &suffix, loc };
            prop_assert_eq!(parts.follows(&prev), key > prev);
        }
    }
}
