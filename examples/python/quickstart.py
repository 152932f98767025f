"""A tour of the Python API: run it with a directory, e.g.
``python examples/python/quickstart.py /tmp/quickstart.ldb``."""

from __future__ import annotations

import sys

import lightning_db


def main(path: str) -> None:
    config = lightning_db.Config(sync_mode=lightning_db.SyncMode.NORMAL)
    with lightning_db.create(path, config) as db:
        db[b"user:1"] = b"ada"
        db.put(b"user:2", b"grace")
        print("user:1 =", db[b"user:1"], "| user:3 =", db.get(b"user:3"))

        # Atomic: both writes or neither.
        with db.transaction() as tx:
            count = int(tx.get(b"count") or b"0")
            tx.put(b"count", str(count + 1).encode())
            tx.put(b"user:3", b"linus")

        try:
            with db.transaction() as tx:
                tx.put(b"user:4", b"never stored")
                raise RuntimeError("changed my mind")
        except RuntimeError:
            pass
        assert b"user:4" not in db

        with db.batch() as batch:
            batch.put(b"tag:a", b"1").put(b"tag:b", b"2").delete(b"user:2")

        for key, value in db.prefix(b"user:"):
            print(key.decode(), "->", value.decode())
        print("newest tag:", next(iter(db.prefix(b"tag:", reverse=True))))

        try:
            db.put(b"", b"empty keys are refused")
        except lightning_db.InvalidArgument as e:
            print("refused:", e)
        print(len(db), "keys;", db.stats().commits, "commits")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "quickstart.ldb")
