"""Fixtures and helpers for end-to-end tests of the built flowsql CLI.

Not a conftest.py: test/cli has one, and two conftest modules on one pytest
command line shadow each other (`from conftest import ...`). Test modules import
the fixtures from here explicitly."""
import os
import signal
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def flowsql_bin():
    return os.path.join(ROOT, os.environ.get("FLOWSQL_BIN", "build/flowsql"))


@pytest.fixture(scope="session")
def flowsql():
    path = flowsql_bin()
    if not os.path.exists(path):
        pytest.fail("flowsql binary not found at %s (set FLOWSQL_BIN)" % path)
    return path


class Proc:
    """A flowsql child process; records its peak RSS when reaped with wait4."""

    def __init__(self, args, **kwargs):
        self.popen = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, **kwargs)
        self.max_rss_kb = None
        self.returncode = None
        self.stdout = b""
        self.stderr = b""

    @property
    def pid(self):
        return self.popen.pid

    def signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def wait(self, timeout):
        """Waits for the exit (killing the child after `timeout` s); returns the code."""
        deadline = time.monotonic() + timeout
        out, err = [], []
        # Drain pipes while waiting so a chatty child never blocks on a full pipe.
        import threading

        def drain(stream, sink):
            for chunk in iter(lambda: stream.read(65536), b""):
                sink.append(chunk)

        threads = [threading.Thread(target=drain, args=(self.popen.stdout, out), daemon=True),
                   threading.Thread(target=drain, args=(self.popen.stderr, err), daemon=True)]
        for t in threads:
            t.start()
        status = None
        while True:
            pid, st, usage = os.wait4(self.popen.pid, os.WNOHANG)
            if pid == self.popen.pid:
                status = st
                self.max_rss_kb = usage.ru_maxrss
                break
            if time.monotonic() > deadline:
                os.kill(self.popen.pid, signal.SIGKILL)
                pid, st, usage = os.wait4(self.popen.pid, 0)
                for t in threads:
                    t.join(5)
                self.stdout, self.stderr = b"".join(out), b"".join(err)
                self.popen.returncode = -9
                pytest.fail("flowsql did not exit within %s s; stderr: %s"
                            % (timeout, self.stderr.decode(errors="replace")[-2000:]))
            time.sleep(0.02)
        for t in threads:
            t.join(5)
        self.stdout, self.stderr = b"".join(out), b"".join(err)
        self.returncode = os.waitstatus_to_exitcode(status)
        self.popen.returncode = self.returncode
        return self.returncode


@pytest.fixture
def start():
    """start(args) launches flowsql; every process still running at teardown is killed."""
    procs = []

    def _start(args):
        p = Proc(args)
        procs.append(p)
        return p

    yield _start
    for p in procs:
        if p.popen.poll() is None and p.returncode is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
                os.waitpid(p.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
