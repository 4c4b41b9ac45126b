#include "connectors/python/python_source.h"

#include "common/secrets.h"

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

/// Reads one partition: the batches of its read_partition() iterator.
class PartitionReader : public SplitReader {
 public:
  PartitionReader(PythonSource* source, size_t index, int64_t skip, int64_t end,
                  std::shared_ptr<arrow::Schema> schema,
                  std::shared_ptr<arrow::Schema> wanted)
      : source_(source),
        index_(index),
        read_(skip),
        skip_(skip),
        end_(end),
        schema_(std::move(schema)),
        wanted_(std::move(wanted)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return wanted_; }

  Result<SourceBatch> Next() override {
    if (done_ || (end_ >= 0 && read_ >= end_)) return SourceBatch{};
    const std::string what = source_->What("read_partition");
    Gil gil;
    if (!iterator_.get()) {
      ARROW_ASSIGN_OR_RAISE(Ref iterable, source_->OpenPartition(index_));
      Ref iterator(PyObject_GetIter(iterable.get()));
      if (!iterator) return PythonError(what);
      iterator_ = SharedRef(std::move(iterator));
      // Resuming: the batches read before are read again and dropped.
      for (; skip_ > 0; --skip_) {
        Ref item(PyIter_Next(iterator_.get()));
        if (!item) {
          if (PyErr_Occurred()) return PythonError(what);
          return Status::IOError(what, " yielded fewer batches than when its offset ",
                                 read_, " was logged: it must yield the same ones");
        }
      }
    }
    Ref item(PyIter_Next(iterator_.get()));
    if (!item) {
      if (PyErr_Occurred()) return PythonError(what);
      done_ = true;
      return SourceBatch{};
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, ImportBatch(item.get(), what));
    ARROW_ASSIGN_OR_RAISE(batch, Conform(batch, *schema_, wanted_, what));
    return SourceBatch{std::move(batch), std::to_string(++read_)};
  }

 private:
  PythonSource* source_;
  size_t index_;
  int64_t read_;  // batches delivered, the ones skipped included
  int64_t skip_;
  int64_t end_;  // -1: to the partition's end
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::Schema> wanted_;
  SharedRef iterator_;
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
    Ref instance(PyObject_CallNoArgs(cls.get()));
    if (!instance) return PythonError(class_path_ + "()");
    ARROW_ASSIGN_OR_RAISE(Ref options, ToDict(options_));
    ARROW_ASSIGN_OR_RAISE(Ref schema, CallMethod(instance.get(), "infer_schema",
                                                 What("infer_schema"), options.get()));
    ARROW_ASSIGN_OR_RAISE(schema_, ImportSchema(schema.get(), What("infer_schema")));
    instance_ = SharedRef(std::move(instance));
    options_dict_ = SharedRef(std::move(options));
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
  ARROW_RETURN_NOT_OK(Load());
  Gil gil;
  const std::string what = What("plan_partitions");
  ARROW_ASSIGN_OR_RAISE(Ref planned, CallMethod(instance_.get(), "plan_partitions", what,
                                                options_dict_.get()));
  Ref list(PySequence_List(planned.get()));
  if (!list) return PythonError(what);
  partitions_.clear();
  std::vector<Split> splits;
  for (Py_ssize_t i = 0; i < PyList_Size(list.get()); ++i) {
    partitions_.push_back(SharedRef(Ref::Borrow(PyList_GetItem(list.get(), i))));
    splits.push_back(Split{"partition-" + std::to_string(i), std::to_string(i)});
  }
  return splits;
}

Result<Ref> PythonSource::OpenPartition(size_t index) {
  return CallMethod(instance_.get(), "read_partition", What("read_partition"),
                    partitions_[index].get(), options_dict_.get());
}

Result<std::unique_ptr<SplitReader>> PythonSource::OpenSplit(const Split& split,
                                                             const SplitRange& range,
                                                             const ScanRequest& request) {
  ARROW_ASSIGN_OR_RAISE(auto schema, GetSchema());
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
