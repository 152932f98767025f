//! `liblightning_db_ffi`: the one native library every language loads.
//!
//! Two surfaces over the same engine, kept thin (translation only, no storage
//! logic):
//! - `c_api`: the C ABI of the integration guide (`lightning_db_*`), whose header
//!   cbindgen writes to `include/lightning_db_ffi.h`;
//! - `object_api`: the object interface described in `idl/lightning_db.udl`, from
//!   which UniFFI generates the Kotlin, Swift, Python and Ruby wrappers.

pub mod c_api;
mod object_api;
// UniFFI's generated code names its tag type as `crate::UniFfiTag`; the
// scaffolding is included in `object_api`, so the tag is re-exported here.
use object_api::UniFfiTag;

/// Routes the engine's `log` records to stderr, filtered by `RUST_LOG`
/// (e.g. `RUST_LOG=lightning_db=debug`), once per process.
pub(crate) fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = env_logger::Builder::from_env(env_logger::Env::default()).try_init();
    });
}
