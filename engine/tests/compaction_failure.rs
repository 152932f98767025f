//! A compaction that fails after its copies are renamed into place, before
//! its index file is: the copies go with it, so that the space comes back at
//! once (most failures are a full disk) and the next open does not replay
//! them. The failure is a sync of the index file failed through the
//! `fault-injection` hook, which is process-wide: this file holds one test.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lightning_db::fault_injection::{set_sync_hook, SyncTarget};
use lightning_db::{Config, Database, ErrorKind, WriteBatch};

static FAIL_INDEX_FILE_SYNC: AtomicBool = AtomicBool::new(false);

/// Whether `file` is a temporary index file, by the name its descriptor has.
fn is_index_file_being_written(file: &std::fs::File) -> bool {
    let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
    std::fs::read_link(fd).is_ok_and(|p| p.to_string_lossy().ends_with("index.ckpt.tmp"))
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn value(i: u32) -> Vec<u8> {
    format!("value-{i}-").repeat(20).into_bytes()
}

#[test]
fn a_compaction_failed_before_its_index_file_leaves_no_copy() {
    set_sync_hook(Some(Arc::new(|target| match target {
        SyncTarget::All(file)
            if FAIL_INDEX_FILE_SYNC.load(Ordering::SeqCst) && is_index_file_being_written(file) =>
        {
            Err(std::io::Error::other("injected sync failure"))
        }
        _ => Ok(()),
    })));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let config = Config {
        segment_size: 1 << 20,
        auto_compact: false,
        ..Config::default()
    };
    let db = Database::create(&dir, config.clone()).unwrap();
    for commit in 0..20u32 {
        let mut batch = WriteBatch::new();
        for i in commit * 500..(commit + 1) * 500 {
            batch.put(i.to_be_bytes(), value(i));
        }
        db.write(&batch).unwrap();
    }
    let mut batch = WriteBatch::new();
    for i in (0..10_000u32).step_by(2) {
        batch.delete(i.to_be_bytes());
    }
    db.write(&batch).unwrap();
    let before = files(&dir);

    FAIL_INDEX_FILE_SYNC.store(true, Ordering::SeqCst);
    let err = db.compact().unwrap_err();
    FAIL_INDEX_FILE_SYNC.store(false, Ordering::SeqCst);
    assert_eq!(err.kind(), ErrorKind::IoError, "{err}");
    // Only the segment the compaction rolled to is new: no copy, no
    // temporary file.
    let after = files(&dir);
    let new: Vec<&String> = after.difference(&before).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].ends_with(".seg"), "{new:?}");
    assert!(before.is_subset(&after));

    let check = |db: &Database| {
        for i in 0..10_000u32 {
            let want = (i % 2 == 1).then(|| value(i));
            assert_eq!(db.get(&i.to_be_bytes()).unwrap(), want, "key {i}");
        }
    };
    check(&db);
    // Once the syncs succeed again, the compaction does.
    let report = db.compact().unwrap();
    assert_eq!(report.records_copied, 5_000);
    check(&db);
    db.close().unwrap();
    let db = Database::open(&dir, config).unwrap();
    check(&db);
    assert!(db.verify().unwrap().is_clean());
    set_sync_hook(None);
}
