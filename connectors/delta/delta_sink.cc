#include "connectors/delta/delta_sink.h"

#include <arrow/compute/api.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>
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

/// `path` as the log writes it: an RFC 2396 URI path ('%' and characters outside
/// the unreserved ones and '/' escaped).
std::string PercentEncode(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~' ||
        c == '=') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
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

DeltaSink::DeltaSink(std::shared_ptr<DeltaLog> log, WriteMode mode,
                     std::vector<std::string> partition_by)
    : log_(std::move(log)), mode_(mode), partition_by_(std::move(partition_by)) {}

DeltaSink::~DeltaSink() { (void)Abort(); }

Status DeltaSink::Open(const std::shared_ptr<arrow::Schema>& schema,
                       const SinkContext& context) {
  const std::string table = "delta table " + log_->table_uri();
  if (!log_->storage().local()) {
    return Status::NotImplemented(
        table, ": writing Delta tables to ", log_->storage().scheme(),
        " needs conditional puts for atomic commits, which flowsql does not make yet; "
        "write to a local folder");
  }
  ARROW_ASSIGN_OR_RAISE(schema_string_, SchemaToDelta(*schema));
  ARROW_ASSIGN_OR_RAISE(schema_, SchemaFromDelta(schema_string_));
  ARROW_ASSIGN_OR_RAISE(auto latest, log_->LoadLatest());
  if (latest) {
    const Snapshot& snapshot = *latest;
    read_version_ = snapshot.version;
    if (mode_ == WriteMode::kErrorIfExists && !context.resumed) {
      return Status::Invalid(table, " already exists (version ", read_version_,
                             "): use mode 'append' or 'overwrite'");
    }
    ARROW_RETURN_NOT_OK(CheckWritable(snapshot, table, mode_ == WriteMode::kOverwrite));
    ARROW_ASSIGN_OR_RAISE(auto existing,
                          SchemaFromDelta(snapshot.metadata.schema_string));
    // The query's columns must be the table's, by name, with the same types.
    for (const auto& field : existing->fields()) {
      auto ours = schema_->GetFieldByName(field->name());
      if (ours == nullptr) {
        return Status::Invalid(table, " has column '", field->name(), "' (",
                               field->type()->ToString(), "), which the query lacks");
      }
      if (!ours->type()->Equals(*field->type())) {
        return Status::Invalid(table, ": column '", field->name(), "' is ",
                               field->type()->ToString(), " in the table but ",
                               ours->type()->ToString(), " in the query");
      }
    }
    for (const auto& field : schema_->fields()) {
      if (existing->GetFieldIndex(field->name()) < 0) {
        return Status::Invalid(table, " has no column '", field->name(), "' (",
                               field->type()->ToString(), ")");
      }
    }
    if (!partition_by_.empty() && partition_by_ != snapshot.metadata.partition_columns) {
      return Status::Invalid(
          table, " is partitioned by [",
          arrow::internal::JoinStrings(snapshot.metadata.partition_columns, ", "),
          "], not by the partition_by given");
    }
    partition_by_ = snapshot.metadata.partition_columns;
    auto interval = snapshot.metadata.configuration.find("delta.checkpointInterval");
    if (interval != snapshot.metadata.configuration.end()) {
      checkpoint_interval_ = std::max<int64_t>(1, std::atoll(interval->second.c_str()));
    }
    auto app = snapshot.app_versions.find(context.pipeline);
    if (app != snapshot.app_versions.end()) held_at_open_ = app->second;
    schema_ = existing;  // the table's column order
    schema_string_ = snapshot.metadata.schema_string;
    if (mode_ == WriteMode::kOverwrite && !context.resumed) {
      overwrite_pending_ = true;
      replaced_ = snapshot.files;
    }
  }
  arrow::FieldVector file_fields;
  for (const auto& field : schema_->fields()) {
    if (std::find(partition_by_.begin(), partition_by_.end(), field->name()) ==
        partition_by_.end()) {
      file_fields.push_back(field);
    }
  }
  for (const auto& name : partition_by_) {
    if (schema_->GetFieldIndex(name) < 0) {
      return Status::Invalid(table, ": partition column '", name,
                             "' is not a column of the query");
    }
  }
  file_schema_ = arrow::schema(std::move(file_fields));
  for (const auto& field : file_schema_->fields()) {
    file_columns_.push_back(schema_->GetFieldIndex(field->name()));
  }
  return Status::OK();
}

Result<DeltaSink::Output*> DeltaSink::OutputFor(
    const std::string& folder,
    const std::map<std::string, std::optional<std::string>>& values) {
  auto it = outputs_.find(folder);
  if (it != outputs_.end()) return it->second.get();
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
  Output* made = out.get();
  outputs_[folder] = std::move(out);
  return made;
}

Status DeltaSink::Write(const std::shared_ptr<arrow::RecordBatch>& batch) {
  ARROW_ASSIGN_OR_RAISE(auto rows, ConformByName(batch, schema_, Describe()));
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
    ARROW_ASSIGN_OR_RAISE(Output * out, OutputFor(folder, values));
    arrow::ArrayVector columns;
    for (int i : file_columns_) columns.push_back(group.rows->column(i));
    auto part = arrow::RecordBatch::Make(file_schema_, group.rows->num_rows(), columns);
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
  }
  return Status::OK();
}

Result<std::string> DeltaSink::AddActions() {
  const int64_t now = NowMillis();
  std::string out;
  for (const auto& file : replaced_) {
    // A file is its path and its deletion vector: the remove names both.
    out += "{\"remove\":{\"path\":";
    AppendJsonString(file.path, &out);
    out += ",\"deletionTimestamp\":" + std::to_string(now) +
           ",\"dataChange\":true,\"extendedFileMetadata\":true,\"partitionValues\":";
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
  for (auto& [folder, output] : outputs_) {
    if (!output->closed) {
      ARROW_RETURN_NOT_OK(output->writer->Close());
      output->closed = true;
    }
    const std::string uri = file::Storage::Join(log_->table_uri(), output->relative);
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
    AppendJsonString(PercentEncode(output->relative), &out);
    out += ",\"partitionValues\":";
    AppendPartitionValues(output->partition_values, &out);
    out += ",\"size\":" + std::to_string(size) +
           ",\"modificationTime\":" + std::to_string(now) +
           ",\"dataChange\":true,\"stats\":";
    AppendJsonString(stats, &out);
    out += "}}\n";
  }
  return out;
}

Result<bool> DeltaSink::TryCommit(int64_t version, const std::string& actions) {
  const std::string dir =
      log_->storage().PathOf(file::Storage::Join(log_->table_uri(), "_delta_log"));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char name[32];
  std::snprintf(name, sizeof(name), "%020lld.json", static_cast<long long>(version));
  const std::string final_path = dir + "/" + name;
  const std::string temp =
      dir + "/.tmp-" + file::RandomHex() + file::RandomHex() + ".json";
  const int fd = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(temp, ": ", std::strerror(errno));
  size_t written = 0;
  while (written < actions.size()) {
    const ssize_t n = ::write(fd, actions.data() + written, actions.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return Status::IOError(temp, ": ", std::strerror(e));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    ::unlink(temp.c_str());
    return Status::IOError(temp, ": fsync failed");
  }
  // link() fails when the version exists: another writer committed it first.
  const int linked = ::link(temp.c_str(), final_path.c_str());
  const int e = errno;
  ::unlink(temp.c_str());
  if (linked == 0) return true;
  if (e == EEXIST) return false;
  return Status::IOError(final_path, ": ", std::strerror(e));
}

Status DeltaSink::Commit(const Epoch& epoch) {
  const std::string table = "delta table " + log_->table_uri();
  // A replayed epoch the table held when this run began: its files are dropped. (An
  // epoch of the same number that another run of the pipeline commits meanwhile, as
  // concurrent one-off statements into one table do, holds other rows: it is no
  // reason to drop these.)
  if (held_at_open_ >= epoch.number) return Abort();
  ARROW_ASSIGN_OR_RAISE(std::string actions, AddActions());
  const int64_t now = NowMillis();
  while (true) {
    const int64_t version = read_version_ + 1;
    // An overwrite's first commit replaces (a new table's creates); later ones add.
    const bool replaces =
        overwrite_pending_ || (mode_ == WriteMode::kOverwrite && read_version_ < 0);
    std::string commit = "{\"commitInfo\":{\"timestamp\":" + std::to_string(now) +
                         ",\"operation\":\"WRITE\",\"operationParameters\":{\"mode\":";
    commit += replaces ? "\"Overwrite\""
              : mode_ == WriteMode::kErrorIfExists && read_version_ < 0
                  ? "\"ErrorIfExists\""
                  : "\"Append\"";
    commit += ",\"partitionBy\":";
    std::string columns = "[";
    for (size_t i = 0; i < partition_by_.size(); ++i) {
      if (i) columns += ",";
      AppendJsonString(partition_by_[i], &columns);
    }
    columns += "]";
    AppendJsonString(columns, &commit);
    commit += "},\"isBlindAppend\":";
    commit += overwrite_pending_ ? "false" : "true";
    commit += ",\"engineInfo\":\"flowsql\"";
    if (read_version_ >= 0) commit += ",\"readVersion\":" + std::to_string(read_version_);
    commit += "}}\n";
    if (version == 0) {
      // timestamp_ntz columns need reader 3 and writer 7 with the timestampNtz feature.
      commit += schema_string_.find("\"timestamp_ntz\"") == std::string::npos
                    ? "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
                    : "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,"
                      "\"readerFeatures\":[\"timestampNtz\"],"
                      "\"writerFeatures\":[\"timestampNtz\"]}}\n";
      commit +=
          "{\"metaData\":{\"id\":\"" + RandomUuid() +
          "\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":";
      AppendJsonString(schema_string_, &commit);
      commit += ",\"partitionColumns\":" + columns +
                ",\"configuration\":{},\"createdTime\":" + std::to_string(now) + "}}\n";
    }
    commit += "{\"txn\":{\"appId\":";
    AppendJsonString(epoch.pipeline, &commit);
    commit += ",\"version\":" + std::to_string(epoch.number) +
              ",\"lastUpdated\":" + std::to_string(now) + "}}\n";
    commit += actions;
    ARROW_ASSIGN_OR_RAISE(bool committed, TryCommit(version, commit));
    if (committed) break;
    // Another writer committed `version` first. Only a blind append into a table
    // that existed is retried; a create or an overwrite fails.
    if (overwrite_pending_ || (version == 0 && mode_ != WriteMode::kAppend)) {
      return Status::Invalid(table, ": another writer committed version ", version,
                             " while this ",
                             overwrite_pending_ ? "overwrite" : "new table",
                             " was written; it is not retried");
    }
    ARROW_ASSIGN_OR_RAISE(auto snapshot, log_->Load());
    ARROW_RETURN_NOT_OK(CheckWritable(snapshot, table, false));
    if (snapshot.metadata.schema_string != schema_string_ ||
        snapshot.metadata.partition_columns != partition_by_) {
      return Status::Invalid(table, ": another writer changed the table's schema or ",
                             "partitioning in version ", snapshot.version,
                             "; this append is not retried");
    }
    read_version_ = snapshot.version;  // a blind append: try the next version
  }
  ++read_version_;
  outputs_.clear();
  replaced_.clear();
  overwrite_pending_ = false;
  // The commit stands whatever becomes of the checkpoint, an optimization that the
  // next interval makes again.
  (void)MaybeCheckpoint();
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
  for (auto& [folder, output] : outputs_) {
    if (!output->closed) (void)output->writer->Close();
    const std::string uri = file::Storage::Join(log_->table_uri(), output->relative);
    Status st = log_->storage().DeleteFile(uri);
    if (!st.ok() && status.ok()) status = st;
  }
  outputs_.clear();
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
