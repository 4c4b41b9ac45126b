"""ORC read and written through Arrow's adapter; pyarrow is the oracle."""

import datetime
import decimal

import pyarrow as pa
import pyarrow.orc as orc
import pytest

from conftest import REPO

ORDERS = REPO / "test" / "data" / "orders.parquet"


@pytest.mark.parametrize("codec", ["zstd", "snappy", "lz4", "gzip", "none"])
def test_written_orc_reads_back_in_pyarrow(flowsql, tmp_path, codec):
    target = tmp_path / "o.orc"
    r = flowsql("-c", f"SELECT id, city, amount, qty, day FROM '{ORDERS}' "
                f"INTO '{target}' WITH (compression = '{codec}')")
    assert r.code == 0, r
    f = orc.ORCFile(str(target))
    assert f.nrows == 200
    assert f.compression == ("UNCOMPRESSED" if codec == "none" else
                             "ZLIB" if codec == "gzip" else codec.upper())
    table = f.read()
    assert table.schema.field("city").type == pa.string()
    assert sum(table.column("qty").to_pylist()) == 1114
    r = flowsql("--format", "csv", "-c", f"SELECT count(*), sum(qty) FROM '{target}'")
    assert r.out.splitlines()[1] == "200,1114", r


def test_orc_written_by_pyarrow_reads_with_its_types(flowsql, tmp_path):
    path = tmp_path / "p.orc"
    orc.write_table(pa.table({
        "i": pa.array([1, None, 3], pa.int32()),
        "s": ["a", "b", None],
        "d": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")],
                      pa.decimal128(9, 2)),
        "t": [datetime.datetime(2024, 1, 2, 3, 4, 5), None, None],
        "l": [[1, 2], [], None],
    }), str(path))
    r = flowsql("--format", "csv", "-c",
                f"SELECT typeof(i), typeof(s), typeof(d), sum(i), max(s), sum(d), "
                f"max(t)::VARCHAR, sum(len(l)) FROM read_orc('{path}') GROUP BY ALL")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == \
        "INTEGER,VARCHAR,\"DECIMAL(9,2)\",4,b,-2.25,2024-01-02 03:04:05,2"


def test_not_an_orc_file_is_an_error_naming_it(flowsql, tmp_path):
    path = tmp_path / "x.orc"
    path.write_text("nope")
    r = flowsql("-c", f"SELECT * FROM '{path}'")
    assert r.code != 0
    assert f"{path}: not an ORC file" in r.err, r.err
