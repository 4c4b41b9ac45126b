"""CSV and JSON through gzip, zstd, bzip2 and LZ4 frames: written by flowsql and read
back by pyarrow (the oracle) and by flowsql; by extension or by the option."""

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pytest

from conftest import REPO

ORDERS = REPO / "test" / "data" / "orders.parquet"
CODECS = [("gz", "gzip"), ("zst", "zstd"), ("bz2", "bz2"), ("lz4", "lz4")]


def read_with_pyarrow(path, codec, fmt):
    stream = pa.input_stream(str(path), compression=codec)
    return pacsv.read_csv(stream) if fmt == "csv" else pajson.read_json(stream)


@pytest.mark.parametrize("ext,codec", CODECS)
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_written_by_extension_reads_back_in_pyarrow_and_flowsql(flowsql, tmp_path, ext,
                                                                codec, fmt):
    target = tmp_path / f"o.{fmt}.{ext}"
    r = flowsql("-c", f"SELECT id, city, qty FROM '{ORDERS}' INTO '{target}'")
    assert r.code == 0, r
    table = read_with_pyarrow(target, codec, fmt)
    assert table.num_rows == 200
    assert sum(v for v in table.column("qty").to_pylist() if v is not None) == 1114
    r = flowsql("--format", "csv", "-c", f"SELECT count(*), sum(qty) FROM '{target}'")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "200,1114"


@pytest.mark.parametrize("ext,codec", CODECS)
def test_the_option_names_the_codec_of_a_file_without_its_extension(flowsql, tmp_path,
                                                                      ext, codec):
    target = tmp_path / "o.data"
    r = flowsql("-c", f"SELECT id, qty FROM '{ORDERS}' INTO '{target}' "
                f"WITH (format = 'csv', compression = '{codec}')")
    assert r.code == 0, r
    assert read_with_pyarrow(target, codec, "csv").num_rows == 200
    r = flowsql("--format", "csv", "-c",
                f"SELECT sum(qty) FROM '{target}' WITH (format = 'csv', compression = '{codec}')")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "1114"


def test_a_file_pyarrow_compressed_is_read(flowsql, tmp_path):
    path = tmp_path / "x.json.zst"
    with pa.output_stream(str(path), compression="zstd") as out:
        out.write(b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    r = flowsql("--format", "csv", "-c", f"SELECT sum(a), max(b) FROM '{path}'")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "3,y"


@pytest.mark.parametrize("name,error", [
    ("bad.csv.zst", "ZSTD decompress failed"),
    ("bad.csv.gz", "zlib inflate failed: incorrect header check"),
    ("bad.json.gz", "zlib inflate failed: incorrect header check"),
    ("bad.ndjson.gz", "zlib inflate failed: incorrect header check"),
])
def test_a_corrupt_compressed_file_is_an_error_naming_it(flowsql, tmp_path, name, error):
    path = tmp_path / name
    path.write_bytes(b"this is not compressed at all\n")
    r = flowsql("-c", f"SELECT * FROM '{path}'")
    assert r.code != 0
    assert f"Error: {path}: {error}" in r.err, r.err


def test_an_unknown_codec_is_refused(flowsql, tmp_path):
    r = flowsql("-c", f"SELECT * FROM '{ORDERS}' INTO '{tmp_path / 'o.csv'}' "
                "WITH (compression = 'brotli')")
    assert r.code != 0
    assert "csv files cannot use 'brotli'" in r.err, r.err
    r = flowsql("-c", f"SELECT * FROM '{tmp_path / 'o.csv'}' WITH (compression = 'rar')")
    assert r.code != 0
    assert "compression" in r.err and "rar" in r.err, r.err


def hadoop_snappy(data, block=100_000, chunk=30_000):
    """Hadoop's block framing, as Spark writes text with codec 'snappy': per block, its
    length, then chunks of [compressed length][raw Snappy] (several per block here)."""
    import struct
    import cramjam
    out = b""
    for b in range(0, len(data), block):
        piece = data[b:b + block]
        out += struct.pack(">I", len(piece))
        for c in range(0, len(piece), chunk):
            raw = bytes(cramjam.snappy.compress_raw(piece[c:c + chunk]))
            out += struct.pack(">I", len(raw)) + raw
    return out


def test_snappy_in_both_framings_reads_and_writes(flowsql, tmp_path):
    import cramjam
    lines = "id,name\n" + "".join("%d,name %d\n" % (i, i) for i in range(20000))
    (tmp_path / "h.csv.snappy").write_bytes(hadoop_snappy(lines.encode()))
    (tmp_path / "f.csv.sz").write_bytes(bytes(cramjam.snappy.compress(lines.encode())))
    for name in ("h.csv.snappy", "f.csv.sz"):
        r = flowsql("--format", "csv", "-c",
                    "SELECT count(*) AS n, sum(id) AS s, max(name) AS m FROM '%s'"
                    % (tmp_path / name))
        assert r.code == 0, r.err
        assert r.out.splitlines() == ["n,s,m", "20000,199990000,name 9999"], name
    # Written in Hadoop's framing: blocks of 256 KB, each one chunk.
    out = tmp_path / "out.ndjson.snappy"
    r = flowsql("-c", "COPY (SELECT range AS id FROM range(100000)) TO '%s'" % out)
    assert r.code == 0, r.err
    import struct
    data, at, text = out.read_bytes(), 0, b""
    while at < len(data):
        size, length = struct.unpack(">II", data[at:at + 8])
        text += bytes(cramjam.snappy.decompress_raw(data[at + 8:at + 8 + length]))
        assert len(text) % (256 << 10) == 0 or at + 8 + length == len(data)
        at += 8 + length
    assert text.decode().splitlines()[:2] == ['{"id":0}', '{"id":1}']
    assert len(text.decode().splitlines()) == 100000
    r = flowsql("--format", "csv", "-c", "SELECT count(*) AS n FROM '%s'" % out)
    assert r.out.splitlines() == ["n", "100000"]


def test_a_truncated_snappy_file_is_an_error_naming_it(flowsql, tmp_path):
    data = hadoop_snappy(b"id\n" + b"1\n" * 50000)
    path = tmp_path / "t.csv.snappy"
    path.write_bytes(data[:len(data) // 2])
    r = flowsql("-c", "SELECT count(*) FROM '%s'" % path)
    assert r.code != 0
    assert str(path) in r.err and "snappy: truncated" in r.err, r.err
