#include "connectors/delta/delta_source.h"

#include <arrow/compute/api.h>
#include <simdjson.h>

#include "common/conform.h"
#include "connectors/delta/deletion_vector.h"
#include "connectors/delta/delta_schema.h"
#include "connectors/delta/json.h"
#include "connectors/file/file_source.h"
#include "connectors/file/partitions.h"
#include "connectors/file/read_settings.h"

namespace flowsql::delta {

namespace {

namespace cp = arrow::compute;
namespace dom = simdjson::dom;

/// Spark keeps the first 32 characters of a string in statistics: a longer maximum
/// may be a truncated one, below the real maximum.
constexpr size_t kStringStatsPrefix = 32;

/// A statistic of a column of `type` as a scalar; nullptr when it cannot be used.
std::shared_ptr<arrow::Scalar> StatScalar(dom::element value,
                                          const std::shared_ptr<arrow::DataType>& type,
                                          bool is_max) {
  std::string text;
  std::string_view s;
  if (value.get_string().get(s) == simdjson::SUCCESS) {
    text = std::string(s);
  } else if (value.is_number()) {
    text = simdjson::minify(value);
  } else {
    return nullptr;
  }
  switch (type->id()) {
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::DATE32:
      break;
    case arrow::Type::DECIMAL128:
      // JSON numbers come back as doubles: exact to 15 digits only.
      if (static_cast<const arrow::DecimalType&>(*type).precision() > 15) return nullptr;
      break;
    case arrow::Type::STRING:
      if (is_max && text.size() >= kStringStatsPrefix) return nullptr;
      return arrow::MakeScalar(text);
    case arrow::Type::TIMESTAMP: {
      // Kept in milliseconds ("2024-03-01T10:00:00.123Z"): the maximum may be up to
      // 999 microseconds below the real one.
      if (!text.empty() && text.back() == 'Z') text.pop_back();
      auto parsed = arrow::Scalar::Parse(type, text);
      if (!parsed.ok()) return nullptr;
      if (!is_max) return *parsed;
      auto& ts = static_cast<arrow::TimestampScalar&>(**parsed);
      return std::make_shared<arrow::TimestampScalar>(ts.value + 999, type);
    }
    default:
      // Floating point: NaN is in no statistic but passes `x > 1`; others: unused.
      return nullptr;
  }
  auto parsed = arrow::Scalar::Parse(type, text);
  return parsed.ok() ? *parsed : nullptr;
}

}  // namespace

DeltaSource::DeltaSource(std::shared_ptr<DeltaLog> log, std::optional<int64_t> version,
                         std::optional<int64_t> timestamp_ms, int64_t batch_size)
    : log_(std::move(log)),
      version_(version),
      timestamp_ms_(timestamp_ms),
      batch_size_(batch_size) {}

DeltaSource::DeltaSource(std::shared_ptr<DeltaLog> log, Snapshot snapshot)
    : log_(std::move(log)),
      batch_size_(0),
      given_(true),
      snapshot_(std::move(snapshot)) {}

Status DeltaSource::Prepare() {
  if (prepared_) return prepare_status_;
  prepared_ = true;
  prepare_status_ = [&]() -> Status {
    std::optional<int64_t> version = version_;
    if (timestamp_ms_) {
      ARROW_ASSIGN_OR_RAISE(version, log_->VersionAt(*timestamp_ms_));
    }
    if (!given_) {
      ARROW_ASSIGN_OR_RAISE(snapshot_, log_->Load(version));
    }
    const std::string table = "delta table " + log_->table_uri();
    ARROW_RETURN_NOT_OK(CheckReadable(snapshot_, table));
    auto schema = SchemaFromDelta(snapshot_.metadata.schema_string);
    if (!schema.ok()) {
      return schema.status().WithMessage(table, ": ", schema.status().message());
    }
    schema_ = *schema;
    maps_columns_ = MapsColumns(snapshot_);
    partition_columns_ = snapshot_.metadata.partition_columns;
    for (const auto& name : partition_columns_) {
      if (schema_->GetFieldIndex(name) < 0) {
        return Status::Invalid(table, ": partition column '", name,
                               "' is not in the schema");
      }
    }
    exact_rows_ = 0;
    for (size_t i = 0; i < snapshot_.files.size(); ++i) {
      int64_t rows = -1;
      known_.push_back(Known(i, &rows));
      const auto& dv = snapshot_.files[i].deletion_vector;
      exact_rows_ = rows < 0 || exact_rows_ < 0
                        ? -1
                        : exact_rows_ + rows - (dv ? dv->cardinality : 0);
    }
    file::ReadSettings settings;
    settings.format = file::FileFormat::kParquet;
    settings.storage = log_->storage_ptr();
    settings.batch_size = batch_size_;
    reader_ = file::MakeParquetReader(settings);
    return Status::OK();
  }();
  return prepare_status_;
}

std::vector<cp::Expression> DeltaSource::Known(size_t index, int64_t* rows_out) const {
  const AddFile& file = snapshot_.files[index];
  std::vector<cp::Expression> known;
  for (const auto& name : partition_columns_) {
    auto field = schema_->GetFieldByName(name);
    auto it = file.partition_values.find(PhysicalName(*field));
    auto value = PartitionScalar(
        it == file.partition_values.end() ? std::nullopt : it->second, field->type());
    if (!value.ok()) continue;
    known.push_back((*value)->is_valid
                        ? cp::equal(cp::field_ref(name), cp::literal(*value))
                        : cp::is_null(cp::field_ref(name)));
  }
  if (file.stats.empty()) return known;
  dom::parser parser;
  dom::object stats;
  if (parser.parse(file.stats).get_object().get(stats) != simdjson::SUCCESS) return known;
  const int64_t rows = ValueOr(stats["numRecords"].get_int64(), int64_t{-1});
  *rows_out = rows;
  dom::object mins, maxes, nulls;
  const bool has_min = stats["minValues"].get_object().get(mins) == simdjson::SUCCESS;
  const bool has_max = stats["maxValues"].get_object().get(maxes) == simdjson::SUCCESS;
  const bool has_nulls = stats["nullCount"].get_object().get(nulls) == simdjson::SUCCESS;
  for (const auto& field : schema_->fields()) {
    if (std::find(partition_columns_.begin(), partition_columns_.end(), field->name()) !=
        partition_columns_.end()) {
      continue;
    }
    const std::string physical = PhysicalName(*field);
    auto ref = cp::field_ref(field->name());
    const int64_t null_count =
        has_nulls ? ValueOr(nulls[physical].get_int64(), int64_t{-1}) : -1;
    if (rows >= 0 && null_count == rows) {
      known.push_back(cp::is_null(ref));
      continue;
    }
    std::vector<cp::Expression> range;
    dom::element v;
    if (has_min && mins[physical].get(v) == simdjson::SUCCESS) {
      if (auto s = StatScalar(v, field->type(), false)) {
        range.push_back(cp::greater_equal(ref, cp::literal(std::move(s))));
      }
    }
    if (has_max && maxes[physical].get(v) == simdjson::SUCCESS) {
      if (auto s = StatScalar(v, field->type(), true)) {
        range.push_back(cp::less_equal(ref, cp::literal(std::move(s))));
      }
    }
    if (range.empty()) continue;
    auto in_range = cp::and_(std::move(range));
    // As Arrow's Parquet statistics say it: rows in the range, or NULL.
    known.push_back(null_count == 0 ? in_range : cp::or_(in_range, cp::is_null(ref)));
  }
  return known;
}

Result<std::shared_ptr<arrow::Schema>> DeltaSource::GetSchema() {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Prepare());
  return schema_;
}

Result<std::vector<Split>> DeltaSource::PlanSplits(const ScanRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Prepare());
  const bool filtered = !request.filter.Equals(cp::literal(true));
  std::vector<Split> splits;
  size_t skipped = 0;
  for (size_t i = 0; i < snapshot_.files.size(); ++i) {
    if (filtered) {
      cp::Expression simplified;
      auto keep = file::MayMatch(request.filter, *schema_, known_[i], &simplified);
      if (keep.ok() && !*keep) {
        ++skipped;
        continue;
      }
    }
    splits.push_back(Split{snapshot_.files[i].path, std::to_string(i)});
  }
  explained_ = " version=" + std::to_string(snapshot_.version) +
               " files=" + std::to_string(splits.size()) + " read, " +
               std::to_string(skipped) + " skipped";
  return splits;
}

Result<std::unique_ptr<SplitReader>> DeltaSource::OpenSplit(const Split& split,
                                                            const SplitRange& range,
                                                            const ScanRequest& request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ARROW_RETURN_NOT_OK(Prepare());
  }
  char* end = nullptr;
  const long long index = std::strtoll(split.payload.c_str(), &end, 10);
  if (*end != '\0' || index < 0 || static_cast<size_t>(index) >= snapshot_.files.size() ||
      snapshot_.files[index].path != split.id) {
    return Status::Invalid("not a file of ", Describe(), ": '", split.id, "'");
  }
  const AddFile& add = snapshot_.files[index];
  ARROW_ASSIGN_OR_RAISE(auto out, RequestedSchema(schema_, request));
  file::FileInfo info;
  info.path = log_->DataFileUri(add.path);
  file::FileScan scan;
  scan.file = &info;
  scan.schema = schema_;
  std::vector<std::pair<int, std::shared_ptr<arrow::Scalar>>> constants;
  for (int i = 0; i < out->num_fields(); ++i) {
    const auto& field = out->field(i);
    if (std::find(partition_columns_.begin(), partition_columns_.end(), field->name()) !=
        partition_columns_.end()) {
      auto it = add.partition_values.find(PhysicalName(*field));
      ARROW_ASSIGN_OR_RAISE(
          auto value,
          PartitionScalar(it == add.partition_values.end() ? std::nullopt : it->second,
                          field->type()));
      constants.emplace_back(i, std::move(value));
    } else {
      scan.columns.push_back(maps_columns_ ? PhysicalName(*field) : field->name());
    }
  }
  // Row groups are skipped by the filter with this file's partition values in it;
  // not in a file with deleted rows, whose rows are counted from the file's first.
  if (!add.deletion_vector && !maps_columns_) {
    cp::Expression simplified;
    auto keep = file::MayMatch(request.filter, *schema_, known_[index], &simplified);
    scan.filter = keep.ok() ? simplified : cp::literal(true);
  }
  int64_t skip = 0, stop = -1;
  ARROW_RETURN_NOT_OK(file::ParseRows(range.start, split.id, &skip));
  ARROW_RETURN_NOT_OK(file::ParseRows(range.end, split.id, &stop));
  ARROW_ASSIGN_OR_RAISE(auto reader, reader_->Open(scan));
  if (add.deletion_vector) {
    ARROW_ASSIGN_OR_RAISE(auto deleted, ReadDeletionVector(*add.deletion_vector, *log_));
    reader = SkipDeletedRows(std::move(reader), std::move(deleted));
  }
  if (maps_columns_) {
    reader = file::MapBatches(std::move(reader),
                              [schema = schema_](std::shared_ptr<arrow::RecordBatch> b) {
                                return ToLogicalNames(b, *schema);
                              });
  }
  return file::MakeFileSplitReader(std::move(reader), std::move(out), info.path, skip,
                                   stop, batch_size_, std::move(constants));
}

int64_t DeltaSource::ExactRows() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return prepared_ && prepare_status_.ok() ? exact_rows_ : -1;
}

std::string DeltaSource::Describe() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return "delta " + log_->table_uri() + explained_;
}

}  // namespace flowsql::delta
