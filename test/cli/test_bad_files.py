"""Bad files give an error naming the file and line, or a full read: never a quiet
short one."""

import json
import os
import shutil
import stat
import subprocess
import threading

import pytest

from conftest import REPO


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_an_unclosed_csv_quote_is_an_error_not_lost_rows(flowsql, tmp_path):
    rows = [f"{i},x" for i in range(20000)] + ['5,"never closed'] + \
        [f"{i},y" for i in range(20000)]
    path = write_lines(tmp_path / "q.csv", ["a,b"] + rows)
    r = flowsql("-c", f"SELECT count(*) FROM '{path}'")
    assert r.code != 0
    assert f"{path}: the quote (\") opened at line 20002 is never closed" in r.err, r.err
    # Across blocks Arrow's parser notices itself, and says which option to set.
    r = flowsql("-c", f"SELECT count(*) FROM '{path}' WITH (block_size = '64KB')")
    assert r.code != 0
    assert "newlines_in_values" in r.err, r.err
    # With quoting off, the quote is data and every row is read.
    r = flowsql("--format", "csv", "-c",
                f"SELECT count(*) FROM '{path}' WITH (block_size = '64KB', quote = '')")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "40001"


def test_a_quoted_value_across_lines_still_reads(flowsql, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('a,b\n1,"two\nlines"\n2,x\n')
    r = flowsql("--format", "csv", "-c", f"SELECT count(*) FROM '{path}'")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "2"


def test_a_late_json_key_is_an_error_naming_line_and_key(flowsql, tmp_path):
    lines = [json.dumps({"a": i}) for i in range(20000)] + [json.dumps({"a": 1, "late": "x"})]
    path = write_lines(tmp_path / "late.ndjson", lines)
    r = flowsql("-c", f"SELECT count(*) FROM '{path}' WITH (block_size = '64KB')")
    assert r.code != 0
    assert f"{path}: at line 20001: key 'late' is not in the schema" in r.err, r.err
    assert "sample_size = -1" in r.err
    r = flowsql("--format", "csv", "-c",
                f"SELECT count(*), count(late) FROM '{path}' "
                "WITH (block_size = '64KB', sample_size = -1)")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "20001,1"


def test_ndjson_errors_name_the_file_line(flowsql, tmp_path):
    path = write_lines(tmp_path / "bad.ndjson", ['{"a": 1}', "", '{"a": 2}', '{"a": 3,,}'])
    r = flowsql("-c", f"SELECT * FROM '{path}'")
    assert r.code != 0
    assert f"{path}: JSON parse error: Missing a name for object member. at line 4" \
        in r.err, r.err


def test_json_array_errors_name_the_record(flowsql, tmp_path):
    path = tmp_path / "arr.json"
    path.write_text(json.dumps([{"a": i} for i in range(5000)] + [{"a": "text"}]))
    r = flowsql("-c", f"SELECT count(*) FROM '{path}' WITH (block_size = '16KB')")
    assert r.code != 0
    assert "changed from number to string in record 5001" in r.err, r.err


def test_a_record_larger_than_the_block_names_block_size(flowsql, tmp_path):
    path = write_lines(tmp_path / "big.ndjson", [json.dumps({"a": "x" * 300000})])
    r = flowsql("-c", f"SELECT length(a) FROM '{path}' WITH (block_size = '64KB')")
    assert r.code != 0
    assert f"{path}: a JSON record is larger than block_size (64000 bytes); " \
        "set block_size = '16MB' or larger" in r.err, r.err
    r = flowsql("--format", "csv", "-c",
                f"SELECT length(a) FROM '{path}' WITH (block_size = '1MB')")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "300000"


@pytest.mark.parametrize("late", [False, True])
def test_invalid_utf8_is_an_error_naming_column_and_line(flowsql, tmp_path, late):
    # In the first block Arrow would type the column BLOB; later it failed mid-read.
    filler = [f"{i},ok" for i in range(200000 if late else 1)]
    path = tmp_path / "u.csv"
    path.write_bytes(("a,b\n" + "".join(l + "\n" for l in filler)).encode() +
                     b"-7,bad\xff\xfebytes\n-8,fine\n")
    line = len(filler) + 2
    r = flowsql("-c", f"SELECT max(b) FROM '{path}'")
    assert r.code != 0
    assert f"{path}: invalid UTF-8 in column 'b' at line {line}; set invalid_utf8" in r.err, \
        r.err
    r = flowsql("--format", "csv", "-c",
                f"SELECT typeof(b), b FROM '{path}' WITH (invalid_utf8 = 'replace') "
                "WHERE a = -7")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "VARCHAR,bad\ufffd\ufffdbytes"
    r = flowsql("--format", "csv", "-c",
                f"SELECT b FROM '{path}' WITH (invalid_utf8 = 'ignore') WHERE a = -7")
    assert r.out.splitlines()[1] == "badbytes", r


def test_overwrite_through_a_symlink_replaces_its_target_and_keeps_the_link(flowsql, tmp_path):
    target = tmp_path / "target.csv"
    target.write_text("old\n1\n")
    link = tmp_path / "link.csv"
    link.symlink_to("target.csv")
    r = flowsql("-c", f"SELECT 2 AS x INTO '{link}' WITH (mode = 'overwrite')")
    assert r.code == 0, r
    assert link.is_symlink()
    assert target.read_text() == '"x"\n2\n'


def test_dev_stdout_is_written_in_place(flowsql):
    r = flowsql("--no-progress", "--format", "csv", "-c",
                "SELECT 7 AS x INTO '/dev/stdout' WITH (format = 'csv')")
    assert r.code == 0, r
    assert r.out.startswith('"x"\n7\n'), r.out
    assert os.path.islink("/dev/stdout")


def test_a_full_device_is_an_error_and_stays_a_device(flowsql):
    r = flowsql("-c", "SELECT 7 AS x INTO '/dev/full' WITH (format = 'csv')")
    assert r.code != 0
    assert "/dev/full" in r.err, r.err
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_is_written_in_place(flowsql, tmp_path):
    fifo = tmp_path / "p.csv"
    os.mkfifo(fifo)
    got = {}

    def read():
        with open(fifo) as f:
            got["text"] = f.read()

    reader = threading.Thread(target=read)
    reader.start()
    r = flowsql("-c", f"SELECT 3 AS x INTO '{fifo}'")
    reader.join(timeout=30)
    assert r.code == 0, r
    assert got["text"] == '"x"\n3\n'
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(shutil.which("runuser") is None or os.geteuid() != 0,
                    reason="needs root to run as another user")
def test_permission_denied_names_the_target_and_the_reason(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    os.chmod(tmp_path, 0o755)
    binary = os.environ.get("FLOWSQL_BIN", str(REPO / "build" / "flowsql"))
    proc = subprocess.run(["runuser", "-u", "nobody", "--", binary, "-c",
                           f"SELECT 1 AS x INTO '{folder}/x.csv'"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"cannot write {folder}/x.csv: Permission denied" in proc.stderr, proc.stderr


def test_a_csv_value_the_inferred_type_cannot_hold_names_column_and_line(flowsql, tmp_path):
    path = tmp_path / "late.csv"
    path.write_text("a,b\n" + "".join(f"{i},x\n" for i in range(30000)) + "abc,y\n")
    r = flowsql("-c", f"SELECT max(a) FROM '{path}' WITH (block_size = '64KB')")
    assert r.code != 0
    assert (f"{path}: column 'a' is read as BIGINT (as the sampled input showed, or types "
            "declared), but line 30002 holds 'abc'") in r.err, r.err
    r = flowsql("--format", "csv", "-c",
                f"SELECT count(*), max(a) FROM '{path}' "
                "WITH (block_size = '64KB', types = {'a': 'VARCHAR'})")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "30001,abc"
