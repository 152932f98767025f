//! Measures what the README states about keys in RAM and open time:
//! resident memory per key of the index, and the time to open a database of N
//! keys by replaying its log, from its checkpoint, and from its checkpoint with
//! a tail of 1,000 single-put commits written after it.
//!
//! `cargo run --release -p lightning-db --example open_time [N]` (default 1,000,000;
//! random 24-byte keys, 150-byte values, as in the benchmark).

use std::time::Instant;

use lightning_db::{Config, Database, SyncMode, WriteBatch};
use rand::{Rng, SeedableRng};

/// Single-put commits written after the checkpoint for the last open.
const TAIL_COMMITS: usize = 1_000;

/// Anonymous resident memory (heap), leaving out mapped segment files.
fn anon_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Runs in a fresh process so that the heap holds nothing but the opened index.
fn measure_open(path: &str, checkpoint: bool) -> Result<(), lightning_db::Error> {
    let cfg = Config {
        sync_mode: SyncMode::Off,
        cache_size: 0,
        auto_compact: false,
        ..Config::default()
    };
    let before = anon_rss_bytes();
    let t = Instant::now();
    let db = Database::open(path, cfg)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let ram = anon_rss_bytes().saturating_sub(before);
    println!("{ms} {ram} {}", db.len()?);
    if checkpoint {
        db.checkpoint()?;
    }
    Ok(())
}

fn open_in_child(path: &std::path::Path, checkpoint: bool) -> (f64, u64, u64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--measure-open",
            path.to_str().unwrap(),
            if checkpoint { "checkpoint" } else { "" },
        ])
        .output()
        .expect("run measurement child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.split_whitespace();
    let mut next = || {
        f.next()
            .unwrap_or_else(|| panic!("child failed: {text}"))
            .parse::<f64>()
            .unwrap()
    };
    (next(), next() as u64, next() as u64)
}

fn main() -> Result<(), lightning_db::Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure-open") {
        return measure_open(
            &args[2],
            args.get(3).map(String::as_str) == Some("checkpoint"),
        );
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("temporary directory");
    // LDB_KEEP_DIR keeps the database for profiling the open by hand.
    let path = match std::env::var_os("LDB_KEEP_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => tmp.path().join("db"),
    };
    let cfg = Config {
        sync_mode: SyncMode::Off,
        cache_size: 0,
        auto_compact: false,
        ..Config::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    {
        let db = Database::create(&path, cfg.clone())?;
        let mut batch = WriteBatch::new();
        let mut value = [0u8; 150];
        for i in 0..n {
            let key: [u8; 24] = rng.random();
            rng.fill(&mut value[..]);
            batch.put(key.to_vec(), value.to_vec());
            if batch.len() == 10_000 || i + 1 == n {
                db.write(&batch)?;
                batch.clear();
            }
        }
        db.close()?;
    }
    // Close wrote a checkpoint of the changes; without it the first open
    // replays the whole log, as a database's first open after a crash
    // before any checkpoint does.
    for file in ["index.ckpt", "index.delta", "index.delta2"] {
        match std::fs::remove_file(path.join(file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("remove {file}: {e}"),
            _ => {}
        }
    }

    let (replay_ms, replay_ram, keys) = open_in_child(&path, true);
    let (checkpoint_ms, checkpoint_ram, keys_again) = open_in_child(&path, false);
    assert_eq!(keys, keys_again);
    {
        let db = Database::open(&path, cfg)?;
        let mut value = [0u8; 150];
        for _ in 0..TAIL_COMMITS {
            let key: [u8; 24] = rng.random();
            rng.fill(&mut value[..]);
            db.put(&key, &value)?;
        }
        db.close()?;
    }
    let (tail_ms, tail_ram, keys_after_tail) = open_in_child(&path, false);
    assert_eq!(keys_after_tail, keys + TAIL_COMMITS as u64);
    println!(
        "| keys | open, replaying the log | open, from checkpoint | from checkpoint + {TAIL_COMMITS} \
         commits | heap per key: replay / checkpoint / checkpoint + tail |"
    );
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {keys} | {replay_ms:.0} ms | {checkpoint_ms:.1} ms | {tail_ms:.1} ms | {} B / {} B / {} B |",
        replay_ram / keys.max(1),
        checkpoint_ram / keys.max(1),
        tail_ram / keys.max(1),
    );
    Ok(())
}
