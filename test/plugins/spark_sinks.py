"""PySpark Python Data Source writers, for test/cli/test_python_sink.py and the
conformance suite.

ArrowParts: a DataSourceStreamArrowWriter into the folder the option `path` names,
one parquet part per epoch (part_dir.py), lastCommittedBatchId() from the parts:
exactly-once; a new writer removes what killed ones left. Option fail_after: write()
raises after that many rows.
RowLines: a DataSourceWriter only (no streamWriter), of Rows: commit() appends them
to the JSON-lines file `path` (overwrite: replaces it); abort() records the messages
it was given in `path`.aborts.
"""

import json
import os

import part_dir
from pyspark.sql.datasource import (DataSource, DataSourceStreamArrowWriter,
                                    DataSourceWriter, WriterCommitMessage)


class ArrowParts(DataSource):
    @classmethod
    def name(cls):
        return "flowsql_test_arrow_parts"

    def streamWriter(self, schema, overwrite):
        part_dir.clean(self.options["path"])  # one writer per folder at a time
        return ArrowPartsWriter(self.options, overwrite)

    def lastCommittedBatchId(self, pipeline):
        return part_dir.last_committed(self.options["path"])


class ArrowPartsWriter(DataSourceStreamArrowWriter):
    def __init__(self, options, overwrite):
        self.path = options["path"]
        self.fail_after = int(options["fail_after"]) if "fail_after" in options else None
        self.overwrite = overwrite

    def write(self, iterator):
        return part_dir.write(self.path, iterator, self.fail_after)

    def commit(self, messages, batchId):
        part_dir.commit(self.path, messages, batchId, self.overwrite)

    def abort(self, messages, batchId):
        part_dir.abort(self.path, messages)


class Lines(WriterCommitMessage):
    def __init__(self, lines):
        self.lines = lines


class RowLines(DataSource):
    @classmethod
    def name(cls):
        return "flowsql_test_row_lines"

    def writer(self, schema, overwrite):
        return RowLinesWriter(self.options["path"], schema, overwrite)


class RowLinesWriter(DataSourceWriter):
    def __init__(self, path, schema, overwrite):
        self.path = path
        self.schema = schema
        self.overwrite = overwrite

    def write(self, rows):
        lines = []
        for row in rows:
            if row["id"] < 0:
                raise ValueError(f"negative id {row['id']}")
            lines.append(json.dumps({**row.asDict(), "type": type(row).__name__},
                                    default=str))
        return Lines(lines)

    def commit(self, messages):
        with open(self.path, "w" if self.overwrite else "a") as f:
            for m in messages:
                f.writelines(line + "\n" for line in m.lines)

    def abort(self, messages):
        with open(self.path + ".aborts", "a") as f:
            f.write(json.dumps([None if m is None else len(m.lines) for m in messages])
                    + "\n")


class TaskNames(DataSource):
    """A stream writer whose write() asks pyspark.TaskContext.get() (as Spark writers
    do to name their files); commit() appends {"batch": batchId, "tasks": [what
    write() saw]} to the JSON-lines file `path`."""

    @classmethod
    def name(cls):
        return "flowsql_test_task_names"

    def streamWriter(self, schema, overwrite):
        return TaskNamesWriter(self.options["path"])


class TaskNamesWriter(DataSourceStreamArrowWriter):
    def __init__(self, path):
        self.path = path

    def write(self, iterator):
        from pyspark import TaskContext
        for _ in iterator:
            pass
        c = TaskContext.get()
        return Lines([f"task {c.taskAttemptId()} partition {c.partitionId()} attempt "
                      f"{c.attemptNumber()} stage {c.stageId()}"])

    def commit(self, messages, batchId):
        with open(self.path, "a") as f:
            f.write(json.dumps({"batch": batchId,
                                "tasks": [line for m in messages for line in m.lines]})
                    + "\n")

    def abort(self, messages, batchId):
        pass
