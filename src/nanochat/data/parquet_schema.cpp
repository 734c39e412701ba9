#include "nanochat/data/parquet_schema.h"

#include "nanochat/core/error.h"

namespace nanochat::parquet {

std::vector<LeafColumn> flatten_schema(const std::vector<SchemaElement>& schema) {
  NC_CHECK(!schema.empty(), "corrupt schema: no root element");
  NC_CHECK(schema[0].num_children >= 0, "corrupt schema: root has {} children", schema[0].num_children);

  // An explicit stack of open groups (no recursion, so a deep schema cannot overflow the stack).
  struct OpenGroup {
    std::string path;
    int remaining_children;
    int def_level;
    int rep_level;
    int depth;
    PathNode node;  // this group as a path component (unused for the root)
  };
  std::vector<OpenGroup> stack;
  stack.push_back({"", schema[0].num_children, 0, 0, 0, PathNode{}});
  std::vector<LeafColumn> leaves;
  size_t i = 1;
  while (!stack.empty()) {
    OpenGroup& top = stack.back();
    if (top.remaining_children == 0) {
      stack.pop_back();
      continue;
    }
    --top.remaining_children;
    NC_CHECK(i < schema.size(), "corrupt schema: child counts exceed the {} schema elements", schema.size());
    const SchemaElement& e = schema[i++];
    NC_CHECK(e.num_children >= 0, "corrupt schema: element '{}' has {} children", e.name, e.num_children);
    const Repetition rep = e.repetition.value_or(Repetition::Required);
    NC_CHECK(rep == Repetition::Required || rep == Repetition::Optional || rep == Repetition::Repeated,
             "corrupt schema: element '{}' has {}", e.name, repetition_name(rep));
    const int def = top.def_level + (rep == Repetition::Required ? 0 : 1);
    const int repl = top.rep_level + (rep == Repetition::Repeated ? 1 : 0);
    std::string path = top.path.empty() ? e.name : top.path + "." + e.name;
    const int depth = top.depth + 1;
    PathNode node;
    node.name = e.name;
    node.repetition = rep;
    node.definition_level = def;
    node.repetition_level = repl;
    node.num_children = e.num_children;
    node.is_list = e.converted_type == kConvertedTypeList || e.logical_type_id == kLogicalTypeList;
    node.is_map = e.converted_type == kConvertedTypeMap || e.converted_type == kConvertedTypeMapKeyValue ||
                  e.logical_type_id == kLogicalTypeMap;
    if (e.num_children > 0) {
      stack.push_back({std::move(path), e.num_children, def, repl, depth, std::move(node)});  // invalidates `top`
      continue;
    }
    NC_CHECK(e.type.has_value(), "corrupt schema: '{}' is neither a group with children nor a typed leaf", path);
    LeafColumn leaf;
    leaf.path = std::move(path);
    leaf.chunk_index = leaves.size();
    leaf.type = *e.type;
    leaf.max_definition_level = def;
    leaf.max_repetition_level = repl;
    leaf.depth = depth;
    leaf.is_string = e.converted_type == kConvertedTypeUtf8 || e.logical_type_string;
    // Bounded so that a hostile schema (a long chain with many leaves) stays linear to flatten.
    if (depth <= kMaxRecordedPathDepth) {
      for (size_t k = 1; k < stack.size(); ++k) leaf.nodes.push_back(stack[k].node);
      leaf.nodes.push_back(std::move(node));
    }
    leaves.push_back(std::move(leaf));
  }
  NC_CHECK(i == schema.size(), "corrupt schema: {} elements, but the tree uses {}", schema.size(), i);
  return leaves;
}

}  // namespace nanochat::parquet
