"""Database, Transaction, Cursor and WriteBatch: the idiomatic Python layer.

Opening, closing and maintenance go through the generated UniFFI module
(``lightning_db._ffi``); reads, writes, batches, transactions and scan pages go
through the direct path of ``_native`` into the same open database. Both raise
the exceptions of ``_errors``.
"""

from __future__ import annotations

import ctypes
import os
import sys
from array import array
from itertools import chain
from operator import attrgetter
from typing import (
    Any,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    TYPE_CHECKING,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from . import _errors, _native
from ._ffi import lightning_db as _uniffi

Config = _uniffi.Config
SyncMode = _uniffi.SyncMode
Stats = _uniffi.Stats
VerifyReport = _uniffi.VerifyReport
Corruption = _uniffi.Corruption
CompactionReport = _uniffi.CompactionReport

#: What the functions accept as a path.
StrPath = Union[str, "os.PathLike[str]"]
#: What they accept as a key or value: bytes, or a bytes-like object (copied).
BytesLike = Union[bytes, bytearray, memoryview]

_T = TypeVar("_T")

_BUFFER = _native.BUFFER
_MAX_INT = _native.MAX_INT
#: The engine's limits, as the library states them.
MAX_KEY_SIZE: int = _uniffi.max_key_size()
MAX_VALUE_SIZE: int = _uniffi.max_value_size()
_NOT_FOUND = _native.NOT_FOUND
_FAILED = _native.FAILED
_END = _native.END
_SCAN_REVERSE = _native.SCAN_REVERSE
_SCAN_START_EXCLUDED = _native.SCAN_START_EXCLUDED
_SCAN_END_INCLUDED = _native.SCAN_END_INCLUDED
#: The library makes and reads Python objects (CPython): scans are its
#: iterators, batches are read from their list in place.
_PYTHON_OBJECTS = _native.PYTHON_OBJECTS
_db_put = _native.db_put
_last_error_code = _native.last_error_code
_buffers = _native.buffers
_as_bytes = _native.as_bytes
_error = _native.error
_oversized = _native.oversized

# Scan pages start small, so a short scan or an early break wastes little, and
# grow so a long scan pays the per-page cost rarely.
_FIRST_PAGE_ITEMS = 16
_MAX_PAGE_ITEMS = 4096


def _cold(fn: Callable[..., _T], *args: Any) -> _T:
    """Calls the generated module, translating its exceptions."""
    try:
        return fn(*args)
    except (_uniffi.LightningDbError, _uniffi.InternalError) as e:
        raise _errors.from_uniffi(e) from None


def _oversize(key: bytes, value: bytes) -> _errors.InvalidArgument:
    """The engine's error for a key or value over its limit."""
    if len(key) > MAX_KEY_SIZE:
        return _errors.InvalidArgument(f"key of {len(key)} bytes exceeds the limit of {MAX_KEY_SIZE}")
    return _errors.InvalidArgument(
        f"value of {len(value)} bytes exceeds the limit of {MAX_VALUE_SIZE}"
    )


def _path(path: StrPath) -> str:
    text = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _errors.InvalidUtf8(f"path {text!r} is not valid UTF-8") from None
    return text


def _bound(key: Optional[BytesLike], inclusive: bool) -> Tuple[int, Optional[bytes], int]:
    if key is None:
        return _native.UNBOUNDED, None, 0
    if type(key) is not bytes:
        key = _as_bytes(key, "bound")
    if len(key) > _MAX_INT:
        # The engine's own error for an oversized key, as a get would report it.
        raise _errors.InvalidArgument(
            f"key of {len(key)} bytes exceeds the limit of {MAX_KEY_SIZE}"
        )
    return (_native.INCLUDED if inclusive else _native.EXCLUDED), key, len(key)


def _pages(handle: _native.Handle) -> Generator[Tuple[bytes, bytes], None, None]:
    """Yields the pairs of a native cursor, a page at a time (the portable
    path; CPython iterates the library's own scans instead); releases the
    cursor (and the snapshot it holds) when done, failed or closed."""
    items = _FIRST_PAGE_ITEMS
    try:
        next_page = _native.cursor_next_page
        byteorder = sys.byteorder
        while True:
            buf, view = _buffers.pair
            n = next_page(handle.ptr, items, buf, _BUFFER)
            if n > _BUFFER:
                # The next pair alone is larger than the buffer: it waited.
                big = ctypes.create_string_buffer(n)
                n = next_page(handle.ptr, items, big, n)
                if n < 0:
                    raise _error(n)
                data = big.raw[:n]
            elif n > 0:
                data = view[:n].tobytes()
            elif n == 0:
                return
            else:
                raise _error(n)
            count = int.from_bytes(data[:4], byteorder)
            offsets = memoryview(data)[4 : 8 + 8 * count].cast("I")
            # Key, value, key, value, ... sliced by C code, paired by zip.
            parts = map(data.__getitem__, map(slice, offsets[:-1], offsets[1:]))
            yield from zip(parts, parts)
            items = min(items * 4, _MAX_PAGE_ITEMS)
    finally:
        handle.close()


class Cursor(Iterator[Tuple[bytes, bytes]]):
    """An ordered scan over a snapshot, yielding ``(key, value)`` pairs.

    Later writes do not affect a scan already started, and a scan of any size
    holds at most a page of pairs in memory. Close it (or use ``with``) to
    release its snapshot before it is exhausted.
    """

    __slots__ = ("_source", "_pairs")

    def __init__(self, source: Any, pairs: Iterator[Tuple[bytes, bytes]]) -> None:
        # The native scan's step function (CPython), or the Handle of a cursor
        # read in pages (elsewhere).
        self._source = source
        self._pairs = pairs

    def __iter__(self) -> Iterator[Tuple[bytes, bytes]]:
        # The iterator itself: a for loop then runs without a Python-level
        # __next__ call per pair.
        return self._pairs

    def __next__(self) -> Tuple[bytes, bytes]:
        return next(self._pairs)

    def close(self) -> None:
        """Releases the snapshot; the scan then yields nothing more."""
        if isinstance(self._source, _native.Handle):
            self._pairs.close()  # type: ignore[attr-defined]
            self._source.close()
        else:
            rc = _native.scan_close_py(self._source.__self__)
            if rc:
                raise _error(rc)

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cursor(ptr: Optional[int]) -> Cursor:
    """A cursor read in pages, from a handle-returning scan function."""
    if ptr is None:
        # A handle-returning call failed: its code was kept with the message.
        raise _error(_native.last_error_code())
    handle = _native.Handle(ptr, _native.cursor_release)
    return Cursor(handle, _pages(handle))


class WriteBatch:
    """Puts and deletes applied atomically, in order, by ``Database.write``.

    >>> batch = WriteBatch().put(b"a", b"1").delete(b"b")
    """

    __slots__ = ("_ops", "_deletes")

    def __init__(self) -> None:
        # (key, value) for a put, (key, None) for a delete: one tuple per
        # operation is the least a put can cost; packing for the library
        # happens once, in Database.write, mostly in C.
        self._ops: list[Tuple[bytes, Optional[bytes]]] = []
        self._deletes = 0

    def put(self, key: BytesLike, value: BytesLike) -> WriteBatch:
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        if type(value) is not bytes:
            value = _as_bytes(value, "value")
        self._ops.append((key, value))
        return self

    def delete(self, key: BytesLike) -> WriteBatch:
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        self._ops.append((key, None))
        self._deletes += 1
        return self

    def clear(self) -> None:
        self._ops.clear()
        self._deletes = 0

    def __len__(self) -> int:
        return len(self._ops)

    def _pack(self) -> Tuple[bytes, Any]:
        """The data and lengths of lightning_db_fast_db_write: keys and values
        back to back; per operation the key's length, then the value's or -1."""
        if not self._deletes:
            flat = list(chain.from_iterable(self._ops))
            return b"".join(flat), array("i", map(len, flat))  # type: ignore[arg-type]
        parts: list[bytes] = []
        lens = array("i")
        for key, value in self._ops:
            parts.append(key)
            lens.append(len(key))
            if value is None:
                lens.append(-1)
            else:
                parts.append(value)
                lens.append(len(value))
        return b"".join(parts), lens

    def _generated_ops(self) -> list[Any]:
        # The generated variants are BatchOp subclasses only at run time.
        return [
            _uniffi.BatchOp.DELETE(key=k) if v is None else _uniffi.BatchOp.PUT(key=k, value=v)
            for k, v in self._ops
        ]


class Batch(WriteBatch):
    """A WriteBatch bound to a database: ``with db.batch() as b:`` writes it
    when the block succeeds and drops it when the block raises."""

    __slots__ = ("_db",)

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type: Optional[type], *exc: object) -> None:
        if exc_type is None:
            self._db.write(self)


def _functions(made: object) -> Tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """The ``(get, put, scan)`` builtins of a ``_functions_py`` call."""
    if made is _FAILED:
        raise _error(_last_error_code())
    return made  # type: ignore[return-value]


def _key_and_value(key: BytesLike, value: BytesLike) -> Tuple[bytes, bytes]:
    """A put's key and value as bytes (the portable path's methods)."""
    if type(key) is not bytes:
        key = _as_bytes(key, "key")
    if type(value) is not bytes:
        value = _as_bytes(value, "value")
    return key, value


class _Reader:
    """Reads and scans shared by Database and Transaction (and, where `put` is
    the library's builtin, item assignment)."""

    __slots__ = ()
    _ptr: Optional[ctypes.c_void_p]
    _get: Callable[..., int]
    _contains: Callable[..., int]
    _scan: Callable[..., Optional[int]]
    _scan_prefix: Callable[..., Optional[int]]
    _getf: Callable[..., Any]
    _putf: Callable[..., Any]
    _scanf: Callable[..., Any]

    if _PYTHON_OBJECTS and not TYPE_CHECKING:
        # The reader's builtin get itself, made by the library: a direct call,
        # which raises on failure and takes any bytes-like key (see
        # Transaction.put).
        get = property(attrgetter("_getf"), doc="The value stored under ``key``, or None.")

        def __getitem__(self, key: BytesLike) -> bytes:
            value = self._getf(key)
            if value is None:
                raise KeyError(key)
            return value  # type: ignore[no-any-return]

        # Database's and Transaction's: `put` is their builtin (see Transaction.put).
        def __setitem__(self, key: BytesLike, value: BytesLike) -> None:
            self._putf(key, value)

    else:

        def get(self, key: BytesLike) -> Optional[bytes]:
            """The value stored under ``key``, or None."""
            if type(key) is not bytes:
                key = _as_bytes(key, "key")
            buf, view = _buffers.pair
            n = self._get(self._ptr, key, len(key), buf, _BUFFER)
            if n >= 0:
                return view[:n].tobytes() if n <= _BUFFER else _oversized(n)
            if n == _NOT_FOUND:
                return None
            raise _error(n)

        def __getitem__(self, key: BytesLike) -> bytes:
            value = self.get(key)
            if value is None:
                raise KeyError(key)
            return value

    def contains(self, key: BytesLike) -> bool:
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        rc = self._contains(self._ptr, key, len(key))
        if rc < 0:
            raise _error(rc)
        return rc == 1

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            return False
        return self.contains(key)

    def scan(
        self,
        start: Optional[BytesLike] = None,
        end: Optional[BytesLike] = None,
        *,
        reverse: bool = False,
        start_inclusive: bool = True,
        end_inclusive: bool = False,
    ) -> Cursor:
        """Pairs with ``start <= key < end`` in key order (``reverse`` for
        descending). None means unbounded; ``start_inclusive`` and
        ``end_inclusive`` choose each bound's kind."""
        if _PYTHON_OBJECTS:
            # Inline, not a helper: a short range is a few microseconds in all.
            if start is not None and type(start) is not bytes:
                start = _as_bytes(start, "bound")
            if end is not None and type(end) is not bytes:
                end = _as_bytes(end, "bound")
            flags = (
                (_SCAN_REVERSE if reverse else 0)
                | (0 if start_inclusive else _SCAN_START_EXCLUDED)
                | (_SCAN_END_INCLUDED if end_inclusive else 0)
            )
            step = self._scanf(start, end, flags)
            return Cursor(step, iter(step, _END))
        sk, skey, slen = _bound(start, start_inclusive)
        ek, ekey, elen = _bound(end, end_inclusive)
        return _cursor(self._scan(self._ptr, sk, skey, slen, ek, ekey, elen, int(reverse)))

    def prefix(self, prefix: BytesLike, *, reverse: bool = False) -> Cursor:
        """Pairs whose key starts with ``prefix``, in key order (or reversed)."""
        if type(prefix) is not bytes:
            prefix = _as_bytes(prefix, "prefix")
        if _PYTHON_OBJECTS:
            step = self._scanf(prefix, None, _native.SCAN_PREFIX | (_SCAN_REVERSE if reverse else 0))
            return Cursor(step, iter(step, _END))
        return _cursor(self._scan_prefix(self._ptr, prefix, len(prefix), int(reverse)))

    def keys(self) -> Iterator[bytes]:
        return (k for k, _ in self.scan())

    def values(self) -> Iterator[bytes]:
        return (v for _, v in self.scan())

    def items(self) -> Cursor:
        return self.scan()

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()


class Transaction(_Reader):
    """A transaction: reads see a snapshot taken when it began plus its own
    writes; ``commit`` applies every write atomically or raises
    TransactionConflict and applies none.

    As a context manager it commits when the block succeeds and rolls back
    when it raises::

        with db.transaction() as tx:
            tx[b"a"] = tx[b"b"]
    """

    __slots__ = ("_handle", "_ptr", "_finished", "_getf", "_putf", "_scanf")
    _get = staticmethod(_native.tx_get)

    _contains = staticmethod(_native.tx_contains)
    _scan = staticmethod(_native.tx_scan)
    _scan_prefix = staticmethod(_native.tx_scan_prefix)

    def __init__(self, handle: _native.Handle) -> None:
        self._handle = handle
        self._ptr = handle.ptr
        self._finished = False
        if _PYTHON_OBJECTS:
            self._getf, self._putf, self._scanf = _functions(_native.tx_functions_py(self._ptr))

    if _PYTHON_OBJECTS and not TYPE_CHECKING:
        # The library's builtin itself, not a method around it: a put buffered
        # in a transaction costs about as much as a Python call. It takes any
        # bytes-like key and value (converted as everywhere by as_bytes).
        put = property(attrgetter("_putf"), doc="Stores ``value`` under ``key`` in the transaction.")

    else:

        def put(self, key: BytesLike, value: BytesLike) -> None:
            """Stores ``value`` under ``key`` in the transaction."""
            key, value = _key_and_value(key, value)
            if len(value) > _MAX_INT or len(key) > _MAX_INT:
                # Beyond a C int, and so beyond either limit: the engine's own
                # message for it, as Database.put reports through the generated path.
                raise _oversize(key, value)
            rc = _native.tx_put(self._ptr, key, len(key), value, len(value))
            if rc:
                raise _error(rc)

        __setitem__ = put

    def delete(self, key: BytesLike) -> None:
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        rc = _native.tx_delete(self._ptr, key, len(key))
        if rc:
            raise _error(rc)

    def __delitem__(self, key: BytesLike) -> None:
        self.delete(key)

    def commit(self) -> None:
        """Applies every write, or raises (TransactionConflict) and applies
        none. The transaction is finished either way."""
        rc = _native.tx_commit(self._ptr)
        self._finished = True
        if rc:
            raise _error(rc)

    def rollback(self) -> None:
        """Discards every write. Raises InvalidArgument if already finished."""
        rc = _native.tx_rollback(self._ptr)
        self._finished = True
        if rc:
            raise _error(rc)

    @property
    def finished(self) -> bool:
        """True once commit or rollback was called."""
        return self._finished

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: Optional[type], *exc: object) -> None:
        if self._finished:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


class Database(_Reader):
    """An open Lightning DB database: a persistent, transactional mapping of
    bytes to bytes, safe to share between threads.

    ``Database(path)`` opens the database in directory ``path``, creating it
    if needed (like ``lightning_db.create``). Use it as a context manager, or
    call ``close``; closing twice or using it after close raises
    InvalidArgument. A Database is always truthy (``len(db)`` counts keys).
    """

    __slots__ = ("_native", "_handle", "_ptr", "_getf", "_putf", "_scanf")
    _get = staticmethod(_native.db_get)

    _contains = staticmethod(_native.db_contains)
    _scan = staticmethod(_native.db_scan)
    _scan_prefix = staticmethod(_native.db_scan_prefix)

    def __init__(self, path: StrPath, config: Optional[Config] = None) -> None:
        self._attach(_cold(_uniffi.create, _path(path), config))

    @classmethod
    def create(cls, path: StrPath, config: Optional[Config] = None) -> Database:
        """Opens the database in ``path``, creating it if there is none."""
        return cls(path, config)

    @classmethod
    def open(cls, path: StrPath, config: Optional[Config] = None) -> Database:
        """Opens an existing database (IoError if ``path`` does not exist)."""
        db = cls.__new__(cls)
        db._attach(_cold(_uniffi.open, _path(path), config))
        return db

    def _attach(self, native: _uniffi.Database) -> None:
        self._native = native
        self._handle = _native.Handle(native.native_handle(), _native.db_release)
        self._ptr = self._handle.ptr
        if _PYTHON_OBJECTS:
            self._getf, self._putf, self._scanf = _functions(_native.db_functions_py(self._ptr))

    if _PYTHON_OBJECTS and not TYPE_CHECKING:
        # The library's builtin itself (see Transaction.put).
        put = property(attrgetter("_putf"), doc="Stores ``value`` under ``key`` (one durable commit).")

    else:

        def put(self, key: BytesLike, value: BytesLike) -> None:
            """Stores ``value`` under ``key`` (one durable commit)."""
            key, value = _key_and_value(key, value)
            if len(value) > _MAX_INT or len(key) > _MAX_INT:
                # Beyond a C int: the generated path reports the engine's error.
                return _cold(self._native.put, key, value)
            rc = _db_put(self._ptr, key, len(key), value, len(value))
            if rc:
                raise _error(rc)

        __setitem__ = put

    def delete(self, key: BytesLike) -> bool:
        """Deletes ``key``; returns whether it was present."""
        if type(key) is not bytes:
            key = _as_bytes(key, "key")
        rc = _native.db_delete(self._ptr, key, len(key))
        if rc < 0:
            raise _error(rc)
        return rc == 1

    def __delitem__(self, key: BytesLike) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __len__(self) -> int:
        n = _native.db_len(self._ptr)
        if n < 0:
            raise _error(n)
        return int(n)

    def __bool__(self) -> bool:
        return True

    def write(self, batch: WriteBatch) -> None:
        """Applies a WriteBatch atomically (one commit)."""
        if _PYTHON_OBJECTS:
            # The library reads the batch's list of tuples in place.
            rc = _native.db_write_py(self._ptr, batch._ops)
            if rc:
                raise _error(rc)
            return
        try:
            data, lens = batch._pack()
        except OverflowError:  # a length beyond a C int
            data, lens = b"", None
        if lens is None or len(data) > _MAX_INT:
            # Too large for the direct path: the generated one reports the
            # engine's own error for it.
            return _cold(self._native.write, batch._generated_ops())
        rc = _native.db_write(self._ptr, data, len(data), lens.tobytes(), len(batch._ops))
        if rc:
            raise _error(rc)

    def batch(self) -> Batch:
        """A WriteBatch that, used with ``with``, is written when the block
        succeeds (and dropped when it raises)."""
        return Batch(self)

    def update(
        self,
        items: Union[Mapping[bytes, bytes], Iterable[Tuple[BytesLike, BytesLike]]] = (),
    ) -> None:
        """Stores every ``(key, value)`` pair of a mapping or an iterable
        atomically, in one commit (the fastest way to load many pairs)."""
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        if set(map(len, pairs)) - {2}:
            raise TypeError("update() needs (key, value) pairs")
        if set(map(type, chain.from_iterable(pairs))) - {bytes}:
            pairs = [(_as_bytes(k, "key"), _as_bytes(v, "value")) for k, v in pairs]
        batch = WriteBatch()
        batch._ops = pairs
        self.write(batch)

    def begin(self) -> Transaction:
        """Starts a transaction (see Transaction); prefer ``with db.transaction()``."""
        ptr = _native.db_begin(self._ptr)
        if ptr is None:
            raise _error(_native.last_error_code())
        return Transaction(_native.Handle(ptr, _native.tx_release))

    transaction = begin

    def checkpoint(self) -> None:
        """Syncs and writes a checkpoint of the index (faster next open; a
        copy of the directory taken now is consistent)."""
        _cold(self._native.checkpoint)

    def compact(self) -> CompactionReport:
        """Rewrites live data into new segments and removes the old ones."""
        return _cold(self._native.compact)

    def backup(self, dest: StrPath) -> None:
        """Writes a consistent copy into ``dest`` (missing or empty)."""
        _cold(self._native.backup, _path(dest))

    def verify(self) -> VerifyReport:
        """Reads every record and checks every checksum."""
        return _cold(self._native.verify)

    def stats(self) -> Stats:
        return _cold(self._native.stats)

    def refresh(self) -> None:
        """For a read-only database: loads commits made since it was opened."""
        _cold(self._native.refresh)

    def close(self) -> None:
        """Syncs and closes. A second close raises InvalidArgument."""
        _cold(self._native.close)

    @property
    def closed(self) -> bool:
        return self._native.is_closed()

    @property
    def path(self) -> str:
        return self._native.path()

    @property
    def config(self) -> Config:
        return self._native.config()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._native.is_closed():
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<lightning_db.Database {self.path!r} ({state})>"


def create(path: StrPath, config: Optional[Config] = None) -> Database:
    """Opens the database in directory ``path``, creating it if there is none."""
    return Database(path, config)


def open(path: StrPath, config: Optional[Config] = None) -> Database:  # noqa: A001
    """Opens the existing database in ``path``."""
    return Database.open(path, config)


def version() -> str:
    """The version of the native library."""
    return _uniffi.version()
