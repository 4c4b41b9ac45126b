"""End-to-end tests of the flowsql command: inputs, output formats, errors."""

import json
import re

import pyarrow as pa
import pyarrow.ipc
import pytest

from conftest import REPO, run_flowsql

TWO_ROWS = "SELECT CAST(1 AS BIGINT) AS a, 'x' AS b UNION ALL SELECT 2, NULL ORDER BY a"


# --- where SQL comes from ---------------------------------------------------------


def test_command_runs_several_statements_in_order(flowsql):
    r = flowsql("--format", "csv", "-c", "SELECT 1 AS x; SELECT 2 AS y;")
    assert r.code == 0, r
    assert r.out == "x\n1\ny\n2\n"
    assert r.err == ""


def test_command_may_be_repeated(flowsql):
    r = flowsql("-csv", "-c", "SELECT 1 AS x", "-c", "SELECT 2 AS y")
    assert r.code == 0, r
    assert r.out == "x\n1\ny\n2\n"


def test_file(flowsql, tmp_path):
    script = tmp_path / "script.sql"
    script.write_text("-- two statements\nSELECT 1 AS x;\n\nSELECT 'two' AS y;\n")
    r = flowsql("-csv", "-f", str(script))
    assert r.code == 0, r
    assert r.out == "x\n1\ny\ntwo\n"


def test_command_and_file_run_in_order(flowsql, tmp_path):
    script = tmp_path / "script.sql"
    script.write_text("SELECT 2 AS y")
    r = flowsql("-csv", "-c", "SELECT 1 AS x", "-f", str(script), "-c", "SELECT 3 AS z")
    assert r.code == 0, r
    assert r.out == "x\n1\ny\n2\nz\n3\n"


def test_stdin(flowsql):
    r = flowsql("--format", "csv", input="SELECT 1 AS x;\nSELECT 2 AS y\n")
    assert r.code == 0, r
    assert r.out == "x\n1\ny\n2\n"


def test_generate_series(flowsql):
    r = flowsql("-csv", "-c", "SELECT * FROM generate_series(1, 5)")
    assert r.code == 0, r
    assert r.out == "generate_series\n1\n2\n3\n4\n5\n"


def test_csv_file_source(flowsql, people_csv):
    r = flowsql("-csv", "-c", f"SELECT id, name, score FROM '{people_csv}' ORDER BY id")
    assert r.code == 0, r
    assert r.out == 'id,name,score\n1,ann,1.5\n2,bob,\n3,"c, d",3.25\n'


# --- output formats -----------------------------------------------------------------


def test_table_format(flowsql):
    r = flowsql("-c", TWO_ROWS)
    assert r.code == 0, r
    assert r.out == (
        "┌───────┬─────────┐\n"
        "│   a   │    b    │\n"
        "│ int64 │ varchar │\n"
        "├───────┼─────────┤\n"
        "│     1 │ x       │\n"
        "│     2 │ NULL    │\n"
        "└───────┴─────────┘\n"
        "2 rows\n"
    )


def test_table_is_the_default_and_format_table_is_the_same(flowsql):
    assert flowsql("-c", TWO_ROWS).out == flowsql("--format", "table", "-c", TWO_ROWS).out


def test_csv_format(flowsql):
    r = flowsql("--format", "csv", "-c", TWO_ROWS)
    assert r.code == 0, r
    assert r.out == "a,b\n1,x\n2,\n"


def test_csv_quoting(flowsql):
    r = flowsql("-csv", "-c", "SELECT 'a,b' AS s, 'say \"hi\"' AS t, '' AS e, NULL AS n")
    assert r.code == 0, r
    assert r.out == 's,t,e,n\n"a,b","say ""hi""","",\n'


def test_json_format(flowsql):
    r = flowsql("--format", "json", "-c", TWO_ROWS)
    assert r.code == 0, r
    assert r.out == '[{"a":1,"b":"x"},\n{"a":2,"b":null}]\n'
    assert json.loads(r.out) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]


def test_json_alias_and_empty_result(flowsql):
    r = flowsql("-json", "-c", "SELECT * FROM generate_series(1, 5) WHERE generate_series > 9")
    assert r.code == 0, r
    assert json.loads(r.out) == []


def test_json_is_valid_for_a_file(flowsql, people_csv):
    r = flowsql("-json", "-c", f"SELECT * FROM '{people_csv}' ORDER BY id")
    assert r.code == 0, r
    rows = json.loads(r.out)
    assert rows == [
        {"id": 1, "name": "ann", "score": 1.5},
        {"id": 2, "name": "bob", "score": None},
        {"id": 3, "name": "c, d", "score": 3.25},
    ]


def test_ndjson_format(flowsql):
    r = flowsql("--format", "ndjson", "-c", TWO_ROWS)
    assert r.code == 0, r
    assert r.out == '{"a":1,"b":"x"}\n{"a":2,"b":null}\n'
    assert [json.loads(line) for line in r.out.splitlines()] == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": None},
    ]


def test_arrow_format(flowsql):
    import subprocess

    from conftest import flowsql_bin

    proc = subprocess.run(
        [flowsql_bin(), "--format", "arrow", "-c", TWO_ROWS],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    table = pa.ipc.open_stream(proc.stdout).read_all()
    assert table.column_names == ["a", "b"]
    assert table.to_pydict() == {"a": [1, 2], "b": ["x", None]}


def test_unknown_format_is_a_usage_error(flowsql):
    r = flowsql("--format", "xml", "-c", "SELECT 1")
    assert r.code == 1
    assert "xml" in r.err
    assert "--help" in r.err


def test_values_render_like_duckdb(flowsql):
    r = flowsql(
        "-csv",
        "-c",
        "SELECT 1.0::DOUBLE AS d, 0.1::DOUBLE AS p, DATE '2024-01-02' AS dt, "
        "TIMESTAMP '2024-01-02 03:04:05' AS ts, true AS b",
    )
    assert r.code == 0, r
    assert r.out == "d,p,dt,ts,b\n1.0,0.1,2024-01-02,2024-01-02 03:04:05,true\n"


def test_long_table_shows_first_and_last_rows(flowsql):
    r = flowsql("-c", "SELECT * FROM generate_series(1, 1000)")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[-1] == "1,000 rows (40 shown)"
    body = [line for line in lines if line.startswith("│")][2:]  # after name and type
    assert len(body) == 41  # 20 + "…" + 20
    assert body[0].split()[1] == "1"
    assert body[19].split()[1] == "20"
    assert "…" in body[20]
    assert body[21].split()[1] == "981"
    assert body[40].split()[1] == "1000"


def test_wide_table_drops_middle_columns(flowsql):
    columns = ", ".join(f"{i} AS column_{i}" for i in range(20))
    r = flowsql("-c", f"SELECT {columns}", env={"COLUMNS": "60"})
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert all(len(line) <= 60 for line in lines), r.out
    assert "column_0" in lines[1] and "column_19" in lines[1] and "…" in lines[1]
    assert "column_10" not in r.out
    assert "20 columns" in lines[-1]


def test_long_cells_are_cut(flowsql):
    r = flowsql("-c", f"SELECT '{'y' * 100}' AS s")
    assert r.code == 0, r
    assert "y" * 39 + "…" in r.out
    assert "y" * 41 not in r.out


def test_explain_prints_plain_text_in_table_mode(flowsql):
    r = flowsql("-c", "EXPLAIN SELECT * FROM generate_series(1, 3)")
    assert r.code == 0, r
    assert r.out.strip()
    assert "┌" not in r.out and "│" not in r.out


def test_explain_analyze_shows_each_operators_rows_and_times(flowsql):
    r = flowsql("-c", "EXPLAIN ANALYZE SELECT city, count(*) FROM 'test/data/orders.parquet' "
                "WHERE qty > 2 GROUP BY city ORDER BY 2 DESC LIMIT 3")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert re.match(r"Total: \d+\.\dms, 3 rows$", lines[0].strip("│ ")), lines[0]
    # Each operator's line is followed by what it emitted and when.
    actual = {}
    for i, line in enumerate(lines):
        m = re.search(r"actual: rows=(\d+) batches=\d+ first=[\d.]+ms done=[\d.]+ms", line)
        if m:
            actual[lines[i - 1].split()[0] if not lines[i - 1].strip().startswith("pushed")
                   else "Scan"] = int(m.group(1))
    assert actual["Limit"] == 3
    assert actual["Sort"] == 8  # eight cities
    assert actual["Filter"] == 161  # rows with qty > 2
    assert actual["Scan"] == 200


def test_count_star_over_parquet_reads_no_row(flowsql):
    r = flowsql("-c", "EXPLAIN SELECT count(*) FROM 'test/data/orders.parquet'")
    assert r.code == 0, r
    assert "Scan" not in r.out and "Values (1 row)" in r.out, r.out
    r = flowsql("-c", "EXPLAIN SELECT count(*) FROM 'test/data/orders.parquet' WHERE qty > 5")
    assert "Scan" in r.out, r.out


def test_a_decimal_filter_skips_parquet_row_groups(flowsql, tmp_path):
    import decimal
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = tmp_path / "d.parquet"
    values = [decimal.Decimal(i) / 100 for i in range(10000)]
    pq.write_table(pa.table({"d": pa.array(values, pa.decimal128(9, 2))}), path,
                   row_group_size=1000)
    for where in ("d < 15", "d < 15.00", "d >= 85.00"):
        r = flowsql("-c", f"EXPLAIN ANALYZE SELECT count(*) FROM '{path}' WHERE {where}")
        assert r.code == 0, r
        scan = r.out[r.out.index("Scan"):]
        # Two row groups of 1000 hold the matching values; the other eight are skipped.
        assert re.search(r"actual: rows=2000 ", scan), (where, r.out)


def test_explain_shows_string_constants_whole(flowsql):
    r = flowsql("-c", "EXPLAIN SELECT id FROM 'test/data/orders.parquet' "
                "WHERE city = 'Brand#12'")
    assert r.code == 0, r
    assert '"Brand#12"' in r.out, r.out


def test_explain_analyze_refuses_a_write(flowsql, tmp_path):
    r = flowsql("-c", f"EXPLAIN ANALYZE SELECT 1 INTO '{tmp_path / 'x.csv'}'")
    assert r.code != 0
    assert "not supported: EXPLAIN ANALYZE of a write" in r.err
    assert not (tmp_path / "x.csv").exists()


def test_write_prints_rows_written(flowsql, tmp_path):
    out = tmp_path / "out.csv"
    r = flowsql("-csv", "-c", f"SELECT * FROM generate_series(1, 10) INTO '{out}'")
    assert r.code == 0, r
    assert r.out.splitlines()[0].startswith("rows_written")
    assert r.out.splitlines()[1].split(",")[0] == "10"
    assert out.exists() or out.is_dir()


# --- errors and exit codes -------------------------------------------------------------


def test_syntax_error_names_line_and_exits_1(flowsql):
    r = flowsql("-c", "SELEC 1")
    assert r.code == 1, r
    assert r.err.startswith("Error: ")
    assert "line 1:" in r.err
    assert r.out == ""


def test_unknown_option_is_named_and_exits_1(flowsql, people_csv):
    r = flowsql("-c", f"SELECT * FROM '{people_csv}' WITH (bogus = 1)")
    assert r.code == 1, r
    assert r.err.startswith("Error: ")
    assert "bogus" in r.err


def test_missing_script_file_exits_1(flowsql, tmp_path):
    missing = tmp_path / "missing.sql"
    r = flowsql("-f", str(missing))
    assert r.code == 1, r
    assert "missing.sql" in r.err


def test_missing_data_file_exits_1(flowsql, tmp_path):
    missing = tmp_path / "nope.csv"
    r = flowsql("-c", f"SELECT * FROM '{missing}'")
    assert r.code == 1, r
    assert "nope.csv" in r.err


def test_script_stops_at_first_failing_statement(flowsql, tmp_path):
    missing = tmp_path / "nope.csv"
    r = flowsql("-csv", "-c", f"SELECT 1 AS x; SELECT * FROM '{missing}'; SELECT 2 AS y")
    assert r.code == 1, r
    assert r.out == "x\n1\n"
    assert "nope.csv" in r.err


def test_later_scripts_do_not_run_after_a_failure(flowsql):
    r = flowsql("-csv", "-c", "SELEC 1", "-c", "SELECT 2 AS y")
    assert r.code == 1, r
    assert r.out == ""


def test_bad_flag_exits_1_with_usage_hint(flowsql):
    r = flowsql("--bogus")
    assert r.code == 1
    assert "--bogus" in r.err
    assert "flowsql --help" in r.err


def test_flag_without_value(flowsql):
    r = flowsql("-c")
    assert r.code == 1
    assert "-c" in r.err


# --- help, version, connectors ---------------------------------------------------------


def test_help(flowsql):
    r = flowsql("--help")
    assert r.code == 0
    for flag in ["-c", "-f", "--format", "--state-dir", "--help", "--version", "connectors"]:
        assert flag in r.out
    assert "Examples" in r.out


def test_version(flowsql):
    r = flowsql("--version")
    assert r.code == 0
    assert r.out.startswith("flowsql ")


def test_connectors_lists_connectors_and_options(flowsql):
    r = flowsql("connectors")
    assert r.code == 0, r
    assert "file" in r.out
    assert "generate" in r.out
    for option in ["delimiter", "compression", "rate", "batch_size"]:
        assert option in r.out
    # aliases and defaults are shown
    assert "sep" in r.out
    assert "rows_per_second" in r.out


def test_connectors_markdown(flowsql):
    r = flowsql("connectors", "--markdown")
    assert r.code == 0, r
    assert "## file" in r.out
    assert "## generate" in r.out
    assert "| option | type | default | aliases | description |" in r.out
    assert "| `delimiter` |" in r.out


def test_table_aligns_double_width_characters_issue6():
    import unicodedata

    def width(line):
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)

    r = run_flowsql("-c", "SELECT '日本語' AS name UNION ALL SELECT 'héllo'")
    assert r.code == 0, r.err
    lines = [line for line in r.out.splitlines() if line.startswith(("│", "┌", "├", "└"))]
    assert len(lines) >= 6 and len({width(line) for line in lines}) == 1, r.out


def test_docs_connectors_md_is_generated_from_the_declarations(flowsql):
    r = flowsql("connectors", "--markdown")
    assert r.code == 0, r
    assert r.out == (REPO / "docs" / "connectors.md").read_text(), (
        "docs/connectors.md is stale: run `flowsql connectors --markdown > docs/connectors.md`")


@pytest.mark.parametrize("connector", ["http", "python", "delta"])
def test_connector_readme_options_are_the_declarations(connector):
    # A connector's README ends with its options table, as `connectors --markdown`
    # generates it from the declarations.
    r = run_flowsql("connectors", "--markdown")
    assert r.code == 0, r
    section = r.out[r.out.index(f"## {connector}\n"):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
    # Its source options, then its sink options when it writes: as generated.
    start = section.index("### Source options") if "### Sink options" in section \
        else section.index("| option")
    table = section[start:].strip()
    readme = (REPO / "connectors" / connector / "README.md").read_text()
    assert readme.rstrip().endswith(table), (
        f"connectors/{connector}/README.md's options table is stale: paste the "
        f"{connector} table of `flowsql connectors --markdown`")
