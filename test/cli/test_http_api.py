"""REST APIs as tables (issue 8): every pagination style and auth type of
test/servers/http_api.py, read by flowsql into Parquet and compared, values and
types, with DuckDB reading the same records from a local NDJSON file; every failure
mode's error; secrets never shown; and the rule that sends an http(s) URL in FROM to
the file connector (a file extension) or to the http connector (any other)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
from conftest import REPO, flowsql_bin, run_flowsql, wait_for  # noqa: E402
import http_api as server  # noqa: E402
from http_files import http_files  # noqa: E402

N = 250
PAGE = 25
SECRETS = [server.TOKEN, server.PASSWORD, server.KEY, server.CLIENT_SECRET]


def _no_proxy():
    return ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost"]))


@pytest.fixture
def flowsql():
    """flowsql with loopback kept off any proxy the environment names."""
    def run(*args, **kwargs):
        env = {"NO_PROXY": _no_proxy(), "no_proxy": _no_proxy(),
               **(kwargs.pop("env", None) or {})}
        return run_flowsql(*args, env=env, **kwargs)
    return run


@pytest.fixture(scope="module")
def records():
    return server.records(N)


@pytest.fixture(scope="module")
def running(records):
    with server.http_api(records, PAGE) as s:
        yield s


@pytest.fixture
def api(running):
    running.reset()
    yield running
    running.reset()


@pytest.fixture(scope="module")
def oracle(records, tmp_path_factory):
    """DuckDB reading the records from a local NDJSON file, as an Arrow table."""
    path = tmp_path_factory.mktemp("oracle") / "records.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))

    def read(columns="*", order="id"):
        rel = duckdb.connect().sql(
            f"SELECT {columns} FROM read_json('{path}', format = 'newline_delimited') "
            f"ORDER BY {order}")
        return rel.arrow().read_all() if hasattr(rel.arrow(), "read_all") else rel.arrow()
    return read


def read(flowsql, tmp_path, source, columns="*", env=None):
    """flowsql's rows of `source`, ordered by id, through a Parquet file."""
    out = tmp_path / "out.parquet"
    if out.exists():
        out.unlink()
    r = flowsql("-c", f"SELECT {columns} FROM {source} ORDER BY id INTO '{out}'", env=env)
    assert r.code == 0, r
    assert not any(s in r.out + r.err for s in SECRETS), r
    return pq.read_table(out)


def error(flowsql, source, env=None):
    r = flowsql("-c", f"SELECT count(*) FROM {source}", env=env)
    assert r.code != 0, r
    assert not any(s in r.out + r.err for s in SECRETS), r
    return r.err.strip()


# --- every pagination style, against DuckDB ----------------------------------------

STYLES = {
    "page_total": ("page", "paginate = 'page', page_size = 25, page_size_param = "
                           "'per_page', total_path = '$.total'"),
    "page_total_pages": ("page", "paginate = 'page', total_pages_path = 'total_pages'"),
    "page_until_short": ("page", "paginate = 'page', page_size = 40, "
                                 "page_size_param = 'per_page'"),
    "page_until_empty": ("page", "paginate = 'page'"),
    "offset_total": ("offset", "paginate = 'offset', page_size = 30, "
                               "total_path = '$.meta.total'"),
    "offset_until_short": ("offset", "paginate = 'offset', page_size = 60"),
    "cursor": ("cursor", "paginate = 'cursor', cursor_path = '$.meta.next_cursor'"),
    "next_url": ("next", "paginate = 'next_url', next_url_path = 'next'"),
    "next_url_relative": ("next_rel", "paginate = 'next_url', next_url_path = '$.next'"),
    "link_header": ("link", "paginate = 'link_header'"),
    "auto_cursor": ("cursor", ""),
    "auto_next_url": ("next", ""),
    "auto_link": ("link", ""),
    "ndjson_link": ("ndjson", ""),
}


@pytest.mark.parametrize("name", list(STYLES))
def test_every_pagination_style_reads_what_duckdb_reads(flowsql, tmp_path, api, oracle,
                                                         name):
    style, options = STYLES[name]
    with_ = f" WITH ({options})" if options else ""
    got = read(flowsql, tmp_path, f"'{api.url(style)}'{with_}")
    expected = oracle()
    assert got.schema == expected.schema
    assert got.equals(expected)
    # No page asked twice (page and offset chains ask up to max_concurrency pages
    # ahead, so a few past the end).
    asked = [tuple(sorted(r.query.items())) for r in api.requests(style)]
    assert len(asked) == len(set(asked)), asked


def test_read_http_is_the_same_as_from(flowsql, tmp_path, api, oracle):
    got = read(flowsql, tmp_path, f"read_http('{api.url('offset')}', paginate => 'offset', "
                                  "page_size => 50, total_path => 'meta.total')")
    assert got.equals(oracle())


def test_csv_answers(flowsql, tmp_path, api, oracle):
    got = read(flowsql, tmp_path, f"'{api.url('csv')}'")
    assert got.equals(oracle("id, name, price, active"))


def test_records_path_and_flatten(flowsql, tmp_path, api, oracle):
    got = read(flowsql, tmp_path,
               f"'{api.url('offset')}' WITH (records_path = '$.items', flatten = true, "
               "paginate = 'offset', page_size = 100)")
    expected = oracle("id, name, price, active, owner.id AS owner__id, "
                      "owner.name AS owner__name")
    assert got.equals(expected)


def test_nested_fields_are_structs_and_a_declared_schema_types_them(flowsql, tmp_path,
                                                                    api, oracle):
    got = read(flowsql, tmp_path, f"'{api.url('cursor')}' WITH (schema = {{'id': 'INTEGER', "
                                  "'price': 'VARCHAR', 'owner': 'VARCHAR'})",
               columns="id, price")
    assert str(got.schema) == "id: int32\nprice: string"
    assert got.column("price").to_pylist()[:3] == ["0.0", "1.25", "2.5"]
    r = flowsql("--format", "csv", "-c",
                f"SELECT owner.name FROM '{api.url('cursor')}' WHERE id = 12")
    assert r.code == 0 and r.out.splitlines()[1:] == ["owner 5"], r


def test_max_pages(flowsql, tmp_path, api):
    got = read(flowsql, tmp_path, f"'{api.url('cursor')}' WITH (max_pages = 3)")
    assert got.column("id").to_pylist() == list(range(3 * PAGE))
    assert len(api.requests("cursor")) == 3


@pytest.mark.parametrize("style,options", [
    ("page", "paginate = 'page', page_size = 25, page_size_param = 'per_page', "
             "total_path = 'total'"),
    ("offset", "paginate = 'offset', page_size = 25, total_path = 'meta.total'"),
])
def test_max_pages_below_a_known_total(flowsql, tmp_path, api, style, options):
    got = read(flowsql, tmp_path, f"'{api.url(style)}' WITH ({options}, max_pages = 3)")
    assert got.column("id").to_pylist() == list(range(3 * PAGE))


def test_a_path_index_too_large_is_an_error_naming_it(flowsql, api):
    err = error(flowsql, f"'{api.url('cursor')}' WITH (paginate = 'cursor', "
                         "cursor_path = '$.a[99999999999999999999]')")
    assert "an index too large" in err and "cursor_path" in err, err


def test_known_pages_are_fetched_concurrently_up_to_max_concurrency(flowsql, tmp_path,
                                                                     api, oracle):
    api.latency = 0.1
    got = read(flowsql, tmp_path, f"'{api.url('offset')}' WITH (paginate = 'offset', "
                                  "page_size = 10, total_path = 'meta.total', "
                                  "max_concurrency = 6)")
    assert got.equals(oracle())
    assert 3 <= api.max_in_flight <= 6, api.max_in_flight
    offsets = sorted(int(r.query["offset"]) for r in api.requests("offset"))
    assert offsets == list(range(0, N + 10, 10))  # each page once, and one past the end


def test_pages_a_link_header_numbers_are_fetched_concurrently(flowsql, tmp_path, api,
                                                               oracle):
    # rel="last" numbers the pages as rel="next" does: they are known, not a chain.
    api.latency = 0.1
    got = read(flowsql, tmp_path, f"'{api.url('link', query='per=x')}' WITH "
                                  "(max_concurrency = 6)")
    assert got.equals(oracle())
    assert 3 <= api.max_in_flight <= 6, api.max_in_flight
    asked = sorted(int(r.query.get("page", 1)) for r in api.requests("link"))
    assert asked == list(range(1, N // PAGE + 1))  # each page once
    assert all(r.query["per"] == "x" for r in api.requests("link"))


@pytest.mark.parametrize("lie", [30, -30])
def test_a_lying_last_link_is_an_error(flowsql, api, lie):
    api.lie = lie
    err = error(flowsql, f"'{api.url('link')}'")
    if lie > 0:  # 12 pages said, 10 served
        assert err == (f"Error: page 11 of {api.url('link')}?page=11: 0 records where 25 "
                       "were expected (the Link header's rel=\"last\" said 12 pages)"), err
    else:
        assert err == (f"Error: page 9 of {api.url('link')}?page=9: the Link header has a "
                       "next page past the last (the Link header's rel=\"last\" said 9 "
                       "pages)"), err


def _threads_while_running(proc):
    """The most threads `proc` had (/proc/<pid>/status), sampled until it exits."""
    most = 0
    while proc.poll() is None:
        with contextlib.suppress(OSError):
            with open(f"/proc/{proc.pid}/status") as status:
                for line in status:
                    if line.startswith("Threads:"):
                        most = max(most, int(line.split()[1]))
        time.sleep(0.01)
    return most


def _popen(args):
    env = {**os.environ, "NO_PROXY": _no_proxy(), "no_proxy": _no_proxy()}
    return subprocess.Popen([flowsql_bin(), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_pages_in_flight_share_one_thread(tmp_path, api, oracle):
    # 63 pages of 4 records: the first 8 read for the columns, then the other 55 in
    # flight at once. libcurl's multi interface carries them on the http client's one
    # thread, where a thread per request would add 55 to the runtime's (its CPU and
    # IO pools).
    api.latency = 1.0
    out = tmp_path / "out.parquet"
    proc = _popen(["-c", f"SELECT * FROM '{api.url('offset')}' WITH (paginate = 'offset', "
                         "page_size = 4, total_path = 'meta.total', max_concurrency = 64) "
                         f"ORDER BY id INTO '{out}'"])
    most = _threads_while_running(proc)
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert pq.read_table(out).equals(oracle())
    assert api.max_in_flight >= 50, api.max_in_flight
    assert most <= os.cpu_count() + 16, most


def test_ctrl_c_ends_many_requests_in_flight_promptly(api):
    api.latency = 3.0
    proc = _popen(["-c", f"SELECT count(*) FROM '{api.url('offset')}' WITH ("
                         "paginate = 'offset', page_size = 4, total_path = 'meta.total', "
                         "max_concurrency = 64)"])
    try:
        wait_for(lambda: api._in_flight >= 50, "55 requests in flight")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=1.5)  # less than the 3 s the server takes
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode != 0


def test_one_rate_limit_for_all_concurrent_requests(flowsql, tmp_path, api):
    read(flowsql, tmp_path, f"'{api.url('offset')}' WITH (paginate = 'offset', "
                            "page_size = 25, total_path = 'meta.total', "
                            "max_concurrency = 8, requests_per_second = 20)")
    arrivals = sorted(r.at for r in api.requests("offset"))
    assert len(arrivals) == 11
    # 1/20 s apart: 10 gaps take 0.5 s, less the scheduling of a busy machine (a
    # gap alone may shrink when the request before it is seen late).
    assert arrivals[-1] - arrivals[0] >= 0.45, arrivals


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_compressed_answers_are_decoded(flowsql, tmp_path, api, oracle, encoding):
    api.encoding = encoding
    got = read(flowsql, tmp_path, f"'{api.url('link')}'")
    assert got.equals(oracle())
    assert {r.encoding for r in api.requests("link")} == {encoding}


# --- requests ----------------------------------------------------------------------

def echo(flowsql, source, env=None):
    r = flowsql("--format", "json", "-c", f"SELECT * FROM {source}", env=env)
    assert r.code == 0, r
    row = json.loads(r.out)[0]
    return json.loads(row["query"]), json.loads(row["headers"]), row["body"], row["method"]


def test_headers_and_params_keep_commas_equals_and_quotes(flowsql, api):
    query, headers, _, method = echo(
        flowsql, f"'{api.url('echo')}' WITH (headers = {{'X-List': 'a,b=c', "
                 "'X-Quote': 'say \"hi\" ''there''', 'Accept': 'application/json'}, "
                 "params = {'filter': 'x=1,y=2', 'q': 'it''s \"so\"'})")
    assert method == "GET"
    assert headers["x-list"] == "a,b=c"
    assert headers["x-quote"] == "say \"hi\" 'there'"
    assert headers["accept"] == "application/json"
    assert query == {"filter": "x=1,y=2", "q": "it's \"so\""}


def test_environment_variables_fill_options(flowsql, api):
    env = {"FLOWSQL_TEST_FILTER": "a=1,b=2", "FLOWSQL_TEST_HEADER": "h,v"}
    query, headers, _, _ = echo(
        flowsql, f"'{api.url('echo')}' WITH (params = {{'f': '${{FLOWSQL_TEST_FILTER}}'}}, "
                 "headers = {'X-H': '${FLOWSQL_TEST_HEADER}'})", env=env)
    assert query == {"f": "a=1,b=2"} and headers["x-h"] == "h,v"
    r = flowsql("-c", f"SELECT * FROM '{api.url('echo')}' WITH (token = '${{NO_SUCH_VAR_X}}', "
                      "auth = 'bearer')")
    assert r.code != 0
    assert ("option 'token' at line 1:" in r.err and
            "for http source: environment variable 'NO_SUCH_VAR_X' is not set" in r.err), r


def test_post_body_template(flowsql, api):
    _, headers, body, method = echo(
        flowsql, f"'{api.url('echo')}' WITH (method = 'POST', "
                 "body = '{\"page\": {page}, \"q\": \"a,b\"}', paginate = 'page', max_pages = 1)")
    assert method == "POST"
    assert json.loads(body) == {"page": 1, "q": "a,b"}
    assert headers["content-type"] == "application/json"


# --- authentication ----------------------------------------------------------------

AUTH = {
    "bearer": f"auth = 'bearer', token = '{server.TOKEN}'",
    "basic": f"auth = 'basic', username = '{server.USER}', password = '{server.PASSWORD}'",
    "key_header": f"auth = 'api_key', api_key = '{server.KEY}'",
    "key_query": f"auth = 'api_key', api_key = '{server.KEY}', api_key_in = 'query', "
                 "api_key_name = 'api_key'",
}


@pytest.mark.parametrize("auth", list(AUTH))
def test_every_auth_type(flowsql, tmp_path, api, oracle, auth):
    got = read(flowsql, tmp_path, f"'{api.url('link', auth)}' WITH ({AUTH[auth]})")
    assert got.equals(oracle())
    assert {r.status for r in api.requests("link")} == {200}


@pytest.mark.parametrize("auth", list(AUTH))
def test_wrong_credentials_are_a_401_without_secrets(flowsql, api, auth):
    url = api.url("link", auth)
    options = AUTH[auth].replace("SECRET'", "SECRET-wrong'")
    err = error(flowsql, f"'{url}' WITH ({options})")
    shown = url.replace(server.KEY, "***")
    assert f"Error: page 1 of {shown}" in err or f"Error: {shown}" in err, err
    assert 'HTTP 401 Unauthorized: {"error": "bad credentials"}' in err, err


def test_a_refused_oauth2_client_names_the_token_url(flowsql, api):
    err = error(flowsql, f"'{api.url('cursor', 'oauth2')}' WITH (auth = 'oauth2', "
                         f"token_url = '{api.base}/token', client_id = '{server.CLIENT_ID}', "
                         f"client_secret = 'not-{server.CLIENT_SECRET}')")
    assert err == (f"Error: {api.base}/token: HTTP 401 Unauthorized: "
                   '{"error": "invalid_client"}'), err
    assert api.requests("cursor") == []


def test_oauth2_token_is_fetched_once(flowsql, tmp_path, api, oracle):
    got = read(flowsql, tmp_path,
               f"'{api.url('offset', 'oauth2')}' WITH (auth = 'oauth2', "
               f"token_url = '{api.base}/token', client_id = '{server.CLIENT_ID}', "
               f"client_secret = '{server.CLIENT_SECRET}', paginate = 'offset', "
               "page_size = 10, total_path = 'meta.total')")
    assert got.equals(oracle())
    assert api.tokens_issued == 1


def test_oauth2_token_is_refreshed_before_it_expires(flowsql, tmp_path, api, oracle):
    api.token_lifetime = 1.0
    api.latency = 0.15
    got = read(flowsql, tmp_path,
               f"'{api.url('cursor', 'oauth2')}' WITH (auth = 'oauth2', "
               f"token_url = '{api.base}/token', client_id = '{server.CLIENT_ID}', "
               f"client_secret = '{server.CLIENT_SECRET}')")
    assert got.equals(oracle())
    assert api.tokens_issued >= 2
    assert {r.status for r in api.requests("cursor")} == {200}  # never a stale token


@pytest.mark.parametrize("style,query,options", [
    # The key in the URL; the next URLs do not carry it: it is added to them.
    ("next", f"api_key={server.KEY}", ""),
    # The key sent by auth; the Link header's next URLs carry it back.
    ("ndjson", "", AUTH["key_query"]),
])
def test_a_key_in_the_query_stays_out_of_chain_offsets(flowsql, tmp_path, api, oracle,
                                                        style, query, options):
    url = api.url(style, "key_query", query=query)
    state = tmp_path / "state"
    out = tmp_path / "out.parquet"
    r = flowsql("--state-dir", str(state), "-c",
                f"SELECT * FROM '{url}'" + (f" WITH ({options})" if options else "") +
                f" ORDER BY id INTO '{out}'")
    assert r.code == 0, r
    assert pq.read_table(out).equals(oracle())
    asked = api.requests(style)
    assert [r.status for r in asked] == [200] * (N // PAGE)
    assert all(r.raw_query.count(f"api_key={server.KEY}") == 1 for r in asked), asked
    files = [p for p in state.rglob("*") if p.is_file()]
    assert files and not any(server.KEY.encode() in p.read_bytes() for p in files)


def test_secrets_are_not_in_explain(flowsql, api):
    url = api.url("link", "key_query", query=f"api_key={server.KEY}")
    r = flowsql("-c", f"EXPLAIN SELECT * FROM '{url}' WITH (auth = 'bearer', "
                      f"token = '{server.TOKEN}')")
    assert r.code == 0, r
    assert "http GET" in r.out and "api_key=***" in r.out, r
    assert not any(s in r.out + r.err for s in SECRETS), r


# --- failures ----------------------------------------------------------------------

@pytest.mark.parametrize("failure", [429, 503, 500, "reset", "cut"])
def test_transient_failures_are_retried(flowsql, tmp_path, api, oracle, failure):
    api.retry_after = 1
    api.fail("cursor", failure, times=2)
    got = read(flowsql, tmp_path, f"'{api.url('cursor')}'")
    assert got.equals(oracle())
    statuses = [r.status for r in api.requests("cursor")]
    assert len(statuses) == N // PAGE + 2, statuses


def test_retry_after_is_honoured(flowsql, tmp_path, api):
    api.retry_after = 1
    api.fail("link", 429, times=1)
    read(flowsql, tmp_path, f"'{api.url('link')}' WITH (max_pages = 1)")
    first, second = api.requests("link")[:2]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.9


def test_retries_run_out_naming_url_status_and_body(flowsql, api):
    api.fail("cursor", 503, times=10)
    url = api.url("cursor", query="token=" + server.TOKEN)
    err = error(flowsql, f"'{url}' WITH (retries = 2)")
    shown = url.replace(server.TOKEN, "***")
    assert err == (f"Error: {shown}: HTTP 503 Service Unavailable (after 3 attempts): "
                   '{"error": "injected 503"}'), err
    assert len(api.requests("cursor")) == 3


def test_a_client_error_is_not_retried(flowsql, api):
    api.fail("cursor", 404, times=10)
    err = error(flowsql, f"'{api.url('cursor')}'")
    assert err == f"Error: {api.url('cursor')}: HTTP 404 Not Found: " \
                  '{"error": "injected 404"}', err
    assert len(api.requests("cursor")) == 1


def test_a_silent_server_times_out(flowsql, api):
    api.slow_seconds = 3
    api.fail("cursor", "slow", times=5)
    err = error(flowsql, f"'{api.url('cursor')}' WITH (timeout = '0.5s', retries = 1)")
    assert err.startswith(f"Error: {api.url('cursor')}: timed out: no data for 500 ms"), err
    assert err.endswith("(after 2 attempts)"), err


def test_a_truncated_body_that_stays_truncated_fails(flowsql, api):
    api.fail("cursor", "cut", times=10)
    err = error(flowsql, f"'{api.url('cursor')}' WITH (retries = 1)")
    assert err.startswith(f"Error: {api.url('cursor')}: transfer failed after "), err
    assert err.endswith("(after 2 attempts)"), err


def test_malformed_json_names_the_page(flowsql, api):
    api.fail("next", "malformed", times=1)
    err = error(flowsql, f"'{api.url('next')}'")
    assert err == (f"Error: page 1 of {api.url('next')}: byte 0: malformed JSON: the "
                   "document is incomplete"), err


def test_malformed_json_on_a_later_page_names_it(flowsql, api):
    api.fail("cursor", None, times=1)  # page 1 answers normally
    api.fail("cursor", "malformed", times=1)
    err = error(flowsql, f"'{api.url('cursor')}'")
    assert err.startswith("Error: page 2 of "), err


@pytest.mark.parametrize("style", ["cursor", "page_total"])
def test_columns_widen_across_the_sampled_pages(flowsql, tmp_path, api, oracle, style):
    # "extra" appears on page 2 as an integer and is a decimal number from page 3 on.
    api.drift = 2
    path, options = STYLES.get(style, (style, ""))
    got = read(flowsql, tmp_path, f"'{api.url(path)}'" +
               (f" WITH ({options})" if options else ""))
    extra = ("CASE WHEN id < 25 THEN NULL WHEN id < 50 THEN id::DOUBLE "
             "ELSE id + 0.5 END AS extra")
    assert got.equals(oracle(f"*, {extra}")), got.schema


def test_a_page_past_the_sample_that_does_not_fit_names_the_way_out(flowsql, tmp_path,
                                                                      api, oracle):
    api.drift = 3  # a new key on page 3, a wider type from page 4
    for sampled, problem in [(2, "key 'extra' is not in the schema"),
                             (3, "key 'extra': expected BIGINT, found a number (75.5)")]:
        err = error(flowsql, f"'{api.url('cursor')}' WITH (sample_pages = {sampled})")
        assert err.startswith(f"Error: page {sampled + 1} of {api.url('cursor')}?cursor="), err
        assert err.endswith(
            f"record 1: {problem}; the columns were inferred from the first {sampled} "
            "pages: set sample_pages = -1 to infer them from every page, or declare them "
            "with the schema option"), err
    api.reset()
    api.drift = 3
    extra = "CASE WHEN id < 50 THEN NULL WHEN id < 75 THEN id::DOUBLE ELSE id + 0.5 END"
    got = read(flowsql, tmp_path, f"'{api.url('cursor')}' WITH (sample_pages = -1)")
    assert got.equals(oracle(f"*, {extra} AS extra"))
    # Every page was asked for the columns; the first 8 were kept for the rows, the
    # other 2 asked again.
    assert len(api.requests("cursor")) == N // PAGE + 2
    got = read(flowsql, tmp_path,
               f"'{api.url('cursor')}' WITH (schema = {{'id': 'BIGINT', 'name': 'VARCHAR'}})")
    assert got.equals(oracle("id, name"))


def test_sampled_pages_are_not_asked_again(flowsql, tmp_path, api, oracle):
    path, options = STYLES["offset_total"]
    got = read(flowsql, tmp_path, f"'{api.url(path)}' WITH ({options})")
    assert got.equals(oracle())
    asked = sorted(r.query.get("offset") for r in api.requests(path))
    assert len(asked) == len(set(asked)), asked


@pytest.mark.parametrize("policy,count", [("skip", "0,0"), ("null", f"{N},0")])
def test_records_that_do_not_fit_follow_on_bad_record(flowsql, api, policy, count):
    source = (f"'{api.url('next')}' WITH (schema = {{'id': 'BIGINT', 'name': 'BIGINT'}}, "
              f"on_bad_record = '{policy}')")
    r = flowsql("--format", "csv", "-c", f"SELECT count(*), count(name) FROM {source}")
    assert r.code == 0 and r.out.splitlines()[1] == count, r
    told = ("250 records skipped (on_bad_record = 'skip')" if policy == "skip" else
            "250 records with values that did not fit read as NULL (on_bad_record = 'null')")
    assert r.err == f"Warning: http GET {api.url('next')} paginate=auto: {told}\n", r
    err = error(flowsql, source.replace(f", on_bad_record = '{policy}'", ""))
    assert err == (f"Error: page 1 of {api.url('next')}: record 1: key 'name': expected "
                   'BIGINT, found a string ("with \\"quote\\", comma 0")'), err


@pytest.mark.parametrize("lie", [30, -30])
def test_a_lying_total_is_an_error(flowsql, api, lie):
    api.lie = lie
    err = error(flowsql, f"'{api.url('offset')}' WITH (paginate = 'offset', page_size = 50, "
                         "total_path = 'meta.total')")
    total = N + lie
    if lie > 0:
        assert err == (f"Error: page 6 of {api.url('offset')}?offset=250&limit=50: 0 "
                       f"records where 30 were expected (the total said {total} records)"), err
    else:
        assert err == (f"Error: page 5 of {api.url('offset')}?offset=200&limit=50: 50 "
                       f"records where 20 were expected (the total said {total} records)"), err


def test_a_total_that_says_too_little_is_caught_past_the_end(flowsql, api):
    api.lie = -50
    err = error(flowsql, f"'{api.url('offset')}' WITH (paginate = 'offset', page_size = 50, "
                         "total_path = 'meta.total')")
    assert err == (f"Error: page 5 of {api.url('offset')}?offset=200&limit=50: 50 records "
                   "past the last page (the total said 200 records)"), err


def test_ctrl_c_stops_a_slow_read_promptly(api):
    api.latency = 5.0  # the first request: before the statement has its columns
    wait_for(lambda: api._in_flight == 0, "the requests of earlier tests to end")
    proc = _popen(["-c", f"SELECT count(*) FROM '{api.url('cursor')}'"])
    wait_for(lambda: api._in_flight, "a request in flight")
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=2.5)  # less than the 5 s the server takes
    finally:
        proc.kill()
    assert (proc.returncode, err) == (130, "Interrupted\n")


# --- TLS ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def https_api(records, tmp_path_factory):
    """The API over HTTPS with a self-signed certificate (openssl makes it)."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    with server.http_api(records, PAGE, tls=(str(d / "cert.pem"), str(d / "key.pem"))) as s:
        yield s


def test_tls_is_verified_unless_turned_off(flowsql, tmp_path, https_api, oracle):
    err = error(flowsql, f"'{https_api.url('cursor')}'")
    assert err.startswith(f"Error: {https_api.url('cursor')}: TLS failed: "), err
    got = read(flowsql, tmp_path, f"'{https_api.url('cursor')}' WITH (verify_tls = false)")
    assert got.equals(oracle())


# --- which connector an http(s) URL goes to -----------------------------------------

def test_a_file_extension_makes_an_url_a_file_and_any_other_an_api(flowsql, api, tmp_path):
    (tmp_path / "x.csv").write_text("id,name\n1,a\n")
    with http_files(tmp_path) as files:
        r = flowsql("-c", f"EXPLAIN SELECT * FROM '{files.url('x.csv')}'")
        assert r.code == 0 and "file csv" in r.out, r
        r = flowsql("-c", f"EXPLAIN SELECT * FROM '{files.url('x.csv', query='a=b')}'")
        assert r.code == 0 and "file csv" in r.out, r
    r = flowsql("-c", f"EXPLAIN SELECT * FROM '{api.url('csv')}'")
    assert r.code == 0 and f"http GET {api.url('csv')}" in r.out, r
    r = flowsql("--format", "csv", "-c", f"SELECT count(*) FROM read_http('{api.url('csv')}')")
    assert r.code == 0 and r.out.splitlines()[1] == str(N), r


# --- the conformance suite ---------------------------------------------------------

def test_conformance_suite(api):
    """The runtime's conformance checks (schema, splits' union, pushdowns, resume
    from any offset, scan tasks) over the http source's page splits and chains, and
    its polling streams (unbounded: read up to the records served)."""
    binary = REPO / "build" / "flowsql_conformance_tests"
    if os.environ.get("FLOWSQL_BIN"):
        binary = os.path.join(os.path.dirname(os.environ["FLOWSQL_BIN"]),
                              "flowsql_conformance_tests")
    env = {**os.environ, "FLOWSQL_CONFORMANCE_HTTP_API": api.base,
           "NO_PROXY": _no_proxy(), "no_proxy": _no_proxy()}
    proc = subprocess.run([str(binary), "--gtest_filter=*SourceConformance*http*"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "[  PASSED  ]" in proc.stdout and " 0 tests" not in proc.stdout, proc.stdout


@pytest.mark.parametrize("options,message", [
    ("paginate = 'cursor'", "paginate = 'cursor' needs option 'cursor_path'"),
    ("paginate = 'next_url'", "paginate = 'next_url' needs option 'next_url_path'"),
    ("auth = 'bearer'", "auth = 'bearer' needs option 'token'"),
    ("auth = 'oauth2', token_url = 'http://127.0.0.1:9/t', client_id = 'c'",
     "auth = 'oauth2' needs option 'client_secret'"),
    ("body = '{}'", "option 'body' is sent with method = 'POST' only"),
    ("page_size = 0", "option 'page_size': expected >= 1, got 0"),
    ("max_concurrency = 0", "option 'max_concurrency': expected 1 to 256, got 0"),
    ("sample_pages = 0", "option 'sample_pages': expected >= 1, or -1 for every page"),
    ("records_path = '$.a[1]'",
     "option records_path '$.a[1]': expected '*' or a quoted key at character 5"),
    ("cursor_path = 'a..b'", "option 'cursor_path': not a JSON path: 'a..b' (an empty name)"),
    ("paginate = 'pages'", "option 'paginate' at line 1:"),
])
def test_bad_options_are_named_before_any_request(flowsql, api, options, message):
    err = error(flowsql, f"'{api.url('cursor')}' WITH ({options})")
    assert message in err, err
    assert api.requests() == []


def test_lateral_read_http_is_called_per_row_of_another_table(flowsql, api):
    r = flowsql("--format", "csv", "-c",
                "SELECT u.p, count(*), min(t.id), max(t.id) FROM (VALUES (1), (3), (10)) u(p), "
                f"LATERAL read_http('{api.url('page')}?page=' || u.p, paginate => 'none') t "
                "GROUP BY u.p ORDER BY u.p")
    assert r.code == 0, r
    assert r.out.splitlines()[1:] == ["1,25,0,24", "3,25,50,74", "10,25,225,249"], r
    # Each call once (the first row's call once more, when the plan learns the columns).
    assert {req.query["page"] for req in api.requests("page")} == {"1", "3", "10"}


def test_lateral_read_http_calls_share_one_rate_limit(flowsql, api):
    pages = list(range(1, 11))
    values = ", ".join("(%d)" % p for p in pages)
    r = flowsql("--format", "csv", "-c",
                f"SELECT count(*) FROM (VALUES {values}) u(p), "
                f"LATERAL read_http('{api.url('page')}?page=' || u.p, paginate => 'none', "
                "requests_per_second => 20) t")
    assert r.code == 0, r
    assert r.out.splitlines()[1:] == ["250"], r
    # Ten calls, eight at a time, each its own source: one limit for the host.
    arrivals = sorted(req.at for req in api.requests("page"))
    assert len(arrivals) == 11  # the first row's call twice (the plan's probe)
    # 1/20 s apart: 10 gaps take 0.5 s, less the scheduling of a busy machine (a
    # gap alone may shrink when the request before it is seen late).
    assert arrivals[-1] - arrivals[0] >= 0.45, arrivals


# --- json-server: a real REST server nobody here wrote --------------------------------

@pytest.fixture(scope="module")
def json_api(records):
    from json_server import json_server
    with json_server({"items": records}) as s:
        yield s


@pytest.mark.parametrize("options", [
    # json-server 0.17: _page/_limit, X-Total-Count, and an RFC 8288 Link header.
    "paginate = 'link_header', params = {'_page': '1', '_limit': '20'}",
    "paginate = 'page', page_param = '_page', page_size_param = '_limit', page_size = 20",
    "params = {'_page': '1', '_limit': '20'}",  # auto: the Link header
])
def test_json_server_pages_read_what_duckdb_reads(flowsql, tmp_path, json_api, oracle,
                                                  options):
    got = read(flowsql, tmp_path, f"'{json_api.url('items')}' WITH ({options})")
    expected = oracle()
    assert got.schema == expected.schema
    assert got.equals(expected)
