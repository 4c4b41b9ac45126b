"""Workloads delta_append and delta_read: a Delta table written in 10 commits, then a
selective read of it, by flowsql and by delta-rs (the `deltalake` package).

Data: bench/data/delta_input_<n>m/part-0.parquet ... part-9.parquet, n million rows
together (--size-mb N: N million; default 10), the columns of glob_scan (id, city,
status, amount, qty).

  delta_append: each tool makes a new table of the 10 files, one append (one commit)
                per file: flowsql as 10 `flowsql -c "SELECT * FROM 'part-k.parquet'
                INTO 'delta://...' WITH (mode = 'append')"` commands (each process's
                start included), delta-rs as 10 write_deltalake(mode="append") calls
                in one Python process. Verified: the table's rows, sum(id) and
                version, read back by delta-rs.
  delta_merge:  100k rows merged by id into a copy of delta_read's table (Merge).
  delta_read:   the table delta-rs wrote (once, 10 commits) read with a filter on id
                that one file of 10 holds, grouped by city: flowsql `FROM
                'delta://...'`, delta-rs's QueryBuilder (DataFusion SQL). Files are
                skipped by the log's statistics.
"""
import os

import glob_scan
import ndjson_groupby
from common import DATA, OUT, Tool, ensure_dataset, log, python_tool

FILES = 10
DEFAULT_MILLION_ROWS = 10


def _input(million):
    rows = million * 1_000_000
    per_file = rows // FILES

    def fill(tmp):
        import duckdb
        con = duckdb.connect()
        for k in range(FILES):
            glob_scan._write(con, os.path.join(tmp, "part-%d.parquet" % k), k * per_file,
                             (k + 1) * per_file)

    path, rows, size = ensure_dataset("delta_input_%dm" % million, rows, fill)
    files = [os.path.join(path, "part-%d.parquet" % k) for k in range(FILES)]
    return path, files, rows, size


def _million(size_mb):
    return size_mb or DEFAULT_MILLION_ROWS


class Append:
    NAME = "delta_append"
    DEFAULT_SIZE_MB = DEFAULT_MILLION_ROWS

    @staticmethod
    def prepare(size_mb):
        path, files, rows, size = _input(_million(size_mb))
        return {"input": path, "files": files, "rows": rows, "bytes": size}

    @staticmethod
    def tools(ctx, flowsql):
        out = lambda name: os.path.join(OUT, "%s_delta_append" % name)  # noqa: E731
        appends = "; ".join(
            "%s --no-progress -c \"SELECT * FROM '%s' INTO 'delta://%s' "
            "WITH (mode = 'append')\" > /dev/null" % (flowsql, f, out("flowsql"))
            for f in ctx["files"])
        return [
            Tool("flowsql", ["sh", "-c", "rm -rf %s && %s" % (out("flowsql"), appends)],
                 out("flowsql")),
            python_tool("delta-rs",
                        "import shutil, deltalake, pyarrow.parquet as pq; "
                        "shutil.rmtree('%s', ignore_errors=True)\n"
                        "for f in %r: deltalake.write_deltalake('%s', pq.read_table(f), "
                        "mode='append')" % (out("delta-rs"), ctx["files"], out("delta-rs")),
                        out("delta-rs")),
        ]

    @staticmethod
    def verify(ctx, tool):
        import deltalake
        import pyarrow.compute as pc
        dt = deltalake.DeltaTable(tool.output)
        ids = dt.to_pyarrow_dataset().to_table(columns=["id"]).column("id")
        return {"version": dt.version(), "rows": len(ids), "sum_id": pc.sum(ids).as_py()}

    @staticmethod
    def same(a, b):
        return a == b


class Read:
    NAME = "delta_read"
    DEFAULT_SIZE_MB = DEFAULT_MILLION_ROWS

    SQL = ("SELECT city, count(*) AS n, sum(amount) AS total, avg(qty) AS avg_qty "
           "FROM {src} WHERE id >= {lo} AND id < {hi} GROUP BY city ORDER BY city")

    @staticmethod
    def prepare(size_mb):
        million = _million(size_mb)
        _, files, rows, _ = _input(million)
        table = os.path.join(DATA, "delta_table_%dm" % million)
        if not os.path.isdir(os.path.join(table, "_delta_log")):
            import deltalake
            import pyarrow.parquet as pq
            log("writing %s with delta-rs (%d commits)..." % (table, len(files)))
            for f in files:
                deltalake.write_deltalake(table, pq.read_table(f), mode="append")
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(table)
                   for f in fs)
        # The rows of the fifth file: the statistics skip the other nine.
        per_file = rows // FILES
        return {"input": table, "rows": rows, "bytes": size, "lo": 4 * per_file,
                "hi": 5 * per_file}

    @staticmethod
    def tools(ctx, flowsql):
        out = lambda name: os.path.join(OUT, "%s_delta_read.csv" % name)  # noqa: E731
        query = lambda src: Read.SQL.format(src=src, lo=ctx["lo"], hi=ctx["hi"])  # noqa
        return [
            Tool("flowsql", [flowsql, "--no-progress", "--format", "csv", "-c",
                             query("'delta://%s'" % ctx["input"])], out("flowsql"),
                 stdout_to=out("flowsql")),
            python_tool("delta-rs",
                        "import deltalake, pyarrow as pa, pyarrow.csv as pcsv; "
                        "q = deltalake.QueryBuilder().register('t', "
                        "deltalake.DeltaTable('%s')); "
                        "t = pa.table(q.execute(\"%s\").read_all()); "
                        "t = t.cast(pa.schema([(f.name, pa.string() if "
                        "pa.types.is_string_view(f.type) else f.type) for f in t.schema])); "
                        "pcsv.write_csv(t, '%s')"
                        % (ctx["input"], query("t"), out("delta-rs")), out("delta-rs")),
        ]

    @staticmethod
    def verify(ctx, tool):
        return ndjson_groupby.verify(ctx, tool)

    @staticmethod
    def same(a, b):
        return ndjson_groupby.same(a, b)


class Merge:
    """100k rows merged into the 10M-row table delta_read reads (a copy of it per run,
    made before the clock starts): updates of 50k ids of its last tenth and 50k new
    ids, as a CDC feed of recent changes brings them."""
    NAME = "delta_merge"
    DEFAULT_SIZE_MB = DEFAULT_MILLION_ROWS
    CHANGES = 100_000

    @staticmethod
    def prepare(size_mb):
        ctx = Read.prepare(size_mb)
        rows = ctx["rows"]
        path = os.path.join(DATA, "delta_merge_%d_into_%dm.parquet"
                            % (Merge.CHANGES, _million(size_mb)))
        if not os.path.exists(path):
            import duckdb
            half = Merge.CHANGES // 2
            # Every other id of the last tenth's last 100k (updates), then new ids.
            duckdb.connect().execute(
                "COPY (SELECT id, 'updated' AS city, 'merged' AS status, amount, qty "
                "FROM read_parquet('%s/*.parquet') WHERE id >= %d AND id %% 2 = 0 "
                "UNION ALL SELECT id, 'new' AS city, status, amount, qty FROM (%s)) "
                "TO '%s' (FORMAT parquet)"
                % (_input(_million(size_mb))[0], rows - 2 * half,
                   glob_scan._select(rows, rows + half), path))
        ctx["changes"] = path
        return ctx

    @staticmethod
    def tools(ctx, flowsql):
        import shutil
        out = lambda name: os.path.join(OUT, "%s_delta_merge" % name)  # noqa: E731
        copy = lambda name: lambda: shutil.copytree(ctx["input"], out(name))  # noqa
        return [
            Tool("flowsql", [flowsql, "--no-progress", "-c",
                             "SELECT * FROM '%s' INTO 'delta://%s' WITH (mode = 'merge', "
                             "merge_on = 'id')" % (ctx["changes"], out("flowsql"))],
                 out("flowsql"), before=copy("flowsql")),
            python_tool("delta-rs",
                        "import deltalake, pyarrow.parquet as pq\n"
                        "(deltalake.DeltaTable('%s').merge(pq.read_table('%s'), "
                        "'t.id = s.id', source_alias='s', target_alias='t')"
                        ".when_matched_update_all().when_not_matched_insert_all()"
                        ".execute())" % (out("delta-rs"), ctx["changes"]),
                        out("delta-rs"), before=copy("delta-rs")),
        ]

    @staticmethod
    def verify(ctx, tool):
        import deltalake
        import pyarrow.compute as pc
        dt = deltalake.DeltaTable(tool.output)
        t = dt.to_pyarrow_dataset().to_table(columns=["id", "city", "amount"])
        return {"version": dt.version(), "rows": t.num_rows,
                "sum_id": pc.sum(t["id"]).as_py(), "sum_amount": pc.sum(t["amount"]).as_py(),
                "updated": pc.sum(pc.equal(t["city"], "updated")).as_py()}

    @staticmethod
    def same(a, b):
        return a == b


WORKLOADS = [Append, Read, Merge]
