//! Disk full: on a small tmpfs mounted by the test, writes fail with IoError once
//! the space is gone, nothing acknowledged is lost, reads go on working, the
//! database opens while the disk is still full, and writing works again as soon
//! as space is freed — on the same handle and after a reopen.
//!
//! Mounting needs root (or CAP_SYS_ADMIN), which the CI machine has; without it
//! the test fails and says so rather than passing untested.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use lightning_db::{Config, Database, ErrorKind, WriteBatch};

/// A tmpfs of `size` bytes, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: u64) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("fs");
        fs::create_dir(&dir).unwrap();
        let out = Command::new("mount")
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

    /// Fills the file system up with a file, leaving about `spare` bytes free.
    fn fill(&self, spare: u64) -> PathBuf {
        let stat = rustix::fs::statvfs(&self.dir).unwrap();
        let free = stat.f_bavail * stat.f_frsize;
        let filler = self.dir.join("filler");
        let f = fs::File::create(&filler).unwrap();
        f.set_len(0).unwrap();
        rustix::fs::fallocate(
            &f,
            rustix::fs::FallocateFlags::empty(),
            0,
            free.saturating_sub(spare),
        )
        .unwrap();
        filler
    }

    /// Takes whatever space is left with a second file.
    fn fill_more(&self) -> PathBuf {
        let filler = self.dir.join("filler2");
        let mut f = fs::File::create(&filler).unwrap();
        let block = vec![1u8; 4096];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn config() -> Config {
    Config {
        page_size: 512, // segments grow in steps of 128 KiB
        segment_size: 256 * 1024,
        auto_compact: false,
        ..Config::default()
    }
}

/// Space left and segment sizes varied so that the disk fills up at different
/// steps: growing a segment, sealing one, creating the next, in the middle of a
/// batch.
fn cases() -> Vec<(u64, Config)> {
    let mut cases = Vec::new();
    for segment_kib in [16, 64, 256] {
        for spare_kib in [0, 40, 130, 300] {
            let config = Config {
                segment_size: segment_kib * 1024,
                ..config()
            };
            cases.push((spare_kib * 1024, config));
        }
    }
    cases
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(900 + (i % 200) as usize, b'v');
    v
}

/// Commit `i`: every third is a batch of two, so a failed batch must leave
/// neither of its keys.
fn commit(db: &Database, i: u32) -> lightning_db::Result<()> {
    if i % 3 == 0 {
        let mut b = WriteBatch::new();
        b.put(key(i), value(i));
        b.put(key(i + 1_000_000), value(i));
        db.write(&b)
    } else {
        db.put(&key(i), &value(i))
    }
}

/// Commits until the disk is full; returns the number acknowledged.
fn write_until_full(db: &Database, from: u32) -> u32 {
    let mut i = from;
    loop {
        match commit(db, i) {
            Ok(()) => i += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::IoError, "{e}");
                assert!(e.to_string().contains("space"), "{e}");
                assert_eq!(db.get(&key(i)).unwrap(), None, "failed commit {i} applied");
                assert_eq!(db.get(&key(i + 1_000_000)).unwrap(), None);
                return i;
            }
        }
        assert!(i < from + 100_000, "the disk never filled up");
    }
}

fn check(db: &Database, upto: u32) {
    for i in 0..upto {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i)), "commit {i} lost");
        let pair = db.get(&key(i + 1_000_000)).unwrap();
        assert_eq!(pair, (i % 3 == 0).then(|| value(i)), "batch {i}");
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp"))
        .collect()
}

// The tests run one at a time: `mount` forks, and a forked child holds every
// descriptor of the parent, the writer lock's among them, until it execs; a
// reopen in another test at that moment would find the database locked.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_full_disk_fails_writes_with_io_error_and_loses_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (spare, config) in cases() {
        fill_and_free(spare, config);
    }
}

fn fill_and_free(spare: u64, config: Config) {
    let fs_ = Tmpfs::mount(4 << 20);
    let dir = fs_.dir.join("db");
    let db = Database::create(&dir, config.clone()).unwrap();
    for i in 0..200 {
        commit(&db, i).unwrap();
    }
    let filler = fs_.fill(spare);
    let acked = write_until_full(&db, 200);
    // Still full: further writes fail the same way, reads and scans go on.
    assert_eq!(write_until_full(&db, acked), acked);
    check(&db, acked);
    assert_eq!(db.iter().unwrap().count() as u32, acked + acked.div_ceil(3));
    // Maintenance on a full disk fails cleanly and leaves no half-written files.
    for result in [db.checkpoint().map(|_| ()), db.compact().map(|_| ())] {
        if let Err(e) = result {
            assert_eq!(e.kind(), ErrorKind::IoError, "{e}");
        }
    }
    assert_eq!(temp_files(&dir), Vec::<String>::new());
    check(&db, acked);
    // Space comes back: the same handle writes again.
    fs::remove_file(&filler).unwrap();
    for i in acked..acked + 300 {
        commit(&db, i).unwrap();
    }
    db.checkpoint().unwrap();
    db.compact().unwrap();
    db.close().unwrap();
    let db = Database::open(&dir, config).unwrap();
    check(&db, acked + 300);
    assert!(db.verify().unwrap().is_clean());
}

#[test]
fn a_database_closed_on_a_full_disk_reopens_with_every_commit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (spare, config) in cases() {
        close_full_and_reopen(spare, config);
    }
}

fn close_full_and_reopen(spare: u64, config: Config) {
    let fs_ = Tmpfs::mount(4 << 20);
    let dir = fs_.dir.join("db");
    let db = Database::create(&dir, config.clone()).unwrap();
    let filler = fs_.fill(spare);
    let acked = write_until_full(&db, 0);
    // Closing seals the segment; that may itself fail for want of space, and
    // must not lose anything either.
    let _ = db.close();
    drop(db);
    // Not a byte to spare: opening must not need any.
    let filler2 = fs_.fill_more();
    let db = Database::open(&dir, config.clone()).unwrap();
    check(&db, acked);
    assert!(db.verify().unwrap().is_clean());
    // Reopened while still full, then freed: writing works again.
    let _ = write_until_full(&db, acked);
    fs::remove_file(&filler).unwrap();
    fs::remove_file(&filler2).unwrap();
    let db2_from = acked + 10;
    for i in db2_from..db2_from + 200 {
        commit(&db, i).unwrap();
    }
    drop(db);
    let db = Database::open(&dir, config).unwrap();
    check(&db, acked);
    for i in db2_from..db2_from + 200 {
        assert_eq!(db.get(&key(i)).unwrap(), Some(value(i)));
    }
}
