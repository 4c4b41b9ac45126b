#include "connectors/python/python_source.h"

#include <arrow/array/util.h>
#include <arrow/compute/api.h>

#include <optional>
#include <thread>

#include "common/conform.h"
#include "connectors/python/bridge.h"

namespace flowsql::python {

namespace {

namespace cp = arrow::compute;

/// A conjunct of a scan's filter as one of Spark's Filter classes
/// (pyspark.sql.datasource, 4.1): the class, the column path, its values (the
/// literal, or In's set; none for IsNull and IsNotNull) and whether Not() wraps it.
struct SparkFilter {
  std::string kind;
  std::vector<std::string> column;
  std::shared_ptr<arrow::Array> values;
  bool negated = false;
};

/// The column path of a field reference ("a", or "a.b.c" as {a, b, c}).
std::optional<std::vector<std::string>> ColumnPath(const cp::Expression& e) {
  const arrow::FieldRef* ref = e.field_ref();
  if (ref == nullptr) return std::nullopt;
  if (ref->IsName()) return std::vector<std::string>{*ref->name()};
  const auto* nested = ref->nested_refs();
  if (nested == nullptr) return std::nullopt;
  std::vector<std::string> path;
  for (const auto& part : *nested) {
    if (!part.IsName()) return std::nullopt;
    path.push_back(*part.name());
  }
  return path;
}

/// True for the NaN cases the binder adds to a floating comparison (made of is_nan,
/// literals, and, and_not): Spark orders NaN as the binder does (above every number,
/// equal to itself), so the comparison alone says the same to Spark.
bool IsNanCase(const cp::Expression& e) {
  if (e.literal() != nullptr) return true;
  const cp::Expression::Call* call = e.call();
  if (call == nullptr) return false;
  if (call->function_name == "is_nan") return true;
  if (call->function_name != "and" && call->function_name != "and_not") return false;
  for (const auto& arg : call->arguments) {
    if (!IsNanCase(arg)) return false;
  }
  return true;
}

/// `e` as a Spark filter, when it is one Spark can say: a column compared with a
/// literal, IN a list, IS [NOT] NULL, LIKE 'abc%' / '%abc' / '%abc%', or NOT one of
/// them.
std::optional<SparkFilter> ToSparkFilter(const cp::Expression& e,
                                         const arrow::Schema& schema, bool negated) {
  const cp::Expression::Call* call = e.call();
  if (call == nullptr || call->arguments.empty()) return std::nullopt;
  const std::string& f = call->function_name;
  const auto& args = call->arguments;
  if (f == "invert") return ToSparkFilter(args[0], schema, !negated);
  if ((f == "or" || f == "and_not") && args.size() == 2 && IsNanCase(args[1])) {
    return ToSparkFilter(args[0], schema, negated);  // a floating comparison
  }
  auto path = ColumnPath(args[0]);
  if (f == "is_null" || f == "is_valid") {
    if (!path) return std::nullopt;
    return SparkFilter{f == "is_null" ? "IsNull" : "IsNotNull", *path, nullptr, negated};
  }
  if (f == "is_in") {
    const auto* options = static_cast<const cp::SetLookupOptions*>(call->options.get());
    if (!path || options == nullptr || !options->value_set.is_array())
      return std::nullopt;
    return SparkFilter{"In", *path, options->value_set.make_array(), negated};
  }
  if (f == "match_like") {
    const auto* options =
        static_cast<const cp::MatchSubstringOptions*>(call->options.get());
    if (!path || options == nullptr || options->ignore_case) return std::nullopt;
    std::string pattern = options->pattern;
    const bool starts = !pattern.empty() && pattern.front() == '%';
    const bool ends = pattern.size() > 1 && pattern.back() == '%';
    std::string core = pattern.substr(starts ? 1 : 0);
    if (ends) core.pop_back();
    if (core.empty() || core.find_first_of("%_\\") != std::string::npos) {
      return std::nullopt;
    }
    if (!starts && !ends) return std::nullopt;  // = 'abc': the engine's own business
    const char* kind = starts && ends ? "StringContains"
                       : ends         ? "StringStartsWith"
                                      : "StringEndsWith";
    auto values = arrow::MakeArrayFromScalar(arrow::StringScalar(core), 1);
    if (!values.ok()) return std::nullopt;
    return SparkFilter{kind, *path, *values, negated};
  }
  // column <op> literal, or literal <op> column (the comparison flipped)
  static const std::map<std::string, std::pair<const char*, const char*>> kCompare = {
      {"equal", {"EqualTo", "EqualTo"}},
      {"not_equal", {"EqualTo", "EqualTo"}},
      {"greater", {"GreaterThan", "LessThan"}},
      {"greater_equal", {"GreaterThanOrEqual", "LessThanOrEqual"}},
      {"less", {"LessThan", "GreaterThan"}},
      {"less_equal", {"LessThanOrEqual", "GreaterThanOrEqual"}}};
  auto op = kCompare.find(f);
  if (op == kCompare.end() || args.size() != 2) return std::nullopt;
  const bool flipped = !path;
  if (flipped) path = ColumnPath(args[1]);
  const arrow::Datum* literal = args[flipped ? 0 : 1].literal();
  if (!path || literal == nullptr || !literal->is_scalar() ||
      !literal->scalar()->is_valid) {
    return std::nullopt;
  }
  // The value as the column's type (Spark gives 20.0 for `ratio < 20`).
  std::shared_ptr<arrow::Scalar> value = literal->scalar();
  auto field = schema.GetFieldByName(path->front());
  if (path->size() == 1 && field != nullptr && !value->type->Equals(*field->type())) {
    auto cast = value->CastTo(field->type());
    if (!cast.ok()) return std::nullopt;
    value = *cast;
  }
  auto values = arrow::MakeArrayFromScalar(*value, 1);
  if (!values.ok()) return std::nullopt;
  return SparkFilter{flipped ? op->second.second : op->second.first, *path, *values,
                     negated != (f == "not_equal")};
}

/// The conjuncts of `filter` that Spark's Filter classes can say.
void SparkFilters(const cp::Expression& filter, const arrow::Schema& schema,
                  std::vector<SparkFilter>* out) {
  const cp::Expression::Call* call = filter.call();
  if (call != nullptr &&
      (call->function_name == "and_kleene" || call->function_name == "and")) {
    for (const auto& arg : call->arguments) SparkFilters(arg, schema, out);
    return;
  }
  if (auto f = ToSparkFilter(filter, schema, false)) out->push_back(std::move(*f));
}

/// `filters` as bridge.h's push_filters() takes them: a list of (class name, column
/// path tuple, a one-column pyarrow.RecordBatch of values or None, negated).
/// REQUIRES: the GIL held.
Result<Ref> FilterSpecs(const std::vector<SparkFilter>& filters) {
  Ref specs(PyList_New(0));
  for (const auto& f : filters) {
    Ref path(PyTuple_New(static_cast<Py_ssize_t>(f.column.size())));
    for (size_t i = 0; i < f.column.size(); ++i) {
      PyTuple_SET_ITEM(path.get(), static_cast<Py_ssize_t>(i),
                       PyUnicode_FromString(f.column[i].c_str()));
    }
    Ref values = Ref::Borrow(Py_None);
    if (f.values) {
      ARROW_ASSIGN_OR_RAISE(values,
                            ExportBatch(arrow::RecordBatch::Make(
                                arrow::schema({arrow::field("v", f.values->type())}),
                                f.values->length(), {f.values})));
    }
    Ref spec(Py_BuildValue("(sOOO)", f.kind.c_str(), path.get(), values.get(),
                           f.negated ? Py_True : Py_False));
    if (!spec || PyList_Append(specs.get(), spec.get()) != 0) {
      return PythonError("the filters for pushFilters()");
    }
  }
  return specs;
}

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
  return ConformByName(batch, wanted, what);
}

/// Rows converted to Arrow at a time.
constexpr Py_ssize_t kRowsPerBatch = 8192;

/// The batches of one iterable that yields RecordBatches, tuples or Rows. Worker
/// processes make the same batches with the bridge's batches(): change both together.
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
    // The cyclic GC off while rows pile up: each collection walks every pending row
    // (about 40% of a tuple read's time otherwise). Restored on return.
    struct GcPause {
      int was = PyGC_Disable();
      ~GcPause() {
        if (was == 1) PyGC_Enable();
      }
    } gc_pause;
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
    ARROW_ASSIGN_OR_RAISE(auto batch, source_->workers() ? NextFromWorker() : NextHere());
    if (batch == nullptr) {
      done_ = true;
      return SourceBatch{};
    }
    ARROW_ASSIGN_OR_RAISE(batch, Conform(batch, *schema_, wanted_, what));
    return SourceBatch{std::move(batch), std::to_string(++read_)};
  }

 private:
  /// The next batch, read in flowsql's process.
  Result<std::shared_ptr<arrow::RecordBatch>> NextHere() {
    const std::string what = source_->ReadWhat();
    Gil gil;
    if (!stream_.open()) {
      ARROW_ASSIGN_OR_RAISE(Ref iterable, source_->OpenPartition(index_));
      ARROW_RETURN_NOT_OK(
          stream_.Open(iterable.get(), read_, source_->py_schema(), what));
    }
    return stream_.Next(source_->py_schema(), what);
  }

  /// The next batch, read by a worker process: the GIL is not held while it waits.
  Result<std::shared_ptr<arrow::RecordBatch>> NextFromWorker() {
    if (worker_ == nullptr) {
      ARROW_ASSIGN_OR_RAISE(worker_,
                            source_->workers()->Read(source_->partition(index_), read_));
    }
    return worker_->Next();
  }

  PythonSource* source_;
  size_t index_;
  int64_t read_;  // batches delivered, the ones a resumed read drops included
  int64_t end_;   // -1: to the partition's end
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::Schema> wanted_;
  BatchStream stream_;                    // read here
  std::unique_ptr<WorkerStream> worker_;  // or by a worker process
  bool done_ = false;
};

/// Where a stream stands: the microbatch's start and end (JSON offsets; end empty
/// between microbatches), the partition of it being read and the batches read from
/// that partition. As an offset: "partition\nbatches\nstart\nend".
struct StreamPosition {
  int64_t partition = 0;
  int64_t batches = 0;
  std::string at, end;

  static Result<StreamPosition> Parse(const std::string& offset,
                                      const std::string& source) {
    const size_t a = offset.find('\n'), b = offset.find('\n', a + 1),
                 c = offset.find('\n', b + 1);
    if (c == std::string::npos) {
      return Status::Invalid("not an offset of ", source, ": '", offset, "'");
    }
    return StreamPosition{
        std::strtoll(offset.substr(0, a).c_str(), nullptr, 10),
        std::strtoll(offset.substr(a + 1, b - a - 1).c_str(), nullptr, 10),
        offset.substr(b + 1, c - b - 1), offset.substr(c + 1)};
  }
};

/// Reads a PySpark stream reader for ever, microbatch by microbatch: from the offset
/// reached, latestOffset() (or a simple reader's read(start)) says whether there is
/// more; partitions(start, end) are read one after another.
///
/// Offsets: StreamPosition. A read resumed inside a microbatch plans it again from
/// start to end (or replays a simple reader's readBetweenOffsets) and drops what it
/// had delivered. A replayed epoch never asks latestOffset(): it reads up to the
/// offset the epoch ended at, which the source may have passed since.
class StreamReader : public SplitReader {
 public:
  StreamReader(PythonSource* source, std::string start, std::string end,
               std::shared_ptr<arrow::Schema> schema,
               std::shared_ptr<arrow::Schema> wanted, ScanRequest request)
      : source_(source),
        replay_end_(std::move(end)),
        schema_(std::move(schema)),
        wanted_(std::move(wanted)),
        request_(std::move(request)) {
    at_ = std::move(start);
  }

  std::shared_ptr<arrow::Schema> schema() const override { return wanted_; }

  /// Parses an offset into this reader's position.
  Status Seek(const std::string& offset) {
    ARROW_ASSIGN_OR_RAISE(auto position,
                          StreamPosition::Parse(offset, source_->Describe()));
    partition_ = position.partition;
    batches_ = position.batches;
    at_ = std::move(position.at);
    end_ = std::move(position.end);
    return Status::OK();
  }

  std::string Offset() const {
    return std::to_string(partition_) + "\n" + std::to_string(batches_) + "\n" + at_ +
           "\n" + end_;
  }

  Result<SourceBatch> Next() override {
    const std::string what = source_->ReadWhat();
    while (true) {
      if (!replay_end_.empty() && Offset() == replay_end_) return SourceBatch{};
      ARROW_RETURN_NOT_OK(request_.stop.Poll());
      bool idle = false;
      {
        Gil gil;
        if (!stream_.open()) {
          ARROW_ASSIGN_OR_RAISE(idle, OpenNext(what));
        }
        if (stream_.open()) {
          ARROW_ASSIGN_OR_RAISE(auto batch, stream_.Next(source_->py_schema(), what));
          if (batch != nullptr) {
            ++batches_;
            ARROW_ASSIGN_OR_RAISE(batch, Conform(batch, *schema_, wanted_, what));
            return SourceBatch{std::move(batch), Offset()};
          }
          stream_.Close();
          ++partition_;
          batches_ = 0;
          if (static_cast<size_t>(partition_) < partitions_.size()) continue;
        }
        if (!idle) {
          // The microbatch is read: the next starts at its end.
          at_ = end_;
          end_.clear();
          partition_ = 0;
          partitions_.clear();
          ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatch::MakeEmpty(wanted_));
          return SourceBatch{std::move(empty), Offset()};
        }
      }
      // Nothing new: ask again after the interval (or at once, replaying).
      if (replay_end_.empty()) ARROW_RETURN_NOT_OK(Sleep());
      ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatch::MakeEmpty(wanted_));
      return SourceBatch{std::move(empty), Offset()};
    }
  }

 private:
  /// Opens what comes next: the current microbatch's partition (planned again when
  /// resuming), or a new microbatch. Returns true when there is nothing new.
  /// REQUIRES: the GIL held.
  Result<bool> OpenNext(const std::string& what) {
    PyObject* reader = source_->instance();
    Ref at = Str(at_);
    if (end_.empty() && !replay_end_.empty()) {
      // Replaying an epoch: its microbatches were not logged, only where it ended.
      // Read up to there as one microbatch (the source's ranges are deterministic),
      // then, when it ended inside a microbatch, that microbatch again.
      ARROW_ASSIGN_OR_RAISE(auto target,
                            StreamPosition::Parse(replay_end_, source_->Describe()));
      end_ = target.at == at_ ? target.end : target.at;
    }
    if (end_.empty()) {
      if (source_->simple_stream()) {
        ARROW_ASSIGN_OR_RAISE(Ref pair,
                              CallBridge("read_simple", what, {reader, at.get()}));
        ARROW_ASSIGN_OR_RAISE(end_, python::Text(PyTuple_GetItem(pair.get(), 1)));
        if (end_ == at_) {
          end_.clear();
          return true;
        }
        partitions_ = {SharedRef()};
        ARROW_RETURN_NOT_OK(
            stream_.Open(PyTuple_GetItem(pair.get(), 0), 0, source_->py_schema(), what));
        return false;
      }
      ARROW_ASSIGN_OR_RAISE(Ref latest,
                            CallBridge("latest_offset", what, {reader, at.get()}));
      ARROW_ASSIGN_OR_RAISE(std::string end, python::Text(latest.get()));
      if (end == at_) return true;
      end_ = end;
    }
    Ref end = Str(end_);
    if (source_->simple_stream()) {
      ARROW_ASSIGN_OR_RAISE(
          Ref rows, CallBridge("replay_simple", what, {reader, at.get(), end.get()}));
      partitions_ = {SharedRef()};
      ARROW_RETURN_NOT_OK(stream_.Open(rows.get(), batches_, source_->py_schema(), what));
      return false;
    }
    if (partitions_.empty()) {
      ARROW_ASSIGN_OR_RAISE(
          Ref planned, CallBridge("plan_stream", what, {reader, at.get(), end.get()}));
      for (Py_ssize_t i = 0; i < PyList_Size(planned.get()); ++i) {
        partitions_.push_back(SharedRef(Ref::Borrow(PyList_GetItem(planned.get(), i))));
      }
    }
    if (static_cast<size_t>(partition_) >= partitions_.size()) return false;
    ARROW_ASSIGN_OR_RAISE(
        Ref iterable, CallMethod(reader, "read", what, partitions_[partition_].get()));
    ARROW_RETURN_NOT_OK(
        stream_.Open(iterable.get(), batches_, source_->py_schema(), what));
    return false;
  }

  static Ref Str(const std::string& text) {
    return Ref(
        PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size())));
  }

  /// Waits the interval, or until the statement stops.
  Status Sleep() {
    const auto until = std::chrono::steady_clock::now() + source_->interval();
    while (std::chrono::steady_clock::now() < until) {
      ARROW_RETURN_NOT_OK(request_.stop.Poll());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Status::OK();
  }

  PythonSource* source_;
  std::string replay_end_;  // stop at this offset ("": never)
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::Schema> wanted_;
  ScanRequest request_;
  int64_t partition_ = 0;  // of the microbatch
  int64_t batches_ = 0;    // read from that partition
  std::string at_, end_;   // the microbatch's start and end offsets (JSON)
  std::vector<SharedRef> partitions_;
  BatchStream stream_;
};

}  // namespace

PythonSource::PythonSource(std::string class_path,
                           std::map<std::string, std::string> options,
                           PythonSourceSettings settings)
    : class_path_(std::move(class_path)),
      options_(std::move(options)),
      settings_(settings) {}

PythonSource::PythonSource(SharedRef object, std::string name,
                           std::map<std::string, std::string> options,
                           PythonSourceSettings settings)
    : PythonSource(std::move(name), std::move(options), settings) {
  object_ = std::move(object);
}

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
    Ref cls = Ref::Borrow(object_.get());
    if (!cls) {
      ARROW_ASSIGN_OR_RAISE(cls, ImportObject(class_path_));
    }
    const bool instance_given = object_.get() != nullptr && !PyType_Check(cls.get());
    ARROW_ASSIGN_OR_RAISE(Ref options, ToDict(options_));
    // A PySpark DataSource has reader(); seed 001's classes have infer_schema().
    spark_ = PyObject_HasAttrString(cls.get(), "reader") &&
             !PyObject_HasAttrString(cls.get(), "infer_schema");
    Ref schema;
    Ref instance;
    if (spark_) {
      ARROW_ASSIGN_OR_RAISE(options,
                            CallBridge("spark_options", class_path_, {options.get()}));
      Ref source =
          instance_given ? cls : Ref(PyObject_CallOneArg(cls.get(), options.get()));
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
      if (settings_.streaming) {
        ARROW_ASSIGN_OR_RAISE(instance, CallBridge("stream_reader", What("streamReader"),
                                                   {source.get(), struct_type.get()}));
        ARROW_ASSIGN_OR_RAISE(Ref simple,
                              CallBridge("is_simple", class_path_, {instance.get()}));
        simple_ = PyObject_IsTrue(simple.get()) == 1;
        ARROW_ASSIGN_OR_RAISE(Ref initial, CallMethod(instance.get(), "initialOffset",
                                                      What("initialOffset")));
        ARROW_ASSIGN_OR_RAISE(
            Ref text, CallBridge("offset_text", What("initialOffset"), {initial.get()}));
        ARROW_ASSIGN_OR_RAISE(initial_offset_, Text(text.get()));
      } else {
        ARROW_ASSIGN_OR_RAISE(instance, CallMethod(source.get(), "reader", What("reader"),
                                                   struct_type.get()));
        ARROW_ASSIGN_OR_RAISE(Ref pushes,
                              CallBridge("takes_filters", class_path_, {instance.get()}));
        push_filters_ = PyObject_IsTrue(pushes.get()) == 1;
      }
    } else if (settings_.streaming) {
      return Status::Invalid(class_path_,
                             ": streaming = true needs a PySpark DataSource with "
                             "streamReader() or simpleStreamReader()");
    } else {
      instance = instance_given ? cls : Ref(PyObject_CallNoArgs(cls.get()));
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
  if (settings_.streaming) {
    ARROW_RETURN_NOT_OK(Load());
    return std::vector<Split>{Split{"stream", ""}};
  }
  ARROW_RETURN_NOT_OK(Plan(request));
  std::vector<Split> splits;
  for (size_t i = 0; i < partitions_.size(); ++i) {
    splits.push_back(Split{"partition-" + std::to_string(i), std::to_string(i)});
  }
  return splits;
}

Status PythonSource::Plan(const ScanRequest& request) {
  // REQUIRES: mutex_ held.
  ARROW_RETURN_NOT_OK(Load());
  if (planned_) return Status::OK();
  Gil gil;
  if (push_filters_) {
    // Spark 4.1's pushFilters(), once, before partitions(): the filter's conjuncts it
    // can say. Whatever the reader does with them, the engine filters again.
    std::vector<SparkFilter> filters;
    SparkFilters(request.filter, *schema_, &filters);
    if (!filters.empty()) {
      ARROW_ASSIGN_OR_RAISE(Ref specs, FilterSpecs(filters));
      ARROW_RETURN_NOT_OK(CallBridge("push_filters", What("reader().pushFilters"),
                                     {instance_.get(), specs.get()})
                              .status());
    }
  }
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
  if (settings_.workers) {
    Ref args = spark_ ? Ref(PyTuple_New(0)) : Ref(PyTuple_Pack(1, options_dict_.get()));
    if (!args) return PythonError(what);
    ARROW_ASSIGN_OR_RAISE(
        workers_, WorkerPool::Make(instance_.get(), spark_ ? "read" : "read_partition",
                                   args.get(), py_schema_.get(), ReadWhat()));
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
  ARROW_ASSIGN_OR_RAISE(auto wanted, RequestedSchema(schema, request));
  if (settings_.streaming) {
    if (split.id != "stream") {
      return Status::Invalid("not a split of ", Describe(), ": '", split.id, "'");
    }
    auto reader = std::make_unique<StreamReader>(this, initial_offset_, range.end, schema,
                                                 wanted, request);
    if (!range.start.empty()) ARROW_RETURN_NOT_OK(reader->Seek(range.start));
    return reader;
  }
  {
    // A split planned by another instance (a scan task sent elsewhere): plan again.
    std::lock_guard<std::mutex> lock(mutex_);
    ARROW_RETURN_NOT_OK(Plan(request));
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
  return std::make_unique<PartitionReader>(this, static_cast<size_t>(index), offsets[0],
                                           offsets[1], schema, std::move(wanted));
}

Status PythonSource::Acknowledge(const std::map<std::string, std::string>& offsets) {
  auto it = offsets.find("stream");
  if (!settings_.streaming || it == offsets.end()) return Status::OK();
  // The position's start: every microbatch before it is committed.
  ARROW_ASSIGN_OR_RAISE(auto position, StreamPosition::Parse(it->second, Describe()));
  const std::string& done = position.at;
  std::lock_guard<std::mutex> lock(mutex_);
  if (done == committed_ || done == initial_offset_) return Status::OK();
  Gil gil;
  Ref text(
      PyUnicode_FromStringAndSize(done.data(), static_cast<Py_ssize_t>(done.size())));
  ARROW_RETURN_NOT_OK(
      CallBridge("commit", What("commit"), {instance_.get(), text.get()}));
  committed_ = done;
  return Status::OK();
}

std::string PythonSource::Describe() const { return "python " + class_path_; }

}  // namespace flowsql::python
