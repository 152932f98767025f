//! Measures what making and freeing a handle costs while many others are live:
//! the time of one `lightning_db_iter_range` + `lightning_db_iter_free` through
//! the C ABI with 0 to 10,000 iterators held open, as a program streaming many
//! scans at once holds them. Prints a table.
//!
//! `cargo run --release -p lightning-db-ffi --example handle_churn`

use std::ptr;
use std::time::Instant;

use lightning_db_ffi::c_api::{
    lightning_db_create, lightning_db_free, lightning_db_iter_free, lightning_db_iter_range,
    lightning_db_put, LightningDB, LightningDBError, LightningDBIterator,
};

/// Iterators made and freed per measurement.
const ROUNDS: usize = 20_000;

fn new_iterator(db: *mut LightningDB) -> *mut LightningDBIterator {
    let mut iter = ptr::null_mut();
    // SAFETY: no bounds (NULL/0); `iter` is writable.
    let err =
        unsafe { lightning_db_iter_range(db, ptr::null(), 0, ptr::null(), 0, false, &mut iter) };
    assert_eq!(err, LightningDBError::Success);
    iter
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = std::ffi::CString::new(dir.path().join("db").to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; NULL config (defaults).
    let db = unsafe { lightning_db_create(path.as_ptr(), ptr::null()) };
    assert!(!db.is_null());
    // SAFETY: key and value valid for their lengths.
    let err = unsafe { lightning_db_put(db, b"k".as_ptr(), 1, b"v".as_ptr(), 1) };
    assert_eq!(err, LightningDBError::Success);

    println!("| iterators live | µs per iterator made and freed |");
    println!("|---:|---:|");
    let mut held = Vec::new();
    for live in [0usize, 100, 1_000, 10_000] {
        while held.len() < live {
            held.push(new_iterator(db));
        }
        let start = Instant::now();
        for _ in 0..ROUNDS {
            lightning_db_iter_free(new_iterator(db));
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64;
        println!("| {live} | {micros:.2} |");
    }
    for iter in held {
        lightning_db_iter_free(iter);
    }
    lightning_db_free(db);
}
