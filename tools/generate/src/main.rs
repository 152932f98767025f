//! Regenerates the checked-in generated files of Lightning DB.
//!
//! `lightning-db-generate [TARGET...]` with targets:
//! - `c-header`: `ffi-c/include/lightning_db_ffi.h`, by cbindgen from
//!   `ffi-c/src/c_api/mod.rs` and its submodules with `ffi-c/cbindgen.toml`.
//! - `python-symbols`: `ffi-c/include/lightning_db_python.h`, by cbindgen from
//!   `ffi-c/src/python/`: the list of the Python fast path's exported
//!   functions and their signatures, which `ci/check-symbols` holds the Python
//!   layer to (they are not part of the public C API).
//! - `csharp`: `bindings/csharp/src/NativeMethods.g.cs`, by csbindgen from the
//!   C ABI sources (`csharp.rs`).
//!
//! No target means all of them. `ci/generate` runs this; `ci/check-generated`
//! fails when the output differs from what is checked in. cbindgen is used as a
//! library so that CI needs nothing installed beyond the Rust toolchain.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod csharp;

type Generator = fn(&Path) -> Result<(), String>;

const TARGETS: &[(&str, Generator)] = &[
    ("c-header", c_header),
    ("python-symbols", python_symbols),
    ("csharp", csharp::generate),
];

fn workspace_root() -> PathBuf {
    // tools/generate/ -> the workspace root, wherever the command is run from.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/generate lies two levels below the workspace root")
        .to_path_buf()
}

fn c_header(root: &Path) -> Result<(), String> {
    let crate_dir = root.join("ffi-c");
    let config_path = crate_dir.join("cbindgen.toml");
    let config = cbindgen::Config::from_file(&config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    // Only the C API module and the boundary's table of error codes: the crate
    // also holds the UniFFI scaffolding and the Python fast path, whose symbols
    // are not part of the C header. Parsing sources directly also spares the
    // `cargo metadata` run that `with_crate` would make.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/boundary/errors.rs"))
        .with_src(crate_dir.join("src/c_api/mod.rs"))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let header = crate_dir.join("include/lightning_db_ffi.h");
    let changed = bindings.write_to_file(&header);
    println!(
        "{} {}",
        if changed { "wrote" } else { "unchanged" },
        header.strip_prefix(root).unwrap_or(&header).display()
    );
    Ok(())
}

fn python_symbols(root: &Path) -> Result<(), String> {
    let crate_dir = root.join("ffi-c");
    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        include_guard: Some("LIGHTNING_DB_PYTHON_H".into()),
        autogen_warning: Some(
            "/*\n * GENERATED FILE, DO NOT EDIT. Made by tools/generate (cbindgen) from\n \
             * ffi-c/src/python/; regenerate with ci/generate.\n *\n \
             * The Python layer's fast path into liblightning_db_ffi: not part of the C\n \
             * API (see lightning_db_ffi.h), listed so that ci/check-symbols can hold\n \
             * bindings/python/src/lightning_db/_native.py to these names and arities.\n */"
                .into(),
        ),
        sys_includes: vec!["stdbool.h".into(), "stddef.h".into(), "stdint.h".into()],
        no_includes: true,
        documentation: false,
        usize_is_size_t: true,
        ..Default::default()
    };
    config.function.sort_by = Some(cbindgen::SortKey::Name);
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/python/mod.rs"))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let header = crate_dir.join("include/lightning_db_python.h");
    let changed = bindings.write_to_file(&header);
    println!(
        "{} {}",
        if changed { "wrote" } else { "unchanged" },
        header.strip_prefix(root).unwrap_or(&header).display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let root = workspace_root();
    let requested: Vec<String> = std::env::args().skip(1).collect();
    let mut selected = Vec::new();
    for name in &requested {
        match TARGETS.iter().find(|(n, _)| n == name) {
            Some(target) => selected.push(*target),
            None => {
                let known: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
                eprintln!("unknown target {name:?}; known: {}", known.join(", "));
                return ExitCode::from(2);
            }
        }
    }
    if selected.is_empty() {
        selected = TARGETS.to_vec();
    }
    for (name, generate) in selected {
        if let Err(e) = generate(&root) {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
