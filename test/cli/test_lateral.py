"""LATERAL table functions: a connector's table function called once per row of the
tables before it (`FROM files f, LATERAL read_csv(f.path) t`), DuckDB as the oracle."""

import csv
import io

import duckdb
import pytest

from conftest import run_flowsql


@pytest.fixture
def files(tmp_path):
    """a.csv (2 rows), b.csv (1 row, one more column), and a list naming them, one
    twice, one missing, one NULL."""
    (tmp_path / "a.csv").write_text("id,v\n1,a\n2,b\n")
    (tmp_path / "b.csv").write_text("id,v,w\n3,c,x\n")
    (tmp_path / "empty.csv").write_text("id,v\n")
    (tmp_path / "list.csv").write_text(
        "name,path\nA,%s/a.csv\nB,%s/b.csv\nE,%s/empty.csv\nN,\nA2,%s/a.csv\n"
        % ((tmp_path,) * 4))
    return tmp_path


def flowsql_rows(sql):
    """DESCRIBE's (name, type) pairs and the rows, as text."""
    d = run_flowsql("--format", "csv", "-c", "DESCRIBE " + sql)
    assert d.code == 0, d.err
    r = run_flowsql("--format", "csv", "-c", sql)
    assert r.code == 0, r.err
    types = [row[:2] for row in list(csv.reader(io.StringIO(d.out)))[1:]]
    return types, list(csv.reader(io.StringIO(r.out)))[1:]


def duck_rows(sql):
    return [["" if v is None else str(v) for v in row] for row in duckdb.sql(sql).fetchall()]


def test_a_table_function_is_called_per_row_and_joined_to_it(files):
    types, got = flowsql_rows(
        "SELECT f.name, t.* FROM '%s/list.csv' f, LATERAL read_csv(f.path) t "
        "ORDER BY ALL" % files)
    # The columns are those of the first call (a.csv): b.csv's w is not among them.
    assert types == [["name", "VARCHAR"], ["id", "BIGINT"], ["v", "VARCHAR"]]
    assert got == duck_rows(
        "SELECT f.name, t.id, t.v FROM read_csv('%s/list.csv') f JOIN "
        "read_csv(['%s/a.csv', '%s/b.csv'], filename = true, union_by_name = true) t "
        "ON t.filename = f.path ORDER BY ALL" % ((files,) * 3))


def test_without_the_keyword_a_function_reading_columns_is_lateral_too(files):
    _, got = flowsql_rows("SELECT count(*) FROM '%s/list.csv' f, read_csv(f.path) t"
                          % files)
    assert got == [["5"]]


def test_left_join_lateral_keeps_rows_whose_call_gave_none(files):
    _, got = flowsql_rows(
        "SELECT f.name, t.id FROM '%s/list.csv' f LEFT JOIN LATERAL read_csv(f.path) t "
        "ON true ORDER BY ALL" % files)
    assert got == [["A", "1"], ["A", "2"], ["A2", "1"], ["A2", "2"], ["B", "3"],
                   ["E", ""], ["N", ""]]


def test_arguments_of_any_type_and_functions_without_a_uri():
    sql = "SELECT * FROM range(4) r, generate_series(1, r.range) g ORDER BY ALL"
    types, got = flowsql_rows(sql)
    assert types == [["range", "BIGINT"], ["generate_series", "BIGINT"]]
    assert got == duck_rows(sql)


def test_a_failing_call_is_an_error_naming_it(files):
    r = run_flowsql("-c", "SELECT count(*) FROM (VALUES ('%s/a.csv'), ('%s/zz.csv')) f(p), "
                    "read_csv(f.p) t" % (files, files))
    assert r.code != 0
    assert ("LATERAL read_csv('%s/zz.csv'): file not found: %s/zz.csv" % (files, files)
            in r.err), r.err
    r = run_flowsql("-c", "SELECT * FROM (VALUES ('%s/zz.csv')) f(p), read_csv(f.p) t"
                    % files)
    assert r.code != 0
    assert ("LATERAL read_csv() for its first row, read_csv('%s/zz.csv'): file not found"
            % files) in r.err, r.err


def test_no_row_to_take_the_columns_from_is_an_error():
    r = run_flowsql("-c", "SELECT * FROM (SELECT 'a.csv' AS p WHERE false) f, "
                    "read_csv(f.p) t")
    assert r.code != 0
    assert ("LATERAL read_csv(): the rows before it give no call to take its columns "
            "from (none, or all with a NULL argument)") in r.err, r.err


def test_explain_shows_the_call(files):
    r = run_flowsql("-c", "EXPLAIN SELECT t.id FROM '%s/list.csv' f, "
                    "read_csv(f.path, header => true) t" % files)
    assert r.code == 0, r.err
    assert "Lateral read_csv(path, format => csv, header => true)" in r.out, r.out


def test_many_calls_of_a_reader_that_decodes_on_the_cpu_pool_finish(tmp_path):
    # 8 batches of 8 calls, each a JSON file of many blocks decoded on Arrow's CPU
    # pool, whose threads also run the LATERAL batches (it once waited for ever).
    (tmp_path / "lists").mkdir()
    for f in range(64):
        (tmp_path / ("d%d.ndjson" % f)).write_text(
            "".join('{"a": %d}\n' % i for i in range(3000)))
    for l in range(8):
        (tmp_path / "lists" / ("l%d.csv" % l)).write_text(
            "path\n" + "".join("%s/d%d.ndjson\n" % (tmp_path, l * 8 + k) for k in range(8)))
    _, got = flowsql_rows("SELECT count(*), sum(t.a) FROM '%s/lists/*.csv' f, "
                          "LATERAL read_json(f.path, block_size => '4KB') t" % tmp_path)
    assert got == [["192000", str(64 * sum(range(3000)))]]
