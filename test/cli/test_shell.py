"""The interactive shell, driven through a pseudo-terminal."""

import os
import re
import pty
import select
import signal
import time

import pytest

from conftest import flowsql_bin


class Terminal:
    """flowsql running on a pseudo-terminal (stdin, stdout and stderr)."""

    def __init__(self, tmp_path):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            env = dict(os.environ)
            env["HOME"] = str(tmp_path)
            env["FLOWSQL_HISTORY"] = str(tmp_path / "history")
            env["COLUMNS"] = "100"
            env["TERM"] = "dumb"
            os.execve(flowsql_bin(), [flowsql_bin()], env)
        self.output = ""

    def read_until(self, text, timeout=15.0):
        """Reads until `text` appears in the output after the last call; returns it."""
        start = len(self.output)
        deadline = time.time() + timeout
        while text not in self.output[start:]:
            if time.time() > deadline:
                raise AssertionError(f"{text!r} not seen in {self.output[start:]!r}")
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                self.output += data.decode(errors="replace")
        return self.output[start:]

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            # Drain the terminal so the child never blocks writing.
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:
                    pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("flowsql did not exit")


@pytest.fixture
def term(tmp_path):
    t = Terminal(tmp_path)
    yield t
    try:
        os.kill(t.pid, signal.SIGKILL)
        os.waitpid(t.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    os.close(t.fd)


def test_multi_line_statement_and_quit(term, tmp_path):
    term.read_until("flowsql> ")
    term.send("SELECT 1 AS a,\r")
    term.read_until("...> ")
    term.send("'x;y' AS b\r")  # the ';' inside quotes does not end the statement
    term.read_until("...> ")
    term.send(";\r")
    out = term.read_until("flowsql> ")
    assert "x;y" in out
    assert "1 row" in out
    term.send(".quit\r")
    assert term.wait() == 0
    # libedit keeps history vis(3)-encoded: "\\040" is a space.
    history = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                     (tmp_path / "history").read_text())
    assert "'x;y' AS b" in history
    assert history.count("'x;y' AS b") == 1


def test_errors_do_not_end_the_shell(term):
    term.read_until("flowsql> ")
    term.send("SELEC 1;\r")
    out = term.read_until("flowsql> ")
    assert "Error:" in out and "line 1:" in out
    term.send("SELECT 42 AS answer;\r")
    out = term.read_until("flowsql> ")
    assert "42" in out
    term.send(".exit\r")
    assert term.wait() == 0


def test_dot_commands(term):
    term.read_until("flowsql> ")
    term.send(".help\r")
    out = term.read_until("flowsql> ")
    assert ".format" in out and ".quit" in out
    term.send(".format csv\r")
    term.read_until("flowsql> ")
    term.send("SELECT 7 AS n;\r")
    out = term.read_until("flowsql> ")
    assert "n\r\n7\r\n" in out
    term.send(".format\r")
    assert "csv" in term.read_until("flowsql> ")
    term.send(".connectors\r")
    out = term.read_until("flowsql> ")
    assert "generate" in out and "file" in out
    term.send(".nonsense\r")
    assert "unknown command" in term.read_until("flowsql> ")
    term.send(".quit\r")
    assert term.wait() == 0


def test_ctrl_c_cancels_the_line_and_ctrl_d_exits(term):
    term.read_until("flowsql> ")
    term.send("SELECT 1 AS a,\r")
    term.read_until("...> ")
    term.send("\x03")  # Ctrl-C: drop the statement being typed
    term.read_until("flowsql> ")
    term.send("SELECT 5 AS five;\r")
    out = term.read_until("flowsql> ")
    assert "five" in out and "│ a" not in out
    term.send("\x04")  # Ctrl-D
    assert term.wait() == 0


def test_ctrl_c_stops_a_running_statement_and_the_shell_goes_on(term):
    term.read_until("flowsql> ")
    term.send("SELECT id FROM generate(rate => 100);\r")
    time.sleep(1.0)
    term.send("\x03")
    out = term.read_until("flowsql> ")
    assert "Interrupted" in out
    assert "┌" in out and " row" in out  # the rows it had are drawn, with a footer
    term.send("SELECT 6 AS six;\r")
    assert "six" in term.read_until("flowsql> ")
    term.send(".quit\r")
    assert term.wait() == 0
