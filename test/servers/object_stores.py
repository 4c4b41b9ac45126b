"""Real object-store servers for flowsql's tests, on 127.0.0.1 and free ports.

    with moto_s3() as s3:          # S3: moto's server mode (PyPI moto[server])
    with azurite() as az:          # Azure Blob: Azurite (npm, in .tools/npm)
    with fake_gcs() as gcs:        # GCS: fake-gcs-server (Go, in .tools/bin)

Each context manager starts the server in its own process group with its output
in a log file, polls it until it answers (raising ServerFailed with the log's
tail if it does not within START_TIMEOUT seconds), and on exit kills the whole
group and reaps it. Servers still running when Python exits are stopped by an
atexit hook, and each server is started under `setpriv --pdeathsig KILL`, so it
dies with the thread that started it even when Python itself is killed. A
program that is not installed raises ServerUnavailable (tests skip with its
message); scripts/setup.sh installs all three.

Also a command line, to run any command (a gtest binary, flowsql) with a
server's environment:

    python test/servers/object_stores.py s3 [--bucket NAME]... -- CMD ARGS...
    python test/servers/object_stores.py s3,azure,gcs      # print env, wait for ^C

It exits with CMD's status, or 77 (the skip status of ctest and automake) when a
server is not installed.

What Arrow's C++ clients need for each server (seen with pyarrow 26.0.1's
libarrow, the one flowsql links; test/integration/test_object_store_servers.py
checks each of these):

  S3 (arrow::fs::S3Options; moto 5.2.5)
    endpoint_override = "127.0.0.1:PORT", scheme = "http", region = "us-east-1",
    access key / secret key "testing" (moto takes any pair).
    Addressing is path-style (http://127.0.0.1:PORT/BUCKET/KEY): Arrow uses it
    whenever endpoint_override is set and force_virtual_addressing is false.
    Creating or deleting a bucket through the filesystem needs
    allow_bucket_creation / allow_bucket_deletion.
    From the environment: S3Options::FromUri ("s3://BUCKET/KEY", no query)
    reads AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) and the AWS SDK reads
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION, so `.env` alone
    reaches moto. pyarrow's S3FileSystem() constructor does NOT read
    AWS_ENDPOINT_URL (it sets endpoint_override itself). AWS_EC2_METADATA_DISABLED
    keeps the SDK from ever asking the EC2 metadata address for a region or keys.
    A write of 5 MiB or more goes up as a multipart upload (ETag "...-N").
    URI: s3://testing:testing@BUCKET/KEY?endpoint_override=127.0.0.1%3APORT
         &scheme=http&region=us-east-1                       (`.uri()`)

  Azure Blob (arrow::fs::AzureOptions; Azurite 3.37.0)
    account_name = "devstoreaccount1", ConfigureAccountKeyCredential(the
    well-known Azurite key, AZURITE_ACCOUNT_KEY), blob_storage_authority =
    "127.0.0.1:PORT", blob_storage_scheme = "http", and the same two for dfs:
    an authority not starting with "." is used as-is and the account goes in
    the path (http://127.0.0.1:PORT/devstoreaccount1/CONTAINER/BLOB). Left at
    its default, the dfs authority would send the hierarchical-namespace probe
    to devstoreaccount1.dfs.core.windows.net.
    Azurite has no hierarchical namespace: Arrow sees a flat account, so
    FileSystem::Move() is NotImplemented (arrow issue 40405); writes go up as
    staged blocks and one block-list commit.
    Azurite flags: --blobKeepAliveTimeout 300 (see azurite()), --skipApiVersionCheck (the Azure SDK inside Arrow sends an
    x-ms-version Azurite may not know), --loose, --disableTelemetry (it sends
    usage data out by default), --disableProductStyleUrl (account in the path).
    From the environment: Arrow reads none of AZURE_STORAGE_* (its default
    credential is Azure AD, which the SDK refuses over http: "Bearer token
    authentication is not permitted for non TLS protected (https) endpoints"),
    and a URI's password is not taken as the account key. flowsql has to map
    `.env`'s AZURE_STORAGE_ACCOUNT_KEY (or the connection string) to
    ConfigureAccountKeyCredential, or use a SAS token, which a URI can carry:
    URI: abfs://devstoreaccount1@127.0.0.1:PORT/CONTAINER/PATH?enable_tls=false
         &<account SAS: sv, ss, srt, sp, se, spr, sig>          (`.uri()`)
    Container names: 3 to 63 characters of a-z, 0-9 and '-'.

  GCS (arrow::fs::GcsOptions; fake-gcs-server v1.56.1)
    GcsOptions::Anonymous() (default credentials want an OAuth token from
    Google first and fail), endpoint_override = "127.0.0.1:PORT",
    scheme = "http"; project_id only to create buckets; retry_limit_seconds
    short (10 s here): the default keeps retrying a dead server for 15 minutes.
    fake-gcs-server flags: -scheme http, -external-url http://127.0.0.1:PORT
    (the upload Location it hands back), -backend memory.
    From the environment: google-cloud-cpp reads CLOUD_STORAGE_EMULATOR_ENDPOINT
    (not STORAGE_EMULATOR_HOST, which other SDKs read) as the endpoint, but
    only anonymous credentials get through, so a bare "gs://anonymous@BUCKET/PATH"
    plus `.env` reaches the server; a credential-less "gs://BUCKET/PATH" does not.
    URI: gs://anonymous@BUCKET/PATH?endpoint_override=127.0.0.1%3APORT
         &scheme=http&retry_limit_seconds=10                      (`.uri()`)
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import hashlib
import hmac
import http.client
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("FLOWSQL_TOOLS", ROOT / ".tools"))
HOST = "127.0.0.1"
START_TIMEOUT = float(os.environ.get("FLOWSQL_SERVER_START_TIMEOUT", "60"))
STOP_GRACE = 5.0

AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class ServerUnavailable(RuntimeError):
    """The server's program is not installed here. Tests skip with this message."""


class ServerFailed(RuntimeError):
    """The server is installed but did not come up; the message has its log's tail."""


class _PortTaken(Exception):
    pass


def unique_name(prefix: str = "flowsql") -> str:
    """A bucket or container name valid on S3, GCS and Azure, unique per call."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server may still
    lose it to another process: _serve retries when it does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _no_proxy_env() -> dict:
    """Loopback never goes through a proxy, whatever the caller's environment says."""
    extra = "127.0.0.1,localhost"
    current = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    value = f"{current},{extra}" if current else extra
    return {"NO_PROXY": value, "no_proxy": value}


# --- processes -------------------------------------------------------------

_live: dict = {}  # pid -> Popen, servers not yet stopped
_live_dirs: set = set()  # temporary folders not yet removed
_live_lock = threading.Lock()


def _exit_status(proc: subprocess.Popen) -> Optional[int]:
    """The exit status if the process has exited, else None. Does not reap it,
    so its pid, and the process group named after it, cannot be reused yet."""
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped
        return proc.returncode if proc.returncode is not None else -1
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _unreaped(proc: subprocess.Popen) -> bool:
    """True while the server is still our child (running or a zombie): only then
    is the process group named after its pid certainly ours to kill."""
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        return True
    except ChildProcessError:
        return False


def _spawn(argv: list, log_path: Path, cwd: Path, env: Optional[dict]) -> subprocess.Popen:
    full_env = dict(os.environ)
    full_env.update(_no_proxy_env())
    if env:
        full_env.update(env)
    setpriv = shutil.which("setpriv")
    if setpriv:  # util-linux: SIGKILL the server if the thread that started it dies
        argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=full_env,
            start_new_session=True,  # own process group: killpg stops all of it
        )
    with _live_lock:
        _live[proc.pid] = proc
    return proc


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL after STOP_GRACE seconds,
    then reap. The group leader is reaped last, so the group id stays ours."""
    try:
        if _exit_status(proc) is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while _exit_status(proc) is None and time.monotonic() < deadline:
                time.sleep(0.02)
        if proc.returncode is None and _unreaped(proc):
            # Leftover members of the group, or a leader that ignored SIGTERM.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        with _live_lock:
            _live.pop(proc.pid, None)


def _remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    with _live_lock:
        _live_dirs.discard(path)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        procs = list(_live.values())
        dirs = list(_live_dirs)
    for proc in procs:
        _stop(proc)
    for path in dirs:
        _remove_dir(path)


def _log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _http_status(port: int, path: str, timeout: float = 2.0) -> Optional[int]:
    """The HTTP status of GET path on 127.0.0.1:port, or None if nothing answered."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@dataclass
class _Running:
    port: int
    pid: int
    workdir: Path
    log_path: Path
    startup_seconds: float


@contextlib.contextmanager
def _serve(
    name: str,
    build_argv: Callable[[int, Path], list],
    ready: Callable[[int], bool],
    env: Optional[dict] = None,
    timeout: float = START_TIMEOUT,
) -> Iterator[_Running]:
    """Runs build_argv(port, workdir) until the block ends; ready(port) says it is up."""
    workdir = Path(tempfile.mkdtemp(prefix=f"flowsql-{name}-"))
    with _live_lock:
        _live_dirs.add(workdir)
    log_path = workdir / f"{name}.log"
    try:
        for attempt in range(3):
            port = free_port()
            started = time.monotonic()
            proc = _spawn(build_argv(port, workdir), log_path, workdir, env)
            try:
                _wait_ready(name, proc, port, ready, log_path, timeout)
            except _PortTaken:
                _stop(proc)
                continue
            except BaseException:
                _stop(proc)
                raise
            break
        else:
            raise ServerFailed(f"{name}: lost its free port to another process three times")
        running = _Running(port, proc.pid, workdir, log_path, time.monotonic() - started)
        try:
            yield running
        finally:
            _stop(proc)
    finally:
        _remove_dir(workdir)


def _wait_ready(name, proc, port, ready, log_path, timeout) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = _exit_status(proc)
        if status is not None:
            tail = _log_tail(log_path)
            if "EADDRINUSE" in tail or "address already in use" in tail.lower():
                raise _PortTaken()
            raise ServerFailed(
                f"{name} exited with status {status} before it answered on port {port}; "
                f"log {log_path}:\n{tail}"
            )
        if ready(port):
            return
        if time.monotonic() > deadline:
            raise ServerFailed(
                f"{name} did not answer on port {port} within {timeout:.0f}s; "
                f"log {log_path}:\n{_log_tail(log_path)}"
            )
        time.sleep(0.05)


# --- S3: moto --------------------------------------------------------------


@dataclass
class S3Server:
    """A running moto S3 server. Thread-safe: its fields never change."""

    port: int
    pid: int
    log_path: Path
    startup_seconds: float
    region: str = "us-east-1"
    access_key: str = "testing"
    secret_key: str = "testing"

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def authority(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def env(self) -> dict:
        """What a flowsql subprocess gets to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            **_no_proxy_env(),
        }

    def filesystem(self, **options):
        """A pyarrow.fs.S3FileSystem on this server; `options` override the defaults."""
        from pyarrow import fs

        kwargs = dict(
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            endpoint_override=self.authority,
            scheme="http",
            allow_bucket_creation=True,
            allow_bucket_deletion=True,
        )
        kwargs.update(options)
        return fs.S3FileSystem(**kwargs)

    def make_bucket(self, name: Optional[str] = None) -> str:
        name = name or unique_name()
        self.filesystem().create_dir(name)
        return name

    def uri(self, bucket: str, path: str = "") -> str:
        """An s3:// URI that Arrow's FileSystemFromUri resolves to this server."""
        query = urllib.parse.urlencode(
            {"endpoint_override": self.authority, "scheme": "http", "region": self.region}
        )
        return f"s3://{self.access_key}:{self.secret_key}@{bucket}/{path}?{query}"


def _moto_python() -> str:
    """This Python if it has moto's server, else the project's .venv one."""
    try:
        import flask  # noqa: F401  (moto[server]'s extra)
        import moto.server  # noqa: F401

        return sys.executable
    except ImportError as e:
        venv = ROOT / ".venv" / "bin" / "python"
        if venv.exists() and os.path.abspath(sys.executable) != str(venv):
            return str(venv)
        raise ServerUnavailable(
            f"moto's server is not installed: {e} (scripts/setup.sh installs "
            "moto[server] from requirements.txt into .venv)"
        ) from None


@contextlib.contextmanager
def moto_s3(timeout: float = START_TIMEOUT) -> Iterator[S3Server]:
    """Runs moto's S3 server (in-memory) until the block ends."""
    python = _moto_python()

    def argv(port, _workdir):
        return [python, "-m", "moto.server", "-H", HOST, "-p", str(port)]

    def ready(port):
        return _http_status(port, "/moto-api/") is not None

    with _serve("moto-s3", argv, ready, timeout=timeout) as run:
        yield S3Server(run.port, run.pid, run.log_path, run.startup_seconds)


# --- Azure Blob: Azurite ----------------------------------------------------


@dataclass
class AzureServer:
    """A running Azurite blob server. Thread-safe: its fields never change."""

    port: int
    pid: int
    log_path: Path
    startup_seconds: float
    account_name: str = AZURITE_ACCOUNT_NAME
    account_key: str = AZURITE_ACCOUNT_KEY

    @property
    def authority(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def endpoint(self) -> str:
        """The blob service URL; the account is the first path segment."""
        return f"http://{self.authority}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )

    @property
    def env(self) -> dict:
        """What a flowsql subprocess gets to reach this server."""
        return {
            "AZURE_STORAGE_CONNECTION_STRING": self.connection_string,
            "AZURE_STORAGE_ACCOUNT_NAME": self.account_name,
            "AZURE_STORAGE_ACCOUNT_KEY": self.account_key,
            "AZURE_STORAGE_BLOB_ENDPOINT": self.endpoint,
            "AZURE_STORAGE_SAS_TOKEN": self.sas_token(),
            **_no_proxy_env(),
        }

    def filesystem(self, **options):
        """A pyarrow.fs.AzureFileSystem on this server; `options` override the defaults."""
        from pyarrow import fs

        kwargs = dict(
            account_name=self.account_name,
            account_key=self.account_key,
            blob_storage_authority=self.authority,
            blob_storage_scheme="http",
            dfs_storage_authority=self.authority,
            dfs_storage_scheme="http",
        )
        kwargs.update(options)
        return fs.AzureFileSystem(**kwargs)

    def make_container(self, name: Optional[str] = None) -> str:
        name = name or unique_name()
        self.filesystem().create_dir(name)
        return name

    def sas_token(self, permissions: str = "rwdlacup", hours: int = 24) -> str:
        """An account SAS (blob service, all resource types) signed with the
        account key, as a query string without "?"."""
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + hours * 3600))
        version = "2020-12-06"
        fields = {"sv": version, "ss": "b", "srt": "sco", "sp": permissions,
                  "se": expiry, "spr": "https,http"}
        # Account SAS string-to-sign for sv >= 2020-12-06: account, permissions,
        # services, resource types, start, expiry, IP, protocol, version,
        # encryption scope, each followed by a newline.
        to_sign = "".join(f"{v}\n" for v in (
            self.account_name, permissions, "b", "sco", "", expiry, "", "https,http",
            version, ""))
        digest = hmac.new(base64.b64decode(self.account_key), to_sign.encode(),
                          hashlib.sha256).digest()
        fields["sig"] = base64.b64encode(digest).decode()
        return urllib.parse.urlencode(fields)

    def uri(self, container: str, path: str = "") -> str:
        """An abfs:// URI that Arrow's FileSystemFromUri resolves to this server,
        authenticated by an account SAS in its query."""
        return (
            f"abfs://{self.account_name}@{self.authority}/{container}/{path}"
            f"?enable_tls=false&{self.sas_token()}"
        )


def azurite_main() -> Path:
    """Azurite's blob server script, as scripts/setup.sh installs it."""
    return TOOLS / "npm" / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"


@contextlib.contextmanager
def azurite(timeout: float = START_TIMEOUT) -> Iterator[AzureServer]:
    """Runs Azurite's blob service (in-memory) until the block ends."""
    node = shutil.which("node")
    main = azurite_main()
    if node is None:
        raise ServerUnavailable("Azurite is not installed: no `node` on PATH (Node.js 20+)")
    if not main.is_file():
        raise ServerUnavailable(
            f"Azurite is not installed: {main} is missing (scripts/setup.sh installs it "
            "with npm ci from test/servers/package-lock.json)"
        )

    def argv(port, _workdir):
        return [
            node, str(main),
            "--blobHost", HOST, "--blobPort", str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck", "--loose",
            "--disableTelemetry", "--disableProductStyleUrl",
            # Node closes idle connections after 5 s, and the Azure SDK inside
            # Arrow reuses a closed one without retrying; Azure keeps them minutes.
            "--blobKeepAliveTimeout", "300",
        ]

    def ready(port):
        return _http_status(port, f"/{AZURITE_ACCOUNT_NAME}?comp=list") is not None

    with _serve("azurite", argv, ready, timeout=timeout) as run:
        yield AzureServer(run.port, run.pid, run.log_path, run.startup_seconds)


# --- GCS: fake-gcs-server ---------------------------------------------------


@dataclass
class GcsServer:
    """A running fake-gcs-server. Thread-safe: its fields never change."""

    port: int
    pid: int
    log_path: Path
    startup_seconds: float
    project_id: str = "flowsql-test"

    @property
    def authority(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.authority}"

    @property
    def env(self) -> dict:
        """What a flowsql subprocess gets to reach this server."""
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint,
            "CLOUD_STORAGE_EMULATOR_ENDPOINT": self.endpoint,
            "GOOGLE_CLOUD_PROJECT": self.project_id,
            **_no_proxy_env(),
        }

    def filesystem(self, **options):
        """A pyarrow.fs.GcsFileSystem on this server; `options` override the defaults."""
        from datetime import timedelta

        from pyarrow import fs

        kwargs = dict(
            anonymous=True,
            endpoint_override=self.authority,
            scheme="http",
            project_id=self.project_id,
            retry_time_limit=timedelta(seconds=10),
        )
        kwargs.update(options)
        return fs.GcsFileSystem(**kwargs)

    def make_bucket(self, name: Optional[str] = None) -> str:
        name = name or unique_name()
        self.filesystem().create_dir(name)
        return name

    def uri(self, bucket: str, path: str = "") -> str:
        """A gs:// URI that Arrow's FileSystemFromUri resolves to this server."""
        query = urllib.parse.urlencode(
            {"endpoint_override": self.authority, "scheme": "http", "retry_limit_seconds": "10"}
        )
        return f"gs://anonymous@{bucket}/{path}?{query}"


def fake_gcs_binary() -> Optional[str]:
    """fake-gcs-server from FAKE_GCS_SERVER, .tools/bin (scripts/setup.sh), or PATH."""
    candidates = [os.environ.get("FAKE_GCS_SERVER"), str(TOOLS / "bin" / "fake-gcs-server")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    return shutil.which("fake-gcs-server")


@contextlib.contextmanager
def fake_gcs(timeout: float = START_TIMEOUT) -> Iterator[GcsServer]:
    """Runs fake-gcs-server (in-memory, plain HTTP) until the block ends."""
    binary = fake_gcs_binary()
    if binary is None:
        raise ServerUnavailable(
            f"fake-gcs-server is not installed: not in {TOOLS / 'bin'} nor on PATH "
            "(scripts/setup.sh installs it with `go install`, which needs Go 1.26+)"
        )

    def argv(port, _workdir):
        url = f"http://{HOST}:{port}"
        return [
            binary,
            "-host", HOST, "-port", str(port), "-scheme", "http",
            "-backend", "memory",
            "-external-url", url, "-public-host", f"{HOST}:{port}",
            "-log-level", "warn",
        ]

    def ready(port):
        return _http_status(port, "/storage/v1/b") == 200

    with _serve("fake-gcs", argv, ready, timeout=timeout) as run:
        yield GcsServer(run.port, run.pid, run.log_path, run.startup_seconds)


SERVERS = {"s3": moto_s3, "azure": azurite, "gcs": fake_gcs}


# --- command line -----------------------------------------------------------


def _make_store(server, name: str) -> None:
    if isinstance(server, AzureServer):
        server.make_container(name)
    else:
        server.make_bucket(name)


def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(
        prog="object_stores.py",
        description="Run CMD with object-store servers' environment; without CMD, "
        "print the environment and serve until interrupted.",
        usage="%(prog)s {s3|azure|gcs}[,...] [--bucket NAME]... [-- CMD ARGS...]",
    )
    parser.add_argument("servers", help="comma-separated: " + ", ".join(SERVERS))
    parser.add_argument(
        "--bucket", action="append", default=[],
        help="create this bucket (container on azure) on every server; repeatable",
    )
    args = parser.parse_args(argv)
    names = [n for n in args.servers.split(",") if n]
    unknown = [n for n in names if n not in SERVERS]
    if unknown or not names:
        parser.error(f"unknown server {unknown}; choose from {', '.join(SERVERS)}")

    # SIGTERM unwinds like ^C, so the servers and CMD are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    env = {}
    try:
        with contextlib.ExitStack() as stack:
            for n in names:
                server = stack.enter_context(SERVERS[n]())
                for b in args.bucket:
                    _make_store(server, b)
                env.update(server.env)
                print(f"object_stores: {n} on {server.endpoint} (up in "
                      f"{server.startup_seconds:.2f}s)", file=sys.stderr)
            if not command:
                for k, v in sorted(env.items()):
                    print(f"export {k}={shlex.quote(v)}")
                sys.stdout.flush()
                print("object_stores: serving; ^C to stop", file=sys.stderr)
                with contextlib.suppress(KeyboardInterrupt):
                    signal.pause()
                return 0
            return subprocess.run(command, env={**os.environ, **env}).returncode
    except ServerUnavailable as e:
        print(f"object_stores: skipped: {e}", file=sys.stderr)
        return 77
    except ServerFailed as e:
        print(f"object_stores: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
