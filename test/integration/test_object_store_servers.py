"""The object-store servers of test/servers/object_stores.py, driven through
pyarrow's filesystems: the same Arrow C++ S3, Azure and GCS clients that
flowsql links. Checks that each server takes Parquet writes, lists and reads,
large (multipart / block) uploads, Arrow URIs and the environment a flowsql
subprocess gets, and that nothing is left running after a server's block ends,
even when the process that started it is killed."""

import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

SERVERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers")
sys.path.insert(0, SERVERS_DIR)
import object_stores  # noqa: E402
from object_store_fixtures import (  # noqa: E402,F401 (fixtures)
    azure_container,
    azure_server,
    gcs_bucket,
    gcs_server,
    s3_bucket,
    s3_server,
)

KINDS = ["s3", "azure", "gcs"]
FIXTURES = {  # kind -> (server fixture, bucket fixture)
    "s3": ("s3_server", "s3_bucket"),
    "azure": ("azure_server", "azure_container"),
    "gcs": ("gcs_server", "gcs_bucket"),
}
FACTORIES = {"s3": object_stores.moto_s3, "azure": object_stores.azurite,
             "gcs": object_stores.fake_gcs}


@pytest.fixture(params=KINDS)
def store(request):
    """(kind, server, fresh bucket or container) for each of the three servers."""
    server_fixture, bucket_fixture = FIXTURES[request.param]
    server = request.getfixturevalue(server_fixture)
    return request.param, server, request.getfixturevalue(bucket_fixture)


def _table():
    return pa.table({"id": pa.array(range(1000), pa.int64()),
                     "name": pa.array([f"row {i}" for i in range(1000)])})


def test_parquet_write_list_read(store):
    kind, server, bucket = store
    filesystem = server.filesystem()
    path = f"{bucket}/year=2026/part-0.parquet"
    pq.write_table(_table(), path, filesystem=filesystem)

    listed = filesystem.get_file_info(fs.FileSelector(bucket, recursive=True))
    files = {i.path: i.size for i in listed if i.type == fs.FileType.File}
    assert list(files) == [path]
    assert files[path] > 0
    assert pq.read_table(path, filesystem=filesystem).equals(_table())


def _write_chunks(filesystem, path, total, chunk=1 << 20):
    digest = hashlib.sha256()
    block = os.urandom(chunk)
    with filesystem.open_output_stream(path) as out:
        for _ in range(total // chunk):
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def _read_digest(filesystem, path):
    digest = hashlib.sha256()
    with filesystem.open_input_stream(path) as f:
        while True:
            data = f.read(1 << 20)
            if not data:
                return digest.hexdigest()
            digest.update(data)


def test_large_upload(store):
    """12 MiB through the output stream: S3 multipart, Azure staged blocks, GCS upload."""
    kind, server, bucket = store
    filesystem = server.filesystem()
    path = f"{bucket}/big.bin"
    size = 12 << 20
    written = _write_chunks(filesystem, path, size)
    assert filesystem.get_file_info(path).size == size
    assert _read_digest(filesystem, path) == written

    if kind == "s3":  # a multipart upload's ETag is "<md5 of part md5s>-<parts>"
        conn = http.client.HTTPConnection(object_stores.HOST, server.port, timeout=10)
        conn.request("HEAD", f"/{path}")
        etag = conn.getresponse().getheader("ETag").strip('"')
        conn.close()
        assert "-" in etag and int(etag.rsplit("-", 1)[1]) >= 2, etag
    if kind == "azure":
        log = server.log_path.read_text()
        assert log.count(f"/{path}?blockid=") >= 2, "expected several staged blocks"
        assert f"/{path}?comp=blocklist" in log


def test_uri_reaches_server(store):
    """The URI each server gives resolves, through Arrow's FileSystemFromUri, to it."""
    kind, server, bucket = store
    pq.write_table(_table(), f"{bucket}/t.parquet", filesystem=server.filesystem())
    filesystem, path = fs.FileSystem.from_uri(server.uri(bucket, "t.parquet"))
    assert path == f"{bucket}/t.parquet"
    assert pq.read_table(path, filesystem=filesystem).equals(_table())


# What a flowsql subprocess does with nothing but the server's environment.
_CHILD = {
    # AWS_ENDPOINT_URL and the keys, read by Arrow's S3Options::FromUri and the SDK.
    "s3": "fs.FileSystem.from_uri(f's3://{bucket}/t.parquet')",
    # CLOUD_STORAGE_EMULATOR_ENDPOINT, read by google-cloud-cpp for anonymous clients.
    "gcs": "fs.FileSystem.from_uri(f'gs://anonymous@{bucket}/t.parquet')",
    # Arrow reads no AZURE_STORAGE_* itself: the endpoint and a SAS go in the URI.
    "azure": (
        "fs.FileSystem.from_uri('abfs://' + os.environ['AZURE_STORAGE_ACCOUNT_NAME'] + '@'"
        " + os.environ['AZURE_STORAGE_BLOB_ENDPOINT'].split('/')[2]"
        " + f'/{bucket}/t.parquet?enable_tls=false&'"
        " + os.environ['AZURE_STORAGE_SAS_TOKEN'])"
    ),
}


def test_env_reaches_server(store):
    kind, server, bucket = store
    pq.write_table(_table(), f"{bucket}/t.parquet", filesystem=server.filesystem())
    code = textwrap.dedent(f"""
        import os
        import pyarrow.parquet as pq
        from pyarrow import fs
        bucket = {bucket!r}
        filesystem, path = {_CHILD[kind]}
        print(pq.read_table(path, filesystem=filesystem).num_rows)
    """)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **server.env}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1000"


def test_azurite_is_a_flat_namespace(azure_server, azure_container):
    """Azurite has no hierarchical namespace, so Arrow cannot rename there: a
    commit protocol that renames needs another way on Azure flat accounts."""
    filesystem = azure_server.filesystem()
    with filesystem.open_output_stream(f"{azure_container}/a.bin") as out:
        out.write(b"x")
    with pytest.raises(NotImplementedError, match="Hierarchical Namespace"):
        filesystem.move(f"{azure_container}/a.bin", f"{azure_container}/b.bin")


def _gone(pid, port, deadline_s=10.0):
    """True once the process group `pid` is gone and `port` refuses connections."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            if not object_stores.port_open(port):
                return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("kind", KINDS)
def test_server_stopped_when_block_ends(kind):
    try:
        with FACTORIES[kind]() as server:
            port, pid = server.port, server.pid
            workdir = server.log_path.parent
            assert object_stores.port_open(port)
            print(f"{kind}: up in {server.startup_seconds:.2f}s")
    except object_stores.ServerUnavailable as e:
        pytest.skip(str(e))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((object_stores.HOST, port), timeout=2).close()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not workdir.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_server_stopped_when_block_raises(kind):
    try:
        with pytest.raises(RuntimeError, match="test failed"):
            with FACTORIES[kind]() as server:
                port, pid = server.port, server.pid
                raise RuntimeError("test failed")
    except object_stores.ServerUnavailable as e:
        pytest.skip(str(e))
    assert _gone(pid, port, deadline_s=0.5)


@pytest.mark.parametrize("kind", KINDS)
def test_server_dies_with_a_killed_test_process(kind):
    """SIGKILL skips atexit; the server still goes (setpriv --pdeathsig)."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {SERVERS_DIR!r})
        import object_stores
        try:
            with object_stores.SERVERS[{kind!r}]() as server:
                print(server.pid, server.port, server.log_path.parent, flush=True)
                time.sleep(120)
        except object_stores.ServerUnavailable as e:
            print("unavailable", e, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        if line and line[0] == "unavailable":
            pytest.skip(" ".join(line[1:]))
        pid, port, workdir = int(line[0]), int(line[1]), line[2]
        assert object_stores.port_open(port)
    finally:
        child.kill()
        child.wait()
    assert _gone(pid, port), f"{kind} server {pid} outlived the process that started it"
    shutil.rmtree(workdir)  # the killed process could not remove it


def test_interrupted_cli_stops_server(tmp_path):
    """SIGTERM to `object_stores.py s3 -- CMD` stops CMD and the server."""
    script = os.path.join(SERVERS_DIR, "object_stores.py")
    proc = subprocess.Popen(
        [sys.executable, script, "s3", "--",
         sys.executable, "-c",
         "import os, time; print(os.environ['AWS_ENDPOINT_URL'], flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        endpoint = proc.stdout.readline().strip()
        port = int(endpoint.rsplit(":", 1)[1])
        assert object_stores.port_open(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 5
    while object_stores.port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not object_stores.port_open(port)


def test_cli_runs_command_with_env(tmp_path):
    script = os.path.join(SERVERS_DIR, "object_stores.py")
    check = ("import os, sys; from pyarrow import fs; "
             "f, p = fs.FileSystem.from_uri('s3://cli-bucket/'); "
             "sys.exit(0 if f.get_file_info(p).type == fs.FileType.Directory else 5)")
    out = subprocess.run([sys.executable, script, "s3", "--bucket", "cli-bucket", "--",
                          sys.executable, "-c", check],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, script, "s3", "--", "sh", "-c", "exit 7"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 7


def test_missing_program_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(object_stores, "TOOLS", tmp_path)
    monkeypatch.delenv("FAKE_GCS_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(object_stores.ServerUnavailable,
                       match="fake-gcs-server is not installed"):
        with object_stores.fake_gcs():
            pass
    with pytest.raises(object_stores.ServerUnavailable, match="Azurite is not installed"):
        with object_stores.azurite():
            pass
    script = os.path.join(SERVERS_DIR, "object_stores.py")
    out = subprocess.run([sys.executable, script, "gcs", "--", "true"],
                         env={**os.environ, "FLOWSQL_TOOLS": str(tmp_path)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 77
    assert "fake-gcs-server is not installed" in out.stderr


def test_failed_start_reports_log_tail():
    def argv(port, workdir):
        return ["sh", "-c", "echo 'cannot start: boom'; exit 3"]

    with pytest.raises(object_stores.ServerFailed, match=r"(?s)status 3.*cannot start: boom"):
        with object_stores._serve("broken", argv, lambda port: False, timeout=10):
            pass
