//! `LightningDBWriteBatch`: puts and deletes applied all or nothing.

use std::sync::{Mutex, PoisonError};

use lightning_db::WriteBatch;

use super::database::database;
use super::{LightningDB, LightningDBError, LightningDBWriteBatch};
use crate::boundary::handles::Registry;
use crate::boundary::{self, out, run, run_handle, run_void, Outcome};

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

/// The operation byte of a put in a packed batch.
pub const LIGHTNING_DB_PACKED_PUT: u8 = 1;
/// The operation byte of a delete in a packed batch.
pub const LIGHTNING_DB_PACKED_DELETE: u8 = 2;

/// Reads the operations of a packed batch (see `lightning_db_write_packed`).
fn unpack(mut ops: &[u8], count: usize) -> Outcome<Vec<lightning_db::Op<'_>>> {
    let malformed = |i: usize, what: &str| {
        boundary::Failure::invalid(format!("packed batch: operation {i}: {what}"))
    };
    // Never more operations than 9-byte headers fit in the buffer: a wrong
    // count must not reserve memory for it.
    let mut batch = Vec::with_capacity(count.min(ops.len() / 9));
    for i in 0..count {
        if ops.len() < 9 {
            return Err(malformed(i, "truncated header"));
        }
        let kind = ops[0];
        let key_len = u32::from_le_bytes(ops[1..5].try_into().expect("4 bytes")) as usize;
        let value_len = u32::from_le_bytes(ops[5..9].try_into().expect("4 bytes")) as usize;
        ops = &ops[9..];
        if ops.len() < key_len || ops.len() - key_len < value_len {
            return Err(malformed(i, "lengths run past the end of the buffer"));
        }
        let (key, rest) = ops.split_at(key_len);
        let (value, rest) = rest.split_at(value_len);
        ops = rest;
        match kind {
            LIGHTNING_DB_PACKED_PUT => batch.push((key, Some(value))),
            LIGHTNING_DB_PACKED_DELETE if value_len == 0 => batch.push((key, None)),
            LIGHTNING_DB_PACKED_DELETE => return Err(malformed(i, "a delete with a value")),
            other => return Err(malformed(i, &format!("unknown operation {other}"))),
        }
    }
    if !ops.is_empty() {
        return Err(boundary::Failure::invalid(format!(
            "packed batch: {} bytes after the last of {count} operations",
            ops.len()
        )));
    }
    Ok(batch)
}

/// Applies a packed batch of `count` operations atomically, in order, as one
/// commit: the form of `lightning_db_write_batch` that takes one buffer instead of
/// one call per operation.
///
/// `ops` holds the operations back to back, each as: one byte,
/// LIGHTNING_DB_PACKED_PUT or LIGHTNING_DB_PACKED_DELETE; the key length and the
/// value length as little-endian 32-bit unsigned integers; the key's bytes; the
/// value's bytes (a delete has value length 0 and no value bytes). Keys and
/// values follow the rules of `lightning_db_put`. A malformed buffer (truncated,
/// an unknown operation, bytes left over) is InvalidArgument, naming the
/// operation, and nothing is written. `ops` may be NULL only with `len` 0
/// (then `count` must be 0: an empty batch commits nothing).
///
/// Memory: `ops` is only read during the call.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_write_packed(
    db: *mut LightningDB,
    ops: *const u8,
    len: usize,
    count: usize,
) -> LightningDBError {
    run("lightning_db_write_packed", || {
        let db = database(db)?;
        if ops.is_null() && len != 0 {
            return Err(boundary::Failure::null("ops"));
        }
        if len > isize::MAX as usize {
            return Err(boundary::Failure::invalid("len is larger than any buffer"));
        }
        let bytes = if len == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(ops, len)
        };
        db.write_ops(&unpack(bytes, count)?)?;
        Ok(())
    })
}
