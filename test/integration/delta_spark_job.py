"""Spark with Delta Lake, for test/integration/test_delta_spark.py: run by the
python of .venv-delta-spark (test/requirements-delta-spark.txt), one SparkSession
per run, so that Spark is started once for all the tables it writes and once for
all it reads.

    python delta_spark_job.py --work DIR write OUT   # writes OUT/<table> and
        # OUT/manifest.json: per table, its versions and Spark's read of each
    python delta_spark_job.py --work DIR read SPEC   # the reads SPEC (JSON) asks for

A read is Spark's `spark.read.format("delta")` of a table, at a version
(versionAsOf) or the latest, with an optional WHERE, its rows ordered by `id`; it
is written as an Arrow IPC file, with the Arrow types Spark gives its types
(DataFrame.toArrow; TIMESTAMP is timestamp[us, tz=UTC], the session's zone) and
Spark's own schema (simpleString) in the schema metadata under b"spark_schema".
SPEC is a JSON list of {"path", "version" (or null), "where" (or null), "out"}.

The session is local_spark's (test/servers/local_spark.py: local[2], no UI, on
127.0.0.1, its files under --work) with Delta's jars from Maven Central, cached in
Spark's default Ivy folder (~/.ivy2.5.2) so later runs fetch nothing.
Exits non-zero, with Spark's error on stderr, when anything fails.
"""
import argparse
import json
import os
import pathlib
import sys

import pyarrow as pa

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from local_spark import local_spark  # noqa: E402

# Delta Lake's Spark artifact for Spark 4.2 (pyspark==4.2.0 in the requirements).
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
DELTA_CONF = {
    "spark.jars.packages": DELTA_PACKAGE,
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Delta rebuilds a version's state (and writes checkpoints) in this many tasks,
    # 50 by default: seconds per small read on two cores.
    "spark.databricks.delta.snapshotPartitions": "2",
}


def rows_sql(first, count):
    """A SELECT of ids first..first+count-1 with every column type the plain tables
    have, NULLs in each nullable column, and partition values `p` that need escaping
    in a folder name (and a NULL one)."""
    return f"""
        SELECT id,
               CAST(id * 7 AS INT) AS i,
               CASE WHEN id % 6 = 1 THEN NULL ELSE id / 4.0D END AS x,
               CASE WHEN id % 5 = 2 THEN NULL ELSE concat('v', id) END AS s,
               CASE WHEN id % 7 = 3 THEN NULL
                    ELSE CAST(id * 12.25 - 100 AS DECIMAL(12, 2)) END AS amount,
               CASE WHEN id % 8 = 4 THEN NULL
                    ELSE date_add(DATE '2024-02-27', CAST(id AS INT)) END AS d,
               CASE WHEN id % 9 = 5 THEN NULL
                    ELSE TIMESTAMP '2024-03-01 00:00:00.123456Z'
                         + make_interval(0, 0, 0, 0, CAST(id AS INT), 0, 0) END AS ts,
               CASE WHEN id % 10 = 6 THEN NULL
                    ELSE TIMESTAMP_NTZ '2024-03-01 12:00:00.5'
                         + make_interval(0, 0, 0, CAST(id AS INT), 0, 0, 0) END AS ntz,
               CASE WHEN id % 11 = 7 THEN NULL ELSE id % 2 = 0 END AS b,
               element_at(array('a/b=c', 'x y', 'ü', NULL, 'p%20'),
                          CAST(id % 5 + 1 AS INT)) AS p
        FROM range({first}, {first + count})"""


def write_plain(spark, path):
    """spark_plain, partitioned by p, a checkpoint every 2 versions: 0 creates it
    (ids 0..19), 1 and 2 append (20..29, 30..39; checkpoint at 2), 3 overwrites it
    (100..109), 4 appends (110..114; checkpoint at 4)."""
    table = f"delta.`{path}`"
    spark.sql(f"CREATE TABLE {table} USING delta PARTITIONED BY (p) "
              f"TBLPROPERTIES ('delta.checkpointInterval' = '2') AS {rows_sql(0, 20)}")
    spark.sql(rows_sql(20, 10)).write.format("delta").mode("append").save(path)
    spark.sql(rows_sql(30, 10)).write.format("delta").mode("append").save(path)
    spark.sql(rows_sql(100, 10)).write.format("delta").mode("overwrite").save(path)
    spark.sql(rows_sql(110, 5)).write.format("delta").mode("append").save(path)


def write_deletion_vectors(spark, path):
    """spark_dv, with deletion vectors: 0 creates it (ids 0..199 in 2 files), 1
    deletes every third id, 2 every fifth (the files' vectors replaced by larger
    ones), 3 updates every seventh (their old rows deleted by vector, the new ones
    in new files)."""
    table = f"delta.`{path}`"
    spark.sql(f"CREATE TABLE {table} USING delta "
              "TBLPROPERTIES ('delta.enableDeletionVectors' = 'true') AS "
              f"SELECT /*+ REPARTITION(2) */ * FROM ({rows_sql(0, 200)})")
    spark.sql(f"DELETE FROM {table} WHERE id % 3 = 0")
    spark.sql(f"DELETE FROM {table} WHERE id % 5 = 0")
    spark.sql(f"UPDATE {table} SET s = 'updated' WHERE id % 7 = 0")


def write_column_mapping(spark, path):
    """spark_colmap, column mapping by name, partitioned by p (a column before
    others): 0 creates it (ids 0..29, with a struct column st), 1 renames s to
    label, 2 appends (30..39), 3 renames the nested st.a to alpha and 4 the
    partition column p to part, 5 drops amount, 6 appends (40..44)."""
    table = f"delta.`{path}`"
    spark.sql(f"CREATE TABLE {table} USING delta PARTITIONED BY (p) "
              "TBLPROPERTIES ('delta.columnMapping.mode' = 'name', "
              "'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5') AS "
              "SELECT id, p, s, amount, named_struct('a', i, 'b', s) AS st "
              f"FROM ({rows_sql(0, 30)})")
    spark.sql(f"ALTER TABLE {table} RENAME COLUMN s TO label")
    spark.sql("SELECT id, p, s AS label, amount, named_struct('a', i, 'b', s) AS st "
              f"FROM ({rows_sql(30, 10)})").write.format("delta").mode("append").save(path)
    spark.sql(f"ALTER TABLE {table} RENAME COLUMN st.a TO alpha")
    spark.sql(f"ALTER TABLE {table} RENAME COLUMN p TO part")
    spark.sql(f"ALTER TABLE {table} DROP COLUMN amount")
    spark.sql("SELECT id, p AS part, s AS label, named_struct('alpha', i, 'b', s) AS st "
              f"FROM ({rows_sql(40, 5)})").write.format("delta").mode("append").save(path)


WRITERS = {"spark_plain": write_plain, "spark_dv": write_deletion_vectors,
           "spark_colmap": write_column_mapping}


def read(spark, path, version=None, where=None):
    """Spark's read of the table at `version` (None: the latest), as Arrow."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df = reader.load(path)
    if where:
        df = df.where(where)
    # Sorted here rather than by Spark, which would sample and shuffle for it.
    table = df.toArrow().sort_by("id")
    return table.replace_schema_metadata({"spark_schema": df.schema.simpleString()})


def save(table, out):
    with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def history(spark, path):
    """The table's commits, oldest first: [{"version", "operation", "timestamp"}],
    the timestamp as Spark's time travel reads it, in UTC to the millisecond."""
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").selectExpr(
        "version", "operation", "date_format(timestamp, 'yyyy-MM-dd HH:mm:ss.SSS') AS ts") \
        .orderBy("version").collect()
    return [{"version": r.version, "operation": r.operation, "timestamp": r.ts}
            for r in rows]


def write_all(spark, out):
    manifest = {}
    for name, writer in WRITERS.items():
        path = os.path.join(out, name)
        writer(spark, path)
        commits = history(spark, path)
        for commit in commits:
            commit["read"] = os.path.join(out, f"{name}.v{commit['version']}.arrow")
            save(read(spark, path, commit["version"]), commit["read"])
        manifest[name] = {"path": path, "commits": commits}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def read_all(spark, spec):
    with open(spec) as f:
        for item in json.load(f):
            save(read(spark, item["path"], item.get("version"), item.get("where")),
                 item["out"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True, help="Spark's own files (a fresh folder)")
    parser.add_argument("command", choices=["write", "read"])
    parser.add_argument("target", help="write: the output folder; read: the spec file")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    with local_spark(work, "", "flowsql-delta-interop", DELTA_CONF) as spark:
        if args.command == "write":
            os.makedirs(args.target, exist_ok=True)
            write_all(spark, args.target)
        else:
            read_all(spark, args.target)


if __name__ == "__main__":
    main()
