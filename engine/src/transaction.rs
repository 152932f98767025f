//! Transactions: snapshot reads, read-your-own-writes, optimistic commit.
//!
//! A transaction reads the version of the latest commit when it began and
//! buffers its writes. At commit, under the writer lock, it fails with TransactionConflict if
//! any key it writes was written by a commit after its snapshot (write-write
//! conflicts: snapshot isolation). Read-only keys are not validated, so write skew
//! is possible, as under any snapshot isolation.
//!
//! Conflicts are found by the `tracker` module's `Tracker`, under the writer lock.

use std::sync::Arc;

use crate::error::Result;
use crate::index::Probe;
use crate::iter::{Iter, KeyRange};
use crate::shared::{validate_key, validate_value, Op, Shared};
use crate::version::Version;
use crate::write_set::WriteSet;

/// A transaction. Dropping it without `commit` rolls it back.
pub struct Transaction {
    shared: Arc<Shared>,
    /// The sequence number of the snapshot, registered with the tracker.
    registered: u64,
    /// Let go by `commit` before it asks the writer to apply the writes: held,
    /// it would make the writer copy the index nodes it changes.
    snapshot: Option<Arc<Version>>,
    /// Buffered writes. Hashed, so a put costs the same at the millionth write as
    /// at the first; scans sort the part they need.
    writes: WriteSet,
    open: bool,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("registered_seq", &self.registered)
            .field("writes", &self.writes.len())
            .finish()
    }
}

impl Transaction {
    pub(crate) fn begin(shared: Arc<Shared>) -> Result<Transaction> {
        shared.check_open()?;
        let fresh = {
            let mut tracker = shared.tracker.lock();
            let fresh = shared.fresh_snapshot();
            if let Some(v) = &fresh {
                tracker.register(v.seq);
            }
            fresh
        };
        // No version of the latest commit yet: make one under the writer lock, and
        // register it before letting go, so that no commit comes between (the
        // writer lock, then the tracker's, as a commit takes them).
        let snapshot = fresh.unwrap_or_else(|| shared.snapshot_registered());
        let writes = shared.write_set();
        Ok(Transaction {
            shared,
            registered: snapshot.seq,
            snapshot: Some(snapshot),
            writes,
            open: true,
        })
    }

    /// Sequence number of the commit this transaction reads.
    pub fn snapshot_seq(&self) -> u64 {
        self.registered
    }

    fn snapshot(&self) -> &Arc<Version> {
        self.snapshot
            .as_ref()
            .expect("only commit, which consumes the transaction, lets go of the snapshot")
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.shared.check_open()?;
        validate_key(key)?;
        if let Some(w) = self.writes.get(key) {
            return Ok(w.map(<[u8]>::to_vec));
        }
        let snapshot = self.snapshot();
        match snapshot.index.get(&Probe::new(key))? {
            None => Ok(None),
            Some(loc) => self.shared.read_value(snapshot, key, loc).map(Some),
        }
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        self.shared.check_open()?;
        validate_key(key)?;
        Ok(match self.writes.get(key) {
            Some(w) => w.is_some(),
            None => self.snapshot().index.contains_key(&Probe::new(key))?,
        })
    }

    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.shared.check_open()?;
        self.shared.check_writable()?;
        validate_key(key)?;
        validate_value(value)?;
        self.writes.insert(key, Some(value));
        Ok(())
    }

    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.shared.check_open()?;
        self.shared.check_writable()?;
        validate_key(key)?;
        self.writes.insert(key, None);
        Ok(())
    }

    /// Iterates over `range` as this transaction sees it: its snapshot with its own
    /// writes applied. Later writes of the transaction do not affect the iterator.
    pub fn range(&self, range: KeyRange) -> Result<Iter> {
        self.shared.check_open()?;
        let bounds = range.bounds();
        let mut overlay: crate::iter::Writes = self
            .writes
            .iter()
            .filter(|(k, _)| std::ops::RangeBounds::contains(&bounds, *k))
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect();
        overlay.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Iter::new(
            self.shared.clone(),
            self.snapshot().clone(),
            range,
            Some(overlay),
        ))
    }

    pub fn iter(&self) -> Result<Iter> {
        self.range(KeyRange::all())
    }

    pub fn prefix(&self, prefix: &[u8]) -> Result<Iter> {
        self.range(KeyRange::prefix(prefix))
    }

    /// Makes every write of the transaction durable atomically, or none of them.
    pub fn commit(mut self) -> Result<()> {
        // Validate while still registered: unregistering first could let the
        // tracker forget the very commits that conflict with this one.
        self.snapshot = None;
        let snapshot_seq = self.registered;
        let ops: Vec<Op<'_>> = self.writes.iter().collect();
        let result = self.shared.commit(&ops, Some(snapshot_seq)).map(|_| ());
        self.finish();
        result
    }

    pub fn rollback(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            self.shared.tracker.lock().unregister(self.registered);
            self.shared
                .give_back_write_set(std::mem::take(&mut self.writes));
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.finish();
    }
}
