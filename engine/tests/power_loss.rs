//! Power loss: whatever was not made durable by an fsync is gone.
//!
//! A hook (feature `fault-injection`) sees every fsync the engine issues and keeps
//! a shadow of what a power cut at that moment would leave on disk:
//! - a file holds what it held at its last `fdatasync`/`fsync` (a file never
//!   synced is empty);
//! - a directory holds the entries it had at its last `fsync` (files created,
//!   renamed or removed since are as before), whatever was done to the files.
//!
//! The durable state changes only at a sync, and what must survive only when a
//! commit is acknowledged, so saving the shadow at every sync and after every
//! acknowledgement captures every case a power cut can make. Each saved image is then laid out
//! in a fresh directory, opened and checked against a model of the workload: the
//! contents equal the state after some prefix of the commit order (nothing
//! half-applied, no holes), verify() is clean, and in `SyncMode::Full` every
//! commit acknowledged before the cut is in that prefix. In `Normal` and `Off` the
//! prefix covers at least every commit acknowledged before the last checkpoint
//! that returned.
//!
//! A second round cuts power again while the database recovers from such an image
//! and writes on, so recovery's own writes (zeroed torn tails, seals, removed
//! files) are checked the same way.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use lightning_db::fault_injection::{set_sync_hook, SyncTarget};
use lightning_db::{Config, Database, SyncMode, WriteBatch};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// What a power cut would leave in one database directory.
struct Shadow {
    dir: PathBuf,
    /// Durable content of each file, by inode.
    contents: HashMap<u64, Arc<Vec<u8>>>,
    /// Durable directory entries: name to inode.
    names: BTreeMap<String, u64>,
    images: Vec<Image>,
    /// Commits acknowledged so far, and the floor for the non-Full modes.
    acked: Arc<AtomicU64>,
    floor: Arc<AtomicU64>,
}

/// The files of one possible power-cut state and what must be in it.
struct Image {
    files: Vec<(String, Arc<Vec<u8>>)>,
    acked: u64,
    floor: u64,
}

impl Shadow {
    fn save_image(&mut self) {
        let files = self
            .names
            .iter()
            .map(|(name, ino)| {
                let content = self.contents.get(ino).cloned().unwrap_or_default();
                (name.clone(), content)
            })
            .collect();
        self.images.push(Image {
            files,
            acked: self.acked.load(Ordering::SeqCst),
            floor: self.floor.load(Ordering::SeqCst),
        });
    }
}

/// Shadows by directory; one hook for the whole test binary dispatches to them.
fn shadows() -> &'static Mutex<Vec<Shadow>> {
    static SHADOWS: OnceLock<Mutex<Vec<Shadow>>> = OnceLock::new();
    SHADOWS.get_or_init(|| {
        set_sync_hook(Some(Arc::new(|target| {
            observe(target);
            Ok(())
        })));
        Mutex::new(Vec::new())
    })
}

fn observe(target: SyncTarget<'_>) {
    let mut shadows = shadows().lock().unwrap();
    match target {
        SyncTarget::Data(file) | SyncTarget::All(file) => {
            let Ok(path) = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) else {
                return;
            };
            let Some(shadow) = shadows.iter_mut().find(|s| path.parent() == Some(&s.dir)) else {
                return;
            };
            let ino = file.metadata().unwrap().ino();
            let content = fs::read(&path).unwrap();
            shadow.contents.insert(ino, Arc::new(content));
            shadow.save_image();
        }
        SyncTarget::Dir(dir) => {
            let dir = dir.canonicalize().unwrap();
            let Some(shadow) = shadows.iter_mut().find(|s| s.dir == dir) else {
                return;
            };
            shadow.names = fs::read_dir(&dir)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let name = e.file_name().into_string().unwrap();
                    (name, e.metadata().unwrap().ino())
                })
                .collect();
            shadow.save_image();
        }
    }
}

/// Starts shadowing `dir` (which must exist and be empty or hold exactly `files`).
fn watch(dir: &Path, files: &[(String, Arc<Vec<u8>>)]) -> (Arc<AtomicU64>, Arc<AtomicU64>) {
    let dir = dir.canonicalize().unwrap();
    let mut contents = HashMap::new();
    let mut names = BTreeMap::new();
    for (name, content) in files {
        let ino = fs::metadata(dir.join(name)).unwrap().ino();
        contents.insert(ino, content.clone());
        names.insert(name.clone(), ino);
    }
    let acked = Arc::new(AtomicU64::new(0));
    let floor = Arc::new(AtomicU64::new(0));
    shadows().lock().unwrap().push(Shadow {
        dir,
        contents,
        names,
        images: Vec::new(),
        acked: acked.clone(),
        floor: floor.clone(),
    });
    (acked, floor)
}

/// Saves the durable state of `dir` as it is now: between two syncs it does not
/// change, but what must be in it does, with every acknowledgement.
fn cut_now(dir: &Path) {
    let dir = dir.canonicalize().unwrap();
    let mut shadows = shadows().lock().unwrap();
    let shadow = shadows.iter_mut().find(|s| s.dir == dir).unwrap();
    shadow.save_image();
}

fn unwatch(dir: &Path) -> Vec<Image> {
    let dir = dir.canonicalize().unwrap();
    let mut shadows = shadows().lock().unwrap();
    let at = shadows.iter().position(|s| s.dir == dir).unwrap();
    shadows.remove(at).images
}

fn config(mode: SyncMode) -> Config {
    Config {
        sync_mode: mode,
        page_size: 512,
        segment_size: 8 * 1024,
        auto_compact: false,
        cache_size: 4096,
        ..Config::default()
    }
}

fn key(n: u64) -> Vec<u8> {
    format!("key-{:02}", n % 40).into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    let len = if i % 7 == 3 {
        1500 + (i % 5) * 300
    } else {
        20 + i % 60
    };
    let mut v = format!("v{i}-").into_bytes();
    v.resize(len as usize, b'a' + (i % 26) as u8);
    v
}

/// Commit `i` of the workload, applied to the database and to the model. Kinds
/// rotate: a single put, a delete, a batch, a transaction, a put of a large value;
/// one commit in 25 rewrites every key, a frame large enough (80 KiB) that Full
/// mode syncs it beside its index updates.
fn commit(db: &Database, model: &mut Model, i: u64) {
    let a = i.wrapping_mul(7919) % 97;
    if i % 25 == 24 {
        let mut b = WriteBatch::new();
        for j in 0..40 {
            let mut v = value(i + j);
            v.resize(2048, b'0' + (j % 10) as u8);
            b.put(key(j), v.clone());
            model.insert(key(j), v);
        }
        db.write(&b).unwrap();
        return;
    }
    match i % 5 {
        0 | 4 => {
            db.put(&key(a), &value(i)).unwrap();
            model.insert(key(a), value(i));
        }
        1 => {
            db.delete(&key(a)).unwrap();
            model.remove(&key(a));
        }
        2 => {
            let mut b = WriteBatch::new();
            for j in 0..4 {
                if j == 2 {
                    b.delete(key(a + j));
                    model.remove(&key(a + j));
                } else {
                    b.put(key(a + j), value(i + j));
                    model.insert(key(a + j), value(i + j));
                }
            }
            db.write(&b).unwrap();
        }
        _ => {
            let mut tx = db.begin().unwrap();
            let seen = tx.get(&key(a)).unwrap();
            assert_eq!(seen.as_ref(), model.get(&key(a)));
            let mut v = seen.unwrap_or_default();
            v.extend_from_slice(format!("+{i}").as_bytes());
            v.truncate(400);
            tx.put(&key(a), &v).unwrap();
            tx.put(&key(a + 1), &value(i)).unwrap();
            tx.delete(&key(a + 2)).unwrap();
            tx.commit().unwrap();
            model.insert(key(a), v);
            model.insert(key(a + 1), value(i));
            model.remove(&key(a + 2));
        }
    }
}

/// The workload's progress against one database directory.
struct Workload {
    model: Model,
    /// The model after each prefix of the commit order: `states[j]` after `j` commits.
    states: Vec<Model>,
    acked: Arc<AtomicU64>,
    floor: Arc<AtomicU64>,
    backups: PathBuf,
}

impl Workload {
    /// Runs commits `from..to` with checkpoints, compactions and backups in between.
    fn run(&mut self, db: &Database, from: u64, to: u64) {
        for i in from..to {
            commit(db, &mut self.model, i);
            self.states.push(self.model.clone());
            self.acked.store(i + 1, Ordering::SeqCst);
            cut_now(db.path());
            // The commit after a checkpoint is checkpointed too: over a
            // delta, its changes are a second delta.
            if i % 37 == 36 || (i % 37 == 0 && i > 0) {
                db.checkpoint().unwrap();
                self.floor.store(i + 1, Ordering::SeqCst);
            }
            if i % 53 == 52 {
                db.compact().unwrap();
            }
            if i % 89 == 88 {
                db.backup(self.backups.join(format!("b{i}"))).unwrap();
            }
        }
    }
}

fn contents(db: &Database) -> Model {
    db.iter()
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

fn lay_out(image: &Image, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for (name, content) in &image.files {
        fs::write(dir.join(name), &content[..]).unwrap();
    }
}

/// Opens every image and checks it; returns how many commits had to be there
/// (acknowledged in Full, checkpointed otherwise), summed over the images.
fn check_images(images: &[Image], states: &[Model], mode: SyncMode, scratch: &Path) -> u64 {
    let mut found = 0;
    for (n, image) in images.iter().enumerate() {
        let dir = scratch.join(format!("image-{n}"));
        lay_out(image, &dir);
        let db = Database::open(&dir, config(mode))
            .unwrap_or_else(|e| panic!("image {n} (acked {}) does not open: {e}", image.acked));
        let got = contents(&db);
        let required = if mode == SyncMode::Full {
            image.acked
        } else {
            image.floor
        };
        // The newest prefix of the commit order with exactly these contents.
        let prefix = (0..states.len())
            .rev()
            .find(|&j| states[j] == got)
            .unwrap_or_else(|| {
                panic!("image {n}: the contents are no prefix of the commit order: {got:?}")
            }) as u64;
        assert!(
            prefix >= required,
            "image {n}: holds the first {prefix} commits, {required} were durable ({mode:?})"
        );
        let report = db.verify().unwrap();
        assert!(report.is_clean(), "image {n}: {report:?}");
        found += required;
        drop(db);
        fs::remove_dir_all(&dir).unwrap();
        // The image's segments alone, without its index file, replay to the
        // same contents: what recovery rebuilds from when that file is damaged.
        fs::create_dir_all(&dir).unwrap();
        for (name, content) in &image.files {
            if !name.starts_with("index.ckpt") {
                fs::write(dir.join(name), &content[..]).unwrap();
            }
        }
        let read_only = Config {
            read_only: true,
            ..config(mode)
        };
        let replayed = contents(&Database::open(&dir, read_only).unwrap());
        assert!(
            replayed == got,
            "image {n}: the segments alone replay to other contents"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
    found
}

/// Commits per workload; `LDB_POWER_COMMITS=3000` for a soak.
fn commits() -> u64 {
    std::env::var("LDB_POWER_COMMITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

fn power_cuts(mode: SyncMode) {
    let total = commits();
    let half = total / 2;
    // The shadow decides what survives, not the disk: on tmpfs the real syncs
    // cost nothing.
    let tmp = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let dir = tmp.path().join("db");
    let backups = tmp.path().join("backups");
    fs::create_dir_all(&dir).unwrap();
    fs::create_dir_all(&backups).unwrap();
    let (acked, floor) = watch(&dir, &[]);
    let mut work = Workload {
        model: Model::new(),
        states: vec![Model::new()],
        acked,
        floor,
        backups,
    };
    let db = Database::open(&dir, config(mode)).unwrap();
    work.run(&db, 0, half);
    // A clean close and reopen in the middle: recovery paths run under the hook too.
    db.close().unwrap();
    work.floor.store(half, Ordering::SeqCst);
    let db = Database::open(&dir, config(mode)).unwrap();
    work.run(&db, half, total);
    drop(db);
    let states = work.states;
    let images = unwatch(&dir);
    let scratch = tmp.path().join("scratch");
    let mut checked = images.len();
    let mut found = check_images(&images, &states, mode, &scratch);
    // One image per acknowledgement, plus one per sync: Full syncs at least once
    // per commit; the others at checkpoints, roll-overs, compactions and close.
    let expected = if mode == SyncMode::Full {
        2 * total
    } else {
        total + 80
    };
    assert!(
        images.len() as u64 > expected,
        "only {} images",
        images.len()
    );

    // Second round: cut power in the middle of the run, recover from that image
    // and write on, cutting power again at every sync of recovery and after.
    for n in (0..images.len()).step_by(images.len() / 12) {
        let image = &images[n];
        // What the image holds, read from a copy, so that recovery from the image
        // itself is held to it from its first sync on.
        let probe_dir = scratch.join(format!("probe-{n}"));
        lay_out(image, &probe_dir);
        let held = contents(&Database::open(&probe_dir, config(mode)).unwrap());
        let first = (0..states.len())
            .rev()
            .find(|&j| states[j] == held)
            .unwrap() as u64;
        let again = tmp.path().join(format!("again-{n}"));
        lay_out(image, &again);
        let (acked, floor) = watch(&again, &image.files);
        acked.store(first, Ordering::SeqCst);
        floor.store(first, Ordering::SeqCst);
        let backups = tmp.path().join(format!("backups-{n}"));
        fs::create_dir_all(&backups).unwrap();
        let mut work = Workload {
            model: held,
            states: states[..=first as usize].to_vec(),
            acked,
            floor,
            backups,
        };
        let db = Database::open(&again, config(mode)).unwrap();
        work.run(&db, first, first + 60);
        drop(db);
        let images2 = unwatch(&again);
        checked += images2.len();
        found += check_images(&images2, &work.states, mode, &scratch);
    }
    eprintln!(
        "power loss ({mode:?}): {checked} power-cut images checked, \
         {found} commits required in them and found"
    );
}

// One test at a time: the sync hook is process-wide and the shadows are cheap to
// keep apart, but the workloads are easier to read in the log one after another.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn full_keeps_every_acknowledged_commit_through_a_power_cut() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    power_cuts(SyncMode::Full);
}

#[test]
fn normal_leaves_a_prefix_covering_the_last_checkpoint() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    power_cuts(SyncMode::Normal);
}

#[test]
fn off_leaves_a_prefix_covering_the_last_checkpoint() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    power_cuts(SyncMode::Off);
}

/// A directory's files, by name, with their contents: what `watch` starts from.
type Files = Vec<(String, Arc<Vec<u8>>)>;

/// A database in `tmp` that one handle opened, wrote key 1 to and closed, and
/// its files as they are then.
fn closed_after_one_put(tmp: &Path) -> (PathBuf, Files) {
    let dir = tmp.join("db");
    fs::create_dir_all(&dir).unwrap();
    let db = Database::open(&dir, config(SyncMode::Full)).unwrap();
    db.put(&key(1), &value(1)).unwrap();
    db.close().unwrap();
    let files = fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name, Arc::new(fs::read(e.path()).unwrap()))
        })
        .collect();
    (dir, files)
}

#[test]
// Every change a handle makes to the directory is synced by that handle, so an
// open that finds a cleanly closed database has nothing to make durable: it
// syncs nothing, and leaves the seal frame of the segment it appends to in
// place for the first commit to be written over (the power cuts above cut
// between that open and that commit).
fn an_open_after_a_clean_close_syncs_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, files) = closed_after_one_put(tmp.path());
    watch(&dir, &files);
    let images = |dir: &Path| {
        let dir = dir.canonicalize().unwrap();
        let shadows = shadows().lock().unwrap();
        shadows.iter().find(|s| s.dir == dir).unwrap().images.len()
    };
    let db = Database::open(&dir, config(SyncMode::Full)).unwrap();
    assert_eq!(images(&dir), 0, "the open synced");
    db.put(&key(2), &value(2)).unwrap();
    assert!(images(&dir) > 0, "a commit in Full syncs");
    drop(db);
    let last = unwatch(&dir).pop().unwrap();
    let probe = tmp.path().join("probe");
    lay_out(&last, &probe);
    let db = Database::open(&probe, config(SyncMode::Full)).unwrap();
    assert_eq!(db.get(&key(1)).unwrap(), Some(value(1)));
    assert_eq!(db.get(&key(2)).unwrap(), Some(value(2)));
}

#[test]
// A handle that commits nothing after a clean close changes nothing on disk: it
// reads the sealed segment it would append to, leaves its seal frame in place,
// and its close finds nothing to seal or sync. (Before, the open zeroed the seal
// frame and the close wrote it again and synced it, and the write could wait on
// the file system's journal: a read-only session of a database cost a sync and
// a change of its files' times.)
fn a_handle_that_commits_nothing_writes_and_syncs_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (dir, files) = closed_after_one_put(tmp.path());
    // Contents and modification time of each file.
    let on_disk = |dir: &Path| {
        let mut files: Vec<(String, Vec<u8>, std::time::SystemTime)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let modified = e.metadata().unwrap().modified().unwrap();
                let name = e.file_name().into_string().unwrap();
                (name, fs::read(e.path()).unwrap(), modified)
            })
            .collect();
        files.sort();
        files
    };
    let before = on_disk(&dir);
    watch(&dir, &files);
    for _ in 0..2 {
        let db = Database::open(&dir, config(SyncMode::Full)).unwrap();
        assert_eq!(db.get(&key(1)).unwrap(), Some(value(1)));
        db.close().unwrap();
    }
    let images = unwatch(&dir);
    assert_eq!(images.len(), 0, "a handle that committed nothing synced");
    assert!(
        on_disk(&dir) == before,
        "a handle that committed nothing changed a file"
    );
}
