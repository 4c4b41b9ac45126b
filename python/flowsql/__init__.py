"""flowsql: one SQL statement from any source into any sink.

    >>> import flowsql
    >>> flowsql.sql("SELECT * FROM generate_series(1, 3)").to_pydict()
    {'generate_series': [1, 2, 3]}

For now this package is a thin wrapper around the ``flowsql`` command: ``sql()``
runs ``flowsql --format arrow -c <query>`` in a subprocess and reads the Arrow IPC
stream it prints. Native bindings (pybind11, Arrow C stream) will replace the
subprocess without changing this API.

The command is found, in order, from the ``FLOWSQL_BIN`` environment variable,
``build/flowsql`` in the source tree this package lives in, or ``flowsql`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pyarrow as pa
import pyarrow.ipc

__version__ = "0.1.0"
__all__ = ["Error", "binary", "sql", "__version__"]


class Error(Exception):
    """A failed flowsql statement.

    ``message`` is flowsql's error message (without the "Error: " prefix) and
    ``exit_code`` the command's exit code: 1 for user errors (bad SQL, unknown
    options, missing files), 2 for runtime failures, 130 when interrupted.
    """

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


def binary() -> str:
    """The path of the flowsql command this package runs."""
    env = os.environ.get("FLOWSQL_BIN")
    if env:
        return env
    in_tree = Path(__file__).resolve().parents[2] / "build" / "flowsql"
    if in_tree.is_file() and os.access(in_tree, os.X_OK):
        return str(in_tree)
    on_path = shutil.which("flowsql")
    if on_path:
        return on_path
    raise Error(
        "cannot find the flowsql command: set FLOWSQL_BIN, build it into "
        f"{in_tree}, or put it on PATH",
        127,
    )


def _read_streams(data: bytes) -> list:
    """Every Arrow IPC stream in `data`, one table per statement."""
    tables = []
    buffer = pa.py_buffer(data)
    source = pa.BufferReader(buffer)
    while source.tell() < buffer.size:
        reader = pa.ipc.open_stream(source)
        tables.append(reader.read_all())
    return tables


def sql(query: str, *, state_dir: Optional[str] = None) -> pa.Table:
    """Runs `query` and returns the result of its last statement as a table.

    `query` may hold several statements separated by ';'; they run in order and
    the first failure stops them. INTO / COPY statements return their one-row
    summary (rows written). `state_dir` keeps continuous pipelines' offsets
    (``--state-dir``). Raises Error when a statement fails.
    """
    command = [binary(), "--format", "arrow", "--no-progress"]
    if state_dir is not None:
        command += ["--state-dir", str(state_dir)]
    command += ["-c", query]
    proc = subprocess.run(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", errors="replace").strip()
        if message.startswith("Error: "):
            message = message[len("Error: "):]
        raise Error(message or f"flowsql exited with code {proc.returncode}",
                    proc.returncode)
    tables = _read_streams(proc.stdout)
    if not tables:
        return pa.table({})
    return tables[-1]
