// _flowsql: the flowsql engine as a Python extension module (pybind11). The Python
// layer (__init__.py) builds the public API on these classes; this file holds what
// must be native: the engine, Arrow data crossing through the Arrow C data and
// stream interfaces (PyCapsules, never copied), the GIL released while the engine
// works, and Ctrl-C turned into a stop request.
//
// Errors. A failed Status becomes flowsql.UserError when IsUserError() says so
// (the CLI's exit code 1), else flowsql.ExecutionError (exit code 2); both carry
// `message` and `kind` (arrow's status code, e.g. "Invalid").
//
// Ctrl-C. Python's own SIGINT handler only sets a flag that the main thread sees
// when it runs Python code. So a call that may block (a query's next batch, a write,
// a pipeline's wait) runs, on the main thread, in a helper thread while the main
// thread waits with the GIL released and checks for signals every 50 ms. On a
// KeyboardInterrupt it asks the statement to stop (a continuous pipeline commits its
// epoch in progress, a query is cancelled, a batch write leaves its targets as they
// were), waits for it to finish, and raises the KeyboardInterrupt.
#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <arrow/table.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/secrets.h"
#include "connectors/python/python_runtime.h"
#include "connectors/python/python_source.h"
#include "flowsql/connector.h"
#include "flowsql/engine.h"
#include "flowsql/options.h"

#ifndef FLOWSQL_PYARROW_VERSION
#define FLOWSQL_PYARROW_VERSION "unknown"
#endif

namespace py = pybind11;

namespace flowsql::pymodule {

namespace {

/// How often a blocked call on the main thread looks for Ctrl-C.
constexpr auto kSignalPoll = std::chrono::milliseconds(50);

unsigned long g_main_thread = 0;  // set at import

bool OnMainThread() { return PyThread_get_thread_ident() == g_main_thread; }

/// Raises `status` as flowsql.UserError or flowsql.ExecutionError.
/// REQUIRES: the GIL held; !status.ok().
[[noreturn]] void Raise(const Status& status) {
  py::module_ errors = py::module_::import("flowsql._errors");
  const char* name = IsUserError(status) ? "UserError" : "ExecutionError";
  py::object error = errors.attr(name)(Redact(status.message()), status.CodeAsString());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
  throw py::error_already_set();
}

template <typename T>
T ValueOrRaise(Result<T> result) {
  if (!result.ok()) Raise(result.status());
  return std::move(*result);
}

void CheckOk(const Status& status) {
  if (!status.ok()) Raise(status);
}

/// Runs `work` with the GIL released. On the main thread `work` runs on a helper
/// thread and this one watches for signals: on the first signal exception
/// (KeyboardInterrupt) `stop` is requested, `work` is waited for, and the exception
/// is raised (py::error_already_set). REQUIRES: the GIL held.
Status RunInterruptibly(const std::function<Status()>& work, arrow::StopSource* stop) {
  if (!OnMainThread()) {
    py::gil_scoped_release release;
    return work();
  }
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  Status status;
  std::thread worker([&] {
    Status st = work();
    std::lock_guard<std::mutex> lock(mutex);
    status = std::move(st);
    done = true;
    done_cv.notify_all();
  });
  bool interrupted = false;
  while (true) {
    bool finished;
    {
      py::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(mutex);
      finished = done_cv.wait_for(lock, kSignalPoll, [&] { return done; });
    }
    if (finished) break;
    if (!interrupted && PyErr_CheckSignals() != 0) {
      interrupted = true;
      stop->RequestStop();
    }
  }
  {
    py::gil_scoped_release release;
    worker.join();
  }
  if (interrupted) throw py::error_already_set();
  return status;
}

// --- Arrow data as PyCapsules (the Arrow PyCapsule interface)

void ReleaseStreamCapsule(PyObject* capsule) {
  auto* stream =
      static_cast<ArrowArrayStream*>(PyCapsule_GetPointer(capsule, "arrow_array_stream"));
  if (stream->release != nullptr) {
    // Closing a query stops its scanners, which may wait for the GIL (a Python
    // source's reader threads).
    py::gil_scoped_release release;
    stream->release(stream);
  }
  delete stream;
}

py::capsule SchemaCapsule(const arrow::Schema& schema) {
  auto* c_schema = new ArrowSchema();
  Status st = arrow::ExportSchema(schema, c_schema);
  if (!st.ok()) {
    delete c_schema;
    Raise(st);
  }
  return py::capsule(c_schema, "arrow_schema", &flowsql::python::FreeSchemaCapsule);
}

py::tuple BatchCapsules(const arrow::RecordBatch& batch) {
  auto* c_schema = new ArrowSchema();
  auto* c_array = new ArrowArray();
  Status st = arrow::ExportRecordBatch(batch, c_array, c_schema);
  if (!st.ok()) {
    delete c_schema;
    delete c_array;
    Raise(st);
  }
  return py::make_tuple(
      py::capsule(c_schema, "arrow_schema", &flowsql::python::FreeSchemaCapsule),
      py::capsule(c_array, "arrow_array", &flowsql::python::FreeArrayCapsule));
}

py::capsule StreamCapsule(std::shared_ptr<arrow::RecordBatchReader> reader) {
  auto* stream = new ArrowArrayStream();
  Status st = arrow::ExportRecordBatchReader(std::move(reader), stream);
  if (!st.ok()) {
    delete stream;
    Raise(st);
  }
  return py::capsule(stream, "arrow_array_stream", &ReleaseStreamCapsule);
}

/// The stream `object.__arrow_c_stream__()` exports, as a reader.
/// REQUIRES: the GIL held.
Result<std::shared_ptr<arrow::RecordBatchReader>> ImportStream(PyObject* object,
                                                               const std::string& what) {
  ARROW_ASSIGN_OR_RAISE(python::Ref capsule,
                        python::CallMethod(object, "__arrow_c_stream__", what));
  void* pointer = PyCapsule_GetPointer(capsule.get(), "arrow_array_stream");
  if (pointer == nullptr) return python::PythonError(what);
  return arrow::ImportRecordBatchReader(static_cast<ArrowArrayStream*>(pointer));
}

/// A statement's result as an arrow::RecordBatchReader (for the C stream export).
class ResultReader : public arrow::RecordBatchReader {
 public:
  ResultReader(std::unique_ptr<StatementResult> result, std::shared_ptr<Engine> engine)
      : result_(std::move(result)), engine_(std::move(engine)) {}
  ~ResultReader() override { result_->Close(); }
  std::shared_ptr<arrow::Schema> schema() const override { return result_->schema(); }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_ASSIGN_OR_RAISE(*batch, result_->Next());
    return Status::OK();
  }
  Status Close() override {
    result_->Close();
    return Status::OK();
  }

 private:
  std::unique_ptr<StatementResult> result_;
  std::shared_ptr<Engine> engine_;  // outlives the result
};

// --- The classes

/// A parsed statement.
struct Statement {
  std::shared_ptr<ParsedStatement> parsed;
  bool is_query = false;
};

/// A running statement's result: its batches, read once.
class Stream {
 public:
  Stream(std::unique_ptr<StatementResult> result, std::shared_ptr<arrow::StopSource> stop,
         std::shared_ptr<Engine> engine)
      : result_(std::move(result)), stop_(std::move(stop)), engine_(std::move(engine)) {}
  ~Stream() {
    py::gil_scoped_release release;
    CloseResult();
  }

  std::string kind() const { return result_ ? result_->kind() : closed_kind_; }

  py::capsule Schema() {
    CheckOpen();
    return SchemaCapsule(*result_->schema());
  }

  /// The next batch as (schema, array) capsules, or None at the end.
  py::object ReadNext() {
    CheckOpen();
    std::shared_ptr<arrow::RecordBatch> batch;
    Status st = Interruptibly([&]() -> Status {
      ARROW_ASSIGN_OR_RAISE(batch, result_->Next());
      return Status::OK();
    });
    CheckOk(st);
    if (batch == nullptr) {
      Close();
      return py::none();
    }
    return BatchCapsules(*batch);
  }

  /// Every remaining batch, as a stream capsule over a table.
  py::capsule ReadAll() {
    CheckOpen();
    std::shared_ptr<arrow::Table> table;
    Status st = Interruptibly([&]() -> Status {
      ARROW_ASSIGN_OR_RAISE(table, flowsql::ReadAll(result_.get()));
      return Status::OK();
    });
    CheckOk(st);
    Close();
    return StreamCapsule(std::make_shared<arrow::TableBatchReader>(table));
  }

  /// The rest of the result as a C stream; the Stream is closed afterwards.
  py::capsule Export() {
    CheckOpen();
    closed_kind_ = result_->kind();
    auto reader = std::make_shared<ResultReader>(std::move(result_), engine_);
    return StreamCapsule(std::move(reader));
  }

  void Close() {
    py::gil_scoped_release release;
    CloseResult();
  }

 private:
  void CheckOpen() const {
    if (!result_) throw py::value_error("this result has been read already");
  }
  Status Interruptibly(const std::function<Status()>& work) {
    Status st = RunInterruptibly(work, stop_.get());
    if (!st.ok()) Close();
    return st;
  }
  void CloseResult() {
    if (result_) {
      closed_kind_ = result_->kind();
      result_->Close();
      result_.reset();
    }
  }

  std::unique_ptr<StatementResult> result_;
  std::string closed_kind_;
  std::shared_ptr<arrow::StopSource> stop_;
  std::shared_ptr<Engine> engine_;
};

/// A write statement running on a thread of its own (Connection::Start).
class Pipeline {
 public:
  Pipeline(std::shared_ptr<Engine> engine, std::shared_ptr<ParsedStatement> statement)
      : engine_(std::move(engine)), statement_(std::move(statement)) {}
  ~Pipeline() {
    py::gil_scoped_release release;
    stop_.RequestStop();
    if (thread_.joinable()) thread_.join();
  }

  void Start() {
    StatementOptions options;
    options.stop = stop_.token();
    options.progress = [this](int64_t rows, int64_t bytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      rows_ = std::max(rows_, rows);
    };
    options.commit = [this](const PipelineCommit& commit) {
      std::lock_guard<std::mutex> lock(mutex_);
      name_ = commit.pipeline;
      epoch_ = commit.epoch;
      rows_ = std::max(rows_, commit.rows);
      offsets_ = commit.offsets;
    };
    thread_ = std::thread([this, options] {
      Status st = [&]() -> Status {
        ARROW_ASSIGN_OR_RAISE(auto result, engine_->Execute(*statement_, options));
        ARROW_ASSIGN_OR_RAISE(auto table, ReadAll(result.get()));
        std::lock_guard<std::mutex> lock(mutex_);
        if (table->num_columns() == 1 && table->num_rows() == 1 &&
            table->column(0)->type()->id() == arrow::Type::INT64) {
          auto value = table->column(0)->GetScalar(0);
          if (value.ok() && (*value)->is_valid) {
            rows_written_ = std::static_pointer_cast<arrow::Int64Scalar>(*value)->value;
          }
        }
        return Status::OK();
      }();
      std::lock_guard<std::mutex> lock(mutex_);
      status_ = std::move(st);
      done_ = true;
      done_cv_.notify_all();
    });
  }

  /// Waits up to `timeout` seconds (None: for ever) for the statement to end. True
  /// when it has ended; raises its error. Ctrl-C stops it, waits, and raises.
  bool Wait(std::optional<double> timeout) {
    const auto deadline =
        timeout ? std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(std::max(0.0, *timeout)))
                : std::chrono::steady_clock::time_point::max();
    bool interrupted = false;
    while (true) {
      bool finished;
      {
        py::gil_scoped_release release;
        std::unique_lock<std::mutex> lock(mutex_);
        auto until = std::min(deadline, std::chrono::steady_clock::now() + kSignalPoll);
        if (interrupted) until = std::chrono::steady_clock::time_point::max();
        finished = done_cv_.wait_until(lock, until, [&] { return done_; });
      }
      if (finished) break;
      if (!interrupted && PyErr_CheckSignals() != 0) {
        // Stop, and wait for the epoch in progress to commit.
        interrupted = true;
        stop_.RequestStop();
        continue;
      }
      if (!interrupted && std::chrono::steady_clock::now() >= deadline) return false;
    }
    {
      py::gil_scoped_release release;
      if (thread_.joinable()) thread_.join();
    }
    if (interrupted) throw py::error_already_set();
    std::lock_guard<std::mutex> lock(mutex_);
    CheckOk(status_);
    return true;
  }

  /// Asks the statement to stop (a continuous one commits its epoch in progress)
  /// and waits for it.
  void Stop() {
    stop_.RequestStop();
    Wait(std::nullopt);
  }

  py::dict Report() {
    std::lock_guard<std::mutex> lock(mutex_);
    py::dict out;
    out["running"] = !done_;
    out["pipeline"] = name_;
    out["epoch"] = epoch_;
    out["rows"] = rows_;
    out["offsets"] = offsets_;
    out["error"] = done_ && !status_.ok() ? py::object(py::str(Redact(status_.message())))
                                          : py::object(py::none());
    return out;
  }

  std::optional<int64_t> rows_written() {
    std::lock_guard<std::mutex> lock(mutex_);
    return rows_written_;
  }

 private:
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<ParsedStatement> statement_;
  arrow::StopSource stop_;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  flowsql::Status status_;
  std::string name_;
  int64_t epoch_ = -1;
  int64_t rows_ = 0;
  std::optional<int64_t> rows_written_;
  std::map<std::string, std::string> offsets_;
};

/// One engine: a session of views, tables, settings and registered objects.
class Connection {
 public:
  Connection(const std::string& state_dir, const std::string& pipeline, bool reset) {
    EngineOptions options;
    options.state_dir = state_dir;
    options.pipeline = pipeline;
    options.reset = reset;
    auto engine = [&] {
      py::gil_scoped_release release;
      return Engine::Make(std::move(options));
    }();
    engine_ =
        std::shared_ptr<Engine>(ValueOrRaise(std::move(engine)).release(), [](Engine* e) {
          // Registered Python objects let go with the GIL.
          if (PyGILState_Check()) {
            py::gil_scoped_release release;
            delete e;
          } else {
            delete e;
          }
        });
  }

  std::vector<Statement> Parse(const std::string& sql) {
    auto parsed = [&] {
      py::gil_scoped_release release;
      return engine_->Parse(sql);
    }();
    std::vector<Statement> out;
    for (auto& p : ValueOrRaise(std::move(parsed))) {
      const bool is_query = IsQuery(*p);
      out.push_back(Statement{std::move(p), is_query});
    }
    return out;
  }

  /// Runs `statement`: a query is planned and started, any other statement is run
  /// to its end.
  std::unique_ptr<Stream> Execute(const Statement& statement) {
    auto stop = std::make_shared<arrow::StopSource>();
    StatementOptions options;
    options.stop = stop->token();
    std::unique_ptr<StatementResult> result;
    Status st = RunInterruptibly(
        [&]() -> Status {
          ARROW_ASSIGN_OR_RAISE(result, engine_->Execute(*statement.parsed, options));
          return Status::OK();
        },
        stop.get());
    CheckOk(st);
    return std::make_unique<Stream>(std::move(result), std::move(stop), engine_);
  }

  std::unique_ptr<Pipeline> Start(const Statement& statement) {
    if (statement.is_query) {
      Raise(Status::Invalid(
          "start() runs a statement that writes (INTO or COPY); read a query's rows "
          "with sql()"));
    }
    auto pipeline = std::make_unique<Pipeline>(engine_, statement.parsed);
    pipeline->Start();
    return pipeline;
  }

  /// Registers the table `object.__arrow_c_stream__()` exports, read into memory.
  void RegisterTable(const std::string& name, py::object object) {
    auto reader = ImportStream(object.ptr(), "register('" + name + "')");
    if (!reader.ok()) Raise(reader.status());
    Status st;
    {
      py::gil_scoped_release release;
      auto table = (*reader)->ToTable();
      st = table.ok() ? engine_->RegisterTable(name, *table) : table.status();
    }
    CheckOk(st);
  }

  /// Registers a source whose every scan reads `object.__arrow_c_stream__()`; with
  /// `once`, the second scan is an error (a RecordBatchReader).
  void RegisterStream(const std::string& name, py::object schema, py::object object,
                      bool once, const std::string& description) {
    auto arrow_schema = ValueOrRaise(python::ImportSchema(schema.ptr(), "the schema"));
    python::SharedRef ref(python::Ref::Borrow(object.ptr()));
    auto consumed = std::make_shared<std::atomic<bool>>(false);
    const std::string what = "the " + description + " registered as '" + name + "'";
    ReaderFactory open = [ref, once, consumed,
                          what]() -> Result<std::shared_ptr<arrow::RecordBatchReader>> {
      if (once && consumed->exchange(true)) {
        return Status::Invalid(
            what,
            " has been read already and cannot be scanned again: a RecordBatchReader "
            "can be read only once (as in DuckDB); to scan it more than once, register "
            "a table (reader.read_all())");
      }
      python::Gil gil;
      return ImportStream(ref.get(), what + ".__arrow_c_stream__()");
    };
    CheckOk(engine_->RegisterSource(
        name, MakeReaderSource(arrow_schema, std::move(open), "registered " + name)));
  }

  /// Registers a Python data source: a class or an instance with seed 001's
  /// protocol, or a PySpark DataSource (python_source.h). Its schema is asked now.
  void RegisterPythonSource(const std::string& name, py::object object,
                            const std::string& label,
                            const std::map<std::string, std::string>& options,
                            bool streaming, bool workers) {
    if (workers && streaming) {
      throw py::value_error("workers applies to sources that are not streaming");
    }
    python::PythonSourceSettings settings;
    settings.streaming = streaming;
    settings.workers = workers;
    auto source = std::make_shared<python::PythonSource>(
        python::SharedRef(python::Ref::Borrow(object.ptr())), label, options, settings);
    Status st;
    {
      py::gil_scoped_release release;
      st = source->GetSchema().status();
      if (st.ok()) st = engine_->RegisterSource(name, source);
    }
    CheckOk(st);
  }

  void Unregister(const std::string& name) { CheckOk(engine_->Unregister(name)); }

 private:
  std::shared_ptr<Engine> engine_;
};

// --- Spark (python/flowsql/spark.py): a source planned on the driver as scan tasks
// (include/flowsql/connector.h ScanTask), each read where Spark runs it.

/// Every connector of this binary, from an engine of the process's own (built once,
/// never destroyed: connectors may hold Python objects past interpreter shutdown).
Result<const Registry*> ConnectorRegistry() {
  static auto* engine =
      new Result<std::unique_ptr<Engine>>(Engine::Make(EngineOptions{}));
  if (!engine->ok()) return engine->status();
  return &(**engine)->registry();
}

/// A source built as FROM '<uri>' WITH (<options>) builds it, planned as splits: the
/// driver's side of a Spark read.
class ScanSource {
 public:
  ScanSource(const std::string& uri, const std::map<std::string, std::string>& options,
             std::optional<std::vector<std::string>> columns) {
    Status st;
    {
      py::gil_scoped_release release;
      st = Plan(uri, options, std::move(columns));
    }
    CheckOk(st);
  }

  /// The schema of the requested columns, as an 'arrow_schema' capsule.
  py::capsule Schema() const { return SchemaCapsule(*schema_); }
  bool bounded() const { return source_->bounded(); }
  std::string connector() const { return task_.connector; }

  /// One (split id, scan task bytes) per split, each over the whole split.
  std::vector<py::tuple> Tasks() const {
    std::vector<py::tuple> out;
    for (const auto& split : splits_) {
      ScanTask task = task_;
      task.split = split;
      out.push_back(
          py::make_tuple(split.id, py::bytes(ValueOrRaise(SerializeScanTask(task)))));
    }
    return out;
  }

  /// Source::Acknowledge: every row of each split up to its offset is durable.
  void Acknowledge(const std::map<std::string, std::string>& offsets) {
    Status st;
    {
      py::gil_scoped_release release;
      st = source_->Acknowledge(offsets);
    }
    CheckOk(st);
  }

 private:
  Status Plan(const std::string& uri, const std::map<std::string, std::string>& options,
              std::optional<std::vector<std::string>> columns) {
    ARROW_ASSIGN_OR_RAISE(const Registry* registry, ConnectorRegistry());
    const ConnectorSpec* spec = registry->FindByUri(uri);
    if (spec == nullptr) {
      return Status::Invalid("no connector for '", UriScheme(uri), "://' URIs (source '",
                             uri, "')");
    }
    if (!spec->make_source) {
      return Status::Invalid("connector '", spec->name, "' cannot be read from");
    }
    std::vector<RawOption> raw;
    for (const auto& [name, value] : options) raw.push_back(RawOption{name, value, ""});
    task_.connector = spec->name;
    task_.args.uri = uri;
    // The option checks of a FROM clause (unknown names, types, ${ENV}).
    ARROW_ASSIGN_OR_RAISE(task_.args.options, Options::Validate(spec->source_options, raw,
                                                                spec->name + " source"));
    ARROW_ASSIGN_OR_RAISE(source_, spec->make_source(task_.args));
    ARROW_ASSIGN_OR_RAISE(auto full, source_->GetSchema());
    if (columns) {
      arrow::FieldVector fields;
      for (const auto& name : *columns) {
        auto field = full->GetFieldByName(name);
        if (field == nullptr) {
          return Status::Invalid("column '", name, "' is not in ", source_->Describe(),
                                 " (its columns: ", full->ToString(), ")");
        }
        fields.push_back(field);
      }
      schema_ = arrow::schema(fields);
    } else {
      schema_ = full;
    }
    task_.request.columns = std::move(columns);
    ARROW_ASSIGN_OR_RAISE(splits_, source_->PlanSplits(task_.request));
    return Status::OK();
  }

  ScanTask task_;
  std::shared_ptr<Source> source_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<Split> splits_;
};

/// One scan task read where it runs (a Spark executor): the source rebuilt from the
/// registry and the task's arguments, its split opened over [start, end] (offsets of
/// this split; empty: its beginning, its end).
class SplitScan {
 public:
  SplitScan(const py::bytes& task_bytes, const std::string& start,
            const std::string& end) {
    std::string bytes = task_bytes;
    Status st;
    {
      py::gil_scoped_release release;
      st = Open(bytes, start, end);
    }
    CheckOk(st);
  }
  ~SplitScan() {
    stop_.RequestStop();
    py::gil_scoped_release release;
    reader_.reset();
    source_.reset();
  }

  py::capsule Schema() const { return SchemaCapsule(*reader_->schema()); }

  /// The next batch as (schema capsule, array capsule, offset bytes), or None at the
  /// end of the split (or of the range). Blocks, the GIL released, while an unbounded
  /// split has no data.
  py::object ReadNext() {
    if (reader_ == nullptr) return py::none();
    Result<SourceBatch> next;
    {
      py::gil_scoped_release release;
      next = reader_->Next();
    }
    SourceBatch batch = ValueOrRaise(std::move(next));
    if (batch.batch == nullptr) return py::none();
    py::tuple capsules = BatchCapsules(*batch.batch);
    return py::make_tuple(capsules[0], capsules[1], py::bytes(batch.offset));
  }

  /// Source::Acknowledge on this scan's source: every row of each listed split up to
  /// its offset is durable.
  void Acknowledge(const std::map<std::string, std::string>& offsets) {
    Status st;
    {
      py::gil_scoped_release release;
      st = source_->Acknowledge(offsets);
    }
    CheckOk(st);
  }

  /// Stops a ReadNext() blocked in another thread (which then raises or ends);
  /// the reader itself goes with the SplitScan. Idempotent.
  void Close() { stop_.RequestStop(); }

 private:
  Status Open(const std::string& bytes, const std::string& start,
              const std::string& end) {
    ARROW_ASSIGN_OR_RAISE(ScanTask task, DeserializeScanTask(bytes));
    ARROW_ASSIGN_OR_RAISE(const Registry* registry, ConnectorRegistry());
    const ConnectorSpec* spec = registry->FindByName(task.connector);
    if (spec == nullptr || !spec->make_source) {
      return Status::Invalid("this flowsql has no connector '", task.connector,
                             "' to read a scan task with");
    }
    ARROW_ASSIGN_OR_RAISE(source_, spec->make_source(task.args));
    ARROW_RETURN_NOT_OK(source_->GetSchema().status());
    task.request.stop = stop_.token();
    if (!start.empty()) task.range.start = start;
    if (!end.empty()) task.range.end = end;
    ARROW_ASSIGN_OR_RAISE(reader_,
                          source_->OpenSplit(task.split, task.range, task.request));
    return Status::OK();
  }

  arrow::StopSource stop_;
  std::shared_ptr<Source> source_;
  std::unique_ptr<SplitReader> reader_;
};

/// The sink connector serving `uri` and the names of its sink options (flowsql.spark
/// checks for a write mode with it).
py::tuple SinkOptions(const std::string& uri) {
  const Registry* registry = ValueOrRaise(ConnectorRegistry());
  const ConnectorSpec* spec = registry->FindByUri(uri);
  if (spec == nullptr || !spec->make_sink) {
    Raise(Status::Invalid("no connector writes '", uri, "'"));
  }
  std::vector<std::string> names;
  for (const auto& option : spec->sink_options) names.push_back(option.name);
  return py::make_tuple(spec->name, names);
}

}  // namespace

}  // namespace flowsql::pymodule

PYBIND11_MODULE(_flowsql, m) {
  using namespace flowsql::pymodule;
  m.doc() =
      "The flowsql engine, native. Use the flowsql package (flowsql.sql, "
      "flowsql.connect), which builds its API on these classes.";
  g_main_thread = py::module_::import("threading")
                      .attr("main_thread")()
                      .attr("ident")
                      .cast<unsigned long>();
  // The python connector runs in this interpreter (python_runtime.h).
  auto st = flowsql::python::EnsureInterpreter();
  if (!st.ok()) throw std::runtime_error(st.message());
  m.attr("PYARROW_VERSION") = FLOWSQL_PYARROW_VERSION;

  py::class_<Statement>(m, "Statement", "A parsed statement.")
      .def_readonly("is_query", &Statement::is_query,
                    "True for a query (SELECT, EXPLAIN, DESCRIBE, SHOW): its rows are "
                    "read as they come; other statements do their work when executed.");

  py::class_<Stream>(m, "Stream", "A started statement's rows, read once.")
      .def_property_readonly("kind", &Stream::kind,
                             "'query', 'write', 'explain', 'describe', 'show' or 'ok'.")
      .def("schema", &Stream::Schema, "The schema, as an 'arrow_schema' PyCapsule.")
      .def("read_next", &Stream::ReadNext,
           "The next batch as ('arrow_schema', 'arrow_array') PyCapsules, or None.")
      .def("read_all", &Stream::ReadAll,
           "The remaining batches, as an 'arrow_array_stream' PyCapsule.")
      .def("export", &Stream::Export,
           "The remaining batches as an 'arrow_array_stream' PyCapsule that reads them "
           "as its consumer asks (the Arrow C stream interface); closes the Stream.")
      .def("close", &Stream::Close, "Stops the statement. Idempotent.");

  py::class_<Pipeline>(m, "Pipeline", "A write statement running in the background.")
      .def("wait", &Pipeline::Wait, py::arg("timeout") = py::none(),
           "Waits for the end; True when ended, False on timeout.")
      .def("stop", &Pipeline::Stop, "Stops the statement and waits for it.")
      .def("status", &Pipeline::Report, "running, pipeline, epoch, rows, offsets, error.")
      .def_property_readonly("rows_written", &Pipeline::rows_written);

  py::class_<ScanSource>(m, "ScanSource",
                         "A source planned as scan tasks (flowsql.spark's driver side).")
      .def(py::init<const std::string&, const std::map<std::string, std::string>&,
                    std::optional<std::vector<std::string>>>(),
           py::arg("uri"), py::arg("options"), py::arg("columns") = py::none())
      .def("schema", &ScanSource::Schema, "The scan's schema, an 'arrow_schema' capsule.")
      .def_property_readonly("bounded", &ScanSource::bounded)
      .def_property_readonly("connector", &ScanSource::connector)
      .def("tasks", &ScanSource::Tasks, "[(split id, scan task bytes)], one per split.")
      .def("acknowledge", &ScanSource::Acknowledge, py::arg("offsets"),
           "Source::Acknowledge({split id: offset}).");

  py::class_<SplitScan>(m, "SplitScan",
                        "One scan task, read (flowsql.spark's executor side).")
      .def(py::init<const py::bytes&, const std::string&, const std::string&>(),
           py::arg("task"), py::arg("start") = "", py::arg("end") = "")
      .def("schema", &SplitScan::Schema)
      .def("read_next", &SplitScan::ReadNext,
           "(schema capsule, array capsule, offset bytes), or None at the end.")
      .def("acknowledge", &SplitScan::Acknowledge, py::arg("offsets"),
           "Source::Acknowledge({split id: offset}) on this scan's source.")
      .def("close", &SplitScan::Close);

  m.def("sink_options", &SinkOptions, py::arg("uri"),
        "(connector name, [its sink option names]) for the sink serving `uri`.");

  py::class_<Connection, std::shared_ptr<Connection>>(m, "Connection",
                                                      "One engine, one session.")
      .def(py::init<const std::string&, const std::string&, bool>(),
           py::arg("state_dir") = "", py::arg("pipeline") = "", py::arg("reset") = false)
      .def("parse", &Connection::Parse, py::arg("sql"))
      .def("execute", &Connection::Execute, py::arg("statement"))
      .def("start", &Connection::Start, py::arg("statement"))
      .def("register_table", &Connection::RegisterTable, py::arg("name"),
           py::arg("object"))
      .def("register_stream", &Connection::RegisterStream, py::arg("name"),
           py::arg("schema"), py::arg("object"), py::arg("once"), py::arg("description"))
      .def("register_python_source", &Connection::RegisterPythonSource, py::arg("name"),
           py::arg("object"), py::arg("label"), py::arg("options"), py::arg("streaming"),
           py::arg("workers"))
      .def("unregister", &Connection::Unregister, py::arg("name"));
}
