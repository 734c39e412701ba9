#include "nanochat/data/parquet_nested.h"

#include <algorithm>

#include "nanochat/core/error.h"

namespace nanochat::parquet {

ListShape resolve_list_shape(const LeafColumn& leaf, std::string_view list_column, bool struct_element) {
  const std::vector<PathNode>& n = leaf.nodes;
  NC_CHECK(!n.empty(), "unsupported nesting: leaf '{}' of column '{}' is nested deeper than {} levels", leaf.path,
           list_column, kMaxRecordedPathDepth);
  NC_CHECK(n[0].name == list_column, "internal error: leaf '{}' is not under column '{}'", leaf.path, list_column);
  for (const PathNode& node : n) {
    NC_CHECK(!node.is_map, "unsupported nesting: column '{}' contains a MAP ('{}', leaf '{}'); maps are not supported",
             list_column, node.name, leaf.path);
  }
  NC_CHECK(n[0].num_children > 0, "column '{}' is a primitive column, not a LIST", list_column);
  NC_CHECK(n[0].is_list && n[0].repetition != Repetition::Repeated,
           "unsupported nesting: column '{}' is a {} group without a LIST annotation; only LIST columns are supported",
           list_column, repetition_name(n[0].repetition));
  NC_CHECK(leaf.max_repetition_level <= 1,
           "unsupported nesting: column '{}' holds lists of lists (leaf '{}' repeats {} levels deep)", list_column,
           leaf.path, leaf.max_repetition_level);
  NC_CHECK(n.size() >= 2 && n[1].repetition == Repetition::Repeated,
           "unsupported LIST layout in column '{}': its child is not a repeated group", list_column);
  // The backward-compatibility rules of the LIST spec make such a repeated group the element
  // itself (2-level layout); only the standard 3-level layout is decoded here.
  NC_CHECK(n[1].num_children == 1 && n[1].name != "array" && n[1].name != std::string(list_column) + "_tuple",
           "unsupported LIST layout in column '{}': legacy 2-level list (repeated '{}' with {} children)", list_column,
           n[1].name, n[1].num_children);
  const PathNode& element = n[2];  // exists: n[1] is a group with one child on the path
  if (struct_element) {
    NC_CHECK(element.num_children > 0, "column '{}' is a list of primitive values, not of structs", list_column);
    NC_CHECK(n.size() == 4,
             "unsupported nesting: leaf '{}' is not a direct field of column '{}''s list element (nested structs "
             "are not supported)",
             leaf.path, list_column);
  } else {
    NC_CHECK(n.size() == 3, "column '{}' is a list of groups, not of primitive values", list_column);
  }
  ListShape shape;
  shape.column = std::string(list_column);
  shape.list_defined = n[0].definition_level;
  shape.has_entries = n[1].definition_level;
  shape.element_defined = element.definition_level;
  return shape;
}

namespace {

// Walks one leaf's entries in order and reports the rows and list elements they encode:
// on_row(defined, nonempty) once per row, on_element(entry, element_defined) once per element.
// Checks every structural rule a corrupt level stream could break.
template <class OnRow, class OnElement>
void walk_list(const ListShape& shape, const std::string& leaf_path, const ColumnLevels& levels, int64_t num_rows,
               OnRow&& on_row, OnElement&& on_element) {
  NC_CHECK(levels.repetition.size() == levels.definition.size(),
           "leaf '{}' has {} repetition but {} definition levels", leaf_path, levels.repetition.size(),
           levels.definition.size());
  int64_t rows = 0;
  bool row_has_entries = false;
  for (size_t k = 0; k < levels.definition.size(); ++k) {
    const int rep = levels.repetition[k];
    const int def = levels.definition[k];
    NC_CHECK(rep <= 1, "corrupt levels in leaf '{}': entry {} has repetition level {} in a single-level list",
             leaf_path, k, rep);
    if (rep == 0) {
      NC_CHECK(rows < num_rows, "corrupt levels in leaf '{}': more rows than the row group's {}", leaf_path,
               num_rows);
      ++rows;
      row_has_entries = def >= shape.has_entries;
      on_row(def >= shape.list_defined, row_has_entries);
    } else {
      NC_CHECK(k > 0 && row_has_entries,
               "corrupt levels in leaf '{}': entry {} continues row {}, whose list is null or empty", leaf_path, k,
               rows - 1);
      NC_CHECK(def >= shape.has_entries,
               "corrupt levels in leaf '{}': entry {} repeats the list but its definition level {} is below {}",
               leaf_path, k, def, shape.has_entries);
    }
    if (def >= shape.has_entries) on_element(k, def >= shape.element_defined);
  }
  NC_CHECK(rows == num_rows, "leaf '{}' holds {} rows, but the row group has {}", leaf_path, rows, num_rows);
}

// Values are handed out in entry order to the entries at the leaf's maximum definition level.
template <class T>
class ValueCursor {
 public:
  ValueCursor(const std::vector<T>& values, const std::string& leaf_path) : values_(values), leaf_path_(leaf_path) {}
  const T& next() {
    NC_CHECK(pos_ < values_.size(), "leaf '{}' has fewer values ({}) than its definition levels require",
             leaf_path_, values_.size());
    return values_[pos_++];
  }

 private:
  const std::vector<T>& values_;
  const std::string& leaf_path_;
  size_t pos_ = 0;
};

template <class List>
void start_row(std::vector<List>& rows, bool defined) {
  if (defined) {
    rows.emplace_back(std::in_place);
  } else {
    rows.emplace_back(std::nullopt);
  }
}

}  // namespace

std::vector<StructList> assemble_list_of_structs(const ListShape& shape, std::span<const LeafColumn* const> leaves,
                                                 std::span<const ColumnLevels> levels, int64_t num_rows) {
  NC_CHECK(!leaves.empty() && leaves.size() == levels.size(), "internal error: {} leaves, {} level streams",
           leaves.size(), levels.size());
  // Every field must describe the same rows and elements; they may differ only below the element
  // (a null field in one, a value in another).
  const ColumnLevels& first = levels[0];
  for (size_t f = 1; f < levels.size(); ++f) {
    const ColumnLevels& other = levels[f];
    const auto mismatch = [&](const std::string& what) {
      fail("field columns '{}' and '{}' of list column '{}' disagree: {}", leaves[0]->path, leaves[f]->path,
           shape.column, what);
    };
    if (other.definition.size() != first.definition.size() || other.repetition.size() != first.repetition.size()) {
      mismatch(fmt::format("{} entries versus {}", first.definition.size(), other.definition.size()));
    }
    for (size_t k = 0; k < first.definition.size(); ++k) {
      if (first.repetition[k] != other.repetition[k] ||
          std::min<int>(first.definition[k], shape.element_defined) !=
              std::min<int>(other.definition[k], shape.element_defined)) {
        mismatch(fmt::format("their list structure differs at entry {}", k));
      }
    }
  }
  std::vector<ValueCursor<std::string>> cursors;
  cursors.reserve(levels.size());
  for (size_t f = 0; f < levels.size(); ++f) cursors.emplace_back(levels[f].byte_values, leaves[f]->path);

  std::vector<StructList> rows;
  rows.reserve(static_cast<size_t>(std::min<int64_t>(num_rows, static_cast<int64_t>(first.definition.size()))));
  walk_list(
      shape, leaves[0]->path, first, num_rows, [&](bool defined, bool) { start_row(rows, defined); },
      [&](size_t k, bool element_defined) {
        auto& elements = *rows.back();
        if (!element_defined) {
          elements.emplace_back(std::nullopt);
          return;
        }
        StructRow& fields = elements.emplace_back(std::in_place).value();
        fields.reserve(levels.size());
        for (size_t f = 0; f < levels.size(); ++f) {
          if (levels[f].definition[k] == levels[f].max_definition_level) {
            fields.emplace_back(cursors[f].next());
          } else {
            fields.emplace_back(std::nullopt);
          }
        }
      });
  return rows;
}

std::vector<Int64List> assemble_int64_list(const ListShape& shape, const LeafColumn& leaf, const ColumnLevels& levels,
                                           int64_t num_rows) {
  ValueCursor<int64_t> cursor(levels.int_values, leaf.path);
  std::vector<Int64List> rows;
  rows.reserve(static_cast<size_t>(std::min<int64_t>(num_rows, static_cast<int64_t>(levels.definition.size()))));
  walk_list(
      shape, leaf.path, levels, num_rows, [&](bool defined, bool) { start_row(rows, defined); },
      [&](size_t, bool element_defined) {
        if (element_defined) {
          rows.back()->emplace_back(cursor.next());
        } else {
          rows.back()->emplace_back(std::nullopt);
        }
      });
  return rows;
}

}  // namespace nanochat::parquet
