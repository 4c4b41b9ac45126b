"""Shared helpers for the CLI tests: the flowsql binary and a runner."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60  # s: a wait longer than this is a hang


def flowsql_bin() -> str:
    return os.environ.get("FLOWSQL_BIN", str(REPO / "build" / "flowsql"))


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"Run(code={self.code}, out={self.out!r}, err={self.err!r})"


def run_flowsql(*args, input=None, cwd=None, env=None, timeout=60) -> Run:
    """Runs flowsql with `args`; stdout/stderr as text (bytes with binary=True)."""
    full_env = dict(os.environ)
    full_env.pop("COLUMNS", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [flowsql_bin(), *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    return Run(proc)


def wait_for(condition, what):
    """Polls condition() until it holds; fails naming `what` after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


def stop(proc):
    """Ctrl-C to a continuous pipeline started with subprocess.Popen: it must commit
    and exit 0."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err.decode()


@pytest.fixture
def flowsql():
    return run_flowsql


@pytest.fixture
def people_csv(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("id,name,score\n1,ann,1.5\n2,bob,\n3,\"c, d\",3.25\n")
    return path
