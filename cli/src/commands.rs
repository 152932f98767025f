//! One function per command. Commands that only read open the database
//! read-only, so they work beside a process that holds the writer lock.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use lightning_db::{Config, Database, ErrorKind, KeyRange, WriteBatch, MAX_COMMIT_SIZE};

use crate::dumpfile::{self, DumpReader};
use crate::encoding::Encoding;
use crate::failure::{Failure, Outcome, COULD_NOT_VERIFY, DAMAGED};
use crate::progress::{human_bytes, Ui};

/// Values are read once by a command, so the engine's read cache would only cost
/// memory (a dump of a large database must stay small).
fn config(read_only: bool) -> Config {
    Config {
        read_only,
        cache_size: 0,
        ..Config::default()
    }
}

/// A directory with none of the engine's files is refused rather than read as an
/// empty database: a mistyped path should not look like a database with no keys.
fn check_is_database(path: &Path) -> Outcome<()> {
    let entries =
        std::fs::read_dir(path).map_err(|e| Failure::io(format!("open {}", path.display()), e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "LOCK" || name == "index.ckpt" || name.ends_with(".seg") {
            return Ok(());
        }
    }
    Err(Failure::new(format!(
        "{} is not a Lightning DB database (no segment files, checkpoint or LOCK)",
        path.display()
    )))
}

pub fn open_read(path: &Path) -> Outcome<Database> {
    if path.is_dir() {
        check_is_database(path)?;
    }
    Database::open(path, config(true))
        .map_err(|e| Failure::engine(format!("open {}", path.display()), e))
}

fn open_write(path: &Path, create: bool) -> Outcome<Database> {
    let result = if create {
        Database::create(path, config(false))
    } else {
        if path.is_dir() {
            check_is_database(path)?;
        }
        Database::open(path, config(false))
    };
    result.map_err(|e| {
        if e.kind() == ErrorKind::DatabaseLocked {
            Failure::new(format!(
                "{}: database locked: another process is writing to it (read-only commands such as get, scan, dump and backup still work)",
                path.display()
            ))
        } else {
            Failure::engine(format!("open {}", path.display()), e)
        }
    })
}

/// Closes a handle that wrote, so a failed final sync is reported, not dropped.
fn close(db: Database) -> Outcome<()> {
    db.close()
        .map_err(|e| Failure::engine(format!("close {}", db.path().display()), e))
}

/// A failed write to stdout; a reader that went away (`| head`) ends the command
/// quietly with success.
fn output_failure(what: &str, e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure {
            code: 0,
            ..Failure::new("")
        }
    } else {
        Failure::io(format!("write {what}"), e)
    }
}

pub fn write_stdout(bytes: &[u8], what: &str) -> Outcome<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| output_failure(what, e))
}

fn shown(enc: Encoding, bytes: &[u8]) -> String {
    let mut out = Vec::new();
    enc.encode_into(bytes, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn file_mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A UTC timestamp without a date library: days since the epoch to a civil date
/// (Howard Hinnant's algorithm).
fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Bytes the files of `dir` take on disk (allocated blocks, as `du` counts):
/// segment files are allocated ahead of the writes, and a seal gives the unused
/// tail back, so file lengths alone say little about space.
fn disk_usage(dir: &Path) -> u64 {
    #[cfg(unix)]
    fn allocated(m: &std::fs::Metadata) -> u64 {
        use std::os::unix::fs::MetadataExt;
        m.blocks() * 512
    }
    #[cfg(not(unix))]
    fn allocated(m: &std::fs::Metadata) -> u64 {
        m.len()
    }
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| allocated(&m))
                .sum()
        })
        .unwrap_or(0)
}

pub fn stats(path: &Path, json: bool) -> Outcome<()> {
    let db = open_read(path)?;
    let s = db.stats()?;
    // The newest segment's modification time is when the last commit was written.
    let mut last_write = None;
    for entry in std::fs::read_dir(path)
        .map_err(|e| Failure::io(path.display(), e))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().ends_with(".seg") {
            last_write = last_write.max(file_mtime(&entry.path()));
        }
    }
    let checkpoint = std::fs::metadata(path.join("index.ckpt")).ok();
    let disk = disk_usage(path);
    // A read-only handle's total_bytes is the segment files' length, including
    // the room allocated ahead of the writes.
    let out = if json {
        let value = serde_json::json!({
            "path": path.display().to_string(),
            "keys": s.live_keys,
            "live_bytes": s.live_bytes,
            "segments": s.segments,
            "segment_file_bytes": s.total_bytes,
            "disk_bytes": disk,
            "last_commit_seq": s.last_seq,
            "last_write": last_write.map(utc),
            "checkpoint_bytes": checkpoint.as_ref().map(|m| m.len()),
            "checkpoint_written": checkpoint.as_ref().and_then(|m| m.modified().ok()).map(utc),
        });
        format!("{value:#}\n")
    } else {
        let mut t = String::new();
        t += &format!("path          {}\n", path.display());
        t += &format!("keys          {}\n", s.live_keys);
        t += &format!(
            "live bytes    {} (the newest record of every key)\n",
            human_bytes(s.live_bytes)
        );
        t += &format!(
            "segments      {} ({} of files, with room allocated ahead of writes)\n",
            s.segments,
            human_bytes(s.total_bytes)
        );
        t += &format!("disk usage    {} (all files)\n", human_bytes(disk));
        t += &format!(
            "last commit   seq {}{}\n",
            s.last_seq,
            last_write
                .map(|w| format!(", written {}", utc(w)))
                .unwrap_or_default()
        );
        t += &match &checkpoint {
            Some(m) => format!(
                "checkpoint    {}{}\n",
                human_bytes(m.len()),
                m.modified()
                    .map(|w| format!(", written {}", utc(w)))
                    .unwrap_or_default()
            ),
            None => "checkpoint    none (the next open replays the whole log)\n".to_string(),
        };
        t
    };
    write_stdout(out.as_bytes(), "stats")
}

/// Returns the exit code: 0 clean, 1 damaged, 2 could not run.
pub fn verify(path: &Path, ui: Ui) -> u8 {
    let db = match open_read(path) {
        Ok(db) => db,
        Err(f) => {
            // Damage that stops the database from opening is still damage.
            let damaged = f.kind == Some(ErrorKind::CorruptedData);
            eprintln!("lightning-db: {}", f.message);
            return if damaged { DAMAGED } else { COULD_NOT_VERIFY };
        }
    };
    let total = db.stats().map(|s| s.total_bytes).unwrap_or(0);
    // The engine's verify reports only when done, so the bar shows the size and
    // the time taken rather than a moving fraction.
    let bar = ui.spinner(&format!("verifying {} of segments", human_bytes(total)));
    let result = db.verify();
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lightning-db: verify {}: {e}", path.display());
            return if e.kind() == ErrorKind::CorruptedData {
                DAMAGED
            } else {
                COULD_NOT_VERIFY
            };
        }
    };
    let mut out = String::new();
    for c in &report.corruptions {
        out += &format!("damaged: {} at offset {}: {}\n", c.file, c.offset, c.reason);
    }
    let summary = format!(
        "{} segments, {} records, {} bytes, {} live keys",
        report.segments, report.records, report.bytes, report.live_keys
    );
    if report.is_clean() {
        if !ui.quiet {
            out += &format!("clean: {summary}\n");
        }
    } else {
        out += &format!(
            "DAMAGED: {} problem(s), {} live key(s) unreadable; {summary}\n",
            report.corruptions.len(),
            report.unreadable_keys
        );
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    if report.is_clean() {
        0
    } else {
        DAMAGED
    }
}

pub fn get(path: &Path, key: &str, output: Option<&Path>, enc: Encoding) -> Outcome<()> {
    let key_bytes = enc.decode("key", key)?;
    let db = open_read(path)?;
    let value = db
        .get(&key_bytes)
        .map_err(|e| Failure::engine(format!("get {key:?}"), e))?
        .ok_or_else(|| Failure::new(format!("key not found: {key}")))?;
    if let Some(file) = output {
        return std::fs::write(file, &value)
            .map_err(|e| Failure::io(format!("write {}", file.display()), e));
    }
    let mut line = Vec::with_capacity(value.len() * 2 + 1);
    match enc {
        // The value itself, so `get db k > file` gives its bytes back (plus the
        // newline a shell expects; -o writes them exactly).
        Encoding::Text => line.extend_from_slice(&value),
        other => other.encode_into(&value, &mut line),
    }
    line.push(b'\n');
    std::io::stdout()
        .write_all(&line)
        .map_err(|e| output_failure("value", e))
}

pub fn put(
    path: &Path,
    key: &str,
    value: Option<&str>,
    value_file: Option<&Path>,
    enc: Encoding,
) -> Outcome<()> {
    let key_bytes = enc.decode("key", key)?;
    let value_bytes = match (value, value_file) {
        (Some(v), _) => enc.decode("value", v)?,
        (None, Some(f)) if f == Path::new("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::io("read the value from stdin", e))?;
            buf
        }
        (None, Some(f)) => {
            std::fs::read(f).map_err(|e| Failure::io(format!("read {}", f.display()), e))?
        }
        (None, None) => return Err(Failure::usage("give a VALUE or --value-file")),
    };
    let db = open_write(path, true)?;
    db.put(&key_bytes, &value_bytes)
        .map_err(|e| Failure::engine(format!("put {key:?}"), e))?;
    close(db)
}

pub fn delete(path: &Path, key: &str, enc: Encoding) -> Outcome<()> {
    let key_bytes = enc.decode("key", key)?;
    let db = open_write(path, false)?;
    let existed = db
        .delete(&key_bytes)
        .map_err(|e| Failure::engine(format!("delete {key:?}"), e))?;
    close(db)?;
    if existed {
        Ok(())
    } else {
        Err(Failure::new(format!("key not found: {key}")))
    }
}

pub struct ScanArgs {
    pub prefix: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reverse: bool,
    pub limit: Option<u64>,
    pub keys_only: bool,
}

pub fn scan(path: &Path, args: ScanArgs, enc: Encoding) -> Outcome<()> {
    let range = if let Some(p) = &args.prefix {
        KeyRange::prefix(&enc.decode("--prefix", p)?)
    } else {
        let bound =
            |what: &str, arg: &Option<String>, inclusive: bool| -> Outcome<Bound<Vec<u8>>> {
                Ok(match arg {
                    None => Bound::Unbounded,
                    Some(a) if inclusive => Bound::Included(enc.decode(what, a)?),
                    Some(a) => Bound::Excluded(enc.decode(what, a)?),
                })
            };
        KeyRange {
            start: bound("--from", &args.from, true)?,
            end: bound("--to", &args.to, false)?,
        }
    };
    let db = open_read(path)?;
    let mut iter = db.range(range)?;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut line = Vec::new();
    let mut n = 0u64;
    while args.limit.is_none_or(|l| n < l) {
        let format = |k: &[u8], v: &[u8]| {
            line.clear();
            enc.encode_into(k, &mut line);
            if !args.keys_only {
                line.push(b'\t');
                enc.encode_into(v, &mut line);
            }
            line.push(b'\n');
        };
        let step = if args.reverse {
            iter.next_back_with(format)
        } else {
            iter.next_with(format)
        };
        match step {
            None => break,
            Some(r) => r.map_err(|e| Failure::engine("scan", e))?,
        }
        out.write_all(&line)
            .map_err(|e| output_failure("scan output", e))?;
        n += 1;
    }
    out.flush().map_err(|e| output_failure("scan output", e))
}

pub fn checkpoint(path: &Path, ui: Ui) -> Outcome<()> {
    let db = open_write(path, false)?;
    db.checkpoint()
        .map_err(|e| Failure::engine("checkpoint", e))?;
    let s = db.stats()?;
    close(db)?;
    ui.say(format!(
        "checkpoint written: {} keys as of seq {}",
        s.live_keys, s.last_seq
    ));
    Ok(())
}

pub fn compact(path: &Path, ui: Ui) -> Outcome<()> {
    let db = open_write(path, false)?;
    let before = (db.stats()?.segments, disk_usage(path));
    let bar = ui.spinner(&format!("compacting {}", human_bytes(before.1)));
    let result = db.compact();
    bar.finish_and_clear();
    let report = result.map_err(|e| Failure::engine("compact", e))?;
    let live = db.stats()?.live_bytes;
    close(db)?;
    let after = (db_segments(path), disk_usage(path));
    if report.records_copied == 0 && report.segments_before == 0 {
        ui.say(format!(
            "nothing to compact: no sealed segment holds enough dead records; {} on disk, {} live",
            human_bytes(after.1),
            human_bytes(live)
        ));
    } else {
        ui.say(format!(
            "compacted: {} in {} segments -> {} in {} segments ({} live); {} records copied",
            human_bytes(before.1),
            before.0,
            human_bytes(after.1),
            after.0,
            human_bytes(live),
            report.records_copied
        ));
    }
    Ok(())
}

fn db_segments(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .count() as u64
        })
        .unwrap_or(0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn backup(path: &Path, dest: &Path, ui: Ui) -> Outcome<()> {
    // Read-only: no writer lock, so a running writer process is not disturbed;
    // the copy is the snapshot this handle opened.
    let db = open_read(path)?;
    let s = db.stats()?;
    let bar = ui.bytes(s.total_bytes, "backup");
    let done = AtomicBool::new(false);
    // The engine copies without reporting progress; the bytes arriving in DEST are it.
    let result = std::thread::scope(|scope| {
        if !bar.is_hidden() {
            scope.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    bar.set_position(dir_bytes(dest).min(s.total_bytes));
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        let r = db.backup(dest);
        done.store(true, Ordering::Release);
        r
    });
    bar.finish_and_clear();
    result.map_err(|e| {
        Failure::engine(
            format!("backup {} to {}", path.display(), dest.display()),
            e,
        )
    })?;
    ui.say(format!(
        "backed up {} keys (seq {}) to {}: {}",
        s.live_keys,
        s.last_seq,
        dest.display(),
        human_bytes(dir_bytes(dest))
    ));
    Ok(())
}

pub fn dump(
    path: &Path,
    output: Option<&Path>,
    printable: bool,
    mapsize: Option<u64>,
    ui: Ui,
) -> Outcome<()> {
    let db = open_read(path)?;
    let keys = db.len()? as u64;
    let (mut out, name): (Box<dyn Write>, String) = match output {
        Some(file) => (
            Box::new(
                File::create(file)
                    .map_err(|e| Failure::io(format!("create {}", file.display()), e))?,
            ),
            file.display().to_string(),
        ),
        None => (Box::new(std::io::stdout().lock()), "stdout".to_string()),
    };
    let fail = |e: std::io::Error| {
        let f = output_failure(&name, e);
        if output.is_some() {
            Failure::new(format!("{} (the dump in {name} is incomplete)", f.message))
        } else {
            f
        }
    };
    // A bar on the terminal the dump itself is printed to would be torn by it.
    let to_terminal = output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let bar = Ui {
        quiet: ui.quiet || to_terminal,
    }
    .items(keys, "dump", "keys");
    dumpfile::write_header(&mut out, printable, mapsize).map_err(fail)?;
    let mut iter = db.iter()?;
    let mut buf = Vec::with_capacity(1 << 17);
    let mut n = 0u64;
    while let Some(r) = iter.next_with(|k, v| dumpfile::push_entry(&mut buf, k, v, printable)) {
        r.map_err(|e| Failure::engine("dump", e))?;
        n += 1;
        if buf.len() >= 1 << 16 {
            out.write_all(&buf).map_err(fail)?;
            buf.clear();
            bar.set_position(n);
        }
    }
    out.write_all(&buf).map_err(fail)?;
    dumpfile::write_footer(&mut out).map_err(fail)?;
    out.flush().map_err(fail)?;
    bar.finish_and_clear();
    if output.is_some() {
        ui.say(format!("dumped {n} keys to {name}"));
    }
    Ok(())
}

/// How a load or import commits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Into a database that did not exist: batches into a new directory beside
    /// it, renamed into place at the end, so memory stays bounded and the result
    /// is still all or nothing.
    Staged,
    /// Into an existing database: one commit holding everything.
    AllAtOnce,
    /// Into an existing database with --batch-size: a commit every N entries.
    Every,
}

/// A staged load's batches: whichever limit comes first.
const STAGE_BATCH_BYTES: usize = 64 << 20;
const STAGE_BATCH_ENTRIES: u64 = 100_000;

/// Commits the entries of a load or an import (see [`Mode`]).
pub struct Loader {
    db: Option<Database>,
    mode: Mode,
    /// The staging directory and the database path it becomes.
    staged: Option<(PathBuf, PathBuf)>,
    batch: WriteBatch,
    batch_bytes: usize,
    batch_size: Option<u64>,
    entries: u64,
    commits: u64,
}

impl Loader {
    pub fn open(path: &Path, batch_size: Option<u64>) -> Outcome<Loader> {
        let fresh = match std::fs::read_dir(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Ok(mut entries) => entries.next().is_none(),
            Err(_) => false, // open_write reports it
        };
        let (db, mode, staged) = if fresh {
            let name = path
                .file_name()
                .ok_or_else(|| Failure::usage(format!("{} names no directory", path.display())))?;
            let mut stage_name = name.to_os_string();
            stage_name.push(format!(".loading.{}", std::process::id()));
            let stage = path.with_file_name(stage_name);
            let db = open_write(&stage, true)?;
            (db, Mode::Staged, Some((stage, path.to_path_buf())))
        } else {
            let mode = if batch_size.is_some() {
                Mode::Every
            } else {
                Mode::AllAtOnce
            };
            (open_write(path, true)?, mode, None)
        };
        Ok(Loader {
            db: Some(db),
            mode,
            staged,
            batch: WriteBatch::new(),
            batch_bytes: 0,
            batch_size,
            entries: 0,
            commits: 0,
        })
    }

    /// Checks `key` and `value` (so a bad entry is refused with its place before
    /// anything is committed) and adds them; `place` says where they came from.
    pub fn add(&mut self, key: &[u8], value: &[u8], place: impl Fn() -> String) -> Outcome<()> {
        if key.is_empty() {
            return Err(Failure::new(format!(
                "{}: empty key (keys must not be empty)",
                place()
            )));
        }
        if key.len() > lightning_db::MAX_KEY_SIZE {
            return Err(Failure::new(format!(
                "{}: key of {} bytes exceeds the limit of {}",
                place(),
                key.len(),
                lightning_db::MAX_KEY_SIZE
            )));
        }
        if value.len() > lightning_db::MAX_VALUE_SIZE {
            return Err(Failure::new(format!(
                "{}: value of {} bytes exceeds the limit of {}",
                place(),
                value.len(),
                lightning_db::MAX_VALUE_SIZE
            )));
        }
        // Record headers take a few bytes beyond key and value; leave room for them.
        self.batch_bytes += key.len() + value.len() + 32;
        if self.mode == Mode::AllAtOnce && self.batch_bytes > MAX_COMMIT_SIZE {
            return Err(Failure::new(format!(
                "{}: more than {} in one commit; use --batch-size N to commit every N entries (not all-or-nothing), or load into a new database",
                place(),
                human_bytes(MAX_COMMIT_SIZE as u64)
            )));
        }
        self.batch.put(key, value);
        self.entries += 1;
        let full = match self.mode {
            Mode::AllAtOnce => false,
            Mode::Every => self.batch.len() as u64 >= self.batch_size.unwrap_or(u64::MAX),
            Mode::Staged => {
                self.batch.len() as u64 >= self.batch_size.unwrap_or(STAGE_BATCH_ENTRIES)
                    || self.batch_bytes >= STAGE_BATCH_BYTES
            }
        };
        if full {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Outcome<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let db = self.db.as_ref().expect("open until finished");
        db.write(&self.batch)
            .map_err(|e| self.explain(Failure::engine("commit", e)))?;
        self.commits += 1;
        self.batch.clear();
        self.batch_bytes = 0;
        Ok(())
    }

    /// Adds to a failure what the database holds now.
    pub fn explain(&self, f: Failure) -> Failure {
        let note = if self.mode != Mode::Every || self.commits == 0 {
            "nothing was written".to_string()
        } else {
            let kept = self.commits * self.batch_size.unwrap_or(0);
            format!(
                "the {kept} entries of the {} batches before it stay committed",
                self.commits
            )
        };
        Failure::new(format!("{}; {note}", f.message))
    }

    /// Commits what is left and, for a staged load, moves the database into place.
    /// Returns the entries and commits.
    pub fn finish(mut self) -> Outcome<(u64, u64)> {
        self.commit()?;
        close(self.db.take().expect("open until finished")).map_err(|f| self.explain(f))?;
        if let Some((stage, dest)) = self.staged.take() {
            let moved = std::fs::rename(&stage, &dest).and_then(|()| {
                let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
                File::open(parent.unwrap_or(Path::new(".")))?.sync_all()
            });
            if let Err(e) = moved {
                let _ = std::fs::remove_dir_all(&stage);
                return Err(Failure::io(
                    format!(
                        "move the loaded database into {} (nothing was written)",
                        dest.display()
                    ),
                    e,
                ));
            }
        }
        Ok((self.entries, self.commits))
    }
}

impl Drop for Loader {
    /// A load that failed or was abandoned leaves no staging directory behind.
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            let _ = db.close();
        }
        if let Some((stage, _)) = self.staged.take() {
            let _ = std::fs::remove_dir_all(stage);
        }
    }
}

/// Counts the bytes the dump reader has taken, for the progress bar.
struct Counting<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

pub fn load(path: &Path, file: Option<&Path>, batch_size: Option<u64>, ui: Ui) -> Outcome<()> {
    let (input, name, size): (Box<dyn Read>, String, Option<u64>) = match file {
        Some(f) if f != Path::new("-") => {
            let handle =
                File::open(f).map_err(|e| Failure::io(format!("open {}", f.display()), e))?;
            let size = handle.metadata().ok().map(|m| m.len());
            (Box::new(handle), f.display().to_string(), size)
        }
        _ => (Box::new(std::io::stdin().lock()), "stdin".to_string(), None),
    };
    let read = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counting = Counting {
        inner: input,
        read: read.clone(),
    };
    let mut reader = DumpReader::new(BufReader::with_capacity(1 << 20, counting), name.clone())?;
    let mut loader = Loader::open(path, batch_size)?;
    let bar = match size {
        Some(total) => ui.bytes(total, "load"),
        None => ui.spinner("loading from stdin"),
    };
    let (mut key, mut value) = (Vec::new(), Vec::new());
    loop {
        let step = reader.next_entry(&mut key, &mut value).and_then(|more| {
            if more {
                loader.add(&key, &value, || {
                    format!("{name}: line {}", reader.key_line())
                })?;
            }
            Ok(more)
        });
        if !step.map_err(|f| loader.explain(f))? {
            break;
        }
        if loader.entries % 1024 == 0 {
            bar.set_position(read.get());
        }
    }
    bar.set_message("committing");
    let (entries, commits) = loader.finish()?;
    bar.finish_and_clear();
    ui.say(format!(
        "loaded {entries} keys from {name} into {} in {commits} commit(s)",
        path.display()
    ));
    Ok(())
}

pub fn demo(path: &Path) -> Outcome<()> {
    let db = open_write(path, true)?;
    let mut out = String::new();
    out += &format!("Lightning DB demo in {}\n\n", path.display());
    let users = [
        ("user:1", r#"{"name":"Ada","lang":"Rust"}"#),
        ("user:2", r#"{"name":"Grace","lang":"COBOL"}"#),
        ("user:3", r#"{"name":"Linus","lang":"C"}"#),
    ];
    let mut batch = WriteBatch::new();
    for (k, v) in users {
        batch.put(k, v);
    }
    batch.put("config:theme", "dark").put("counter", "0");
    db.write(&batch)?;
    out += "wrote 5 keys in one atomic batch\n";
    for _ in 0..3 {
        let mut tx = db.begin()?;
        let n: u64 = tx
            .get(b"counter")?
            .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0);
        tx.put(b"counter", (n + 1).to_string().as_bytes())?;
        tx.commit()?;
    }
    out += &format!(
        "incremented counter in 3 transactions: counter = {}\n",
        String::from_utf8_lossy(&db.get(b"counter")?.unwrap_or_default())
    );
    out += "\nscan --prefix user:\n";
    for item in db.prefix(b"user:")? {
        let (k, v) = item?;
        out += &format!(
            "  {}\t{}\n",
            shown(Encoding::Text, &k),
            shown(Encoding::Text, &v)
        );
    }
    db.delete(b"config:theme")?;
    out += "\ndeleted config:theme\n";
    db.checkpoint()?;
    let s = db.stats()?;
    out += &format!(
        "checkpoint written: {} keys, {} live of {} on disk, last commit seq {}\n",
        s.live_keys,
        human_bytes(s.live_bytes),
        human_bytes(s.total_bytes),
        s.last_seq
    );
    let report = db.verify()?;
    out += &format!(
        "verify: {} ({} records in {} segment(s))\n",
        if report.is_clean() {
            "clean"
        } else {
            "DAMAGED"
        },
        report.records,
        report.segments
    );
    close(db)?;
    let p = path.display();
    out += &format!(
        "\nTry:\n  lightning-db stats {p}\n  lightning-db scan {p} --prefix user:\n  lightning-db get {p} user:1\n  lightning-db dump {p}\n  lightning-db verify {p}\n"
    );
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| output_failure("demo", e))
}
