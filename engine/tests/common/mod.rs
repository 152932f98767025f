//! Helpers shared by the integration tests.

use std::fs;
use std::path::Path;

/// Copies the files of a closed database directory (not its lock file).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "LOCK" {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// An index file with the header flag LOG_FROM (4) as the file without it:
/// the flag cleared and the 12 bytes it adds at the end of the meta taken out,
/// the footer's checksum (over the checks, the fences and the meta) made anew.
pub fn without_log_from(mut bytes: Vec<u8>) -> Vec<u8> {
    const LOG_FROM: u32 = 4;
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let flags = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    assert_ne!(flags & LOG_FROM, 0, "the writer names where the log begins");
    bytes[8..12].copy_from_slice(&(flags & !LOG_FROM).to_le_bytes());
    let crc = crc32fast::hash(&bytes[..12]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    let footer_len = 5 * 8 + 4 + 8;
    let footer = bytes.len() - footer_len;
    let checks_at = u64_at(&bytes, footer + 16) as usize;
    let mut out = bytes[..footer - 12].to_vec();
    let crc = crc32fast::hash(&out[checks_at..]);
    out.extend_from_slice(&bytes[footer..footer + 40]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&bytes[footer + 44..]);
    out
}
