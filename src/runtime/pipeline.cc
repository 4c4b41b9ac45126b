#include "runtime/pipeline.h"

#include <arrow/util/byte_size.h>

#include <chrono>

#include "runtime/checkpoint.h"

namespace flowsql {

namespace {

using Clock = std::chrono::steady_clock;

/// A sink failure is a runtime failure even when the sink reports a user-error code.
Status AsRuntimeError(const Status& st, const std::string& what) {
  if (IsUserError(st)) return Status::IOError(what, ": ", st.message());
  return st.WithMessage(what, ": ", st.message());
}

int64_t BatchBytes(const arrow::RecordBatch& batch) {
  auto referenced = arrow::util::ReferencedBufferSize(batch);
  return referenced.ok() ? *referenced : arrow::util::TotalBufferSize(batch);
}

/// One run of a pipeline. Epochs: rows written since the last commit are pending;
/// a commit makes them visible, then checkpoints the offset that covers them.
class PipelineRun {
 public:
  PipelineRun(Source* source, const BatchTransform& transform, Sink* sink,
              const PipelineOptions& options)
      : source_(source), transform_(transform), sink_(sink), options_(options) {}

  Result<PipelineStats> Run(ScanRequest request) {
    if (checkpointing()) {
      ARROW_ASSIGN_OR_RAISE(std::string saved,
                            LoadOffset(options_.state_dir, options_.pipeline_id));
      if (!saved.empty()) {
        request.start_offset = saved;
        saved_offset_ = covered_offset_ = stats_.last_offset = saved;
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto stream, source_->Scan(request));
    last_flush_ = Clock::now();
    bool interrupted = false;
    while (!LimitReached()) {
      if (Interrupted()) {
        interrupted = true;
        break;
      }
      std::shared_ptr<arrow::RecordBatch> batch;
      Status st = stream->ReadNext(&batch);
      if (!st.ok()) return AbortWith(st);
      if (!batch) break;
      ARROW_RETURN_NOT_OK(Process(batch, stream->offset()));
      if (LimitReached()) break;
      ARROW_RETURN_NOT_OK(MaybeFlush());
    }
    (void)stream->Close();
    // The end: commit what is pending. A run that ends on its own commits once even
    // with no rows, so that a sink can finalize an empty result.
    if (pending_rows_ > 0 || (stats_.commits == 0 && !interrupted)) {
      ARROW_RETURN_NOT_OK(Commit());
    } else {
      ARROW_RETURN_NOT_OK(Persist());
    }
    return stats_;
  }

 private:
  bool checkpointing() const { return !options_.state_dir.empty(); }
  bool Interrupted() const {
    return options_.interrupt != nullptr && options_.interrupt->load();
  }
  int64_t RowsOut() const { return stats_.rows_written + pending_rows_; }
  bool LimitReached() const { return options_.limit >= 0 && RowsOut() >= options_.limit; }

  Status AbortWith(const Status& st) {
    (void)sink_->Abort();
    return st;
  }

  /// Transforms `batch`, slices it to the limit and writes it. `offset` is the
  /// source position after `batch`.
  Status Process(const std::shared_ptr<arrow::RecordBatch>& batch,
                 const std::string& offset) {
    std::shared_ptr<arrow::RecordBatch> out = batch;
    if (transform_) {
      auto transformed = transform_(batch);
      if (!transformed.ok()) return AbortWith(transformed.status());
      out = *transformed;
    }
    bool whole = true;
    if (out && options_.limit >= 0 && out->num_rows() > options_.limit - RowsOut()) {
      out = out->Slice(0, options_.limit - RowsOut());
      whole = false;
    }
    if (out && out->num_rows() > 0) {
      Status st = sink_->Write(out);
      if (!st.ok()) return AbortWith(AsRuntimeError(st, "sink write failed"));
      pending_rows_ += out->num_rows();
      pending_bytes_ += BatchBytes(*out);
    }
    // A sliced batch is not covered: resuming after it would skip its dropped rows.
    if (whole) covered_offset_ = offset;
    return Status::OK();
  }

  Status MaybeFlush() {
    if (options_.flush_rows > 0 && pending_rows_ >= options_.flush_rows) return Commit();
    if (options_.flush_interval_ms > 0 &&
        Clock::now() - last_flush_ >=
            std::chrono::milliseconds(options_.flush_interval_ms)) {
      if (pending_rows_ > 0) return Commit();
      // Every row up to here was filtered out: the offset may advance alone.
      last_flush_ = Clock::now();
      return Persist();
    }
    return Status::OK();
  }

  Status Commit() {
    Status st = sink_->Commit();
    if (!st.ok()) return AbortWith(AsRuntimeError(st, "sink commit failed"));
    stats_.rows_written += pending_rows_;
    stats_.commits += 1;
    committed_bytes_ += pending_bytes_;
    pending_rows_ = pending_bytes_ = 0;
    last_flush_ = Clock::now();
    if (!covered_offset_.empty()) stats_.last_offset = covered_offset_;
    ARROW_RETURN_NOT_OK(Persist());
    if (options_.on_commit) options_.on_commit(stats_.rows_written, committed_bytes_);
    return Status::OK();
  }

  /// Saves the covered offset when it moved. REQUIRES: no rows pending.
  Status Persist() {
    if (!checkpointing() || covered_offset_.empty() || covered_offset_ == saved_offset_) {
      return Status::OK();
    }
    ARROW_RETURN_NOT_OK(
        SaveOffset(options_.state_dir, options_.pipeline_id, covered_offset_));
    saved_offset_ = covered_offset_;
    stats_.last_offset = covered_offset_;
    return Status::OK();
  }

  Source* source_;
  const BatchTransform& transform_;
  Sink* sink_;
  const PipelineOptions& options_;
  PipelineStats stats_;
  int64_t pending_rows_ = 0;
  int64_t pending_bytes_ = 0;
  int64_t committed_bytes_ = 0;
  std::string covered_offset_;  // source position after the last whole batch
  std::string saved_offset_;    // what the checkpoint file holds
  Clock::time_point last_flush_;
};

}  // namespace

Result<PipelineStats> RunPipeline(Source* source, ScanRequest request,
                                  const BatchTransform& transform, Sink* sink,
                                  const PipelineOptions& options) {
  return PipelineRun(source, transform, sink, options).Run(std::move(request));
}

}  // namespace flowsql
