"""Delta table maintenance: OPTIMIZE (bin-packing, ZORDER BY), VACUUM (RETAIN n HOURS,
DRY RUN) and the sink's optimize_every, with delta-rs reading the result version by
version as the oracle."""

import json
import os
import time

import deltalake
import pyarrow as pa
import pytest

from conftest import run_flowsql
from test_delta import oracle, read

DAY = 24 * 3600


def csv_rows(r):
    lines = r.out.strip().splitlines()
    return [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:]]


def actions(path, version):
    with open(os.path.join(path, "_delta_log", f"{version:020d}.json")) as f:
        return [json.loads(line) for line in f]


def appended(tmp_path, commits, rows=1000):
    path = str(tmp_path / "t")
    for i in range(commits):
        r = run_flowsql("-c", f"SELECT range + {i * rows} AS id, 'p' || (range % 2) AS "
                              f"part, range * 1.5 AS x FROM range({rows}) "
                              f"INTO 'delta://{path}' WITH (mode = 'append', "
                              "partition_by = 'part')")
        assert r.code == 0, r
    return path


def test_optimize_compacts_each_partitions_small_files_in_one_commit(tmp_path):
    path = appended(tmp_path, 6)
    before = oracle(path)
    r = run_flowsql("--format", "csv", "-c", f"OPTIMIZE 'delta://{path}'")
    assert r.code == 0, r
    assert csv_rows(r) == [{"files_added": "2", "files_removed": "12",
                            "partitions_optimized": "2", "total_considered_files": "12",
                            "total_files_skipped": "0"}]
    dt = deltalake.DeltaTable(path)
    assert dt.version() == 6 and len(dt.file_uris()) == 2
    after = oracle(path)
    assert after.equals(before)
    assert oracle(path, 5).equals(before)  # the version before reads as it did
    commit = actions(path, 6)
    info = commit[0]["commitInfo"]
    assert info["operation"] == "OPTIMIZE" and info["engineInfo"] == "flowsql", info
    # No row changed: every add and remove says dataChange false.
    changes = [a[k]["dataChange"] for a in commit for k in ("add", "remove") if k in a]
    assert len(changes) == 14 and not any(changes), changes
    # Once compacted, there is nothing to do: no commit.
    r = run_flowsql("--format", "csv", "-c", f"OPTIMIZE 'delta://{path}'")
    assert r.code == 0 and csv_rows(r)[0]["files_added"] == "0", r
    assert deltalake.DeltaTable(path).version() == 6


def test_optimize_leaves_files_at_the_target_size_alone(tmp_path):
    path = appended(tmp_path, 3)
    r = run_flowsql("--format", "csv", "-c",
                    f"SELECT * FROM delta_optimize('{path}', target_size => '1KB')")
    assert r.code == 0, r
    assert csv_rows(r)[0]["files_added"] == "0", r.out
    assert csv_rows(r)[0]["total_files_skipped"] == "6", r.out
    assert deltalake.DeltaTable(path).version() == 2


def test_zorder_clusters_rows_so_statistics_skip_files(tmp_path):
    path = str(tmp_path / "t")
    # x and y each 0..99, the rows shuffled: every file holds every range at first.
    r = run_flowsql("-c", "SELECT x, y, x * 100 + y AS id FROM (SELECT range % 100 AS x, "
                          "range // 100 AS y FROM range(10000)) ORDER BY (x * 7919 + y * 104729) % 10007 "
                          f"INTO 'delta://{path}'")
    assert r.code == 0, r
    before = oracle(path)
    r = run_flowsql("--format", "csv", "-c", f"SELECT * FROM delta_optimize('{path}', "
                                             "zorder_by => 'x, y', target_size => '4KB')")
    assert r.code == 0, r
    assert csv_rows(r)[0]["files_removed"] == "1", r.out
    added = int(csv_rows(r)[0]["files_added"])
    assert added >= 8, r.out
    assert oracle(path).equals(before)
    r = run_flowsql("-c", f"EXPLAIN SELECT id FROM 'delta://{path}' WHERE x < 10 AND y < 10")
    line = next(l for l in r.out.splitlines() if "files=" in l)
    kept = int(line.split("files=")[1].split(" ")[0])
    assert kept <= added // 4, line
    r = run_flowsql("-c", f"OPTIMIZE 'delta://{path}' ZORDER BY (nope)")
    assert r.code != 0 and f"delta table {path} has no column 'nope' to Z-order by" \
        in r.err, r


def test_vacuum_deletes_only_what_no_version_in_the_retention_needs(tmp_path):
    path = str(tmp_path / "t")
    for sql in ["SELECT range AS id FROM range(10) INTO 'delta://{p}'",
                "SELECT range + 10 AS id FROM range(10) INTO 'delta://{p}' "
                "WITH (mode = 'overwrite')"]:
        r = run_flowsql("-c", sql.format(p=path))
        assert r.code == 0, r
    # What a failed write left: referenced by no version, eight days old.
    orphan = os.path.join(path, "part-00000-orphan.c000.snappy.parquet")
    with open(orphan, "wb") as f:
        f.write(b"PAR1")
    os.utime(orphan, (time.time() - 8 * DAY, time.time() - 8 * DAY))
    r = run_flowsql("--format", "csv", "-c", f"VACUUM 'delta://{path}' DRY RUN")
    assert r.code == 0 and csv_rows(r) == [{"path": os.path.basename(orphan)}], r
    assert os.path.exists(orphan)
    r = run_flowsql("--format", "csv", "-c", f"VACUUM 'delta://{path}'")
    assert r.code == 0 and csv_rows(r) == [{"path": os.path.basename(orphan)}], r
    assert not os.path.exists(orphan)
    # The overwritten version's file was removed now: kept, version 0 still reads.
    assert oracle(path, 0).column("id").to_pylist() == list(range(10))
    r = run_flowsql("-c", f"VACUUM 'delta://{path}' RETAIN 0 HOURS")
    assert r.code != 0, r
    assert (f"delta table {path}: RETAIN 0 HOURS is less than the table's retention of "
            f"168 hours (delta.deletedFileRetentionDuration): readers of the versions in "
            f"between would miss files; delta_vacuum('{path}', retain_hours => 0, "
            "enforce_retention => false) goes ahead") in r.err, r.err
    r = run_flowsql("--format", "csv", "-c", f"SELECT * FROM delta_vacuum('{path}', "
                    "retain_hours => 0, enforce_retention => false)")
    assert r.code == 0 and len(csv_rows(r)) == 1, r
    assert oracle(path).column("id").to_pylist() == list(range(10, 20))
    with pytest.raises(Exception):
        oracle(path, 0)


def test_optimize_every_compacts_a_pipelines_small_files(tmp_path):
    path = str(tmp_path / "t")
    r = run_flowsql("-c", "SELECT * FROM generate(rate => 4000) LIMIT 12000 "
                          f"INTO 'delta://{path}' WITH (mode = 'append', "
                          "optimize_every = 2)")
    assert r.code == 0, r
    dt = deltalake.DeltaTable(path)
    operations = [h["operation"] for h in reversed(dt.history())]
    assert "OPTIMIZE" in operations, operations
    assert operations.index("OPTIMIZE") == 2, operations  # after the second commit
    ids = pa.table(dt.to_pyarrow_dataset().to_table()).column("id").to_pylist()
    assert sorted(ids) == list(range(12000))
    got = read(f"SELECT count(*) AS n, count(DISTINCT id) AS d FROM 'delta://{path}'",
               tmp_path)
    assert got.to_pylist() == [{"n": 12000, "d": 12000}]


def test_vacuum_reads_the_tables_retention_and_refuses_one_it_does_not_understand(
        tmp_path):
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, pa.table({"id": [1]}), configuration={
        "delta.deletedFileRetentionDuration": "interval 1 day 12 hours"})
    r = run_flowsql("-c", f"VACUUM 'delta://{path}' RETAIN 24 HOURS")
    assert r.code != 0 and "RETAIN 24 HOURS is less than the table's retention of 36 " \
        "hours" in r.err, r.err
    r = run_flowsql("-c", f"VACUUM 'delta://{path}' RETAIN 36 HOURS")
    assert r.code == 0, r
    deltalake.DeltaTable(path).alter.set_table_properties(
        {"delta.deletedFileRetentionDuration": "interval soon"})
    r = run_flowsql("-c", f"VACUUM 'delta://{path}'")
    assert r.code != 0, r
    assert (f"delta table {path}: delta.deletedFileRetentionDuration 'interval soon' is "
            "not an interval ('interval 7 days')") in r.err, r.err


def test_a_checkpoint_carries_the_tombstones_vacuum_keeps(tmp_path):
    import pyarrow.parquet as pq
    path = str(tmp_path / "t")
    r = run_flowsql("-c", f"SELECT range AS id FROM range(5) INTO 'delta://{path}'")
    assert r.code == 0, r
    first = deltalake.DeltaTable(path).file_uris()[0]
    r = run_flowsql("-c", f"SELECT range + 5 AS id FROM range(5) INTO 'delta://{path}' "
                          "WITH (mode = 'overwrite')")
    assert r.code == 0, r
    for i in range(9):  # versions 2..10: the checkpoint at 10
        r = run_flowsql("-c", f"SELECT {100 + i}::BIGINT AS id INTO 'delta://{path}' "
                              "WITH (mode = 'append')")
        assert r.code == 0, r
    log = os.path.join(path, "_delta_log")
    checkpoint = pq.read_table(os.path.join(log, "%020d.checkpoint.parquet" % 10))
    removes = [r for r in checkpoint.column("remove").to_pylist() if r]
    assert [os.path.basename(r["path"]) for r in removes] == [os.path.basename(first)]
    assert removes[0]["dataChange"] is False and removes[0]["deletionTimestamp"] > 0
    # The commits before the checkpoint cleaned up, as a log retention would.
    for v in range(10):
        os.remove(os.path.join(log, "%020d.json" % v))
    r = run_flowsql("--format", "csv", "-c", f"VACUUM 'delta://{path}'")
    assert r.code == 0 and csv_rows(r) == [], r
    assert os.path.exists(first.replace("file://", ""))
    assert sorted(oracle(path).column("id").to_pylist()) == \
        [5, 6, 7, 8, 9] + list(range(100, 109))
