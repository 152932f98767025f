//! dump and load: a database to and from the db_dump/mdb_dump text format, and
//! the committing of loaded entries that import-sqlite shares.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use lightning_db::{Database, WriteBatch, MAX_COMMIT_SIZE};

use crate::commands::{close, open_read, open_write, output_failure};
use crate::dumpfile::{self, DumpReader};
use crate::failure::{Failure, Outcome};
use crate::progress::{human_bytes, Ui};

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
