//! `lightning-bench`: Lightning DB against LMDB, redb, RocksDB, sled, fjall and
//! SQLite on the workload of redb's `lmdb_benchmark`, every commit durable.
//!
//! ```text
//! lightning-bench [--n N | --quick] [--rounds R] [--dir DIR] [--engines a,b] [--out FILE]
//! lightning-bench --scale N1,N2,... [--rounds R] [--dir DIR] [--engines a,b] [--out FILE]
//! lightning-bench --child --engine NAME --phase write|open|read --n N --dir DIR
//!                 [--row NAME] [--checkpoint] [--rows r1,r2]
//! ```
//!
//! The driver (first form) runs every engine in child processes of this same
//! binary (second form), one engine after another, so that each engine's peak
//! RSS is its own and no engine inherits another's heap, caches or allocator
//! state; it drops the OS page cache between engines when the kernel lets it.
//! It prints a Markdown table, one column per engine and a last column with
//! Lightning DB's ratio to the best peer. With `--scale` it runs the workload at
//! each size in turn and prints, per engine, each row's cost per operation at
//! every size and the ratio of the largest to the smallest.

mod driver;
mod engines;
mod report;
mod store;
mod workload;

use std::path::PathBuf;

use store::Store;

const DEFAULT_N: usize = 1_000_000;
const QUICK_N: usize = 20_000;
/// Two rounds fit the issue's 15 minutes at 1M keys and halve the damage a
/// burst of load from other processes does to one row.
const DEFAULT_ROUNDS: usize = 2;

fn usage() -> ! {
    eprintln!(
        "usage: lightning-bench [--n N | --quick | --scale N1,N2,...] [--rounds R] [--dir DIR] \
         [--engines a,b,...] [--out FILE]\n\
         engines: {} (compiled in: {})",
        engines::ENGINES.join(", "),
        engines::ENGINES
            .iter()
            .filter(|e| engines::compiled(e))
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::process::exit(2)
}

#[derive(Default)]
struct Args {
    child: bool,
    engine: Option<String>,
    phase: Option<String>,
    row: Option<String>,
    checkpoint: bool,
    rows: Vec<String>,
    n: Option<usize>,
    scale: Vec<usize>,
    rounds: Option<usize>,
    dir: Option<PathBuf>,
    engines: Option<Vec<String>>,
    out: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    let list = |s: String| s.split(',').map(str::to_string).collect::<Vec<_>>();
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--child" => args.child = true,
            "--engine" => args.engine = Some(value()),
            "--phase" => args.phase = Some(value()),
            "--row" => args.row = Some(value()),
            "--checkpoint" => args.checkpoint = true,
            "--rows" => args.rows = list(value()),
            "--n" => args.n = Some(value().replace('_', "").parse().unwrap_or_else(|_| usage())),
            "--scale" => {
                args.scale = list(value())
                    .iter()
                    .map(|n| n.replace('_', "").parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--quick" => {
                args.n = Some(QUICK_N);
                args.rounds = args.rounds.or(Some(1));
            }
            "--rounds" => args.rounds = Some(value().parse().unwrap_or_else(|_| usage())),
            "--dir" => args.dir = Some(value().into()),
            "--engines" => args.engines = Some(list(value())),
            "--out" => args.out = Some(value().into()),
            "-h" | "--help" => usage(),
            _ => {
                eprintln!("unknown argument {arg}");
                usage()
            }
        }
    }
    args
}

/// Exits with a message unless `engine` is known and compiled into this binary.
fn require_compiled(engine: &str) {
    if !engines::ENGINES.contains(&engine) {
        eprintln!("unknown engine {engine}");
        usage();
    }
    if !engines::compiled(engine) {
        eprintln!(
            "engine {engine} is not compiled into this binary: build the bench with \
             `cargo build --release --features {engine}` (or with default features, which \
             include every engine)"
        );
        std::process::exit(2);
    }
}

fn run_child<S: Store>(args: &Args, n: usize, dir: &std::path::Path) {
    match args.phase.as_deref() {
        Some("write") => workload::write::<S>(n, dir),
        Some("open") => workload::open::<S>(
            n,
            dir,
            args.row.as_deref().unwrap_or("open"),
            args.checkpoint,
        ),
        Some("read") => workload::read::<S>(n, dir, &workload::RowFilter(args.rows.clone())),
        _ => usage(),
    }
}

fn main() {
    let args = parse_args();
    let n = args.n.unwrap_or(DEFAULT_N);
    if args.child {
        let dir = args.dir.clone().unwrap_or_else(|| usage());
        let engine = args.engine.as_deref().unwrap_or_else(|| usage());
        require_compiled(engine);
        match engine {
            "lightning" => run_child::<engines::lightning::Lightning>(&args, n, &dir),
            #[cfg(feature = "lightning-c")]
            "lightning-c" => run_child::<engines::lightning_c::LightningC>(&args, n, &dir),
            #[cfg(feature = "lmdb")]
            "lmdb" => run_child::<engines::lmdb::Lmdb>(&args, n, &dir),
            #[cfg(feature = "redb")]
            "redb" => run_child::<engines::redb::Redb>(&args, n, &dir),
            #[cfg(feature = "rocksdb")]
            "rocksdb" => run_child::<engines::rocksdb::Rocks>(&args, n, &dir),
            #[cfg(feature = "sled")]
            "sled" => run_child::<engines::sled::Sled>(&args, n, &dir),
            #[cfg(feature = "fjall")]
            "fjall" => run_child::<engines::fjall::Fjall>(&args, n, &dir),
            #[cfg(feature = "sqlite")]
            "sqlite" => run_child::<engines::sqlite::Sqlite>(&args, n, &dir),
            _ => usage(),
        }
        return;
    }
    // Without --engines: every engine compiled in.
    let engines = args.engines.clone().unwrap_or_else(|| {
        engines::ENGINES
            .iter()
            .filter(|e| engines::compiled(e))
            .map(|s| s.to_string())
            .collect()
    });
    for e in &engines {
        require_compiled(e);
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("lightning-bench"));
    let rounds = args.rounds.unwrap_or(DEFAULT_ROUNDS).max(1);
    if args.scale.is_empty() {
        driver::run(n, &dir, &engines, rounds, args.out.as_deref());
    } else {
        driver::scale(&args.scale, &dir, &engines, rounds, args.out.as_deref());
    }
}
