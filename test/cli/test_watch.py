"""Watched folders: FROM 'dir/*.csv' WITH (watch = true) reads each new file once, when
complete; a restart reads no file again; delete_after_read / move_after_read act only
after the rows are committed. Waits are conditions with deadlines."""
import os
import signal
import subprocess
import time

import pytest

from conftest import DEADLINE, flowsql_bin, run_flowsql, stop, wait_for



def start(tmp_path, source_options="", sink="", env=None, poll="100ms"):
    statement = ("SELECT * FROM '%s/in/*.csv' WITH (watch = true, poll_interval = '%s'%s) "
                 "INTO '%s/out/' WITH (format = 'csv', flush_interval = '100ms'%s)"
                 % (tmp_path, poll, source_options, tmp_path, sink))
    args = [flowsql_bin(), "--no-progress", "--state-dir", str(tmp_path / "state"), "-c",
            statement]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, **(env or {})))


def rows_out(tmp_path):
    """The committed rows of out/ (header lines dropped), as (id, v) strings."""
    out = tmp_path / "out"
    rows = []
    if out.is_dir():
        for name in sorted(os.listdir(out)):
            if name.startswith("part-"):
                lines = (out / name).read_text().splitlines()[1:]
                rows += [tuple(x.strip('"') for x in line.split(",")) for line in lines]
    return sorted(rows)




def write_csv(path, rows):
    tmp = path.with_name("." + path.name)
    tmp.write_text("id,v\n" + "".join("%d,%s\n" % r for r in rows))
    os.rename(tmp, path)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "a.csv", [(1, "a"), (2, "b")])
    return tmp_path


def test_new_files_are_read_once_and_not_again_after_a_restart(folder):
    proc = start(folder)
    try:
        wait_for(lambda: len(rows_out(folder)) == 2, "a.csv")
        write_csv(folder / "in" / "b.csv", [(3, "c")])
        wait_for(lambda: len(rows_out(folder)) == 3, "b.csv")
    finally:
        stop(proc)
    # Restarted: a.csv and b.csv are not read again; c.csv is.
    write_csv(folder / "in" / "c.csv", [(4, "d")])
    proc = start(folder)
    try:
        wait_for(lambda: len(rows_out(folder)) == 4, "c.csv")
        time.sleep(0.5)  # a few polls: nothing else may arrive
    finally:
        stop(proc)
    assert rows_out(folder) == [("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")]
    assert sorted(os.listdir(folder / "in")) == ["a.csv", "b.csv", "c.csv"]


def test_a_growing_file_is_read_once_complete(folder):
    proc = start(folder, poll="400ms")
    try:
        wait_for(lambda: len(rows_out(folder)) == 2, "a.csv")
        growing = folder / "in" / "g.csv"
        with open(growing, "w") as f:
            f.write("id,v\n")
            for i in range(10):  # grows for about a second, every 100 ms
                f.write("%d,g\n" % (100 + i))
                f.flush()
                time.sleep(0.1)
        wait_for(lambda: len(rows_out(folder)) == 12, "g.csv")
        time.sleep(1)
    finally:
        stop(proc)
    got = rows_out(folder)
    assert len(got) == 12 and len(set(got)) == 12, got


def test_marker_files_say_when_a_file_is_complete(folder):
    proc = start(folder, ", file_complete = 'marker'")
    try:
        time.sleep(0.6)  # several polls: a.csv has no marker yet
        assert rows_out(folder) == []
        (folder / "in" / "a.csv.done").write_text("")
        wait_for(lambda: len(rows_out(folder)) == 2, "a.csv after its marker")
    finally:
        stop(proc)


def test_delete_after_read_deletes_only_committed_files(folder):
    proc = start(folder, ", delete_after_read = true")
    try:
        wait_for(lambda: not (folder / "in" / "a.csv").exists(), "a.csv deleted")
        assert len(rows_out(folder)) == 2  # committed before the delete
    finally:
        stop(proc)


def test_a_deleted_files_name_is_forgotten_so_a_new_file_of_that_name_is_read(folder):
    proc = start(folder, ", delete_after_read = true")
    try:
        wait_for(lambda: not (folder / "in" / "a.csv").exists(), "a.csv deleted")
        write_csv(folder / "in" / "b.csv", [(3, "c")])
        wait_for(lambda: not (folder / "in" / "b.csv").exists(), "b.csv deleted")
        write_csv(folder / "in" / "a.csv", [(4, "d")])
        wait_for(lambda: len(rows_out(folder)) == 4, "the second a.csv read")
        wait_for(lambda: not (folder / "in" / "a.csv").exists(), "a.csv deleted again")
    finally:
        stop(proc)
    assert rows_out(folder) == [("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")]


def test_move_after_read_moves_committed_files(folder):
    proc = start(folder, ", move_after_read = '%s'" % (folder / "done"))
    try:
        wait_for(lambda: (folder / "done" / "a.csv").exists(), "a.csv moved")
        assert len(rows_out(folder)) == 2
        assert not (folder / "in" / "a.csv").exists()
    finally:
        stop(proc)


@pytest.mark.parametrize("point", ["mid_write", "after_sink_commit", "before_ack"])
def test_crash_then_restart_is_exactly_once_and_deletes_after_commit(folder, point):
    for i in range(2, 6):
        write_csv(folder / "in" / ("f%d.csv" % i), [(i * 10 + k, "x") for k in range(3)])
    proc = start(folder, ", delete_after_read = true", env={"FLOWSQL_FAULT": point + ":1"})
    proc.communicate(timeout=DEADLINE)
    assert proc.returncode == -signal.SIGKILL
    left = set(os.listdir(folder / "in"))
    # A file is deleted only when its rows are committed: every row of every deleted
    # file is in the output.
    committed = {r[0] for r in rows_out(folder)}
    for name in {"a.csv", "f2.csv", "f3.csv", "f4.csv", "f5.csv"} - left:
        ids = ["1", "2"] if name == "a.csv" else [str(int(name[1]) * 10 + k)
                                                   for k in range(3)]
        assert set(ids) <= committed, name
    proc = start(folder, ", delete_after_read = true")
    try:
        wait_for(lambda: len(rows_out(folder)) >= 14 and not os.listdir(folder / "in"),
                 "every file read and deleted")
    finally:
        stop(proc)
    got = rows_out(folder)
    assert len(got) == 14 and len(set(got)) == 14, got


def test_watch_needs_a_schema_and_its_options_need_watch(tmp_path):
    (tmp_path / "empty").mkdir()
    r = run_flowsql("-c", "SELECT * FROM '%s/empty/*.csv' WITH (watch = true)" % tmp_path)
    assert r.code != 0 and "no file to infer a schema from" in r.err, r.err
    write_csv(tmp_path / "x.csv", [(1, "a")])
    r = run_flowsql("-c", "SELECT * FROM '%s/x.csv' WITH (delete_after_read = true)" % tmp_path)
    assert r.code != 0
    assert "option 'delete_after_read' applies to watched folders" in r.err, r.err
    assert (tmp_path / "x.csv").exists()
