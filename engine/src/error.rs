//! The one error type of Lightning DB.
//!
//! Every variant corresponds to one code of the C API (`LightningDBError`), so a
//! binding can map errors without losing information; the message carries the
//! detail (which file, which offset, which limit).

use std::fmt;

/// The kind of an [`Error`], one per error code of the C API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NullPointer,
    InvalidUtf8,
    IoError,
    CorruptedData,
    InvalidArgument,
    OutOfMemory,
    DatabaseLocked,
    TransactionConflict,
    Unknown,
}

impl ErrorKind {
    /// The numeric code the C API uses for this kind.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::NullPointer => -1,
            ErrorKind::InvalidUtf8 => -2,
            ErrorKind::IoError => -3,
            ErrorKind::CorruptedData => -4,
            ErrorKind::InvalidArgument => -5,
            ErrorKind::OutOfMemory => -6,
            ErrorKind::DatabaseLocked => -7,
            ErrorKind::TransactionConflict => -8,
            ErrorKind::Unknown => -99,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ErrorKind::NullPointer => "null pointer",
            ErrorKind::InvalidUtf8 => "invalid UTF-8",
            ErrorKind::IoError => "I/O error",
            ErrorKind::CorruptedData => "corrupted data",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::OutOfMemory => "out of memory",
            ErrorKind::DatabaseLocked => "database locked",
            ErrorKind::TransactionConflict => "transaction conflict",
            ErrorKind::Unknown => "unknown error",
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
