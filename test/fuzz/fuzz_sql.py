#!/usr/bin/env python3
"""A random-query fuzzer for the parser, binder and executor.

    .venv/bin/python test/fuzz/fuzz_sql.py [--seconds S] [--seed N] [--flowsql PATH]

Statements are the queries of test/sql/*.test and test/diff/queries.sql, mutated at
the token level (a token dropped, doubled, swapped or replaced by a keyword, an
operator, a huge or odd literal), plus expressions built at random from the same
pieces. Each runs in its own flowsql process, two at a time, until S seconds pass.

flowsql may reject a statement (exit 1) or fail it at run time (exit 2), with a
message; it may not crash, abort or hang: a signal, any other exit code, a missing
"Error:" line on failure, or no answer within 20 s is a finding. Findings are
written to test/fuzz/crashers/<hash>.sql, which test_fuzz.py replays on every run.
Exit status 1 when there was a finding.
"""
import argparse
import concurrent.futures
import glob
import hashlib
import os
import random
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CRASHERS = os.path.join(ROOT, "test", "fuzz", "crashers")
TIMEOUT_S = 20

PIECES = [
    "SELECT", "FROM", "WHERE", "GROUP BY", "HAVING", "ORDER BY", "LIMIT", "OFFSET",
    "UNION", "UNION ALL", "INTERSECT", "EXCEPT", "JOIN", "LEFT JOIN", "ON", "USING",
    "AND", "OR", "NOT", "IN", "EXISTS", "BETWEEN", "LIKE", "IS NULL", "CASE", "WHEN",
    "THEN", "ELSE", "END", "CAST", "AS", "OVER", "PARTITION BY", "ROWS", "QUALIFY",
    "DISTINCT", "(", ")", ",", "*", "+", "-", "/", "%", "||", "=", "<>", "<", ">=",
    "::", "NULL", "TRUE", "0", "-1", "1e400", "99999999999999999999", "0.000001",
    "-9223372036854775808", "9223372036854775807", "'x'", "''", "'2024-02-30'",
    "DATE '2024-01-31'", "INTERVAL '1' MONTH", "TIMESTAMP '2024-01-01 00:00:00'",
    "DECIMAL(38,37)", "INTEGER", "VARCHAR", "count(*)", "sum(", "avg(", "row_number()",
    "lag(", "substr(", "(SELECT 1)", "(SELECT id FROM 'test/data/orders.csv')",
]

TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\w+|::|<>|<=|>=|\|\||\S")


def corpus():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "test", "sql", "*.test"))):
        lines = open(path).read().split("\n")
        i = 0
        while i < len(lines):
            if lines[i].startswith(("query ", "statement ")):
                sql = []
                i += 1
                while i < len(lines) and lines[i].strip() and lines[i] != "----":
                    sql.append(lines[i])
                    i += 1
                text = " ".join(sql)
                if "__TEST_DIR__" not in text and " INTO " not in text.upper() \
                        and not text.upper().startswith("COPY"):
                    out.append(text)
            i += 1
    queries = open(os.path.join(ROOT, "test", "diff", "queries.sql")).read()
    queries = "\n".join(l for l in queries.split("\n") if not l.startswith("--"))
    out += [q.strip() for q in queries.split(";\n") if q.strip()]
    return out


def mutate(rng, sql):
    tokens = TOKEN.findall(sql)
    for _ in range(rng.randint(1, 4)):
        if not tokens:
            break
        i = rng.randrange(len(tokens))
        op = rng.random()
        if op < 0.25:
            del tokens[i]
        elif op < 0.45:
            tokens.insert(i, tokens[i])
        elif op < 0.6:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens[i] = rng.choice(PIECES)
    return " ".join(tokens)


def expression(rng, depth=0):
    leaves = ["id", "amount", "qty", "city", "day", "ordered_at", "NULL", "1", "2.5",
              "'Rome'", "1e308", "-0.0", "DATE '2024-02-29'", "INTERVAL '13' MONTH"]
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(leaves)
    a, b = expression(rng, depth + 1), expression(rng, depth + 1)
    return rng.choice([
        "(%s + %s)" % (a, b), "(%s * %s)" % (a, b), "(%s / %s)" % (a, b),
        "(%s %% %s)" % (a, b), "(%s || %s)" % (a, b), "(%s = %s)" % (a, b),
        "CAST(%s AS %s)" % (a, rng.choice(["INTEGER", "TINYINT", "DECIMAL(5,2)", "DATE",
                                            "VARCHAR", "DOUBLE", "TIMESTAMP", "BOOLEAN"])),
        "TRY_CAST(%s AS BIGINT)" % a, "coalesce(%s, %s)" % (a, b),
        "CASE WHEN %s THEN %s ELSE %s END" % (a, b, a), "substr(%s, %s)" % (a, b),
        "round(%s, %s)" % (a, b), "abs(%s)" % a, "%s IN (%s, %s)" % (a, b, a),
        "date_diff('month', %s, %s)" % (a, b), "lpad(%s, %s, 'ab')" % (a, b),
        "sum(%s) OVER (ORDER BY id)" % a, "(SELECT max(%s) FROM 'test/data/orders.csv')" % a,
    ])


def statement(rng, base):
    if rng.random() < 0.6:
        return mutate(rng, rng.choice(base))
    return "SELECT %s FROM 'test/data/orders.csv' WHERE %s LIMIT 5" % (
        expression(rng), expression(rng))


def run(flowsql, sql):
    """None when flowsql behaved, else what went wrong."""
    try:
        proc = subprocess.run([flowsql, "--no-progress", "-c", sql], cwd=ROOT,
                              capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "no answer within %d s" % TIMEOUT_S
    err = proc.stderr.decode(errors="replace")
    if proc.returncode == 0:
        return None
    if proc.returncode in (1, 2):
        return None if "Error" in err else "exit %d without an error message" % proc.returncode
    return "exit %d: %s" % (proc.returncode, err[-500:])


def save(sql, finding):
    os.makedirs(CRASHERS, exist_ok=True)
    name = hashlib.sha1(sql.encode()).hexdigest()[:12]
    with open(os.path.join(CRASHERS, name + ".sql"), "w") as f:
        f.write("-- %s\n%s\n" % (finding.replace("\n", " ")[:300], sql))
    return name


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--flowsql", default=os.environ.get("FLOWSQL_BIN", "build/flowsql"))
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    flowsql = os.path.join(ROOT, args.flowsql)
    base = corpus()
    deadline = time.time() + args.seconds
    findings, runs = [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        while time.time() < deadline:
            batch = [statement(rng, base) for _ in range(8)]
            for sql, finding in zip(batch, pool.map(lambda s: run(flowsql, s), batch)):
                runs += 1
                if finding:
                    findings.append((sql, finding))
                    print("FINDING %s: %s\n  %s" % (save(sql, finding), finding, sql))
    print("fuzz_sql: seed %d, %d statements, %d findings" % (seed, runs, len(findings)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
