// A folder sink that writes many files per epoch: a folder per hive partition value
// (partition_by), and a new file every max_rows_per_file rows or max_file_size bytes.
//
// Each file is written by a single-file sink (FileSink or ObjectSink: atomic on its
// own) under a hidden name, ".part-<epoch>-<pipeline>-<n>.<ext>.pending" in its
// partition folder, and closed when full. Commit() renames every pending file of the
// epoch to its name without the dot and ".pending" (on object stores a server-side
// copy), then writes the epoch's commit marker "<folder>/_flowsql/commit-<pipeline>-
// <epoch>" (readers skip '_' names) and removes the one before. The marker is what the
// folder holds: LastCommittedEpoch() reads it, and Open() deletes pending files and the
// files of any later epoch (a crash mid-commit), so a replay writes them again exactly
// once. Nothing of an epoch is visible before its Commit(); a reader listing the folder
// during one may see some of its files before the others.
#include <arrow/array/array_nested.h>
#include <arrow/array/array_primitive.h>
#include <arrow/compute/api.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/byte_size.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "common/durable_file.h"
#include "connectors/file/partitions.h"
#include "connectors/file/sink_settings.h"

namespace flowsql::file {

namespace {

namespace cp = arrow::compute;

constexpr std::string_view kMarkers = "_flowsql";

/// The epoch of a file `name` (the last path segment) of `pipeline`'s many-file parts,
/// "part-<epoch>-<pipeline>-<n>.<ext>", else -1.
int64_t ManyFileEpoch(const std::string& name, const std::string& pipeline) {
  std::string rest;
  const int64_t epoch = PartNameEpoch(name, &rest);
  return epoch >= 0 && rest.rfind("-" + pipeline + "-", 0) == 0 ? epoch : -1;
}

/// The epoch of commit marker `name`, "commit-<pipeline>-<epoch>", else -1.
int64_t MarkerEpoch(const std::string& name, const std::string& pipeline) {
  const std::string prefix = "commit-" + pipeline + "-";
  if (name.rfind(prefix, 0) != 0) return -1;
  int64_t epoch = -1;
  const char* begin = name.data() + prefix.size();
  auto [end, ec] = std::from_chars(begin, name.data() + name.size(), epoch);
  return ec == std::errc() && end == name.data() + name.size() ? epoch : -1;
}

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

/// The strftime format of a template's date tokens ("YYYY-MM-DD" -> "%Y-%m-%d"), or ""
/// when `text` is not made of date tokens and separators only.
std::string DateFormat(const std::string& text) {
  static const std::pair<const char*, const char*> kTokens[] = {
      {"YYYY", "%Y"}, {"MM", "%m"}, {"DD", "%d"},
      {"HH", "%H"},   {"mm", "%M"}, {"ss", "%S"}};
  std::string out;
  bool any = false;
  for (size_t i = 0; i < text.size();) {
    bool matched = false;
    for (const auto& [token, format] : kTokens) {
      if (text.compare(i, std::strlen(token), token) == 0) {
        out += format;
        i += std::strlen(token);
        matched = any = true;
        break;
      }
    }
    if (matched) continue;
    if (std::string_view("-_.:T ").find(text[i]) == std::string_view::npos) return "";
    out += text[i++];
  }
  return any ? out : "";
}

class PartitionedSink : public Sink {
 public:
  explicit PartitionedSink(SinkSettings settings) : settings_(std::move(settings)) {}
  ~PartitionedSink() override { (void)Abort(); }

  Status Open(const std::shared_ptr<arrow::Schema>& schema,
              const SinkContext& context) override {
    if (opened_) return Status::Invalid("file sink: Open() called twice");
    pipeline_ = context.pipeline;
    const Storage& storage = *settings_.storage;
    arrow::FieldVector kept;
    if (!settings_.path_template.empty()) {
      ARROW_RETURN_NOT_OK(TemplateKeys(*schema));
    } else {
      for (const auto& name : settings_.partition_by) {
        const int i = schema->GetFieldIndex(name);
        if (i < 0) {
          return Status::Invalid("option 'partition_by': no column '", name,
                                 "' in the rows written to ", settings_.path);
        }
        keys_.push_back({i, ""});
        key_columns_.push_back(i);
      }
    }
    for (int i = 0; i < schema->num_fields(); ++i) {
      if (std::find(key_columns_.begin(), key_columns_.end(), i) == key_columns_.end()) {
        kept.push_back(schema->field(i));
        file_columns_.push_back(i);
      }
    }
    if (kept.empty()) {
      return Status::Invalid(
          "option 'partition_by': every column is a partition column; "
          "no column is left to write into the files");
    }
    file_schema_ = arrow::schema(std::move(kept));
    if (context.resumed) settings_.mode = Mode::kAppend;
    // One listing serves the mode check, the last commit marker and the clean-up.
    std::vector<std::string> all;
    ARROW_RETURN_NOT_OK(storage.ListFiles(settings_.path, &all, /*hidden=*/true));
    const bool holds_files =
        std::any_of(all.begin(), all.end(),
                    [](const std::string& name) { return !Storage::IsHidden(name); });
    if (holds_files && settings_.mode == Mode::kErrorIfExists) {
      return Status::Invalid(settings_.path,
                             " already holds files; use mode = 'overwrite' or 'append'");
    }
    ignore_ = holds_files && settings_.mode == Mode::kIgnore;
    if (ignore_) {
      opened_ = true;
      return Status::OK();
    }
    if (storage.local()) {
      std::error_code ec;
      std::filesystem::create_directories(settings_.path, ec);
      if (ec) {
        return Status::IOError("cannot create directory ", settings_.path, ": ",
                               ec.message());
      }
    }
    committed_ = -1;
    for (const auto& name : all) {
      if (name.rfind(std::string(kMarkers) + "/", 0) == 0) {
        committed_ = std::max(committed_, MarkerEpoch(BaseName(name), pipeline_));
      }
    }
    // A crashed run's pending files, and files of epochs after the last commit marker
    // (renamed, never committed).
    for (const auto& name : all) {
      const std::string base = BaseName(name);
      const bool pending = base.size() > 9 && base[0] == '.' &&
                           base.compare(base.size() - 8, 8, ".pending") == 0 &&
                           ManyFileEpoch(base.substr(1), pipeline_) >= 0;
      if (pending || ManyFileEpoch(base, pipeline_) > committed_) {
        ARROW_RETURN_NOT_OK(storage.DeleteFile(Storage::Join(settings_.path, name)));
      }
    }
    opened_ = true;
    return Status::OK();
  }

  Status BeginEpoch(const Epoch& epoch) override {
    epoch_ = epoch.number;
    next_file_ = 0;
    return Status::OK();
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    if (!opened_) return Status::Invalid("file sink: Write() before Open()");
    if (ignore_ || batch->num_rows() == 0) return Status::OK();
    if (epoch_ < 0) return Status::Invalid("file sink: Write() before BeginEpoch()");
    // A replayed epoch the folder holds already: its files stay as they are.
    if (epoch_ <= committed_) return Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto groups, Split(*batch));
    for (auto& [folder, rows] : groups) {
      Output& out = outputs_[folder];
      // What a row weighs, to cut a batch where a file reaches max_file_size (only
      // then: measuring walks every buffer of the batch).
      const double row_bytes =
          settings_.max_file_size > 0
              ? std::max(1.0, static_cast<double>(arrow::util::TotalBufferSize(*rows)) /
                                  static_cast<double>(rows->num_rows()))
              : 0;
      int64_t offset = 0;
      while (offset < rows->num_rows()) {
        if (out.sink == nullptr) ARROW_RETURN_NOT_OK(StartFile(folder, &out));
        // The rows that fit in this file.
        int64_t n = rows->num_rows() - offset;
        if (settings_.max_rows_per_file > 0) {
          n = std::min(n, settings_.max_rows_per_file - out.rows);
        }
        if (settings_.max_file_size > 0) {
          const double room = static_cast<double>(settings_.max_file_size - out.bytes);
          n = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(room / row_bytes)), 1,
                                  n);
        }
        auto slice = rows->Slice(offset, n);
        ARROW_RETURN_NOT_OK(out.sink->Write(slice));
        out.rows += n;
        out.bytes += static_cast<int64_t>(static_cast<double>(n) * row_bytes);
        offset += n;
        const bool full =
            (settings_.max_rows_per_file > 0 &&
             out.rows >= settings_.max_rows_per_file) ||
            (settings_.max_file_size > 0 && out.bytes >= settings_.max_file_size);
        if (full) ARROW_RETURN_NOT_OK(FinishFile(&out));
      }
    }
    return Status::OK();
  }

  Status Commit(const Epoch& epoch) override {
    if (!opened_) return Status::Invalid("file sink: Commit() before Open()");
    if (ignore_) return Status::OK();
    if (epoch.number <= committed_) {
      (void)Abort();
      return Status::OK();
    }
    for (auto& [folder, out] : outputs_) {
      if (out.sink != nullptr) ARROW_RETURN_NOT_OK(FinishFile(&out));
    }
    outputs_.clear();
    for (auto& [pending, name] : pending_) {
      ARROW_RETURN_NOT_OK(settings_.storage->MoveFile(pending, name));
      published_.push_back(name);
      written_.push_back(name);
    }
    pending_.clear();
    if (!published_.empty()) {
      ARROW_RETURN_NOT_OK(WriteMarker(epoch.number));
      committed_ = epoch.number;
      if (settings_.mode == Mode::kOverwrite && !replaced_old_) {
        ARROW_RETURN_NOT_OK(RemoveOtherDataFiles(settings_, written_));
        replaced_old_ = true;
      }
    }
    published_.clear();
    epoch_ = -1;
    return Status::OK();
  }

  Status Abort() override {
    for (auto& [folder, out] : outputs_) {
      if (out.sink != nullptr) (void)out.sink->Abort();
    }
    outputs_.clear();
    // Files of this epoch closed when they filled up: not committed, so gone.
    for (const auto& [pending, name] : pending_) {
      (void)settings_.storage->DeleteFile(pending);
    }
    pending_.clear();
    for (const auto& uri : published_) (void)settings_.storage->DeleteFile(uri);
    published_.clear();
    return Status::OK();
  }

  bool transactional() const override { return true; }

  Result<int64_t> LastCommittedEpoch(const std::string& pipeline) override {
    const std::string dir = Storage::Join(settings_.path, std::string(kMarkers));
    ARROW_ASSIGN_OR_RAISE(auto kind, settings_.storage->KindOf(dir));
    if (kind != Storage::Kind::kDirectory) return -1;
    std::vector<std::string> names;
    ARROW_RETURN_NOT_OK(settings_.storage->ListFiles(dir, &names, /*hidden=*/true));
    int64_t last = -1;
    for (const auto& name : names) last = std::max(last, MarkerEpoch(name, pipeline));
    return last;
  }

  std::string Describe() const override {
    std::string out = "file " + PartExtension(settings_.write) + " " + settings_.path;
    if (!settings_.partition_by.empty()) {
      out += " (partitioned by ";
      for (size_t i = 0; i < settings_.partition_by.size(); ++i) {
        out += (i ? ", " : "") + settings_.partition_by[i];
      }
      out += ")";
    }
    if (settings_.max_rows_per_file > 0) {
      out += " max_rows_per_file=" + std::to_string(settings_.max_rows_per_file);
    }
    if (settings_.max_file_size > 0) {
      out += " max_file_size=" + std::to_string(settings_.max_file_size);
    }
    return out + " mode=" + ModeName(settings_.mode);
  }

 private:
  struct Key {
    int column;               // in the rows written
    std::string date_format;  // strftime format of a template's date tokens, or ""
  };
  struct Output {
    std::unique_ptr<Sink> sink;
    std::string pending;  // the hidden name it is written under
    std::string uri;      // its name once committed
    int64_t rows = 0;
    int64_t bytes = 0;
  };

  /// A path template's keys: a date format over the timestamp column per date brace,
  /// a column per other brace. Every column is written (none is a folder only).
  Status TemplateKeys(const arrow::Schema& schema) {
    // partition_by beside a template names its folders (seed 004: partition_by =
    // 'date' with date={YYYY-MM-DD}); anything else is a mistake.
    for (const auto& name : settings_.partition_by) {
      bool named = false;
      for (const auto& segment : settings_.path_template) {
        named = named || segment.rfind(name + "=", 0) == 0;
      }
      if (!named) {
        return Status::Invalid("option 'partition_by': '", name,
                               "' is not a folder of the path template (with a template, "
                               "the template decides the folders)");
      }
    }
    int time_column = -1;
    for (int i = 0; i < schema.num_fields(); ++i) {
      const auto id = schema.field(i)->type()->id();
      const bool temporal = id == arrow::Type::TIMESTAMP || id == arrow::Type::DATE32 ||
                            id == arrow::Type::DATE64;
      if (settings_.timestamp_column.empty()
              ? temporal && time_column < 0
              : schema.field(i)->name() == settings_.timestamp_column) {
        time_column = i;
      }
    }
    for (const auto& segment : settings_.path_template) {
      for (size_t open = segment.find('{'); open != std::string::npos;
           open = segment.find('{', open + 1)) {
        const size_t close = segment.find('}', open);
        if (close == std::string::npos) {
          return Status::Invalid("path template: unclosed '{' in '", segment, "'");
        }
        const std::string inside = segment.substr(open + 1, close - open - 1);
        std::string format = DateFormat(inside);
        if (!format.empty()) {
          if (time_column < 0) {
            return Status::Invalid(
                "path template: '{", inside, "}' needs a ",
                settings_.timestamp_column.empty()
                    ? "TIMESTAMP or DATE column, and the rows have none"
                    : "timestamp_column '" + settings_.timestamp_column +
                          "', and the rows have no such column");
          }
          keys_.push_back({time_column, std::move(format)});
        } else {
          const int i = schema.GetFieldIndex(inside);
          if (i < 0) {
            return Status::Invalid("path template: '{", inside,
                                   "}' is neither date tokens (YYYY MM DD HH mm ss) nor "
                                   "a column of the rows written");
          }
          keys_.push_back({i, ""});
        }
      }
    }
    return Status::OK();
  }

  /// The folder of a group: hive "k=v/..." or the template's, from the keys' values.
  std::string Folder(const std::vector<std::shared_ptr<arrow::Scalar>>& values) const {
    std::string out;
    if (settings_.path_template.empty()) {
      for (size_t k = 0; k < values.size(); ++k) {
        out += (k ? "/" : "") + HiveFolder(settings_.partition_by[k], *values[k]);
      }
      return out;
    }
    size_t k = 0;
    for (const auto& segment : settings_.path_template) {
      if (!out.empty()) out += "/";
      for (size_t i = 0; i < segment.size(); ++i) {
        const size_t close = segment[i] == '{' ? segment.find('}', i) : std::string::npos;
        if (close == std::string::npos) {
          out += segment[i];
          continue;
        }
        const auto& value = *values[k];
        out += keys_[k].date_format.empty() || !value.is_valid ? HiveValue(value)
                                                               : value.ToString();
        ++k;
        i = close;
      }
    }
    return out;
  }

  /// The values a key takes in `batch`: the column, or its date text.
  Result<arrow::Datum> KeyValues(const arrow::RecordBatch& batch, const Key& key) const {
    arrow::Datum column(batch.column(key.column));
    if (key.date_format.empty()) return column;
    const auto& type = *column.type();
    if (type.id() != arrow::Type::TIMESTAMP) {
      ARROW_ASSIGN_OR_RAISE(column,
                            cp::Cast(column, arrow::timestamp(arrow::TimeUnit::SECOND)));
    }
    const auto& ts = static_cast<const arrow::TimestampType&>(*column.type());
    if (ts.timezone().empty()) {
      ARROW_ASSIGN_OR_RAISE(column, cp::Cast(column, arrow::timestamp(ts.unit(), "UTC")));
    }
    return cp::Strftime(column, cp::StrftimeOptions(key.date_format));
  }

  /// The rows of `batch` by partition folder ("year=2024/month=3"; "" when
  /// unpartitioned), without the partition columns.
  Result<std::vector<std::pair<std::string, std::shared_ptr<arrow::RecordBatch>>>> Split(
      const arrow::RecordBatch& batch) {
    std::vector<std::shared_ptr<arrow::Array>> columns;
    for (int i : file_columns_) columns.push_back(batch.column(i));
    auto rows = arrow::RecordBatch::Make(file_schema_, batch.num_rows(), columns);
    std::vector<arrow::Datum> keys;
    for (const auto& key : keys_) {
      ARROW_ASSIGN_OR_RAISE(auto values, KeyValues(batch, key));
      keys.push_back(std::move(values));
    }
    ARROW_ASSIGN_OR_RAISE(auto groups, GroupRows(rows, keys));
    std::vector<std::pair<std::string, std::shared_ptr<arrow::RecordBatch>>> out;
    for (auto& group : groups) {
      out.emplace_back(keys_.empty() ? std::string() : Folder(group.values),
                       std::move(group.rows));
    }
    return out;
  }

  Status StartFile(const std::string& folder, Output* out) {
    char name[32];
    std::snprintf(name, sizeof(name), "%05d.", next_file_++);
    const std::string base = PartPrefix(epoch_, pipeline_);
    // "part-<epoch>-<pipeline>-<n>.<ext>"
    std::string file =
        base.substr(0, base.size() - 1) + "-" + name + PartExtension(settings_.write);
    SinkSettings single = settings_;
    single.directory = false;
    single.mode = Mode::kOverwrite;  // a crashed run's leftover of the same name
    single.partition_by.clear();
    const std::string dir =
        folder.empty() ? settings_.path : Storage::Join(settings_.path, folder);
    out->uri = Storage::Join(dir, file);
    single.path = Storage::Join(dir, "." + file + ".pending");
    if (settings_.storage->local()) {
      std::error_code ec;
      std::filesystem::create_directories(
          std::filesystem::path(single.path).parent_path(), ec);
    }
    out->pending = single.path;
    out->sink = MakeSingleFileSink(std::move(single));
    out->rows = out->bytes = 0;
    return out->sink->Open(file_schema_, SinkContext{pipeline_});
  }

  /// Closes the file `out` writes, under its pending name.
  Status FinishFile(Output* out) {
    Status st = out->sink->Commit(Epoch{pipeline_, epoch_});
    out->sink.reset();
    if (!st.ok()) return st;
    pending_.emplace_back(out->pending, out->uri);
    return Status::OK();
  }

  Status WriteMarker(int64_t epoch) {
    const Storage& storage = *settings_.storage;
    const std::string dir = Storage::Join(settings_.path, std::string(kMarkers));
    char digits[24];
    std::snprintf(digits, sizeof(digits), "%08" PRId64, epoch);
    const std::string marker = Storage::Join(dir, "commit-" + pipeline_ + "-" + digits);
    if (storage.local()) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
    }
    ARROW_ASSIGN_OR_RAISE(auto out, storage.OpenOutput(marker));
    ARROW_RETURN_NOT_OK(out->Close());
    if (storage.local()) {
      ARROW_RETURN_NOT_OK(SyncPath(marker, false));
      ARROW_RETURN_NOT_OK(SyncPath(dir, true));
    }
    // The one marker before it is no longer needed.
    if (committed_ >= 0) {
      std::snprintf(digits, sizeof(digits), "%08" PRId64, committed_);
      (void)storage.DeleteFile(Storage::Join(dir, "commit-" + pipeline_ + "-" + digits));
    }
    return Status::OK();
  }

  SinkSettings settings_;
  std::string pipeline_;
  std::vector<Key> keys_;          // what decides a row's folder, in folder order
  std::vector<int> key_columns_;   // hive partition columns: not written to the files
  std::vector<int> file_columns_;  // the others, written into the files
  std::shared_ptr<arrow::Schema> file_schema_;
  std::map<std::string, Output> outputs_;  // by partition folder
  /// Closed files of the current epoch: (pending name, name).
  std::vector<std::pair<std::string, std::string>> pending_;
  std::vector<std::string> published_;  // files of the current epoch
  std::vector<std::string> written_;    // every file this sink wrote
  int64_t epoch_ = -1;
  int64_t committed_ = -1;
  int next_file_ = 0;
  bool opened_ = false;
  bool ignore_ = false;
  bool replaced_old_ = false;
};

}  // namespace

std::unique_ptr<Sink> MakePartitionedSink(SinkSettings settings) {
  return std::make_unique<PartitionedSink>(std::move(settings));
}

}  // namespace flowsql::file
