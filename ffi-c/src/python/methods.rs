//! `get`, `put` and `scan` of a database and of a transaction as builtin
//! functions made in this library (CPython only; `scan` is in `scan`).
//!
//! A ctypes call converts each of its arguments and its result, a cost that
//! grows with their number and that, for a put buffered in a transaction or
//! the opening of a short scan, is as large as the library's own work. A
//! builtin function is called by CPython directly, with the key and value as
//! the bytes objects the caller holds, and answers with a Python object or
//! raises: the hottest calls of the Python layer pay for no conversion layer.
//!
//! Invariants:
//! - A database's functions hold its `LightningDB*` handle (a registry token,
//!   looked up on every call as the ctypes functions do), so a closed or
//!   released database fails as it does everywhere else. A transaction's hold
//!   a reference to the transaction itself, which outlives nothing it needs.
//! - `put` of a database releases the GIL for the commit (which may wait for
//!   an fsync); the key and value stay valid because the caller holds the
//!   bytes objects for the whole call, and bytes never change.
//! - Failures raise the typed exception through `raise_last_error`, with the
//!   same message the ctypes functions record.

use std::ffi::c_void;
use std::sync::Arc;

use super::{
    builtin, bytes_arg, guard, new_function, new_reference, open_database, py_bytes, python,
    python_alloc_failed, scan, BytesArg, MethodDef, PythonApi, ReleasedGil, METH_FASTCALL, METH_O,
};
use crate::c_api::LightningDB;
use crate::uniffi::{LightningDbError, Result, Transaction};

static DB_GET: MethodDef = MethodDef::new(c"get", db_get as *const c_void, METH_O);
static DB_PUT: MethodDef = MethodDef::new(c"put", db_put as *const c_void, METH_FASTCALL);
static TX_GET: MethodDef = MethodDef::new(c"get", tx_get as *const c_void, METH_O);
static TX_PUT: MethodDef = MethodDef::new(c"put", tx_put as *const c_void, METH_FASTCALL);
static DB_SCAN: MethodDef = MethodDef::new(c"scan", scan::db_scan as *const c_void, METH_FASTCALL);
static TX_SCAN: MethodDef = MethodDef::new(c"scan", scan::tx_scan as *const c_void, METH_FASTCALL);

/// The two arguments of a `put`: bytes, or made bytes by the Python layer's
/// conversion (see `BytesArg`).
///
/// # Safety
/// `args` points to `nargs` objects; the GIL is held.
unsafe fn key_and_value<'a>(
    api: &'a PythonApi,
    args: *const *mut c_void,
    nargs: isize,
) -> Result<(BytesArg<'a>, BytesArg<'a>)> {
    if nargs != 2 {
        return Err(LightningDbError::invalid(format!(
            "put takes a key and a value, not {nargs} arguments"
        )));
    }
    Ok((
        bytes_arg(api, *args, api.as_key, "key")?,
        bytes_arg(api, *args.add(1), api.as_value, "value")?,
    ))
}

/// A new reference to `bytes(value)` or to None.
unsafe fn value_object(api: &PythonApi, value: Option<Vec<u8>>) -> Result<*mut c_void> {
    match value {
        Some(v) => py_bytes(api, &v),
        None => Ok(none(api)),
    }
}

unsafe fn none(api: &PythonApi) -> *mut c_void {
    new_reference(api, api.none)
}

unsafe extern "C" fn db_get(capsule: *mut c_void, key: *mut c_void) -> *mut c_void {
    builtin(|api| {
        let key = bytes_arg(api, key, api.as_key, "key")?;
        let db = open_database(database_of(api, capsule))?;
        value_object(api, db.get(&key)?)
    })
}

unsafe extern "C" fn db_put(
    capsule: *mut c_void,
    args: *const *mut c_void,
    nargs: isize,
) -> *mut c_void {
    builtin(|api| {
        // Dropped after the GIL is taken back, which their references need.
        let (key, value) = key_and_value(api, args, nargs)?;
        let db = open_database(database_of(api, capsule))?;
        let gil = ReleasedGil::new(api);
        db.put(&key, &value)?;
        drop(gil);
        Ok(none(api))
    })
}

unsafe extern "C" fn tx_get(capsule: *mut c_void, key: *mut c_void) -> *mut c_void {
    builtin(|api| {
        let key = bytes_arg(api, key, api.as_key, "key")?;
        value_object(api, transaction_of(api, capsule)?.with(|tx| tx.get(&key))?)
    })
}

unsafe extern "C" fn tx_put(
    capsule: *mut c_void,
    args: *const *mut c_void,
    nargs: isize,
) -> *mut c_void {
    builtin(|api| {
        let (key, value) = key_and_value(api, args, nargs)?;
        transaction_of(api, capsule)?.with(|tx| tx.put(&key, &value))?;
        Ok(none(api))
    })
}

/// The handle a database's capsule holds (its pointer is the handle itself).
pub(super) unsafe fn database_of(api: &PythonApi, capsule: *mut c_void) -> *const LightningDB {
    (api.capsule_pointer)(capsule, std::ptr::null())
        .cast_const()
        .cast()
}

/// The transaction a transaction's capsule holds a reference to.
pub(super) unsafe fn transaction_of<'a>(
    api: &PythonApi,
    capsule: *mut c_void,
) -> Result<&'a Transaction> {
    let tx = (api.capsule_pointer)(capsule, std::ptr::null());
    tx.cast::<Transaction>()
        .cast_const()
        .as_ref()
        .ok_or_else(|| LightningDbError::NullPointer {
            message: "null transaction".into(),
        })
}

/// The capsule's destructor: drops the reference to the transaction it holds.
unsafe extern "C" fn release_transaction(capsule: *mut c_void) {
    if let Some(api) = super::PYTHON.get() {
        let tx = (api.capsule_pointer)(capsule, std::ptr::null());
        if !tx.is_null() {
            // SAFETY: made by Arc::into_raw in transaction_functions; CPython
            // calls the destructor once. A drop that panics (a rollback that
            // failed) must not unwind into CPython.
            let _ = std::panic::catch_unwind(|| drop(Arc::from_raw(tx.cast::<Transaction>())));
        }
    }
}

/// A new reference to the tuple of the functions of `defs` over `capsule`.
///
/// # Safety
/// The GIL is held.
unsafe fn functions(
    api: &PythonApi,
    capsule: *mut c_void,
    defs: [&'static MethodDef; 3],
) -> Result<*mut c_void> {
    let made = (|| {
        let tuple = (api.tuple_new)(defs.len() as isize);
        if tuple.is_null() {
            return Err(python_alloc_failed("a tuple"));
        }
        for (i, def) in defs.into_iter().enumerate() {
            match new_function(api, def, capsule) {
                Ok(f) => {
                    (api.tuple_set)(tuple, i as isize, f);
                }
                Err(e) => {
                    (api.decref)(tuple);
                    return Err(e);
                }
            }
        }
        Ok(tuple)
    })();
    // The functions hold their own references to the capsule.
    (api.decref)(capsule);
    made
}

/// The database's `get(key)`, `put(key, value)` and `scan(start, end, flags)`
/// as builtin functions: a new reference to the tuple `(get, put, scan)`, or
/// the registered error object. `get` returns the value as bytes or None;
/// `put` commits and returns None; `scan` takes keys as bytes or None
/// (unbounded) and the bits of `flags` (1 reverse, 2 the start is a prefix, 4
/// the start key is excluded, 8 the end key is included), and returns a
/// builtin `step` to iterate as `iter(step, END)`. All raise the library's
/// typed errors.
///
/// # Safety
/// The GIL is held; `lightning_db_fast_py_init` succeeded.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_functions_py(db: *const LightningDB) -> *mut c_void {
    guard(
        |_| super::python_error(),
        || {
            let api = python()?;
            open_database(db)?; // fail now, not at the first call
            let capsule = (api.capsule_new)(db.cast_mut().cast(), std::ptr::null(), None);
            if capsule.is_null() {
                return Err(python_alloc_failed("a capsule"));
            }
            functions(api, capsule, [&DB_GET, &DB_PUT, &DB_SCAN])
        },
    )
}

/// As `lightning_db_fast_db_functions_py`, reading and writing through the
/// transaction (whose handle the functions do not need: they hold the
/// transaction).
///
/// # Safety
/// `tx` is a live handle from `lightning_db_fast_db_begin`; the GIL is held;
/// `lightning_db_fast_py_init` succeeded.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_functions_py(tx: *const Transaction) -> *mut c_void {
    guard(
        |_| super::python_error(),
        || {
            let api = python()?;
            super::object(tx, "transaction")?;
            // SAFETY: `tx` came from Arc::into_raw and is live: one more
            // reference, owned by the capsule.
            Arc::increment_strong_count(tx);
            let owned = Arc::into_raw(Arc::from_raw(tx));
            let capsule = (api.capsule_new)(
                owned.cast_mut().cast(),
                std::ptr::null(),
                Some(release_transaction),
            );
            if capsule.is_null() {
                drop(Arc::from_raw(owned));
                return Err(python_alloc_failed("a capsule"));
            }
            functions(api, capsule, [&TX_GET, &TX_PUT, &TX_SCAN])
        },
    )
}
