// Avro, shared by the reader (avro_reader.cc) and the writer (avro_writer.cc): the
// parsed schema, its Arrow types, the binary encoding's integers and the object
// container file's block codecs.
//
// Written over Arrow rather than the Avro C library: Debian's libavro (1.11) drops
// logicalType from the schemas it parses and writes (decimals, dates and timestamps
// would be written as plain bytes and longs) and has no zstd; what is left for it to
// do, the binary encoding, is the simple part of Avro.
#pragma once

#include <arrow/buffer.h>
#include <arrow/type_fwd.h>
#include <arrow/util/compression.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flowsql/status.h"

namespace flowsql::file::avro {

/// One node of a parsed schema. A named type (record, enum, fixed) is one node
/// however often it is referenced, so a recursive record is a cycle.
struct Node {
  enum class Kind {
    kNull,
    kBoolean,
    kInt,
    kLong,
    kFloat,
    kDouble,
    kBytes,
    kString,
    kRecord,
    kEnum,
    kArray,
    kMap,
    kFixed,
    kUnion
  };
  /// The logical types flowsql reads; others (and invalid ones) are kNone, as the
  /// specification asks: the value is read as its underlying type.
  enum class Logical {
    kNone,
    kDecimal,
    kDate,
    kTimeMillis,
    kTimeMicros,
    kTimestampMillis,
    kTimestampMicros,
    kTimestampNanos,
    kLocalTimestampMillis,
    kLocalTimestampMicros,
    kLocalTimestampNanos,
    kUuid
  };
  Kind kind = Kind::kNull;
  Logical logical = Logical::kNone;
  /// Record, enum, fixed: the full name.
  std::string name;
  /// Fixed: bytes per value.
  int32_t size = 0;
  /// Decimal.
  int32_t precision = 0;
  int32_t scale = 0;
  /// Record: the field names; enum: the symbols.
  std::vector<std::string> names;
  /// Record: the field types; array: the items; map: the values; union: the branches.
  std::vector<const Node*> children;
};

/// A parsed schema; owns its nodes. Movable, not copyable.
class Schema {
 public:
  /// Parses the JSON text of a schema, resolving named types. Errors say what is
  /// wrong ("unknown type 'Foo'").
  static Result<Schema> Parse(std::string_view json);
  const Node& root() const { return *root_; }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  const Node* root_ = nullptr;
};

/// How a union is read: `value` is the branch holding values (nullptr: the union is
/// only null), `null_index` the branch that means NULL (-1: none).
struct UnionShape {
  const Node* value = nullptr;
  int value_index = -1;
  int null_index = -1;
};
/// The shape of union `node`; an error for a union of two or more non-null types.
Result<UnionShape> ShapeOfUnion(const Node& node);

/// The Arrow field a value of `node` is read as, named `name`: null -> null,
/// boolean, int -> int32, long -> int64, float, double, bytes -> binary, string ->
/// utf8, record -> struct, enum -> utf8, array -> list, map -> map<utf8, T>, fixed
/// -> fixed_size_binary, a union of null and T -> nullable T; logical types:
/// decimal -> decimal128(p, s), date -> date32, time-millis -> time32[ms],
/// time-micros -> time64[us], timestamp-* -> timestamp[unit, tz=UTC],
/// local-timestamp-* -> timestamp[unit], uuid -> utf8. Only unions are nullable.
/// Errors name the field by its path ("field 'a.b': ...").
Result<std::shared_ptr<arrow::Field>> ToArrowField(const std::string& name,
                                                   const Node& node);
/// The columns of a file of `schema`: its top-level record's fields (any other
/// top-level type: one column "value").
Result<std::shared_ptr<arrow::Schema>> ToArrowSchema(const Schema& schema);

/// "null", "boolean", ... or a named type's name; for error messages.
std::string Describe(const Node& node);

/// The object container file's "Obj\x01" and its 16-byte sync markers.
inline constexpr std::string_view kMagic{"Obj\x01", 4};
inline constexpr int kSyncSize = 16;

/// Appends the zigzag varint encoding of `v`.
inline void PutLong(int64_t v, std::string* out) {
  uint64_t n = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (n >= 0x80) {
    out->push_back(static_cast<char>(n | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
}

/// Reads a zigzag varint from [*p, end); false when the data ends first or it is
/// longer than 10 bytes. Advances *p past it.
inline bool GetLong(const uint8_t** p, const uint8_t* end, int64_t* out) {
  uint64_t n = 0;
  int shift = 0;
  const uint8_t* q = *p;
  while (q < end && shift < 64) {
    const uint8_t b = *q++;
    n |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *p = q;
      *out = static_cast<int64_t>(n >> 1) ^ -static_cast<int64_t>(n & 1);
      return true;
    }
    shift += 7;
  }
  return false;
}

/// A block codec of the container file ("avro.codec").
class BlockCodec {
 public:
  /// The codec named in a file's header: null, deflate, snappy, zstandard, bzip2.
  static Result<std::unique_ptr<BlockCodec>> FromName(std::string_view name);
  /// The codec writing with Arrow's `compression` (UNCOMPRESSED, GZIP as deflate,
  /// SNAPPY, ZSTD, BZ2) at `level`.
  static Result<std::unique_ptr<BlockCodec>> FromCompression(
      arrow::Compression::type compression, int level);
  /// The name the header carries.
  const char* name() const;

  /// The records of a block as written, `data` as read. Errors say what is wrong with
  /// the data (not where: the caller knows).
  Result<std::shared_ptr<arrow::Buffer>> Decompress(
      const std::shared_ptr<arrow::Buffer>& data);
  /// Compresses a block's records into `out` (replacing its content).
  Status Compress(std::string_view data, std::string* out);

 private:
  BlockCodec(arrow::Compression::type type, std::unique_ptr<arrow::util::Codec> codec)
      : type_(type), codec_(std::move(codec)) {}

  arrow::Compression::type type_;
  std::unique_ptr<arrow::util::Codec> codec_;  // null for the null codec
  std::shared_ptr<arrow::util::Decompressor> decompressor_;
};

}  // namespace flowsql::file::avro
