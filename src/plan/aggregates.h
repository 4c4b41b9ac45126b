// Aggregates flowsql adds to Arrow's compute registry.
#pragma once

#include <arrow/compute/registry.h>

#include "flowsql/connector.h"

namespace flowsql::plan {

/// Registers, into `registry`:
///   collect / hash_collect(value) -> list<value type>: a group's values in the order
///   consumed (NULLs kept); NULL over no row. Any type, structs included, so one
///   collect can carry several arguments together.
/// and the scalar functions that finish an aggregate from such a list:
///   list_string_agg(list<utf8>, sep), list_sort_by(list<struct<v, keys...>>, spec),
///   list_quantile_cont / list_quantile_disc(list, q | [q, ...]), list_mode(list),
///   list_distinct(list), list_arg_min / list_arg_max(list<struct<arg, val>>), list_corr,
///   list_covar_pop, list_covar_samp, list_regr_{slope, intercept, r2, count, avgx, avgy,
///   sxx, syy, sxy}(list<struct<y: double, x: double>>),
///   list_{var,stddev}_{samp,pop}(list<double>), list_bool_and / list_bool_or.
/// Their semantics follow DuckDB's aggregates of the same names.
Status RegisterAggregates(arrow::compute::FunctionRegistry* registry);

/// The type of a continuous quantile (median) of `t`: DOUBLE for integers, the same
/// type for FLOAT, DOUBLE, DECIMAL and TIMESTAMP, TIMESTAMP for DATE; null when none.
std::shared_ptr<arrow::DataType> QuantileContType(const arrow::DataType& t);

}  // namespace flowsql::plan
