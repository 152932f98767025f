//! sled 0.34: it has no synchronous commit, so each commit is `apply_batch`
//! followed by `flush()`. On Linux `flush()` ends in `sync_file_range`, which
//! neither flushes the drive's cache nor the file's metadata, so the files are
//! fsynced as well (the redb lmdb_benchmark does the same, citing sled issue 1351).

use std::fs::File;
use std::path::{Path, PathBuf};

use sled::{Batch, Db};

use crate::store::{Key, Reader, Store, Value};

pub const CONFIG: &str = "sled 0.34 has no synchronous commit: each commit is one atomic \
`apply_batch` then `Db::flush()`, and because `flush()` uses `sync_file_range` on Linux \
(no drive-cache flush, no metadata) every file of the database is then fsynced (as redb's \
lmdb_benchmark does). Cache capacity 4 GiB. No compaction call (sled compacts in the \
background).";

const CACHE_SIZE: u64 = 4 << 30;

pub struct Sled {
    db: Db,
    dir: PathBuf,
}

pub struct SledReader<'a> {
    db: &'a Db,
}

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        self.db.get(key).unwrap().map(|v| (v[0], v.len()))
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        self.db
            .range(start..)
            .take(n)
            .fold((0, 0), |(count, sum), item| {
                let (_, v) = item.unwrap();
                (count + 1, sum + u64::from(v[0]))
            })
    }
}

impl Sled {
    fn sync(&self) {
        self.db.flush().unwrap();
        fsync_tree(&self.dir);
    }
}

fn fsync_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            fsync_tree(&path);
        } else if path.is_file() {
            File::open(&path).unwrap().sync_all().unwrap();
        }
    }
}

impl Store for Sled {
    type Reader<'a> = SledReader<'a>;

    fn open(dir: &Path) -> Self {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_SIZE)
            .open()
            .unwrap();
        Sled {
            db,
            dir: dir.to_path_buf(),
        }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        let mut batch = Batch::default();
        for (k, v) in items {
            batch.insert(&k[..], &v[..]);
        }
        self.db.apply_batch(batch).unwrap();
        self.sync();
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let mut batch = Batch::default();
        for k in keys {
            batch.remove(&k[..]);
        }
        self.db.apply_batch(batch).unwrap();
        self.sync();
    }

    fn len(&self) -> u64 {
        self.db.len() as u64
    }

    fn reader(&self) -> SledReader<'_> {
        SledReader { db: &self.db }
    }

    fn compact(&mut self) -> bool {
        false
    }
}
