// The flattened Parquet schema: the leaf columns of FileMetaData.schema, in column-chunk order,
// with their dotted paths and maximum definition/repetition levels.
#pragma once
#include <string>
#include <vector>

#include "nanochat/data/parquet_format.h"

namespace nanochat::parquet {

// One schema element on a leaf's path (root excluded, leaf included), as nested readers need it
// to tell lists, structs and maps apart.
struct PathNode {
  std::string name;
  Repetition repetition = Repetition::Required;
  int definition_level = 0;  // a value at this level or deeper is defined from this node down
  int repetition_level = 0;
  int num_children = 0;      // 0 for the leaf
  bool is_list = false;      // LIST annotation (converted or logical type)
  bool is_map = false;       // MAP / MAP_KEY_VALUE annotation
};

// Leaves deeper than this get no `nodes` (no reader here decodes them; see parquet_nested.h).
inline constexpr int kMaxRecordedPathDepth = 16;

struct LeafColumn {
  std::string path;  // dotted, e.g. "text" or "e.list.element"
  size_t chunk_index = 0;
  PhysicalType type = PhysicalType::ByteArray;
  int max_definition_level = 0;
  int max_repetition_level = 0;
  int depth = 1;  // number of path components below the root
  bool is_string = false;  // UTF8 converted type or STRING logical type
  std::vector<PathNode> nodes;  // the path from the top-level field down to this leaf (see above)

  // Top-level, non-repeated: the shape the flat readers decode (nested ones: parquet_nested.h).
  bool is_flat() const { return depth == 1 && max_repetition_level == 0; }
};

// Walks the depth-first schema list; throws on malformed trees (bad child counts, leaves
// without a type, groups without children).
std::vector<LeafColumn> flatten_schema(const std::vector<SchemaElement>& schema);

}  // namespace nanochat::parquet
