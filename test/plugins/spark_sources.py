"""PySpark Python Data Sources (the pyspark.sql.datasource API), read by Spark and by
flowsql in test/integration/test_spark.py and test/cli/test_python_source.py."""

import datetime
import decimal
import time

import pyarrow as pa
from pyspark.sql import Row
from pyspark.sql import types as T
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

DDL = ("id BIGINT, name STRING, price DECIMAL(10,2), at TIMESTAMP, day DATE, "
       "ok BOOLEAN, ratio DOUBLE, tags ARRAY<STRING>, attrs MAP<STRING, INT>, "
       "owner STRUCT<id: INT, name: STRING>")


def row(k):
    return (k, f"item {k}" if k % 7 else None, decimal.Decimal(f"{k}.25"),
            datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
            + datetime.timedelta(seconds=k),
            datetime.date(2024, 1, 1) + datetime.timedelta(days=k % 400), k % 3 == 0,
            k / 8, [str(k)] * (k % 3), {"k": k} if k % 2 else None,
            Row(id=k % 5, name=f"owner {k % 5}"))


class Tuples(DataSource):
    """A DDL schema; `partitions` partitions (default 3) of `rows` tuples (default
    1000), the last value a Row."""

    @classmethod
    def name(cls):
        return "flowsql_test_tuples"

    def schema(self):
        return DDL

    def reader(self, schema):
        return TuplesReader(self.options)


class TuplesReader(DataSourceReader):
    def __init__(self, options):
        self.partitions_ = int(options.get("partitions", "3"))
        self.rows = int(options.get("rows", "1000"))

    def partitions(self):
        return [InputPartition(p) for p in range(self.partitions_)]

    def read(self, partition):
        for i in range(self.rows):
            yield row(partition.value * self.rows + i)


class Filtered(Tuples):
    """Tuples whose reader takes filters (pushFilters, Spark 4.1): it appends the
    repr() of the filters it is given to the file the option `log` names, one line a
    call, keeps the comparisons of id and skips the rows they rule out; it hands the
    others back."""

    @classmethod
    def name(cls):
        return "flowsql_test_filtered"

    def reader(self, schema):
        return FilteredReader(self.options)


class FilteredReader(TuplesReader):
    def __init__(self, options):
        super().__init__(options)
        self.log = options["log"]
        self.kept = []

    def pushFilters(self, filters):
        from pyspark.sql.datasource import GreaterThan, LessThan
        with open(self.log, "a") as f:
            f.write(repr(sorted(map(repr, filters))) + "\n")
        for filter in filters:
            if isinstance(filter, (GreaterThan, LessThan)) and filter.attribute == ("id",):
                self.kept.append(filter)
            else:
                yield filter

    def read(self, partition):
        from pyspark.sql.datasource import GreaterThan
        for values in super().read(partition):
            if all(values[0] > f.value if isinstance(f, GreaterThan) else values[0] < f.value
                   for f in self.kept):
                yield values


class Batches(DataSource):
    """A StructType schema, one (default) partition yielding RecordBatches."""

    @classmethod
    def name(cls):
        return "flowsql_test_batches"

    def schema(self):
        return T.StructType([T.StructField("id", T.LongType()),
                             T.StructField("label", T.StringType())])

    def reader(self, schema):
        return BatchesReader()


class BatchesReader(DataSourceReader):
    def read(self, partition):
        yield pa.record_batch([pa.array([0, 1], pa.int64()), pa.array(["a", "b"])],
                              names=["id", "label"])
        yield pa.record_batch([pa.array([3], pa.int64()), pa.array([None], pa.string())],
                              names=["id", "label"])


class Mixed(Batches):
    """Batches and Rows in one partition (Spark refuses the mix; flowsql reads it)."""

    def reader(self, schema):
        return MixedReader()


class MixedReader(DataSourceReader):
    def read(self, partition):
        yield from BatchesReader().read(partition)
        yield Row(id=2, label="c")


class ShortRows(Tuples):
    def reader(self, schema):
        return ShortRowsReader()


class ShortRowsReader(DataSourceReader):
    def read(self, partition):
        yield (1, "a")


class WrongValue(Tuples):
    def reader(self, schema):
        return WrongValueReader()


class WrongValueReader(DataSourceReader):
    def read(self, partition):
        yield ("not a number",) + row(1)[1:]


# --- streams ---------------------------------------------------------------------------

from pyspark.sql.datasource import (DataSourceStreamReader,  # noqa: E402
                                    SimpleDataSourceStreamReader)


class _Counting:
    """Ids 0, 1, ... up to the number in the file the option total_file names (read
    at each ask), `step` (default 100) at most per microbatch, each ask `pause`
    seconds long (default 0); commit() appends the committed offset to the file
    commit_log names."""

    def __init__(self, options):
        self.total_file = options["total_file"]
        self.step = int(options.get("step", "100"))
        self.pause = float(options.get("pause", "0"))
        self.commit_log = options.get("commit_log")

    def upto(self, start):
        time.sleep(self.pause)
        with open(self.total_file) as f:
            return min(start["n"] + self.step, int(f.read()))

    def initialOffset(self):
        return {"n": 0}

    def commit(self, end):
        if self.commit_log:
            with open(self.commit_log, "a") as f:
                f.write(f"{end['n']}\n")


def _rows(first, end):
    return ((i, f"n{i}") for i in range(first, end))


class CounterReader(_Counting, DataSourceStreamReader):
    def latestOffset(self, start, limit):
        return {"n": self.upto(start)}

    def partitions(self, start, end):
        mid = (start["n"] + end["n"]) // 2
        return [InputPartition((start["n"], mid)), InputPartition((mid, end["n"]))]

    def read(self, partition):
        return _rows(*partition.value)


class SimpleCounterReader(_Counting, SimpleDataSourceStreamReader):
    def read(self, start):
        end = self.upto(start)
        return _rows(start["n"], end), {"n": end}

    def readBetweenOffsets(self, start, end):
        return _rows(start["n"], end["n"])


class Counter(DataSource):
    def schema(self):
        return "id BIGINT, label STRING"

    def streamReader(self, schema):
        return CounterReader(self.options)


class SimpleCounter(DataSource):
    def schema(self):
        return "id BIGINT, label STRING"

    def simpleStreamReader(self, schema):
        return SimpleCounterReader(self.options)
