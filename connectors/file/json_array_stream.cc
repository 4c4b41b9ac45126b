#include "connectors/file/json_array_stream.h"

#include <arrow/buffer.h>

#include <cstring>

#include "connectors/file/format_reader.h"

namespace flowsql::file {

namespace {

constexpr int64_t kChunk = 256 << 10;

class JsonArrayToNdjsonStream : public arrow::io::InputStream {
 public:
  JsonArrayToNdjsonStream(std::shared_ptr<arrow::io::InputStream> inner, std::string path)
      : inner_(std::move(inner)), path_(std::move(path)) {}

  Status Close() override {
    closed_ = true;
    return inner_->Close();
  }
  bool closed() const override { return closed_; }
  Result<int64_t> Tell() const override { return position_; }

  Result<int64_t> Read(int64_t nbytes, void* out) override {
    while (static_cast<int64_t>(out_.size() - out_pos_) < nbytes && !eof_) {
      if (out_pos_ > 0) {
        out_.erase(0, out_pos_);
        out_pos_ = 0;
      }
      ARROW_RETURN_NOT_OK(Fill());
    }
    int64_t n = std::min<int64_t>(nbytes, out_.size() - out_pos_);
    std::memcpy(out, out_.data() + out_pos_, n);
    out_pos_ += n;
    position_ += n;
    if (out_pos_ == out_.size()) {
      out_.clear();
      out_pos_ = 0;
    }
    return n;
  }

  Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    return ReadBuffer(this, nbytes);
  }

 private:
  enum class State { kStart, kBetween, kElement, kString, kEscape, kDone };

  Status Error(const std::string& what) const {
    return Status::Invalid(path_, ": ", what, " at byte ", consumed_);
  }

  // Converts the next input chunk.
  Status Fill() {
    ARROW_ASSIGN_OR_RAISE(auto chunk, inner_->Read(kChunk));
    if (chunk->size() == 0) {
      eof_ = true;
      if (state_ == State::kStart) return Status::OK();  // an empty file: no rows
      if (state_ != State::kDone) return Error("unterminated JSON array");
      return Status::OK();
    }
    const char* p = reinterpret_cast<const char*>(chunk->data());
    const int64_t n = chunk->size();
    out_.reserve(out_.size() + n + 64);
    for (int64_t i = 0; i < n; ++i, ++consumed_) {
      const char c = p[i];
      switch (state_) {
        case State::kString: {
          // Copy up to the next quote or backslash in one go.
          int64_t j = i;
          while (j < n && p[j] != '"' && p[j] != '\\') ++j;
          out_.append(p + i, j - i);
          consumed_ += j - i;
          i = j;
          if (i == n) {
            --i;
            --consumed_;
            break;
          }
          out_.push_back(p[i]);
          state_ = p[i] == '"' ? State::kElement : State::kEscape;
          break;
        }
        case State::kEscape:
          out_.push_back(c);
          state_ = State::kString;
          break;
        case State::kStart:
          if (IsSpace(c)) break;
          // A UTF-8 byte order mark.
          if (consumed_ < 3 && c == "\xEF\xBB\xBF"[consumed_]) break;
          if (c != '[') return Error("expected '[' (a JSON array)");
          state_ = State::kBetween;
          break;
        case State::kBetween:
          if (IsSpace(c)) break;
          if (c == ']') {
            state_ = State::kDone;
            break;
          }
          if (c == ',') {
            if (!after_element_) return Error("unexpected ','");
            after_element_ = false;
            break;
          }
          if (after_element_) return Error("expected ',' or ']'");
          state_ = State::kElement;
          depth_ = 0;
          [[fallthrough]];
        case State::kElement:
          ARROW_RETURN_NOT_OK(ElementChar(c));
          break;
        case State::kDone:
          if (!IsSpace(c)) return Error("unexpected data after the JSON array");
          break;
      }
    }
    return Status::OK();
  }

  Status ElementChar(char c) {
    if (IsSpace(c)) return Status::OK();
    switch (c) {
      case '"':
        out_.push_back(c);
        state_ = State::kString;
        return Status::OK();
      case '{':
      case '[':
        ++depth_;
        out_.push_back(c);
        return Status::OK();
      case '}':
      case ']':
        if (depth_ == 0) {
          // The array's own ']' right after a scalar element.
          if (c != ']') return Error("unexpected '}'");
          out_.push_back('\n');
          state_ = State::kDone;
          return Status::OK();
        }
        out_.push_back(c);
        if (--depth_ == 0) EndElement();
        return Status::OK();
      case ',':
        if (depth_ == 0) {
          EndElement();
          after_element_ = false;
          return Status::OK();
        }
        out_.push_back(c);
        return Status::OK();
      default:
        out_.push_back(c);
        return Status::OK();
    }
  }

  void EndElement() {
    out_.push_back('\n');
    state_ = State::kBetween;
    after_element_ = true;
  }

  static bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

  std::shared_ptr<arrow::io::InputStream> inner_;
  std::string path_;
  std::string out_;
  size_t out_pos_ = 0;
  int64_t position_ = 0;
  int64_t consumed_ = 0;
  State state_ = State::kStart;
  int depth_ = 0;
  bool after_element_ = false;
  bool eof_ = false;
  bool closed_ = false;
};

}  // namespace

std::shared_ptr<arrow::io::InputStream> MakeJsonArrayToNdjsonStream(
    std::shared_ptr<arrow::io::InputStream> inner, std::string path) {
  return std::make_shared<JsonArrayToNdjsonStream>(std::move(inner), std::move(path));
}

}  // namespace flowsql::file
