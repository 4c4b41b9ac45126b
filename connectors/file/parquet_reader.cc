// Parquet through parquet::arrow::FileReader: only the wanted columns, only the row
// groups whose statistics may satisfy the filter (arrow::dataset's row-group test),
// one row group at a time.
#include <arrow/dataset/file_parquet.h>
#include <arrow/filesystem/localfs.h>
#include <arrow/io/file.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>

#include <filesystem>
#include <functional>
#include <string_view>

#include "connectors/file/format_reader.h"

namespace flowsql::file {

void CollectLeaves(const parquet::arrow::SchemaField& field, std::vector<int>* out) {
  if (field.is_leaf()) {
    out->push_back(field.column_index);
    return;
  }
  for (const auto& child : field.children) CollectLeaves(child, out);
}

namespace {

// Returns the row groups of `path` that may hold rows matching `filter`, or nullopt
// when the filter cannot be applied to this file (then all are read).
std::optional<std::vector<int>> PruneRowGroups(const Storage& storage,
                                               const std::string& path,
                                               const arrow::compute::Expression& filter,
                                               parquet::arrow::FileReader* reader) {
  auto format = std::make_shared<arrow::dataset::ParquetFileFormat>();
  arrow::dataset::FileSource source(storage.PathOf(path), storage.filesystem());
  auto fragment = format->MakeFragment(source, arrow::compute::literal(true), nullptr);
  if (!fragment.ok()) return std::nullopt;
  auto parquet_fragment =
      std::static_pointer_cast<arrow::dataset::ParquetFileFragment>(*fragment);
  if (!parquet_fragment->EnsureCompleteMetadata(reader).ok()) return std::nullopt;
  auto physical = parquet_fragment->ReadPhysicalSchema();
  if (!physical.ok()) return std::nullopt;
  auto bound = filter.Bind(**physical);
  if (!bound.ok()) return std::nullopt;
  auto subset = parquet_fragment->Subset(*bound);
  if (!subset.ok()) return std::nullopt;
  return std::static_pointer_cast<arrow::dataset::ParquetFileFragment>(*subset)
      ->row_groups();
}

// Gives the leaves under `field` (at any depth under lists, structs and maps) the type
// `retype` returns for each (nullptr: keeps the leaf's), and the fields holding them the
// types that follow; returns whether any changed.
bool RetypeLeaves(parquet::arrow::SchemaField* field,
                  const std::function<std::shared_ptr<arrow::DataType>(
                      const parquet::arrow::SchemaField&)>& retype) {
  const auto& type = field->field->type();
  std::shared_ptr<arrow::DataType> retyped;
  if (field->is_leaf()) {
    retyped = retype(*field);
    if (retyped == nullptr) return false;
  } else {
    bool changed = false;
    for (auto& child : field->children) changed |= RetypeLeaves(&child, retype);
    if (!changed) return false;
    arrow::FieldVector children;
    for (const auto& child : field->children) children.push_back(child.field);
    switch (type->id()) {
      case arrow::Type::LIST:
        retyped = arrow::list(children[0]);
        break;
      case arrow::Type::LARGE_LIST:
        retyped = arrow::large_list(children[0]);
        break;
      case arrow::Type::MAP:
        retyped = std::make_shared<arrow::MapType>(
            children[0], static_cast<const arrow::MapType&>(*type).keys_sorted());
        break;
      case arrow::Type::FIXED_SIZE_LIST:
        retyped = arrow::fixed_size_list(
            children[0], static_cast<const arrow::FixedSizeListType&>(*type).list_size());
        break;
      case arrow::Type::STRUCT:
        retyped = arrow::struct_(children);
        break;
      default:  // no other group the manifest makes holds columns
        return false;
    }
  }
  field->field = field->field->WithType(retyped);
  return true;
}

// Spark names itself in the key-value metadata of the Parquet files it writes.
constexpr std::string_view kSparkSchemaKey = "org.apache.spark.sql.parquet.row.metadata";

class ParquetReader : public FormatReader {
 public:
  explicit ParquetReader(ReadSettings settings) : settings_(std::move(settings)) {}

  Result<FileInfo> Inspect(const std::string& path) override {
    FileInfo info;
    info.path = path;
    ARROW_ASSIGN_OR_RAISE(auto reader, OpenReader(path));
    // The schema the batches will have: GetSchema() would read the file's again.
    arrow::FieldVector fields;
    for (const auto& field : reader->manifest().schema_fields) {
      fields.push_back(field.field);
    }
    info.raw_schema = arrow::schema(std::move(fields));
    ARROW_ASSIGN_OR_RAISE(info.schema, ApplyTypeSettings(info.raw_schema, settings_));
    info.row_groups = reader->num_row_groups();
    const auto metadata = reader->parquet_reader()->metadata();
    // The size that splitting needs, without asking the store: the row groups' bytes.
    for (int g = 0; g < info.row_groups; ++g) {
      info.row_group_rows.push_back(metadata->RowGroup(g)->num_rows());
      info.size += metadata->RowGroup(g)->total_compressed_size();
    }
    info.rows = reader->parquet_reader()->metadata()->num_rows();
    return info;
  }

  Result<std::shared_ptr<arrow::RecordBatchReader>> Open(const FileScan& scan) override {
    const std::string& path = scan.file->path;
    ARROW_ASSIGN_OR_RAISE(auto reader, OpenReader(path));
    if (scan.stats) scan.stats->files_opened++;
    const auto& manifest = reader->manifest();
    std::vector<int> leaves;
    for (const auto& name : scan.columns) {
      for (const auto& field : manifest.schema_fields) {
        if (field.field->name() == name) CollectLeaves(field, &leaves);
      }
    }
    if (leaves.empty() && !manifest.schema_fields.empty()) {
      CollectLeaves(manifest.schema_fields[0], &leaves);
    }
    int total = reader->num_row_groups();
    std::vector<int> groups;
    std::optional<std::vector<int>> pruned;
    if (!scan.filter.Equals(arrow::compute::literal(true))) {
      pruned = PruneRowGroups(*settings_.storage, path, scan.filter, reader.get());
    }
    if (pruned) {
      groups = *pruned;
    } else {
      for (int i = 0; i < total; ++i) groups.push_back(i);
    }
    const int end = scan.row_group_end < 0 ? total : std::min(scan.row_group_end, total);
    std::erase_if(groups, [&](int g) { return g < scan.row_group_begin || g >= end; });
    total = end - std::min(scan.row_group_begin, end);
    if (scan.stats) {
      scan.stats->row_groups_read += static_cast<int64_t>(groups.size());
      scan.stats->row_groups_skipped += total - static_cast<int64_t>(groups.size());
    }
    auto batches = reader->GetRecordBatchReader(groups, leaves);
    if (!batches.ok()) return WithPath(batches.status(), path);
    // The batch reader needs the FileReader alive.
    return NameErrors(std::make_shared<Holder>(std::move(reader), std::move(*batches)),
                      path, scan.stats);
  }

 private:
  // Keeps a FileReader alive for the batch reader made from it.
  class Holder : public arrow::RecordBatchReader {
   public:
    Holder(std::unique_ptr<parquet::arrow::FileReader> file,
           std::unique_ptr<arrow::RecordBatchReader> batches)
        : file_(std::move(file)), batches_(std::move(batches)) {}
    std::shared_ptr<arrow::Schema> schema() const override { return batches_->schema(); }
    Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
      return batches_->ReadNext(batch);
    }
    Status Close() override { return batches_->Close(); }

   private:
    std::unique_ptr<parquet::arrow::FileReader> file_;
    std::unique_ptr<arrow::RecordBatchReader> batches_;
  };

  Result<std::unique_ptr<parquet::arrow::FileReader>> OpenReader(
      const std::string& path) {
    ARROW_ASSIGN_OR_RAISE(auto file, settings_.storage->OpenFile(path));
    parquet::ArrowReaderProperties props;
    props.set_batch_size(settings_.batch_size > 0 ? settings_.batch_size : 64 * 1024);
    props.set_use_threads(true);
    props.set_pre_buffer(true);
    // Nanoseconds (Arrow's default) hold only the years 1677 to 2262: a later or earlier
    // INT96 timestamp would wrap around silently. Spark and DuckDB read microseconds.
    props.set_coerce_int96_timestamp_unit(arrow::TimeUnit::MICRO);
    parquet::arrow::FileReaderBuilder builder;
    try {
      ARROW_RETURN_NOT_OK(WithPath(builder.Open(file), path));
    } catch (const std::exception& e) {
      return Status::Invalid(path, ": not a Parquet file: ", e.what());
    }
    builder.properties(props);
    auto reader = builder.Build();
    if (!reader.ok()) return WithPath(reader.status(), path);
    // The reader takes each column's type from its manifest when it makes the column's
    // reader, so a type changed there, before any read, is the type read:
    // - Files written by arrow-rs, Polars or DuckDB often store string_view in their
    //   Arrow schema, which the reader would decode into views: slower than plain
    //   strings, which is what the engine uses (plan::EngineType).
    // - INT96 timestamps are read in microseconds (coerce_int96_timestamp_unit above).
    //   Spark writes its TIMESTAMP, an instant, as INT96 by default
    //   (spark.sql.parquet.outputTimestampType), in UTC: from Spark they read as
    //   TIMESTAMPTZ, as Spark reads them and as its TIMESTAMP_MICROS encoding reads.
    const auto& metadata = *(*reader)->parquet_reader()->metadata();
    const auto& key_values = metadata.key_value_metadata();
    const bool from_spark = key_values && key_values->Contains(kSparkSchemaKey);
    auto retype =
        [&](const parquet::arrow::SchemaField& leaf) -> std::shared_ptr<arrow::DataType> {
      switch (leaf.field->type()->id()) {
        case arrow::Type::STRING_VIEW:
          return arrow::utf8();
        case arrow::Type::BINARY_VIEW:
          return arrow::binary();
        case arrow::Type::TIMESTAMP:
          if (from_spark &&
              metadata.schema()->Column(leaf.column_index)->physical_type() ==
                  parquet::Type::INT96) {
            return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
          }
          return nullptr;
        default:
          return nullptr;
      }
    };
    auto& manifest = const_cast<parquet::arrow::SchemaManifest&>((*reader)->manifest());
    for (auto& field : manifest.schema_fields) RetypeLeaves(&field, retype);
    return std::move(*reader);
  }

  ReadSettings settings_;
};

}  // namespace

std::unique_ptr<FormatReader> MakeParquetReader(const ReadSettings& settings) {
  return std::make_unique<ParquetReader>(settings);
}

}  // namespace flowsql::file
