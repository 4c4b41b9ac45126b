"""The Python data source of the python_batches and python_tuples workloads
(bench/python_source.py): one PySpark DataSource class, read as it is by flowsql,
PySpark and Sail.

Options (strings, as Spark passes them):
  rows        total rows (default 1,000,000), spread evenly over the partitions
  partitions  partitions (default 100)
  variant     "batches": yields pyarrow.RecordBatch of up to 8,192 rows, built with
              numpy (no Python per row); "tuples": yields one tuple per row, as a
              plain generator would.

Row i (0 <= i < rows) is (i, i * 0.5, WORDS[i % 10]): deterministic, so every tool
must get count = rows, sum(id) = rows * (rows - 1) / 2 and sum(x) = sum(id) / 2
(exact in a double: every partial sum is a multiple of 0.5 below 2**53).
"""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
         "kappa"]
SCHEMA = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("s", pa.string())])
BATCH_ROWS = 8192


class Numbers(DataSource):
    @classmethod
    def name(cls):
        return "flowsql_bench_numbers"

    def schema(self):
        return "id BIGINT, x DOUBLE, s STRING"

    def reader(self, schema):
        return NumbersReader(self.options)


class NumbersReader(DataSourceReader):
    def __init__(self, options):
        self.rows = int(options.get("rows", "1000000"))
        self.parts = int(options.get("partitions", "100"))
        self.variant = options.get("variant", "batches")
        if self.variant not in ("batches", "tuples"):
            raise ValueError(f"variant must be 'batches' or 'tuples', not '{self.variant}'")

    def partitions(self):
        step = -(-self.rows // self.parts)
        return [InputPartition((min(p * step, self.rows), min((p + 1) * step, self.rows)))
                for p in range(self.parts)]

    def read(self, partition):
        start, end = partition.value
        if self.variant == "tuples":
            words = WORDS
            for i in range(start, end):
                yield (i, i * 0.5, words[i % 10])
            return
        words = pa.array(WORDS)
        for a in range(start, end, BATCH_ROWS):
            ids = np.arange(a, min(a + BATCH_ROWS, end), dtype=np.int64)
            yield pa.RecordBatch.from_arrays(
                [pa.array(ids), pa.array(ids * 0.5), pc.take(words, ids % 10)],
                schema=SCHEMA)
