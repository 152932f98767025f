//! Model-based test: random operation sequences — with reopen, checkpoint and
//! compaction in between — must leave the database equal to a BTreeMap.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use lightning_db::{Config, Database, KeyRange, SyncMode, WriteBatch};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Txn(Vec<(Vec<u8>, Option<Vec<u8>>)>, bool),
    Get(Vec<u8>),
    Scan(Option<Vec<u8>>, Option<Vec<u8>>, bool),
    Reopen,
    Checkpoint,
    Compact,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet so operations collide on the same keys.
    prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 0xff]), 1..4)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 500..3000),
    ]
}

fn write() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>)> {
    (key(), prop::option::weighted(0.7, value()))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => key().prop_map(Op::Delete),
        2 => prop::collection::vec(write(), 0..8).prop_map(Op::Batch),
        2 => (prop::collection::vec(write(), 0..6), any::<bool>()).prop_map(|(w, c)| Op::Txn(w, c)),
        3 => key().prop_map(Op::Get),
        2 => (prop::option::of(key()), prop::option::of(key()), any::<bool>()).prop_map(|(a, b, r)| Op::Scan(a, b, r)),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Compact),
    ]
}

fn as_slice(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    b.as_ref().map(|v| &v[..])
}

fn config() -> Config {
    Config {
        segment_size: 4096,
        sync_mode: SyncMode::Off,
        auto_compact: false,
        cache_size: 16 * 1024,
        ..Config::default()
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut db = Database::create(&path, config()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let apply = |model: &mut BTreeMap<Vec<u8>, Vec<u8>>, writes: &[(Vec<u8>, Option<Vec<u8>>)]| {
        for (k, v) in writes {
            match v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
    };
    for op in ops {
        match op {
            Op::Put(k, v) => {
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            Op::Delete(k) => {
                assert_eq!(db.delete(&k).unwrap(), model.remove(&k).is_some());
            }
            Op::Batch(writes) => {
                let mut b = WriteBatch::new();
                for (k, v) in &writes {
                    match v {
                        Some(v) => b.put(k.clone(), v.clone()),
                        None => b.delete(k.clone()),
                    };
                }
                db.write(&b).unwrap();
                apply(&mut model, &writes);
            }
            Op::Txn(writes, commit) => {
                let mut tx = db.begin().unwrap();
                let mut view = model.clone();
                for (k, v) in &writes {
                    match v {
                        Some(v) => tx.put(k, v).unwrap(),
                        None => tx.delete(k).unwrap(),
                    }
                    apply(&mut view, std::slice::from_ref(&(k.clone(), v.clone())));
                    assert_eq!(tx.get(k).unwrap(), view.get(k).cloned());
                }
                let seen: Vec<_> = tx.iter().unwrap().map(|r| r.unwrap()).collect();
                assert_eq!(seen, view.clone().into_iter().collect::<Vec<_>>());
                if commit {
                    tx.commit().unwrap();
                    model = view;
                } else {
                    tx.rollback();
                }
            }
            Op::Get(k) => assert_eq!(db.get(&k).unwrap(), model.get(&k).cloned()),
            Op::Scan(a, b, rev) => {
                let start = a.clone().map_or(Bound::Unbounded, Bound::Included);
                let end = b.clone().map_or(Bound::Unbounded, Bound::Excluded);
                let range = KeyRange {
                    start: start.clone(),
                    end: end.clone(),
                };
                let invalid = matches!((&a, &b), (Some(a), Some(b)) if a > b);
                let expect: Vec<_> = if invalid {
                    vec![]
                } else {
                    model
                        .range::<Vec<u8>, _>((start, end))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                // The same range lent without an iterator, whole and its first three.
                let bounds = (as_slice(&range.start), as_slice(&range.end));
                for limit in [usize::MAX, 3] {
                    let mut lent = Vec::new();
                    let n = db
                        .range_with(bounds, rev, limit, |k, v| {
                            lent.push((k.to_vec(), v.to_vec()));
                            ControlFlow::Continue(())
                        })
                        .unwrap();
                    let want: Vec<_> = if rev {
                        expect.iter().rev().take(limit).cloned().collect()
                    } else {
                        expect.iter().take(limit).cloned().collect()
                    };
                    assert_eq!((n, lent), (want.len(), want), "range_with, limit {limit}");
                }
                let it = db.range(range).unwrap();
                let got: Vec<_> = if rev {
                    let mut g: Vec<_> = it.rev().map(|r| r.unwrap()).collect();
                    g.reverse();
                    g
                } else {
                    it.map(|r| r.unwrap()).collect()
                };
                assert_eq!(got, expect);
            }
            Op::Reopen => {
                drop(db);
                db = Database::open(&path, config()).unwrap();
            }
            Op::Checkpoint => db.checkpoint().unwrap(),
            Op::Compact => {
                db.compact().unwrap();
            }
        }
    }
    let all: Vec<_> = db.iter().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(all, model.clone().into_iter().collect::<Vec<_>>());
    assert_eq!(db.len().unwrap(), model.len());
    assert!(db.verify().unwrap().is_clean());
    drop(db);
    let db = Database::open(&path, config()).unwrap();
    let all: Vec<_> = db.iter().unwrap().map(|r| r.unwrap()).collect();
    let model: Vec<_> = model.into_iter().collect();
    assert_eq!(all, model);
    drop(db);
    // The segments alone give the same database: what recovery rebuilds when
    // the index file is damaged.
    let _ = std::fs::remove_file(path.join("index.ckpt"));
    let db = Database::open(&path, config()).unwrap();
    let all: Vec<_> = db.iter().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(all, model, "replayed from the segments alone");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]
    #[test]
    fn database_matches_a_btreemap(ops in prop::collection::vec(op(), 1..120)) {
        run(ops);
    }
}

#[test]
fn regression_delete_then_put_in_one_batch() {
    run(vec![
        Op::Batch(vec![(vec![255], None), (vec![255], Some(vec![]))]),
        Op::Txn(vec![], false),
        Op::Txn(vec![], false),
    ]);
}

#[test]
fn regression_segment_named_by_the_checkpoint_survives_deletes() {
    run(vec![
        Op::Put(b"aa".to_vec(), vec![]),
        Op::Checkpoint,
        Op::Reopen,
        Op::Txn(vec![(b"aa".to_vec(), None)], true),
        Op::Reopen,
    ]);
}
