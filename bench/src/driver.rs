//! Runs each engine's phases in child processes and gathers their results.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report;

/// Results of one engine: row id -> number (milliseconds, bytes, ...).
#[derive(Default)]
pub struct EngineRun {
    pub engine: String,
    pub values: HashMap<String, f64>,
    /// Phases whose child failed; their rows are missing.
    pub failed: Vec<String>,
    pub wall: Duration,
}

impl EngineRun {
    /// Keeps the lower of each number (every row is lower-is-better), and every
    /// failure.
    fn merge(&mut self, other: EngineRun) {
        for (row, v) in other.values {
            let best = self.values.entry(row).or_insert(v);
            *best = best.min(v);
        }
        self.failed.extend(other.failed);
        self.wall += other.wall;
    }

    pub fn get(&self, row: &str) -> Option<f64> {
        self.values.get(row).copied()
    }
}

/// Flushes dirty pages and drops the clean ones, so that no engine starts with
/// another's files in the page cache. Needs root and a writable /proc/sys.
fn drop_page_cache() -> bool {
    let synced = Command::new("sync").status().is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

fn run_phase(run: &mut EngineRun, n: usize, dir: &Path, phase: &str, extra: &[&str]) -> bool {
    let exe = std::env::current_exe().expect("path of this executable");
    let n = n.to_string();
    let mut args = vec![
        "--child",
        "--engine",
        &run.engine,
        "--phase",
        phase,
        "--n",
        &n,
        "--dir",
        dir.to_str().expect("UTF-8 directory"),
    ];
    args.extend_from_slice(extra);
    eprintln!("{} {phase} {}", run.engine, extra.join(" "));
    let out = Command::new(exe)
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn the benchmark child");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = line.split_whitespace();
        if let (Some("RESULT"), Some(row), Some(v)) = (f.next(), f.next(), f.next()) {
            if let Ok(v) = v.parse() {
                run.values.insert(row.to_string(), v);
            }
        }
    }
    if !out.status.success() {
        eprintln!("{} {phase} failed: {}", run.engine, out.status);
        run.failed.push(phase.to_string());
    }
    out.status.success()
}

/// Runs every engine at `n` keys, `rounds` times, keeping each row's best.
fn run_rounds(
    n: usize,
    dir: &Path,
    engines: &[String],
    rounds: usize,
    page_cache_dropped: bool,
) -> Vec<EngineRun> {
    // Rounds go over all engines in turn, so that a burst of load from other
    // processes on this shared machine lands on one round of every engine rather
    // than on every round of one; each row keeps the best of its rounds.
    let mut runs: Vec<EngineRun> = engines
        .iter()
        .map(|e| EngineRun {
            engine: e.clone(),
            ..Default::default()
        })
        .collect();
    for round in 1..=rounds {
        eprintln!("{n} keys: round {round} of {rounds}");
        for best in runs.iter_mut() {
            let run = run_engine(n, dir, &best.engine, page_cache_dropped);
            best.merge(run);
        }
    }
    runs
}

/// Prepares `dir` and says whether the page cache can be dropped between
/// engines.
fn prepare(dir: &Path) -> bool {
    std::fs::create_dir_all(dir).expect("create the benchmark directory");
    let page_cache_dropped = drop_page_cache();
    eprintln!(
        "data in {}; page cache {}",
        dir.display(),
        if page_cache_dropped {
            "dropped between engines"
        } else {
            "NOT dropped (no permission)"
        }
    );
    page_cache_dropped
}

fn write_report(text: &str, out: Option<&Path>) {
    println!("{text}");
    if let Some(out) = out {
        if let Some(parent) = out.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(out, text).expect("write the report");
        eprintln!("wrote {}", out.display());
    }
}

pub fn run(n: usize, dir: &Path, engines: &[String], rounds: usize, out: Option<&Path>) {
    let started = Instant::now();
    let page_cache_dropped = prepare(dir);
    let runs = run_rounds(n, dir, engines, rounds, page_cache_dropped);
    let text = report::markdown(n, dir, &runs, rounds, page_cache_dropped, started.elapsed());
    write_report(&text, out);
}

/// Runs the engines at each size in `sizes` and reports how each row's cost
/// per operation grows with the number of keys.
pub fn scale(sizes: &[usize], dir: &Path, engines: &[String], rounds: usize, out: Option<&Path>) {
    let started = Instant::now();
    let page_cache_dropped = prepare(dir);
    let runs: Vec<Vec<EngineRun>> = sizes
        .iter()
        .map(|&n| run_rounds(n, dir, engines, rounds, page_cache_dropped))
        .collect();
    let text = report::scale_markdown(sizes, dir, &runs, rounds, started.elapsed());
    write_report(&text, out);
}

fn run_engine(n: usize, dir: &Path, engine: &str, page_cache_dropped: bool) -> EngineRun {
    let engine_dir = dir.join(engine);
    let _ = std::fs::remove_dir_all(&engine_dir);
    if page_cache_dropped {
        drop_page_cache();
    }
    let t = Instant::now();
    let mut run = EngineRun {
        engine: engine.to_string(),
        ..Default::default()
    };
    if run_phase(&mut run, n, &engine_dir, "write", &[]) {
        if crate::engines::is_lightning(engine) {
            // The first open is the one after a plain close() (which writes a
            // checkpoint if many keys changed since the last one, and leaves
            // the log after it to replay); it then checkpoints, and the second
            // open loads that checkpoint alone.
            run_phase(
                &mut run,
                n,
                &engine_dir,
                "open",
                &["--row", "open", "--checkpoint"],
            );
            run_phase(
                &mut run,
                n,
                &engine_dir,
                "open",
                &["--row", "open_checkpoint"],
            );
        } else {
            run_phase(&mut run, n, &engine_dir, "open", &["--row", "open"]);
        }
        run_phase(&mut run, n, &engine_dir, "read", &[]);
    }
    run.wall = t.elapsed();
    eprintln!("{engine}: {:.0} s", run.wall.as_secs_f64());
    let _ = std::fs::remove_dir_all(&engine_dir);
    run
}
