//! `LightningDBWriteBatch`: puts and deletes applied all or nothing.

use std::sync::{Mutex, PoisonError};

use lightning_db::WriteBatch;

use super::boundary::{self, out, run, run_handle, run_void, Outcome};
use super::database::database;
use super::handles::Registry;
use super::{LightningDB, LightningDBError, LightningDBWriteBatch};

pub(crate) static BATCHES: Registry<Mutex<WriteBatch>> = Registry::new("LightningDBWriteBatch*");

fn with_batch<T>(
    batch: *const LightningDBWriteBatch,
    f: impl FnOnce(&mut WriteBatch) -> Outcome<T>,
) -> Outcome<T> {
    let batch = BATCHES.get(batch.addr(), "batch")?;
    let mut batch = batch.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut batch)
}

/// A new, empty write batch.
///
/// Memory: release it with `lightning_db_batch_free`. Returns NULL only if memory
/// runs out.
#[no_mangle]
pub extern "C" fn lightning_db_batch_new() -> *mut LightningDBWriteBatch {
    let token = run_handle("lightning_db_batch_new", || {
        Ok(BATCHES.insert(Mutex::new(WriteBatch::new())))
    });
    std::ptr::without_provenance_mut(token)
}

/// Adds a put to the batch. Key and value follow the rules of `lightning_db_put`;
/// key length is checked when the batch is written. Memory: both are copied.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_batch_put(
    batch: *mut LightningDBWriteBatch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> LightningDBError {
    run("lightning_db_batch_put", || {
        let key = boundary::key(key, key_len)?;
        let value = boundary::value(value, value_len)?;
        with_batch(batch, |b| {
            b.put(key, value);
            Ok(())
        })
    })
}

/// Adds a delete to the batch. Memory: the key is copied.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_batch_delete(
    batch: *mut LightningDBWriteBatch,
    key: *const u8,
    key_len: usize,
) -> LightningDBError {
    run("lightning_db_batch_delete", || {
        let key = boundary::key(key, key_len)?;
        with_batch(batch, |b| {
            b.delete(key);
            Ok(())
        })
    })
}

/// Sets `*len` to the number of operations in the batch.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_batch_len(
    batch: *mut LightningDBWriteBatch,
    len: *mut usize,
) -> LightningDBError {
    run("lightning_db_batch_len", || {
        let len = out(len, "len")?;
        let n = with_batch(batch, |b| Ok(b.len()))?;
        len.write(n);
        Ok(())
    })
}

/// Removes every operation from the batch, so that it can be reused.
#[no_mangle]
pub extern "C" fn lightning_db_batch_clear(batch: *mut LightningDBWriteBatch) -> LightningDBError {
    run("lightning_db_batch_clear", || {
        with_batch(batch, |b| {
            b.clear();
            Ok(())
        })
    })
}

/// Applies every operation of the batch to the database atomically, in order, as
/// one commit: after a crash all of them are there or none. On any error
/// (e.g. an empty key in the batch: InvalidArgument) nothing is applied. The batch
/// is left unchanged (clear or free it afterwards).
#[no_mangle]
pub extern "C" fn lightning_db_write_batch(
    db: *mut LightningDB,
    batch: *mut LightningDBWriteBatch,
) -> LightningDBError {
    run("lightning_db_write_batch", || {
        let db = database(db)?;
        with_batch(batch, |b| Ok(db.write(b)?))
    })
}

/// Releases a batch. NULL: no-op. A batch already freed (or never returned by
/// `lightning_db_batch_new`) is detected and ignored (reported by
/// `lightning_db_last_error_code`, InvalidArgument).
#[no_mangle]
pub extern "C" fn lightning_db_batch_free(batch: *mut LightningDBWriteBatch) {
    if batch.is_null() {
        return;
    }
    run_void("lightning_db_batch_free", || {
        BATCHES.remove(batch.addr(), "batch").map(drop)
    });
}
