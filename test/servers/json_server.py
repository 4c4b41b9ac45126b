"""json-server (npm, pinned in test/servers/package-lock.json, installed by
scripts/setup.sh into .tools/npm): a real REST server nobody here wrote, for the HTTP
connector's page and Link-header pagination.

    with json_server({"items": [{"id": 1}, ...]}) as api:
        api.url("items")  # http://127.0.0.1:<port>/items

GET /items?_page=2&_limit=10 answers page 2 with `X-Total-Count` and an RFC 8288
`Link` header (first, prev, next, last), as json-server 0.17 does.
"""
import contextlib
import json
import shutil
from dataclasses import dataclass
from typing import Iterator

from object_stores import HOST, TOOLS, ServerUnavailable, _http_status, _serve


@dataclass
class JsonServer:
    port: int

    def url(self, resource: str) -> str:
        return "http://%s:%d/%s" % (HOST, self.port, resource)


@contextlib.contextmanager
def json_server(db: dict) -> Iterator[JsonServer]:
    """Serves `db` (resource name -> list of records), read-only, until the block ends."""
    node = shutil.which("node")
    main = TOOLS / "npm" / "node_modules" / "json-server" / "lib" / "cli" / "bin.js"
    if node is None or not main.is_file():
        raise ServerUnavailable("json-server is not installed (scripts/setup.sh installs "
                                "it with npm ci from test/servers/package-lock.json)")

    def argv(port, workdir):
        path = workdir / "db.json"
        path.write_text(json.dumps(db))
        return [node, str(main), "--host", HOST, "--port", str(port), "--read-only",
                "--quiet", str(path)]

    def ready(port):
        return _http_status(port, "/db") == 200

    with _serve("json-server", argv, ready) as run:
        yield JsonServer(run.port)
