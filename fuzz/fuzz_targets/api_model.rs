//! Random API sequences against a `BTreeMap` model.
//!
//! Puts, deletes, batches, transactions (committed, rolled back, or in conflict
//! with a write made while they were open), gets, range scans in either or mixed
//! direction, iterators held across writes, checkpoints, compactions, reopens and
//! read-only handles are applied to a database with small segments (so segments
//! roll and compaction has work) and to the model; every read must equal the
//! model, invalid arguments must fail without effect, and after the sequence the
//! reopened database must hold exactly the model, also when opened without its
//! index file (replaying every segment).
#![no_main]

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lightning_db::{Config, Database, ErrorKind, KeyRange, SyncMode, WriteBatch};
use lightning_db_fuzz::{scratch_dir, Key, Pairs, Value};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Arbitrary, Debug)]
enum BoundSpec {
    Unbounded,
    Included(Key),
    Excluded(Key),
}

impl BoundSpec {
    fn bound(&self) -> Bound<Vec<u8>> {
        match self {
            BoundSpec::Unbounded => Bound::Unbounded,
            BoundSpec::Included(k) => Bound::Included(k.0.clone()),
            BoundSpec::Excluded(k) => Bound::Excluded(k.0.clone()),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct ScanSpec {
    start: BoundSpec,
    end: BoundSpec,
    /// A prefix scan instead of the bounds.
    prefix: Option<Key>,
    /// Bit i set: the i-th item is taken from the back (`next_back`).
    directions: u32,
    /// Stop after this many items (all when `None`).
    take: Option<u8>,
}

impl ScanSpec {
    fn range(&self) -> KeyRange {
        match &self.prefix {
            Some(p) => KeyRange::prefix(&p.0),
            None => KeyRange {
                start: self.start.bound(),
                end: self.end.bound(),
            },
        }
    }
}

/// Runs `spec` over `iter`: items from the front and from the back as `directions`
/// says, returned in key order (front items, then back items reversed).
fn run_scan(
    spec: &ScanSpec,
    mut iter: impl DoubleEndedIterator<Item = lightning_db::Result<(Vec<u8>, Vec<u8>)>>,
) -> (Pairs, Pairs) {
    let (mut front, mut back) = (Vec::new(), Vec::new());
    let limit = spec.take.map_or(usize::MAX, |n| n as usize);
    let mut i = 0;
    while i < limit {
        let from_back = i < 32 && spec.directions >> i & 1 == 1;
        let item = if from_back {
            iter.next_back()
        } else {
            iter.next()
        };
        match item {
            None => break,
            Some(r) => {
                let kv = r.expect("a scan item is readable");
                if from_back {
                    back.push(kv)
                } else {
                    front.push(kv)
                }
            }
        }
        i += 1;
    }
    (front, back)
}

/// What `run_scan` must return on `model`.
fn expect_scan(spec: &ScanSpec, model: &Model) -> (Pairs, Pairs) {
    let range = spec.range();
    let bounds = (range.start.clone(), range.end.clone());
    let all: Vec<(Vec<u8>, Vec<u8>)> = model
        .iter()
        .filter(|(k, _)| bounds.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (mut lo, mut hi) = (0, all.len());
    let (mut front, mut back) = (Vec::new(), Vec::new());
    let limit = spec.take.map_or(usize::MAX, |n| n as usize);
    let mut i = 0;
    while i < limit && lo < hi {
        if i < 32 && spec.directions >> i & 1 == 1 {
            hi -= 1;
            back.push(all[hi].clone());
        } else {
            front.push(all[lo].clone());
            lo += 1;
        }
        i += 1;
    }
    (front, back)
}

type Write = (Key, Option<Value>);

#[derive(Arbitrary, Debug)]
enum Op {
    Put(Key, Value),
    Delete(Key),
    Batch(Vec<Write>),
    Txn {
        writes: Vec<Write>,
        reads: Vec<Key>,
        scan: Option<ScanSpec>,
        /// A put made through the database while the transaction is open.
        concurrent: Option<(Key, Value)>,
        commit: bool,
    },
    Get(Key),
    Contains(Key),
    Scan(ScanSpec),
    /// An iterator opened before some writes sees none of them.
    ScanAcrossWrites(ScanSpec, Vec<(Key, Value)>),
    Len,
    Checkpoint,
    Compact,
    Reopen {
        close_first: bool,
    },
    /// A read-only handle beside the writer sees exactly what it has committed.
    ReadOnly,
}

#[derive(Arbitrary, Debug)]
struct Input {
    segment_size: u8,
    page_size: bool,
    cache: u8,
    sync: u8,
    ops: Vec<Op>,
}

fn config(input: &Input) -> Config {
    Config {
        segment_size: [4096, 8192, 16384, 65536][input.segment_size as usize % 4],
        page_size: if input.page_size { 4096 } else { 512 },
        cache_size: [0, 16 * 1024, 1 << 20][input.cache as usize % 3],
        sync_mode: [SyncMode::Off, SyncMode::Normal, SyncMode::Full][input.sync as usize % 3],
        auto_compact: false,
        ..Config::default()
    }
}

fn contents(db: &Database) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.iter()
        .expect("iter")
        .map(|r| r.expect("a live value is readable"))
        .collect()
}

fn model_vec(model: &Model) -> Vec<(Vec<u8>, Vec<u8>)> {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn assert_invalid<T: std::fmt::Debug>(r: lightning_db::Result<T>) {
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}"),
        Ok(v) => panic!("an invalid key was accepted: {v:?}"),
    }
}

fn read_only_matches(path: &Path, cfg: &Config, model: &Model) {
    let ro = Database::open(
        path,
        Config {
            read_only: true,
            ..cfg.clone()
        },
    )
    .expect("open read-only beside the writer");
    assert_eq!(contents(&ro), model_vec(model), "read-only handle");
    assert_invalid(ro.put(b"k", b"v"));
}

fn run(input: Input) {
    let cfg = config(&input);
    let dir = scratch_dir();
    let path = dir.path().join("db");
    let mut db = Database::create(&path, cfg.clone()).expect("create");
    let mut model = Model::new();

    for op in &input.ops {
        match op {
            Op::Put(k, v) => {
                if k.is_valid() {
                    db.put(&k.0, &v.0).expect("put");
                    model.insert(k.0.clone(), v.0.clone());
                } else {
                    assert_invalid(db.put(&k.0, &v.0));
                }
            }
            Op::Delete(k) => {
                if k.is_valid() {
                    let was = db.delete(&k.0).expect("delete");
                    assert_eq!(was, model.remove(&k.0).is_some(), "delete's answer");
                } else {
                    assert_invalid(db.delete(&k.0));
                }
            }
            Op::Batch(writes) => {
                let mut b = WriteBatch::new();
                for (k, v) in writes {
                    match v {
                        Some(v) => b.put(k.0.clone(), v.0.clone()),
                        None => b.delete(k.0.clone()),
                    };
                }
                if writes.iter().all(|(k, _)| k.is_valid()) {
                    db.write(&b).expect("batch");
                    for (k, v) in writes {
                        match v {
                            Some(v) => model.insert(k.0.clone(), v.0.clone()),
                            None => model.remove(&k.0),
                        };
                    }
                } else {
                    // All or nothing: the batch fails whole.
                    assert_invalid(db.write(&b));
                }
            }
            Op::Txn {
                writes,
                reads,
                scan,
                concurrent,
                commit,
            } => {
                let mut tx = db.begin().expect("begin");
                let mut view = model.clone();
                let mut written = Vec::new();
                for (k, v) in writes {
                    let r = match v {
                        Some(v) => tx.put(&k.0, &v.0),
                        None => tx.delete(&k.0),
                    };
                    if !k.is_valid() {
                        assert_invalid(r);
                        continue;
                    }
                    r.expect("tx write");
                    written.push(k.0.clone());
                    match v {
                        Some(v) => view.insert(k.0.clone(), v.0.clone()),
                        None => view.remove(&k.0),
                    };
                }
                // A commit made meanwhile is invisible to the transaction.
                let mut conflict = false;
                if let Some((k, v)) = concurrent {
                    if k.is_valid() {
                        db.put(&k.0, &v.0).expect("concurrent put");
                        model.insert(k.0.clone(), v.0.clone());
                        conflict = written.contains(&k.0);
                        assert_eq!(
                            db.get(&k.0).expect("get"),
                            Some(v.0.clone()),
                            "the concurrent put is visible outside"
                        );
                    }
                }
                for k in reads {
                    if k.is_valid() {
                        assert_eq!(tx.get(&k.0).expect("tx get"), view.get(&k.0).cloned());
                        assert_eq!(
                            tx.contains(&k.0).expect("tx contains"),
                            view.contains_key(&k.0)
                        );
                    } else {
                        assert_invalid(tx.get(&k.0));
                    }
                }
                if let Some(s) = scan {
                    let it = tx.range(s.range()).expect("tx range");
                    assert_eq!(run_scan(s, it), expect_scan(s, &view), "tx scan {s:?}");
                }
                let all: Vec<_> = tx
                    .iter()
                    .expect("tx iter")
                    .map(|r| r.expect("tx item"))
                    .collect();
                assert_eq!(all, model_vec(&view), "tx iter");
                if *commit {
                    let r = tx.commit();
                    if conflict {
                        match r {
                            Err(e) => assert_eq!(e.kind(), ErrorKind::TransactionConflict, "{e}"),
                            Ok(()) => panic!("a write-write conflict committed"),
                        }
                    } else {
                        r.expect("commit");
                        // Writes of the transaction win over the concurrent put.
                        for k in &written {
                            match view.get(k) {
                                Some(v) => model.insert(k.clone(), v.clone()),
                                None => model.remove(k),
                            };
                        }
                    }
                } else {
                    tx.rollback();
                }
            }
            Op::Get(k) => {
                if k.is_valid() {
                    assert_eq!(
                        db.get(&k.0).expect("get"),
                        model.get(&k.0).cloned(),
                        "get {k:?}"
                    );
                } else {
                    assert_invalid(db.get(&k.0));
                }
            }
            Op::Contains(k) => {
                if k.is_valid() {
                    assert_eq!(
                        db.contains(&k.0).expect("contains"),
                        model.contains_key(&k.0)
                    );
                } else {
                    assert_invalid(db.contains(&k.0));
                }
            }
            Op::Scan(s) => {
                let it = db.range(s.range()).expect("range");
                assert_eq!(run_scan(s, it), expect_scan(s, &model), "scan {s:?}");
            }
            Op::ScanAcrossWrites(s, writes) => {
                let it = db.range(s.range()).expect("range");
                let before = model.clone();
                for (k, v) in writes {
                    if k.is_valid() {
                        db.put(&k.0, &v.0).expect("put");
                        model.insert(k.0.clone(), v.0.clone());
                    }
                }
                assert_eq!(
                    run_scan(s, it),
                    expect_scan(s, &before),
                    "snapshot scan {s:?}"
                );
            }
            Op::Len => assert_eq!(db.len().expect("len"), model.len()),
            Op::Checkpoint => db.checkpoint().expect("checkpoint"),
            Op::Compact => {
                db.compact().expect("compact");
            }
            Op::Reopen { close_first } => {
                if *close_first {
                    db.close().expect("close");
                    assert_invalid(db.get(b"k"));
                    assert_invalid(db.put(b"k", b"v"));
                }
                drop(db);
                db = Database::open(&path, cfg.clone()).expect("reopen");
            }
            Op::ReadOnly => read_only_matches(&path, &cfg, &model),
        }
    }

    assert_eq!(contents(&db), model_vec(&model), "contents at the end");
    assert_eq!(db.len().expect("len"), model.len());
    let report = db.verify().expect("verify");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.live_keys, model.len() as u64);
    drop(db);
    let db = Database::open(&path, cfg.clone()).expect("final reopen");
    assert_eq!(contents(&db), model_vec(&model), "contents after reopen");
    assert!(db.verify().expect("verify").is_clean());
    drop(db);
    // The segments alone hold the model too: recovery replays them all when
    // the index file is damaged.
    let _ = std::fs::remove_file(path.join("index.ckpt"));
    let db = Database::open(&path, cfg.clone()).expect("open without the index file");
    assert_eq!(
        contents(&db),
        model_vec(&model),
        "replayed from the segments alone"
    );
}

fuzz_target!(|input: Input| {
    // Bound the work per input: long sequences add little over short ones.
    let mut input = input;
    input.ops.truncate(64);
    run(input);
});
