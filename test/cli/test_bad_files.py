"""Bad files give an error naming the file and line, or a full read: never a quiet
short one."""

import json

import pytest


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
