// The flattened Parquet schema: the leaf columns of FileMetaData.schema, in column-chunk order,
// with their dotted paths and maximum definition/repetition levels.
#pragma once
#include <string>
#include <vector>

#include "nanochat/data/parquet_format.h"

namespace nanochat::parquet {

struct LeafColumn {
  std::string path;  // dotted, e.g. "text" or "e.list.element"
  size_t chunk_index = 0;
  PhysicalType type = PhysicalType::ByteArray;
  int max_definition_level = 0;
  int max_repetition_level = 0;
  int depth = 1;  // number of path components below the root
  bool is_string = false;  // UTF8 converted type or STRING logical type

  // Top-level, non-repeated: the only shape this reader decodes.
  bool is_flat() const { return depth == 1 && max_repetition_level == 0; }
};

// Walks the depth-first schema list; throws on malformed trees (bad child counts, leaves
// without a type, groups without children).
std::vector<LeafColumn> flatten_schema(const std::vector<SchemaElement>& schema);

}  // namespace nanochat::parquet
