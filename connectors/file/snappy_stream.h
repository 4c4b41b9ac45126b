// Snappy for CSV and JSON files. Arrow's Snappy codec compresses single buffers and
// has no stream format, and files use one of two framings:
//  - Hadoop's, which Spark writes for text with codec 'snappy' (".snappy"): blocks of
//    [uncompressed length, 4 bytes big-endian], then chunks of [compressed length, 4
//    bytes big-endian][raw Snappy] until the block's bytes are produced;
//  - the Snappy framing format (".sz", python-snappy's streams): a stream identifier,
//    then chunks of [type, 1 byte][length, 3 bytes little-endian][masked CRC-32C, 4
//    bytes][data], data raw Snappy (type 0) or stored (type 1).
// Reading takes either, told apart by the framing format's stream identifier (CRCs
// are not verified); writing produces Hadoop's, in blocks of 256 KB.
#pragma once

#include <arrow/io/interfaces.h>

#include <memory>

#include "flowsql/status.h"

namespace flowsql::file {

Result<std::shared_ptr<arrow::io::InputStream>> MakeSnappyInputStream(
    std::shared_ptr<arrow::io::InputStream> raw);
/// Closing the returned stream writes the last block and closes `raw`.
Result<std::shared_ptr<arrow::io::OutputStream>> MakeSnappyOutputStream(
    std::shared_ptr<arrow::io::OutputStream> raw);

}  // namespace flowsql::file
