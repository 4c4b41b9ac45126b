"""A folder of parquet parts, one per committed epoch: what the test sinks in
seed_sources.py and spark_sinks.py write. A write puts its batches in a hidden file
(.write-<uuid>.parquet); commit renames it to part-<epoch 8 digits>.parquet, abort
deletes it. The largest epoch of the parts is the last committed: exactly-once."""

import os
import re
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

PART = re.compile(r"^part-(\d{8})\.parquet$")


def write(folder, batches, fail_after=None):
    """Writes `batches` into a hidden file of `folder`; returns its name. Raises
    after `fail_after` rows."""
    os.makedirs(folder, exist_ok=True)
    name = ".write-%s.parquet" % uuid.uuid4().hex
    path = os.path.join(folder, name)
    writer, rows = None, 0
    try:
        for batch in batches:
            rows += batch.num_rows
            if fail_after is not None and rows > fail_after:
                raise ValueError(f"failing after {fail_after} rows, as asked")
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
    except BaseException:  # a failed (or aborted) write leaves nothing
        if writer is not None:
            writer.close()
            os.remove(path)
        raise
    if writer is None:
        return None
    writer.close()
    return name


def commit(folder, names, epoch, overwrite=False):
    names = [n for n in names if n]
    if overwrite:
        for old in os.listdir(folder) if os.path.isdir(folder) else []:
            if PART.match(old):
                os.remove(os.path.join(folder, old))
    if not names:
        return
    # One write per epoch: the runtime gives a sink one stream of batches.
    assert len(names) == 1, names
    os.replace(os.path.join(folder, names[0]),
               os.path.join(folder, "part-%08d.parquet" % epoch))


def clean(folder):
    """Removes what killed writes left (hidden files): for a writer that starts."""
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.startswith(".write-"):
            os.remove(os.path.join(folder, name))


def abort(folder, names):
    for n in names:
        if n and os.path.exists(os.path.join(folder, n)):
            os.remove(os.path.join(folder, n))


def last_committed(folder):
    epochs = [int(m.group(1)) for m in map(PART.match, os.listdir(folder)
                                           if os.path.isdir(folder) else []) if m]
    return max(epochs, default=-1)


def read(folder):
    """The committed rows, as one table (None when there are none)."""
    parts = sorted(n for n in os.listdir(folder) if PART.match(n)) \
        if os.path.isdir(folder) else []
    if not parts:
        return None
    return pa.concat_tables(pq.read_table(os.path.join(folder, n)) for n in parts)
