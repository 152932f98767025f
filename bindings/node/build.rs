//! Links the addon against the shared liblightning_db_ffi (built by ci/build-native)
//! and sets the rpath to $ORIGIN, so the `.node` file loads the copy of the library
//! shipped beside it in the platform package, and only that one.
use std::path::PathBuf;

fn main() {
    napi_build::setup();
    let dir = match std::env::var_os("LIGHTNING_DB_LIB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../target/native"),
    };
    println!("cargo:rerun-if-env-changed=LIGHTNING_DB_LIB_DIR");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN");
}
