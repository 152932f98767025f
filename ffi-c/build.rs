//! Generates the UniFFI scaffolding of `idl/lightning_db.udl` into OUT_DIR;
//! `object_api.rs` includes it. (The C header is made by `tools/generate`, not
//! here, so a build never rewrites checked-in files.)
//!
//! `src/lightning_db.udl` is a symlink to the one UDL in `idl/`: uniffi-bindgen's
//! library mode (used by `ci/generate` and by maturin) looks for a crate's UDL at
//! `<crate>/src/<name>.udl`.

fn main() {
    let udl = "../idl/lightning_db.udl";
    println!("cargo:rerun-if-changed={udl}");
    // The crate name is given because the UDL lies outside the crate, where
    // UniFFI would otherwise look for a Cargo.toml to take it from.
    uniffi::generate_scaffolding_for_crate(udl, "lightning_db_ffi")
        .expect("generate the UniFFI scaffolding of the UDL");
}
