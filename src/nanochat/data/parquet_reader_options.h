// Limits and checks for reading Parquet files. The defaults suit real shards (pages of a few MB,
// row groups of ~1024 rows); lowering them bounds memory when reading untrusted files (the fuzzer
// does). Every allocation the reader makes is bounded by the file size or by these limits.
#pragma once
#include <cstdint>

namespace nanochat::parquet {

struct ReaderOptions {
  int64_t max_page_bytes = int64_t{1} << 30;       // uncompressed size of a single page
  int64_t max_row_group_rows = int64_t{1} << 26;   // rows in one row group
  int64_t max_footer_bytes = int64_t{256} << 20;   // FileMetaData size
  bool verify_page_checksums = true;               // check page CRC32s when the writer stored them
};

}  // namespace nanochat::parquet
