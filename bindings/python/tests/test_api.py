"""The idiomatic layer: what Python users rely on beyond the conformance
scenarios (context managers, mapping syntax, iterators, exceptions, types,
threads, handles and their release)."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path
from typing import Dict, List

import pytest

import lightning_db
from lightning_db import (
    Config,
    DatabaseLocked,
    InvalidArgument,
    InvalidUtf8,
    LightningDBError,
    SyncMode,
    TransactionConflict,
)

FAST = Config(sync_mode=SyncMode.OFF)


@pytest.fixture
def db(tmp_path: Path) -> lightning_db.Database:
    return lightning_db.create(tmp_path / "db", FAST)


def test_database_context_manager_closes(tmp_path: Path) -> None:
    with lightning_db.create(tmp_path / "db") as db:
        db[b"k"] = b"v"
        assert not db.closed
    assert db.closed
    with pytest.raises(InvalidArgument, match="closed"):
        db.get(b"k")
    # The lock was released: the directory opens again, with the data.
    with lightning_db.open(str(tmp_path / "db")) as again:
        assert again[b"k"] == b"v"


def test_exiting_after_an_explicit_close_does_not_close_twice(tmp_path: Path) -> None:
    with lightning_db.create(tmp_path / "db") as db:
        db.close()
    with pytest.raises(InvalidArgument, match="closed"):
        db.close()


def test_mapping_syntax(db: lightning_db.Database) -> None:
    db[b"a"] = b"1"
    db[bytearray(b"b")] = memoryview(b"2")
    assert db[b"a"] == b"1" and db[b"b"] == b"2"
    assert b"a" in db and b"zz" not in db and "a" not in db and 3 not in db
    assert len(db) == 2 and bool(db)
    with pytest.raises(KeyError):
        db[b"zz"]
    del db[b"a"]
    with pytest.raises(KeyError):
        del db[b"a"]
    assert list(db) == [b"b"] and list(db.keys()) == [b"b"]
    assert list(db.values()) == [b"2"] and list(db.items()) == [(b"b", b"2")]
    db.update({b"x": b"1"})
    db.update([(b"y", b"2"), (bytearray(b"z"), b"3")])
    assert dict(db.items()) == {b"b": b"2", b"x": b"1", b"y": b"2", b"z": b"3"}


def test_empty_database_is_still_truthy(db: lightning_db.Database) -> None:
    assert len(db) == 0 and db


def test_str_keys_are_refused_not_encoded(db: lightning_db.Database) -> None:
    with pytest.raises(TypeError, match="bytes"):
        db.put("text", b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.get("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.update([(b"k", "v")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        db.update([(b"k",)])  # type: ignore[list-item]
    assert len(db) == 0


def test_puts_and_gets_take_bytes_like_keys_and_values_and_refuse_str(db: lightning_db.Database) -> None:
    key = bytearray(b"k")
    db.put(key, memoryview(b"db"))
    key[0] = ord("x")  # copied when put: changing it afterwards changes nothing
    with db.transaction() as tx:
        tx.put(memoryview(b"t"), bytearray(b"tx"))
        tx[bytearray(b"u")] = memoryview(b"item")
        with pytest.raises(TypeError, match="value must be bytes, not str"):
            tx.put(b"v", "text")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="key must be bytes, not int"):
            tx[1] = b"v"  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value must be bytes, not str"):
        db[b"w"] = "text"  # type: ignore[arg-type]
    assert dict(db.items()) == {b"k": b"db", b"t": b"tx", b"u": b"item"}
    assert db.get(bytearray(b"k")) == b"db" and db[memoryview(b"t")] == b"tx"
    with db.transaction() as tx:
        assert tx.get(memoryview(b"u")) == b"item" and tx[bytearray(b"k")] == b"db"
        with pytest.raises(TypeError, match="key must be bytes, not str"):
            tx.get("k")  # type: ignore[arg-type]


def test_transaction_commits_on_success_and_rolls_back_on_exception(
    db: lightning_db.Database,
) -> None:
    with db.transaction() as tx:
        tx[b"a"] = b"1"
        assert tx[b"a"] == b"1" and b"a" in tx
        assert db.get(b"a") is None
    assert tx.finished and db[b"a"] == b"1"

    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx[b"b"] = b"2"
            del tx[b"a"]
            raise RuntimeError("boom")
    assert tx.finished and db.get(b"b") is None and db[b"a"] == b"1"


def test_a_finished_transaction_refuses_reads_and_writes(db: lightning_db.Database) -> None:
    tx = db.begin()
    tx[b"a"] = b"1"
    tx.commit()
    with pytest.raises(InvalidArgument, match="finished"):
        tx.put(b"b", b"2")
    with pytest.raises(InvalidArgument, match="finished"):
        tx.get(b"a")
    with pytest.raises(InvalidArgument, match="finished"):
        tx[b"a"]
    with pytest.raises(InvalidArgument, match="finished"):
        tx.scan()
    assert list(db.items()) == [(b"a", b"1")]


def test_transaction_conflict_is_raised_by_the_with_block(db: lightning_db.Database) -> None:
    with pytest.raises(TransactionConflict):
        with db.transaction() as tx:
            tx.put(b"k", b"mine")
            db.put(b"k", b"theirs")
    assert db[b"k"] == b"theirs"


def test_explicit_commit_inside_with_is_not_repeated(db: lightning_db.Database) -> None:
    with db.transaction() as tx:
        tx.put(b"k", b"v")
        tx.commit()
    assert db[b"k"] == b"v"


def test_batch_context_writes_only_on_success(db: lightning_db.Database) -> None:
    with db.batch() as batch:
        batch.put(b"a", b"1").put(b"b", b"2").delete(b"a")
        assert len(batch) == 3
    assert list(db.items()) == [(b"b", b"2")]
    with pytest.raises(RuntimeError):
        with db.batch() as batch:
            batch.put(b"c", b"3")
            raise RuntimeError
    assert db.get(b"c") is None
    reusable = lightning_db.WriteBatch().put(b"d", b"4")
    db.write(reusable)
    reusable.clear()
    db.write(reusable)
    assert db[b"d"] == b"4"


def test_scans_are_lazy_iterators_over_a_snapshot(db: lightning_db.Database) -> None:
    db.update((b"k%03d" % i, b"v%03d" % i) for i in range(100))
    cursor = db.scan(b"k010", b"k020")
    assert next(cursor) == (b"k010", b"v010")
    db.put(b"k015", b"changed")
    rest = list(cursor)
    assert rest[4] == (b"k015", b"v015") and rest[-1] == (b"k019", b"v019")
    assert [k for k, _ in db.scan(b"k095", reverse=True)] == [
        b"k099",
        b"k098",
        b"k097",
        b"k096",
        b"k095",
    ]
    assert [k for k, _ in db.scan(b"k001", b"k003", start_inclusive=False, end_inclusive=True)] == [
        b"k002",
        b"k003",
    ]
    assert len(list(db.prefix(b"k09"))) == 10


def test_a_closed_cursor_yields_nothing_more(db: lightning_db.Database) -> None:
    db.update([(b"a", b"1"), (b"b", b"2")])
    with db.scan() as cursor:
        assert next(cursor) == (b"a", b"1")
    assert list(cursor) == []


def test_a_cursor_closed_inside_its_loop_stops_it(db: lightning_db.Database) -> None:
    db.update((b"k%02d" % i, b"v") for i in range(50))
    seen: List[bytes] = []
    with db.scan() as cursor:
        for key, _ in cursor:
            seen.append(key)
            if len(seen) == 3:
                cursor.close()
    assert seen == [b"k00", b"k01", b"k02"]


def test_scans_interleave_and_each_keeps_its_place(db: lightning_db.Database) -> None:
    db.update((b"k%d" % i, b"v%d" % i) for i in range(5))
    up, down = db.scan(), db.scan(reverse=True)
    assert [next(up), next(down), next(up), next(down)] == [
        (b"k0", b"v0"),
        (b"k4", b"v4"),
        (b"k1", b"v1"),
        (b"k3", b"v3"),
    ]
    assert list(up) == [(b"k2", b"v2"), (b"k3", b"v3"), (b"k4", b"v4")]
    assert next(down) == (b"k2", b"v2")
    # Bounds may be any bytes-like object, and are copied.
    assert [k for k, _ in db.scan(bytearray(b"k1"), memoryview(b"k3"))] == [b"k1", b"k2"]
    with pytest.raises(TypeError):
        db.scan("k1")  # type: ignore[arg-type]


def test_a_scan_that_fails_raises_the_typed_error(db: lightning_db.Database) -> None:
    db.update((b"k%03d" % i, b"v") for i in range(100))
    cursor = db.scan()
    assert next(cursor) == (b"k000", b"v")
    db.close()
    with pytest.raises(InvalidArgument, match="the database is closed"):
        for _ in cursor:
            pass
    cursor.close()


def test_transaction_scans_merge_its_own_writes(db: lightning_db.Database) -> None:
    db.update([(b"p0", b"0"), (b"p1", b"1"), (b"p3", b"3"), (b"q", b"q")])
    with db.transaction() as tx:
        tx.put(b"p2", b"2")
        tx.delete(b"p1")
        tx.put(b"p3", b"new")
        assert list(tx.prefix(b"p", reverse=True)) == [(b"p3", b"new"), (b"p2", b"2"), (b"p0", b"0")]
        assert list(tx.scan(b"p1", b"q")) == [(b"p2", b"2"), (b"p3", b"new")]
        assert list(db.prefix(b"p")) == [(b"p0", b"0"), (b"p1", b"1"), (b"p3", b"3")]


def test_a_batch_that_fails_writes_nothing(db: lightning_db.Database) -> None:
    db[b"a"] = b"old"
    too_long = b"k" * (lightning_db.MAX_KEY_SIZE + 1)
    batch = lightning_db.WriteBatch().put(b"a", b"new").put(too_long, b"v")
    with pytest.raises(InvalidArgument, match="exceeds the limit"):
        db.write(batch)
    malformed = lightning_db.WriteBatch().put(b"a", b"new")
    malformed._ops.append((b"b", 1))  # type: ignore[arg-type]  # a shape put() never makes
    with pytest.raises(TypeError):
        db.write(malformed)
    assert list(db.items()) == [(b"a", b"old")]


def test_values_larger_than_the_transfer_buffer(db: lightning_db.Database) -> None:
    big = os.urandom(3 * 1024 * 1024 + 1)
    db.put(b"big", big)
    db.put(b"small", b"s")
    assert db.get(b"big") == big
    assert list(db.scan()) == [(b"big", big), (b"small", b"s")]
    with db.transaction() as tx:
        assert tx.get(b"big") == big


def test_exception_hierarchy(tmp_path: Path, db: lightning_db.Database) -> None:
    for cls in (TransactionConflict, DatabaseLocked, lightning_db.CorruptedData, InvalidArgument):
        assert issubclass(cls, LightningDBError)
    assert issubclass(InvalidArgument, ValueError) and issubclass(InvalidUtf8, ValueError)
    with pytest.raises(LightningDBError) as caught:
        lightning_db.open(tmp_path / "db")
    assert isinstance(caught.value, DatabaseLocked)
    assert caught.value.code == -7 and caught.value.kind == "DatabaseLocked"
    assert str(tmp_path / "db") in caught.value.message
    with pytest.raises(lightning_db.IoError):
        lightning_db.open(tmp_path / "missing")


def test_both_paths_raise_the_same_error(db: lightning_db.Database) -> None:
    """The fast path (put) and the generated path (checkpoint) report a closed
    database with the same class and message."""
    db.close()
    with pytest.raises(InvalidArgument) as fast:
        db.put(b"k", b"v")
    with pytest.raises(InvalidArgument) as generated:
        db.checkpoint()
    assert fast.value.message == generated.value.message == "the database is closed"


def test_paths_may_be_pathlike_but_must_be_utf8(tmp_path: Path) -> None:
    with lightning_db.Database(tmp_path / "as-path") as db:
        assert db.path == str(tmp_path / "as-path")
    with pytest.raises(InvalidUtf8):
        lightning_db.create(os.fsdecode(bytes(tmp_path / "x") + b"\xff"))


def test_config_is_kept_and_read_only_refuses_writes(tmp_path: Path) -> None:
    config = Config(cache_size=1 << 20, sync_mode=SyncMode.NORMAL, page_size=8192)
    with lightning_db.create(tmp_path / "db", config) as db:
        assert db.config == config
        db[b"k"] = b"v"
    with lightning_db.open(tmp_path / "db", Config(read_only=True)) as ro:
        assert ro[b"k"] == b"v"
        with pytest.raises(InvalidArgument, match="read-only"):
            ro[b"k"] = b"w"


def test_maintenance_returns_typed_records(tmp_path: Path, db: lightning_db.Database) -> None:
    db.update((b"%d" % i, b"x" * 100) for i in range(50))
    db.update((b"%d" % i, b"y" * 100) for i in range(50))  # the first values are dead
    db.checkpoint()
    report = db.compact()
    assert report.segments_before >= 1 and report.records_copied == 50
    verify = db.verify()
    assert verify.is_clean and verify.live_keys == 50 and verify.corruptions == []
    stats = db.stats()
    assert stats.live_keys == 50 and stats.checkpoints >= 1
    db.backup(tmp_path / "copy")
    with lightning_db.open(tmp_path / "copy") as copy:
        assert len(copy) == 50
    assert lightning_db.version().count(".") == 2


def test_dropping_a_database_releases_it(tmp_path: Path) -> None:
    db = lightning_db.create(tmp_path / "db")
    db[b"k"] = b"v"
    tx = db.begin()
    cursor = db.scan()
    del db, tx, cursor
    gc.collect()
    # Every native reference is gone, so the engine closed the database and
    # released its writer lock.
    with lightning_db.open(tmp_path / "db") as again:
        assert again[b"k"] == b"v"


def test_threads_share_a_database(db: lightning_db.Database) -> None:
    errors: List[BaseException] = []
    values: Dict[int, bytes] = {t: os.urandom(1000 + t) for t in range(8)}

    def work(t: int) -> None:
        try:
            key = b"thread%d" % t
            for i in range(300):
                db.put(key, values[t] + bytes([i % 256]))
                got = db.get(key)
                assert got == values[t] + bytes([i % 256]), (t, i)
                assert sum(1 for _ in db.prefix(b"thread")) >= 1
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(db) == 8


def test_the_wheel_carries_the_checked_in_generated_module() -> None:
    """maturin regenerates the module while building the wheel; it must be the
    file ci/generate checked in, byte for byte."""
    from lightning_db._ffi import lightning_db as generated

    checked_in = Path(__file__).resolve().parents[1] / "generated" / "lightning_db.py"
    assert Path(generated.__file__).read_bytes() == checked_in.read_bytes()


def test_the_direct_path_in_use_is_the_one_asked_for() -> None:
    """ci/test-python runs the suite twice: with the CPython object path and,
    with LIGHTNING_DB_PORTABLE=1, with the portable buffer path."""
    from lightning_db import _native

    assert _native.PYTHON_OBJECTS == (not os.environ.get("LIGHTNING_DB_PORTABLE"))


def test_a_batch_means_the_same_on_both_paths(tmp_path: Path) -> None:
    """Database.write sends a batch too large for a C int through the generated
    module instead: the conversion it uses must mean what the direct one does."""
    batch = lightning_db.WriteBatch().put(b"a", b"1").put(b"b", b"").delete(b"a").put(b"c", b"3")
    with lightning_db.create(tmp_path / "fast", FAST) as fast, lightning_db.create(
        tmp_path / "generated", FAST
    ) as generated:
        fast.put(b"z", b"old")
        generated.put(b"z", b"old")
        batch.delete(b"z")
        fast.write(batch)
        generated._native.write(batch._generated_ops())
        assert list(fast.items()) == list(generated.items()) == [(b"b", b""), (b"c", b"3")]


def test_limits_come_from_the_library_and_hold_in_every_path(
    db: lightning_db.Database,
) -> None:
    longest = b"k" * lightning_db.MAX_KEY_SIZE
    db[longest] = b"v"
    assert db[longest] == b"v"
    too_long = longest + b"k"
    message = f"exceeds the limit of {lightning_db.MAX_KEY_SIZE}"
    with pytest.raises(InvalidArgument, match=message):
        db[too_long] = b"v"
    with pytest.raises(InvalidArgument, match=message):
        db.get(too_long)
    with db.transaction() as tx:
        with pytest.raises(InvalidArgument, match=message):
            tx.put(too_long, b"v")
        with pytest.raises(InvalidArgument, match=message):
            tx.get(too_long)
    assert lightning_db.MAX_VALUE_SIZE >= 1 << 20


def test_database_and_transaction_share_one_get(db: lightning_db.Database) -> None:
    db[b"a"] = b"1"
    with db.transaction() as tx:
        tx[b"b"] = b"2"
        assert (tx.get(b"a"), tx[b"b"], tx.get(b"zz")) == (b"1", b"2", None)
        with pytest.raises(KeyError):
            tx[b"zz"]
    assert (db.get(b"b"), db[b"a"], db.get(b"zz")) == (b"2", b"1", None)
    with pytest.raises(KeyError):
        db[b"zz"]
