//! The Markdown report: the table, Lightning DB's standing, each engine's
//! durable configuration, the machine and the method.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::driver::EngineRun;
use crate::engines;
use crate::store::{KEY_SIZE, VALUE_SIZE};
use crate::workload;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ms,
    Bytes,
    BytesPerKey,
    Multiple,
}

struct Row {
    id: &'static str,
    label: String,
    kind: Kind,
    /// Peers' values come from this row (for rows only Lightning DB has).
    peer_id: &'static str,
    /// Part of the goal "lead every timing row".
    timing: bool,
}

fn rows(n: usize) -> Vec<Row> {
    let row = |id, label: String, kind, timing| Row {
        id,
        label,
        kind,
        peer_id: id,
        timing,
    };
    let k = |x: usize| count(x as u64);
    let loaded = workload::loaded_keys(n);
    vec![
        row(
            "bulk_load",
            if n > workload::BULK_COMMIT {
                format!(
                    "bulk load ({} puts, commits of {})",
                    k(n),
                    k(workload::BULK_COMMIT)
                )
            } else {
                format!("bulk load ({} puts, 1 commit)", k(n))
            },
            Kind::Ms,
            true,
        ),
        row(
            "individual_writes",
            format!(
                "individual writes ({} commits of 1 put)",
                k(workload::INDIVIDUAL_WRITES)
            ),
            Kind::Ms,
            true,
        ),
        row(
            "batch_writes",
            format!(
                "batch writes ({} commits of {} puts)",
                workload::BATCHES,
                k(workload::BATCH_SIZE)
            ),
            Kind::Ms,
            true,
        ),
        row("len", "len()".into(), Kind::Ms, true),
        row(
            "random_reads",
            format!("random reads ({} gets)", k(n)),
            Kind::Ms,
            true,
        ),
        row(
            "random_reads_again",
            "random reads, again".into(),
            Kind::Ms,
            true,
        ),
        row(
            "range_reads",
            format!(
                "random range reads ({} ranges of {})",
                k(n / 2),
                workload::SCAN_LEN
            ),
            Kind::Ms,
            true,
        ),
        row("reads_2t", "random reads, 2 threads".into(), Kind::Ms, true),
        row("reads_4t", "random reads, 4 threads".into(), Kind::Ms, true),
        row("reads_8t", "random reads, 8 threads".into(), Kind::Ms, true),
        row(
            "removals",
            format!("removals ({} deletes, 1 commit)", k(n / 2)),
            Kind::Ms,
            true,
        ),
        row("compaction", "compaction".into(), Kind::Ms, true),
        row("close", "close() after the writes".into(), Kind::Ms, true),
        row(
            "open",
            format!("open {} keys + 1 get after close()", k(loaded)),
            Kind::Ms,
            true,
        ),
        Row {
            id: "open_checkpoint",
            label: "open after checkpoint() + 1 get (Lightning only)".into(),
            kind: Kind::Ms,
            peer_id: "open",
            timing: true,
        },
        row(
            "size_before",
            "size on disk before compaction".into(),
            Kind::Bytes,
            false,
        ),
        row(
            "size_after",
            "size on disk after compaction".into(),
            Kind::Bytes,
            false,
        ),
        row(
            "alloc_before",
            "allocated blocks before compaction".into(),
            Kind::Bytes,
            false,
        ),
        row(
            "alloc_after",
            "allocated blocks after compaction".into(),
            Kind::Bytes,
            false,
        ),
        row(
            "size_after_live",
            format!(
                "size after compaction ÷ live data ({} keys × {} B)",
                k(workload::live_keys_at_end(n)),
                KEY_SIZE + VALUE_SIZE
            ),
            Kind::Multiple,
            false,
        ),
        row(
            "open_ram_per_key",
            "heap after open, per key".into(),
            Kind::BytesPerKey,
            false,
        ),
        Row {
            id: "open_checkpoint_ram_per_key",
            label: "heap after open from checkpoint, per key".into(),
            kind: Kind::BytesPerKey,
            peer_id: "open_ram_per_key",
            timing: false,
        },
        row(
            "peak_rss_write",
            "peak RSS, write phase".into(),
            Kind::Bytes,
            false,
        ),
        row(
            "peak_rss_read",
            "peak RSS, read phase".into(),
            Kind::Bytes,
            false,
        ),
    ]
}

/// 1000000 -> "1,000,000".
fn count(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn format_value(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Ms if v >= 100.0 => format!("{} ms", count(v.round() as u64)),
        Kind::Ms if v >= 10.0 => format!("{v:.1} ms"),
        Kind::Ms if v >= 0.1 => format!("{v:.2} ms"),
        Kind::Ms => format!("{:.1} µs", v * 1e3),
        Kind::Bytes => format!("{:.1} MiB", v / 1048576.0),
        Kind::BytesPerKey => format!("{v:.0} B"),
        Kind::Multiple => format!("{v:.2}×"),
    }
}

fn value(run: &EngineRun, row: &str, n: usize) -> Option<f64> {
    if row == "size_after_live" {
        let live = (workload::live_keys_at_end(n) * (KEY_SIZE + VALUE_SIZE)) as f64;
        return run.get("size_after").map(|s| s / live);
    }
    run.get(row)
}

struct Standing {
    label: String,
    ratio: f64,
    timing: bool,
}

pub fn markdown(
    n: usize,
    dir: &Path,
    runs: &[EngineRun],
    rounds: usize,
    page_cache_dropped: bool,
    total: Duration,
) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "# Lightning DB against its peers, {} keys\n",
        count(n as u64)
    );
    let _ = writeln!(
        w,
        "{}; {}; total run time {:.1} min.\n",
        date(),
        machine(dir),
        total.as_secs_f64() / 60.0
    );

    let ours = runs.iter().find(|r| r.engine == "lightning");
    // Lightning DB through its C ABI is Lightning DB, not a peer: it gets a
    // ratio column of its own when it ran.
    let ours_c = runs.iter().find(|r| r.engine == "lightning-c");
    let peers: Vec<&EngineRun> = runs
        .iter()
        .filter(|r| !engines::is_lightning(&r.engine))
        .collect();
    let _ = write!(w, "| |");
    for r in runs {
        let _ = write!(w, " {} |", engines::title(&r.engine));
    }
    let _ = write!(w, " Lightning ÷ best peer |");
    if ours_c.is_some() {
        let _ = write!(w, " C ABI ÷ best peer |");
    }
    let _ = writeln!(w);
    let _ = write!(w, "|---|");
    for _ in runs {
        let _ = write!(w, "---:|");
    }
    let _ = write!(w, "---:|");
    if ours_c.is_some() {
        let _ = write!(w, "---:|");
    }
    let _ = writeln!(w);

    let mut standings = Vec::new();
    for row in rows(n) {
        // Rows with "after compaction" are n/a for engines without compaction.
        let cells: Vec<Option<f64>> = runs
            .iter()
            .map(|r| {
                let id = if engines::is_lightning(&r.engine) {
                    row.id
                } else {
                    row.peer_id
                };
                if row.id != row.peer_id && !engines::is_lightning(&r.engine) {
                    return None;
                }
                value(r, id, n)
            })
            .collect();
        let best_peer = peers
            .iter()
            .filter_map(|r| value(r, row.peer_id, n))
            .fold(None, |best: Option<f64>, v| {
                Some(best.map_or(v, |b| b.min(v)))
            });
        let best_all = cells
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let _ = write!(w, "| {} |", row.label);
        for (r, cell) in runs.iter().zip(&cells) {
            let text = match cell {
                Some(v) if *v == best_all => format!("**{}**", format_value(row.kind, *v)),
                Some(v) => format_value(row.kind, *v),
                None if row.id != row.peer_id && !engines::is_lightning(&r.engine) => "—".into(),
                None if r.failed.is_empty() => "n/a".into(),
                None => "failed".into(),
            };
            let _ = write!(w, " {text} |");
        }
        let ratio = match (ours.and_then(|o| value(o, row.id, n)), best_peer) {
            (Some(o), Some(b)) if b > 0.0 => Some(o / b),
            _ => None,
        };
        match ratio {
            Some(q) => {
                let _ = write!(w, " {q:.2} |");
                standings.push(Standing {
                    label: row.label.clone(),
                    ratio: q,
                    timing: row.timing,
                });
            }
            None => {
                let _ = write!(w, " — |");
            }
        }
        if let Some(c) = ours_c {
            match (value(c, row.id, n), best_peer) {
                (Some(o), Some(b)) if b > 0.0 => {
                    let _ = write!(w, " {:.2} |", o / b);
                }
                _ => {
                    let _ = write!(w, " — |");
                }
            }
        }
        let _ = writeln!(w);
    }

    let _ = writeln!(
        w,
        "\nTimes are wall-clock, each the best of {rounds} round(s); lower is better \
         everywhere; bold marks the best in a row. The last column is Lightning DB's number \
         divided by the best peer's (below 1.00 Lightning DB leads); when Lightning DB (C ABI) ran, \
         a further column gives its number divided by the same best peer. Rows of a few \
         microseconds (len() of engines that keep a count) are at the clock's noise.\n"
    );

    let timing: Vec<&Standing> = standings.iter().filter(|s| s.timing).collect();
    let mut trailing: Vec<&&Standing> = timing.iter().filter(|s| s.ratio > 1.0).collect();
    trailing.sort_by(|a, b| b.ratio.total_cmp(&a.ratio));
    let _ = writeln!(w, "## Where Lightning DB stands\n");
    let _ = writeln!(
        w,
        "- Leads {} of {} timing rows (ratio ≤ 1.00).",
        timing.len() - trailing.len(),
        timing.len()
    );
    if !trailing.is_empty() {
        let list: Vec<String> = trailing
            .iter()
            .map(|s| format!("{} ({:.2}×)", s.label, s.ratio))
            .collect();
        let _ = writeln!(w, "- Trails on: {}.", list.join("; "));
    }
    if let Some(x) = ours.and_then(|o| value(o, "size_after_live", n)) {
        let _ = writeln!(
            w,
            "- Size on disk after compaction is {x:.2}× the live data (goal: at most 1.20×)."
        );
    }
    for r in runs.iter().filter(|r| !r.failed.is_empty()) {
        let _ = writeln!(
            w,
            "- {}: phase(s) {} failed; see the run's stderr.",
            engines::title(&r.engine),
            r.failed.join(", ")
        );
    }

    let _ = writeln!(w, "\n## Durability and configuration of each engine\n");
    for r in runs {
        let _ = writeln!(
            w,
            "- **{}** ({}): {}",
            engines::title(&r.engine),
            versions(&r.engine),
            engines::config(&r.engine)
        );
    }

    let _ = writeln!(w, "\n## Method\n");
    let _ = writeln!(
        w,
        "- The workload of redb's `lmdb_benchmark`: random {KEY_SIZE}-byte keys and \
         {VALUE_SIZE}-byte values from a seeded generator, the same for every engine; every \
         commit durable (see above). Bulk load, individual writes and batch writes add \
         {} keys in all; the reads then get every bulk-loaded key once per row, in a \
         shuffled order unrelated to the insertion order (so no engine reads its log \
         sequentially), checking each value; range reads start at {} of those keys and \
         read {} entries each; threaded reads split the same gets between the threads, \
         each thread with its own read transaction; removals delete the first half of the \
         bulk load in one commit.",
        count(workload::loaded_keys(n) as u64),
        count((n / 2) as u64),
        workload::SCAN_LEN
    );
    let _ = writeln!(
        w,
        "- Each engine runs alone, in child processes of the driver, one phase per \
         process: write (bulk, individual, batch), open, then read (len, reads, ranges, \
         threads, removals, sizes, compaction). The reads therefore start from a freshly \
         opened database with the OS page cache as the writes left it. Engines ran one \
         after another on a 2-core machine; 4 and 8 threads oversubscribe it. The machine \
         is shared with other work (builds, tests), so each round runs every engine in turn \
         and each number is the best of the rounds; rows bound by fsync latency still vary \
         most between runs."
    );
    let _ = writeln!(
        w,
        "- OS page cache: {}.",
        if page_cache_dropped {
            "flushed and dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before each engine"
        } else {
            "NOT dropped: /proc/sys/vm/drop_caches was not writable here"
        }
    );
    let _ = writeln!(
        w,
        "- Open: time from nothing to a handle and the first key read back (so engines \
         that open lazily pay for it), in a fresh process. Heap after open: the growth of \
         anonymous RSS (RssAnon) across that open, divided by the {} keys; memory-mapped \
         file pages are not counted. Peak RSS: VmHWM of the phase's process (includes \
         mapped file pages touched).",
        count(workload::loaded_keys(n) as u64)
    );
    let _ = writeln!(
        w,
        "- Size on disk: the sum of file lengths in the database directory; allocated \
         blocks: the sum of st_blocks × 512 (differs where files are preallocated or \
         sparse). Engines without a compaction call show n/a after it."
    );
    let _ = writeln!(
        w,
        "- Peers' caches are set to 4 GiB where they have one (as redb's lmdb_benchmark \
         does), Lightning DB keeps its 64 MiB default."
    );
    md
}

fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "date unknown".into())
}

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim().to_string();
    (!line.is_empty()).then_some(line)
}

fn machine(dir: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1048576.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let dir_s = dir.to_string_lossy();
    let fs = first_line("findmnt", &["-n", "-o", "FSTYPE,SOURCE", "-T", &dir_s])
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" on "))
        .unwrap_or_else(|| "unknown filesystem".into());
    let rustc = first_line("rustc", &["--version"]).unwrap_or_default();
    // The engine is built from the working tree, which may differ from HEAD.
    let dirty = first_line("git", &["status", "--porcelain", "--", "engine"]).is_some();
    let engine_commit = first_line("git", &["rev-parse", "--short", "HEAD"])
        .map(|c| {
            let extra = if dirty {
                " with uncommitted engine changes"
            } else {
                ""
            };
            format!("engine at commit {c}{extra}")
        })
        .unwrap_or_default();
    let parts = [
        format!("{model}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {kernel}, data on {fs}"),
        rustc,
        engine_commit,
    ];
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Versions as resolved in this crate's Cargo.lock.
fn locked_version(name: &str) -> String {
    let lock = include_str!("../Cargo.lock");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    "?".into()
}

fn versions(engine: &str) -> String {
    match engine {
        "lightning" => format!("lightning-db {}", locked_version("lightning-db")),
        "lightning-c" => format!(
            "lightning-db-ffi {}, lightning-db {}",
            locked_version("lightning-db-ffi"),
            locked_version("lightning-db")
        ),
        "lmdb" => format!(
            "heed {}, lmdb-master-sys {}",
            locked_version("heed"),
            locked_version("lmdb-master-sys")
        ),
        "rocksdb" => format!(
            "rust-rocksdb {}, librocksdb-sys {}",
            locked_version("rocksdb"),
            locked_version("librocksdb-sys")
        ),
        #[cfg(feature = "sqlite")]
        "sqlite" => format!(
            "rusqlite {}, SQLite {} bundled",
            locked_version("rusqlite"),
            rusqlite::version()
        ),
        other => format!("{other} {}", locked_version(other)),
    }
}

/// A row of the scale table: its label without sizes, what it is divided by
/// at `n` keys (the operations a timing row times, or the keys a size row
/// holds), and the name of that unit.
fn scale_row(id: &str, n: usize) -> Option<(&'static str, f64, &'static str)> {
    let loaded = workload::loaded_keys(n) as f64;
    let live = workload::live_keys_at_end(n) as f64;
    let n = n as f64;
    Some(match id {
        "bulk_load" => ("bulk load", n, "put"),
        "individual_writes" => (
            "individual writes",
            workload::INDIVIDUAL_WRITES as f64,
            "commit",
        ),
        "batch_writes" => (
            "batch writes",
            (workload::BATCHES * workload::BATCH_SIZE) as f64,
            "put",
        ),
        "len" => ("len()", 1.0, "call"),
        "random_reads" => ("random reads", n, "get"),
        "random_reads_again" => ("random reads, again", n, "get"),
        "range_reads" => ("random range reads", n / 2.0, "range"),
        "reads_2t" => ("random reads, 2 threads", n, "get"),
        "reads_4t" => ("random reads, 4 threads", n, "get"),
        "reads_8t" => ("random reads, 8 threads", n, "get"),
        "removals" => ("removals", n / 2.0, "delete"),
        "compaction" => ("compaction", live, "live key"),
        "close" => ("close() after the writes", 1.0, "close"),
        "open" => ("open + 1 get after close()", 1.0, "open"),
        "open_checkpoint" => ("open after checkpoint() + 1 get", 1.0, "open"),
        "size_before" => ("size on disk before compaction", loaded, "key"),
        "size_after" => ("size on disk after compaction", live, "live key"),
        "size_after_live" => ("size after compaction ÷ live data", 1.0, "—"),
        "open_ram_per_key" => ("heap after open", 1.0, "key"),
        "open_checkpoint_ram_per_key" => ("heap after open from checkpoint", 1.0, "key"),
        "peak_rss_write" => ("peak RSS, write phase", loaded, "key"),
        "peak_rss_read" => ("peak RSS, read phase", loaded, "key"),
        _ => return None,
    })
}

fn format_per_op(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Ms if v >= 100.0 => format!("{} ms", count(v.round() as u64)),
        Kind::Ms if v >= 1.0 => format!("{v:.2} ms"),
        Kind::Ms if v >= 0.01 => format!("{:.2} µs", v * 1e3),
        Kind::Ms => format!("{:.3} µs", v * 1e3),
        Kind::Bytes | Kind::BytesPerKey => format!("{v:.0} B"),
        Kind::Multiple => format!("{v:.2}×"),
    }
}

/// The scale report: for each engine, every row at each size, its cost per
/// operation (or per key), and the largest size's cost over the smallest's.
pub fn scale_markdown(
    sizes: &[usize],
    dir: &Path,
    runs: &[Vec<EngineRun>],
    rounds: usize,
    total: Duration,
) -> String {
    let mut md = String::new();
    let w = &mut md;
    let sizes_text: Vec<String> = sizes.iter().map(|&n| count(n as u64)).collect();
    let _ = writeln!(
        w,
        "# How the cost of each operation grows with the keys held: {}\n",
        sizes_text.join(", ")
    );
    let _ = writeln!(
        w,
        "{}; {}; total run time {:.1} min; each row the best of {rounds} round(s).\n",
        date(),
        machine(dir),
        total.as_secs_f64() / 60.0
    );
    let (first, last) = (0, sizes.len() - 1);
    let engine_names: Vec<&str> = runs[0].iter().map(|r| r.engine.as_str()).collect();
    for (e, engine) in engine_names.iter().enumerate() {
        let _ = writeln!(w, "## {}\n", engines::title(engine));
        let _ = write!(w, "| row | per |");
        for s in &sizes_text {
            let _ = write!(w, " at {s} |");
        }
        for s in &sizes_text {
            let _ = write!(w, " per op at {s} |");
        }
        let _ = writeln!(w, " {} ÷ {} |", sizes_text[last], sizes_text[first]);
        let _ = writeln!(w, "|---|---|{}---:|", "---:|".repeat(2 * sizes.len()));
        for row in rows(sizes[first]) {
            let id = row.id;
            let Some((label, _, per)) = scale_row(id, sizes[first]) else {
                continue;
            };
            let values: Vec<Option<f64>> = sizes
                .iter()
                .zip(runs)
                .map(|(&n, at)| value(&at[e], id, n))
                .collect();
            if values.iter().all(Option::is_none) {
                continue;
            }
            let per_op: Vec<Option<f64>> = sizes
                .iter()
                .zip(&values)
                .map(|(&n, v)| Some(v.as_ref()? / scale_row(id, n)?.1))
                .collect();
            let _ = write!(w, "| {label} | {per} |");
            for v in &values {
                let text = v.map_or("—".into(), |v| format_value(row.kind, v));
                let _ = write!(w, " {text} |");
            }
            for v in &per_op {
                let text = v.map_or("—".into(), |v| format_per_op(row.kind, v));
                let _ = write!(w, " {text} |");
            }
            let ratio = match (per_op[first], per_op[last]) {
                (Some(a), Some(b)) if a > 0.0 => format!("{:.2}", b / a),
                _ => "—".into(),
            };
            let _ = writeln!(w, " {ratio} |");
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(
        w,
        "Per op: a timing row divided by the operations it times (a range of {} \
         entries is one operation; compaction is divided by the keys alive after \
         it), a size row by the keys it holds. The last column is the cost per \
         operation at {} keys over that at {}: 1.00 means the cost does not grow \
         with the keys held. Above {} keys the bulk load commits {} puts at a time.",
        workload::SCAN_LEN,
        sizes_text[last],
        sizes_text[first],
        count(workload::BULK_COMMIT as u64),
        count(workload::BULK_COMMIT as u64),
    );
    md
}
