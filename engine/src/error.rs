//! The one error type of Lightning DB: a kind a caller can act on, and a
//! message with the detail (which file, which offset, which limit). Bindings
//! map the kinds to their own codes and exceptions (the native library's
//! boundary does, in `ffi-c/src/boundary/errors.rs`); the engine knows none of
//! them.

use std::fmt;

/// The kind of an [`Error`]: what went wrong, as far as a caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The operating system reported an error (not found, permission, disk full...).
    IoError,
    /// Stored data failed its checksum or is inconsistent; nothing wrong was returned.
    CorruptedData,
    /// An argument was out of range, or the call does not apply (closed or
    /// read-only database, finished transaction...).
    InvalidArgument,
    /// Memory could not be allocated.
    OutOfMemory,
    /// Another handle or process has the database open for writing.
    DatabaseLocked,
    /// A transaction's writes conflict with a commit made after it began.
    TransactionConflict,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::IoError => "I/O error",
            ErrorKind::CorruptedData => "corrupted data",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::OutOfMemory => "out of memory",
            ErrorKind::DatabaseLocked => "database locked",
            ErrorKind::TransactionConflict => "transaction conflict",
        }
    }
}

/// An error with its kind and a human-readable detail message.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<std::io::Error>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detail message, without the kind's label.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let kind = if err.kind() == std::io::ErrorKind::OutOfMemory {
            ErrorKind::OutOfMemory
        } else {
            ErrorKind::IoError
        };
        Error {
            kind,
            message: format!("{context}: {err}"),
            source: Some(err),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn corrupted(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::CorruptedData, message)
    }

    pub(crate) fn closed() -> Self {
        Error::invalid("the database is closed")
    }

    /// Background work ended early because its handle is closing
    /// (`shared::AtClose`); never returned to a caller. It is an interrupted
    /// operation, as `EINTR` is to the system.
    pub(crate) fn abandoned() -> Self {
        Error::io(
            "abandoned: the database is closing",
            std::io::Error::from(std::io::ErrorKind::Interrupted),
        )
    }

    pub(crate) fn is_abandoned(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::Interrupted)
    }

    /// The operating system error behind an I/O error, if any.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.source.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}
