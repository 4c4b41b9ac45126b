// Avro object container files written from Arrow batches. The Avro schema follows
// from the Arrow types, in one place: the encoder made for each type states its schema.
#include <arrow/array.h>
#include <arrow/util/checked_cast.h>

#include <climits>
#include <random>
#include <set>

#include "connectors/file/avro.h"
#include "connectors/file/batch_writer.h"

namespace flowsql::file {

namespace {

using arrow::internal::checked_cast;

/// Records are written in blocks of about this many bytes (before compression).
constexpr size_t kBlockBytes = 1 << 20;

/// Writes the values of one column, or of a nested child, in Avro's binary encoding.
class Encoder {
 public:
  virtual ~Encoder() = default;
  /// Takes the array of the next batch. REQUIRES: it outlives the Encode calls.
  virtual void Bind(const arrow::Array& array) = 0;
  /// Appends value `i` of the bound array to `out`. REQUIRES: it is not null.
  virtual Status Encode(int64_t i, std::string* out) = 0;
};

/// Avro's names: [A-Za-z_][A-Za-z0-9_]*.
bool ValidName(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

class NullEncoder : public Encoder {
 public:
  void Bind(const arrow::Array&) override {}
  Status Encode(int64_t, std::string*) override { return Status::OK(); }
};

class BooleanEncoder : public Encoder {
 public:
  void Bind(const arrow::Array& array) override {
    array_ = &checked_cast<const arrow::BooleanArray&>(array);
  }
  Status Encode(int64_t i, std::string* out) override {
    out->push_back(array_->Value(i) ? 1 : 0);
    return Status::OK();
  }

 private:
  const arrow::BooleanArray* array_ = nullptr;
};

/// An integer as int or long, times `multiply`, floor-divided by `divide` (for
/// changes of unit: seconds to milliseconds, nanoseconds to microseconds).
template <typename CType>
class IntegerEncoder : public Encoder {
 public:
  explicit IntegerEncoder(int64_t multiply = 1, int64_t divide = 1)
      : multiply_(multiply), divide_(divide) {}
  void Bind(const arrow::Array& array) override {
    values_ = array.data()->GetValues<CType>(1);
  }
  Status Encode(int64_t i, std::string* out) override {
    if constexpr (std::is_same_v<CType, uint64_t>) {
      if (values_[i] > static_cast<uint64_t>(INT64_MAX)) {
        return Status::Invalid("the value ", values_[i], " does not fit an Avro long");
      }
    }
    int64_t v = static_cast<int64_t>(values_[i]);
    if (multiply_ != 1 && __builtin_mul_overflow(v, multiply_, &v)) {
      return Status::Invalid("the value ", values_[i], " is out of range");
    }
    if (divide_ != 1) v = FloorDiv(v, divide_);
    avro::PutLong(v, out);
    return Status::OK();
  }

 private:
  const CType* values_ = nullptr;
  int64_t multiply_;
  int64_t divide_;
};

/// float and double: little-endian IEEE 754.
template <typename CType>
class FloatEncoder : public Encoder {
 public:
  void Bind(const arrow::Array& array) override {
    values_ = array.data()->GetValues<CType>(1);
  }
  Status Encode(int64_t i, std::string* out) override {
    out->append(reinterpret_cast<const char*>(&values_[i]), sizeof(CType));
    return Status::OK();
  }

 private:
  const CType* values_ = nullptr;
};

/// string and bytes: a length, then the bytes.
template <typename ArrayType>
class BytesEncoder : public Encoder {
 public:
  void Bind(const arrow::Array& array) override {
    array_ = &checked_cast<const ArrayType&>(array);
  }
  Status Encode(int64_t i, std::string* out) override {
    const std::string_view v = array_->GetView(i);
    avro::PutLong(static_cast<int64_t>(v.size()), out);
    out->append(v);
    return Status::OK();
  }

 private:
  const ArrayType* array_ = nullptr;
};

class FixedEncoder : public Encoder {
 public:
  void Bind(const arrow::Array& array) override {
    array_ = &checked_cast<const arrow::FixedSizeBinaryArray&>(array);
  }
  Status Encode(int64_t i, std::string* out) override {
    out->append(reinterpret_cast<const char*>(array_->GetValue(i)), array_->byte_width());
    return Status::OK();
  }

 private:
  const arrow::FixedSizeBinaryArray* array_ = nullptr;
};

/// A decimal of any width as Avro's bytes: the shortest big-endian two's complement.
class DecimalEncoder : public Encoder {
 public:
  void Bind(const arrow::Array& array) override {
    array_ = &checked_cast<const arrow::FixedSizeBinaryArray&>(array);
  }
  Status Encode(int64_t i, std::string* out) override {
    const uint8_t* le = array_->GetValue(i);  // little-endian
    int n = array_->byte_width();
    while (n > 1 && ((le[n - 1] == 0x00 && (le[n - 2] & 0x80) == 0) ||
                     (le[n - 1] == 0xff && (le[n - 2] & 0x80) != 0))) {
      --n;
    }
    avro::PutLong(n, out);
    for (int k = n - 1; k >= 0; --k) out->push_back(static_cast<char>(le[k]));
    return Status::OK();
  }

 private:
  const arrow::FixedSizeBinaryArray* array_ = nullptr;
};

/// list, large_list, fixed_size_list: one block of items, then the end.
template <typename ArrayType>
class ListEncoder : public Encoder {
 public:
  explicit ListEncoder(std::unique_ptr<Encoder> items) : items_(std::move(items)) {}
  void Bind(const arrow::Array& array) override {
    array_ = &checked_cast<const ArrayType&>(array);
    items_->Bind(*array_->values());
  }
  Status Encode(int64_t i, std::string* out) override {
    const int64_t n = array_->value_length(i);
    if (n > 0) {
      avro::PutLong(n, out);
      const int64_t first = array_->value_offset(i);
      for (int64_t k = first; k < first + n; ++k) {
        ARROW_RETURN_NOT_OK(items_->Encode(k, out));
      }
    }
    out->push_back(0);
    return Status::OK();
  }

 private:
  const ArrayType* array_ = nullptr;
  std::unique_ptr<Encoder> items_;
};

class MapEncoder : public Encoder {
 public:
  explicit MapEncoder(std::unique_ptr<Encoder> values) : values_(std::move(values)) {}
  void Bind(const arrow::Array& array) override {
    array_ = &checked_cast<const arrow::MapArray&>(array);
    keys_.Bind(*array_->keys());
    values_->Bind(*array_->items());
  }
  Status Encode(int64_t i, std::string* out) override {
    const int64_t n = array_->value_length(i);
    if (n > 0) {
      avro::PutLong(n, out);
      const int64_t first = array_->value_offset(i);
      for (int64_t k = first; k < first + n; ++k) {
        ARROW_RETURN_NOT_OK(keys_.Encode(k, out));
        ARROW_RETURN_NOT_OK(values_->Encode(k, out));
      }
    }
    out->push_back(0);
    return Status::OK();
  }

 private:
  const arrow::MapArray* array_ = nullptr;
  BytesEncoder<arrow::StringArray> keys_;
  std::unique_ptr<Encoder> values_;
};

class RecordEncoder : public Encoder {
 public:
  explicit RecordEncoder(std::vector<std::unique_ptr<Encoder>> fields)
      : fields_(std::move(fields)) {}
  void Bind(const arrow::Array& array) override {
    const auto& record = checked_cast<const arrow::StructArray&>(array);
    children_.clear();
    for (size_t k = 0; k < fields_.size(); ++k) {
      children_.push_back(record.field(static_cast<int>(k)));  // sliced as `array`
      fields_[k]->Bind(*children_.back());
    }
  }
  Status Encode(int64_t i, std::string* out) override {
    for (auto& f : fields_) ARROW_RETURN_NOT_OK(f->Encode(i, out));
    return Status::OK();
  }

 private:
  std::vector<std::unique_ptr<Encoder>> fields_;
  std::vector<std::shared_ptr<arrow::Array>> children_;
};

/// A dictionary column: its values' encoding, looked up.
class DictionaryEncoder : public Encoder {
 public:
  explicit DictionaryEncoder(std::unique_ptr<Encoder> values)
      : values_(std::move(values)) {}
  void Bind(const arrow::Array& array) override {
    array_ = &checked_cast<const arrow::DictionaryArray&>(array);
    values_->Bind(*array_->dictionary());
  }
  Status Encode(int64_t i, std::string* out) override {
    return values_->Encode(array_->GetValueIndex(i), out);
  }

 private:
  const arrow::DictionaryArray* array_ = nullptr;
  std::unique_ptr<Encoder> values_;
};

/// A nullable field: the union ["null", T], NULL as branch 0.
class NullableEncoder : public Encoder {
 public:
  explicit NullableEncoder(std::unique_ptr<Encoder> value) : value_(std::move(value)) {}
  void Bind(const arrow::Array& array) override {
    array_ = &array;
    value_->Bind(array);
  }
  Status Encode(int64_t i, std::string* out) override {
    if (array_->IsNull(i)) {
      out->push_back(0);  // branch 0
      return Status::OK();
    }
    out->push_back(2);  // branch 1, zigzag-encoded
    return value_->Encode(i, out);
  }

 private:
  const arrow::Array* array_ = nullptr;
  std::unique_ptr<Encoder> value_;
};

/// A field Arrow declares not nullable: a NULL in it is an error.
class RequiredEncoder : public Encoder {
 public:
  explicit RequiredEncoder(std::unique_ptr<Encoder> value) : value_(std::move(value)) {}
  void Bind(const arrow::Array& array) override {
    array_ = array.null_count() > 0 ? &array : nullptr;
    value_->Bind(array);
  }
  Status Encode(int64_t i, std::string* out) override {
    if (array_ != nullptr && array_->IsNull(i)) {
      return Status::Invalid("NULL in a field that is declared NOT NULL");
    }
    return value_->Encode(i, out);
  }

 private:
  const arrow::Array* array_ = nullptr;  // null when the array has no NULL
  std::unique_ptr<Encoder> value_;
};

/// An encoder and the Avro schema (JSON) of what it writes.
struct Encoding {
  std::unique_ptr<Encoder> encoder;
  std::string schema;
};

/// Makes the encoders of an Arrow schema; gives nested records and fixed types
/// distinct names.
class SchemaBuilder {
 public:
  /// The encoding of a value of `field` (a column at `path`), nullability included.
  Result<Encoding> Field(const arrow::Field& field, const std::string& path) {
    ARROW_ASSIGN_OR_RAISE(auto value, Value(*field.type(), path));
    if (field.type()->id() == arrow::Type::NA) return value;
    if (!field.nullable()) {
      return Encoding{std::make_unique<RequiredEncoder>(std::move(value.encoder)),
                      value.schema};
    }
    return Encoding{std::make_unique<NullableEncoder>(std::move(value.encoder)),
                    "[\"null\"," + value.schema + "]"};
  }

  /// The fields of a record, or the columns of the file's top-level record.
  Result<std::string> Fields(const arrow::FieldVector& fields, const std::string& path,
                             std::vector<std::unique_ptr<Encoder>>* encoders) {
    std::string out = "[";
    std::set<std::string> seen;
    for (const auto& f : fields) {
      const std::string at = path.empty() ? f->name() : path + "." + f->name();
      if (!ValidName(f->name())) {
        return Status::Invalid(
            "column '", at,
            "': not a valid Avro name (letters, digits and _, not starting with a "
            "digit); rename it with AS");
      }
      if (!seen.insert(f->name()).second) {
        return Status::Invalid("column '", at, "' appears twice");
      }
      ARROW_ASSIGN_OR_RAISE(auto e, Field(*f, at));
      out += std::string(out.size() > 1 ? "," : "") + "{\"name\":\"" + f->name() +
             "\",\"type\":" + e.schema;
      if (f->nullable() && f->type()->id() != arrow::Type::NA) out += ",\"default\":null";
      out += "}";
      encoders->push_back(std::move(e.encoder));
    }
    return out + "]";
  }

  /// A name for a record or fixed type at `path`, unused so far.
  std::string Name(const std::string& path) {
    std::string base;
    for (char c : path) base.push_back(c == '.' ? '_' : c);
    std::string name = base;
    for (int n = 1; !names_.insert(name).second; ++n)
      name = base + "_" + std::to_string(n);
    return name;
  }

 private:
  /// The encoding of a non-null value of `type`.
  Result<Encoding> Value(const arrow::DataType& type, const std::string& path) {
    using arrow::TimeUnit;
    using arrow::Type;
    auto logical = [](const char* base, const char* logical) {
      return std::string("{\"type\":\"") + base + "\",\"logicalType\":\"" + logical +
             "\"}";
    };
    switch (type.id()) {
      case Type::NA:
        return Encoding{std::make_unique<NullEncoder>(), "\"null\""};
      case Type::BOOL:
        return Encoding{std::make_unique<BooleanEncoder>(), "\"boolean\""};
      case Type::INT8:
        return Encoding{std::make_unique<IntegerEncoder<int8_t>>(), "\"int\""};
      case Type::INT16:
        return Encoding{std::make_unique<IntegerEncoder<int16_t>>(), "\"int\""};
      case Type::INT32:
        return Encoding{std::make_unique<IntegerEncoder<int32_t>>(), "\"int\""};
      case Type::UINT8:
        return Encoding{std::make_unique<IntegerEncoder<uint8_t>>(), "\"int\""};
      case Type::UINT16:
        return Encoding{std::make_unique<IntegerEncoder<uint16_t>>(), "\"int\""};
      case Type::UINT32:
        return Encoding{std::make_unique<IntegerEncoder<uint32_t>>(), "\"long\""};
      case Type::INT64:
        return Encoding{std::make_unique<IntegerEncoder<int64_t>>(), "\"long\""};
      case Type::UINT64:
        return Encoding{std::make_unique<IntegerEncoder<uint64_t>>(), "\"long\""};
      case Type::FLOAT:
        return Encoding{std::make_unique<FloatEncoder<float>>(), "\"float\""};
      case Type::DOUBLE:
        return Encoding{std::make_unique<FloatEncoder<double>>(), "\"double\""};
      case Type::STRING:
        return Encoding{std::make_unique<BytesEncoder<arrow::StringArray>>(),
                        "\"string\""};
      case Type::LARGE_STRING:
        return Encoding{std::make_unique<BytesEncoder<arrow::LargeStringArray>>(),
                        "\"string\""};
      case Type::STRING_VIEW:
        return Encoding{std::make_unique<BytesEncoder<arrow::StringViewArray>>(),
                        "\"string\""};
      case Type::BINARY:
        return Encoding{std::make_unique<BytesEncoder<arrow::BinaryArray>>(),
                        "\"bytes\""};
      case Type::LARGE_BINARY:
        return Encoding{std::make_unique<BytesEncoder<arrow::LargeBinaryArray>>(),
                        "\"bytes\""};
      case Type::BINARY_VIEW:
        return Encoding{std::make_unique<BytesEncoder<arrow::BinaryViewArray>>(),
                        "\"bytes\""};
      case Type::FIXED_SIZE_BINARY:
        return Encoding{
            std::make_unique<FixedEncoder>(),
            "{\"type\":\"fixed\",\"name\":\"" + Name(path) + "\",\"size\":" +
                std::to_string(
                    checked_cast<const arrow::FixedSizeBinaryType&>(type).byte_width()) +
                "}"};
      case Type::DECIMAL32:
      case Type::DECIMAL64:
      case Type::DECIMAL128:
      case Type::DECIMAL256: {
        const auto& d = checked_cast<const arrow::DecimalType&>(type);
        if (d.scale() < 0) break;
        return Encoding{std::make_unique<DecimalEncoder>(),
                        "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":" +
                            std::to_string(d.precision()) +
                            ",\"scale\":" + std::to_string(d.scale()) + "}"};
      }
      case Type::DATE32:
        return Encoding{std::make_unique<IntegerEncoder<int32_t>>(),
                        logical("int", "date")};
      case Type::DATE64:
        return Encoding{std::make_unique<IntegerEncoder<int64_t>>(1, 86400000),
                        logical("int", "date")};
      case Type::TIME32: {
        const bool seconds =
            checked_cast<const arrow::Time32Type&>(type).unit() == TimeUnit::SECOND;
        return Encoding{std::make_unique<IntegerEncoder<int32_t>>(seconds ? 1000 : 1),
                        logical("int", "time-millis")};
      }
      case Type::TIME64: {
        const bool nanos =
            checked_cast<const arrow::Time64Type&>(type).unit() == TimeUnit::NANO;
        return Encoding{std::make_unique<IntegerEncoder<int64_t>>(1, nanos ? 1000 : 1),
                        logical("long", "time-micros")};
      }
      case Type::TIMESTAMP: {
        // Seconds and milliseconds as timestamp-millis, micro- and nanoseconds as
        // timestamp-micros (nanoseconds truncated); without a time zone, the local-
        // timestamp-* types.
        const auto& t = checked_cast<const arrow::TimestampType&>(type);
        const bool millis = t.unit() == TimeUnit::SECOND || t.unit() == TimeUnit::MILLI;
        const int64_t multiply = t.unit() == TimeUnit::SECOND ? 1000 : 1;
        const int64_t divide = t.unit() == TimeUnit::NANO ? 1000 : 1;
        const std::string name = std::string(t.timezone().empty() ? "local-" : "") +
                                 (millis ? "timestamp-millis" : "timestamp-micros");
        return Encoding{std::make_unique<IntegerEncoder<int64_t>>(multiply, divide),
                        logical("long", name.c_str())};
      }
      case Type::LIST:
        return List<arrow::ListArray>(type, path);
      case Type::LARGE_LIST:
        return List<arrow::LargeListArray>(type, path);
      case Type::FIXED_SIZE_LIST:
        return List<arrow::FixedSizeListArray>(type, path);
      case Type::MAP: {
        const auto& m = checked_cast<const arrow::MapType&>(type);
        if (m.key_type()->id() != Type::STRING) {
          return Status::Invalid("column '", path, "': Avro maps have string keys, not ",
                                 m.key_type()->ToString());
        }
        ARROW_ASSIGN_OR_RAISE(auto values, Field(*m.item_field(), path + ".value"));
        return Encoding{std::make_unique<MapEncoder>(std::move(values.encoder)),
                        "{\"type\":\"map\",\"values\":" + values.schema + "}"};
      }
      case Type::STRUCT: {
        std::vector<std::unique_ptr<Encoder>> fields;
        const std::string name = Name(path);
        ARROW_ASSIGN_OR_RAISE(auto list, Fields(type.fields(), path, &fields));
        return Encoding{
            std::make_unique<RecordEncoder>(std::move(fields)),
            "{\"type\":\"record\",\"name\":\"" + name + "\",\"fields\":" + list + "}"};
      }
      case Type::DICTIONARY: {
        const auto& d = checked_cast<const arrow::DictionaryType&>(type);
        ARROW_ASSIGN_OR_RAISE(auto values, Value(*d.value_type(), path));
        return Encoding{std::make_unique<DictionaryEncoder>(std::move(values.encoder)),
                        values.schema};
      }
      default:
        break;
    }
    return Status::NotImplemented("column '", path, "': Avro cannot hold the type ",
                                  type.ToString());
  }

  template <typename ArrayType>
  Result<Encoding> List(const arrow::DataType& type, const std::string& path) {
    ARROW_ASSIGN_OR_RAISE(auto items, Field(*type.field(0), path + ".item"));
    return Encoding{std::make_unique<ListEncoder<ArrayType>>(std::move(items.encoder)),
                    "{\"type\":\"array\",\"items\":" + items.schema + "}"};
  }

  // Named types so far, and the names Avro reserves for its primitive types.
  std::set<std::string> names_ = {"null",   "boolean", "int",    "long",   "float",
                                  "double", "bytes",   "string", "record", "enum",
                                  "array",  "map",     "fixed",  "union"};
};

class AvroBatchWriter : public BatchWriter {
 public:
  AvroBatchWriter(std::shared_ptr<arrow::io::OutputStream> out,
                  std::unique_ptr<avro::BlockCodec> codec, std::vector<std::string> names,
                  std::vector<std::unique_ptr<Encoder>> columns)
      : out_(std::move(out)),
        codec_(std::move(codec)),
        names_(std::move(names)),
        columns_(std::move(columns)) {
    std::random_device seed;
    std::mt19937_64 random(seed());
    for (auto& b : sync_) b = static_cast<char>(random());
  }

  /// The header: magic, metadata (schema, codec), sync marker.
  Status WriteHeader(const std::string& schema) {
    std::string header(avro::kMagic);
    avro::PutLong(2, &header);
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"avro.schema", schema},
          {"avro.codec", codec_->name()}}) {
      avro::PutLong(static_cast<int64_t>(key.size()), &header);
      header += key;
      avro::PutLong(static_cast<int64_t>(value.size()), &header);
      header += value;
    }
    avro::PutLong(0, &header);
    header.append(sync_, avro::kSyncSize);
    return out_->Write(header.data(), static_cast<int64_t>(header.size()));
  }

  Status Write(const arrow::RecordBatch& batch) override {
    for (size_t c = 0; c < columns_.size(); ++c) {
      columns_[c]->Bind(*batch.column(static_cast<int>(c)));
    }
    for (int64_t i = 0; i < batch.num_rows(); ++i) {
      for (size_t c = 0; c < columns_.size(); ++c) {
        Status st = columns_[c]->Encode(i, &block_);
        if (!st.ok()) {
          return st.WithMessage("column '", names_[c], "', row ", rows_ + i, ": ",
                                st.message());
        }
      }
      ++block_rows_;
      if (block_.size() >= kBlockBytes) ARROW_RETURN_NOT_OK(FlushBlock());
    }
    rows_ += batch.num_rows();
    return Status::OK();
  }

  Status Close() override {
    if (block_rows_ > 0) ARROW_RETURN_NOT_OK(FlushBlock());
    return out_->Close();
  }

 private:
  Status FlushBlock() {
    ARROW_RETURN_NOT_OK(codec_->Compress(block_, &compressed_));
    std::string head;
    avro::PutLong(block_rows_, &head);
    avro::PutLong(static_cast<int64_t>(compressed_.size()), &head);
    ARROW_RETURN_NOT_OK(out_->Write(head.data(), static_cast<int64_t>(head.size())));
    ARROW_RETURN_NOT_OK(
        out_->Write(compressed_.data(), static_cast<int64_t>(compressed_.size())));
    ARROW_RETURN_NOT_OK(out_->Write(sync_, avro::kSyncSize));
    block_.clear();
    block_rows_ = 0;
    return Status::OK();
  }

  std::shared_ptr<arrow::io::OutputStream> out_;
  std::unique_ptr<avro::BlockCodec> codec_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Encoder>> columns_;
  char sync_[avro::kSyncSize];
  std::string block_;       // the records of the block being filled
  int64_t block_rows_ = 0;  // how many
  std::string compressed_;
  int64_t rows_ = 0;  // written before the current batch
};

}  // namespace

Result<std::unique_ptr<BatchWriter>> MakeAvroWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema) {
  SchemaBuilder builder;
  std::vector<std::unique_ptr<Encoder>> columns;
  const std::string name = builder.Name("flowsql_record");
  ARROW_ASSIGN_OR_RAISE(auto fields, builder.Fields(schema->fields(), "", &columns));
  const std::string json =
      "{\"type\":\"record\",\"name\":\"" + name + "\",\"fields\":" + fields + "}";
  ARROW_ASSIGN_OR_RAISE(
      auto codec,
      avro::BlockCodec::FromCompression(
          settings.compression,
          settings.compression_level.value_or(arrow::util::kUseDefaultCompressionLevel)));
  auto writer = std::make_unique<AvroBatchWriter>(
      std::move(out), std::move(codec), schema->field_names(), std::move(columns));
  ARROW_RETURN_NOT_OK(writer->WriteHeader(json));
  return writer;
}

}  // namespace flowsql::file
