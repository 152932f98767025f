"""The guide's Python snippets, run as written (examples/python/)."""

from __future__ import annotations

import os
import runpy
import sqlite3
from pathlib import Path

import pytest

import lightning_db
from lightning_db._ffi import lightning_db as generated

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"


def test_sqlite_migration_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [("alpha", "1"), ("beta", ""), ("gamma", "ü" * 100)]
    with sqlite3.connect("old.db") as conn:
        conn.execute("CREATE TABLE mytable (key TEXT, value TEXT)")
        conn.executemany("INSERT INTO mytable VALUES (?, ?)", rows)
    conn.close()
    runpy.run_path(str(EXAMPLES / "migrate_from_sqlite.py"), run_name="__main__")
    with lightning_db.open("new.ldb") as db:
        assert list(db.items()) == [(k.encode(), v.encode()) for k, v in rows]


def test_guide_ctypes_snippet_against_the_bundled_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guide loads ./liblightning_db_ffi.so through ctypes and uses the C ABI
    of the same library the package carries (ci/test-python also runs it against
    target/release)."""
    library = Path(generated.__file__).with_name("liblightning_db_ffi.so")
    os.symlink(library, tmp_path / "liblightning_db_ffi.so")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / "guide_ctypes.py"), run_name="__main__")
    with lightning_db.open("mydb") as db:
        assert db[b"hello"] == b"world"


def test_quickstart_runs_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main = runpy.run_path(str(EXAMPLES / "quickstart.py"))["main"]
    main(str(tmp_path / "qs"))
    main(str(tmp_path / "qs"))
    out = capsys.readouterr().out
    assert out.count("user:3 -> linus") == 2 and "refused: keys must not be empty" in out
