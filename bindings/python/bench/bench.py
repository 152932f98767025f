"""Python benchmark: lightning_db next to sqlite3 and py-lmdb, in one run.

    python bindings/python/bench/bench.py [--keys N]

24-byte random keys, 150-byte random values (the workload of DESIGN.md). Every
store runs the same operations on its own fresh directory:

- get: random lookups of present keys;
- put: one commit per put, without fsync (SyncMode.OFF / lmdb sync=False /
  sqlite synchronous=OFF), and with an fsync per commit (SyncMode.FULL /
  sync=True / synchronous=FULL) on fewer keys;
- batched put: every key in one atomic commit (WriteBatch / one write
  transaction / executemany in one transaction);
- scan: a full ordered scan, and short range scans of 10 pairs (each range
  read into a list and dropped, the same in every store: kept, its tuples
  would make the run about the garbage collector).

The "generated" column calls the UniFFI-generated module directly, to show what
the direct path of the idiomatic layer saves. Prints a table of operations per
second; it asserts nothing about speed (tests never do).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import lmdb

import lightning_db
from lightning_db._ffi import lightning_db as generated

Pairs = List[Tuple[bytes, bytes]]


def rate(n: int, fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best of `repeat` runs of fn (which does n operations), in ops/s."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def bench_lightning(root: str, pairs: Pairs, lookups: List[bytes], sync_pairs: Pairs) -> Dict[str, float]:
    r: Dict[str, float] = {}
    off = lightning_db.Config(sync_mode=lightning_db.SyncMode.OFF)
    with lightning_db.create(os.path.join(root, "single"), off) as db:
        put = db.put
        r["put"] = rate(len(pairs), lambda: [put(k, v) for k, v in pairs], repeat=1)
    with lightning_db.create(os.path.join(root, "fsync")) as db:
        put = db.put
        r["put, fsync"] = rate(len(sync_pairs), lambda: [put(k, v) for k, v in sync_pairs], repeat=1)
    with lightning_db.create(os.path.join(root, "batched"), off) as db:

        def batched() -> None:
            batch = lightning_db.WriteBatch()
            bput = batch.put
            for k, v in pairs:
                bput(k, v)
            db.write(batch)

        r["batched put"] = rate(len(pairs), batched)
        r["batched put (update)"] = rate(len(pairs), lambda: db.update(pairs))

        def in_transaction() -> None:
            with db.transaction() as tx:
                tput = tx.put
                for k, v in pairs:
                    tput(k, v)

        r["transaction put"] = rate(len(pairs), in_transaction)
        get = db.get
        r["get"] = rate(len(lookups), lambda: [get(k) for k in lookups])
        r["full scan (pairs)"] = rate(len(pairs), lambda: [kv for kv in db.scan()])
        starts = lookups[:20000]
        scan = db.scan

        def short_scans() -> None:
            for s in starts:
                [kv for kv, _ in zip(scan(s), range(10))]

        r["range scan of 10"] = rate(len(starts), short_scans)
    return r


def bench_generated(root: str, pairs: Pairs, lookups: List[bytes]) -> Dict[str, float]:
    """The UniFFI-generated module alone (fewer operations: each call is slow)."""
    r: Dict[str, float] = {}
    n = min(len(pairs), 20000)
    off = generated.Config(sync_mode=generated.SyncMode.OFF)
    db = generated.create(os.path.join(root, "generated"), off)
    put = db.put
    r["put"] = rate(n, lambda: [put(k, v) for k, v in pairs[:n]], repeat=1)
    ops: List[Any] = [generated.BatchOp.PUT(key=k, value=v) for k, v in pairs]
    r["batched put"] = rate(len(pairs), lambda: db.write(ops), repeat=1)
    get = db.get
    r["get"] = rate(n, lambda: [get(k) for k in lookups[:n]])

    unbounded: Any = generated.KeyBound.UNBOUNDED

    def full_scan() -> None:
        cursor = db.scan(unbounded(), unbounded(), False)
        while cursor.next_page(1000):
            pass

    r["full scan (pairs)"] = rate(len(pairs), full_scan, repeat=1)
    db.close()
    return r


def bench_lmdb(root: str, pairs: Pairs, lookups: List[bytes], sync_pairs: Pairs) -> Dict[str, float]:
    r: Dict[str, float] = {}
    size = 1 << 30

    def env(name: str, sync: bool) -> Any:
        return lmdb.open(os.path.join(root, name), map_size=size, sync=sync, metasync=sync)

    e = env("single", False)

    def singles(e: Any, ps: Pairs) -> None:
        for k, v in ps:
            with e.begin(write=True) as txn:
                txn.put(k, v)

    r["put"] = rate(len(pairs), lambda: singles(e, pairs), repeat=1)
    e.close()
    e = env("fsync", True)
    r["put, fsync"] = rate(len(sync_pairs), lambda: singles(e, sync_pairs), repeat=1)
    e.close()
    e = env("batched", False)

    def batched() -> None:
        with e.begin(write=True) as txn:
            tput = txn.put
            for k, v in pairs:
                tput(k, v)

    r["batched put"] = rate(len(pairs), batched)
    r["transaction put"] = r["batched put"]
    with e.begin() as txn:
        get = txn.get
        r["get"] = rate(len(lookups), lambda: [get(k) for k in lookups])
        r["full scan (pairs)"] = rate(len(pairs), lambda: [kv for kv in txn.cursor()])
        starts = lookups[:20000]

        def short_scans() -> None:
            for s in starts:
                cursor = txn.cursor()
                cursor.set_range(s)
                [kv for kv, _ in zip(cursor, range(10))]

        r["range scan of 10"] = rate(len(starts), short_scans)
    e.close()
    return r


def bench_sqlite(root: str, pairs: Pairs, lookups: List[bytes], sync_pairs: Pairs) -> Dict[str, float]:
    r: Dict[str, float] = {}

    def connect(name: str, synchronous: str) -> sqlite3.Connection:
        conn = sqlite3.connect(os.path.join(root, name + ".sqlite"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        return conn

    upsert = "INSERT OR REPLACE INTO kv VALUES (?, ?)"
    conn = connect("single", "OFF")
    r["put"] = rate(len(pairs), lambda: [conn.execute(upsert, kv) for kv in pairs], repeat=1)
    conn.close()
    conn = connect("fsync", "FULL")
    r["put, fsync"] = rate(len(sync_pairs), lambda: [conn.execute(upsert, kv) for kv in sync_pairs], repeat=1)
    conn.close()
    conn = connect("batched", "OFF")

    def batched() -> None:
        conn.execute("BEGIN")
        conn.executemany(upsert, pairs)
        conn.execute("COMMIT")

    r["batched put"] = rate(len(pairs), batched)

    def transaction_puts() -> None:
        conn.execute("BEGIN")
        execute = conn.execute
        for kv in pairs:
            execute(upsert, kv)
        conn.execute("COMMIT")

    r["transaction put"] = rate(len(pairs), transaction_puts)
    select = "SELECT v FROM kv WHERE k = ?"
    execute = conn.execute

    def gets() -> None:
        for k in lookups:
            execute(select, (k,)).fetchone()

    r["get"] = rate(len(lookups), gets)
    r["full scan (pairs)"] = rate(len(pairs), lambda: [kv for kv in conn.execute("SELECT k, v FROM kv ORDER BY k")])
    starts = lookups[:20000]
    ranged = "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT 10"

    def short_scans() -> None:
        for s in starts:
            execute(ranged, (s,)).fetchall()

    r["range scan of 10"] = rate(len(starts), short_scans)
    conn.close()
    return r


ROWS = [
    "get",
    "put",
    "put, fsync",
    "batched put",
    "batched put (update)",
    "transaction put",
    "full scan (pairs)",
    "range scan of 10",
]


def fmt(v: Optional[float]) -> str:
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.0f} k/s"
    return f"{v:.0f} /s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--fsync-keys", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(42)
    pairs = [(rng.randbytes(24), rng.randbytes(150)) for _ in range(args.keys)]
    lookups = [k for k, _ in pairs]
    rng.shuffle(lookups)
    sync_pairs = pairs[: args.fsync_keys]
    root = tempfile.mkdtemp(prefix="lightning-bench-", dir=os.environ.get("BENCH_DIR"))
    try:
        results: Dict[str, Dict[str, float]] = {}
        stores: List[Tuple[str, Callable[[str], Dict[str, float]]]] = [
            ("lightning_db", lambda d: bench_lightning(d, pairs, lookups, sync_pairs)),
            ("generated", lambda d: bench_generated(d, pairs, lookups)),
            ("lmdb", lambda d: bench_lmdb(d, pairs, lookups, sync_pairs)),
            ("sqlite3", lambda d: bench_sqlite(d, pairs, lookups, sync_pairs)),
        ]
        for name, fn in stores:
            d = os.path.join(root, name)
            os.makedirs(d)
            print(f"running {name} ...", file=sys.stderr)
            results[name] = fn(d)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"\nPython {sys.version.split()[0]}, {args.keys} random 24-byte keys, 150-byte values "
        f"({args.fsync_keys} for fsync puts); operations per second, best of 3\n"
    )
    cols = ["lightning_db", "lmdb", "sqlite3", "generated"]
    head = ["operation", "lightning_db", "py-lmdb", "sqlite3", "UniFFI module", "lightning_db / lmdb"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for row in ROWS:
        values = [results[c].get(row) for c in cols]
        ours, lm = values[0], values[1]
        ratio = f"{ours / lm:.2f}×" if ours and lm else "—"
        print("| " + " | ".join([row] + [fmt(v) for v in values] + [ratio]) + " |")
    ours_get, lmdb_get = results["lightning_db"]["get"], results["lmdb"]["get"]
    print(
        f"\nget: {1e6 / ours_get:.2f} µs (lightning_db) vs {1e6 / lmdb_get:.2f} µs (py-lmdb); "
        f"put: {1e6 / results['lightning_db']['put']:.2f} µs vs {1e6 / results['lmdb']['put']:.2f} µs"
    )


if __name__ == "__main__":
    main()
