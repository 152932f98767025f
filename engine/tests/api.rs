//! Behaviour of the public API, one property per test.

use std::ops::{Bound, ControlFlow};

use lightning_db::{Config, Database, ErrorKind, KeyRange, SyncMode, WriteBatch, MAX_KEY_SIZE};

fn fresh() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("db"), Config::default()).unwrap();
    (dir, db)
}

fn collect(it: lightning_db::Iter) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| r.unwrap()).collect()
}

fn keys(it: impl Iterator<Item = lightning_db::Result<(Vec<u8>, Vec<u8>)>>) -> Vec<Vec<u8>> {
    it.map(|r| r.unwrap().0).collect()
}

#[test]
fn put_get_delete_contains() {
    let (_d, db) = fresh();
    assert_eq!(db.get(b"k").unwrap(), None);
    db.put(b"k", b"v1").unwrap();
    db.put(b"k", b"v2").unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v2".to_vec()));
    assert!(db.contains(b"k").unwrap());
    assert!(db.delete(b"k").unwrap());
    assert!(
        !db.delete(b"k").unwrap(),
        "deleting a missing key reports false"
    );
    assert_eq!(db.get(b"k").unwrap(), None);
    assert!(!db.contains(b"k").unwrap());
}

#[test]
fn binary_keys_empty_and_large_values() {
    let (_d, db) = fresh();
    let key = b"\0a\0\xff\0";
    db.put(key, b"").unwrap();
    assert_eq!(db.get(key).unwrap(), Some(vec![]));
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i * 7) as u8).collect();
    db.put(b"big", &big).unwrap();
    assert_eq!(db.get(b"big").unwrap().unwrap(), big);
    assert_eq!(
        db.get(b"\0a").unwrap(),
        None,
        "a prefix of a key is another key"
    );
}

#[test]
fn limits_are_enforced_with_invalid_argument() {
    let (_d, db) = fresh();
    assert_eq!(
        db.put(b"", b"v").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(db.get(b"").unwrap_err().kind(), ErrorKind::InvalidArgument);
    let long = vec![1u8; MAX_KEY_SIZE + 1];
    assert_eq!(
        db.put(&long, b"v").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    db.put(&long[..MAX_KEY_SIZE], b"v").unwrap();
    assert_eq!(db.len().unwrap(), 1);
}

#[test]
fn a_batch_is_all_or_nothing() {
    let (_d, db) = fresh();
    db.put(b"a", b"old").unwrap();
    let mut bad = WriteBatch::new();
    bad.put("a", "new").put("", "invalid key").put("b", "x");
    assert_eq!(
        db.write(&bad).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(db.get(b"a").unwrap(), Some(b"old".to_vec()));
    assert_eq!(db.get(b"b").unwrap(), None);

    let mut good = WriteBatch::new();
    good.put("a", "new").put("b", "x").delete("a").put("c", "y");
    db.write(&good).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None, "operations apply in order");
    assert_eq!(db.get(b"b").unwrap(), Some(b"x".to_vec()));
    assert_eq!(db.len().unwrap(), 2);
}

#[test]
fn create_opens_an_existing_database_and_open_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    assert_eq!(
        Database::open(&p, Config::default()).unwrap_err().kind(),
        ErrorKind::IoError
    );
    {
        let db = Database::create(&p, Config::default()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    let db = Database::create(&p, Config::default()).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
    drop(db);
    let db = Database::open(&p, Config::default()).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn invalid_page_size_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        page_size: 3000,
        ..Config::default()
    };
    let err = Database::create(dir.path().join("db"), cfg).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("3000"), "{err}");
}

#[test]
fn a_second_writer_gets_database_locked() {
    let (d, db) = fresh();
    let err = Database::open(d.path().join("db"), Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DatabaseLocked);
    db.close().unwrap();
    Database::open(d.path().join("db"), Config::default()).unwrap();
}

#[test]
fn read_only_handles_see_a_snapshot_and_catch_up_with_refresh() {
    let (d, db) = fresh();
    db.put(b"a", b"1").unwrap();
    let ro = Database::open(
        d.path().join("db"),
        Config {
            read_only: true,
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(ro.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        ro.put(b"b", b"2").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Even a delete that would change nothing is refused on a read-only handle.
    assert_eq!(
        ro.delete(b"missing").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    db.put(b"b", b"2").unwrap();
    assert_eq!(
        ro.get(b"b").unwrap(),
        None,
        "a read-only handle reads its snapshot"
    );
    ro.refresh().unwrap();
    assert_eq!(ro.get(b"b").unwrap(), Some(b"2".to_vec()));
    db.compact().unwrap();
    db.put(b"c", b"3").unwrap();
    ro.refresh().unwrap();
    assert_eq!(collect(ro.iter().unwrap()).len(), 3);
}

#[test]
fn use_after_close_and_double_close_are_errors() {
    let (_d, db) = fresh();
    db.put(b"k", b"v").unwrap();
    let it = db.iter().unwrap();
    let tx = db.begin().unwrap();
    db.close().unwrap();
    assert!(db.is_closed());
    assert_eq!(db.close().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(db.get(b"k").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        db.put(b"k", b"v").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(tx.get(b"k").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(tx.commit().unwrap_err().kind(), ErrorKind::InvalidArgument);
    let items: Vec<_> = it.collect();
    assert!(items.iter().all(|r| r.is_err()));
}

#[test]
fn transactions_read_their_writes_and_their_snapshot() {
    let (_d, db) = fresh();
    db.put(b"a", b"1").unwrap();
    let mut tx = db.begin().unwrap();
    db.put(b"a", b"2").unwrap();
    db.put(b"z", b"later").unwrap();
    assert_eq!(tx.get(b"a").unwrap(), Some(b"1".to_vec()), "snapshot read");
    assert_eq!(tx.get(b"z").unwrap(), None);
    tx.put(b"b", b"mine").unwrap();
    tx.delete(b"a").unwrap();
    assert_eq!(tx.get(b"b").unwrap(), Some(b"mine".to_vec()));
    assert_eq!(tx.get(b"a").unwrap(), None);
    assert_eq!(keys(tx.iter().unwrap()), vec![b"b".to_vec()]);
    assert_eq!(
        db.get(b"b").unwrap(),
        None,
        "uncommitted writes are invisible"
    );
    // `a` was overwritten after the snapshot: write-write conflict.
    let err = tx.commit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TransactionConflict);
    assert_eq!(
        db.get(b"b").unwrap(),
        None,
        "a failed commit changes nothing"
    );
    assert_eq!(db.get(b"a").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn conflicts_are_write_write_only() {
    let (_d, db) = fresh();
    db.put(b"x", b"0").unwrap();
    let mut t1 = db.begin().unwrap();
    let mut t2 = db.begin().unwrap();
    assert_eq!(t1.get(b"x").unwrap(), Some(b"0".to_vec()));
    t1.put(b"y", b"1").unwrap();
    t2.put(b"x", b"2").unwrap();
    t2.commit().unwrap();
    t1.commit().unwrap();
    assert_eq!(db.get(b"y").unwrap(), Some(b"1".to_vec()));

    let mut t3 = db.begin().unwrap();
    let mut t4 = db.begin().unwrap();
    t3.put(b"k", b"3").unwrap();
    t4.delete(b"k").unwrap();
    t4.commit().unwrap();
    assert_eq!(
        t3.commit().unwrap_err().kind(),
        ErrorKind::TransactionConflict
    );
}

#[test]
fn a_delete_conflicts_even_when_the_key_is_gone() {
    let (_d, db) = fresh();
    db.put(b"k", b"v").unwrap();
    let mut tx = db.begin().unwrap();
    db.delete(b"k").unwrap();
    tx.put(b"k", b"mine").unwrap();
    assert_eq!(
        tx.commit().unwrap_err().kind(),
        ErrorKind::TransactionConflict
    );
}

#[test]
fn rollback_and_drop_discard_writes() {
    let (_d, db) = fresh();
    let mut tx = db.begin().unwrap();
    tx.put(b"a", b"1").unwrap();
    tx.rollback();
    {
        let mut tx = db.begin().unwrap();
        tx.put(b"b", b"1").unwrap();
    }
    assert_eq!(db.len().unwrap(), 0);
}

#[test]
fn scans_in_every_direction_and_bound() {
    let (_d, db) = fresh();
    let mut batch = WriteBatch::new();
    for i in 0..1000u32 {
        batch.put(format!("k{i:04}"), i.to_le_bytes().to_vec());
    }
    batch.put("j", "before").put("l", "after");
    db.write(&batch).unwrap();

    let all = keys(db.iter().unwrap());
    assert_eq!(all.len(), 1002);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let mut rev = keys(db.iter().unwrap().rev());
    rev.reverse();
    assert_eq!(rev, all);

    let r = keys(db.range(KeyRange::between("k0100", "k0200")).unwrap());
    assert_eq!(r.len(), 100);
    assert_eq!(r[0], b"k0100");
    assert_eq!(r[99], b"k0199");
    let r = KeyRange {
        start: Bound::Excluded(b"k0100".to_vec()),
        end: Bound::Included(b"k0200".to_vec()),
    };
    let r = keys(db.range(r).unwrap().rev());
    assert_eq!(
        (r.len(), &r[0][..], &r[99][..]),
        (100, &b"k0200"[..], &b"k0101"[..])
    );
    assert_eq!(keys(db.prefix(b"k09").unwrap()).len(), 100);
    assert_eq!(
        keys(db.range(KeyRange::until("k")).unwrap()),
        vec![b"j".to_vec()]
    );
    assert_eq!(
        keys(db.range(KeyRange::from("k1")).unwrap()),
        vec![b"l".to_vec()]
    );
    assert!(keys(db.range(KeyRange::between("z", "a")).unwrap()).is_empty());

    // Both ends at once meet in the middle without repeating a key.
    let mut it = db.iter().unwrap();
    let mut seen = Vec::new();
    loop {
        match (it.next(), it.next_back()) {
            (Some(a), Some(b)) => {
                seen.push(a.unwrap().0);
                seen.push(b.unwrap().0);
            }
            (Some(a), None) | (None, Some(a)) => seen.push(a.unwrap().0),
            (None, None) => break,
        }
    }
    seen.sort();
    assert_eq!(seen, all);
}

#[test]
fn a_range_lent_without_an_iterator_stops_where_asked() {
    let (_d, db) = fresh();
    for i in 0..100u8 {
        db.put(&[i], &[i, i]).unwrap();
    }
    db.checkpoint().unwrap();
    db.delete(&[42]).unwrap();
    db.put(&[43], b"new").unwrap();
    let lend = |range: (Bound<&[u8]>, Bound<&[u8]>), reverse, limit, stop_at: u8| {
        let mut seen = Vec::new();
        let lent = db
            .range_with(range, reverse, limit, |k, v| {
                seen.push((k[0], v.to_vec()));
                if k[0] == stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(lent, seen.len());
        seen
    };
    // The changes since the checkpoint over the index file: 42 gone, 43 new.
    let from_40 = lend((Bound::Included(&[40]), Bound::Unbounded), false, 4, 0);
    let want: Vec<_> = [
        (40, vec![40, 40]),
        (41, vec![41, 41]),
        (43, b"new".to_vec()),
        (44, vec![44, 44]),
    ]
    .into();
    assert_eq!(from_40, want);
    // Break counts the entry it stopped at; nothing after it is lent.
    let to_45 = lend(
        (Bound::Excluded(&[40]), Bound::Included(&[50])),
        false,
        usize::MAX,
        45,
    );
    assert_eq!(
        to_45.iter().map(|e| e.0).collect::<Vec<_>>(),
        [41, 43, 44, 45]
    );
    // Reverse, from the end bound down.
    let back = lend((Bound::Unbounded, Bound::Excluded(&[44])), true, 3, 0);
    assert_eq!(back.iter().map(|e| e.0).collect::<Vec<_>>(), [43, 41, 40]);
    // A limit of 0 lends nothing; an empty range neither.
    assert!(lend((Bound::Unbounded, Bound::Unbounded), false, 0, 0).is_empty());
    assert!(lend((Bound::Included(&[200]), Bound::Unbounded), false, 5, 0).is_empty());
    db.close().unwrap();
    let after_close = db.range_with(.., false, 1, |_, _| ControlFlow::Continue(()));
    assert_eq!(after_close.unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn an_iterator_reads_a_snapshot() {
    let (_d, db) = fresh();
    for i in 0..600u32 {
        db.put(format!("{i:04}").as_bytes(), b"v").unwrap();
    }
    let it = db.iter().unwrap();
    for i in 0..600u32 {
        db.delete(format!("{i:04}").as_bytes()).unwrap();
    }
    db.put(b"new", b"v").unwrap();
    db.compact().unwrap();
    assert_eq!(collect(it).len(), 600);
    assert_eq!(db.len().unwrap(), 1);
}

#[test]
fn transaction_scans_merge_own_writes() {
    let (_d, db) = fresh();
    for k in ["a", "c", "e"] {
        db.put(k.as_bytes(), b"db").unwrap();
    }
    let mut tx = db.begin().unwrap();
    tx.put(b"b", b"tx").unwrap();
    tx.put(b"c", b"tx").unwrap();
    tx.delete(b"e").unwrap();
    tx.put(b"f", b"tx").unwrap();
    let fwd = collect(tx.iter().unwrap());
    let expect: Vec<(Vec<u8>, Vec<u8>)> = [("a", "db"), ("b", "tx"), ("c", "tx"), ("f", "tx")]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(fwd, expect);
    let mut back: Vec<_> = tx.iter().unwrap().rev().map(|r| r.unwrap()).collect();
    back.reverse();
    assert_eq!(back, expect);
    assert_eq!(
        keys(tx.range(KeyRange::between("b", "d")).unwrap()),
        vec![b"b".to_vec(), b"c".to_vec()]
    );
}

#[test]
fn checkpoint_reopen_and_plain_copy() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    let db = Database::create(
        &p,
        Config {
            segment_size: 8192,
            ..Config::default()
        },
    )
    .unwrap();
    for i in 0..500u32 {
        db.put(format!("k{i}").as_bytes(), &[i as u8; 40]).unwrap();
    }
    db.delete(b"k7").unwrap();
    db.checkpoint().unwrap();
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&p).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    db.put(b"after", b"x").unwrap();
    drop(db);
    for path in [&p, &copy] {
        let db = Database::open(path, Config::default()).unwrap();
        assert_eq!(db.get(b"k7").unwrap(), None);
        assert_eq!(db.get(b"k8").unwrap(), Some(vec![8u8; 40]));
        assert!(db.verify().unwrap().is_clean());
    }
    let db = Database::open(&p, Config::default()).unwrap();
    assert_eq!(db.len().unwrap(), 500);
}

#[test]
fn backup_is_a_consistent_database() {
    let (d, db) = fresh();
    for i in 0..100u32 {
        db.put(&i.to_be_bytes(), b"value").unwrap();
    }
    let dest = d.path().join("backup");
    db.backup(&dest).unwrap();
    db.put(b"after", b"x").unwrap();
    let b = Database::open(&dest, Config::default()).unwrap();
    assert_eq!(b.len().unwrap(), 100);
    assert_eq!(b.get(b"after").unwrap(), None);
    assert!(b.verify().unwrap().is_clean());
    assert_eq!(
        db.backup(&dest).unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "not empty"
    );
}

#[test]
fn compaction_reclaims_space_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        segment_size: 64 * 1024,
        auto_compact: false,
        ..Config::default()
    };
    let db = Database::create(dir.path().join("db"), cfg).unwrap();
    let value = [7u8; 200];
    for round in 0..10 {
        let mut b = WriteBatch::new();
        for i in 0..500u32 {
            b.put(format!("key{i:05}"), [&value[..], &[round as u8]].concat());
        }
        db.write(&b).unwrap();
    }
    for i in 0..250u32 {
        db.delete(format!("key{i:05}").as_bytes()).unwrap();
    }
    let before = db.stats().unwrap();
    let report = db.compact().unwrap();
    let after = db.stats().unwrap();
    assert!(
        after.total_bytes < before.total_bytes / 5,
        "{before:?} -> {after:?}"
    );
    assert!(
        after.total_bytes as f64 <= after.live_bytes as f64 * 1.2 + 4096.0,
        "{after:?}"
    );
    assert_eq!(after.compactions, 1);
    assert_eq!(report.records_copied, 250);
    assert_eq!(db.get(b"key00300").unwrap().unwrap()[200], 9);
    drop(db);
    let db = Database::open(dir.path().join("db"), Config::default()).unwrap();
    assert_eq!(db.len().unwrap(), 250);
    assert_eq!(db.get(b"key00100").unwrap(), None);
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn compaction_leaves_segments_without_dead_records_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        segment_size: 64 * 1024,
        auto_compact: false,
        ..Config::default()
    };
    let db = Database::create(dir.path().join("db"), cfg.clone()).unwrap();
    let value = [7u8; 200];
    // Segment after segment of live records, one small key among them that a
    // later commit deletes: its put stays in a segment compaction skips.
    db.put(b"doomed", b"x").unwrap();
    for batch in 0..12u32 {
        let mut b = WriteBatch::new();
        for i in 0..50 {
            b.put(format!("keep{batch:02}-{i:03}"), &value[..]);
        }
        db.write(&b).unwrap();
    }
    // Then a segment that is mostly dead, holding the delete.
    for _ in 0..300 {
        db.put(b"churn", &value).unwrap();
    }
    db.delete(b"doomed").unwrap();
    let first = db.compact().unwrap();
    assert!(
        first.records_copied < 600,
        "live segments were copied: {first:?}"
    );
    assert!(first.segments_before >= 1, "{first:?}");
    let second = db.compact().unwrap();
    assert_eq!(second.records_copied, 0, "{second:?}");
    assert_eq!(second.segments_before, 0, "{second:?}");
    drop(db);
    // The delete is gone from the log; the put it shadowed is still in a kept
    // segment. Reopening must not bring it back.
    let db = Database::open(dir.path().join("db"), cfg).unwrap();
    assert_eq!(db.get(b"doomed").unwrap(), None);
    assert_eq!(db.len().unwrap(), 601);
    assert!(db.verify().unwrap().is_clean());
}

/// The nice value of thread `tid` of this process (field 19 of its stat).
#[cfg(target_os = "linux")]
fn nice_of(task: &std::path::Path) -> Option<i32> {
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(16)?.parse().ok()
}

#[cfg(target_os = "linux")]
#[test]
fn the_background_thread_yields_to_the_applications_threads() {
    let (_tmp, db) = fresh();
    let ours = nice_of(std::path::Path::new("/proc/thread-self")).unwrap();
    let lowered = (ours + 10).min(19);
    let started = std::time::Instant::now();
    let found = loop {
        let background: Vec<i32> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| t.ok().map(|t| t.path()))
            .filter(|t| {
                std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == "lightning-db-bg")
            })
            .filter_map(|t| nice_of(&t))
            .collect();
        if background.contains(&lowered) || started.elapsed().as_secs() >= 5 {
            break background;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(
        found.contains(&lowered),
        "background threads at {found:?}, ours at {ours}"
    );
    assert_eq!(
        nice_of(std::path::Path::new("/proc/thread-self")),
        Some(ours)
    );
    db.close().unwrap();
}

#[test]
fn background_compaction_runs_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        segment_size: 16 * 1024,
        compaction_min_dead_bytes: 32 * 1024,
        sync_mode: SyncMode::Off,
        ..Config::default()
    };
    let db = Database::create(dir.path().join("db"), cfg).unwrap();
    for _ in 0..100 {
        db.put(b"same", &[1u8; 1000]).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.stats().unwrap().compactions == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no background compaction"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(db.get(b"same").unwrap(), Some(vec![1u8; 1000]));
}

#[test]
fn stats_count_what_happened() {
    let (_d, db) = fresh();
    db.put(b"a", &[1; 2000]).unwrap();
    db.put(b"a", &[2; 2000]).unwrap();
    for _ in 0..32 {
        db.get(b"a").unwrap();
    }
    let s = db.stats().unwrap();
    assert_eq!((s.live_keys, s.commits, s.last_seq), (1, 2, 2));
    assert!(s.fsyncs >= 2, "Full syncs every commit: {s:?}");
    // A value enters the cache on one miss in eight: a hot key gets in quickly.
    assert_eq!(s.cache_misses + s.cache_hits, 32);
    assert!(s.cache_hits >= 24 && s.cache_misses <= 8, "{s:?}");
    assert!(s.total_bytes > s.live_bytes);
}

/// Point reads of the records of `sizes` (one key each), 32 times over, in
/// memory and again from a checkpoint (whose hash table names no lengths):
/// the cache hits and misses each pass counts.
fn cache_counts_of(sizes: &[usize]) -> [(u64, u64); 2] {
    let (_d, db) = fresh();
    for (i, &n) in sizes.iter().enumerate() {
        db.put(format!("k{i}").as_bytes(), &vec![i as u8; n])
            .unwrap();
    }
    let mut passes = [(0, 0); 2];
    for pass in &mut passes {
        let before = db.stats().unwrap();
        for _ in 0..32 {
            for (i, &n) in sizes.iter().enumerate() {
                let v = db.get(format!("k{i}").as_bytes()).unwrap().unwrap();
                assert_eq!(v, vec![i as u8; n]);
            }
        }
        let s = db.stats().unwrap();
        *pass = (
            s.cache_hits - before.cache_hits,
            s.cache_misses - before.cache_misses,
        );
        db.checkpoint().unwrap();
    }
    passes
}

#[test]
fn small_records_are_read_past_the_value_cache() {
    // Below about 1 KiB a record read from the map costs less than a lookup in
    // the cache: such reads neither use it nor count as hits or misses.
    assert_eq!(cache_counts_of(&[1, 150, 900]), [(0, 0); 2]);
    for [(hits, misses), (file_hits, file_misses)] in
        [cache_counts_of(&[1024]), cache_counts_of(&[100, 5000])]
    {
        assert_eq!(hits + misses, 32, "{hits} hits, {misses} misses");
        assert!(hits >= 24, "{hits} hits, {misses} misses");
        // After the checkpoint the record is found through the index file,
        // which names its place only: its header gives its length.
        assert_eq!(file_hits + file_misses, 32);
        assert!(file_hits >= 24);
    }
}

#[test]
fn cache_size_zero_disables_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(
        dir.path().join("db"),
        Config {
            cache_size: 0,
            ..Config::default()
        },
    )
    .unwrap();
    db.put(b"a", &[1; 2000]).unwrap();
    for _ in 0..3 {
        db.get(b"a").unwrap();
    }
    let s = db.stats().unwrap();
    assert_eq!((s.cache_hits, s.cache_misses), (0, 3));
}

#[test]
fn sync_modes_differ_in_fsyncs() {
    let mut counts = Vec::new();
    for mode in [SyncMode::Full, SyncMode::Normal, SyncMode::Off] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            sync_mode: mode,
            normal_sync_interval_ms: 60_000,
            ..Config::default()
        };
        let db = Database::create(dir.path().join("db"), cfg).unwrap();
        for i in 0..20u32 {
            db.put(&i.to_be_bytes(), b"v").unwrap();
        }
        counts.push(db.stats().unwrap().fsyncs);
    }
    assert!(
        counts[0] >= 20 && counts[1] == 0 && counts[2] == 0,
        "{counts:?}"
    );
}

#[test]
fn normal_mode_syncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        sync_mode: SyncMode::Normal,
        normal_sync_interval_ms: 20,
        ..Config::default()
    };
    let db = Database::create(dir.path().join("db"), cfg).unwrap();
    db.put(b"k", b"v").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while db.stats().unwrap().fsyncs == 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn verify_reports_records() {
    let (_d, db) = fresh();
    let mut b = WriteBatch::new();
    b.put("a", "1").put("b", "2").delete("a");
    db.write(&b).unwrap();
    let r = db.verify().unwrap();
    assert_eq!((r.records, r.live_keys, r.segments), (3, 1, 1));
    assert!(r.is_clean());
}

#[test]
fn reopening_appends_to_the_newest_segment_instead_of_adding_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    for i in 0..50u32 {
        let db = Database::create(&p, Config::default()).unwrap();
        db.put(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    let db = Database::open(&p, Config::default()).unwrap();
    assert_eq!(db.len().unwrap(), 50);
    assert_eq!(db.stats().unwrap().segments, 1);
    assert!(db.verify().unwrap().is_clean());
    let files = std::fs::read_dir(&p).unwrap().count();
    assert!(files <= 3, "{files} files for 50 opens");
}

#[test]
fn an_empty_path_is_invalid_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::env::current_dir().unwrap();
    let lock_before = cwd.join("LOCK").exists();
    for result in [
        Database::create("", Config::default()),
        Database::open("", Config::default()),
    ] {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    assert_eq!(cwd.join("LOCK").exists(), lock_before);
    drop(dir);
}

/// Readers in other processes map segment files; touching a mapped page past the
/// end of a file is SIGBUS. So no file may get shorter while it exists.
#[test]
fn segment_files_never_get_shorter() {
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("db");
    let sizes = |p: &std::path::Path| -> HashMap<std::ffi::OsString, u64> {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .map(|e| (e.file_name(), e.metadata().unwrap().len()))
            .collect()
    };
    let mut seen: HashMap<std::ffi::OsString, u64> = HashMap::new();
    let cfg = Config {
        segment_size: 8192,
        auto_compact: false,
        ..Config::default()
    };
    for round in 0..6u32 {
        let db = Database::create(&p, cfg.clone()).unwrap();
        for i in 0..40u32 {
            db.put(format!("k{i}").as_bytes(), &[round as u8; 100])
                .unwrap();
        }
        let now = sizes(&p);
        for (name, size) in &now {
            if let Some(before) = seen.get(name) {
                assert!(size >= before, "{name:?} shrank from {before} to {size}");
            }
        }
        seen.extend(now);
        if round % 2 == 0 {
            db.close().unwrap();
        } else {
            std::mem::forget(db); // a crash: no seal
            std::fs::remove_file(p.join("LOCK")).ok();
        }
        for (name, size) in sizes(&p) {
            if let Some(before) = seen.get(&name) {
                assert!(size >= *before, "{name:?} shrank from {before} to {size}");
            }
            seen.insert(name, size);
        }
    }
    let db = Database::open(&p, cfg).unwrap();
    assert_eq!(db.get(b"k3").unwrap(), Some(vec![5u8; 100]));
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn next_with_lends_the_items_next_would_give_from_either_end() {
    let (_d, db) = fresh();
    for k in [&b"a"[..], b"b", b"c", b"d", b"e", b"f"] {
        db.put(k, &[k, &b"-value"[..]].concat()).unwrap();
    }
    let mut tx = db.begin().unwrap();
    tx.put(b"c", b"mine").unwrap(); // replaces a stored key
    tx.put(b"cc", b"new").unwrap(); // between stored keys
    tx.delete(b"e").unwrap();
    for source in ["database", "transaction"] {
        let iter = || match source {
            "database" => db.iter().unwrap(),
            _ => tx.iter().unwrap(),
        };
        let expected: Vec<(Vec<u8>, Vec<u8>)> = iter().map(|r| r.unwrap()).collect();
        // Alternate ends, so that the two ends meet in the middle.
        let mut it = iter();
        let (mut front, mut back) = (Vec::new(), Vec::new());
        loop {
            let copy = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
            let item = if (front.len() + back.len()) % 2 == 0 {
                it.next_with(copy).map(|r| front.push(r.unwrap()))
            } else {
                it.next_back_with(copy).map(|r| back.push(r.unwrap()))
            };
            if item.is_none() {
                break;
            }
        }
        back.reverse();
        front.extend(back);
        assert_eq!(front, expected, "{source}");
    }
    assert_eq!(tx.iter().unwrap().count(), 6);
}

#[test]
fn verify_reports_its_progress_over_the_segment_bytes() {
    let (_d, db) = fresh();
    let mut batch = WriteBatch::new();
    for i in 0..3000u32 {
        batch.put(i.to_be_bytes().to_vec(), vec![7u8; 1000]);
    }
    db.write(&batch).unwrap();
    let mut calls: Vec<(u64, u64)> = Vec::new();
    let report = db
        .verify_with_progress(|done, total| calls.push((done, total)))
        .unwrap();
    assert!(report.is_clean());
    let total = calls[0].1;
    assert!(total >= 3_000_000, "{calls:?}");
    assert_eq!(calls.first(), Some(&(0, total)));
    assert_eq!(calls.last(), Some(&(total, total)));
    // About every MiB in between, never going back.
    assert!(calls.len() >= 4, "{calls:?}");
    assert!(calls
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[1].1 == total));
}

/// Commits `n` new keys (`prefix` and a number) to `db` in commits of 1,000.
fn put_many(db: &Database, prefix: &str, n: usize) {
    for from in (0..n).step_by(1000) {
        let mut batch = WriteBatch::new();
        for i in from..n.min(from + 1000) {
            batch.put(format!("{prefix}{i:07}").as_bytes(), b"value");
        }
        db.write(&batch).unwrap();
    }
}

/// The inode of the database's checkpoint, if it has one: a new checkpoint is
/// a new file renamed over the name.
fn checkpoint_inode(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir.join("index.ckpt"))
        .ok()
        .map(|m| m.ino())
}

#[test]
// A checkpoint asked for when the one on disk is of the latest commit writes
// nothing (it would write the same again); the next commit makes it write.
fn a_checkpoint_with_no_commit_since_the_last_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Database::create(&path, Config::default()).unwrap();
    put_many(&db, "k", 100);
    db.checkpoint().unwrap();
    let inode = checkpoint_inode(&path).expect("an index file");
    assert_eq!(db.stats().unwrap().checkpoints, 1);
    db.checkpoint().unwrap();
    drop(db);
    let db = Database::open(&path, Config::default()).unwrap();
    db.checkpoint().unwrap();
    assert_eq!(checkpoint_inode(&path), Some(inode));
    assert!(!path.join("index.delta").exists());
    assert_eq!(db.stats().unwrap().checkpoints, 0);
    db.put(b"one more", b"value").unwrap();
    db.checkpoint().unwrap();
    assert!(path.join("index.delta").exists());
    assert_eq!(db.stats().unwrap().checkpoints, 1);
    drop(db);
    let db = Database::open(&path, Config::default()).unwrap();
    assert_eq!(db.len().unwrap(), 101);
    assert_eq!(db.get(b"one more").unwrap().as_deref(), Some(&b"value"[..]));
}

#[test]
fn close_writes_a_checkpoint_when_the_next_open_would_replay_many_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let config = Config {
        sync_mode: SyncMode::Off,
        auto_compact: false,
        ..Config::default()
    };
    // A short log is left for the next open to replay: the close stays cheap.
    let db = Database::create(&path, config.clone()).unwrap();
    put_many(&db, "few", 2_000);
    db.close().unwrap();
    assert_eq!(checkpoint_inode(&path), None);

    // Twenty thousand changed keys: the close writes the checkpoint.
    let db = Database::open(&path, config.clone()).unwrap();
    put_many(&db, "many", 20_000);
    db.close().unwrap();
    let first = checkpoint_inode(&path).expect("a checkpoint written by close");
    let db = Database::open(&path, config.clone()).unwrap();
    assert_eq!(db.len().unwrap(), 22_000);
    assert_eq!(
        db.get(b"many0019999").unwrap().as_deref(),
        Some(&b"value"[..])
    );

    // Over a checkpoint of 200,000 keys, 20,000 changes are too few to pay for
    // rewriting the whole index at close: the next open replays them.
    put_many(&db, "more", 178_000);
    db.checkpoint().unwrap();
    let big = checkpoint_inode(&path).unwrap();
    assert_ne!(big, first);
    put_many(&db, "tail", 20_000);
    drop(db);
    assert_eq!(checkpoint_inode(&path), Some(big));
    let db = Database::open(&path, config).unwrap();
    assert_eq!(db.len().unwrap(), 220_000);
    assert_eq!(
        db.get(b"tail0019999").unwrap().as_deref(),
        Some(&b"value"[..])
    );
}

#[test]
fn a_database_at_rest_gets_a_checkpoint_without_being_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Database::create(
        &path,
        Config {
            sync_mode: SyncMode::Off,
            ..Config::default()
        },
    )
    .unwrap();
    put_many(&db, "k", 20_000);
    // The background thread looks once a second; a second look with no
    // commit in between finds the database at rest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while checkpoint_inode(&path).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of a database at rest"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(db.stats().unwrap().checkpoints, 1);
    assert_eq!(db.len().unwrap(), 20_000);
}
