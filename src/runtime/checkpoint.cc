#include "runtime/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/pipeline.h"

namespace flowsql {

namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what, " '", path, "': ", std::strerror(errno));
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write checkpoint", path);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno("cannot open state directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync state directory", dir);
  return Status::OK();
}

}  // namespace

std::string CheckpointPath(const std::string& state_dir, const std::string& pipeline_id) {
  return (std::filesystem::path(state_dir) / (pipeline_id + ".offset")).string();
}

Status ValidatePipelineId(const std::string& pipeline_id) {
  if (pipeline_id.empty() || pipeline_id == "." || pipeline_id == ".." ||
      pipeline_id.find('/') != std::string::npos ||
      pipeline_id.find('\0') != std::string::npos) {
    return Status::Invalid("pipeline id '", pipeline_id,
                           "' cannot name a checkpoint file (empty or holds '/')");
  }
  return Status::OK();
}

Status SaveOffset(const std::string& state_dir, const std::string& pipeline_id,
                  const std::string& offset) {
  ARROW_RETURN_NOT_OK(ValidatePipelineId(pipeline_id));
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return Status::IOError("cannot create state directory '", state_dir,
                           "': ", ec.message());
  }
  const std::string path = CheckpointPath(state_dir, pipeline_id);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create checkpoint", tmp);
  Status st = WriteAll(fd, offset, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = Errno("cannot sync checkpoint", tmp);
  if (::close(fd) != 0 && st.ok()) st = Errno("cannot close checkpoint", tmp);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Errno("cannot rename checkpoint onto", path);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return SyncDirectory(state_dir);
}

Result<std::string> LoadOffset(const std::string& state_dir,
                               const std::string& pipeline_id) {
  if (state_dir.empty()) return std::string();
  ARROW_RETURN_NOT_OK(ValidatePipelineId(pipeline_id));
  const std::string path = CheckpointPath(state_dir, pipeline_id);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return Status::IOError("cannot read checkpoint '", path, "': ", ec.message());
    return std::string();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errno("cannot open checkpoint", path);
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) return Errno("cannot read checkpoint", path);
  return data.str();
}

}  // namespace flowsql
