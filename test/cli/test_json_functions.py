"""json_object() and to_json(): SQL values as JSON text (seed 004's example 4), the
same writers as NDJSON output; DuckDB as the oracle of the parsed JSON."""

import csv
import io
import json

import duckdb

from conftest import run_flowsql

EXPR = ("json_object('id', 1, 'name', 'x\"y, z', 'none', NULL, 'amount', "
        "CAST(1.50 AS DECIMAL(10,2)), 'day', DATE '2024-01-02', 'tags', [1, 2], "
        "'owner', {'k': true, 'v': 2.5})")


def test_json_object_builds_the_object_duckdb_builds():
    r = run_flowsql("--format", "csv", "-c", f"SELECT {EXPR} AS j, typeof({EXPR}) AS t")
    assert r.code == 0, r.err
    got, kind = list(csv.reader(io.StringIO(r.out)))[1]
    assert kind == "VARCHAR"
    expected = duckdb.sql(f"SELECT {EXPR}").fetchall()[0][0]
    assert json.loads(got) == json.loads(expected)
    assert got.startswith('{"id":1,"name":"x\\"y, z","none":null,'), got


def test_to_json_and_json_object_over_rows_keep_null_rows_null(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,name\n1,a\n2,\n")
    r = run_flowsql("--format", "csv", "-c",
                    f"SELECT json_object('id', id, 'name', name) AS j, to_json(name) AS n "
                    f"FROM '{path}' ORDER BY id")
    assert r.code == 0, r.err
    assert list(csv.reader(io.StringIO(r.out)))[1:] == [
        ['{"id":1,"name":"a"}', '"a"'], ['{"id":2,"name":null}', '']]


def test_json_object_needs_constant_keys_in_pairs():
    r = run_flowsql("-c", "SELECT json_object('a')")
    assert r.code != 0 and "json_object() takes pairs of a key and a value" in r.err, r.err
    r = run_flowsql("-c", "SELECT json_object(1 + 1, 2)")
    assert r.code != 0 and "json_object(): a key must be constant text" in r.err, r.err
