//! Opening and closing databases, and the point operations.

use std::ffi::c_char;
use std::sync::Arc;

use lightning_db::Database;

use super::{config, LightningDB, LightningDBConfig, LightningDBError, LightningDBResult};
use crate::boundary::handles::{self, Held, OpenDatabase, DATABASES};
use crate::boundary::{self, out, run, run_handle, run_void, Outcome};

/// The open database behind a handle argument.
pub(crate) fn database(db: *const LightningDB) -> Outcome<Held<OpenDatabase>> {
    handles::database(db.addr())
}

fn open_with(
    name: &str,
    path: *const c_char,
    config: *const LightningDBConfig,
    open: fn(&str, lightning_db::Config) -> lightning_db::Result<Database>,
) -> *mut LightningDB {
    let token = run_handle(name, || {
        crate::init_logging();
        // SAFETY: the caller passes NULL or a NUL-terminated string (header contract).
        let path = unsafe { boundary::path(path, "path")? };
        let config = config::resolve(config)?;
        let db = open(path, config)?;
        Ok(DATABASES.insert(OpenDatabase::new(Arc::new(db))))
    });
    std::ptr::without_provenance_mut(token)
}

/// Opens the database in directory `path`, creating the directory and an empty
/// database if there is none; an existing database is opened, not replaced.
/// `config` may be NULL for the defaults (it is copied; see
/// `lightning_db_config_new`).
///
/// Returns NULL on failure; `lightning_db_last_error_code()` then says why:
/// NullPointer (path NULL), InvalidUtf8 (path not UTF-8), InvalidArgument (empty
/// path, read-only config, freed config), DatabaseLocked (open for writing by
/// another handle, in this process or another), IoError, CorruptedData.
///
/// Memory: release the handle with `lightning_db_close` or `lightning_db_free`.
/// Setting RUST_LOG (e.g. RUST_LOG=lightning_db=debug) before the first
/// create/open prints the engine's log to stderr.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_create(
    path: *const c_char,
    config: *const LightningDBConfig,
) -> *mut LightningDB {
    open_with("lightning_db_create", path, config, |p, c| {
        Database::create(p, c)
    })
}

/// Opens the existing database in directory `path` (IoError if there is none).
/// With a read-only config, opens without the writer lock. Otherwise as
/// `lightning_db_create`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_open(
    path: *const c_char,
    config: *const LightningDBConfig,
) -> *mut LightningDB {
    open_with("lightning_db_open", path, config, |p, c| {
        Database::open(p, c)
    })
}

/// Closes the database and releases the handle, reporting whether the final sync
/// succeeded. The handle is released whatever the result: do not use it again.
/// Open transactions are discarded; iterators still open on it fail with
/// InvalidArgument from then on (but must still be freed).
///
/// A handle already freed or closed, or never returned by create/open, is
/// detected: InvalidArgument, nothing happens. NULL: NullPointer.
#[no_mangle]
pub extern "C" fn lightning_db_close(db: *mut LightningDB) -> LightningDBError {
    run("lightning_db_close", || {
        let db = DATABASES.remove(db.addr(), "db")?;
        // Closed explicitly rather than by dropping the Arc, so that the lock is
        // released now even if another thread is still inside a call on it (that
        // call then fails with InvalidArgument).
        db.transactions.clear();
        db.close()?;
        Ok(())
    })
}

/// Closes the database (as `lightning_db_close`) and releases the handle; use
/// `lightning_db_close` to learn whether closing succeeded.
///
/// NULL: no-op. A handle already freed or closed, or never returned by
/// create/open, is detected and ignored (the misuse is reported by
/// `lightning_db_last_error_code`, InvalidArgument).
#[no_mangle]
pub extern "C" fn lightning_db_free(db: *mut LightningDB) {
    if db.is_null() {
        return;
    }
    run_void("lightning_db_free", || {
        let db = DATABASES.remove(db.addr(), "db")?;
        db.transactions.clear();
        db.close()?;
        Ok(())
    });
}

/// Releases a handle without closing its database: for a handle that shares a
/// database opened elsewhere (such as one a language binding obtained from its
/// object API's `native_handle()`), which stays open for its other owners and
/// closes when the last of them closes it. NULL: no-op. A handle already
/// released, or never returned by this library, is detected and ignored
/// (reported by `lightning_db_last_error_code`, InvalidArgument).
///
/// A handle from `lightning_db_create` / `lightning_db_open` is usually its
/// database's only owner: releasing it closes the database (without reporting
/// how the final sync went; use `lightning_db_close` for that) once no iterator
/// still reads it.
#[no_mangle]
pub extern "C" fn lightning_db_release(db: *mut LightningDB) {
    if db.is_null() {
        return;
    }
    run_void("lightning_db_release", || {
        DATABASES.remove(db.addr(), "db").map(drop)
    });
}

/// Stores `value` under `key`, replacing any previous value, as one durable
/// commit (see `LightningDBSyncMode`).
///
/// `key`: 1 to LIGHTNING_DB_MAX_KEY_SIZE bytes, not NULL. `value`: 0 to
/// LIGHTNING_DB_MAX_VALUE_SIZE bytes; NULL is allowed only with `value_len` 0.
/// Memory: both are copied; the caller keeps ownership.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_put(
    db: *mut LightningDB,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> LightningDBError {
    run("lightning_db_put", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        let value = boundary::value(value, value_len)?;
        db.put(key, value)?;
        Ok(())
    })
}

/// Reads the value stored under `key` into `*result`.
///
/// An absent key is not an error: Success with `result->data` NULL and
/// `result->len` 0. A present empty value has a non-NULL `data` and `len` 0.
///
/// Memory: `*result` is always written (NULL/0 on failure), so it is always safe
/// to pass to `lightning_db_free_result`; a non-NULL `data` must be released with
/// `lightning_db_free_result(result->data, result->len)`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_get(
    db: *mut LightningDB,
    key: *const u8,
    key_len: usize,
    result: *mut LightningDBResult,
) -> LightningDBError {
    if !result.is_null() {
        result.write(LightningDBResult::EMPTY);
    }
    run("lightning_db_get", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        let result = out(result, "result")?;
        if let Some(value) = db.get(key)? {
            result.write(boundary::buffer(&value)?);
        }
        Ok(())
    })
}

/// Removes `key`. Removing an absent key is not an error (and writes nothing).
#[no_mangle]
pub unsafe extern "C" fn lightning_db_delete(
    db: *mut LightningDB,
    key: *const u8,
    key_len: usize,
) -> LightningDBError {
    run("lightning_db_delete", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        db.delete(key)?;
        Ok(())
    })
}

/// The shape every call answering yes or no about one key shares: `*found` is
/// written false first, so it is false on any failure, then set to the answer.
pub(crate) unsafe fn answer_about_key(
    name: &str,
    db: *mut LightningDB,
    key: *const u8,
    key_len: usize,
    found: *mut bool,
    answer: impl FnOnce(&OpenDatabase, &[u8]) -> Outcome<bool>,
) -> LightningDBError {
    if !found.is_null() {
        found.write(false);
    }
    run(name, || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        let found = out(found, "found")?;
        found.write(answer(&db, key)?);
        Ok(())
    })
}

/// Removes `key` as `lightning_db_delete` does, and sets `*found` to whether it
/// was stored: true when the key had a value and the delete was committed, false
/// when it had none (nothing is written then). For bindings whose delete answers
/// "was it there", in one call instead of a lookup and a delete.
///
/// Memory: `*found` is always written (false on failure).
#[no_mangle]
pub unsafe extern "C" fn lightning_db_delete_found(
    db: *mut LightningDB,
    key: *const u8,
    key_len: usize,
    found: *mut bool,
) -> LightningDBError {
    answer_about_key(
        "lightning_db_delete_found",
        db,
        key,
        key_len,
        found,
        |db, key| Ok(db.delete(key)?),
    )
}

/// Sets `*found` to whether `key` is stored, without reading its value.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_contains(
    db: *mut LightningDB,
    key: *const u8,
    key_len: usize,
    found: *mut bool,
) -> LightningDBError {
    answer_about_key(
        "lightning_db_contains",
        db,
        key,
        key_len,
        found,
        |db, key| Ok(db.contains(key)?),
    )
}

/// Releases a buffer returned in a `LightningDBResult` (by `lightning_db_get`,
/// `lightning_db_get_tx` or `lightning_db_iter_next`). `len` is the buffer's
/// length as returned (it is not needed to release the memory).
///
/// NULL: no-op, so a result of an absent key can be passed as is. Releasing the
/// same buffer twice, or a pointer the library did not return, is undefined
/// behaviour exactly like `free()`: it is not detected.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_free_result(data: *mut u8, len: usize) {
    let _ = len;
    if !data.is_null() {
        boundary::release_buffer(data);
    }
}

/// `*value_len` when the key is absent: no value has this length.
pub const LIGHTNING_DB_NO_VALUE: usize = usize::MAX;

/// Copies `value` into the caller's buffer if it fits and reports its length; the
/// shared end of `lightning_db_get_into` and `lightning_db_get_tx_into`.
pub(crate) unsafe fn deliver_into(
    value: Option<Vec<u8>>,
    buf: *mut u8,
    cap: usize,
    value_len: std::ptr::NonNull<usize>,
) {
    match value {
        None => value_len.write(LIGHTNING_DB_NO_VALUE),
        Some(value) => {
            if value.len() <= cap && !value.is_empty() {
                std::ptr::copy_nonoverlapping(value.as_ptr(), buf, value.len());
            }
            value_len.write(value.len());
        }
    }
}

/// Checks a caller-supplied output buffer: NULL only with capacity 0.
pub(crate) fn out_buffer(buf: *mut u8, cap: usize) -> Outcome<()> {
    if buf.is_null() && cap != 0 {
        return Err(boundary::Failure::null("buf"));
    }
    Ok(())
}

/// Reads the value stored under `key` into the caller's buffer `buf` of `cap`
/// bytes: the lending form of `lightning_db_get`, with no allocation handed to
/// the caller and nothing to release.
///
/// `*value_len` receives the value's length, or LIGHTNING_DB_NO_VALUE if the key
/// is absent. When the value is longer than `cap`, nothing is copied: call again
/// with a buffer of at least `*value_len` bytes (the value may have changed in
/// between; check `*value_len` again). `buf` may be NULL when `cap` is 0, which
/// asks for the length only.
///
/// Memory: `*value_len` is always written (LIGHTNING_DB_NO_VALUE on failure);
/// `buf` is written only in its first `*value_len` bytes, and only when they fit.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_get_into(
    db: *mut LightningDB,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    value_len: *mut usize,
) -> LightningDBError {
    if !value_len.is_null() {
        value_len.write(LIGHTNING_DB_NO_VALUE);
    }
    run("lightning_db_get_into", || {
        let db = database(db)?;
        let key = boundary::key(key, key_len)?;
        let value_len = out(value_len, "value_len")?;
        out_buffer(buf, cap)?;
        deliver_into(db.get(key)?, buf, cap, value_len);
        Ok(())
    })
}
