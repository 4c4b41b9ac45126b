#include "connectors/delta/delta_connector.h"

#include <arrow/array/util.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/util/string.h>

#include "connectors/delta/delta_sink.h"
#include "connectors/delta/delta_source.h"
#include "connectors/delta/delta_vacuum.h"
#include "connectors/file/storage.h"

namespace flowsql {

namespace {

constexpr char kScheme[] = "delta://";

/// The table's folder: 'delta://lake/t' -> "lake/t", 'delta://s3://b/t' -> "s3://b/t";
/// read_delta's argument as it is.
std::string TableUri(const std::string& uri) {
  if (uri.rfind(kScheme, 0) == 0) return uri.substr(sizeof(kScheme) - 1);
  return uri;
}

std::vector<OptionSpec> SourceOptions() {
  using T = OptionType;
  std::vector<OptionSpec> options = {
      {"version", T::kInt, "", "Time travel: read this version of the table"},
      {"timestamp", T::kString, "",
       "Time travel: read the latest version committed at or before this time "
       "('2024-03-01 10:00:00', UTC unless it names a zone)"},
      {"batch_size", T::kInt, "0", "Rows per batch read (0: the Parquet reader's)"},
      {"history", T::kBool, "false",
       "The table's commits rather than its rows (DESCRIBE HISTORY, delta_history()): "
       "version, timestamp, operation, operationParameters, engineInfo, newest first"},
      {"optimize", T::kBool, "false",
       "Compact the table, then give what was done (OPTIMIZE, delta_optimize()): "
       "files_added, files_removed, partitions_optimized, total_considered_files, "
       "total_files_skipped"},
      {"zorder_by", T::kString, "",
       "optimize: rewrite each partition's files with their rows in Z-order of these "
       "columns, comma-separated (OPTIMIZE ... ZORDER BY (a, b))"},
      {"target_size", T::kSize, "0",
       "optimize: the size of the files to make; smaller ones are compacted (0: the "
       "table's delta.targetFileSize, else 100MiB)"},
      {"vacuum", T::kBool, "false",
       "Delete the files no version within the retention needs, giving their paths "
       "(VACUUM, delta_vacuum())"},
      {"retain_hours", T::kDouble, "",
       "vacuum: keep files removed less than this many hours ago (VACUUM ... RETAIN n "
       "HOURS; default: the table's delta.deletedFileRetentionDuration, 7 days)"},
      {"dry_run", T::kBool, "false",
       "vacuum: list the files, delete nothing (VACUUM ... DRY RUN)"},
      {"enforce_retention", T::kBool, "true",
       "vacuum: refuse a retain_hours below the table's retention"},
  };
  auto storage = file::StorageOptionSpecs();
  options.insert(options.end(), storage.begin(), storage.end());
  return options;
}

std::vector<OptionSpec> SinkOptions() {
  using T = OptionType;
  return {
      {"mode",
       T::kEnum,
       "error_if_exists",
       "append: add to the table; overwrite: replace its files in the same commit "
       "(earlier versions stay readable); error_if_exists: refuse a table that exists; "
       "merge: upsert by merge_on",
       {"write_mode", "save_mode"},
       {"append", "overwrite", "error_if_exists", "merge"}},
      {"merge_on", T::kString, "",
       "mode 'merge': the key columns, comma-separated. An incoming row replaces the "
       "table's rows of its key, or is inserted; of an epoch's rows of one key the "
       "last counts; a NULL key matches nothing"},
      {"delete_on", T::kCondition, "",
       "mode 'merge': incoming rows meeting this SQL condition ('op = ''D''') remove "
       "their key's rows rather than replace them. Columns only it reads are not "
       "written unless the table has them"},
      {"optimize_every", T::kInt, "0",
       "Compact the table's small files (as OPTIMIZE does) after every this many "
       "commits, so that a pipeline committing every second leaves no thousands of "
       "tiny files (0: never)"},
      {"merge_schema",
       T::kBool,
       "false",
       "Columns of the query that the table lacks are added to it (schema evolution), "
       "and columns of the table that the query lacks are written NULL; otherwise "
       "either fails naming the column",
       {"mergeSchema"}},
      {"partition_by", T::kString, "",
       "A new table's partition columns, comma-separated (an existing table keeps its "
       "own): key=value folders, the columns left out of the files"},
  };
}

/// The names of a comma-separated list, trimmed.
std::vector<std::string> ColumnList(const std::string& text) {
  std::vector<std::string> names;
  for (const auto& name : arrow::internal::SplitString(text, ',')) {
    std::string trimmed(arrow::internal::TrimString(std::string(name)));
    if (!trimmed.empty()) names.push_back(std::move(trimmed));
  }
  return names;
}

/// `text` as milliseconds since the epoch.
Result<int64_t> ParseTimestamp(const std::string& text) {
  std::string value = text;
  if (value.size() > 10 && value[10] == ' ') value[10] = 'T';
  auto parsed =
      arrow::Scalar::Parse(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"), value);
  if (!parsed.ok()) {
    return Status::Invalid("option 'timestamp': '", text,
                           "' is not a time ('2024-03-01 10:00:00')");
  }
  return static_cast<const arrow::TimestampScalar&>(**parsed).value;
}

/// The commits of `log`'s table, newest first, as a table of one split.
std::unique_ptr<Source> HistorySource(std::shared_ptr<delta::DeltaLog> log) {
  auto schema = arrow::schema({
      arrow::field("version", arrow::int64()),
      arrow::field("timestamp", arrow::timestamp(arrow::TimeUnit::MILLI, "UTC")),
      arrow::field("operation", arrow::utf8()),
      arrow::field("operationParameters", arrow::utf8()),
      arrow::field("engineInfo", arrow::utf8()),
  });
  ReaderFactory open = [log,
                        schema]() -> Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_ASSIGN_OR_RAISE(auto commits, log->History());
    arrow::Int64Builder version;
    arrow::TimestampBuilder timestamp(schema->field(1)->type(),
                                      arrow::default_memory_pool());
    arrow::StringBuilder operation, parameters, engine;
    for (const auto& c : commits) {
      ARROW_RETURN_NOT_OK(version.Append(c.version));
      ARROW_RETURN_NOT_OK(timestamp.Append(c.timestamp));
      for (auto [builder, text] : {std::pair{&operation, &c.operation},
                                   {&parameters, &c.parameters},
                                   {&engine, &c.engine}}) {
        ARROW_RETURN_NOT_OK(text->empty() ? builder->AppendNull()
                                          : builder->Append(*text));
      }
    }
    arrow::ArrayVector columns(5);
    ARROW_RETURN_NOT_OK(version.Finish(&columns[0]));
    ARROW_RETURN_NOT_OK(timestamp.Finish(&columns[1]));
    ARROW_RETURN_NOT_OK(operation.Finish(&columns[2]));
    ARROW_RETURN_NOT_OK(parameters.Finish(&columns[3]));
    ARROW_RETURN_NOT_OK(engine.Finish(&columns[4]));
    auto batch = arrow::RecordBatch::Make(schema, static_cast<int64_t>(commits.size()),
                                          std::move(columns));
    return arrow::RecordBatchReader::Make({batch}, schema);
  };
  const std::string what = "delta history " + log->table_uri();
  return MakeReaderSource(schema, std::move(open), what);
}

/// A table of `schema` with one split, whose rows `make` gives when it is read.
std::unique_ptr<Source> ActionSource(std::shared_ptr<arrow::Schema> schema,
                                     std::function<Result<arrow::ArrayVector>()> make,
                                     std::string what) {
  ReaderFactory open = [schema,
                        make]() -> Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_ASSIGN_OR_RAISE(auto columns, make());
    const int64_t rows = columns.empty() ? 0 : columns[0]->length();
    auto batch = arrow::RecordBatch::Make(schema, rows, std::move(columns));
    return arrow::RecordBatchReader::Make({batch}, schema);
  };
  return MakeReaderSource(std::move(schema), std::move(open), std::move(what));
}

/// OPTIMIZE of `log`'s table, run when read: one row of what it did.
std::unique_ptr<Source> OptimizeSource(std::shared_ptr<delta::DeltaLog> log,
                                       delta::OptimizeSettings settings) {
  const std::vector<std::string> names = {
      "files_added", "files_removed", "partitions_optimized", "total_considered_files",
      "total_files_skipped"};
  arrow::FieldVector fields;
  for (const auto& name : names) fields.push_back(arrow::field(name, arrow::int64()));
  const std::string what = "delta optimize " + log->table_uri();
  return ActionSource(
      arrow::schema(fields),
      [log, settings]() -> Result<arrow::ArrayVector> {
        delta::DeltaSink sink(log, {});
        ARROW_ASSIGN_OR_RAISE(auto m, sink.Optimize(settings));
        arrow::ArrayVector columns;
        for (int64_t v : {m.files_added, m.files_removed, m.partitions_optimized,
                          m.total_considered_files, m.total_files_skipped}) {
          ARROW_ASSIGN_OR_RAISE(auto a,
                                arrow::MakeArrayFromScalar(arrow::Int64Scalar(v), 1));
          columns.push_back(std::move(a));
        }
        return columns;
      },
      what);
}

/// VACUUM of `log`'s table, run when read: a row per file deleted (path).
std::unique_ptr<Source> VacuumSource(std::shared_ptr<delta::DeltaLog> log,
                                     delta::VacuumSettings settings) {
  const std::string what = "delta vacuum " + log->table_uri();
  return ActionSource(
      arrow::schema({arrow::field("path", arrow::utf8())}),
      [log, settings]() -> Result<arrow::ArrayVector> {
        ARROW_ASSIGN_OR_RAISE(auto paths, delta::Vacuum(*log, settings));
        arrow::StringBuilder b;
        ARROW_RETURN_NOT_OK(b.AppendValues(paths));
        ARROW_ASSIGN_OR_RAISE(auto array, b.Finish());
        return arrow::ArrayVector{std::move(array)};
      },
      what);
}

}  // namespace

Status RegisterDeltaConnector(Registry* registry) {
  ConnectorSpec spec;
  spec.name = "delta";
  spec.doc =
      "Delta Lake tables, local or in an object store: 'delta://path' or "
      "read_delta('path', version => N | timestamp => '...'). Reads a version from the "
      "log (checkpoints and commits); its data files are splits, read in parallel, "
      "skipped by partition values and file statistics.";
  spec.schemes = {"delta"};
  spec.functions = {{"read_delta", {}},
                    {"delta_history", {{"history", "true"}}},
                    {"delta_optimize", {{"optimize", "true"}}},
                    {"delta_vacuum", {{"vacuum", "true"}}}};
  spec.positional_names = {"path"};
  spec.source_options = SourceOptions();
  spec.make_source = [](const ConnectorArgs& args) -> Result<std::unique_ptr<Source>> {
    const std::string uri = TableUri(args.uri);
    if (uri.empty()) return Status::Invalid("delta: name the table's folder");
    const Options& o = args.options;
    if (o.IsSet("version") && o.IsSet("timestamp")) {
      return Status::Invalid(
          "options 'version' and 'timestamp' both pick the version: "
          "give one");
    }
    std::optional<int64_t> version, timestamp;
    if (o.IsSet("version")) version = o.GetInt("version");
    if (o.IsSet("timestamp")) {
      ARROW_ASSIGN_OR_RAISE(timestamp, ParseTimestamp(o.GetString("timestamp")));
    }
    ARROW_ASSIGN_OR_RAISE(auto storage, file::Storage::Open(uri, o));
    auto log = std::make_shared<delta::DeltaLog>(std::move(storage), uri);
    if (o.GetBool("history")) return HistorySource(std::move(log));
    if (o.GetBool("optimize")) {
      delta::OptimizeSettings settings;
      settings.zorder_by = ColumnList(o.GetString("zorder_by"));
      ARROW_ASSIGN_OR_RAISE(settings.target_size,
                            ParseSizeBytes(o.GetString("target_size")));
      return OptimizeSource(std::move(log), std::move(settings));
    }
    if (o.GetBool("vacuum")) {
      delta::VacuumSettings settings;
      if (o.IsSet("retain_hours")) {
        settings.retain_hours = o.GetDouble("retain_hours");
        if (settings.retain_hours < 0) {
          return Status::Invalid(
              "option 'retain_hours': a number of hours, not negative");
        }
      }
      settings.dry_run = o.GetBool("dry_run");
      settings.enforce_retention = o.GetBool("enforce_retention");
      return VacuumSource(std::move(log), settings);
    }
    return std::make_unique<delta::DeltaSource>(std::move(log), version, timestamp,
                                                o.GetInt("batch_size"));
  };
  spec.sink_options = SinkOptions();
  spec.make_sink = [](const ConnectorArgs& args) -> Result<std::unique_ptr<Sink>> {
    const std::string uri = TableUri(args.uri);
    if (uri.empty()) return Status::Invalid("delta: name the table's folder");
    const Options& o = args.options;
    const std::string mode = o.GetString("mode");
    delta::MergeSettings merge;
    merge.on = ColumnList(o.GetString("merge_on"));
    auto delete_on = args.conditions.find("delete_on");
    if (delete_on != args.conditions.end()) merge.delete_on = delete_on->second;
    if (mode == "merge" && merge.on.empty()) {
      return Status::Invalid("mode 'merge' needs merge_on: the key columns");
    }
    if (mode != "merge" && (!merge.on.empty() || merge.delete_on)) {
      return Status::Invalid("options 'merge_on' and 'delete_on' are for mode 'merge'");
    }
    delta::DeltaWriteSettings settings;
    settings.mode = mode == "append"      ? delta::WriteMode::kAppend
                    : mode == "overwrite" ? delta::WriteMode::kOverwrite
                    : mode == "merge"     ? delta::WriteMode::kMerge
                                          : delta::WriteMode::kErrorIfExists;
    settings.partition_by = ColumnList(o.GetString("partition_by"));
    settings.merge = std::move(merge);
    settings.merge_schema = o.GetBool("merge_schema");
    settings.optimize_every = o.GetInt("optimize_every");
    if (settings.optimize_every < 0) {
      return Status::Invalid(
          "option 'optimize_every': a number of commits, not negative");
    }
    ARROW_ASSIGN_OR_RAISE(auto storage, file::Storage::Open(uri, o));
    return std::make_unique<delta::DeltaSink>(
        std::make_shared<delta::DeltaLog>(std::move(storage), uri), std::move(settings));
  };
  return registry->Register(std::move(spec));
}

}  // namespace flowsql
