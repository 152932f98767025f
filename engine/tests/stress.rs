//! Heavy stress of the commit path and of reads during maintenance.
//!
//! More threads than cores commit durably (group commit) while others read and
//! a maintenance thread checkpoints, compacts and backs up without pause. The
//! invariants are checked all the time, not only at the end:
//! - money is conserved: transfers between accounts are transactions, and every
//!   snapshot (scan, transaction, held-open iterator) sums to the same total;
//! - a writer reads its own acknowledged writes at once, and its per-key
//!   counters never go backwards in anyone's eyes;
//! - commits are grouped: fewer fsyncs than commits;
//! - after reopen the contents are exactly what the threads acknowledged.
//!
//! `LDB_STRESS_SECONDS=600 cargo test --release --test stress` for a soak.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning_db::{Config, Database, ErrorKind, KeyRange, WriteBatch};
use rand::{Rng, SeedableRng};

const ACCOUNTS: u64 = 64;
const OPENING_BALANCE: u64 = 1_000;
const WRITERS: usize = 4;
const TRANSFER_THREADS: usize = 3;
const READERS: usize = 2;

fn seconds() -> u64 {
    std::env::var("LDB_STRESS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

fn account(n: u64) -> Vec<u8> {
    format!("acct/{n:03}").into_bytes()
}

fn balance(v: &[u8]) -> u64 {
    u64::from_le_bytes(v.try_into().unwrap())
}

fn total(items: impl Iterator<Item = lightning_db::Result<(Vec<u8>, Vec<u8>)>>) -> (u64, u64) {
    let mut sum = 0;
    let mut n = 0;
    for item in items {
        let (_, v) = item.unwrap();
        sum += balance(&v);
        n += 1;
    }
    (sum, n)
}

fn writer_key(w: usize, k: u64) -> Vec<u8> {
    format!("w{w}/{k:03}").into_bytes()
}

fn config() -> Config {
    Config {
        segment_size: 256 * 1024,
        auto_compact: true,
        compaction_min_dead_bytes: 128 * 1024,
        cache_size: 256 * 1024,
        ..Config::default()
    }
}

#[test]
fn group_commit_and_maintenance_under_contention_keep_every_invariant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = Arc::new(Database::create(&dir, config()).unwrap());
    let mut opening = WriteBatch::new();
    for n in 0..ACCOUNTS {
        opening.put(account(n), OPENING_BALANCE.to_le_bytes());
    }
    db.write(&opening).unwrap();
    let money = ACCOUNTS * OPENING_BALANCE;
    let deadline = Instant::now() + Duration::from_secs(seconds());
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(1));
    let checks = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();

    // Writers: each owns its keys and counts up in them; it must read its own
    // acknowledged writes at once. Single puts, batches and deletes.
    let finals: Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>> = Arc::default();
    for w in 0..WRITERS {
        let (db, stop, commits, finals) =
            (db.clone(), stop.clone(), commits.clone(), finals.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let mut mine: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut counter = 0u64;
            while !stop.load(Ordering::Relaxed) {
                counter += 1;
                let k = rng.random_range(0..50u64);
                match rng.random_range(0..10) {
                    0 => {
                        let existed = db.delete(&writer_key(w, k)).unwrap();
                        assert_eq!(existed, mine.remove(&writer_key(w, k)).is_some());
                        if !existed {
                            continue; // deleting a missing key commits nothing
                        }
                    }
                    1..=3 => {
                        let mut b = WriteBatch::new();
                        for j in 0..4 {
                            let key = writer_key(w, (k + j) % 50);
                            b.put(key.clone(), counter.to_le_bytes());
                            mine.insert(key, counter.to_le_bytes().to_vec());
                        }
                        db.write(&b).unwrap();
                    }
                    _ => {
                        db.put(&writer_key(w, k), &counter.to_le_bytes()).unwrap();
                        mine.insert(writer_key(w, k), counter.to_le_bytes().to_vec());
                    }
                }
                commits.fetch_add(1, Ordering::Relaxed);
                let key = writer_key(w, k);
                assert_eq!(
                    db.get(&key).unwrap().as_deref(),
                    mine.get(&key).map(|v| &v[..]),
                    "writer {w} does not read its own write"
                );
            }
            finals.lock().unwrap().extend(mine);
        }));
    }

    // Transfers: read two balances in a transaction and move money; conflicts
    // are retried by the caller, as an application would.
    let conflicts = Arc::new(AtomicU64::new(0));
    for t in 0..TRANSFER_THREADS {
        let (db, stop, commits, conflicts) =
            (db.clone(), stop.clone(), commits.clone(), conflicts.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(100 + t as u64);
            while !stop.load(Ordering::Relaxed) {
                let from = rng.random_range(0..ACCOUNTS);
                let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                let mut tx = db.begin().unwrap();
                let a = balance(&tx.get(&account(from)).unwrap().unwrap());
                let b = balance(&tx.get(&account(to)).unwrap().unwrap());
                let amount = rng.random_range(0..=a.min(50));
                tx.put(&account(from), &(a - amount).to_le_bytes()).unwrap();
                tx.put(&account(to), &(b + amount).to_le_bytes()).unwrap();
                match tx.commit() {
                    Ok(()) => {
                        commits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == ErrorKind::TransactionConflict => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }

    // Readers: every snapshot conserves money, by scan and inside transactions.
    for _ in 0..READERS {
        let (db, stop, checks) = (db.clone(), stop.clone(), checks.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (sum, n) = total(db.prefix(b"acct/").unwrap());
                assert_eq!(
                    (sum, n),
                    (money, ACCOUNTS),
                    "a scan saw money appear or vanish"
                );
                let tx = db.begin().unwrap();
                let (sum, _) = total(tx.range(KeyRange::prefix(b"acct/")).unwrap());
                assert_eq!(sum, money, "a transaction's snapshot is not consistent");
                checks.fetch_add(2, Ordering::Relaxed);
            }
        }));
    }

    // A slow reader holding one iterator open across many compactions.
    {
        let (db, stop, checks) = (db.clone(), stop.clone(), checks.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut sum = 0;
                for item in db.prefix(b"acct/").unwrap() {
                    let (_, v) = item.unwrap();
                    sum += balance(&v);
                    std::thread::sleep(Duration::from_millis(2));
                }
                assert_eq!(sum, money, "a held-open iterator changed under compaction");
                checks.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // Maintenance without pause.
    let backups = tmp.path().join("backups");
    {
        let (db, stop) = (db.clone(), stop.clone());
        let backups = backups.clone();
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                db.compact().unwrap();
                db.checkpoint().unwrap();
                if n % 5 == 0 {
                    db.backup(backups.join(format!("{n}"))).unwrap();
                }
                n += 1;
            }
        }));
    }

    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }

    let stats = db.stats().unwrap();
    let commits = commits.load(Ordering::Relaxed);
    assert_eq!(stats.commits, commits, "{stats:?}");
    assert!(
        stats.fsyncs < stats.commits,
        "no commits were grouped: {stats:?}"
    );
    let mut expected = finals.lock().unwrap().clone();
    let (sum, _) = total(db.prefix(b"acct/").unwrap());
    assert_eq!(sum, money);
    for item in db.prefix(b"acct/").unwrap() {
        let (k, v) = item.unwrap();
        expected.insert(k, v);
    }
    db.close().unwrap();

    let db = Database::open(&dir, config()).unwrap();
    let got: BTreeMap<Vec<u8>, Vec<u8>> = db.iter().unwrap().map(|i| i.unwrap()).collect();
    assert!(
        got == expected,
        "the reopened database differs from what was acknowledged"
    );
    assert!(db.verify().unwrap().is_clean());
    // Every completed backup is a consistent snapshot of its own.
    let mut backups_checked = 0;
    for entry in std::fs::read_dir(&backups).unwrap() {
        let b = Database::open(entry.unwrap().path(), config()).unwrap();
        assert_eq!(total(b.prefix(b"acct/").unwrap()).0, money);
        assert!(b.verify().unwrap().is_clean());
        backups_checked += 1;
    }
    eprintln!(
        "stress: {commits} commits with {} fsyncs, {} conflicts retried, {} snapshot checks, \
         {} compactions, {backups_checked} backups checked",
        stats.fsyncs,
        conflicts.load(Ordering::Relaxed),
        checks.load(Ordering::Relaxed),
        stats.compactions,
    );
}
