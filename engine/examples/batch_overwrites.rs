//! Large commits that overwrite the same keys, each timed: the Python
//! benchmark's batched put (200,000 puts of 150 bytes a commit) from Rust, in
//! `SyncMode::Off`, with background compaction and checkpoints as configured
//! by default. Prints each commit's time, so that the commits that meet a
//! compaction or an index file stand out.
//!
//! `RUST_LOG=lightning_db=debug cargo run --release -p lightning-db --example batch_overwrites [keys] [commits] [no-compaction]`

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};

use lightning_db::{Config, Database, Op, SyncMode};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(200_000, |s| s.parse().expect("keys"));
    let commits: usize = args.next().map_or(12, |s| s.parse().expect("commits"));
    let auto_compact = args.next().is_none_or(|s| s != "no-compaction");
    let _ = env_logger::Builder::from_default_env()
        .format_timestamp_millis()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        sync_mode: SyncMode::Off,
        auto_compact,
        ..Default::default()
    };
    // Random 24-byte keys, as in the benchmark.
    let mut rng = StdRng::seed_from_u64(7);
    let keys: Vec<[u8; 24]> = (0..n).map(|_| rng.random()).collect();
    let value = [7u8; 150];
    let ops: Vec<Op<'_>> = keys.iter().map(|k| (&k[..], Some(&value[..]))).collect();
    let db = Database::create(dir.path(), config).unwrap();
    let mut times = Vec::with_capacity(commits);
    for i in 0..commits {
        let t = Instant::now();
        db.write_ops(&ops).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        times.push(ms);
        log::info!("commit {i}: {ms:.0} ms");
        if !log::log_enabled!(log::Level::Info) {
            eprintln!("commit {i}: {ms:.0} ms");
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{commits} commits of {n} puts: median {:.0} ms, slowest {:.0} ms",
        times[commits / 2],
        times[commits - 1]
    );
}
