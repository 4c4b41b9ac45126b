"""A REST API for flowsql's http connector tests, on 127.0.0.1 and a free port.

    with http_api(records, page_size=25) as api:
        api.url("page")                 # /open/page?page=N&per_page=M
        api.url("offset", auth="bearer")

Paths are /<auth>/<style>. The records are served in order, `page_size` a page
unless the request asks for another size.

Styles:
    page      ?page=N (from 1) [&per_page=M]   {"data": [...], "total": T, "total_pages": P}
    offset    ?offset=O&limit=L                {"items": [...], "meta": {"total": T}}
    cursor    [?cursor=C]                      {"data": [...], "meta": {"next_cursor": C|null}}
    next      [?after=K]                       {"results": [...], "next": absolute URL|null}
    next_rel  [?after=K]                       the same with "next": "/open/next_rel?after=K"
    link      [?page=N]                        [...], and Link: <url>; rel="next", and
                                               rel="last" (as GitHub's, json-server's)
    ndjson    [?page=N]                        NDJSON (application/x-ndjson), Link
                                               header with rel="next" only
    csv                                        every record as CSV (text/csv)
    echo                                       one record: the request's method, query,
                                               headers and body, as the server saw them
    poll      ?since=K | ?start=N              a polled API whose records arrive over
                                               time (tests append to api.data): up to
                                               page_size records with id > K, or from
                                               the N-th on; {"data": [...],
                                               "next_since": the last id (or K)}
Auth (401 when the credentials are wrong or missing):
    open, bearer (TOKEN), basic (USER:PASSWORD), key_header (X-API-Key: KEY),
    key_query (?api_key=KEY), oauth2 (a token from POST /token, client credentials
    CLIENT_ID / CLIENT_SECRET, valid `token_lifetime` seconds)
Answers are gzip- or deflate-encoded when the client accepts it (api.encoding =
"gzip", "deflate" or "zstd" picks one). http_api(..., tls=(cert, key)) serves HTTPS.

Injected behaviour (api.fail(style, what, times=1), or attributes):
    an int status (429 carries Retry-After: api.retry_after), "reset" (the connection
    closed without an answer), "cut" (half the body, then closed), "malformed" (200 and
    broken JSON), "slow" (no answer for api.slow_seconds), None (answered normally:
    lets the requests before a failure pass)
    api.lie = n         the totals (total, total_pages, rel="last") say n records more
                        (or fewer)
    api.drift = n       records from the n-th page on have a field "extra": the id
                        (an integer) on page n, the id + 0.5 after it (0: none)
    api.latency = s     every answer waits s seconds first
Counters: api.requests(style) (method, path, query, headers), api.max_in_flight,
api.tokens_issued.

Also a command line: python test/servers/http_api.py [N] prints the base URL and
serves N generated records until ^C.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import http.server
import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Optional

import cramjam

from threaded import HOST, START_TIMEOUT, serving

SETTLE_TIMEOUT = 10.0
TOKEN = "tok-3f9a-SECRET"
USER, PASSWORD = "ann", "pa55-SECRET"
KEY = "key-77c1-SECRET"
CLIENT_ID, CLIENT_SECRET = "client-1", "csecret-9b2e-SECRET"
STYLES = ("page", "offset", "cursor", "next", "next_rel", "link", "ndjson", "csv", "echo",
          "poll")
AUTHS = ("open", "bearer", "basic", "key_header", "key_query", "oauth2")


def record(i: int) -> dict:
    """The record with id i, of every JSON type."""
    return {"id": i, "name": f"item {i}" if i % 9 else f'with "quote", comma {i}',
            "price": i * 1.25, "active": i % 3 == 0,
            "owner": {"id": i % 7, "name": f"owner {i % 7}"}}


def records(n: int) -> list:
    """n records: ids 0..n-1."""
    return [record(i) for i in range(n)]


@dataclass
class Request:
    method: str
    auth: str
    style: str
    query: dict  # the last value of each name
    headers: dict  # names lower-cased
    body: str
    status: int = 0
    at: float = 0.0  # time.monotonic() when it arrived
    raw_query: str = ""  # as sent
    encoding: Optional[str] = None  # the Content-Encoding of the answer


class Api:
    """The running server's state. Thread-safe."""

    def __init__(self, data: list, page_size: int, port: int, scheme: str = "http"):
        self.scheme = scheme
        self.data = data
        self.page_size = page_size
        self.port = port
        self.lie = 0
        self.drift = 0
        self.latency = 0.0
        self.encoding: Optional[str] = None  # None: gzip when accepted, else deflate
        self.slow_seconds = 5.0
        self.retry_after = 1
        self.token_lifetime = 3600.0
        self.tokens_issued = 0
        self._tokens: dict = {}  # token -> expiry (monotonic)
        self._lock = threading.Condition()
        self._failures: dict = {}
        self._log: list = []
        self._in_flight = 0
        self.max_in_flight = 0
        # Bumped by reset(): a request begun before is not logged after it (a client
        # killed by a test leaves its request to end later).
        self._generation = 0

    @property
    def base(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}"

    def url(self, style: str, auth: str = "open", query: str = "") -> str:
        if style not in STYLES or auth not in AUTHS:
            raise ValueError(f"unknown style {style!r} or auth {auth!r}")
        return f"{self.base}/{auth}/{style}" + (f"?{query}" if query else "")

    def fail(self, style: str, what, times: int = 1) -> None:
        with self._lock:
            self._failures.setdefault(style, []).extend([what] * times)

    def requests(self, style: Optional[str] = None) -> list:
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=SETTLE_TIMEOUT)
            return [r for r in self._log if style is None or r.style == style]

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._failures.clear()
            self.max_in_flight = 0
            self.tokens_issued = 0
            self._tokens.clear()
            self._generation += 1
        self.lie, self.drift, self.latency, self.encoding = 0, 0, 0.0, None
        self.token_lifetime = 3600.0

    # --- used by the handler ---

    def _begin(self) -> int:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self._generation

    def _end(self, request: Optional[Request], generation: int):
        with self._lock:
            if request is not None and generation == self._generation:
                self._log.append(request)
            self._in_flight -= 1
            self._lock.notify_all()

    def _next_failure(self, style: str):
        with self._lock:
            pending = self._failures.get(style) or []
            return pending.pop(0) if pending else None

    def _issue_token(self) -> str:
        with self._lock:
            self.tokens_issued += 1
            token = f"oauth-{self.tokens_issued}-SECRET"
            self._tokens[token] = time.monotonic() + self.token_lifetime
            return token

    def _token_valid(self, token: str) -> bool:
        with self._lock:
            return self._tokens.get(token, 0) > time.monotonic()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "flowsql-test-api"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002
        pass

    @property
    def api(self) -> Api:
        return self.server.api  # type: ignore[attr-defined]

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str):
        arrived = time.monotonic()
        generation = self.api._begin()
        record = None
        try:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            parts = parsed.path.strip("/").split("/")
            if parts == ["token"]:
                return self._token(body)
            auth, style = (parts + ["", ""])[:2]
            record = Request(method, auth, style, query,
                             {k.lower(): v for k, v in self.headers.items()}, body,
                             at=arrived, raw_query=parsed.query)
            self._answer(record)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.api._end(record, generation)

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: Optional[dict] = None, record: Optional[Request] = None,
              cut: bool = False):
        if record is not None:
            record.status = status
        accept = self.headers.get("Accept-Encoding", "")
        encoding = None
        if "zstd" in accept and self.api.encoding == "zstd":
            body, encoding = bytes(cramjam.zstd.compress(body)), "zstd"
        elif "gzip" in accept and self.api.encoding in ("gzip", None):
            body, encoding = gzip.compress(body), "gzip"
        elif "deflate" in accept and self.api.encoding in ("deflate", None):
            body, encoding = zlib.compress(body), "deflate"
        if record is not None:
            record.encoding = encoding
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _token(self, body: str):
        form = dict(urllib.parse.parse_qsl(body))
        if (form.get("grant_type") != "client_credentials" or
                form.get("client_id") != CLIENT_ID or
                form.get("client_secret") != CLIENT_SECRET):
            self._send(401, b'{"error": "invalid_client"}')
            return
        token = self.api._issue_token()
        self._send(200, json.dumps({"access_token": token, "token_type": "bearer",
                                    "expires_in": self.api.token_lifetime}).encode())

    def _authorized(self, r: Request) -> bool:
        header = r.headers.get("authorization", "")
        if r.auth == "open":
            return True
        if r.auth == "bearer":
            return header == f"Bearer {TOKEN}"
        if r.auth == "basic":
            expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            return header == f"Basic {expected}"
        if r.auth == "key_header":
            return r.headers.get("x-api-key") == KEY
        if r.auth == "key_query":
            return r.query.get("api_key") == KEY
        if r.auth == "oauth2":
            return header.startswith("Bearer ") and self.api._token_valid(header[7:])
        return False

    def _page(self, start: int, size: int) -> list:
        api = self.api
        rows = api.data[start:start + size]
        first = (api.drift - 1) * api.page_size  # of the drift's first page
        if api.drift and start >= first:
            rows = [{**row, "extra": row["id"] + (0.5 if start > first else 0)}
                    for row in rows]
        return rows

    def _answer(self, r: Request):
        api = self.api
        failure = api._next_failure(r.style)
        if failure == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            r.status = -1
            return
        if failure == "slow":
            time.sleep(api.slow_seconds)
        if isinstance(failure, int):
            headers = {"Retry-After": str(api.retry_after)} if failure == 429 else {}
            self._send(failure, json.dumps({"error": f"injected {failure}"}).encode(),
                       headers=headers, record=r)
            return
        if api.latency:
            time.sleep(api.latency)
        if r.auth not in AUTHS or r.style not in STYLES:
            self._send(404, b'{"error": "no such endpoint"}', record=r)
            return
        if not self._authorized(r):
            self._send(401, b'{"error": "bad credentials"}', record=r)
            return
        n = len(api.data)
        total = n + api.lie
        size = api.page_size
        base = f"{api.base}/{r.auth}/{r.style}"
        headers: dict = {}
        content_type = "application/json"
        q = r.query
        if r.style == "page":
            size = int(q.get("per_page", size))
            page = int(q.get("page", 1))
            doc = {"data": self._page((page - 1) * size, size), "total": total,
                   "total_pages": (total + size - 1) // size}
        elif r.style == "offset":
            size = int(q.get("limit", size))
            doc = {"items": self._page(int(q.get("offset", 0)), size),
                   "meta": {"total": total}}
        elif r.style == "cursor":
            start = int(base64.b64decode(q["cursor"]).decode()) if "cursor" in q else 0
            end = start + size
            nxt = base64.b64encode(str(end).encode()).decode() if end < n else None
            doc = {"data": self._page(start, size), "meta": {"next_cursor": nxt}}
        elif r.style in ("next", "next_rel"):
            start = int(q.get("after", 0))
            end = start + size
            nxt = None
            if end < n:
                nxt = (f"{base}?after={end}" if r.style == "next"
                       else f"/{r.auth}/{r.style}?after={end}")
            doc = {"results": self._page(start, size), "next": nxt}
        elif r.style in ("link", "ndjson"):
            page = int(q.get("page", 1))
            rows = self._page((page - 1) * size, size)
            if page * size < n:
                # As GitHub's: the request's other parameters kept, then the page.
                kept = "".join(f"{urllib.parse.urlencode({k: v})}&"
                               for k, v in q.items() if k != "page")
                headers["Link"] = (f'<{base}?{kept}page=1>; rel="first", '
                                   f'<{base}?{kept}page={page + 1}>; rel="next"')
                if r.style == "link":  # numbered: the last page's too
                    last = max(1, -(-(n + api.lie) // size))
                    headers["Link"] += f', <{base}?{kept}page={last}>; rel="last"'
            if r.style == "ndjson":
                content_type = "application/x-ndjson"
                body = "".join(json.dumps(row) + "\n" for row in rows).encode()
                self._send(200, body, content_type, headers, r, cut=failure == "cut")
                return
            doc = rows
        elif r.style == "poll":
            rows = list(api.data)
            if "start" in q:
                rows = rows[int(q["start"]):]
            else:
                since = int(q.get("since", -1))
                rows = [row for row in rows if row["id"] > since]
            rows = rows[:size]
            doc = {"data": rows,
                   "next_since": rows[-1]["id"] if rows else int(q.get("since", -1))}
        elif r.style == "csv":
            lines = ["id,name,price,active"]
            for row in api.data:
                name = '"' + row["name"].replace('"', '""') + '"'
                lines.append(f"{row['id']},{name},{row['price']},{str(row['active']).lower()}")
            self._send(200, ("\n".join(lines) + "\n").encode(), "text/csv", record=r)
            return
        else:  # echo
            doc = [{"method": r.method, "query": json.dumps(q, sort_keys=True),
                    "headers": json.dumps(r.headers, sort_keys=True), "body": r.body}]
        body = json.dumps(doc).encode()
        if failure == "malformed":
            body = body[: len(body) // 2] + b"}}}"
        self._send(200, body, content_type, headers, r, cut=failure == "cut")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


@contextlib.contextmanager
def http_api(data: list, page_size: int = 25, timeout: float = START_TIMEOUT,
             tls: Optional[tuple] = None) -> Iterator[Api]:
    """Serves `data` until the block ends; over HTTPS when `tls` is (certificate
    file, key file)."""
    server = _Server((HOST, 0), _Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    api = Api(data, page_size, server.server_address[1], "https" if tls else "http")
    server.api = api  # type: ignore[attr-defined]
    with serving(server, "API server", timeout):
        yield api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=250, help="records served")
    parser.add_argument("--page-size", type=int, default=25)
    args = parser.parse_args()
    with http_api(records(args.n), args.page_size) as api:
        print(f"serving {args.n} records at {api.base}/<auth>/<style>; styles: "
              f"{', '.join(STYLES)}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
