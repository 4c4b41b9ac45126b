#include "runtime/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/codec.h"
#include "common/durable_file.h"

namespace flowsql {

namespace {

namespace fs = std::filesystem;

constexpr const char* kPipelineMagic = "flowsql-pipeline-1";
constexpr const char* kOffsetsMagic = "flowsql-offsets-1";
constexpr const char* kCommitMagic = "flowsql-commit-1";

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what, " '", path, "': ", std::strerror(errno));
}

/// Replaces dir/name with `data`, durably.
Status WriteAtomically(const std::string& dir, const std::string& name,
                       const std::string& data) {
  return WriteFileAtomically((fs::path(dir) / name).string(), data);
}

Result<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errno("cannot open state file", path);
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) return Errno("cannot read state file", path);
  return data.str();
}

std::string EpochName(int64_t epoch) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020" PRId64, epoch);
  return name;
}

/// The epochs with a file in `dir`, ascending. Listing errors are errors: an
/// unreadable log must never look like an empty one.
Result<std::vector<int64_t>> Epochs(const std::string& dir) {
  ARROW_ASSIGN_OR_RAISE(auto names, ListDirectory(dir));
  std::vector<int64_t> out;
  for (const auto& name : names) {
    int64_t epoch = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), epoch);
    if (name.size() != 20 || ec != std::errc() || end != name.data() + name.size()) {
      continue;
    }
    out.push_back(epoch);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Encode(const OffsetEntry& e) {
  std::string out;
  AppendField(kOffsetsMagic, &out);
  AppendField(e.epoch, &out);
  AppendField(static_cast<int64_t>(e.splits.size()), &out);
  for (const auto& s : e.splits) {
    AppendField(s.scan, &out);
    AppendField(s.split.id, &out);
    AppendField(s.split.payload, &out);
    AppendField(s.range.start, &out);
    AppendField(s.range.end, &out);
    AppendField(s.done ? 1 : 0, &out);
    AppendField(s.read ? 1 : 0, &out);
  }
  return out;
}

Result<OffsetEntry> DecodeOffsets(const std::string& data, const std::string& path) {
  FieldReader in(data, "state file '" + path + "'");
  ARROW_ASSIGN_OR_RAISE(auto magic, in.String());
  if (magic != kOffsetsMagic) return Status::IOError("'", path, "' is not an offset log");
  OffsetEntry e;
  ARROW_ASSIGN_OR_RAISE(e.epoch, in.Int());
  ARROW_ASSIGN_OR_RAISE(int64_t n, in.Int());
  for (int64_t i = 0; i < n; ++i) {
    SplitProgress s;
    ARROW_ASSIGN_OR_RAISE(s.scan, in.String());
    ARROW_ASSIGN_OR_RAISE(s.split.id, in.String());
    ARROW_ASSIGN_OR_RAISE(s.split.payload, in.String());
    ARROW_ASSIGN_OR_RAISE(s.range.start, in.String());
    ARROW_ASSIGN_OR_RAISE(s.range.end, in.String());
    ARROW_ASSIGN_OR_RAISE(int64_t done, in.Int());
    s.done = done != 0;
    ARROW_ASSIGN_OR_RAISE(int64_t read, in.Int());
    s.read = read != 0;
    e.splits.push_back(std::move(s));
  }
  return e;
}

std::string Encode(const CommitEntry& e) {
  std::string out;
  AppendField(kCommitMagic, &out);
  AppendField(e.epoch, &out);
  AppendField(e.rows, &out);
  AppendField(e.total_rows, &out);
  AppendField(e.time_ms, &out);
  return out;
}

Result<CommitEntry> DecodeCommit(const std::string& data, const std::string& path) {
  FieldReader in(data, "state file '" + path + "'");
  ARROW_ASSIGN_OR_RAISE(auto magic, in.String());
  if (magic != kCommitMagic) return Status::IOError("'", path, "' is not a commit log");
  CommitEntry e;
  ARROW_ASSIGN_OR_RAISE(e.epoch, in.Int());
  ARROW_ASSIGN_OR_RAISE(e.rows, in.Int());
  ARROW_ASSIGN_OR_RAISE(e.total_rows, in.Int());
  ARROW_ASSIGN_OR_RAISE(e.time_ms, in.Int());
  return e;
}

/// The newest entry of `kind` ("offsets" or "commits") in `dir`.
template <typename Entry, typename Decode>
Result<std::optional<Entry>> LoadLast(const std::string& dir, Decode decode) {
  ARROW_ASSIGN_OR_RAISE(auto epochs, Epochs(dir));
  if (epochs.empty()) return std::optional<Entry>();
  const std::string path = (fs::path(dir) / EpochName(epochs.back())).string();
  ARROW_ASSIGN_OR_RAISE(auto data, ReadWhole(path));
  ARROW_ASSIGN_OR_RAISE(auto entry, decode(data, path));
  return std::optional<Entry>(std::move(entry));
}

Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Status::IOError("cannot create state directory '", dir, "': ", ec.message());
  return Status::OK();
}

}  // namespace

Status ValidatePipelineName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.';
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                c == '.');
  }
  if (!ok) {
    return Status::Invalid("pipeline name '", name,
                           "' must be 1 to 128 characters of A-Z a-z 0-9 _ . - "
                           "(not starting with '.')");
  }
  return Status::OK();
}

Result<PipelineState> PipelineState::Open(const std::string& state_dir,
                                          const std::string& name,
                                          const std::string& fingerprint, bool reset) {
  ARROW_RETURN_NOT_OK(ValidatePipelineName(name));
  PipelineState state;
  state.dir_ = (fs::path(state_dir) / name).string();
  ARROW_RETURN_NOT_OK(MakeDirs(state_dir));
  // The lock sits beside the pipeline's folder, so that --reset can remove it.
  const std::string lock = (fs::path(state_dir) / ("." + name + ".lock")).string();
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create lock", lock);
  state.lock_ = std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return Status::Invalid("pipeline '", name, "' in '", state_dir,
                           "' is running in another process");
  }
  std::error_code ec;
  if (reset) {
    fs::remove_all(state.dir_, ec);
    if (ec) return Status::IOError("cannot reset '", state.dir_, "': ", ec.message());
  }
  const std::string meta = (fs::path(state.dir_) / "pipeline").string();
  if (fs::exists(meta, ec)) {
    ARROW_ASSIGN_OR_RAISE(auto data, ReadWhole(meta));
    FieldReader in(data, "state file '" + meta + "'");
    ARROW_ASSIGN_OR_RAISE(auto magic, in.String());
    ARROW_ASSIGN_OR_RAISE(auto recorded_name, in.String());
    ARROW_ASSIGN_OR_RAISE(auto recorded, in.String());
    if (magic != kPipelineMagic)
      return Status::IOError("'", meta, "' is not pipeline state");
    if (recorded != fingerprint) {
      return Status::Invalid(
          "pipeline '", name, "' in '", state_dir,
          "' was started by a different statement (its plan changed); rerun with "
          "--reset to start it over, or choose another --pipeline name");
    }
  } else {
    ARROW_RETURN_NOT_OK(MakeDirs(state.dir_));
    std::string data;
    AppendField(kPipelineMagic, &data);
    AppendField(name, &data);
    AppendField(fingerprint, &data);
    ARROW_RETURN_NOT_OK(WriteAtomically(state.dir_, "pipeline", data));
  }
  ARROW_RETURN_NOT_OK(MakeDirs(state.dir_ + "/offsets"));
  ARROW_RETURN_NOT_OK(MakeDirs(state.dir_ + "/commits"));
  ARROW_ASSIGN_OR_RAISE(state.last_offsets_,
                        LoadLast<OffsetEntry>(state.dir_ + "/offsets", DecodeOffsets));
  ARROW_ASSIGN_OR_RAISE(state.last_commit_,
                        LoadLast<CommitEntry>(state.dir_ + "/commits", DecodeCommit));
  return state;
}

Status PipelineState::WriteOffsets(const OffsetEntry& entry) {
  ARROW_RETURN_NOT_OK(
      WriteAtomically(dir_ + "/offsets", EpochName(entry.epoch), Encode(entry)));
  last_offsets_ = entry;
  return Status::OK();
}

Status PipelineState::WriteCommit(const CommitEntry& entry) {
  ARROW_RETURN_NOT_OK(
      WriteAtomically(dir_ + "/commits", EpochName(entry.epoch), Encode(entry)));
  last_commit_ = entry;
  for (const char* kind : {"/offsets", "/commits"}) {
    ARROW_ASSIGN_OR_RAISE(auto epochs, Epochs(dir_ + kind));
    for (int64_t epoch : epochs) {
      if (epoch > entry.epoch - kKeep) break;
      std::error_code ec;
      fs::remove(fs::path(dir_ + kind) / EpochName(epoch), ec);
    }
  }
  return Status::OK();
}

Result<std::vector<PipelineSummary>> ListPipelines(const std::string& state_dir) {
  std::vector<PipelineSummary> out;
  std::error_code ec;
  if (!fs::is_directory(state_dir, ec)) {
    return Status::Invalid("state directory '", state_dir, "' does not exist");
  }
  ARROW_ASSIGN_OR_RAISE(auto names, ListDirectory(state_dir));
  for (const auto& name : names) {
    const std::string dir = (fs::path(state_dir) / name).string();
    if (!fs::exists(fs::path(dir) / "pipeline", ec)) continue;
    PipelineSummary s;
    s.name = name;
    ARROW_ASSIGN_OR_RAISE(s.offsets,
                          LoadLast<OffsetEntry>(dir + "/offsets", DecodeOffsets));
    ARROW_ASSIGN_OR_RAISE(s.commit,
                          LoadLast<CommitEntry>(dir + "/commits", DecodeCommit));
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace flowsql
