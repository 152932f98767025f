//! `LightningDBIterator`: ordered scans (range, prefix, forward or reverse) over a
//! snapshot, of the database or of a transaction.

use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};

use lightning_db::{Database, Iter, KeyRange};

use super::boundary::{self, out, run, run_void, Failure, Outcome};
use super::database::database;
use super::handles::Registry;
use super::{LightningDB, LightningDBError, LightningDBIterator, LightningDBResult};

type Entries = Box<dyn Iterator<Item = lightning_db::Result<(Vec<u8>, Vec<u8>)>> + Send>;

/// A scan and the database it reads. The database is kept so that `iter_next`
/// can refuse every call once it is closed: the engine's iterator notices a close
/// only when it reads a stored value, so the end of a scan, or a transaction's own
/// writes (held in the iterator), would otherwise still come back as Success.
pub(crate) struct Scan {
    db: Arc<Database>,
    entries: Mutex<Entries>,
}

pub(crate) static ITERATORS: Registry<Scan> = Registry::new("LightningDBIterator*");

/// Where a scan reads: the database's latest commit, or a transaction's view.
#[derive(Clone, Copy)]
enum Source {
    Database,
    Transaction(u64),
}

unsafe fn range(
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
) -> Outcome<KeyRange> {
    let start = boundary::bound(start, start_len, "start")?;
    let end = boundary::bound(end, end_len, "end")?;
    Ok(KeyRange {
        start: start.map_or(Bound::Unbounded, |s| Bound::Included(s.to_vec())),
        end: end.map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_vec())),
    })
}

/// Creates the iterator and stores its handle in `*iter` (NULL on failure).
unsafe fn create(
    db: *mut LightningDB,
    source: Source,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
    keys: impl FnOnce() -> Outcome<KeyRange>,
) -> Outcome<()> {
    let db = database(db)?;
    let iter = out(iter, "iter")?;
    let keys = keys()?;
    let scan: Iter = match source {
        Source::Database => db.range(keys)?,
        Source::Transaction(id) => db.tx_range(id, keys)?,
    };
    // `Iter` is double-ended: reverse order is the same snapshot walked from the
    // back, fetched page by page like the forward walk.
    let entries: Entries = if reverse {
        Box::new(scan.rev())
    } else {
        Box::new(scan)
    };
    let token = ITERATORS.insert(Scan {
        db,
        entries: Mutex::new(entries),
    });
    iter.write(std::ptr::without_provenance_mut(token));
    Ok(())
}

/// Starts a scan of the keys `k` with `start <= k < end`, in ascending key order,
/// or descending if `reverse`. `start` NULL (with `start_len` 0): from the first
/// key; `end` NULL (with `end_len` 0): to the last key. Bounds are at most
/// LIGHTNING_DB_MAX_KEY_SIZE bytes and are copied.
///
/// The scan reads a snapshot: commits made after this call are not seen, and do
/// not disturb it. Stores the new iterator in `*iter` (NULL on failure).
///
/// Memory: release the iterator with `lightning_db_iter_free`, also after the end
/// and after the database is closed.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_range(
    db: *mut LightningDB,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_range", || {
        create(db, Source::Database, reverse, iter, || {
            range(start, start_len, end, end_len)
        })
    })
}

/// Starts a scan of the keys that begin with `prefix` (every key if `prefix` is
/// NULL with `prefix_len` 0), ascending or, if `reverse`, descending. Otherwise as
/// `lightning_db_iter_range`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_prefix(
    db: *mut LightningDB,
    prefix: *const u8,
    prefix_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_prefix", || {
        create(db, Source::Database, reverse, iter, || {
            let prefix = boundary::bound(prefix, prefix_len, "prefix")?;
            Ok(prefix.map_or_else(KeyRange::all, KeyRange::prefix))
        })
    })
}

/// As `lightning_db_iter_range`, over what transaction `tx_id` sees: its snapshot
/// with its own writes (made before this call) applied. The iterator stays usable
/// after the transaction ends.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_range_tx(
    db: *mut LightningDB,
    tx_id: u64,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_range_tx", || {
        create(db, Source::Transaction(tx_id), reverse, iter, || {
            range(start, start_len, end, end_len)
        })
    })
}

/// As `lightning_db_iter_prefix`, over what transaction `tx_id` sees.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_prefix_tx(
    db: *mut LightningDB,
    tx_id: u64,
    prefix: *const u8,
    prefix_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_prefix_tx", || {
        create(db, Source::Transaction(tx_id), reverse, iter, || {
            let prefix = boundary::bound(prefix, prefix_len, "prefix")?;
            Ok(prefix.map_or_else(KeyRange::all, KeyRange::prefix))
        })
    })
}

/// Moves to the next entry.
///
/// On Success, `*has_entry` says whether there was one: if true, `*key` and
/// `*value` hold it; if false, the scan is over (`*key` and `*value` are NULL/0),
/// and further calls keep returning Success with `*has_entry` false. On an error
/// (e.g. CorruptedData for a damaged value, InvalidArgument once the database is
/// closed) `*has_entry` is false and nothing is returned; a later call moves on to
/// the following entry. The usual loop:
///
/// ```c
/// bool has_entry;
/// while ((err = lightning_db_iter_next(it, &key, &value, &has_entry)) == Success
///        && has_entry) { ...; lightning_db_free_result(key.data, key.len); ... }
/// ```
///
/// Memory: `*key`, `*value` and `*has_entry` are always written; release each
/// non-NULL `data` with `lightning_db_free_result`. An iterator may be used from
/// any thread, one call at a time (calls on one iterator are serialised).
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_next(
    iter: *mut LightningDBIterator,
    key: *mut LightningDBResult,
    value: *mut LightningDBResult,
    has_entry: *mut bool,
) -> LightningDBError {
    for result in [key, value] {
        if !result.is_null() {
            result.write(LightningDBResult::EMPTY);
        }
    }
    if !has_entry.is_null() {
        has_entry.write(false);
    }
    run("lightning_db_iter_next", || {
        let scan = ITERATORS.get(iter.addr(), "iter")?;
        let key = out(key, "key")?;
        let value = out(value, "value")?;
        let has_entry = out(has_entry, "has_entry")?;
        if scan.db.is_closed() {
            return Err(Failure::invalid(
                "the database of this iterator was closed (free the iterator)",
            ));
        }
        let next = scan
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next();
        let Some(entry) = next else {
            return Ok(());
        };
        let (k, v) = entry?;
        let k = boundary::buffer(&k)?;
        let v = match boundary::buffer(&v) {
            Ok(v) => v,
            Err(e) => {
                boundary::release_buffer(k.data);
                return Err(e);
            }
        };
        key.write(k);
        value.write(v);
        has_entry.write(true);
        Ok(())
    })
}

/// Releases an iterator. NULL: no-op. An iterator already freed (or never
/// returned by this library) is detected and ignored (reported by
/// `lightning_db_last_error_code`, InvalidArgument).
#[no_mangle]
pub extern "C" fn lightning_db_iter_free(iter: *mut LightningDBIterator) {
    if iter.is_null() {
        return;
    }
    run_void("lightning_db_iter_free", || {
        ITERATORS.remove(iter.addr(), "iter").map(drop)
    });
}
