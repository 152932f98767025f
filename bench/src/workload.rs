//! The workload of redb's `lmdb_benchmark`, run in a child process for one
//! engine, one phase at a time. Each result is printed to stdout as
//! `RESULT <row> <number>` for the driver; progress goes to stderr.
//!
//! Phases (the driver runs them in this order, each in a fresh process):
//! - `write`: bulk load, individual writes, batch writes;
//! - `open`: time to open the database and read one key, and the heap it takes;
//! - `read`: len, random reads, range reads, threaded reads, removals, sizes,
//!   compaction.
//!
//! Splitting at the open is what lets the open be measured in a process that has
//! done nothing else; the reads then start from a freshly opened database, as an
//! application's would, with the OS page cache as the writes left it.

use std::path::Path;
use std::time::Instant;

use crate::store::{Key, Reader, Store, Value, KEY_SIZE, VALUE_SIZE};

pub const SEED: u64 = 3;
/// Shuffles the read order, so that reads do not walk keys in insertion order:
/// a log-structured engine would otherwise read its log sequentially.
const READ_ORDER_SEED: u64 = 7;
pub const INDIVIDUAL_WRITES: usize = 1_000;
pub const BATCHES: usize = 100;
pub const BATCH_SIZE: usize = 1_000;
pub const SCAN_LEN: usize = 10;
/// The bulk load commits at most this many puts at a time: one commit of ten
/// million pairs would pass Lightning DB's 1 GiB commit limit (and most
/// engines' comfort). Up to a million keys the bulk load is one commit.
pub const BULK_COMMIT: usize = 1_000_000;
pub const READ_THREADS: [usize; 3] = [2, 4, 8];

/// Keys after the write phase.
pub fn loaded_keys(n: usize) -> usize {
    n + INDIVIDUAL_WRITES + BATCHES * BATCH_SIZE
}

/// Keys after the removals: the first half of the bulk load goes.
pub fn live_keys_at_end(n: usize) -> usize {
    loaded_keys(n) - n / 2
}

/// The random pairs, in the same order in every process and for every engine.
struct Pairs(fastrand::Rng);

impl Pairs {
    fn new() -> Self {
        Pairs(fastrand::Rng::with_seed(SEED))
    }

    fn next_pair(&mut self) -> (Key, Value) {
        let mut key = [0u8; KEY_SIZE];
        let mut value = [0u8; VALUE_SIZE];
        self.0.fill(&mut key);
        self.0.fill(&mut value);
        (key, value)
    }
}

fn emit(row: &str, value: f64) {
    println!("RESULT {row} {value}");
}

fn emit_ms(row: &str, started: Instant) -> f64 {
    let ms = started.elapsed().as_secs_f64() * 1e3;
    emit(row, ms);
    ms
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Anonymous resident memory: the heap, leaving out mapped files, which the
/// kernel can drop and re-read.
fn anon_rss_bytes() -> u64 {
    status_kib("RssAnon:") * 1024
}

fn emit_peak_rss(phase: &str) {
    emit(
        &format!("peak_rss_{phase}"),
        (status_kib("VmHWM:") * 1024) as f64,
    );
}

/// Sum of file lengths under `dir`, and of the blocks they occupy.
pub fn dir_size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut sizes = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            let (len, alloc) = dir_size(&entry.path());
            sizes.0 += len;
            sizes.1 += alloc;
        } else {
            sizes.0 += meta.len();
            sizes.1 += meta.blocks() * 512;
        }
    }
    sizes
}

pub fn write<S: Store>(n: usize, dir: &Path) {
    let mut pairs = Pairs::new();
    let mut store = S::open(dir);

    let t = Instant::now();
    let mut left = n;
    while left > 0 {
        let now = left.min(BULK_COMMIT);
        store.commit_puts(&mut (0..now).map(|_| pairs.next_pair()));
        left -= now;
    }
    let ms = emit_ms("bulk_load", t);
    eprintln!("  bulk load of {n}: {ms:.0} ms");

    let t = Instant::now();
    for _ in 0..INDIVIDUAL_WRITES {
        let (k, v) = pairs.next_pair();
        store.put_one(&k, &v);
    }
    let ms = emit_ms("individual_writes", t);
    eprintln!("  {INDIVIDUAL_WRITES} individual writes: {ms:.0} ms");

    let t = Instant::now();
    for _ in 0..BATCHES {
        store.commit_puts(&mut (0..BATCH_SIZE).map(|_| pairs.next_pair()));
    }
    let ms = emit_ms("batch_writes", t);
    eprintln!("  {BATCHES} x {BATCH_SIZE} batch writes: {ms:.0} ms");

    // Timed: an engine may do work at close (Lightning DB writes a checkpoint
    // when the next open would otherwise replay many keys).
    let t = Instant::now();
    store.close();
    let ms = emit_ms("close", t);
    eprintln!("  close: {ms:.0} ms");
    emit_peak_rss("write");
}

/// Opens the database, reads one key, and reports the time and the heap it
/// took; `checkpoint` writes a checkpoint afterwards (for the next open).
pub fn open<S: Store>(n: usize, dir: &Path, row: &str, checkpoint: bool) {
    let (first_key, first_value) = Pairs::new().next_pair();
    let heap_before = anon_rss_bytes();
    let t = Instant::now();
    let store = S::open(dir);
    let got = store.reader().get(&first_key);
    let ms = emit_ms(row, t);
    assert_eq!(got, Some((first_value[0], VALUE_SIZE)));
    let heap = anon_rss_bytes().saturating_sub(heap_before);
    emit(
        &format!("{row}_ram_per_key"),
        heap as f64 / loaded_keys(n) as f64,
    );
    eprintln!(
        "  {row}: {ms:.0} ms, {:.1} MiB of heap",
        heap as f64 / 1048576.0
    );
    if checkpoint {
        let t = Instant::now();
        assert!(store.checkpoint(), "this engine has no checkpoint");
        eprintln!("  checkpoint: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    store.close();
}

/// Which rows of the read phase to run; all when empty. Lets a profiler look at
/// one row alone.
pub struct RowFilter(pub Vec<String>);

impl RowFilter {
    fn wants(&self, row: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|r| row.starts_with(r.as_str()))
    }
}

pub fn read<S: Store>(n: usize, dir: &Path, rows: &RowFilter) {
    // Regenerate the bulk load's keys; keep only the first byte of each value,
    // enough to check every read, so the engines' RSS is not inflated by a copy
    // of the data set.
    let mut pairs = Pairs::new();
    let mut keys: Vec<Key> = Vec::with_capacity(n);
    let mut first_bytes: Vec<u8> = Vec::with_capacity(n);
    for _ in 0..n {
        let (k, v) = pairs.next_pair();
        keys.push(k);
        first_bytes.push(v[0]);
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    fastrand::Rng::with_seed(READ_ORDER_SEED).shuffle(&mut order);
    let expected: u64 = first_bytes.iter().map(|&b| u64::from(b)).sum();

    let mut store = S::open(dir);

    if rows.wants("len") {
        let t = Instant::now();
        let len = store.len();
        emit_ms("len", t);
        assert_eq!(len, loaded_keys(n) as u64);
    }

    for row in ["random_reads", "random_reads_again"] {
        if !rows.wants(row) {
            continue;
        }
        let t = Instant::now();
        let mut reader = store.reader();
        let mut sum = 0u64;
        for &i in &order {
            let (b, len) = reader.get(&keys[i as usize]).expect("key missing");
            assert_eq!(len, VALUE_SIZE);
            sum += u64::from(b);
        }
        drop(reader);
        let ms = emit_ms(row, t);
        assert_eq!(sum, expected);
        eprintln!("  {row}: {n} gets in {ms:.0} ms");
    }

    if rows.wants("range_reads") {
        let ranges = n / 2;
        let t = Instant::now();
        let mut reader = store.reader();
        let mut entries = 0;
        let mut sum = 0u64;
        for &i in &order[..ranges] {
            let (count, s) = reader.scan(&keys[i as usize], SCAN_LEN);
            entries += count;
            sum += s;
        }
        drop(reader);
        let ms = emit_ms("range_reads", t);
        // Only a start key among the last SCAN_LEN can give a short range.
        assert!(entries >= ranges * SCAN_LEN - SCAN_LEN * SCAN_LEN);
        std::hint::black_box(sum);
        eprintln!("  {ranges} ranges of {SCAN_LEN}: {ms:.0} ms");
    }

    for threads in READ_THREADS {
        let row = format!("reads_{threads}t");
        if !rows.wants(&row) {
            continue;
        }
        let chunk = n.div_ceil(threads);
        let t = Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = order
                .chunks(chunk)
                .map(|part| {
                    let (store, keys) = (&store, &keys);
                    s.spawn(move || {
                        let mut reader = store.reader();
                        part.iter()
                            .map(|&i| u64::from(reader.get(&keys[i as usize]).unwrap().0))
                            .sum::<u64>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        let ms = emit_ms(&row, t);
        assert_eq!(sum, expected);
        eprintln!("  {n} gets on {threads} threads: {ms:.0} ms");
    }

    if rows.wants("removals") {
        let t = Instant::now();
        store.commit_deletes(&mut keys[..n / 2].iter().copied());
        let ms = emit_ms("removals", t);
        eprintln!("  removal of {}: {ms:.0} ms", n / 2);

        let (len, alloc) = dir_size(dir);
        emit("size_before", len as f64);
        emit("alloc_before", alloc as f64);

        let t = Instant::now();
        if store.compact() {
            let ms = emit_ms("compaction", t);
            let (len, alloc) = dir_size(dir);
            emit("size_after", len as f64);
            emit("alloc_after", alloc as f64);
            eprintln!("  compaction: {ms:.0} ms, {len} bytes after");
        }
    }

    store.close();
    emit_peak_rss("read");
}
