#include "connectors/http/page_decoder.h"

#include <arrow/array/util.h>
#include <arrow/buffer.h>
#include <arrow/compute/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/memory.h>
#include <arrow/json/api.h>
#include <arrow/table.h>

#include "common/text.h"
#include "connectors/http/json_path.h"

namespace flowsql::httpapi {

namespace {

/// The records of a JSON document as NDJSON text (one minified object a line).
Result<std::string> JsonRecords(std::string_view body, const std::string& records_path,
                                const std::string& where) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const auto error = parser.parse(body.data(), body.size()).get(doc);
  if (error != simdjson::SUCCESS) {
    return Status::IOError(where, ": malformed JSON (", simdjson::error_message(error),
                           ")");
  }
  std::optional<simdjson::dom::element> records;
  if (!records_path.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto path, ParsePath(records_path));
    records = Find(doc, path);
    if (!records) {
      return Status::IOError(where, ": no records at records_path '", records_path, "'");
    }
  } else if (doc.type() == simdjson::dom::element_type::OBJECT) {
    for (const char* key : {"data", "items", "results", "records", "rows", "entries"}) {
      auto at = Find(doc, {PathStep{key, -1}});
      if (at && at->type() == simdjson::dom::element_type::ARRAY) {
        records = at;
        break;
      }
    }
    if (!records) records = doc;
  } else {
    records = doc;
  }
  std::string out;
  auto add = [&](simdjson::dom::element record) -> Status {
    if (record.type() != simdjson::dom::element_type::OBJECT) {
      return Status::IOError(where, ": a record is not a JSON object: ",
                             simdjson::minify(record).substr(0, 80));
    }
    out += simdjson::minify(record);
    out += '\n';
    return Status::OK();
  };
  if (records->type() == simdjson::dom::element_type::ARRAY) {
    for (auto record : records->get_array()) ARROW_RETURN_NOT_OK(add(record));
  } else if (records->type() != simdjson::dom::element_type::NULL_VALUE) {
    ARROW_RETURN_NOT_OK(add(*records));
  }
  return out;
}

/// `table` as one batch with exactly the columns of `schema`, in its order; fields
/// beyond them are an error unless `declared`.
Result<std::shared_ptr<arrow::RecordBatch>> Conform(
    const std::shared_ptr<arrow::Table>& table,
    const std::shared_ptr<arrow::Schema>& schema, bool declared,
    const std::string& where) {
  ARROW_ASSIGN_OR_RAISE(auto batch, table->CombineChunksToBatch());
  if (schema == nullptr) return batch;
  arrow::ArrayVector columns;
  for (const auto& field : schema->fields()) {
    auto column = batch->GetColumnByName(field->name());
    if (column == nullptr) {
      ARROW_ASSIGN_OR_RAISE(column,
                            arrow::MakeArrayOfNull(field->type(), batch->num_rows()));
    } else if (!column->type()->Equals(*field->type())) {
      auto cast = arrow::compute::Cast(*column, field->type());
      if (!cast.ok()) {
        return Status::IOError(where, ": column '", field->name(), "' is ",
                               column->type()->ToString(), " where earlier pages had ",
                               field->type()->ToString());
      }
      column = *cast;
    }
    columns.push_back(std::move(column));
  }
  for (const auto& field : batch->schema()->fields()) {
    if (!declared && schema->GetFieldIndex(field->name()) < 0) {
      return Status::IOError(where, ": a field '", field->name(),
                             "' that earlier pages did not have (declare the columns "
                             "with the schema option)");
    }
  }
  return arrow::RecordBatch::Make(schema, batch->num_rows(), std::move(columns));
}

Result<std::shared_ptr<arrow::Table>> ReadNdjson(std::string_view text,
                                                 const std::string& where) {
  auto input = std::make_shared<arrow::io::BufferReader>(std::make_shared<arrow::Buffer>(
      reinterpret_cast<const uint8_t*>(text.data()), static_cast<int64_t>(text.size())));
  auto read = arrow::json::ReadOptions::Defaults();
  read.use_threads = false;
  read.block_size = std::max<int32_t>(1 << 20, static_cast<int32_t>(text.size() + 1));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::json::TableReader::Make(
                                         arrow::default_memory_pool(), input, read,
                                         arrow::json::ParseOptions::Defaults()));
  auto table = reader->Read();
  if (!table.ok()) return Status::IOError(where, ": ", table.status().message());
  return table;
}

}  // namespace

Format ResolveFormat(Format declared, const std::string& content_type) {
  if (declared != Format::kAuto) return declared;
  const std::string type = AsciiLower(content_type);
  if (type.find("ndjson") != std::string::npos ||
      type.find("jsonl") != std::string::npos ||
      type.find("json-seq") != std::string::npos) {
    return Format::kNdjson;
  }
  if (type.find("csv") != std::string::npos) return Format::kCsv;
  return Format::kJson;
}

Result<std::shared_ptr<arrow::RecordBatch>> DecodePage(
    std::string_view body, Format format, const std::string& records_path,
    const std::shared_ptr<arrow::Schema>& schema, bool declared,
    const std::string& where) {
  std::shared_ptr<arrow::Table> table;
  if (format == Format::kCsv) {
    auto input = std::make_shared<arrow::io::BufferReader>(
        std::make_shared<arrow::Buffer>(reinterpret_cast<const uint8_t*>(body.data()),
                                        static_cast<int64_t>(body.size())));
    auto read = arrow::csv::ReadOptions::Defaults();
    read.use_threads = false;
    auto convert = arrow::csv::ConvertOptions::Defaults();
    if (schema != nullptr) {
      for (const auto& f : schema->fields()) convert.column_types[f->name()] = f->type();
    }
    ARROW_ASSIGN_OR_RAISE(
        auto reader,
        arrow::csv::TableReader::Make(arrow::io::default_io_context(), input, read,
                                      arrow::csv::ParseOptions::Defaults(), convert));
    auto read_table = reader->Read();
    if (!read_table.ok())
      return Status::IOError(where, ": ", read_table.status().message());
    table = *read_table;
  } else {
    std::string ndjson;
    std::string_view text = body;
    if (format == Format::kJson) {
      ARROW_ASSIGN_OR_RAISE(ndjson, JsonRecords(body, records_path, where));
      text = ndjson;
    }
    if (TrimBlanks(text).empty()) {
      if (schema == nullptr) return arrow::RecordBatch::MakeEmpty(arrow::schema({}));
      return arrow::RecordBatch::MakeEmpty(schema);
    }
    ARROW_ASSIGN_OR_RAISE(table, ReadNdjson(text, where));
  }
  return Conform(table, schema, declared, where);
}

}  // namespace flowsql::httpapi
