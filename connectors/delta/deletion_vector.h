// Deletion vectors (PROTOCOL.md, "Deletion Vectors"): the rows of a data file that
// a DELETE, UPDATE or MERGE took out without rewriting the file, as a 64-bit
// Roaring bitmap of row indexes counted from the file's first row (CRoaring reads
// each 32-bit part).
//
// Where it is: `storageType` "u", a file <table>/<prefix>/deletion_vector_<uuid>.bin
// named by `pathOrInlineDv` (a prefix, then the UUID in Z85); "p", a file by its
// absolute path; "i", the bitmap itself inline, in Z85. In a file, the vector is at
// `offset`: its size (4 bytes, big-endian), the bitmap, then a CRC-32.
#pragma once

#include <arrow/record_batch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "connectors/delta/delta_log.h"

typedef struct roaring_bitmap_s roaring_bitmap_t;

namespace flowsql::delta {

/// The deleted rows of one data file.
class DeletedRows {
 public:
  ~DeletedRows();
  /// Parses a serialized RoaringBitmapArray (magic number, then the 32-bit bitmaps
  /// of each high half).
  static Result<std::shared_ptr<DeletedRows>> Parse(const uint8_t* data, int64_t size);
  bool Contains(uint64_t row) const;
  uint64_t count() const;

 private:
  DeletedRows() = default;
  std::map<uint32_t, roaring_bitmap_t*> bitmaps_;  // by the rows' high 32 bits
};

/// The deleted rows `dv` names, read from where it is. Errors name the file.
/// The URI of the file that holds `dv`; "" for an inline one.
Result<std::string> DeletionVectorUri(const DeletionVector& dv, const DeltaLog& log);

Result<std::shared_ptr<DeletedRows>> ReadDeletionVector(const DeletionVector& dv,
                                                        const DeltaLog& log);

/// Drops the deleted rows from the batches of `reader`, which reads a data file
/// from its first row, every row group.
std::shared_ptr<arrow::RecordBatchReader> SkipDeletedRows(
    std::shared_ptr<arrow::RecordBatchReader> reader,
    std::shared_ptr<const DeletedRows> deleted);

/// Z85 (ZeroMQ's base-85) decoded; an error for text that is not Z85 or whose length
/// is not a multiple of 5.
Result<std::string> Z85Decode(const std::string& text);

}  // namespace flowsql::delta
