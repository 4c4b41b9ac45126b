// NDJSON, JSON arrays of objects and files of JSON documents, through the project's
// JSON decoder (src/common/json_decoder.h). A JSON array is converted to NDJSON on
// the fly (json_array_stream.h). The file is cut into blocks of whole lines
// (block_size bytes at most); blocks are decoded in parallel on Arrow's CPU pool, a
// few ahead of the consumer, and delivered in order. A document spanning the cut
// between two blocks (pretty-printed NDJSON) is carried into the next block, which
// is then decoded again with it. The schema comes from the first block (or the
// whole file with sample_size = -1); a key it lacks, met later, is an error naming
// the line.
#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/future.h>
#include <arrow/util/thread_pool.h>

#include <algorithm>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <cctype>
#include <cstring>
#include <deque>
#include <mutex>

#include "common/json_decoder.h"
#include "connectors/file/format_reader.h"
#include "connectors/file/json_array_stream.h"

namespace flowsql::file {

namespace {

/// Whole lines of a file, followed by json::kPadding bytes.
struct Block {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
};

/// Makes a block of `size` bytes (uninitialised) plus padding.
Block NewBlock(size_t size) {
  Block block;
  block.data.reset(new uint8_t[size + json::kPadding]);
  std::memset(block.data.get() + size, ' ', json::kPadding);
  block.size = size;
  return block;
}

/// Cuts a stream into blocks that end after a '\n' (or at the end of the stream).
class BlockCutter {
 public:
  BlockCutter(std::shared_ptr<arrow::io::InputStream> in, int64_t block_size)
      : in_(std::move(in)), block_size_(static_cast<size_t>(block_size)) {}

  /// The next block; one of size 0 at the end. A line longer than block_size is an
  /// error naming the option.
  Result<Block> Next() {
    Block block = NewBlock(leftover_.size() + block_size_);
    std::memcpy(block.data.get(), leftover_.data(), leftover_.size());
    size_t filled = leftover_.size();
    leftover_.clear();
    while (!eof_ && filled < block.size) {
      ARROW_ASSIGN_OR_RAISE(int64_t n,
                            in_->Read(block.size - filled, block.data.get() + filled));
      if (n == 0) eof_ = true;
      filled += n;
    }
    if (first_) {
      first_ = false;
      // A UTF-8 byte order mark is not part of the first document.
      if (filled >= 3 && std::memcmp(block.data.get(), "\xEF\xBB\xBF", 3) == 0) {
        std::memmove(block.data.get(), block.data.get() + 3, filled - 3);
        filled -= 3;
      }
    }
    const char* text = reinterpret_cast<const char*>(block.data.get());
    size_t end = filled;
    if (!eof_) {
      const void* nl = memrchr(text, '\n', filled);
      if (nl == nullptr) return TooLarge();
      end = static_cast<const char*>(nl) - text + 1;
      leftover_.assign(text + end, filled - end);
    }
    block.size = end;
    std::memset(block.data.get() + end, ' ', json::kPadding);
    return block;
  }

  /// An error when a document carried into the next block is larger than a block:
  /// decoded again with every block, it would cost quadratic time.
  Status CheckCarry(size_t bytes) const {
    return bytes > block_size_ ? TooLarge() : Status::OK();
  }

  Status TooLarge() const {
    return Status::Invalid("a JSON record is larger than block_size (", block_size_,
                           " bytes); set block_size = '",
                           std::max<size_t>(block_size_ * 4, 16 << 20) >> 20,
                           "MB' or larger");
  }

 private:
  std::shared_ptr<arrow::io::InputStream> in_;
  size_t block_size_;
  std::string leftover_;
  bool first_ = true;
  bool eof_ = false;
};

/// The '\n' bytes in data[0, size), sixteen at a time.
int64_t CountLines(const uint8_t* data, size_t size) {
  int64_t n = 0;
  size_t i = 0;
#ifdef __SSE2__
  const __m128i newline = _mm_set1_epi8('\n');
  while (i + 16 <= size) {
    // Byte counters (-1 per match) for at most 255 rounds, then summed.
    __m128i counts = _mm_setzero_si128();
    for (int round = 0; round < 255 && i + 16 <= size; ++round, i += 16) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
      counts = _mm_sub_epi8(counts, _mm_cmpeq_epi8(bytes, newline));
    }
    const __m128i sums = _mm_sad_epu8(counts, _mm_setzero_si128());
    n += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
  }
#endif
  for (; i < size; ++i) n += data[i] == '\n';
  return n;
}

/// Joins a carried document's bytes and the next block.
Block Join(const std::string& carry, const Block& block) {
  Block joined = NewBlock(carry.size() + block.size);
  std::memcpy(joined.data.get(), carry.data(), carry.size());
  std::memcpy(joined.data.get() + carry.size(), block.data.get(), block.size);
  return joined;
}

/// Where a block stands in its file, for errors: "at line N" in NDJSON, "in record
/// N" in a JSON array (converted to one record a line).
struct Where {
  bool array = false;
  std::string Say(int64_t line) const {
    return (array ? "in record " : "at line ") + std::to_string(line) + ": ";
  }
};

/// One block decoded.
struct Decoded {
  Status status;
  std::shared_ptr<arrow::RecordBatch> batch;
  size_t truncated = 0;
  size_t error_offset = 0;
  int64_t lines = 0;  // '\n' in the block
};

/// Decoders of one schema, lent to the blocks being decoded. Thread-safe.
class DecoderPool {
 public:
  DecoderPool(std::shared_ptr<arrow::Schema> schema, json::DecodeOptions options)
      : schema_(std::move(schema)), options_(std::move(options)) {}

  Decoded Decode(const Block& block) {
    Decoded out;
    out.lines = CountLines(block.data.get(), block.size);
    auto taken = Take();
    if (!taken.ok()) {
      out.status = taken.status();
      return out;
    }
    auto decoder = std::move(*taken);
    out.status = decoder->DecodeBlock(block.data.get(), block.size, &out.truncated,
                                      &out.error_offset);
    if (out.status.ok()) {
      auto batch = decoder->Flush();
      if (batch.ok()) {
        out.batch = *batch;
      } else {
        out.status = batch.status();
      }
    } else {
      decoder->Clear();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(decoder));
    return out;
  }

 private:
  Result<std::unique_ptr<json::Decoder>> Take() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        auto d = std::move(free_.back());
        free_.pop_back();
        return d;
      }
    }
    return json::Decoder::Make(schema_, options_);
  }

  std::shared_ptr<arrow::Schema> schema_;
  json::DecodeOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<json::Decoder>> free_;
};

/// The batches of one file, one per block, decoded ahead in parallel.
class JsonBatchReader : public arrow::RecordBatchReader {
 public:
  JsonBatchReader(std::shared_ptr<arrow::io::InputStream> in, int64_t block_size,
                  std::shared_ptr<arrow::Schema> schema, json::DecodeOptions options,
                  Where where)
      : in_(in),
        cutter_(std::move(in), block_size),
        schema_(schema),
        pool_(std::make_shared<DecoderPool>(std::move(schema), std::move(options))),
        where_(where),
        ahead_(std::max(2, arrow::internal::GetCpuThreadPool()->GetCapacity() + 1)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Status Close() override {
    // Blocks in flight own what they use (the pool, their bytes).
    queue_.clear();
    return in_->Close();
  }

  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    while (true) {
      ARROW_RETURN_NOT_OK(FillQueue());
      if (queue_.empty()) {
        if (carry_.find_first_not_of(" \t\r\n") != std::string::npos) {
          return Status::Invalid(where_.Say(carry_line_),
                                 "malformed JSON: the document is incomplete");
        }
        return Status::OK();
      }
      Pending next = std::move(queue_.front());
      queue_.pop_front();
      Decoded decoded;
      int64_t base = line_;
      if (carry_.empty()) {
        ARROW_ASSIGN_OR_RAISE(decoded, next.decoded.result());
        const uint8_t* data = next.block->data.get();
        ARROW_RETURN_NOT_OK(Settle(decoded, data, next.block->size, base));
      } else {
        // The block was decoded without the document cut at its start: again, with it.
        Block joined = Join(carry_, *next.block);
        base = carry_line_;
        decoded = pool_->Decode(joined);
        ARROW_RETURN_NOT_OK(Settle(decoded, joined.data.get(), joined.size, base));
      }
      if (decoded.batch && decoded.batch->num_rows() > 0) {
        *out = decoded.batch;
        return Status::OK();
      }
    }
  }

 private:
  struct Pending {
    std::shared_ptr<Block> block;
    arrow::Future<Decoded> decoded;
  };

  /// Reads and submits blocks until `ahead_` are in flight or the file ends.
  Status FillQueue() {
    while (!eof_ && static_cast<int>(queue_.size()) < ahead_) {
      ARROW_ASSIGN_OR_RAISE(Block block, cutter_.Next());
      if (block.size == 0) {
        eof_ = true;
        break;
      }
      auto shared = std::make_shared<Block>(std::move(block));
      Pending pending{shared, {}};
      auto* cpu = arrow::internal::GetCpuThreadPool();
      // A pool thread waiting on tasks of its own pool could starve it: decode here.
      if (cpu->OwnsThisThread()) {
        pending.decoded = arrow::Future<Decoded>::MakeFinished(pool_->Decode(*shared));
      } else {
        ARROW_ASSIGN_OR_RAISE(
            pending.decoded,
            arrow::internal::GetCpuThreadPool()->Submit(
                [pool = pool_, shared] { return pool->Decode(*shared); }));
      }
      queue_.push_back(std::move(pending));
    }
    return Status::OK();
  }

  /// Takes in a decoded block whose first byte is at line `base`: its error, said
  /// with its line; the document cut at its end, carried.
  Status Settle(const Decoded& decoded, const uint8_t* data, size_t size, int64_t base) {
    if (!decoded.status.ok()) {
      const int64_t line = base + CountLines(data, decoded.error_offset);
      return Status::Invalid(where_.Say(line), decoded.status.message());
    }
    line_ = base + decoded.lines;
    carry_.assign(reinterpret_cast<const char*>(data) + size - decoded.truncated,
                  decoded.truncated);
    if (!carry_.empty()) {
      carry_line_ = base + CountLines(data, size - decoded.truncated);
      ARROW_RETURN_NOT_OK(cutter_.CheckCarry(carry_.size()));
    }
    return Status::OK();
  }

  std::shared_ptr<arrow::io::InputStream> in_;
  BlockCutter cutter_;
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<DecoderPool> pool_;
  Where where_;
  const int ahead_;  // blocks in flight
  std::deque<Pending> queue_;
  bool eof_ = false;
  int64_t line_ = 1;        // the line of the next block's first byte
  std::string carry_;       // a document cut at the end of the last block
  int64_t carry_line_ = 0;  // its line
};

class JsonReader : public FormatReader {
 public:
  explicit JsonReader(ReadSettings settings) : settings_(std::move(settings)) {}

  Result<FileInfo> Inspect(const std::string& path) override {
    FileInfo info;
    info.path = path;
    ARROW_ASSIGN_OR_RAISE(bool array, IsArray(path));
    ARROW_ASSIGN_OR_RAISE(auto input, OpenJson(path, array, nullptr));
    json::SchemaInferrer inferrer(DecodeOptions());
    BlockCutter cutter(input, settings_.block_size);
    const Where where{array};
    std::string carry;
    int64_t line = 1;  // of the block's first byte (of the carried document, if any)
    while (true) {
      auto next = cutter.Next();
      if (!next.ok()) return WithPath(next.status(), path);
      Block block = std::move(*next);
      if (block.size == 0) break;
      if (!carry.empty()) block = Join(carry, block);
      size_t truncated = 0, error_offset = 0;
      Status st =
          inferrer.FeedBlock(block.data.get(), block.size, &truncated, &error_offset);
      if (!st.ok()) {
        return Status::Invalid(
            path, ": ", where.Say(line + CountLines(block.data.get(), error_offset)),
            st.message());
      }
      carry.assign(
          reinterpret_cast<const char*>(block.data.get()) + block.size - truncated,
          truncated);
      ARROW_RETURN_NOT_OK(WithPath(cutter.CheckCarry(carry.size()), path));
      line += CountLines(block.data.get(), block.size - truncated);
      if (!settings_.sample_all && inferrer.records() > 0) break;
    }
    (void)input->Close();
    // No rows: no columns either, unless declared.
    ARROW_ASSIGN_OR_RAISE(info.schema, ApplyTypeSettings(inferrer.schema(), settings_));
    info.raw_schema = info.schema;
    return info;
  }

  Result<std::shared_ptr<arrow::RecordBatchReader>> Open(const FileScan& scan) override {
    const auto& path = scan.file->path;
    const auto& file_schema = *scan.file->schema;
    // The wanted columns, typed as the source unifies them (int64 in this file and
    // double in another: decoded as double).
    arrow::FieldVector wanted;
    std::vector<std::string> skipped;
    for (const auto& f : file_schema.fields()) {
      if (std::find(scan.columns.begin(), scan.columns.end(), f->name()) ==
          scan.columns.end()) {
        skipped.push_back(f->name());
        continue;
      }
      auto unified = scan.schema ? scan.schema->GetFieldByName(f->name()) : nullptr;
      wanted.push_back(unified ? unified : f);
    }
    auto options = DecodeOptions();
    options.skipped_keys = std::move(skipped);
    if (settings_.columns.empty()) {
      // An inferred schema: a key it lacks, seen later, is an error, never dropped.
      options.unknown_keys = json::UnknownKeys::kError;
      options.schema_hint =
          "; the columns were inferred from the first block: set sample_size = -1 to "
          "infer them from the whole file, or declare them";
    }
    ARROW_ASSIGN_OR_RAISE(bool array, IsArray(path));
    ARROW_ASSIGN_OR_RAISE(auto input, OpenJson(path, array, scan.stats));
    auto reader = std::make_shared<JsonBatchReader>(
        std::move(input), settings_.block_size, arrow::schema(std::move(wanted)),
        std::move(options), Where{array});
    return NameErrors(std::move(reader), path, scan.stats);
  }

 private:
  json::DecodeOptions DecodeOptions() const {
    json::DecodeOptions options;
    options.detect_temporal = settings_.auto_detect;
    return options;
  }

  /// Whether `path` holds a JSON array (format json, first non-space byte '[').
  Result<bool> IsArray(const std::string& path) const {
    if (settings_.format != FileFormat::kJson) return false;
    ARROW_ASSIGN_OR_RAISE(auto sniff, OpenInputStream(settings_, path, nullptr));
    auto head = sniff->Read(4096);
    (void)sniff->Close();
    if (!head.ok()) return WithPath(head.status(), path);
    for (int64_t i = 0; i < (*head)->size(); ++i) {
      char c = static_cast<char>((*head)->data()[i]);
      if (std::isspace(static_cast<unsigned char>(c))) continue;
      // Skips a UTF-8 byte order mark.
      if (static_cast<unsigned char>(c) == 0xEF && i + 2 < (*head)->size()) {
        i += 2;
        continue;
      }
      return c == '[';
    }
    return false;
  }

  // Opens `path` as NDJSON, converting a JSON array when `array`.
  Result<std::shared_ptr<arrow::io::InputStream>> OpenJson(
      const std::string& path, bool array, std::shared_ptr<ScanStats> stats) const {
    ARROW_ASSIGN_OR_RAISE(auto input, OpenInputStream(settings_, path, std::move(stats)));
    if (array) return MakeJsonArrayToNdjsonStream(std::move(input), path);
    return input;
  }

  ReadSettings settings_;
};

}  // namespace

std::unique_ptr<FormatReader> MakeJsonReader(const ReadSettings& settings) {
  return std::make_unique<JsonReader>(settings);
}

}  // namespace flowsql::file
