"""Differential test: every query of queries.sql through flowsql and DuckDB.

Each query runs in the flowsql CLI (`--format arrow`, read back with pyarrow)
and in DuckDB (the Python package) on the same files, from the repository root.
Results must match exactly: same column count and types (string views and
large variants compared as plain types), same row count, same values (decimals
exactly, floats within a relative 1e-9), in order when the query has a top-level
ORDER BY, else as multisets.

    FLOWSQL_BIN=build/flowsql .venv/bin/python -m pytest -q test/diff
"""
import datetime as dt
import decimal
import json
import math
import os
import re
import subprocess

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FLOWSQL = os.path.join(ROOT, os.environ.get("FLOWSQL_BIN", "build/flowsql"))
QUERIES = os.path.join(os.path.dirname(__file__), "queries.sql")


def load_queries(path):
    text = "\n".join(line for line in open(path).read().split("\n")
                     if not line.strip().startswith("--"))
    return [q.strip() for q in text.split(";\n") if q.strip().rstrip(";").strip()]


def top_level_order_by(sql):
    s = re.sub(r"'[^']*'", "''", sql)
    while True:
        t = re.sub(r"\([^()]*\)", "", s)
        if t == s:
            break
        s = t
    return re.search(r"\bORDER\s+BY\b", s, re.IGNORECASE) is not None


def run_flowsql(sql):
    if not os.path.exists(FLOWSQL):
        pytest.fail("flowsql binary not found at %s (set FLOWSQL_BIN)" % FLOWSQL)
    proc = subprocess.run([FLOWSQL, "--format", "arrow", "-c", sql], cwd=ROOT,
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail("flowsql exited %d: %s" % (proc.returncode,
                                              proc.stderr.decode(errors="replace")[:2000]))
    data = proc.stdout
    try:
        return ipc.open_stream(pa.BufferReader(data)).read_all()
    except pa.ArrowInvalid:
        return ipc.open_file(pa.BufferReader(data)).read_all()


def run_duckdb(sql):
    con = duckdb.connect()
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def plain_type(t):
    """The type a value is compared in: views and large variants as plain ones,
    DuckDB's HUGEINT (decimal128(38, 0)) as the BIGINT flowsql computes."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view():
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(plain_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, plain_type(f.type)) for f in t])
    if pa.types.is_dictionary(t):
        return plain_type(t.value_type)
    if pa.types.is_timestamp(t) and t.tz is not None:
        return pa.timestamp(t.unit, "UTC")  # an instant; DuckDB names its session's zone
    return t


def normalize(v):
    if isinstance(v, decimal.Decimal):
        return v
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(v, list):
        return [normalize(x) for x in v]
    if isinstance(v, tuple):
        return [normalize(x) for x in v]
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items()}
    return v


def rows_of(table):
    cols = [[normalize(v) for v in table.column(i).to_pylist()]
            for i in range(table.num_columns)]
    return [list(r) for r in zip(*cols)] if cols else []


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def equal(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
        return type(a) is type(b) and a == b  # exact, never through a float
    if is_number(a) and is_number(b):
        if isinstance(a, float) and math.isnan(a) or isinstance(b, float) and math.isnan(b):
            return isinstance(a, float) and isinstance(b, float) and math.isnan(a) \
                and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def sort_key(row):
    """A total order over normalized rows, numbers by value (rounded to 9 digits)."""
    def key(v):
        if v is None:
            return (0, 0, "")
        if isinstance(v, bool):
            return (1, 0, str(v))
        if is_number(v):
            if isinstance(v, float) and math.isnan(v):
                return (2, 1, 0.0)
            return (2, 0, float("%.9g" % v))
        if isinstance(v, str):
            return (3, 0, v)
        if isinstance(v, (dt.date, dt.datetime, dt.time)):
            return (4, 0, v.isoformat())
        return (5, 0, json.dumps(v, sort_keys=True, default=str))
    return [key(v) for v in row]


def describe_row(row):
    return "(" + ", ".join(repr(v) for v in row) + ")"


QUERY_LIST = load_queries(QUERIES) + load_queries(
    os.path.join(os.path.dirname(__file__), "features.sql")) + load_queries(
    os.path.join(os.path.dirname(__file__), "edge_cases.sql"))


@pytest.mark.parametrize("sql", QUERY_LIST, ids=["q%02d" % (i + 1) for i in range(len(QUERY_LIST))])
def test_matches_duckdb(sql):
    expected_table = run_duckdb(sql)
    actual_table = run_flowsql(sql)
    assert actual_table.num_columns == expected_table.num_columns, (
        "column count: flowsql %s vs duckdb %s" % (actual_table.schema, expected_table.schema))
    for a, e in zip(actual_table.schema, expected_table.schema):
        assert plain_type(a.type) == plain_type(e.type), (
            "column %s: flowsql %s vs duckdb %s" % (e.name, a.type, e.type))
    expected = rows_of(expected_table)
    actual = rows_of(actual_table)
    assert len(actual) == len(expected), "row count: flowsql %d vs duckdb %d" % (
        len(actual), len(expected))
    if not top_level_order_by(sql):
        expected.sort(key=sort_key)
        actual.sort(key=sort_key)
    for i, (a, e) in enumerate(zip(actual, expected)):
        if not all(equal(x, y) for x, y in zip(a, e)):
            pytest.fail("row %d differs:\n  flowsql %s\n  duckdb  %s" % (
                i + 1, describe_row(a), describe_row(e)))
