"""Runs tests/conformance/scenarios.json (format: tests/conformance/README.md).

Two adapters map the scenario operations onto Python:

- ``PublicApi``: the package users import (``lightning_db``), whose hot calls take
  the direct ctypes path into the library;
- ``GeneratedApi``: the UniFFI-generated module alone
  (``lightning_db._ffi.lightning_db``).

Both must satisfy every scenario, which is what shows that the fast path gives
the same results and errors as the generated API. The runner itself knows
nothing of either: it is the part another language's runner mirrors.
"""

from __future__ import annotations

import json
import os
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Protocol, Tuple

import lightning_db
from lightning_db._ffi import lightning_db as generated

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = Path(
    os.environ.get("LIGHTNING_DB_CONFORMANCE", ROOT / "tests" / "conformance" / "scenarios.json")
)

Pair = Tuple[bytes, bytes]
Bound = Optional[Tuple[str, bytes]]  # None, ("included", key) or ("excluded", key)
Op = Tuple[str, bytes, Optional[bytes]]  # ("put", key, value) or ("delete", key, None)


def load() -> List[Dict[str, Any]]:
    data = json.loads(SCENARIOS.read_text(encoding="utf-8"))
    if data.get("format") != 1:
        raise ValueError(f"unknown conformance format {data.get('format')!r}")
    scenarios: List[Dict[str, Any]] = data["scenarios"]
    return scenarios


def to_bytes(spec: Any) -> bytes:
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "fill" in spec:
        return bytes([spec["fill"]]) * int(spec["len"])
    raise ValueError(f"not a bytes spec: {spec!r}")


def to_pair(spec: Any) -> Pair:
    return to_bytes(spec[0]), to_bytes(spec[1])


def to_bound(spec: Any) -> Bound:
    if spec is None:
        return None
    ((kind, key),) = spec.items()
    assert kind in ("included", "excluded"), spec
    return kind, to_bytes(key)


class Api(Protocol):
    """What a binding offers the runner: one method per scenario operation."""

    def create(self, path: str, config: Optional[Dict[str, Any]]) -> Any: ...
    def open(self, path: str, config: Optional[Dict[str, Any]]) -> Any: ...
    def close(self, db: Any) -> None: ...
    def put(self, db: Any, key: bytes, value: bytes) -> None: ...
    def get(self, db: Any, key: bytes) -> Optional[bytes]: ...
    def delete(self, db: Any, key: bytes) -> bool: ...
    def contains(self, db: Any, key: bytes) -> bool: ...
    def len(self, db: Any) -> int: ...
    def write(self, db: Any, ops: List[Op]) -> None: ...
    def scan(self, src: Any, start: Bound, end: Bound, reverse: bool) -> Any: ...
    def scan_prefix(self, src: Any, prefix: bytes, reverse: bool) -> Any: ...
    def next(self, cursor: Any, count: int) -> List[Pair]: ...
    def begin(self, db: Any) -> Any: ...
    def tx_get(self, tx: Any, key: bytes) -> Optional[bytes]: ...
    def tx_put(self, tx: Any, key: bytes, value: bytes) -> None: ...
    def tx_delete(self, tx: Any, key: bytes) -> None: ...
    def tx_contains(self, tx: Any, key: bytes) -> bool: ...
    def commit(self, tx: Any) -> None: ...
    def rollback(self, tx: Any) -> None: ...
    def checkpoint(self, db: Any) -> None: ...
    def compact(self, db: Any) -> None: ...
    def verify(self, db: Any) -> Any: ...
    def stats(self, db: Any) -> Any: ...
    def backup(self, db: Any, dest: str) -> None: ...
    def error(self, exc: BaseException) -> Optional[Tuple[str, str]]:
        """(variant, message) if ``exc`` is a Lightning DB error, else None."""
        ...


def _config(cls: Any, spec: Optional[Dict[str, Any]]) -> Any:
    if spec is None:
        return None
    fields = dict(spec)
    if "sync_mode" in fields:
        fields["sync_mode"] = generated.SyncMode[fields["sync_mode"].upper()]
    return cls(**fields)


class PublicApi:
    """The idiomatic package, as users call it."""

    def create(self, path: str, config: Optional[Dict[str, Any]]) -> Any:
        return lightning_db.create(path, _config(lightning_db.Config, config))

    def open(self, path: str, config: Optional[Dict[str, Any]]) -> Any:
        return lightning_db.open(path, _config(lightning_db.Config, config))

    def close(self, db: lightning_db.Database) -> None:
        db.close()

    def put(self, db: lightning_db.Database, key: bytes, value: bytes) -> None:
        db.put(key, value)

    def get(self, db: lightning_db.Database, key: bytes) -> Optional[bytes]:
        return db.get(key)

    def delete(self, db: lightning_db.Database, key: bytes) -> bool:
        return db.delete(key)

    def contains(self, db: lightning_db.Database, key: bytes) -> bool:
        return db.contains(key)

    def len(self, db: lightning_db.Database) -> int:
        return len(db)

    def write(self, db: lightning_db.Database, ops: List[Op]) -> None:
        batch = lightning_db.WriteBatch()
        for kind, key, value in ops:
            if kind == "put":
                assert value is not None
                batch.put(key, value)
            else:
                batch.delete(key)
        db.write(batch)

    def scan(self, src: Any, start: Bound, end: Bound, reverse: bool) -> Any:
        return src.scan(
            start[1] if start else None,
            end[1] if end else None,
            reverse=reverse,
            start_inclusive=start is None or start[0] == "included",
            end_inclusive=end is not None and end[0] == "included",
        )

    def scan_prefix(self, src: Any, prefix: bytes, reverse: bool) -> Any:
        return src.prefix(prefix, reverse=reverse)

    def next(self, cursor: lightning_db.Cursor, count: int) -> List[Pair]:
        return list(islice(cursor, count))

    def begin(self, db: lightning_db.Database) -> Any:
        return db.begin()

    def tx_get(self, tx: lightning_db.Transaction, key: bytes) -> Optional[bytes]:
        return tx.get(key)

    def tx_put(self, tx: lightning_db.Transaction, key: bytes, value: bytes) -> None:
        tx.put(key, value)

    def tx_delete(self, tx: lightning_db.Transaction, key: bytes) -> None:
        tx.delete(key)

    def tx_contains(self, tx: lightning_db.Transaction, key: bytes) -> bool:
        return tx.contains(key)

    def commit(self, tx: lightning_db.Transaction) -> None:
        tx.commit()

    def rollback(self, tx: lightning_db.Transaction) -> None:
        tx.rollback()

    def checkpoint(self, db: lightning_db.Database) -> None:
        db.checkpoint()

    def compact(self, db: lightning_db.Database) -> None:
        db.compact()

    def verify(self, db: lightning_db.Database) -> Any:
        return db.verify()

    def stats(self, db: lightning_db.Database) -> Any:
        return db.stats()

    def backup(self, db: lightning_db.Database, dest: str) -> None:
        db.backup(dest)

    def error(self, exc: BaseException) -> Optional[Tuple[str, str]]:
        if isinstance(exc, lightning_db.LightningDBError):
            return exc.kind, exc.message
        return None


class GeneratedApi:
    """The UniFFI-generated module alone."""

    def create(self, path: str, config: Optional[Dict[str, Any]]) -> Any:
        return generated.create(path, _config(generated.Config, config))

    def open(self, path: str, config: Optional[Dict[str, Any]]) -> Any:
        return generated.open(path, _config(generated.Config, config))

    def close(self, db: Any) -> None:
        db.close()

    def put(self, db: Any, key: bytes, value: bytes) -> None:
        db.put(key, value)

    def get(self, db: Any, key: bytes) -> Optional[bytes]:
        value: Optional[bytes] = db.get(key)
        return value

    def delete(self, db: Any, key: bytes) -> bool:
        return bool(db.delete(key))

    def contains(self, db: Any, key: bytes) -> bool:
        return bool(db.contains(key))

    def len(self, db: Any) -> int:
        return int(db.len())

    def write(self, db: Any, ops: List[Op]) -> None:
        batch: List[Any] = [
            generated.BatchOp.PUT(key=k, value=v) if v is not None else generated.BatchOp.DELETE(key=k)
            for _, k, v in ops
        ]
        db.write(batch)

    @staticmethod
    def _bound(bound: Bound) -> Any:
        if bound is None:
            unbounded: Any = generated.KeyBound.UNBOUNDED
            return unbounded()
        kind, key = bound
        return (generated.KeyBound.INCLUDED if kind == "included" else generated.KeyBound.EXCLUDED)(key=key)

    def scan(self, src: Any, start: Bound, end: Bound, reverse: bool) -> Any:
        return src.scan(self._bound(start), self._bound(end), reverse)

    def scan_prefix(self, src: Any, prefix: bytes, reverse: bool) -> Any:
        return src.scan_prefix(prefix, reverse)

    def next(self, cursor: Any, count: int) -> List[Pair]:
        out: List[Pair] = []
        while len(out) < count:
            page = cursor.next_page(min(count - len(out), 100))
            if not page:
                break
            out.extend((kv.key, kv.value) for kv in page)
        return out

    def begin(self, db: Any) -> Any:
        return db.begin_transaction()

    def tx_get(self, tx: Any, key: bytes) -> Optional[bytes]:
        value: Optional[bytes] = tx.get(key)
        return value

    def tx_put(self, tx: Any, key: bytes, value: bytes) -> None:
        tx.put(key, value)

    def tx_delete(self, tx: Any, key: bytes) -> None:
        tx.delete(key)

    def tx_contains(self, tx: Any, key: bytes) -> bool:
        return bool(tx.contains(key))

    def commit(self, tx: Any) -> None:
        tx.commit()

    def rollback(self, tx: Any) -> None:
        tx.rollback()

    def checkpoint(self, db: Any) -> None:
        db.checkpoint()

    def compact(self, db: Any) -> None:
        db.compact()

    def verify(self, db: Any) -> Any:
        return db.verify()

    def stats(self, db: Any) -> Any:
        return db.stats()

    def backup(self, db: Any, dest: str) -> None:
        db.backup(dest)

    def error(self, exc: BaseException) -> Optional[Tuple[str, str]]:
        if isinstance(exc, generated.LightningDbError):
            return type(exc).__name__, str(getattr(exc, "message"))
        return None


class StepFailed(AssertionError):
    pass


class Runner:
    """Runs one scenario against one Api in directory ``root``."""

    def __init__(self, api: Api, root: Path) -> None:
        self.api = api
        self.root = root
        self.dbs: Dict[str, Any] = {}
        self.opened_with: Dict[str, Tuple[str, Optional[Dict[str, Any]]]] = {}
        self.txs: Dict[str, Any] = {}
        self.cursors: Dict[str, Any] = {}

    def run(self, scenario: Dict[str, Any]) -> None:
        try:
            for index, step in enumerate(scenario["steps"]):
                try:
                    self.step(scenario, step)
                except StepFailed as e:
                    raise StepFailed(f"{scenario['name']!r} step {index} {json.dumps(step)[:300]}: {e}") from None
        finally:
            for db in self.dbs.values():
                try:
                    self.api.close(db)
                except Exception as e:  # already closed: expected here
                    if self.api.error(e) is None:
                        raise

    def step(self, scenario: Dict[str, Any], step: Dict[str, Any]) -> None:
        want_error = step.get("expect_error")
        try:
            result = self.execute(scenario, step)
        except StepFailed:
            raise
        except Exception as e:
            got = self.api.error(e)
            if got is None:
                raise StepFailed(f"raised a non-Lightning DB error {e!r}") from e
            kind, message = got
            if want_error is None:
                raise StepFailed(f"failed with {kind}: {message}") from None
            if kind != want_error:
                raise StepFailed(f"failed with {kind} ({message}), expected {want_error}") from None
            if step.get("error_contains", "") not in message:
                raise StepFailed(f"message {message!r} lacks {step['error_contains']!r}") from None
            return
        if want_error is not None:
            raise StepFailed(f"succeeded ({result!r:.200}), expected {want_error}")
        self.check(step, result)

    def check(self, step: Dict[str, Any], result: Any) -> None:
        op = step["op"]
        if op in ("stats", "verify"):
            for field, value in step.get("expect", {}).items():
                if getattr(result, field) != value:
                    raise StepFailed(f"{field} is {getattr(result, field)!r}, expected {value!r}")
            return
        if isinstance(result, list):  # pairs of a scan or next
            self.check_pairs(step, result)
            return
        if "expect" not in step:
            return
        spec = step["expect"]
        want: Any = spec if spec is None or isinstance(spec, (bool, int)) else to_bytes(spec)
        if result != want or type(result) is not type(want):
            raise StepFailed(f"got {result!r:.200}, expected {want!r:.200}")

    def check_pairs(self, step: Dict[str, Any], pairs: List[Pair]) -> None:
        def show(ps: List[Pair]) -> str:
            return repr([(k[:40], v[:40]) for k, v in ps[:20]])

        if "expect" in step and [to_pair(p) for p in step["expect"]] != pairs:
            raise StepFailed(f"got {show(pairs)}, expected {show([to_pair(p) for p in step['expect']])}")
        if "expect_count" in step and len(pairs) != step["expect_count"]:
            raise StepFailed(f"got {len(pairs)} pairs, expected {step['expect_count']}")
        if "expect_first" in step and (not pairs or pairs[0] != to_pair(step["expect_first"])):
            raise StepFailed(f"first pair {show(pairs[:1])}, expected {step['expect_first']}")
        if "expect_last" in step and (not pairs or pairs[-1] != to_pair(step["expect_last"])):
            raise StepFailed(f"last pair {show(pairs[-1:])}, expected {step['expect_last']}")

    def drain(self, cursor: Any) -> List[Pair]:
        out: List[Pair] = []
        while True:
            page = self.api.next(cursor, 1000)
            out.extend(page)
            if len(page) < 1000:
                return out

    def execute(self, scenario: Dict[str, Any], step: Dict[str, Any]) -> Any:
        api, op = self.api, step["op"]
        name = step.get("db", "main")
        config = step.get("config", scenario.get("config"))
        path = str(self.root / step.get("path", "db"))
        if op in ("create", "open"):
            self.dbs[name] = (api.create if op == "create" else api.open)(path, config)
            self.opened_with[name] = (path, config)
            return None
        if op == "reopen":
            api.close(self.dbs[name])
            path, config = self.opened_with[name]
            self.dbs[name] = api.open(path, config)
            return None
        if op.startswith("tx_") or op in ("commit", "rollback"):
            return self.execute_tx(op, self.txs[step["tx"]], step)
        if op == "next":
            return api.next(self.cursors[step["cursor"]], step["count"])
        db = self.dbs[name]
        key = to_bytes(step["key"]) if "key" in step else b""
        if op == "close":
            return api.close(db)
        if op == "put":
            return api.put(db, key, to_bytes(step["value"]))
        if op == "get":
            return api.get(db, key)
        if op == "delete":
            return api.delete(db, key)
        if op == "contains":
            return api.contains(db, key)
        if op == "len":
            return api.len(db)
        if op == "write":
            return api.write(db, [self.batch_op(o) for o in step["ops"]])
        if op == "fill":
            ops: List[Op] = [
                ("put", f"{step['key_prefix']}{i:05}".encode(), f"{step['value_prefix']}{i:05}".encode())
                for i in range(step["count"])
            ]
            return api.write(db, ops)
        if op in ("scan", "scan_prefix"):
            return self.scan(db, op, step)
        if op == "begin":
            self.txs[step["tx"]] = api.begin(db)
            return None
        if op == "backup":
            return api.backup(db, str(self.root / step["dest"]))
        if op in ("checkpoint", "compact", "verify", "stats"):
            return getattr(api, op)(db)
        raise ValueError(f"unknown operation {op!r}")

    def execute_tx(self, op: str, tx: Any, step: Dict[str, Any]) -> Any:
        api = self.api
        key = to_bytes(step["key"]) if "key" in step else b""
        if op == "tx_get":
            return api.tx_get(tx, key)
        if op == "tx_put":
            return api.tx_put(tx, key, to_bytes(step["value"]))
        if op == "tx_delete":
            return api.tx_delete(tx, key)
        if op == "tx_contains":
            return api.tx_contains(tx, key)
        if op in ("tx_scan", "tx_scan_prefix"):
            return self.scan(tx, op[3:], step)
        if op == "commit":
            return api.commit(tx)
        if op == "rollback":
            return api.rollback(tx)
        raise ValueError(f"unknown operation {op!r}")

    def scan(self, src: Any, op: str, step: Dict[str, Any]) -> Any:
        reverse = bool(step.get("reverse", False))
        if op == "scan":
            cursor = self.api.scan(src, to_bound(step.get("start")), to_bound(step.get("end")), reverse)
        else:
            cursor = self.api.scan_prefix(src, to_bytes(step["prefix"]), reverse)
        if "cursor" in step:
            self.cursors[step["cursor"]] = cursor
            return None
        return self.drain(cursor)

    @staticmethod
    def batch_op(spec: Dict[str, Any]) -> Op:
        if "put" in spec:
            key, value = to_pair(spec["put"])
            return "put", key, value
        return "delete", to_bytes(spec["delete"]), None


def scenario_names() -> Iterator[str]:
    return (s["name"] for s in load())
