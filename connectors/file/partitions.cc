#include "connectors/file/partitions.h"

#include <arrow/array.h>
#include <arrow/array/builder_binary.h>
#include <arrow/compute/api.h>
#include <arrow/compute/row/grouper.h>

#include <cctype>
#include <cstdio>
#include <filesystem>

#include "connectors/file/format.h"

namespace flowsql::file {

namespace cp = arrow::compute;

std::string PercentEncode(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~' ||
        c == '=') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string PercentDecode(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

namespace {

/// The key=value folders of `path`, in order.
std::vector<std::pair<std::string, std::string>> Folders(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::filesystem::path p(WithoutQuery(path));
  for (const auto& part : p.parent_path()) {
    const std::string segment = part.string();
    const size_t eq = segment.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out.emplace_back(segment.substr(0, eq), PercentDecode(segment.substr(eq + 1)));
  }
  return out;
}

/// Hive's escaping (FileUtils.escapePathName): these and control characters become %XX.
std::string HiveEscape(const std::string& text) {
  static const std::string kEscaped = "\"#%'*/:=?\\\x7f{[]^";
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || kEscaped.find(static_cast<char>(c)) != std::string::npos) {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool IsNullValue(const std::string& value) {
  return value.empty() || value == "__HIVE_DEFAULT_PARTITION__";
}

}  // namespace

std::string HiveValue(const arrow::Scalar& value) {
  if (!value.is_valid) return "__HIVE_DEFAULT_PARTITION__";
  std::string text = value.ToString();
  return text.empty() ? "__HIVE_DEFAULT_PARTITION__" : HiveEscape(text);
}

std::string HiveFolder(const std::string& name, const arrow::Scalar& value) {
  return name + "=" + HiveValue(value);
}

Result<std::optional<HivePartitions>> ReadHivePartitions(
    const std::vector<std::string>& files) {
  std::vector<std::vector<std::pair<std::string, std::string>>> folders;
  bool any = false;
  for (const auto& f : files) {
    folders.push_back(Folders(f));
    any = any || !folders.back().empty();
  }
  if (!any) return std::nullopt;
  const auto& first = folders[0];
  for (size_t i = 1; i < files.size(); ++i) {
    bool same = folders[i].size() == first.size();
    for (size_t k = 0; same && k < first.size(); ++k) {
      same = folders[i][k].first == first[k].first;
    }
    if (!same) {
      auto keys = [](const std::vector<std::pair<std::string, std::string>>& kv) {
        std::string out;
        for (const auto& [k, v] : kv) out += (out.empty() ? "" : "/") + k;
        return out.empty() ? std::string("none") : out;
      };
      return Status::Invalid("hive partitions differ: ", files[0], " has ", keys(first),
                             ", ", files[i], " has ", keys(folders[i]),
                             "; set hive_partitioning = false to read them without");
    }
  }
  HivePartitions out;
  out.values.resize(files.size());
  for (size_t k = 0; k < first.size(); ++k) {
    arrow::StringBuilder text;
    for (const auto& kv : folders) {
      if (IsNullValue(kv[k].second)) {
        ARROW_RETURN_NOT_OK(text.AppendNull());
      } else {
        ARROW_RETURN_NOT_OK(text.Append(kv[k].second));
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto values, text.Finish());
    // The narrowest type every value converts to exactly.
    std::shared_ptr<arrow::Array> typed = values;
    for (const auto& type : {arrow::int64(), arrow::date32()}) {
      auto cast = cp::Cast(*values, type);
      if (cast.ok()) {
        typed = *cast;
        break;
      }
    }
    out.fields.push_back(arrow::field(first[k].first, typed->type()));
    for (size_t f = 0; f < files.size(); ++f) {
      ARROW_ASSIGN_OR_RAISE(auto scalar, typed->GetScalar(static_cast<int64_t>(f)));
      out.values[f].push_back(std::move(scalar));
    }
  }
  return out;
}

Result<bool> PartitionMayMatch(const cp::Expression& filter, const arrow::Schema& schema,
                               const HivePartitions& partitions, size_t file,
                               cp::Expression* simplified) {
  std::vector<cp::Expression> known;
  for (size_t k = 0; k < partitions.fields.size(); ++k) {
    const auto& value = partitions.values[file][k];
    auto ref = cp::field_ref(partitions.fields[k]->name());
    known.push_back(value->is_valid ? cp::equal(ref, cp::literal(value))
                                    : cp::is_null(ref));
  }
  return MayMatch(filter, schema, std::move(known), simplified);
}

Result<bool> MayMatch(const cp::Expression& filter, const arrow::Schema& schema,
                      std::vector<cp::Expression> known, cp::Expression* simplified) {
  ARROW_ASSIGN_OR_RAISE(auto bound, filter.Bind(schema));
  ARROW_ASSIGN_OR_RAISE(auto guarantee, cp::and_(std::move(known)).Bind(schema));
  ARROW_ASSIGN_OR_RAISE(*simplified, cp::SimplifyWithGuarantee(bound, guarantee));
  if (const auto* lit = simplified->literal(); lit && lit->is_scalar()) {
    const auto& s = *lit->scalar();
    if (!s.is_valid) return false;  // NULL: no row passes a WHERE
    if (s.type->id() == arrow::Type::BOOL) {
      return static_cast<const arrow::BooleanScalar&>(s).value;
    }
  }
  return true;
}

Result<std::vector<RowGroup>> GroupRows(const std::shared_ptr<arrow::RecordBatch>& rows,
                                        const std::vector<arrow::Datum>& keys) {
  if (keys.empty()) return std::vector<RowGroup>{{{}, rows}};
  std::vector<arrow::TypeHolder> types;
  for (const auto& key : keys) types.emplace_back(key.type());
  ARROW_ASSIGN_OR_RAISE(auto grouper, cp::Grouper::Make(types));
  ARROW_ASSIGN_OR_RAISE(auto key_batch, cp::ExecBatch::Make(keys));
  ARROW_ASSIGN_OR_RAISE(auto ids, grouper->Consume(cp::ExecSpan(key_batch)));
  ARROW_ASSIGN_OR_RAISE(auto uniques, grouper->GetUniques());
  ARROW_ASSIGN_OR_RAISE(auto groupings,
                        cp::Grouper::MakeGroupings(*ids.array_as<arrow::UInt32Array>(),
                                                   grouper->num_groups()));
  std::vector<RowGroup> out;
  for (uint32_t g = 0; g < grouper->num_groups(); ++g) {
    RowGroup group;
    for (size_t k = 0; k < keys.size(); ++k) {
      ARROW_ASSIGN_OR_RAISE(auto value, uniques.values[k].make_array()->GetScalar(g));
      group.values.push_back(std::move(value));
    }
    ARROW_ASSIGN_OR_RAISE(auto taken, cp::Take(rows, groupings->value_slice(g)));
    group.rows = taken.record_batch();
    out.push_back(std::move(group));
  }
  return out;
}

}  // namespace flowsql::file
