"""Polling streams (streaming = true, seed 002): an API whose records arrive over
time, polled into a folder with --state-dir; a restart, a Ctrl-C and a kill -9 at
each fault point lose no record and repeat none. Waits are conditions with
deadlines."""

import csv
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
from conftest import DEADLINE, flowsql_bin, run_flowsql, stop, wait_for  # noqa: E402
import http_api as server  # noqa: E402



@pytest.fixture
def api():
    with server.http_api(server.records(30), page_size=10) as s:
        yield s


def start(tmp_path, source, env=None):
    statement = (f"SELECT id, name FROM {source} "
                 f"INTO '{tmp_path}/out/' WITH (format = 'csv', flush_interval = '100ms')")
    args = [flowsql_bin(), "--no-progress", "--state-dir", str(tmp_path / "state"), "-c",
            statement]
    env = dict(os.environ, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1", **(env or {}))
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def ids_out(tmp_path):
    out = tmp_path / "out"
    ids = []
    if out.is_dir():
        for name in sorted(os.listdir(out)):
            if name.startswith("part-"):
                with open(out / name, newline="") as f:
                    ids += [int(row["id"]) for row in csv.DictReader(f)]
    return sorted(ids)




def add(api, first, n):
    api.data.extend(server.records(first + n)[first:])


def poll_while_records_arrive(tmp_path, api, source, later):
    """Runs `source` until it has written the API's 30 records, then `later` more
    added meanwhile, and stops it cleanly."""
    proc = start(tmp_path, source)
    try:
        wait_for(lambda: len(ids_out(tmp_path)) >= 30, "the first 30 records")
        add(api, 30, later)
        wait_for(lambda: len(ids_out(tmp_path)) >= 30 + later, "the records added later")
    finally:
        stop(proc)


SOURCES = {
    "max_field": "read_http('{url}?since={{id}}', streaming => true, interval => '50ms', "
                 "offset_field => 'id', initial_offset => '-1')",
    "incremental": "read_http('{url}?start={{start}}', streaming => true, "
                   "interval => '50ms', offset_field => 'start', "
                   "offset_type => 'incremental', initial_offset => '0', "
                   "schema => {{'id': 'BIGINT', 'name': 'VARCHAR'}})",
    "cursor": "read_http('{url}', params => {{'since': '{{next_since}}'}}, "
              "streaming => true, interval => '50ms', offset_field => 'next_since', "
              "offset_type => 'cursor', initial_offset => '-1')",
}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_records_arriving_over_time_are_read_once_across_restarts(tmp_path, api, kind):
    source = SOURCES[kind].format(url=api.url("poll"))
    poll_while_records_arrive(tmp_path, api, source, 25)
    assert ids_out(tmp_path) == list(range(55))
    # A restart asks from where the last committed epoch stopped.
    add(api, 55, 5)
    proc = start(tmp_path, source)
    try:
        wait_for(lambda: len(ids_out(tmp_path)) >= 60, "the records added while stopped")
        time.sleep(0.3)  # a few more polls: none may repeat a record
    finally:
        stop(proc)
    assert ids_out(tmp_path) == list(range(60))
    # Each poll sent the offset the last one found.
    assert all(r.query.get("since", r.query.get("start")) != "{id}"
               for r in api.requests("poll"))


@pytest.mark.parametrize("point", ["mid_write", "after_sink_commit", "before_ack"])
def test_kill_at_a_fault_point_then_restart_loses_and_repeats_nothing(tmp_path, api,
                                                                      point):
    source = SOURCES["max_field"].format(url=api.url("poll"))
    # Records keep arriving, so that every epoch writes some.
    arriving = threading.Thread(target=lambda: [
        (add(api, i, 1), time.sleep(0.02)) for i in range(30, 70)])
    arriving.start()
    try:
        proc = start(tmp_path, source, env={"FLOWSQL_FAULT": point + ":2"})
        proc.communicate(timeout=DEADLINE)
        assert proc.returncode == -signal.SIGKILL
    finally:
        arriving.join()
    proc = start(tmp_path, source)
    try:
        wait_for(lambda: len(ids_out(tmp_path)) >= 70, "every record")
        time.sleep(0.3)
    finally:
        stop(proc)
    assert ids_out(tmp_path) == list(range(70))


def test_streaming_options_are_checked(api):
    url = api.url("poll")
    r = run_flowsql("-c", f"SELECT * FROM read_http('{url}', streaming => true)")
    assert r.code != 0 and "streaming = true needs option 'offset_field'" in r.err, r.err
    r = run_flowsql("-c", f"SELECT * FROM read_http('{url}', streaming => true, "
                          "offset_field => 'id')")
    assert r.code != 0
    assert ("streaming = true: put {id} in the URL, params or body, where each poll "
            "sends the offset") in r.err, r.err
    r = run_flowsql("-c", f"SELECT * FROM read_http('{url}', offset_field => 'id')")
    assert r.code != 0 and "option 'offset_field' needs streaming = true" in r.err, r.err
    r = run_flowsql("-c", f"SELECT * FROM read_http('{url}?since={{x}}', streaming => true, "
                          "offset_field => 'x', initial_offset => '-1')")
    assert r.code != 0
    assert "option 'offset_field': the records have no field 'x'" in r.err, r.err
    # No request went out with a placeholder unfilled.
    assert all("{" not in v for r in api.requests("poll") for v in r.query.values())


def test_seed_002_option_names_work(tmp_path, api):
    # Seed 002's .option(...) names, as its users write them (the interval in seconds).
    source = (f"read_http('{api.url('poll', 'bearer')}', params => {{'since': "
              "'{next_since}'}, streaming => 'true', streamingInterval => '0.05', "
              "offsetField => 'next_since', offsetType => 'cursor', initialOffset => '-1', "
              f"batchSize => '10', authType => 'Bearer', oauthToken => '{server.TOKEN}')")
    poll_while_records_arrive(tmp_path, api, source, 5)
    assert ids_out(tmp_path) == list(range(35))
    assert {r.status for r in api.requests("poll")} == {200}
