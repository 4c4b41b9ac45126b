"""Delta tables read by flowsql: tables that delta-rs (the `deltalake` package) wrote,
read version by version, with delta-rs's own read as the oracle (rows and types)."""

import datetime
import decimal
import json
import os

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_flowsql

SCHEMA = pa.schema([
    ("id", pa.int64()), ("part", pa.string()), ("amount", pa.decimal128(10, 2)),
    ("day", pa.date32()), ("at", pa.timestamp("us", tz="UTC")),
    ("local", pa.timestamp("us")), ("score", pa.float64()), ("ok", pa.bool_()),
    ("tags", pa.list_(pa.string())),
    ("owner", pa.struct([("id", pa.int32()), ("name", pa.string())])),
])


def rows(first, n, part=None):
    ids = list(range(first, first + n))
    return pa.table({
        "id": ids,
        "part": [part or ("a" if i % 2 else "b") for i in ids],
        "amount": [decimal.Decimal(i) / 4 for i in ids],
        "day": [datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 40) for i in ids],
        "at": [datetime.datetime(2024, 3, 1, tzinfo=datetime.timezone.utc)
               + datetime.timedelta(seconds=i) for i in ids],
        "local": [datetime.datetime(2024, 3, 1, 12) + datetime.timedelta(minutes=i)
                  for i in ids],
        "score": [None if i % 7 == 0 else i / 3 for i in ids],
        "ok": [i % 3 == 0 for i in ids],
        "tags": [[str(i)] * (i % 3) for i in ids],
        "owner": [{"id": i % 5, "name": f"o{i % 5}"} for i in ids],
    }, schema=SCHEMA)


@pytest.fixture
def table(tmp_path):
    """Version 0: ids 0..99 in partitions a and b; 1: ids 100..149 appended; 2: a
    checkpoint of version 1, then ids 150..159 appended; 3: an overwrite with ids
    1000..1009 in partition c."""
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, rows(0, 100), partition_by=["part"])
    deltalake.write_deltalake(path, rows(100, 50), mode="append")
    deltalake.DeltaTable(path).create_checkpoint()
    deltalake.write_deltalake(path, rows(150, 10), mode="append")
    deltalake.write_deltalake(path, rows(1000, 10, part="c"), mode="overwrite")
    return path


def read(sql, tmp_path, name="out.parquet"):
    out = tmp_path / name
    r = run_flowsql("-c", f"{sql} INTO '{out}'")
    assert r.code == 0, r
    return pq.read_table(out)


def oracle(path, version=None):
    t = deltalake.DeltaTable(path, version=version)
    return pa.table(t.to_pyarrow_dataset().to_table()).sort_by("id")


def same(got, want):
    # Parquet names a list's item 'element' and a UTC zone 'Etc/UTC' or 'UTC'.
    got = got.cast(want.schema)
    assert got.equals(want), (got.to_pylist()[:3], want.to_pylist()[:3])


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_each_version_reads_as_delta_rs_reads_it(table, tmp_path, version):
    got = read(f"SELECT * FROM read_delta('{table}', version => {version}) ORDER BY id",
               tmp_path)
    want = oracle(table, version)
    assert [f.name for f in got.schema] == [f.name for f in want.schema]
    same(got, want.select(got.schema.names))


def test_the_latest_version_by_uri(table, tmp_path):
    got = read(f"SELECT * FROM 'delta://{table}' ORDER BY id", tmp_path)
    assert got.column("id").to_pylist() == list(range(1000, 1010))
    assert set(got.column("part").to_pylist()) == {"c"}


def test_time_travel_by_timestamp(table, tmp_path):
    # Each commit's time is its file's modification time: set them one hour apart.
    log = os.path.join(table, "_delta_log")
    base = datetime.datetime(2025, 6, 1, tzinfo=datetime.timezone.utc).timestamp()
    for v in range(4):
        t = base + 3600 * v
        os.utime(os.path.join(log, f"{v:020d}.json"), (t, t))
    got = read(f"SELECT count(*) AS n FROM read_delta('{table}', "
               "timestamp => '2025-06-01 01:30:00')", tmp_path)
    assert got.column("n").to_pylist() == [150]  # version 1
    r = run_flowsql("-c", f"SELECT * FROM read_delta('{table}', "
                          "timestamp => '2025-05-31 23:00:00')")
    assert r.code != 0 and "no version at or before that time" in r.err, r


def test_a_filter_skips_files_by_partition_and_statistics(table, tmp_path):
    sql = f"SELECT id FROM read_delta('{table}', version => 2) WHERE part = 'a' AND id >= 150"
    r = run_flowsql("-c", "EXPLAIN " + sql)
    assert r.code == 0, r
    # Version 2's files: a and b of ids 0..99, a and b of 100..149, a and b of 150..159.
    assert "Scan delta " + table + " version=2 files=1 read, 5 skipped" in r.out, r.out
    got = read(sql + " ORDER BY id", tmp_path)
    assert got.column("id").to_pylist() == [i for i in range(150, 160) if i % 2]


def test_count_comes_from_the_log(table, tmp_path):
    got = read(f"SELECT count(*) AS n FROM read_delta('{table}', version => 2)", tmp_path)
    assert got.column("n").to_pylist() == [160]


# --- what flowsql refuses, by name ---------------------------------------------------

def commit(table, version, *actions):
    with open(os.path.join(table, "_delta_log", f"{version:020d}.json"), "w") as f:
        for a in actions:
            f.write(json.dumps(a) + "\n")


def test_a_folder_without_a_log_is_not_a_delta_table(tmp_path):
    r = run_flowsql("-c", f"SELECT * FROM 'delta://{tmp_path}'")
    assert r.code != 0, r
    assert f"{tmp_path} is not a Delta table: {tmp_path}/_delta_log holds no commit" \
        in r.err, r.err


def test_a_version_past_the_latest_is_named(table):
    r = run_flowsql("-c", f"SELECT * FROM read_delta('{table}', version => 9)")
    assert r.code != 0 and f"{table}: no version 9 (the latest is 3)" in r.err, r.err


@pytest.mark.parametrize("protocol,configuration,message", [
    ({"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["variantType"],
      "writerFeatures": ["variantType"]}, {},
     "needs the Delta reader feature 'variantType', which flowsql does not read"),
    ({"minReaderVersion": 4, "minWriterVersion": 7}, {},
     "needs Delta reader version 4; flowsql reads versions 1 to 3"),
    ({"minReaderVersion": 2, "minWriterVersion": 5}, {"delta.columnMapping.mode": "id"},
     "uses column mapping (mode 'id'), which flowsql does not read yet"),
])
def test_a_table_needing_what_flowsql_lacks_is_refused(table, protocol, configuration,
                                                       message):
    meta = deltalake.DeltaTable(table).metadata()
    commit(table, 4, {"protocol": protocol},
           {"metaData": {"id": meta.id, "format": {"provider": "parquet", "options": {}},
                         "schemaString": deltalake.DeltaTable(table).schema().to_json(),
                         "partitionColumns": ["part"], "configuration": configuration,
                         "createdTime": 0}})
    r = run_flowsql("-c", f"SELECT * FROM 'delta://{table}'")
    assert r.code != 0 and f"delta table {table} {message}" in r.err, r.err
    # The versions before stay readable.
    r = run_flowsql("-c", f"SELECT count(*) FROM read_delta('{table}', version => 3)")
    assert r.code == 0, r


# --- deletion vectors ------------------------------------------------------------------

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85(data):
    out = ""
    for i in range(0, len(data), 4):
        v = int.from_bytes(data[i:i + 4], "big")
        out += "".join(Z85[v // 85 ** k % 85] for k in range(4, -1, -1))
    return out


def bitmap_array(rows):
    """A RoaringBitmapArray, as PROTOCOL.md describes it, of pyroaring's bitmaps."""
    from pyroaring import BitMap
    highs = sorted({r >> 32 for r in rows})
    out = (1681511377).to_bytes(4, "little") + len(highs).to_bytes(8, "little")
    for h in highs:
        out += h.to_bytes(4, "little") + BitMap(r & 0xffffffff for r in rows
                                                if r >> 32 == h).serialize()
    return out


def delete_rows(path, rows, inline):
    """Version 1 of the one-file table at `path`: its rows `rows` deleted by a
    deletion vector, in a file ("u") or inline ("i")."""
    import uuid
    import zlib
    dt = deltalake.DeltaTable(path)
    [add] = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    data = bitmap_array(rows)
    if inline:
        while len(data) % 4:  # Z85 takes 4 bytes at a time; the size says the rest
            data += b"\0"
        dv = {"storageType": "i", "pathOrInlineDv": z85(data),
              "sizeInBytes": len(bitmap_array(rows)), "cardinality": len(rows)}
    else:
        u = uuid.uuid4()
        os.makedirs(os.path.join(path, "dv"))
        with open(os.path.join(path, "dv", f"deletion_vector_{u}.bin"), "wb") as f:
            f.write(b"\1" + len(data).to_bytes(4, "big") + data
                    + zlib.crc32(data).to_bytes(4, "big"))
        dv = {"storageType": "u", "pathOrInlineDv": "dv" + z85(u.bytes), "offset": 1,
              "sizeInBytes": len(data), "cardinality": len(rows)}
    meta = dt.metadata()
    file = {"path": add["path"], "partitionValues": {}, "size": add["size_bytes"],
            "modificationTime": 0, "dataChange": True}
    commit(path, 1,
           {"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                         "readerFeatures": ["deletionVectors", "timestampNtz"],
                         "writerFeatures": ["deletionVectors", "timestampNtz"]}},
           {"metaData": {"id": meta.id, "format": {"provider": "parquet", "options": {}},
                         "schemaString": dt.schema().to_json(), "partitionColumns": [],
                         "configuration": {"delta.enableDeletionVectors": "true"},
                         "createdTime": 0}},
           {"remove": {"path": add["path"], "dataChange": True, "deletionTimestamp": 0}},
           {"add": {**file, "stats": json.dumps({"numRecords": 5000}),
                    "deletionVector": dv}})


@pytest.mark.parametrize("inline", [False, True], ids=["file", "inline"])
def test_rows_a_deletion_vector_names_are_not_read(tmp_path, inline):
    path = str(tmp_path / "t")
    # 5000 rows in row groups of 1000: deletions in several batches.
    deltalake.write_deltalake(path, rows(0, 5000), writer_properties=deltalake.WriterProperties(
        max_row_group_size=1000))
    deleted = [0, 1, 999, 1000, 2500, 4999] + list(range(3000, 3100))
    delete_rows(path, deleted, inline)
    got = read(f"SELECT * FROM 'delta://{path}' ORDER BY id", tmp_path)
    assert got.column("id").to_pylist() == [i for i in range(5000) if i not in deleted]
    # delta-rs reads the same rows (its DataFusion reader knows deletion vectors).
    query = deltalake.QueryBuilder().register("t", deltalake.DeltaTable(path))
    same(got, pa.table(query.execute("SELECT * FROM t ORDER BY id").read_all()))
    count = read(f"SELECT count(*) AS n FROM 'delta://{path}'", tmp_path, "n.parquet")
    assert count.column("n").to_pylist() == [5000 - len(deleted)]
    # A filter does not skip row groups of a file with deletions: the rows stay counted.
    got = read(f"SELECT id FROM 'delta://{path}' WHERE id >= 2990 AND id < 3110 ORDER BY id",
               tmp_path, "f.parquet")
    assert got.column("id").to_pylist() == [i for i in range(2990, 3110) if i not in deleted]


def test_a_missing_commit_is_named(table):
    os.remove(os.path.join(table, "_delta_log", f"{0:020d}.json"))
    # Version 0 now has neither its commit nor a checkpoint; 2 and 3 have the checkpoint.
    r = run_flowsql("-c", f"SELECT * FROM read_delta('{table}', version => 0)")
    assert r.code != 0, r
    assert "version 0 cannot be read: its log lacks commit 0" in r.err, r.err
    r = run_flowsql("-c", f"SELECT count(*) FROM read_delta('{table}', version => 2)")
    assert r.code == 0, r


# --- column mapping ------------------------------------------------------------------

def test_column_mapping_reads_physical_names_as_logical_ones(tmp_path):
    # Made as Spark makes a table with delta.columnMapping.mode = name (and renamed
    # columns): the files name columns by their physical names.
    path = tmp_path / "t"
    (path / "_delta_log").mkdir(parents=True)
    (path / "region=eu").mkdir()
    physical = pa.table({
        "col-a1": pa.array([1, 2, 3], pa.int64()),
        "col-b2": ["x", None, "z"],
        "col-c3": pa.array([{"col-d4": 1.5}, {"col-d4": None}, None],
                           pa.struct([("col-d4", pa.float64())])),
    })
    pq.write_table(physical, path / "region=eu" / "part-0.parquet")

    def field(name, type_, physical, id_):
        return {"name": name, "type": type_, "nullable": True,
                "metadata": {"delta.columnMapping.id": id_,
                             "delta.columnMapping.physicalName": physical}}

    schema = {"type": "struct", "fields": [
        field("id", "long", "col-a1", 1), field("renamed", "string", "col-b2", 2),
        field("point", {"type": "struct", "fields": [field("x", "double", "col-d4", 4)]},
              "col-c3", 3),
        field("region", "string", "col-e5", 5)]}
    commit(str(path), 0,
           {"protocol": {"minReaderVersion": 2, "minWriterVersion": 5}},
           {"metaData": {"id": "cm", "format": {"provider": "parquet", "options": {}},
                         "schemaString": json.dumps(schema), "partitionColumns": ["region"],
                         "configuration": {"delta.columnMapping.mode": "name",
                                           "delta.columnMapping.maxColumnId": "5"},
                         "createdTime": 0}},
           {"add": {"path": "region=eu/part-0.parquet", "partitionValues": {"col-e5": "eu"},
                    "size": os.path.getsize(path / "region=eu" / "part-0.parquet"),
                    "modificationTime": 0, "dataChange": True,
                    "stats": json.dumps({"numRecords": 3, "minValues": {"col-a1": 1},
                                         "maxValues": {"col-a1": 3},
                                         "nullCount": {"col-a1": 0}})}})
    got = read(f"SELECT * FROM 'delta://{path}' WHERE id >= 2 ORDER BY id", tmp_path)
    assert got.to_pylist() == [
        {"id": 2, "renamed": None, "point": {"x": None}, "region": "eu"},
        {"id": 3, "renamed": "z", "point": None, "region": "eu"}]
    # delta-rs reads the same.
    query = deltalake.QueryBuilder().register("t", deltalake.DeltaTable(str(path)))
    want = pa.table(query.execute("SELECT * FROM t WHERE id >= 2 ORDER BY id").read_all())
    assert want.to_pylist() == got.to_pylist()
    r = run_flowsql("-c", f"EXPLAIN SELECT * FROM 'delta://{path}' WHERE id > 3")
    assert "files=0 read, 1 skipped" in r.out, r


def test_describe_history_lists_the_versions_as_delta_rs_does(table):
    r = run_flowsql("--format", "csv", "-c",
                    "SELECT version, operation, engineInfo, "
                    "json_extract_string(operationParameters, '$.mode') AS mode "
                    f"FROM delta_history('{table}')")
    assert r.code == 0, r
    want = [(h["version"], h["operation"], h["operationParameters"]["mode"])
            for h in deltalake.DeltaTable(table).history()]
    got = [tuple(line.split(",")) for line in r.out.splitlines()[1:]]
    assert [(int(v), op, mode) for v, op, _, mode in got] == want
    assert {engine for _, _, engine, _ in got} == {f"delta-rs:py-{deltalake.__version__}"}
    # The statement Delta's SQL has.
    r = run_flowsql("--format", "csv", "-c", f"DESCRIBE HISTORY 'delta://{table}'")
    assert r.code == 0, r
    assert r.out.splitlines()[0] == \
        "version,timestamp,operation,operationParameters,engineInfo", r.out
    assert [line.split(",")[0] for line in r.out.splitlines()[1:]] == ["3", "2", "1", "0"]


# --- writing -------------------------------------------------------------------------

def write_input(tmp_path, name, table):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table, path)
    return path


def test_flowsql_writes_what_delta_rs_reads_version_by_version(tmp_path):
    path = tmp_path / "w"
    first, more, other = (write_input(tmp_path, n, t) for n, t in
                          [("first", rows(0, 100)), ("more", rows(100, 50)),
                           ("other", rows(1000, 10, part="c"))])
    for sql in [f"SELECT * FROM '{first}' INTO 'delta://{path}' WITH (partition_by = 'part')",
                f"SELECT * FROM '{more}' INTO 'delta://{path}' WITH (mode = 'append')",
                f"SELECT * FROM '{other}' INTO 'delta://{path}' WITH (mode = 'overwrite')"]:
        r = run_flowsql("-c", sql)
        assert r.code == 0, r
    for version, want in [(0, rows(0, 100)), (1, rows(0, 150)), (2, rows(1000, 10, "c"))]:
        got = oracle(str(path), version)
        assert got.schema.names == SCHEMA.names
        same(got, want)
    dt = deltalake.DeltaTable(str(path))
    assert dt.metadata().partition_columns == ["part"]
    assert [h["operationParameters"]["mode"] for h in dt.history()] == \
        ["Overwrite", "Append", "ErrorIfExists"]
    assert {h.get("engineInfo") for h in dt.history()} == {"flowsql"}
    # Its statistics skip files, in flowsql and in delta-rs.
    r = run_flowsql("-c", f"EXPLAIN SELECT id FROM read_delta('{path}', version => 1) "
                          "WHERE id >= 120")
    assert "version=1 files=2 read, 2 skipped" in r.out, r.out


def test_a_write_into_an_existing_table_checks_mode_and_schema(tmp_path):
    path = tmp_path / "w"
    r = run_flowsql("-c", f"SELECT 1 AS id, 'x' AS name INTO 'delta://{path}'")
    assert r.code == 0, r
    r = run_flowsql("-c", f"SELECT 2 AS id, 'y' AS name INTO 'delta://{path}'")
    assert r.code != 0, r
    assert (f"delta table {path} already exists (version 0): use mode 'append' or "
            "'overwrite'") in r.err, r.err
    r = run_flowsql("-c", f"SELECT 2 AS id, 3 AS name INTO 'delta://{path}' "
                          "WITH (mode = 'append')")
    assert r.code != 0, r
    assert f"delta table {path}: column 'name' is string in the table but int32 in the " \
        "query" in r.err, r.err
    r = run_flowsql("-c", f"SELECT 2 AS id INTO 'delta://{path}' WITH (mode = 'append')")
    assert r.code != 0 and "has column 'name' (string), which the query lacks; " \
        "merge_schema = true writes it NULL" in r.err, r
    # Nothing was committed by the refused writes.
    assert deltalake.DeltaTable(str(path)).version() == 0


def test_concurrent_appenders_lose_no_rows_and_commit_contiguous_versions(tmp_path):
    import subprocess
    from conftest import flowsql_bin
    path = tmp_path / "w"
    procs = [subprocess.Popen(
        [flowsql_bin(), "--no-progress", "-c",
         f"SELECT range + {i * 1000} AS id FROM range(1000) "
         f"INTO 'delta://{path}' WITH (mode = 'append')"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    dt = deltalake.DeltaTable(str(path))
    assert dt.version() == 3
    assert sorted(h["version"] for h in dt.history()) == [0, 1, 2, 3]
    ids = pa.table(dt.to_pyarrow_dataset().to_table()).column("id").to_pylist()
    assert sorted(ids) == list(range(4000))


def test_every_tenth_commit_writes_a_checkpoint_delta_rs_reads(tmp_path):
    path = tmp_path / "w"
    for i in range(12):
        r = run_flowsql("-c", f"SELECT range + {i * 10} AS id, 'p' || ({i} % 2) AS part "
                              f"FROM range(10) INTO 'delta://{path}' "
                              "WITH (mode = 'append', partition_by = 'part')")
        assert r.code == 0, r
    log = path / "_delta_log"
    assert (log / f"{10:020d}.checkpoint.parquet").exists()
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == 10
    # The checkpoint alone stands for versions 0 to 10, for delta-rs and flowsql.
    for v in range(10):
        (log / f"{v:020d}.json").unlink()
    dt = deltalake.DeltaTable(str(path))
    assert dt.version() == 11
    ids = pa.table(dt.to_pyarrow_dataset().to_table()).column("id").to_pylist()
    assert sorted(ids) == list(range(120))
    got = read(f"SELECT id FROM 'delta://{path}' ORDER BY id", tmp_path)
    assert got.column("id").to_pylist() == list(range(120))
    got = read(f"SELECT count(*) AS n FROM read_delta('{path}', version => 10)", tmp_path,
               "n.parquet")
    assert got.column("n").to_pylist() == [110]


def test_a_table_with_what_flowsql_cannot_write_is_refused(table):
    meta = deltalake.DeltaTable(table).metadata()
    commit(table, 4, {"protocol": {"minReaderVersion": 1, "minWriterVersion": 7,
                                   "writerFeatures": ["generatedColumns"]}},
           {"metaData": {"id": meta.id, "format": {"provider": "parquet", "options": {}},
                         "schemaString": deltalake.DeltaTable(table).schema().to_json(),
                         "partitionColumns": ["part"], "configuration": {},
                         "createdTime": 0}})
    r = run_flowsql("-c", f"SELECT * FROM 'delta://{table}' INTO 'delta://{table}' "
                          "WITH (mode = 'append')")
    assert r.code != 0, r
    assert f"delta table {table} needs the writer feature 'generatedColumns', which " \
        "flowsql does not write" in r.err, r.err


def test_copy_to_a_delta_table(tmp_path):
    path = tmp_path / "c"
    for options in ["", " (mode 'append')"]:
        r = run_flowsql("-c", f"COPY (SELECT range AS id FROM range(5)) TO 'delta://{path}'"
                              + options)
        assert r.code == 0, r
    dt = deltalake.DeltaTable(str(path))
    assert sorted(pa.table(dt.to_pyarrow_dataset().to_table()).column("id").to_pylist()) \
        == sorted(list(range(5)) * 2)


def test_an_overwrite_removes_files_with_deletion_vectors_too(tmp_path):
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, rows(0, 50))
    delete_rows(path, [3, 4], inline=True)
    r = run_flowsql("-c", f"SELECT * FROM read_delta('{path}') WHERE id >= 40 "
                          f"INTO 'delta://{path}' WITH (mode = 'overwrite')")
    assert r.code == 0, r
    query = deltalake.QueryBuilder().register("t", deltalake.DeltaTable(path))
    got = pa.table(query.execute("SELECT id FROM t ORDER BY id").read_all())
    assert got.column("id").to_pylist() == list(range(40, 50))
    got = read(f"SELECT id FROM 'delta://{path}' ORDER BY id", tmp_path)
    assert got.column("id").to_pylist() == list(range(40, 50))


def test_merge_schema_adds_the_querys_new_columns_as_delta_rs_reads_them(tmp_path):
    path = str(tmp_path / "w")
    for sql in ["SELECT 1::BIGINT AS id, 'a' AS v INTO 'delta://{p}'",
                "SELECT 2::BIGINT AS id, 7 AS n INTO 'delta://{p}' "
                "WITH (mode = 'append', merge_schema = true)",
                "SELECT 3::BIGINT AS id, 'c' AS v, 8 AS n INTO 'delta://{p}' "
                "WITH (mode = 'append')"]:
        r = run_flowsql("-c", sql.format(p=path))
        assert r.code == 0, r
    want = pa.table({"id": [1, 2, 3], "v": ["a", None, "c"], "n": [None, 7, 8]},
                    schema=pa.schema([("id", pa.int64()), ("v", pa.string()),
                                      ("n", pa.int32())]))
    assert oracle(path).equals(want)
    assert read(f"SELECT * FROM 'delta://{path}' ORDER BY id", tmp_path).equals(want)
    assert oracle(path, 1).schema.names == ["id", "v", "n"]
    assert oracle(path, 0).schema.names == ["id", "v"]
    # Without it, a new column fails, naming it.
    r = run_flowsql("-c", f"SELECT 4::BIGINT AS id, 'd' AS v, 9 AS n, 1.5 AS score "
                          f"INTO 'delta://{path}' "
                          "WITH (mode = 'append')")
    assert r.code != 0, r
    assert (f"delta table {path} has no column 'score' (decimal128(2, 1)); merge_schema = "
            "true adds it") in r.err, r.err


def test_a_table_delta_rs_evolved_reads_version_by_version(tmp_path):
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, pa.table({"id": [1, 2], "v": ["a", "b"]}))
    deltalake.write_deltalake(path, pa.table({"id": [3], "v": ["c"], "n": [1.5]}),
                              mode="append", schema_mode="merge")
    deltalake.write_deltalake(path, pa.table({"id": [4], "n": [2.5]}), mode="append",
                              schema_mode="merge")
    for version in [0, 1, 2]:
        got = read(f"SELECT * FROM read_delta('{path}', version => {version}) "
                   "ORDER BY id", tmp_path, f"v{version}.parquet")
        want = oracle(path, version)
        assert got.schema == want.schema, (got.schema, want.schema)
        assert got.equals(want), (got.to_pylist(), want.to_pylist())
