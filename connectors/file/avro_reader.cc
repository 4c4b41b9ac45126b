// Avro object container files: the header's schema mapped to Arrow (avro.h), each
// block's records decoded straight into Arrow builders, only the wanted columns.
#include <arrow/builder.h>
#include <arrow/io/buffered.h>
#include <arrow/io/file.h>
#include <arrow/util/checked_cast.h>
#include <arrow/util/decimal.h>
#include <arrow/util/utf8.h>

#include <cstring>

#include "connectors/file/avro.h"
#include "connectors/file/format_reader.h"

namespace flowsql::file {

namespace {

using avro::Node;
using Kind = Node::Kind;
using arrow::internal::checked_cast;

/// The rows of a batch when the batch_size option does not say.
constexpr int64_t kBatchRows = 64 * 1024;
/// Bytes read ahead from the file.
constexpr int64_t kReadAhead = 1 << 20;

// ---------------------------------------------------------------------------
// The container: header and blocks

struct Block {
  int64_t index = -1;                   // 0 for the first block of the file
  int64_t offset = 0;                   // of its first byte in the file
  int64_t records = 0;                  // as its header says
  std::shared_ptr<arrow::Buffer> data;  // as read, then decompressed
};

/// Reads an object container file: its header, then one block at a time. Open's
/// errors name the file; Next's name neither file nor block: the caller adds them.
class Container {
 public:
  static Result<std::unique_ptr<Container>> Open(const Storage& storage,
                                                 const std::string& path) {
    ARROW_ASSIGN_OR_RAISE(auto file, storage.OpenFile(path));
    auto c = std::unique_ptr<Container>(new Container());
    ARROW_ASSIGN_OR_RAISE(c->size_, file->GetSize());
    ARROW_ASSIGN_OR_RAISE(c->in_, arrow::io::BufferedInputStream::Create(
                                      kReadAhead, arrow::default_memory_pool(), file));
    ARROW_RETURN_NOT_OK(WithPath(c->ReadHeader(), path));
    return c;
  }

  const std::string& schema_json() const { return schema_json_; }
  const std::string& codec() const { return codec_; }

  /// The next block, its data as stored (compressed); false after the last one.
  Result<bool> Next(Block* block) {
    auto head = in_->Peek(1);
    if (!head.ok()) return head.status();
    if (head->empty()) return false;
    block->index = ++blocks_;
    block->offset = offset_;
    int64_t size = 0;
    ARROW_RETURN_NOT_OK(ReadLong(&block->records));
    ARROW_RETURN_NOT_OK(ReadLong(&size));
    if (block->records < 0 || size < 0) {
      return Status::Invalid("a negative count in the block header (corrupt file)");
    }
    ARROW_ASSIGN_OR_RAISE(block->data, ReadBytes(size));
    ARROW_ASSIGN_OR_RAISE(auto sync, ReadBytes(avro::kSyncSize));
    if (std::memcmp(sync->data(), sync_, avro::kSyncSize) != 0) {
      return Status::Invalid(
          "the block does not end with the file's sync marker "
          "(corrupt file)");
    }
    return true;
  }

  int64_t bytes_read() const { return offset_; }

 private:
  Container() = default;

  Status ReadHeader() {
    auto magic = in_->Peek(avro::kMagic.size());
    if (!magic.ok() || *magic != avro::kMagic) {
      return Status::Invalid("not an Avro file (it does not start with 'Obj\\x01')");
    }
    ARROW_RETURN_NOT_OK(Skip(avro::kMagic.size()));
    bool has_schema = false;
    // The metadata map: blocks of key/value pairs, ended by an empty block.
    while (true) {
      int64_t count = 0;
      ARROW_RETURN_NOT_OK(ReadLong(&count));
      if (count == 0) break;
      if (count < 0) {
        int64_t bytes;
        ARROW_RETURN_NOT_OK(ReadLong(&bytes));
        count = -count;
      }
      for (int64_t i = 0; i < count; ++i) {
        int64_t n = 0;
        ARROW_RETURN_NOT_OK(ReadLong(&n));
        ARROW_ASSIGN_OR_RAISE(auto key, ReadBytes(n));
        ARROW_RETURN_NOT_OK(ReadLong(&n));
        ARROW_ASSIGN_OR_RAISE(auto value, ReadBytes(n));
        if (key->ToString() == "avro.schema") {
          schema_json_ = value->ToString();
          has_schema = true;
        } else if (key->ToString() == "avro.codec") {
          codec_ = value->ToString();
        }
      }
    }
    if (!has_schema) return Status::Invalid("the Avro header has no avro.schema");
    ARROW_ASSIGN_OR_RAISE(auto sync, ReadBytes(avro::kSyncSize));
    std::memcpy(sync_, sync->data(), avro::kSyncSize);
    return Status::OK();
  }

  Status ReadLong(int64_t* out) {
    ARROW_ASSIGN_OR_RAISE(auto bytes, in_->Peek(10));
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    const uint8_t* q = p;
    if (!avro::GetLong(&q, p + bytes.size(), out)) return Truncated();
    return Skip(q - p);
  }

  Result<std::shared_ptr<arrow::Buffer>> ReadBytes(int64_t n) {
    if (n < 0 || n > size_ - offset_) return Truncated();
    ARROW_ASSIGN_OR_RAISE(auto buffer, in_->Read(n));
    if (buffer->size() != n) return Truncated();
    offset_ += n;
    return buffer;
  }

  Status Skip(int64_t n) {
    ARROW_RETURN_NOT_OK(in_->Advance(n));
    offset_ += n;
    return Status::OK();
  }

  static Status Truncated() {
    return Status::Invalid("the file ends early (truncated?)");
  }

  std::shared_ptr<arrow::io::BufferedInputStream> in_;
  int64_t size_ = 0;
  int64_t offset_ = 0;
  int64_t blocks_ = -1;
  std::string schema_json_;
  std::string codec_;
  uint8_t sync_[avro::kSyncSize] = {};
};

// ---------------------------------------------------------------------------
// Decoding values

/// The undecoded rest of a block. Errors say what is wrong; the reader adds where.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;

  Status Long(int64_t* out) {
    if (ARROW_PREDICT_TRUE(avro::GetLong(&p, end, out))) return Status::OK();
    return Truncated();
  }
  Status Int(int32_t* out) {
    int64_t v = 0;
    ARROW_RETURN_NOT_OK(Long(&v));
    if (ARROW_PREDICT_FALSE(v < INT32_MIN || v > INT32_MAX)) {
      return Status::Invalid("the int ", v, " is out of range");
    }
    *out = static_cast<int32_t>(v);
    return Status::OK();
  }
  Status Bytes(std::string_view* out) {
    int64_t n = 0;
    ARROW_RETURN_NOT_OK(Long(&n));
    if (ARROW_PREDICT_FALSE(n < 0 || n > end - p)) {
      return Status::Invalid("a length of ", n, " bytes where ", end - p, " are left");
    }
    *out = std::string_view(reinterpret_cast<const char*>(p), n);
    p += n;
    return Status::OK();
  }
  Status Fixed(int64_t n, const uint8_t** out) {
    if (ARROW_PREDICT_FALSE(n > end - p)) return Truncated();
    *out = p;
    p += n;
    return Status::OK();
  }
  static Status Truncated() { return Status::Invalid("the block ends inside a value"); }
};

/// Reads one value of a node and appends it to an Arrow builder.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual Status Decode(Cursor* in) = 0;
};

/// The least number of bytes a value of `node` takes (0 for null and empty records).
int64_t MinSize(const Node& node, int depth = 0) {
  switch (node.kind) {
    case Kind::kNull:
      return 0;
    case Kind::kFloat:
      return 4;
    case Kind::kDouble:
      return 8;
    case Kind::kFixed:
      return node.size;
    case Kind::kRecord: {
      if (depth > 32) return 0;
      int64_t n = 0;
      for (const Node* c : node.children) n += MinSize(*c, depth + 1);
      return n;
    }
    default:
      return 1;
  }
}

/// An error unless `count` items of at least `min_size` bytes each fit in the rest of
/// the block. Items of no size (nulls) still cost a row each: they are bounded too.
Status CheckItems(const Cursor& in, int64_t count, int64_t min_size) {
  const int64_t left = in.end - in.p;
  if (count > (min_size > 0 ? left / min_size : int64_t{1} << 24)) {
    return Status::Invalid("an array or map block of ", count, " items where ", left,
                           " bytes are left");
  }
  return Status::OK();
}

/// The items of an array or map block: `count` items follow, each at least
/// `min_size` bytes. False at the end of the value.
Result<bool> NextItems(Cursor* in, int64_t min_size, int64_t* count) {
  ARROW_RETURN_NOT_OK(in->Long(count));
  if (*count == 0) return false;
  if (*count < 0) {
    int64_t bytes = 0;
    ARROW_RETURN_NOT_OK(in->Long(&bytes));
    *count = -*count;
  }
  ARROW_RETURN_NOT_OK(CheckItems(*in, *count, min_size));
  return true;
}

/// Skips one value of `node`: a column not wanted.
Status Skip(const Node& node, Cursor* in) {
  int64_t v = 0;
  std::string_view s;
  const uint8_t* fixed = nullptr;
  switch (node.kind) {
    case Kind::kNull:
      return Status::OK();
    case Kind::kBoolean:
      return in->Fixed(1, &fixed);
    case Kind::kInt:
    case Kind::kLong:
    case Kind::kEnum:
      return in->Long(&v);
    case Kind::kFloat:
      return in->Fixed(4, &fixed);
    case Kind::kDouble:
      return in->Fixed(8, &fixed);
    case Kind::kBytes:
    case Kind::kString:
      return in->Bytes(&s);
    case Kind::kFixed:
      return in->Fixed(node.size, &fixed);
    case Kind::kRecord:
      for (const Node* child : node.children) ARROW_RETURN_NOT_OK(Skip(*child, in));
      return Status::OK();
    case Kind::kArray:
    case Kind::kMap: {
      const bool map = node.kind == Kind::kMap;
      while (true) {
        ARROW_RETURN_NOT_OK(in->Long(&v));
        if (v == 0) return Status::OK();
        if (v < 0) {
          // A block with its size in bytes: skipped whole.
          int64_t bytes = 0;
          ARROW_RETURN_NOT_OK(in->Long(&bytes));
          if (bytes < 0 || bytes > in->end - in->p) return Cursor::Truncated();
          in->p += bytes;
          continue;
        }
        ARROW_RETURN_NOT_OK(CheckItems(*in, v, MinSize(*node.children[0]) + map));
        for (int64_t i = 0; i < v; ++i) {
          if (map) ARROW_RETURN_NOT_OK(in->Bytes(&s));
          ARROW_RETURN_NOT_OK(Skip(*node.children[0], in));
        }
      }
    }
    case Kind::kUnion:
      ARROW_RETURN_NOT_OK(in->Long(&v));
      if (v < 0 || v >= static_cast<int64_t>(node.children.size())) {
        return Status::Invalid("union branch ", v, " does not exist");
      }
      return Skip(*node.children[v], in);
  }
  return Status::OK();
}

class SkipDecoder : public Decoder {
 public:
  explicit SkipDecoder(const Node& node) : node_(node) {}
  Status Decode(Cursor* in) override { return Skip(node_, in); }

 private:
  const Node& node_;
};

class NullDecoder : public Decoder {
 public:
  explicit NullDecoder(arrow::ArrayBuilder* builder) : builder_(builder) {}
  Status Decode(Cursor*) override { return builder_->AppendNull(); }

 private:
  arrow::ArrayBuilder* builder_;
};

class BooleanDecoder : public Decoder {
 public:
  explicit BooleanDecoder(arrow::BooleanBuilder* builder) : builder_(builder) {}
  Status Decode(Cursor* in) override {
    const uint8_t* b = nullptr;
    ARROW_RETURN_NOT_OK(in->Fixed(1, &b));
    return builder_->Append(*b != 0);
  }

 private:
  arrow::BooleanBuilder* builder_;
};

/// int (int32, date32, time32[ms]).
template <typename Builder>
class IntDecoder : public Decoder {
 public:
  explicit IntDecoder(Builder* builder) : builder_(builder) {}
  Status Decode(Cursor* in) override {
    int32_t v = 0;
    ARROW_RETURN_NOT_OK(in->Int(&v));
    return builder_->Append(v);
  }

 private:
  Builder* builder_;
};

/// long (int64, timestamp, time64[us]).
template <typename Builder>
class LongDecoder : public Decoder {
 public:
  explicit LongDecoder(Builder* builder) : builder_(builder) {}
  Status Decode(Cursor* in) override {
    int64_t v = 0;
    ARROW_RETURN_NOT_OK(in->Long(&v));
    return builder_->Append(v);
  }

 private:
  Builder* builder_;
};

/// float and double: little-endian IEEE 754.
template <typename Builder>
class FloatDecoder : public Decoder {
 public:
  using T = typename Builder::value_type;
  explicit FloatDecoder(Builder* builder) : builder_(builder) {}
  Status Decode(Cursor* in) override {
    const uint8_t* bytes = nullptr;
    ARROW_RETURN_NOT_OK(in->Fixed(sizeof(T), &bytes));
    T v;
    std::memcpy(&v, bytes, sizeof(T));
    return builder_->Append(v);
  }

 private:
  Builder* builder_;
};

/// bytes -> binary; string -> utf8, checked to be UTF-8.
template <typename Builder, bool kText>
class BytesDecoder : public Decoder {
 public:
  explicit BytesDecoder(Builder* builder) : builder_(builder) {}
  Status Decode(Cursor* in) override {
    std::string_view s;
    ARROW_RETURN_NOT_OK(in->Bytes(&s));
    if (kText && ARROW_PREDICT_FALSE(!arrow::util::ValidateUTF8(s))) {
      return Status::Invalid("a string that is not valid UTF-8");
    }
    return builder_->Append(s);
  }

 private:
  Builder* builder_;
};

class EnumDecoder : public Decoder {
 public:
  EnumDecoder(arrow::StringBuilder* builder, const std::vector<std::string>& symbols)
      : builder_(builder), symbols_(symbols) {}
  Status Decode(Cursor* in) override {
    int64_t i = 0;
    ARROW_RETURN_NOT_OK(in->Long(&i));
    if (i < 0 || i >= static_cast<int64_t>(symbols_.size())) {
      return Status::Invalid("enum symbol ", i, " does not exist");
    }
    return builder_->Append(symbols_[i]);
  }

 private:
  arrow::StringBuilder* builder_;
  const std::vector<std::string>& symbols_;
};

class FixedDecoder : public Decoder {
 public:
  explicit FixedDecoder(arrow::FixedSizeBinaryBuilder* builder) : builder_(builder) {}
  Status Decode(Cursor* in) override {
    const uint8_t* bytes = nullptr;
    ARROW_RETURN_NOT_OK(in->Fixed(builder_->byte_width(), &bytes));
    return builder_->Append(bytes);
  }

 private:
  arrow::FixedSizeBinaryBuilder* builder_;
};

/// uuid on fixed(16): the 36-character text form.
class UuidDecoder : public Decoder {
 public:
  explicit UuidDecoder(arrow::StringBuilder* builder) : builder_(builder) {}
  Status Decode(Cursor* in) override {
    const uint8_t* b = nullptr;
    ARROW_RETURN_NOT_OK(in->Fixed(16, &b));
    static constexpr char kHex[] = "0123456789abcdef";
    char text[36];
    int t = 0;
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) text[t++] = '-';
      text[t++] = kHex[b[i] >> 4];
      text[t++] = kHex[b[i] & 15];
    }
    return builder_->Append(text, 36);
  }

 private:
  arrow::StringBuilder* builder_;
};

/// decimal on bytes (`size` < 0) or fixed: a big-endian two's-complement integer.
class DecimalDecoder : public Decoder {
 public:
  DecimalDecoder(arrow::Decimal128Builder* builder, int32_t size)
      : builder_(builder),
        size_(size),
        precision_(
            checked_cast<const arrow::Decimal128Type&>(*builder->type()).precision()) {}
  Status Decode(Cursor* in) override {
    const uint8_t* p = nullptr;
    int64_t n = size_;
    if (size_ < 0) {
      std::string_view s;
      ARROW_RETURN_NOT_OK(in->Bytes(&s));
      p = reinterpret_cast<const uint8_t*>(s.data());
      n = static_cast<int64_t>(s.size());
    } else {
      ARROW_RETURN_NOT_OK(in->Fixed(size_, &p));
    }
    // Leading bytes that only repeat the sign do not count.
    while (n > 16 && (p[0] == 0 || p[0] == 0xff) && (p[1] & 0x80) == (p[0] & 0x80)) {
      ++p;
      --n;
    }
    arrow::Decimal128 value;
    if (n > 16) return Status::Invalid("a decimal of ", n, " bytes");
    if (n > 0) {
      ARROW_ASSIGN_OR_RAISE(value,
                            arrow::Decimal128::FromBigEndian(p, static_cast<int32_t>(n)));
    }
    if (ARROW_PREDICT_FALSE(!value.FitsInPrecision(precision_))) {
      return Status::Invalid("the decimal ", value.ToIntegerString(), " has more than ",
                             precision_, " digits");
    }
    return builder_->Append(value);
  }

 private:
  arrow::Decimal128Builder* builder_;
  int32_t size_;
  int32_t precision_;
};

class RecordDecoder : public Decoder {
 public:
  RecordDecoder(arrow::StructBuilder* builder,
                std::vector<std::unique_ptr<Decoder>> fields)
      : builder_(builder), fields_(std::move(fields)) {}
  Status Decode(Cursor* in) override {
    ARROW_RETURN_NOT_OK(builder_->Append());
    for (auto& f : fields_) ARROW_RETURN_NOT_OK(f->Decode(in));
    return Status::OK();
  }

 private:
  arrow::StructBuilder* builder_;
  std::vector<std::unique_ptr<Decoder>> fields_;
};

class ArrayDecoder : public Decoder {
 public:
  ArrayDecoder(arrow::ListBuilder* builder, std::unique_ptr<Decoder> items,
               int64_t min_size)
      : builder_(builder), items_(std::move(items)), min_size_(min_size) {}
  Status Decode(Cursor* in) override {
    ARROW_RETURN_NOT_OK(builder_->Append());
    int64_t count = 0;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(bool more, NextItems(in, min_size_, &count));
      if (!more) return Status::OK();
      for (int64_t i = 0; i < count; ++i) ARROW_RETURN_NOT_OK(items_->Decode(in));
    }
  }

 private:
  arrow::ListBuilder* builder_;
  std::unique_ptr<Decoder> items_;
  int64_t min_size_;
};

class MapDecoder : public Decoder {
 public:
  MapDecoder(arrow::MapBuilder* builder, std::unique_ptr<Decoder> values)
      : builder_(builder),
        keys_(checked_cast<arrow::StringBuilder*>(builder->key_builder())),
        values_(std::move(values)) {}
  Status Decode(Cursor* in) override {
    ARROW_RETURN_NOT_OK(builder_->Append());
    int64_t count = 0;
    std::string_view key;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(bool more, NextItems(in, 1, &count));
      if (!more) return Status::OK();
      for (int64_t i = 0; i < count; ++i) {
        ARROW_RETURN_NOT_OK(in->Bytes(&key));
        if (ARROW_PREDICT_FALSE(!arrow::util::ValidateUTF8(key))) {
          return Status::Invalid("a map key that is not valid UTF-8");
        }
        ARROW_RETURN_NOT_OK(keys_->Append(key));
        ARROW_RETURN_NOT_OK(values_->Decode(in));
      }
    }
  }

 private:
  arrow::MapBuilder* builder_;
  arrow::StringBuilder* keys_;
  std::unique_ptr<Decoder> values_;
};

/// A union read as one nullable value (UnionShape).
class UnionDecoder : public Decoder {
 public:
  UnionDecoder(arrow::ArrayBuilder* builder, avro::UnionShape shape,
               std::unique_ptr<Decoder> value)
      : builder_(builder), shape_(shape), value_(std::move(value)) {}
  Status Decode(Cursor* in) override {
    int64_t branch = 0;
    ARROW_RETURN_NOT_OK(in->Long(&branch));
    if (branch == shape_.value_index) return value_->Decode(in);
    if (branch == shape_.null_index) return builder_->AppendNull();
    return Status::Invalid("union branch ", branch, " does not exist");
  }

 private:
  arrow::ArrayBuilder* builder_;
  avro::UnionShape shape_;
  std::unique_ptr<Decoder> value_;
};

/// The decoder of `node` into `builder`, made by arrow::MakeBuilder for the type
/// avro::ToArrowField gives `node`.
Result<std::unique_ptr<Decoder>> MakeDecoder(const Node& node,
                                             arrow::ArrayBuilder* builder) {
  using arrow::Type;
  const Type::type id = builder->type()->id();
  switch (node.kind) {
    case Kind::kNull:
      return std::make_unique<NullDecoder>(builder);
    case Kind::kBoolean:
      return std::make_unique<BooleanDecoder>(
          checked_cast<arrow::BooleanBuilder*>(builder));
    case Kind::kInt:
      if (id == Type::DATE32) {
        return std::make_unique<IntDecoder<arrow::Date32Builder>>(
            checked_cast<arrow::Date32Builder*>(builder));
      }
      if (id == Type::TIME32) {
        return std::make_unique<IntDecoder<arrow::Time32Builder>>(
            checked_cast<arrow::Time32Builder*>(builder));
      }
      return std::make_unique<IntDecoder<arrow::Int32Builder>>(
          checked_cast<arrow::Int32Builder*>(builder));
    case Kind::kLong:
      if (id == Type::TIMESTAMP) {
        return std::make_unique<LongDecoder<arrow::TimestampBuilder>>(
            checked_cast<arrow::TimestampBuilder*>(builder));
      }
      if (id == Type::TIME64) {
        return std::make_unique<LongDecoder<arrow::Time64Builder>>(
            checked_cast<arrow::Time64Builder*>(builder));
      }
      return std::make_unique<LongDecoder<arrow::Int64Builder>>(
          checked_cast<arrow::Int64Builder*>(builder));
    case Kind::kFloat:
      return std::make_unique<FloatDecoder<arrow::FloatBuilder>>(
          checked_cast<arrow::FloatBuilder*>(builder));
    case Kind::kDouble:
      return std::make_unique<FloatDecoder<arrow::DoubleBuilder>>(
          checked_cast<arrow::DoubleBuilder*>(builder));
    case Kind::kBytes:
    case Kind::kFixed:
      if (id == Type::DECIMAL128) {
        return std::make_unique<DecimalDecoder>(
            checked_cast<arrow::Decimal128Builder*>(builder),
            node.kind == Kind::kFixed ? node.size : -1);
      }
      if (id == Type::STRING && node.kind == Kind::kFixed) {
        return std::make_unique<UuidDecoder>(
            checked_cast<arrow::StringBuilder*>(builder));
      }
      if (id == Type::STRING) {
        return std::make_unique<BytesDecoder<arrow::StringBuilder, true>>(
            checked_cast<arrow::StringBuilder*>(builder));
      }
      if (node.kind == Kind::kFixed) {
        return std::make_unique<FixedDecoder>(
            checked_cast<arrow::FixedSizeBinaryBuilder*>(builder));
      }
      return std::make_unique<BytesDecoder<arrow::BinaryBuilder, false>>(
          checked_cast<arrow::BinaryBuilder*>(builder));
    case Kind::kString:
      return std::make_unique<BytesDecoder<arrow::StringBuilder, true>>(
          checked_cast<arrow::StringBuilder*>(builder));
    case Kind::kEnum:
      return std::make_unique<EnumDecoder>(checked_cast<arrow::StringBuilder*>(builder),
                                           node.names);
    case Kind::kRecord: {
      auto* record = checked_cast<arrow::StructBuilder*>(builder);
      std::vector<std::unique_ptr<Decoder>> fields;
      for (size_t i = 0; i < node.children.size(); ++i) {
        ARROW_ASSIGN_OR_RAISE(
            auto f,
            MakeDecoder(*node.children[i], record->field_builder(static_cast<int>(i))));
        fields.push_back(std::move(f));
      }
      return std::make_unique<RecordDecoder>(record, std::move(fields));
    }
    case Kind::kArray: {
      auto* list = checked_cast<arrow::ListBuilder*>(builder);
      ARROW_ASSIGN_OR_RAISE(auto items,
                            MakeDecoder(*node.children[0], list->value_builder()));
      return std::make_unique<ArrayDecoder>(list, std::move(items),
                                            MinSize(*node.children[0]));
    }
    case Kind::kMap: {
      auto* map = checked_cast<arrow::MapBuilder*>(builder);
      ARROW_ASSIGN_OR_RAISE(auto values,
                            MakeDecoder(*node.children[0], map->item_builder()));
      return std::make_unique<MapDecoder>(map, std::move(values));
    }
    case Kind::kUnion: {
      ARROW_ASSIGN_OR_RAISE(auto shape, avro::ShapeOfUnion(node));
      std::unique_ptr<Decoder> value;
      if (shape.value != nullptr) {
        ARROW_ASSIGN_OR_RAISE(value, MakeDecoder(*shape.value, builder));
      }
      return std::make_unique<UnionDecoder>(builder, shape, std::move(value));
    }
  }
  return Status::Invalid("unknown Avro type");
}

// ---------------------------------------------------------------------------
// The reader

/// What a file's header says, parsed once per file.
struct Header {
  std::unique_ptr<Container> container;
  std::unique_ptr<avro::BlockCodec> codec;
  avro::Schema schema;
  std::shared_ptr<arrow::Schema> columns;  // avro::ToArrowSchema
};

Result<Header> ReadHeader(const Storage& storage, const std::string& path) {
  Header h;
  ARROW_ASSIGN_OR_RAISE(h.container, Container::Open(storage, path));
  auto codec = avro::BlockCodec::FromName(h.container->codec());
  if (!codec.ok()) return WithPath(codec.status(), path);
  h.codec = std::move(*codec);
  auto schema = avro::Schema::Parse(h.container->schema_json());
  if (!schema.ok()) {
    return Status::Invalid(
        path, ": the Avro schema cannot be read: ", schema.status().message());
  }
  h.schema = std::move(*schema);
  auto columns = avro::ToArrowSchema(h.schema);
  if (!columns.ok()) return WithPath(columns.status(), path);
  h.columns = *columns;
  return h;
}

/// Decodes the records of one file into batches of the wanted columns.
class AvroBatches : public arrow::RecordBatchReader {
 public:
  AvroBatches(Header header, std::shared_ptr<arrow::Schema> schema,
              std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders,
              std::vector<std::unique_ptr<Decoder>> fields, int64_t batch_rows,
              std::shared_ptr<ScanStats> stats)
      : header_(std::move(header)),
        schema_(std::move(schema)),
        builders_(std::move(builders)),
        fields_(std::move(fields)),
        batch_rows_(batch_rows),
        stats_(std::move(stats)),
        min_record_(MinSize(header_.schema.root())) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    for (auto& b : builders_) ARROW_RETURN_NOT_OK(b->Reserve(batch_rows_));
    int64_t rows = 0;
    while (rows < batch_rows_) {
      if (left_ == 0) {
        ARROW_ASSIGN_OR_RAISE(bool more, NextBlock());
        if (!more) break;
        continue;
      }
      for (auto& field : fields_) {
        Status st = field->Decode(&cursor_);
        if (ARROW_PREDICT_FALSE(!st.ok())) return Where(st);
      }
      ++rows;
      --left_;
      if (left_ == 0 && cursor_.p != cursor_.end) {
        return Where(Status::Invalid(cursor_.end - cursor_.p,
                                     " bytes follow the block's last record"));
      }
    }
    if (rows == 0) {
      *batch = nullptr;
      return Status::OK();
    }
    std::vector<std::shared_ptr<arrow::Array>> columns;
    for (auto& b : builders_) {
      ARROW_ASSIGN_OR_RAISE(auto column, b->Finish());
      columns.push_back(std::move(column));
    }
    *batch = arrow::RecordBatch::Make(schema_, rows, std::move(columns));
    return Status::OK();
  }

 private:
  Result<bool> NextBlock() {
    const int64_t before = header_.container->bytes_read();
    auto more = header_.container->Next(&block_);
    if (stats_) stats_->bytes_read += header_.container->bytes_read() - before;
    if (!more.ok()) return Where(more.status());
    if (!*more) return false;
    auto data = header_.codec->Decompress(block_.data);
    if (!data.ok()) {
      return Where(Status::Invalid(header_.codec->name(), ": ", data.status().message()));
    }
    block_.data = *data;
    cursor_ = {block_.data->data(), block_.data->data() + block_.data->size()};
    left_ = block_.records;
    if (left_ == 0 && cursor_.p != cursor_.end) {
      return Where(Status::Invalid("an empty block holds data"));
    }
    // Records of no size (all null) still cost a row each: bound them too.
    const int64_t bytes = block_.data->size();
    if (left_ > (min_record_ > 0 ? bytes / min_record_ : int64_t{1} << 24)) {
      left_ = 0;
      return Where(Status::Invalid("the block claims ", block_.records, " records in ",
                                   bytes, " bytes"));
    }
    return true;
  }

  // "block 3 (byte 1234), record 17: ..." (records counted from 0 in the block).
  Status Where(const Status& st) const {
    std::string where = "block " + std::to_string(block_.index) + " (byte " +
                        std::to_string(block_.offset) + ")";
    if (block_.data && left_ > 0) {
      where += ", record " + std::to_string(block_.records - left_);
    }
    return st.WithMessage(where, ": ", st.message());
  }

  Header header_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders_;
  std::vector<std::unique_ptr<Decoder>> fields_;  // one per field of the file's record
  int64_t batch_rows_;
  std::shared_ptr<ScanStats> stats_;
  Block block_;
  int64_t min_record_;  // the fewest bytes a record takes
  Cursor cursor_{nullptr, nullptr};
  int64_t left_ = 0;  // records of the block not yet read
};

class AvroReader : public FormatReader {
 public:
  explicit AvroReader(ReadSettings settings) : settings_(std::move(settings)) {
    arrow::util::InitializeUTF8();
  }

  Result<FileInfo> Inspect(const std::string& path) override {
    ARROW_ASSIGN_OR_RAISE(auto header, ReadHeader(*settings_.storage, path));
    FileInfo info;
    info.path = path;
    info.raw_schema = header.columns;
    ARROW_ASSIGN_OR_RAISE(info.schema, ApplyTypeSettings(info.raw_schema, settings_));
    return info;
  }

  Result<std::shared_ptr<arrow::RecordBatchReader>> Open(const FileScan& scan) override {
    const std::string& path = scan.file->path;
    ARROW_ASSIGN_OR_RAISE(auto header, ReadHeader(*settings_.storage, path));
    if (scan.stats) scan.stats->files_opened++;
    // The top level as a record: its fields, or the one "value" column.
    const Node& root = header.schema.root();
    std::vector<const Node*> nodes = {&root};
    if (root.kind == Kind::kRecord) nodes = root.children;
    arrow::FieldVector wanted;
    std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders;
    std::vector<std::unique_ptr<Decoder>> fields;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const auto& field = header.columns->field(static_cast<int>(i));
      const bool want = std::find(scan.columns.begin(), scan.columns.end(),
                                  field->name()) != scan.columns.end();
      if (!want) {
        fields.push_back(std::make_unique<SkipDecoder>(*nodes[i]));
        continue;
      }
      std::unique_ptr<arrow::ArrayBuilder> builder;
      ARROW_ASSIGN_OR_RAISE(builder, arrow::MakeBuilder(field->type()));
      ARROW_ASSIGN_OR_RAISE(auto decoder, MakeDecoder(*nodes[i], builder.get()));
      fields.push_back(std::move(decoder));
      builders.push_back(std::move(builder));
      wanted.push_back(field);
    }
    const int64_t rows = settings_.batch_size > 0 ? settings_.batch_size : kBatchRows;
    auto batches = std::make_shared<AvroBatches>(
        std::move(header), arrow::schema(std::move(wanted)), std::move(builders),
        std::move(fields), rows, scan.stats);
    return NameErrors(std::move(batches), path, scan.stats);
  }

 private:
  ReadSettings settings_;
};

}  // namespace

std::unique_ptr<FormatReader> MakeAvroReader(const ReadSettings& settings) {
  return std::make_unique<AvroReader>(settings);
}

}  // namespace flowsql::file
