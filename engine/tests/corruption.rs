//! Corruption: damaged bytes are reported as CorruptedData (or found by verify),
//! never returned as data; a torn tail is cut back to the last whole commit.

mod common;
use common::{as_before_log_from, copy_dir};

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use lightning_db::{Config, Database, ErrorKind, WriteBatch};

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// The value `build` stores under key number `i`.
fn value(i: u32) -> Vec<u8> {
    format!("value-{i:04}-{}", "x".repeat(50)).into_bytes()
}

/// A database of `n` single-put commits, closed.
fn build(dir: &Path, n: u32) {
    let db = Database::create(dir, Config::default()).unwrap();
    for i in 0..n {
        db.put(format!("key{i:04}").as_bytes(), &value(i)).unwrap();
    }
}

/// As `build`, then checkpointed: its keys are in the index file.
fn build_checkpointed(dir: &Path, n: u32) {
    build(dir, n);
    Database::open(dir, Config::default())
        .unwrap()
        .checkpoint()
        .unwrap();
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x10;
    fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_byte_in_the_middle_is_corrupted_data_not_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    build(&dir, 50);
    let seg = &segments(&dir)[0];
    let len = fs::metadata(seg).unwrap().len() as usize;
    let data_end = fs::read(seg)
        .unwrap()
        .iter()
        .rposition(|&b| b != 0)
        .unwrap()
        + 1;
    flip(seg, data_end / 2);
    let err = Database::open(&dir, Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData);
    assert!(err.message().contains(".seg at offset"), "{err}");
    // The damage is still there for an operator: nothing was truncated.
    assert_eq!(fs::metadata(seg).unwrap().len() as usize, len);
}

#[test]
fn a_flipped_byte_after_a_checkpoint_surfaces_on_get_and_in_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Database::create(
            &dir,
            Config {
                cache_size: 0,
                segment_size: 4096,
                ..Config::default()
            },
        )
        .unwrap();
        for i in 0..50u32 {
            db.put(format!("key{i:04}").as_bytes(), &[i as u8; 100])
                .unwrap();
        }
        db.checkpoint().unwrap();
    }
    // The checkpoint covers the first segment, so open does not read it: rot in
    // a value there must be caught when the value is read.
    let seg = &segments(&dir)[0];
    let bytes = fs::read(seg).unwrap();
    let at = bytes.windows(7).position(|w| w == b"key0020").unwrap() + 7 + 50;
    flip(seg, at);
    let db = Database::open(
        &dir,
        Config {
            cache_size: 0,
            ..Config::default()
        },
    )
    .unwrap();
    let err = db.get(b"key0020").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData);
    assert_eq!(
        db.get(b"key0021").unwrap(),
        Some(vec![21u8; 100]),
        "other keys still read"
    );
    let report = db.verify().unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.unreadable_keys, 1);
    assert!(
        report.corruptions.iter().any(|c| c.file.ends_with(".seg")),
        "{report:?}"
    );
    let scan: Vec<_> = db.iter().unwrap().collect();
    assert_eq!(
        scan.iter().filter(|r| r.is_err()).count(),
        1,
        "a scan reports the bad value too"
    );
    // A range lent without an iterator stops there with the same error, after
    // lending the entries before it.
    let mut lent = Vec::new();
    let err = db
        .range_with(&b"key0018"[..].., false, 5, |k, _| {
            lent.push(k.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData);
    assert_eq!(lent, [b"key0018".to_vec(), b"key0019".to_vec()]);
}

#[test]
fn truncation_at_and_inside_every_record_recovers_a_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let n = 12u32;
    build(&dir, n);
    let seg = segments(&dir)[0].clone();
    let mut original = fs::read(&seg).unwrap();
    // Space allocated ahead of the writes is zeros: cutting there tests nothing.
    let end = original.iter().rposition(|&b| b != 0).unwrap() + 1;
    original.truncate(end);
    let mut last_count = 0;
    for cut in 0..=original.len() {
        let case = tmp.path().join(format!("cut{cut}"));
        fs::create_dir(&case).unwrap();
        fs::write(case.join(seg.file_name().unwrap()), &original[..cut]).unwrap();
        let db = Database::open(&case, Config::default()).unwrap();
        let count = db.len().unwrap() as u32;
        for i in 0..n {
            let got = db.get(format!("key{i:04}").as_bytes()).unwrap();
            assert_eq!(
                got.is_some(),
                i < count,
                "cut at {cut}: the survivors are a prefix"
            );
        }
        assert!(
            count >= last_count,
            "a longer file never recovers fewer commits"
        );
        last_count = count;
        assert!(db.verify().unwrap().is_clean());
        db.put(b"after", b"recovery").unwrap();
        drop(db);
        let db = Database::open(&case, Config::default()).unwrap();
        assert_eq!(
            db.get(b"after").unwrap(),
            Some(b"recovery".to_vec()),
            "cut at {cut}"
        );
    }
    assert_eq!(last_count, n);
    eprintln!(
        "truncation: {} cuts, each recovered a prefix",
        original.len() + 1
    );
}

#[test]
fn garbage_after_the_last_commit_is_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = Database::create(&dir, Config::default()).unwrap();
    db.put(b"a", b"1").unwrap();
    db.put(b"b", b"2").unwrap();
    // Simulate a crash: leak the handle so the segment is never sealed.
    std::mem::forget(db);
    let seg = segments(&dir).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    bytes.truncate(end);
    bytes.extend_from_slice(b"LDF2\x10\x00\x00\x00half a frame");
    fs::write(&seg, bytes).unwrap();
    fs::remove_file(dir.join("LOCK")).ok();
    let db = Database::open(
        &dir,
        Config {
            read_only: true,
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(db.len().unwrap(), 2);
}

#[test]
fn a_missing_segment_named_by_the_checkpoint_is_corrupted_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    build(&dir, 5);
    {
        let db = Database::open(&dir, Config::default()).unwrap();
        db.put(b"more", b"x").unwrap();
        db.checkpoint().unwrap();
    }
    fs::remove_file(&segments(&dir)[0]).unwrap();
    let err = Database::open(&dir, Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData);
    assert!(err.message().contains("missing"), "{err}");
}

/// Where a writer sets aside an index file it found damaged.
const SET_ASIDE: &str = "index.ckpt.damaged";

/// Every key `build` wrote, read back: each present with its value.
fn assert_all_present(db: &Database, n: u32, when: &str) {
    for i in 0..n {
        let got = db.get(format!("key{i:04}").as_bytes()).unwrap();
        assert_eq!(got, Some(value(i)), "key {i}, {when}");
    }
    assert_eq!(db.len().unwrap(), n as usize, "{when}");
}

#[test]
fn a_damaged_checkpoint_is_rebuilt_from_the_segments_and_set_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    build_checkpointed(&dir, 5);
    flip(&dir.join("index.ckpt"), 30);
    let db = Database::open(&dir, Config::default()).unwrap();
    assert_all_present(&db, 5, "rebuilt");
    assert!(
        dir.join(SET_ASIDE).exists(),
        "the damaged file is kept aside"
    );
    assert!(!dir.join("index.ckpt").exists());
    assert!(db.verify().unwrap().is_clean());
    db.checkpoint().unwrap();
    drop(db);
    let db = Database::open(&dir, Config::default()).unwrap();
    assert_all_present(&db, 5, "from the new checkpoint");
}

#[test]
// The header's flag says whether the segments can take the file's place; a
// file whose header is damaged, or says they cannot, is refused as before.
fn a_damaged_checkpoint_that_cannot_be_rebuilt_is_corrupted_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    build_checkpointed(&dir, 5);
    let path = dir.join("index.ckpt");
    let good = fs::read(&path).unwrap();
    for at in [0, 8, 13] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x10;
        bytes[100] ^= 0x10;
        fs::write(&path, &bytes).unwrap();
        let err = Database::open(&dir, Config::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CorruptedData, "byte {at}");
        assert!(!dir.join(SET_ASIDE).exists());
    }
    // A whole header that says the segments do not hold every delete.
    let mut bytes = good.clone();
    bytes[8..12].copy_from_slice(&0u32.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..12]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    bytes[100] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    let err = Database::open(&dir, Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData);
    assert!(err.message().contains("cannot be rebuilt"), "{err}");
    fs::write(&path, &good).unwrap();
    assert_all_present(
        &Database::open(&dir, Config::default()).unwrap(),
        5,
        "mended",
    );
}

#[test]
// The index file is checked piece by piece as it is read: damage anywhere in it
// is refused at open (and the index rebuilt from the segments) or by the first
// read of its block or table chunk, never returned as an answer (a wrong value,
// or a present key taken as absent). A writer that met the damage sets the file
// aside, and the next open rebuilds the index.
fn damage_to_the_index_file_is_never_trusted_and_the_index_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let n = 300u32;
    build_checkpointed(&dir, n);
    let good = fs::read(dir.join("index.ckpt")).unwrap();
    let work = tmp.path().join("work");
    let (mut header, mut at_open, mut on_read) = (0, 0, 0);
    for at in (0..good.len()).step_by(good.len() / 150 + 1) {
        let _ = fs::remove_dir_all(&work);
        copy_dir(&dir, &work);
        flip(&work.join("index.ckpt"), at);
        let db = match Database::open(&work, Config::default()) {
            Ok(db) => db,
            Err(e) => {
                // Only damage to the header hides whether a rebuild is safe.
                assert_eq!(e.kind(), ErrorKind::CorruptedData, "byte {at}: {e}");
                assert!(at < 16, "byte {at}: {e}");
                header += 1;
                continue;
            }
        };
        if work.join(SET_ASIDE).exists() {
            assert_all_present(&db, n, &format!("byte {at}, rebuilt at open"));
            assert!(db.verify().unwrap().is_clean(), "byte {at}");
            at_open += 1;
            continue;
        }
        let mut refused = false;
        for i in 0..n {
            match db.get(format!("key{i:04}").as_bytes()) {
                Ok(v) => assert_eq!(v, Some(value(i)), "byte {at}, key {i}"),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::CorruptedData, "byte {at}: {e}");
                    refused = true;
                }
            }
        }
        let mut seen = 0;
        for item in db.iter().unwrap() {
            match item {
                Ok((k, v)) => {
                    let i: u32 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
                    assert_eq!(v, value(i), "byte {at}");
                    seen += 1;
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::CorruptedData, "byte {at}: {e}");
                    refused = true;
                }
            }
        }
        let report = db.verify().unwrap();
        // Unless the background thread rebuilt the index meanwhile (it looks
        // once a second), the damage was seen.
        if !work.join(SET_ASIDE).exists() {
            assert!(refused || seen < n, "byte {at}: the damage went unnoticed");
            assert!(
                !report.corruptions.is_empty(),
                "byte {at}: verify found nothing"
            );
        }
        db.close().unwrap();
        assert!(work.join(SET_ASIDE).exists(), "byte {at}: not set aside");
        let db = Database::open(&work, Config::default()).unwrap();
        assert_all_present(&db, n, &format!("byte {at}, rebuilt after the reads"));
        on_read += 1;
    }
    assert!(
        header > 0 && at_open > 0 && on_read > 0,
        "{header} refused at open, {at_open} rebuilt at open, {on_read} on read"
    );
}

/// The value of key `i` after `change_since_checkpoint(dir, deltas)`, if any
/// (0 deltas: as `build_checkpointed` left it).
fn changed_value(i: u32, deltas: usize) -> Option<Vec<u8>> {
    match i {
        _ if deltas == 0 => Some(value(i)),
        50..60 if deltas == 2 => Some(format!("third-{i:04}").into_bytes()),
        200..205 if deltas == 2 => None,
        0..100 => Some(format!("second-{i:04}").into_bytes()),
        100..120 => None,
        _ => Some(value(i)),
    }
}

/// Over `build_checkpointed(dir, 300)`: rewrites keys 0 to 99, deletes 100
/// to 119, and checkpoints, which writes those changes as a delta; with
/// `deltas` 2, then rewrites 50 to 59, deletes 200 to 204, and checkpoints,
/// which writes those as a second delta over the first.
fn change_since_checkpoint(dir: &Path, deltas: usize) {
    let db = Database::open(dir, Config::default()).unwrap();
    for round in 1..=deltas {
        let mut batch = WriteBatch::new();
        let changed = match round {
            1 => 0..120u32,
            _ => 50..205,
        };
        for i in changed.filter(|&i| changed_value(i, round) != changed_value(i, round - 1)) {
            let key = format!("key{i:04}");
            match changed_value(i, round) {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
            };
        }
        db.write(&batch).unwrap();
        db.checkpoint().unwrap();
    }
    db.close().unwrap();
    for file in &DELTA_FILES[..deltas] {
        assert!(dir.join(file).exists(), "{file}");
    }
}

/// The deltas' files, and the names a damaged one and those over it are set
/// aside as.
const DELTA_FILES: [&str; 2] = ["index.delta", "index.delta2"];
const DELTA_SET_ASIDE: [&str; 2] = ["index.delta.damaged", "index.delta2.damaged"];

fn assert_changed(db: &Database, n: u32, deltas: usize, when: &str) {
    for i in 0..n {
        let got = db.get(format!("key{i:04}").as_bytes()).unwrap();
        assert_eq!(got, changed_value(i, deltas), "key {i}, {when}");
    }
    let all: Vec<(Vec<u8>, Vec<u8>)> = db.iter().unwrap().map(|e| e.unwrap()).collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
        .filter_map(|i| Some((format!("key{i:04}").into_bytes(), changed_value(i, deltas)?)))
        .collect();
    assert!(
        all == want,
        "{when}: {} entries, {} wanted",
        all.len(),
        want.len()
    );
}

#[test]
// A delta is checked as its index file is: damage anywhere in it is refused at
// open or by the first read of its block or table chunk, never returned as an
// answer. It is never needed: a refused delta is set aside (at open, or at
// close after a read met the damage) with any delta over it, and the log
// after the file under it replayed, so no damage to it keeps the database
// from opening. So for a first delta alone, a first under a second, and a
// second.
fn damage_to_a_delta_is_never_trusted_and_the_log_after_the_file_under_it_replayed() {
    for (deltas, damaged) in [(1, 0), (2, 0), (2, 1)] {
        damage_to_a_delta(deltas, damaged);
    }
}

/// Flips bytes all over delta `damaged` of `deltas` (`change_since_checkpoint`).
fn damage_to_a_delta(deltas: usize, damaged: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let n = 300u32;
    build_checkpointed(&dir, n);
    change_since_checkpoint(&dir, deltas);
    let file = DELTA_FILES[damaged];
    let good = fs::read(dir.join(file)).unwrap();
    let work = tmp.path().join("work");
    let set_aside = |work: &Path| {
        (damaged..deltas).all(|level| {
            let aside = work.join(DELTA_SET_ASIDE[level]).exists();
            assert_eq!(aside, !work.join(DELTA_FILES[level]).exists());
            aside
        })
    };
    let (mut at_open, mut on_read) = (0, 0);
    for at in (0..good.len()).step_by(good.len() / 150 + 1) {
        let at = format!("delta {damaged} of {deltas}, byte {at}");
        let _ = fs::remove_dir_all(&work);
        copy_dir(&dir, &work);
        flip(
            &work.join(file),
            at.rsplit(' ').next().unwrap().parse().unwrap(),
        );
        let db = Database::open(&work, Config::default()).unwrap();
        if set_aside(&work) {
            assert_changed(&db, n, deltas, &format!("{at}, refused at open"));
            at_open += 1;
            continue;
        }
        let mut refused = false;
        for i in 0..n {
            match db.get(format!("key{i:04}").as_bytes()) {
                Ok(v) => assert_eq!(v, changed_value(i, deltas), "{at}, key {i}"),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::CorruptedData, "{at}: {e}");
                    refused = true;
                }
            }
        }
        for item in db.iter().unwrap() {
            match item {
                Ok((k, v)) => {
                    let i: u32 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
                    assert_eq!(Some(v), changed_value(i, deltas), "{at}");
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::CorruptedData, "{at}: {e}");
                    refused = true;
                }
            }
        }
        let report = db.verify().unwrap();
        // Unless the background thread rebuilt the index meanwhile, the
        // damage was seen, and verify names the delta.
        if !work.join(DELTA_SET_ASIDE[damaged]).exists() {
            assert!(refused, "{at}: the damage went unnoticed");
            assert!(
                report.corruptions.iter().any(|c| c.file.ends_with(file)),
                "{at}: {:?}",
                report.corruptions
            );
        }
        db.close().unwrap();
        assert!(set_aside(&work), "{at}: not set aside");
        let db = Database::open(&work, Config::default()).unwrap();
        assert_changed(&db, n, deltas, &format!("{at}, after the reads"));
        on_read += 1;
    }
    assert!(
        at_open > 0 && on_read > 0,
        "delta {damaged} of {deltas}: {at_open} refused at open, {on_read} on read"
    );
}

#[test]
// The writer's background thread sets aside a file a read found damaged and
// rebuilds the index from the segments while the handle stays open, commits
// going on meanwhile: reads work again without a reopen.
fn the_background_thread_rebuilds_an_index_a_read_found_damaged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let n = 300u32;
    build_checkpointed(&dir, n);
    // Past the header and the table: a block of entries.
    let len = fs::metadata(dir.join("index.ckpt")).unwrap().len() as usize;
    flip(&dir.join("index.ckpt"), len / 2);
    let db = std::sync::Arc::new(Database::open(&dir, Config::default()).unwrap());
    assert!(!dir.join(SET_ASIDE).exists());
    // Commits of keys the file does not hold, some deleted again, before,
    // during and after the rebuild.
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..3_000u32 {
                db.put(format!("new-{i:05}").as_bytes(), &value(i)).unwrap();
                if i % 3 == 0 {
                    assert!(db.delete(format!("new-{:05}", i / 2).as_bytes()).unwrap());
                }
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
        })
    };
    let refused = (0..n)
        .filter(|i| db.get(format!("key{i:04}").as_bytes()).is_err())
        .count();
    assert!(refused > 0, "no read met the damage");
    let started = std::time::Instant::now();
    while (0..n).any(|i| db.get(format!("key{i:04}").as_bytes()).is_err()) {
        assert!(started.elapsed().as_secs() < 20, "not rebuilt while open");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(dir.join(SET_ASIDE).exists());
    writer.join().unwrap();
    let deleted = |i: u32| i < 3_000 && (0..3_000).any(|j: u32| j % 3 == 0 && j / 2 == i);
    let check = |db: &Database, when: &str| {
        for i in 0..n {
            let got = db.get(format!("key{i:04}").as_bytes()).unwrap();
            assert_eq!(got, Some(value(i)), "key {i}, {when}");
        }
        for i in 0..3_000u32 {
            let got = db.get(format!("new-{i:05}").as_bytes()).unwrap();
            let expected = (!deleted(i)).then(|| value(i));
            assert_eq!(got, expected, "new key {i}, {when}");
        }
        let expected_len = n as usize + (0..3_000).filter(|&i| !deleted(i)).count();
        assert_eq!(db.len().unwrap(), expected_len, "{when}");
        assert_eq!(db.iter().unwrap().count(), expected_len, "{when}");
        assert!(db.verify().unwrap().is_clean(), "{when}");
    };
    check(&db, "rebuilt in place");
    db.checkpoint().unwrap();
    check(&db, "after a checkpoint of the rebuilt index");
    drop(db);
    check(
        &Database::open(&dir, Config::default()).unwrap(),
        "reopened",
    );
}

/// Segments of 1 MiB (the space a segment is given at a time), compacted only
/// when asked.
fn small_segments() -> Config {
    Config {
        segment_size: 1 << 20,
        auto_compact: false,
        ..Config::default()
    }
}

fn keep(i: u32) -> Vec<u8> {
    format!("keep-{i:04}").into_bytes()
}

fn big(i: u32) -> Vec<u8> {
    value(i).repeat(16)
}

/// Segments of 2,000 live records (about 2 MB) written in commits of 200, so
/// that frame headers leave them with almost nothing dead: compaction leaves
/// them out.
fn write_keeps(db: &Database) {
    let mut batch = WriteBatch::new();
    for i in 0..2_000 {
        batch.put(keep(i), big(i));
        if i % 200 == 199 {
            db.write(&batch).unwrap();
            batch.clear();
        }
    }
}

#[test]
// A compaction that leaves out a segment holding an older put of a deleted key
// keeps the delete, so that a rebuild from the segments does not bring the key
// back; one that takes every segment drops the deletes with the puts.
fn a_rebuilt_index_brings_back_no_key_a_compaction_saw_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = small_segments();
    let temp = |i: u32| format!("temp-{i:04}").into_bytes();
    let db = Database::create(&dir, config.clone()).unwrap();
    // Segments of live records, one of them a put deleted later: a sliver of
    // dead bytes, not worth copying.
    db.put(b"gone", &value(0)).unwrap();
    write_keeps(&db);
    // Segments of records that all die.
    for i in 0..1_000 {
        db.put(&temp(i), &value(i)).unwrap();
    }
    for i in 0..1_000 {
        db.delete(&temp(i)).unwrap();
    }
    db.delete(b"gone").unwrap();
    // The compaction seals the segment being written too.
    let sealed = segments(&dir).len() as u64;
    let report = db.compact().unwrap();
    assert!(
        report.segments_before > 0 && report.segments_before < sealed,
        "{report:?} of {sealed} sealed segments"
    );
    assert!(report.records_copied < 2_000, "{report:?}");
    assert!(
        report.segments_after > 0,
        "the deletes are kept: {report:?}"
    );
    db.close().unwrap();

    let rebuilt = |when: &str| {
        flip(&dir.join("index.ckpt"), 100);
        let db = Database::open(&dir, config.clone()).unwrap();
        assert!(dir.join(SET_ASIDE).exists(), "{when}");
        assert_eq!(db.get(b"gone").unwrap(), None, "{when}");
        assert_eq!(db.get(&temp(7)).unwrap(), None, "{when}");
        assert_eq!(db.get(&keep(7)).unwrap(), Some(big(7)), "{when}");
        assert_eq!(db.len().unwrap(), 2_000, "{when}");
        db
    };
    let db = rebuilt("after a compaction that kept the deletes");
    // Every segment dead now: the compaction takes them all and keeps nothing.
    for i in 0..2_000 {
        db.delete(&keep(i)).unwrap();
    }
    db.put(&keep(7), &big(7)).unwrap();
    db.checkpoint().unwrap();
    let report = db.compact().unwrap();
    assert_eq!(report.records_copied, 1, "{report:?}");
    db.close().unwrap();
    let db = Database::open(&dir, config.clone()).unwrap();
    assert_eq!(db.len().unwrap(), 1);
    drop(db);
    flip(&dir.join("index.ckpt"), 100);
    let db = Database::open(&dir, config.clone()).unwrap();
    assert_eq!(db.len().unwrap(), 1, "rebuilt after the full compaction");
    assert_eq!(db.get(b"gone").unwrap(), None);
    assert_eq!(db.get(&keep(8)).unwrap(), None);
}

/// Key `i` of [`put_then_delete_temps`].
fn temp(i: u32) -> Vec<u8> {
    format!("temp-{i:05}").into_bytes()
}

/// 20,000 puts of short-lived keys in batches of 1,000, then their deletes.
fn put_then_delete_temps(db: &Database) {
    let mut batch = WriteBatch::new();
    for deleting in [false, true] {
        for i in 0..20_000 {
            if deleting {
                batch.delete(temp(i));
            } else {
                batch.put(temp(i), value(i));
            }
            if i % 1_000 == 999 {
                db.write(&batch).unwrap();
                batch.clear();
            }
        }
    }
}

#[test]
// Deletes to keep past 1/16 of the bytes of the segments a compaction would
// leave out make it take every segment instead (and keep none): carrying
// them from compaction to compaction would cost more than the rewrite.
fn a_compaction_that_would_keep_many_deletes_takes_every_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = small_segments();
    let db = Database::create(&dir, config.clone()).unwrap();
    // A put deleted below, among the records left out: without it no delete
    // would need keeping.
    db.put(b"gone", &value(0)).unwrap();
    write_keeps(&db);
    db.delete(b"gone").unwrap();
    let clean = segments(&dir).len() as u64 - 1;
    // About 2 MB of live records left out; 20,000 deletes of 10-byte keys
    // would keep some 360 KB, past the 1/16 (125 KB).
    put_then_delete_temps(&db);
    let sealed = segments(&dir).len() as u64;
    let report = db.compact().unwrap();
    assert!(clean >= 1, "{clean} segments of live records");
    assert_eq!(report.segments_before, sealed, "{report:?}");
    assert_eq!(report.records_copied, 2_000, "{report:?}");
    db.close().unwrap();
    flip(&dir.join("index.ckpt"), 100);
    let db = Database::open(&dir, config).unwrap();
    assert!(dir.join(SET_ASIDE).exists());
    assert_eq!(db.len().unwrap(), 2_000);
    assert_eq!(db.get(&temp(7)).unwrap(), None);
    assert_eq!(db.get(b"gone").unwrap(), None);
    assert_eq!(db.get(&keep(7)).unwrap(), Some(big(7)));
}

#[test]
// When every put in the segments a compaction leaves out is live, no key
// deleted has an older put there: the compaction takes only the segments
// with dead records and keeps none of their deletes, and a rebuild from the
// segments left brings no key back.
fn a_compaction_keeps_no_delete_when_the_segments_left_out_hold_no_dead_put() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = small_segments();
    let db = Database::create(&dir, config.clone()).unwrap();
    write_keeps(&db);
    put_then_delete_temps(&db);
    let sealed = segments(&dir).len() as u64;
    let report = db.compact().unwrap();
    assert!(report.segments_before < sealed, "{report:?} of {sealed}");
    assert_eq!(report.records_copied, 0, "{report:?}");
    assert_eq!(report.segments_after, 0, "no delete is kept: {report:?}");
    assert_eq!(db.len().unwrap(), 2_000);
    db.close().unwrap();
    flip(&dir.join("index.ckpt"), 100);
    let db = Database::open(&dir, config).unwrap();
    assert!(dir.join(SET_ASIDE).exists());
    assert_eq!(db.len().unwrap(), 2_000);
    assert_eq!(db.get(&temp(7)).unwrap(), None);
    assert_eq!(db.get(&keep(7)).unwrap(), Some(big(7)));
}

#[test]
// Recovery takes a sealed segment that the checkpoint neither covers nor
// needs for the leftover of an interrupted compaction; one that holds deletes
// stays, as they may be all that keeps older puts from coming back in a rebuild.
fn recovery_removes_no_segment_whose_deletes_a_rebuild_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = Config {
        segment_size: 64 * 1024,
        auto_compact: false,
        ..Config::default()
    };
    // Puts that fill their segment, and deletes that fill over half of
    // theirs, so that neither is appended to after a reopen.
    let key = |i: u32| format!("key-{i:05}-{}", "p".repeat(10)).into_bytes();
    let mut batch = WriteBatch::new();
    for i in 0..2_000 {
        batch.put(key(i), &[b'v'; 16][..]);
    }
    Database::create(&dir, config.clone())
        .unwrap()
        .write(&batch)
        .unwrap();
    // Over half a segment of deletes, in the segment being written at the
    // checkpoint: not covered by it, and past every commit it reflects once
    // close seals it.
    let db = Database::open(&dir, config.clone()).unwrap();
    batch.clear();
    for i in 0..2_000 {
        batch.delete(key(i));
    }
    db.write(&batch).unwrap();
    db.checkpoint().unwrap();
    db.close().unwrap();
    let db = Database::open(&dir, config.clone()).unwrap();
    db.put(b"x", b"y").unwrap();
    db.close().unwrap();
    let before = segments(&dir);
    let db = Database::open(&dir, config.clone()).unwrap();
    assert_eq!(db.len().unwrap(), 1);
    drop(db);
    let after = segments(&dir);
    assert!(
        before.iter().all(|s| after.contains(s)),
        "{before:?} -> {after:?}"
    );
    flip(&dir.join("index.ckpt"), 100);
    let db = Database::open(&dir, config).unwrap();
    assert!(dir.join(SET_ASIDE).exists());
    assert_eq!(db.len().unwrap(), 1, "rebuilt from the segments");
    assert_eq!(db.get(&key(5)).unwrap(), None);
}

#[test]
// A database whose index file came from a version that dropped deletes in
// compaction is not rebuilt from its segments until a compaction of every
// segment makes them whole again; its checkpoints say so meanwhile.
fn checkpoints_say_whether_the_segments_hold_every_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = small_segments();
    build_checkpointed(&dir, 300);
    let path = dir.join("index.ckpt");
    // The header's REPLAYABLE flag (other flags say where the log begins).
    let flags = |path: &Path| {
        let bytes = fs::read(path).unwrap();
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()) & 1
    };
    assert_eq!(
        flags(&path),
        1,
        "a new database's segments hold every delete"
    );
    // The format before the flag: the same file under its magic, no header,
    // and no meta of the later flags.
    let mut bytes = as_before_log_from(fs::read(&path).unwrap());
    bytes[..8].copy_from_slice(b"LDBCKPT5");
    bytes[8..16].fill(0);
    fs::write(&path, &bytes).unwrap();
    let db = Database::open(&dir, config.clone()).unwrap();
    assert_all_present(&db, 300, "an index file of the format before");
    db.put(b"key0000", &value(0)).unwrap();
    db.checkpoint().unwrap();
    assert_eq!(flags(&path), 0, "the next checkpoint keeps the doubt");
    drop(db);
    let mut damaged = fs::read(&path).unwrap();
    damaged[100] ^= 0x10;
    fs::write(tmp.path().join("damaged"), &damaged).unwrap();
    fs::copy(tmp.path().join("damaged"), &path).unwrap();
    assert_eq!(
        Database::open(&dir, config.clone()).unwrap_err().kind(),
        ErrorKind::CorruptedData
    );
    damaged[100] ^= 0x10;
    fs::write(&path, &damaged).unwrap();
    let db = Database::open(&dir, config.clone()).unwrap();
    for i in 0..300 {
        db.delete(format!("key{i:04}").as_bytes()).unwrap();
    }
    db.put(b"key0001", &value(1)).unwrap();
    let report = db.compact().unwrap();
    assert_eq!(report.records_copied, 1, "{report:?}");
    assert_eq!(flags(&path), 1, "a compaction of every segment");
    drop(db);
    flip(&path, 100);
    let db = Database::open(&dir, config).unwrap();
    assert_eq!(db.len().unwrap(), 1);
    assert_eq!(db.get(b"key0001").unwrap(), Some(value(1)));
}

#[test]
// A commit looks up its keys in the index file before it is written: a write
// whose key lies in a damaged part of the file is refused and leaves nothing
// behind, and the writes beside it go on.
fn a_write_over_a_damaged_index_file_is_refused_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let n = 300u32;
    build_checkpointed(&dir, n);
    let new = |i: u32| format!("new-{i:04}").into_bytes();
    let key = |i: u32| format!("key{i:04}").into_bytes();
    let config = Config {
        sync_mode: lightning_db::SyncMode::Off,
        ..Config::default()
    };
    let good = fs::read(dir.join("index.ckpt")).unwrap();
    let work = tmp.path().join("work");
    let mut refused_writes = 0;
    for at in (0..good.len()).step_by(good.len() / 60 + 1) {
        let _ = fs::remove_dir_all(&work);
        copy_dir(&dir, &work);
        flip(&work.join("index.ckpt"), at);
        let Ok(db) = Database::open(&work, config.clone()) else {
            continue;
        };
        let mut written = vec![false; n as usize];
        for i in 0..n {
            let result = if i % 3 == 0 {
                db.delete(&key(i)).map(drop)
            } else {
                db.put(&key(i), &new(i))
            };
            match result {
                Ok(()) => written[i as usize] = true,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::CorruptedData, "byte {at}: {e}");
                    refused_writes += 1;
                }
            }
        }
        let check = |db: &Database, when: &str| {
            for i in 0..n {
                let expected = match (written[i as usize], i % 3 == 0) {
                    (true, true) => None,
                    (true, false) => Some(new(i)),
                    (false, _) => Some(value(i)),
                };
                match db.get(&key(i)) {
                    Ok(v) => assert_eq!(v, expected, "byte {at}, key {i}, {when}"),
                    // Only a key the file holds in a damaged part, unchanged.
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::CorruptedData, "byte {at}: {e}");
                        assert!(!written[i as usize], "byte {at}, key {i}, {when}");
                    }
                }
            }
        };
        check(&db, "before reopening");
        db.close().unwrap();
        let db = Database::open(&work, config.clone()).unwrap();
        check(&db, "after reopening");
    }
    assert!(refused_writes > 0, "no write met the damage");
}

#[test]
// The index file's table names a record by its place, bounded by the furthest
// byte the file refers to in its segment. A segment cut short after that must
// still serve the records it holds whole, as a scan does, and refuse the rest.
fn a_covered_segment_cut_short_still_serves_its_whole_records() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        segment_size: 4096,
        sync_mode: lightning_db::SyncMode::Off,
        auto_compact: false,
        ..Config::default()
    };
    let value = vec![b'v'; 500];
    {
        let db = Database::create(tmp.path(), config.clone()).unwrap();
        for i in 0..20u32 {
            db.put(format!("key{i:03}").as_bytes(), &value).unwrap();
        }
        db.checkpoint().unwrap();
    }
    let first = &segments(tmp.path())[0];
    fs::OpenOptions::new()
        .write(true)
        .open(first)
        .unwrap()
        .set_len(3000)
        .unwrap();
    let db = Database::open(tmp.path(), config).unwrap();
    let (mut whole, mut refused) = (0, 0);
    for i in 0..20u32 {
        let key = format!("key{i:03}");
        match db.get(key.as_bytes()) {
            Ok(v) => {
                assert_eq!(v.as_deref(), Some(&value[..]), "{key}");
                whole += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::CorruptedData, "{key}: {e}");
                refused += 1;
            }
        }
    }
    assert!(whole >= 4 && refused > 0, "{whole} read, {refused} refused");
    // A scan reports a damaged record and goes on to the next.
    let scan: Vec<_> = db.iter().unwrap().collect();
    let scanned = scan.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        (scanned, scan.len() - scanned),
        (whole, refused),
        "a get reads what a scan reads"
    );
}

#[test]
fn random_damage_never_yields_wrong_bytes_or_a_panic() {
    use rand::Rng;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    build(&dir, 40);
    let seg = segments(&dir)[0].clone();
    let mut original = fs::read(&seg).unwrap();
    let end = original.iter().rposition(|&b| b != 0).unwrap() + 1;
    original.truncate(end);
    let mut rng = rand::rng();
    let mut detected = 0;
    for round in 0..200 {
        let case = tmp.path().join(format!("r{round}"));
        fs::create_dir(&case).unwrap();
        let mut bytes = original.clone();
        match round % 3 {
            0 => {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let at = rng.random_range(0..bytes.len() - 64);
                bytes[at..at + 64].fill(0);
            }
            _ => {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
        }
        let changed = bytes != original;
        fs::write(case.join(seg.file_name().unwrap()), &bytes).unwrap();
        match Database::open(&case, Config::default()) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}");
                detected += 1;
            }
            Ok(db) => {
                let mut missing = 0;
                for i in 0..40u32 {
                    let want = value(i);
                    match db.get(format!("key{i:04}").as_bytes()) {
                        Ok(Some(v)) => assert_eq!(v, want, "wrong bytes returned"),
                        Ok(None) => missing += 1,
                        Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptedData),
                    }
                }
                if changed && missing > 0 {
                    detected += 1; // a damaged tail, cut back to a whole commit
                }
            }
        }
    }
    eprintln!("random damage: {detected} of 200 damaged logs noticed, no wrong bytes");
    assert!(detected > 150, "only {detected} of 200 damages noticed");
}

/// Sealed segments covered by a checkpoint are not read at open; verify() must
/// find every damage in them, and get must never return damaged bytes.
#[test]
fn verify_finds_every_damage_in_a_checkpointed_segment() {
    use rand::Rng;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = Config {
        segment_size: 8192,
        cache_size: 0,
        ..Config::default()
    };
    {
        let db = Database::create(&dir, config.clone()).unwrap();
        for i in 0..120u32 {
            db.put(
                format!("key{i:04}").as_bytes(),
                format!("value-{i}").repeat(8).as_bytes(),
            )
            .unwrap();
        }
        db.checkpoint().unwrap();
    }
    let sealed = segments(&dir)[0].clone();
    let original = fs::read(&sealed).unwrap();
    let end = original.iter().rposition(|&b| b != 0).unwrap() + 1;
    let mut rng = rand::rng();
    let (mut injected, mut detected) = (0, 0);
    for round in 0..300 {
        let case = tmp.path().join(format!("v{round}"));
        copy_dir(&dir, &case);
        let mut bytes = original.clone();
        let at = rng.random_range(0..end);
        match round % 3 {
            0 => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => bytes[at..(at + 32).min(end)].fill(0),
            _ => bytes[at] = bytes[at].wrapping_add(rng.random_range(1..=255)),
        }
        if bytes == original {
            continue;
        }
        injected += 1;
        fs::write(case.join(sealed.file_name().unwrap()), &bytes).unwrap();
        let db = Database::open(&case, config.clone()).unwrap();
        let report = db.verify().unwrap();
        assert!(
            !report.is_clean(),
            "round {round}: damage at {at} not found"
        );
        assert!(report.corruptions[0].file.ends_with(".seg"), "{report:?}");
        detected += 1;
        for i in 0..120u32 {
            match db.get(format!("key{i:04}").as_bytes()) {
                Ok(v) => assert_eq!(
                    v,
                    Some(format!("value-{i}").repeat(8).into_bytes()),
                    "round {round}: wrong bytes for key{i:04}"
                ),
                Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptedData, "{e}"),
            }
        }
        drop(db);
        fs::remove_dir_all(&case).unwrap();
    }
    eprintln!("verify: {detected} of {injected} injected damages found");
    assert_eq!(detected, injected);
}

/// Segment files renamed (to another id, or away from the segment pattern) and a
/// checkpoint renamed away: the database refuses with CorruptedData or opens
/// with a consistent prefix, never with wrong values.
#[test]
fn renamed_files_never_yield_wrong_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = Config {
        segment_size: 4096,
        ..Config::default()
    };
    {
        let db = Database::create(&dir, config.clone()).unwrap();
        for i in 0..100u32 {
            db.put(
                format!("key{i:04}").as_bytes(),
                format!("v{i}").repeat(20).as_bytes(),
            )
            .unwrap();
            if i == 60 {
                db.checkpoint().unwrap();
            }
        }
    }
    let segs = segments(&dir);
    assert!(segs.len() >= 3, "{segs:?}");
    let mut cases: Vec<(String, String)> = Vec::new();
    for s in &segs {
        let name = s.file_name().unwrap().to_str().unwrap().to_string();
        cases.push((name.clone(), "9999999999.seg".into()));
        cases.push((name.clone(), format!("{name}.bak")));
    }
    cases.push(("index.ckpt".into(), "index.ckpt.old".into()));
    let (mut refused, mut opened) = (0, 0);
    for (n, (from, to)) in cases.iter().enumerate() {
        let case = tmp.path().join(format!("rename{n}"));
        copy_dir(&dir, &case);
        fs::rename(case.join(from), case.join(to)).unwrap();
        match Database::open(&case, config.clone()) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::CorruptedData, "{from} -> {to}: {e}");
                refused += 1;
            }
            Ok(db) => {
                let mut present = Vec::new();
                for i in 0..100u32 {
                    match db.get(format!("key{i:04}").as_bytes()) {
                        Ok(Some(v)) => {
                            assert_eq!(
                                v,
                                format!("v{i}").repeat(20).into_bytes(),
                                "{from} -> {to}"
                            );
                            present.push(i);
                        }
                        Ok(None) => {}
                        Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptedData),
                    }
                }
                // Keys were written in order, one commit each: what is left must
                // be a prefix, or the loss must be reported by verify().
                let prefix = present.iter().enumerate().all(|(j, &i)| j as u32 == i);
                assert!(
                    prefix || !db.verify().unwrap().is_clean(),
                    "{from} -> {to}: silent hole, present {present:?}"
                );
                opened += 1;
            }
        }
    }
    eprintln!("renames: {refused} refused as CorruptedData, {opened} opened consistently");
}

/// A segment of record format 1 (16-byte frame headers, 21-byte entry headers),
/// as the versions before format 2 wrote it: one frame holding `key` = `value`.
fn format_1_segment(seq: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut payload = vec![1u8];
    payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
    payload.extend_from_slice(&(value.len() as u32).to_le_bytes());
    payload.extend_from_slice(&seq.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&payload);
    h.update(key);
    h.update(value);
    payload.extend_from_slice(&h.finalize().to_le_bytes());
    payload.extend_from_slice(key);
    payload.extend_from_slice(value);
    let mut out = b"LDBF".to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    let header_crc = crc32fast::hash(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Without the check, a format 1 segment reads as a torn tail at offset 0: the
/// database would open empty and its writer append over the old records.
#[test]
fn a_segment_of_record_format_1_is_refused_and_left_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    fs::create_dir(&dir).unwrap();
    let seg = dir.join(format!("{:010}.seg", 1));
    let old = format_1_segment(1, b"key", b"value");
    fs::write(&seg, &old).unwrap();
    for read_only in [false, true] {
        let config = Config {
            read_only,
            ..Config::default()
        };
        let err = Database::open(&dir, config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
        assert!(err.to_string().contains("record format 1"), "{err}");
        assert_eq!(fs::read(&seg).unwrap(), old, "the old segment was changed");
    }

    // Also when it is one of several, behind a segment of the current format.
    let db = Database::create(tmp.path().join("new"), Config::default()).unwrap();
    db.put(b"a", b"1").unwrap();
    drop(db);
    let newer = segments(&tmp.path().join("new")).pop().unwrap();
    fs::copy(&newer, dir.join(format!("{:010}.seg", 2))).unwrap();
    let err = Database::open(&dir, Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
    assert_eq!(fs::read(&seg).unwrap(), old, "the old segment was changed");
}

/// The frames of segment 1 of `dir`: (offset, payload length, sequence number).
fn frames(dir: &Path) -> Vec<(usize, usize, u64)> {
    let bytes = fs::read(&segments(dir)[0]).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 24 <= bytes.len() && &bytes[pos..pos + 4] == b"LDF2" {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        out.push((pos, len, seq));
        pos += 24 + len;
    }
    out
}

#[test]
// A checkpoint names where the log after it begins in the active segment:
// an open reads the frames from there on, checked as ever, and not the ones
// before (as it reads no segment the checkpoint covers); damage there surfaces
// when its record is read, and in verify.
fn an_open_reads_the_active_segment_from_where_the_checkpoint_says_its_log_begins() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let db = Database::create(&live, Config::default()).unwrap();
    for i in 0..40u32 {
        if i == 20 {
            db.checkpoint().unwrap();
        }
        db.put(format!("key{i:04}").as_bytes(), &value(i)).unwrap();
    }
    // The files a kill -9 leaves: the checkpoint of the first 20 commits, and
    // all 40 in segment 1.
    let (before, after) = (tmp.path().join("before"), tmp.path().join("after"));
    copy_dir(&live, &before);
    copy_dir(&live, &after);
    drop(db);
    let frames = frames(&before);
    assert_eq!(frames.len(), 40);
    let payload_of = |n: usize| frames[n].0 + 24 + frames[n].1 - 1;

    flip(&segments(&after)[0], payload_of(30));
    let err = Database::open(&after, Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
    assert!(err.message().contains(".seg at offset"), "{err}");

    flip(&segments(&before)[0], payload_of(5));
    let db = Database::open(&before, Config::default()).unwrap();
    assert_eq!(
        db.get(b"key0005").unwrap_err().kind(),
        ErrorKind::CorruptedData
    );
    for i in (0..40u32).filter(|&i| i != 5) {
        let key = format!("key{i:04}");
        assert_eq!(db.get(key.as_bytes()).unwrap(), Some(value(i)), "{key}");
    }
    let report = db.verify().unwrap();
    assert!(!report.is_clean(), "{report:?}");
    assert_eq!(report.unreadable_keys, 1, "{report:?}");
}

#[test]
// A segment cut short before where the checkpoint says its log begins lost
// frames the checkpoint reflects: CorruptedData, not a scan from past its end.
fn a_segment_cut_short_of_where_the_checkpoints_log_begins_is_corrupted_data() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let db = Database::create(&live, Config::default()).unwrap();
    for i in 0..20u32 {
        db.put(format!("key{i:04}").as_bytes(), &value(i)).unwrap();
    }
    db.checkpoint().unwrap();
    let crashed = tmp.path().join("crashed");
    copy_dir(&live, &crashed);
    drop(db);
    let frames = frames(&crashed);
    let (last, len, _) = frames[frames.len() - 1];
    let seg = &segments(&crashed)[0];
    let file = fs::OpenOptions::new().write(true).open(seg).unwrap();
    file.set_len((last + 24 + len - 10) as u64).unwrap();
    drop(file);
    let err = Database::open(&crashed, Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptedData, "{err}");
    assert!(err.message().contains("log begins at offset"), "{err}");
}
