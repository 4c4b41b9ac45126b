#include "connectors/file/file_options.h"

#include "connectors/file/http_fs.h"
#include "connectors/file/storage.h"

namespace flowsql::file {

std::vector<OptionSpec> SourceOptionSpecs() {
  using T = OptionType;
  std::vector<OptionSpec> specs = {
      {"format",
       T::kEnum,
       "",
       "File format; by default taken from the extension (.csv .tsv .txt .json .ndjson "
       ".jsonl .parquet .arrow .ipc .feather .orc .avro; csv and json may end in .gz, "
       ".deflate, .zst, .bz2, .lz4, .snappy or .sz too). 'json' reads a JSON array of "
       "objects or "
       "NDJSON, "
       "whichever the file holds.",
       {},
       {"csv", "tsv", "json", "ndjson", "jsonl", "parquet", "ipc", "arrow", "feather",
        "orc", "avro"}},
      {"delimiter",
       T::kString,
       "",
       "CSV field separator, one character ('\\t' or 'tab' for a tab). Default ',' "
       "(tab for .tsv).",
       {"delim", "sep", "separator"}},
      {"header",
       T::kBool,
       "true",
       "CSV: the first row (after skip_rows) holds column names.",
       {}},
      {"quote",
       T::kString,
       "\"",
       "CSV quote character; '' for none (quotes are data).",
       {}},
      {"escape",
       T::kString,
       "",
       "CSV escape character inside quoted values (default: a doubled quote escapes a "
       "quote).",
       {}},
      {"null_string",
       T::kString,
       "",
       "CSV text read as NULL, in every column including text columns. Default: an "
       "empty field is NULL, like DuckDB (see allow_quoted_nulls).",
       {"nullstr", "null", "null_padding_string", "na_values"}},
      {"allow_quoted_nulls",
       T::kBool,
       "true",
       "CSV: a quoted null spelling (\"\" by default) is NULL too; false: it is the "
       "text.",
       {}},
      {"skip_rows",
       T::kInt,
       "0",
       "CSV: lines skipped at the start of each file, before the header.",
       {"skip"}},
      {"newlines_in_values",
       T::kBool,
       "false",
       "CSV: quoted values may span lines (slower parsing).",
       {"allow_quoted_newlines", "multiline"}},
      {"columns",
       T::kMap,
       "",
       "The full schema, {'name': 'TYPE', ...}, in file order; no type inference. CSV "
       "columns are matched by position (the header row, if any, is skipped), other "
       "formats by name.",
       {"schema"}},
      {"types",
       T::kMap,
       "",
       "Types of some columns, {'name': 'TYPE'}, overriding inference. SQL type names: "
       "INTEGER, BIGINT, DOUBLE, VARCHAR, DATE, TIMESTAMP, BOOLEAN, DECIMAL(p,s), ...",
       {"dtypes", "column_types"}},
      {"auto_detect",
       T::kBool,
       "true",
       "Infer column types (CSV: from the first block; JSON: also dates and timestamps "
       "in "
       "strings). false: CSV columns are VARCHAR unless set by types/columns.",
       {}},
      {"timestamp_format",
       T::kString,
       "",
       "CSV: strptime format for timestamps (e.g. '%d/%m/%Y %H:%M'); ISO 8601 is always "
       "accepted.",
       {"timestampformat"}},
      {"batch_size",
       T::kInt,
       "0",
       "Maximum rows per batch; 0: as read (a CSV/JSON block, 65536 Parquet rows).",
       {}},
      {"block_size",
       T::kSize,
       "",
       "CSV/JSON: bytes parsed per block, also the sample for type inference. Default: "
       "4MB for CSV, 1MB for JSON (measured fastest).",
       {"buffer_size"}},
      {"invalid_utf8",
       T::kEnum,
       "error",
       "CSV text that is not valid UTF-8: error (naming column and line), replace (each "
       "bad byte becomes U+FFFD) or ignore (bad bytes are dropped).",
       {},
       {"error", "replace", "ignore"}},
      {"sample_size",
       T::kInt,
       "",
       "CSV/JSON: -1 infers the schema from all of the input (every file whole: every "
       "key, the widest types); otherwise from the first block_size bytes (CSV: of the "
       "first files; the others give their header's names). A key, type or value the "
       "schema lacks is an error naming the file, line and key.",
       {}},
      {"union_by_name",
       T::kBool,
       "true",
       "Several files: combine their columns by name (missing columns are NULL, types "
       "widened). false: read every file with the first file's schema.",
       {}},
      {"hive_partitioning",
       T::kBool,
       "",
       "Folders named key=value (year=2024/month=3/) become typed columns (BIGINT, DATE "
       "or VARCHAR), and a WHERE on them skips whole files. Default: when the files lie "
       "in such folders.",
       {"hive"}},
      {"filename",
       T::kBool,
       "false",
       "Add a column 'filename' holding each row's file (DuckDB's filename = true).",
       {}},
      {"file_row_number",
       T::kBool,
       "false",
       "Add a column 'file_row_number' (BIGINT): each row's place in its file, from 0, "
       "as DuckDB's. Parquet row groups are then all read (none skipped by statistics).",
       {}},
      {"watch",
       T::kBool,
       "false",
       "Watch the folder or glob: an unbounded source that reads each new file once, "
       "when it is complete; a restarted pipeline reads no file again.",
       {}},
      {"poll_interval",
       T::kDuration,
       "1s",
       "watch: how often the folder is listed.",
       {"poll"}},
      {"file_complete",
       T::kEnum,
       "stable",
       "watch: when a file counts as complete: stable (its size held for one "
       "poll_interval) or marker (a file named <file><marker_suffix> exists).",
       {},
       {"stable", "marker"}},
      {"marker_suffix",
       T::kString,
       ".done",
       "watch, file_complete = 'marker': the marker's suffix ('x.csv' is complete once "
       "'x.csv.done' exists). Marker files are not read.",
       {}},
      {"delete_after_read",
       T::kBool,
       "false",
       "watch: delete each file once its rows are committed in every sink (in the "
       "runtime's acknowledgement, never before).",
       {}},
      {"move_after_read",
       T::kString,
       "",
       "watch: move each file into this folder once its rows are committed in every "
       "sink.",
       {}},
      {"compression",
       T::kEnum,
       "auto",
       "CSV and JSON: the files' compression. auto: each file's extension says (.gz, "
       ".deflate, .zst, .bz2, .lz4, .snappy or .sz; none otherwise). gzip reads zlib "
       "streams too (Spark's .deflate), lz4 LZ4 frames and Hadoop's LZ4 blocks (Spark's "
       ".lz4), snappy Hadoop's blocks and the Snappy framing format.",
       {"codec"},
       {"auto", "none", "gzip", "zstd", "bz2", "lz4", "snappy"}},
  };
  for (auto& spec : StorageOptionSpecs()) specs.push_back(std::move(spec));
  for (auto& spec : HttpOptionSpecs()) specs.push_back(std::move(spec));
  return specs;
}

std::vector<OptionSpec> SinkOptionSpecs() {
  using T = OptionType;
  std::vector<OptionSpec> specs = {
      {"format",
       T::kEnum,
       "",
       "Output format; by default from the extension of the target (a directory target "
       "without one: parquet).",
       {},
       {"csv", "tsv", "json", "ndjson", "jsonl", "parquet", "ipc", "arrow", "feather",
        "orc", "avro"}},
      {"mode",
       T::kEnum,
       "error_if_exists",
       "What to do when the target exists: error_if_exists (alias error, errorifexists), "
       "overwrite (replace it at commit), append (add rows; a directory target gets new "
       "part files), ignore (write nothing).",
       {"write_mode", "save_mode"},
       {"error_if_exists", "error", "errorifexists", "overwrite", "append", "ignore"}},
      {"overwrite",
       T::kBool,
       "false",
       "DuckDB COPY: true means mode = 'overwrite'.",
       {"overwrite_or_ignore"}},
      {"append", T::kBool, "false", "DuckDB COPY: true means mode = 'append'.", {}},
      {"compression",
       T::kEnum,
       "",
       "Parquet: zstd, snappy (default), gzip, lz4, brotli, none/uncompressed. "
       "IPC: zstd, lz4 or none (default). ORC: zstd, snappy, lz4, gzip (zlib) or none "
       "(default). Avro: deflate (gzip), snappy, zstd, bz2 or none/null (default). "
       "CSV/JSON: gzip, zstd, bz2, lz4 (LZ4 frames, which Spark cannot read), snappy "
       "(Hadoop's block framing, as Spark writes) "
       "or none; by default the target's extension says (.gz, .zst, .bz2, .lz4, "
       ".snappy).",
       {"codec"},
       {"zstd", "snappy", "gzip", "deflate", "lz4", "brotli", "bz2", "none", "null",
        "uncompressed"}},
      {"compression_level",
       T::kInt,
       "",
       "Codec level (zstd 1-22, gzip 1-9, ...).",
       {"level"}},
      {"row_group_size",
       T::kInt,
       "1048576",
       "Parquet: rows per row group (as pyarrow; large groups encode faster).",
       {"row_group_size_rows", "row_group_rows"}},
      {"header", T::kBool, "true", "CSV: write a header row.", {}},
      {"dictionary",
       T::kBool,
       "true",
       "Parquet: dictionary-encode columns (falls back to plain per column page when a "
       "dictionary grows too large).",
       {"use_dictionary"}},
      {"statistics",
       T::kBool,
       "true",
       "Parquet: write min/max/null-count statistics per column chunk (readers skip row "
       "groups with them).",
       {"write_statistics"}},
      {"delimiter",
       T::kString,
       "",
       "CSV field separator (default ',', tab for .tsv).",
       {"delim", "sep", "separator"}},
      {"partition_by",
       T::kString,
       "",
       "Folder targets: hive partition columns, 'year,month' (COPY: PARTITION_BY "
       "(year, month)). Each row goes to <target>/year=2024/month=3/; the columns are "
       "not written into the files (readers take them from the folder names).",
       {"partition_cols", "partitioned_by"}},
      {"timestamp_column",
       T::kString,
       "",
       "Path templates ('lake/t/date={YYYY-MM-DD}/*.parquet'): the TIMESTAMP or DATE "
       "column whose value fills the date tokens YYYY MM DD HH mm ss; default: the "
       "first such column.",
       {"time_column"}},
      {"max_rows_per_file",
       T::kInt,
       "0",
       "Folder targets: start a new file after this many rows (0: no limit).",
       {"max_records_per_file", "file_rows"}},
      {"max_file_size",
       T::kSize,
       "",
       "Folder targets: start a new file once about this many bytes were written "
       "('128MB'; counted on the rows before compression, so files come out smaller).",
       {"file_size_bytes", "max_file_bytes"}},
      {"flush_rows",
       T::kInt,
       "",
       "Continuous pipelines: commit a part every N rows (read by the runtime).",
       {}},
      {"flush_interval",
       T::kDuration,
       "",
       "Continuous pipelines: commit at least this often (read by the runtime).",
       {}},
  };
  for (auto& spec : StorageOptionSpecs()) specs.push_back(std::move(spec));
  return specs;
}

}  // namespace flowsql::file
