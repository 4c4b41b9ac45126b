"""Files over HTTP (issue 7): every format read from a web server, by range requests
where the server allows them and whole where it does not, with HEAD refused, with
failures retried and errors naming the URL without its secrets. DuckDB reading the
same local file is the oracle; test/servers/http_files.py is the server (modes
full, no_head, no_ranges, chunked; counters of requests and bytes served)."""

import csv
import datetime
import gzip
import io
import json
import os
import socket
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
from conftest import run_flowsql  # noqa: E402
from http_files import http_files  # noqa: E402

ROWS = 3000
MODES = ["full", "no_head", "no_ranges", "chunked"]
FORMATS = ["parquet", "csv", "csv.gz", "ndjson", "json", "arrow", "orc"]
SECRET = "SECRETs3cr3t"


def _table():
    base = datetime.date(2024, 1, 1)
    names = []
    for i in range(ROWS):
        names.append(None if i % 11 == 0 else
                     f'with "quote" {i}' if i % 13 == 0 else
                     f"comma, {i}" if i % 17 == 0 else f"näme {i}")
    return pa.table({
        "id": pa.array(range(ROWS), pa.int64()),
        "name": pa.array(names, pa.string()),
        "score": pa.array([None if i % 7 == 0 else i / 4 for i in range(ROWS)],
                          pa.float64()),
        "flag": pa.array([None if i % 5 == 0 else i % 2 == 0 for i in range(ROWS)]),
        "day": pa.array([base + datetime.timedelta(days=i % 400) for i in range(ROWS)],
                        pa.date32()),
    })


def _wide():
    """20 int64 columns x 200,000 rows, uncompressed and without dictionaries: each
    column chunk about 1.6 MB, the file about 32 MB."""
    n = 200_000
    base = pa.array(range(n), pa.int64())
    columns = {}
    for k in range(20):
        v = pc.multiply(base, 2654435761 + 2 * k)
        columns[f"c{k}"] = pc.bit_wise_xor(v, pc.shift_right(v, 13))
    return pa.table(columns)


@pytest.fixture
def flowsql():
    """flowsql with loopback kept off any proxy the environment names (libcurl
    honours http_proxy)."""
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY", ""),
                                      "127.0.0.1,localhost"]))

    def run(*args, **kwargs):
        env = {"NO_PROXY": no_proxy, "no_proxy": no_proxy, **(kwargs.pop("env", None) or {})}
        return run_flowsql(*args, env=env, **kwargs)
    return run


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("http-files")
    t = _table()
    pq.write_table(t, root / "x.parquet")
    pacsv.write_csv(t, root / "x.csv")
    (root / "x.csv.gz").write_bytes(gzip.compress((root / "x.csv").read_bytes()))
    records = [{k: (v.isoformat() if isinstance(v, datetime.date) else v)
                for k, v in row.items()} for row in t.to_pylist()]
    (root / "x.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "x.json").write_text(json.dumps(records))
    with ipc.new_file(str(root / "x.arrow"), t.schema) as w:
        w.write_table(t, max_chunksize=500)
    orc.write_table(t, str(root / "x.orc"))
    pq.write_table(_wide(), root / "wide.parquet", compression="none",
                   use_dictionary=False)
    (root / "dir").mkdir()
    (root / "dir" / "inner.csv").write_text("a\n1\n")
    return root


@pytest.fixture(scope="module")
def server(data):
    with http_files(data) as s:
        yield s


@pytest.fixture
def files(server):
    server.reset()
    yield server
    server.reset()


def rows(out):
    return list(csv.reader(io.StringIO(out)))


def text(v):
    """A DuckDB value as flowsql's CSV output writes it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def duck_relation(con, path, fmt):
    """DuckDB reading the local file `path`: its own readers, or pyarrow's for the
    formats DuckDB has none for (Arrow IPC, ORC)."""
    if fmt == "parquet" or fmt.startswith("csv"):
        return f"'{path}'"
    if fmt == "ndjson":
        return f"read_json('{path}', format = 'newline_delimited')"
    if fmt == "json":
        return f"read_json('{path}', format = 'array')"
    table = ipc.open_file(str(path)).read_all() if fmt == "arrow" else orc.read_table(
        str(path))
    con.register("local_file", table)
    return "local_file"


def duck(data, fmt, sql):
    con = duckdb.connect()
    rel = duck_relation(con, data / f"x.{fmt}", fmt)
    return [[text(v) for v in row] for row in con.sql(sql.format(src=rel)).fetchall()]


def flowsql_ok(flowsql, *sql):
    r = flowsql("--format", "csv", "-c", *sql)
    assert r.code == 0, r
    return r


# --- every format over every kind of server --------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", MODES)
def test_every_format_reads_as_duckdb_reads_the_local_file(flowsql, data, files, mode,
                                                           fmt):
    url = files.url(f"x.{fmt}", mode)
    r = flowsql_ok(flowsql, f"SELECT * FROM '{url}' ORDER BY id")
    got = rows(r.out)
    expected = duck(data, fmt, "SELECT * FROM {src} ORDER BY id")
    assert got[0] == ["id", "name", "score", "flag", "day"]
    assert len(got) - 1 == ROWS
    assert got[1:] == expected
    # Types: flowsql's DESCRIBE of the URL against DuckDB's of the local file.
    r = flowsql_ok(flowsql, f"DESCRIBE '{url}'")
    types = [row[:2] for row in rows(r.out)[1:]]
    assert types == [row[:2] for row in duck(data, fmt, "DESCRIBE SELECT * FROM {src}")]
    if mode == "no_head":
        # HEAD was refused and never taken for an answer.
        assert all(s == 405 for m, s in zip(files.stats().methods, files.stats().statuses)
                   if m == "HEAD")


@pytest.mark.parametrize("mode", ["full", "no_ranges"])
def test_avro_reads_as_the_local_file(flowsql, data, files, mode):
    # No oracle reads Avro here (DuckDB's extension is downloaded at run time): flowsql
    # reading the same file from the disk is the reference.
    local = data / "x.avro"
    if not local.exists():
        flowsql_ok(flowsql, f"SELECT * FROM '{data / 'x.parquet'}' INTO '{local}'")
    sql = "SELECT * FROM {src} ORDER BY id"
    over_http = flowsql_ok(flowsql, sql.format(src=f"'{files.url('x.avro', mode)}'"))
    assert over_http.out == flowsql_ok(flowsql, sql.format(src=f"'{local}'")).out
    assert len(rows(over_http.out)) == ROWS + 1
    if mode == "full":
        assert all(m == "HEAD" or m.startswith("GET bytes=")
                   for m in files.stats("x.avro").methods)


def test_a_table_function_reads_an_url(flowsql, data, files):
    r = flowsql_ok(flowsql, f"SELECT count(*), sum(id) FROM "
                            f"read_csv('{files.url('x.csv.gz', 'no_ranges')}')")
    assert rows(r.out)[1] == [str(ROWS), str(ROWS * (ROWS - 1) // 2)]


# --- ranges --------------------------------------------------------------------------


def test_a_projected_parquet_read_fetches_the_footer_and_one_column(flowsql, data,
                                                                     files):
    size = (data / "wide.parquet").stat().st_size
    r = flowsql_ok(flowsql, f"SELECT sum(c7), min(c7), count(*) FROM "
                            f"'{files.url('wide.parquet')}'")
    expected = duckdb.sql(f"SELECT sum(c7), min(c7), count(*) FROM "
                          f"'{data / 'wide.parquet'}'").fetchall()
    assert rows(r.out)[1] == [text(v) for v in expected[0]]
    stats = files.stats("wide.parquet")
    print(f"\nprojected read of 1 of 20 columns: {stats.body_bytes} bytes in "
          f"{stats.requests} requests ({stats.methods}) of a {size}-byte file")
    # One column chunk is a twentieth of the file; the footer a little more.
    assert stats.body_bytes < size / 8, stats
    assert stats.requests <= 6, stats
    assert all(m == "HEAD" or m.startswith("GET bytes=") for m in stats.methods), stats


def test_without_head_ranges_still_fetch_only_the_wanted_column(flowsql, data, files):
    size = (data / "wide.parquet").stat().st_size
    r = flowsql_ok(flowsql, f"SELECT sum(c3) FROM '{files.url('wide.parquet', 'no_head')}'")
    expected = duckdb.sql(f"SELECT sum(c3) FROM '{data / 'wide.parquet'}'").fetchall()
    assert rows(r.out)[1] == [text(expected[0][0])]
    stats = files.stats("wide.parquet")
    assert stats.methods[:2] == ["HEAD", "GET bytes=0-0"], stats
    assert stats.body_bytes < size / 8, stats


def test_a_server_without_ranges_is_downloaded_once_whole(flowsql, data, files):
    size = (data / "wide.parquet").stat().st_size
    r = flowsql_ok(flowsql, f"SELECT sum(c1), count(*) FROM "
                            f"'{files.url('wide.parquet', 'no_ranges')}'")
    expected = duckdb.sql(f"SELECT sum(c1), count(*) FROM "
                          f"'{data / 'wide.parquet'}'").fetchall()
    assert rows(r.out)[1] == [text(v) for v in expected[0]]
    stats = files.stats("wide.parquet")
    # The schema is read, then the data, from one download (HEAD, then one GET).
    assert stats.methods == ["HEAD", "GET"], stats
    assert stats.body_bytes == size


def test_a_chunked_answer_of_unknown_size_is_downloaded_whole(flowsql, data, files):
    r = flowsql_ok(flowsql, f"SELECT count(*) FROM '{files.url('wide.parquet', 'chunked')}'")
    assert rows(r.out)[1] == ["200000"]
    stats = files.stats("wide.parquet")
    assert stats.body_bytes == (data / "wide.parquet").stat().st_size, stats


def test_the_query_string_is_sent_and_is_no_glob(flowsql, data, files):
    url = files.url("x.parquet", query="sig=abc&v=[1]&x=a*b")
    r = flowsql_ok(flowsql, f"SELECT count(*) FROM read_parquet('{url}')")
    assert rows(r.out)[1] == [str(ROWS)]
    targets = {q.target for q in files.requests("x.parquet")}
    assert targets == {"/full/x.parquet?sig=abc&v=[1]&x=a*b"}, targets
    # The extension before the query gives the format.
    url = files.url("x.csv.gz", query="token=abcdef")
    r = flowsql_ok(flowsql, f"SELECT count(*) FROM '{url}'")
    assert rows(r.out)[1] == [str(ROWS)]


def test_a_folder_like_url_is_fetched_not_listed(flowsql, files):
    url = files.url("dir/")
    r = flowsql("-c", f"SELECT * FROM read_csv('{url}')")
    assert r.code != 0
    assert f"{url}: HTTP 404 Not Found" in r.err, r
    assert [q.name for q in files.requests()] == ["dir/"]
    # And a URL naming a file in it is read.
    r = flowsql_ok(flowsql, f"SELECT a FROM '{files.url('dir/inner.csv')}'")
    assert rows(r.out)[1:] == [["1"]]


def test_an_url_cannot_be_watched(flowsql, files):
    url = files.url("x.csv", query=f"token={SECRET}")
    r = flowsql("-c", f"SELECT * FROM '{url}' WITH (watch = true)")
    assert r.code == 1, r
    assert "an http(s) URL is one file that cannot be listed" in r.err, r
    assert SECRET not in r.err + r.out


# --- failures --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_missing_file_is_http_404_naming_the_url(flowsql, files, fmt):
    url = files.url(f"missing.{fmt}")
    r = flowsql("-c", f"SELECT * FROM '{url}'")
    assert r.code == 2, r
    assert f"Error: {url}: HTTP 404 Not Found" in r.err, r
    assert len(files.requests()) == 1, files.stats()  # no retry, no fallback


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("status", [500, 429, 503])
def test_a_transient_failure_is_retried(flowsql, files, fmt, status):
    files.fail(f"x.{fmt}", status, times=2)
    r = flowsql_ok(flowsql, f"SELECT count(*) FROM '{files.url(f'x.{fmt}')}'")
    assert rows(r.out)[1] == [str(ROWS)]
    assert files.stats(f"x.{fmt}").statuses[:3] == [status, status, 200]


def test_a_lasting_failure_ends_saying_how_many_attempts(flowsql, files):
    files.fail("x.parquet", 503, times=100)
    url = files.url("x.parquet")
    r = flowsql("-c", f"SELECT count(*) FROM '{url}'")
    assert r.code == 2, r
    assert f"{url}: HTTP 503 Service Unavailable (after 4 attempts)" in r.err, r
    assert files.stats().requests == 4  # no fallback to another method
    files.reset()
    files.fail("x.parquet", 503, times=100)
    r = flowsql("-c", f"SELECT count(*) FROM '{url}' WITH (http_retries = 1)")
    assert "(after 2 attempts)" in r.err, r
    assert files.stats().requests == 2


@pytest.mark.parametrize("status", [400, 401, 403])
def test_other_failures_are_not_retried(flowsql, files, status):
    files.fail("x.csv", status, times=5)
    r = flowsql("-c", f"SELECT count(*) FROM '{files.url('x.csv')}'")
    assert r.code == 2, r
    assert f"HTTP {status} " in r.err and "attempts" not in r.err, r
    assert files.stats().requests == 1


@pytest.mark.parametrize("fmt", ["parquet", "csv", "csv.gz"])
def test_a_reset_connection_is_retried(flowsql, files, fmt):
    files.fail(f"x.{fmt}", "reset", times=1, method="GET")
    r = flowsql_ok(flowsql, f"SELECT count(*), sum(id) FROM '{files.url(f'x.{fmt}')}'")
    assert rows(r.out)[1] == [str(ROWS), str(ROWS * (ROWS - 1) // 2)]
    assert -1 in files.stats().statuses  # the reset happened


@pytest.mark.parametrize("fmt,mode", [("parquet", "full"), ("csv", "full"),
                                      ("csv.gz", "no_head"), ("parquet", "no_ranges")])
def test_a_body_cut_short_is_asked_for_again(flowsql, files, fmt, mode):
    files.fail(f"x.{fmt}", "cut", times=1, method="GET")
    r = flowsql_ok(flowsql, f"SELECT count(*), sum(id) FROM '{files.url(f'x.{fmt}', mode)}'")
    assert rows(r.out)[1] == [str(ROWS), str(ROWS * (ROWS - 1) // 2)]
    methods = files.stats().methods
    if fmt.startswith("csv"):
        # A stream resumes where it broke.
        assert any(m.startswith("GET bytes=") and not m.startswith("GET bytes=0-")
                   for m in methods), methods


def test_connection_refused_names_the_url(flowsql):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        url = f"http://127.0.0.1:{port}/x.parquet?token={SECRET}"
        r = flowsql("-c", f"SELECT * FROM '{url}'")
    assert r.code == 2, r
    assert f"http://127.0.0.1:{port}/x.parquet?token=***: cannot connect" in r.err, r
    assert SECRET not in r.err + r.out


def test_an_unknown_host_names_the_url(flowsql):
    r = flowsql("-c", "SELECT * FROM 'http://no-such-host.invalid/data/x.csv'")
    assert r.code == 2, r
    assert "http://no-such-host.invalid/data/x.csv: cannot resolve host" in r.err, r


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [404, 500, "reset"])
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_secrets_in_the_url_are_never_shown(flowsql, files, failure, fmt):
    name = f"x.{fmt}" if failure != 404 else f"missing.{fmt}"
    files.fail(name, failure, times=100)
    url = files.url(name, query=f"token={SECRET}&X-Amz-Signature={SECRET}2&page=2")
    url = url.replace("http://", f"http://user:{SECRET}3@")
    r = flowsql("-c", f"SELECT * FROM '{url}'")
    assert r.code == 2, r
    shown = files.url(name, query="token=***&X-Amz-Signature=***&page=2").replace(
        "http://", "http://***@")
    assert shown in r.err, r
    assert SECRET not in r.err + r.out, r
    if failure != 404:
        assert "attempts" in r.err, r
    # The credentials went to the server all the same.
    assert all(SECRET in q.target for q in files.requests())
    assert all(q.headers.get("authorization", "").startswith("Basic ")
               for q in files.requests())


def test_explain_shows_the_url_without_its_secret(flowsql, files):
    url = files.url("x.parquet", query=f"sig={SECRET}")
    r = flowsql_ok(flowsql, f"EXPLAIN SELECT id FROM '{url}'")
    assert files.url("x.parquet", query="sig=***") in r.out, r
    assert SECRET not in r.out + r.err


def test_headers_and_bearer_token_are_sent_and_not_shown(flowsql, files):
    url = files.url("x.csv")
    r = flowsql_ok(flowsql, f"EXPLAIN SELECT id FROM '{url}' WITH (bearer_token = "
                            f"'{SECRET}', http_headers = {{'X-Api-Key': '{SECRET}9'}})")
    assert SECRET not in r.out + r.err, r
    sent = files.requests("x.csv")
    assert sent, files.stats()
    assert all(q.headers.get("authorization") == f"Bearer {SECRET}" for q in sent)
    assert all(q.headers.get("x-api-key") == f"{SECRET}9" for q in sent)


# --- writes ----------------------------------------------------------------------------


@pytest.mark.parametrize("sql", [
    "SELECT 1 AS a INTO '{url}'",
    "COPY (SELECT 1 AS a) TO '{url}'",
])
def test_writing_to_an_url_is_an_error(flowsql, files, sql):
    url = files.url("out.parquet", query=f"token={SECRET}")
    r = flowsql("-c", sql.format(url=url))
    assert r.code == 1, r
    assert "http(s) URLs are read-only" in r.err, r
    assert SECRET not in r.err + r.out
    assert files.requests() == []
