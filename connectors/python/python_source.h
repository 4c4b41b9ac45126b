// A table read from a Python class, in the embedded interpreter (python_runtime.h).
//
// Two protocols; `options` is a dict of str to str: the statement's options but
// python_module and python_class.
// (a) Seed 001: an instance of the class, made without arguments, has
//   infer_schema(options) -> pyarrow.Schema
//   plan_partitions(options) -> list (of dicts, or any objects)
//   read_partition(partition, options) -> iterable of batches
// (b) The PySpark Python Data Source API (a pyspark.sql.datasource.DataSource
// subclass, which needs pyspark installed; no JVM is started):
//   Class(options).schema() -> a DDL string or a StructType
//   Class(options).reader(StructType) -> a reader with partitions() (default: one)
//   and read(partition) -> iterable of batches
// The batches are pyarrow.RecordBatch, or tuples / pyspark Rows, converted in bulk
// (bridge.h: rows_to_batch, 8192 rows at a time).
//
// Splits. One per partition, in the order plan_partitions gives them ("partition-3"),
// read concurrently, each holding the GIL only while Python runs (a next() of its
// iterator); the batches cross through the Arrow PyCapsule interface, not copied.
// plan_partitions must give the same partitions each time it is called (a restart
// plans again).
//
// With workers (PythonSourceSettings), worker processes read the partitions
// instead (worker.h).
//
// Offsets. A partition's offset is the count of batches read from it: it resumes by
// reading it again and dropping that many, so read_partition must yield the same
// batches each time.
//
// Errors. A Python exception is an error with its traceback; a batch whose columns
// differ from the schema is an error naming the column.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connectors/python/python_runtime.h"
#include "connectors/python/worker.h"
#include "flowsql/connector.h"

namespace flowsql::python {

/// How a PythonSource reads, besides its class and options.
struct PythonSourceSettings {
  /// A PySpark stream reader, read for ever (else the batch reader).
  bool streaming = false;
  /// streaming: the wait before asking again when the last ask found nothing new.
  std::chrono::milliseconds interval = std::chrono::seconds(1);
  /// The partitions read in worker processes (worker.h), not in flowsql's
  /// interpreter. Not for streams.
  bool workers = false;
};

class PythonSource : public Source {
 public:
  /// `class_path`: "package.module.Class"; `options` reach Python as they are.
  PythonSource(std::string class_path, std::map<std::string, std::string> options,
               PythonSourceSettings settings = {});
  /// A source over a Python object in place of a class path (the Python package's
  /// register()): a class, or an instance, which is used as it is in place of the
  /// one the class would make (`Class()`, or `Class(options)` for PySpark). `name`
  /// stands for the class path in messages.
  PythonSource(SharedRef object, std::string name,
               std::map<std::string, std::string> options,
               PythonSourceSettings settings = {});

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override;
  Result<std::vector<Split>> PlanSplits(const ScanRequest& request) override;
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override;
  std::string Describe() const override;
  bool bounded() const override { return !settings_.streaming; }
  /// A PySpark reader with pushFilters() (Spark 4.1) is given the filter.
  /// REQUIRES: GetSchema() called.
  Pushdown pushdown() const override {
    Pushdown p;
    p.filter = push_filters_;
    return p;
  }
  /// A stream: commits the microbatches before the acknowledged offset (commit()).
  Status Acknowledge(const std::map<std::string, std::string>& offsets) override;

  // --- used by the readers ---

  /// "my.Source.read_partition()", for messages.
  std::string What(const char* method) const;
  /// What reads a partition, for messages: "my.Source.read_partition()".
  std::string ReadWhat() const {
    return What(spark_ ? "reader().read" : "read_partition");
  }
  /// The iterable that reads partition `index`.
  /// REQUIRES: the GIL held; PlanSplits() called.
  Result<Ref> OpenPartition(size_t index);
  /// Partition `index`. REQUIRES: PlanSplits() called.
  PyObject* partition(size_t index) const { return partitions_[index].get(); }
  /// The schema as a pyarrow.Schema. REQUIRES: the GIL held.
  PyObject* py_schema() const { return py_schema_.get(); }
  /// The seed 001 instance, the PySpark reader, or its stream reader.
  PyObject* instance() const { return instance_.get(); }
  bool simple_stream() const { return simple_; }
  std::chrono::milliseconds interval() const { return settings_.interval; }
  /// The worker processes, when the settings ask for them. REQUIRES: PlanSplits().
  const std::shared_ptr<WorkerPool>& workers() const { return workers_; }

 private:
  /// Makes the instance and asks for the schema, once. REQUIRES: mutex_ held.
  Status Load();
  /// Asks for the partitions, once, after giving a PySpark reader with pushFilters()
  /// the conjuncts of `request`'s filter. REQUIRES: mutex_ held.
  Status Plan(const ScanRequest& request);

  std::string class_path_;
  SharedRef object_;  // the class or instance given, in place of class_path_'s
  std::map<std::string, std::string> options_;
  PythonSourceSettings settings_;

  std::mutex mutex_;
  bool loaded_ = false;
  Status load_status_;
  bool spark_ = false;                      // protocol (b)
  bool simple_ = false;                     // a SimpleDataSourceStreamReader
  bool push_filters_ = false;               // a reader with pushFilters()
  std::string initial_offset_, committed_;  // JSON offsets of a stream
  SharedRef instance_;                      // (b): the reader
  SharedRef options_dict_;
  SharedRef py_schema_;
  std::shared_ptr<arrow::Schema> schema_;
  bool planned_ = false;
  std::vector<SharedRef> partitions_;
  std::shared_ptr<WorkerPool> workers_;
};

}  // namespace flowsql::python
