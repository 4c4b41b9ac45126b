#!/usr/bin/env python3
"""Fills in and checks expected results of test/sql/*.test files with DuckDB.

    .venv/bin/python test/sql/gen_expected.py [--check] [FILE_OR_DIR ...]

Run from the repository root (paths in the SQL are relative to it).

Fill (default): a `query` record whose expected section is the single line
`<duckdb>` gets the rows DuckDB returns for the same SQL, rendered with the
rules of src/cli/sqltest.cc (keep RenderScalar() and render_array() in step).
A typestring `?` is replaced by one inferred from DuckDB's result types.
When flowsql's syntax differs, put the equivalent DuckDB query in a comment
line right above the record:

    # duckdb: SELECT ... FROM read_csv('test/data/x.csv', delim = ';')
    query IT rowsort
    SELECT ... FROM 'test/data/x.csv' WITH (delimiter = ';')
    ----
    <duckdb>

`statement ok` records are run in DuckDB too (so views exist for later
queries); failures there are ignored, except that a `# duckdb:` comment above
a statement replaces it (`# duckdb: skip` skips it).

--refill: replaces the expected rows of every query record (except `# nocheck`
and `# duckdb: skip` ones) with DuckDB's; review the diff before committing.

--check: runs every query record through DuckDB (or its `# duckdb:` query) and
reports the records whose expected rows or column types (the typestring's
letters, see type_letter()) differ from DuckDB's. Records preceded
by `# duckdb: skip` or `# nocheck` are not checked (hand-written expectations).
"""
import datetime as dt
import math
import os
import shutil
import sys
import tempfile

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

PLACEHOLDER = "<duckdb>"


# ---------------------------------------------------------------------------
# Rendering: the same rules as src/cli/sqltest.cc.

def fmt_double(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    s = "%.3f" % v
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s == "-0":
        s = "0"
    return s


def fmt_date(days):
    d = dt.date(1970, 1, 1) + dt.timedelta(days=days)
    return d.isoformat()


def fmt_time_of_day(value, per_second):
    secs, frac = divmod(value, per_second)
    out = "%02d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)
    if frac:
        digits = len(str(per_second)) - 1
        out += "." + ("%0*d" % (digits, frac)).rstrip("0")
    return out


PER_SECOND = {"s": 1, "ms": 1000, "us": 1000000, "ns": 1000000000}


def fmt_timestamp(value, unit):
    per_second = PER_SECOND[unit]
    per_day = per_second * 86400
    days, rest = divmod(value, per_day)
    return fmt_date(days) + " " + fmt_time_of_day(rest, per_second)


def fmt_interval(months, days, nanos):
    parts = []

    def add(n, unit):
        if n:
            parts.append("%d %s%s" % (n, unit, "" if n in (1, -1) else "s"))

    # C++ integer division truncates toward zero.
    years = int(months / 12)
    add(years, "year")
    add(months - years * 12, "month")
    add(days, "day")
    if nanos or not parts:
        if nanos < 0:
            parts.append("-" + fmt_time_of_day(-nanos, 1000000000))
        else:
            parts.append(fmt_time_of_day(nanos, 1000000000))
    return " ".join(parts)


def fmt_binary(b):
    out = []
    for c in b:
        if 32 <= c < 127 and c != ord("\\"):
            out.append(chr(c))
        else:
            out.append("\\x%02X" % c)
    return "".join(out)


def render_array(arr, nested=False):
    """Renders every element of a pyarrow Array as a string."""
    t = arr.type
    valid = arr.is_valid().to_pylist()
    n = len(arr)

    def with_nulls(values):
        return [v if ok else "NULL" for v, ok in zip(values, valid)]

    if pa.types.is_dictionary(t):
        return render_array(arr.dictionary_decode(), nested)
    if pa.types.is_null(t):
        return ["NULL"] * n
    if pa.types.is_boolean(t):
        return with_nulls(["true" if v else "false" for v in arr.to_pylist()])
    if pa.types.is_integer(t):
        return with_nulls([str(v) for v in arr.to_pylist()])
    if pa.types.is_floating(t):
        return with_nulls([fmt_double(float(v)) if v is not None else "" for v in arr.to_pylist()])
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return with_nulls([(v if v else ("''" if nested else "(empty)")) if v is not None else ""
                           for v in arr.to_pylist()])
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return with_nulls([(fmt_binary(v) if v else ("''" if nested else "(empty)"))
                           if v is not None else "" for v in arr.to_pylist()])
    if pa.types.is_date32(t):
        ints = arr.cast(pa.int32()).to_pylist()
        return with_nulls([fmt_date(v) if v is not None else "" for v in ints])
    if pa.types.is_date64(t):
        ints = arr.cast(pa.int64()).to_pylist()
        return with_nulls([fmt_date(v // 86400000) if v is not None else "" for v in ints])
    if pa.types.is_timestamp(t):
        ints = arr.cast(pa.int64()).to_pylist()
        return with_nulls([fmt_timestamp(v, t.unit) if v is not None else "" for v in ints])
    if pa.types.is_time(t):
        ints = arr.cast(pa.int64()).to_pylist()
        return with_nulls([fmt_time_of_day(v, PER_SECOND[t.unit]) if v is not None else ""
                           for v in ints])
    if pa.types.is_duration(t):
        ints = arr.cast(pa.int64()).to_pylist()
        day = 86400 * 10**9
        out = []
        for v in ints:
            if v is None:
                out.append("")
                continue
            nanos = v * (10**9 // PER_SECOND[t.unit])
            days = int(nanos / day)
            out.append(fmt_interval(0, days, nanos - days * day))
        return with_nulls(out)
    if t == pa.month_day_nano_interval():
        return with_nulls([fmt_interval(v.months, v.days, v.nanoseconds) if v is not None else ""
                           for v in arr.to_pylist()])
    if pa.types.is_decimal(t):
        return with_nulls([str(v) if v is not None else "" for v in arr.to_pylist()])
    if pa.types.is_map(t):
        keys = render_array(arr.keys, True)
        items = render_array(arr.items, True)
        offsets = arr.offsets.to_pylist()
        out = []
        for i in range(n):
            a, b = offsets[i], offsets[i + 1]
            out.append("{" + ", ".join("%s=%s" % (keys[k], items[k]) for k in range(a, b)) + "}")
        return with_nulls(out)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        out = []
        for i in range(n):
            if not valid[i]:
                out.append("NULL")
                continue
            inner = arr[i].values
            out.append("[" + ", ".join(render_array(inner, True)) + "]")
        return out
    if pa.types.is_struct(t):
        fields = [render_array(arr.field(k), True) for k in range(t.num_fields)]
        names = [t.field(k).name for k in range(t.num_fields)]
        out = []
        for i in range(n):
            out.append("{" + ", ".join("'%s': %s" % (names[k], fields[k][i])
                                       for k in range(len(names))) + "}")
        return with_nulls(out)
    return with_nulls([str(v) for v in arr.to_pylist()])


def render_table(table):
    table = table.combine_chunks()
    cols = []
    for c in range(table.num_columns):
        col = table.column(c)
        arr = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks) \
            if col.num_chunks else pa.array([], col.type)
        cols.append(render_array(arr))
    return ["\t".join(vals) for vals in zip(*cols)] if cols else []


def type_letter(t):
    if pa.types.is_boolean(t):
        return "B"
    if pa.types.is_integer(t):
        return "I"
    if pa.types.is_decimal(t) and t.scale == 0:
        return "I"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "R"
    if pa.types.is_temporal(t) and not pa.types.is_interval(t) and not pa.types.is_duration(t):
        return "D"
    return "T"


def _number(s):
    if not s or not (s[0].isdigit() or (s[0] == "-" and s[1:2].isdigit())):
        return None
    try:
        return float(s)
    except ValueError:
        return None


def rows_match(expected, actual):
    """As RowsMatch() in sqltest.cc: numbers may differ by one unit of the 3rd decimal."""
    if len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        if e == a:
            continue
        ec, ac = e.split("\t"), a.split("\t")
        if len(ec) != len(ac):
            return False
        for x, y in zip(ec, ac):
            if x == y:
                continue
            fx, fy = _number(x), _number(y)
            if fx is None or fy is None or abs(fx - fy) > 0.0011 + 1e-9 * abs(fx):
                return False
    return True


# ---------------------------------------------------------------------------
# Records.

class Record:
    def __init__(self):
        self.kind = None        # "ok", "error", "query"
        self.header_line = 0    # index of the header line
        self.sql_lines = []
        self.sep_line = None    # index of the ---- line
        self.result_start = None
        self.result_end = None  # exclusive
        self.duckdb_sql = None  # from a `# duckdb:` comment
        self.nocheck = False
        self.types = ""
        self.sort = ""


def parse(lines):
    records = []
    i = 0
    n = len(lines)
    pending_duckdb = None
    pending_nocheck = False
    while i < n:
        s = lines[i].strip()
        if not s:
            pending_duckdb, pending_nocheck = None, False
            i += 1
            continue
        if s.startswith("#"):
            body = s[1:].strip()
            if body.startswith("duckdb:"):
                pending_duckdb = body[len("duckdb:"):].strip()
            elif body == "nocheck":
                pending_nocheck = True
            i += 1
            continue
        words = s.split()
        if words[0] in ("statement", "query"):
            r = Record()
            r.header_line = i
            r.duckdb_sql = pending_duckdb
            r.nocheck = pending_nocheck
            pending_duckdb, pending_nocheck = None, False
            if words[0] == "statement":
                r.kind = words[1] if len(words) > 1 else "ok"
            else:
                r.kind = "query"
                r.types = words[1] if len(words) > 1 else "?"
                r.sort = words[2] if len(words) > 2 else ""
            i += 1
            while i < n and lines[i].strip() and lines[i].strip() != "----":
                r.sql_lines.append(lines[i].rstrip("\n"))
                i += 1
            if i < n and lines[i].strip() == "----":
                r.sep_line = i
                i += 1
                r.result_start = i
                while i < n and lines[i].strip():
                    i += 1
                r.result_end = i
            records.append(r)
            continue
        if words[0] == "halt":
            break
        i += 1
    return records


def run_duckdb(con, sql):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return con.execute(sql).to_arrow_table()


def process_file(path, check, refill, stats):
    with open(path) as f:
        lines = f.read().split("\n")
    records = parse(lines)
    tmp = tempfile.mkdtemp(prefix="flowsql_gen_")
    con = duckdb.connect()
    replacements = {}  # line index -> list of new lines (header / results)
    try:
        for r in records:
            sql = "\n".join(r.sql_lines).replace("__TEST_DIR__", tmp)
            dsql = r.duckdb_sql.replace("__TEST_DIR__", tmp) if r.duckdb_sql else None
            where = "%s:%d" % (path, r.header_line + 1)
            if r.kind in ("error", "maybe"):
                continue
            if r.kind == "ok":
                if dsql == "skip":
                    continue
                try:
                    con.execute(dsql or sql)
                except Exception:
                    pass
                continue
            if r.kind != "query" or r.sep_line is None:
                continue
            expected = lines[r.result_start:r.result_end]
            placeholder = expected == [PLACEHOLDER] or (refill and not r.nocheck)
            if dsql == "skip" or (r.nocheck and not placeholder):
                continue
            if not placeholder and not check:
                continue
            try:
                table = run_duckdb(con, dsql or sql)
            except Exception as e:  # noqa: BLE001
                msg = str(e).split("\n")[0]
                print("DUCKDB ERROR %s: %s" % (where, msg))
                stats["errors"] += 1
                continue
            rows = render_table(table)
            if r.sort in ("rowsort", "valuesort"):
                rows = sorted(rows)
            types = "".join(type_letter(f.type) for f in table.schema)
            if placeholder:
                header = lines[r.header_line].split()
                if header[1] == "?":
                    header[1] = types
                elif len(header[1]) != table.num_columns:
                    print("TYPES %s: typestring %s but DuckDB returns %d columns"
                          % (where, header[1], table.num_columns))
                replacements[r.header_line] = ([" ".join(header)], r.header_line + 1)
                replacements[r.result_start] = (rows, r.result_end)
                stats["filled"] += 1
            else:
                exp = sorted(expected) if r.sort in ("rowsort", "valuesort") else expected
                if not rows_match(exp, rows) or r.types != types:
                    stats["differ"] += 1
                    print("DIFFERS %s" % where)
                    print("  sql: %s" % (dsql or sql).replace("\n", " "))
                    for k in range(max(len(exp), len(rows))):
                        a = exp[k] if k < len(exp) else "<missing>"
                        b = rows[k] if k < len(rows) else "<missing>"
                        if a != b:
                            print("  row %d: file %r vs duckdb %r" % (k + 1, a, b))
                            break
                    if r.types != types:
                        print("  typestring %s vs DuckDB's %s" % (r.types, types))
                else:
                    stats["same"] += 1
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if replacements:
        out = []
        idx = 0
        while idx < len(lines):
            if idx in replacements:
                new_lines, end = replacements[idx]
                out.extend(new_lines)
                if end == idx:  # an empty section: insert before this line
                    out.append(lines[idx])
                    idx += 1
                else:
                    idx = end
            else:
                out.append(lines[idx])
                idx += 1
        with open(path, "w") as f:
            f.write("\n".join(out))


def main(argv):
    check = "--check" in argv
    refill = "--refill" in argv
    paths = [a for a in argv if not a.startswith("--")] or ["test/sql"]
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files.extend(os.path.join(root, n) for n in names if n.endswith(".test"))
        else:
            files.append(p)
    stats = {"filled": 0, "differ": 0, "same": 0, "errors": 0}
    for f in sorted(files):
        process_file(f, check, refill, stats)
    print("gen_expected: %(filled)d filled, %(same)d same, %(differ)d differ, "
          "%(errors)d duckdb errors" % stats)
    return 1 if stats["differ"] or stats["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
