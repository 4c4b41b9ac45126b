// Snappy, and Hadoop's LZ4, for CSV and JSON files: codecs of single buffers (blocks)
// framed into a stream. Arrow's Snappy codec has no stream format, and files use one of
// two framings:
//  - Hadoop's, which Spark writes for text with codec 'snappy' (".snappy"): blocks of
//    [uncompressed length, 4 bytes big-endian], then chunks of [compressed length, 4
//    bytes big-endian][raw Snappy] until the block's bytes are produced;
//  - the Snappy framing format (".sz", python-snappy's streams): a stream identifier,
//    then chunks of [type, 1 byte][length, 3 bytes little-endian][masked CRC-32C, 4
//    bytes][data], data raw Snappy (type 0) or stored (type 1).
// Reading takes either, told apart by the framing format's stream identifier (CRCs
// are not verified); writing produces Hadoop's, in blocks of 256 KB.
//
// Spark's LZ4 text (codec 'lz4', ".lz4") is Hadoop's blocks too, of raw LZ4 blocks,
// where the lz4 tool and flowsql's writer make LZ4 frames (Arrow's LZ4_FRAME codec);
// the two start differently (kLz4FrameMagic).
#pragma once

#include <arrow/io/interfaces.h>

#include <memory>
#include <string_view>

#include "flowsql/status.h"

namespace flowsql::file {

Result<std::shared_ptr<arrow::io::InputStream>> MakeSnappyInputStream(
    std::shared_ptr<arrow::io::InputStream> raw);
/// Decodes Hadoop's blocks of raw LZ4. REQUIRES: `raw` does not start with
/// kLz4FrameMagic (an LZ4 frame: read it with Arrow's LZ4_FRAME codec).
Result<std::shared_ptr<arrow::io::InputStream>> MakeHadoopLz4InputStream(
    std::shared_ptr<arrow::io::InputStream> raw);
/// The first 4 bytes of an LZ4 frame (0x184D2204, little-endian).
inline constexpr std::string_view kLz4FrameMagic{"\x04\x22\x4d\x18", 4};
/// Closing the returned stream writes the last block and closes `raw`.
Result<std::shared_ptr<arrow::io::OutputStream>> MakeSnappyOutputStream(
    std::shared_ptr<arrow::io::OutputStream> raw);

}  // namespace flowsql::file
