//! Helpers shared by the CLI tests: run the built `lightning-db` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

pub use assert_cmd::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_lightning-db");

pub fn cmd() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("RUST_LOG");
    c
}

/// Runs `lightning-db ARGS` and returns its output, whatever the exit code.
pub fn run(args: &[&str]) -> Output {
    cmd().args(args).output().expect("run lightning-db")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The contract for every failure: the given exit code and exactly one line on
/// stderr, starting with the program's name, and no panic.
pub fn assert_fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.lines().count(), 1, "one line of error, got: {err:?}");
    assert!(err.starts_with("lightning-db: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} should contain {needle:?}");
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Writes `entries` to a new database at `path` through the engine.
pub fn make_db(path: &Path, entries: &[(Vec<u8>, Vec<u8>)]) {
    let db = lightning_db::Database::create(path, lightning_db::Config::default()).unwrap();
    let mut batch = lightning_db::WriteBatch::new();
    for (k, v) in entries {
        batch.put(k.clone(), v.clone());
    }
    db.write(&batch).unwrap();
    db.close().unwrap();
}

pub fn read_all(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let config = lightning_db::Config {
        read_only: true,
        ..Default::default()
    };
    let db = lightning_db::Database::open(path, config).unwrap();
    db.iter().unwrap().map(|r| r.unwrap()).collect()
}
