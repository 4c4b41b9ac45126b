"""Many files as one table: globs, hive partitions and the filename column, with
DuckDB as the oracle (read_parquet(..., hive_partitioning = true, filename = true))."""

import csv
import io

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from conftest import run_flowsql


@pytest.fixture
def lake(tmp_path):
    """A pyarrow-written hive dataset: year=/region=/part-0.parquet, 8 folders."""
    n = 1000
    table = pa.table({
        "id": list(range(n)),
        "year": [2020 + i % 4 for i in range(n)],
        "region": ["eu" if i % 3 else "us" for i in range(n)],
        "v": [float(i) for i in range(n)],
    })
    root = tmp_path / "lake"
    ds.write_dataset(table, root, format="parquet", partitioning=["year", "region"],
                     partitioning_flavor="hive")
    (root / "_SUCCESS").write_text("")  # Spark's marker is skipped
    return root


def rows(out):
    return list(csv.reader(io.StringIO(out)))


def duck(sql):
    con = duckdb.connect()
    return [[str(v) for v in row] for row in con.sql(sql).fetchall()]


def test_hive_columns_are_typed_as_duckdb_types_them(flowsql, lake):
    r = flowsql("--format", "csv", "-c",
                f"SELECT typeof(year), typeof(region), year, region, count(*), sum(v) "
                f"FROM '{lake}' GROUP BY ALL ORDER BY year, region")
    assert r.code == 0, r
    expected = duck(f"SELECT typeof(year), typeof(region), year, region, count(*), sum(v) "
                    f"FROM read_parquet('{lake}/**/*.parquet', hive_partitioning = true) "
                    f"GROUP BY ALL ORDER BY year, region")
    assert rows(r.out)[1:] == expected


def test_a_partition_filter_prunes_files_before_reading(flowsql, lake):
    sql = f"SELECT count(*), sum(v) FROM '{lake}/**/*.parquet' WHERE year = 2021 AND region = 'eu'"
    r = flowsql("--format", "csv", "-c", sql)
    assert r.code == 0, r
    assert rows(r.out)[1:] == duck(sql.replace(f"'{lake}/**/*.parquet'",
                                               f"read_parquet('{lake}/**/*.parquet', "
                                               "hive_partitioning = true)"))
    r = flowsql("-c", "EXPLAIN " + sql)
    assert "files=1 read, 7 pruned by partition" in r.out, r.out
    assert "splits=1" in r.out, r.out


def test_a_filter_mixing_partitions_and_columns(flowsql, lake):
    sql = ("SELECT year, count(*) FROM {src} WHERE (year > 2021 OR region = 'us') "
           "AND v < 500 GROUP BY year ORDER BY year")
    r = flowsql("--format", "csv", "-c", sql.format(src=f"'{lake}'"))
    assert r.code == 0, r
    assert rows(r.out)[1:] == duck(sql.format(
        src=f"read_parquet('{lake}/**/*.parquet', hive_partitioning = true)"))


def test_filename_column(flowsql, lake):
    r = flowsql("--format", "csv", "-c",
                f"SELECT filename, count(*) FROM '{lake}/year=2020/**/*.parquet' "
                "WITH (filename = true) GROUP BY filename ORDER BY filename")
    assert r.code == 0, r
    assert rows(r.out)[1:] == [[str(lake / "year=2020/region=eu/part-0.parquet"), "166"],
                               [str(lake / "year=2020/region=us/part-0.parquet"), "84"]]


def test_hive_partitioning_false_reads_only_the_files_columns(flowsql, lake):
    r = flowsql("-c", f"SELECT year FROM '{lake}' WITH (hive_partitioning = false)")
    assert r.code != 0
    assert "year" in r.err, r.err
    r = flowsql("--format", "csv", "-c",
                f"SELECT count(*) FROM '{lake}' WITH (hive_partitioning = false)")
    assert r.code == 0, r
    assert rows(r.out)[1:] == [["1000"]]


def test_globs_with_braces_and_double_star(flowsql, tmp_path):
    for name, n in [("a/x.csv", 1), ("a/b/y.csv", 2), ("a/b/c/z.tsv", 3), ("a/w.json", 4)]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sep = "\t" if name.endswith(".tsv") else ","
        path.write_text(f"k{sep}n\nx{sep}{n}\n")
    r = flowsql("--format", "csv", "-c",
                f"SELECT sum(n) FROM '{tmp_path}/a/**/*.csv'")
    assert rows(r.out)[1:] == [["3"]], r
    r = flowsql("--format", "csv", "-c",
                f"SELECT sum(n) FROM '{tmp_path}/a/{{x,b/y}}.csv'")
    assert rows(r.out)[1:] == [["3"]], r


def test_files_in_different_partition_layouts_are_an_error_naming_both(flowsql, tmp_path):
    for path in ["l/year=1/a.csv", "l/month=2/b.csv"]:
        p = tmp_path / path
        p.parent.mkdir(parents=True)
        p.write_text("k\n1\n")
    r = flowsql("-c", f"SELECT * FROM '{tmp_path}/l/*/*.csv'")
    assert r.code != 0
    assert "hive partitions differ" in r.err and "year=1/a.csv" in r.err \
        and "month=2/b.csv" in r.err, r.err


def test_file_row_number_as_duckdb_numbers_rows(flowsql, tmp_path):
    import pyarrow.parquet as pq
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"v": list(range(5000))}), path, row_group_size=700)
    sql = "SELECT file_row_number, v FROM {src} WHERE v % 997 = 3 OR v > 4990 ORDER BY 1"
    r = flowsql("--format", "csv", "-c",
                sql.format(src=f"'{path}' WITH (file_row_number = true)"))
    assert r.code == 0, r
    assert rows(r.out)[1:] == duck(sql.format(
        src=f"read_parquet('{path}', file_row_number = true)"))
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("v\n" + "".join(f"{i * 2}\n" for i in range(10)))
    r = flowsql("--format", "csv", "-c",
                f"SELECT file_row_number, v FROM '{csv_path}' WITH (file_row_number = true) "
                "WHERE v >= 14 ORDER BY 1")
    assert rows(r.out)[1:] == [["7", "14"], ["8", "16"], ["9", "18"]], r


def test_incompatible_column_types_name_both_files(tmp_path):
    d = tmp_path / "mix"
    assert run_flowsql("-c", "COPY (SELECT 1 AS a) TO '%s/1.parquet'" % d).code == 0
    assert run_flowsql("-c", "COPY (SELECT {'k': 1} AS a) TO '%s/2.parquet'" % d).code == 0
    r = run_flowsql("-c", "SELECT * FROM '%s/*.parquet'" % d)
    assert r.code != 0
    assert ("column 'a' is INTEGER in %s/1.parquet but STRUCT(k INTEGER) in %s/2.parquet"
            % (d, d)) in r.err, r.err


def test_parquet_dictionary_and_statistics_options(tmp_path):
    import pyarrow.parquet as pq
    for flag in ("true", "false"):
        path = tmp_path / ("x_%s.parquet" % flag)
        r = run_flowsql("-c", "COPY (SELECT range %% 3 AS a FROM range(100)) TO '%s' "
                        "(DICTIONARY %s, STATISTICS %s)" % (path, flag, flag))
        assert r.code == 0, r.err
        column = pq.read_metadata(path).row_group(0).column(0)
        assert column.is_stats_set == (flag == "true")
        assert ("PLAIN_DICTIONARY" in column.encodings or "RLE_DICTIONARY" in
                column.encodings) == (flag == "true"), column.encodings


def test_metadata_column_is_named_not_starred(lake, tmp_path):
    """Seed 004's _metadata.filename / _metadata.row_number: each row's file and place in
    it, as DuckDB's filename and file_row_number give them; `*` leaves it out."""
    glob = "%s/**/*.parquet" % lake
    r = run_flowsql("--format", "csv", "-c",
                    "SELECT _metadata.filename AS f, _metadata.row_number AS r, id FROM '%s' "
                    "WHERE id %% 7 = 0 ORDER BY id" % glob)
    assert r.code == 0, r.err
    theirs = duckdb.sql("SELECT filename AS f, file_row_number AS r, id FROM read_parquet("
                        "'%s', filename = true, file_row_number = true, hive_partitioning = "
                        "false) WHERE id %% 7 = 0 ORDER BY id" % glob).fetchall()
    ours = [tuple(line.split(",")) for line in r.out.splitlines()[1:]]
    assert ours == [(f, str(n), str(i)) for f, n, i in theirs]
    star = run_flowsql("--format", "csv", "-c", "SELECT * FROM '%s' LIMIT 1" % glob)
    assert "_metadata" not in star.out.splitlines()[0]
    described = run_flowsql("-c", "DESCRIBE '%s'" % glob)
    assert "_metadata" not in described.out
    # A file with a column of that name keeps its own.
    own = tmp_path / "own.csv"
    own.write_text("_metadata,x\nmine,1\n")
    r = run_flowsql("--format", "csv", "-c", "SELECT _metadata FROM '%s'" % own)
    assert r.out.splitlines() == ["_metadata", "mine"], r.out


def csv_folder(d, files):
    """Writes {name: text} into folder d; returns its glob."""
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return "%s/*.csv" % d


def typed_rows(glob, options=""):
    """(DESCRIBE's types, the rows as CSV) of flowsql reading glob."""
    src = "'%s'%s" % (glob, " WITH (%s)" % options if options else "")
    d = run_flowsql("--format", "csv", "-c", "DESCRIBE SELECT * FROM %s" % src)
    assert d.code == 0, d.err
    r = run_flowsql("--format", "csv", "-c", "SELECT * FROM %s ORDER BY ALL" % src)
    assert r.code == 0, r.err
    return [row[:2] for row in rows(d.out)[1:]], rows(r.out)


def test_many_csv_files_types_from_a_sample_names_from_every_header(tmp_path):
    # 64 files of ~20 KB each; block_size 64KB samples the first four for types. The
    # later ones are matched by their header's names: another column order, a new
    # column (typed from the file that has it), a missing one (NULL).
    body = lambda k: "".join("%d,%d.5,x%d\n" % (k, i, i) for i in range(1500))  # noqa: E731
    files = {"f%02d.csv" % k: "a,b,c\n" + body(k) for k in range(60)}
    files["f60.csv"] = "c,a,b\nlate,60,1.5\n"
    files["f61.csv"] = "a,b,c,d\n61,2.5,y,2024-01-02\n"
    files["f62.csv"] = "a,c\n62,z\n"
    files["f63.csv"] = "\ufeffa,\"b\",c\n63,3.5,\"q,r\"\n"  # a BOM and quotes
    glob = csv_folder(tmp_path / "many", files)
    types, got = typed_rows(glob, "block_size = '64KB'")
    assert types == [["a", "BIGINT"], ["b", "DOUBLE"], ["c", "VARCHAR"], ["d", "DATE"]]
    con = duckdb.connect()
    want = con.sql("SELECT a, b, c, d FROM read_csv('%s', union_by_name = true) "
                   "ORDER BY ALL" % glob).fetchall()
    assert got[1:] == [["" if v is None else str(v) for v in row] for row in want]
    assert ["60", "1.5", "late", ""] in got and ["62", "", "z", ""] in got


def test_a_value_beyond_the_csv_type_sample_names_its_file_or_is_inferred_with_all(
        tmp_path):
    files = {"f%02d.csv" % k: "a\n" + "%d\n" % k * 3000 for k in range(20)}
    files["f20.csv"] = "a\n1\n2\n2.5\n"
    glob = csv_folder(tmp_path / "wider", files)
    r = run_flowsql("-c", "SELECT sum(a) FROM '%s' WITH (block_size = '64KB')" % glob)
    assert r.code != 0
    assert ("%s/f20.csv: column 'a' is read as BIGINT (as the sampled input showed, or "
            "types declared), but line 4 holds '2.5'; declare its type, e.g. types = "
            "{'a': 'VARCHAR'}, or set sample_size = -1 to infer types from all of the "
            "input" % (tmp_path / "wider")) in r.err, r.err
    types, got = typed_rows(glob, "block_size = '64KB', sample_size = -1")
    assert types == [["a", "DOUBLE"]]
    assert got[-1] == ["19.0"] and ["2.5"] in got


def test_csv_sample_size_all_infers_from_the_whole_file(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("a\n" + "1\n" * 30000 + "abc\n")
    types, got = typed_rows(path, "block_size = '64KB', sample_size = -1")
    assert types == [["a", "VARCHAR"]]
    assert got[-1] == ["abc"] and len(got) == 30002
