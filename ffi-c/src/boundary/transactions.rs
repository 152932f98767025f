//! Transactions addressed by id, for the surfaces that hand out a number
//! rather than an object (the C API's `uint64_t tx_id`).
//!
//! Invariants:
//! - Ids belong to one handle (one `OpenDatabase`), start at 1 and are handed
//!   out once; an id names at most one transaction, and commit and abort
//!   remove it whatever their outcome.
//! - A call on an id holds that transaction's own lock, not the table's: calls
//!   on different transactions run side by side.
//! - Once the database is closed every call fails, and closing through this
//!   handle drops the open transactions (their writes were never committed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use lightning_db::{Database, Transaction};

use super::{Failure, Outcome};

type Slot = Arc<Mutex<Option<Transaction>>>;

pub(crate) struct Transactions {
    open: Mutex<HashMap<u64, Slot>>,
    next_id: AtomicU64,
}

impl Default for Transactions {
    fn default() -> Self {
        Transactions {
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }
}

fn unknown(id: u64) -> Failure {
    Failure::invalid(format!("no open transaction with id {id}"))
}

fn closed() -> Failure {
    Failure::invalid("the database is closed")
}

impl Transactions {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        // Poisoned only by a panic in these short critical sections (reported
        // as UnknownError by the boundary); the map is still consistent.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Begins a transaction on `db` and returns its new id.
    pub fn begin(&self, db: &Database) -> Outcome<u64> {
        let tx = db.begin()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.table().insert(id, Arc::new(Mutex::new(Some(tx))));
        Ok(id)
    }

    /// Runs `f` on open transaction `id`.
    pub fn with<T>(
        &self,
        db: &Database,
        id: u64,
        f: impl FnOnce(&mut Transaction) -> lightning_db::Result<T>,
    ) -> Outcome<T> {
        if db.is_closed() {
            return Err(closed());
        }
        let slot = self.table().get(&id).cloned().ok_or_else(|| unknown(id))?;
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = guard.as_mut().ok_or_else(|| unknown(id))?;
        Ok(f(tx)?)
    }

    /// Removes transaction `id`: the id is finished whatever the caller then
    /// does with the transaction.
    pub fn take(&self, db: &Database, id: u64) -> Outcome<Transaction> {
        if db.is_closed() {
            return Err(closed());
        }
        let slot = self.table().remove(&id).ok_or_else(|| unknown(id))?;
        let tx = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        tx.ok_or_else(|| unknown(id))
    }

    /// Rolls back every open transaction (the handle is closing).
    pub fn clear(&self) {
        self.table().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::LightningDBError;
    use lightning_db::{Config, KeyRange};

    #[test]
    fn ids_address_transactions_until_they_finish() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path(), Config::default()).unwrap();
        let txs = Transactions::default();
        let id = txs.begin(&db).unwrap();
        txs.with(&db, id, |tx| tx.put(b"a", b"1")).unwrap();
        assert_eq!(
            txs.with(&db, id, |tx| tx.get(b"a")).unwrap(),
            Some(b"1".to_vec())
        );
        assert!(txs.with(&db, id, |tx| tx.contains(b"a")).unwrap());
        txs.with(&db, id, |tx| tx.delete(b"a")).unwrap();
        txs.with(&db, id, |tx| tx.put(b"b", b"2")).unwrap();
        let keys: Vec<Vec<u8>> = txs
            .with(&db, id, |tx| tx.range(KeyRange::all()))
            .unwrap()
            .map(|e| e.unwrap().0)
            .collect();
        assert_eq!(keys, vec![b"b".to_vec()]);
        txs.take(&db, id).unwrap().commit().unwrap();
        assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
        for err in [
            txs.take(&db, id).map(drop),
            txs.with(&db, id, |tx| tx.put(b"x", b"y")),
            txs.take(&db, 999).map(drop),
        ] {
            assert_eq!(err.unwrap_err().code, LightningDBError::InvalidArgument);
        }
        let id2 = txs.begin(&db).unwrap();
        assert_ne!(id, id2);
        txs.with(&db, id2, |tx| tx.put(b"c", b"3")).unwrap();
        txs.take(&db, id2).unwrap().rollback();
        assert_eq!(db.get(b"c").unwrap(), None);

        let id3 = txs.begin(&db).unwrap();
        db.close().unwrap();
        let err = txs.with(&db, id3, |tx| tx.get(b"b")).unwrap_err();
        assert_eq!(err.code, LightningDBError::InvalidArgument);
        assert!(err.message.contains("closed"), "{}", err.message);
    }
}
