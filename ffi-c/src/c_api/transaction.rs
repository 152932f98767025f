//! Transactions, addressed by the id the engine gives them.
//!
//! Ids belong to one database handle, start at 1 and are never reused by it; the
//! engine answers an id it does not hold (never begun, already committed or
//! aborted) with InvalidArgument.

use super::database::{
    answer_about_key, database, deliver_into, out_buffer, LIGHTNING_DB_NO_VALUE,
};
use super::{LightningDB, LightningDBError, LightningDBResult};
use crate::boundary::{self, out, run};

/// Begins a transaction and stores its id in `*tx_id`.
///
/// A transaction reads the snapshot of the latest commit at its start plus its
/// own writes, and buffers its writes until `lightning_db_commit_transaction`,
/// which applies all of them atomically or fails with TransactionConflict if a
/// key it writes was written by another commit after it began (snapshot
/// isolation). Ids are valid only with the handle that created them. Finish every
/// transaction with commit or abort: until then it holds its snapshot's memory.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_begin_transaction(
    db: *mut LightningDB,
    tx_id: *mut u64,
) -> LightningDBError {
    run("lightning_db_begin_transaction", || {
        let db = database(db)?;
        let tx_id = out(tx_id, "tx_id")?;
        tx_id.write(db.transactions.begin(&db)?);
        Ok(())
    })
}

/// Buffers a put in transaction `tx_id` (rules of `lightning_db_put`). An unknown
/// id: InvalidArgument. Memory: key and value are copied.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_put_tx(
    db: *mut LightningDB,
    tx_id: u64,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> LightningDBError {
    run("lightning_db_put_tx", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        let value = boundary::value(value, value_len)?;
        db.transactions.with(&db, tx_id, |tx| tx.put(key, value))?;
        Ok(())
    })
}

/// Reads `key` as transaction `tx_id` sees it (its snapshot plus its own writes).
/// Results and memory as `lightning_db_get`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_get_tx(
    db: *mut LightningDB,
    tx_id: u64,
    key: *const u8,
    key_len: usize,
    result: *mut LightningDBResult,
) -> LightningDBError {
    if !result.is_null() {
        result.write(LightningDBResult::EMPTY);
    }
    run("lightning_db_get_tx", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        let result = out(result, "result")?;
        if let Some(value) = db.transactions.with(&db, tx_id, |tx| tx.get(key))? {
            result.write(boundary::buffer(&value)?);
        }
        Ok(())
    })
}

/// Buffers a delete of `key` in transaction `tx_id`.
/// Reads `key` as transaction `tx_id` sees it into the caller's buffer: the
/// lending form of `lightning_db_get_tx`. Results and memory as
/// `lightning_db_get_into`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_get_tx_into(
    db: *mut LightningDB,
    tx_id: u64,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    value_len: *mut usize,
) -> LightningDBError {
    if !value_len.is_null() {
        value_len.write(LIGHTNING_DB_NO_VALUE);
    }
    run("lightning_db_get_tx_into", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        let value_len = out(value_len, "value_len")?;
        out_buffer(buf, cap)?;
        deliver_into(
            db.transactions.with(&db, tx_id, |tx| tx.get(key))?,
            buf,
            cap,
            value_len,
        );
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn lightning_db_delete_tx(
    db: *mut LightningDB,
    tx_id: u64,
    key: *const u8,
    key_len: usize,
) -> LightningDBError {
    run("lightning_db_delete_tx", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        db.transactions.with(&db, tx_id, |tx| tx.delete(key))?;
        Ok(())
    })
}

/// Sets `*found` to whether transaction `tx_id` sees `key`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_contains_tx(
    db: *mut LightningDB,
    tx_id: u64,
    key: *const u8,
    key_len: usize,
    found: *mut bool,
) -> LightningDBError {
    answer_about_key(
        "lightning_db_contains_tx",
        db,
        key,
        key_len,
        found,
        |db, key| db.transactions.with(db, tx_id, |tx| tx.contains(key)),
    )
}

/// Commits transaction `tx_id`: all its writes become durable atomically, or
/// none (TransactionConflict, IoError...). The id is finished whatever the
/// outcome; using it again gives InvalidArgument. Retry a conflicting
/// transaction by beginning a new one.
#[no_mangle]
pub extern "C" fn lightning_db_commit_transaction(
    db: *mut LightningDB,
    tx_id: u64,
) -> LightningDBError {
    run("lightning_db_commit_transaction", || {
        let db = database(db)?;
        let tx = db.transactions.take(&db, tx_id)?;
        tx.commit()?;
        Ok(())
    })
}

/// Discards transaction `tx_id` and its writes. The id is finished.
#[no_mangle]
pub extern "C" fn lightning_db_abort_transaction(
    db: *mut LightningDB,
    tx_id: u64,
) -> LightningDBError {
    run("lightning_db_abort_transaction", || {
        let db = database(db)?;
        db.transactions.take(&db, tx_id)?.rollback();
        Ok(())
    })
}
