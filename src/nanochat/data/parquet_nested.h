// Nested Parquet columns: the Dremel levels of a leaf, the LIST layouts this reader understands,
// and reassembly of levels into rows. Used by ParquetFile's nested readers (parquet_reader.h).
//
// Supported: a top-level LIST column (optional or required) in the standard 3-level layout
//   <list> (LIST) -> repeated group -> element
// whose element is a primitive leaf (list<int64>, list<string>) or a group of primitive leaves
// (list<struct<...>>, e.g. SmolTalk's messages: list<struct<content, role>>). Nulls are kept apart
// at every level: null list, empty list, null element, null field. Maps, lists of lists, structs
// nested in elements and the legacy 2-level layouts throw nanochat::Error naming the column.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/data/parquet_schema.h"

namespace nanochat::parquet {

// One row group of one leaf column as stored: a (repetition, definition) pair per entry and the
// values of the entries whose definition level is the maximum (the non-null leaves), in order.
struct ColumnLevels {
  int max_definition_level = 0;
  int max_repetition_level = 0;
  std::vector<uint8_t> repetition;         // one per entry; 0 starts a row
  std::vector<uint8_t> definition;         // one per entry
  std::vector<std::string> byte_values;    // BYTE_ARRAY leaves
  std::vector<int64_t> int_values;         // INT32 (sign-extended) and INT64 leaves
};

// A list<struct<...>> element: the requested fields in request order; a null field is nullopt.
using StructRow = std::vector<std::optional<std::string>>;
// One row of a list<struct<...>> column: nullopt for a null list, else its elements (a null
// element is nullopt).
using StructList = std::optional<std::vector<std::optional<StructRow>>>;
using Int64List = std::optional<std::vector<std::optional<int64_t>>>;

// Where a LIST column's parts become defined, as definition levels (see resolve_list_shape).
struct ListShape {
  std::string column;      // the top-level list's name
  int list_defined = 0;    // definition >= this: the list is not null
  int has_entries = 0;     // definition >= this: the entry is an element (the list is non-empty)
  int element_defined = 0; // definition >= this: the element is not null
};

// Checks that `leaf` sits in a supported LIST layout under top-level column `list_column` and
// returns the shape. `struct_element`: the element must be a group whose direct child is `leaf`;
// otherwise the element must be `leaf` itself. Throws naming the column and the unsupported part.
ListShape resolve_list_shape(const LeafColumn& leaf, std::string_view list_column, bool struct_element);

// Reassembles rows from the leaves' levels. `num_rows` is the row group's row count; every
// leaf must describe exactly that many rows with the same list/element structure. Errors name
// the leaf paths (the caller adds file and row group).
std::vector<StructList> assemble_list_of_structs(const ListShape& shape, std::span<const LeafColumn* const> leaves,
                                                 std::span<const ColumnLevels> levels, int64_t num_rows);
std::vector<Int64List> assemble_int64_list(const ListShape& shape, const LeafColumn& leaf,
                                           const ColumnLevels& levels, int64_t num_rows);

}  // namespace nanochat::parquet
