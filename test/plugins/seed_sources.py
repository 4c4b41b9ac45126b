"""Python data sources in seed 001's protocol, for test/cli/test_python_source.py:
infer_schema(options), plan_partitions(options), read_partition(partition, options)."""

import os
import threading
import time

import pyarrow as pa

import part_dir

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("price", pa.decimal128(10, 2)),
                    ("at", pa.timestamp("us", tz="UTC")), ("tags", pa.list_(pa.string()))])


def batch(first, n):
    ids = list(range(first, first + n))
    return pa.record_batch([
        pa.array(ids, pa.int64()),
        pa.array([f"item {i}" if i % 7 else None for i in ids], pa.string()),
        pa.array([f"{i}.25" for i in ids], pa.string()).cast(pa.decimal128(10, 2)),
        pa.array([i * 1_000_000 for i in ids], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        pa.array([[str(i)] * (i % 3) for i in ids], pa.list_(pa.string())),
    ], schema=SCHEMA)


class Items:
    """`partitions` partitions (option, default 4) of `batches` batches of 100 rows."""

    def infer_schema(self, options):
        return SCHEMA

    def plan_partitions(self, options):
        return [{"index": p} for p in range(int(options.get("partitions", "4")))]

    def read_partition(self, partition, options):
        batches = int(options.get("batches", "3"))
        for b in range(batches):
            yield batch((partition["index"] * batches + b) * 100, 100)


_active = 0
_most = 0
_lock = threading.Lock()


class Slow:
    """Each partition sleeps (the GIL released) while others may run; its one row
    says how many partitions were being read at once at most, by then."""

    def infer_schema(self, options):
        return pa.schema([("partition", pa.int64()), ("most_at_once", pa.int64())])

    def plan_partitions(self, options):
        return list(range(4))

    def read_partition(self, partition, options):
        global _active, _most
        with _lock:
            _active += 1
            _most = max(_most, _active)
        time.sleep(0.5)
        with _lock:
            _active -= 1
            most = _most
        yield pa.record_batch([pa.array([partition]), pa.array([most])],
                              names=["partition", "most_at_once"])


class Raises(Items):
    """Partition 2 fails (the others read), whichever is read first."""

    def read_partition(self, partition, options):
        if partition["index"] == 2:
            raise ValueError(f"no partition {partition['index']} today")
        yield from super().read_partition(partition, options)


class WrongType(Items):
    def read_partition(self, partition, options):
        b = batch(0, 5)
        yield b.set_column(0, "id", pa.array([str(i) for i in range(5)]))


class NotABatch(Items):
    def read_partition(self, partition, options):
        yield {"id": 1}


class Unpicklable(Items):
    """Holds a lock: it cannot be sent to a worker process."""

    def __init__(self):
        self.lock = threading.Lock()


class FailsToUnpickle(Items):
    """Pickles, but raises where it is unpickled (a worker process)."""

    def __init__(self):
        self.state = "here"

    def __setstate__(self, state):
        raise RuntimeError("this reader stays where it was made")


class Exits(Items):
    """Partition 1's reader ends its process."""

    def read_partition(self, partition, options):
        if partition["index"] == 1:
            os._exit(3)
        yield from super().read_partition(partition, options)


class Chatty(Items):
    """Prints while it reads."""

    def read_partition(self, partition, options):
        for b in super().read_partition(partition, options):
            print(f"chatty: a batch of partition {partition['index']}")
            yield b


class PartsSink:
    """Seed 001's write protocol: write_partition(batches, options) writes the
    batches into the folder the option `path` names (part_dir.py), commit_write
    publishes them as the epoch's part, abort_write deletes them, and
    last_committed_epoch makes the sink exactly-once. Option fail_after: write_partition
    raises after that many rows."""

    def write_partition(self, batches, options):
        fail = options.get("fail_after")
        return part_dir.write(options["path"], batches, int(fail) if fail else None)

    def commit_write(self, messages, epoch, options):
        part_dir.commit(options["path"], messages, epoch)

    def abort_write(self, messages, options):
        part_dir.abort(options["path"], messages)

    def last_committed_epoch(self, pipeline, options):
        return part_dir.last_committed(options["path"])
