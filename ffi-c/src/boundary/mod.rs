//! What every surface of the library shares at the boundary: catch panics, turn failures into
//! codes, keep the detail of the last failure per thread, check and translate
//! pointer arguments, and hand buffers to C.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

pub mod errors;
pub(crate) mod handles;
pub(crate) mod transactions;

pub use errors::LightningDBError;

use crate::c_api::{LightningDBResult, LIGHTNING_DB_MAX_KEY_SIZE};

/// A failed call: the code C sees and the detail kept for
/// `lightning_db_last_error_message`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: LightningDBError,
    pub message: String,
}

pub(crate) type Outcome<T> = Result<T, Failure>;

impl Failure {
    pub fn new(code: LightningDBError, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn null(what: &str) -> Failure {
        Failure::new(LightningDBError::NullPointer, format!("{what} is NULL"))
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(LightningDBError::InvalidArgument, message)
    }
}

impl From<lightning_db::Error> for Failure {
    fn from(e: lightning_db::Error) -> Failure {
        Failure::new(LightningDBError::from_kind(e.kind()), e.to_string())
    }
}

thread_local! {
    /// The last failure on this thread. `None` after a success, so that an
    /// ordinary successful call costs no allocation here.
    static LAST_ERROR: RefCell<Option<(LightningDBError, CString)>> = const { RefCell::new(None) };
}

fn record(code: LightningDBError, message: &str) {
    log::debug!("{message}");
    // An interior NUL (from a path, say) would make CString::new fail; show it
    // instead of losing the whole message.
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // try_with: during thread teardown the slot may already be gone; the code
    // returned to C still tells the caller what happened.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some((code, text)));
}

fn clear() {
    let _ = LAST_ERROR.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_some() {
            *slot = None;
        }
    });
}

pub(crate) fn last_error_code() -> LightningDBError {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ref().map(|(code, _)| *code))
        .ok()
        .flatten()
        .unwrap_or(LightningDBError::Success)
}

/// Points into the thread-local slot: valid until the slot is next written, i.e.
/// until the next call on this thread that records or clears an error.
pub(crate) fn last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ref().map(|(_, text)| text.as_ptr()))
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
}

/// Runs `body`, turning a panic into a `Failure` (UnknownError) so that no unwind
/// crosses the boundary (which would abort the process or worse).
fn catch_panic<T>(body: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        // A payload's destructor could itself panic; it must not escape either.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        Err(Failure::new(
            LightningDBError::UnknownError,
            format!("internal error (panic): {what}"),
        ))
    })
}

/// `catch_panic`, with a failure's message prefixed by the C function's name.
fn catch<T>(name: &str, body: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    catch_panic(body).map_err(|failure| Failure {
        code: failure.code,
        message: format!("{name}: {}", failure.message),
    })
}

/// For a surface with return conventions of its own (a language fast path):
/// `body` with panics caught, its failure recorded as this thread's last error
/// (read with `lightning_db_last_error_code` / `_message`), a success clearing it.
pub(crate) fn run_recorded<T>(body: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    let outcome = catch_panic(body);
    match &outcome {
        Ok(_) => clear(),
        Err(failure) => record(failure.code, &failure.message),
    }
    outcome
}

/// For functions returning `LightningDBError`: the code, with the last-error slot
/// recording the failure or cleared on success.
pub(crate) fn run(name: &str, body: impl FnOnce() -> Outcome<()>) -> LightningDBError {
    match catch(name, body) {
        Ok(()) => {
            clear();
            LightningDBError::Success
        }
        Err(failure) => {
            record(failure.code, &failure.message);
            failure.code
        }
    }
}

/// For functions returning a handle: the handle, or 0 (NULL) with the failure
/// recorded.
pub(crate) fn run_handle(name: &str, body: impl FnOnce() -> Outcome<usize>) -> usize {
    match catch(name, body) {
        Ok(handle) => {
            clear();
            handle
        }
        Err(failure) => {
            record(failure.code, &failure.message);
            0
        }
    }
}

/// For `void` functions (the frees): a detected misuse is recorded; success leaves
/// the slot alone, so freeing things while handling an error keeps its message.
pub(crate) fn run_void(name: &str, body: impl FnOnce() -> Outcome<()>) {
    if let Err(failure) = catch(name, body) {
        record(failure.code, &failure.message);
    }
}

/// A required output pointer.
pub(crate) fn out<T>(ptr: *mut T, what: &str) -> Outcome<NonNull<T>> {
    NonNull::new(ptr).ok_or_else(|| Failure::null(what))
}

/// A path argument: a NUL-terminated UTF-8 string.
pub(crate) unsafe fn path<'a>(ptr: *const c_char, what: &str) -> Outcome<&'a str> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    let text = CStr::from_ptr(ptr).to_str().map_err(|e| {
        Failure::new(
            LightningDBError::InvalidUtf8,
            format!("{what} is not valid UTF-8 ({e})"),
        )
    })?;
    if text.is_empty() {
        return Err(Failure::invalid(format!("{what} is empty")));
    }
    Ok(text)
}

/// The caller's buffer as a slice. Callers bound `len` first: a slice longer than
/// the caller's buffer would be undefined behaviour even if never read, so
/// oversized lengths are rejected by number alone before this is reached.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

/// A key: non-NULL; its length is checked by the engine (1 to the maximum), here
/// only bounded so that no oversized slice is formed.
pub(crate) unsafe fn key<'a>(ptr: *const u8, len: usize) -> Outcome<&'a [u8]> {
    if ptr.is_null() {
        return Err(Failure::null("key"));
    }
    if len > LIGHTNING_DB_MAX_KEY_SIZE {
        return Err(Failure::invalid(format!(
            "key of {len} bytes exceeds the limit of {LIGHTNING_DB_MAX_KEY_SIZE}"
        )));
    }
    Ok(bytes(ptr, len))
}

/// A value: NULL is accepted only with length 0 (the empty value), which is how
/// many languages pass an empty byte array.
pub(crate) unsafe fn value<'a>(ptr: *const u8, len: usize) -> Outcome<&'a [u8]> {
    if ptr.is_null() && len != 0 {
        return Err(Failure::null("value"));
    }
    if len > crate::c_api::LIGHTNING_DB_MAX_VALUE_SIZE {
        return Err(Failure::invalid(format!(
            "value of {len} bytes exceeds the limit of {}",
            crate::c_api::LIGHTNING_DB_MAX_VALUE_SIZE
        )));
    }
    Ok(bytes(ptr, len))
}

/// A range bound or prefix: NULL with length 0 means "none" (unbounded).
pub(crate) unsafe fn bound<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Outcome<Option<&'a [u8]>> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(None)
        } else {
            Err(Failure::null(what))
        };
    }
    if len > LIGHTNING_DB_MAX_KEY_SIZE {
        return Err(Failure::invalid(format!(
            "{what} of {len} bytes exceeds the key size limit of {LIGHTNING_DB_MAX_KEY_SIZE}"
        )));
    }
    Ok(Some(bytes(ptr, len)))
}

/// Copies `bytes` into a buffer C owns and releases with `release_buffer`.
/// malloc'd (at least one byte) so that an empty value still has a unique
/// non-NULL pointer, distinct from "absent", and so that releasing it does not
/// depend on the length the caller passes back.
pub(crate) fn buffer(bytes: &[u8]) -> Outcome<LightningDBResult> {
    // SAFETY: malloc with a non-zero size; the result is checked for NULL and
    // written only within the `bytes.len()` bytes it was asked for.
    unsafe {
        let data = libc::malloc(bytes.len().max(1)).cast::<u8>();
        if data.is_null() {
            return Err(Failure::new(
                LightningDBError::OutOfMemory,
                format!("cannot allocate {} bytes for a result", bytes.len()),
            ));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
        Ok(LightningDBResult {
            data,
            len: bytes.len(),
        })
    }
}

pub(crate) unsafe fn release_buffer(data: *mut u8) {
    libc::free(data.cast());
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning_db::ErrorKind;

    fn message() -> String {
        unsafe { CStr::from_ptr(last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_unknown_error_with_its_message() {
        let code = run("lightning_db_test", || panic!("boom {}", 42));
        assert_eq!(code, LightningDBError::UnknownError);
        assert_eq!(last_error_code(), LightningDBError::UnknownError);
        assert!(message().contains("lightning_db_test"), "{}", message());
        assert!(message().contains("boom 42"), "{}", message());

        let handle = run_handle("lightning_db_test_handle", || panic!("static text"));
        assert_eq!(handle, 0);
        assert!(message().contains("static text"), "{}", message());

        run_void("lightning_db_test_void", || panic!("in a free"));
        assert!(message().contains("in a free"), "{}", message());
    }

    #[test]
    fn success_clears_the_last_error_but_a_free_does_not() {
        run("f", || Err(Failure::invalid("bad")));
        assert_eq!(message(), "f: bad");
        run_void("free", || Ok(()));
        assert_eq!(message(), "f: bad");
        assert_eq!(run("g", || Ok(())), LightningDBError::Success);
        assert_eq!(message(), "");
        assert_eq!(last_error_code(), LightningDBError::Success);
    }

    #[test]
    fn every_engine_error_kind_has_a_code_of_its_own_that_names_it() {
        use ErrorKind::*;
        let kinds = [
            IoError,
            CorruptedData,
            InvalidArgument,
            OutOfMemory,
            DatabaseLocked,
            TransactionConflict,
        ];
        let codes: std::collections::HashSet<_> = kinds
            .iter()
            .map(|k| LightningDBError::from_kind(*k))
            .collect();
        assert_eq!(codes.len(), kinds.len());
        for kind in kinds {
            let code = LightningDBError::from_kind(kind);
            assert_eq!(LightningDBError::from_code(code as i32), Some(code));
            assert_eq!(format!("{kind:?}"), format!("{code:?}"));
        }
    }

    #[test]
    fn messages_with_nul_bytes_are_kept() {
        run("h", || Err(Failure::invalid("a\0b")));
        assert_eq!(message(), "h: a\\0b");
    }
}
