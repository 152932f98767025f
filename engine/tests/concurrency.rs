//! Threads: writers and readers together, conflicting transactions, readers
//! and writers during compaction, and a second process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning_db::{Config, Database, ErrorKind, SyncMode};

fn db_with(cfg: Config) -> (tempfile::TempDir, Arc<Database>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("db"), cfg).unwrap();
    (dir, Arc::new(db))
}

#[test]
fn writers_and_readers_in_parallel() {
    let (_d, db) = db_with(Config {
        segment_size: 64 * 1024,
        ..Config::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..300u32 {
                    db.put(format!("{w}:{i:05}").as_bytes(), &i.to_le_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let db = db.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // A scan sees a consistent snapshot: each writer's keys form a
                    // prefix of its sequence, because each writer commits in order.
                    let mut per_writer = [0u32; 4];
                    for item in db.iter().unwrap() {
                        let (k, v) = item.unwrap();
                        let s = String::from_utf8(k).unwrap();
                        let (w, i) = s.split_once(':').unwrap();
                        let (w, i): (usize, u32) = (w.parse().unwrap(), i.parse().unwrap());
                        assert_eq!(i, per_writer[w], "hole in writer {w}'s keys");
                        assert_eq!(v, i.to_le_bytes());
                        per_writer[w] += 1;
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(db.len().unwrap(), 1200);
    let s = db.stats().unwrap();
    assert_eq!(s.commits, 1200);
    assert!(s.fsyncs <= s.commits + s.segments, "{s:?}");
}

#[test]
fn concurrent_increments_by_transactions_lose_no_update() {
    let (_d, db) = db_with(Config {
        sync_mode: SyncMode::Off,
        ..Config::default()
    });
    db.put(b"counter", &0u64.to_le_bytes()).unwrap();
    let conflicts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            let conflicts = conflicts.clone();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < 200 {
                    let mut tx = db.begin().unwrap();
                    let n = u64::from_le_bytes(
                        tx.get(b"counter").unwrap().unwrap().try_into().unwrap(),
                    );
                    tx.put(b"counter", &(n + 1).to_le_bytes()).unwrap();
                    match tx.commit() {
                        Ok(()) => done += 1,
                        Err(e) if e.kind() == ErrorKind::TransactionConflict => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n = u64::from_le_bytes(db.get(b"counter").unwrap().unwrap().try_into().unwrap());
    assert_eq!(n, 800, "every committed increment counted once");
    eprintln!("{} conflicts detected", conflicts.load(Ordering::Relaxed));
}

#[test]
fn readers_and_writers_during_compaction() {
    let (_d, db) = db_with(Config {
        segment_size: 32 * 1024,
        sync_mode: SyncMode::Off,
        auto_compact: false,
        ..Config::default()
    });
    for i in 0..2000u32 {
        db.put(format!("k{:04}", i % 500).as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                for i in 0..500u32 {
                    let v = db.get(format!("k{i:04}").as_bytes()).unwrap().unwrap();
                    let v = u32::from_le_bytes(v.try_into().unwrap());
                    assert_eq!(v % 500, i);
                }
                assert_eq!(db.iter().unwrap().count(), 500);
                n += 1;
            }
            n
        })
    };
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 2000u32;
            while !stop.load(Ordering::Relaxed) {
                db.put(format!("k{:04}", i % 500).as_bytes(), &i.to_le_bytes())
                    .unwrap();
                i += 1;
            }
            i
        })
    };
    for _ in 0..5 {
        db.compact().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let last = writer.join().unwrap();
    for i in last.saturating_sub(500)..last {
        let v = db
            .get(format!("k{:04}", i % 500).as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(
            u32::from_le_bytes(v.try_into().unwrap()),
            i,
            "newest write wins over the compacted copy"
        );
    }
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn a_second_process_cannot_write_but_can_read() {
    if let Ok(dir) = std::env::var("LDB_SECOND_PROCESS") {
        let err = Database::open(&dir, Config::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DatabaseLocked);
        let ro = Database::open(
            &dir,
            Config {
                read_only: true,
                ..Config::default()
            },
        )
        .unwrap();
        assert_eq!(ro.get(b"from").unwrap(), Some(b"parent".to_vec()));
        println!("CHILD-OK");
        return;
    }
    let (d, db) = db_with(Config::default());
    db.put(b"from", b"parent").unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_second_process_cannot_write_but_can_read",
            "--nocapture",
        ])
        .env("LDB_SECOND_PROCESS", d.path().join("db"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_read_only_handle_verifies_and_backs_up_after_the_writer_compacted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let writer = Database::create(
        &dir,
        Config {
            segment_size: 4096,
            auto_compact: false,
            ..Config::default()
        },
    )
    .unwrap();
    for i in 0..300u32 {
        writer
            .put(format!("k{:03}", i % 150).as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    let reader = Database::open(
        &dir,
        Config {
            read_only: true,
            ..Config::default()
        },
    )
    .unwrap();
    let seen: Vec<_> = reader.iter().unwrap().map(|r| r.unwrap()).collect();
    let files_before: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    writer.compact().unwrap();
    let files_after: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        files_before.iter().any(|f| !files_after.contains(f)),
        "compaction removed none of the reader's files"
    );
    // The reader's snapshot still refers to the removed files; it reads them
    // through its own maps, and so must verify() and backup().
    let report = reader.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.records >= 150, "{report:?}");
    let backup = tmp.path().join("backup");
    reader.backup(&backup).unwrap();
    let copy = Database::open(&backup, Config::default()).unwrap();
    let copied: Vec<_> = copy.iter().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(copied, seen);
    assert!(copy.verify().unwrap().is_clean());
}
