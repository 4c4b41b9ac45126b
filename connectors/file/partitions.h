// Hive partitions: the key=value folders of a source's files become typed columns,
// and a filter on them skips whole files before any is opened.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/datum.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/type.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowsql/status.h"

namespace flowsql::file {

/// The partition columns of a set of files, and each file's values.
struct HivePartitions {
  /// In the order the folders name them (year=2024/month=3/...: year, month).
  arrow::FieldVector fields;
  /// values[file][field]: a typed scalar, NULL for __HIVE_DEFAULT_PARTITION__ or an
  /// empty value.
  std::vector<std::vector<std::shared_ptr<arrow::Scalar>>> values;
};

/// `text` with its %XX escapes decoded (a Hive folder's value, a URI's path).
std::string PercentDecode(const std::string& text);
/// `path` as an RFC 2396 URI path (a Delta log's paths, an S3 key in a URL): '%' and
/// the characters but the unreserved ones, '/' and '=' escaped.
std::string PercentEncode(const std::string& path);

/// The key=value folders of each of `files` (a file's own name is not one). Values
/// are %-decoded (as Spark writes them). A key's type is BIGINT when every value is
/// an integer, DATE when every value is a date, else VARCHAR. Nothing when no file
/// has such a folder; an error naming two files when they name different keys.
Result<std::optional<HivePartitions>> ReadHivePartitions(
    const std::vector<std::string>& files);

/// The folder a row with `value` in partition column `name` is written to:
/// "name=value", the value %-encoded where a path or Hive needs it ('/', '=', '%', ':',
/// ...), "__HIVE_DEFAULT_PARTITION__" for NULL, dates as 2024-03-01. ReadHivePartitions
/// reads it back.
std::string HiveFolder(const std::string& name, const arrow::Scalar& value);
/// The value part of HiveFolder(): %-encoded text, or __HIVE_DEFAULT_PARTITION__.
std::string HiveValue(const arrow::Scalar& value);

/// False when `filter` (over `schema`, which holds the partition fields) cannot hold
/// for any row of a file whose partition values are `values`: the file is skipped.
/// `filter` comes back simplified by those values, for the file's own reader.
Result<bool> PartitionMayMatch(const arrow::compute::Expression& filter,
                               const arrow::Schema& schema,
                               const HivePartitions& partitions, size_t file,
                               arrow::compute::Expression* simplified);

/// The rows of one group of GroupRows.
struct RowGroup {
  std::vector<std::shared_ptr<arrow::Scalar>> values;  // of each key
  std::shared_ptr<arrow::RecordBatch> rows;
};

/// The rows of `rows` grouped by the values of `keys` (arrays as long as `rows`), in
/// the order the groups first appear.
Result<std::vector<RowGroup>> GroupRows(const std::shared_ptr<arrow::RecordBatch>& rows,
                                        const std::vector<arrow::Datum>& keys);

/// False when `filter` (over `schema`) cannot hold for any row for which every
/// expression of `known` is true (column = value, min <= column <= max, ...). `filter`
/// comes back simplified by them.
Result<bool> MayMatch(const arrow::compute::Expression& filter,
                      const arrow::Schema& schema,
                      std::vector<arrow::compute::Expression> known,
                      arrow::compute::Expression* simplified);

}  // namespace flowsql::file
