"""Workloads api_offset, api_cursor, api_link: a paginated JSON API into one Parquet
file, in three pagination styles.

The API runs in this process (a threaded http.server on 127.0.0.1, a free port): PAGES
pages (default 2,000; --size-mb N serves N pages instead) of 100 records each, every
answer held back LATENCY (50 ms) as a remote API would. Records are flat fields, a
timestamp and a nested object, prepared once, so the server's own work stays small:
  - offset: /offset?offset=K&limit=100 -> {"total": N, "items": [...]}
  - cursor: /cursor?cursor=C           -> {"items": [...], "next_cursor": "C+1" | null}
  - link:   /link?page=P               -> [...] with an RFC 8288 Link header: rel="next"
                                          and rel="last", as GitHub's

Peers (the issue's): dlt's rest_api source into its filesystem destination as Parquet
(dlt fetches one page after another), and a plain Python loop of requests writing the
rows with pyarrow. flowsql reads with read_http(...) INTO a Parquet file: with a known
total the offset pages are fetched max_concurrency (8) at a time, so its bound is
about PAGES / 8 * LATENCY. So are the Link pages, which rel="last" numbers (dlt and
the loop follow rel="next" one page after another). A cursor chain is sequential by
nature (PAGES * LATENCY), flowsql overlapping each page's decoding with the next
request.

Results must match: the row count and the sums of id and amount.
"""
import glob
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse

from common import OUT, ROOT, Tool, python_tool

PAGES = 2000
PER_PAGE = 100
LATENCY = 0.05


def record(i):
    return {"id": i, "name": "user %d" % i, "email": "user%d@example.com" % i,
            "amount": round((i * 7919 % 100000) / 100.0, 2),
            "created_at": "2024-%02d-%02dT%02d:%02d:00Z" % (1 + i % 12, 1 + i % 28, i % 24,
                                                            i % 60),
            "status": ("new", "paid", "shipped")[i % 3],
            "owner": {"id": i % 97, "name": "owner %d" % (i % 97)}}


class Api:
    """The three styles over `pages` pages, each answer prepared once."""

    def __init__(self, pages):
        self.pages = pages
        self.total = pages * PER_PAGE
        self.chunks = [[record(p * PER_PAGE + k) for k in range(PER_PAGE)]
                       for p in range(pages)]
        self.offset = [json.dumps({"total": self.total, "items": c}).encode()
                       for c in self.chunks]
        self.cursor = [json.dumps({"items": c, "next_cursor": str(p + 1)
                                   if p + 1 < pages else None}).encode()
                       for p, c in enumerate(self.chunks)]
        self.link = [json.dumps(c).encode() for c in self.chunks]

    def answer(self, path, query, base):
        """(status, body, headers) for one request."""
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        if path == "/offset":
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", PER_PAGE))
            if limit != PER_PAGE or offset % PER_PAGE:
                return 400, b'{"error": "limit must be 100, offset a multiple of it"}', {}
            page = offset // PER_PAGE
            if page >= self.pages:
                return 200, json.dumps({"total": self.total, "items": []}).encode(), {}
            return 200, self.offset[page], {}
        if path == "/cursor":
            page = int(q.get("cursor", 0))
            return 200, self.cursor[page], {}
        if path == "/link":
            page = int(q.get("page", 0))
            headers = {}
            if page + 1 < self.pages:  # as GitHub's: rel="next" and rel="last"
                headers["Link"] = '<%s/link?page=%d>; rel="next", <%s/link?page=%d>; ' \
                    'rel="last"' % (base, page + 1, base, self.pages - 1)
            return 200, self.link[page], headers
        return 404, b'{"error": "not found"}', {}


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128


def serve(api):
    """Starts the API; returns (server, base URL). server.shutdown() stops it."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per answer

        def do_GET(self):  # noqa: N802
            time.sleep(LATENCY)
            parsed = urllib.parse.urlsplit(self.path)
            status, body, headers = api.answer(parsed.path, parsed.query, base)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    base = "http://127.0.0.1:%d" % server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


FLOWSQL_OPTIONS = {
    "offset": "paginate => 'offset', page_size => 100, total_path => '$.total', "
              "records_path => '$.items'",
    "cursor": "paginate => 'cursor', cursor_param => 'cursor', "
              "cursor_path => '$.next_cursor', records_path => '$.items'",
    "link": "paginate => 'link_header'",
}

DLT_PAGINATORS = {
    "offset": {"type": "offset", "limit": PER_PAGE, "offset_param": "offset",
               "limit_param": "limit", "total_path": "total"},
    "cursor": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
    "link": {"type": "header_link"},
}

REQUESTS_LOOPS = {
    "offset": """
offset = 0
while True:
    page = s.get(base + '/offset', params={'offset': offset, 'limit': 100}).json()
    rows += page['items']
    offset += 100
    if not page['items'] or offset >= page['total']:
        break
""",
    "cursor": """
cursor = None
while True:
    page = s.get(base + '/cursor', params={'cursor': cursor} if cursor else {}).json()
    rows += page['items']
    cursor = page['next_cursor']
    if cursor is None:
        break
""",
    "link": """
url = base + '/link'
while url:
    r = s.get(url)
    rows += r.json()
    url = r.links.get('next', {}).get('url')
""",
}


def tools_for(style, base, flowsql):
    out = lambda name: os.path.join(OUT, "%s_api_%s" % (name, style))  # noqa: E731
    sql = ("SELECT * FROM read_http('%s/%s', %s) INTO '%s/items.parquet'"
           % (base, style, FLOWSQL_OPTIONS[style], out("flowsql")))
    dlt_code = (
        "import os; os.environ['RUNTIME__DLTHUB_TELEMETRY'] = 'false'\n"
        "import dlt\n"
        "from dlt.sources.rest_api import rest_api_source\n"
        "src = rest_api_source({'client': {'base_url': %r, 'paginator': %r},\n"
        "  'resources': [{'name': 'items', 'endpoint': {'path': %r%s}}]})\n"
        "p = dlt.pipeline(pipeline_name='bench_api', pipelines_dir=%r,\n"
        "  destination=dlt.destinations.filesystem(bucket_url=%r), dataset_name='api')\n"
        "p.run(src, loader_file_format='parquet')\n"
        % (base + "/", DLT_PAGINATORS[style], style,
           ", 'data_selector': 'items'" if style != "link" else "",
           os.path.join(out("dlt"), "pipelines"), os.path.join(out("dlt"), "lake")))
    requests_code = (
        "import requests, pyarrow as pa, pyarrow.parquet as pq, os\n"
        "base = %r; rows = []; s = requests.Session()\n%s"
        "os.makedirs(%r, exist_ok=True)\n"
        "pq.write_table(pa.Table.from_pylist(rows), %r)\n"
        % (base, REQUESTS_LOOPS[style], out("requests"),
           os.path.join(out("requests"), "items.parquet")))
    return [
        Tool("flowsql", [flowsql, "--no-progress", "-c", sql], out("flowsql")),
        python_tool("dlt", dlt_code, out("dlt")),
        python_tool("requests", requests_code, out("requests")),
    ]


def verify(ctx, tool):
    """(rows, sum of id, sum of amount) of the Parquet files the tool wrote."""
    import pyarrow.parquet as pq
    files = [f for f in glob.glob(os.path.join(tool.output, "**", "*.parquet"),
                                  recursive=True) if "pipelines" not in f]
    rows = ids = 0
    amount = 0.0
    for f in files:
        t = pq.read_table(f, columns=["id", "amount"])
        rows += t.num_rows
        ids += sum(v for v in t.column("id").to_pylist() if v is not None)
        amount += sum(v for v in t.column("amount").to_pylist() if v is not None)
    return (rows, ids, round(amount, 2))


def same(a, b):
    return a == b


def make_workload(style):
    name = "api_%s" % style

    def run_workload(args):
        import run
        pages = args.size_mb or PAGES
        api = Api(pages)
        server, base = serve(api)
        try:
            ctx = {"input": os.path.join(ROOT, "bench", "api_to_parquet.py"),
                   "rows": api.total,
                   "bytes": sum(len(b) for b in getattr(api, style))}
            workload = type(sys)(name)
            workload.NAME = name
            workload.DEFAULT_SIZE_MB = pages
            workload.prepare = lambda _size: ctx
            workload.tools = lambda _ctx, flowsql: tools_for(style, base, flowsql)
            workload.verify = verify
            workload.same = same
            return run.run_workload(workload, args)
        finally:
            server.shutdown()
            server.server_close()

    workload = type(sys)(name)
    workload.NAME = name
    workload.run_workload = run_workload
    return workload


WORKLOADS = [make_workload(s) for s in ("offset", "cursor", "link")]
