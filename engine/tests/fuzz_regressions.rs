//! Regressions found by the fuzz targets in fuzz/ (their minimized inputs are in
//! fuzz/regressions/, which ci/test-fuzz replays). Each test rebuilds the
//! directory the fuzzer found, with the engine's own writes where it can.

mod common;
use common::{as_before_log_from, copy_dir};

use std::fs;
use std::path::{Path, PathBuf};

use lightning_db::{Config, Database, ErrorKind, SyncMode};

const FRAME_MAGIC: &[u8; 4] = b"LDF2";

/// One frame of commit `seq` holding the given (kind, seq, key, value) entries,
/// encoded as in format.rs (record format 2): a writer of the engine would have
/// produced exactly these bytes.
fn frame_of(frame_seq: u64, entries: &[(u8, u64, &[u8], &[u8])]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (kind, seq, key, value) in entries {
        let mut entry = vec![kind << 6 | key.len().min(63) as u8];
        if key.len() >= 63 {
            leb128::write::unsigned(&mut entry, key.len() as u64).unwrap();
        }
        leb128::write::unsigned(&mut entry, value.len() as u64).unwrap();
        let delta = seq.wrapping_sub(frame_seq) as i64;
        leb128::write::unsigned(&mut entry, ((delta << 1) ^ (delta >> 63)) as u64).unwrap();
        entry.extend_from_slice(key);
        entry.extend_from_slice(value);
        payload.extend_from_slice(&crc32fast::hash(&entry).to_le_bytes());
        payload.extend_from_slice(&entry);
    }
    let mut out = FRAME_MAGIC.to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&frame_seq.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    let header_crc = crc32fast::hash(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// A commit's frame: every entry carries the first one's sequence number.
fn frame(entries: &[(u8, u64, &[u8], &[u8])]) -> Vec<u8> {
    frame_of(entries.first().map_or(0, |e| e.1), entries)
}

const PUT: u8 = 1;

fn config() -> Config {
    Config {
        sync_mode: SyncMode::Off,
        auto_compact: false,
        ..Config::default()
    }
}

fn segment(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.seg"))
}

/// Copies the files of a database directory, as a crash would leave them while
/// a writer has it open.
/// recover: a segment named with the largest id made `open` overflow the next
/// segment id (a panic, or a wrap to id 0 without overflow checks).
#[test]
fn a_segment_id_at_the_end_of_the_id_space_is_an_error_not_a_panic() {
    for id in [u32::MAX, u32::MAX - 1] {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(segment(tmp.path(), id), b"").unwrap();
        let err = Database::open(tmp.path(), config()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
        let ro = Config {
            read_only: true,
            ..config()
        };
        let err = Database::open(tmp.path(), ro).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
    }
    // The id before them still opens, and writes.
    let tmp = tempfile::tempdir().unwrap();
    fs::write(segment(tmp.path(), u32::MAX - 2), b"").unwrap();
    let db = Database::open(tmp.path(), config()).unwrap();
    db.put(b"k", b"v").unwrap();
}

/// recover: a sealed segment named with the third-last id opened, and the writer
/// started its active segment with the next id, which the next open refuses:
/// the database could not be opened again. A writer that would need an id
/// past the third-last now fails to open instead (the ids are used up); a
/// read-only open still reads everything.
#[test]
fn a_writer_never_names_a_segment_the_next_open_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let small = Config {
        segment_size: 4096,
        ..config()
    };
    let db = Database::open(tmp.path(), small.clone()).unwrap();
    db.put(b"k", &[7u8; 3000]).unwrap();
    db.close().unwrap();
    // The segment is more than half full, so the next writer starts another.
    fs::rename(segment(tmp.path(), 1), segment(tmp.path(), u32::MAX - 2)).unwrap();
    let err = Database::open(tmp.path(), small.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IoError, "{err}");
    assert!(!segment(tmp.path(), u32::MAX - 1).exists());
    let ro = Config {
        read_only: true,
        ..small
    };
    let db = Database::open(tmp.path(), ro).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(vec![7u8; 3000]));
}

/// recover: a record of sequence number u64::MAX (or a checkpoint of it) made
/// `open` overflow the next sequence number, and one of u64::MAX - 1 made the
/// first commit overflow it; without overflow checks the commit got sequence
/// number 0 and lost to older records at the next open. Recovery now refuses
/// sequence numbers from 2^63 on, which no real commit history reaches.
#[test]
fn a_sequence_number_near_the_end_of_its_range_is_an_error_not_a_panic() {
    for seq in [u64::MAX, u64::MAX - 1, 1 << 63] {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(segment(tmp.path(), 1), frame(&[(PUT, seq, b"k", b"v")])).unwrap();
        let err = Database::open(tmp.path(), config()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
    }

    // One below still opens, commits and reopens.
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        segment(tmp.path(), 1),
        frame(&[(PUT, (1 << 63) - 2, b"k", b"v")]),
    )
    .unwrap();
    let db = Database::open(tmp.path(), config()).unwrap();
    db.put(b"k", b"w").unwrap();
    drop(db);
    let db = Database::open(tmp.path(), config()).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"w"[..]));
}

/// recover (the harness's, fuzz/regressions/recover/last-sequence-number-then-a-put):
/// a log whose last commit took the last number a commit can have is whole and
/// opens, but takes no further commit: the put fails with IoError and changes
/// nothing, and the database reopens as it was.
#[test]
fn a_log_at_the_last_sequence_number_opens_and_refuses_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let last = (1u64 << 63) - 1;
    fs::write(segment(tmp.path(), 1), frame(&[(PUT, last, b"k", b"v")])).unwrap();
    let db = Database::open(tmp.path(), config()).unwrap();
    let err = db.put(b"k", b"w").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IoError, "{err}");
    assert!(err.message().contains("used up"), "{err}");
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    drop(db);
    let db = Database::open(tmp.path(), config()).unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(db.len().unwrap(), 1);
}

/// recover: a record with an empty key (or one longer than MAX_KEY_SIZE), which
/// no writer accepts, was replayed: iteration showed a key that get and delete
/// refuse as an invalid argument. It is now a bad frame like any other.
#[test]
fn a_record_with_a_key_no_writer_accepts_is_corrupted_data() {
    let long = vec![b'k'; lightning_db::MAX_KEY_SIZE + 1];
    for key in [&b""[..], &long[..]] {
        let tmp = tempfile::tempdir().unwrap();
        let mut bytes = frame(&[(PUT, 1, b"a", b"1")]);
        bytes.extend(frame(&[(PUT, 2, key, b"2")]));
        bytes.extend(frame(&[(PUT, 3, b"b", b"3")]));
        fs::write(segment(tmp.path(), 1), bytes).unwrap();
        let err = Database::open(tmp.path(), config()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
        assert!(err.message().contains("key length"), "{err}");
    }
    // The longest key allowed still replays.
    let tmp = tempfile::tempdir().unwrap();
    let max = vec![b'k'; lightning_db::MAX_KEY_SIZE];
    fs::write(segment(tmp.path(), 1), frame(&[(PUT, 1, &max, b"v")])).unwrap();
    let db = Database::open(tmp.path(), config()).unwrap();
    assert_eq!(db.get(&max).unwrap().as_deref(), Some(&b"v"[..]));
}

/// recover: a checkpoint pointed into the active segment of a killed writer
/// whose only frame then rotted. Recovery took the damaged frame for a torn tail
/// (nothing valid after it), the writer removed the segment as empty, created
/// its new active segment under the same id, and the first read of the key
/// touched the new segment's map past the end of its file: SIGBUS, the whole
/// process killed. Now the checkpoint's reference past the valid data is
/// reported as CorruptedData and no file is removed. A checkpoint that names
/// where its log begins (after that frame) is not affected: the frame is not
/// read at open, and the data is taken to reach at least there.
#[test]
fn a_checkpoint_reference_into_a_torn_segment_is_corrupted_data_not_sigbus() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let db = Database::create(&live, config()).unwrap();
    db.put(b"key", b"value").unwrap();
    db.checkpoint().unwrap();
    // The state a kill -9 leaves now: a checkpoint, and segment 1 (not covered
    // by it: still active) holding one frame followed by allocated zeros.
    let crashed = tmp.path().join("crashed");
    copy_dir(&live, &crashed);
    drop(db);
    let seg = segment(&crashed, 1);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[5] ^= 0x01; // the frame's payload length: its header checksum fails
    fs::write(&seg, &bytes).unwrap();
    let naming_log = tmp.path().join("naming-log");
    copy_dir(&crashed, &naming_log);
    let ckpt = crashed.join("index.ckpt");
    fs::write(&ckpt, as_before_log_from(fs::read(&ckpt).unwrap())).unwrap();

    if std::env::var("SHOW_SIGBUS").is_ok() {
        let db = Database::open(&crashed, config()).unwrap();
        let _ = db.get(b"key");
    }
    let err = Database::open(&crashed, config()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
    assert!(seg.exists(), "the damaged segment was removed");
    assert_eq!(
        fs::read(&seg).unwrap(),
        bytes,
        "the damaged segment was changed"
    );

    let db = Database::open(&naming_log, config()).unwrap();
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"value"[..]));
    db.put(b"after", b"the frame").unwrap();
    drop(db);
    let db = Database::open(&naming_log, config()).unwrap();
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"value"[..]));
    assert_eq!(
        db.get(b"after").unwrap().as_deref(),
        Some(&b"the frame"[..])
    );
    let frame_end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    let seg = segment(&naming_log, 1);
    assert_eq!(
        fs::read(&seg).unwrap()[..frame_end],
        bytes[..frame_end],
        "the frame before the log's start was changed"
    );
}

/// recover: a frame holding a seal entry beside a put was taken for a seal
/// frame (the segment counted as sealed, its data ending before the frame) while
/// its put was replayed into the index. A writer reusing the segment then zeroed
/// the frame from the data's end on, and after the next open the put's key read
/// as corrupted data. Writers put a seal entry alone in its frame; any other
/// frame with one is now corrupted data, and the segment is left as it was.
#[test]
fn a_seal_entry_beside_a_put_is_corrupted_data_not_overwritten() {
    const SEAL: u8 = 3;
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = frame(&[(PUT, 1, b"a", b"1")]);
    bytes.extend(frame(&[(PUT, 2, b"b", b"2"), (SEAL, 2, b"", b"")]));
    let seg = segment(tmp.path(), 1);
    fs::write(&seg, &bytes).unwrap();
    let err = Database::open(tmp.path(), config()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
    assert!(err.message().contains("seal entry"), "{err}");
    assert_eq!(fs::read(&seg).unwrap(), bytes);

    // A seal frame of its own, then more commits: all replayed, none lost.
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = frame(&[(PUT, 1, b"a", b"1")]);
    bytes.extend(frame(&[(SEAL, 1, b"", b"")]));
    bytes.extend(frame(&[(PUT, 2, b"b", b"2")]));
    fs::write(segment(tmp.path(), 1), &bytes).unwrap();
    for _ in 0..2 {
        let db = Database::open(tmp.path(), config()).unwrap();
        assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(db.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    }
}
