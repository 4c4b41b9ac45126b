"""The PySpark and Sail peer of bench/python_source.py: reads bench_sources.Numbers
whole in a Spark session and writes the answer and the query's own seconds as JSON.

    python python_source_peer.py VARIANT ROWS PARTITIONS OUT pyspark|sail

pyspark: a local[2] session (the JVM's start is not timed); sail: pysail's
SparkConnectServer in this process and a Spark Connect session to it (the server's
start is not timed). A script, not `python -c`: PySpark's Spark Connect client takes
a __main__ without a file for its doctests and exits.
"""
import json
import os
import sys
import time

from bench_sources import Numbers
from pyspark.sql import SparkSession, functions as F

variant, rows, parts, out, engine = sys.argv[1:6]
if engine == "sail":
    from pysail.spark import SparkConnectServer
    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    port = server.listening_address[1]
    spark = SparkSession.builder.remote("sc://127.0.0.1:%d" % port).getOrCreate()
else:
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers' (Sail's is in-process)
    spark = (SparkSession.builder.master("local[2]").appName("flowsql-bench-python")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
spark.dataSource.register(Numbers)
t0 = time.perf_counter()
r = (spark.read.format(Numbers.name()).option("variant", variant)
     .option("rows", rows).option("partitions", parts).load()
     .agg(F.count("*"), F.sum("id"), F.sum("x"), F.sum(F.length("s"))).collect()[0])
seconds = time.perf_counter() - t0
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump({"n": r[0], "sum_id": r[1], "sum_x": r[2], "len_s": r[3],
               "query_s": seconds}, f)
