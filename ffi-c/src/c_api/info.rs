//! Version and error reporting.

use std::ffi::{c_char, c_int, CStr};

use super::LightningDBError;
use crate::boundary;

/// The library's version, e.g. "0.1.0".
///
/// Memory: a static string; do not free it.
#[no_mangle]
pub extern "C" fn lightning_db_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the package version contains a NUL byte"),
        };
    VERSION.as_ptr()
}

/// A short English description of an error code, e.g. "Database locked".
/// Any value is accepted: one that is not a `LightningDBError` gives
/// "Unrecognised error code". (`int` rather than `LightningDBError`, so that an
/// out-of-range value is harmless.)
///
/// Memory: a static string; do not free it.
#[no_mangle]
pub extern "C" fn lightning_db_error_string(error: c_int) -> *const c_char {
    let text = LightningDBError::from_code(error)
        .map_or(c"Unrecognised error code", LightningDBError::describe);
    text.as_ptr()
}

/// The code of the last failed call on this thread, or `Success` if the last
/// call succeeded. Useful after `lightning_db_create` / `lightning_db_open` /
/// `lightning_db_*_new` return NULL, which carry no code of their own.
///
/// Which calls set it: every function returning `LightningDBError` or a handle
/// (set on failure, reset to `Success` on success). The `*_free` functions set it
/// only when they detect a misuse (a freed or unknown handle) and otherwise leave
/// it alone. `lightning_db_version`, `lightning_db_error_string`,
/// `lightning_db_last_error_code` and `lightning_db_last_error_message` never
/// change it. Each thread has its own.
#[no_mangle]
pub extern "C" fn lightning_db_last_error_code() -> LightningDBError {
    boundary::last_error_code()
}

/// The detail behind the last failed call on this thread, e.g.
/// "lightning_db_open: I/O error: ./nodb: No such file or directory (os error 2)",
/// or "" if the last call succeeded. The same calls set it as
/// `lightning_db_last_error_code`. Never NULL.
///
/// Memory: owned by the library; do not free it. It stays valid until the next
/// call on this thread of a function that can set it (any function except the
/// four named above): copy it if you need it longer.
#[no_mangle]
pub extern "C" fn lightning_db_last_error_message() -> *const c_char {
    boundary::last_error_message()
}

/// The number of handles of every type (databases, configs, batches, iterators)
/// created in this process and not yet freed or closed: a leak check for tests and
/// debugging, meant to be 0 when a program has released everything. (Leak
/// detectors such as LeakSanitizer or valgrind cannot see a forgotten handle: the
/// library still refers to it until it is freed.)
#[no_mangle]
pub extern "C" fn lightning_db_live_handle_count() -> usize {
    crate::boundary::handles::DATABASES.len()
        + super::config::CONFIGS.len()
        + super::batch::BATCHES.len()
        + super::iterator::ITERATORS.len()
}
