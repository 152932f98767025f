//! RocksDB: every write batch goes through `WriteOptions::set_sync(true)`, so the
//! WAL is fsynced before the write returns.

use std::path::Path;

use rocksdb::{BlockBasedOptions, Cache, Options, WriteBatch, WriteOptions, DB};

use crate::store::{Key, Reader, Store, Value};

pub const CONFIG: &str = "`WriteOptions::set_sync(true)` on every write: the WAL is fsynced \
before it returns. Plain `DB`, one `WriteBatch` per commit (atomic, no transaction layer: \
RocksDB's fastest durable atomic write), LRU block cache 4 GiB, other options default \
(Snappy compression). Compaction is `compact_range(None, None)`.";

const CACHE_SIZE: usize = 4 << 30;

pub struct Rocks {
    db: DB,
}

pub struct RocksReader<'a> {
    db: &'a DB,
}

impl Reader for RocksReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        // Pinned: no copy of the value out of the block cache.
        self.db.get_pinned(key).unwrap().map(|v| (v[0], v.len()))
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        // The raw iterator reads in place; the boxed one would copy each pair.
        let mut it = self.db.raw_iterator();
        it.seek(start);
        let (mut count, mut sum) = (0, 0);
        while count < n && it.valid() {
            sum += u64::from(it.value().unwrap()[0]);
            count += 1;
            it.next();
        }
        it.status().unwrap();
        (count, sum)
    }
}

fn sync_write() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

impl Store for Rocks {
    type Reader<'a> = RocksReader<'a>;

    fn open(dir: &Path) -> Self {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&Cache::new_lru_cache(CACHE_SIZE));
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_block_based_table_factory(&table);
        Rocks {
            db: DB::open(&opts, dir).unwrap(),
        }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        let mut batch = WriteBatch::default();
        for (k, v) in items {
            batch.put(k, v);
        }
        self.db.write_opt(batch, &sync_write()).unwrap();
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let mut batch = WriteBatch::default();
        for k in keys {
            batch.delete(k);
        }
        self.db.write_opt(batch, &sync_write()).unwrap();
    }

    fn len(&self) -> u64 {
        // RocksDB keeps only an estimate ("rocksdb.estimate-num-keys"); an exact
        // count is a scan.
        let mut it = self.db.raw_iterator();
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.next();
        }
        it.status().unwrap();
        n
    }

    fn reader(&self) -> RocksReader<'_> {
        RocksReader { db: &self.db }
    }

    fn compact(&mut self) -> bool {
        self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
        true
    }
}
