//! `uniffi-bindgen`, pinned to the UniFFI version of `ffi-c`.
//!
//! Run through `ci/generate` (all languages into `bindings/<language>/`) or by
//! maturin while building the Python wheel.

fn main() {
    uniffi::uniffi_bindgen_main()
}
