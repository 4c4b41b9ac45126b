#include "connectors/file/block_stream.h"

#include <arrow/buffer.h>
#include <arrow/util/compression.h>

#include <cstring>
#include <string>

#include "connectors/file/format_reader.h"

namespace flowsql::file {

namespace {

constexpr int64_t kBlock = 256 << 10;
constexpr char kStreamIdentifier[] = "\xff\x06\x00\x00sNaPpY";
constexpr size_t kStreamIdentifierSize = 10;

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

/// The uncompressed length a raw Snappy buffer starts with (a varint), or -1.
int64_t RawLength(const uint8_t* data, int64_t size) {
  uint64_t value = 0;
  for (int64_t i = 0; i < size && i < 5; ++i) {
    value |= uint64_t{data[i] & 0x7fu} << (7 * i);
    if ((data[i] & 0x80) == 0) return static_cast<int64_t>(value);
  }
  return -1;
}

/// Reads Hadoop's blocks of `codec` (Snappy or raw LZ4), or for Snappy the Snappy
/// framing format too.
class BlockInputStream : public arrow::io::InputStream {
 public:
  BlockInputStream(std::shared_ptr<arrow::io::InputStream> raw,
                   std::unique_ptr<arrow::util::Codec> codec)
      : raw_(std::move(raw)), codec_(std::move(codec)) {}

  Status Close() override {
    closed_ = true;
    return raw_->Close();
  }
  bool closed() const override { return closed_; }
  Result<int64_t> Tell() const override { return position_; }

  Result<int64_t> Read(int64_t nbytes, void* out) override {
    int64_t done = 0;
    auto* dest = static_cast<uint8_t*>(out);
    while (done < nbytes) {
      if (offset_ == static_cast<int64_t>(chunk_.size())) {
        ARROW_ASSIGN_OR_RAISE(bool more, NextChunk());
        if (!more) break;
        continue;
      }
      const int64_t n =
          std::min(nbytes - done, static_cast<int64_t>(chunk_.size()) - offset_);
      std::memcpy(dest + done, chunk_.data() + offset_, n);
      offset_ += n;
      done += n;
    }
    position_ += done;
    return done;
  }

  Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    return ReadBuffer(this, nbytes);
  }

 private:
  /// Reads exactly `n` bytes; false at a clean end of stream before any.
  Result<bool> ReadExactly(int64_t n, std::string* out) {
    out->resize(n);
    ARROW_ASSIGN_OR_RAISE(int64_t got, raw_->Read(n, out->data()));
    if (got == 0 && n > 0) return false;
    int64_t total = got;
    while (total < n) {
      ARROW_ASSIGN_OR_RAISE(got, raw_->Read(n - total, out->data() + total));
      if (got == 0) return Status::Invalid(name(), ": truncated stream");
      total += got;
    }
    return true;
  }

  const char* name() const {
    return codec_->compression_type() == arrow::Compression::SNAPPY ? "snappy" : "lz4";
  }

  /// Decompresses a chunk of at most `limit` bytes (Hadoop's: what its block has left).
  Status Inflate(const std::string& compressed, int64_t limit, std::string* out) {
    const auto* data = reinterpret_cast<const uint8_t*>(compressed.data());
    // Raw Snappy starts with its length; raw LZ4 does not say it.
    const int64_t length = codec_->compression_type() == arrow::Compression::SNAPPY
                               ? RawLength(data, static_cast<int64_t>(compressed.size()))
                               : limit;
    if (length < 0 || length > (int64_t{1} << 31)) {
      return Status::Invalid(name(), ": not a ", name(), " chunk");
    }
    out->resize(length);
    ARROW_ASSIGN_OR_RAISE(
        int64_t n, codec_->Decompress(static_cast<int64_t>(compressed.size()), data,
                                      length, reinterpret_cast<uint8_t*>(out->data())));
    out->resize(n);
    return Status::OK();
  }

  /// Decodes the next chunk into chunk_; false at the end.
  Result<bool> NextChunk() {
    chunk_.clear();
    offset_ = 0;
    std::string head;
    if (!started_ && codec_->compression_type() == arrow::Compression::SNAPPY) {
      started_ = true;
      ARROW_ASSIGN_OR_RAISE(bool any, ReadExactly(4, &head));
      if (!any) return false;
      if (head == std::string(kStreamIdentifier, 4)) {
        std::string rest;
        ARROW_ASSIGN_OR_RAISE(bool ok, ReadExactly(6, &rest));
        if (!ok || rest != std::string(kStreamIdentifier + 4, 6)) {
          return Status::Invalid("snappy: bad stream identifier");
        }
        framed_ = true;
      } else {
        pending_head_ = head;  // Hadoop's: the first block's length
      }
    }
    if (framed_) {
      while (true) {
        ARROW_ASSIGN_OR_RAISE(bool any, ReadExactly(4, &head));
        if (!any) return false;
        const auto* h = reinterpret_cast<const uint8_t*>(head.data());
        const uint8_t type = h[0];
        const int64_t length = h[1] | (h[2] << 8) | (h[3] << 16);
        std::string body;
        ARROW_ASSIGN_OR_RAISE(bool ok, ReadExactly(length, &body));
        if (!ok && length > 0) return Status::Invalid("snappy: truncated chunk");
        if (type == 0x00 || type == 0x01) {
          if (body.size() < 4) return Status::Invalid("snappy: chunk without checksum");
          if (type == 0x01) {
            chunk_ = body.substr(4);
          } else {
            ARROW_RETURN_NOT_OK(Inflate(body.substr(4), -1, &chunk_));
          }
          if (!chunk_.empty()) return true;
        } else if (type < 0x80 && type != 0xff) {
          return Status::Invalid("snappy: unknown chunk type ", static_cast<int>(type));
        }
        // Padding, skippable and repeated stream identifiers: skipped.
      }
    }
    // Hadoop's blocks.
    while (true) {
      if (block_left_ == 0) {
        if (!pending_head_.empty()) {
          head = std::move(pending_head_);
          pending_head_.clear();
        } else {
          ARROW_ASSIGN_OR_RAISE(bool any, ReadExactly(4, &head));
          if (!any) return false;
        }
        block_left_ = BigEndian32(reinterpret_cast<const uint8_t*>(head.data()));
        if (block_left_ == 0) continue;
      }
      ARROW_ASSIGN_OR_RAISE(bool ok, ReadExactly(4, &head));
      if (!ok) return Status::Invalid(name(), ": truncated block");
      const int64_t length = BigEndian32(reinterpret_cast<const uint8_t*>(head.data()));
      std::string body;
      ARROW_ASSIGN_OR_RAISE(ok, ReadExactly(length, &body));
      if (!ok) return Status::Invalid(name(), ": truncated block");
      ARROW_RETURN_NOT_OK(Inflate(body, block_left_, &chunk_));
      if (static_cast<int64_t>(chunk_.size()) > block_left_) {
        return Status::Invalid(name(), ": a chunk is longer than its block");
      }
      block_left_ -= static_cast<int64_t>(chunk_.size());
      if (!chunk_.empty()) return true;
    }
  }

  std::shared_ptr<arrow::io::InputStream> raw_;
  std::unique_ptr<arrow::util::Codec> codec_;
  std::string chunk_;
  int64_t offset_ = 0;
  int64_t position_ = 0;
  int64_t block_left_ = 0;  // Hadoop: bytes of the current block still to come
  std::string pending_head_;
  bool started_ = false;
  bool framed_ = false;
  bool closed_ = false;
};

class SnappyOutputStream : public arrow::io::OutputStream {
 public:
  SnappyOutputStream(std::shared_ptr<arrow::io::OutputStream> raw,
                     std::unique_ptr<arrow::util::Codec> codec)
      : raw_(std::move(raw)), codec_(std::move(codec)) {}

  Status Close() override {
    if (closed_) return Status::OK();
    closed_ = true;
    ARROW_RETURN_NOT_OK(WriteBlock());
    return raw_->Close();
  }
  Status Abort() override {
    closed_ = true;
    return raw_->Abort();
  }
  bool closed() const override { return closed_; }
  Result<int64_t> Tell() const override { return position_; }

  Status Write(const void* data, int64_t nbytes) override {
    const auto* p = static_cast<const char*>(data);
    while (nbytes > 0) {
      const int64_t n = std::min(nbytes, kBlock - static_cast<int64_t>(block_.size()));
      block_.append(p, n);
      p += n;
      nbytes -= n;
      position_ += n;
      if (static_cast<int64_t>(block_.size()) == kBlock)
        ARROW_RETURN_NOT_OK(WriteBlock());
    }
    return Status::OK();
  }

 private:
  Status WriteBlock() {
    if (block_.empty()) return Status::OK();
    const auto* input = reinterpret_cast<const uint8_t*>(block_.data());
    const int64_t size = static_cast<int64_t>(block_.size());
    std::string out(codec_->MaxCompressedLen(size, input) + 8, '\0');
    auto* o = reinterpret_cast<uint8_t*>(out.data());
    ARROW_ASSIGN_OR_RAISE(int64_t n,
                          codec_->Compress(size, input, out.size() - 8, o + 8));
    for (int i = 0; i < 4; ++i) {
      o[i] = static_cast<uint8_t>(size >> (24 - 8 * i));
      o[4 + i] = static_cast<uint8_t>(n >> (24 - 8 * i));
    }
    block_.clear();
    return raw_->Write(o, n + 8);
  }

  std::shared_ptr<arrow::io::OutputStream> raw_;
  std::unique_ptr<arrow::util::Codec> codec_;
  std::string block_;
  int64_t position_ = 0;
  bool closed_ = false;
};

}  // namespace

Result<std::shared_ptr<arrow::io::InputStream>> MakeSnappyInputStream(
    std::shared_ptr<arrow::io::InputStream> raw) {
  ARROW_ASSIGN_OR_RAISE(auto codec,
                        arrow::util::Codec::Create(arrow::Compression::SNAPPY));
  return std::make_shared<BlockInputStream>(std::move(raw), std::move(codec));
}

Result<std::shared_ptr<arrow::io::InputStream>> MakeHadoopLz4InputStream(
    std::shared_ptr<arrow::io::InputStream> raw) {
  ARROW_ASSIGN_OR_RAISE(auto codec, arrow::util::Codec::Create(arrow::Compression::LZ4));
  return std::make_shared<BlockInputStream>(std::move(raw), std::move(codec));
}

Result<std::shared_ptr<arrow::io::OutputStream>> MakeSnappyOutputStream(
    std::shared_ptr<arrow::io::OutputStream> raw) {
  ARROW_ASSIGN_OR_RAISE(auto codec,
                        arrow::util::Codec::Create(arrow::Compression::SNAPPY));
  return std::make_shared<SnappyOutputStream>(std::move(raw), std::move(codec));
}

}  // namespace flowsql::file
