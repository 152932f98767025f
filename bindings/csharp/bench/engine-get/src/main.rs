//! Prints the Rust engine's own random-get rate (operations per second) on the C#
//! benchmark's workload: `n` random 24-byte keys with 150-byte values, `n` gets of
//! present keys in random order, best of three rounds. The C# benchmark prints its
//! own get rate beside this one, measured in the same run.

use std::time::Instant;

use lightning_db::{Config, Database, SyncMode, WriteBatch};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(200_000, |s| s.parse().expect("a key count"));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bytes = |len: usize| -> Vec<u8> { (0..len).map(|_| next() as u8).collect() };
    let keys: Vec<Vec<u8>> = (0..n).map(|_| bytes(24)).collect();
    let values: Vec<Vec<u8>> = (0..n).map(|_| bytes(150)).collect();
    let lookups: Vec<&[u8]> = (0..n)
        .map(|i| keys[(i * 7919 + 13) % n].as_slice())
        .collect();

    let dir = std::env::temp_dir().join(format!("ldb-cs-bench-engine-{}", std::process::id()));
    let config = Config {
        sync_mode: SyncMode::Off,
        ..Config::default()
    };
    let db = Database::create(&dir, config).expect("create");
    for chunk in keys.iter().zip(&values).collect::<Vec<_>>().chunks(1000) {
        let mut batch = WriteBatch::new();
        for (k, v) in chunk {
            batch.put(k.as_slice(), v.as_slice());
        }
        db.write(&batch).expect("write");
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for key in &lookups {
            assert!(db.get(key).expect("get").is_some());
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    println!("{:.0}", n as f64 / best);
}
