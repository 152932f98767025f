//! Short ranges through each of the key index's paths, over random 24-byte
//! keys with 150-byte values written in commits of 1,000: the keys only in
//! memory (no checkpoint yet), only in the index file (just opened from a
//! checkpoint), in both (writes since the checkpoint), and the same writes in
//! a delta over the file instead (checkpointed, reopened). Prints the time
//! per range of 10 for each.
//!
//! `cargo run --release -p lightning-db --example range_paths [keys] [rounds]`

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};

use lightning_db::{Config, Database, KeyRange, SyncMode};

fn write(db: &Database, keys: &[[u8; 24]]) {
    for chunk in keys.chunks(1000) {
        let mut tx = db.begin().unwrap();
        for k in chunk {
            tx.put(k, &[7u8; 150]).unwrap();
        }
        tx.commit().unwrap();
    }
}

/// Nanoseconds per range of 10 from each of `starts`, best of `rounds`.
fn ranges(db: &Database, starts: &[[u8; 24]], rounds: usize) -> f64 {
    let mut best = f64::MAX;
    let mut sum = 0u64;
    for _ in 0..rounds {
        let t = Instant::now();
        for k in starts {
            let mut range = db.range(KeyRange::from(&k[..])).unwrap();
            range.will_take(10);
            for _ in 0..10 {
                let Some(first) = range.next_with(|_, v| v[0]) else {
                    break;
                };
                sum += u64::from(first.unwrap());
            }
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e9 / starts.len() as f64);
    }
    assert!(sum > 0);
    best
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1_000_000, |s| s.parse().expect("keys"));
    let rounds: usize = args.next().map_or(3, |s| s.parse().expect("rounds"));
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        sync_mode: SyncMode::Off,
        ..Default::default()
    };
    let mut rng = StdRng::seed_from_u64(7);
    let keys: Vec<[u8; 24]> = (0..n).map(|_| rng.random()).collect();
    let later: Vec<[u8; 24]> = (0..n / 10).map(|_| rng.random()).collect();
    let starts: Vec<[u8; 24]> = (0..200_000).map(|_| keys[rng.random_range(0..n)]).collect();
    {
        let db = Database::create(dir.path(), config.clone()).unwrap();
        write(&db, &keys);
        let memory = ranges(&db, &starts, rounds);
        println!("{n} keys in memory: {memory:.0} ns per range of 10");
        db.checkpoint().unwrap();
    }
    let db = Database::create(dir.path(), config.clone()).unwrap();
    let file = ranges(&db, &starts, rounds);
    println!("{n} keys in the index file: {file:.0} ns per range of 10");
    write(&db, &later);
    let both = ranges(&db, &starts, rounds);
    println!(
        "{n} keys in the file, {} written since: {both:.0} ns per range of 10",
        later.len()
    );
    db.checkpoint().unwrap();
    db.close().unwrap();
    let db = Database::open(dir.path(), config).unwrap();
    let delta = ranges(&db, &starts, rounds);
    println!(
        "{n} keys in the file, {} in a delta over it: {delta:.0} ns per range of 10",
        later.len()
    );
}
