//! The conflict tracker of optimistic transactions.
//!
//! The `Tracker` remembers, while any transaction is open, the newest sequence
//! number that wrote each key. Invariant: for every open transaction with snapshot
//! `s`, every key written by a commit with sequence number > `s` is in `recent`
//! with a sequence number > `s`. A commit records its keys under the writer lock,
//! after storing its sequence number; `begin` registers a snapshot that is of the
//! latest sequence number either under the tracker lock or under the writer lock,
//! so a commit is either visible to a new transaction or recorded for it.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, ErrorKind, Result};

#[derive(Default)]
pub(crate) struct Tracker {
    /// Snapshot sequence numbers of open transactions, with their counts.
    active: BTreeMap<u64, usize>,
    recent: HashMap<Vec<u8>, u64>,
}

impl Tracker {
    pub(crate) fn register(&mut self, seq: u64) {
        *self.active.entry(seq).or_default() += 1;
    }

    pub(crate) fn unregister(&mut self, seq: u64) {
        if let Some(n) = self.active.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                self.active.remove(&seq);
            }
        }
        match self.active.keys().next() {
            None => self.recent.clear(),
            Some(&oldest) if self.recent.len() > 4096 => self.recent.retain(|_, s| *s > oldest),
            Some(_) => {}
        }
    }

    pub(crate) fn check<'a>(
        &self,
        keys: impl Iterator<Item = &'a [u8]>,
        snapshot: u64,
    ) -> Result<()> {
        for k in keys {
            if let Some(&seq) = self.recent.get(k) {
                if seq > snapshot {
                    return Err(Error::new(
                        ErrorKind::TransactionConflict,
                        format!(
                            "a {}-byte key written by this transaction was changed by commit {seq} after its snapshot {snapshot}",
                            k.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Remembers the keys of commit `seq` for the open transactions. `committer`
    /// is the snapshot of the transaction making this commit, which is still
    /// registered but needs no record of its own writes.
    pub(crate) fn record<'a>(
        &mut self,
        keys: impl Iterator<Item = &'a [u8]>,
        seq: u64,
        committer: Option<u64>,
    ) {
        let others = self.active.values().sum::<usize>() - usize::from(committer.is_some());
        if others == 0 {
            return;
        }
        for k in keys {
            self.recent.insert(k.to_vec(), seq);
        }
    }
}
