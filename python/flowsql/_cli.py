"""The ``flowsql`` command of an installed wheel (pyproject.toml's [project.scripts]).

The wheel installs the command's executable in the package, flowsql/bin/flowsql,
next to the extension module; its RUNPATH finds the Arrow libraries in the installed
pyarrow. This launcher runs it with what it cannot know by itself:

- FLOWSQL_PYTHON: the Python this package is installed in, the interpreter the
  command embeds for the python connector (connectors/python/python_runtime.cc);
- LD_LIBRARY_PATH: that Python's LIBDIR first, where the executable finds
  libpython, which no path relative to the package reaches (a virtual environment
  has no copy of it).

It replaces itself with the command (exec): the exit status, signals and the
terminal are the command's.
"""

from __future__ import annotations

import os
import sys
import sysconfig


def main() -> None:
    exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "flowsql")
    if not os.access(exe, os.X_OK):
        sys.exit(
            f"flowsql: no executable {exe}: this flowsql package was not installed "
            "from a wheel (`pip install .`); in a build tree, run <build>/flowsql"
        )
    env = dict(os.environ)
    env["FLOWSQL_PYTHON"] = sys.executable
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and os.path.isdir(libdir):
        paths = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = libdir + (os.pathsep + paths if paths else "")
    os.execve(exe, ["flowsql", *sys.argv[1:]], env)
