#include "connectors/file/file_source.h"

#include <arrow/array/array_nested.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/array/util.h>
#include <arrow/type.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>

#include "common/numbers.h"
#include "common/parallel.h"

namespace flowsql::file {

namespace {

/// Parquet files larger than this are read as several row-group ranges.
constexpr int64_t kSplitBytes = 64 << 20;

/// Columns numbering a split's rows in their file: `first` is the file row of the
/// split's first row. `column`: file_row_number; `metadata`: _metadata, a struct of
/// the file's name and the row number.
struct RowNumbers {
  int column = -1;
  int metadata = -1;
  int64_t first = 0;
  std::string filename;
};

/// The type of the hidden `_metadata` column (seed 004's _metadata.filename,
/// _metadata.row_number).
std::shared_ptr<arrow::DataType> MetadataType() {
  return arrow::struct_({arrow::field("filename", arrow::utf8()),
                         arrow::field("row_number", arrow::int64())});
}

/// Reads one file split, conformed to the projected schema, cut at batch_size
/// rows, from row `skip` up to row `end` (-1: the end) of what the format yields.
class FileSplitReader : public SplitReader {
 public:
  /// `constants`: columns of `out` no file holds (partitions, the file name), by
  /// index, with this file's value.
  /// `row_numbers`: a column of `out` numbering the rows in the file, if any.
  FileSplitReader(std::shared_ptr<arrow::RecordBatchReader> reader,
                  std::shared_ptr<arrow::Schema> out, std::string path, int64_t skip,
                  int64_t end, int64_t batch_size,
                  std::vector<std::pair<int, std::shared_ptr<arrow::Scalar>>> constants,
                  RowNumbers row_numbers)
      : reader_(std::move(reader)),
        out_(std::move(out)),
        path_(std::move(path)),
        skip_(skip),
        end_(end),
        batch_size_(batch_size),
        constants_(std::move(constants)),
        row_numbers_(row_numbers) {}

  std::shared_ptr<arrow::Schema> schema() const override { return out_; }

  Result<SourceBatch> Next() override {
    while (end_ < 0 || position_ < end_) {
      if (pending_ && pending_offset_ < pending_->num_rows()) {
        int64_t n = pending_->num_rows() - pending_offset_;
        if (batch_size_ > 0) n = std::min(n, batch_size_);
        if (end_ >= 0) n = std::min(n, end_ - position_);
        auto batch = pending_->Slice(pending_offset_, n);
        if (row_numbers_.column >= 0 || row_numbers_.metadata >= 0) {
          arrow::Int64Builder numbers;
          ARROW_RETURN_NOT_OK(numbers.Reserve(n));
          for (int64_t i = 0; i < n; ++i) {
            numbers.UnsafeAppend(row_numbers_.first + position_ + i);
          }
          ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Array> column, numbers.Finish());
          if (row_numbers_.column >= 0) {
            ARROW_ASSIGN_OR_RAISE(
                batch, batch->SetColumn(row_numbers_.column,
                                        out_->field(row_numbers_.column), column));
          }
          if (row_numbers_.metadata >= 0) {
            ARROW_ASSIGN_OR_RAISE(auto names,
                                  arrow::MakeArrayFromScalar(
                                      arrow::StringScalar(row_numbers_.filename), n));
            ARROW_ASSIGN_OR_RAISE(
                auto metadata, arrow::StructArray::Make(
                                   {names, column},
                                   out_->field(row_numbers_.metadata)->type()->fields()));
            ARROW_ASSIGN_OR_RAISE(
                batch, batch->SetColumn(row_numbers_.metadata,
                                        out_->field(row_numbers_.metadata), metadata));
          }
        }
        pending_offset_ += n;
        position_ += n;
        return SourceBatch{std::move(batch), std::to_string(position_)};
      }
      pending_ = nullptr;
      pending_offset_ = 0;
      if (reader_ == nullptr) break;
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(reader_->ReadNext(&batch));
      if (batch == nullptr) {
        Status st = reader_->Close();
        reader_ = nullptr;
        ARROW_RETURN_NOT_OK(st);
        break;
      }
      // Rows before the resume point were delivered by an earlier reader.
      if (position_ + batch->num_rows() <= skip_) {
        position_ += batch->num_rows();
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(pending_, ConformByName(batch, out_, path_));
      for (const auto& [index, value] : constants_) {
        ARROW_ASSIGN_OR_RAISE(auto column,
                              arrow::MakeArrayFromScalar(*value, pending_->num_rows()));
        ARROW_ASSIGN_OR_RAISE(pending_,
                              pending_->SetColumn(index, out_->field(index), column));
      }
      if (position_ < skip_) {
        pending_offset_ = skip_ - position_;
        position_ = skip_;
      }
    }
    if (reader_) {
      (void)reader_->Close();
      reader_ = nullptr;
    }
    return SourceBatch{};
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> reader_;
  std::shared_ptr<arrow::Schema> out_;
  std::string path_;
  int64_t skip_;
  int64_t end_;
  int64_t batch_size_;
  std::vector<std::pair<int, std::shared_ptr<arrow::Scalar>>> constants_;
  RowNumbers row_numbers_;
  int64_t position_ = 0;  // rows of the split behind us, delivered or skipped
  std::shared_ptr<arrow::RecordBatch> pending_;
  int64_t pending_offset_ = 0;
};

/// A split's payload: "<row group begin> <row group end> <path>".
std::string EncodeSplit(int begin, int end, const std::string& path) {
  return std::to_string(begin) + " " + std::to_string(end) + " " + path;
}

}  // namespace

Status ParseRows(const std::string& offset, const std::string& split, int64_t* out) {
  if (offset.empty()) return Status::OK();
  auto v = ParseInt64(offset);
  if (!v || *v < 0) {
    return Status::Invalid("cannot resume ", split, " from offset '", offset,
                           "' (expected a row count)");
  }
  *out = *v;
  return Status::OK();
}

std::unique_ptr<SplitReader> MakeFileSplitReader(
    std::shared_ptr<arrow::RecordBatchReader> reader, std::shared_ptr<arrow::Schema> out,
    std::string path, int64_t skip, int64_t end, int64_t batch_size,
    std::vector<std::pair<int, std::shared_ptr<arrow::Scalar>>> constants) {
  return std::make_unique<FileSplitReader>(std::move(reader), std::move(out),
                                           std::move(path), skip, end, batch_size,
                                           std::move(constants), RowNumbers{});
}

FileSource::FileSource(ConnectorArgs args)
    : args_(std::move(args)), path_(UriToPath(args_.uri)) {}

Status FileSource::Prepare() {
  if (prepared_) return Status::OK();
  if (path_.empty()) return Status::Invalid("file source: no path given");
  std::optional<FileFormat> format;
  if (args_.options.Has("format")) {
    ARROW_ASSIGN_OR_RAISE(format, FormatFromName(args_.options.GetString("format")));
  } else if (auto pf = FormatFromPath(path_)) {
    format = pf->format;
  }
  ARROW_ASSIGN_OR_RAISE(auto storage, Storage::Open(path_, args_.options));
  ARROW_ASSIGN_OR_RAISE(auto paths, ResolvePaths(path_, format, *storage));
  ARROW_ASSIGN_OR_RAISE(settings_, ParseReadSettings(args_.options, paths.front()));
  settings_.storage = storage;
  reader_ = MakeFormatReader(settings_);
  files_ = std::make_shared<std::vector<FileInfo>>();
  std::vector<std::shared_ptr<arrow::Schema>> schemas;
  std::vector<size_t> schema_files;  // the file of each schema
  // Which files are inspected in full (types and names); the others are read as the
  // first one (union_by_name = false) or give their names only (InspectNames).
  // Types come from the first files' first blocks, up to block_size bytes of them in
  // all, or from every file with sample_size = -1.
  size_t sampled = 1;
  if (settings_.union_by_name) {
    sampled = paths.size();
    if (!settings_.sample_all && paths.size() > 1) {
      int64_t bytes = 0;
      for (size_t i = 0; i < paths.size(); ++i) {
        bytes += storage->Size(paths[i]).ValueOr(settings_.block_size);
        if (bytes > settings_.block_size) {
          sampled = i + 1;
          break;
        }
      }
    }
  }
  const size_t inspected = settings_.union_by_name ? paths.size() : 1;
  std::vector<Result<FileInfo>> infos(inspected, Status::Invalid("not inspected"));
  // A few files at a time: inspecting thousands of small files one after another is
  // mostly waiting; an object store answers each read after a round trip: more.
  const size_t threads = storage->local() ? 4 : 16;
  ParallelFor(sampled, threads, [&](size_t i) { infos[i] = reader_->Inspect(paths[i]); });
  if (sampled < inspected) {
    std::set<std::string> known;
    for (size_t i = 0; i < sampled; ++i) {
      if (!infos[i].ok()) continue;
      for (const auto& name : infos[i]->schema->field_names()) known.insert(name);
    }
    ParallelFor(inspected - sampled, threads, [&](size_t k) {
      const size_t i = sampled + k;
      infos[i] = reader_->InspectNames(paths[i]);
      if (!infos[i].ok()) return;
      if (infos[i]->typed) return;
      for (const auto& name : infos[i]->schema->field_names()) {
        // A column the sample lacks gets its type from this file.
        if (!known.count(name)) {
          infos[i] = reader_->Inspect(paths[i]);
          return;
        }
      }
    });
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    if (i < inspected) {
      ARROW_ASSIGN_OR_RAISE(auto info, std::move(infos[i]));
      if (info.typed) {
        schemas.push_back(info.schema);
        schema_files.push_back(i);
      }
      files_->push_back(std::move(info));
    } else {
      // Without union_by_name, every file is read as the first one.
      FileInfo info = files_->front();
      info.path = paths[i];
      info.row_groups = 0;  // unknown: the file is read as one split
      info.size = 0;
      files_->push_back(std::move(info));
    }
  }
  if (schemas.size() == 1) {
    schema_ = schemas.front();
  } else {
    const auto merge = arrow::Field::MergeOptions::Permissive();
    auto unified = arrow::UnifySchemas(schemas, merge);
    if (!unified.ok()) {
      // Name the column and the two files whose types for it do not combine.
      for (size_t i = 1; i < schemas.size(); ++i) {
        for (const auto& field : schemas[i]->fields()) {
          for (size_t j = 0; j < i; ++j) {
            auto other = schemas[j]->GetFieldByName(field->name());
            if (other == nullptr || other->MergeWith(*field, merge).ok()) continue;
            return Status::Invalid(
                "column '", field->name(), "' is ", ArrowTypeToSql(*other->type()),
                " in ", (*files_)[schema_files[j]].path, " but ",
                ArrowTypeToSql(*field->type()), " in ", (*files_)[schema_files[i]].path,
                ", which do not combine; give it one type with "
                "types = {'",
                field->name(), "': '...'}");
          }
        }
      }
      return Status::Invalid("cannot combine the schemas of the files of '", path_,
                             "' by column name: ", unified.status().message());
    }
    schema_ = *unified;
  }
  // Files whose names alone were read: their columns as the other files typed them.
  for (auto& f : *files_) {
    if (f.typed) continue;
    arrow::FieldVector fields;
    for (const auto& field : f.schema->fields()) {
      auto typed = schema_->GetFieldByName(field->name());
      fields.push_back(field->WithType(typed ? typed->type() : arrow::utf8()));
    }
    f.schema = f.raw_schema = arrow::schema(std::move(fields));
    f.typed = true;
  }
  virtual_columns_.clear();
  partitions_.reset();
  if (settings_.hive_partitioning.value_or(true)) {
    ARROW_ASSIGN_OR_RAISE(partitions_, ReadHivePartitions(paths));
    if (partitions_) {
      // A partition column stands in for a file column of its name.
      for (const auto& field : partitions_->fields) {
        const int at = schema_->GetFieldIndex(field->name());
        if (at >= 0) {
          ARROW_ASSIGN_OR_RAISE(schema_, schema_->RemoveField(at));
        }
        ARROW_ASSIGN_OR_RAISE(schema_, schema_->AddField(schema_->num_fields(), field));
        virtual_columns_.push_back(field->name());
      }
    }
  }
  if (settings_.filename) {
    if (schema_->GetFieldIndex("filename") >= 0) {
      return Status::Invalid("option 'filename': ", path_,
                             " already has a column 'filename'");
    }
    ARROW_ASSIGN_OR_RAISE(schema_,
                          schema_->AddField(schema_->num_fields(),
                                            arrow::field("filename", arrow::utf8())));
    virtual_columns_.push_back("filename");
  }
  if (settings_.file_row_number) {
    if (schema_->GetFieldIndex("file_row_number") >= 0) {
      return Status::Invalid("option 'file_row_number': ", path_,
                             " already has a column 'file_row_number'");
    }
    ARROW_ASSIGN_OR_RAISE(
        schema_, schema_->AddField(schema_->num_fields(),
                                   arrow::field("file_row_number", arrow::int64())));
    virtual_columns_.push_back("file_row_number");
  }
  for (const auto& [name, type] : settings_.types) {
    if (schema_->GetFieldIndex(name) < 0) {
      return Status::Invalid("option 'types': no column '", name, "' in ", path_,
                             "; columns: ", schema_->ToString());
    }
  }
  for (size_t i = 0; i < files_->size(); ++i) file_index_[(*files_)[i].path] = i;
  // The planner asks for the size once per binding of every statement: stat once.
  estimated_bytes_ = -1;
  for (const auto& f : *files_) {
    // An object store is not asked again: Parquet footers give sizes.
    int64_t size = f.size;
    if (storage->local()) size = storage->Size(f.path).ValueOr(-1);
    if (size >= 0) estimated_bytes_ = std::max<int64_t>(estimated_bytes_, 0) + size;
  }
  prepared_ = true;
  return Status::OK();
}

Result<std::shared_ptr<arrow::Schema>> FileSource::GetSchema() {
  ARROW_RETURN_NOT_OK(Prepare());
  return schema_;
}

Result<std::vector<Split>> FileSource::PlanSplits(const ScanRequest& request) {
  ARROW_RETURN_NOT_OK(Prepare());
  std::string pushed;
  if (request.columns) {
    pushed += " columns=[";
    for (size_t i = 0; i < request.columns->size(); ++i) {
      pushed += (i ? "," : "") + (*request.columns)[i];
    }
    pushed += "]";
  }
  if (!request.filter.Equals(arrow::compute::literal(true))) {
    pushed += " filter=" + request.filter.ToString();
  }
  if (request.limit) pushed += " limit=" + std::to_string(*request.limit);
  {
    // A plan may scan this source twice (GROUPING SETS): the second PlanSplits
    // can come while the first scan's readers run.
    std::lock_guard<std::mutex> lock(mutex_);
    stats_ = std::make_shared<ScanStats>();
    pushed_ = std::move(pushed);
  }
  std::vector<Split> splits;
  size_t pruned = 0;
  for (size_t index = 0; index < files_->size(); ++index) {
    const FileInfo& file = (*files_)[index];
    if (partitions_ && !request.filter.Equals(arrow::compute::literal(true))) {
      // A filter that cannot be evaluated on partition values prunes nothing.
      arrow::compute::Expression simplified;
      auto keep =
          PartitionMayMatch(request.filter, *schema_, *partitions_, index, &simplified);
      if (keep.ok() && !*keep) {
        ++pruned;
        continue;
      }
    }
    // A limit needs few rows: one split per file keeps it from reading ahead.
    int64_t parts = request.limit ? 1 : file.size / kSplitBytes;
    parts = std::clamp<int64_t>(parts, 1, std::max(file.row_groups, 1));
    if (parts == 1) {
      splits.push_back({file.path, EncodeSplit(0, -1, file.path)});
      continue;
    }
    for (int64_t i = 0; i < parts; ++i) {
      const int begin = static_cast<int>(file.row_groups * i / parts);
      const int end = static_cast<int>(file.row_groups * (i + 1) / parts);
      splits.push_back(
          {file.path + "#rg=" + std::to_string(begin) + "-" + std::to_string(end),
           EncodeSplit(begin, end, file.path)});
    }
  }
  if (partitions_) {
    std::lock_guard<std::mutex> lock(mutex_);
    pushed_ += " files=" + std::to_string(files_->size() - pruned) + " read, " +
               std::to_string(pruned) + " pruned by partition";
  }
  return splits;
}

std::shared_ptr<arrow::Scalar> FileSource::VirtualValue(const std::string& name,
                                                        size_t index) const {
  if (name == "filename" && settings_.filename) {
    return std::make_shared<arrow::StringScalar>((*files_)[index].path);
  }
  for (size_t k = 0; partitions_ && k < partitions_->fields.size(); ++k) {
    if (partitions_->fields[k]->name() == name) return partitions_->values[index][k];
  }
  return nullptr;
}

Result<std::unique_ptr<SplitReader>> FileSource::OpenSplit(const Split& split,
                                                           const SplitRange& range,
                                                           const ScanRequest& request) {
  ARROW_RETURN_NOT_OK(Prepare());
  int begin = 0, end = -1, consumed = 0;
  if (std::sscanf(split.payload.c_str(), "%d %d %n", &begin, &end, &consumed) != 2 ||
      consumed == 0) {
    return Status::Invalid("file source: not a split of ", path_, ": '", split.payload,
                           "'");
  }
  const std::string path = split.payload.substr(consumed);
  auto it = file_index_.find(path);
  if (it == file_index_.end()) {
    return Status::Invalid("file source: ", path, " is not a file of ", path_);
  }
  std::shared_ptr<arrow::Schema> out = schema_;
  if (request.columns) {
    arrow::FieldVector fields;
    for (const auto& name : *request.columns) {
      auto field = schema_->GetFieldByName(name);
      if (field == nullptr && name == "_metadata") {
        field = arrow::field("_metadata", MetadataType());
      }
      if (field == nullptr) {
        return Status::KeyError("no column '", name, "' in ", path_);
      }
      fields.push_back(field);
    }
    out = arrow::schema(std::move(fields));
  }
  int64_t skip = 0, stop = -1;
  ARROW_RETURN_NOT_OK(ParseRows(range.start, split.id, &skip));
  ARROW_RETURN_NOT_OK(ParseRows(range.end, split.id, &stop));
  if (request.limit && (stop < 0 || stop > skip + *request.limit)) {
    stop = skip + *request.limit;
  }
  FileScan scan;
  scan.file = &(*files_)[it->second];
  scan.schema = schema_;
  scan.filter = request.filter;
  std::vector<std::pair<int, std::shared_ptr<arrow::Scalar>>> constants;
  RowNumbers row_numbers;
  for (int i = 0; i < out->num_fields(); ++i) {
    const std::string& name = out->field(i)->name();
    const bool metadata = name == "_metadata" && schema_->GetFieldIndex(name) < 0;
    if ((name == "file_row_number" && settings_.file_row_number) || metadata) {
      // Rows counted from the file's start: the row groups before the split's, and
      // none skipped by statistics.
      (metadata ? row_numbers.metadata : row_numbers.column) = i;
      row_numbers.filename = path;
      row_numbers.first = 0;
      for (int g = 0; g < begin && g < static_cast<int>(scan.file->row_group_rows.size());
           ++g) {
        row_numbers.first += scan.file->row_group_rows[g];
      }
      scan.filter = arrow::compute::literal(true);
    } else if (std::find(virtual_columns_.begin(), virtual_columns_.end(), name) !=
               virtual_columns_.end()) {
      constants.emplace_back(i, VirtualValue(name, it->second));
    } else {
      scan.columns.push_back(name);
    }
  }
  if (partitions_ && !scan.filter.Equals(arrow::compute::literal(true))) {
    // The file's reader sees the filter with its partition values filled in (or
    // none, when they cannot be).
    arrow::compute::Expression simplified;
    auto ok = PartitionMayMatch(request.filter, *schema_, *partitions_, it->second,
                                &simplified);
    scan.filter = ok.ok() ? simplified : arrow::compute::literal(true);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    scan.stats = stats_;
  }
  scan.row_group_begin = begin;
  scan.row_group_end = end;
  ARROW_ASSIGN_OR_RAISE(auto reader, reader_->Open(scan));
  return std::make_unique<FileSplitReader>(std::move(reader), std::move(out), path, skip,
                                           stop, settings_.batch_size,
                                           std::move(constants), row_numbers);
}

int64_t FileSource::EstimatedBytes() const { return prepared_ ? estimated_bytes_ : -1; }

int64_t FileSource::ExactRows() const {
  if (!prepared_) return -1;
  int64_t total = 0;
  for (const auto& f : *files_) {
    if (f.rows < 0) return -1;  // not a Parquet footer, or a file not inspected
    total += f.rows;
  }
  return total;
}

arrow::FieldVector FileSource::HiddenColumns() const {
  // A file that has a column _metadata of its own keeps it.
  if (prepared_ && schema_->GetFieldIndex("_metadata") >= 0) return {};
  return {arrow::field("_metadata", MetadataType())};
}

std::string FileSource::Describe() const {
  std::string format;
  if (prepared_) {
    format = FormatName(settings_.format);
  } else if (args_.options.Has("format")) {
    format = AsciiLower(args_.options.GetString("format"));
  } else if (auto pf = FormatFromPath(path_)) {
    format = FormatName(pf->format);
  }
  std::string out = "file " + format + " " + path_;
  if (prepared_ && files_->size() > 1) {
    out += " (" + std::to_string(files_->size()) + " files)";
  }
  std::lock_guard<std::mutex> lock(mutex_);
  return out + pushed_;
}

}  // namespace flowsql::file
