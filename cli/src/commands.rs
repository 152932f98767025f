//! One function per command (dump and load are in `transfer`), and how every
//! command opens a database. Commands that only read open it read-only, so they
//! work beside a process that holds the writer lock.

use std::io::{BufWriter, Read, Write};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use lightning_db::{Config, Database, ErrorKind, KeyRange, WriteBatch};

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

pub(crate) fn open_write(path: &Path, create: bool) -> Outcome<Database> {
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
pub(crate) fn close(db: Database) -> Outcome<()> {
    db.close()
        .map_err(|e| Failure::engine(format!("close {}", db.path().display()), e))
}

/// A failed write to stdout; a reader that went away (`| head`) ends the command
/// quietly with success.
pub(crate) fn output_failure(what: &str, e: std::io::Error) -> Failure {
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
    // The changes since the index file, written by a later checkpoint, and
    // those since that delta, written over it.
    let delta = std::fs::metadata(path.join("index.delta")).ok();
    let second = std::fs::metadata(path.join("index.delta2")).ok();
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
            "delta_bytes": delta.as_ref().map(|m| m.len()),
            "delta_written": delta.as_ref().and_then(|m| m.modified().ok()).map(utc),
            "second_delta_bytes": second.as_ref().map(|m| m.len()),
            "second_delta_written": second.as_ref().and_then(|m| m.modified().ok()).map(utc),
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
        let deltas = [
            (&delta, "  and a delta  ", "since"),
            (&second, "  and a second ", "since the delta"),
        ];
        for (m, label, since) in deltas {
            if let Some(m) = m {
                t += &format!(
                    "{label}{} of the keys changed {since}{}\n",
                    human_bytes(m.len()),
                    m.modified()
                        .map(|w| format!(", written {}", utc(w)))
                        .unwrap_or_default()
                );
            }
        }
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
    let bar = ui.bytes(total, "verifying");
    let result = db.verify_with_progress(|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
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
