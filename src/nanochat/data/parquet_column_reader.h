// Decodes one column chunk page by page and hands each row's value, or its null, to a sink.
// Flat columns (max definition level <= 1, no repetition) take read_column_chunk; nested or
// repeated leaves take read_leveled_column_chunk, which also reports each entry's repetition and
// definition levels (the Dremel encoding that parquet_nested.h reassembles into rows).
// Memory: the chunk bytes the caller read, one decompressed page, the dictionary, and per-page
// level/value arrays.
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

// Receives every level entry of a nested leaf: on_levels(rep, def) first, then on_bytes/on_int
// when def equals the leaf's maximum definition level, else on_null.
class LevelSink : public ColumnSink {
 public:
  virtual void on_levels(uint32_t repetition, uint32_t definition) = 0;
};

// `chunk` holds the chunk's bytes, starting at its first page. Supports BYTE_ARRAY, INT32 and
// INT64 columns; throws nanochat::Error naming the unsupported feature or the corruption.
void read_column_chunk(std::span<const uint8_t> chunk, const LeafColumn& column, const ColumnMetaData& meta,
                       const ReaderOptions& options, ColumnSink& sink);

// Any leaf (flat, nested or repeated) of type BYTE_ARRAY, INT32 or INT64. Levels are checked
// against the column's maxima; the chunk's first entry must start a row (repetition 0).
void read_leveled_column_chunk(std::span<const uint8_t> chunk, const LeafColumn& column,
                               const ColumnMetaData& meta, const ReaderOptions& options, LevelSink& sink);

}  // namespace nanochat::parquet
