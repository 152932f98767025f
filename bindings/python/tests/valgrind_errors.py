"""Reads a valgrind log of the test suite (ci/test-python) and fails on the
errors that concern the library: any with liblightning_db_ffi on its stack, and
any invalid read, write or free. CPython, not built for valgrind, reports
uninitialised values of its own at start-up and shutdown; those are counted and
left alone.

Usage: python valgrind_errors.py LOG
"""

import re
import sys

SERIOUS = re.compile(r"Invalid (read|write|free)|Mismatched free|overlap|Syscall param")


def main() -> int:
    text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    # One error a block: a headline, then its stack, then a line holding only
    # the process id.
    blocks = [b for b in re.split(r"\n==\d+== *\n", text) if b.strip()]
    ours = [b for b in blocks if "liblightning_db_ffi" in b or SERIOUS.search(b)]
    for block in ours:
        print(block, file=sys.stderr)
    print(
        f"valgrind: {len(blocks)} reports, {len(ours)} concerning the library"
        + ("" if not ours else " (above)")
    )
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
