"""Writes the small typed fixtures of test/data/typed/ (committed; the tests read
them and never run this script):

- pyarrow.parquet: every Arrow type a Parquet file can carry, written by pyarrow
  (string_view, large_string, dictionary, binary, large_binary, int8..uint64,
  float32/64, decimal32/64/128/256, timestamps s/ms/us/ns with and without a time
  zone, date32/date64, time32 s/ms, time64 us/ns, large_list, bool), with NULLs,
  extremes (integer min/max, NaN, infinities, -0.0) and awkward strings;
- duckdb.parquet: DuckDB's types (TINYINT..UBIGINT, FLOAT, DECIMAL(4..38),
  TIMESTAMP_S/MS/NS, TIMESTAMPTZ, TIME, BLOB, ENUM, INTEGER[]), written by DuckDB;
- polars.parquet: Polars' types (Int8..UInt64, Float32, Categorical, Decimal,
  Datetime ms/us/ns with a zone, Date, Time, Binary, List), written by Polars.

Every file has an `id` (1..12) and a nullable join key `k`.

    .venv/bin/python test/data/gen_typed_files.py
"""
import datetime as dt
import decimal
import os

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "typed")
D = decimal.Decimal
N = 12
K = [1, 2, 2, 3, None, 5, None, 7, 8, 8, 10, None]
STRINGS = ["Rome", "oslo", "", None, "Über", "a_b%c", "Lima", "rome", " pad ", "Paris",
           "x", "Rome"]
TS = [dt.datetime(2024, 1, 31, 23, 59, 59) + dt.timedelta(days=29 * i, hours=5 * i,
                                                           seconds=i) for i in range(N)]
TS[3] = None
TS[7] = dt.datetime(1969, 12, 31, 23, 59, 58)  # before the epoch
TS[10] = dt.datetime(2024, 2, 29, 0, 0, 0)     # a leap day, midnight


def col(values, nulls=(4,)):
    return [None if i in nulls else v for i, v in enumerate(values)]


def pyarrow_table():
    ts_us = [None if t is None else t.replace(microsecond=123456 * (i % 2))
             for i, t in enumerate(TS)]
    ts_ms = [None if t is None else t.replace(microsecond=(t.microsecond // 1000) * 1000)
             for t in ts_us]
    ts_s = [None if t is None else t.replace(microsecond=0) for t in TS]
    times = [None if t is None else t.time() for t in ts_us]
    return pa.table({
        "id": pa.array(range(1, N + 1), pa.int64()),
        "k": pa.array(K, pa.int32()),
        "b": pa.array(col([True, False] * 6, nulls=(5,)), pa.bool_()),
        "i8": pa.array(col([-128, 127, 0, -1, 0, 5, 10, -10, 100, 1, 2, 3]), pa.int8()),
        "i16": pa.array(col([-32768, 32767, 0, -1, 0, 500, 1000, -1000, 100, 1, 2, 3]),
                        pa.int16()),
        "i32": pa.array(col([-2147483648, 2147483647, 0, -1, 0, 5, 10, -10, 100, 1, 2, 3]),
                        pa.int32()),
        "i64": pa.array(col([-9223372036854775808, 9223372036854775807, 0, -1, 0, 5, 10,
                             -10, 100, 1, 2, 3]), pa.int64()),
        "u8": pa.array(col([0, 255, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]), pa.uint8()),
        "u16": pa.array(col([0, 65535, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]), pa.uint16()),
        "u32": pa.array(col([0, 4294967295, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]), pa.uint32()),
        "u64": pa.array(col([0, 18446744073709551615, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]),
                        pa.uint64()),
        "f32": pa.array(col([1.5, -0.0, 0.1, -2.75, 0, 3.25, 1e10, -1e-3, 0.5, 2.0, 7.0,
                             1.5]), pa.float32()),
        "f64": pa.array(col([1.5, -0.0, float("nan"), float("inf"), 0, float("-inf"),
                             1e300, -1e-300, 0.5, 2.0, 7.0, 1.5]), pa.float64()),
        "sv": pa.array(STRINGS, pa.string_view()),
        "ls": pa.array(STRINGS[::-1], pa.large_string()),
        "dict": pa.array(STRINGS, pa.string()).dictionary_encode(),
        "bin": pa.array([None if s is None else s.encode() for s in STRINGS], pa.binary()),
        "lbin": pa.array(col([b"\x00\x01", b"", b"abc", b"\xff", b"", b"x", b"AB", b"a",
                              b"zz", b"\x7f", b"q", b"abc"]), pa.large_binary()),
        "d32": pa.array(col([D("-99999.99"), D("99999.99"), D("0.01"), D("-0.5"), 0,
                             D("1.25"), D("2.50"), D("-2.50"), D("100.00"), D("0.05"),
                             D("3.33"), D("1.25")]), pa.decimal32(7, 2)),
        "d64": pa.array(col([D("-999999999999.999"), D("999999999999.999"), D("0.001"),
                             D("-0.5"), 0, D("1.125"), D("2.5"), D("-2.5"), D("100"),
                             D("0.005"), D("3.333"), D("1.125")]), pa.decimal64(15, 3)),
        "d128": pa.array(col([D("-12345678901234.5678"), D("12345678901234.5678"),
                              D("0.0001"), D("-0.5"), 0, D("1.5"), D("2.5"), D("-2.5"),
                              D("100"), D("0.0005"), D("3.3333"), D("1.5")]),
                         pa.decimal128(20, 4)),
        "d256": pa.array(col([D("-1.5"), D("2.5"), D("0.1"), D("-0.5"), 0, D("1.5"),
                              D("2.5"), D("-2.5"), D("100"), D("0.5"), D("3.3"), D("1.5")]),
                         pa.decimal256(40, 1)),
        "ts_s": pa.array(ts_s, pa.timestamp("s")),
        "ts_ms": pa.array(ts_ms, pa.timestamp("ms")),
        "ts_us": pa.array(ts_us, pa.timestamp("us")),
        "ts_ns": pa.array(ts_us, pa.timestamp("ns")),
        "tz_s": pa.array(ts_s, pa.timestamp("s", tz="Asia/Tokyo")),
        "tz_ms": pa.array(ts_ms, pa.timestamp("ms", tz="Europe/Paris")),
        "tz_us": pa.array(ts_us, pa.timestamp("us", tz="UTC")),
        "tz_ns": pa.array(ts_us, pa.timestamp("ns", tz="America/New_York")),
        "d32day": pa.array([None if t is None else t.date() for t in TS], pa.date32()),
        "d64day": pa.array([None if t is None else t.date() for t in TS], pa.date64()),
        "t32s": pa.array([None if t is None else t.replace(microsecond=0) for t in times],
                         pa.time32("s")),
        "t32ms": pa.array([None if t is None else t.replace(microsecond=t.microsecond
                                                             // 1000 * 1000)
                           for t in times], pa.time32("ms")),
        "t64us": pa.array(times, pa.time64("us")),
        "t64ns": pa.array(times, pa.time64("ns")),
        "ll": pa.array([[i, i + 1] if i % 4 else ([] if i == 4 else None)
                        for i in range(N)], pa.large_list(pa.int32())),
    })


DUCKDB_SQL = """
COPY (SELECT
  id::BIGINT AS id, k::INTEGER AS k,
  (id - 6)::TINYINT AS i8, ((id - 6) * 1000)::SMALLINT AS i16,
  CASE WHEN id = 1 THEN 2147483647 ELSE (id - 6) * 100000 END::INTEGER AS i32,
  CASE WHEN id = 2 THEN -9223372036854775808 ELSE (id - 6) * 10000000000 END::BIGINT AS i64,
  (id * 20)::UTINYINT AS u8, (id * 5000)::USMALLINT AS u16,
  CASE WHEN id = 3 THEN 4294967295 ELSE id END::UINTEGER AS u32,
  CASE WHEN id = 3 THEN 18446744073709551615 ELSE id END::UBIGINT AS u64,
  (id / 4)::FLOAT AS f32, (id / 3)::DOUBLE AS f64,
  ((id - 6) * 1.5)::DECIMAL(4,1) AS d4, ((id - 6) * 12.345)::DECIMAL(9,3) AS d9,
  ((id - 6) * 1234567.891)::DECIMAL(18,3) AS d18, ((id - 6) * 98765.4321)::DECIMAL(38,4) AS d38,
  s AS s, encode(s) AS blob, s::ENUM('Rome', 'oslo', '', 'Über', 'a_b%c', 'Lima', 'rome', ' pad ', 'Paris', 'x') AS e,
  TIMESTAMP '2024-01-31 23:59:59.123456' + to_days(id::INTEGER * 29) + to_hours(id * 5) AS ts,
  (TIMESTAMP '2024-01-31 23:59:59' + to_days(id::INTEGER * 29))::TIMESTAMP_S AS ts_s,
  (TIMESTAMP '2024-01-31 23:59:59.123' + to_days(id::INTEGER * 29))::TIMESTAMP_MS AS ts_ms,
  (TIMESTAMP '2024-01-31 23:59:59.123456' + to_days(id::INTEGER * 29))::TIMESTAMP_NS AS ts_ns,
  (TIMESTAMP '2024-01-31 23:59:59.5' + to_days(id::INTEGER * 29))::TIMESTAMPTZ AS tstz,
  (DATE '2024-01-31' + id::INTEGER * 29) AS day,
  (TIME '23:59:59.25' - to_hours(id * 3)) AS t,
  CASE WHEN id % 4 = 0 THEN NULL WHEN id = 5 THEN [] ELSE [id::INTEGER, NULL, id::INTEGER * 2] END AS li
FROM (SELECT * FROM (VALUES
  (1, 1, 'Rome'), (2, 2, 'oslo'), (3, NULL, ''), (4, 3, NULL), (5, NULL, 'Über'),
  (6, 5, 'a_b%c'), (7, 7, 'Lima'), (8, 8, 'rome'), (9, NULL, ' pad '), (10, 10, 'Paris'),
  (11, 11, 'x'), (12, 2, 'Rome')) v(id, k, s)))
TO '{out}' (FORMAT parquet)
"""


def polars_frame():
    return pl.DataFrame({
        "id": pl.Series(range(1, N + 1), dtype=pl.Int64),
        "k": pl.Series([2, None, 3, 3, 5, None, 7, 9, 10, 10, 1, None], dtype=pl.Int32),
        "i8": pl.Series(col([-128, 127, 0, -1, 0, 5, 10, -10, 100, 1, 2, 3]), dtype=pl.Int8),
        "i16": pl.Series(col([-32768, 32767, 0, -1, 0, 5, 10, -10, 100, 1, 2, 3]),
                         dtype=pl.Int16),
        "i32": pl.Series(col([-2147483648, 2147483647, 0, -1, 0, 5, 10, -10, 100, 1, 2, 3]),
                         dtype=pl.Int32),
        "u8": pl.Series(col([0, 255, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]), dtype=pl.UInt8),
        "u16": pl.Series(col([0, 65535, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]), dtype=pl.UInt16),
        "u32": pl.Series(col([0, 4294967295, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]),
                         dtype=pl.UInt32),
        "u64": pl.Series(col([0, 18446744073709551615, 1, 2, 0, 5, 10, 10, 100, 1, 2, 3]),
                         dtype=pl.UInt64),
        "f32": pl.Series(col([1.5, -0.0, 0.1, -2.75, 0, 3.25, 1e10, -1e-3, 0.5, 2.0, 7.0,
                              1.5]), dtype=pl.Float32),
        "s": pl.Series(STRINGS, dtype=pl.String),
        "cat": pl.Series(STRINGS, dtype=pl.Categorical),
        "bin": pl.Series([None if s is None else s.encode() for s in STRINGS],
                         dtype=pl.Binary),
        "dec": pl.Series(col([D("-1.25"), D("1.25"), D("0.01"), D("-0.50"), 0, D("2.50"),
                              D("3.75"), D("-3.75"), D("100.00"), D("0.05"), D("3.33"),
                              D("1.25")]), dtype=pl.Decimal(10, 2)),
        "ts_ms": pl.Series(TS, dtype=pl.Datetime("ms")),
        "ts_us": pl.Series(TS, dtype=pl.Datetime("us")),
        "ts_ns": pl.Series(TS, dtype=pl.Datetime("ns")),
        "tz_us": pl.Series(TS, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC")
                   .dt.convert_time_zone("Europe/Berlin"),
        "day": pl.Series([None if t is None else t.date() for t in TS], dtype=pl.Date),
        "t": pl.Series([None if t is None else t.time() for t in TS], dtype=pl.Time),
        "li": pl.Series([[i, i * 10] if i % 3 else None for i in range(N)],
                        dtype=pl.List(pl.Int64)),
    })


def main():
    os.makedirs(OUT, exist_ok=True)
    pq.write_table(pyarrow_table(), os.path.join(OUT, "pyarrow.parquet"),
                   compression="none", write_statistics=False)
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    con.sql(DUCKDB_SQL.format(out=os.path.join(OUT, "duckdb.parquet")))
    con.close()
    polars_frame().write_parquet(os.path.join(OUT, "polars.parquet"), compression="uncompressed",
                                 statistics=False)


if __name__ == "__main__":
    main()
