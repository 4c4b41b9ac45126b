// The file sink. A single-file target is written to a hidden temp file beside it and
// renamed onto the target at Commit(). A directory target (a URI ending in '/' or an
// existing directory) gets one part file per epoch, "part-<epoch>-<pipeline>.<ext>",
// written the same way, fsynced, and published with link() so that it never
// replaces a part already there: that makes a directory a transactional sink.
#include "connectors/file/file_sink.h"

#include <arrow/io/file.h>
#include <arrow/util/compression.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "common/durable_file.h"
#include "connectors/file/batch_writer.h"
#include "connectors/file/file_source.h"
#include "connectors/file/format_reader.h"
#include "connectors/file/sink_settings.h"

namespace flowsql::file {

namespace fs = std::filesystem;

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kErrorIfExists:
      return "error_if_exists";
    case Mode::kOverwrite:
      return "overwrite";
    case Mode::kAppend:
      return "append";
    case Mode::kIgnore:
      return "ignore";
  }
  return "?";
}

std::string RandomHex() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", static_cast<unsigned>(rd()));
  return buf;
}

namespace {

Result<arrow::Compression::type> ParseCompression(const std::string& name,
                                                  FileFormat format) {
  std::string n = AsciiLower(name);
  arrow::Compression::type codec;
  if (n == "none" || n == "uncompressed" || n == "null") {
    codec = arrow::Compression::UNCOMPRESSED;
  } else if (n == "zstd") {
    codec = arrow::Compression::ZSTD;
  } else if (n == "snappy") {
    codec = arrow::Compression::SNAPPY;
  } else if (n == "gzip" || n == "deflate") {
    codec = arrow::Compression::GZIP;
  } else if (n == "lz4") {
    codec = format == FileFormat::kParquet ? arrow::Compression::LZ4
                                           : arrow::Compression::LZ4_FRAME;
  } else if (n == "brotli") {
    codec = arrow::Compression::BROTLI;
  } else if (n == "bz2" || n == "bzip2") {
    codec = arrow::Compression::BZ2;
  } else {
    return Status::Invalid("option 'compression': unknown codec '", name, "'");
  }
  bool ok = true;
  switch (format) {
    case FileFormat::kParquet:
      break;
    case FileFormat::kIpc:
      ok = codec == arrow::Compression::UNCOMPRESSED ||
           codec == arrow::Compression::ZSTD || codec == arrow::Compression::LZ4_FRAME;
      break;
    case FileFormat::kOrc:
      if (codec == arrow::Compression::LZ4_FRAME) codec = arrow::Compression::LZ4;
      ok = codec == arrow::Compression::UNCOMPRESSED ||
           codec == arrow::Compression::ZSTD || codec == arrow::Compression::SNAPPY ||
           codec == arrow::Compression::LZ4 || codec == arrow::Compression::GZIP;
      break;
    case FileFormat::kAvro:
      ok = codec == arrow::Compression::UNCOMPRESSED ||
           codec == arrow::Compression::GZIP || codec == arrow::Compression::SNAPPY ||
           codec == arrow::Compression::ZSTD || codec == arrow::Compression::BZ2;
      break;
    default:
      ok = codec == arrow::Compression::UNCOMPRESSED ||
           codec == arrow::Compression::GZIP || codec == arrow::Compression::ZSTD ||
           codec == arrow::Compression::BZ2 || codec == arrow::Compression::LZ4_FRAME ||
           codec == arrow::Compression::SNAPPY;
  }
  if (format == FileFormat::kParquet && codec == arrow::Compression::BZ2) ok = false;
  // Deflate is Avro's name for its zlib codec; other formats say gzip.
  if (n == "deflate" && format != FileFormat::kAvro) ok = false;
  if (!ok) {
    return Status::Invalid("option 'compression': ", FormatName(format),
                           " files cannot use '", name, "'");
  }
  return codec;
}

}  // namespace

Result<SinkSettings> ParseSinkSettings(const ConnectorArgs& args) {
  SinkSettings s;
  s.path = UriToPath(args.uri);
  if (s.path.empty()) return Status::Invalid("file sink: no path given");
  const Options& o = args.options;
  // A path template, 's3://lake/t/date={YYYY-MM-DD}/*.parquet': the folder before the
  // first '{', the templated folders, then a file pattern whose extension names the
  // format, as a file's would.
  std::string format_path = s.path;
  if (const size_t brace = s.path.find('{'); brace != std::string::npos) {
    const size_t base_end = s.path.rfind('/', brace);
    const size_t last = s.path.rfind('/');
    const std::string pattern = s.path.substr(last + 1);
    if (base_end == std::string::npos || last < brace ||
        pattern.find('*') == std::string::npos) {
      return Status::Invalid(
          "path template '", s.path,
          "': expected <folder>/<templated folders>/<file pattern>, as "
          "'lake/t/date={YYYY-MM-DD}/*.parquet'");
    }
    for (size_t start = base_end + 1; start < last;) {
      size_t slash = s.path.find('/', start);
      if (slash > last) slash = last;
      if (slash > start) s.path_template.push_back(s.path.substr(start, slash - start));
      start = slash + 1;
    }
    s.timestamp_column = o.GetString("timestamp_column", "");
    s.path = s.path.substr(0, base_end + 1);
    format_path = pattern;
  }
  ARROW_ASSIGN_OR_RAISE(s.storage, Storage::Open(s.path, o));
  for (const auto& spec : StorageOptionSpecs()) {
    if (o.IsSet(spec.name)) s.storage_options.Set(spec.name, o.GetString(spec.name));
  }
  if (s.storage->local()) {
    std::error_code ec;
    s.directory = s.path.back() == '/' || fs::is_directory(s.path, ec);
  } else {
    s.directory = s.path.back() == '/';
    if (!s.directory) {
      ARROW_ASSIGN_OR_RAISE(auto kind, s.storage->KindOf(s.path));
      s.directory = kind == Storage::Kind::kDirectory;
    }
    while (s.path.size() > 1 && s.path.back() == '/') s.path.pop_back();
  }
  auto from_path = FormatFromPath(format_path);
  if (o.Has("format")) {
    ARROW_ASSIGN_OR_RAISE(s.write.format, FormatFromName(o.GetString("format")));
    if (AsciiLower(o.GetString("format")) == "tsv") s.write.delimiter = '\t';
  } else if (from_path && (!s.directory || !s.path_template.empty())) {
    s.write.format = from_path->format;
  } else if (s.directory) {
    s.write.format = FileFormat::kParquet;
  } else {
    return Status::Invalid("cannot tell the format to write '", s.path,
                           "' from its extension; set option format = "
                           "'csv'|'json'|'ndjson'|'parquet'|'ipc'|'orc'|'avro'");
  }
  if (from_path && from_path->tab_separated) s.write.delimiter = '\t';
  if (o.IsSet("delimiter")) {
    std::string d = o.GetString("delimiter");
    if (d == "\\t" || AsciiLower(d) == "tab") d = "\t";
    if (d.size() != 1) {
      return Status::Invalid("option 'delimiter': expected one character, got '", d, "'");
    }
    s.write.delimiter = d[0];
  }
  s.write.header = o.GetBool("header", true);
  s.write.dictionary = o.GetBool("dictionary", true);
  s.write.statistics = o.GetBool("statistics", true);
  // Compression: parquet defaults to snappy; csv/json to what the extension says.
  if (o.IsSet("compression")) {
    ARROW_ASSIGN_OR_RAISE(s.write.compression,
                          ParseCompression(o.GetString("compression"), s.write.format));
  } else if (s.write.format == FileFormat::kParquet) {
    s.write.compression = arrow::Compression::SNAPPY;
  } else if (from_path) {
    s.write.compression = from_path->compression;
  }
  if (o.Has("compression_level")) {
    s.write.compression_level = static_cast<int>(o.GetInt("compression_level"));
  }
  s.write.row_group_size = o.GetInt("row_group_size", 1048576);
  if (s.write.row_group_size <= 0) {
    return Status::Invalid("option 'row_group_size' must be > 0");
  }
  std::string mode = AsciiLower(o.GetString("mode", "error_if_exists"));
  if (mode == "overwrite") {
    s.mode = Mode::kOverwrite;
  } else if (mode == "append") {
    s.mode = Mode::kAppend;
  } else if (mode == "ignore") {
    s.mode = Mode::kIgnore;
  } else {
    s.mode = Mode::kErrorIfExists;
  }
  if (o.GetBool("overwrite", false)) s.mode = Mode::kOverwrite;
  if (o.GetBool("append", false)) s.mode = Mode::kAppend;
  // 'year,month', or (year, month) in COPY.
  const std::string partitions = o.GetString("partition_by", "");
  for (size_t start = 0; start < partitions.size();) {
    size_t comma = partitions.find(',', start);
    if (comma == std::string::npos) comma = partitions.size();
    std::string name = TrimBlanks(partitions.substr(start, comma - start));
    if (!name.empty()) s.partition_by.push_back(std::move(name));
    start = comma + 1;
  }
  s.max_rows_per_file = o.GetInt("max_rows_per_file", 0);
  if (o.Has("max_file_size")) {
    ARROW_ASSIGN_OR_RAISE(s.max_file_size, ParseSizeBytes(o.GetString("max_file_size")));
  }
  if (s.max_rows_per_file < 0 || s.max_file_size < 0) {
    return Status::Invalid(
        "options 'max_rows_per_file' and 'max_file_size' must be >= 0");
  }
  return s;
}

std::string PartExtension(const WriteSettings& write) {
  std::string ext = FormatExtension(write.format);
  const auto f = write.format;
  if (f == FileFormat::kCsv || f == FileFormat::kJson || f == FileFormat::kNdjson) {
    ext += CompressionExtension(write.compression);
  }
  return ext;
}

int64_t PartNameEpoch(const std::string& name, std::string* rest) {
  constexpr std::string_view kPart = "part-";
  if (name.rfind(kPart, 0) != 0) return -1;
  int64_t epoch = -1;
  const char* begin = name.data() + kPart.size();
  auto [end, ec] = std::from_chars(begin, name.data() + name.size(), epoch);
  if (ec != std::errc() || end - begin < 8 || epoch < 0) return -1;
  if (rest != nullptr) rest->assign(end, name.data() + name.size());
  return epoch;
}

Status RemoveOtherDataFiles(const SinkSettings& settings,
                            const std::vector<std::string>& keep) {
  std::vector<std::string> names;
  ARROW_RETURN_NOT_OK(settings.storage->ListFiles(settings.path, &names));
  for (const auto& name : names) {
    const std::string uri = Storage::Join(settings.path, name);
    if (std::find(keep.begin(), keep.end(), uri) != keep.end()) continue;
    auto pf = FormatFromPath(name);
    if (pf && pf->format == settings.write.format) {
      ARROW_RETURN_NOT_OK(settings.storage->DeleteFile(uri));
    }
  }
  return Status::OK();
}

std::string PartPrefix(int64_t epoch, const std::string& pipeline) {
  char head[32];
  std::snprintf(head, sizeof(head), "part-%08" PRId64 "-", epoch);
  return head + pipeline + ".";
}

namespace {

/// The epoch of part file `name` when it is a part of `pipeline` with extension
/// `ext`, else -1.
int64_t PartEpoch(const std::string& name, const std::string& pipeline,
                  const std::string& ext) {
  const int64_t epoch = PartNameEpoch(name, nullptr);
  return epoch >= 0 && name == PartPrefix(epoch, pipeline) + ext ? epoch : -1;
}

/// Appending to a Parquet, IPC or JSON-array file: writes the rows of `target` (read
/// with the sink's storage options) to `writer`, conformed to `schema`.
Status CopyOldRows(const SinkSettings& settings, const std::string& target,
                   const std::shared_ptr<arrow::Schema>& schema, BatchWriter* writer) {
  ConnectorArgs args;
  args.uri = target;
  args.options = settings.storage_options;
  args.options.Set("format", FormatName(settings.write.format));
  FileSource old(args);
  ARROW_ASSIGN_OR_RAISE(auto old_schema, old.GetSchema());
  for (const auto& f : old_schema->fields()) {
    if (schema->GetFieldIndex(f->name()) < 0) {
      return Status::Invalid("cannot append to ", target, ": it has column '", f->name(),
                             "', which the new rows do not have");
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto stream, ScanAll(&old, ScanRequest{}));
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(stream->ReadNext(&batch));
    if (!batch) break;
    ARROW_ASSIGN_OR_RAISE(batch, ConformByName(batch, schema, target));
    ARROW_RETURN_NOT_OK(writer->Write(*batch));
  }
  return Status::OK();
}

std::string ParentDir(const std::string& path) {
  auto parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

class FileSink : public Sink {
 public:
  explicit FileSink(SinkSettings settings) : settings_(std::move(settings)) {}

  ~FileSink() override {
    (void)Abort();
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  Status Open(const std::shared_ptr<arrow::Schema>& schema,
              const SinkContext& context) override {
    if (opened_) return Status::Invalid("file sink: Open() called twice");
    schema_ = schema;
    pipeline_ = context.pipeline;
    if (context.continuous && !settings_.directory) {
      return Status::Invalid(settings_.path,
                             ": a continuous pipeline writes many epochs and needs a "
                             "directory target (a path ending with '/')");
    }
    // A resumed pipeline adds to what its earlier runs wrote, whatever the mode.
    if (context.resumed) settings_.mode = Mode::kAppend;
    // A single file a crashed first run may have renamed into place is replaced.
    if (context.pending_first && !settings_.directory &&
        settings_.mode == Mode::kErrorIfExists) {
      settings_.mode = Mode::kOverwrite;
    }
    const std::string& path = settings_.path;
    std::error_code ec;
    bool exists = fs::exists(path, ec);
    if (settings_.directory) {
      bool non_empty = exists && !IsEmptyDirectory(path);
      if (non_empty && settings_.mode == Mode::kErrorIfExists) {
        return Status::Invalid(path,
                               " already exists and is not empty; use mode = "
                               "'overwrite' or 'append'");
      }
      if (non_empty && settings_.mode == Mode::kIgnore) ignore_ = true;
      if (!ignore_) {
        fs::create_directories(path, ec);
        if (ec)
          return Status::IOError("cannot create directory ", path, ": ", ec.message());
        ARROW_RETURN_NOT_OK(LockPipeline());
      }
    } else {
      // The process's own streams and devices are written as they are, in place.
      if (path.rfind("/dev/", 0) == 0 || path.rfind("/proc/", 0) == 0) {
        ARROW_RETURN_NOT_OK(StartStream(path));
        opened_ = true;
        return Status::OK();
      }
      // A symlink is followed: the file it names is replaced, and the link kept.
      if (fs::is_symlink(path, ec)) {
        fs::path resolved = fs::read_symlink(path, ec);
        if (!ec && resolved.is_relative())
          resolved = fs::path(path).parent_path() / resolved;
        if (!ec) settings_.path = resolved.lexically_normal().string();
        exists = fs::exists(settings_.path, ec);
      }
      // A device or a pipe (/dev/stdout, a FIFO) is written as it is, in place.
      if (exists && !fs::is_regular_file(settings_.path, ec) &&
          !fs::is_directory(settings_.path, ec)) {
        ARROW_RETURN_NOT_OK(StartStream(settings_.path));
        opened_ = true;
        return Status::OK();
      }
      if (exists && settings_.mode == Mode::kErrorIfExists) {
        return Status::Invalid(path,
                               " already exists; use mode = 'overwrite' or 'append'");
      }
      if (exists && settings_.mode == Mode::kIgnore) ignore_ = true;
      if (!ignore_) {
        auto parent = fs::path(path).parent_path();
        if (!parent.empty()) fs::create_directories(parent, ec);
        ARROW_RETURN_NOT_OK(StartFile(path, exists && settings_.mode == Mode::kAppend));
      }
    }
    opened_ = true;
    return Status::OK();
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    if (!opened_) return Status::Invalid("file sink: Write() before Open()");
    if (ignore_ || batch->num_rows() == 0) return Status::OK();
    if (!settings_.directory && committed_) {
      return Status::Invalid(
          settings_.path,
          ": a single file is written once; continuous writes need a directory target "
          "(a path ending with '/')");
    }
    if (aborted_ && !settings_.directory) {
      return Status::Invalid(settings_.path, ": the write was aborted");
    }
    if (writer_ == nullptr) {
      if (!settings_.directory) return Status::Invalid("file sink: not open");
      ARROW_RETURN_NOT_OK(StartPart());
    }
    Status st = writer_->Write(*batch);
    if (!st.ok()) return WithPath(st, settings_.path);
    rows_ += batch->num_rows();
    return Status::OK();
  }

  Status Commit(const Epoch& epoch) override {
    if (!opened_) return Status::Invalid("file sink: Commit() before Open()");
    if (ignore_) return Status::OK();
    if (!settings_.directory) {
      if (committed_) return Status::OK();
      if (writer_ == nullptr)
        return Status::Invalid(settings_.path, ": nothing to commit");
      if (stream_) {
        Status st = writer_->Close();
        writer_.reset();
        committed_ = true;
        return WithPath(st, settings_.path);
      }
      ARROW_RETURN_NOT_OK(FinishTemp(settings_.path, /*replace=*/true));
      committed_ = true;
      return Status::OK();
    }
    if (writer_ != nullptr) {
      std::string name = PartPrefix(epoch.number, epoch.pipeline) + PartExtension();
      std::string final_path = (fs::path(settings_.path) / name).string();
      ARROW_RETURN_NOT_OK(FinishTemp(final_path, /*replace=*/false));
      written_.push_back(name);
    }
    if (settings_.mode == Mode::kOverwrite && !replaced_old_) {
      ARROW_RETURN_NOT_OK(RemoveOldParts());
      replaced_old_ = true;
    }
    return Status::OK();
  }

  Status Abort() override {
    if (writer_ != nullptr) {
      (void)writer_->Close();
      writer_.reset();
    }
    if (!temp_path_.empty()) {
      std::error_code ec;
      fs::remove(temp_path_, ec);
      temp_path_.clear();
    }
    rows_ = 0;
    if (opened_ && !committed_) aborted_ = true;
    return Status::OK();
  }

  /// A directory stores the epoch in its part names; a single file holds one
  /// write and cannot tell which epoch it came from.
  bool transactional() const override { return settings_.directory; }

  Result<int64_t> LastCommittedEpoch(const std::string& pipeline) override {
    int64_t last = -1;
    ARROW_ASSIGN_OR_RAISE(auto names, ListDirectory(settings_.path));
    for (const auto& name : names) {
      last = std::max(last, PartEpoch(name, pipeline, PartExtension()));
    }
    return last;
  }

  std::string Describe() const override {
    // The extension names format and compression ("csv.gz"): both decide which
    // part names LastCommittedEpoch() recognizes, so both belong to the identity.
    return std::string("file ") + PartExtension() + " " + settings_.path +
           (settings_.directory ? " (part files)" : "") +
           " mode=" + ModeName(settings_.mode);
  }

 private:
  std::string PartExtension() const { return file::PartExtension(settings_.write); }

  /// True when `path` holds no visible file (an unreadable one counts as not empty).
  static bool IsEmptyDirectory(const std::string& path) {
    auto names = ListDirectory(path);
    if (!names.ok()) return false;
    for (const auto& name : *names) {
      if (!name.empty() && name[0] != '.') return false;
    }
    return true;
  }

  // Opens a temp file beside `target`; with `append`, first puts the target's rows in.
  Status StartFile(const std::string& target, bool append) {
    fs::path t(target);
    temp_path_ = (t.parent_path() / ("." + t.filename().string() + ".tmp-" + RandomHex()))
                     .string();
    const auto format = settings_.write.format;
    bool raw_append =
        append && (format == FileFormat::kCsv || format == FileFormat::kNdjson);
    bool write_header = true;
    if (raw_append) {
      // CSV and NDJSON: copy the old bytes, then add rows (a gzip file gets a second
      // gzip member, which readers concatenate).
      std::error_code ec;
      fs::copy_file(target, temp_path_, fs::copy_options::overwrite_existing, ec);
      if (ec) return Status::IOError("cannot copy ", target, ": ", ec.message());
      write_header = fs::file_size(temp_path_, ec) == 0;
    }
    // Opened here to report the system's reason (Arrow's message names only the
    // hidden temporary file).
    const int fd =
        ::open(temp_path_.c_str(),
               O_WRONLY | O_CREAT | O_CLOEXEC | (raw_append ? O_APPEND : O_EXCL), 0644);
    if (fd < 0) {
      const int error = errno;
      temp_path_.clear();
      return Status::IOError("cannot write ", target, ": ", std::strerror(error),
                             " (creating a file in ", ParentDir(target), ")");
    }
    auto out = arrow::io::FileOutputStream::Open(fd);
    if (!out.ok()) {
      ::close(fd);
      temp_path_.clear();
      return Status::IOError("cannot write ", target, ": ", out.status().message());
    }
    if (raw_append && !write_header &&
        CompressionFromPath(target) == arrow::Compression::UNCOMPRESSED &&
        !EndsWithNewline(target)) {
      ARROW_RETURN_NOT_OK((*out)->Write("\n", 1));
    }
    auto writer = MakeBatchWriter(settings_.write, *out, schema_, write_header);
    if (!writer.ok()) {
      (void)(*out)->Close();
      (void)Abort();
      return WithPath(writer.status(), target);
    }
    writer_ = std::move(*writer);
    if (append && !raw_append) {
      Status st = CopyOldRows(settings_, target, schema_, writer_.get());
      if (!st.ok()) {
        (void)Abort();
        return st;
      }
    }
    return Status::OK();
  }

  static bool EndsWithNewline(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return true;
    bool newline = true;
    if (std::fseek(f, -1, SEEK_END) == 0) newline = std::fgetc(f) == '\n';
    std::fclose(f);
    return newline;
  }

  /// A device or pipe target: written directly, no temporary file, no rename.
  Status StartStream(const std::string& target) {
    // /dev/stdout, /dev/stderr, /dev/fd/N: the descriptor this process already has
    // (reopening a redirected file would write over what is there).
    int fd = -1;
    int n = -1;
    if (target == "/dev/stdout") n = 1;
    if (target == "/dev/stderr") n = 2;
    if (std::sscanf(target.c_str(), "/dev/fd/%d", &n) == 1 ||
        std::sscanf(target.c_str(), "/proc/self/fd/%d", &n) == 1 || n >= 0) {
      fd = ::fcntl(n, F_DUPFD_CLOEXEC, 0);
    } else {
      fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) {
      return Status::IOError("cannot write ", target, ": ", std::strerror(errno));
    }
    auto out = arrow::io::FileOutputStream::Open(fd);
    if (!out.ok()) {
      ::close(fd);
      return WithPath(out.status(), target);
    }
    auto writer = MakeBatchWriter(settings_.write, *out, schema_, true);
    if (!writer.ok()) return WithPath(writer.status(), target);
    writer_ = std::move(*writer);
    stream_ = true;
    return Status::OK();
  }

  Status StartPart() {
    return StartFile(
        (fs::path(settings_.path) / ("part-" + pipeline_ + "." + PartExtension()))
            .string(),
        false);
  }

  // One writer per pipeline and directory: two would pick the same epoch numbers,
  // and link() would keep one part and drop the other's rows. The lock also makes
  // it safe to remove temporary files a crashed run of the pipeline left.
  Status LockPipeline() {
    const std::string lock = (fs::path(settings_.path) / (".lock-" + pipeline_)).string();
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) {
      return Status::IOError("cannot create ", lock, ": ", std::strerror(errno));
    }
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd_);
      lock_fd_ = -1;
      return Status::IOError("pipeline '", pipeline_, "' is already writing to ",
                             settings_.path, " in another process");
    }
    const std::string stale = ".part-" + pipeline_ + "." + PartExtension() + ".tmp-";
    ARROW_ASSIGN_OR_RAISE(auto names, ListDirectory(settings_.path));
    for (const auto& name : names) {
      std::error_code ec;
      if (name.rfind(stale, 0) == 0) fs::remove(fs::path(settings_.path) / name, ec);
    }
    return Status::OK();
  }

  // Closes the writer, makes the temp file durable and publishes it as
  // `final_path`: renamed over it when `replace`, else linked, so that an existing
  // part (an epoch committed before a crash) is kept and the new copy dropped.
  Status FinishTemp(const std::string& final_path, bool replace) {
    Status st = writer_->Close();
    writer_.reset();
    if (st.ok()) st = SyncPath(temp_path_, false);
    if (!st.ok()) {
      (void)Abort();
      return WithPath(st, settings_.path);
    }
    std::error_code ec;
    if (settings_.mode == Mode::kErrorIfExists && !settings_.directory &&
        fs::exists(final_path, ec)) {
      (void)Abort();
      return Status::Invalid(final_path,
                             " already exists; use mode = 'overwrite' or 'append'");
    }
    if (replace) {
      fs::rename(temp_path_, final_path, ec);
    } else if (::link(temp_path_.c_str(), final_path.c_str()) != 0 && errno != EEXIST) {
      ec = std::error_code(errno, std::generic_category());
    }
    if (ec) {
      (void)Abort();
      return Status::IOError("cannot rename into ", final_path, ": ", ec.message());
    }
    if (!replace) fs::remove(temp_path_, ec);
    temp_path_.clear();
    rows_ = 0;
    return SyncPath(ParentDir(final_path), true);
  }

  // Overwrite of a directory: removes data files of our format not written by us.
  Status RemoveOldParts() {
    std::error_code ec;
    std::vector<fs::path> old;
    ARROW_ASSIGN_OR_RAISE(auto names, ListDirectory(settings_.path));
    for (const auto& name : names) {
      const fs::path p = fs::path(settings_.path) / name;
      if (name.empty() || name[0] == '.' || !fs::is_regular_file(p, ec)) continue;
      if (std::find(written_.begin(), written_.end(), name) != written_.end()) continue;
      auto pf = FormatFromPath(name);
      if (pf && pf->format == settings_.write.format) old.push_back(p);
    }
    for (const auto& p : old) {
      fs::remove(p, ec);
      if (ec) return Status::IOError("cannot remove ", p.string(), ": ", ec.message());
    }
    return Status::OK();
  }

  SinkSettings settings_;
  std::shared_ptr<arrow::Schema> schema_;
  std::unique_ptr<BatchWriter> writer_;
  std::string temp_path_;
  int64_t rows_ = 0;
  std::vector<std::string> written_;
  bool opened_ = false;
  bool committed_ = false;
  bool aborted_ = false;
  bool ignore_ = false;
  bool stream_ = false;  // a device or pipe target, written in place
  bool replaced_old_ = false;
  std::string pipeline_;
  int lock_fd_ = -1;
};

/// A sink into an object store, same layout and modes as FileSink. An object is
/// published whole or not at all: on S3 it is uploaded in place as a multipart upload
/// that Commit() completes and Abort() aborts; on other stores it is uploaded under a
/// hidden name (".<name>.tmp-<random>", never listed) and copied onto its name at
/// Commit(). A folder target gets one part per epoch, named as FileSink's; a part an
/// earlier run committed is kept, and the replayed copy dropped. Object stores have
/// no locks: one writer per pipeline and folder is the caller's to ensure.
class ObjectSink : public Sink {
 public:
  explicit ObjectSink(SinkSettings settings) : settings_(std::move(settings)) {}
  ~ObjectSink() override { (void)Abort(); }

  Status Open(const std::shared_ptr<arrow::Schema>& schema,
              const SinkContext& context) override {
    if (opened_) return Status::Invalid("file sink: Open() called twice");
    schema_ = schema;
    pipeline_ = context.pipeline;
    const std::string& path = settings_.path;
    if (context.continuous && !settings_.directory) {
      return Status::Invalid(path,
                             ": a continuous pipeline writes many epochs and needs a "
                             "folder target (a path ending with '/')");
    }
    if (context.resumed) settings_.mode = Mode::kAppend;
    if (context.pending_first && !settings_.directory &&
        settings_.mode == Mode::kErrorIfExists) {
      settings_.mode = Mode::kOverwrite;
    }
    const Storage& storage = *settings_.storage;
    bool exists = false;
    if (settings_.directory) {
      // One listing: whether the folder holds files, and the temporary objects a
      // crashed run of this pipeline left behind.
      std::vector<std::string> names;
      ARROW_RETURN_NOT_OK(storage.ListFiles(path, &names, /*hidden=*/true));
      const std::string stale = ".part-" + pipeline_ + ".";
      for (const auto& name : names) {
        exists = exists || !Storage::IsHidden(name);
        if (name.rfind(stale, 0) == 0 && name.find(".tmp-") != std::string::npos) {
          (void)storage.DeleteFile(Storage::Join(path, name));
        }
      }
    } else {
      ARROW_ASSIGN_OR_RAISE(auto kind, storage.KindOf(path));
      exists = kind == Storage::Kind::kFile;
    }
    if (exists && settings_.mode == Mode::kErrorIfExists) {
      return Status::Invalid(
          path, settings_.directory ? " already holds files" : " already exists",
          "; use mode = 'overwrite' or 'append'");
    }
    ignore_ = exists && settings_.mode == Mode::kIgnore;
    append_old_ = exists && !settings_.directory && settings_.mode == Mode::kAppend;
    opened_ = true;
    return Status::OK();
  }

  Status BeginEpoch(const Epoch& epoch) override {
    epoch_ = epoch.number;
    return Status::OK();
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    if (!opened_) return Status::Invalid("file sink: Write() before Open()");
    if (ignore_ || batch->num_rows() == 0) return Status::OK();
    if (!settings_.directory && committed_) {
      return Status::Invalid(settings_.path,
                             ": a single object is written once; continuous writes need "
                             "a folder target (a path ending with '/')");
    }
    if (writer_ == nullptr) {
      if (settings_.directory && epoch_ < 0) {
        return Status::Invalid("file sink: Write() before BeginEpoch()");
      }
      ARROW_RETURN_NOT_OK(Start(Target(epoch_)));
    }
    Status st = writer_->Write(*batch);
    if (!st.ok()) return WithPath(st, settings_.path);
    return Status::OK();
  }

  Status Commit(const Epoch& epoch) override {
    if (!opened_) return Status::Invalid("file sink: Commit() before Open()");
    if (ignore_) return Status::OK();
    if (!settings_.directory) {
      if (committed_) return Status::OK();
      if (writer_ == nullptr)
        return Status::Invalid(settings_.path, ": nothing to commit");
      ARROW_RETURN_NOT_OK(Finish(settings_.path));
      committed_ = true;
      return Status::OK();
    }
    if (writer_ != nullptr) {
      const std::string target = Target(epoch.number);
      if (settings_.storage->atomic_uploads() && target != uploading_) {
        (void)Abort();
        return Status::Invalid("file sink: Commit(", epoch.number,
                               ") of an epoch begun as ", epoch_);
      }
      // A replayed epoch whose part is there already: that one stays.
      ARROW_ASSIGN_OR_RAISE(auto kind, settings_.storage->KindOf(target));
      if (kind == Storage::Kind::kFile) {
        ARROW_RETURN_NOT_OK(Abort());
      } else {
        ARROW_RETURN_NOT_OK(Finish(target));
      }
      written_.push_back(target);
    }
    if (settings_.mode == Mode::kOverwrite && !replaced_old_) {
      ARROW_RETURN_NOT_OK(RemoveOtherDataFiles(settings_, written_));
      replaced_old_ = true;
    }
    epoch_ = -1;
    return Status::OK();
  }

  Status Abort() override {
    if (out_ != nullptr) (void)out_->Abort();
    writer_.reset();
    out_.reset();
    uploading_.clear();
    if (!temp_.empty()) {
      (void)settings_.storage->DeleteFile(temp_);
      temp_.clear();
    }
    return Status::OK();
  }

  bool transactional() const override { return settings_.directory; }

  Result<int64_t> LastCommittedEpoch(const std::string& pipeline) override {
    int64_t last = -1;
    std::vector<std::string> names;
    ARROW_RETURN_NOT_OK(settings_.storage->ListFiles(settings_.path, &names));
    for (const auto& name : names) {
      last = std::max(last, PartEpoch(name, pipeline, PartExtension(settings_.write)));
    }
    return last;
  }

  std::string Describe() const override {
    return "file " + PartExtension(settings_.write) + " " + settings_.path +
           (settings_.directory ? " (part files)" : "") +
           " mode=" + ModeName(settings_.mode);
  }

 private:
  /// The object an epoch's rows go to.
  std::string Target(int64_t epoch) const {
    if (!settings_.directory) return settings_.path;
    return Storage::Join(settings_.path,
                         PartPrefix(epoch, pipeline_) + PartExtension(settings_.write));
  }

  Status Start(const std::string& target) {
    const Storage& storage = *settings_.storage;
    std::string name = target;
    if (storage.atomic_uploads()) {
      uploading_ = target;
    } else {
      const size_t slash = target.rfind('/');
      temp_ = target.substr(0, slash + 1) + "." + target.substr(slash + 1) + ".tmp-" +
              RandomHex();
      name = temp_;
    }
    ARROW_ASSIGN_OR_RAISE(out_, storage.OpenOutput(name));
    auto writer = MakeBatchWriter(settings_.write, out_, schema_, true);
    if (!writer.ok()) {
      (void)Abort();
      return WithPath(writer.status(), target);
    }
    writer_ = std::move(*writer);
    if (append_old_) {
      Status st = CopyOldRows(settings_, target, schema_, writer_.get());
      if (!st.ok()) {
        (void)Abort();
        return st;
      }
    }
    return Status::OK();
  }

  /// Closes the writer: the upload completes under `target`, or the temporary object
  /// is copied there.
  Status Finish(const std::string& target) {
    Status st = writer_->Close();
    writer_.reset();
    if (!st.ok()) {
      (void)Abort();
      return WithPath(st, target);
    }
    out_.reset();
    uploading_.clear();
    if (!temp_.empty()) {
      st = settings_.storage->CopyFile(temp_, target);
      (void)settings_.storage->DeleteFile(temp_);
      temp_.clear();
    }
    return st;
  }

  SinkSettings settings_;
  std::shared_ptr<arrow::Schema> schema_;
  std::string pipeline_;
  std::shared_ptr<arrow::io::OutputStream> out_;
  std::unique_ptr<BatchWriter> writer_;
  std::string uploading_;  // the object an S3 upload in progress will become
  std::string temp_;       // the hidden object being written, on other stores
  int64_t epoch_ = -1;     // the epoch begun, -1 between epochs
  std::vector<std::string> written_;
  bool opened_ = false;
  bool committed_ = false;
  bool ignore_ = false;
  bool append_old_ = false;  // a single object to append to: its rows go first
  bool replaced_old_ = false;
};

}  // namespace

std::unique_ptr<Sink> MakeSingleFileSink(SinkSettings settings) {
  if (!settings.storage->local())
    return std::make_unique<ObjectSink>(std::move(settings));
  return std::make_unique<FileSink>(std::move(settings));
}

Result<std::unique_ptr<Sink>> MakeFileSink(const ConnectorArgs& args) {
  ARROW_ASSIGN_OR_RAISE(auto settings, ParseSinkSettings(args));
  if (!settings.partition_by.empty() || !settings.path_template.empty() ||
      settings.max_rows_per_file > 0 || settings.max_file_size > 0) {
    if (!settings.directory) {
      return Status::Invalid(
          settings.path,
          ": partition_by, max_rows_per_file and max_file_size write "
          "many files and need a folder target (a path ending with '/')");
    }
    return MakePartitionedSink(std::move(settings));
  }
  return MakeSingleFileSink(std::move(settings));
}

}  // namespace flowsql::file
