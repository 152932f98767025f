//! The reference lines of the C# benchmark, on its workload (`n` random 24-byte
//! keys with 150-byte values, `n` gets of present keys in random order): the
//! Rust engine's own get rate, and the rate of the C ABI's `lightning_db_get_into`
//! called from Rust with the value copied into a `Vec` (what a binding's get
//! does, without its runtime). Prints both, in operations per second.
//!
//! Both are timed in the state the C# get is: after `WARM_ROUNDS` untimed
//! rounds, as `Bench.cs` does, best of `TIMED_ROUNDS`. The workload's records
//! are under 1 KiB, so the engine reads them from the map, not its value cache;
//! the rounds warm the page cache and the index, and would fill the value cache
//! for larger values, where one still filling costs a read more than a full one
//! or a cold one does.

use std::ffi::CString;
use std::time::Instant;

use lightning_db::{Config, Database, WriteBatch};
use lightning_db_ffi::c_api::{lightning_db_close, lightning_db_get_into, lightning_db_open};

/// Rounds of gets before timing: for values the cache holds (1 KiB and more),
/// it admits one on one miss in eight, so after 40 rounds all but
/// (7/8)^40 ≈ 0.5% of them are in it.
const WARM_ROUNDS: usize = 40;
const TIMED_ROUNDS: usize = 5;

fn best_rate(n: usize, mut round: impl FnMut()) -> f64 {
    for _ in 0..WARM_ROUNDS {
        round();
    }
    let mut best = f64::MAX;
    for _ in 0..TIMED_ROUNDS {
        let start = Instant::now();
        round();
        best = best.min(start.elapsed().as_secs_f64());
    }
    n as f64 / best
}

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
    let db = Database::create(&dir, Config::default()).expect("create");
    for chunk in keys.iter().zip(&values).collect::<Vec<_>>().chunks(1000) {
        let mut batch = WriteBatch::new();
        for (k, v) in chunk {
            batch.put(k.as_slice(), v.as_slice());
        }
        db.write(&batch).expect("write");
    }
    let engine = best_rate(n, || {
        for key in &lookups {
            assert!(db.get(key).expect("get").is_some());
        }
    });
    drop(db);

    // The same database through the C ABI, opened afresh (its cache empty again).
    let path = CString::new(dir.to_str().expect("a UTF-8 temp path")).expect("no NUL");
    // SAFETY: `path` is a NUL-terminated string; a NULL config means the defaults.
    let handle = unsafe { lightning_db_open(path.as_ptr(), std::ptr::null()) };
    assert!(!handle.is_null(), "lightning_db_open failed");
    let mut buf = vec![0u8; 4096];
    let c_abi = best_rate(n, || {
        for key in &lookups {
            let mut len = 0usize;
            // SAFETY: the handle is open; key, buf and len are valid for the lengths given.
            let rc = unsafe {
                lightning_db_get_into(
                    handle,
                    key.as_ptr(),
                    key.len(),
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut len,
                )
            };
            assert!(rc as i32 == 0 && len == 150, "get_into");
            std::hint::black_box(buf[..len].to_vec());
        }
    });
    lightning_db_close(handle);
    let _ = std::fs::remove_dir_all(&dir);
    println!("{engine:.0} {c_abi:.0}");
}
