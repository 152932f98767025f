//! Pieces shared by the fuzz targets: keys and values that collide often, and
//! scratch directories in memory.

use arbitrary::{Arbitrary, Result, Unstructured};

/// Key-value pairs, as a scan returns them.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Longest key the engine accepts (`lightning_db::MAX_KEY_SIZE`).
pub const MAX_KEY_SIZE: usize = lightning_db::MAX_KEY_SIZE;

/// A key drawn mostly from a five-letter alphabet, one to three bytes long, so
/// that operations hit the same keys; sometimes empty or too long (both invalid),
/// exactly the longest allowed, or free bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() > 32 {
            write!(f, "Key(<{} bytes>)", self.0.len())
        } else {
            write!(f, "Key({:?})", self.0)
        }
    }
}

impl Key {
    pub fn is_valid(&self) -> bool {
        !self.0.is_empty() && self.0.len() <= MAX_KEY_SIZE
    }
}

impl<'a> Arbitrary<'a> for Key {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const ALPHABET: [u8; 5] = [0, 1, b'a', b'b', 0xff];
        let sel: u8 = u.arbitrary()?;
        Ok(Key(match sel {
            0 => Vec::new(),
            1 => vec![b'k'; MAX_KEY_SIZE + 1],
            2 => vec![b'k'; MAX_KEY_SIZE],
            3..=9 => {
                let mut k: Vec<u8> = u.arbitrary()?;
                k.truncate(40);
                k
            }
            _ => {
                let len = 1 + (sel % 3) as usize;
                let mut k = Vec::with_capacity(len);
                for _ in 0..len {
                    k.push(*u.choose(&ALPHABET)?);
                }
                k
            }
        }))
    }
}

/// A value: fuzzer bytes, or a long run of one byte (so segments fill and roll
/// without the input having to be long).
#[derive(Clone, PartialEq, Eq)]
pub struct Value(pub Vec<u8>);

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() > 32 {
            write!(f, "Value(<{} bytes>)", self.0.len())
        } else {
            write!(f, "Value({:?})", self.0)
        }
    }
}

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        if u.ratio(1, 4)? {
            let len: u16 = u.arbitrary()?;
            let byte: u8 = u.arbitrary()?;
            Ok(Value(vec![byte; len as usize % 6000]))
        } else {
            let mut v: Vec<u8> = u.arbitrary()?;
            v.truncate(200);
            Ok(Value(v))
        }
    }
}

/// A fresh directory in memory (/dev/shm) when there is one, so that the
/// per-input file work costs little; removed on drop.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("ldb-fuzz-").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::Builder::new()
        .prefix("ldb-fuzz-")
        .tempdir()
        .expect("create a temporary directory")
}
