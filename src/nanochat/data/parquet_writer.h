// Writing pretraining shards in the format the original publishes (spec §9.1): one OPTIONAL
// BYTE_ARRAY column `text` annotated as a UTF-8 string, PLAIN encoding without a dictionary,
// zstd (level 3), data pages v1, no statistics, row groups of 1024 documents. pyarrow reads
// the result as a table with one string column.
//
// The file is streamed to "<path>.tmp.<pid>" one row group at a time (memory: one row group),
// flushed to disk and renamed over `path` by finish(); a writer destroyed before finish()
// removes its temporary file, so a crash never leaves a half-written shard under `path`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/data/parquet_format.h"

namespace nanochat::parquet {

struct WriteOptions {
  int64_t row_group_size = 1024;       // documents per row group
  int zstd_level = 3;
  int64_t data_page_size = 1 << 20;    // a page is closed once its values reach this many bytes
};

class TextShardWriter {
 public:
  explicit TextShardWriter(const std::filesystem::path& path, const WriteOptions& options = {});
  TextShardWriter(const TextShardWriter&) = delete;
  TextShardWriter& operator=(const TextShardWriter&) = delete;
  ~TextShardWriter();

  // Appends one document; it must be valid UTF-8 (the column is a string column).
  void add(std::string_view doc);
  // Writes the last row group and the footer, syncs, and renames into place.
  void finish();
  int64_t num_docs() const { return num_docs_; }

 private:
  void flush_page();
  void flush_row_group();
  void write_bytes(std::string_view bytes);

  std::filesystem::path path_;
  std::string tmp_path_;
  WriteOptions options_;
  int fd_ = -1;
  int64_t offset_ = 0;
  bool finished_ = false;

  std::string page_values_;  // PLAIN-encoded values of the open page
  int64_t page_count_ = 0;
  std::string chunk_;        // encoded pages of the open row group
  int64_t chunk_uncompressed_ = 0;
  int64_t group_count_ = 0;
  int64_t num_docs_ = 0;
  std::vector<RowGroup> row_groups_;
};

// Writes `docs` as one shard (see TextShardWriter).
void write_text_shard(const std::filesystem::path& path, const std::vector<std::string>& docs,
                      const WriteOptions& options = {});

}  // namespace nanochat::parquet
