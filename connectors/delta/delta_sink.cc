#include "connectors/delta/delta_sink.h"

#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/compute/row/grouper.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>
#include <arrow/table.h>
#include <arrow/util/string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/conform.h"
#include "common/json.h"
#include "common/temporal.h"
#include "connectors/delta/delta_schema.h"
#include "connectors/delta/delta_source.h"
#include "connectors/file/partitions.h"
#include "connectors/file/sink_settings.h"

namespace flowsql::delta {

namespace {

namespace cp = arrow::compute;

/// Spark's statistics keep the first 32 characters of a string; a longer value is
/// left out (a truncated maximum would be below the real one).
constexpr size_t kStringStatsPrefix = 32;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A statistic's JSON value, or "" when the log keeps none for it.
std::string StatText(const arrow::Scalar& value) {
  if (!value.is_valid) return "";
  std::string out;
  switch (value.type->id()) {
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::DECIMAL128:
      return value.ToString();
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      const double d = value.type->id() == arrow::Type::FLOAT
                           ? static_cast<const arrow::FloatScalar&>(value).value
                           : static_cast<const arrow::DoubleScalar&>(value).value;
      return std::isfinite(d) ? value.ToString() : "";
    }
    case arrow::Type::DATE32:
      out += '"';
      AppendDate(static_cast<const arrow::Date32Scalar&>(value).value, &out);
      return out + '"';
    case arrow::Type::TIMESTAMP: {
      // Milliseconds, as Spark keeps them: "2024-03-01T10:00:00.123Z".
      const auto& ts = static_cast<const arrow::TimestampScalar&>(value);
      const auto& type = static_cast<const arrow::TimestampType&>(*value.type);
      const int64_t ms = FloorDiv(ts.value, UnitsPerSecond(type.unit()) / 1000);
      const int64_t days = FloorDiv(ms, 86400000);
      const int64_t in_day = ms - days * 86400000;
      out += '"';
      AppendDate(days, &out);
      out += 'T';
      AppendClock(in_day / 1000, in_day % 1000, arrow::TimeUnit::MILLI, &out);
      if (out.find('.') == std::string::npos) out += ".000";
      if (!type.timezone().empty()) out += 'Z';
      return out + '"';
    }
    case arrow::Type::STRING: {
      const auto& s = static_cast<const arrow::StringScalar&>(value).view();
      if (s.size() >= kStringStatsPrefix) return "";
      AppendJsonString(s, &out);
      return out;
    }
    default:
      return "";
  }
}

/// partitionValues as JSON: {"name": "value" | null, ...}.
void AppendPartitionValues(
    const std::map<std::string, std::optional<std::string>>& values, std::string* out) {
  *out += '{';
  bool first = true;
  for (const auto& [name, value] : values) {
    if (!first) *out += ',';
    first = false;
    AppendJsonString(name, out);
    *out += ':';
    if (value) {
      AppendJsonString(*value, out);
    } else {
      *out += "null";
    }
  }
  *out += '}';
}

/// A partition value as the log writes it: NULL (and, as in Spark, an empty string)
/// as null; a timestamp as "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC when it has a zone).
std::optional<std::string> PartitionText(const arrow::Scalar& value) {
  if (!value.is_valid) return std::nullopt;
  if (value.type->id() == arrow::Type::TIMESTAMP) {
    std::string out;
    AppendTimestamp(static_cast<const arrow::TimestampScalar&>(value).value,
                    static_cast<const arrow::TimestampType&>(*value.type).unit(), &out);
    return out;
  }
  std::string text = value.ToString();
  if (text.empty()) return std::nullopt;
  return text;
}

/// True for the types whose minimum and maximum the log keeps.
bool HasStats(const arrow::DataType& type) {
  // Not floating point: a NaN is in no minimum or maximum but passes `x > 1`.
  return arrow::is_integer(type.id()) || type.id() == arrow::Type::DECIMAL128 ||
         type.id() == arrow::Type::DATE32 || type.id() == arrow::Type::TIMESTAMP ||
         type.id() == arrow::Type::STRING;
}

/// `list` as the text of a JSON array of strings (what operationParameters hold).
std::string JsonStrings(const std::vector<std::string>& list) {
  std::string out;
  AppendJsonStrings(list, &out);
  return out;
}

/// A metaData action, as a line.
void AppendMetadata(const Metadata& m, std::string* out) {
  *out += "{\"metaData\":{\"id\":";
  AppendJsonString(m.id, out);
  *out += ",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":";
  AppendJsonString(m.schema_string, out);
  *out += ",\"partitionColumns\":";
  AppendJsonStrings(m.partition_columns, out);
  *out += ",\"configuration\":{";
  bool first = true;
  for (const auto& [key, value] : m.configuration) {
    if (!first) *out += ',';
    first = false;
    AppendJsonString(key, out);
    *out += ':';
    AppendJsonString(value, out);
  }
  *out += "},\"createdTime\":" + std::to_string(m.created_time) + "}}\n";
}

/// True when a query's column of type `from` goes into a table's column of type `to`
/// without loss, as Spark's store assignment lets it: a narrower integer, a float.
bool Widens(const arrow::DataType& from, const arrow::DataType& to) {
  if (arrow::is_signed_integer(from.id()) && arrow::is_signed_integer(to.id())) {
    return from.bit_width() <= to.bit_width();
  }
  return from.id() == arrow::Type::FLOAT && to.id() == arrow::Type::DOUBLE;
}

/// A random (version 4) UUID, as text.
std::string RandomUuid() {
  std::string hex;
  while (hex.size() < 32) hex += file::RandomHex();
  hex[12] = '4';
  hex[16] = "89ab"[hex[16] % 4];
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

}  // namespace

/// The running statistics of one column of one file.
struct DeltaSink::ColumnStats {
  int64_t nulls = 0;
  std::shared_ptr<arrow::Scalar> min, max;
};

/// One data file being written.
struct DeltaSink::Output {
  std::string relative;  // to the table, not encoded
  std::map<std::string, std::optional<std::string>> partition_values;
  std::unique_ptr<file::BatchWriter> writer;
  int64_t rows = 0;
  std::vector<ColumnStats> stats;  // by column of the file
  bool closed = false;
};

DeltaSink::DeltaSink(std::shared_ptr<DeltaLog> log, DeltaWriteSettings settings)
    : log_(std::move(log)),
      mode_(settings.mode),
      partition_by_(std::move(settings.partition_by)),
      optimize_every_(settings.optimize_every),
      merge_(std::move(settings.merge)),
      merge_schema_(settings.merge_schema) {}

DeltaSink::~DeltaSink() { (void)Abort(); }

Status DeltaSink::Open(const std::shared_ptr<arrow::Schema>& schema,
                       const SinkContext& context) {
  const std::string table = "delta table " + log_->table_uri();
  if (!log_->storage().conditional_puts()) {
    return Status::NotImplemented(
        table, ": writing Delta tables to ", log_->storage().scheme(),
        " needs conditional puts for atomic commits, which flowsql makes on S3, Azure "
        "and local folders only");
  }
  ARROW_ASSIGN_OR_RAISE(auto latest, log_->LoadLatest());
  // The columns only delete_on reads say what happened to a row, and are not
  // written unless the table has them.
  std::shared_ptr<arrow::Schema> written = schema;
  if (merge_.delete_on) {
    std::shared_ptr<arrow::Schema> existing;
    if (latest) {
      ARROW_ASSIGN_OR_RAISE(existing, SchemaFromDelta(latest->metadata.schema_string));
    }
    for (const auto& ref : cp::FieldsInExpression(*merge_.delete_on)) {
      const std::string* name = ref.name();
      if (name == nullptr || (existing && existing->GetFieldIndex(*name) >= 0) ||
          std::find(merge_.on.begin(), merge_.on.end(), *name) != merge_.on.end()) {
        continue;
      }
      const int i = written->GetFieldIndex(*name);
      if (i >= 0) {
        ARROW_ASSIGN_OR_RAISE(written, written->RemoveField(i));
      }
    }
  }
  for (const auto& name : merge_.on) {
    if (written->GetFieldIndex(name) < 0) {
      return Status::Invalid(table, ": merge_on column '", name,
                             "' is not a column of the query");
    }
  }
  ARROW_ASSIGN_OR_RAISE(schema_string_, SchemaToDelta(*written));
  ARROW_ASSIGN_OR_RAISE(schema_, SchemaFromDelta(schema_string_));
  if (latest) {
    const Snapshot& snapshot = *latest;
    read_version_ = snapshot.version;
    if (mode_ == WriteMode::kErrorIfExists && !context.resumed) {
      return Status::Invalid(table, " already exists (version ", read_version_,
                             "): use mode 'append' or 'overwrite'");
    }
    ARROW_RETURN_NOT_OK(CheckWritable(snapshot, table,
                                      mode_ == WriteMode::kOverwrite ? "overwritten"
                                      : mode_ == WriteMode::kMerge   ? "merged into"
                                                                     : nullptr));
    ARROW_ASSIGN_OR_RAISE(auto existing,
                          SchemaFromDelta(snapshot.metadata.schema_string));
    // The query's columns must be the table's, by name, with the same types; with
    // merge_schema, the table's that it lacks are written NULL, and its that the
    // table lacks are added to the table.
    for (const auto& field : existing->fields()) {
      auto ours = schema_->GetFieldByName(field->name());
      if (ours == nullptr && merge_schema_) continue;
      if (ours == nullptr) {
        return Status::Invalid(table, " has column '", field->name(), "' (",
                               field->type()->ToString(),
                               "), which the query lacks; merge_schema = true writes "
                               "it NULL");
      }
      if (!ours->type()->Equals(*field->type()) &&
          !Widens(*ours->type(), *field->type())) {
        return Status::Invalid(table, ": column '", field->name(), "' is ",
                               field->type()->ToString(), " in the table but ",
                               ours->type()->ToString(), " in the query");
      }
    }
    arrow::FieldVector added;
    for (const auto& field : schema_->fields()) {
      if (existing->GetFieldIndex(field->name()) >= 0) continue;
      if (!merge_schema_) {
        return Status::Invalid(table, " has no column '", field->name(), "' (",
                               field->type()->ToString(),
                               "); merge_schema = true adds it");
      }
      added.push_back(field);
    }
    if (!partition_by_.empty() && partition_by_ != snapshot.metadata.partition_columns) {
      return Status::Invalid(
          table, " is partitioned by [",
          arrow::internal::JoinStrings(snapshot.metadata.partition_columns, ", "),
          "], not by the partition_by given");
    }
    ARROW_RETURN_NOT_OK(AdoptTable(snapshot));  // the table's column order
    auto app = snapshot.app_versions.find(context.pipeline);
    if (app != snapshot.app_versions.end()) held_at_open_ = app->second;
    if (!added.empty()) {
      // The new fields go after the table's own, whose text (and so their metadata:
      // comments, char lengths) stays as it is.
      ARROW_ASSIGN_OR_RAISE(auto more, SchemaToDelta(*arrow::schema(added)));
      const std::string& was = snapshot.metadata.schema_string;
      const size_t open = more.find('['), close = more.rfind(']');
      if (was.size() > 3 && was.compare(was.size() - 2, 2, "]}") == 0 &&
          open != std::string::npos && close != std::string::npos) {
        schema_string_ = was.substr(0, was.size() - 2) +
                         (was[was.size() - 3] == '[' ? "" : ",") +
                         more.substr(open + 1, close - open - 1) + "]}";
      } else {
        ARROW_ASSIGN_OR_RAISE(auto all,
                              arrow::UnifySchemas({existing, arrow::schema(added)}));
        ARROW_ASSIGN_OR_RAISE(schema_string_, SchemaToDelta(*all));
      }
      ARROW_ASSIGN_OR_RAISE(schema_, SchemaFromDelta(schema_string_));
      if (schema_string_.find("\"timestamp_ntz\"") != std::string::npos &&
          snapshot.metadata.schema_string.find("\"timestamp_ntz\"") ==
              std::string::npos) {
        return Status::NotImplemented(
            table,
            ": adding a TIMESTAMP column (without zone) needs the timestampNtz "
            "feature, which flowsql does not add to a table");
      }
      table_schema_string_ = snapshot.metadata.schema_string;
      evolved_ = snapshot.metadata;
      evolved_->schema_string = schema_string_;
    }
    if (mode_ == WriteMode::kOverwrite && !context.resumed) {
      overwrite_pending_ = true;
      replaced_ = snapshot.files;
    }
  }
  for (const auto& name : partition_by_) {
    if (schema_->GetFieldIndex(name) < 0) {
      return Status::Invalid(table, ": partition column '", name,
                             "' is not a column of the query");
    }
  }
  SetFileColumns();
  return Status::OK();
}

Status DeltaSink::AdoptTable(const Snapshot& snapshot) {
  read_version_ = snapshot.version;
  partition_by_ = snapshot.metadata.partition_columns;
  const auto& conf = snapshot.metadata.configuration;
  auto interval = conf.find("delta.checkpointInterval");
  if (interval != conf.end()) {
    checkpoint_interval_ = std::max<int64_t>(1, std::atoll(interval->second.c_str()));
  }
  schema_string_ = snapshot.metadata.schema_string;
  ARROW_ASSIGN_OR_RAISE(schema_, SchemaFromDelta(schema_string_));
  return Status::OK();
}

void DeltaSink::SetFileColumns() {
  arrow::FieldVector fields;
  file_columns_.clear();
  for (int i = 0; i < schema_->num_fields(); ++i) {
    const auto& name = schema_->field(i)->name();
    if (std::find(partition_by_.begin(), partition_by_.end(), name) ==
        partition_by_.end()) {
      fields.push_back(schema_->field(i));
      file_columns_.push_back(i);
    }
  }
  file_schema_ = arrow::schema(std::move(fields));
}

Result<DeltaSink::Output*> DeltaSink::NewOutput(
    const std::string& folder,
    const std::map<std::string, std::optional<std::string>>& values) {
  auto out = std::make_unique<Output>();
  const std::string name = "part-00000-" + RandomUuid() + ".c000.snappy.parquet";
  out->relative = folder.empty() ? name : folder + "/" + name;
  out->partition_values = values;
  out->stats.resize(file_schema_->num_fields());
  file::WriteSettings settings;
  settings.format = file::FileFormat::kParquet;
  settings.compression = arrow::Compression::SNAPPY;
  const std::string uri = file::Storage::Join(log_->table_uri(), out->relative);
  const std::string dir = uri.substr(0, uri.rfind('/'));
  ARROW_RETURN_NOT_OK(
      log_->storage().filesystem()->CreateDir(log_->storage().PathOf(dir), true));
  ARROW_ASSIGN_OR_RAISE(auto stream, log_->storage().OpenOutput(uri));
  ARROW_ASSIGN_OR_RAISE(out->writer,
                        file::MakeBatchWriter(settings, stream, file_schema_));
  outputs_.push_back(std::move(out));
  return outputs_.back().get();
}

Status DeltaSink::Write(const std::shared_ptr<arrow::RecordBatch>& batch) {
  ARROW_ASSIGN_OR_RAISE(auto rows, ConformByName(batch, schema_, Describe()));
  if (mode_ != WriteMode::kMerge) return Append(rows);
  std::shared_ptr<arrow::Array> deletes;
  if (merge_.delete_on) {
    auto evaluated = [&]() -> Result<std::shared_ptr<arrow::Array>> {
      ARROW_ASSIGN_OR_RAISE(auto bound, merge_.delete_on->Bind(*batch->schema()));
      ARROW_ASSIGN_OR_RAISE(auto datum,
                            cp::ExecuteScalarExpression(bound, cp::ExecBatch(*batch)));
      if (datum.is_array()) return datum.make_array();
      return arrow::MakeArrayFromScalar(*datum.scalar(), batch->num_rows());
    }();
    if (!evaluated.ok()) {
      return evaluated.status().WithMessage(
          Describe(), ": delete_on: ", evaluated.status().message());
    }
    deletes = std::move(*evaluated);
  }
  incoming_.push_back(std::move(rows));
  incoming_deletes_.push_back(std::move(deletes));
  return Status::OK();
}

Status DeltaSink::Append(const std::shared_ptr<arrow::RecordBatch>& rows) {
  std::vector<arrow::Datum> keys;
  for (const auto& name : partition_by_) keys.emplace_back(rows->GetColumnByName(name));
  ARROW_ASSIGN_OR_RAISE(auto groups, file::GroupRows(rows, keys));
  for (const auto& group : groups) {
    std::string folder;
    std::map<std::string, std::optional<std::string>> values;
    for (size_t k = 0; k < partition_by_.size(); ++k) {
      const auto& value = *group.values[k];
      folder += (k ? "/" : "") + file::HiveFolder(partition_by_[k], value);
      values[partition_by_[k]] = PartitionText(value);
    }
    Output*& out = appending_[folder];
    if (out == nullptr) {
      ARROW_ASSIGN_OR_RAISE(out, NewOutput(folder, values));
    }
    ARROW_RETURN_NOT_OK(WriteTo(out, *group.rows));
  }
  return Status::OK();
}

Status DeltaSink::WriteTo(Output* out, const arrow::RecordBatch& rows) {
  arrow::ArrayVector columns;
  for (int i : file_columns_) columns.push_back(rows.column(i));
  auto part = arrow::RecordBatch::Make(file_schema_, rows.num_rows(), columns);
  ARROW_RETURN_NOT_OK(out->writer->Write(*part));
  out->rows += part->num_rows();
  for (int c = 0; c < part->num_columns(); ++c) {
    const auto& column = part->column(c);
    auto& stats = out->stats[c];
    stats.nulls += column->null_count();
    if (!HasStats(*column->type())) continue;
    if (column->null_count() == column->length()) continue;
    ARROW_ASSIGN_OR_RAISE(auto minmax, cp::MinMax(column));
    const auto& pair = static_cast<const arrow::StructScalar&>(*minmax.scalar());
    auto merge = [&](std::shared_ptr<arrow::Scalar>* have,
                     const std::shared_ptr<arrow::Scalar>& got,
                     const char* keep) -> Status {
      if (*have == nullptr) {
        *have = got;
        return Status::OK();
      }
      ARROW_ASSIGN_OR_RAISE(auto better, cp::CallFunction(keep, {got, *have}));
      if (better.scalar_as<arrow::BooleanScalar>().value) *have = got;
      return Status::OK();
    };
    ARROW_RETURN_NOT_OK(merge(&stats.min, pair.value[0], "less"));
    ARROW_RETURN_NOT_OK(merge(&stats.max, pair.value[1], "greater"));
  }
  return Status::OK();
}

Status DeltaSink::Merge() {
  replaced_.clear();
  if (incoming_.empty()) return Status::OK();
  const std::string table = "delta table " + log_->table_uri();
  // The epoch's rows as one batch, and whether each deletes.
  ARROW_ASSIGN_OR_RAISE(auto rows_table,
                        arrow::Table::FromRecordBatches(schema_, incoming_));
  ARROW_ASSIGN_OR_RAISE(auto rows, rows_table->CombineChunksToBatch());
  std::vector<uint8_t> deletes(rows->num_rows(), 0);
  int64_t at = 0;
  for (size_t b = 0; b < incoming_.size(); ++b) {
    if (const auto& d = incoming_deletes_[b]) {
      const auto& flags = static_cast<const arrow::BooleanArray&>(*d);
      for (int64_t i = 0; i < flags.length(); ++i) {
        deletes[at + i] = flags.IsValid(i) && flags.Value(i);
      }
    }
    at += incoming_[b]->num_rows();
  }
  incoming_.clear();
  incoming_deletes_.clear();

  // The keys, numbered by a grouper; a row with a NULL key matches nothing.
  std::vector<int> key_indices;
  std::vector<arrow::TypeHolder> key_types;
  arrow::FieldVector key_fields;
  for (const auto& name : merge_.on) {
    key_indices.push_back(schema_->GetFieldIndex(name));
    key_fields.push_back(schema_->GetFieldByName(name));
    key_types.emplace_back(key_fields.back()->type());
  }
  auto key_batch = [&](const arrow::RecordBatch& batch) {
    std::vector<arrow::Datum> columns;
    for (const auto& name : merge_.on) columns.emplace_back(batch.GetColumnByName(name));
    return cp::ExecBatch(std::move(columns), batch.num_rows());
  };
  std::vector<int64_t> keyed;  // the rows whose keys are all set
  std::vector<int64_t> upserts;
  for (int64_t i = 0; i < rows->num_rows(); ++i) {
    bool set = true;
    for (int k : key_indices) set = set && rows->column(k)->IsValid(i);
    if (set) {
      keyed.push_back(i);
    } else if (!deletes[i]) {
      upserts.push_back(i);
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto grouper, cp::Grouper::Make(key_types));
  {
    arrow::Int64Builder take;
    ARROW_RETURN_NOT_OK(take.AppendValues(keyed));
    ARROW_ASSIGN_OR_RAISE(auto take_indices, take.Finish());
    ARROW_ASSIGN_OR_RAISE(auto keyed_rows, cp::Take(rows, take_indices));
    const cp::ExecBatch keys = key_batch(*keyed_rows.record_batch());
    ARROW_ASSIGN_OR_RAISE(auto ids, grouper->Consume(cp::ExecSpan(keys)));
    const auto& group = static_cast<const arrow::UInt32Array&>(*ids.make_array());
    // The last row of each key counts.
    std::vector<int64_t> last(grouper->num_groups(), -1);
    for (int64_t i = 0; i < group.length(); ++i) last[group.Value(i)] = keyed[i];
    for (int64_t row : last) {
      if (!deletes[row]) upserts.push_back(row);
    }
  }
  std::sort(upserts.begin(), upserts.end());

  // The table's files that hold an incoming key, rewritten without its rows.
  if (read_version_ >= 0) {
    ARROW_ASSIGN_OR_RAISE(auto snapshot, log_->Load());
    const std::string& expected = evolved_ ? table_schema_string_ : schema_string_;
    if (snapshot.metadata.schema_string != expected ||
        snapshot.metadata.partition_columns != partition_by_) {
      return Status::Invalid(table, ": another writer changed the table's schema or ",
                             "partitioning in version ", snapshot.version,
                             "; this merge is not retried");
    }
    ARROW_RETURN_NOT_OK(CheckWritable(snapshot, table, "merged into"));
    read_version_ = snapshot.version;
    ARROW_ASSIGN_OR_RAISE(auto uniques, grouper->GetUniques());
    arrow::ArrayVector unique_columns;
    for (const auto& v : uniques.values) unique_columns.push_back(v.make_array());
    auto unique_keys = arrow::RecordBatch::Make(arrow::schema(key_fields), uniques.length,
                                                std::move(unique_columns));
    DeltaSource source(log_, snapshot);
    ARROW_RETURN_NOT_OK(source.GetSchema().status());
    for (size_t f = 0; f < snapshot.files.size(); ++f) {
      const AddFile& file = snapshot.files[f];
      // What the log says of the file's keys: may any incoming key be among them?
      std::vector<cp::Expression> on_keys;
      for (const auto& known : source.known(f)) {
        bool keys_only = true;
        for (const auto& ref : cp::FieldsInExpression(known)) {
          keys_only = keys_only && ref.name() != nullptr &&
                      std::find(merge_.on.begin(), merge_.on.end(), *ref.name()) !=
                          merge_.on.end();
        }
        if (keys_only) on_keys.push_back(known);
      }
      if (!on_keys.empty()) {
        ARROW_ASSIGN_OR_RAISE(auto bound,
                              cp::and_(std::move(on_keys)).Bind(*unique_keys->schema()));
        ARROW_ASSIGN_OR_RAISE(
            auto may, cp::ExecuteScalarExpression(bound, cp::ExecBatch(*unique_keys)));
        ARROW_ASSIGN_OR_RAISE(auto any, cp::Any(may));
        const auto& result = any.scalar_as<arrow::BooleanScalar>();
        if (!result.is_valid || !result.value) continue;
      }
      const Split split{file.path, std::to_string(f)};
      // Its key columns first: does it hold an incoming key?
      ScanRequest keys_only;
      keys_only.columns = merge_.on;
      ARROW_ASSIGN_OR_RAISE(auto reader, source.OpenSplit(split, {}, keys_only));
      bool holds = false;
      while (!holds) {
        ARROW_ASSIGN_OR_RAISE(auto next, reader->Next());
        if (next.batch == nullptr) break;
        const cp::ExecBatch keys = key_batch(*next.batch);
        ARROW_ASSIGN_OR_RAISE(auto ids, grouper->Lookup(cp::ExecSpan(keys)));
        holds = ids.null_count() < next.batch->num_rows();
      }
      if (!holds) continue;
      // Then all of it, less the rows of those keys, into a file in its folder.
      const std::string decoded = file::PercentDecode(file.path);
      const size_t slash = decoded.rfind('/');
      ARROW_ASSIGN_OR_RAISE(
          Output * out,
          NewOutput(slash == std::string::npos ? "" : decoded.substr(0, slash),
                    file.partition_values));
      ARROW_ASSIGN_OR_RAISE(reader, source.OpenSplit(split, {}, ScanRequest{}));
      while (true) {
        ARROW_ASSIGN_OR_RAISE(auto next, reader->Next());
        if (next.batch == nullptr) break;
        const cp::ExecBatch keys = key_batch(*next.batch);
        ARROW_ASSIGN_OR_RAISE(auto ids, grouper->Lookup(cp::ExecSpan(keys)));
        ARROW_ASSIGN_OR_RAISE(auto unmatched, cp::IsNull(ids));
        ARROW_ASSIGN_OR_RAISE(auto kept, cp::Filter(next.batch, unmatched));
        // The file's columns may be fewer than the merge writes (merge_schema).
        ARROW_ASSIGN_OR_RAISE(auto rows,
                              ConformByName(kept.record_batch(), schema_, Describe()));
        ARROW_RETURN_NOT_OK(WriteTo(out, *rows));
      }
      replaced_.push_back(file);
    }
  }
  // The rows that update or insert, into files of their partitions.
  arrow::Int64Builder take;
  ARROW_RETURN_NOT_OK(take.AppendValues(upserts));
  ARROW_ASSIGN_OR_RAISE(auto take_indices, take.Finish());
  ARROW_ASSIGN_OR_RAISE(auto written, cp::Take(rows, take_indices));
  return Append(written.record_batch());
}

namespace {

/// The order that sorts `rows` by the Z-order (Morton) curve of `columns`: each
/// column's value becomes its rank among the rows (so any sortable type, NULLs
/// last), scaled to 64/k bits, and the ranks' bits are interleaved.
Result<std::shared_ptr<arrow::Array>> ZOrder(const arrow::Table& rows,
                                             const std::vector<std::string>& columns) {
  const int64_t n = rows.num_rows();
  const int bits = static_cast<int>(64 / columns.size());
  std::vector<std::vector<uint64_t>> ranks;
  for (const auto& name : columns) {
    ARROW_ASSIGN_OR_RAISE(auto order, cp::SortIndices(*rows.GetColumnByName(name)));
    const auto& at = static_cast<const arrow::UInt64Array&>(*order);
    std::vector<uint64_t> rank(n);
    for (int64_t i = 0; i < n; ++i) {
      rank[at.Value(i)] = static_cast<uint64_t>(
          (static_cast<unsigned __int128>(i) << bits) / static_cast<uint64_t>(n));
    }
    ranks.push_back(std::move(rank));
  }
  arrow::UInt64Builder z;
  ARROW_RETURN_NOT_OK(z.Reserve(n));
  for (int64_t row = 0; row < n; ++row) {
    uint64_t key = 0;
    for (int b = bits - 1; b >= 0; --b) {
      for (const auto& rank : ranks) key = (key << 1) | ((rank[row] >> b) & 1);
    }
    z.UnsafeAppend(key);
  }
  ARROW_ASSIGN_OR_RAISE(auto keys, z.Finish());
  return cp::SortIndices(*keys);
}

}  // namespace

Result<OptimizeMetrics> DeltaSink::Optimize(const OptimizeSettings& settings) {
  const std::string table = "delta table " + log_->table_uri();
  ARROW_ASSIGN_OR_RAISE(auto snapshot, log_->Load());
  ARROW_RETURN_NOT_OK(CheckWritable(snapshot, table, nullptr));
  ARROW_RETURN_NOT_OK(AdoptTable(snapshot));
  SetFileColumns();
  for (const auto& name : settings.zorder_by) {
    if (schema_->GetFieldIndex(name) < 0) {
      return Status::Invalid(table, " has no column '", name, "' to Z-order by");
    }
    if (std::find(partition_by_.begin(), partition_by_.end(), name) !=
        partition_by_.end()) {
      return Status::Invalid(table, ": '", name,
                             "' is a partition column, constant in each file: Z-order "
                             "by other columns");
    }
  }
  int64_t target = settings.target_size;
  if (target <= 0) {
    auto it = snapshot.metadata.configuration.find("delta.targetFileSize");
    target = it == snapshot.metadata.configuration.end()
                 ? int64_t{100} << 20
                 : std::max<int64_t>(1, std::atoll(it->second.c_str()));
  }
  // The files by partition.
  std::map<std::string, std::vector<size_t>> partitions;
  for (size_t i = 0; i < snapshot.files.size(); ++i) {
    std::string key;
    AppendPartitionValues(snapshot.files[i].partition_values, &key);
    partitions[key].push_back(i);
  }
  DeltaSource source(log_, snapshot);
  ARROW_RETURN_NOT_OK(source.GetSchema().status());
  auto read = [&](size_t index, auto&& f) -> Status {
    ARROW_ASSIGN_OR_RAISE(auto reader, source.OpenSplit(Split{snapshot.files[index].path,
                                                              std::to_string(index)},
                                                        {}, ScanRequest{}));
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto next, reader->Next());
      if (next.batch == nullptr) return Status::OK();
      ARROW_RETURN_NOT_OK(f(next.batch));
    }
  };
  OptimizeMetrics metrics;
  auto rewrite = [&]() -> Status {
    for (const auto& [key, files] : partitions) {
      metrics.total_considered_files += static_cast<int64_t>(files.size());
      const AddFile& first = snapshot.files[files.front()];
      const std::string decoded = file::PercentDecode(first.path);
      const size_t slash = decoded.rfind('/');
      const std::string folder =
          slash == std::string::npos ? "" : decoded.substr(0, slash);
      if (!settings.zorder_by.empty()) {
        // Every file of the partition, its rows in Z-order, cut into files of about
        // the target size.
        std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
        int64_t bytes = 0;
        for (size_t f : files) {
          bytes += snapshot.files[f].size;
          ARROW_RETURN_NOT_OK(read(f, [&](std::shared_ptr<arrow::RecordBatch> b) {
            batches.push_back(std::move(b));
            return Status::OK();
          }));
        }
        ARROW_ASSIGN_OR_RAISE(auto rows,
                              arrow::Table::FromRecordBatches(schema_, batches));
        batches.clear();
        ARROW_ASSIGN_OR_RAISE(auto order, ZOrder(*rows, settings.zorder_by));
        ARROW_ASSIGN_OR_RAISE(auto sorted, cp::Take(rows, order));
        ARROW_ASSIGN_OR_RAISE(auto combined, sorted.table()->CombineChunksToBatch());
        const int64_t n = combined->num_rows();
        const int64_t per_file =
            std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(n) * target /
                                                      std::max<int64_t>(1, bytes)));
        for (int64_t at = 0; at < n; at += per_file) {
          ARROW_ASSIGN_OR_RAISE(Output * out, NewOutput(folder, first.partition_values));
          ARROW_RETURN_NOT_OK(WriteTo(out, *combined->Slice(at, per_file)));
        }
        for (size_t f : files) replaced_.push_back(snapshot.files[f]);
        ++metrics.partitions_optimized;
        continue;
      }
      // Files under the target size (or with deleted rows to drop), bin-packed in
      // log order into files of about the target size.
      std::vector<std::vector<size_t>> bins(1);
      int64_t in_bin = 0;
      for (size_t f : files) {
        const AddFile& file = snapshot.files[f];
        if (file.size >= target && !file.deletion_vector) {
          ++metrics.total_files_skipped;
          continue;
        }
        if (in_bin > 0 && in_bin + file.size > target) {
          bins.emplace_back();
          in_bin = 0;
        }
        bins.back().push_back(f);
        in_bin += file.size;
      }
      bool optimized = false;
      for (const auto& bin : bins) {
        // A lone file is left as it is, unless it has rows to drop.
        if (bin.empty()) continue;
        if (bin.size() == 1 && !snapshot.files[bin[0]].deletion_vector) {
          ++metrics.total_files_skipped;
          continue;
        }
        ARROW_ASSIGN_OR_RAISE(Output * out, NewOutput(folder, first.partition_values));
        for (size_t f : bin) {
          ARROW_RETURN_NOT_OK(read(f, [&](std::shared_ptr<arrow::RecordBatch> b) {
            return WriteTo(out, *b);
          }));
          replaced_.push_back(snapshot.files[f]);
        }
        optimized = true;
      }
      if (optimized) ++metrics.partitions_optimized;
    }
    return Status::OK();
  };
  auto committed = [&]() -> Status {
    ARROW_RETURN_NOT_OK(rewrite());
    if (replaced_.empty()) return Status::OK();
    metrics.files_removed = static_cast<int64_t>(replaced_.size());
    ARROW_ASSIGN_OR_RAISE(std::string actions, AddActions(/*data_change=*/false));
    for (const auto& out : outputs_) metrics.files_added += out->rows > 0 ? 1 : 0;
    std::string parameters =
        "\"targetSize\":" + std::to_string(target) + ",\"zOrderBy\":";
    AppendJsonString(JsonStrings(settings.zorder_by), &parameters);
    const std::string commit =
        CommitInfo("OPTIMIZE", parameters, /*blind_append=*/false, NowMillis()) + actions;
    ARROW_ASSIGN_OR_RAISE(bool done, TryCommitOrKeep(read_version_ + 1, commit));
    if (!done) {
      return Status::Invalid(table, ": another writer committed version ",
                             read_version_ + 1,
                             " while this optimize was written; it is not retried");
    }
    ++read_version_;
    return Status::OK();
  }();
  if (!committed.ok()) {
    (void)Abort();
    replaced_.clear();
    return committed;
  }
  outputs_.clear();
  replaced_.clear();
  (void)MaybeCheckpoint();
  return metrics;
}

Result<std::string> DeltaSink::AddActions(bool data_change) {
  const int64_t now = NowMillis();
  std::string out;
  for (const auto& file : replaced_) {
    // A file is its path and its deletion vector: the remove names both.
    out += "{\"remove\":{\"path\":";
    AppendJsonString(file.path, &out);
    out += ",\"deletionTimestamp\":" + std::to_string(now) +
           ",\"dataChange\":" + (data_change ? "true" : "false") +
           ",\"extendedFileMetadata\":true,\"partitionValues\":";
    AppendPartitionValues(file.partition_values, &out);
    out += ",\"size\":" + std::to_string(file.size);
    if (file.deletion_vector) {
      const auto& dv = *file.deletion_vector;
      out += ",\"deletionVector\":{\"storageType\":";
      AppendJsonString(dv.storage_type, &out);
      out += ",\"pathOrInlineDv\":";
      AppendJsonString(dv.path_or_inline, &out);
      if (dv.storage_type != "i") out += ",\"offset\":" + std::to_string(dv.offset);
      out += ",\"sizeInBytes\":" + std::to_string(dv.size_in_bytes) +
             ",\"cardinality\":" + std::to_string(dv.cardinality) + "}";
    }
    out += "}}\n";
  }
  for (auto& output : outputs_) {
    if (!output->closed) {
      ARROW_RETURN_NOT_OK(output->writer->Close());
      output->closed = true;
    }
    const std::string uri = file::Storage::Join(log_->table_uri(), output->relative);
    if (output->rows == 0) {  // a rewritten file all of whose rows the merge replaced
      ARROW_RETURN_NOT_OK(log_->storage().DeleteFile(uri));
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(int64_t size, log_->storage().Size(uri));
    std::string stats = "{\"numRecords\":" + std::to_string(output->rows);
    std::string mins, maxes, nulls;
    for (int c = 0; c < file_schema_->num_fields(); ++c) {
      const auto& s = output->stats[c];
      std::string key;
      AppendJsonString(file_schema_->field(c)->name(), &key);
      const std::string lo = s.min ? StatText(*s.min) : "";
      const std::string hi = s.max ? StatText(*s.max) : "";
      if (!lo.empty() && !hi.empty()) {
        mins += (mins.empty() ? "" : ",") + key + ":" + lo;
        maxes += (maxes.empty() ? "" : ",") + key + ":" + hi;
      }
      // Nested columns' counts would be nested objects: none are kept for them.
      if (arrow::is_nested(file_schema_->field(c)->type()->id())) continue;
      nulls += (nulls.empty() ? "" : ",") + key + ":" + std::to_string(s.nulls);
    }
    stats += ",\"minValues\":{" + mins + "},\"maxValues\":{" + maxes +
             "},\"nullCount\":{" + nulls + "}}";
    out += "{\"add\":{\"path\":";
    AppendJsonString(file::PercentEncode(output->relative), &out);
    out += ",\"partitionValues\":";
    AppendPartitionValues(output->partition_values, &out);
    out += ",\"size\":" + std::to_string(size) +
           ",\"modificationTime\":" + std::to_string(now) +
           ",\"dataChange\":" + (data_change ? "true" : "false") + ",\"stats\":";
    AppendJsonString(stats, &out);
    out += "}}\n";
  }
  return out;
}

std::string DeltaSink::CommitInfo(const char* operation, const std::string& parameters,
                                  bool blind_append, int64_t now) const {
  std::string line = "{\"commitInfo\":{\"timestamp\":" + std::to_string(now) +
                     ",\"operation\":\"" + operation + "\",\"operationParameters\":{" +
                     parameters +
                     "},\"isBlindAppend\":" + (blind_append ? "true" : "false") +
                     ",\"engineInfo\":\"flowsql\"";
  if (read_version_ >= 0) line += ",\"readVersion\":" + std::to_string(read_version_);
  return line + "}}\n";
}

Result<bool> DeltaSink::TryCommitOrKeep(int64_t version, const std::string& actions) {
  auto committed = TryCommit(version, actions);
  if (!committed.ok()) {
    // Perhaps the commit landed and only its answer was lost: the files it names
    // must stay (Abort deletes outputs_); VACUUM removes them if it did not.
    outputs_.clear();
    appending_.clear();
  }
  return committed;
}

Result<bool> DeltaSink::TryCommit(int64_t version, const std::string& actions) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020lld.json", static_cast<long long>(version));
  const std::string dir = file::Storage::Join(log_->table_uri(), "_delta_log");
  if (log_->storage().local()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  }
  return log_->storage().PutIfAbsent(file::Storage::Join(dir, name), actions);
}

Status DeltaSink::Commit(const Epoch& epoch) {
  const std::string table = "delta table " + log_->table_uri();
  // A replayed epoch the table held when this run began: its files are dropped. (An
  // epoch of the same number that another run of the pipeline commits meanwhile, as
  // concurrent one-off statements into one table do, holds other rows: it is no
  // reason to drop these.)
  if (held_at_open_ >= epoch.number) return Abort();
  if (mode_ == WriteMode::kMerge) ARROW_RETURN_NOT_OK(Merge());
  ARROW_ASSIGN_OR_RAISE(std::string actions, AddActions());
  const int64_t now = NowMillis();
  while (true) {
    const int64_t version = read_version_ + 1;
    // An overwrite's first commit replaces (a new table's creates); later ones add.
    const bool replaces =
        overwrite_pending_ || (mode_ == WriteMode::kOverwrite && read_version_ < 0);
    const bool merge = mode_ == WriteMode::kMerge;
    std::string parameters = merge ? "\"mergeOn\":" : "\"mode\":";
    if (merge) {
      AppendJsonString(arrow::internal::JoinStrings(merge_.on, ","), &parameters);
    } else {
      parameters += replaces ? "\"Overwrite\""
                    : mode_ == WriteMode::kErrorIfExists && read_version_ < 0
                        ? "\"ErrorIfExists\""
                        : "\"Append\"";
    }
    parameters += ",\"partitionBy\":";
    AppendJsonString(JsonStrings(partition_by_), &parameters);
    std::string commit = CommitInfo(merge ? "MERGE" : "WRITE", parameters,
                                    !(overwrite_pending_ || merge), now);
    if (version == 0) {
      // timestamp_ntz columns need reader 3 and writer 7 with the timestampNtz feature.
      commit += schema_string_.find("\"timestamp_ntz\"") == std::string::npos
                    ? "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
                    : "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,"
                      "\"readerFeatures\":[\"timestampNtz\"],"
                      "\"writerFeatures\":[\"timestampNtz\"]}}\n";
      Metadata created;
      created.id = RandomUuid();
      created.schema_string = schema_string_;
      created.partition_columns = partition_by_;
      created.created_time = now;
      AppendMetadata(created, &commit);
    } else if (evolved_) {
      AppendMetadata(*evolved_, &commit);
    }
    commit += "{\"txn\":{\"appId\":";
    AppendJsonString(epoch.pipeline, &commit);
    commit += ",\"version\":" + std::to_string(epoch.number) +
              ",\"lastUpdated\":" + std::to_string(now) + "}}\n";
    commit += actions;
    ARROW_ASSIGN_OR_RAISE(bool committed, TryCommitOrKeep(version, commit));
    if (committed) break;
    // Another writer committed `version` first. Only a blind append into a table
    // that existed is retried; a create or an overwrite fails.
    if (overwrite_pending_ || mode_ == WriteMode::kMerge || evolved_ ||
        (version == 0 && mode_ != WriteMode::kAppend)) {
      return Status::Invalid(table, ": another writer committed version ", version,
                             " while this ",
                             overwrite_pending_           ? "overwrite"
                             : mode_ == WriteMode::kMerge ? "merge"
                             : evolved_                   ? "schema change"
                                                          : "new table",
                             " was written; it is not retried");
    }
    ARROW_ASSIGN_OR_RAISE(auto snapshot, log_->Load());
    ARROW_RETURN_NOT_OK(CheckWritable(snapshot, table, nullptr));
    if (snapshot.metadata.schema_string != schema_string_ ||
        snapshot.metadata.partition_columns != partition_by_) {
      return Status::Invalid(table, ": another writer changed the table's schema or ",
                             "partitioning in version ", snapshot.version,
                             "; this append is not retried");
    }
    read_version_ = snapshot.version;  // a blind append: try the next version
  }
  ++read_version_;
  evolved_.reset();
  outputs_.clear();
  appending_.clear();
  replaced_.clear();
  overwrite_pending_ = false;
  // The commit stands whatever becomes of the checkpoint, an optimization that the
  // next interval makes again; so with the compaction of optimize_every.
  (void)MaybeCheckpoint();
  if (optimize_every_ > 0 && ++commits_since_optimize_ >= optimize_every_) {
    commits_since_optimize_ = 0;
    (void)Optimize({});
  }
  return Status::OK();
}

Status DeltaSink::MaybeCheckpoint() {
  // Every delta.checkpointInterval versions (10 unless the table says otherwise),
  // as Spark and delta-rs do: a reader then replays at most that many commits.
  if (read_version_ <= 0 || read_version_ % checkpoint_interval_ != 0) {
    return Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto snapshot, log_->Load(read_version_));
  return log_->WriteCheckpoint(snapshot);
}

Status DeltaSink::Abort() {
  Status status;
  for (auto& output : outputs_) {
    if (!output->closed) (void)output->writer->Close();
    const std::string uri = file::Storage::Join(log_->table_uri(), output->relative);
    Status st = log_->storage().DeleteFile(uri);
    if (!st.ok() && status.ok()) status = st;
  }
  outputs_.clear();
  appending_.clear();
  incoming_.clear();
  incoming_deletes_.clear();
  if (mode_ == WriteMode::kMerge) replaced_.clear();
  return status;
}

Result<int64_t> DeltaSink::LastCommittedEpoch(const std::string& pipeline) {
  ARROW_ASSIGN_OR_RAISE(auto snapshot, log_->LoadLatest());
  if (!snapshot) return -1;
  auto it = snapshot->app_versions.find(pipeline);
  return it == snapshot->app_versions.end() ? -1 : it->second;
}

std::string DeltaSink::Describe() const {
  std::string out = "delta " + log_->table_uri();
  if (!partition_by_.empty()) {
    out += " partition_by=" + arrow::internal::JoinStrings(partition_by_, ",");
  }
  return out;
}

}  // namespace flowsql::delta
