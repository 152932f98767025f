"""The exceptions of Lightning DB: one class per error code of the C API.

Both ways into the native library raise these: the generated UniFFI module's
``LightningDbError`` variants are translated by ``from_uniffi`` and the direct
path's error codes by ``from_code``, so the same failure gives the same class
and the same message whichever path a call took.
"""

from __future__ import annotations

from typing import Dict, Type


class LightningDBError(Exception):
    """Base class of every error raised by Lightning DB.

    ``kind`` is the variant name of the interface definition (the same in every
    language), ``code`` the C API's error code, ``message`` the engine's detail.
    """

    kind = "Unknown"
    code = -99

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class NullPointer(LightningDBError):
    """A null handle or pointer reached the native library (code -1)."""

    kind = "NullPointer"
    code = -1


class InvalidUtf8(LightningDBError, ValueError):
    """A path or string was not valid UTF-8 (code -2)."""

    kind = "InvalidUtf8"
    code = -2


class IoError(LightningDBError):
    """The operating system reported an I/O error (code -3)."""

    kind = "IoError"
    code = -3


class CorruptedData(LightningDBError):
    """A checksum or structure check failed; no damaged data is returned (code -4)."""

    kind = "CorruptedData"
    code = -4


class InvalidArgument(LightningDBError, ValueError):
    """A bad argument, a write to a read-only database, or use of a closed
    database or finished transaction (code -5)."""

    kind = "InvalidArgument"
    code = -5


class OutOfMemory(LightningDBError):
    """Memory could not be allocated (code -6)."""

    kind = "OutOfMemory"
    code = -6


class DatabaseLocked(LightningDBError):
    """Another handle or process holds the database open for writing (code -7)."""

    kind = "DatabaseLocked"
    code = -7


class TransactionConflict(LightningDBError):
    """A key the transaction wrote was changed by a commit after it began;
    nothing of the transaction was written (code -8)."""

    kind = "TransactionConflict"
    code = -8


class UnknownError(LightningDBError):
    """Anything else, including an internal error caught at the boundary (code -99)."""

    kind = "Unknown"
    code = -99


_BY_KIND: Dict[str, Type[LightningDBError]] = {
    cls.kind: cls
    for cls in (
        NullPointer,
        InvalidUtf8,
        IoError,
        CorruptedData,
        InvalidArgument,
        OutOfMemory,
        DatabaseLocked,
        TransactionConflict,
        UnknownError,
    )
}
_BY_CODE: Dict[int, Type[LightningDBError]] = {cls.code: cls for cls in _BY_KIND.values()}


def from_code(code: int, message: str) -> LightningDBError:
    """The exception for a C error code (unknown codes become UnknownError)."""
    return _BY_CODE.get(code, UnknownError)(message)


def from_uniffi(error: Exception) -> LightningDBError:
    """Translates an exception of the generated module (a ``LightningDbError``
    variant, whose class name is the variant's, or UniFFI's ``InternalError``)."""
    cls = _BY_KIND.get(type(error).__name__, UnknownError)
    message = getattr(error, "message", None)
    return cls(message if isinstance(message, str) else str(error))
