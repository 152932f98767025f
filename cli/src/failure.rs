//! The one error type of the command: a one-line message and an exit code.

use std::fmt::Display;

/// Exit code of a command that ran and failed (missing or locked database, I/O
/// error, corrupt data, key not found, malformed input file).
pub const FAILED: u8 = 1;
/// Exit code of a command that could not start: bad arguments or bad hex/base64,
/// as clap itself uses for usage errors.
pub const USAGE: u8 = 2;
/// verify's exit codes besides 0: the database is damaged, or it could not be read.
pub const DAMAGED: u8 = 1;
pub const COULD_NOT_VERIFY: u8 = 2;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    /// The engine's error kind, when the engine failed.
    pub kind: Option<lightning_db::ErrorKind>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            code: FAILED,
            message: message.into(),
            kind: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: USAGE,
            message: message.into(),
            kind: None,
        }
    }

    /// An engine error with what the command was doing.
    pub fn engine(context: impl Display, err: lightning_db::Error) -> Failure {
        Failure {
            kind: Some(err.kind()),
            ..Failure::new(format!("{context}: {err}"))
        }
    }

    /// An I/O error with what the command was doing.
    pub fn io(context: impl Display, err: std::io::Error) -> Failure {
        Failure::new(format!("{context}: {err}"))
    }
}

impl From<lightning_db::Error> for Failure {
    fn from(err: lightning_db::Error) -> Failure {
        Failure {
            kind: Some(err.kind()),
            ..Failure::new(err.to_string())
        }
    }
}

pub type Outcome<T = ()> = Result<T, Failure>;
