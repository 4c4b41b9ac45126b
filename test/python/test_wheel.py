"""`pip install .`: the wheel (pyproject.toml), installed into a fresh virtual
environment, runs outside the checkout (issue 9).

Builds the wheel from this checkout with the .venv's scikit-build-core (no build
isolation: the .venv's pyarrow and pybind11 are the pinned build requirements, and
the persistent build-wheel/ folder makes a rebuild incremental; ccache serves the
objects of the build/ just made), installs it with its pinned pyarrow into a new
virtual environment, and runs the `flowsql` command and `import flowsql` there from
a folder outside the checkout. Neither may load anything from the checkout: not
its .venv, not a build folder. The first build of a checkout takes a few minutes.
"""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

if os.environ.get("FLOWSQL_SANITIZED"):
    pytest.skip("the wheel is built without sanitizers: nothing to check in an ASan run",
                allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 1200  # s: a cold build on two cores, without ccache


def run(args, timeout=120, **kwargs):
    """Runs args; fails with its output unless it exits 0."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)
    assert proc.returncode == 0, (
        f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\n"
        f"stderr:\n{proc.stderr[-4000:]}")
    return proc.stdout


def clean_env():
    """The environment without what points into the checkout (scripts/test.sh puts
    its build on PYTHONPATH) or at another Python."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "FLOWSQL_PYTHON", "FLOWSQL_BIN",
                 "LD_LIBRARY_PATH"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment with the wheel installed: (its folder, the wheel)."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = clean_env()
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    env["CCACHE_NOHASHDIR"] = "1"  # build-wheel/'s objects are build/'s
    # ...when compiled by the same command: CMake picks c++ (scikit-build-core, g++).
    cache = (ROOT / os.environ.get("FLOWSQL_BIN", "build/flowsql")).parent / "CMakeCache.txt"
    for line in cache.read_text().splitlines() if cache.exists() else []:
        if line.startswith("CMAKE_CXX_COMPILER:"):
            env.setdefault("CXX", line.split("=", 1)[1])
    # build-wheel/: incremental rebuilds, beside build/ at the same depth so that ccache
    # serves build/'s objects also with CCACHE_BASEDIR set; `make clean` removes it.
    run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation",
         "--config-settings=build-dir=build-wheel", "--disable-pip-version-check",
         "-w", tmp / "dist"],
        timeout=BUILD_TIMEOUT, cwd=ROOT, env=env)
    wheels = list((tmp / "dist").glob("flowsql-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", venv], env=clean_env())
    # The wheel, and its pinned pyarrow from the package index (or pip's cache).
    run([venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheels[0]],
        timeout=600, env=clean_env())
    return venv, wheels[0]


@pytest.fixture
def elsewhere(tmp_path):
    """A working folder outside the checkout."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd


def package_dir(venv):
    out = run([venv / "bin" / "python", "-c",
               "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
              env=clean_env())
    return Path(out.strip()) / "flowsql"


def test_wheel_pins_the_pyarrow_it_was_built_against(venv):
    venv, wheel = venv
    assert wheel.name.startswith("flowsql-0.1.0-cp311-"), wheel.name
    out = run([venv / "bin" / "python", "-c",
               "import importlib.metadata as m; print(m.requires('flowsql'))"],
              env=clean_env())
    assert out.strip() == str([f"pyarrow=={pa.__version__}"])
    built = run([venv / "bin" / "python", "-c",
                 "from flowsql._build_info import PYARROW_VERSION; print(PYARROW_VERSION)"],
                env=clean_env())
    assert built.strip() == pa.__version__
    assert importlib.metadata.version("pyarrow") == pa.__version__


def test_installed_command_runs_outside_the_checkout(venv, elsewhere):
    venv, _ = venv
    out = run([venv / "bin" / "flowsql", "--format", "csv", "-c", "SELECT 42 AS x"],
              cwd=elsewhere, env=clean_env())
    assert out == "x\n42\n"
    out = run([venv / "bin" / "flowsql", "-c", "SELECT 42 AS x"], cwd=elsewhere,
              env=clean_env())
    assert "int32" in out and "42" in out, out


def test_installed_command_embeds_the_python_it_is_installed_in(venv, elsewhere):
    venv, _ = venv
    (elsewhere / "where.py").write_text(
        "import sys\n"
        "import pyarrow as pa\n"
        "class Prefix:\n"
        "    def infer_schema(self, options):\n"
        "        return pa.schema([('prefix', pa.string())])\n"
        "    def plan_partitions(self, options):\n"
        "        return [0]\n"
        "    def read_partition(self, partition, options):\n"
        "        yield pa.record_batch([pa.array([sys.prefix])], names=['prefix'])\n")
    # An activated environment elsewhere (the checkout's .venv) does not change it.
    env = dict(clean_env(), VIRTUAL_ENV=str(ROOT / ".venv"))
    out = run([venv / "bin" / "flowsql", "--format", "csv", "-c",
               "SELECT * FROM 'python://where.Prefix'"], cwd=elsewhere, env=env)
    assert out == f"prefix\n{venv}\n"


def test_installed_module_imports_outside_the_checkout(venv, elsewhere):
    venv, _ = venv
    out = run([venv / "bin" / "python", "-c",
               "import flowsql; print(flowsql.__file__); "
               "print(flowsql.sql('SELECT 42 AS x').to_arrow().to_pylist())"],
              cwd=elsewhere, env=clean_env())
    path, rows = out.splitlines()
    assert Path(path) == package_dir(venv) / "__init__.py"
    assert rows == "[{'x': 42}]"


def test_installed_binaries_load_nothing_from_the_checkout(venv):
    venv, _ = venv
    pkg = package_dir(venv)
    module = next(pkg.glob("_flowsql*.so"))
    command = pkg / "bin" / "flowsql"
    for binary, runpath in ((module, "$ORIGIN/../pyarrow"),
                            (command, "$ORIGIN/../../pyarrow")):
        dynamic = run(["readelf", "-d", binary])
        paths = [line for line in dynamic.splitlines() if "PATH" in line]
        assert len(paths) == 1 and f"[{runpath}]" in paths[0], paths
    # The command finds libpython where its launcher (flowsql/_cli.py) says: the
    # LIBDIR of the Python it is installed in.
    libdir = run([venv / "bin" / "python", "-c",
                  "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                 env=clean_env()).strip()
    forbidden = {str(ROOT), os.path.realpath(ROOT / ".venv"), os.path.realpath(ROOT)}
    pyarrow_dir = os.path.realpath(pkg.parent / "pyarrow")
    for binary in (module, command):
        ldd = run(["ldd", binary], env=dict(clean_env(), LD_LIBRARY_PATH=libdir))
        assert "not found" not in ldd, ldd
        for line in ldd.splitlines():
            assert not any(f in line for f in forbidden), line
            if "libarrow.so" in line:
                assert pyarrow_dir in os.path.realpath(line.split("=>")[1].split()[0]), line
