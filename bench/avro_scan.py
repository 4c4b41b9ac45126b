"""Workload avro_scan: aggregates over every column of one Avro file (issue 7).

Data: bench/data/avro_scan_<rows>/events.avro, written by fastavro (deflate, its
default block size): id long, name string, amount ["null", double] (every tenth
NULL), qty int, ok boolean, ts timestamp-micros. The values are arithmetic on the
row number, so the bytes are the same on every run. --size-mb gives the rows in
millions (default 1: 1,000,000 rows, about 13 MB).

Peers: fastavro (its C reader, records as dicts, summed in Python) and Polars
read_avro. DuckDB's avro extension is downloaded at run time, which this machine
cannot do. Each tool prints one CSV row; the rows must match before a time is
reported.
"""
import csv
import os

from common import OUT, Tool, ensure_dataset, python_tool

NAME = "avro_scan"
DEFAULT_SIZE_MB = 1  # millions of rows

SCHEMA = {"type": "record", "name": "event", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "amount", "type": ["null", "double"]},
    {"name": "qty", "type": "int"},
    {"name": "ok", "type": "boolean"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}
CITIES = ["Berlin", "Paris", "Lisbon", "Oslo", "Rome", "Madrid", "Vienna", "Prague"]
BASE_US = 1700000000000000

SQL = ("SELECT count(*) AS n, sum(id) AS id, max(name) AS name, sum(amount) AS amount, "
       "sum(qty) AS qty, count_if(ok) AS ok, epoch_us(max(ts)) AS ts FROM '{src}'")

FASTAVRO = """
import fastavro, datetime
n = i = q = ok = 0; a = 0.0; name = ts = None
with open({src!r}, "rb") as f:
    for r in fastavro.reader(f):
        n += 1; i += r["id"]; q += r["qty"]; ok += r["ok"]
        if r["amount"] is not None: a += r["amount"]
        if name is None or r["name"] > name: name = r["name"]
        if ts is None or r["ts"] > ts: ts = r["ts"]
epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
us = (ts - epoch) // datetime.timedelta(microseconds=1)
with open({out!r}, "w") as f:
    f.write("n,id,name,amount,qty,ok,ts\\n%d,%d,%s,%r,%d,%d,%d\\n" % (n, i, name, a, q, ok, us))
"""

POLARS = """
import polars as pl
df = pl.read_avro({src!r})
df.select(pl.len().alias("n"), pl.col("id").sum(), pl.col("name").max(),
          pl.col("amount").sum(), pl.col("qty").sum(), pl.col("ok").sum(),
          pl.col("ts").max().dt.epoch("us")).write_csv({out!r})
"""


def _records(rows):
    for i in range(rows):
        yield {"id": i, "name": "%s-%d" % (CITIES[i % 8], i % 1000),
               "amount": None if i % 10 == 0 else (i % 997) * 1.25, "qty": i % 50,
               "ok": i % 3 == 0, "ts": BASE_US + i * 1000}


def prepare(size):
    import fastavro
    rows = int(size * 1000000)

    def fill(tmp):
        with open(os.path.join(tmp, "events.avro"), "wb") as f:
            fastavro.writer(f, fastavro.parse_schema(SCHEMA), _records(rows),
                            codec="deflate")

    path, rows, size = ensure_dataset("avro_scan_%d" % rows, rows, fill)
    return {"input": os.path.join(path, "events.avro"), "rows": rows, "bytes": size}


def tools(ctx, flowsql):
    src = ctx["input"]
    out = lambda name: os.path.join(OUT, "%s_avro.csv" % name)  # noqa: E731
    return [
        Tool("flowsql", [flowsql, "--format", "csv", "-c", SQL.format(src=src)],
             out("flowsql"), stdout_to=out("flowsql")),
        python_tool("fastavro", FASTAVRO.format(src=src, out=out("fastavro")),
                    out("fastavro")),
        python_tool("polars", POLARS.format(src=src, out=out("polars")), out("polars")),
    ]


def verify(ctx, tool):
    with open(tool.output, newline="") as f:
        row = list(csv.DictReader(f))[0]
    return {"rows": 1, "checksum": {k: row[k] for k in ("n", "id", "name", "qty", "ok", "ts")},
            "amount": float(row["amount"])}


def same(a, b):
    return a["checksum"] == b["checksum"] and \
        abs(a["amount"] - b["amount"]) <= 1e-9 * max(1.0, abs(a["amount"]))
