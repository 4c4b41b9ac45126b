"""Files on object stores, against real servers: moto (S3), fake-gcs-server (GCS) and
Azurite (Azure Blob), started by test/servers/object_stores.py on 127.0.0.1.

- The connector conformance suite (test/conformance) runs once per store.
- Reads (globs, hive pruning, CSV.gz, JSON) equal DuckDB's over the same local files.
- Writes read back through pyarrow's own filesystems, values and types.
- Credentials: the usual environment variables, options over them; secrets never
  appear in errors or EXPLAIN.
- Delivery: a write killed mid-upload leaves nothing under the target name; a
  continuous pipeline into a bucket killed at every step of an epoch loses and repeats
  no row.

    FLOWSQL_BIN=build/flowsql .venv/bin/python -m pytest -q test/integration/test_object_stores.py
"""
import contextlib
import io
import os
import signal
import subprocess
import sys
import time

import duckdb
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
from object_store_fixtures import (  # noqa: E402,F401 (fixtures)
    azure_container, azure_server, gcs_bucket, gcs_server, s3_bucket, s3_server)

from flowsql_harness import ROOT, flowsql  # noqa: E402,F401 (fixture)

HANG = 120  # s: a command that takes longer is a hang


def run(args, env, timeout=HANG):
    full = dict(os.environ)
    full.update(env)
    return subprocess.run(args, capture_output=True, text=True, env=full, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def sql(flowsql, env, text):
    r = run([flowsql, "--no-progress", "-c", text], env)
    assert r.returncode == 0, r.stderr
    return r


@contextlib.contextmanager
def running(args, env):
    """flowsql with `args` and a server's `env` in the background; killed on leaving."""
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_until(proc, condition, what, deadline):
    """Polls `condition` until it holds; fails when `proc` ends or `deadline` passes."""
    while not condition():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def stop_cleanly(proc):
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 0, err.decode()


def rows(flowsql, env, text):
    """The result of a query as a pyarrow table (flowsql writes Arrow IPC to stdout)."""
    r = subprocess.run([flowsql, "--no-progress", "--format", "arrow", "-c", text],
                       capture_output=True, env={**os.environ, **env}, timeout=HANG,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return pa.ipc.open_stream(io.BytesIO(r.stdout)).read_all()


# -------------------------------------------------------------------------------------
# Conformance: every source and sink check, on each store

STORES = {
    "s3": ("s3_server", "s3_bucket", "s3"),
    "gcs": ("gcs_server", "gcs_bucket", "gs"),
    "azure": ("azure_server", "azure_container", "az"),
}


@pytest.mark.parametrize("store", sorted(STORES))
def test_conformance_suite_passes_on_the_store(store, request, flowsql):
    server_fixture, bucket_fixture, scheme = STORES[store]
    server = request.getfixturevalue(server_fixture)
    bucket = request.getfixturevalue(bucket_fixture)
    binary = os.path.join(os.path.dirname(flowsql), "flowsql_conformance_tests")
    # One store per process: Azure's SDK and Azurite do not get along with idle pooled
    # connections over a long run (azure-sdk-for-cpp issue 4206).
    r = run([binary, "--gtest_filter=*/%s_*" % scheme],
            {**server.env, "FLOWSQL_CONFORMANCE_ROOTS": "%s://%s" % (scheme, bucket)},
            timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    # 4 source cases x 5 checks, 7 sink cases x 3 checks (two skipped: a single
    # object is not transactional).
    assert "[  PASSED  ] 39 tests." in r.stdout, r.stdout[-2000:]
    for case in ("%s_parquet" % scheme, "%s_avro" % scheme, "%s_dir_csv" % scheme,
                 "%s_single_parquet" % scheme):
        assert case in r.stdout


# -------------------------------------------------------------------------------------
# Reads equal DuckDB's over the same files

def lake(tmp_path):
    """A local hive-partitioned Parquet dataset, a CSV.gz and an NDJSON file."""
    root = tmp_path / "lake"
    for year in (2023, 2024, 2025):
        for month in (1, 2):
            d = root / "events" / ("year=%d" % year) / ("month=%d" % month)
            d.mkdir(parents=True)
            n = 500
            base = (year * 10 + month) * 1000
            pq.write_table(pa.table({
                "id": pa.array(range(base, base + n), pa.int64()),
                "amount": pa.array([i * 0.25 for i in range(n)], pa.float64()),
                "tag": pa.array(["t%d" % (i % 7) for i in range(n)]),
            }), str(d / "part-0.parquet"))
    t = pa.table({"k": pa.array(range(1000), pa.int64()),
                  "s": pa.array(["v%d" % i for i in range(1000)])})
    pcsv.write_csv(t, str(root / "plain.csv"))
    with open(root / "plain.csv", "rb") as f:
        import gzip
        (root / "table.csv.gz").write_bytes(gzip.compress(f.read()))
    os.remove(root / "plain.csv")
    with open(root / "rows.ndjson", "w") as f:
        for i in range(300):
            f.write('{"a": %d, "b": "x%d", "c": %s}\n' % (i, i, "null" if i % 5 else i))
    return root


def upload(fs, local, bucket):
    for dirpath, _, names in os.walk(local):
        for n in names:
            path = os.path.join(dirpath, n)
            key = "%s/%s" % (bucket, os.path.relpath(path, local))
            with open(path, "rb") as src, fs.open_output_stream(key, compression=None) as dst:
                dst.write(src.read())


QUERIES = [
    ("SELECT year, month, count(*) AS n, sum(amount) AS s FROM {events} "
     "WHERE year >= 2024 GROUP BY ALL ORDER BY ALL"),
    "SELECT tag, count(*) AS n FROM {events} WHERE month = 2 GROUP BY tag ORDER BY tag",
    "SELECT count(*) AS n, sum(k) AS s, max(s) AS m FROM {csv}",
    "SELECT a, b, c FROM {ndjson} WHERE c IS NOT NULL ORDER BY a",
]


def test_reads_equal_duckdb_on_the_same_files(s3_server, s3_bucket, tmp_path, flowsql):
    local = lake(tmp_path)
    upload(s3_server.filesystem(), local, s3_bucket)
    con = duckdb.connect()
    for q in QUERIES:
        ours = rows(flowsql, s3_server.env, q.format(
            events="'s3://%s/events/**/*.parquet'" % s3_bucket,
            csv="'s3://%s/table.csv.gz'" % s3_bucket,
            ndjson="'s3://%s/rows.ndjson'" % s3_bucket))
        theirs = con.sql(q.format(
            events="read_parquet('%s/events/**/*.parquet', hive_partitioning = true)"
            % local,
            csv="'%s/table.csv.gz'" % local,
            ndjson="'%s/rows.ndjson'" % local)).to_arrow_table()
        assert ours.column_names == theirs.column_names, q
        assert ours.to_pylist() == theirs.to_pylist(), q


def test_partition_filter_prunes_objects_before_opening(s3_server, s3_bucket, tmp_path,
                                                        flowsql):
    upload(s3_server.filesystem(), lake(tmp_path), s3_bucket)
    r = sql(flowsql, s3_server.env,
            "EXPLAIN SELECT count(*) FROM 's3://%s/events' WHERE year = 2025 AND month = 1"
            % s3_bucket)
    assert "files=1 read, 5 pruned by partition" in r.stdout, r.stdout


# -------------------------------------------------------------------------------------
# Writes read back by pyarrow

@pytest.mark.parametrize("store", sorted(STORES))
def test_writes_read_back_by_pyarrow(store, request, flowsql):
    server_fixture, bucket_fixture, scheme = STORES[store]
    server = request.getfixturevalue(server_fixture)
    bucket = request.getfixturevalue(bucket_fixture)
    env = server.env
    sql(flowsql, env, "COPY (SELECT range AS id, CAST(range AS DECIMAL(12,2)) AS d, "
        "'r' || range AS s FROM range(5000)) TO '%s://%s/one.parquet'" % (scheme, bucket))
    sql(flowsql, env, "SELECT range AS id FROM range(7) INTO '%s://%s/dir/' "
        "WITH (format = 'csv')" % (scheme, bucket))
    fs = server.filesystem()
    with fs.open_input_file("%s/one.parquet" % bucket) as f:
        t = pq.read_table(f)
    assert t.schema.remove_metadata() == pa.schema(
        [("id", pa.int64()), ("d", pa.decimal128(12, 2)), ("s", pa.string())])
    assert t.column("id").to_pylist() == list(range(5000))
    assert t.column("s").to_pylist()[4999] == "r4999"
    from pyarrow import fs as pafs
    parts = [i.path for i in fs.get_file_info(pafs.FileSelector("%s/dir" % bucket))]
    assert len(parts) == 1 and parts[0].split("/")[-1].startswith("part-00000000-")
    with fs.open_input_stream(parts[0]) as f:
        assert pcsv.read_csv(f).column("id").to_pylist() == list(range(7))
    # error_if_exists by default; overwrite replaces.
    r = run([flowsql, "-c", "COPY (SELECT 1 AS a) TO '%s://%s/one.parquet'"
             % (scheme, bucket)], env)
    assert r.returncode != 0
    assert "%s://%s/one.parquet already exists" % (scheme, bucket) in r.stderr
    sql(flowsql, env, "COPY (SELECT 1 AS a) TO '%s://%s/one.parquet' (mode 'overwrite')"
        % (scheme, bucket))
    with fs.open_input_file("%s/one.parquet" % bucket) as f:
        assert pq.read_table(f).to_pylist() == [{"a": 1}]


# -------------------------------------------------------------------------------------
# Delta tables in a store

@pytest.mark.parametrize("store", sorted(STORES))
def test_delta_tables_in_a_store_read_as_delta_rs_reads_them(store, request, tmp_path,
                                                            flowsql):
    import deltalake
    server_fixture, bucket_fixture, scheme = STORES[store]
    server = request.getfixturevalue(server_fixture)
    bucket = request.getfixturevalue(bucket_fixture)
    # Written locally by delta-rs (partitioned, checkpointed, appended), then uploaded.
    local = str(tmp_path / "lake" / "t")
    table = pa.table({"id": pa.array(range(300), pa.int64()),
                      "part": ["a" if i % 3 else "b" for i in range(300)],
                      "v": [f"v{i}" for i in range(300)]})
    deltalake.write_deltalake(local, table.slice(0, 200), partition_by=["part"])
    deltalake.DeltaTable(local).create_checkpoint()
    deltalake.write_deltalake(local, table.slice(200), mode="append")
    upload(server.filesystem(), str(tmp_path / "lake"), bucket)
    uri = "delta://%s://%s/t" % (scheme, bucket)
    got = rows(flowsql, server.env, "SELECT * FROM '%s' ORDER BY id" % uri)
    want = pa.table(deltalake.DeltaTable(local).to_pyarrow_dataset().to_table()).sort_by("id")
    assert got.to_pylist() == want.select(got.column_names).to_pylist()
    got = rows(flowsql, server.env,
               "SELECT count(*) AS n FROM read_delta('%s://%s/t', version => 0)"
               % (scheme, bucket))
    assert got.to_pylist() == [{"n": 200}]
    r = sql(flowsql, server.env,
            "EXPLAIN SELECT * FROM '%s' WHERE part = 'b' AND id >= 200" % uri)
    assert "version=1 files=1 read, 3 skipped" in r.stdout, r.stdout


# -------------------------------------------------------------------------------------
# Credentials and secrets

def test_azure_options_override_the_environment(azure_server, azure_container, flowsql):
    env = dict(azure_server.env)
    env.pop("AZURE_STORAGE_CONNECTION_STRING")
    env.pop("AZURE_STORAGE_SAS_TOKEN", None)
    env["AZURE_STORAGE_ACCOUNT_KEY"] = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA=="  # wrong key
    env["AZURE_STORAGE_BLOB_ENDPOINT"] = azure_server.endpoint
    target = "az://%s/x.csv" % azure_container
    endpoint = "endpoint = '%s', use_ssl = false" % azure_server.endpoint
    r = run([flowsql, "-c", "COPY (SELECT 1 AS a) TO '%s' (%s)" % (target, endpoint)], env)
    assert r.returncode != 0
    assert target in r.stderr, r.stderr
    assert "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA==" not in r.stderr + r.stdout
    sql(flowsql, env, "COPY (SELECT 1 AS a) TO '%s' (%s, account_key '%s')"
        % (target, endpoint, azure_server.account_key))
    out = rows(flowsql, env, "SELECT * FROM '%s' WITH (%s, account_key = '%s')"
               % (target, endpoint, azure_server.account_key))
    assert out.to_pylist() == [{"a": 1}]


def test_secrets_never_appear_in_errors_or_explain(s3_server, s3_bucket, flowsql):
    secret = "SEKRET-s3-value-1234"
    env = s3_server.env
    opts = "access_key_id = 'testing', secret_access_key = '%s'" % secret
    # A missing bucket fails; the error names the URI, not the secret.
    r = run([flowsql, "-c", "SELECT * FROM 's3://no-such-bucket-x/a.csv' WITH (%s)" % opts],
            env)
    assert r.returncode != 0 and "s3://no-such-bucket-x/a.csv" in r.stderr, r.stderr
    assert secret not in r.stderr + r.stdout
    r = run([flowsql, "-c", "COPY (SELECT 1 AS a) TO 's3://no-such-bucket-x/a.csv' (%s)"
             % opts], env)
    assert r.returncode != 0 and secret not in r.stderr + r.stdout, r.stderr
    # An error that quotes the statement's text.
    r = run([flowsql, "-c", "SELECT * FROM 's3://%s/a.csv' WITH (%s, nonsense = 1)"
             % (s3_bucket, opts)], env)
    assert r.returncode != 0 and "nonsense" in r.stderr and secret not in r.stderr
    sql(flowsql, env, "COPY (SELECT 1 AS a) TO 's3://%s/a.csv' (%s)" % (s3_bucket, opts))
    r = sql(flowsql, env, "EXPLAIN SELECT * FROM 's3://%s/a.csv' WITH (%s)"
            % (s3_bucket, opts))
    assert "s3://%s/a.csv" % s3_bucket in r.stdout and secret not in r.stdout


# -------------------------------------------------------------------------------------
# Delivery

def multipart_uploads(server, bucket):
    import boto3
    client = boto3.client("s3", endpoint_url=server.endpoint, region_name=server.region,
                          aws_access_key_id=server.access_key,
                          aws_secret_access_key=server.secret_key)
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_write_killed_mid_upload_leaves_nothing(s3_server, s3_bucket, flowsql):
    target = "s3://%s/big.parquet" % s3_bucket
    statement = ("COPY (SELECT id, value, category FROM generate(rows => 20000000)) "
                 "TO '%s' (compression 'none')" % target)
    with running([flowsql, "--no-progress", "-c", statement], s3_server.env) as proc:
        wait_until(proc, lambda: multipart_uploads(s3_server, s3_bucket),
                   "no multipart upload started", time.monotonic() + HANG)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    from pyarrow import fs as pafs
    info = s3_server.filesystem().get_file_info("%s/big.parquet" % s3_bucket)
    assert info.type == pafs.FileType.NotFound
    # Run again: the whole file, once.
    sql(flowsql, s3_server.env, statement.replace("20000000", "300000"))
    with s3_server.filesystem().open_input_file("%s/big.parquet" % s3_bucket) as f:
        assert pq.read_metadata(f).num_rows == 300000


POINTS = ["after_offset_log", "mid_write", "after_sink_commit", "before_commit_log",
          "before_ack"]


@pytest.mark.parametrize("point", POINTS)
def test_continuous_pipeline_into_a_bucket_is_exactly_once(point, s3_server, s3_bucket,
                                                           tmp_path, flowsql):
    state = tmp_path / "state"
    statement = ("SELECT * FROM generate(rate => 20000) INTO 's3://%s/out/' WITH "
                 "(format = 'parquet', flush_rows = 1000, flush_interval = '200ms')"
                 % s3_bucket)
    args = [flowsql, "--no-progress", "--state-dir", str(state), "-c", statement]
    # Run 1 dies at `point` in epoch 2.
    r = run(args, {**s3_server.env, "FLOWSQL_FAULT": "%s:2" % point})
    assert r.returncode == -signal.SIGKILL, r.stderr
    # Run 2 resumes, commits a few more epochs and stops on SIGINT.
    fs = s3_server.filesystem()
    from pyarrow import fs as pafs

    def parts():
        infos = fs.get_file_info(pafs.FileSelector("%s/out" % s3_bucket,
                                                   allow_not_found=True))
        return sorted(i.path for i in infos
                      if i.base_name.startswith("part-") and i.base_name.endswith(".parquet"))
    with running(args, s3_server.env) as proc:
        wait_until(proc, lambda: len(parts()) >= 6, "no progress after the restart",
                   time.monotonic() + HANG)
        stop_cleanly(proc)
    ids = []
    for p in parts():
        with fs.open_input_file(p) as f:
            ids += pq.read_table(f, columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)), "rows written twice"
    assert sorted(ids) == list(range(len(ids))), "rows lost"


def test_watched_bucket_reads_new_objects_once_and_deletes_them(s3_server, s3_bucket,
                                                                 tmp_path, flowsql):
    fs = s3_server.filesystem()

    def put(name, text):
        with fs.open_output_stream("%s/in/%s" % (s3_bucket, name), compression=None) as f:
            f.write(text.encode())

    put("a.csv", "id,v\n1,a\n2,b\n")
    out = tmp_path / "out"
    statement = ("SELECT * FROM 's3://%s/in/*.csv' WITH (watch = true, poll_interval = "
                 "'100ms', delete_after_read = true) INTO '%s/' WITH (format = 'csv', "
                 "flush_interval = '100ms')" % (s3_bucket, out))
    from pyarrow import fs as pafs

    def objects():
        return [i.base_name for i in fs.get_file_info(
            pafs.FileSelector("%s/in" % s3_bucket, allow_not_found=True))]

    def ids():
        got = []
        for name in (sorted(os.listdir(out)) if out.is_dir() else []):
            if name.startswith("part-"):
                got += [line.split(",")[0] for line in
                        (out / name).read_text().splitlines()[1:]]
        return sorted(got)
    args = [flowsql, "--no-progress", "--state-dir", str(tmp_path / "st"), "-c", statement]
    with running(args, s3_server.env) as proc:
        deadline = time.monotonic() + HANG
        wait_until(proc, lambda: ids() == ["1", "2"], "a.csv never arrived", deadline)
        put("b.csv", "id,v\n3,c\n")
        wait_until(proc, lambda: ids() == ["1", "2", "3"] and not objects(),
                   "b.csv not read or not deleted", deadline)
        stop_cleanly(proc)


def download(fs, bucket, prefix, local):
    from pyarrow import fs as pafs
    for info in fs.get_file_info(pafs.FileSelector("%s/%s" % (bucket, prefix),
                                                   recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        path = os.path.join(local, os.path.relpath(info.path, bucket))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with fs.open_input_stream(info.path) as src, open(path, "wb") as dst:
            dst.write(src.read())


@pytest.mark.parametrize("store", ["s3", "azure"])
def test_delta_tables_are_written_with_conditional_puts(store, request, tmp_path,
                                                        flowsql):
    """Commits on S3 and Azure are PUTs with If-None-Match: *, so four appenders
    racing for each version of a new table lose no row; delta-rs reads what they, a
    merge and an OPTIMIZE committed, version by version."""
    import deltalake
    server_fixture, bucket_fixture, scheme = STORES[store]
    s3_server = request.getfixturevalue(server_fixture)
    s3_bucket = request.getfixturevalue(bucket_fixture)
    table = "%s://%s/t" % (scheme, s3_bucket)
    procs = [subprocess.Popen(
        [flowsql, "--no-progress", "-c",
         "SELECT range + %d AS id, 'p' || (range %% 2) AS part FROM range(1000) "
         "INTO 'delta://%s' WITH (mode = 'append', partition_by = 'part')"
         % (i * 1000, table)],
        env=s3_server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=HANG)
        assert p.returncode == 0, err
    sql(flowsql, s3_server.env, "SELECT * FROM (VALUES (5, 'p1', 'D'), (4000, 'p0', 'U')) "
        "s(id, part, op) INTO 'delta://%s' WITH (mode = 'merge', merge_on = 'id', "
        "delete_on = 'op = ''D''')" % table)
    sql(flowsql, s3_server.env, "OPTIMIZE 'delta://%s'" % table)
    local = str(tmp_path / "t")
    download(s3_server.filesystem(), s3_bucket, "t", str(tmp_path))
    dt = deltalake.DeltaTable(local)
    assert sorted(h["version"] for h in dt.history()) == [0, 1, 2, 3, 4, 5]
    assert [h["operation"] for h in dt.history()][:2] == ["OPTIMIZE", "MERGE"]
    ids = dt.to_pyarrow_dataset().to_table().column("id").to_pylist()
    assert sorted(ids) == [i for i in range(4001) if i != 5]
    for version in range(4):
        v = deltalake.DeltaTable(local, version=version).to_pyarrow_dataset().to_table()
        assert v.num_rows == 1000 * (version + 1)
    got = rows(flowsql, s3_server.env, "SELECT count(*) AS n FROM 'delta://%s'" % table)
    assert got.to_pylist() == [{"n": 4000}]


def test_delta_writes_to_a_store_without_conditional_puts_are_refused(gcs_server,
                                                                       gcs_bucket,
                                                                       flowsql):
    r = run([flowsql, "-c", "SELECT 1 AS id INTO 'delta://gs://%s/t'" % gcs_bucket],
            gcs_server.env)
    assert r.returncode != 0
    assert ("delta table gs://%s/t: writing Delta tables to gs needs conditional puts "
            "for atomic commits, which flowsql makes on S3, Azure and local folders only"
            % gcs_bucket) in r.stderr, r.stderr
