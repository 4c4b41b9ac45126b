"""The random-query fuzzer (test/fuzz/fuzz_sql.py) for a bounded time, and every
statement it ever found (test/fuzz/crashers/*.sql) replayed: flowsql must answer or
reject each with a message, never crash, abort or hang."""
import glob
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "test" / "fuzz"))
import fuzz_sql  # noqa: E402

FLOWSQL = os.environ.get("FLOWSQL_BIN", str(REPO / "build" / "flowsql"))
CRASHERS = sorted(glob.glob(str(REPO / "test" / "fuzz" / "crashers" / "*.sql")))


@pytest.mark.parametrize("path", CRASHERS, ids=[os.path.basename(p) for p in CRASHERS])
def test_crasher_is_fixed(path):
    sql = "\n".join(l for l in open(path).read().split("\n") if not l.startswith("-- "))
    assert fuzz_sql.run(FLOWSQL, sql) is None


def test_random_queries_never_crash():
    seconds = float(os.environ.get("FLOWSQL_FUZZ_SECONDS", "15"))
    assert fuzz_sql.main(["--seconds", str(seconds), "--flowsql", FLOWSQL]) == 0
