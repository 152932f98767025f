//! The one table of error codes: every surface (the C ABI, the UniFFI objects,
//! the language fast paths) reports a failure as one of these codes with a
//! message, and every engine error kind maps to exactly one of them here.
//!
//! cbindgen reads this file for the header (see tools/generate), so the doc
//! comments are written for C programmers.

use std::ffi::CStr;

use lightning_db::ErrorKind;

/// The outcome of a call. Every function that can fail returns one of these;
/// `lightning_db_last_error_message()` gives the detail of the last failure.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LightningDBError {
    /// The call succeeded.
    Success = 0,
    /// A required pointer argument was NULL.
    NullPointer = -1,
    /// A path was not valid UTF-8.
    InvalidUtf8 = -2,
    /// The operating system reported an error (not found, permission, disk full...).
    IoError = -3,
    /// Stored data failed its checksum or is inconsistent; nothing wrong was returned.
    CorruptedData = -4,
    /// An argument was out of range (empty or oversized key, bad option, unknown
    /// transaction id, freed handle, write to a read-only database, closed database...).
    InvalidArgument = -5,
    /// Memory could not be allocated.
    OutOfMemory = -6,
    /// Another handle or process has the database open for writing.
    DatabaseLocked = -7,
    /// The transaction's writes conflict with a commit made after it began; it was
    /// not applied.
    TransactionConflict = -8,
    /// An internal error (a bug): the library caught it and the call had no effect
    /// beyond what the message says.
    UnknownError = -99,
}

/// Every code, in the header's order (not exported: cbindgen would emit it).
const EVERY_CODE: [LightningDBError; 10] = [
    LightningDBError::Success,
    LightningDBError::NullPointer,
    LightningDBError::InvalidUtf8,
    LightningDBError::IoError,
    LightningDBError::CorruptedData,
    LightningDBError::InvalidArgument,
    LightningDBError::OutOfMemory,
    LightningDBError::DatabaseLocked,
    LightningDBError::TransactionConflict,
    LightningDBError::UnknownError,
];

impl LightningDBError {
    /// The code with this number, if there is one.
    pub fn from_code(code: i32) -> Option<LightningDBError> {
        EVERY_CODE.into_iter().find(|e| *e as i32 == code)
    }

    /// The code of an engine error kind.
    pub fn from_kind(kind: ErrorKind) -> LightningDBError {
        match kind {
            ErrorKind::IoError => LightningDBError::IoError,
            ErrorKind::CorruptedData => LightningDBError::CorruptedData,
            ErrorKind::InvalidArgument => LightningDBError::InvalidArgument,
            ErrorKind::OutOfMemory => LightningDBError::OutOfMemory,
            ErrorKind::DatabaseLocked => LightningDBError::DatabaseLocked,
            ErrorKind::TransactionConflict => LightningDBError::TransactionConflict,
        }
    }

    /// What `lightning_db_error_string` says of this code.
    pub fn describe(self) -> &'static CStr {
        match self {
            LightningDBError::Success => c"Success",
            LightningDBError::NullPointer => c"Null pointer",
            LightningDBError::InvalidUtf8 => c"Invalid UTF-8",
            LightningDBError::IoError => c"I/O error",
            LightningDBError::CorruptedData => c"Corrupted data",
            LightningDBError::InvalidArgument => c"Invalid argument",
            LightningDBError::OutOfMemory => c"Out of memory",
            LightningDBError::DatabaseLocked => c"Database locked",
            LightningDBError::TransactionConflict => c"Transaction conflict",
            LightningDBError::UnknownError => c"Unknown error",
        }
    }
}
