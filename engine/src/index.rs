//! What the in-memory index holds: keys, and the location of each key's newest
//! value. The index itself is the persistent B+ tree of `btree`; the snapshots
//! built on it are `version`'s.

use std::sync::Arc;

/// A key in the index. Keys of up to [`INLINE_KEY`] bytes — most keys — are held
/// in the index node itself: cloning one (which copy-on-write of a node does for
/// every key in it) is a copy, not a reference count update, and it costs no
/// allocation of its own. Longer keys are shared behind an `Arc`, with their first
/// eight bytes inline.
///
/// Comparisons start with the first eight bytes, zero-padded, as a big-endian
/// integer; for a long key that avoids following the pointer, as keys that differ
/// there — almost all of them — are told apart without it.
///
/// Invariant: the order is the lexicographic order of the bytes. Comparing the
/// zero-padded prefixes first agrees with it: keys whose prefixes differ differ
/// first at that byte (a shorter key's padding only ties with a real zero), and
/// ties fall back to comparing the bytes. Unused inline bytes are zero.
#[derive(Clone)]
pub enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Shared { prefix: [u8; 8], bytes: Arc<[u8]> },
}

/// The longest key held inline: what fits beside the length in 32 bytes, the
/// size of the shared form.
pub const INLINE_KEY: usize = 30;

/// The first eight bytes of `bytes`, zero-padded, as a big-endian integer.
pub fn prefix_of(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<8>() {
        Some(head) => u64::from_be_bytes(*head),
        None => {
            let mut buf = [0u8; 8];
            buf[..bytes.len()].copy_from_slice(bytes);
            u64::from_be_bytes(buf)
        }
    }
}

impl Key {
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE_KEY {
            let mut inline = [0u8; INLINE_KEY];
            inline[..bytes.len()].copy_from_slice(bytes);
            Key::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            Key::Shared {
                prefix: bytes[..8].try_into().unwrap(),
                bytes: Arc::from(bytes),
            }
        }
    }

    #[inline]
    pub(crate) fn prefix(&self) -> u64 {
        match self {
            Key::Inline { bytes, .. } => u64::from_be_bytes(*bytes.first_chunk::<8>().unwrap()),
            Key::Shared { prefix, .. } => u64::from_be_bytes(*prefix),
        }
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Shared { bytes, .. } => bytes,
        }
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self[..] == other[..]
    }
}
impl Eq for Key {}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.prefix()
            .cmp(&other.prefix())
            .then_with(|| self[..].cmp(&other[..]))
    }
}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self[..].hash(state)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &self[..])
    }
}

/// A borrowed key to look up, with its prefix computed once per lookup.
#[derive(Clone, Copy)]
pub struct Probe<'a> {
    prefix: u64,
    bytes: &'a [u8],
}

impl<'a> Probe<'a> {
    pub fn new(bytes: &'a [u8]) -> Probe<'a> {
        Probe {
            prefix: prefix_of(bytes),
            bytes,
        }
    }
}

impl<'a> Probe<'a> {
    /// The key looked up.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// How `key`, whose prefix is `key_prefix`, compares with the probed key.
    #[inline]
    pub(crate) fn order_of(&self, key_prefix: u64, key: &Key) -> std::cmp::Ordering {
        key_prefix
            .cmp(&self.prefix)
            .then_with(|| key[..].cmp(self.bytes))
    }
}

/// The segment of a location that stands for a removal (`key_index`):
/// recovery refuses segment ids this high.
pub const REMOVED: u32 = u32::MAX;

/// Where the newest value of a key lives, and the commit that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub seq: u64,
    pub segment: u32,
    /// Offset of the entry within its segment.
    pub offset: u32,
    /// Encoded length of the entry.
    pub len: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        // Lengths on both sides of the inline limit, so inline and shared keys meet.
        fn key_order_is_byte_order(a in prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..40),
                                   b in prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..40)) {
            let (ka, kb) = (Key::new(&a), Key::new(&b));
            prop_assert_eq!(&ka[..], &a[..]);
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            prop_assert_eq!(ka == kb, a == b);
            prop_assert_eq!(Probe::new(&a).order_of(kb.prefix(), &kb), b.cmp(&a));
        }
    }

    #[test]
    fn keys_up_to_the_limit_are_inline_and_a_key_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Key>(), 32);
        assert!(matches!(Key::new(&[7; INLINE_KEY]), Key::Inline { .. }));
        assert!(matches!(Key::new(&[7; INLINE_KEY + 1]), Key::Shared { .. }));
    }
}
