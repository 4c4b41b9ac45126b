#include "connectors/file/avro.h"

#include <arrow/type.h>
#include <arrow/util/crc32.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace flowsql::file::avro {

namespace {

using Kind = Node::Kind;
using Logical = Node::Logical;
namespace dom = simdjson::dom;

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBoolean:
      return "boolean";
    case Kind::kInt:
      return "int";
    case Kind::kLong:
      return "long";
    case Kind::kFloat:
      return "float";
    case Kind::kDouble:
      return "double";
    case Kind::kBytes:
      return "bytes";
    case Kind::kString:
      return "string";
    case Kind::kRecord:
      return "record";
    case Kind::kEnum:
      return "enum";
    case Kind::kArray:
      return "array";
    case Kind::kMap:
      return "map";
    case Kind::kFixed:
      return "fixed";
    case Kind::kUnion:
      return "union";
  }
  return "?";
}

bool PrimitiveKind(std::string_view name, Kind* kind) {
  static constexpr std::pair<std::string_view, Kind> kPrimitives[] = {
      {"null", Kind::kNull},   {"boolean", Kind::kBoolean}, {"int", Kind::kInt},
      {"long", Kind::kLong},   {"float", Kind::kFloat},     {"double", Kind::kDouble},
      {"bytes", Kind::kBytes}, {"string", Kind::kString},
  };
  for (const auto& [n, k] : kPrimitives) {
    if (n == name) {
      *kind = k;
      return true;
    }
  }
  return false;
}

/// The most decimal digits a fixed of `size` bytes holds.
int32_t MaxDigits(int32_t size) {
  if (size <= 0) return 0;
  if (size >= 128) return 1 << 20;
  // floor(log10(2^(8 * size - 1) - 1))
  return static_cast<int32_t>((8.0 * size - 1) * 0.30102999566398120);
}

class Parser {
 public:
  explicit Parser(std::vector<std::unique_ptr<Node>>* nodes) : nodes_(nodes) {}

  Result<const Node*> Parse(dom::element e, const std::string& space) {
    switch (e.type()) {
      case dom::element_type::STRING: {
        std::string_view name;
        if (e.get_string().get(name) != simdjson::SUCCESS) break;
        return Reference(name, space);
      }
      case dom::element_type::ARRAY: {
        Node* node = New(Kind::kUnion);
        for (dom::element branch : dom::array(e)) {
          ARROW_ASSIGN_OR_RAISE(auto child, Parse(branch, space));
          node->children.push_back(child);
        }
        if (node->children.empty()) return Status::Invalid("empty union");
        return node;
      }
      case dom::element_type::OBJECT:
        return ParseObject(dom::object(e), space);
      default:
        break;
    }
    return Status::Invalid("not a schema: ", simdjson::minify(e));
  }

 private:
  Node* New(Kind kind) {
    nodes_->push_back(std::make_unique<Node>());
    nodes_->back()->kind = kind;
    return nodes_->back().get();
  }

  Result<const Node*> Reference(std::string_view name, const std::string& space) {
    Kind kind;
    if (PrimitiveKind(name, &kind)) return New(kind);
    auto it = named_.find(FullName(name, space));
    if (it == named_.end()) it = named_.find(std::string(name));
    if (it == named_.end()) return Status::Invalid("unknown type '", name, "'");
    return it->second;
  }

  static std::string FullName(std::string_view name, const std::string& space) {
    if (name.find('.') != std::string_view::npos || space.empty()) {
      return std::string(name);
    }
    return space + "." + std::string(name);
  }

  static std::string Str(dom::object o, const char* key) {
    std::string_view s;
    if (o[key].get_string().get(s) != simdjson::SUCCESS) return "";
    return std::string(s);
  }

  static bool Int(dom::object o, const char* key, int64_t* out) {
    return o[key].get_int64().get(*out) == simdjson::SUCCESS;
  }

  // Registers a named type; its namespace becomes `*space` for what it contains.
  Result<Node*> Named(Kind kind, dom::object o, std::string* space) {
    std::string name = Str(o, "name");
    if (name.empty()) return Status::Invalid("a ", KindName(kind), " without a name");
    const std::string ns = o["namespace"].is_string() ? Str(o, "namespace") : *space;
    std::string full = FullName(name, ns);
    const auto dot = full.rfind('.');
    *space = dot == std::string::npos ? "" : full.substr(0, dot);
    if (named_.count(full)) return Status::Invalid("type '", full, "' defined twice");
    Node* node = New(kind);
    node->name = full;
    named_[full] = node;
    return node;
  }

  Result<const Node*> ParseObject(dom::object o, std::string space) {
    dom::element type;
    if (o["type"].get(type) != simdjson::SUCCESS) {
      return Status::Invalid("a schema object without 'type': ", simdjson::minify(o));
    }
    std::string_view t;
    if (type.get_string().get(t) != simdjson::SUCCESS) {
      return Parse(type, space);  // {"type": {...}} or {"type": [...]}
    }
    Kind kind;
    if (t == "record" || t == "error") {
      ARROW_ASSIGN_OR_RAISE(Node * node, Named(Kind::kRecord, o, &space));
      dom::array fields;
      if (o["fields"].get_array().get(fields) != simdjson::SUCCESS) {
        return Status::Invalid("record '", node->name, "' has no 'fields' array");
      }
      for (dom::element f : fields) {
        dom::object field;
        dom::element field_type;
        if (f.get_object().get(field) != simdjson::SUCCESS ||
            field["type"].get(field_type) != simdjson::SUCCESS) {
          return Status::Invalid("record '", node->name, "': a field without 'type'");
        }
        std::string name = Str(field, "name");
        if (name.empty()) {
          return Status::Invalid("record '", node->name, "': a field without 'name'");
        }
        auto child = Parse(field_type, space);
        if (!child.ok()) {
          return child.status().WithMessage("field '", name,
                                            "': ", child.status().message());
        }
        node->names.push_back(std::move(name));
        node->children.push_back(*child);
      }
      return node;
    }
    if (t == "enum") {
      ARROW_ASSIGN_OR_RAISE(Node * node, Named(Kind::kEnum, o, &space));
      dom::array symbols;
      if (o["symbols"].get_array().get(symbols) != simdjson::SUCCESS) {
        return Status::Invalid("enum '", node->name, "' has no 'symbols' array");
      }
      for (dom::element s : symbols) {
        std::string_view symbol;
        if (s.get_string().get(symbol) != simdjson::SUCCESS) {
          return Status::Invalid("enum '", node->name, "': a symbol that is no string");
        }
        node->names.emplace_back(symbol);
      }
      return node;
    }
    if (t == "fixed") {
      ARROW_ASSIGN_OR_RAISE(Node * node, Named(Kind::kFixed, o, &space));
      int64_t size = -1;
      if (!Int(o, "size", &size) || size < 0 || size > (1 << 30)) {
        return Status::Invalid("fixed '", node->name, "' has no valid 'size'");
      }
      node->size = static_cast<int32_t>(size);
      SetLogical(o, node);
      return node;
    }
    if (t == "array" || t == "map") {
      Node* node = New(t == "array" ? Kind::kArray : Kind::kMap);
      dom::element child;
      if (o[t == "array" ? "items" : "values"].get(child) != simdjson::SUCCESS) {
        return Status::Invalid("an ", t, " without '", t == "array" ? "items" : "values",
                               "'");
      }
      ARROW_ASSIGN_OR_RAISE(auto c, Parse(child, space));
      node->children.push_back(c);
      return node;
    }
    if (PrimitiveKind(t, &kind)) {
      Node* node = New(kind);
      SetLogical(o, node);
      return node;
    }
    return Reference(t, space);
  }

  // Applies a valid logicalType annotation; ignores others.
  static void SetLogical(dom::object o, Node* node) {
    const std::string logical = Str(o, "logicalType");
    const Kind k = node->kind;
    if (logical == "decimal" && (k == Kind::kBytes || k == Kind::kFixed)) {
      int64_t precision = 0, scale = 0;
      if (!Int(o, "precision", &precision) || precision < 1) return;
      if (o["scale"].error() != simdjson::NO_SUCH_FIELD && !Int(o, "scale", &scale)) {
        return;
      }
      if (scale < 0 || scale > precision) return;
      if (k == Kind::kFixed && precision > MaxDigits(node->size)) return;
      if (precision > (1 << 20)) return;
      node->logical = Logical::kDecimal;
      node->precision = static_cast<int32_t>(precision);
      node->scale = static_cast<int32_t>(scale);
      return;
    }
    static constexpr std::tuple<std::string_view, Kind, Logical> kSimple[] = {
        {"date", Kind::kInt, Logical::kDate},
        {"time-millis", Kind::kInt, Logical::kTimeMillis},
        {"time-micros", Kind::kLong, Logical::kTimeMicros},
        {"timestamp-millis", Kind::kLong, Logical::kTimestampMillis},
        {"timestamp-micros", Kind::kLong, Logical::kTimestampMicros},
        {"timestamp-nanos", Kind::kLong, Logical::kTimestampNanos},
        {"local-timestamp-millis", Kind::kLong, Logical::kLocalTimestampMillis},
        {"local-timestamp-micros", Kind::kLong, Logical::kLocalTimestampMicros},
        {"local-timestamp-nanos", Kind::kLong, Logical::kLocalTimestampNanos},
        {"uuid", Kind::kString, Logical::kUuid},
    };
    for (const auto& [name, kind, value] : kSimple) {
      if (logical == name && k == kind) node->logical = value;
    }
    if (logical == "uuid" && k == Kind::kFixed && node->size == 16) {
      node->logical = Logical::kUuid;
    }
  }

  std::vector<std::unique_ptr<Node>>* nodes_;
  std::unordered_map<std::string, Node*> named_;
};

std::string Path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

// The Arrow type of `node`, whose field is `path`; `records` are the records being
// mapped around it (a recursive one cannot be a column).
Result<std::shared_ptr<arrow::Field>> Map(const std::string& path, const Node& node,
                                          std::vector<const Node*>* records) {
  const std::string name = path.substr(path.rfind('.') + 1);
  auto field = [&](std::shared_ptr<arrow::DataType> type) {
    return arrow::field(name, std::move(type), /*nullable=*/false);
  };
  auto utc = [&](arrow::TimeUnit::type unit) {
    return field(arrow::timestamp(unit, "UTC"));
  };
  auto local = [&](arrow::TimeUnit::type unit) { return field(arrow::timestamp(unit)); };
  switch (node.kind) {
    case Kind::kNull:
      return arrow::field(name, arrow::null());
    case Kind::kBoolean:
      return field(arrow::boolean());
    case Kind::kInt:
      switch (node.logical) {
        case Logical::kDate:
          return field(arrow::date32());
        case Logical::kTimeMillis:
          return field(arrow::time32(arrow::TimeUnit::MILLI));
        default:
          return field(arrow::int32());
      }
    case Kind::kLong:
      switch (node.logical) {
        case Logical::kTimeMicros:
          return field(arrow::time64(arrow::TimeUnit::MICRO));
        case Logical::kTimestampMillis:
          return utc(arrow::TimeUnit::MILLI);
        case Logical::kTimestampMicros:
          return utc(arrow::TimeUnit::MICRO);
        case Logical::kTimestampNanos:
          return utc(arrow::TimeUnit::NANO);
        case Logical::kLocalTimestampMillis:
          return local(arrow::TimeUnit::MILLI);
        case Logical::kLocalTimestampMicros:
          return local(arrow::TimeUnit::MICRO);
        case Logical::kLocalTimestampNanos:
          return local(arrow::TimeUnit::NANO);
        default:
          return field(arrow::int64());
      }
    case Kind::kFloat:
      return field(arrow::float32());
    case Kind::kDouble:
      return field(arrow::float64());
    case Kind::kBytes:
    case Kind::kFixed:
      if (node.logical == Logical::kDecimal) {
        if (node.precision > arrow::Decimal128Type::kMaxPrecision) {
          return Status::NotImplemented("field '", path, "': decimal(", node.precision,
                                        ", ", node.scale, ") has more than ",
                                        arrow::Decimal128Type::kMaxPrecision, " digits");
        }
        return field(arrow::decimal128(node.precision, node.scale));
      }
      if (node.logical == Logical::kUuid) return field(arrow::utf8());
      return field(node.kind == Kind::kBytes ? arrow::binary()
                                             : arrow::fixed_size_binary(node.size));
    case Kind::kString:
    case Kind::kEnum:
      return field(arrow::utf8());
    case Kind::kRecord: {
      if (std::find(records->begin(), records->end(), &node) != records->end()) {
        return Status::NotImplemented("field '", path, "': the recursive type '",
                                      node.name, "' cannot be read as a column");
      }
      records->push_back(&node);
      arrow::FieldVector fields;
      for (size_t i = 0; i < node.children.size(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto f,
                              Map(Path(path, node.names[i]), *node.children[i], records));
        fields.push_back(std::move(f));
      }
      records->pop_back();
      return field(arrow::struct_(std::move(fields)));
    }
    case Kind::kArray: {
      ARROW_ASSIGN_OR_RAISE(auto item, Map(path + ".item", *node.children[0], records));
      return field(arrow::list(std::move(item)));
    }
    case Kind::kMap: {
      ARROW_ASSIGN_OR_RAISE(auto value, Map(path + ".value", *node.children[0], records));
      return field(arrow::map(arrow::utf8(), std::move(value)));
    }
    case Kind::kUnion: {
      auto shape = ShapeOfUnion(node);
      if (!shape.ok()) {
        return shape.status().WithMessage("field '", path,
                                          "': ", shape.status().message());
      }
      if (shape->value == nullptr) return arrow::field(name, arrow::null());
      ARROW_ASSIGN_OR_RAISE(auto f, Map(path, *shape->value, records));
      return shape->null_index >= 0 ? f->WithNullable(true) : f;
    }
  }
  return Status::Invalid("field '", path, "': unknown Avro type");
}

}  // namespace

Result<Schema> Schema::Parse(std::string_view json) {
  dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  dom::element root;
  if (auto error = parser.parse(padded).get(root)) {
    return Status::Invalid("the schema is not valid JSON: ",
                           simdjson::error_message(error));
  }
  Schema schema;
  Parser p(&schema.nodes_);
  ARROW_ASSIGN_OR_RAISE(schema.root_, p.Parse(root, ""));
  return schema;
}

std::string Describe(const Node& node) {
  if (!node.name.empty()) return node.name;
  if (node.kind == Kind::kUnion) {
    std::string out = "[";
    for (size_t i = 0; i < node.children.size(); ++i) {
      out += (i ? ", " : "") + Describe(*node.children[i]);
    }
    return out + "]";
  }
  return KindName(node.kind);
}

Result<UnionShape> ShapeOfUnion(const Node& node) {
  UnionShape shape;
  for (size_t i = 0; i < node.children.size(); ++i) {
    const Node* branch = node.children[i];
    if (branch->kind == Kind::kNull && shape.null_index < 0) {
      shape.null_index = static_cast<int>(i);
    } else if (shape.value == nullptr && branch->kind != Kind::kNull &&
               branch->kind != Kind::kUnion) {
      shape.value = branch;
      shape.value_index = static_cast<int>(i);
    } else {
      return Status::NotImplemented(
          "the union ", Describe(node),
          " cannot be read: only a union of null and one other type can");
    }
  }
  return shape;
}

Result<std::shared_ptr<arrow::Field>> ToArrowField(const std::string& name,
                                                   const Node& node) {
  std::vector<const Node*> records;
  return Map(name, node, &records);
}

Result<std::shared_ptr<arrow::Schema>> ToArrowSchema(const Schema& schema) {
  const Node& root = schema.root();
  if (root.kind != Kind::kRecord) {
    ARROW_ASSIGN_OR_RAISE(auto f, ToArrowField("value", root));
    return arrow::schema({f});
  }
  arrow::FieldVector fields;
  std::vector<const Node*> records = {&root};
  for (size_t i = 0; i < root.children.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto f, Map(root.names[i], *root.children[i], &records));
    fields.push_back(std::move(f));
  }
  return arrow::schema(std::move(fields));
}

// ---------------------------------------------------------------------------
// Block codecs

namespace {

/// The deflate level when none is set.
constexpr int kDeflateLevel = 6;

/// Avro's snappy blocks end with the big-endian CRC-32 of the uncompressed data.
constexpr int kCrcSize = 4;

/// The length snappy's raw format starts with, or -1.
int64_t SnappyLength(const uint8_t* p, const uint8_t* end) {
  uint64_t n = 0;
  for (int shift = 0; p < end && shift < 35; shift += 7) {
    const uint8_t b = *p++;
    n |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return static_cast<int64_t>(n);
  }
  return -1;
}

}  // namespace

Result<std::unique_ptr<BlockCodec>> BlockCodec::FromName(std::string_view name) {
  arrow::Compression::type type;
  if (name.empty() || name == "null") {
    type = arrow::Compression::UNCOMPRESSED;
  } else if (name == "deflate") {
    type = arrow::Compression::GZIP;
  } else if (name == "snappy") {
    type = arrow::Compression::SNAPPY;
  } else if (name == "zstandard") {
    type = arrow::Compression::ZSTD;
  } else if (name == "bzip2") {
    type = arrow::Compression::BZ2;
  } else {
    return Status::NotImplemented("the codec '", name,
                                  "' is not supported (null, deflate, snappy, "
                                  "zstandard and bzip2 are)");
  }
  return FromCompression(type, arrow::util::kUseDefaultCompressionLevel);
}

Result<std::unique_ptr<BlockCodec>> BlockCodec::FromCompression(
    arrow::Compression::type type, int level) {
  std::unique_ptr<arrow::util::Codec> codec;
  switch (type) {
    case arrow::Compression::UNCOMPRESSED:
      break;
    case arrow::Compression::GZIP: {
      arrow::util::GZipCodecOptions options;
      options.gzip_format = arrow::util::GZipFormat::DEFLATE;
      // zlib's own default, as Avro's Java library and fastavro use (Arrow's is 9,
      // three times slower for 0.3% smaller files here).
      options.compression_level =
          level == arrow::util::kUseDefaultCompressionLevel ? kDeflateLevel : level;
      ARROW_ASSIGN_OR_RAISE(codec, arrow::util::Codec::Create(type, options));
      break;
    }
    case arrow::Compression::SNAPPY:
    case arrow::Compression::ZSTD:
    case arrow::Compression::BZ2: {
      ARROW_ASSIGN_OR_RAISE(codec, arrow::util::Codec::Create(type, level));
      break;
    }
    default:
      return Status::Invalid("Avro files cannot use ",
                             arrow::util::Codec::GetCodecAsString(type));
  }
  return std::unique_ptr<BlockCodec>(new BlockCodec(type, std::move(codec)));
}

const char* BlockCodec::name() const {
  switch (type_) {
    case arrow::Compression::GZIP:
      return "deflate";
    case arrow::Compression::SNAPPY:
      return "snappy";
    case arrow::Compression::ZSTD:
      return "zstandard";
    case arrow::Compression::BZ2:
      return "bzip2";
    default:
      return "null";
  }
}

Result<std::shared_ptr<arrow::Buffer>> BlockCodec::Decompress(
    const std::shared_ptr<arrow::Buffer>& data) {
  if (codec_ == nullptr) return data;
  const uint8_t* in = data->data();
  int64_t in_len = data->size();
  if (type_ == arrow::Compression::SNAPPY) {
    if (in_len < kCrcSize) return Status::Invalid("snappy block shorter than its CRC");
    in_len -= kCrcSize;
    const int64_t length = SnappyLength(in, in + in_len);
    if (length < 0 || length > (int64_t{1} << 32)) {
      return Status::Invalid("not snappy data");
    }
    ARROW_ASSIGN_OR_RAISE(auto out, arrow::AllocateBuffer(length));
    auto n = codec_->Decompress(in_len, in, length, out->mutable_data());
    if (!n.ok() || *n != length) return Status::Invalid("not snappy data");
    const uint8_t* c = in + in_len;
    const uint32_t crc = (uint32_t{c[0]} << 24) | (uint32_t{c[1]} << 16) |
                         (uint32_t{c[2]} << 8) | uint32_t{c[3]};
    if (arrow::internal::crc32(0, out->data(), length) != crc) {
      return Status::Invalid("snappy block fails its CRC check");
    }
    return std::shared_ptr<arrow::Buffer>(std::move(out));
  }
  // Deflate, zstd, bzip2: streamed into a buffer that grows.
  if (decompressor_ == nullptr) {
    ARROW_ASSIGN_OR_RAISE(decompressor_, codec_->MakeDecompressor());
  } else {
    ARROW_RETURN_NOT_OK(decompressor_->Reset());
  }
  ARROW_ASSIGN_OR_RAISE(
      auto out, arrow::AllocateResizableBuffer(std::max<int64_t>(in_len * 4, 4096)));
  int64_t used = 0;
  while (true) {
    auto r = decompressor_->Decompress(in_len, in, out->size() - used,
                                       out->mutable_data() + used);
    if (!r.ok()) return Status::Invalid(r.status().message());
    in += r->bytes_read;
    in_len -= r->bytes_read;
    used += r->bytes_written;
    if (decompressor_->IsFinished()) break;
    if (used < out->size() && r->bytes_read == 0 && r->bytes_written == 0) {
      // No progress with room to write: the input is used up, or bad.
      if (in_len == 0) return Status::Invalid("the compressed data ends early");
      return Status::Invalid("the compressed data cannot be decoded");
    }
    if (used == out->size()) {
      if (out->size() >= (int64_t{1} << 32)) {
        return Status::Invalid("a block larger than 4 GiB uncompressed");
      }
      ARROW_RETURN_NOT_OK(out->Resize(out->size() * 2));
    }
  }
  ARROW_RETURN_NOT_OK(out->Resize(used, /*shrink_to_fit=*/false));
  return std::shared_ptr<arrow::Buffer>(std::move(out));
}

Status BlockCodec::Compress(std::string_view data, std::string* out) {
  const auto* in = reinterpret_cast<const uint8_t*>(data.data());
  const auto in_len = static_cast<int64_t>(data.size());
  if (codec_ == nullptr) {
    out->assign(data);
    return Status::OK();
  }
  if (type_ == arrow::Compression::BZ2) {
    // Arrow's bzip2 has no one-shot form: stream into a buffer that grows.
    ARROW_ASSIGN_OR_RAISE(auto compressor, codec_->MakeCompressor());
    out->resize(std::max<size_t>(data.size() / 2, 4096));
    int64_t used = 0, left = in_len;
    for (bool ended = false; !ended;) {
      if (used == static_cast<int64_t>(out->size())) out->resize(out->size() * 2);
      auto* dst = reinterpret_cast<uint8_t*>(out->data()) + used;
      const int64_t room = static_cast<int64_t>(out->size()) - used;
      if (left > 0) {
        ARROW_ASSIGN_OR_RAISE(auto r, compressor->Compress(left, in, room, dst));
        in += r.bytes_read;
        left -= r.bytes_read;
        used += r.bytes_written;
        if (r.bytes_read == 0) out->resize(out->size() * 2);
      } else {
        ARROW_ASSIGN_OR_RAISE(auto r, compressor->End(room, dst));
        used += r.bytes_written;
        ended = !r.should_retry;
        if (!ended) out->resize(out->size() * 2);
      }
    }
    out->resize(used);
    return Status::OK();
  }
  const int64_t max = codec_->MaxCompressedLen(in_len, in);
  const int64_t extra = type_ == arrow::Compression::SNAPPY ? kCrcSize : 0;
  out->resize(max + extra);
  auto* dst = reinterpret_cast<uint8_t*>(out->data());
  ARROW_ASSIGN_OR_RAISE(int64_t n, codec_->Compress(in_len, in, max, dst));
  if (type_ == arrow::Compression::SNAPPY) {
    const uint32_t crc = arrow::internal::crc32(0, in, in_len);
    for (int i = 0; i < kCrcSize; ++i) {
      dst[n + i] = static_cast<uint8_t>(crc >> (8 * (kCrcSize - 1 - i)));
    }
    n += kCrcSize;
  }
  out->resize(n);
  return Status::OK();
}

}  // namespace flowsql::file::avro
