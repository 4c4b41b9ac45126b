"""flowsql's exceptions (raised by the extension module, too)."""

from __future__ import annotations

__all__ = ["Error", "UserError", "ExecutionError"]


class Error(Exception):
    """A failed flowsql statement.

    ``message`` is flowsql's error message, as the command prints it after
    "Error: " (positions as ``line L:C``, secrets redacted); ``kind`` is the
    Arrow status code of the failure: ``"Invalid"``, ``"Key error"``,
    ``"Type error"``, ``"Not implemented"``, ``"Index error"`` (user errors),
    ``"IOError"``, ``"Cancelled"``, ``"Unknown error"``, ...
    """

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.message = message
        self.kind = kind

    def __str__(self) -> str:
        return self.message


class UserError(Error):
    """The statement or its options are wrong: bad SQL, an unknown option or
    table, a missing file. The ``flowsql`` command exits with code 1 for these."""


class ExecutionError(Error):
    """The statement was right but failed while running: I/O, a server, a
    Python source that raised. The ``flowsql`` command exits with code 2."""
