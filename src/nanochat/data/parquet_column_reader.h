// Decodes one column chunk of a flat column (max definition level <= 1, no repetition) page by
// page and hands each row's value, or its null, to a sink. Memory: the chunk bytes the caller
// read, one decompressed page, the dictionary, and per-page level/value arrays.
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

#include "nanochat/data/parquet_format.h"
#include "nanochat/data/parquet_reader_options.h"
#include "nanochat/data/parquet_schema.h"

namespace nanochat::parquet {

// Receives rows in order. Byte-array views are valid only during the call.
class ColumnSink {
 public:
  virtual ~ColumnSink() = default;
  virtual void on_null() = 0;
  virtual void on_bytes(std::string_view value) = 0;
  virtual void on_int(int64_t value) = 0;
};

// `chunk` holds the chunk's bytes, starting at its first page. Supports BYTE_ARRAY, INT32 and
// INT64 columns; throws nanochat::Error naming the unsupported feature or the corruption.
void read_column_chunk(std::span<const uint8_t> chunk, const LeafColumn& column, const ColumnMetaData& meta,
                       const ReaderOptions& options, ColumnSink& sink);

}  // namespace nanochat::parquet
