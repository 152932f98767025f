//! Short ranges over a database small enough to stay in the CPU's caches:
//! the CPU cost of a range, apart from the memory misses that the benchmark's
//! million keys add. Prints the time per range of 10.
//!
//! `cargo run --release -p lightning-db --example range_in_cache [keys] [rounds]`

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};

use lightning_db::{Config, Database, KeyRange, SyncMode};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(20_000, |s| s.parse().expect("keys"));
    let rounds: usize = args.next().map_or(50, |s| s.parse().expect("rounds"));
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        sync_mode: SyncMode::Off,
        ..Default::default()
    };
    // Random 24-byte keys, as in the benchmark.
    let mut rng = StdRng::seed_from_u64(7);
    let keys: Vec<[u8; 24]> = (0..n).map(|_| rng.random()).collect();
    {
        let db = Database::create(dir.path(), config.clone()).unwrap();
        let mut tx = db.begin().unwrap();
        for k in &keys {
            tx.put(k, &[7u8; 150]).unwrap();
        }
        tx.commit().unwrap();
        db.checkpoint().unwrap();
    }
    // Opened from the checkpoint: every key is in the index file.
    let db = Database::create(dir.path(), config).unwrap();
    let t = Instant::now();
    let mut sum = 0u64;
    for _ in 0..rounds {
        for k in &keys[..n / 2] {
            let mut range = db.range(KeyRange::from(&k[..])).unwrap();
            for _ in 0..10 {
                let Some(first) = range.next_with(|_, v| v[0]) else {
                    break;
                };
                sum += u64::from(first.unwrap());
            }
        }
    }
    let per = t.elapsed().as_secs_f64() * 1e9 / (rounds * (n / 2)) as f64;
    println!("{n} keys: {per:.0} ns per range of 10 (checksum {sum})");
}
