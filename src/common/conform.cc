#include "common/conform.h"

#include <arrow/array/util.h>
#include <arrow/compute/cast.h>

#include <vector>

namespace flowsql {

Result<std::shared_ptr<arrow::Schema>> RequestedSchema(
    const std::shared_ptr<arrow::Schema>& schema, const ScanRequest& request) {
  if (!request.columns) return schema;
  arrow::FieldVector fields;
  for (const auto& name : *request.columns) {
    auto field = schema->GetFieldByName(name);
    if (field == nullptr) return Status::KeyError("no column '", name, "'");
    fields.push_back(std::move(field));
  }
  return arrow::schema(std::move(fields));
}

Result<std::shared_ptr<arrow::RecordBatch>> ConformByName(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& target, const std::string& what) {
  if (batch->schema()->Equals(*target, /*check_metadata=*/false)) {
    return batch->ReplaceSchema(target);
  }
  std::vector<std::shared_ptr<arrow::Array>> columns;
  columns.reserve(target->num_fields());
  for (const auto& field : target->fields()) {
    auto column = batch->GetColumnByName(field->name());
    if (column == nullptr) {
      ARROW_ASSIGN_OR_RAISE(column,
                            arrow::MakeArrayOfNull(field->type(), batch->num_rows()));
    } else if (!column->type()->Equals(*field->type())) {
      auto cast = arrow::compute::Cast(*column, field->type());
      if (!cast.ok()) {
        return Status::Invalid(what, ": column '", field->name(), "' cannot be read as ",
                               field->type()->ToString(), ": ", cast.status().message());
      }
      column = *cast;
    }
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(target, batch->num_rows(), std::move(columns));
}

}  // namespace flowsql
