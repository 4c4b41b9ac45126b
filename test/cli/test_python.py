"""The flowsql Python package: a round trip through the CLI's Arrow output."""

import os

import pyarrow as pa
import pytest

import flowsql
from conftest import flowsql_bin


@pytest.fixture(autouse=True)
def use_test_binary(monkeypatch):
    monkeypatch.setenv("FLOWSQL_BIN", flowsql_bin())


def test_version():
    assert isinstance(flowsql.__version__, str) and flowsql.__version__


def test_binary_comes_from_env():
    assert flowsql.binary() == os.environ["FLOWSQL_BIN"]


def test_sql_returns_a_table():
    table = flowsql.sql("SELECT * FROM generate_series(1, 5)")
    assert isinstance(table, pa.Table)
    assert table.to_pydict() == {"generate_series": [1, 2, 3, 4, 5]}


def test_sql_types_round_trip():
    table = flowsql.sql("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL ORDER BY a")
    assert table.schema.field("b").type in (pa.string(), pa.large_string(), pa.string_view())
    assert table.to_pydict() == {"a": [1, 2], "b": ["x", None]}


def test_sql_returns_the_last_statement():
    table = flowsql.sql("SELECT 1 AS x; SELECT 'two' AS y")
    assert table.to_pydict() == {"y": ["two"]}


def test_sql_reads_a_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("k,v\n1,a\n2,b\n")
    table = flowsql.sql(f"SELECT v FROM '{path}' WHERE k = 2")
    assert table.to_pydict() == {"v": ["b"]}


def test_error_carries_message_and_exit_code():
    with pytest.raises(flowsql.Error) as info:
        flowsql.sql("SELEC 1")
    assert info.value.exit_code == 1
    assert "line 1:" in info.value.message
    assert not info.value.message.startswith("Error:")


def test_missing_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSQL_BIN", str(tmp_path / "no-such-flowsql"))
    with pytest.raises(OSError):
        flowsql.sql("SELECT 1")
