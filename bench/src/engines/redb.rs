//! redb: `Durability::Immediate`, its default, so a commit is on disk when
//! `commit()` returns.

use std::path::Path;

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTableMetadata, TableDefinition};

use crate::store::{Key, Reader, Store, Value};

pub const CONFIG: &str = "`Durability::Immediate` (the default): each commit is durable \
when `commit()` returns; cache 4 GiB (as redb's own lmdb_benchmark sets). One write \
transaction per commit; compaction is `Database::compact()`.";

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const CACHE_SIZE: usize = 4 << 30;

pub struct Redb {
    db: Database,
}

pub struct RedbReader {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Reader for RedbReader {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        self.table.get(key).unwrap().map(|g| {
            let v = g.value();
            (v[0], v.len())
        })
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        let iter = self.table.range::<&[u8]>(start..).unwrap();
        iter.take(n).fold((0, 0), |(count, sum), item| {
            let (_, v) = item.unwrap();
            (count + 1, sum + u64::from(v.value()[0]))
        })
    }
}

impl Store for Redb {
    type Reader<'a> = RedbReader;

    fn open(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let db = Database::builder()
            .set_cache_size(CACHE_SIZE)
            .create(dir.join("data.redb"))
            .unwrap();
        // The table must exist before the first read transaction opens it.
        let txn = db.begin_write().unwrap();
        txn.open_table(TABLE).unwrap();
        txn.commit().unwrap();
        Redb { db }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        let txn = self.db.begin_write().unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            for (k, v) in items {
                table.insert(&k[..], &v[..]).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let txn = self.db.begin_write().unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            for k in keys {
                table.remove(&k[..]).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    fn len(&self) -> u64 {
        let txn = self.db.begin_read().unwrap();
        txn.open_table(TABLE).unwrap().len().unwrap()
    }

    fn reader(&self) -> RedbReader {
        let txn = self.db.begin_read().unwrap();
        RedbReader {
            table: txn.open_table(TABLE).unwrap(),
        }
    }

    fn compact(&mut self) -> bool {
        self.db.compact().unwrap();
        true
    }
}
