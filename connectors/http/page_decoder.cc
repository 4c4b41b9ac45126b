#include "connectors/http/page_decoder.h"

#include <arrow/array/util.h>
#include <arrow/buffer.h>
#include <arrow/compute/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/memory.h>
#include <arrow/table.h>
#include <simdjson.h>

#include "common/text.h"

namespace flowsql::httpapi {

namespace {

Status AtPage(const Status& st, const std::string& where) {
  return st.WithMessage(where, ": ", st.message());
}

/// A CSV page with the columns of `schema` (types inferred when it is null).
Result<std::shared_ptr<arrow::RecordBatch>> ReadCsv(
    std::string_view body, const std::shared_ptr<arrow::Schema>& schema,
    const json::DecodeOptions& options, const std::string& where) {
  auto input = std::make_shared<arrow::io::BufferReader>(std::make_shared<arrow::Buffer>(
      reinterpret_cast<const uint8_t*>(body.data()), static_cast<int64_t>(body.size())));
  auto read = arrow::csv::ReadOptions::Defaults();
  read.use_threads = false;
  auto convert = arrow::csv::ConvertOptions::Defaults();
  if (schema != nullptr) {
    for (const auto& f : schema->fields()) convert.column_types[f->name()] = f->type();
  }
  auto reader =
      arrow::csv::TableReader::Make(arrow::io::default_io_context(), input, read,
                                    arrow::csv::ParseOptions::Defaults(), convert);
  if (!reader.ok()) return AtPage(reader.status(), where);
  auto table = (*reader)->Read();
  if (!table.ok()) return AtPage(table.status(), where);
  ARROW_ASSIGN_OR_RAISE(auto batch, (*table)->CombineChunksToBatch());
  if (schema == nullptr) return batch;
  arrow::ArrayVector columns;
  for (const auto& field : schema->fields()) {
    auto column = batch->GetColumnByName(field->name());
    if (column == nullptr) {
      ARROW_ASSIGN_OR_RAISE(column,
                            arrow::MakeArrayOfNull(field->type(), batch->num_rows()));
    }
    columns.push_back(std::move(column));
  }
  if (options.unknown_keys == json::UnknownKeys::kError) {
    for (const auto& field : batch->schema()->fields()) {
      if (schema->GetFieldIndex(field->name()) < 0) {
        return Status::IOError(where, ": a column '", field->name(),
                               "' that is not in the schema", options.schema_hint);
      }
    }
  }
  return arrow::RecordBatch::Make(schema, batch->num_rows(), std::move(columns));
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

std::string DefaultRecordsPath(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS ||
      doc.type() != simdjson::dom::element_type::OBJECT) {
    return "$";
  }
  for (const char* key : {"data", "items", "results", "records", "rows", "entries"}) {
    simdjson::dom::element value;
    if (doc.get_object().at_key(key).get(value) == simdjson::SUCCESS &&
        value.type() == simdjson::dom::element_type::ARRAY) {
      return std::string("$.") + key;
    }
  }
  return "$";
}

PageSchemaInferrer::PageSchemaInferrer(json::DecodeOptions options)
    : options_(options), json_(std::move(options)) {}

Result<int64_t> PageSchemaInferrer::Feed(std::string_view body, Format format,
                                         const std::string& where) {
  if (format == Format::kCsv) {
    ARROW_ASSIGN_OR_RAISE(auto batch, ReadCsv(body, nullptr, options_, where));
    if (csv_ == nullptr) {
      csv_ = batch->schema();
      return batch->num_rows();
    }
    auto merge = arrow::Field::MergeOptions::Permissive();
    arrow::FieldVector fields = csv_->fields();
    for (const auto& f : batch->schema()->fields()) {
      const int i = csv_->GetFieldIndex(f->name());
      if (i < 0) {
        fields.push_back(f);
        continue;
      }
      auto merged = fields[i]->MergeWith(*f, merge);
      // Kinds no type holds both: text.
      fields[i] = merged.ok() ? *merged : arrow::field(f->name(), arrow::utf8());
    }
    csv_ = arrow::schema(std::move(fields));
    return batch->num_rows();
  }
  const int64_t before = json_.records();
  Status st = json_.Feed(body);
  if (!st.ok()) return AtPage(st, where);
  return json_.records() - before;
}

Result<std::shared_ptr<arrow::Schema>> PageSchemaInferrer::schema() {
  if (csv_ == nullptr) return json_.schema();
  if (json_.records() == 0) return csv_;
  return Status::Invalid(
      "pages of CSV and of JSON: declare the columns with the "
      "schema option");
}

Result<json::DecodedPage> DecodePage(std::string_view body, Format format,
                                     const json::DecodeOptions& options,
                                     const std::shared_ptr<arrow::Schema>& schema,
                                     const std::string& where) {
  if (format == Format::kCsv) {
    json::DecodedPage page;
    ARROW_ASSIGN_OR_RAISE(page.batch, ReadCsv(body, schema, options, where));
    return page;
  }
  ARROW_ASSIGN_OR_RAISE(auto decoder, json::Decoder::Make(schema, options));
  auto page = decoder->DecodePage(body);
  if (!page.ok()) return AtPage(page.status(), where);
  return page;
}

}  // namespace flowsql::httpapi
