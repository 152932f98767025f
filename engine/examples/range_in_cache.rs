//! Short ranges over a database small enough to stay in the CPU's caches:
//! the CPU cost of a range, apart from the memory misses that the benchmark's
//! million keys add. Prints the time per range of 10.
//!
//! `cargo run --release -p lightning-db --example range_in_cache [keys] [rounds]`

use std::time::Instant;

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
    // Random 24-byte keys and 150-byte values, as in the benchmark (xorshift).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let keys: Vec<[u8; 24]> = (0..n)
        .map(|_| {
            let mut k = [0u8; 24];
            for part in k.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                part.copy_from_slice(&x.to_le_bytes());
            }
            k
        })
        .collect();
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
