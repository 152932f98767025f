//! Scans as Python iterators made in this library (CPython only).
//!
//! A scan is a builtin function object, `step`, whose `self` is a capsule that
//! owns the engine's iterator; Python iterates `iter(step, END)`. Each step is
//! a call from CPython's own loop into this library, which lends itself the
//! key and value from the index and the segment map and makes the `(key,
//! value)` tuple from them: no ctypes call, no page, no Python frame per pair,
//! and nothing read ahead that the caller may never take (a range of ten reads
//! ten pairs).
//!
//! Invariants:
//! - The capsule owns the iterator; dropping the last reference to `step`
//!   drops it, and with it the snapshot. `close` drops it earlier; a closed or
//!   finished scan returns END.
//! - Every step holds the GIL, and the iterator sits behind a mutex taken with
//!   `try_lock`: a step re-entered from inside itself (a finalizer run by an
//!   allocation) or from a second thread of a free-threaded build fails with an
//!   error instead of aliasing the iterator.
//! - A step that fails records the error as this thread's last error and calls
//!   the registered `raise_last_error`, which raises it: the step then returns
//!   null with the exception set, as CPython expects of a builtin.

use std::ffi::{c_int, c_long, c_void};
use std::ops::Bound;
use std::sync::{Mutex, TryLockError};

use lightning_db as engine;

use super::methods::{database_of, transaction_of};
use super::{
    builtin, bytes_of, guard, new_function, new_reference, py_bytes, python, python_alloc_failed,
    MethodDef, PythonApi, METH_NOARGS,
};
use crate::uniffi::{LightningDbError, Result};

/// What a capsule owns: the scan's iterator (None once finished or closed).
struct Scan {
    iter: Mutex<Option<engine::Iter>>,
    reverse: bool,
}

/// CPython keeps a pointer to the definition for the life of every function
/// made from it: it must be static.
static STEP: MethodDef = MethodDef::new(
    c"lightning_db_scan_step",
    step as *const c_void,
    METH_NOARGS,
);

/// Bits of a scan's `flags`: walk from the end of the range; the start key is
/// a prefix (the scan holds the keys that start with it, and the end is
/// ignored); the start key itself is left out; the end key itself is let in.
const FLAG_REVERSE: c_long = 1;
const FLAG_PREFIX: c_long = 2;
const FLAG_START_EXCLUDED: c_long = 4;
const FLAG_END_INCLUDED: c_long = 8;

/// The range of a scan's arguments `(start, end, flags)`, the keys bytes or
/// None (unbounded), and its flags.
///
/// # Safety
/// `args` points to `nargs` objects; the GIL is held.
unsafe fn scan_arguments(
    api: &PythonApi,
    args: *const *mut c_void,
    nargs: isize,
) -> Result<(engine::KeyRange, c_long)> {
    if nargs != 3 {
        return Err(LightningDbError::invalid(format!(
            "a scan takes start, end and flags, not {nargs} arguments"
        )));
    }
    let flags = (api.long_value)(*args.add(2));
    if flags == -1 && !(api.err_occurred)().is_null() {
        return Err(LightningDbError::invalid("scan flags are an int"));
    }
    let key = |i: usize, what: &str| -> Result<Option<&[u8]>> {
        let object = *args.add(i);
        if object as usize == api.none {
            return Ok(None);
        }
        bytes_of(api, object, what).map(Some)
    };
    let (start, end) = (key(0, "start")?, key(1, "end")?);
    if flags & FLAG_PREFIX != 0 {
        return Ok((engine::KeyRange::prefix(start.unwrap_or(&[])), flags));
    }
    let start = match start {
        None => Bound::Unbounded,
        Some(k) if flags & FLAG_START_EXCLUDED != 0 => Bound::Excluded(k.to_vec()),
        Some(k) => Bound::Included(k.to_vec()),
    };
    let end = match end {
        None => Bound::Unbounded,
        Some(k) if flags & FLAG_END_INCLUDED != 0 => Bound::Included(k.to_vec()),
        Some(k) => Bound::Excluded(k.to_vec()),
    };
    Ok((engine::KeyRange { start, end }, flags))
}

/// A new reference to a `step` function over `iter`.
///
/// # Safety
/// The GIL is held.
unsafe fn new_scan(api: &PythonApi, iter: engine::Iter, flags: c_long) -> Result<*mut c_void> {
    let scan = Box::into_raw(Box::new(Scan {
        iter: Mutex::new(Some(iter)),
        reverse: flags & FLAG_REVERSE != 0,
    }));
    let capsule = (api.capsule_new)(scan.cast(), std::ptr::null(), Some(drop_scan));
    if capsule.is_null() {
        drop(Box::from_raw(scan));
        return Err(python_alloc_failed("a capsule"));
    }
    // The function takes its own reference to the capsule; if it could not be
    // made, dropping the capsule drops the scan with it.
    let function = new_function(api, &STEP, capsule);
    (api.decref)(capsule);
    function
}

/// The capsule's destructor: drops the scan it owns.
unsafe extern "C" fn drop_scan(capsule: *mut c_void) {
    if let Some(api) = super::PYTHON.get() {
        let scan = (api.capsule_pointer)(capsule, std::ptr::null());
        if !scan.is_null() {
            // SAFETY: the capsule was made by new_scan from a Box<Scan>, and
            // CPython calls its destructor once. A panic in an iterator's drop
            // must not unwind into CPython.
            let _ = std::panic::catch_unwind(|| drop(Box::from_raw(scan.cast::<Scan>())));
        }
    }
}

/// # Safety
/// `capsule` is a capsule made by `new_scan`; the GIL is held.
unsafe fn scan_of<'a>(api: &PythonApi, capsule: *mut c_void) -> Result<&'a Scan> {
    let scan = (api.capsule_pointer)(capsule, std::ptr::null());
    scan.cast::<Scan>()
        .as_ref()
        .ok_or_else(|| LightningDbError::NullPointer {
            message: "null scan".into(),
        })
}

fn in_use() -> LightningDbError {
    LightningDbError::invalid("the scan is already in use by another call")
}

/// A new reference to the END object.
unsafe fn end(api: &PythonApi) -> *mut c_void {
    new_reference(api, api.end)
}

/// The next `(key, value)` tuple of the scan, or END.
unsafe extern "C" fn step(capsule: *mut c_void, _no_args: *mut c_void) -> *mut c_void {
    builtin(|api| {
        let scan = scan_of(api, capsule)?;
        let mut slot = match scan.iter.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::WouldBlock) => return Err(in_use()),
            // A step that panicked left the scan poisoned: it reports so.
            Err(TryLockError::Poisoned(_)) => {
                return Err(LightningDbError::invalid("the scan failed earlier"))
            }
        };
        let Some(iter) = slot.as_mut() else {
            return Ok(end(api));
        };
        let lend = |k: &[u8], v: &[u8]| -> Result<(*mut c_void, *mut c_void)> {
            let key = py_bytes(api, k)?;
            match py_bytes(api, v) {
                Ok(value) => Ok((key, value)),
                Err(e) => {
                    (api.decref)(key);
                    Err(e)
                }
            }
        };
        let item = if scan.reverse {
            iter.next_back_with(lend)
        } else {
            iter.next_with(lend)
        };
        let Some(item) = item else {
            // Finished: the snapshot goes now, not when Python drops us.
            *slot = None;
            return Ok(end(api));
        };
        // Bytes are not tracked by Python's collector, so making them ran no
        // finalizer; a tuple is, so the scan is let go before making one.
        drop(slot);
        let (key, value) = item??;
        let tuple = (api.tuple_new)(2);
        if tuple.is_null() {
            (api.decref)(key);
            (api.decref)(value);
            return Err(python_alloc_failed("a tuple"));
        }
        (api.tuple_set)(tuple, 0, key);
        (api.tuple_set)(tuple, 1, value);
        Ok(tuple)
    })
}

/// `scan(start, end, flags)` of a database (see `methods`): a new reference
/// to a builtin function `step` to iterate as `iter(step, END)`; its
/// `__self__` is what `lightning_db_fast_scan_close_py` takes.
pub(super) unsafe extern "C" fn db_scan(
    capsule: *mut c_void,
    args: *const *mut c_void,
    nargs: isize,
) -> *mut c_void {
    builtin(|api| {
        let (range, flags) = scan_arguments(api, args, nargs)?;
        let iter = super::open_database(database_of(api, capsule))?
            .db
            .range(range)?;
        new_scan(api, iter, flags)
    })
}

/// `scan(start, end, flags)` of a transaction, as `db_scan`.
pub(super) unsafe extern "C" fn tx_scan(
    capsule: *mut c_void,
    args: *const *mut c_void,
    nargs: isize,
) -> *mut c_void {
    builtin(|api| {
        let (range, flags) = scan_arguments(api, args, nargs)?;
        let iter = transaction_of(api, capsule)?.with(|tx| tx.range(range))?;
        new_scan(api, iter, flags)
    })
}

/// Ends a scan made by a `scan` builtin now, releasing its snapshot;
/// its `step` then returns the end object. `capsule` is `step.__self__`.
/// Returns 0, or a negative error code (the scan is in use by a call of its
/// own).
///
/// # Safety
/// `capsule` is the `__self__` of a `step` made by this module; the GIL is
/// held.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_scan_close_py(capsule: *mut c_void) -> c_int {
    guard(
        |c| c,
        || {
            let scan = scan_of(python()?, capsule)?;
            let iter = match scan.iter.try_lock() {
                Ok(mut slot) => slot.take(),
                Err(TryLockError::WouldBlock) => return Err(in_use()),
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().take(),
            };
            drop(iter);
            Ok(0)
        },
    )
}
