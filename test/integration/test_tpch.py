"""TPC-H: the 22 queries of bench/tpch/queries over Parquet files written by
tpchgen-cli at a small scale factor, each answer equal to DuckDB's (same rows in the
same order, numbers within a relative 1e-9). bench/run.py tpch runs the same
queries at SF 1 against DuckDB, Polars and DataFusion."""
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import tpch  # noqa: E402

SCALE = 0.05


@pytest.fixture(scope="module")
def tpch_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tpch")
    tpch.generate(SCALE, str(directory))
    return str(directory)


@pytest.mark.parametrize("n", tpch.QUERIES)
def test_query_matches_duckdb(tpch_dir, tmp_path, n):
    flowsql = os.environ.get("FLOWSQL_BIN", str(REPO / "build" / "flowsql"))
    ok, message = tpch.check_query(flowsql, tpch_dir, n, str(tmp_path))
    assert ok, "q%02d: %s" % (n, message)
