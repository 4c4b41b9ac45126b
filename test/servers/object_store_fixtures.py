"""pytest fixtures for the object-store servers of object_stores.py.

Not a conftest.py (test/cli has one, and two conftest modules on one pytest
command line shadow each other). A test module imports what it uses:

    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
    from object_store_fixtures import s3_server, s3_bucket  # noqa: F401 (fixtures)

Session-scoped servers, one each, started on first use and stopped when the
session ends: s3_server, azure_server, gcs_server. A fresh, empty bucket or
container per test, deleted afterwards: s3_bucket, azure_container, gcs_bucket
(each the name; the server fixture gives the rest).

A server whose program is not installed skips its tests with the reason, unless
FLOWSQL_REQUIRE_OBJECT_STORES=1, which makes that a failure (for CI, where
scripts/setup.sh has installed all three).
"""

import contextlib
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import object_stores  # noqa: E402


def _serve(factory):
    try:
        cm = factory()
        server = cm.__enter__()
    except object_stores.ServerUnavailable as e:
        if os.environ.get("FLOWSQL_REQUIRE_OBJECT_STORES") == "1":
            pytest.fail(str(e))
        pytest.skip(str(e))
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def s3_server():
    yield from _serve(object_stores.moto_s3)


@pytest.fixture(scope="session")
def azure_server():
    yield from _serve(object_stores.azurite)


@pytest.fixture(scope="session")
def gcs_server():
    yield from _serve(object_stores.fake_gcs)


def _fresh(server, make):
    name = make()
    yield name
    with contextlib.suppress(OSError):
        server.filesystem().delete_dir(name)


@pytest.fixture
def s3_bucket(s3_server):
    yield from _fresh(s3_server, s3_server.make_bucket)


@pytest.fixture
def azure_container(azure_server):
    yield from _fresh(azure_server, azure_server.make_container)


@pytest.fixture
def gcs_bucket(gcs_server):
    yield from _fresh(gcs_server, gcs_server.make_bucket)
