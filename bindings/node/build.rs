//! Links the addon against the shared liblightning_db_ffi (built by ci/build-native)
//! and sets the rpath to $ORIGIN, so the `.node` file loads the copy of the library
//! shipped beside it in the platform package, and only that one.
//!
//! The library is looked for in LIGHTNING_DB_LIB_DIR, else target/native (what
//! ci/build-native leaves), else target/release. A workspace-wide cargo build
//! (`cargo test --workspace` in ci/test-rust) may build this crate before the
//! library exists: then it links against an empty stand-in with the library's
//! name, made here with the C compiler, so that the workspace compiles; that
//! addon is not loadable (the dependency on the library is not recorded) and is
//! never shipped: ci/test-node and ci/generate build against the real library,
//! naming it with LIGHTNING_DB_LIB_DIR.
use std::path::{Path, PathBuf};
use std::process::Command;

const LIB: &str = "liblightning_db_ffi.so";

fn main() {
    napi_build::setup();
    println!("cargo:rerun-if-env-changed=LIGHTNING_DB_LIB_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let target = manifest.join("../../target");
    let dir = match std::env::var_os("LIGHTNING_DB_LIB_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join(LIB).exists(),
                "LIGHTNING_DB_LIB_DIR has no {LIB}: {}",
                dir.display()
            );
            dir
        }
        None => {
            let candidates = [target.join("native"), target.join("release")];
            for c in &candidates {
                println!("cargo:rerun-if-changed={}", c.join(LIB).display());
            }
            match candidates.iter().find(|d| d.join(LIB).exists()) {
                Some(dir) => dir.clone(),
                None => stand_in(),
            }
        }
    };
    println!("cargo:rerun-if-changed={}", dir.join(LIB).display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN");
}

fn stand_in() -> PathBuf {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let source = out.join("empty.c");
    std::fs::write(&source, "").unwrap();
    let status = Command::new(&cc)
        .args(["-shared", "-o"])
        .arg(out.join(LIB))
        .arg(&source)
        .arg(format!("-Wl,-soname,{LIB}"))
        .status()
        .unwrap_or_else(|e| panic!("running {cc} to make a stand-in {LIB}: {e}"));
    assert!(status.success(), "{cc} failed to make a stand-in {LIB}");
    println!("cargo:warning={LIB} not built yet: linked against a stand-in (run ci/build-native to link the real one)");
    Path::new(&out).to_path_buf()
}
