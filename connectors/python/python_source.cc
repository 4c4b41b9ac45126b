#include "connectors/python/python_source.h"

#include "common/secrets.h"
#include "connectors/python/bridge.h"

namespace flowsql::python {

namespace {

/// `batch` checked against `schema` (names and types, in order), then with the
/// columns `wanted` has.
Result<std::shared_ptr<arrow::RecordBatch>> Conform(
    const std::shared_ptr<arrow::RecordBatch>& batch, const arrow::Schema& schema,
    const std::shared_ptr<arrow::Schema>& wanted, const std::string& what) {
  const arrow::Schema& got = *batch->schema();
  for (int i = 0; i < schema.num_fields(); ++i) {
    const auto& field = schema.field(i);
    const int at = got.GetFieldIndex(field->name());
    if (at < 0) {
      return Status::Invalid(what, " yielded a batch without column '", field->name(),
                             "' (infer_schema() has it: ", field->type()->ToString(),
                             ")");
    }
    if (!got.field(at)->type()->Equals(*field->type())) {
      return Status::Invalid(what, " yielded column '", field->name(), "' as ",
                             got.field(at)->type()->ToString(),
                             " where infer_schema() said ", field->type()->ToString());
    }
  }
  for (const auto& field : got.fields()) {
    if (schema.GetFieldIndex(field->name()) < 0) {
      return Status::Invalid(what, " yielded column '", field->name(),
                             "', which infer_schema() does not have");
    }
  }
  arrow::ArrayVector columns;
  for (const auto& field : wanted->fields()) {
    columns.push_back(batch->GetColumnByName(field->name()));
  }
  return arrow::RecordBatch::Make(wanted, batch->num_rows(), std::move(columns));
}

/// Rows converted to Arrow at a time.
constexpr Py_ssize_t kRowsPerBatch = 8192;

/// The batches of one iterable that yields RecordBatches, tuples or Rows.
class BatchStream {
 public:
  bool open() const { return iterator_.get() != nullptr; }

  /// Reads `iterable` from now on, dropping the first `skip` batches (a resumed
  /// read). REQUIRES: the GIL held.
  Status Open(PyObject* iterable, int64_t skip, PyObject* py_schema,
              const std::string& what) {
    Ref iterator(PyObject_GetIter(iterable));
    if (!iterator) return PythonError(what);
    iterator_ = SharedRef(std::move(iterator));
    pending_ = SharedRef();
    for (int64_t i = 0; i < skip; ++i) {
      ARROW_ASSIGN_OR_RAISE(auto batch, Next(py_schema, what));
      if (batch == nullptr) {
        return Status::IOError(what, " yielded fewer batches than when its offset (",
                               skip, " batches) was logged: it must yield the same ones");
      }
    }
    return Status::OK();
  }

  void Close() {
    iterator_ = SharedRef();
    pending_ = SharedRef();
  }

  /// The next batch: a yielded RecordBatch, or up to kRowsPerBatch yielded rows as
  /// `py_schema` types them; nullptr at the end. REQUIRES: the GIL held; open().
  Result<std::shared_ptr<arrow::RecordBatch>> Next(PyObject* py_schema,
                                                   const std::string& what) {
    Ref rows(PyList_New(0));
    if (!rows) return PythonError(what);
    while (PyList_Size(rows.get()) < kRowsPerBatch) {
      Ref item = pending_.get() ? Ref::Borrow(pending_.get())
                                : Ref(PyIter_Next(iterator_.get()));
      pending_ = SharedRef();
      if (!item) {
        if (PyErr_Occurred()) return PythonError(what);
        break;
      }
      if (PyTuple_Check(item.get())) {  // a tuple, or a pyspark Row
        if (PyList_Append(rows.get(), item.get()) != 0) return PythonError(what);
        continue;
      }
      if (PyList_Size(rows.get()) > 0) {  // the rows before it go first
        pending_ = SharedRef(std::move(item));
        break;
      }
      return ImportBatch(item.get(), what);
    }
    if (PyList_Size(rows.get()) == 0) return nullptr;
    ARROW_ASSIGN_OR_RAISE(Ref batch,
                          CallBridge("rows_to_batch", what, {rows.get(), py_schema}));
    return ImportBatch(batch.get(), what);
  }

 private:
  SharedRef iterator_;
  SharedRef pending_;  // a batch yielded after rows, for the next call
};

/// Reads one partition: the batches of its iterator.
class PartitionReader : public SplitReader {
 public:
  PartitionReader(PythonSource* source, size_t index, int64_t skip, int64_t end,
                  std::shared_ptr<arrow::Schema> schema,
                  std::shared_ptr<arrow::Schema> wanted)
      : source_(source),
        index_(index),
        read_(skip),
        end_(end),
        schema_(std::move(schema)),
        wanted_(std::move(wanted)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return wanted_; }

  Result<SourceBatch> Next() override {
    if (done_ || (end_ >= 0 && read_ >= end_)) return SourceBatch{};
    const std::string what = source_->ReadWhat();
    Gil gil;
    if (!stream_.open()) {
      ARROW_ASSIGN_OR_RAISE(Ref iterable, source_->OpenPartition(index_));
      ARROW_RETURN_NOT_OK(
          stream_.Open(iterable.get(), read_, source_->py_schema(), what));
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, stream_.Next(source_->py_schema(), what));
    if (batch == nullptr) {
      done_ = true;
      return SourceBatch{};
    }
    ARROW_ASSIGN_OR_RAISE(batch, Conform(batch, *schema_, wanted_, what));
    return SourceBatch{std::move(batch), std::to_string(++read_)};
  }

 private:
  PythonSource* source_;
  size_t index_;
  int64_t read_;  // batches delivered, the ones a resumed read drops included
  int64_t end_;   // -1: to the partition's end
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::Schema> wanted_;
  BatchStream stream_;
  bool done_ = false;
};

}  // namespace

PythonSource::PythonSource(std::string class_path,
                           std::map<std::string, std::string> options)
    : class_path_(std::move(class_path)), options_(std::move(options)) {}

std::string PythonSource::What(const char* method) const {
  return class_path_ + "." + method + "()";
}

Status PythonSource::Load() {
  // REQUIRES: mutex_ held.
  if (loaded_) return load_status_;
  loaded_ = true;
  load_status_ = [&]() -> Status {
    ARROW_RETURN_NOT_OK(EnsureInterpreter());
    Gil gil;
    ARROW_ASSIGN_OR_RAISE(Ref cls, ImportObject(class_path_));
    ARROW_ASSIGN_OR_RAISE(Ref options, ToDict(options_));
    // A PySpark DataSource has reader(); seed 001's classes have infer_schema().
    spark_ = PyObject_HasAttrString(cls.get(), "reader") &&
             !PyObject_HasAttrString(cls.get(), "infer_schema");
    Ref schema;
    Ref instance;
    if (spark_) {
      ARROW_ASSIGN_OR_RAISE(options,
                            CallBridge("spark_options", class_path_, {options.get()}));
      Ref source(PyObject_CallOneArg(cls.get(), options.get()));
      if (!source) return PythonError(class_path_ + "(options)");
      ARROW_ASSIGN_OR_RAISE(Ref declared,
                            CallMethod(source.get(), "schema", What("schema")));
      ARROW_ASSIGN_OR_RAISE(schema,
                            CallBridge("spark_schema", What("schema"), {declared.get()}));
      Ref struct_type = declared;
      if (PyUnicode_Check(declared.get())) {
        ARROW_ASSIGN_OR_RAISE(struct_type,
                              CallBridge("struct_type", What("schema"), {schema.get()}));
      }
      ARROW_ASSIGN_OR_RAISE(instance, CallMethod(source.get(), "reader", What("reader"),
                                                 struct_type.get()));
    } else {
      instance = Ref(PyObject_CallNoArgs(cls.get()));
      if (!instance) return PythonError(class_path_ + "()");
      ARROW_ASSIGN_OR_RAISE(schema, CallMethod(instance.get(), "infer_schema",
                                               What("infer_schema"), options.get()));
    }
    ARROW_ASSIGN_OR_RAISE(
        schema_, ImportSchema(schema.get(), What(spark_ ? "schema" : "infer_schema")));
    instance_ = SharedRef(std::move(instance));
    options_dict_ = SharedRef(std::move(options));
    py_schema_ = SharedRef(std::move(schema));
    return Status::OK();
  }();
  return load_status_;
}

Result<std::shared_ptr<arrow::Schema>> PythonSource::GetSchema() {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Load());
  return schema_;
}

Result<std::vector<Split>> PythonSource::PlanSplits(const ScanRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Plan());
  std::vector<Split> splits;
  for (size_t i = 0; i < partitions_.size(); ++i) {
    splits.push_back(Split{"partition-" + std::to_string(i), std::to_string(i)});
  }
  return splits;
}

Status PythonSource::Plan() {
  // REQUIRES: mutex_ held.
  ARROW_RETURN_NOT_OK(Load());
  if (planned_) return Status::OK();
  Gil gil;
  const std::string what = What(spark_ ? "reader().partitions" : "plan_partitions");
  ARROW_ASSIGN_OR_RAISE(
      Ref planned,
      spark_ ? CallMethod(instance_.get(), "partitions", what)
             : CallMethod(instance_.get(), "plan_partitions", what, options_dict_.get()));
  Ref list(PySequence_List(planned.get()));
  if (!list) return PythonError(what);
  for (Py_ssize_t i = 0; i < PyList_Size(list.get()); ++i) {
    partitions_.push_back(SharedRef(Ref::Borrow(PyList_GetItem(list.get(), i))));
  }
  planned_ = true;
  return Status::OK();
}

Result<Ref> PythonSource::OpenPartition(size_t index) {
  if (spark_) {
    return CallMethod(instance_.get(), "read", ReadWhat(), partitions_[index].get());
  }
  return CallMethod(instance_.get(), "read_partition", ReadWhat(),
                    partitions_[index].get(), options_dict_.get());
}

Result<std::unique_ptr<SplitReader>> PythonSource::OpenSplit(const Split& split,
                                                             const SplitRange& range,
                                                             const ScanRequest& request) {
  ARROW_ASSIGN_OR_RAISE(auto schema, GetSchema());
  {
    // A split planned by another instance (a scan task sent elsewhere): plan again.
    std::lock_guard<std::mutex> lock(mutex_);
    ARROW_RETURN_NOT_OK(Plan());
  }
  char* end = nullptr;
  const long long index = std::strtoll(split.payload.c_str(), &end, 10);
  if (*end != '\0' || index < 0 || static_cast<size_t>(index) >= partitions_.size()) {
    return Status::Invalid("not a split of ", Describe(), ": '", split.id, "'");
  }
  long long offsets[2] = {0, -1};  // where the range starts and ends
  for (int i = 0; i < 2; ++i) {
    const std::string& text = i == 0 ? range.start : range.end;
    if (text.empty()) continue;
    offsets[i] = std::strtoll(text.c_str(), &end, 10);
    if (*end != '\0' || offsets[i] < 0) {
      return Status::Invalid("not an offset of ", Describe(), ": '", text, "'");
    }
  }
  auto wanted = schema;
  if (request.columns) {
    arrow::FieldVector fields;
    for (const auto& name : *request.columns)
      fields.push_back(schema->GetFieldByName(name));
    wanted = arrow::schema(std::move(fields));
  }
  return std::make_unique<PartitionReader>(this, static_cast<size_t>(index), offsets[0],
                                           offsets[1], schema, std::move(wanted));
}

std::string PythonSource::Describe() const { return "python " + class_path_; }

}  // namespace flowsql::python
