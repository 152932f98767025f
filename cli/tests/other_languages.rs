//! Every command on a database that another language wrote: Python, through
//! the C ABI of the shared library (ctypes, as the integration guide does).
//! Needs target/release/liblightning_db_ffi.so (`cargo build --release -p
//! lightning-db-ffi`; ci/test-cli builds it) or LIGHTNING_DB_FFI_LIB.

mod common;

use std::path::PathBuf;

use common::*;

fn ffi_library() -> PathBuf {
    let lib = std::env::var_os("LIGHTNING_DB_FFI_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/release/liblightning_db_ffi.so")
        });
    assert!(
        lib.exists(),
        "{} is missing: run `cargo build --release -p lightning-db-ffi` (ci/test-cli does)",
        lib.display()
    );
    lib
}

const WRITER: &str = r#"
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.lightning_db_create.restype = ctypes.c_void_p
lib.lightning_db_create.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
bytes_arg = [ctypes.c_char_p, ctypes.c_size_t]
lib.lightning_db_put.argtypes = [ctypes.c_void_p] + bytes_arg + bytes_arg
lib.lightning_db_delete.argtypes = [ctypes.c_void_p] + bytes_arg
lib.lightning_db_checkpoint.argtypes = [ctypes.c_void_p]
lib.lightning_db_close.argtypes = [ctypes.c_void_p]
lib.lightning_db_free.argtypes = [ctypes.c_void_p]

db = lib.lightning_db_create(sys.argv[2].encode(), None)
assert db, "create failed"
def put(k, v):
    assert lib.lightning_db_put(db, k, len(k), v, len(v)) == 0
for i in range(1000):
    put(b"py:%04d" % i, b"value %d from python" % i)
put(b"bin\x00\xff", bytes(range(256)))
put(b"empty", b"")
assert lib.lightning_db_delete(db, b"py:0000", 7) == 0
assert lib.lightning_db_checkpoint(db) == 0
put(b"after-checkpoint", b"replayed at open")
assert lib.lightning_db_close(db) == 0
lib.lightning_db_free(db)
"#;

#[test]
fn every_command_works_on_a_database_python_wrote_through_the_c_abi() {
    let lib = ffi_library();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-python");
    let db = p(&path);
    let o = std::process::Command::new("python3")
        .args(["-c", WRITER])
        .arg(&lib)
        .arg(&path)
        .output()
        .expect("python3");
    assert!(o.status.success(), "python writer: {}", stderr(&o));

    let stats: serde_json::Value =
        serde_json::from_slice(&run(&["stats", db, "--json"]).stdout).unwrap();
    assert_eq!(stats["keys"], 1001 + 1);
    cmd().args(["verify", db]).assert().code(0);
    cmd()
        .args(["get", db, "py:0042"])
        .assert()
        .success()
        .stdout("value 42 from python\n");
    cmd()
        .args(["get", db, "after-checkpoint"])
        .assert()
        .success()
        .stdout("replayed at open\n");
    assert_fails(&run(&["get", db, "py:0000"]), 1, "key not found");
    cmd()
        .args(["get", db, "--hex", "62696e00ff"])
        .assert()
        .success()
        .stdout(format!(
            "{}\n",
            (0..=255u8).map(|b| format!("{b:02x}")).collect::<String>()
        ));
    cmd()
        .args(["scan", db, "--prefix", "py:", "--limit", "2", "--keys-only"])
        .assert()
        .success()
        .stdout("py:0001\npy:0002\n");

    let dump = dir.path().join("py.dump");
    cmd().args(["dump", db, "-o", p(&dump)]).assert().success();
    let copy = dir.path().join("copy");
    cmd().args(["load", p(&copy), p(&dump)]).assert().success();
    assert!(read_all(&copy) == read_all(&path));
    let backup = dir.path().join("backup");
    cmd().args(["backup", db, p(&backup)]).assert().success();
    assert!(read_all(&backup) == read_all(&path));

    cmd()
        .args(["put", db, "from-cli", "yes"])
        .assert()
        .success();
    cmd().args(["delete", db, "py:0001"]).assert().success();
    cmd().args(["compact", db]).assert().success();
    cmd().args(["checkpoint", db]).assert().success();
    cmd().args(["verify", db]).assert().code(0);
    cmd()
        .args(["get", db, "from-cli"])
        .assert()
        .success()
        .stdout("yes\n");
}
