//! fjall: each commit is a write batch persisted with `PersistMode::SyncAll`
//! (fsync of the journal, data and metadata) before `commit()` returns.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::store::{Key, Reader, Store, Value};

pub const CONFIG: &str = "One `OwnedWriteBatch` per commit with \
`durability(Some(PersistMode::SyncAll))`: the journal is fsynced before `commit()` returns. \
Cache 4 GiB, one keyspace, other options default (LZ4). Compaction is \
`Keyspace::major_compact()` (public but marked hidden in the docs).";

const CACHE_SIZE: u64 = 4 << 30;

pub struct Fjall {
    db: Database,
    ks: Keyspace,
}

pub struct FjallReader<'a> {
    ks: &'a Keyspace,
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        self.ks.get(key).unwrap().map(|v| (v[0], v.len()))
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        self.ks
            .range::<&[u8], _>(start..)
            .take(n)
            .fold((0, 0), |(count, sum), guard| {
                let (_, v) = guard.into_inner().unwrap();
                (count + 1, sum + u64::from(v[0]))
            })
    }
}

impl Store for Fjall {
    type Reader<'a> = FjallReader<'a>;

    fn open(dir: &Path) -> Self {
        let db = Database::builder(dir)
            .cache_size(CACHE_SIZE)
            .open()
            .unwrap();
        let ks = db.keyspace("kv", KeyspaceCreateOptions::default).unwrap();
        Fjall { db, ks }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for (k, v) in items {
            batch.insert(&self.ks, &k[..], &v[..]);
        }
        batch.commit().unwrap();
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for k in keys {
            batch.remove(&self.ks, &k[..]);
        }
        batch.commit().unwrap();
    }

    fn len(&self) -> u64 {
        self.ks.len().unwrap() as u64
    }

    fn reader(&self) -> FjallReader<'_> {
        FjallReader { ks: &self.ks }
    }

    fn compact(&mut self) -> bool {
        self.ks.major_compact().unwrap();
        true
    }
}
