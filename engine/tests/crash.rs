//! Crash consistency: a child process commits and acknowledges each commit on
//! stdout; the parent kills it with SIGKILL at a random moment, reopens the
//! database and checks that every acknowledged commit is there, that no batch or
//! transaction is half-applied, that the state is a prefix of the commit order,
//! and that verify() is clean. Repeated over many cycles, rotating sync modes and
//! workloads (single puts, batches, transactions, concurrent writers, with
//! checkpoints and compactions in between, and in half the modes a thread that
//! compacts, checkpoints and backs up without pause). The last backup the child
//! reported complete before the kill must open as a consistent prefix too.
//!
//! What each sync mode promises against a killed process (power loss is
//! tests/power_loss.rs): all three hand every commit to the kernel before
//! acknowledging it, so every acknowledged commit survives and the state is a
//! prefix of each writer's commit order.
//!
//! `LDB_CRASH_CYCLES=2000 cargo test --release --test crash` for a long soak.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning_db::{Config, Database, SyncMode, WriteBatch};
use rand::Rng;

const WRITERS: usize = 2;

fn config(mode: u32) -> Config {
    Config {
        sync_mode: [SyncMode::Full, SyncMode::Normal, SyncMode::Off][mode as usize % 3],
        segment_size: 32 * 1024,
        compaction_min_dead_bytes: 16 * 1024,
        ..Config::default()
    }
}

fn value(writer: usize, i: u64) -> Vec<u8> {
    format!("w{writer}-i{i}-")
        .repeat(1 + (i % 7) as usize)
        .into_bytes()
}

/// Commit `i` of `writer`: kind rotates between a single put (`i % 3 == 0`), a batch
/// (`1`) and a transaction (`2`). Every commit writes `w{writer}/{i}/0`; batches and
/// transactions also write `/1` to `/3`, and each transaction deletes key `/3` of
/// the batch just before it, so deletes are crash-tested too.
fn commit(db: &Database, writer: usize, i: u64) -> lightning_db::Result<()> {
    let v = value(writer, i);
    match i % 3 {
        0 => db.put(&key(writer, i, 0), &v),
        1 => {
            let mut b = WriteBatch::new();
            for j in 0..4 {
                b.put(key(writer, i, j), v.clone());
            }
            db.write(&b)
        }
        _ => {
            let mut tx = db.begin()?;
            for j in 0..4 {
                tx.put(&key(writer, i, j), &v)?;
            }
            tx.delete(&key(writer, i - 1, 3))?;
            tx.commit()
        }
    }
}

fn key(writer: usize, i: u64, j: u32) -> Vec<u8> {
    format!("w{writer}/{i:08}/{j}").into_bytes()
}

/// Checks the commits of `writer` and returns how many are present.
fn check_writer(db: &Database, writer: usize, acked: u64) -> u64 {
    let mut n = 0;
    while db.get(&key(writer, n, 0)).unwrap().is_some() {
        n += 1;
    }
    assert!(
        n >= acked,
        "writer {writer}: commit {n} missing although {acked} were acknowledged"
    );
    for i in 0..n + 5 {
        let got: Vec<Option<Vec<u8>>> = (0..4)
            .map(|j| db.get(&key(writer, i, j)).unwrap())
            .collect();
        let v = Some(value(writer, i));
        let expect: Vec<Option<Vec<u8>>> = if i >= n {
            vec![None; 4] // the state is a prefix of the commit order: no holes
        } else {
            match i % 3 {
                0 => vec![v, None, None, None],
                1 => {
                    let deleted = i + 1 < n;
                    vec![
                        v.clone(),
                        v.clone(),
                        v.clone(),
                        if deleted { None } else { v },
                    ]
                }
                _ => vec![v; 4],
            }
        };
        assert_eq!(
            got, expect,
            "writer {writer}, commit {i} of {n} (acknowledged {acked})"
        );
    }
    n
}

#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("LDB_CRASH_DIR") else {
        return;
    };
    let mode: u32 = std::env::var("LDB_CRASH_MODE").unwrap().parse().unwrap();
    let starts: Vec<u64> = std::env::var("LDB_CRASH_START")
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let db = Arc::new(Database::create(&dir, config(mode)).unwrap());
    let writers = if mode % 2 == 0 { 1 } else { WRITERS };
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let db = db.clone();
            let start = starts[w];
            std::thread::spawn(move || {
                let stdout = std::io::stdout();
                for i in start.. {
                    commit(&db, w, i).unwrap();
                    {
                        use std::io::Write;
                        let mut out = stdout.lock();
                        writeln!(out, "ACK {w} {i}").unwrap();
                        out.flush().unwrap();
                    }
                    if w == 0 && i % 97 == 0 {
                        db.checkpoint().unwrap();
                    }
                    if w == 0 && i % 251 == 0 {
                        db.compact().unwrap();
                    }
                }
            })
        })
        .collect();
    // In half the modes a maintenance thread compacts and checkpoints without
    // pause, so that many kills land in the middle of one.
    if mode >= 3 {
        let backups = std::env::var("LDB_CRASH_BACKUPS").unwrap();
        for n in 0.. {
            db.compact().unwrap();
            db.checkpoint().unwrap();
            if n % 4 == 0 {
                let to = Path::new(&backups).join(n.to_string());
                db.backup(&to).unwrap();
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                writeln!(out, "BACKUP {}", to.display()).unwrap();
                out.flush().unwrap();
            }
        }
    }
    for t in threads {
        t.join().unwrap();
    }
}

/// What the parent learnt from a child before killing it.
struct Cycle {
    /// Per writer: commits acknowledged (counting from 0).
    acked: Vec<u64>,
    /// The last backup reported complete.
    backup: Option<String>,
}

fn run_cycle(dir: &Path, backups: &Path, mode: u32, starts: &[u64], rng: &mut impl Rng) -> Cycle {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("LDB_CRASH_DIR", dir)
        .env("LDB_CRASH_MODE", mode.to_string())
        .env("LDB_CRASH_BACKUPS", backups)
        .env(
            "LDB_CRASH_START",
            starts
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let event = if let Some(rest) = line.strip_prefix("ACK ") {
                let mut parts = rest.split(' ');
                let w: usize = parts.next().unwrap().parse().unwrap();
                let i: u64 = parts.next().unwrap().parse().unwrap();
                Event::Ack(w, i)
            } else if let Some(path) = line.strip_prefix("BACKUP ") {
                Event::Backup(path.to_string())
            } else {
                continue;
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    // Wait until the child has started committing, then let it run a random while.
    let mut cycle = Cycle {
        acked: starts.to_vec(),
        backup: None,
    };
    let mut note = |event| match event {
        Event::Ack(w, i) => cycle.acked[w] = cycle.acked[w].max(i + 1),
        Event::Backup(path) => cycle.backup = Some(path),
    };
    note(
        rx.recv_timeout(Duration::from_secs(60))
            .expect("child never acknowledged a commit"),
    );
    std::thread::sleep(Duration::from_millis(rng.random_range(0..120)));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    while let Ok(event) = rx.try_recv() {
        note(event);
    }
    cycle
}

enum Event {
    Ack(usize, u64),
    Backup(String),
}

/// A replay of the segments alone, without the index file (what recovery does
/// when that file is damaged), gives what `db` holds: a copy of the directory
/// without it, taken once `db` is closed, opened read-only.
fn assert_segments_alone_give(db: Database, dir: &Path, mode: u32) {
    let all = |db: &Database| -> Vec<_> { db.iter().unwrap().map(|r| r.unwrap()).collect() };
    let expected = all(&db);
    drop(db);
    let copy = dir.with_extension("replayed");
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().ends_with(".seg") {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    let read_only = Config {
        read_only: true,
        ..config(mode)
    };
    let replayed = Database::open(&copy, read_only).unwrap();
    assert!(
        all(&replayed) == expected,
        "the segments alone give another database ({} keys against {})",
        replayed.len().unwrap(),
        expected.len()
    );
    drop(replayed);
    std::fs::remove_dir_all(&copy).unwrap();
}

#[test]
fn acknowledged_commits_survive_kill_9() {
    let cycles: usize = std::env::var("LDB_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(204);
    let root = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let started = Instant::now();
    let mut checked = 0u64;
    let mut backups_checked = 0;
    for mode in 0..6u32 {
        let dir = root.path().join(format!("db-{mode}"));
        let writers = if mode % 2 == 0 { 1 } else { WRITERS };
        let mut starts = vec![0u64; WRITERS];
        for c in 0..cycles / 6 {
            let backups = root.path().join(format!("backups-{mode}-{c}"));
            let cycle = run_cycle(&dir, &backups, mode, &starts, &mut rng);
            let db = Database::open(&dir, config(mode)).unwrap();
            for (w, start) in starts.iter_mut().enumerate().take(writers) {
                checked += cycle.acked[w] - *start;
                *start = check_writer(&db, w, cycle.acked[w]);
            }
            let report = db.verify().unwrap();
            assert!(report.is_clean(), "{report:?}");
            if let Some(backup) = cycle.backup {
                let b = Database::open(&backup, config(mode)).unwrap();
                for w in 0..writers {
                    check_writer(&b, w, 0);
                }
                assert!(b.verify().unwrap().is_clean());
                backups_checked += 1;
            }
            assert_segments_alone_give(db, &dir, mode);
            let _ = std::fs::remove_dir_all(&backups);
        }
    }
    eprintln!(
        "{cycles} kill -9 cycles, {checked} acknowledged commits checked, \
         {backups_checked} backups checked, in {:?}",
        started.elapsed()
    );
}
