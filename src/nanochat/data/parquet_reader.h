// Reading Parquet files: the pretraining shards (one `text` string column), any file whose wanted
// column is flat, and LIST columns such as SmolTalk's messages: list<struct<content, role>>.
//
//   nanochat::parquet::ParquetFile file("shard_00000.parquet");
//   for (int rg = 0; rg < file.num_row_groups(); ++rg)
//     for (const std::string& doc : file.read_text_column(rg)) ...
//
// Supported: data pages v1 and v2; dictionary pages; encodings PLAIN, PLAIN_DICTIONARY,
// RLE_DICTIONARY, DELTA_LENGTH_BYTE_ARRAY (byte arrays) and DELTA_BINARY_PACKED (integers);
// codecs UNCOMPRESSED, SNAPPY, GZIP (multi-member), ZSTD, LZ4_RAW and the legacy Hadoop LZ4;
// top-level REQUIRED or OPTIONAL columns of type BYTE_ARRAY, INT32 or INT64; page CRCs; the
// levels of any leaf of those types (read_levels); and the LIST shapes of parquet_nested.h
// (list<struct<strings>>, list<int>). Anything else (maps, lists of lists, BROTLI/LZO, other
// encodings, encrypted files) throws nanochat::Error naming the file and the feature, as does
// any corruption.
//
// Memory is bounded by one column chunk: a read fetches only that chunk's byte range (pread).
// Reads are const and thread-safe: several threads may read different row groups of one file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/data/parquet_nested.h"
#include "nanochat/data/parquet_reader_options.h"

namespace nanochat::parquet {

class ParquetFile {
 public:
  // Opens the file and decodes its footer; throws nanochat::Error naming the path on failure.
  explicit ParquetFile(const std::filesystem::path& path, const ReaderOptions& options = {});
  // Reads a file image held in memory; `name` stands for the path in error messages.
  static ParquetFile from_bytes(std::string bytes, std::string name, const ReaderOptions& options = {});

  ParquetFile(ParquetFile&&) noexcept;
  ParquetFile& operator=(ParquetFile&&) noexcept;
  ~ParquetFile();

  const std::string& name() const;
  int num_row_groups() const;
  int64_t num_rows() const;                   // as the footer states it
  int64_t row_group_num_rows(int row_group) const;
  std::vector<std::string> column_names() const;  // leaf columns, dotted paths ("a", "e.list.element")
  const std::string& created_by() const;

  // One row group of a BYTE_ARRAY column; nulls as nullopt.
  std::vector<std::optional<std::string>> read_byte_array_column(int row_group, std::string_view column) const;
  // For text shards: a BYTE_ARRAY column without nulls whose values are valid UTF-8; throws
  // naming the row (within the row group) otherwise.
  std::vector<std::string> read_text_column(int row_group, std::string_view column = "text") const;
  // One row group of an INT32 or INT64 column, widened to int64; nulls as nullopt.
  std::vector<std::optional<int64_t>> read_int64_column(int row_group, std::string_view column) const;

  // Nested columns. Errors name the file, row group and column.
  // The stored levels and values of one leaf (dotted path, e.g. "messages.list.element.role").
  ColumnLevels read_levels(int row_group, std::string_view leaf_column) const;
  // One row group of a top-level list<struct<...>> column, one entry per row, keeping the
  // requested string fields (names of the element's children, e.g. {"role", "content"}).
  std::vector<StructList> read_list_of_struct_column(int row_group, std::string_view list_column,
                                                     std::span<const std::string_view> fields) const;
  // One row group of a top-level list<INT32 or INT64> column.
  std::vector<Int64List> read_int64_list_column(int row_group, std::string_view list_column) const;

 private:
  struct Impl;
  explicit ParquetFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nanochat::parquet
