"""The direct path into liblightning_db_ffi for hot calls.

A call through the generated UniFFI module costs ~11 µs (it serialises every
argument into a buffer and back); a ctypes call ~0.3 µs. The layer therefore
sends get, put, delete, contains, len, batches, transactions and scan pages
through the ``lightning_db_fast_*`` C functions of the same shared library
(``ffi-c/src/python/``, listed in ``ffi-c/include/lightning_db_python.h``), on
the very database the generated module opened: ``Database.native_handle()``
lends a ``LightningDB*`` of the C ABI for it. They report the engine's own
messages, as the generated path does (the public C calls prefix theirs with the
function's name). Which of them could move to the public C ABI, measured:
bench/results/python-fast-path-2026-12-04.md.

The functions are called without ``argtypes``: declaring them makes ctypes
convert every argument through Python code and doubles the cost of a call. So
their C signatures use only what ctypes passes by default: ``bytes`` as a
pointer, ``int`` as a C int, ``c_void_p``/buffers as pointers.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading
from typing import Any, Callable, Optional, Tuple, Union

from . import _errors
from ._ffi import lightning_db as _uniffi

#: Returned by the ``_get`` functions for a missing key.
NOT_FOUND = -100

#: Per-thread buffer for values returned by ``get`` and for scan pages; a larger
#: value or pair takes a second call with a buffer of its size.
BUFFER = 256 * 1024

#: Largest buffer length a C int can describe; larger values and batches go
#: through the generated module, which reports the engine's own error for them.
MAX_INT = 2**31 - 1

#: Bound kinds of the scan functions.
UNBOUNDED, INCLUDED, EXCLUDED = 0, 1, 2


def _library_path() -> str:
    # The same file the generated module loaded (see its _uniffi_load_indirect),
    # so both paths share one copy of the library and its open databases.
    if sys.platform == "darwin":
        name = "liblightning_db_ffi.dylib"
    elif sys.platform.startswith("win"):
        name = "lightning_db_ffi.dll"
    else:
        name = "liblightning_db_ffi.so"
    return os.path.join(os.path.dirname(os.path.abspath(_uniffi.__file__)), name)


# CDLL releases the GIL during a call: a put waiting for fsync, or a read
# faulting in a page of a segment, does not stop the program's other threads.
_lib = ctypes.CDLL(_library_path())
# PyDLL keeps it: for calls that only touch memory (a transaction's buffered
# writes, the index), where releasing and retaking it would cost more than the
# call itself, and for the calls that build Python objects (below).
_pylib = ctypes.PyDLL(_library_path())


def _function(name: str, restype: Any, lib: ctypes.CDLL = _lib) -> Callable[..., Any]:
    f = getattr(lib, name)
    f.restype = restype
    return f  # type: ignore[no-any-return]


_int64, _int, _ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p

last_error: Callable[..., int] = _function("lightning_db_fast_last_error", _int, _pylib)
last_error_code: Callable[..., int] = _function("lightning_db_fast_last_error_code", _int, _pylib)
take_value: Callable[..., int] = _function("lightning_db_fast_take_value", _int64)
db_release: Callable[..., None] = _function("lightning_db_release", None)
db_get: Callable[..., int] = _function("lightning_db_fast_db_get", _int64)
db_put: Callable[..., int] = _function("lightning_db_fast_db_put", _int)
db_delete: Callable[..., int] = _function("lightning_db_fast_db_delete", _int)
db_contains: Callable[..., int] = _function("lightning_db_fast_db_contains", _int, _pylib)
db_len: Callable[..., int] = _function("lightning_db_fast_db_len", _int64, _pylib)
db_write: Callable[..., int] = _function("lightning_db_fast_db_write", _int)
db_begin: Callable[..., Optional[int]] = _function("lightning_db_fast_db_begin", _ptr, _pylib)
db_scan: Callable[..., Optional[int]] = _function("lightning_db_fast_db_scan", _ptr, _pylib)
db_scan_prefix: Callable[..., Optional[int]] = _function("lightning_db_fast_db_scan_prefix", _ptr, _pylib)
tx_release: Callable[..., None] = _function("lightning_db_fast_tx_release", None, _pylib)
tx_get: Callable[..., int] = _function("lightning_db_fast_tx_get", _int64)
tx_put: Callable[..., int] = _function("lightning_db_fast_tx_put", _int, _pylib)
tx_delete: Callable[..., int] = _function("lightning_db_fast_tx_delete", _int, _pylib)
tx_contains: Callable[..., int] = _function("lightning_db_fast_tx_contains", _int, _pylib)
tx_scan: Callable[..., Optional[int]] = _function("lightning_db_fast_tx_scan", _ptr, _pylib)
tx_scan_prefix: Callable[..., Optional[int]] = _function("lightning_db_fast_tx_scan_prefix", _ptr, _pylib)
tx_commit: Callable[..., int] = _function("lightning_db_fast_tx_commit", _int)
tx_rollback: Callable[..., int] = _function("lightning_db_fast_tx_rollback", _int, _pylib)
cursor_release: Callable[..., None] = _function("lightning_db_fast_cursor_release", None, _pylib)
cursor_next_page: Callable[..., int] = _function("lightning_db_fast_cursor_next_page", _int64)


# Reads that return Python objects go through PyDLL too, as the library then
# builds the result with the Python C API
# (handed over below): a value, or a page of (key, value) tuples, in one ctypes
# call without a buffer and a copy of our own. CPython only; elsewhere, or with
# LIGHTNING_DB_PORTABLE=1 (the tests run both ways), the portable path is used.


def _py_function(name: str) -> Callable[..., Any]:
    f = getattr(_pylib, name)
    f.restype = ctypes.py_object  # a new reference, never null
    return f  # type: ignore[no-any-return]


class _Failed:
    """The type of FAILED, what the ``_py`` functions return on error."""

    __slots__ = ()


#: Returned by the ``_py`` functions when the call failed (see error()).
FAILED = _Failed()


class _End:
    """The type of END, what a native scan's step returns when it is done."""

    __slots__ = ()


#: A native scan is ``iter(step, END)``: CPython's loop calls ``step`` until
#: it returns this object.
END = _End()


def _raise_last_error() -> None:
    """Called by the library from a native scan's step that failed."""
    raise error(last_error_code())


def _as_key(data: object) -> bytes:
    """Called by the library's builtin ``put`` for a key that is not bytes."""
    return as_bytes(data, "key")


def _as_value(data: object) -> bytes:
    """Called by the library's builtin ``put`` for a value that is not bytes."""
    return as_bytes(data, "value")


def _init_python() -> bool:
    if platform.python_implementation() != "CPython" or os.environ.get("LIGHTNING_DB_PORTABLE"):
        return False
    api = ctypes.pythonapi
    names_of = _function("lightning_db_fast_py_api_names", _int)
    buf = ctypes.create_string_buffer(names_of(None, 0))
    names_of(buf, len(buf))
    objects = {
        "object:None": None,
        "object:failed": FAILED,  # kept alive by this module, as are the others
        "object:end": END,
        "object:raise_last_error": _raise_last_error,
        "object:as_key": _as_key,
        "object:as_value": _as_value,
    }
    addresses = []
    for name in buf.raw.decode("ascii").split(","):
        if name in objects:
            addresses.append(id(objects[name]))  # CPython: id() is the object's address
        elif hasattr(api, name):
            addresses.append(ctypes.cast(getattr(api, name), ctypes.c_void_p).value or 0)
        else:  # an interpreter without this function: the portable path
            return False
    init = _function("lightning_db_fast_py_init", _int)
    return init((ctypes.c_size_t * len(addresses))(*addresses), len(addresses)) == 0  # type: ignore[no-any-return]


#: Whether the ``_py`` functions may be used.
PYTHON_OBJECTS = _init_python()
#: The builtin functions ``(get, put, scan)`` of a database or a transaction
#: (see ``ffi-c/src/python/methods.rs``).
db_functions_py: Callable[..., object] = _py_function("lightning_db_fast_db_functions_py")
tx_functions_py: Callable[..., object] = _py_function("lightning_db_fast_tx_functions_py")
#: Bits of the ``flags`` of a native ``scan(start, end, flags)`` (see
#: ``ffi-c/src/python/scan.rs``), which returns the builtin ``step`` to iterate
#: as ``iter(step, END)``.
SCAN_REVERSE, SCAN_PREFIX, SCAN_START_EXCLUDED, SCAN_END_INCLUDED = 1, 2, 4, 8
scan_close_py: Callable[..., int] = _function("lightning_db_fast_scan_close_py", _int, _pylib)
scan_close_py.argtypes = [ctypes.py_object]  # type: ignore[attr-defined]
db_write_py: Callable[..., int] = _function("lightning_db_fast_db_write_py", _int, _pylib)
db_write_py.argtypes = [_ptr, ctypes.py_object]  # type: ignore[attr-defined]


def error(code: int) -> _errors.LightningDBError:
    """The exception for a failed fast call, with the message the library kept
    for this thread."""
    size = last_error(None, 0)
    buf = ctypes.create_string_buffer(max(size, 1))
    last_error(buf, size)
    return _errors.from_code(code, buf.raw[:size].decode("utf-8", "replace"))


class _ThreadBuffers(threading.local):
    """A value buffer per thread: a call releases the GIL, so two threads may be
    inside ``get`` at once and must not share where the value is copied."""

    def __init__(self) -> None:
        buf = ctypes.create_string_buffer(BUFFER)
        self.pair: Tuple[ctypes.Array[ctypes.c_char], memoryview] = (buf, memoryview(buf))


buffers = _ThreadBuffers()


def oversized(size: int) -> bytes:
    """Fetches a value that did not fit the thread's buffer."""
    buf = ctypes.create_string_buffer(size)
    n = take_value(buf, size)
    if n < 0:
        raise error(n)
    return buf.raw[:n]


def as_bytes(data: object, what: str) -> bytes:
    """Keys and values are bytes; bytes-like objects are copied to bytes and
    anything else (notably str, which has no single byte encoding) is refused."""
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, bytes):
        return bytes(data)  # a bytes subclass: ctypes wants bytes itself
    raise TypeError(f"{what} must be bytes, not {type(data).__name__}")


class Handle:
    """Owns one reference handed out by the library; releases it once, when
    closed or garbage-collected. After release ``ptr`` is None, which the
    library reports as NullPointer instead of touching freed memory."""

    __slots__ = ("ptr", "_release")

    def __init__(self, value: int, release: Callable[[ctypes.c_void_p], None]) -> None:
        self.ptr: Optional[ctypes.c_void_p] = ctypes.c_void_p(value)
        self._release = release

    def close(self) -> None:
        ptr, self.ptr = self.ptr, None
        if ptr is not None:
            self._release(ptr)

    def __del__(self) -> None:
        self.close()
