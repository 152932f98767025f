//! The JVM surface: JNI entry points for the hot calls of `dev.lightningdb.Jni`
//! (bindings/kotlin), so that a get or a put from Kotlin or Java costs one JNI
//! call instead of a UniFFI call over JNA.
//!
//! Thin on purpose: every entry point copies its arguments out of the Java
//! arrays, calls one public function of the C ABI (`crate::c_api`) on the C
//! handle of the same open database the generated API opened
//! (`Database.nativeHandle()`), and turns a failure into the matching
//! `dev.lightningdb.LightningDBException` with the library's own code and
//! message. So results and errors are those of the C ABI, which the conformance
//! scenarios hold equal to the generated API's.
//!
//! Arguments are copied (`GetByteArrayRegion`) rather than pinned: pinning
//! (`GetPrimitiveArrayCritical`) would hold off the JVM's garbage collector for
//! the whole call, which for a durable put includes its fsync. A returned value
//! costs one Java array: the library writes it into a per-thread buffer, which is
//! copied into a new `byte[]` of exactly its length.

#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use jni::sys::{
    jboolean, jbyteArray, jclass, jint, jlong, jlongArray, jmethodID, jobject, jsize, jstring,
    JNIEnv,
};

use crate::c_api::{
    self, LightningDB, LightningDBError, LightningDBIterator, LIGHTNING_DB_NO_VALUE,
};

thread_local! {
    /// Keys and values copied out of Java arrays for the call in progress.
    static ARGS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Values and pages written by the library before they are copied into Java.
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The JNI function table behind `env`, in JNI 1.2 (every call used here is in it).
unsafe fn jni<'a>(env: *mut JNIEnv) -> &'a jni::sys::JNINativeInterface__1_2 {
    &(**env).v1_2
}

/// Throws the exception class `class` (a `dev/lightningdb/...` name) with `message`.
/// The message goes through `NewString` (UTF-16), since `ThrowNew` takes modified
/// UTF-8 and a message may hold any text (a path, say).
unsafe fn throw(env: *mut JNIEnv, class: &CStr, message: &str) {
    let f = jni(env);
    if (f.ExceptionCheck)(env) {
        return;
    }
    let cls: jclass = (f.FindClass)(env, class.as_ptr());
    if cls.is_null() {
        return; // NoClassDefFoundError is pending
    }
    let utf16: Vec<u16> = message.encode_utf16().collect();
    let text: jstring = (f.NewString)(env, utf16.as_ptr(), utf16.len() as jsize);
    if text.is_null() {
        return; // OutOfMemoryError is pending
    }
    let init: jmethodID = (f.GetMethodID)(
        env,
        cls,
        c"<init>".as_ptr(),
        c"(Ljava/lang/String;)V".as_ptr(),
    );
    if init.is_null() {
        return;
    }
    let args = [jni::sys::jvalue { l: text }];
    let exception: jobject = (f.NewObjectA)(env, cls, init, args.as_ptr());
    if !exception.is_null() {
        (f.Throw)(env, exception);
    }
}

/// The Kotlin class of a C error code: one per `LightningDBError` value.
fn class_of(code: LightningDBError) -> &'static CStr {
    match code {
        LightningDBError::NullPointer => c"dev/lightningdb/NullArgumentException",
        LightningDBError::InvalidUtf8 => c"dev/lightningdb/InvalidUtf8Exception",
        LightningDBError::IoError => c"dev/lightningdb/StorageIOException",
        LightningDBError::CorruptedData => c"dev/lightningdb/CorruptedDataException",
        LightningDBError::InvalidArgument => c"dev/lightningdb/InvalidArgumentException",
        LightningDBError::OutOfMemory => c"dev/lightningdb/OutOfMemoryException",
        LightningDBError::DatabaseLocked => c"dev/lightningdb/DatabaseLockedException",
        LightningDBError::TransactionConflict => c"dev/lightningdb/TransactionConflictException",
        _ => c"dev/lightningdb/UnknownErrorException",
    }
}

/// `Ok` for Success; otherwise throws the call's error (its code and message are
/// this thread's last error) and returns `Err`.
unsafe fn check(env: *mut JNIEnv, code: LightningDBError) -> Result<(), ()> {
    if code == LightningDBError::Success {
        return Ok(());
    }
    let message = c_api::lightning_db_last_error_message();
    let message = if message.is_null() {
        String::new()
    } else {
        CStr::from_ptr(message).to_string_lossy().into_owned()
    };
    throw(env, class_of(code), &message);
    Err(())
}

/// Runs an entry point's body; a panic (a bug) becomes UnknownErrorException
/// instead of unwinding into the JVM. `fallback` is what the JVM gets back
/// while an exception is pending (it ignores it).
unsafe fn entry<T>(env: *mut JNIEnv, fallback: T, body: impl FnOnce() -> Result<T, ()>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(())) => fallback,
        Err(_) => {
            throw(
                env,
                c"dev/lightningdb/UnknownErrorException",
                "a bug in the JVM surface of liblightning_db_ffi (caught)",
            );
            fallback
        }
    }
}

/// The length of a Java array; a null array is NullArgumentException.
unsafe fn length(env: *mut JNIEnv, array: jbyteArray, what: &str) -> Result<usize, ()> {
    if array.is_null() {
        throw(
            env,
            c"dev/lightningdb/NullArgumentException",
            &format!("{what} is null"),
        );
        return Err(());
    }
    Ok((jni(env).GetArrayLength)(env, array) as usize)
}

/// Copies `arrays` (null ones count as empty) back to back into this thread's
/// argument buffer and runs `body` with one slice per array.
unsafe fn with_args<T, const N: usize>(
    env: *mut JNIEnv,
    arrays: [(jbyteArray, &str); N],
    body: impl FnOnce([&[u8]; N]) -> Result<T, ()>,
) -> Result<T, ()> {
    let mut lens = [0usize; N];
    for (i, (array, what)) in arrays.iter().enumerate() {
        lens[i] = length(env, *array, what)?;
    }
    ARGS.with(|args| {
        // A re-entrant call cannot happen (no callbacks into Java run in between);
        // still, fall back to a fresh buffer rather than panic if it did.
        let mut guard = args.try_borrow_mut();
        let mut fresh = Vec::new();
        let buf: &mut Vec<u8> = match guard.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => &mut fresh,
        };
        buf.clear();
        buf.resize(lens.iter().sum(), 0);
        let mut at = 0;
        for (i, (array, _)) in arrays.iter().enumerate() {
            if lens[i] > 0 {
                let dst = buf.as_mut_ptr().add(at) as *mut i8;
                (jni(env).GetByteArrayRegion)(env, *array, 0, lens[i] as jsize, dst);
            }
            at += lens[i];
        }
        let mut slices: [&[u8]; N] = [&[]; N];
        let mut at = 0;
        for i in 0..N {
            slices[i] = &buf[at..at + lens[i]];
            at += lens[i];
        }
        body(slices)
    })
}

/// A new Java array holding `bytes`.
unsafe fn new_array(env: *mut JNIEnv, bytes: &[u8]) -> Result<jbyteArray, ()> {
    let f = jni(env);
    let array = (f.NewByteArray)(env, bytes.len() as jsize);
    if array.is_null() {
        return Err(()); // OutOfMemoryError is pending
    }
    (f.SetByteArrayRegion)(
        env,
        array,
        0,
        bytes.len() as jsize,
        bytes.as_ptr() as *const i8,
    );
    Ok(array)
}

/// Reads a value with `read(buf, cap, &mut len)` (a `get_into` call) into this
/// thread's output buffer, growing it when the value is longer, and returns it
/// as a new Java array, or null when the key is absent.
unsafe fn value_of(
    env: *mut JNIEnv,
    mut read: impl FnMut(*mut u8, usize, &mut usize) -> LightningDBError,
) -> Result<jbyteArray, ()> {
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        if out.is_empty() {
            out.resize(4096, 0);
        }
        loop {
            let mut len = 0usize;
            check(env, read(out.as_mut_ptr(), out.len(), &mut len))?;
            if len == LIGHTNING_DB_NO_VALUE {
                return Ok(ptr::null_mut());
            }
            if len <= out.len() {
                return new_array(env, &out[..len]);
            }
            // Longer than the buffer: nothing was copied; read again with room.
            out.resize(len, 0);
        }
    })
}

fn db(handle: jlong) -> *mut LightningDB {
    handle as usize as *mut LightningDB
}

fn iter(handle: jlong) -> *mut LightningDBIterator {
    handle as usize as *mut LightningDBIterator
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_get(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    key: jbyteArray,
) -> jbyteArray {
    entry(env, ptr::null_mut(), || {
        with_args(env, [(key, "key")], |[key]| {
            value_of(env, |buf, cap, len| {
                c_api::lightning_db_get_into(db(handle), key.as_ptr(), key.len(), buf, cap, len)
            })
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_txGet(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    tx: jlong,
    key: jbyteArray,
) -> jbyteArray {
    entry(env, ptr::null_mut(), || {
        with_args(env, [(key, "key")], |[key]| {
            value_of(env, |buf, cap, len| {
                c_api::lightning_db_get_tx_into(
                    db(handle),
                    tx as u64,
                    key.as_ptr(),
                    key.len(),
                    buf,
                    cap,
                    len,
                )
            })
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_put(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    key: jbyteArray,
    value: jbyteArray,
) {
    entry(env, (), || {
        with_args(env, [(key, "key"), (value, "value")], |[key, value]| {
            check(
                env,
                c_api::lightning_db_put(
                    db(handle),
                    key.as_ptr(),
                    key.len(),
                    value.as_ptr(),
                    value.len(),
                ),
            )
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_txPut(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    tx: jlong,
    key: jbyteArray,
    value: jbyteArray,
) {
    entry(env, (), || {
        with_args(env, [(key, "key"), (value, "value")], |[key, value]| {
            check(
                env,
                c_api::lightning_db_put_tx(
                    db(handle),
                    tx as u64,
                    key.as_ptr(),
                    key.len(),
                    value.as_ptr(),
                    value.len(),
                ),
            )
        })
    })
}

/// Deletes `key` and says whether it was there, as the generated API's `delete`
/// does. The C ABI's delete does not report it, so this asks first: the answer
/// is exact unless another thread writes the key between the two calls.
#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_delete(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    key: jbyteArray,
) -> jboolean {
    entry(env, false, || {
        with_args(env, [(key, "key")], |[key]| {
            let mut found = false;
            check(
                env,
                c_api::lightning_db_contains(db(handle), key.as_ptr(), key.len(), &mut found),
            )?;
            if found {
                check(
                    env,
                    c_api::lightning_db_delete(db(handle), key.as_ptr(), key.len()),
                )?;
            }
            Ok(found)
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_txDelete(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    tx: jlong,
    key: jbyteArray,
) {
    entry(env, (), || {
        with_args(env, [(key, "key")], |[key]| {
            check(
                env,
                c_api::lightning_db_delete_tx(db(handle), tx as u64, key.as_ptr(), key.len()),
            )
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_contains(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    key: jbyteArray,
) -> jboolean {
    entry(env, false, || {
        with_args(env, [(key, "key")], |[key]| {
            let mut found = false;
            check(
                env,
                c_api::lightning_db_contains(db(handle), key.as_ptr(), key.len(), &mut found),
            )?;
            Ok(found)
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_txContains(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    tx: jlong,
    key: jbyteArray,
) -> jboolean {
    entry(env, false, || {
        with_args(env, [(key, "key")], |[key]| {
            let mut found = false;
            check(
                env,
                c_api::lightning_db_contains_tx(
                    db(handle),
                    tx as u64,
                    key.as_ptr(),
                    key.len(),
                    &mut found,
                ),
            )?;
            Ok(found)
        })
    })
}

/// Applies the first `len` bytes of `ops`, `count` operations packed as
/// `lightning_db_write_packed` takes them, as one commit.
#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_writePacked(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    ops: jbyteArray,
    len: jint,
    count: jint,
) {
    entry(env, (), || {
        let capacity = length(env, ops, "ops")?;
        if len < 0 || count < 0 || len as usize > capacity {
            throw(
                env,
                c"dev/lightningdb/InvalidArgumentException",
                "the packed batch's length is out of range",
            );
            return Err(());
        }
        ARGS.with(|args| {
            let mut buf = args.borrow_mut();
            buf.clear();
            buf.resize(len as usize, 0);
            (jni(env).GetByteArrayRegion)(env, ops, 0, len, buf.as_mut_ptr() as *mut i8);
            check(
                env,
                c_api::lightning_db_write_packed(
                    db(handle),
                    buf.as_ptr(),
                    buf.len(),
                    count as usize,
                ),
            )
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_txBegin(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
) -> jlong {
    entry(env, 0, || {
        let mut tx = 0u64;
        check(
            env,
            c_api::lightning_db_begin_transaction(db(handle), &mut tx),
        )?;
        Ok(tx as jlong)
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_txCommit(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    tx: jlong,
) {
    entry(env, (), || {
        check(
            env,
            c_api::lightning_db_commit_transaction(db(handle), tx as u64),
        )
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_txAbort(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    tx: jlong,
) {
    entry(env, (), || {
        check(
            env,
            c_api::lightning_db_abort_transaction(db(handle), tx as u64),
        )
    })
}

/// Copies the bounds `start` and `end` (a null one: unbounded) out of Java and
/// hands `body` each as the C ABI takes it: a pointer and a length, NULL for an
/// unbounded side. Only the bounds given are copied; nothing is allocated on
/// the Java heap.
unsafe fn with_bounds<T>(
    env: *mut JNIEnv,
    start: jbyteArray,
    end: jbyteArray,
    body: impl FnOnce((*const u8, usize), (*const u8, usize)) -> Result<T, ()>,
) -> Result<T, ()> {
    let side = |bytes: &[u8]| (bytes.as_ptr(), bytes.len());
    let unbounded = (ptr::null(), 0);
    match (start.is_null(), end.is_null()) {
        (false, false) => with_args(env, [(start, "start"), (end, "end")], |[s, e]| {
            body(side(s), side(e))
        }),
        (false, true) => with_args(env, [(start, "start")], |[s]| body(side(s), unbounded)),
        (true, false) => with_args(env, [(end, "end")], |[e]| body(unbounded, side(e))),
        (true, true) => body(unbounded, unbounded),
    }
}

/// Starts a scan of `start <= key < end` (a null bound: unbounded), in the
/// transaction `tx` when `in_tx`; returns the C iterator's handle.
#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_iterRange(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    in_tx: jboolean,
    tx: jlong,
    start: jbyteArray,
    end: jbyteArray,
    reverse: jboolean,
) -> jlong {
    entry(env, 0, || {
        with_bounds(env, start, end, |(sp, sl), (ep, el)| {
            let mut it: *mut LightningDBIterator = ptr::null_mut();
            let code = if in_tx {
                c_api::lightning_db_iter_range_tx(
                    db(handle),
                    tx as u64,
                    sp,
                    sl,
                    ep,
                    el,
                    reverse,
                    &mut it,
                )
            } else {
                c_api::lightning_db_iter_range(db(handle), sp, sl, ep, el, reverse, &mut it)
            };
            check(env, code)?;
            Ok(it as usize as jlong)
        })
    })
}

/// The first entries of `start <= key < end` (as `iterRange`) in one call
/// (`lightning_db_range_first`): fills `page` with up to `max_entries` of them
/// and returns `used << 32 | count`, as `iterNextPage` does. When an entry of
/// those asked for did not fit in `page`, stores in `unfit[0]` the handle of an
/// iterator that starts with it, from the same snapshot; otherwise 0, also when
/// the range goes on past `max_entries`.
#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_rangeFirst(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    in_tx: jboolean,
    tx: jlong,
    start: jbyteArray,
    end: jbyteArray,
    reverse: jboolean,
    page: jbyteArray,
    max_entries: jint,
    unfit: jlongArray,
) -> jlong {
    entry(env, 0, || {
        let cap = length(env, page, "page")?;
        if unfit.is_null() {
            throw(
                env,
                c"dev/lightningdb/NullArgumentException",
                "unfit is null",
            );
            return Err(());
        }
        with_bounds(env, start, end, |(sp, sl), (ep, el)| {
            OUT.with(|out| {
                let mut out = out.borrow_mut();
                if out.len() < cap {
                    out.resize(cap, 0);
                }
                let (mut count, mut used) = (0usize, 0usize);
                let mut it: *mut LightningDBIterator = ptr::null_mut();
                let max = max_entries.max(0) as usize;
                let buf = out.as_mut_ptr();
                let code = if in_tx {
                    c_api::lightning_db_range_first_tx(
                        db(handle),
                        tx as u64,
                        sp,
                        sl,
                        ep,
                        el,
                        reverse,
                        buf,
                        cap,
                        max,
                        &mut count,
                        &mut used,
                        &mut it,
                    )
                } else {
                    c_api::lightning_db_range_first(
                        db(handle),
                        sp,
                        sl,
                        ep,
                        el,
                        reverse,
                        buf,
                        cap,
                        max,
                        &mut count,
                        &mut used,
                        &mut it,
                    )
                };
                check(env, code)?;
                if count > 0 {
                    (jni(env).SetByteArrayRegion)(
                        env,
                        page,
                        0,
                        used as jsize,
                        out.as_ptr() as *const i8,
                    );
                }
                let token = it as usize as jlong;
                (jni(env).SetLongArrayRegion)(env, unfit, 0, 1, &token);
                if (jni(env).ExceptionCheck)(env) {
                    // `unfit` was too short: nobody will free the iterator.
                    c_api::lightning_db_iter_free(it);
                    return Err(());
                }
                Ok(((used as jlong) << 32) | count as jlong)
            })
        })
    })
}

/// Starts a scan of the keys starting with `prefix`; as `iterRange`.
#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_iterPrefix(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    in_tx: jboolean,
    tx: jlong,
    prefix: jbyteArray,
    reverse: jboolean,
) -> jlong {
    entry(env, 0, || {
        with_args(env, [(prefix, "prefix")], |[prefix]| {
            let mut it: *mut LightningDBIterator = ptr::null_mut();
            let code = if in_tx {
                c_api::lightning_db_iter_prefix_tx(
                    db(handle),
                    tx as u64,
                    prefix.as_ptr(),
                    prefix.len(),
                    reverse,
                    &mut it,
                )
            } else {
                c_api::lightning_db_iter_prefix(
                    db(handle),
                    prefix.as_ptr(),
                    prefix.len(),
                    reverse,
                    &mut it,
                )
            };
            check(env, code)?;
            Ok(it as usize as jlong)
        })
    })
}

/// Fills `page` with up to `max_entries` entries in the layout of
/// `lightning_db_iter_next_page`; returns `used << 32 | count` (count 0 and used
/// 0: the scan is over; count 0 and used > 0: the next entry needs `used` bytes).
#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_iterNextPage(
    env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
    page: jbyteArray,
    max_entries: jint,
) -> jlong {
    entry(env, 0, || {
        let cap = length(env, page, "page")?;
        OUT.with(|out| {
            let mut out = out.borrow_mut();
            if out.len() < cap {
                out.resize(cap, 0);
            }
            let (mut count, mut used) = (0usize, 0usize);
            check(
                env,
                c_api::lightning_db_iter_next_page(
                    iter(handle),
                    out.as_mut_ptr(),
                    cap,
                    max_entries.max(0) as usize,
                    &mut count,
                    &mut used,
                ),
            )?;
            if count > 0 {
                (jni(env).SetByteArrayRegion)(
                    env,
                    page,
                    0,
                    used as jsize,
                    out.as_ptr() as *const i8,
                );
            }
            Ok(((used as jlong) << 32) | count as jlong)
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_iterFree(
    _env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
) {
    c_api::lightning_db_iter_free(iter(handle));
}

/// Releases the C handle of `Database.nativeHandle()`; the database is left as it is.
#[no_mangle]
pub unsafe extern "system" fn Java_dev_lightningdb_Jni_release(
    _env: *mut JNIEnv,
    _: jclass,
    handle: jlong,
) {
    c_api::lightning_db_release(db(handle));
}

/// How many handles of every kind the C ABI holds: for the tests that check a
/// forgotten cursor or transaction is released once collected.
#[no_mangle]
pub extern "system" fn Java_dev_lightningdb_Jni_liveHandles(_env: *mut JNIEnv, _: jclass) -> jlong {
    c_api::lightning_db_live_handle_count() as jlong
}
