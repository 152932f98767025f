//! A failed sync. The kernel may have dropped the pages it was writing and reports
//! that to the one call that failed, so the handle must not vouch for anything
//! written before it again: the commit that needed the sync fails, and so does
//! every later commit, checkpoint and backup, until the database is reopened.
//!
//! Small commits sync after their index updates; large ones (64 KiB and more)
//! on a thread beside them. Both are failed here, through the `fault-injection`
//! hook, which is process-wide: this file holds one test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lightning_db::fault_injection::{set_sync_hook, SyncTarget};
use lightning_db::{Config, Database, ErrorKind, SyncMode, WriteBatch};

static FAIL_DATA_SYNCS: AtomicBool = AtomicBool::new(false);

fn batch(large: bool) -> WriteBatch {
    let mut b = WriteBatch::new();
    let (puts, len) = if large { (40, 2048) } else { (1, 10) };
    for i in 0..puts {
        b.put(format!("key-{i:02}"), vec![b'v'; len]);
    }
    b
}

#[test]
fn a_failed_sync_fails_its_commit_and_everything_after_until_reopened() {
    set_sync_hook(Some(Arc::new(|target| match target {
        SyncTarget::Data(_) if FAIL_DATA_SYNCS.load(Ordering::SeqCst) => {
            Err(std::io::Error::other("injected sync failure"))
        }
        _ => Ok(()),
    })));
    for large in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db");
        let config = Config {
            sync_mode: SyncMode::Full,
            ..Config::default()
        };
        let db = Database::create(&dir, config.clone()).unwrap();
        db.put(b"acknowledged", b"1").unwrap();

        FAIL_DATA_SYNCS.store(true, Ordering::SeqCst);
        let err = db.write(&batch(large)).unwrap_err();
        FAIL_DATA_SYNCS.store(false, Ordering::SeqCst);
        assert_eq!(err.kind(), ErrorKind::IoError, "large {large}: {err}");

        // The syncs would succeed now, and would vouch for pages already lost.
        for refused in [
            db.put(b"later", b"2").unwrap_err(),
            db.checkpoint().unwrap_err(),
            db.backup(tmp.path().join("backup")).unwrap_err(),
        ] {
            assert_eq!(refused.kind(), ErrorKind::IoError, "large {large}");
            assert!(
                refused.to_string().contains("an earlier sync failed"),
                "large {large}: {refused}"
            );
        }
        drop(db);

        let db = Database::open(&dir, config).unwrap();
        assert_eq!(db.get(b"acknowledged").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(db.get(b"later").unwrap(), None);
        db.put(b"later", b"2").unwrap();
        assert!(db.verify().unwrap().is_clean());
    }
}
