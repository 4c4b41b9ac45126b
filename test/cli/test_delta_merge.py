"""MERGE into Delta tables (mode 'merge', merge_on, delete_on): the rows delta-rs's
own MERGE makes from the same table and the same incoming rows are the oracle, and
delta-rs reads what flowsql committed, version by version."""

import json
import os
import shutil

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import run_flowsql
from test_delta import SCHEMA, oracle, rows, same, write_input

MERGE = "mode = 'merge', merge_on = 'id', delete_on = 'op = ''D'''"


def incoming(table, op):
    """`table`'s rows with an `op` column ('U' or 'D') saying what each does."""
    return table.append_column("op", pa.array([op] * table.num_rows))


def commit_actions(path, version):
    with open(os.path.join(path, "_delta_log", f"{version:020d}.json")) as f:
        return [json.loads(line) for line in f]


def delta_rs_merge(path, source):
    """delta-rs's MERGE of `source` into the table at `path`, as flowsql's merge
    with MERGE's options means it."""
    columns = {name: f"s.{name}" for name in SCHEMA.names}
    (deltalake.DeltaTable(path)
     .merge(source, "t.id = s.id", source_alias="s", target_alias="t")
     .when_matched_delete("s.op = 'D'")
     .when_matched_update(columns)
     .when_not_matched_insert(columns, "s.op <> 'D'")
     .execute())


def test_a_merge_updates_inserts_and_deletes_as_delta_rs_merges(tmp_path):
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    deltalake.write_deltalake(ours, rows(0, 100), partition_by=["part"])
    shutil.copytree(ours, theirs)
    # Updates of ids 1, 3, ..., 19 (partition a) with new values, deletes of 21 and
    # 23 (a), 500 (no such id), and inserts of 1000..1004 in a new partition c.
    updated = rows(1, 19).filter(pc.equal(pc.bit_wise_and(rows(1, 19)["id"], 1), 1))
    updated = updated.set_column(updated.schema.get_field_index("score"), "score",
                                 pa.array([-1.5] * updated.num_rows))
    source = pa.concat_tables([
        incoming(updated, "U"),
        incoming(rows(21, 3).filter(pc.is_in(rows(21, 3)["id"], pa.array([21, 23]))), "D"),
        incoming(rows(500, 1), "D"),
        incoming(rows(1000, 5, part="c"), "U"),
    ])
    r = run_flowsql("-c", f"SELECT * FROM '{write_input(tmp_path, 'in', source)}' "
                          f"INTO 'delta://{ours}' WITH ({MERGE})")
    assert r.code == 0, r
    delta_rs_merge(theirs, source)
    got, want = oracle(ours), oracle(theirs)
    assert got.schema.names == SCHEMA.names
    assert got.num_rows == 100 - 2 + 5
    same(got, want)
    # Earlier versions stay as they were; the merge is one commit.
    same(oracle(ours, 0), rows(0, 100))
    actions = commit_actions(ours, 1)
    info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
    assert info["operation"] == "MERGE" and info["isBlindAppend"] is False, info
    # Only partition a's file held the merged keys: it alone is rewritten.
    removed = [a["remove"]["partitionValues"] for a in actions if "remove" in a]
    assert removed == [{"part": "a"}], removed


def test_only_files_whose_statistics_may_hold_a_key_are_rewritten(tmp_path):
    path = str(tmp_path / "t")
    for first in range(0, 400, 100):  # four files: ids 0-99, 100-199, ...
        r = run_flowsql("-c", f"SELECT range + {first} AS id, 'x' AS v FROM range(100) "
                              f"INTO 'delta://{path}' WITH (mode = 'append')")
        assert r.code == 0, r
    r = run_flowsql("-c", f"SELECT * FROM (VALUES (150, 'y'), (399, 'z')) s(id, v) "
                          f"INTO 'delta://{path}' WITH (mode = 'merge', merge_on = 'id')")
    assert r.code == 0, r
    actions = commit_actions(path, 4)
    files = {a["add"]["path"]: json.loads(a["add"]["stats"]) for a in
             [a for v in range(4) for a in commit_actions(path, v)] if "add" in a}
    removed = sorted(files[a["remove"]["path"]]["minValues"]["id"]
                     for a in actions if "remove" in a)
    assert removed == [100, 300], removed
    added = sorted(json.loads(a["add"]["stats"])["numRecords"]
                   for a in actions if "add" in a)
    assert added == [2, 99, 99], added  # two rewritten files and the merged rows
    t = oracle(path)
    assert t.num_rows == 400
    assert t.filter(pc.field("v") != "x").to_pylist() == \
        [{"id": 150, "v": "y"}, {"id": 399, "v": "z"}]


def test_the_last_row_of_a_key_counts_and_a_null_key_matches_nothing(tmp_path):
    path = str(tmp_path / "t")
    r = run_flowsql("-c", f"SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (NULL, 'n')) "
                          f"s(id, v) INTO 'delta://{path}'")
    assert r.code == 0, r
    r = run_flowsql("-c", "SELECT * FROM (VALUES (1, 'a1', 'U'), (1, 'a2', 'U'), "
                          "(2, 'b1', 'U'), (2, NULL, 'D'), (3, 'c', 'D'), (3, 'c1', 'U'), "
                          "(NULL, 'n2', 'U'), (NULL, 'n3', 'D')) s(id, v, op) "
                          f"INTO 'delta://{path}' WITH ({MERGE})")
    assert r.code == 0, r
    t = pa.table(deltalake.DeltaTable(path).to_pyarrow_dataset().to_table())
    assert t.schema == pa.schema([("id", pa.int32()), ("v", pa.string())])
    assert sorted(t.to_pylist(), key=lambda r: (r["id"] is None, r["id"], r["v"])) == [
        {"id": 1, "v": "a2"}, {"id": 3, "v": "c1"},
        {"id": None, "v": "n"}, {"id": None, "v": "n2"}]


def test_a_merge_into_a_new_table_creates_it_without_the_columns_only_delete_on_reads(
        tmp_path):
    path = str(tmp_path / "t")
    r = run_flowsql("-c", "SELECT * FROM (VALUES (1, 'a', 'U'), (2, 'b', 'D')) "
                          f"s(id, v, op) INTO 'delta://{path}' WITH ({MERGE}, "
                          "partition_by = 'v')")
    assert r.code == 0, r
    dt = deltalake.DeltaTable(path)
    assert [f.name for f in dt.schema().fields] == ["id", "v"]
    assert dt.metadata().partition_columns == ["v"]
    assert pa.table(dt.to_pyarrow_dataset().to_table()).to_pylist() == \
        [{"id": 1, "v": "a"}]


def test_merging_the_same_rows_again_changes_nothing(tmp_path):
    """What makes an API-to-lake pipeline idempotent: a repeated batch."""
    path = str(tmp_path / "t")
    src = write_input(tmp_path, "in", rows(0, 50))
    for _ in range(2):
        r = run_flowsql("-c", f"SELECT * FROM '{src}' INTO 'delta://{path}' "
                              "WITH (mode = 'merge', merge_on = 'id, part')")
        assert r.code == 0, r
    same(oracle(path, 1), rows(0, 50))
    same(oracle(path), rows(0, 50))


@pytest.mark.parametrize("options,message", [
    ("mode = 'merge'", "mode 'merge' needs merge_on: the key columns"),
    ("mode = 'append', merge_on = 'id'",
     "options 'merge_on' and 'delete_on' are for mode 'merge'"),
    ("mode = 'merge', merge_on = 'key'", "merge_on column 'key' is not a column of the "
                                         "query"),
    ("mode = 'merge', merge_on = 'id', delete_on = 'op ='",
     "option 'delete_on' of delta sink: syntax error at line 1:5: expected an "
     "expression but found end of input"),
    ("mode = 'merge', merge_on = 'id', delete_on = 'nope = 1'",
     "option 'delete_on' of delta sink: column 'nope' not found at line 1:1; columns: "
     "id, op"),
    ("mode = 'merge', merge_on = 'id', delete_on = 'op'",
     "option 'delete_on' of delta sink: 'op' is string, not a condition"),
])
def test_bad_merge_options_are_named(tmp_path, options, message):
    path = str(tmp_path / "t")
    r = run_flowsql("-c", f"SELECT 1 AS id, 'U' AS op INTO 'delta://{path}' "
                          f"WITH ({options})")
    assert r.code != 0 and message in r.err, r
    assert not os.path.exists(os.path.join(path, "_delta_log"))


def test_a_merge_with_merge_schema_adds_the_new_column_to_rewritten_rows_as_null(
        tmp_path):
    path = str(tmp_path / "t")
    r = run_flowsql("-c", f"SELECT * FROM (VALUES (1, 'a'), (2, 'b')) s(id, v) "
                          f"INTO 'delta://{path}'")
    assert r.code == 0, r
    r = run_flowsql("-c", "SELECT * FROM (VALUES (2, 'b2', 7), (3, 'c', 8)) s(id, v, n) "
                          f"INTO 'delta://{path}' WITH (mode = 'merge', merge_on = 'id', "
                          "merge_schema = true)")
    assert r.code == 0, r
    t = pa.table(deltalake.DeltaTable(path).to_pyarrow_dataset().to_table()).sort_by("id")
    assert t.to_pylist() == [{"id": 1, "v": "a", "n": None}, {"id": 2, "v": "b2", "n": 7},
                             {"id": 3, "v": "c", "n": 8}]


def test_an_append_only_table_refuses_a_merge(tmp_path):
    path = str(tmp_path / "t")
    deltalake.write_deltalake(path, pa.table({"id": [1]}),
                              configuration={"delta.appendOnly": "true"})
    r = run_flowsql("-c", f"SELECT 1::BIGINT AS id INTO 'delta://{path}' "
                          "WITH (mode = 'merge', merge_on = 'id')")
    assert r.code != 0, r
    assert f"delta table {path} is append-only (delta.appendOnly): it cannot be merged " \
        "into" in r.err, r.err
    assert deltalake.DeltaTable(path).version() == 0
