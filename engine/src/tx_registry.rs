//! Transactions addressed by id: used only by the C API; moves to ffi-c.
//!
//! The C API hands out a transaction as a number rather than a pointer, so the
//! registry owns each open transaction until its id is committed or aborted.
//!
//! Invariants:
//! - An id is handed out once (a counter from 1) and names at most one
//!   transaction; commit and abort remove it, whatever their outcome.
//! - A call on an id holds that transaction's own lock, not the registry's:
//!   calls on different transactions run side by side.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::shared::Shared;
use crate::transaction::Transaction;

pub(crate) struct TxRegistry {
    txns: Mutex<HashMap<u64, Arc<Mutex<Option<Transaction>>>>>,
    next_id: AtomicU64,
}

impl Default for TxRegistry {
    fn default() -> Self {
        TxRegistry {
            txns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }
}

impl TxRegistry {
    pub(crate) fn begin(&self, shared: &Arc<Shared>) -> Result<u64> {
        let tx = Transaction::begin(shared.clone())?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.txns.lock().insert(id, Arc::new(Mutex::new(Some(tx))));
        Ok(id)
    }

    pub(crate) fn with<T>(
        &self,
        shared: &Shared,
        id: u64,
        f: impl FnOnce(&mut Transaction) -> Result<T>,
    ) -> Result<T> {
        shared.check_open()?;
        let slot = self.txns.lock().get(&id).cloned();
        let slot = slot.ok_or_else(|| unknown_txn(id))?;
        let mut guard = slot.lock();
        let tx = guard.as_mut().ok_or_else(|| unknown_txn(id))?;
        f(tx)
    }

    /// Removes transaction `id` from the registry: the id is finished whatever
    /// the caller then does with it.
    pub(crate) fn take(&self, shared: &Shared, id: u64) -> Result<Transaction> {
        shared.check_open()?;
        let slot = self
            .txns
            .lock()
            .remove(&id)
            .ok_or_else(|| unknown_txn(id))?;
        let tx = slot.lock().take();
        tx.ok_or_else(|| unknown_txn(id))
    }

    /// Rolls back every open transaction (the database is closing).
    pub(crate) fn clear(&self) {
        self.txns.lock().clear();
    }
}

fn unknown_txn(id: u64) -> Error {
    Error::invalid(format!("no open transaction with id {id}"))
}
