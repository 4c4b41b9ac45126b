#include "connectors/delta/deletion_vector.h"

#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/io/interfaces.h>
#include <roaring/roaring.h>

#include <cstring>

#include "connectors/file/format_reader.h"
#include "connectors/file/partitions.h"

namespace flowsql::delta {

namespace {

constexpr uint32_t kMagic = 1681511377;  // RoaringBitmapArray's, little-endian

uint32_t LittleEndian32(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

uint64_t LittleEndian64(const uint8_t* p) {
  return LittleEndian32(p) | (static_cast<uint64_t>(LittleEndian32(p + 4)) << 32);
}

/// The UUID of 16 bytes, as text: 8-4-4-4-12 lowercase hex digits.
std::string UuidText(const std::string& bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    const auto b = static_cast<uint8_t>(bytes[i]);
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

}  // namespace

DeletedRows::~DeletedRows() {
  for (auto& [high, bitmap] : bitmaps_) roaring_bitmap_free(bitmap);
}

Result<std::shared_ptr<DeletedRows>> DeletedRows::Parse(const uint8_t* data,
                                                        int64_t size) {
  if (size < 12 || LittleEndian32(data) != kMagic) {
    return Status::Invalid("not a deletion vector (no RoaringBitmapArray magic number)");
  }
  std::shared_ptr<DeletedRows> out(new DeletedRows());
  const uint64_t count = LittleEndian64(data + 4);
  int64_t at = 12;
  for (uint64_t i = 0; i < count; ++i) {
    if (at + 4 > size) return Status::Invalid("a deletion vector cut short");
    const uint32_t high = LittleEndian32(data + at);
    at += 4;
    roaring_bitmap_t* bitmap = roaring_bitmap_portable_deserialize_safe(
        reinterpret_cast<const char*>(data + at), static_cast<size_t>(size - at));
    if (bitmap == nullptr)
      return Status::Invalid("a deletion vector's bitmap is corrupt");
    at += static_cast<int64_t>(roaring_bitmap_portable_size_in_bytes(bitmap));
    auto& slot = out->bitmaps_[high];
    if (slot != nullptr) roaring_bitmap_free(slot);
    slot = bitmap;
  }
  return out;
}

bool DeletedRows::Contains(uint64_t row) const {
  auto it = bitmaps_.find(static_cast<uint32_t>(row >> 32));
  return it != bitmaps_.end() &&
         roaring_bitmap_contains(it->second, static_cast<uint32_t>(row));
}

uint64_t DeletedRows::count() const {
  uint64_t n = 0;
  for (const auto& [high, bitmap] : bitmaps_) n += roaring_bitmap_get_cardinality(bitmap);
  return n;
}

Result<std::string> Z85Decode(const std::string& text) {
  static const char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/"
      "*?&<>()[]{}@%$#";
  int8_t value[256];
  std::memset(value, -1, sizeof(value));
  for (int i = 0; i < 85; ++i)
    value[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  if (text.size() % 5 != 0) {
    return Status::Invalid("'", text, "' is not Z85: its length is not a multiple of 5");
  }
  std::string out;
  out.reserve(text.size() / 5 * 4);
  for (size_t i = 0; i < text.size(); i += 5) {
    uint64_t v = 0;
    for (size_t k = 0; k < 5; ++k) {
      const int8_t d = value[static_cast<uint8_t>(text[i + k])];
      if (d < 0) return Status::Invalid("'", text, "' is not Z85");
      v = v * 85 + static_cast<uint64_t>(d);
    }
    if (v > 0xffffffffULL) return Status::Invalid("'", text, "' is not Z85");
    for (int k = 3; k >= 0; --k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  }
  return out;
}

Result<std::string> DeletionVectorUri(const DeletionVector& dv, const DeltaLog& log) {
  if (dv.storage_type == "i") return std::string();
  if (dv.storage_type == "u") {
    const std::string& id = dv.path_or_inline;
    if (id.size() < 20)
      return Status::Invalid("deletion vector id '", id, "' is too short");
    ARROW_ASSIGN_OR_RAISE(auto uuid, Z85Decode(id.substr(id.size() - 20)));
    const std::string prefix = id.substr(0, id.size() - 20);
    const std::string name = "deletion_vector_" + UuidText(uuid) + ".bin";
    return file::Storage::Join(log.table_uri(),
                               prefix.empty() ? name : file::Storage::Join(prefix, name));
  }
  if (dv.storage_type == "p") return file::PercentDecode(dv.path_or_inline);
  return Status::NotImplemented("deletion vectors stored as '", dv.storage_type, "'");
}

Result<std::shared_ptr<DeletedRows>> ReadDeletionVector(const DeletionVector& dv,
                                                        const DeltaLog& log) {
  if (dv.storage_type == "i") {
    ARROW_ASSIGN_OR_RAISE(auto bytes, Z85Decode(dv.path_or_inline));
    const int64_t size = std::min<int64_t>(dv.size_in_bytes, bytes.size());
    return DeletedRows::Parse(reinterpret_cast<const uint8_t*>(bytes.data()), size);
  }
  ARROW_ASSIGN_OR_RAISE(const std::string uri, DeletionVectorUri(dv, log));
  auto read = [&]() -> Result<std::shared_ptr<DeletedRows>> {
    ARROW_ASSIGN_OR_RAISE(auto file, log.storage().OpenFile(uri));
    ARROW_ASSIGN_OR_RAISE(auto head, file->ReadAt(dv.offset, 4));
    if (head->size() != 4) return Status::Invalid("the file ends before the vector");
    const uint8_t* p = head->data();
    const int64_t size =
        (static_cast<int64_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    ARROW_ASSIGN_OR_RAISE(auto data, file->ReadAt(dv.offset + 4, size));
    if (data->size() != size) return Status::Invalid("the file ends inside the vector");
    return DeletedRows::Parse(data->data(), size);
  };
  auto rows = read();
  if (!rows.ok()) {
    return rows.status().WithMessage("deletion vector ", uri, ": ",
                                     rows.status().message());
  }
  return rows;
}

std::shared_ptr<arrow::RecordBatchReader> SkipDeletedRows(
    std::shared_ptr<arrow::RecordBatchReader> reader,
    std::shared_ptr<const DeletedRows> deleted) {
  int64_t row = 0;  // of the file, at the next batch
  return file::MapBatches(
      std::move(reader),
      [deleted = std::move(deleted),
       row](std::shared_ptr<arrow::RecordBatch> batch) mutable
      -> Result<std::shared_ptr<arrow::RecordBatch>> {
        const int64_t n = batch->num_rows();
        arrow::BooleanBuilder keep;
        ARROW_RETURN_NOT_OK(keep.Reserve(n));
        bool any = false;
        for (int64_t i = 0; i < n; ++i) {
          const bool gone = deleted->Contains(static_cast<uint64_t>(row + i));
          any |= gone;
          keep.UnsafeAppend(!gone);
        }
        row += n;
        if (!any) return batch;
        ARROW_ASSIGN_OR_RAISE(auto mask, keep.Finish());
        ARROW_ASSIGN_OR_RAISE(auto kept, arrow::compute::Filter(batch, mask));
        return kept.record_batch();
      });
}

}  // namespace flowsql::delta
