//! The Python fast path: plain C functions over the objects of the UniFFI
//! surface, for the calls a benchmark shows too slow through UniFFI (a UniFFI
//! call costs ~11 µs from Python, a ctypes call ~0.3 µs), and the functions
//! that make and read CPython objects directly (a value, a batch, and in
//! `scan` a scan as a Python iterator) with the Python C API the Python layer
//! hands over at start-up.
//!
//! Used only by `bindings/python/src/lightning_db/_native.py`; its symbols are
//! listed in the generated `ffi-c/include/lightning_db_python.h`, which
//! `ci/check-symbols` holds the Python layer to.

#![allow(clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use lightning_db as engine;

mod methods;
mod scan;

use crate::boundary::{self, handles, Failure};
use crate::c_api::LightningDB;
use crate::uniffi::{
    lock, Cursor, Database, KeyBound, LightningDbError, Page, PageLimit, Result, Transaction,
};

// ---------------------------------------------------------------------------
// The fast path: plain C functions over the objects above.
//
// Conventions, chosen so that ctypes (and Ruby ffi, P/Invoke, ...) can call them
// without argument declarations, which is what makes them fast:
// - Handles come from `native_handle()` (UDL) or from the functions below that
//   return one; each is released exactly once with its `_release` function.
// - Lengths are C `int`: ctypes passes a Python int as `int` by default. Keys are
//   at most 16 KiB; a caller sends larger buffers through the UniFFI API instead.
// - Functions return a negative C error code (-1..-8, -99) on failure; the
//   message is then available from `lightning_db_fast_last_error` on the same
//   thread. Handle-returning functions return null on failure.
// - Nothing panics across the boundary: a panic becomes Unknown (-99).

/// Returned by the `_get` functions when the key has no value.
pub const LIGHTNING_DB_FAST_NOT_FOUND: i64 = -100;

thread_local! {
    /// A value too large for the caller's buffer, kept for `take_value`.
    static OVERSIZED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// The database of a `LightningDB*` (from `Database.native_handle()`), as the
/// UniFFI object, for the calls that make objects of that surface.
fn database(db: *const LightningDB) -> Result<Database> {
    Ok(Database::shared(Arc::clone(&open_database(db)?.db)))
}

/// The open database of a `LightningDB*`, for the point calls: one registry
/// lookup and nothing more per call.
fn open_database(db: *const LightningDB) -> Result<handles::Held<handles::OpenDatabase>> {
    Ok(handles::database(db.addr())?)
}

/// Runs `f` through the boundary (panics caught, the failure recorded as this
/// thread's last error) and turns a failure into its code.
fn guard<T>(on_error: impl FnOnce(i32) -> T, f: impl FnOnce() -> Result<T>) -> T {
    match boundary::run_recorded(|| f().map_err(Failure::from)) {
        Ok(v) => v,
        Err(failure) => on_error(failure.code as i32),
    }
}

fn code_of(code: i32) -> i64 {
    code as i64
}

/// # Safety
/// `ptr` must be null or point to `len` readable bytes.
unsafe fn slice<'a>(ptr: *const u8, len: c_int, what: &str) -> Result<&'a [u8]> {
    if len < 0 {
        return Err(LightningDbError::invalid(format!(
            "negative {what} length {len}"
        )));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(LightningDbError::NullPointer {
            message: format!("null {what} pointer"),
        });
    }
    Ok(std::slice::from_raw_parts(ptr, len as usize))
}

/// # Safety
/// `h` must be null or a live handle of type `T` from this module.
unsafe fn object<'a, T>(h: *const T, what: &str) -> Result<&'a T> {
    h.as_ref().ok_or_else(|| LightningDbError::NullPointer {
        message: format!("null {what} handle"),
    })
}

/// Copies `value` into `buf` when it fits, else keeps it for
/// `lightning_db_fast_take_value`; returns its length either way.
///
/// # Safety
/// `buf` must be null or point to `cap` writable bytes.
unsafe fn deliver(value: Option<Vec<u8>>, buf: *mut u8, cap: c_int) -> i64 {
    let Some(value) = value else {
        return LIGHTNING_DB_FAST_NOT_FOUND;
    };
    let n = value.len();
    if n <= cap.max(0) as usize && (n == 0 || !buf.is_null()) {
        std::ptr::copy_nonoverlapping(value.as_ptr(), buf, n);
    } else {
        OVERSIZED.with(|o| *o.borrow_mut() = Some(value));
    }
    n as i64
}

fn release<T>(h: *const T) {
    if !h.is_null() {
        // SAFETY: the handle was made by Arc::into_raw and is released once.
        drop(unsafe { Arc::from_raw(h) });
    }
}

fn into_handle<T>(obj: Arc<T>) -> *const T {
    Arc::into_raw(obj)
}

/// Copies the message of this thread's last fast-call error into `buf` (up to
/// `cap` bytes, UTF-8, not terminated) and returns its full length; the code was
/// the failing call's return value.
///
/// # Safety
/// `buf` must be null or point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_last_error(buf: *mut u8, cap: c_int) -> c_int {
    copy_text(
        std::ffi::CStr::from_ptr(boundary::last_error_message()).to_bytes(),
        buf,
        cap,
    )
}

/// Copies `text` into `buf` (up to `cap` bytes, not terminated) and returns its
/// full length, so that a caller with too small a buffer learns the size.
///
/// # Safety
/// `buf` must be null or point to `cap` writable bytes.
unsafe fn copy_text(text: &[u8], buf: *mut u8, cap: c_int) -> c_int {
    if !buf.is_null() && cap > 0 {
        let n = text.len().min(cap as usize);
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf, n);
    }
    c_int::try_from(text.len()).unwrap_or(c_int::MAX)
}

/// The code of this thread's last fast-call error: what a handle-returning
/// function that returned null failed with (0 after a call that succeeded).
#[no_mangle]
pub extern "C" fn lightning_db_fast_last_error_code() -> c_int {
    boundary::last_error_code() as c_int
}

/// After a `_get` returned a length larger than the buffer it was given: copies
/// that value (kept per thread) into `buf`, which must hold it, and forgets it.
/// Returns its length, or InvalidArgument if there is none or it does not fit.
///
/// # Safety
/// `buf` must be null or point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_take_value(buf: *mut u8, cap: c_int) -> i64 {
    guard(code_of, || {
        let value = OVERSIZED.with(|o| o.borrow_mut().take());
        let value = value.ok_or_else(|| LightningDbError::invalid("no value is waiting"))?;
        if value.len() > cap.max(0) as usize || buf.is_null() {
            return Err(LightningDbError::invalid(format!(
                "a buffer of {cap} bytes cannot hold the {}-byte value",
                value.len()
            )));
        }
        std::ptr::copy_nonoverlapping(value.as_ptr(), buf, value.len());
        Ok(value.len() as i64)
    })
}

#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_get(
    db: *const LightningDB,
    key: *const u8,
    key_len: c_int,
    buf: *mut u8,
    cap: c_int,
) -> i64 {
    guard(code_of, || {
        let value = open_database(db)?.get(slice(key, key_len, "key")?)?;
        Ok(deliver(value, buf, cap))
    })
}

/// The parts of the Python C API the `_py` functions use, handed over by the
/// Python layer (this library does not link against Python). All are in
/// CPython's stable ABI.
struct PythonApi {
    bytes: unsafe extern "C" fn(*const u8, isize) -> *mut c_void,
    bytes_parts: unsafe extern "C" fn(*mut c_void, *mut *mut u8, *mut isize) -> c_int,
    incref: unsafe extern "C" fn(*mut c_void),
    decref: unsafe extern "C" fn(*mut c_void),
    tuple_new: unsafe extern "C" fn(isize) -> *mut c_void,
    tuple_set: unsafe extern "C" fn(*mut c_void, isize, *mut c_void) -> c_int,
    tuple_size: unsafe extern "C" fn(*mut c_void) -> isize,
    tuple_item: unsafe extern "C" fn(*mut c_void, isize) -> *mut c_void,
    list_as_tuple: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    capsule_new:
        unsafe extern "C" fn(*mut c_void, *const c_char, Option<CapsuleDestructor>) -> *mut c_void,
    capsule_pointer: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void,
    cfunction_new: unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void) -> *mut c_void,
    call_object: unsafe extern "C" fn(*mut c_void, *mut c_void) -> *mut c_void,
    err_occurred: unsafe extern "C" fn() -> *mut c_void,
    err_clear: unsafe extern "C" fn(),
    long_value: unsafe extern "C" fn(*mut c_void) -> std::ffi::c_long,
    save_thread: unsafe extern "C" fn() -> *mut c_void,
    restore_thread: unsafe extern "C" fn(*mut c_void),
    none: usize,
    /// What the `_py` functions return on error: never null, because ctypes
    /// (CPython 3.11) dereferences a null `py_object` result.
    failed: usize,
    /// What a native scan returns at its end (see `scan`).
    end: usize,
    /// A Python callable that raises the exception of this thread's last
    /// fast-call error: how functions called by Python itself, not by ctypes,
    /// fail.
    raise_last_error: usize,
    /// Python callables that make bytes of a key, or of a value, that is not
    /// bytes: a copy of a bytes-like object, or a TypeError (`BytesArg`).
    as_key: usize,
    as_value: usize,
    /// Every address as it was given: a second registration must give the same.
    given: Vec<usize>,
}

type CapsuleDestructor = unsafe extern "C" fn(*mut c_void);

static PYTHON: std::sync::OnceLock<PythonApi> = std::sync::OnceLock::new();

/// What `lightning_db_fast_py_init` takes the addresses of, in this order:
/// functions of the Python C API by their names, and (`object:`) objects of
/// the Python layer. The Python layer reads this list from
/// `lightning_db_fast_py_api_names`, so the order is stated once, here.
const PYTHON_API_NAMES: [&str; 24] = [
    "PyBytes_FromStringAndSize",
    "PyBytes_AsStringAndSize",
    "Py_IncRef",
    "Py_DecRef",
    "PyTuple_New",
    "PyTuple_SetItem",
    "PyTuple_Size",
    "PyTuple_GetItem",
    "PyList_AsTuple",
    "PyCapsule_New",
    "PyCapsule_GetPointer",
    "PyCFunction_NewEx",
    "PyObject_CallObject",
    "PyErr_Occurred",
    "PyErr_Clear",
    "PyLong_AsLong",
    "PyEval_SaveThread",
    "PyEval_RestoreThread",
    "object:None",
    "object:failed",
    "object:end",
    "object:raise_last_error",
    "object:as_key",
    "object:as_value",
];

/// Copies the names `lightning_db_fast_py_init` takes the addresses of,
/// comma-separated (ASCII, not terminated), into `buf` (up to `cap` bytes) and
/// returns their full length. A name is that of a function of the Python C
/// API, or `object:` and one of `None`; `failed`, an object the `_py`
/// functions return on error; `end`, the object a native scan returns at its
/// end; `raise_last_error`, a callable without arguments that raises the
/// exception of this thread's last error; `as_key` and `as_value`, callables
/// of one argument that return it as bytes or raise TypeError. The objects
/// must live as long as the process.
///
/// # Safety
/// `buf` must be null or point to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_py_api_names(buf: *mut u8, cap: c_int) -> c_int {
    copy_text(PYTHON_API_NAMES.join(",").as_bytes(), buf, cap)
}

/// Enables the `_py` functions, which make and read Python objects with the
/// calling interpreter's C API, so that Python gets a value or a scan, and
/// hands over a batch, in one call, without a buffer and a copy of its own.
/// `api` holds the addresses of what `lightning_db_fast_py_api_names` names,
/// in its order. Returns 0, or an error code if `count` is not the number of
/// names, an address is null, or other addresses were registered before.
///
/// # Safety
/// `api` points to `count` addresses, which are those functions and objects of
/// the running CPython.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_py_init(api: *const usize, count: c_int) -> c_int {
    guard(
        |c| c,
        || {
            let expected = PYTHON_API_NAMES.len();
            if usize::try_from(count) != Ok(expected) || api.is_null() {
                return Err(LightningDbError::invalid(format!(
                    "expected {expected} Python API addresses, got {count}"
                )));
            }
            let a = std::slice::from_raw_parts(api, expected);
            if let Some(i) = a.iter().position(|&address| address == 0) {
                return Err(LightningDbError::NullPointer {
                    message: format!("null address for {}", PYTHON_API_NAMES[i]),
                });
            }
            let registered = PYTHON.get_or_init(|| python_api(a));
            if registered.given != a {
                return Err(LightningDbError::invalid(
                    "another Python interpreter is registered",
                ));
            }
            Ok(0)
        },
    )
}

/// The address given for `name`.
fn address_of(a: &[usize], name: &str) -> usize {
    let i = PYTHON_API_NAMES.iter().position(|&n| n == name);
    a[i.expect("a name of PYTHON_API_NAMES")]
}

/// # Safety
/// `a` holds the addresses `lightning_db_fast_py_init` documents, none null.
// Each transmute's target is the type of the field it fills, spelled once, in
// PythonApi; repeating it here would be a second list to keep in step.
#[allow(clippy::missing_transmute_annotations)]
unsafe fn python_api(a: &[usize]) -> PythonApi {
    // SAFETY: each address is that of the function whose type it is given;
    // a function pointer is an address.
    macro_rules! function {
        ($name:literal) => {
            std::mem::transmute::<usize, _>(address_of(a, $name))
        };
    }
    PythonApi {
        bytes: function!("PyBytes_FromStringAndSize"),
        bytes_parts: function!("PyBytes_AsStringAndSize"),
        incref: function!("Py_IncRef"),
        decref: function!("Py_DecRef"),
        tuple_new: function!("PyTuple_New"),
        tuple_set: function!("PyTuple_SetItem"),
        tuple_size: function!("PyTuple_Size"),
        tuple_item: function!("PyTuple_GetItem"),
        list_as_tuple: function!("PyList_AsTuple"),
        capsule_new: function!("PyCapsule_New"),
        capsule_pointer: function!("PyCapsule_GetPointer"),
        cfunction_new: function!("PyCFunction_NewEx"),
        call_object: function!("PyObject_CallObject"),
        err_occurred: function!("PyErr_Occurred"),
        err_clear: function!("PyErr_Clear"),
        long_value: function!("PyLong_AsLong"),
        save_thread: function!("PyEval_SaveThread"),
        restore_thread: function!("PyEval_RestoreThread"),
        none: address_of(a, "object:None"),
        failed: address_of(a, "object:failed"),
        end: address_of(a, "object:end"),
        raise_last_error: address_of(a, "object:raise_last_error"),
        as_key: address_of(a, "object:as_key"),
        as_value: address_of(a, "object:as_value"),
        given: a.to_vec(),
    }
}

fn python() -> Result<&'static PythonApi> {
    PYTHON
        .get()
        .ok_or_else(|| LightningDbError::invalid("lightning_db_fast_py_init was not called"))
}

/// Python raised MemoryError (ctypes reports it before our result).
fn python_alloc_failed(what: &str) -> LightningDbError {
    LightningDbError::OutOfMemory {
        message: format!("Python could not allocate {what}"),
    }
}

/// A new reference to `bytes(data)`.
///
/// # Safety
/// The GIL is held.
unsafe fn py_bytes(api: &PythonApi, data: &[u8]) -> Result<*mut c_void> {
    let object = (api.bytes)(data.as_ptr(), data.len() as isize);
    if object.is_null() {
        return Err(python_alloc_failed(&format!("{} bytes", data.len())));
    }
    Ok(object)
}

/// CPython's `PyMethodDef`: `method` is a C function of the signature
/// `flags` names.
#[repr(C)]
struct MethodDef {
    name: *const c_char,
    method: *const c_void,
    flags: c_int,
    doc: *const c_char,
}

// SAFETY: a definition is immutable, and its pointers are to a function and to
// static strings.
unsafe impl Sync for MethodDef {}

impl MethodDef {
    /// A definition of the function `method` of convention `flags`, without a
    /// docstring.
    const fn new(name: &'static std::ffi::CStr, method: *const c_void, flags: c_int) -> MethodDef {
        MethodDef {
            name: name.as_ptr(),
            method,
            flags,
            doc: std::ptr::null(),
        }
    }
}

/// CPython's calling conventions of a builtin function (`METH_*`): no
/// argument, one, or a vector of them (`fn(self, *const arg, nargs)`).
const METH_NOARGS: c_int = 0x0004;
const METH_O: c_int = 0x0008;
const METH_FASTCALL: c_int = 0x0080;

/// A new reference to a builtin function made from `def`, whose `self` is
/// `capsule` (the function takes a reference to it of its own).
///
/// # Safety
/// The GIL is held; `def` lives as long as the process (CPython keeps it).
unsafe fn new_function(
    api: &PythonApi,
    def: &'static MethodDef,
    capsule: *mut c_void,
) -> Result<*mut c_void> {
    let function = (api.cfunction_new)(
        (def as *const MethodDef).cast_mut().cast(),
        capsule,
        std::ptr::null_mut(),
    );
    if function.is_null() {
        return Err(python_alloc_failed("a function"));
    }
    Ok(function)
}

/// Raises this thread's last error through the registered callable; returns
/// null, which is what a builtin that raised returns.
unsafe fn raise_last_error() -> *mut c_void {
    if let Some(api) = PYTHON.get() {
        if !(api.err_occurred)().is_null() {
            // CPython raised already (a TypeError for an argument that is not
            // bytes, say): that exception stands.
            return std::ptr::null_mut();
        }
        let result = (api.call_object)(api.raise_last_error as *mut c_void, std::ptr::null_mut());
        if !result.is_null() {
            // It should have raised; CPython reports a null without an
            // exception as a SystemError, which is better than a wrong value.
            (api.decref)(result);
        }
    }
    std::ptr::null_mut()
}

/// The bytes of a bytes object, borrowed from it.
///
/// # Safety
/// The GIL is held (or the object is kept alive and unchanged by the caller:
/// bytes are immutable), and the slice does not outlive the object.
unsafe fn bytes_of<'a>(api: &PythonApi, object: *mut c_void, what: &str) -> Result<&'a [u8]> {
    let (mut data, mut len) = (std::ptr::null_mut(), 0isize);
    if (api.bytes_parts)(object, &mut data, &mut len) != 0 {
        // CPython set a TypeError of its own, which is what Python raises.
        return Err(LightningDbError::invalid(format!(
            "the {what} is not bytes"
        )));
    }
    Ok(std::slice::from_raw_parts(data.cast_const(), len as usize))
}

/// A key or a value handed to a builtin: the bytes of a bytes object, or of
/// the bytes the Python layer made of anything else (`as_key` / `as_value`:
/// a bytes-like object copied, anything else refused with a TypeError, as the
/// Python methods do), which this holds a reference to until dropped (with
/// the GIL held).
struct BytesArg<'a> {
    api: &'a PythonApi,
    made: *mut c_void,
    bytes: &'a [u8],
}

impl std::ops::Deref for BytesArg<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl Drop for BytesArg<'_> {
    fn drop(&mut self) {
        if !self.made.is_null() {
            // SAFETY: a reference this holds; the GIL is held (see above).
            unsafe { (self.api.decref)(self.made) }
        }
    }
}

/// `object` as a key (`convert` is `api.as_key`) or a value (`api.as_value`).
///
/// # Safety
/// The GIL is held; `object` is a live object the caller holds for as long as
/// the result is used.
unsafe fn bytes_arg<'a>(
    api: &'a PythonApi,
    object: *mut c_void,
    convert: usize,
    what: &str,
) -> Result<BytesArg<'a>> {
    let (mut data, mut len) = (std::ptr::null_mut(), 0isize);
    if (api.bytes_parts)(object, &mut data, &mut len) == 0 {
        let bytes = std::slice::from_raw_parts(data.cast_const(), len as usize);
        return Ok(BytesArg {
            api,
            made: std::ptr::null_mut(),
            bytes,
        });
    }
    // Not bytes: the TypeError CPython set gives way to the conversion's.
    (api.err_clear)();
    let args = (api.tuple_new)(1);
    if args.is_null() {
        return Err(python_alloc_failed("a tuple"));
    }
    (api.incref)(object);
    (api.tuple_set)(args, 0, object); // takes the reference
    let made = (api.call_object)(convert as *mut c_void, args);
    (api.decref)(args);
    if made.is_null() {
        // The conversion raised (a TypeError for a str): that exception stands.
        return Err(LightningDbError::invalid(format!(
            "the {what} is not bytes"
        )));
    }
    let mut arg = BytesArg {
        api,
        made,
        bytes: &[],
    };
    if (api.bytes_parts)(made, &mut data, &mut len) != 0 {
        return Err(LightningDbError::invalid(format!(
            "the {what} is not bytes"
        )));
    }
    arg.bytes = std::slice::from_raw_parts(data.cast_const(), len as usize);
    Ok(arg)
}

/// A new reference to the registered error object (the result of a failed
/// `_py` call), or null if none was registered.
///
/// # Safety
/// The GIL is held.
unsafe fn python_error() -> *mut c_void {
    match PYTHON.get() {
        Some(api) => new_reference(api, api.failed),
        None => std::ptr::null_mut(),
    }
}

/// A new reference to one of the registered objects (`none`, `failed`, `end`).
///
/// # Safety
/// The GIL is held.
unsafe fn new_reference(api: &PythonApi, object: usize) -> *mut c_void {
    let object = object as *mut c_void;
    (api.incref)(object);
    object
}

/// The body of a builtin function made by this library: `f` runs through the
/// boundary, and a failure is raised as the typed exception (the builtin then
/// returns null, as CPython expects).
///
/// # Safety
/// The GIL is held.
unsafe fn builtin(f: impl FnOnce(&'static PythonApi) -> Result<*mut c_void>) -> *mut c_void {
    guard(|_| raise_last_error(), || f(python()?))
}

/// Stores `value` under `key`: 0, or a negative error code.
///
/// # Safety
/// `db` is a live handle; the pointers point to their lengths in bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_put(
    db: *const LightningDB,
    key: *const u8,
    key_len: c_int,
    value: *const u8,
    value_len: c_int,
) -> c_int {
    guard(
        |c| c,
        || {
            open_database(db)?.put(
                slice(key, key_len, "key")?,
                slice(value, value_len, "value")?,
            )?;
            Ok(0)
        },
    )
}

/// Deletes `key`: 1 if it was present, 0 if not, or a negative error code.
///
/// # Safety
/// `db` is a live handle; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_delete(
    db: *const LightningDB,
    key: *const u8,
    key_len: c_int,
) -> c_int {
    guard(
        |c| c,
        || {
            let present = open_database(db)?.delete(slice(key, key_len, "key")?)?;
            Ok(present as c_int)
        },
    )
}

/// 1 if `key` has a value, 0 if not, or a negative error code.
///
/// # Safety
/// `db` is a live handle; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_contains(
    db: *const LightningDB,
    key: *const u8,
    key_len: c_int,
) -> c_int {
    guard(
        |c| c,
        || {
            let present = open_database(db)?.contains(slice(key, key_len, "key")?)?;
            Ok(present as c_int)
        },
    )
}

/// Number of live keys, or a negative error code.
///
/// # Safety
/// `db` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_len(db: *const LightningDB) -> i64 {
    guard(code_of, || Ok(open_database(db)?.len()? as i64))
}

/// Applies `op_count` operations atomically. `lens` holds two native-endian C
/// ints per operation (it need not be aligned, so a caller may pass any byte
/// buffer): the key's length, then the value's length or -1 for a delete; `data`
/// holds the keys and values back to back in that order (`data_len` bytes).
/// Returns 0 or a negative error code.
///
/// # Safety
/// `db` is a live handle; `data` points to `data_len` bytes and `lens` to
/// `2 * op_count` C ints.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_write(
    db: *const LightningDB,
    data: *const u8,
    data_len: c_int,
    lens: *const u8,
    op_count: c_int,
) -> c_int {
    guard(
        |c| c,
        || {
            let db = open_database(db)?;
            db.db
                .write_ops(&decode_batch(data, data_len, lens, op_count)?)?;
            Ok(0)
        },
    )
}

/// `Database.write` for CPython through ctypes.PyDLL (the GIL must be held):
/// applies `ops`, a Python list of `(key, value)` tuples of bytes (`value`
/// None for a delete), as one atomic commit, reading the keys and values in
/// place: nothing is packed or copied before the commit copies them into the
/// log. The GIL is released for the commit itself. Returns 0 or a negative
/// error code; an item of another shape raises TypeError (set by the C API,
/// which ctypes then raises) and writes nothing.
///
/// # Safety
/// `db` is a live handle; `ops` is a list; the GIL is held;
/// `lightning_db_fast_py_init` succeeded.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_write_py(
    db: *const LightningDB,
    ops: *mut c_void,
) -> c_int {
    guard(
        |c| c,
        || {
            let api = python()?;
            let db = open_database(db)?;
            // A tuple of the list's items: while the GIL is released, another
            // thread may change the list, but not this tuple, which holds each
            // item (and through it each key and value, which are immutable).
            let held = (api.list_as_tuple)(ops);
            if held.is_null() {
                return Err(LightningDbError::invalid("a batch is a list"));
            }
            let written = (|| {
                let ops = ops_of_tuple(api, held)?;
                let _gil = ReleasedGil::new(api);
                Ok(db.db.write_ops(&ops)?)
            })();
            (api.decref)(held);
            written.map(|()| 0)
        },
    )
}

/// The operations of a Python tuple of `(key, value-or-None)` tuples, borrowed
/// from their bytes objects.
///
/// # Safety
/// `ops` is a tuple; the GIL is held; the operations do not outlive `ops`.
unsafe fn ops_of_tuple<'a>(api: &PythonApi, ops: *mut c_void) -> Result<Vec<engine::Op<'a>>> {
    let shape = || LightningDbError::invalid("a batch holds (key, value or None) tuples of bytes");
    let count = (api.tuple_size)(ops);
    if count < 0 {
        return Err(shape());
    }
    let mut batch = Vec::with_capacity(count as usize);
    for i in 0..count {
        // Borrowed references, held by `ops`.
        let op = (api.tuple_item)(ops, i);
        let (key, value) = ((api.tuple_item)(op, 0), (api.tuple_item)(op, 1));
        if op.is_null() || key.is_null() || value.is_null() {
            return Err(shape());
        }
        let value = if value as usize == api.none {
            None
        } else {
            Some(bytes_of(api, value, "value")?)
        };
        batch.push((bytes_of(api, key, "key")?, value));
    }
    Ok(batch)
}

/// The GIL, released while this lives (also when a panic unwinds past it).
struct ReleasedGil<'a> {
    api: &'a PythonApi,
    thread: *mut c_void,
}

impl<'a> ReleasedGil<'a> {
    /// # Safety
    /// The GIL is held, and nothing touches Python objects until this drops.
    unsafe fn new(api: &'a PythonApi) -> Self {
        ReleasedGil {
            api,
            thread: (api.save_thread)(),
        }
    }
}

impl Drop for ReleasedGil<'_> {
    fn drop(&mut self) {
        // SAFETY: `thread` is what PyEval_SaveThread returned on this thread.
        unsafe { (self.api.restore_thread)(self.thread) }
    }
}

/// # Safety
/// As `lightning_db_fast_db_write`.
unsafe fn decode_batch<'a>(
    data: *const u8,
    data_len: c_int,
    lens: *const u8,
    op_count: c_int,
) -> Result<Vec<engine::Op<'a>>> {
    const INT: usize = std::mem::size_of::<c_int>();
    let data = slice(data, data_len, "batch data")?;
    let count = usize::try_from(op_count)
        .map_err(|_| LightningDbError::invalid(format!("negative operation count {op_count}")))?;
    let lens_len = c_int::try_from(2 * INT * count)
        .map_err(|_| LightningDbError::invalid(format!("{count} operations are too many")))?;
    let lens = slice(lens, lens_len, "batch lengths")?;
    let mut batch = Vec::with_capacity(count);
    let mut at = 0usize;
    let mut take = |len: c_int| -> Result<&'a [u8]> {
        let len = usize::try_from(len)
            .map_err(|_| LightningDbError::invalid(format!("negative length {len} in batch")))?;
        let part = data
            .get(at..at + len)
            .ok_or_else(|| LightningDbError::invalid("batch lengths exceed its data"))?;
        at += len;
        Ok(part)
    };
    let int = |b: &[u8]| c_int::from_ne_bytes(b.try_into().expect("chunks of INT bytes"));
    for pair in lens.chunks_exact(2 * INT) {
        let key = take(int(&pair[..INT]))?;
        match int(&pair[INT..]) {
            -1 => batch.push((key, None)),
            value_len => batch.push((key, Some(take(value_len)?))),
        };
    }
    if at != data.len() {
        return Err(LightningDbError::invalid(
            "batch data is longer than its lengths",
        ));
    }
    Ok(batch)
}

/// Starts a transaction: a handle for the `lightning_db_fast_tx_*` functions
/// (release with `lightning_db_fast_tx_release`), or null on error.
///
/// # Safety
/// `db` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_begin(db: *const LightningDB) -> *const Transaction {
    guard(
        |_| std::ptr::null(),
        || Ok(into_handle(database(db)?.begin_transaction()?)),
    )
}

/// Bound kinds of the `_scan` functions.
const BOUND_UNBOUNDED: c_int = 0;
const BOUND_INCLUDED: c_int = 1;
const BOUND_EXCLUDED: c_int = 2;

/// # Safety
/// `key` points to `len` bytes.
unsafe fn bound(kind: c_int, key: *const u8, len: c_int) -> Result<KeyBound> {
    Ok(match kind {
        BOUND_UNBOUNDED => KeyBound::Unbounded,
        BOUND_INCLUDED => KeyBound::Included {
            key: slice(key, len, "bound")?.to_vec(),
        },
        BOUND_EXCLUDED => KeyBound::Excluded {
            key: slice(key, len, "bound")?.to_vec(),
        },
        other => {
            return Err(LightningDbError::invalid(format!(
                "bound kind {other} is not 0 (unbounded), 1 (included) or 2 (excluded)"
            )))
        }
    })
}

/// Starts a scan between two bounds (kind 0 unbounded, 1 included, 2 excluded;
/// the key is ignored when unbounded), in reverse when `reverse` is not 0.
/// Returns a cursor handle (release with `lightning_db_fast_cursor_release`) or
/// null on error.
///
/// # Safety
/// `db` is a live handle; the keys point to their lengths in bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_scan(
    db: *const LightningDB,
    start_kind: c_int,
    start: *const u8,
    start_len: c_int,
    end_kind: c_int,
    end: *const u8,
    end_len: c_int,
    reverse: c_int,
) -> *const Cursor {
    guard(
        |_| std::ptr::null(),
        || {
            let db = database(db)?;
            let start = bound(start_kind, start, start_len)?;
            let end = bound(end_kind, end, end_len)?;
            Ok(into_handle(db.scan(start, end, reverse != 0)?))
        },
    )
}

/// Starts a scan of the keys starting with `prefix`; as `lightning_db_fast_db_scan`.
///
/// # Safety
/// `db` is a live handle; `prefix` points to `prefix_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_db_scan_prefix(
    db: *const LightningDB,
    prefix: *const u8,
    prefix_len: c_int,
    reverse: c_int,
) -> *const Cursor {
    guard(
        |_| std::ptr::null(),
        || {
            let db = database(db)?;
            let prefix = slice(prefix, prefix_len, "prefix")?.to_vec();
            Ok(into_handle(db.scan_prefix(prefix, reverse != 0)?))
        },
    )
}

/// Releases a transaction handle; an unfinished transaction whose last
/// reference this was is rolled back.
#[no_mangle]
pub extern "C" fn lightning_db_fast_tx_release(tx: *const Transaction) {
    release(tx)
}

/// As `lightning_db_fast_db_get`, reading through the transaction.
///
/// # Safety
/// As `lightning_db_fast_db_get`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_get(
    tx: *const Transaction,
    key: *const u8,
    key_len: c_int,
    buf: *mut u8,
    cap: c_int,
) -> i64 {
    guard(code_of, || {
        let key = slice(key, key_len, "key")?;
        let value = object(tx, "transaction")?.with(|tx| tx.get(key))?;
        Ok(deliver(value, buf, cap))
    })
}

/// As `lightning_db_fast_db_put`, buffered in the transaction.
///
/// # Safety
/// As `lightning_db_fast_db_put`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_put(
    tx: *const Transaction,
    key: *const u8,
    key_len: c_int,
    value: *const u8,
    value_len: c_int,
) -> c_int {
    guard(
        |c| c,
        || {
            let key = slice(key, key_len, "key")?;
            let value = slice(value, value_len, "value")?;
            object(tx, "transaction")?.with(|tx| tx.put(key, value))?;
            Ok(0)
        },
    )
}

/// Deletes `key` in the transaction: 0 or a negative error code.
///
/// # Safety
/// As `lightning_db_fast_db_delete`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_delete(
    tx: *const Transaction,
    key: *const u8,
    key_len: c_int,
) -> c_int {
    guard(
        |c| c,
        || {
            let key = slice(key, key_len, "key")?;
            object(tx, "transaction")?.with(|tx| tx.delete(key))?;
            Ok(0)
        },
    )
}

/// 1 if `key` has a value as the transaction sees it, 0 if not, or an error code.
///
/// # Safety
/// As `lightning_db_fast_db_contains`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_contains(
    tx: *const Transaction,
    key: *const u8,
    key_len: c_int,
) -> c_int {
    guard(
        |c| c,
        || {
            let key = slice(key, key_len, "key")?;
            let present = object(tx, "transaction")?.with(|tx| tx.contains(key))?;
            Ok(present as c_int)
        },
    )
}

/// As `lightning_db_fast_db_scan`, as the transaction sees the database.
///
/// # Safety
/// As `lightning_db_fast_db_scan`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_scan(
    tx: *const Transaction,
    start_kind: c_int,
    start: *const u8,
    start_len: c_int,
    end_kind: c_int,
    end: *const u8,
    end_len: c_int,
    reverse: c_int,
) -> *const Cursor {
    guard(
        |_| std::ptr::null(),
        || {
            let tx = object(tx, "transaction")?;
            let start = bound(start_kind, start, start_len)?;
            let end = bound(end_kind, end, end_len)?;
            Ok(into_handle(tx.scan(start, end, reverse != 0)?))
        },
    )
}

/// As `lightning_db_fast_db_scan_prefix`, as the transaction sees the database.
///
/// # Safety
/// As `lightning_db_fast_db_scan_prefix`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_scan_prefix(
    tx: *const Transaction,
    prefix: *const u8,
    prefix_len: c_int,
    reverse: c_int,
) -> *const Cursor {
    guard(
        |_| std::ptr::null(),
        || {
            let tx = object(tx, "transaction")?;
            let prefix = slice(prefix, prefix_len, "prefix")?.to_vec();
            Ok(into_handle(tx.scan_prefix(prefix, reverse != 0)?))
        },
    )
}

/// Commits: 0 or a negative error code (-8 on conflict). The transaction is
/// finished either way.
///
/// # Safety
/// `tx` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_commit(tx: *const Transaction) -> c_int {
    guard(
        |c| c,
        || {
            object(tx, "transaction")?.commit()?;
            Ok(0)
        },
    )
}

/// Rolls back: 0 or a negative error code.
///
/// # Safety
/// `tx` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_tx_rollback(tx: *const Transaction) -> c_int {
    guard(
        |c| c,
        || {
            object(tx, "transaction")?.rollback()?;
            Ok(0)
        },
    )
}

/// Releases a cursor handle (and its snapshot).
#[no_mangle]
pub extern "C" fn lightning_db_fast_cursor_release(cursor: *const Cursor) {
    release(cursor)
}

/// Copies the next page of at most `max_items` pairs into `buf` (`cap` bytes)
/// and returns its length; 0 at the end of the scan; a negative error code; or,
/// when the next pair alone does not fit, the page size it needs (more than
/// `cap`): nothing is copied and the pair waits for a call with a larger buffer.
///
/// Page layout, native-endian u32s: `count`, then `2 * count + 1` offsets `o`
/// into the page, then the data: pair `i` is the key `page[o[2i]..o[2i+1]]` and
/// the value `page[o[2i+1]..o[2i+2]]`. Offsets make splitting the page cheap in
/// any language (Python slices it without a loop of its own).
///
/// # Safety
/// `cursor` is a live handle; `buf` points to `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_fast_cursor_next_page(
    cursor: *const Cursor,
    max_items: c_int,
    buf: *mut u8,
    cap: c_int,
) -> i64 {
    guard(code_of, || {
        let cursor = object(cursor, "cursor")?;
        if buf.is_null() && cap > 0 {
            return Err(LightningDbError::NullPointer {
                message: "null page buffer".into(),
            });
        }
        let limit = PageLimit {
            max_items: max_items.max(1) as usize,
            // u32 offsets: a page never exceeds 4 GiB, whatever the buffer.
            max_bytes: (cap.max(0) as usize).min(u32::MAX as usize),
            fixed: 8,
            per_pair: 8,
        };
        let page = lock(&cursor.state).next_page(&limit, false)?;
        match page {
            Page::TooSmall(needed) => Ok(needed as i64),
            Page::Pairs(pairs) if pairs.is_empty() => Ok(0),
            Page::Pairs(pairs) => {
                let out = std::slice::from_raw_parts_mut(buf, cap as usize);
                Ok(encode_page(out, &pairs) as i64)
            }
        }
    })
}

/// Writes `pairs` into `out` (which `PageLimit` guaranteed is large enough) in
/// the layout of `lightning_db_fast_cursor_next_page`; returns the bytes used.
fn encode_page(out: &mut [u8], pairs: &[(Vec<u8>, Vec<u8>)]) -> usize {
    let mut put = |at: usize, bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at + bytes.len()
    };
    let header = 4 * (2 + 2 * pairs.len());
    let mut at = put(0, &(pairs.len() as u32).to_ne_bytes());
    let mut offset = header;
    at = put(at, &(offset as u32).to_ne_bytes());
    for (k, v) in pairs {
        offset += k.len();
        at = put(at, &(offset as u32).to_ne_bytes());
        offset += v.len();
        at = put(at, &(offset as u32).to_ne_bytes());
    }
    for (k, v) in pairs {
        at = put(at, k);
        at = put(at, v);
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uniffi::{create, open, KeyValue};

    fn tmp() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db").to_string_lossy().into_owned();
        (dir, path)
    }

    fn last_error() -> String {
        let mut buf = vec![0u8; 256];
        let n = unsafe { lightning_db_fast_last_error(buf.as_mut_ptr(), 256) };
        buf.truncate(n as usize);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn engine_errors_keep_their_kind_and_message() {
        let (_d, path) = tmp();
        let db = create(path.clone(), None).unwrap();
        let e = db.put(vec![], b"v".to_vec()).unwrap_err();
        assert!(matches!(e, LightningDbError::InvalidArgument { .. }));
        assert_eq!(e.code() as i32, -5);
        assert!(e.message().contains("empty"), "{e}");
        let locked = open(path, None).err().unwrap();
        assert!(matches!(locked, LightningDbError::DatabaseLocked { .. }));
        assert_eq!(locked.code() as i32, -7);
    }

    #[test]
    fn close_twice_and_use_after_close_are_errors() {
        let (_d, path) = tmp();
        let db = create(path, None).unwrap();
        db.close().unwrap();
        assert!(db.is_closed());
        assert!(matches!(
            db.close(),
            Err(LightningDbError::InvalidArgument { .. })
        ));
        assert!(matches!(
            db.get(b"k".to_vec()),
            Err(LightningDbError::InvalidArgument { .. })
        ));
        let h = std::ptr::without_provenance_mut::<LightningDB>(db.native_handle() as usize);
        let rc = unsafe { lightning_db_fast_db_put(h, b"k".as_ptr(), 1, b"v".as_ptr(), 1) };
        assert_eq!(rc, -5);
        assert!(last_error().contains("closed"));
        crate::c_api::lightning_db_release(h);
    }

    #[test]
    fn fast_path_reaches_the_same_database() {
        let (_d, path) = tmp();
        let db = create(path, None).unwrap();
        let h = std::ptr::without_provenance_mut::<LightningDB>(db.native_handle() as usize);
        unsafe {
            assert_eq!(
                lightning_db_fast_db_put(h, b"a\0b".as_ptr(), 3, b"".as_ptr(), 0),
                0
            );
        }
        assert_eq!(db.get(b"a\0b".to_vec()).unwrap(), Some(vec![]));
        db.put(b"big".to_vec(), vec![7u8; 100]).unwrap();
        let mut buf = [0u8; 16];
        unsafe {
            assert_eq!(
                lightning_db_fast_db_get(h, b"nope".as_ptr(), 4, buf.as_mut_ptr(), 16),
                LIGHTNING_DB_FAST_NOT_FOUND
            );
            // Too big for the buffer: the length comes back, the value waits.
            assert_eq!(
                lightning_db_fast_db_get(h, b"big".as_ptr(), 3, buf.as_mut_ptr(), 16),
                100
            );
            let mut big = vec![0u8; 100];
            assert_eq!(lightning_db_fast_take_value(big.as_mut_ptr(), 100), 100);
            assert_eq!(big, vec![7u8; 100]);
            assert_eq!(lightning_db_fast_take_value(big.as_mut_ptr(), 100), -5);
            assert_eq!(lightning_db_fast_db_len(h), 2);
            assert_eq!(lightning_db_fast_db_delete(h, b"big".as_ptr(), 3), 1);
            assert_eq!(lightning_db_fast_db_delete(h, b"big".as_ptr(), 3), 0);
            assert_eq!(lightning_db_fast_db_contains(h, b"a\0b".as_ptr(), 3), 1);
            assert_eq!(
                lightning_db_fast_db_get(h, b"".as_ptr(), 0, buf.as_mut_ptr(), 16),
                -5
            );
            assert_eq!(
                lightning_db_fast_db_get(std::ptr::null(), b"k".as_ptr(), 1, buf.as_mut_ptr(), 16),
                -1
            );
            assert!(last_error().contains("db is NULL"), "{}", last_error());
            assert!(lightning_db_fast_db_begin(std::ptr::null()).is_null());
            assert_eq!(lightning_db_fast_last_error_code(), -1);
        }
        crate::c_api::lightning_db_release(h);
    }

    #[test]
    fn fast_batches_decode_puts_and_deletes_and_reject_bad_lengths() {
        let (_d, path) = tmp();
        let db = create(path, None).unwrap();
        db.put(b"gone".to_vec(), b"x".to_vec()).unwrap();
        let h = std::ptr::without_provenance_mut::<LightningDB>(db.native_handle() as usize);
        let data = b"k1v1gonek2";
        let ints = |v: &[c_int]| v.iter().flat_map(|n| n.to_ne_bytes()).collect::<Vec<u8>>();
        // One byte in: the lengths need not be aligned.
        let mut lens = vec![0u8];
        lens.extend(ints(&[2, 2, 4, -1, 2, 0]));
        unsafe {
            assert_eq!(
                lightning_db_fast_db_write(h, data.as_ptr(), 10, lens[1..].as_ptr(), 3),
                0
            );
        }
        assert_eq!(db.get(b"k1".to_vec()).unwrap(), Some(b"v1".to_vec()));
        assert_eq!(db.get(b"k2".to_vec()).unwrap(), Some(vec![]));
        assert_eq!(db.get(b"gone".to_vec()).unwrap(), None);
        let bad = ints(&[2, 20]);
        unsafe {
            assert_eq!(
                lightning_db_fast_db_write(h, data.as_ptr(), 10, bad.as_ptr(), 1),
                -5
            );
        }
        assert!(last_error().contains("exceed"));
        crate::c_api::lightning_db_release(h);
    }

    fn decode_page(page: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let u = |i: usize| u32::from_ne_bytes(page[4 * i..4 * i + 4].try_into().unwrap()) as usize;
        let n = u(0);
        (0..n)
            .map(|i| {
                let (a, b, c) = (u(1 + 2 * i), u(2 + 2 * i), u(3 + 2 * i));
                (page[a..b].to_vec(), page[b..c].to_vec())
            })
            .collect()
    }

    #[test]
    fn cursor_pages_respect_items_and_bytes_and_lose_nothing() {
        let (_d, path) = tmp();
        let db = create(path, None).unwrap();
        for i in 0..10u8 {
            db.put(vec![b'k', i], vec![i; 10]).unwrap();
        }
        db.put(b"z".to_vec(), vec![9; 100]).unwrap();
        let cursor = db
            .scan(KeyBound::Unbounded, KeyBound::Unbounded, true)
            .unwrap();
        let c = Arc::into_raw(cursor);
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 60];
        loop {
            // 60 bytes: 8 fixed + 2 pairs of 8 + 12 bytes; the 101-byte pair
            // needs a larger buffer first.
            let n = unsafe { lightning_db_fast_cursor_next_page(c, 3, buf.as_mut_ptr(), 60) };
            assert!(n >= 0);
            if n == 0 {
                break;
            }
            if n > 60 {
                assert_eq!(n, 8 + 8 + 101);
                buf = vec![0u8; n as usize];
                let m = unsafe {
                    lightning_db_fast_cursor_next_page(c, 3, buf.as_mut_ptr(), n as c_int)
                };
                assert_eq!(m, n);
            }
            let pairs = decode_page(&buf[..n as usize]);
            assert!(pairs.len() <= 2);
            seen.extend(pairs);
            buf = vec![0u8; 60];
        }
        let mut expected = vec![(b"z".to_vec(), vec![9; 100])];
        expected.extend((0..10u8).rev().map(|i| (vec![b'k', i], vec![i; 10])));
        assert_eq!(seen, expected);
        lightning_db_fast_cursor_release(c);
    }

    #[test]
    fn generated_cursor_pages_in_order_and_ends_empty() {
        let (_d, path) = tmp();
        let db = create(path, None).unwrap();
        for i in 0..5u8 {
            db.put(vec![i + 1], vec![]).unwrap();
        }
        let cursor = db
            .scan(
                KeyBound::Excluded { key: vec![1] },
                KeyBound::Included { key: vec![4] },
                false,
            )
            .unwrap();
        let keys = |page: Vec<KeyValue>| page.into_iter().map(|kv| kv.key).collect::<Vec<_>>();
        assert_eq!(keys(cursor.next_page(2).unwrap()), vec![vec![2], vec![3]]);
        assert_eq!(keys(cursor.next_page(2).unwrap()), vec![vec![4]]);
        assert!(cursor.next_page(2).unwrap().is_empty());
        assert!(cursor.next().unwrap().is_none());
    }

    #[test]
    fn transactions_finish_once_and_conflict() {
        let (_d, path) = tmp();
        let db = create(path, None).unwrap();
        let t1 = db.begin_transaction().unwrap();
        let t2 = db.begin_transaction().unwrap();
        t1.put(b"k".to_vec(), b"1".to_vec()).unwrap();
        t2.put(b"k".to_vec(), b"2".to_vec()).unwrap();
        assert_eq!(t1.get(b"k".to_vec()).unwrap(), Some(b"1".to_vec()));
        t1.commit().unwrap();
        assert!(matches!(
            t2.commit(),
            Err(LightningDbError::TransactionConflict { .. })
        ));
        assert!(t2.is_finished());
        assert!(matches!(
            t1.rollback(),
            Err(LightningDbError::InvalidArgument { .. })
        ));
        assert_eq!(db.get(b"k".to_vec()).unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn panics_do_not_cross_the_boundary() {
        let code = guard(|c| c, || -> Result<c_int> { panic!("boom") });
        assert_eq!(code, -99);
        assert!(last_error().contains("boom"));
    }
}
