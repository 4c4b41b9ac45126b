#include "connectors/python/worker.h"

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "connectors/python/bridge.h"

namespace flowsql::python {

Result<std::shared_ptr<WorkerPool>> WorkerPool::Make(PyObject* reader, const char* method,
                                                     PyObject* args, PyObject* schema,
                                                     std::string what) {
  Ref name(PyUnicode_FromString(method));
  Ref setup(PyTuple_Pack(4, reader, name.get(), args, schema));
  if (!setup) return PythonError(what);
  ARROW_ASSIGN_OR_RAISE(
      Ref pickled,
      CallBridge("_dumps", what + ": pickling the reader for worker processes",
                 {setup.get()}));
  return std::shared_ptr<WorkerPool>(
      new WorkerPool(SharedRef(std::move(pickled)), std::move(what)));
}

WorkerPool::~WorkerPool() {
  if (idle_.empty()) return;
  Gil gil;
  for (auto& worker : idle_) {
    Ref stopped(PyObject_CallMethod(worker.process.get(), "stop", nullptr));
    if (!stopped) PyErr_Clear();
  }
}

namespace {

/// Calls `f` with SIGPIPE blocked in this thread, and takes the SIGPIPE it raised:
/// a request written to a worker that died fails with EPIPE (BrokenPipeError)
/// rather than killing flowsql (the embedded interpreter does not ignore SIGPIPE).
template <typename F>
auto WithoutSigpipe(F&& f) {
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  auto result = f();
  const timespec now = {0, 0};
  while (sigtimedwait(&pipe, nullptr, &now) == SIGPIPE) {
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return result;
}

}  // namespace

Result<WorkerPool::Worker> WorkerPool::Start() {
  ARROW_ASSIGN_OR_RAISE(Ref process, WithoutSigpipe([&] {
                          return CallBridge("Worker",
                                            what_ + ": starting a worker process",
                                            {setup_.get()});
                        }));
  Ref fd(PyObject_CallMethod(process.get(), "fd", nullptr));
  if (!fd) return PythonError(what_);
  // A descriptor of flowsql's own, which other children do not inherit.
  const int own = fcntl(static_cast<int>(PyLong_AsLong(fd.get())), F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    return Status::IOError(what_, ": a worker process's pipe: ", std::strerror(errno));
  }
  return Worker{SharedRef(std::move(process)),
                std::shared_ptr<int>(new int(own), [](int* fd) {
                  close(*fd);
                  delete fd;
                })};
}

Result<std::unique_ptr<WorkerStream>> WorkerPool::Read(PyObject* partition,
                                                       int64_t skip) {
  std::optional<Worker> worker;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      worker = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  Gil gil;
  if (!worker) {
    ARROW_ASSIGN_OR_RAISE(worker, Start());
  }
  // From here the stream owns the worker: its destructor gives it back or stops it.
  std::unique_ptr<WorkerStream> stream(
      new WorkerStream(shared_from_this(), std::move(*worker)));
  Ref skipped(PyLong_FromLongLong(skip));
  Ref sent = WithoutSigpipe([&] {
    return Ref(PyObject_CallMethod(stream->worker_.process.get(), "read", "OO", partition,
                                   skipped.get()));
  });
  if (!sent) return PythonError(what_ + ": sending a partition to a worker process");
  return stream;
}

void WorkerPool::Release(Worker worker, bool reuse) {
  if (reuse) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(worker));
    return;
  }
  Gil gil;
  Ref stopped(PyObject_CallMethod(worker.process.get(), "stop", nullptr));
  if (!stopped) PyErr_Clear();
  worker.process = SharedRef();  // with the GIL held
}

WorkerStream::~WorkerStream() { pool_->Release(std::move(worker_), done_); }

Status WorkerStream::ReadFully(void* out, int64_t n) {
  auto* at = static_cast<uint8_t*>(out);
  while (n > 0) {
    const ssize_t got =
        read(*worker_.out, at, static_cast<size_t>(std::min<int64_t>(n, 1 << 30)));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return Status::IOError(pool_->what_,
                             ": reading a worker process: ", std::strerror(errno));
    }
    if (got == 0) return Died();
    at += got;
    n -= got;
  }
  return Status::OK();
}

Status WorkerStream::Died() {
  Gil gil;
  Ref ended(PyObject_CallMethod(worker_.process.get(), "ended", nullptr));
  auto how = ended ? Text(ended.get()) : Result<std::string>(std::string("ended"));
  if (!ended) PyErr_Clear();
  return Status::IOError(pool_->what_, ": its worker process ",
                         how.ok() ? *how : std::string("ended"),
                         " before the partition was read");
}

Result<std::shared_ptr<arrow::RecordBatch>> WorkerStream::Next() {
  if (done_) return nullptr;
  // A frame: its tag, then (but for "E") its length and data.
  char tag = 0;
  ARROW_RETURN_NOT_OK(ReadFully(&tag, 1));
  if (tag == 'E') {
    done_ = true;
    return nullptr;
  }
  uint8_t header[8];
  ARROW_RETURN_NOT_OK(ReadFully(header, 8));
  int64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | header[i];
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> data,
                        arrow::AllocateBuffer(length));
  ARROW_RETURN_NOT_OK(ReadFully(data->mutable_data(), length));
  if (tag == 'B') {
    ARROW_ASSIGN_OR_RAISE(
        auto reader, arrow::ipc::RecordBatchStreamReader::Open(
                         std::make_shared<arrow::io::BufferReader>(std::move(data))));
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (batch == nullptr) return Status::IOError(pool_->what_, ": an empty frame");
    return batch;
  }
  // The worker goes on to the next request: this one is over. One that could not
  // unpickle the reader fails every request: it is not kept.
  done_ = tag != 'U';
  const std::string text = data->ToString();
  if (tag == 'T') return NotABatch(pool_->what_, text);
  if (tag == 'U') {
    return Status::IOError(pool_->what_,
                           ": a worker process could not unpickle the reader:\n", text);
  }
  return Status::IOError(pool_->what_, " raised:\n", text);
}

}  // namespace flowsql::python
