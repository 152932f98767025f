//! `liblightning_db_ffi`: the one native library every language loads.
//!
//! One folder per surface, each thin (translation only, no storage logic), over
//! one boundary:
//! - `boundary`: what every surface shares — catching panics, the per-thread
//!   last error, argument checks, the handle registry, and the one table of
//!   error codes that every engine error maps to;
//! - `c_api`: the C ABI of the integration guide (`lightning_db_*`) and its
//!   extensions, among them the lending calls the language fast paths use;
//!   cbindgen writes its header to `include/lightning_db_ffi.h`;
//! - `uniffi`: the object interface described in `idl/lightning_db.udl`, from
//!   which UniFFI generates the Kotlin, Swift, Python and Ruby wrappers;
//! - `python`: the Python layer's fast path (CPython objects built here).
//!
//! The engine (`lightning_db`) knows nothing of any of them.

pub mod boundary;
pub mod c_api;
mod python;
mod uniffi;
// UniFFI's generated code names its tag type as `crate::UniFfiTag`; the
// scaffolding is included in `uniffi`, so the tag is re-exported here.
use self::uniffi::UniFfiTag;

/// Routes the engine's `log` records to stderr, filtered by `RUST_LOG`
/// (e.g. `RUST_LOG=lightning_db=debug`), once per process.
pub(crate) fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = env_logger::Builder::from_env(env_logger::Env::default()).try_init();
    });
}
