// A sink written by a Python class, in the embedded interpreter (python_runtime.h).
//
// Two protocols, as for sources (python_source.h); `options` as there.
// (a) Seed 001: an instance of the class, made without arguments, has
//   write_partition(batches, options) -> message     batches: pyarrow.RecordBatch
//   commit_write(messages, epoch, options)            optional: publishes the epoch
//   abort_write(messages, options)                    optional: discards it
//   last_committed_epoch(pipeline, options) -> int    optional: see Exactly-once
// Without commit_write, what write_partition writes is visible as it writes it.
// (b) The PySpark Python Data Source API (pyspark installed; no JVM):
//   Class(options).streamWriter(schema, overwrite), or, when the class has none and
//   the statement is not continuous, .writer(schema, overwrite): every statement is
//   a pipeline of epochs, and only a stream writer's commit(messages, batchId) and
//   abort(messages, batchId) are told the epoch (a writer's commit(messages) and
//   abort(messages) are not). write(iterator) -> message gets Rows, or
//   pyarrow.RecordBatch for a DataSourceArrowWriter / DataSourceStreamArrowWriter.
//   Class(options).lastCommittedBatchId(pipeline) -> int   optional (flowsql's):
//   Exactly-once; it needs streamWriter()
// `overwrite` is mode = 'overwrite', and false for a resumed pipeline: a restart
// never replaces what its earlier runs committed.
//
// Epochs. Each epoch is one write: one write() (write_partition()) call that reads
// the epoch's batches as the sink receives them, in a Python thread of its own (a
// queue of two batches between them: an epoch is never held whole), then commit
// with the one message it returned, and the epoch's number as the batchId. An
// epoch without rows calls nothing in a continuous pipeline, and commits no
// messages in a statement that writes once (as Spark does for an empty frame).
// Abort: the write() sees its iterator raise, then abort gets [message], or [None]
// when write() failed.
//
// Exactly-once. With last_committed_epoch / lastCommittedBatchId (the highest
// epoch of `pipeline` the target holds, -1 for none: the class stores the batchId
// with the data in its commit), the sink is transactional: the runtime never
// writes an epoch twice into it, and an epoch it already holds is skipped.
// Without, delivery is at-least-once: after a crash an epoch may reach commit()
// again, with the same rows and batchId, as in Spark.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "connectors/python/python_runtime.h"
#include "flowsql/connector.h"

namespace flowsql::python {

class PythonSink : public Sink {
 public:
  /// Imports the class and makes its instance (errors name the class).
  static Result<std::unique_ptr<PythonSink>> Make(
      std::string class_path, std::map<std::string, std::string> options, bool overwrite);
  ~PythonSink() override;

  Status Open(const std::shared_ptr<arrow::Schema>& schema,
              const SinkContext& context) override;
  Status BeginEpoch(const Epoch& epoch) override;
  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override;
  Status Commit(const Epoch& epoch) override;
  Status Abort() override;
  bool transactional() const override { return transactional_; }
  Result<int64_t> LastCommittedEpoch(const std::string& pipeline) override;
  std::string Describe() const override { return "python " + class_path_; }

 private:
  PythonSink(std::string class_path, bool overwrite)
      : class_path_(std::move(class_path)), overwrite_(overwrite) {}
  /// "my.Sink.write()", for messages.
  std::string What(const char* method) const { return class_path_ + "." + method + "()"; }
  /// Calls commit/abort (`hook`: "commit" or "abort") with `messages`.
  /// REQUIRES: the GIL held.
  Status CallHook(const char* hook, PyObject* messages, int64_t epoch);

  std::string class_path_;
  bool overwrite_;
  bool spark_ = false;  // protocol (b)
  bool transactional_ = false;
  bool continuous_ = false;
  bool stream_ = false;  // (b): a stream writer, whose hooks take the batchId
  bool arrow_ = true;    // write() takes pyarrow.RecordBatch
  SharedRef instance_;   // the seed 001 instance or the DataSource
  SharedRef options_dict_;
  SharedRef writer_;       // (b): writer() or streamWriter()
  SharedRef task_;         // the epoch's WriteTask, once it has a row
  bool in_epoch_ = false;  // BeginEpoch() without Commit() or Abort()
  bool skip_ = false;      // the epoch is one the target already holds
  int64_t epoch_ = 0;
  int64_t last_committed_ = -2;  // -2: not asked yet
  std::string pipeline_;
};

}  // namespace flowsql::python
