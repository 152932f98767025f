//! LMDB through heed: default environment flags, so `mdb_txn_commit` writes and
//! fsyncs the data pages and then the meta page before it returns.

use std::ops::Bound;
use std::path::Path;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, RoTxn, WithTls};

use crate::store::{Key, Reader, Store, Value};

pub const CONFIG: &str = "heed `EnvOpenOptions` with default flags (no `MDB_NOSYNC`, \
`MDB_NOMETASYNC` or `MDB_WRITEMAP`): each commit fsyncs; map size 16 GiB (an address-space \
reservation, not an allocation). One write transaction per commit. No compaction call \
(`mdb_env_copy` with compaction writes a new file; it does not shrink this one).";

/// Large enough for any N this benchmark runs; LMDB fails a write past it.
const MAP_SIZE: usize = 16 << 30;

pub struct Lmdb {
    env: Env,
    db: Database<'static, Bytes, Bytes>,
}

pub struct LmdbReader<'a> {
    txn: RoTxn<'a, WithTls>,
    db: Database<'static, Bytes, Bytes>,
}

impl Reader for LmdbReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        self.db
            .get(&self.txn, key)
            .unwrap()
            .map(|v| (v[0], v.len()))
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        let bounds = (Bound::Included(start), Bound::Unbounded);
        let iter = self.db.range(&self.txn, &bounds).unwrap();
        iter.take(n).fold((0, 0), |(count, sum), item| {
            let (_, v) = item.unwrap();
            (count + 1, sum + u64::from(v[0]))
        })
    }
}

impl Store for Lmdb {
    type Reader<'a> = LmdbReader<'a>;

    fn open(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        // SAFETY: the benchmark opens the environment once per process and never
        // maps the same file twice.
        let env = unsafe { EnvOpenOptions::new().map_size(MAP_SIZE).open(dir) }.unwrap();
        let wtxn = env.write_txn().unwrap();
        let db = env
            .create_databases_and_commit(wtxn, |opener, wtxn| {
                opener
                    .create_database::<Bytes, Bytes>(wtxn, None)
                    .map(CommitOrAbort::<_, ()>::Commit)
            })
            .unwrap()
            .unwrap_commit();
        Lmdb { env, db }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        let mut txn = self.env.write_txn().unwrap();
        for (k, v) in items {
            self.db.put(&mut txn, &k[..], &v[..]).unwrap();
        }
        txn.commit().unwrap();
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let mut txn = self.env.write_txn().unwrap();
        for k in keys {
            self.db.delete(&mut txn, &k[..]).unwrap();
        }
        txn.commit().unwrap();
    }

    fn len(&self) -> u64 {
        let txn = self.env.read_txn().unwrap();
        self.db.len(&txn).unwrap()
    }

    fn reader(&self) -> LmdbReader<'_> {
        LmdbReader {
            txn: self.env.read_txn().unwrap(),
            db: self.db,
        }
    }

    fn compact(&mut self) -> bool {
        false
    }
}
