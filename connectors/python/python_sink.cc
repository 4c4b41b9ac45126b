#include "connectors/python/python_sink.h"

#include <cstring>

#include "connectors/python/bridge.h"

namespace flowsql::python {

Result<std::unique_ptr<PythonSink>> PythonSink::Make(
    std::string class_path, std::map<std::string, std::string> options, bool overwrite) {
  ARROW_RETURN_NOT_OK(EnsureInterpreter());
  std::unique_ptr<PythonSink> sink(new PythonSink(std::move(class_path), overwrite));
  const std::string& path = sink->class_path_;
  Gil gil;
  ARROW_ASSIGN_OR_RAISE(Ref cls, ImportObject(path));
  ARROW_ASSIGN_OR_RAISE(Ref dict, ToDict(options));
  // A PySpark DataSource has writer(); seed 001's classes have write_partition().
  sink->spark_ = !PyObject_HasAttrString(cls.get(), "write_partition");
  Ref instance;
  if (sink->spark_) {
    if (!PyObject_HasAttrString(cls.get(), "writer")) {
      return Status::Invalid(path,
                             " is not a sink: it has neither write_partition() (seed "
                             "001) nor writer() (a PySpark DataSource)");
    }
    ARROW_ASSIGN_OR_RAISE(dict, CallBridge("spark_options", path, {dict.get()}));
    instance = Ref(PyObject_CallOneArg(cls.get(), dict.get()));
    if (!instance) return PythonError(path + "(options)");
  } else {
    instance = Ref(PyObject_CallNoArgs(cls.get()));
    if (!instance) return PythonError(path + "()");
  }
  sink->transactional_ = PyObject_HasAttrString(
      instance.get(), sink->spark_ ? "lastCommittedBatchId" : "last_committed_epoch");
  sink->instance_ = SharedRef(std::move(instance));
  sink->options_dict_ = SharedRef(std::move(dict));
  return sink;
}

PythonSink::~PythonSink() {
  if (in_epoch_) (void)Abort();  // ends the write() thread
}

Result<int64_t> PythonSink::LastCommittedEpoch(const std::string& pipeline) {
  if (!transactional_) return -1;
  if (last_committed_ != -2 && pipeline == pipeline_) return last_committed_;
  Gil gil;
  Ref name(PyUnicode_FromStringAndSize(pipeline.data(),
                                       static_cast<Py_ssize_t>(pipeline.size())));
  const std::string what = What(spark_ ? "lastCommittedBatchId" : "last_committed_epoch");
  ARROW_ASSIGN_OR_RAISE(
      Ref last,
      spark_ ? CallMethod(instance_.get(), "lastCommittedBatchId", what, name.get())
             : CallMethod(instance_.get(), "last_committed_epoch", what, name.get(),
                          options_dict_.get()));
  int64_t epoch = -1;
  if (last.get() != Py_None) {
    epoch = PyLong_AsLongLong(last.get());
    if (epoch == -1 && PyErr_Occurred()) return PythonError(what);
  }
  pipeline_ = pipeline;
  last_committed_ = epoch;
  return epoch;
}

Status PythonSink::Open(const std::shared_ptr<arrow::Schema>& schema,
                        const SinkContext& context) {
  continuous_ = context.continuous;
  if (!spark_) return Status::OK();
  Gil gil;
  // pyspark's StructType of the schema, by way of a pyarrow.Schema.
  ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatch::MakeEmpty(schema));
  ARROW_ASSIGN_OR_RAISE(Ref batch, ExportBatch(empty));
  Ref py_schema(PyObject_GetAttrString(batch.get(), "schema"));
  if (!py_schema) return PythonError("the schema for " + class_path_);
  ARROW_ASSIGN_OR_RAISE(Ref struct_type,
                        CallBridge("struct_type", class_path_, {py_schema.get()}));
  Ref overwrite = Ref::Borrow(overwrite_ && !context.resumed ? Py_True : Py_False);
  Ref continuous = Ref::Borrow(continuous_ ? Py_True : Py_False);
  ARROW_ASSIGN_OR_RAISE(Ref pair, CallBridge("spark_writer", class_path_,
                                             {instance_.get(), struct_type.get(),
                                              overwrite.get(), continuous.get()}));
  writer_ = SharedRef(Ref::Borrow(PyTuple_GetItem(pair.get(), 0)));
  arrow_ = PyObject_IsTrue(PyTuple_GetItem(pair.get(), 1)) == 1;
  stream_ = PyObject_IsTrue(PyTuple_GetItem(pair.get(), 2)) == 1;
  if (transactional_ && !stream_) {
    return Status::Invalid(
        class_path_,
        ": lastCommittedBatchId() needs streamWriter(), whose commit() "
        "is told the batchId to store");
  }
  return Status::OK();
}

Status PythonSink::BeginEpoch(const Epoch& epoch) {
  if (in_epoch_) ARROW_RETURN_NOT_OK(Abort());  // a write never committed
  ARROW_ASSIGN_OR_RAISE(int64_t last, LastCommittedEpoch(epoch.pipeline));
  skip_ = transactional_ && epoch.number <= last;
  epoch_ = epoch.number;
  in_epoch_ = true;
  return Status::OK();
}

Status PythonSink::Write(const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (!in_epoch_) return Status::Invalid(Describe(), ": Write() outside an epoch");
  if (skip_) return Status::OK();
  Gil gil;
  if (!task_.get()) {
    Ref write = spark_ ? Ref(PyObject_GetAttrString(writer_.get(), "write"))
                       : Ref(PyObject_GetAttrString(instance_.get(), "write_partition"));
    if (!write) return PythonError(What(spark_ ? "write" : "write_partition"));
    Ref rows = Ref::Borrow(arrow_ ? Py_False : Py_True);
    Ref epoch(PyLong_FromLongLong(epoch_));
    ARROW_ASSIGN_OR_RAISE(
        Ref task,
        spark_
            ? CallBridge("WriteTask", class_path_, {write.get(), rows.get(), epoch.get()})
            : CallBridge("WriteTask", class_path_,
                         {write.get(), rows.get(), Py_None, options_dict_.get()}));
    task_ = SharedRef(std::move(task));
  }
  ARROW_ASSIGN_OR_RAISE(Ref py_batch, ExportBatch(batch));
  // Blocks (the GIL released) while write() is two batches behind.
  return CallMethod(task_.get(), "put", What(spark_ ? "write" : "write_partition"),
                    py_batch.get())
      .status();
}

Status PythonSink::CallHook(const char* hook, PyObject* messages, int64_t epoch) {
  const bool commit = std::strcmp(hook, "commit") == 0;
  Ref number(PyLong_FromLongLong(epoch));
  if (spark_) {  // a stream writer's hooks take the batchId
    return CallMethod(writer_.get(), hook, What(hook), messages,
                      stream_ ? number.get() : nullptr)
        .status();
  }
  const char* method = commit ? "commit_write" : "abort_write";
  if (!PyObject_HasAttrString(instance_.get(), method)) return Status::OK();
  return (commit ? CallMethod(instance_.get(), method, What(method), messages,
                              number.get(), options_dict_.get())
                 : CallMethod(instance_.get(), method, What(method), messages,
                              options_dict_.get()))
      .status();
}

Status PythonSink::Commit(const Epoch& epoch) {
  if (!in_epoch_ || epoch.number != epoch_) {
    return Status::Invalid(Describe(), ": Commit() of epoch ", epoch.number,
                           " that was not begun");
  }
  if (skip_) {
    in_epoch_ = skip_ = false;
    return Status::OK();
  }
  Gil gil;
  Ref messages(PyList_New(0));
  if (task_.get()) {
    ARROW_ASSIGN_OR_RAISE(
        Ref message,
        CallMethod(task_.get(), "finish", What(spark_ ? "write" : "write_partition")));
    if (PyList_Append(messages.get(), message.get()) != 0) return PythonError("commit");
  } else if (continuous_) {
    in_epoch_ = false;  // an epoch without rows
    return Status::OK();
  }
  ARROW_RETURN_NOT_OK(CallHook("commit", messages.get(), epoch.number));
  task_ = SharedRef();
  in_epoch_ = false;
  if (transactional_) {
    pipeline_ = epoch.pipeline;
    last_committed_ = epoch.number;
  }
  return Status::OK();
}

Status PythonSink::Abort() {
  if (!in_epoch_) return Status::OK();
  in_epoch_ = false;
  if (skip_) return Status::OK();
  Gil gil;
  Ref messages(PyList_New(0));
  if (task_.get()) {
    ARROW_ASSIGN_OR_RAISE(Ref message, CallMethod(task_.get(), "abort", class_path_));
    task_ = SharedRef();
    if (PyList_Append(messages.get(), message.get()) != 0) return PythonError("abort");
  }
  return CallHook("abort", messages.get(), epoch_);
}

}  // namespace flowsql::python
