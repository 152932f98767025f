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

/// An index file as the versions before the header flags LOG_FROM (4) and
/// STRETCHES (8) wrote it: the flags cleared, the stretches and the log's
/// start (the 12 bytes at the end of the meta) taken out, the footer's
/// checksum (over the checks, the fences and the meta) made anew.
pub fn as_before_log_from(bytes: Vec<u8>) -> Vec<u8> {
    const LOG_FROM: u32 = 4;
    const STRETCHES: u32 = 8;
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let flags = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    assert_ne!(flags & LOG_FROM, 0, "the writer names where the log begins");
    assert_ne!(
        flags & STRETCHES,
        0,
        "the writer checks fences by the stretch"
    );
    let mut out = bytes[..16].to_vec();
    out[8..12].copy_from_slice(&(flags & !(LOG_FROM | STRETCHES)).to_le_bytes());
    let crc = crc32fast::hash(&out[..12]);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    let footer_len = 5 * 8 + 4 + 8;
    let footer = bytes.len() - footer_len;
    let field = |i: usize| u64_at(&bytes, footer + 8 * i) as usize;
    let (blocks, checks_at, fences_at, meta_at) = (field(0), field(2), field(3), field(4));
    // The fences, then the meta without the stretches before it and the
    // log's start at its end.
    let fences_end = fences_at + 16 * blocks + 8;
    out.extend_from_slice(&bytes[16..fences_end]);
    out.extend_from_slice(&bytes[meta_at..footer - 12]);
    let crc = crc32fast::hash(&out[checks_at..]);
    for n in [field(0), field(1), checks_at, fences_at, fences_end] {
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&bytes[footer + 44..]);
    out
}
