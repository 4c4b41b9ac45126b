"""Runs a test's HTTP server in a thread of the calling process, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import threading
import time
from typing import Iterator

HOST = "127.0.0.1"
START_TIMEOUT = float(os.environ.get("FLOWSQL_SERVER_START_TIMEOUT", "60"))


class ServerFailed(RuntimeError):
    """The server did not come up; the message says why."""


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def serving(server: http.server.HTTPServer, what: str,
            timeout: float = START_TIMEOUT) -> Iterator[None]:
    """Serves `server` (bound to HOST, port 0: the OS picks a free one) until the
    block ends; waits until it accepts connections first (ServerFailed after
    `timeout` seconds) and always shuts it down. `what` names it in errors."""
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"{what}-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not _accepts(port):
            if not thread.is_alive():
                raise ServerFailed(f"the {what}'s thread ended before it answered")
            if time.monotonic() > deadline:
                raise ServerFailed(f"the {what} did not answer on port {port} within "
                                   f"{timeout:.0f}s")
            time.sleep(0.02)
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
