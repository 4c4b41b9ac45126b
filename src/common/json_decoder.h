// The project's one JSON decoder: simdjson straight into Arrow arrays. It serves the
// HTTP connector (one response body, a "page", into one RecordBatch) and the file
// connector (NDJSON and JSON files, block by block).
//
// Contract:
// - A page is one JSON document (an object or an array) or several (NDJSON, or any
//   documents separated by whitespace). `records_path` is applied to each document;
//   what it selects is the records: an array's elements, or one object.
// - Records are JSON objects. A record that is not an object is a bad record.
// - Types: JSON null → NULL in any column; a key the record lacks → NULL. Numbers go
//   into integer, floating and decimal-free numeric columns when they fit; strings
//   into VARCHAR, and into DATE / TIMESTAMP / numeric / BOOLEAN columns when they
//   parse as one; any value into VARCHAR (numbers, booleans, objects and arrays as
//   their minified JSON text); objects into STRUCT, arrays into LIST. Columns of
//   other Arrow types are decoded as text and cast when the batch is finished.
// - A value that does not fit its column makes its record bad: on_bad_record says
//   whether that is an error (naming the record, the key and what was found), the
//   record is skipped, or the value is read as NULL; skipped and nulled records
//   are counted.
// - `flatten`: a nested object's keys are the columns `parent__child` (dlt's
//   naming), at every depth; arrays stay lists.
// - Errors name the record by its index within the page (from 1) and, for
//   malformed JSON, the byte offset; callers prefix the file or URL.
// Thread-safety: none; use one Decoder and one SchemaInferrer per thread.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flowsql/status.h"

namespace flowsql::json {

/// What to do with a record that does not fit the schema (`on_bad_record`).
enum class OnBadRecord { kError, kSkip, kNull };

/// What to do with a key the schema lacks.
enum class UnknownKeys { kIgnore, kError };

/// A parsed `records_path`: a subset of JSONPath. `$` is the document; `.name` and
/// `['name']` (or `["name"]`) select a key; `[*]` (or `.*`) every element of an
/// array (or value of an object).
class RecordsPath {
 public:
  struct Step {
    /// Empty with `all` set: every element.
    std::string key;
    bool all = false;
  };
  /// Parses `text`; errors name the position of what is wrong.
  static Result<RecordsPath> Parse(std::string_view text);
  const std::vector<Step>& steps() const { return steps_; }
  const std::string& text() const { return text_; }

 private:
  std::vector<Step> steps_;
  std::string text_ = "$";
};

struct DecodeOptions {
  RecordsPath records_path;
  bool flatten = false;
  OnBadRecord on_bad_record = OnBadRecord::kError;
  /// Keys of a record that name no column: ignored (a declared schema), or an error
  /// naming the key (a schema inferred from a sample, where a later key would be
  /// silently lost).
  UnknownKeys unknown_keys = UnknownKeys::kIgnore;
  /// Inference: strings that all look like dates / timestamps are DATE / TIMESTAMP.
  bool detect_temporal = true;
  /// Decoding: keys of a record that are known but not wanted (columns projected
  /// away): read past, never an unknown key.
  std::vector<std::string> skipped_keys;
  /// Decoding: appended to the error for a record that does not fit the schema (a
  /// key it lacks, a value its column cannot hold): what the user can do about an
  /// inferred schema ("; the columns were inferred from ...").
  std::string schema_hint;
};

/// Bytes that must be readable after a block given to DecodeBlock / FeedBlock
/// (simdjson reads ahead; their values do not matter).
inline constexpr size_t kPadding = 64;

/// Infers a schema from the records of the pages it is fed, widening it as later
/// pages show new keys or wider types: int → double; values of different kinds (a
/// number and a string, a date and a timestamp, an object and a number) → VARCHAR. New
/// keys are appended in the order first seen. With `flatten`, a key that holds an
/// object in one record and another kind of value in another becomes one VARCHAR
/// column in place of its `key__...` columns. Strings that are all `YYYY-MM-DD`
/// are DATE; all ISO 8601 timestamps are TIMESTAMP (microseconds), or TIMESTAMP
/// WITH TIME ZONE (UTC) when they all carry a zone (`Z`, `+02:00`).
class SchemaInferrer {
 public:
  explicit SchemaInferrer(DecodeOptions options);
  ~SchemaInferrer();
  SchemaInferrer(SchemaInferrer&&) noexcept;
  SchemaInferrer& operator=(SchemaInferrer&&) noexcept;

  /// Looks at every record of one page. Errors (malformed JSON, a record that is not
  /// an object) leave the schema as it was before this page.
  Status Feed(std::string_view page);

  /// The schema so far. A key seen only as null so far is VARCHAR, and stays VARCHAR
  /// from then on, so that each schema returned is a widening of the one before.
  std::shared_ptr<arrow::Schema> schema();

  /// Records fed so far.
  int64_t records() const;

  /// For readers of files: feeds the records of the complete documents at the start
  /// of data[0, size); `*truncated` is set to the bytes at the end that begin a
  /// document cut off (to be fed again with what follows). On error,
  /// `*error_offset` is where the faulty document (or line) starts, and the records
  /// fed before it stay fed. REQUIRES: kPadding readable bytes after data + size.
  Status FeedBlock(const uint8_t* data, size_t size, size_t* truncated,
                   size_t* error_offset);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// One page decoded.
struct DecodedPage {
  std::shared_ptr<arrow::RecordBatch> batch;
  /// Records of this page skipped (on_bad_record = skip) or with values read as
  /// NULL (on_bad_record = null).
  int64_t bad_records = 0;
};

/// Decodes records into arrays of a fixed schema.
class Decoder {
 public:
  /// `schema`: the columns (with `flatten`, the flat names `a__b`).
  static Result<std::unique_ptr<Decoder>> Make(std::shared_ptr<arrow::Schema> schema,
                                               DecodeOptions options);
  ~Decoder();

  const std::shared_ptr<arrow::Schema>& schema() const;

  /// Decodes the records of one page into one batch (with no rows when the page
  /// holds none). Errors name the record ("record 12: ...") or, for malformed JSON,
  /// the byte ("byte 80: malformed JSON: ..."). Memory: the page is copied into a
  /// padded buffer the decoder keeps for the next page.
  Result<DecodedPage> DecodePage(std::string_view page);

  /// Bad records seen by this decoder so far.
  int64_t bad_records() const;

  /// For readers of files: decodes the records of the complete documents at the
  /// start of data[0, size) into rows kept until Flush(); `*truncated` is set to the
  /// bytes at the end that begin a document cut off (to be decoded again with what
  /// follows). On error, `*error_offset` is where the faulty document (or line)
  /// starts; the rows decoded before it stay (Clear() drops them). Errors do not say
  /// where: the caller knows the file's lines. REQUIRES: kPadding readable bytes
  /// after data + size.
  Status DecodeBlock(const uint8_t* data, size_t size, size_t* truncated,
                     size_t* error_offset);
  /// Rows decoded by DecodeBlock and not flushed yet.
  int64_t buffered_rows() const;
  /// Those rows as one batch; the decoder holds none afterwards.
  Result<std::shared_ptr<arrow::RecordBatch>> Flush();
  /// Drops those rows.
  void Clear();

  class Impl;

 private:
  explicit Decoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowsql::json
