//! Point reads with the value cache and without it (`cache_size` 0), over
//! random 24-byte keys with values of a given size, all in the page cache and
//! read from a checkpoint. Each is timed over many rounds, so the cache is as
//! full as its admission policy makes it; prints ns per get of the last rounds.
//!
//! `cargo run --release -p lightning-db --example value_cache [keys] [value bytes] [rounds]`

use std::time::Instant;

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

use lightning_db::{Config, Database, SyncMode};

/// ns per get of each round.
fn rounds(cache_size: usize, keys: &[[u8; 24]], value: &[u8], rounds: usize) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        sync_mode: SyncMode::Off,
        cache_size,
        ..Default::default()
    };
    let db = Database::create(dir.path(), config).unwrap();
    for chunk in keys.chunks(1000) {
        let mut tx = db.begin().unwrap();
        for k in chunk {
            tx.put(k, value).unwrap();
        }
        tx.commit().unwrap();
    }
    db.checkpoint().unwrap();
    let mut order = keys.to_vec();
    order.shuffle(&mut StdRng::seed_from_u64(9));
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            let mut sum = 0u64;
            for k in &order {
                sum += u64::from(db.get(k).unwrap().unwrap()[0]);
            }
            assert!(sum > 0);
            t.elapsed().as_secs_f64() * 1e9 / order.len() as f64
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(50_000, |s| s.parse().expect("keys"));
    let size: usize = args.next().map_or(150, |s| s.parse().expect("value bytes"));
    let count: usize = args.next().map_or(30, |s| s.parse().expect("rounds"));
    let mut rng = StdRng::seed_from_u64(7);
    let keys: Vec<[u8; 24]> = (0..n).map(|_| rng.random()).collect();
    let value = vec![7u8; size];
    for (name, cache) in [("64 MiB cache", 64 << 20), ("no cache", 0)] {
        let times = rounds(cache, &keys, &value, count);
        let last: Vec<String> = times[count.saturating_sub(3)..]
            .iter()
            .map(|t| format!("{t:.0}"))
            .collect();
        println!(
            "{n} keys, {size}-byte values, {name}: {} ns per get (last rounds)",
            last.join(" ")
        );
    }
}
