#include "connectors/http/poll_source.h"

#include <arrow/compute/api.h>
#include <arrow/scalar.h>

#include <chrono>
#include <thread>

#include "common/numbers.h"
#include "common/secrets.h"
#include "connectors/http/http_source.h"
#include "connectors/http/json_path.h"

namespace flowsql::httpapi {

namespace {

namespace cp = arrow::compute;

/// Where a poll stands: the round's offset, its page split and that split's offset,
/// what the round found so far for the next offset (max_field, timestamp: the
/// largest value, as Arrow writes it; incremental: the records; cursor: the last
/// answer's offset), and the records read in this round and before it.
struct Position {
  std::string offset;
  int64_t split = 0;
  std::string split_offset;
  std::string found;
  int64_t rows = 0;   // read in this round
  int64_t total = 0;  // read by the rounds before this one, from the first poll on
};

std::string Encode(const Position& p) {
  std::string out;
  for (const std::string& field :
       {p.offset, std::to_string(p.split), p.split_offset, p.found,
        std::to_string(p.rows), std::to_string(p.total)}) {
    out += std::to_string(field.size()) + ":" + field;
  }
  return out;
}

Result<Position> Decode(const std::string& text) {
  std::vector<std::string> fields;
  size_t at = 0;
  while (at < text.size() && fields.size() < 6) {
    const size_t colon = text.find(':', at);
    auto size = colon == std::string::npos ? std::nullopt
                                           : ParseInt64(text.substr(at, colon - at));
    if (!size || *size < 0 || colon + 1 + *size > text.size()) break;
    fields.push_back(text.substr(colon + 1, *size));
    at = colon + 1 + *size;
  }
  auto split = fields.size() == 6 ? ParseInt64(fields[1]) : std::nullopt;
  auto rows = fields.size() == 6 ? ParseInt64(fields[4]) : std::nullopt;
  auto total = fields.size() == 6 ? ParseInt64(fields[5]) : std::nullopt;
  if (at != text.size() || !split || *split < 0 || !rows || *rows < 0 || !total ||
      *total < 0) {
    return Status::Invalid("not an offset of an http polling stream: '", Redact(text),
                           "'");
  }
  return Position{fields[0], *split, fields[2], fields[3], *rows, *total};
}

/// A timestamp offset as an API takes it: ISO 8601 ("2024-05-01T10:00:00.000000",
/// "...Z" with a zone), `lag` earlier.
Result<std::string> TimestampText(const arrow::TimestampScalar& value,
                                  std::chrono::milliseconds lag) {
  const auto& type = static_cast<const arrow::TimestampType&>(*value.type);
  static const int64_t kPerMilli[] = {0, 1, 1000, 1000000};  // s is below: / 1000
  const int64_t shift = type.unit() == arrow::TimeUnit::SECOND
                            ? lag.count() / 1000
                            : lag.count() * kPerMilli[static_cast<int>(type.unit())];
  arrow::TimestampScalar earlier(value.value - shift, value.type);
  ARROW_ASSIGN_OR_RAISE(auto text, cp::Cast(earlier, arrow::utf8()));
  std::string out = text.scalar()->ToString();
  if (auto space = out.find(' '); space != std::string::npos) out[space] = 'T';
  return out;
}

class PollReader : public SplitReader {
 public:
  PollReader(PollSource* source, std::shared_ptr<arrow::Schema> schema, Position start,
             std::optional<Position> end, ScanRequest request)
      : source_(source),
        schema_(std::move(schema)),
        pos_(std::move(start)),
        end_(std::move(end)),
        request_(std::move(request)) {
    all_.stop = request_.stop;
  }

  std::shared_ptr<arrow::Schema> schema() const override { return out_schema(); }

  Result<SourceBatch> Next() override {
    while (true) {
      if (end_ && Encode(pos_) == Encode(*end_)) return SourceBatch{};
      if (wait_) {
        wait_ = false;
        // A replay asks again at once: what it reads follows from the offsets.
        if (!end_) ARROW_RETURN_NOT_OK(Sleep(source_->settings().interval));
      }
      ARROW_RETURN_NOT_OK(request_.stop.Poll());
      if (round_ == nullptr) {
        Settings round = source_->RoundSettings(pos_.offset);
        round.stop = request_.stop;  // the reader's, not the statement's
        round_ = std::make_unique<HttpSource>(std::move(round));
        ARROW_ASSIGN_OR_RAISE(splits_, round_->PlanSplits(all_));
      }
      if (reader_ == nullptr) {
        if (pos_.split >= static_cast<int64_t>(splits_.size())) {
          if (end_ && pos_.offset == end_->offset && pos_.rows < end_->rows) {
            return Status::IOError(
                source_->Describe(), ": offset ", pos_.offset, " now has ", pos_.rows,
                " records where it had ", end_->rows,
                " when the epoch being replayed read it; the epoch cannot be replayed "
                "exactly (the API must answer an offset with the records it gave)");
          }
          if (end_ && pos_.rows == 0) {
            return Status::IOError(
                source_->Describe(), ": offset ", pos_.offset,
                " gave no records, where the epoch being replayed read more; it cannot "
                "be replayed exactly (the API must answer an offset with the records it "
                "gave)");
          }
          // The round is read: the next one asks from the offset it found (the
          // largest value found so far stays, as the bound of what is read).
          ARROW_ASSIGN_OR_RAISE(std::string next, NextOffset());
          const bool largest = source_->settings().offset_type == OffsetType::kMaxField ||
                               source_->settings().offset_type == OffsetType::kTimestamp;
          pos_ =
              Position{next, 0, "", largest ? pos_.found : "", 0, pos_.total + pos_.rows};
          round_.reset();
          splits_.clear();
          wait_ = true;
          ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatch::MakeEmpty(out_schema()));
          return SourceBatch{empty, Encode(pos_)};
        }
        ARROW_ASSIGN_OR_RAISE(reader_,
                              round_->OpenSplit(splits_[pos_.split],
                                                SplitRange{pos_.split_offset, ""}, all_));
      }
      ARROW_ASSIGN_OR_RAISE(auto next, reader_->Next());
      if (next.batch == nullptr) {
        ++pos_.split;
        pos_.split_offset.clear();
        reader_.reset();
        continue;
      }
      pos_.split_offset = next.offset;
      std::shared_ptr<arrow::RecordBatch> batch = next.batch;
      bool reached = false;
      if (end_) {
        ARROW_ASSIGN_OR_RAISE(reached, Trim(&batch));
      }
      if (reached) {
        pos_ = *end_;
      } else {
        pos_.rows += batch->num_rows();
        ARROW_RETURN_NOT_OK(Follow(*batch));
      }
      ARROW_ASSIGN_OR_RAISE(batch, Project(batch));
      return SourceBatch{batch, Encode(pos_)};
    }
  }

 private:
  std::shared_ptr<arrow::Schema> out_schema() const {
    if (!request_.columns) return schema_;
    arrow::FieldVector fields;
    for (const auto& name : *request_.columns) {
      fields.push_back(schema_->GetFieldByName(name));
    }
    return arrow::schema(std::move(fields));
  }

  Result<std::shared_ptr<arrow::RecordBatch>> Project(
      const std::shared_ptr<arrow::RecordBatch>& batch) const {
    if (!request_.columns) return batch;
    arrow::ArrayVector columns;
    for (const auto& name : *request_.columns) {
      columns.push_back(batch->GetColumnByName(name));
    }
    return arrow::RecordBatch::Make(out_schema(), batch->num_rows(), std::move(columns));
  }

  /// A replay: keeps of `batch` the records the epoch being replayed read, and says
  /// whether its end is reached. Records that arrived since belong to later epochs:
  /// those past its largest offset_field (max_field, timestamp), or past its count
  /// from the first poll (incremental, cursor): a poll that now answers with more
  /// records than it did ends the round elsewhere, and so asks the next from another
  /// offset, but the records follow each other as they did.
  Result<bool> Trim(std::shared_ptr<arrow::RecordBatch>* batch) const {
    const Settings& s = source_->settings();
    const int64_t n = (*batch)->num_rows();
    if (s.offset_type == OffsetType::kMaxField ||
        s.offset_type == OffsetType::kTimestamp) {
      if (end_->found.empty()) {
        *batch = (*batch)->Slice(0, 0);  // the epoch read no record
        return true;
      } else {
        auto column = (*batch)->GetColumnByName(s.offset_field);
        ARROW_ASSIGN_OR_RAISE(auto bound,
                              arrow::Scalar::Parse(column->type(), end_->found));
        ARROW_ASSIGN_OR_RAISE(auto within,
                              cp::CallFunction("less_equal", {column, bound}));
        ARROW_ASSIGN_OR_RAISE(auto kept, cp::Filter(*batch, within));
        const bool beyond = kept.record_batch()->num_rows() < n;
        ARROW_ASSIGN_OR_RAISE(auto max, cp::CallFunction("max", {column}));
        ARROW_ASSIGN_OR_RAISE(auto at_bound,
                              cp::CallFunction("greater_equal", {max, bound}));
        *batch = kept.record_batch();
        return beyond || (at_bound.scalar()->is_valid &&
                          at_bound.scalar_as<arrow::BooleanScalar>().value);
      }
    }
    // The epoch ends `left` records on.
    const int64_t left = end_->total + end_->rows - (pos_.total + pos_.rows);
    if (left < 0 || left > n) return false;
    *batch = (*batch)->Slice(0, left);
    return true;
  }

  /// Notes in pos_.found what `batch` says of the next offset.
  Status Follow(const arrow::RecordBatch& batch) {
    const Settings& s = source_->settings();
    switch (s.offset_type) {
      case OffsetType::kIncremental: {
        const int64_t read = ParseInt64(pos_.found).value_or(0);
        pos_.found = std::to_string(read + batch.num_rows());
        return Status::OK();
      }
      case OffsetType::kCursor: {
        const std::string answer = round_->LastAnswer();
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        if (parser.parse(answer).get(doc) != simdjson::SUCCESS) return Status::OK();
        ARROW_ASSIGN_OR_RAISE(auto path, ParsePath(s.offset_field));
        auto value = Find(doc, path);
        std::optional<std::string> text;
        if (value) text = ScalarText(*value);
        if (text && !text->empty()) pos_.found = *text;
        return Status::OK();
      }
      case OffsetType::kMaxField:
      case OffsetType::kTimestamp: {
        auto column = batch.GetColumnByName(s.offset_field);
        if (column == nullptr || column->null_count() == column->length()) {
          return Status::OK();
        }
        ARROW_ASSIGN_OR_RAISE(auto max, cp::CallFunction("max", {column}));
        if (!pos_.found.empty()) {
          ARROW_ASSIGN_OR_RAISE(auto found,
                                arrow::Scalar::Parse(column->type(), pos_.found));
          ARROW_ASSIGN_OR_RAISE(auto greater,
                                cp::CallFunction("greater", {max, arrow::Datum(found)}));
          if (!greater.scalar_as<arrow::BooleanScalar>().value) return Status::OK();
        }
        pos_.found = max.scalar()->ToString();
        return Status::OK();
      }
    }
    return Status::OK();
  }

  /// The offset of the round after this one.
  Result<std::string> NextOffset() const {
    const Settings& s = source_->settings();
    if (pos_.found.empty()) return pos_.offset;  // nothing read: ask again
    switch (s.offset_type) {
      case OffsetType::kIncremental: {
        auto base = ParseInt64(pos_.offset.empty() ? "0" : pos_.offset);
        if (!base) {
          return Status::Invalid(
              "offset_type = 'incremental' needs an integer offset, "
              "got '",
              pos_.offset, "'");
        }
        return std::to_string(*base + *ParseInt64(pos_.found));
      }
      case OffsetType::kTimestamp: {
        auto type = schema_->GetFieldByName(s.offset_field)->type();
        if (type->id() != arrow::Type::TIMESTAMP) return pos_.found;
        ARROW_ASSIGN_OR_RAISE(auto max, arrow::Scalar::Parse(type, pos_.found));
        return TimestampText(static_cast<const arrow::TimestampScalar&>(*max), s.lag);
      }
      default:
        return pos_.found;
    }
  }

  Status Sleep(std::chrono::milliseconds wait) const {
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      ARROW_RETURN_NOT_OK(request_.stop.Poll());
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
    }
    return Status::OK();
  }

  PollSource* source_;
  std::shared_ptr<arrow::Schema> schema_;
  Position pos_;
  std::optional<Position> end_;  // a replay stops there
  ScanRequest request_;
  ScanRequest all_;  // every column, for offset_field
  bool wait_ = false;
  std::unique_ptr<HttpSource> round_;
  std::vector<Split> splits_;
  std::unique_ptr<SplitReader> reader_;
};

}  // namespace

PollSource::PollSource(Settings settings) : settings_(std::move(settings)) {}

Settings PollSource::RoundSettings(const std::string& offset) const {
  Settings s = FillPlaceholder(settings_, settings_.offset_field, offset);
  s.streaming = false;
  if (schema_ != nullptr) {
    s.strict_keys = settings_.schema == nullptr;
    s.schema = schema_;
  }
  return s;
}

Result<std::shared_ptr<arrow::Schema>> PollSource::GetSchema() {
  if (schema_ != nullptr) return schema_;
  std::shared_ptr<arrow::Schema> schema = settings_.schema;
  if (schema == nullptr) {
    // The first poll's records.
    HttpSource first(RoundSettings(settings_.initial_offset));
    ARROW_ASSIGN_OR_RAISE(schema, first.GetSchema());
  }
  if (settings_.offset_type != OffsetType::kCursor &&
      settings_.offset_type != OffsetType::kIncremental &&
      schema->GetFieldIndex(settings_.offset_field) < 0) {
    return Status::Invalid("option 'offset_field': the records have no field '",
                           settings_.offset_field, "'; columns: ", schema->ToString());
  }
  schema_ = schema;
  return schema_;
}

Result<std::vector<Split>> PollSource::PlanSplits(const ScanRequest& request) {
  ARROW_RETURN_NOT_OK(GetSchema().status());
  return std::vector<Split>{Split{"poll", ""}};
}

Result<std::unique_ptr<SplitReader>> PollSource::OpenSplit(const Split& split,
                                                           const SplitRange& range,
                                                           const ScanRequest& request) {
  ARROW_ASSIGN_OR_RAISE(auto schema, GetSchema());
  if (split.id != "poll") {
    return Status::Invalid("not a split of an http polling stream: '", split.id, "'");
  }
  Position start{settings_.initial_offset, 0, "", "", 0};
  if (!range.start.empty()) {
    ARROW_ASSIGN_OR_RAISE(start, Decode(range.start));
  }
  std::optional<Position> end;
  if (!range.end.empty()) {
    ARROW_ASSIGN_OR_RAISE(end, Decode(range.end));
  }
  return std::make_unique<PollReader>(this, std::move(schema), std::move(start),
                                      std::move(end), request);
}

std::string PollSource::Describe() const {
  return Redact("http " + settings_.method + " " + http::RedactUrl(settings_.url) +
                " polled every " + std::to_string(settings_.interval.count()) +
                " ms on " + settings_.offset_field);
}

}  // namespace flowsql::httpapi
