#include "connectors/file/watch_source.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "common/numbers.h"
#include "connectors/file/file_source.h"
#include "connectors/file/format.h"

namespace flowsql::file {

namespace {

using Clock = std::chrono::steady_clock;

/// The format the path's files have, when the options or the path say.
std::optional<FileFormat> PathFormatOf(const Options& options, const std::string& path) {
  if (options.Has("format")) {
    auto f = FormatFromName(options.GetString("format"));
    if (f.ok()) return *f;
  }
  if (auto pf = FormatFromPath(path)) return pf->format;
  return std::nullopt;
}

struct WatchSettings {
  int64_t poll_ms = 1000;
  bool marker = false;  // file_complete = 'marker'
  std::string marker_suffix = ".done";
};

WatchSettings ParseWatchSettings(const Options& o) {
  WatchSettings s;
  s.poll_ms = std::max<int64_t>(1, o.GetMillis("poll_interval", 1000));
  s.marker = AsciiLower(o.GetString("file_complete", "stable")) == "marker";
  s.marker_suffix = o.GetString("marker_suffix", ".done");
  return s;
}

class WatchReader : public SplitReader {
 public:
  WatchReader(ConnectorArgs args, std::string path,
              std::shared_ptr<const Storage> storage,
              std::shared_ptr<arrow::Schema> schema, std::shared_ptr<arrow::Schema> out,
              ScanRequest request, WatchSource::Position start,
              std::optional<WatchSource::Position> end)
      : args_(std::move(args)),
        path_(std::move(path)),
        storage_(std::move(storage)),
        schema_(std::move(schema)),
        out_(std::move(out)),
        request_(std::move(request)),
        settings_(ParseWatchSettings(args_.options)),
        full_(schema_),
        format_(PathFormatOf(args_.options, path_)),
        position_(std::move(start)),
        end_(std::move(end)) {
    skip_ = position_.rows;
    // The hidden columns wanted (_metadata) come from each file's source.
    std::vector<std::string> names = schema_->field_names();
    for (const auto& field : out_->fields()) {
      if (schema_->GetFieldIndex(field->name()) < 0) {
        names.push_back(field->name());
        full_ = *full_->AddField(full_->num_fields(), field);
      }
    }
    inner_.columns = std::move(names);
  }

  std::shared_ptr<arrow::Schema> schema() const override { return out_; }

  Result<SourceBatch> Next() override {
    while (true) {
      if (end_ &&
          WatchSource::EncodePosition(position_) == WatchSource::EncodePosition(*end_)) {
        return SourceBatch{};  // a replay stops exactly where its epoch did
      }
      if (request_.stop.IsStopRequested()) return Status::Cancelled("watch stopped");
      if (position_.current.empty()) {
        ARROW_ASSIGN_OR_RAISE(auto next, NextFile());
        if (next.empty()) {
          Sleep();
          continue;
        }
        ARROW_RETURN_NOT_OK(OpenFile(next));
      }
      ARROW_ASSIGN_OR_RAISE(auto batch, NextOfFile());
      if (batch == nullptr) {
        // The file is read: its name joins the done set, with no rows.
        position_.done.insert(position_.current);
        position_.current.clear();
        position_.rows = 0;
        skip_ = 0;
        ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatch::MakeEmpty(out_));
        return SourceBatch{empty, WatchSource::EncodePosition(position_)};
      }
      // Rows an earlier run delivered already.
      int64_t begin = std::min(batch->num_rows(), std::max<int64_t>(0, skip_ - seen_));
      seen_ += batch->num_rows();
      if (begin == batch->num_rows()) continue;
      batch = batch->Slice(begin);
      position_.rows += batch->num_rows();
      ARROW_ASSIGN_OR_RAISE(batch, Project(batch));
      return SourceBatch{batch, WatchSource::EncodePosition(position_)};
    }
  }

 private:
  /// The next file to read, or "" when none is ready.
  Result<std::string> NextFile() {
    std::vector<std::string> files;
    if (end_) {
      // A replay reads what its epoch read, in name order.
      for (const auto& f : end_->done) {
        if (!position_.done.count(f)) files.push_back(f);
      }
      if (!end_->current.empty()) files.push_back(end_->current);
      // The names the first run dropped (below) are dropped again.
      std::erase_if(position_.done, [&](const std::string& f) {
        return !end_->done.count(f) && f != end_->current;
      });
      std::sort(files.begin(), files.end());
      return files.empty() ? std::string() : files.front();
    }
    auto listed = ResolvePaths(path_, format_, *storage_);
    if (!listed.ok()) return std::string();  // nothing there yet
    // A file gone from the folder (deleted or moved after reading) leaves the done
    // set, so the offset names no more files than the folder holds, and a file that
    // arrives later under the same name is read as the new file it is.
    const std::set<std::string> present(listed->begin(), listed->end());
    std::erase_if(position_.done,
                  [&](const std::string& f) { return !present.count(f); });
    const auto now = Clock::now();
    for (const auto& f : *listed) {
      if (position_.done.count(f)) continue;
      if (!settings_.marker_suffix.empty() && f.size() > settings_.marker_suffix.size() &&
          f.compare(f.size() - settings_.marker_suffix.size(),
                    settings_.marker_suffix.size(), settings_.marker_suffix) == 0) {
        continue;
      }
      if (settings_.marker) {
        ARROW_ASSIGN_OR_RAISE(auto kind, storage_->KindOf(f + settings_.marker_suffix));
        if (kind == Storage::Kind::kFile) return f;
        continue;
      }
      // Complete once its size held for a whole poll interval.
      auto size = storage_->Size(f);
      if (!size.ok()) continue;
      auto it = sizes_.find(f);
      if (it == sizes_.end() || it->second.first != *size) {
        sizes_[f] = {*size, now};
        continue;
      }
      if (now - it->second.second >= std::chrono::milliseconds(settings_.poll_ms)) {
        sizes_.erase(it);
        return f;
      }
    }
    return std::string();
  }

  void Sleep() {
    const auto until = Clock::now() + std::chrono::milliseconds(settings_.poll_ms);
    while (Clock::now() < until && !request_.stop.IsStopRequested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  Status OpenFile(const std::string& file) {
    ConnectorArgs args = args_;
    args.uri = file;
    file_ = std::make_unique<FileSource>(args);
    ARROW_RETURN_NOT_OK(file_->GetSchema().status());
    ARROW_ASSIGN_OR_RAISE(splits_, file_->PlanSplits(ScanRequest{}));
    next_split_ = 0;
    reader_.reset();
    seen_ = 0;
    position_.current = file;
    return Status::OK();
  }

  /// The file's next batch, conformed to the source's schema; nullptr at its end.
  Result<std::shared_ptr<arrow::RecordBatch>> NextOfFile() {
    while (true) {
      if (reader_ == nullptr) {
        if (next_split_ == splits_.size()) {
          file_.reset();
          return nullptr;
        }
        ARROW_ASSIGN_OR_RAISE(reader_,
                              file_->OpenSplit(splits_[next_split_++], {}, inner_));
      }
      ARROW_ASSIGN_OR_RAISE(auto item, reader_->Next());
      if (item.batch == nullptr) {
        reader_.reset();
        continue;
      }
      if (item.batch->num_rows() == 0) continue;
      return ConformByName(item.batch, full_, position_.current);
    }
  }

  Result<std::shared_ptr<arrow::RecordBatch>> Project(
      const std::shared_ptr<arrow::RecordBatch>& batch) const {
    std::vector<std::shared_ptr<arrow::Array>> columns;
    for (const auto& field : out_->fields()) {
      columns.push_back(batch->GetColumnByName(field->name()));
    }
    return arrow::RecordBatch::Make(out_, batch->num_rows(), std::move(columns));
  }

  ConnectorArgs args_;
  std::string path_;
  std::shared_ptr<const Storage> storage_;
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::Schema> out_;
  ScanRequest request_;
  WatchSettings settings_;
  std::shared_ptr<arrow::Schema> full_;  // schema_ and the hidden columns wanted
  ScanRequest inner_;                    // what each file's source is asked for
  std::optional<FileFormat> format_;
  WatchSource::Position position_;
  std::optional<WatchSource::Position> end_;
  int64_t skip_ = 0;  // rows of the current file delivered by an earlier reader
  int64_t seen_ = 0;  // rows of the current file read so far
  /// Candidates' sizes, and since when they have had them.
  std::map<std::string, std::pair<int64_t, Clock::time_point>> sizes_;
  std::unique_ptr<FileSource> file_;
  std::vector<Split> splits_;
  size_t next_split_ = 0;
  std::unique_ptr<SplitReader> reader_;
};

}  // namespace

WatchSource::WatchSource(ConnectorArgs args)
    : args_(std::move(args)), path_(UriToPath(args_.uri)) {}

std::string WatchSource::EncodePosition(const Position& position) {
  std::string out = position.current + "\n" + std::to_string(position.rows);
  for (const auto& f : position.done) out += "\n" + f;
  return out;
}

Result<WatchSource::Position> WatchSource::DecodePosition(const std::string& offset) {
  Position p;
  if (offset.empty()) return p;
  size_t start = 0;
  int line = 0;
  while (start <= offset.size()) {
    size_t nl = offset.find('\n', start);
    if (nl == std::string::npos) nl = offset.size();
    const std::string text = offset.substr(start, nl - start);
    if (line == 0) {
      p.current = text;
    } else if (line == 1) {
      auto rows = ParseInt64(text);
      if (!rows || *rows < 0) {
        return Status::Invalid("watched folder: not an offset of this source: '", offset,
                               "'");
      }
      p.rows = *rows;
    } else if (!text.empty()) {
      p.done.insert(text);
    }
    ++line;
    start = nl + 1;
  }
  return p;
}

Status WatchSource::Prepare() {
  if (schema_) return Status::OK();
  ARROW_ASSIGN_OR_RAISE(storage_, Storage::Open(path_, args_.options));
  // The schema of the files there now, or the declared columns.
  FileSource initial(args_);
  auto schema = initial.GetSchema();
  if (schema.ok()) {
    schema_ = *schema;
    return Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto columns, ParseNamedTypes(args_.options, "columns"));
  if (columns.empty()) {
    return Status::Invalid("watched folder ", path_, ": no file to infer a schema from (",
                           schema.status().message(),
                           "); declare it with columns = {'name': 'TYPE', ...}");
  }
  arrow::FieldVector fields;
  for (const auto& [name, type] : columns) fields.push_back(arrow::field(name, type));
  schema_ = arrow::schema(std::move(fields));
  return Status::OK();
}

Result<std::shared_ptr<arrow::Schema>> WatchSource::GetSchema() {
  ARROW_RETURN_NOT_OK(Prepare());
  return schema_;
}

Result<std::vector<Split>> WatchSource::PlanSplits(const ScanRequest& request) {
  ARROW_RETURN_NOT_OK(Prepare());
  return std::vector<Split>{Split{"watch", ""}};
}

Result<std::unique_ptr<SplitReader>> WatchSource::OpenSplit(const Split& split,
                                                            const SplitRange& range,
                                                            const ScanRequest& request) {
  ARROW_RETURN_NOT_OK(Prepare());
  std::shared_ptr<arrow::Schema> out = schema_;
  if (request.columns) {
    arrow::FieldVector fields;
    for (const auto& name : *request.columns) {
      auto field = schema_->GetFieldByName(name);
      for (const auto& hidden : HiddenColumns()) {
        if (field == nullptr && hidden->name() == name) field = hidden;
      }
      if (field == nullptr) return Status::KeyError("no column '", name, "' in ", path_);
      fields.push_back(field);
    }
    out = arrow::schema(std::move(fields));
  }
  ARROW_ASSIGN_OR_RAISE(auto start, DecodePosition(range.start));
  std::optional<Position> end;
  if (!range.end.empty()) {
    ARROW_ASSIGN_OR_RAISE(end, DecodePosition(range.end));
  }
  return std::make_unique<WatchReader>(args_, path_, storage_, schema_, std::move(out),
                                       request, std::move(start), std::move(end));
}

Status WatchSource::Acknowledge(const std::map<std::string, std::string>& offsets) {
  const bool remove = args_.options.GetBool("delete_after_read", false);
  const std::string move_to = args_.options.GetString("move_after_read", "");
  if (!remove && move_to.empty()) return Status::OK();
  auto it = offsets.find("watch");
  if (it == offsets.end()) return Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto position, DecodePosition(it->second));
  ARROW_RETURN_NOT_OK(Prepare());
  std::lock_guard<std::mutex> lock(mutex_);
  // A name the offset forgot (its file is gone) may come back as a new file.
  std::erase_if(handled_, [&](const std::string& f) { return !position.done.count(f); });
  for (const auto& file : position.done) {
    if (handled_.count(file)) continue;
    ARROW_ASSIGN_OR_RAISE(auto kind, storage_->KindOf(file));
    if (kind == Storage::Kind::kFile) {
      if (remove) {
        ARROW_RETURN_NOT_OK(storage_->DeleteFile(file));
      } else {
        const std::string name = file.substr(file.rfind('/') + 1);
        if (storage_->local()) {
          std::error_code ec;
          std::filesystem::create_directories(move_to, ec);
        }
        ARROW_RETURN_NOT_OK(storage_->MoveFile(file, Storage::Join(move_to, name)));
      }
    }
    handled_.insert(file);
  }
  return Status::OK();
}

arrow::FieldVector WatchSource::HiddenColumns() const {
  // Each file's own source makes them.
  FileSource file(args_);
  return schema_ && schema_->GetFieldIndex("_metadata") >= 0 ? arrow::FieldVector{}
                                                             : file.HiddenColumns();
}

std::string WatchSource::Describe() const {
  std::string format;
  if (auto f = PathFormatOf(args_.options, path_)) format = FormatName(*f);
  return "file " + format + " " + path_ + " (watched every " +
         std::to_string(ParseWatchSettings(args_.options).poll_ms) + " ms)";
}

}  // namespace flowsql::file
