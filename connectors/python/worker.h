// Worker processes that read a Python source's partitions, for sources whose Python
// work is more than one interpreter keeps up with: tuples and Rows are converted to
// Arrow under the GIL, so one interpreter uses about one core however many splits
// are read at once. A worker is a Python process of its own (the bridge's serve(),
// with the interpreter and sys.path of flowsql's), given the reader pickled once, as
// Spark sends readers to its Python workers; it reads one partition at a time and
// sends its batches back as Arrow IPC through a pipe. The GIL of flowsql's process
// is held only to start a worker and to send it a request.
//
// The batches are those the in-process read makes (bridge: batches()), so a split's
// offsets mean the same with or without workers.
#pragma once

#include <arrow/record_batch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connectors/python/python_runtime.h"

namespace flowsql::python {

class WorkerStream;

/// The worker processes of one source: one for each partition read at once (as
/// many as the scan reads splits at once: the `threads` setting), started when
/// first needed and kept for the partitions that follow.
///
/// Thread-safety: Read() may be called from any thread, concurrently.
class WorkerPool : public std::enable_shared_from_this<WorkerPool> {
 public:
  /// `setup`: the bridge's _dumps of (reader, method, args, schema): a partition is
  /// read as reader.method(partition, *args). `what` names the read in messages.
  static Result<std::shared_ptr<WorkerPool>> Make(PyObject* reader, const char* method,
                                                  PyObject* args, PyObject* schema,
                                                  std::string what);
  ~WorkerPool();

  /// Starts reading `partition` in an idle worker (or a new one), dropping its
  /// first `skip` batches. REQUIRES: the GIL not held.
  Result<std::unique_ptr<WorkerStream>> Read(PyObject* partition, int64_t skip);

 private:
  friend class WorkerStream;
  struct Worker {
    SharedRef process;         // the bridge's Worker
    std::shared_ptr<int> out;  // the read end of its stdout, closed with the last copy
  };

  WorkerPool(SharedRef setup, std::string what)
      : setup_(std::move(setup)), what_(std::move(what)) {}
  /// Starts a worker. REQUIRES: the GIL held.
  Result<Worker> Start();
  /// Takes back a worker: kept when `reuse`, else stopped.
  void Release(Worker worker, bool reuse);

  const SharedRef setup_;
  const std::string what_;
  std::mutex mutex_;
  std::vector<Worker> idle_;
};

/// The batches of one partition from a worker.
class WorkerStream {
 public:
  ~WorkerStream();
  /// The next batch; nullptr at the end. A Python exception in the worker is an
  /// error with its traceback, as in flowsql's process. REQUIRES: the GIL not held.
  Result<std::shared_ptr<arrow::RecordBatch>> Next();

 private:
  friend class WorkerPool;
  WorkerStream(std::shared_ptr<WorkerPool> pool, WorkerPool::Worker worker)
      : pool_(std::move(pool)), worker_(std::move(worker)) {}
  /// Reads `n` bytes of the worker's output into `out`; fails when it ends first.
  Status ReadFully(void* out, int64_t n);
  Status Died();

  std::shared_ptr<WorkerPool> pool_;
  WorkerPool::Worker worker_;
  bool done_ = false;  // read to its end ("E"): the worker can read another
};

}  // namespace flowsql::python
