#include "connectors/delta/delta_log.h"

#include <arrow/array.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>
#include <arrow/json/from_string.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>
#include <unordered_map>

#include "common/json.h"
#include "connectors/file/batch_writer.h"
#include "connectors/file/format_reader.h"
#include "connectors/file/partitions.h"

namespace flowsql::delta {

namespace {

namespace dom = simdjson::dom;

constexpr size_t kVersionDigits = 20;

/// The version a log file's name starts with, or -1.
int64_t VersionOf(const std::string& name) {
  if (name.size() <= kVersionDigits || name[kVersionDigits] != '.') return -1;
  int64_t v = 0;
  for (size_t i = 0; i < kVersionDigits; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

/// The state a replay builds: the live files by path and deletion vector.
struct ReplayState {
  Snapshot snapshot;
  std::unordered_map<std::string, AddFile> files;
  bool has_protocol = false, has_metadata = false;
  int64_t in_commit_timestamp = -1;  // of the commit being replayed

  static std::string Key(const std::string& path,
                         const std::optional<DeletionVector>& dv) {
    return dv ? path + '\n' + dv->UniqueId() : path;
  }
  std::unordered_map<std::string, AddFile> removed;  // tombstones, by the same key

  void Add(AddFile add) {
    std::string key = Key(add.path, add.deletion_vector);
    removed.erase(key);
    files[std::move(key)] = std::move(add);
  }
  /// `file`: the remove's path, deletion vector, partition values and size, and its
  /// deletionTimestamp as modification_time.
  void Remove(AddFile file) {
    std::string key = Key(file.path, file.deletion_vector);
    files.erase(key);
    removed[std::move(key)] = std::move(file);
  }
};

// --- JSON actions (commits, V2 JSON checkpoints) ---

std::string Str(dom::element e) {
  std::string_view s;
  return e.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
}

int64_t Int(dom::element e) {
  int64_t v = 0;
  if (e.get_int64().get(v) == simdjson::SUCCESS) return v;
  return 0;
}

int64_t IntField(dom::object o, const char* key) {
  dom::element e;
  return o[key].get(e) == simdjson::SUCCESS ? Int(e) : 0;
}

std::string StrField(dom::object o, const char* key) {
  dom::element e;
  return o[key].get(e) == simdjson::SUCCESS ? Str(e) : std::string();
}

std::vector<std::string> StrList(dom::object o, const char* key) {
  std::vector<std::string> out;
  dom::array a;
  if (o[key].get_array().get(a) != simdjson::SUCCESS) return out;
  for (dom::element e : a) out.push_back(Str(e));
  return out;
}

std::optional<DeletionVector> JsonDv(dom::object o) {
  dom::object dv;
  if (o["deletionVector"].get_object().get(dv) != simdjson::SUCCESS) return std::nullopt;
  DeletionVector out;
  out.storage_type = StrField(dv, "storageType");
  out.path_or_inline = StrField(dv, "pathOrInlineDv");
  out.offset = static_cast<int32_t>(IntField(dv, "offset"));
  out.size_in_bytes = static_cast<int32_t>(IntField(dv, "sizeInBytes"));
  out.cardinality = IntField(dv, "cardinality");
  return out;
}

Status ApplyJsonAction(const std::string& key, dom::object value, ReplayState* replay) {
  if (key == "add" || key == "remove") {
    AddFile file;
    file.path = StrField(value, "path");
    file.size = IntField(value, "size");
    file.modification_time =
        IntField(value, key == "add" ? "modificationTime" : "deletionTimestamp");
    file.stats = StrField(value, "stats");
    dom::object parts;
    if (value["partitionValues"].get_object().get(parts) == simdjson::SUCCESS) {
      for (auto [name, v] : parts) {
        file.partition_values[std::string(name)] =
            v.is_null() ? std::nullopt : std::optional<std::string>(Str(v));
      }
    }
    file.deletion_vector = JsonDv(value);
    if (key == "add") {
      replay->Add(std::move(file));
    } else {
      replay->Remove(std::move(file));
    }
  } else if (key == "metaData") {
    Metadata& m = replay->snapshot.metadata;
    m = Metadata{};
    m.id = StrField(value, "id");
    m.schema_string = StrField(value, "schemaString");
    m.partition_columns = StrList(value, "partitionColumns");
    m.created_time = IntField(value, "createdTime");
    dom::object conf;
    if (value["configuration"].get_object().get(conf) == simdjson::SUCCESS) {
      for (auto [name, v] : conf) m.configuration[std::string(name)] = Str(v);
    }
    replay->has_metadata = true;
  } else if (key == "protocol") {
    Protocol& p = replay->snapshot.protocol;
    p.min_reader_version = static_cast<int32_t>(IntField(value, "minReaderVersion"));
    p.min_writer_version = static_cast<int32_t>(IntField(value, "minWriterVersion"));
    p.reader_features = StrList(value, "readerFeatures");
    p.writer_features = StrList(value, "writerFeatures");
    replay->has_protocol = true;
  } else if (key == "txn") {
    replay->snapshot.app_versions[StrField(value, "appId")] = IntField(value, "version");
  } else if (key == "commitInfo") {
    dom::element ts;
    if (value["inCommitTimestamp"].get(ts) == simdjson::SUCCESS) {
      replay->in_commit_timestamp = Int(ts);
    }
  }
  // Other actions (cdc, domainMetadata, checkpointMetadata, ...) change no file.
  return Status::OK();
}

/// Calls `f(key, object)` for each action of a JSON-lines log file.
template <typename F>
Status ForEachJsonAction(const std::string& text, const std::string& uri, F&& f) {
  dom::parser parser;
  size_t line_no = 0, start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    dom::object action;
    auto error = parser.parse(line.data(), line.size()).get_object().get(action);
    if (error) {
      return Status::IOError(uri, ":", line_no, ": not a Delta log action (",
                             simdjson::error_message(error), ")");
    }
    for (auto [key, value] : action) {
      dom::object object;
      if (value.get_object().get(object) != simdjson::SUCCESS) continue;
      ARROW_RETURN_NOT_OK(f(std::string(key), object));
    }
  }
  return Status::OK();
}

// --- Parquet checkpoints ---

/// A struct column's child by name, or nullptr.
std::shared_ptr<arrow::Array> Child(const arrow::StructArray& s, const char* name) {
  return s.GetFieldByName(name);
}

std::string StrAt(const std::shared_ptr<arrow::Array>& a, int64_t i) {
  if (!a || a->IsNull(i)) return {};
  if (a->type_id() == arrow::Type::STRING) {
    return std::string(static_cast<const arrow::StringArray&>(*a).GetView(i));
  }
  if (a->type_id() == arrow::Type::LARGE_STRING) {
    return std::string(static_cast<const arrow::LargeStringArray&>(*a).GetView(i));
  }
  return {};
}

int64_t IntAt(const std::shared_ptr<arrow::Array>& a, int64_t i) {
  if (!a || a->IsNull(i)) return 0;
  switch (a->type_id()) {
    case arrow::Type::INT64:
      return static_cast<const arrow::Int64Array&>(*a).Value(i);
    case arrow::Type::INT32:
      return static_cast<const arrow::Int32Array&>(*a).Value(i);
    default:
      return 0;
  }
}

std::vector<std::string> ListAt(const std::shared_ptr<arrow::Array>& a, int64_t i) {
  std::vector<std::string> out;
  if (!a || a->IsNull(i) || a->type_id() != arrow::Type::LIST) return out;
  const auto& list = static_cast<const arrow::ListArray&>(*a);
  auto values = list.values();
  for (int64_t k = list.value_offset(i); k < list.value_offset(i + 1); ++k) {
    out.push_back(StrAt(values, k));
  }
  return out;
}

/// A map<string, string> cell; `nulls`: NULL values are kept as nullopt.
std::map<std::string, std::optional<std::string>> MapAt(
    const std::shared_ptr<arrow::Array>& a, int64_t i) {
  std::map<std::string, std::optional<std::string>> out;
  if (!a || a->IsNull(i) || a->type_id() != arrow::Type::MAP) return out;
  const auto& map = static_cast<const arrow::MapArray&>(*a);
  for (int64_t k = map.value_offset(i); k < map.value_offset(i + 1); ++k) {
    out[StrAt(map.keys(), k)] = map.items()->IsNull(k)
                                    ? std::nullopt
                                    : std::optional<std::string>(StrAt(map.items(), k));
  }
  return out;
}

std::optional<DeletionVector> DvAt(const std::shared_ptr<arrow::Array>& a, int64_t i) {
  if (!a || a->IsNull(i) || a->type_id() != arrow::Type::STRUCT) return std::nullopt;
  const auto& s = static_cast<const arrow::StructArray&>(*a);
  DeletionVector dv;
  dv.storage_type = StrAt(Child(s, "storageType"), i);
  dv.path_or_inline = StrAt(Child(s, "pathOrInlineDv"), i);
  dv.offset = static_cast<int32_t>(IntAt(Child(s, "offset"), i));
  dv.size_in_bytes = static_cast<int32_t>(IntAt(Child(s, "sizeInBytes"), i));
  dv.cardinality = IntAt(Child(s, "cardinality"), i);
  return dv;
}

/// The file of row `i` of a checkpoint's add or remove column; `time`: the field
/// that goes in modification_time.
AddFile FileAt(const arrow::StructArray& action, int64_t i, const char* time) {
  AddFile f;
  f.path = StrAt(Child(action, "path"), i);
  f.partition_values = MapAt(Child(action, "partitionValues"), i);
  f.size = IntAt(Child(action, "size"), i);
  f.modification_time = IntAt(Child(action, time), i);
  f.stats = StrAt(Child(action, "stats"), i);
  f.deletion_vector = DvAt(Child(action, "deletionVector"), i);
  return f;
}

/// Applies the actions of one record batch of a Parquet checkpoint; sidecar paths
/// (V2 checkpoints) are appended to `sidecars`.
void ApplyCheckpointBatch(const arrow::RecordBatch& batch, ReplayState* replay,
                          std::vector<std::string>* sidecars) {
  auto column = [&](const char* name) -> const arrow::StructArray* {
    auto c = batch.GetColumnByName(name);
    return c && c->type_id() == arrow::Type::STRUCT
               ? static_cast<const arrow::StructArray*>(c.get())
               : nullptr;
  };
  const auto* add = column("add");
  const auto* remove = column("remove");
  const auto* meta = column("metaData");
  const auto* protocol = column("protocol");
  const auto* txn = column("txn");
  const auto* sidecar = column("sidecar");
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    if (add && add->IsValid(i)) replay->Add(FileAt(*add, i, "modificationTime"));
    if (remove && remove->IsValid(i)) {
      replay->Remove(FileAt(*remove, i, "deletionTimestamp"));
    }
    if (meta && meta->IsValid(i)) {
      Metadata& m = replay->snapshot.metadata;
      m.id = StrAt(Child(*meta, "id"), i);
      m.schema_string = StrAt(Child(*meta, "schemaString"), i);
      m.partition_columns = ListAt(Child(*meta, "partitionColumns"), i);
      m.created_time = IntAt(Child(*meta, "createdTime"), i);
      m.configuration.clear();
      for (auto& [k, v] : MapAt(Child(*meta, "configuration"), i)) {
        m.configuration[k] = v.value_or("");
      }
      replay->has_metadata = true;
    }
    if (protocol && protocol->IsValid(i)) {
      Protocol& p = replay->snapshot.protocol;
      p.min_reader_version =
          static_cast<int32_t>(IntAt(Child(*protocol, "minReaderVersion"), i));
      p.min_writer_version =
          static_cast<int32_t>(IntAt(Child(*protocol, "minWriterVersion"), i));
      p.reader_features = ListAt(Child(*protocol, "readerFeatures"), i);
      p.writer_features = ListAt(Child(*protocol, "writerFeatures"), i);
      replay->has_protocol = true;
    }
    if (txn && txn->IsValid(i)) {
      replay->snapshot.app_versions[StrAt(Child(*txn, "appId"), i)] =
          IntAt(Child(*txn, "version"), i);
    }
    if (sidecar && sidecar->IsValid(i) && sidecars != nullptr) {
      sidecars->push_back(StrAt(Child(*sidecar, "path"), i));
    }
  }
}

/// Reads the checkpoint actions of a Parquet file, a row group at a time.
Status ReadParquetActions(const file::Storage& storage, const std::string& uri,
                          ReplayState* replay, std::vector<std::string>* sidecars) {
  auto named = [&](Status st) {
    return st.ok() ? st : Status::IOError(uri, ": ", st.message());
  };
  auto opened = storage.OpenFile(uri);
  if (!opened.ok()) return named(opened.status());
  parquet::arrow::FileReaderBuilder builder;
  ARROW_RETURN_NOT_OK(named(builder.Open(*opened)));
  std::unique_ptr<parquet::arrow::FileReader> reader;
  ARROW_RETURN_NOT_OK(named(builder.Build(&reader)));
  std::vector<int> columns;  // the leaves of the actions read
  for (const auto& field : reader->manifest().schema_fields) {
    const std::string& name = field.field->name();
    if (name == "add" || name == "remove" || name == "metaData" || name == "protocol" ||
        name == "txn" || name == "sidecar") {
      file::CollectLeaves(field, &columns);
    }
  }
  for (int g = 0; g < reader->num_row_groups(); ++g) {
    auto read = reader->ReadRowGroup(g, columns);
    ARROW_RETURN_NOT_OK(named(read.status()));
    std::shared_ptr<arrow::Table> table = *read;
    arrow::TableBatchReader batches(*table);
    std::shared_ptr<arrow::RecordBatch> batch;
    while (true) {
      ARROW_RETURN_NOT_OK(named(batches.ReadNext(&batch)));
      if (!batch) break;
      ApplyCheckpointBatch(*batch, replay, sidecars);
    }
  }
  return Status::OK();
}

Result<std::string> ReadText(const file::Storage& storage, const std::string& uri) {
  ARROW_ASSIGN_OR_RAISE(auto in, storage.OpenStream(uri));
  std::string text;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, in->Read(1 << 20));
    if (chunk->size() == 0) break;
    text.append(reinterpret_cast<const char*>(chunk->data()), chunk->size());
  }
  return text;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

/// The log's files, by version.
struct DeltaLog::Listing {
  struct Checkpoint {
    std::vector<std::string> parts;  // names, in part order
    int expected = 1;
  };
  std::map<int64_t, std::pair<std::string, int64_t>> commits;  // name, mtime (ms)
  std::map<int64_t, Checkpoint> checkpoints;                   // complete ones only

  /// The newest version, by commit or checkpoint; -1 for none.
  int64_t latest() const {
    int64_t v = commits.empty() ? -1 : commits.rbegin()->first;
    return checkpoints.empty() ? v : std::max(v, checkpoints.rbegin()->first);
  }
};

// The sum of the interval's number-unit pairs.
Result<double> RetentionHours(const Metadata& metadata, const std::string& table) {
  auto it = metadata.configuration.find("delta.deletedFileRetentionDuration");
  if (it == metadata.configuration.end()) return 7.0 * 24;
  std::istringstream in(it->second);
  std::string word, unit;
  double total = 0;
  bool any = false;
  in >> word;  // "interval"
  double n = 0;
  while (in >> n >> unit) {
    const double hours = unit.rfind("week", 0) == 0     ? n * 24 * 7
                         : unit.rfind("day", 0) == 0    ? n * 24
                         : unit.rfind("hour", 0) == 0   ? n
                         : unit.rfind("minute", 0) == 0 ? n / 60
                         : unit.rfind("second", 0) == 0 ? n / 3600
                                                        : -1;
    if (hours < 0) break;
    total += hours;
    any = true;
  }
  if (!any || !in.eof()) {
    return Status::Invalid(table, ": delta.deletedFileRetentionDuration '", it->second,
                           "' is not an interval ('interval 7 days')");
  }
  return total;
}

DeltaLog::DeltaLog(std::shared_ptr<const file::Storage> storage, std::string table_uri)
    : storage_(std::move(storage)), table_uri_(std::move(table_uri)) {
  while (table_uri_.size() > 1 && table_uri_.back() == '/') table_uri_.pop_back();
  log_uri_ = file::Storage::Join(table_uri_, "_delta_log");
}

std::string DeltaLog::DataFileUri(const std::string& path) const {
  if (path.find("://") != std::string::npos) return file::PercentDecode(path);
  return file::Storage::Join(table_uri_, file::PercentDecode(path));
}

Result<DeltaLog::Listing> DeltaLog::List() const {
  arrow::fs::FileSelector selector;
  selector.base_dir = storage_->PathOf(log_uri_);
  selector.allow_not_found = true;
  auto infos = storage_->filesystem()->GetFileInfo(selector);
  if (!infos.ok()) return Status::IOError(log_uri_, ": ", infos.status().message());
  Listing listing;
  std::map<int64_t, std::map<std::string, Listing::Checkpoint>> partial;
  for (const auto& info : *infos) {
    if (!info.IsFile()) continue;
    const std::string name = info.base_name();
    const int64_t version = VersionOf(name);
    if (version < 0) continue;
    const std::string rest = name.substr(kVersionDigits + 1);
    if (rest == "json") {
      const int64_t mtime = std::chrono::duration_cast<std::chrono::milliseconds>(
                                info.mtime().time_since_epoch())
                                .count();
      listing.commits[version] = {name, mtime};
    } else if (rest == "checkpoint.parquet") {
      partial[version]["classic"].parts = {name};
    } else if (rest.rfind("checkpoint.", 0) == 0 && EndsWith(rest, ".parquet") &&
               rest.size() ==
                   std::string("checkpoint.0000000001.0000000003.parquet").size()) {
      // Multi-part: checkpoint.<part>.<parts>.parquet, each part 10 digits.
      const int part = std::atoi(rest.substr(11, 10).c_str());
      const int parts = std::atoi(rest.substr(22, 10).c_str());
      auto& cp = partial[version]["multi" + std::to_string(parts)];
      cp.expected = parts;
      if (static_cast<int>(cp.parts.size()) < parts) cp.parts.resize(parts);
      if (part >= 1 && part <= parts) cp.parts[part - 1] = name;
    } else if (rest.rfind("checkpoint.", 0) == 0 &&
               (EndsWith(rest, ".parquet") || EndsWith(rest, ".json"))) {
      partial[version]["v2" + rest].parts = {name};  // V2: checkpoint.<uuid>.<ext>
    }
  }
  for (auto& [version, kinds] : partial) {
    for (auto& [kind, cp] : kinds) {
      const bool complete = static_cast<int>(cp.parts.size()) == cp.expected &&
                            std::none_of(cp.parts.begin(), cp.parts.end(),
                                         [](const std::string& p) { return p.empty(); });
      if (complete) {
        listing.checkpoints[version] = cp;
        break;
      }
    }
  }
  return listing;
}

Result<std::optional<Snapshot>> DeltaLog::LoadLatest() const {
  ARROW_ASSIGN_OR_RAISE(auto listing, List());
  if (listing.latest() < 0) return std::nullopt;
  return Replay(listing, std::nullopt);
}

Result<Snapshot> DeltaLog::Load(std::optional<int64_t> version) const {
  ARROW_ASSIGN_OR_RAISE(auto listing, List());
  return Replay(listing, version);
}

Result<Snapshot> DeltaLog::Replay(const Listing& listing,
                                  std::optional<int64_t> version) const {
  const int64_t latest = listing.latest();
  if (latest < 0) {
    return Status::Invalid(table_uri_, " is not a Delta table: ", log_uri_,
                           " holds no commit");
  }
  const int64_t target = version.value_or(latest);
  if (target < 0 || target > latest) {
    return Status::Invalid(table_uri_, ": no version ", target, " (the latest is ",
                           latest, ")");
  }
  // The latest checkpoint at or before the target.
  int64_t start = 0;
  const Listing::Checkpoint* checkpoint = nullptr;
  auto cp = listing.checkpoints.upper_bound(target);
  if (cp != listing.checkpoints.begin()) {
    --cp;
    start = cp->first + 1;
    checkpoint = &cp->second;
  }
  for (int64_t v = start; v <= target; ++v) {
    if (!listing.commits.count(v)) {
      return Status::Invalid(table_uri_, ": version ", target,
                             " cannot be read: its log lacks commit ", v,
                             checkpoint ? "" : " and has no checkpoint before it",
                             " (cleaned up by log retention?)");
    }
  }
  ReplayState replay;
  if (checkpoint) {
    std::vector<std::string> sidecars;
    for (const auto& part : checkpoint->parts) {
      const std::string uri = file::Storage::Join(log_uri_, part);
      if (EndsWith(part, ".json")) {
        ARROW_ASSIGN_OR_RAISE(auto text, ReadText(*storage_, uri));
        ARROW_RETURN_NOT_OK(ForEachJsonAction(
            text, uri, [&](const std::string& key, dom::object value) -> Status {
              if (key == "sidecar") {
                sidecars.push_back(StrField(value, "path"));
                return Status::OK();
              }
              return ApplyJsonAction(key, value, &replay);
            }));
      } else {
        ARROW_RETURN_NOT_OK(ReadParquetActions(*storage_, uri, &replay, &sidecars));
      }
    }
    for (const auto& sidecar : sidecars) {
      const std::string uri =
          file::Storage::Join(file::Storage::Join(log_uri_, "_sidecars"), sidecar);
      ARROW_RETURN_NOT_OK(ReadParquetActions(*storage_, uri, &replay, nullptr));
    }
    replay.snapshot.timestamp = 0;
  }
  for (int64_t v = start; v <= target; ++v) {
    const auto& [name, mtime] = listing.commits.at(v);
    const std::string uri = file::Storage::Join(log_uri_, name);
    ARROW_ASSIGN_OR_RAISE(auto text, ReadText(*storage_, uri));
    replay.in_commit_timestamp = -1;
    ARROW_RETURN_NOT_OK(
        ForEachJsonAction(text, uri, [&](const std::string& key, dom::object value) {
          return ApplyJsonAction(key, value, &replay);
        }));
    replay.snapshot.timestamp =
        replay.in_commit_timestamp >= 0 ? replay.in_commit_timestamp : mtime;
  }
  if (!replay.has_protocol || !replay.has_metadata) {
    return Status::Invalid(table_uri_, ": the log of version ", target, " has no ",
                           replay.has_protocol ? "metaData" : "protocol", " action");
  }
  Snapshot snapshot = std::move(replay.snapshot);
  snapshot.version = target;
  snapshot.files.reserve(replay.files.size());
  for (auto& [key, add] : replay.files) snapshot.files.push_back(std::move(add));
  for (auto& [key, gone] : replay.removed) snapshot.tombstones.push_back(std::move(gone));
  auto by_path = [](const AddFile& a, const AddFile& b) { return a.path < b.path; };
  std::sort(snapshot.files.begin(), snapshot.files.end(), by_path);
  std::sort(snapshot.tombstones.begin(), snapshot.tombstones.end(), by_path);
  return snapshot;
}

Result<int64_t> DeltaLog::VersionAt(int64_t timestamp_ms) const {
  int64_t found = -1, oldest = -1;
  ARROW_RETURN_NOT_OK(ForEachCommit([&](const CommitInfo& commit) {
    oldest = commit.version;
    if (commit.timestamp > timestamp_ms) return true;
    found = commit.version;
    return false;  // newest first: the first at or before is the one
  }));
  if (found >= 0) return found;
  return Status::Invalid(table_uri_,
                         ": no version at or before that time (the oldest "
                         "in the log is ",
                         oldest, ")");
}

Result<std::vector<CommitInfo>> DeltaLog::History() const {
  std::vector<CommitInfo> out;
  ARROW_RETURN_NOT_OK(ForEachCommit([&](const CommitInfo& commit) {
    out.push_back(commit);
    return true;
  }));
  return out;
}

Status DeltaLog::ForEachCommit(const std::function<bool(const CommitInfo&)>& f) const {
  ARROW_ASSIGN_OR_RAISE(auto listing, List());
  for (auto it = listing.commits.rbegin(); it != listing.commits.rend(); ++it) {
    CommitInfo info;
    info.version = it->first;
    info.timestamp = it->second.second;
    const std::string uri = file::Storage::Join(log_uri_, it->second.first);
    ARROW_ASSIGN_OR_RAISE(auto text, ReadText(*storage_, uri));
    ARROW_RETURN_NOT_OK(ForEachJsonAction(
        text, uri, [&](const std::string& key, dom::object value) -> Status {
          if (key != "commitInfo") return Status::OK();
          dom::element ts;
          if (value["inCommitTimestamp"].get(ts) == simdjson::SUCCESS) {
            info.timestamp = Int(ts);
          }
          info.operation = StrField(value, "operation");
          info.engine = StrField(value, "engineInfo");
          dom::element params;
          if (value["operationParameters"].get(params) == simdjson::SUCCESS) {
            info.parameters = simdjson::minify(params);
          }
          return Status::OK();
        }));
    if (!f(info)) break;
  }
  return Status::OK();
}

namespace {

/// The columns of a checkpoint, as Delta's PROTOCOL.md has them.
std::shared_ptr<arrow::DataType> CheckpointRowType() {
  auto text = arrow::utf8();
  auto text_map = arrow::map(text, text);
  auto texts = arrow::list(text);
  auto dv = arrow::struct_({
      arrow::field("storageType", text),
      arrow::field("pathOrInlineDv", text),
      arrow::field("offset", arrow::int32()),
      arrow::field("sizeInBytes", arrow::int32()),
      arrow::field("cardinality", arrow::int64()),
  });
  return arrow::struct_({
      arrow::field("txn", arrow::struct_({arrow::field("appId", text),
                                          arrow::field("version", arrow::int64()),
                                          arrow::field("lastUpdated", arrow::int64())})),
      arrow::field(
          "add",
          arrow::struct_(
              {arrow::field("path", text), arrow::field("partitionValues", text_map),
               arrow::field("size", arrow::int64()),
               arrow::field("modificationTime", arrow::int64()),
               arrow::field("dataChange", arrow::boolean()), arrow::field("stats", text),
               arrow::field("deletionVector", dv)})),
      arrow::field("remove",
                   arrow::struct_({arrow::field("path", text),
                                   arrow::field("deletionTimestamp", arrow::int64()),
                                   arrow::field("dataChange", arrow::boolean()),
                                   arrow::field("extendedFileMetadata", arrow::boolean()),
                                   arrow::field("partitionValues", text_map),
                                   arrow::field("size", arrow::int64()),
                                   arrow::field("deletionVector", dv)})),
      arrow::field("metaData",
                   arrow::struct_(
                       {arrow::field("id", text),
                        arrow::field("format",
                                     arrow::struct_({arrow::field("provider", text),
                                                     arrow::field("options", text_map)})),
                        arrow::field("schemaString", text),
                        arrow::field("partitionColumns", texts),
                        arrow::field("configuration", text_map),
                        arrow::field("createdTime", arrow::int64())})),
      arrow::field("protocol",
                   arrow::struct_({arrow::field("minReaderVersion", arrow::int32()),
                                   arrow::field("minWriterVersion", arrow::int32()),
                                   arrow::field("readerFeatures", texts),
                                   arrow::field("writerFeatures", texts)})),
  });
}

void AppendString(const std::string& s, std::string* out) { AppendJsonString(s, out); }

/// A map<string, string> as ArrayFromJSONString takes it: [[key, value], ...].
template <typename Map, typename Value>
void AppendMap(const Map& map, Value value, std::string* out) {
  *out += '[';
  bool first = true;
  for (const auto& [k, v] : map) {
    if (!first) *out += ',';
    first = false;
    *out += '[';
    AppendString(k, out);
    *out += ',';
    value(v, out);
    *out += ']';
  }
  *out += ']';
}

}  // namespace

Status DeltaLog::WriteCheckpoint(const Snapshot& snapshot) const {
  const auto row_type = CheckpointRowType();
  auto schema = arrow::schema(row_type->fields());
  char version[32];
  std::snprintf(version, sizeof(version), "%020lld",
                static_cast<long long>(snapshot.version));
  const std::string final_uri =
      file::Storage::Join(log_uri_, std::string(version) + ".checkpoint.parquet");
  const std::string temp_uri =
      file::Storage::Join(log_uri_, "." + std::string(version) + ".checkpoint.tmp");
  file::WriteSettings settings;
  settings.format = file::FileFormat::kParquet;
  settings.compression = arrow::Compression::SNAPPY;
  ARROW_ASSIGN_OR_RAISE(auto stream, storage_->OpenOutput(temp_uri));
  ARROW_ASSIGN_OR_RAISE(auto writer, file::MakeBatchWriter(settings, stream, schema));
  int64_t rows = 0;
  std::string json = "[";
  int64_t pending = 0;
  auto flush = [&]() -> Status {
    json += ']';
    ARROW_ASSIGN_OR_RAISE(auto array, arrow::json::ArrayFromJSONString(row_type, json));
    ARROW_ASSIGN_OR_RAISE(auto batch, arrow::RecordBatch::FromStructArray(array));
    ARROW_RETURN_NOT_OK(writer->Write(*batch));
    rows += pending;
    json = "[";
    pending = 0;
    return Status::OK();
  };
  auto next_row = [&]() {
    if (pending++ > 0) json += ',';
  };
  // protocol, metaData, then each app's txn and each file.
  const Protocol& p = snapshot.protocol;
  next_row();
  json += "{\"protocol\":{\"minReaderVersion\":" + std::to_string(p.min_reader_version) +
          ",\"minWriterVersion\":" + std::to_string(p.min_writer_version);
  if (p.min_reader_version >= 3) {
    json += ",\"readerFeatures\":";
    AppendJsonStrings(p.reader_features, &json);
  }
  if (p.min_writer_version >= 7) {
    json += ",\"writerFeatures\":";
    AppendJsonStrings(p.writer_features, &json);
  }
  json += "}}";
  const Metadata& m = snapshot.metadata;
  next_row();
  json += "{\"metaData\":{\"id\":";
  AppendString(m.id, &json);
  json += ",\"format\":{\"provider\":\"parquet\",\"options\":[]},\"schemaString\":";
  AppendString(m.schema_string, &json);
  json += ",\"partitionColumns\":";
  AppendJsonStrings(m.partition_columns, &json);
  json += ",\"configuration\":";
  AppendMap(
      m.configuration,
      [](const std::string& v, std::string* out) { AppendString(v, out); }, &json);
  json += ",\"createdTime\":" + std::to_string(m.created_time) + "}}";
  for (const auto& [app, v] : snapshot.app_versions) {
    next_row();
    json += "{\"txn\":{\"appId\":";
    AppendString(app, &json);
    json += ",\"version\":" + std::to_string(v) + "}}";
  }
  constexpr int64_t kRowsPerChunk = 10000;  // memory stays bounded by a chunk
  // The tombstones a VACUUM within the retention still needs (Spark's and
  // delta-rs's read them from the checkpoint).
  ARROW_ASSIGN_OR_RAISE(const double retain,
                        RetentionHours(snapshot.metadata, table_uri_));
  const int64_t cutoff = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count() -
                         static_cast<int64_t>(retain * 3600 * 1000);
  std::vector<std::pair<const AddFile*, bool>> actions;  // file, is an add
  for (const auto& f : snapshot.files) actions.emplace_back(&f, true);
  for (const auto& f : snapshot.tombstones) {
    if (f.modification_time >= cutoff) actions.emplace_back(&f, false);
  }
  for (const auto& [file, is_add] : actions) {
    const AddFile& f = *file;
    next_row();
    json += is_add ? "{\"add\":{\"path\":" : "{\"remove\":{\"path\":";
    AppendString(f.path, &json);
    json += ",\"partitionValues\":";
    AppendMap(
        f.partition_values,
        [](const std::optional<std::string>& v, std::string* out) {
          if (v) {
            AppendString(*v, out);
          } else {
            *out += "null";
          }
        },
        &json);
    json += ",\"size\":" + std::to_string(f.size) +
            (is_add ? ",\"modificationTime\":" : ",\"deletionTimestamp\":") +
            std::to_string(f.modification_time) + ",\"dataChange\":false";
    if (!is_add) json += ",\"extendedFileMetadata\":true";
    if (is_add && !f.stats.empty()) {
      json += ",\"stats\":";
      AppendString(f.stats, &json);
    }
    if (f.deletion_vector) {
      const auto& dv = *f.deletion_vector;
      json += ",\"deletionVector\":{\"storageType\":";
      AppendString(dv.storage_type, &json);
      json += ",\"pathOrInlineDv\":";
      AppendString(dv.path_or_inline, &json);
      json += ",\"offset\":" + std::to_string(dv.offset) +
              ",\"sizeInBytes\":" + std::to_string(dv.size_in_bytes) +
              ",\"cardinality\":" + std::to_string(dv.cardinality) + "}";
    }
    json += "}}";
    if (pending >= kRowsPerChunk) ARROW_RETURN_NOT_OK(flush());
  }
  if (pending > 0) ARROW_RETURN_NOT_OK(flush());
  ARROW_RETURN_NOT_OK(writer->Close());
  ARROW_RETURN_NOT_OK(storage_->MoveFile(temp_uri, final_uri));
  std::string last = "{\"version\":" + std::to_string(snapshot.version) +
                     ",\"size\":" + std::to_string(rows) + "}";
  ARROW_ASSIGN_OR_RAISE(
      auto out, storage_->OpenOutput(file::Storage::Join(log_uri_, "_last_checkpoint")));
  ARROW_RETURN_NOT_OK(out->Write(last.data(), static_cast<int64_t>(last.size())));
  return out->Close();
}

}  // namespace flowsql::delta
