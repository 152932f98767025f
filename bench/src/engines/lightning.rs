//! Lightning DB: `SyncMode::Full` (fdatasync before a commit returns), every
//! other setting at its default.

use std::ops::ControlFlow;
use std::path::Path;

use lightning_db::{Config, Database, SyncMode};

use crate::store::{Key, Reader, Store, Value};

pub const CONFIG: &str = "`Config { sync_mode: SyncMode::Full, ..Default::default() }`: \
fdatasync before every commit returns; 64 MiB value cache, auto-compaction on (defaults). \
Bulk load, batches and removals are one `Transaction` each; individual writes are `Database::put`; range reads are one `Database::range_with` each (at most 10 entries lent, no iterator made, no copy), as the peers' readers borrow theirs.";

pub struct Lightning {
    db: Database,
}

pub struct LightningReader<'a> {
    db: &'a Database,
}

impl Reader for LightningReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        self.db.get(key).unwrap().map(|v| (v[0], v.len()))
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        // Borrowed, as the peers' readers read theirs: `range_with` lends each
        // entry from the index and the segment map, with no iterator made.
        let mut sum = 0;
        let count = self
            .db
            .range_with(start.., false, n, |_, v| {
                sum += u64::from(v[0]);
                ControlFlow::Continue(())
            })
            .unwrap();
        (count, sum)
    }
}

impl Store for Lightning {
    type Reader<'a> = LightningReader<'a>;

    fn open(dir: &Path) -> Self {
        let config = Config {
            sync_mode: SyncMode::Full,
            ..Default::default()
        };
        Lightning {
            db: Database::create(dir, config).unwrap(),
        }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        let mut tx = self.db.begin().unwrap();
        for (k, v) in items {
            tx.put(&k, &v).unwrap();
        }
        tx.commit().unwrap();
    }

    fn put_one(&mut self, key: &Key, value: &Value) {
        self.db.put(key, value).unwrap();
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let mut tx = self.db.begin().unwrap();
        for k in keys {
            tx.delete(&k).unwrap();
        }
        tx.commit().unwrap();
    }

    fn len(&self) -> u64 {
        self.db.len().unwrap() as u64
    }

    fn reader(&self) -> LightningReader<'_> {
        LightningReader { db: &self.db }
    }

    fn compact(&mut self) -> bool {
        self.db.compact().unwrap();
        true
    }

    fn checkpoint(&self) -> bool {
        self.db.checkpoint().unwrap();
        true
    }

    fn close(self) {
        self.db.close().unwrap();
    }
}
