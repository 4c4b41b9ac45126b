"""An HTTP file server for flowsql's http:// tests, on 127.0.0.1 and a free port.

    with http_files(root) as server:
        server.url("x.parquet")                    # mode full: HEAD and ranges
        server.url("x.parquet", "no_head")         # 405 to HEAD; ranges work
        server.url("x.parquet", "no_ranges")       # Range ignored: 200 and the whole
                                                   # body, no Accept-Ranges
        server.url("x.csv", "chunked")             # 405 to HEAD, no ranges, no
                                                   # Content-Length (chunked body)
        server.fail("x.parquet", 500, times=1)     # the next request for it: HTTP 500
        server.fail("x.csv", "reset")              # closed without an answer
        server.fail("x.csv", "cut", method="GET")  # half the body, then closed
        server.stats("x.parquet")                  # requests and body bytes served
        server.reset()                             # counters and failures cleared

The files are those below `root`; the first path segment is the mode, the rest the
file ("/no_head/dir/x.csv?sig=abc"; the query is kept in the log, not used).

The server is a ThreadingHTTPServer in a thread of the calling process: the OS gives
it a free port (bound to port 0, so no other process can take it between choosing
and binding), the context manager waits until it accepts connections
(threaded.ServerFailed after START_TIMEOUT seconds) and always shuts it down.
Keep-alive (HTTP/1.1) as real servers do, so a client's connection reuse shows in
the counters.

Also a command line, to try flowsql by hand:

    python test/servers/http_files.py ROOT      # prints the base URL, serves until ^C
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import re
import socket
import struct
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Union

from threaded import HOST, START_TIMEOUT, serving

SETTLE_TIMEOUT = 10.0
MODES = ("full", "no_head", "no_ranges", "chunked")


@dataclass
class Request:
    """One request as served."""

    method: str
    mode: str
    name: str  # the file, relative to the root
    target: str  # the request target as sent, query included
    range: Optional[str]  # the Range header
    status: int
    body_bytes: int  # body bytes written (all of them, or up to a failure)
    headers: dict = field(default_factory=dict)  # the request's, names lower-cased


@dataclass
class Stats:
    requests: int = 0
    body_bytes: int = 0
    methods: list = field(default_factory=list)  # "HEAD", "GET", "GET bytes=0-0", ...
    statuses: list = field(default_factory=list)


class HttpFileServer:
    """The running server. Thread-safe."""

    def __init__(self, root: Path, port: int):
        self.root = Path(root).resolve()
        self.port = port
        self._lock = threading.Condition()
        self._in_flight = 0  # requests being answered
        self._log: list = []
        self._failures: dict = {}  # name -> list of pending failures (status or kind)
        # Bumped by reset(): a request that began before is not counted after it (its
        # handler may finish after the client has read the answer and moved on).
        self._generation = 0

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, name: str, mode: str = "full", query: str = "") -> str:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        q = f"?{query}" if query else ""
        return f"{self.base}/{mode}/{urllib.parse.quote(name)}{q}"

    def fail(self, name: str, what: Union[int, str], times: int = 1,
             method: Optional[str] = None) -> None:
        """The next `times` requests for `name` (any mode; only `method` ones, "GET"
        or "HEAD", when given) fail: with HTTP status `what`, or "reset" (the
        connection closed, nothing sent), or "cut" (the headers and half the body,
        then the connection closed)."""
        with self._lock:
            self._failures.setdefault(name, []).extend([(what, method)] * times)

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._failures.clear()
            self._generation += 1

    def requests(self, name: Optional[str] = None) -> list:
        """The requests served since the last reset(), once none is being answered
        (a handler may still be writing when its client already has the answer), or
        after SETTLE_TIMEOUT seconds."""
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=SETTLE_TIMEOUT)
            return [r for r in self._log if name is None or r.name == name]

    def stats(self, name: Optional[str] = None) -> Stats:
        out = Stats()
        for r in self.requests(name):
            out.requests += 1
            out.body_bytes += r.body_bytes
            out.methods.append(r.method + (f" {r.range}" if r.range else ""))
            out.statuses.append(r.status)
        return out

    # --- used by the handler ---

    def _next_failure(self, name: str, method: str):
        with self._lock:
            pending = self._failures.get(name) or []
            for i, (what, only) in enumerate(pending):
                if only is None or only == method:
                    del pending[i]
                    return what
            return None

    def _begin(self) -> int:
        with self._lock:
            self._in_flight += 1
            return self._generation

    def _end(self, request: Optional[Request], generation: int) -> None:
        with self._lock:
            if request is not None and generation == self._generation:
                self._log.append(request)
            self._in_flight -= 1
            self._lock.notify_all()


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str, size: int):
    """(first, last) of a single bytes range, None when unsatisfiable; raises
    ValueError when the header is not one we understand (then it is ignored)."""
    m = _RANGE.match(header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        raise ValueError(header)
    if m.group(1) == "":  # the last N bytes
        n = int(m.group(2))
        if n == 0:
            return None
        return max(0, size - n), size - 1
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, a kept-alive
    # connection waits for the client's delayed ACK (40 ms) before the body.
    disable_nagle_algorithm = True
    server_version = "flowsql-test-files"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002  (quiet: the log is in memory)
        pass

    @property
    def files(self) -> HttpFileServer:
        return self.server.files  # type: ignore[attr-defined]

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool):
        generation = self.files._begin()
        record = None
        try:
            parsed = urllib.parse.urlsplit(self.path)
            parts = urllib.parse.unquote(parsed.path).lstrip("/").split("/", 1)
            mode = parts[0]
            name = parts[1] if len(parts) > 1 else ""
            rng = self.headers.get("Range")
            record = Request("HEAD" if head else "GET", mode, name, self.path, rng, 0, 0,
                             {k.lower(): v for k, v in self.headers.items()})
            self._answer(head, mode, name, rng, record)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.files._end(record, generation)

    def _send_status(self, record: Request, status: int, body: bytes = b"",
                     headers: Optional[dict] = None, head: bool = False):
        record.status = status
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)
            record.body_bytes += len(body)

    def _answer(self, head: bool, mode: str, name: str, rng: Optional[str],
                record: Request):
        failure = self.files._next_failure(name, "HEAD" if head else "GET")
        if failure == "reset":
            # RST instead of FIN: the client sees a reset connection.
            record.status = -1
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if isinstance(failure, int):
            self._send_status(record, failure, f"failure {failure}\n".encode(), head=head)
            return
        if mode not in MODES:
            self._send_status(record, 404, b"no such mode\n", head=head)
            return
        path = (self.files.root / name).resolve()
        if self.files.root not in path.parents or not path.is_file():
            self._send_status(record, 404, b"not found\n", head=head)
            return
        if head and mode in ("no_head", "chunked"):
            self._send_status(record, 405, b"", {"Allow": "GET"}, head=True)
            return
        data = path.read_bytes()
        size = len(data)
        status, body, headers = 200, data, {"Content-Type": "application/octet-stream"}
        ranges = mode in ("full", "no_head")
        if ranges:
            headers["Accept-Ranges"] = "bytes"
        if rng is not None and ranges:
            try:
                span = _parse_range(rng, size)
            except ValueError:
                span = (0, size - 1) if size else None
                rng = None  # not understood: the whole body
            if rng is not None:
                if span is None:
                    headers["Content-Range"] = f"bytes */{size}"
                    self._send_status(record, 416, b"", headers, head=head)
                    return
                first, last = span
                status, body = 206, data[first:last + 1]
                headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        record.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if head:
                return
            for i in range(0, len(body), 65536):
                piece = body[i:i + 65536]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                record.body_bytes += len(piece)
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        if failure == "cut":
            half = body[: len(body) // 2]
            self.wfile.write(half)
            self.wfile.flush()
            record.body_bytes += len(half)
            self.close_connection = True
            return
        self.wfile.write(body)
        record.body_bytes += len(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def http_files(root: Union[str, Path], timeout: float = START_TIMEOUT
               ) -> Iterator[HttpFileServer]:
    """Serves the files below `root` until the block ends."""
    server = _Server((HOST, 0), _Handler)
    files = HttpFileServer(Path(root), server.server_address[1])
    server.files = files  # type: ignore[attr-defined]
    with serving(server, "HTTP file server", timeout):
        yield files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="the folder to serve")
    args = parser.parse_args()
    with http_files(args.root) as files:
        print(f"serving {files.root} at {files.base}/<mode>/<file>; modes: "
              f"{', '.join(MODES)}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
