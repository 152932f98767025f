//! SQLite through rusqlite (bundled): WAL with `synchronous=FULL`, so the WAL is
//! fsynced at every commit; the table is a clustered B-tree on a BLOB key.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension};

use crate::store::{Key, Reader, Store, Value};

pub const CONFIG: &str = "`journal_mode=WAL`, `synchronous=FULL` (the WAL is fsynced at every \
commit), table `kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID`, `cache_size` 4 GiB, \
cached prepared statements, one transaction per commit; each reading thread has its own \
connection and read transaction. Compaction is `VACUUM` then `wal_checkpoint(TRUNCATE)`.";

/// Negative: KiB rather than pages (SQLite's convention); 4 GiB.
const CACHE_SIZE_KIB: i64 = -(4 << 20);

pub struct Sqlite {
    // Connection is Send but not Sync; the writer's is shared behind a lock.
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "SQLite refused WAL mode");
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "cache_size", CACHE_SIZE_KIB)
        .unwrap();
    conn
}

pub struct SqliteReader<'a> {
    conn: Connection,
    _store: PhantomData<&'a Sqlite>,
}

impl Reader for SqliteReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        let mut st = self
            .conn
            .prepare_cached("SELECT v FROM kv WHERE k = ?1")
            .unwrap();
        st.query_row([key], |row| {
            let v = row.get_ref(0)?.as_blob()?;
            Ok((v[0], v.len()))
        })
        .optional()
        .unwrap()
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        let mut st = self
            .conn
            .prepare_cached("SELECT v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")
            .unwrap();
        let mut rows = st.query((start, n as i64)).unwrap();
        let (mut count, mut sum) = (0, 0);
        while let Some(row) = rows.next().unwrap() {
            sum += u64::from(row.get_ref(0).unwrap().as_blob().unwrap()[0]);
            count += 1;
        }
        (count, sum)
    }
}

impl Drop for SqliteReader<'_> {
    fn drop(&mut self) {
        self.conn.execute_batch("COMMIT").unwrap();
    }
}

impl Store for Sqlite {
    type Reader<'a> = SqliteReader<'a>;

    fn open(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("kv.sqlite");
        let conn = connect(&path);
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
        )
        .unwrap();
        Sqlite {
            conn: Mutex::new(conn),
            path,
        }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        let conn = self.conn.get_mut().unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut st = tx
                .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
                .unwrap();
            for (k, v) in items {
                st.execute((&k[..], &v[..])).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let conn = self.conn.get_mut().unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut st = tx.prepare_cached("DELETE FROM kv WHERE k = ?1").unwrap();
            for k in keys {
                st.execute([&k[..]]).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    fn len(&self) -> u64 {
        let conn = self.conn.lock().unwrap();
        conn.query_row("SELECT COUNT(*) FROM kv", [], |row| row.get::<_, i64>(0))
            .unwrap() as u64
    }

    fn reader(&self) -> SqliteReader<'_> {
        let conn = connect(&self.path);
        // One read transaction for the whole row, as the other engines read
        // through one snapshot, instead of an implicit one per statement.
        conn.execute_batch("BEGIN").unwrap();
        SqliteReader {
            conn,
            _store: PhantomData,
        }
    }

    fn compact(&mut self) -> bool {
        let conn = self.conn.get_mut().unwrap();
        conn.execute_batch("VACUUM").unwrap();
        // VACUUM goes through the WAL; fold it back so the file sizes show the
        // result, which is what compacting is for.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        true
    }
}
