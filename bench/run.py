#!/usr/bin/env python3
"""flowsql benchmarks against the tools users would use instead.

    .venv/bin/python bench/run.py [workload ...] [--size-mb N] [--runs N] [--plot]
                                  [--flowsql build/flowsql] [--tools flowsql,duckdb]
                                  [--duration S] [--scale SF]

Per ../shared/BENCHMARKS.md: data generated deterministically into bench/data/
(once per size), every tool run as a separate process, alternately, one warm-up
round then --runs measured rounds; wall time and peak RSS (os.wait4) of each child;
results verified equal across tools before any time is reported; a table of
median seconds, rows/s, MB/s, peak RSS and the ratio peer/flowsql (above 1.0:
flowsql is faster); bench/results/<workload>.json; --plot writes a PNG.

Peers run as `.venv/bin/python -c ...`, so their times include the interpreter
start and the import of their package (about what a user's script pays too).

A workload module that does not run to completion (continuous) defines
run_workload(args) and is run by it instead of the generic loop below; it prints
the same table columns and writes the same JSON file.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api_to_parquet  # noqa: E402
import avro_scan  # noqa: E402
import common  # noqa: E402
import continuous  # noqa: E402
import csv_glob  # noqa: E402
import csv_to_parquet  # noqa: E402
import delta_lake  # noqa: E402
import glob_scan  # noqa: E402
import hive_scan  # noqa: E402
import s3_scan  # noqa: E402
import ndjson_groupby  # noqa: E402
import python_arrow  # noqa: E402
import python_source  # noqa: E402
import tpch  # noqa: E402

WORKLOADS = {m.NAME: m for m in (csv_to_parquet, ndjson_groupby, glob_scan, hive_scan,
                                  s3_scan, csv_glob, avro_scan, continuous, tpch, python_arrow,
                                  *api_to_parquet.WORKLOADS, *python_source.WORKLOADS,
                                  *delta_lake.WORKLOADS)}


def run_workload(mod, args):
    if hasattr(mod, "run_workload"):
        return mod.run_workload(args)
    size = args.size_mb or mod.DEFAULT_SIZE_MB
    ctx = mod.prepare(size)
    os.makedirs(common.OUT, exist_ok=True)
    flowsql = os.path.join(common.ROOT, args.flowsql)
    tools = mod.tools(ctx, flowsql)
    if args.tools:
        keep = set(args.tools.split(","))
        tools = [t for t in tools if t.name in keep]
    mb = ctx["bytes"] / 1e6
    common.log("%s: input %s, %.1f MB, %d rows" % (
        mod.NAME, os.path.relpath(ctx["input"], common.ROOT), mb, ctx["rows"]))

    times = {t.name: [] for t in tools}
    rss = {t.name: [] for t in tools}
    results = {}
    failures = {}
    rounds = 1 + args.runs
    for r in range(rounds):
        # Alternate tools within a round; rotate the order between rounds.
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        for tool in order:
            if tool.name in failures:
                continue
            try:
                wall, peak = common.run_child(tool)
                if hasattr(mod, "timed"):  # the tool's own time (e.g. without start-up)
                    wall = mod.timed(tool, wall)
            except RuntimeError as e:
                failures[tool.name] = str(e)
                common.log("FAILED %s" % e)
                continue
            label = "warm-up" if r == 0 else "run %d" % r
            common.log("  %-8s %-8s %7.2f s  %7.0f MB" % (tool.name, label, wall, peak))
            if r == 0:
                results[tool.name] = mod.verify(ctx, tool)
            else:
                times[tool.name].append(wall)
                rss[tool.name].append(peak)

    # Every tool must agree with the reference (flowsql, else the first peer).
    reference = "flowsql" if "flowsql" in results else next(iter(results), None)
    wrong = {}
    for name, res in results.items():
        if name != reference and not mod.same(results[reference], res):
            wrong[name] = res
    if wrong:
        common.log("RESULTS DIFFER from %s: %s" % (reference, ", ".join(wrong)))
        common.log("  %s: %s" % (reference, results[reference]))
        for name, res in wrong.items():
            common.log("  %s: %s" % (name, res))

    fl = common.median(times["flowsql"]) if times.get("flowsql") else None
    rows = []
    records = []
    for tool in tools:
        name = tool.name
        if name in failures or not times[name]:
            rows.append([mod.NAME, name, "failed", "", "", "", ""])
            records.append({"tool": name, "error": failures.get(name, "no runs")})
            continue
        med = common.median(times[name])
        peak = max(rss[name])
        ok = name not in wrong
        ratio = (med / fl) if fl and name != "flowsql" else None
        rows.append([mod.NAME, name + ("" if ok else " (WRONG)"),
                     "%.3f" % med, "%.0f" % (ctx["rows"] / med), "%.1f" % (mb / med),
                     "%.0f" % peak,
                     "%.2f" % ratio if ratio is not None else ("1.00" if name == "flowsql"
                                                               else "")])
        records.append({"tool": name, "median_s": med, "runs_s": times[name],
                        "rows_per_s": ctx["rows"] / med, "mb_per_s": mb / med,
                        "peak_rss_mb": peak, "ratio_peer_over_flowsql": ratio,
                        "result_matches": ok, "command": tool.describe()})
    payload = {"workload": mod.NAME, "input": os.path.relpath(ctx["input"], common.ROOT),
               "input_mb": mb, "rows": ctx["rows"], "runs": args.runs, "warmups": 1,
               "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(),
               "reference_result": results.get(reference), "tools": records}
    path = common.write_json(mod.NAME, payload)
    common.log("wrote %s" % os.path.relpath(path, common.ROOT))
    return rows, payload, bool(wrong or failures)


def plot(payloads):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        common.log("--plot: matplotlib is not installed; no chart written")
        return
    fig, axes = plt.subplots(1, len(payloads), figsize=(5 * len(payloads), 4), squeeze=False)
    for ax, p in zip(axes[0], payloads):
        tools = [t for t in p["tools"] if "median_s" in t]
        if "duration_s" in p:  # a fixed-duration workload: compare rates
            ax.bar([t["tool"] for t in tools], [t["rows_per_s"] for t in tools])
            ax.set_title("%s (%g s runs)" % (p["workload"], p["duration_s"]))
            ax.set_ylabel("median rows/s (higher is better)")
            continue
        ax.bar([t["tool"] for t in tools], [t["median_s"] for t in tools])
        ax.set_title("%s (%.0f MB)" % (p["workload"], p["input_mb"]))
        ax.set_ylabel("median wall s (lower is better)")
    fig.tight_layout()
    path = os.path.join(common.RESULTS, "bench.png")
    fig.savefig(path)
    common.log("wrote %s" % os.path.relpath(path, common.ROOT))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", help="default: all (%s)" % ", ".join(WORKLOADS))
    ap.add_argument("--size-mb", type=int, default=0,
                    help="input size in MB (default per workload: csv 200, ndjson 300, "
                         "glob_scan 200; continuous has no input)")
    ap.add_argument("--runs", type=int, default=3, help="measured runs per tool (>= 3)")
    ap.add_argument("--flowsql", default="build/flowsql", help="the flowsql binary")
    ap.add_argument("--tools", default="", help="comma-separated subset of tools")
    ap.add_argument("--duration", type=float, default=0,
                    help="seconds per run of the continuous workload (default %d)"
                         % continuous.DEFAULT_DURATION_S)
    ap.add_argument("--scale", type=float, default=0,
                    help="TPC-H scale factor of the tpch workload (default %d)"
                         % tpch.DEFAULT_SCALE)
    ap.add_argument("--plot", action="store_true", help="write bench/results/bench.png")
    args = ap.parse_args()
    names = args.workloads or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            ap.error("unknown workload %s (have: %s)" % (n, ", ".join(WORKLOADS)))
    all_rows, payloads, bad = [], [], False
    for n in names:
        rows, payload, failed = run_workload(WORKLOADS[n], args)
        all_rows.extend(rows)
        payloads.append(payload)
        bad = bad or failed
    print()
    print(common.fmt_table(all_rows, ["workload", "tool", "median s", "rows/s", "MB/s",
                                      "peak RSS MB", "peer/flowsql"]))
    if args.plot:
        plot(payloads)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
