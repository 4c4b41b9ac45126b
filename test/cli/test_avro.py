"""Avro read and written (issue 7); fastavro is the oracle both ways."""

import csv
import datetime
import decimal
import io
import signal
import subprocess
import time
import uuid

import fastavro
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from conftest import REPO, flowsql_bin, run_flowsql

ORDERS = REPO / "test" / "data" / "orders.parquet"
UTC = datetime.timezone.utc

# Every type flowsql reads, with nulls, nesting and logical types.
SCHEMA = {"type": "record", "name": "event", "namespace": "test", "fields": [
    {"name": "i", "type": "int"},
    {"name": "l", "type": ["null", "long"]},
    {"name": "s", "type": ["string", "null"]},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "b", "type": "bytes"},
    {"name": "ok", "type": "boolean"},
    {"name": "n", "type": "null"},
    {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "a", "type": {"type": "array", "items": ["null", "long"]}},
    {"name": "m", "type": {"type": "map", "values": "string"}},
    {"name": "fx", "type": {"type": "fixed", "name": "Three", "size": 3}},
    {"name": "rec", "type": ["null", {"type": "record", "name": "Inner", "fields": [
        {"name": "x", "type": "int"}, {"name": "c", "type": "Color"},
        {"name": "tags", "type": {"type": "array", "items": "string"}}]}]},
    {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal",
                             "precision": 38, "scale": 10}},
    {"name": "decf", "type": ["null", {"type": "fixed", "name": "D9", "size": 9,
                                       "logicalType": "decimal", "precision": 20,
                                       "scale": 3}]},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "tmi", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "tmu", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "tsm", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "tsu", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    {"name": "ltm", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "ltu", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
]}

RECORDS = [
    {"i": 1, "l": None, "s": "héllo, \"quoted\"\n", "f": 1.5, "d": -2.25, "b": b"\x00\xff",
     "ok": True, "n": None, "e": "GREEN", "a": [1, None, 3], "m": {"k": "v", "w": ""},
     "fx": b"abc", "rec": {"x": 5, "c": "RED", "tags": ["p", "q"]},
     "dec": decimal.Decimal("-1234567890123456789012345678.0123456789"),
     "decf": decimal.Decimal("99999999999999999.999"),
     "day": datetime.date(2024, 1, 2), "tmi": datetime.time(1, 2, 3, 4000),
     "tmu": datetime.time(23, 59, 59, 999999),
     "tsm": datetime.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC),
     "tsu": datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
     "ltm": datetime.datetime(2024, 1, 2, 3, 4, 5, 123000),
     "ltu": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
     "u": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"i": -2147483648, "l": -9223372036854775808, "s": None, "f": 0.0, "d": 1e300,
     "b": b"", "ok": False, "n": None, "e": "RED", "a": [], "m": {}, "fx": b"\x00\x00\x00",
     "rec": None, "dec": decimal.Decimal("0E-10"), "decf": None,
     "day": datetime.date(1900, 3, 1), "tmi": datetime.time(0), "tmu": datetime.time(0),
     "tsm": datetime.datetime(1960, 6, 1, tzinfo=UTC), "tsu": None,
     "ltm": datetime.datetime(2100, 1, 1), "ltu": datetime.datetime(2000, 2, 29, 12),
     "u": uuid.UUID(int=0)},
]

# What flowsql's DESCRIBE calls each column.
SQL_TYPES = {
    "i": "INTEGER", "l": "BIGINT", "s": "VARCHAR", "f": "FLOAT", "d": "DOUBLE",
    "b": "BLOB", "ok": "BOOLEAN", "n": "NULL", "e": "VARCHAR", "a": "BIGINT[]",
    "m": "MAP(VARCHAR, VARCHAR)", "fx": "BLOB",
    "rec": "STRUCT(x INTEGER, c VARCHAR, tags VARCHAR[])", "dec": "DECIMAL(38,10)",
    "decf": "DECIMAL(20,3)", "day": "DATE", "tmi": "TIME", "tmu": "TIME",
    "tsm": "TIMESTAMP WITH TIME ZONE", "tsu": "TIMESTAMP WITH TIME ZONE",
    "ltm": "TIMESTAMP", "ltu": "TIMESTAMP", "u": "VARCHAR",
}


def write_fastavro(path, records=RECORDS, schema=SCHEMA, codec="null", **kw):
    with open(path, "wb") as f:
        fastavro.writer(f, fastavro.parse_schema(schema), records, codec=codec, **kw)


def read_fastavro(path):
    with open(path, "rb") as f:
        r = fastavro.reader(f)
        return r.writer_schema, r.metadata, list(r)


def comparable(value):
    """A value as fastavro and pyarrow both give it: uuids as text."""
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def as_ipc(flowsql, tmp_path, query):
    """Runs `query` INTO an Arrow IPC file and returns its table (types as flowsql's)."""
    out = tmp_path / "out.arrow"
    if out.exists():
        out.unlink()
    r = flowsql("-c", f"{query} INTO '{out}'")
    assert r.code == 0, r
    return ipc.open_file(str(out)).read_all()


def rows(table):
    """The rows of `table` as Python values, maps as dicts (as fastavro gives them)."""
    return table.to_pylist(maps_as_pydicts="strict")


def test_every_type_written_by_fastavro_reads_as_fastavro_reads_it(flowsql, tmp_path):
    path = tmp_path / "all.avro"
    write_fastavro(path, codec="deflate")
    _, _, expected = read_fastavro(path)
    table = as_ipc(flowsql, tmp_path, f"SELECT * FROM '{path}'")
    assert table.column_names == [f["name"] for f in SCHEMA["fields"]]
    got = rows(table)
    for want, row in zip(expected, got):
        for name in want:
            assert comparable(row[name]) == comparable(want[name]), name
    # Decimals exactly, with their scale.
    assert got[0]["dec"].as_tuple() == expected[0]["dec"].as_tuple()
    r = flowsql("--format", "csv", "-c", f"DESCRIBE '{path}'")
    assert r.code == 0, r
    types = {row[0]: row[1] for row in csv.reader(io.StringIO(r.out))}
    assert {name: types[name] for name in SQL_TYPES} == SQL_TYPES


def test_arrow_types_of_logical_types(flowsql, tmp_path):
    path = tmp_path / "all.avro"
    write_fastavro(path)
    r = flowsql("--format", "csv", "-c",
                "SELECT typeof(tmi), typeof(tsm), typeof(ltm), typeof(dec), typeof(decf), "
                f"tmi::VARCHAR, tsm::VARCHAR, ltu::VARCHAR FROM read_avro('{path}') LIMIT 1")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == (
        'TIME,TIMESTAMP WITH TIME ZONE,TIMESTAMP,"DECIMAL(38,10)","DECIMAL(20,3)",'
        "01:02:03.004,2024-01-02 03:04:05.123+00,1969-12-31 23:59:59.999999")


def test_every_type_written_by_flowsql_reads_back_in_fastavro(flowsql, tmp_path):
    source = tmp_path / "all.avro"
    write_fastavro(source)
    target = tmp_path / "back.avro"
    r = flowsql("-c", f"SELECT * FROM '{source}' INTO '{target}'")
    assert r.code == 0, r
    schema, metadata, got = read_fastavro(target)
    assert metadata["avro.codec"] == "null"
    assert schema["name"] == "flowsql_record"
    fields = {f["name"]: f for f in schema["fields"]}
    # Nullable columns are unions with null first, defaulting to null.
    assert fields["i"]["type"] == ["null", "int"]
    assert fields["i"]["default"] is None
    assert fields["n"]["type"] == "null"
    assert fields["dec"]["type"][1] == {"type": "bytes", "logicalType": "decimal",
                                        "precision": 38, "scale": 10}
    assert fields["day"]["type"][1] == {"type": "int", "logicalType": "date"}
    assert fields["tsu"]["type"][1] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["ltu"]["type"][1] == {"type": "long",
                                        "logicalType": "local-timestamp-micros"}
    assert fields["a"]["type"][1] == {"type": "array", "items": ["null", "long"]}
    assert fields["m"]["type"][1] == {"type": "map", "values": "string"}
    assert fields["fx"]["type"][1] == {"type": "fixed", "name": "fx", "size": 3}
    inner = fields["rec"]["type"][1]
    assert inner["type"] == "record"
    assert [(f["name"], f["type"]) for f in inner["fields"]] == [
        ("x", "int"), ("c", "string"), ("tags", {"type": "array", "items": "string"})]
    for want, row in zip(RECORDS, got):
        for name in want:
            assert comparable(row[name]) == comparable(want[name]), name


@pytest.mark.parametrize("codec,avro_codec", [
    ("none", "null"), ("null", "null"), ("deflate", "deflate"), ("gzip", "deflate"),
    ("snappy", "snappy"), ("zstd", "zstandard"), ("bz2", "bzip2")])
def test_codecs_written_and_read(flowsql, tmp_path, codec, avro_codec):
    target = tmp_path / "o.avro"
    r = flowsql("-c", f"COPY (SELECT * FROM '{ORDERS}') TO '{target}' "
                f"(FORMAT avro, COMPRESSION '{codec}')")
    assert r.code == 0, r
    schema, metadata, got = read_fastavro(target)
    assert metadata["avro.codec"] == avro_codec
    expected = pq.read_table(ORDERS).to_pylist()
    # A timestamp without time zone is a local-timestamp.
    assert [f["type"] for f in schema["fields"]
            if f["name"] == "ordered_at"] == [["null", {"type": "long",
                                                       "logicalType":
                                                       "local-timestamp-micros"}]]
    assert got == expected
    # fastavro's own file with this codec reads back in flowsql.
    theirs = tmp_path / "theirs.avro"
    write_fastavro(theirs, codec=avro_codec)
    table = as_ipc(flowsql, tmp_path, f"SELECT i, s, dec FROM '{theirs}'")
    assert rows(table) == [{k: rec[k] for k in ("i", "s", "dec")}
                                 for rec in RECORDS]


def test_unknown_codec_names_the_option(flowsql, tmp_path):
    r = flowsql("-c", f"COPY (SELECT 1 AS x) TO '{tmp_path}/x.avro' "
                "(FORMAT avro, COMPRESSION 'xz')")
    assert r.code != 0
    assert "option 'compression'" in r.err.lower() and "'xz'" in r.err, r.err
    r = flowsql("-c", f"SELECT 1 AS x INTO '{tmp_path}/x.avro' WITH (compression = 'lz4')")
    assert r.code != 0
    assert "option 'compression': avro files cannot use 'lz4'" in r.err, r.err


def test_globs_many_files_as_one_table_with_projection(flowsql, tmp_path):
    d = tmp_path / "events"
    d.mkdir()
    schema = {"type": "record", "name": "e", "fields": [
        {"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}
    total = 0
    for k, n in enumerate([1000, 1, 2500]):
        rows = [{"id": total + i, "name": f"n{total + i}"} for i in range(n)]
        write_fastavro(d / f"part{k}.avro", rows, schema,
                       codec=["null", "deflate", "snappy"][k], sync_interval=1000)
        total += n
    # A file with one more column: read by name, NULL where missing.
    wide = {"type": "record", "name": "e", "fields": schema["fields"] + [
        {"name": "extra", "type": ["null", "double"]}]}
    write_fastavro(d / "part9.avro", [{"id": total, "name": "last", "extra": 0.5}], wide)
    r = flowsql("--format", "csv", "-c",
                f"SELECT count(*), sum(id), count(extra), max(name) FROM '{d}/*.avro'")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == f"{total + 1},{total * (total + 1) // 2},1,n999"
    table = as_ipc(flowsql, tmp_path, f"SELECT name FROM '{d}/*.avro' WHERE id >= {total - 1}")
    assert sorted(table.column("name").to_pylist()) == ["last", f"n{total - 1}"]
    r = flowsql("--format", "csv", "-c", f"EXPLAIN SELECT name FROM '{d}/*.avro'")
    assert "columns=[name]" in r.out, r.out
    # The folder itself reads the same.
    r = flowsql("--format", "csv", "-c", f"SELECT count(*) FROM '{d}'")
    assert r.out.splitlines()[1] == str(total + 1), r


def test_directory_sink_writes_part_files_per_epoch_fastavro_reads(tmp_path):
    out = tmp_path / "out"
    sql = (f"SELECT id, ts, value, category FROM generate(rate => 20000) INTO '{out}/' "
           "WITH (format = 'avro', flush_rows = 1000, compression = 'snappy')")
    parts = lambda: sorted(p for p in out.glob("part-*"))  # noqa: E731
    proc = subprocess.Popen([flowsql_bin(), "--no-progress", "-c", sql],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(parts()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert len(parts()) >= 3 and all(p.suffix == ".avro" for p in parts())
    ids = []
    for p in parts():
        schema, metadata, rows = read_fastavro(p)
        assert metadata["avro.codec"] == "snappy"
        assert [f["name"] for f in schema["fields"]] == ["id", "ts", "value", "category"]
        ids += [row["id"] for row in rows]
    # Every committed row once, none lost.
    assert sorted(ids) == list(range(len(ids)))
    r = run_flowsql("--format", "csv", "-c", f"SELECT count(*) FROM '{out}'")
    assert r.out.splitlines()[1] == str(len(ids)), r


def test_written_rows_append_and_read_back(flowsql, tmp_path):
    target = tmp_path / "a.avro"
    for _ in range(2):
        r = flowsql("-c", f"SELECT id, city FROM '{ORDERS}' INTO '{target}' "
                    "WITH (mode = 'append')")
        assert r.code == 0, r
    _, _, rows = read_fastavro(target)
    assert len(rows) == 400


def test_columns_avro_cannot_name_or_hold_are_errors(flowsql, tmp_path):
    r = flowsql("-c", f"SELECT count(*) FROM '{ORDERS}' INTO '{tmp_path}/c.avro'")
    assert r.code != 0
    assert "column 'count_star()': not a valid Avro name" in r.err, r.err
    r = flowsql("-c", f"SELECT INTERVAL 1 DAY AS i INTO '{tmp_path}/i.avro'")
    assert r.code != 0
    assert "column 'i': Avro cannot hold the type" in r.err, r.err
    assert not list(tmp_path.glob("*.avro")) and not list(tmp_path.glob(".*"))


def test_bad_files_are_errors_naming_the_file(flowsql, tmp_path):
    good = tmp_path / "good.avro"
    rows = [{"id": i, "name": "x" * 20} for i in range(5000)]
    schema = {"type": "record", "name": "e", "fields": [
        {"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}
    write_fastavro(good, rows, schema, codec="deflate", sync_interval=4000)
    data = good.read_bytes()

    def expect_error(name, content, *needles, query="SELECT count(*), max(name) FROM"):
        path = tmp_path / name
        path.write_bytes(content)
        r = flowsql("-c", f"{query} '{path}'")
        assert r.code == 1, r  # an error, not a crash
        assert f"{path}:" in r.err, r.err
        for needle in needles:
            assert needle in r.err, r.err

    expect_error("not.avro", b"PAR1 this is no avro", "not an Avro file")
    expect_error("empty.avro", b"", "not an Avro file")
    expect_error("header.avro", data[:40], "ends early")
    expect_error("cut.avro", data[:len(data) * 2 // 3], "block ", "ends early")
    # A flipped byte inside a deflate block, and one inside an uncompressed block.
    broken = bytearray(data)
    broken[len(data) // 2] ^= 0xff
    expect_error("flipped.avro", bytes(broken), "block ")
    plain = tmp_path / "plain.avro"
    write_fastavro(plain, rows, schema)
    raw = bytearray(plain.read_bytes())
    at = raw.index(b"x" * 20, len(raw) // 2) - 1  # the length of a name
    raw[at] = 0x7f  # -64: a negative length
    expect_error("negative.avro", bytes(raw), "block ", "record ")
    # Sync markers must match.
    raw = bytearray(plain.read_bytes())
    raw[-3] ^= 1
    expect_error("sync.avro", bytes(raw), "sync marker")
    # A block that claims more records than its bytes can hold (here of no size).
    nulls = tmp_path / "nulls.avro"
    write_fastavro(nulls, [{"n": None}] * 3,
                   {"type": "record", "name": "r", "fields": [{"name": "n", "type": "null"}]})
    raw = bytearray(nulls.read_bytes())
    at = raw.index(raw[-16:]) + 16  # the first block, after the header's sync marker
    assert raw[at] == 6  # 3 records
    raw[at:at + 1] = bytes([0xfe, 0xff, 0xff, 0xff, 0x0f])  # 2^31 - 1 records
    expect_error("claims.avro", bytes(raw), "block 0", "claims 2147483647 records in 0 bytes",
                 query="SELECT count(*) FROM")
    # An array block claiming 2^31 - 1 nulls, decoded or skipped.
    arrays = tmp_path / "arrays.avro"
    write_fastavro(arrays, [{"a": [None] * 3, "id": 1}], {
        "type": "record", "name": "r", "fields": [
            {"name": "a", "type": {"type": "array", "items": "null"}},
            {"name": "id", "type": "long"}]})
    raw = bytearray(arrays.read_bytes())
    at = raw.index(raw[-16:]) + 16
    assert raw[at:at + 3] == bytes([2, 6, 6])  # 1 record of 3 bytes: 3 items, 0, id
    raw[at + 1] += 8  # 4 more bytes
    raw[at + 2:at + 3] = bytes([0xfe, 0xff, 0xff, 0xff, 0x0f])
    for query in ("SELECT len(a) FROM", "SELECT id FROM"):
        expect_error("arrays.avro", bytes(raw), "record 0",
                     "an array or map block of 2147483647 items", query=query)
    # Unions of two types name the field.
    union = tmp_path / "union.avro"
    write_fastavro(union, [{"id": 1, "u": "a"}], {"type": "record", "name": "r", "fields": [
        {"name": "id", "type": "int"}, {"name": "u", "type": ["null", "int", "string"]}]})
    r = flowsql("-c", f"SELECT id FROM '{union}'")
    assert r.code == 1, r
    assert (f"{union}: field 'u': the union [null, int, string] cannot be read: only a "
            "union of null and one other type can") in r.err, r.err
    # A codec flowsql does not read.
    xz = tmp_path / "xz.avro"
    write_fastavro(xz, rows[:10], schema, codec="xz")
    r = flowsql("-c", f"SELECT count(*) FROM '{xz}'")
    assert r.code == 1, r
    assert f"{xz}: the codec 'xz' is not supported" in r.err, r.err
