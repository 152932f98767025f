//! A full disk under load, put and backup: a one-line error, exit code 1, and
//! nothing half-written. The disk is a small tmpfs the test mounts, which needs
//! root (or CAP_SYS_ADMIN), as CI has; without it the test fails and says so.

mod common;

use std::path::PathBuf;
use std::process::Command as Process;

use common::*;

/// A tmpfs of `size` bytes, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: u64) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("fs");
        std::fs::create_dir(&dir).unwrap();
        let out = Process::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root or CAP_SYS_ADMIN: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            dir,
            _parent: parent,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn load_put_and_backup_on_a_full_disk_fail_cleanly() {
    let fs = Tmpfs::mount(4 << 20);
    let work = tempfile::tempdir().unwrap();
    // 6 MiB of values, more than the disk holds.
    let mut dump = String::from("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n");
    for i in 0..6u8 {
        dump += &format!(" 6b{i:02x}\n {}\n", "ab".repeat(1 << 20));
    }
    dump += "DATA=END\n";
    let file = work.path().join("big.dump");
    std::fs::write(&file, dump).unwrap();

    let db = fs.dir.join("db");
    cmd()
        .args(["put", p(&db), "small", "kept"])
        .assert()
        .success();
    let o = run(&["load", p(&db), p(&file)]);
    assert_fails(&o, 1, "No space left on device");
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    // What was there is still there and readable; the failed load added nothing.
    cmd()
        .args(["get", p(&db), "small"])
        .assert()
        .success()
        .stdout("kept\n");
    cmd()
        .args(["scan", p(&db), "--keys-only"])
        .assert()
        .success()
        .stdout("small\n");
    cmd().args(["verify", p(&db)]).assert().code(0);
    let value = work.path().join("value.bin");
    std::fs::write(&value, vec![1u8; 5 << 20]).unwrap();
    assert_fails(
        &run(&["put", p(&db), "big", "--value-file", p(&value)]),
        1,
        "No space left on device",
    );
    cmd()
        .args(["scan", p(&db), "--keys-only"])
        .assert()
        .success()
        .stdout("small\n");

    // Into a new database: the staged batches fill the disk, and nothing is left.
    let new = fs.dir.join("new");
    assert_fails(
        &run(&["load", p(&new), p(&file)]),
        1,
        "No space left on device",
    );
    let names: Vec<_> = std::fs::read_dir(&fs.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["db"], "a failed load left files behind");

    // A backup onto the full disk: the source is elsewhere, the copy cannot fit.
    let src = work.path().join("src");
    let entries: Vec<_> = (0..6u8)
        .map(|i| (vec![b'k', i], vec![i; 1 << 20]))
        .collect();
    make_db(&src, &entries);
    let o = run(&["backup", p(&src), p(&fs.dir.join("backup"))]);
    assert_fails(&o, 1, "No space left on device");
}
