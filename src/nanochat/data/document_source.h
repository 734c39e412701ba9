// Streams training documents from local files, in a fixed order, in batches:
//   *.parquet  -> column `text`, row group by row group (the original's shard format)
//   *.jsonl    -> one JSON object per line, field `text` (configurable)
//   other      -> plain UTF-8 text: consecutive paragraphs (blank-line separated) grouped into
//                 documents of about 4 KB within a file, so a big file is neither cropped to --doc-cap
//                 as one document nor shredded into headings and table cells; .html/.htm pages are
//                 reduced to their text first, and a trailing .gz is decompressed (x.rst.gz, x.html.gz)
// Binary files met while expanding a directory (a NUL byte in their first 4 KB) are skipped.
// A directory expands to its files in sorted name order (recursively). A directory that holds parquet
// files is a shard set: only its *.parquet count, and the last shard is the validation split, left out
// of training streams as in the original.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace nanochat {

struct DocumentSourceOptions {
  std::string text_field = "text";  // JSONL field / parquet column
  bool exclude_val_shard = true;    // drop the last parquet shard of a directory
};

// Expands a comma-separated list of files/directories. Throws Error naming a missing path or an
// empty directory.
std::vector<std::filesystem::path> resolve_document_files(const std::string& comma_separated,
                                                          const DocumentSourceOptions& options = {});

// Calls on_batch with up to batch_size documents at a time, in order; on_batch returns false to stop.
void for_each_document_batch(const std::vector<std::filesystem::path>& files, size_t batch_size,
                             const std::function<bool(std::vector<std::string>&)>& on_batch,
                             const DocumentSourceOptions& options = {});

}  // namespace nanochat
