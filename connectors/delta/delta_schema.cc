#include "connectors/delta/delta_schema.h"

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/util/key_value_metadata.h>
#include <simdjson.h>

#include <algorithm>
#include <regex>

#include "common/json.h"
#include "connectors/delta/json.h"

namespace flowsql::delta {

namespace {

namespace dom = simdjson::dom;

constexpr char kPhysicalName[] = "delta.columnMapping.physicalName";

/// The reader features flowsql understands (PROTOCOL.md's names).
const std::vector<std::string>& ReadableFeatures() {
  static const std::vector<std::string> features = {
      "timestampNtz",          // timestamp_ntz columns
      "v2Checkpoint",          // checkpoints with sidecars
      "vacuumProtocolCheck",   // a writer's concern
      "checkpointProtection",  // a writer's concern
      "deletionVectors",       // deletion_vector.h
  };
  return features;
}

Result<std::shared_ptr<arrow::DataType>> TypeOf(dom::element type);

Result<std::shared_ptr<arrow::Field>> FieldOf(dom::object field) {
  std::string_view name;
  if (field["name"].get_string().get(name) != simdjson::SUCCESS) {
    return Status::Invalid("a field without a name");
  }
  dom::element type;
  if (field["type"].get(type) != simdjson::SUCCESS) {
    return Status::Invalid("field '", name, "' has no type");
  }
  ARROW_ASSIGN_OR_RAISE(auto arrow_type, TypeOf(type));
  const bool nullable = ValueOr(field["nullable"].get_bool(), true);
  std::shared_ptr<arrow::KeyValueMetadata> metadata;
  dom::object meta;
  if (field["metadata"].get_object().get(meta) == simdjson::SUCCESS && meta.size() > 0) {
    metadata = std::make_shared<arrow::KeyValueMetadata>();
    for (auto [key, value] : meta) {
      std::string_view text;
      metadata->Append(std::string(key), value.get_string().get(text) == simdjson::SUCCESS
                                             ? std::string(text)
                                             : simdjson::minify(value));
    }
  }
  return arrow::field(std::string(name), std::move(arrow_type), nullable,
                      std::move(metadata));
}

Result<std::shared_ptr<arrow::DataType>> TypeOf(dom::element type) {
  std::string_view name;
  if (type.get_string().get(name) == simdjson::SUCCESS) {
    static const std::map<std::string, std::shared_ptr<arrow::DataType>> primitives = {
        {"string", arrow::utf8()},
        {"long", arrow::int64()},
        {"integer", arrow::int32()},
        {"short", arrow::int16()},
        {"byte", arrow::int8()},
        {"float", arrow::float32()},
        {"double", arrow::float64()},
        {"boolean", arrow::boolean()},
        {"binary", arrow::binary()},
        {"date", arrow::date32()},
        {"timestamp", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")},
        {"timestamp_ntz", arrow::timestamp(arrow::TimeUnit::MICRO)},
    };
    auto it = primitives.find(std::string(name));
    if (it != primitives.end()) return it->second;
    static const std::regex decimal(R"(decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\))");
    std::cmatch m;
    const std::string text(name);
    if (std::regex_match(text.c_str(), m, decimal)) {
      const int precision = std::stoi(m[1]), scale = std::stoi(m[2]);
      if (precision > 38) return arrow::decimal256(precision, scale);
      return arrow::decimal128(precision, scale);
    }
    return Status::NotImplemented("the Delta type '", name, "'");
  }
  dom::object object;
  if (type.get_object().get(object) != simdjson::SUCCESS) {
    return Status::Invalid("a type that is neither a name nor an object");
  }
  const auto kind = ValueOr(object["type"].get_string(), std::string_view());
  if (kind == "struct") {
    dom::array fields;
    if (object["fields"].get_array().get(fields) != simdjson::SUCCESS) {
      return Status::Invalid("a struct without fields");
    }
    arrow::FieldVector out;
    for (dom::element f : fields) {
      dom::object fo;
      if (f.get_object().get(fo) != simdjson::SUCCESS) {
        return Status::Invalid("a struct field that is not an object");
      }
      ARROW_ASSIGN_OR_RAISE(auto field, FieldOf(fo));
      out.push_back(std::move(field));
    }
    return arrow::struct_(std::move(out));
  }
  if (kind == "array") {
    dom::element element;
    if (object["elementType"].get(element) != simdjson::SUCCESS) {
      return Status::Invalid("an array without elementType");
    }
    ARROW_ASSIGN_OR_RAISE(auto item, TypeOf(element));
    const bool nulls = ValueOr(object["containsNull"].get_bool(), true);
    return arrow::list(arrow::field("element", std::move(item), nulls));
  }
  if (kind == "map") {
    dom::element key, value;
    if (object["keyType"].get(key) != simdjson::SUCCESS ||
        object["valueType"].get(value) != simdjson::SUCCESS) {
      return Status::Invalid("a map without keyType or valueType");
    }
    ARROW_ASSIGN_OR_RAISE(auto key_type, TypeOf(key));
    ARROW_ASSIGN_OR_RAISE(auto value_type, TypeOf(value));
    const bool nulls = ValueOr(object["valueContainsNull"].get_bool(), true);
    return std::make_shared<arrow::MapType>(
        arrow::field("key", std::move(key_type), false),
        arrow::field("value", std::move(value_type), nulls));
  }
  return Status::NotImplemented("the Delta type '", simdjson::minify(type), "'");
}

}  // namespace

Result<std::shared_ptr<arrow::Schema>> SchemaFromDelta(const std::string& schema_string) {
  dom::parser parser;
  dom::element root;
  if (auto error = parser.parse(schema_string).get(root)) {
    return Status::Invalid("the table's schemaString is not JSON (",
                           simdjson::error_message(error), ")");
  }
  auto type = TypeOf(root);
  if (!type.ok()) {
    return type.status().WithMessage("the table's schema: ", type.status().message());
  }
  if ((*type)->id() != arrow::Type::STRUCT) {
    return Status::Invalid("the table's schema is not a struct");
  }
  return arrow::schema((*type)->fields());
}

namespace {

Status AppendType(const std::string& column, const arrow::DataType& type,
                  std::string* out);

Status AppendField(const std::string& column, const arrow::Field& field,
                   std::string* out) {
  *out += "{\"name\":";
  AppendJsonString(field.name(), out);
  *out += ",\"type\":";
  ARROW_RETURN_NOT_OK(AppendType(column, *field.type(), out));
  *out += field.nullable() ? ",\"nullable\":true" : ",\"nullable\":false";
  *out += ",\"metadata\":{}}";
  return Status::OK();
}

Status AppendType(const std::string& column, const arrow::DataType& type,
                  std::string* out) {
  switch (type.id()) {
    case arrow::Type::INT8:
      *out += "\"byte\"";
      return Status::OK();
    case arrow::Type::INT16:
      *out += "\"short\"";
      return Status::OK();
    case arrow::Type::INT32:
      *out += "\"integer\"";
      return Status::OK();
    case arrow::Type::INT64:
      *out += "\"long\"";
      return Status::OK();
    case arrow::Type::FLOAT:
      *out += "\"float\"";
      return Status::OK();
    case arrow::Type::DOUBLE:
      *out += "\"double\"";
      return Status::OK();
    case arrow::Type::BOOL:
      *out += "\"boolean\"";
      return Status::OK();
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      *out += "\"string\"";
      return Status::OK();
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
      *out += "\"binary\"";
      return Status::OK();
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
      *out += "\"date\"";
      return Status::OK();
    case arrow::Type::TIMESTAMP:
      *out += static_cast<const arrow::TimestampType&>(type).timezone().empty()
                  ? "\"timestamp_ntz\""
                  : "\"timestamp\"";
      return Status::OK();
    case arrow::Type::DECIMAL128:
    case arrow::Type::DECIMAL256: {
      const auto& d = static_cast<const arrow::DecimalType&>(type);
      if (d.precision() > 38) break;
      *out += "\"decimal(" + std::to_string(d.precision()) + "," +
              std::to_string(d.scale()) + ")\"";
      return Status::OK();
    }
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST: {
      const auto& item = *type.field(0);
      *out += "{\"type\":\"array\",\"elementType\":";
      ARROW_RETURN_NOT_OK(AppendType(column, *item.type(), out));
      *out += item.nullable() ? ",\"containsNull\":true}" : ",\"containsNull\":false}";
      return Status::OK();
    }
    case arrow::Type::MAP: {
      const auto& m = static_cast<const arrow::MapType&>(type);
      *out += "{\"type\":\"map\",\"keyType\":";
      ARROW_RETURN_NOT_OK(AppendType(column, *m.key_type(), out));
      *out += ",\"valueType\":";
      ARROW_RETURN_NOT_OK(AppendType(column, *m.item_type(), out));
      *out += m.item_field()->nullable() ? ",\"valueContainsNull\":true}"
                                         : ",\"valueContainsNull\":false}";
      return Status::OK();
    }
    case arrow::Type::STRUCT: {
      *out += "{\"type\":\"struct\",\"fields\":[";
      for (int i = 0; i < type.num_fields(); ++i) {
        if (i) *out += ",";
        ARROW_RETURN_NOT_OK(AppendField(column, *type.field(i), out));
      }
      *out += "]}";
      return Status::OK();
    }
    default:
      break;
  }
  return Status::NotImplemented("column '", column, "' (", type.ToString(),
                                "): Delta has no such type");
}

}  // namespace

Result<std::string> SchemaToDelta(const arrow::Schema& schema) {
  std::string out = "{\"type\":\"struct\",\"fields\":[";
  for (int i = 0; i < schema.num_fields(); ++i) {
    if (i) out += ",";
    ARROW_RETURN_NOT_OK(AppendField(schema.field(i)->name(), *schema.field(i), &out));
  }
  return out + "]}";
}

std::string PhysicalName(const arrow::Field& field) {
  if (field.metadata()) {
    auto name = field.metadata()->Get(kPhysicalName);
    if (name.ok() && !name->empty()) return *name;
  }
  return field.name();
}

Status CheckReadable(const Snapshot& snapshot, const std::string& table) {
  const Protocol& p = snapshot.protocol;
  if (p.min_reader_version > 3) {
    return Status::NotImplemented(table, " needs Delta reader version ",
                                  p.min_reader_version,
                                  "; flowsql reads versions 1 to 3");
  }
  if (p.min_reader_version == 3) {
    for (const auto& feature : p.reader_features) {
      const auto& known = ReadableFeatures();
      if (std::find(known.begin(), known.end(), feature) != known.end()) continue;
      if (feature == "columnMapping") continue;  // refused below when it is on
      return Status::NotImplemented(table, " needs the Delta reader feature '", feature,
                                    "', which flowsql does not read");
    }
  }
  auto mode = snapshot.metadata.configuration.find("delta.columnMapping.mode");
  if (mode != snapshot.metadata.configuration.end() && mode->second != "none" &&
      mode->second != "name") {
    return Status::NotImplemented(table, " uses column mapping (mode '", mode->second,
                                  "'), which flowsql does not read yet");
  }
  return Status::OK();
}

Status CheckWritable(const Snapshot& snapshot, const std::string& table,
                     const char* removal) {
  ARROW_RETURN_NOT_OK(CheckReadable(snapshot, table));
  const Protocol& p = snapshot.protocol;
  const auto& conf = snapshot.metadata.configuration;
  auto refuse = [&](const std::string& what) {
    return Status::NotImplemented(table, " needs ", what,
                                  ", which flowsql does not write");
  };
  if (p.min_writer_version > 7 ||
      (p.min_writer_version > 2 && p.min_writer_version < 7)) {
    return refuse("Delta writer version " + std::to_string(p.min_writer_version));
  }
  // Writer features whose rules an append keeps without doing anything.
  // (Not v2Checkpoint: flowsql writes classic checkpoints.)
  static const std::vector<std::string> kept = {"timestampNtz", "deletionVectors",
                                                "appendOnly", "vacuumProtocolCheck"};
  for (const auto& feature : p.writer_features) {
    if (std::find(kept.begin(), kept.end(), feature) == kept.end()) {
      return refuse("the writer feature '" + feature + "'");
    }
  }
  if (MapsColumns(snapshot)) return refuse("column mapping");
  auto append_only = conf.find("delta.appendOnly");
  if (removal != nullptr && append_only != conf.end() && append_only->second == "true") {
    return Status::Invalid(table, " is append-only (delta.appendOnly): it cannot be ",
                           removal);
  }
  if (snapshot.metadata.schema_string.find("delta.invariants") != std::string::npos) {
    return refuse("column invariants");
  }
  return Status::OK();
}

bool MapsColumns(const Snapshot& snapshot) {
  auto mode = snapshot.metadata.configuration.find("delta.columnMapping.mode");
  return mode != snapshot.metadata.configuration.end() && mode->second == "name";
}

namespace {

/// `type` (a data file's: fields by physical name) with the names of `logical`'s
/// fields, matched by their physical names.
std::shared_ptr<arrow::DataType> Renamed(
    const std::shared_ptr<arrow::DataType>& type,
    const std::shared_ptr<arrow::DataType>& logical) {
  if (type->id() == arrow::Type::STRUCT && logical->id() == arrow::Type::STRUCT) {
    arrow::FieldVector fields;
    for (const auto& f : type->fields()) {
      std::shared_ptr<arrow::Field> match;
      for (const auto& l : logical->fields()) {
        if (PhysicalName(*l) == f->name()) match = l;
      }
      fields.push_back(
          match ? f->WithName(match->name())->WithType(Renamed(f->type(), match->type()))
                : f);
    }
    return arrow::struct_(std::move(fields));
  }
  if (type->id() == arrow::Type::LIST && logical->id() == arrow::Type::LIST) {
    const auto& item = static_cast<const arrow::ListType&>(*type).value_field();
    return arrow::list(item->WithType(Renamed(
        item->type(), static_cast<const arrow::ListType&>(*logical).value_type())));
  }
  if (type->id() == arrow::Type::MAP && logical->id() == arrow::Type::MAP) {
    const auto& m = static_cast<const arrow::MapType&>(*type);
    const auto& l = static_cast<const arrow::MapType&>(*logical);
    return std::make_shared<arrow::MapType>(
        m.key_field()->WithType(Renamed(m.key_type(), l.key_type())),
        m.item_field()->WithType(Renamed(m.item_type(), l.item_type())), m.keys_sorted());
  }
  return type;
}

/// `data` with `type`, which differs from its own in field names only.
std::shared_ptr<arrow::ArrayData> WithType(const std::shared_ptr<arrow::ArrayData>& data,
                                           const std::shared_ptr<arrow::DataType>& type) {
  auto out = data->Copy();
  out->type = type;
  switch (type->id()) {
    case arrow::Type::STRUCT:
      for (size_t i = 0; i < out->child_data.size(); ++i) {
        out->child_data[i] =
            WithType(out->child_data[i], type->field(static_cast<int>(i))->type());
      }
      break;
    case arrow::Type::LIST:
      out->child_data[0] = WithType(
          out->child_data[0], static_cast<const arrow::ListType&>(*type).value_type());
      break;
    case arrow::Type::MAP:
      out->child_data[0] = WithType(
          out->child_data[0], static_cast<const arrow::MapType&>(*type).value_type());
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<arrow::RecordBatch>> ToLogicalNames(
    const std::shared_ptr<arrow::RecordBatch>& batch, const arrow::Schema& schema) {
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (int i = 0; i < batch->num_columns(); ++i) {
    const auto& field = batch->schema()->field(i);
    std::shared_ptr<arrow::Field> logical;
    for (const auto& f : schema.fields()) {
      if (PhysicalName(*f) == field->name()) logical = f;
    }
    if (!logical) {
      fields.push_back(field);
      columns.push_back(batch->column(i));
      continue;
    }
    auto type = Renamed(field->type(), logical->type());
    fields.push_back(field->WithName(logical->name())->WithType(type));
    columns.push_back(arrow::MakeArray(WithType(batch->column_data(i), type)));
  }
  return arrow::RecordBatch::Make(arrow::schema(std::move(fields)), batch->num_rows(),
                                  std::move(columns));
}

Result<std::shared_ptr<arrow::Scalar>> PartitionScalar(
    const std::optional<std::string>& text,
    const std::shared_ptr<arrow::DataType>& type) {
  if (!text || (text->empty() && type->id() != arrow::Type::BINARY)) {
    return arrow::MakeNullScalar(type);
  }
  if (type->id() == arrow::Type::STRING) return arrow::MakeScalar(*text);
  if (type->id() == arrow::Type::BINARY) {
    return std::make_shared<arrow::BinaryScalar>(arrow::Buffer::FromString(*text));
  }
  std::string value = *text;
  if (type->id() == arrow::Type::TIMESTAMP) {
    // "2024-03-01 10:00:00[.ffffff]", in UTC for a timestamp with a zone.
    if (value.size() > 10 && value[10] == ' ') value[10] = 'T';
    if (!value.empty() && value.back() == 'Z') value.pop_back();
  }
  auto scalar = arrow::Scalar::Parse(type, value);
  if (!scalar.ok()) {
    return Status::Invalid("partition value '", *text, "' is not a ", type->ToString());
  }
  return scalar;
}

}  // namespace flowsql::delta
