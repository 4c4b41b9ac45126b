"""Every Arrow type a file can hold, through flowsql and DuckDB.

Parquet files written by pyarrow (string_view, large_string, dictionary, binary_view,
decimal32..decimal256, timestamps in s/ms/us/ns with and without a zone, date64,
time32/time64, large_list) and by DuckDB and Polars; each query filters, projects,
joins, groups, orders, LIKEs or casts them, and must give DuckDB's rows and column
types (compared as in test_diff.py)."""
import datetime as dt
import decimal
import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import test_diff as diff

N = 60


def _table():
    D = decimal.Decimal
    cities = ["Rome", "Oslo", "Paris", "Lima", None]
    city = [cities[i % 5] for i in range(N)]
    ts = [dt.datetime(2024, 1, 1) + dt.timedelta(hours=7 * i, seconds=i) for i in range(N)]
    return pa.table({
        "id": pa.array(range(N), pa.int64()),
        "sv": pa.array(city, pa.string_view()),
        "ls": pa.array(city, pa.large_string()),
        "dict": pa.array(city, pa.string()).dictionary_encode(),
        "bv": pa.array([None if c is None else c.encode() for c in city], pa.binary_view()),
        "d32": pa.array([D(i) / 4 for i in range(N)], pa.decimal32(7, 2)),
        "d64": pa.array([D(i * 1000) / 8 for i in range(N)], pa.decimal64(15, 3)),
        "d128": pa.array([D(i) / 100 for i in range(N)], pa.decimal128(15, 2)),
        "d256": pa.array([D(i * 7) / 10 for i in range(N)], pa.decimal256(40, 1)),
        "ts_s": pa.array(ts, pa.timestamp("s")),
        "ts_ms": pa.array(ts, pa.timestamp("ms")),
        "ts_ns": pa.array(ts, pa.timestamp("ns")),
        "ts_tz": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "d64day": pa.array([t.date() for t in ts], pa.date64()),
        "t32": pa.array([t.time().replace(microsecond=0) for t in ts], pa.time32("s")),
        "t64": pa.array([t.time() for t in ts], pa.time64("us")),
        "ll": pa.array([[i, i + 1] if i % 4 else None for i in range(N)],
                       pa.large_list(pa.int32())),
    })


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("types")
    t = _table()
    pq.write_table(t, str(d / "arrow.parquet"))
    con = duckdb.connect()
    con.sql("COPY (SELECT id, sv::VARCHAR AS city, d128 AS amount, ts_ns::TIMESTAMP AS ordered_at "
            "FROM read_parquet('%s')) TO '%s' (FORMAT parquet)" % (d / "arrow.parquet",
                                                                  d / "duckdb.parquet"))
    import polars as pl
    pl.read_parquet(str(d / "arrow.parquet"), columns=["id", "sv", "ts_ns", "d128"]) \
        .write_parquet(str(d / "polars.parquet"))
    return d


QUERIES = [
    "SELECT id, sv, ls, dict, bv FROM '{d}/arrow.parquet' WHERE sv = 'Rome' OR ls LIKE 'O%' ORDER BY id",
    "SELECT dict, count(*), sum(d128), min(ls), max(sv) FROM '{d}/arrow.parquet' GROUP BY dict ORDER BY dict",
    "SELECT upper(sv), length(ls), substr(dict, 2, 2), sv || '-' || ls FROM '{d}/arrow.parquet' ORDER BY id",
    "SELECT a.id, b.id FROM '{d}/arrow.parquet' a JOIN '{d}/arrow.parquet' b ON a.sv = b.ls WHERE a.id < 10 AND b.id < 10 ORDER BY 1, 2",
    # DuckDB reads DECIMAL(40,1) as DOUBLE; flowsql keeps decimal256 (exact) and casts.
    "SELECT id, d32, d64, d128, d256::DOUBLE, d32 + d64, d128 * 2, d32 > 1.5 FROM '{d}/arrow.parquet' ORDER BY id",
    "SELECT sum(d32), sum(d64), sum(d128), avg(d128), min(d256)::DOUBLE, max(d64) FROM '{d}/arrow.parquet'",
    "SELECT id, ts_s, ts_ms, ts_ns, ts_tz FROM '{d}/arrow.parquet' WHERE ts_ns > TIMESTAMP '2024-01-05 00:00:00' ORDER BY id",
    "SELECT id, ts_s = ts_ms, epoch(ts_ns), epoch(ts_s), date_trunc('day', ts_ns) FROM '{d}/arrow.parquet' ORDER BY id",
    "SELECT id, d64day, d64day + 1, year(d64day), t32, t64, t32 < TIME '12:00:00' FROM '{d}/arrow.parquet' ORDER BY id",
    "SELECT id, ll, len(ll) FROM '{d}/arrow.parquet' ORDER BY id",
    "SELECT CAST(sv AS VARCHAR), CAST(d32 AS DOUBLE), CAST(ts_ns AS DATE) FROM '{d}/arrow.parquet' ORDER BY id",
    "SELECT city, count(*), sum(amount), max(ordered_at) FROM '{d}/duckdb.parquet' GROUP BY city ORDER BY city NULLS LAST",
    "SELECT sv, count(*), sum(d128), min(ts_ns) FROM '{d}/polars.parquet' GROUP BY sv ORDER BY sv NULLS LAST",
    "SELECT p.id, q.city FROM '{d}/polars.parquet' p JOIN '{d}/duckdb.parquet' q ON p.sv = q.city AND p.id = q.id ORDER BY p.id",
]


@pytest.mark.parametrize("query", QUERIES, ids=["t%02d" % (i + 1) for i in range(len(QUERIES))])
def test_type_matches_duckdb(files, query):
    diff.test_matches_duckdb(query.format(d=files))
