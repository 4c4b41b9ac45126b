"""Workload s3_scan: hive_scan's dataset on an S3 server, the same selective query.

The hive-partitioned Parquet dataset of hive_scan (48 folders, --size-mb MB) is
uploaded to a bucket of a moto S3 server on 127.0.0.1 (test/servers/object_stores.py
starts it, and stops it afterwards). The query keeps one month of 48, then groups by
city: a reader that prunes folders before opening objects fetches 1/48 of the data.

Peers: Polars scan_parquet('s3://.../**/*.parquet', hive_partitioning = True,
storage_options = the server's endpoint and keys). DuckDB is not run: reading S3 needs
its httpfs extension, which it downloads from extensions.duckdb.org (not reachable
here), and the httpfs package on PyPI is built for DuckDB 1.4, not the pinned 2.0.
Timings include the local network round trips to moto, which is slower per request
than S3 but has no latency to speak of.
"""
import os
import sys

import hive_scan
from common import OUT, ROOT, Tool, python_tool

NAME = "s3_scan"
DEFAULT_SIZE_MB = hive_scan.DEFAULT_SIZE_MB


def _upload(fs, local, bucket):
    for dirpath, _, names in os.walk(local):
        for n in names:
            if n.startswith((".", "_")):
                continue
            path = os.path.join(dirpath, n)
            key = "%s/data/%s" % (bucket, os.path.relpath(path, local))
            with open(path, "rb") as src, fs.open_output_stream(key, compression=None) as dst:
                dst.write(src.read())


def run_workload(args):
    sys.path.insert(0, os.path.join(ROOT, "test", "servers"))
    import object_stores
    import run

    size = args.size_mb or DEFAULT_SIZE_MB
    local = hive_scan.prepare(size)
    with object_stores.moto_s3() as s3:
        bucket = s3.make_bucket("bench")
        _upload(s3.filesystem(), local["input"], bucket)
        saved = dict(os.environ)
        os.environ.update(s3.env)  # the tools' children inherit the server's settings
        try:
            ctx = dict(local, glob="s3://%s/data/**/*.parquet" % bucket, s3=s3)
            workload = type(sys)("s3_scan_run")
            workload.NAME = NAME
            workload.DEFAULT_SIZE_MB = size
            workload.prepare = lambda _size: ctx
            workload.tools = tools
            workload.verify = hive_scan.verify
            workload.same = hive_scan.same
            return run.run_workload(workload, args)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def tools(ctx, flowsql):
    src = ctx["glob"]
    s3 = ctx["s3"]
    out = lambda name: os.path.join(OUT, "%s_s3.csv" % name)  # noqa: E731
    options = {"aws_endpoint_url": s3.endpoint, "aws_access_key_id": s3.access_key,
               "aws_secret_access_key": s3.secret_key, "aws_region": s3.region,
               "aws_allow_http": "true"}
    return [
        Tool("flowsql", [flowsql, "--format", "csv", "-c",
                         hive_scan.SQL.format(src="'%s'" % src)],
             out("flowsql"), stdout_to=out("flowsql")),
        python_tool("polars",
                    "import polars as pl; "
                    "(pl.scan_parquet('%s', hive_partitioning=True, storage_options=%r)"
                    ".filter((pl.col('year') == 2023) & (pl.col('month') == 6))"
                    ".group_by('city')"
                    ".agg(pl.len().alias('n'), pl.col('amount').sum().alias('total'),"
                    " pl.col('qty').mean().alias('avg_qty'))"
                    ".sort('city').collect().write_csv('%s'))" % (src, options, out("polars")),
                    out("polars")),
    ]
