// Nested columns: SmolTalk-shaped list<struct<content, role>> files written by pyarrow 25.0.1
// (tests/data/fixtures/make_smoltalk_fixtures.py; expected rows in the JSONL files next to them),
// parquet-testing's datapage_v2.snappy.parquet list<int32> column, hand-made footers for the
// layouts we refuse (maps, lists of lists), and corrupted level streams.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/data/parquet_codecs.h"
#include "nanochat/data/parquet_metadata.h"
#include "nanochat/data/parquet_reader.h"
#include "nanochat/data/parquet_schema.h"
#include "test_support.h"

namespace nanochat::parquet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string_view kFields[] = {"content", "role"};

fs::path fixture(const std::string& name) { return fs::path(NANOCHAT_SOURCE_DIR) / "tests/data/fixtures" / name; }

using test::expect_error;

std::vector<json> read_expected(const std::string& name) {
  std::vector<json> rows;
  const std::string text = read_file(fixture(name));
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) rows.push_back(json::parse(text.substr(pos, end - pos)));
    pos = end + 1;
  }
  return rows;
}

json to_json(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

// A SmolTalk row as pyarrow's to_pylist() + json.dumps would print it.
json row_to_json(const StructList& messages, const std::optional<std::string>& source) {
  json m = nullptr;
  if (messages) {
    m = json::array();
    for (const auto& element : *messages) {
      if (!element) {
        m.push_back(nullptr);
        continue;
      }
      m.push_back({{"content", to_json((*element)[0])}, {"role", to_json((*element)[1])}});
    }
  }
  return {{"messages", m}, {"source", to_json(source)}};
}

// Every row of every row group, in file order.
std::vector<json> read_all_rows(const ParquetFile& f) {
  std::vector<json> rows;
  for (int rg = 0; rg < f.num_row_groups(); ++rg) {
    const auto messages = f.read_list_of_struct_column(rg, "messages", kFields);
    const auto source = f.read_byte_array_column(rg, "source");
    EXPECT_EQ(static_cast<int64_t>(messages.size()), f.row_group_num_rows(rg));
    EXPECT_EQ(messages.size(), source.size());
    for (size_t i = 0; i < messages.size() && i < source.size(); ++i) {
      rows.push_back(row_to_json(messages[i], source[i]));
    }
  }
  return rows;
}

void expect_rows_equal(const std::vector<json>& got, const std::vector<json>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "row " << i;
}

TEST(ParquetNested, SchemaRecordsListAnnotationsAndLevels) {
  ParquetFile f(fixture("smoltalk_snappy.parquet"));
  EXPECT_EQ(f.column_names(),
            (std::vector<std::string>{"messages.list.element.content", "messages.list.element.role", "source"}));
  const ColumnLevels levels = f.read_levels(0, "messages.list.element.role");
  EXPECT_EQ(levels.max_definition_level, 4);  // optional list, repeated group, optional element, optional field
  EXPECT_EQ(levels.max_repetition_level, 1);
}

TEST(ParquetNested, SmolTalkSnappyDictionaryRowsMatchPyarrow) {
  ParquetFile f(fixture("smoltalk_snappy.parquet"));
  ASSERT_EQ(f.num_row_groups(), 3);
  EXPECT_EQ(f.row_group_num_rows(0), 128);
  EXPECT_EQ(f.row_group_num_rows(2), 44);
  expect_rows_equal(read_all_rows(f), read_expected("smoltalk_expected.jsonl"));
  // Field order follows the request, not the schema.
  const std::string_view reversed[] = {"role", "content"};
  const auto rows = f.read_list_of_struct_column(0, "messages", reversed);
  ASSERT_TRUE(rows[0].has_value());
  EXPECT_EQ((*rows[0])[0]->at(0), "system");
  EXPECT_EQ((*rows[0])[0]->at(1), "You are helpful assistant #0.");
}

TEST(ParquetNested, SmolTalkZstdDataPageV2RowsMatchPyarrow) {
  const fs::path path = fixture("smoltalk_zstd_v2.parquet");
  if (!fs::exists(path)) GTEST_SKIP() << "missing " << path.string() << " (added by make_smoltalk_fixtures.py)";
  ParquetFile f(path);
  expect_rows_equal(read_all_rows(f), read_expected("smoltalk_expected.jsonl"));
}

TEST(ParquetNested, EdgeNullsAreKeptApart) {
  ParquetFile f(fixture("smoltalk_edge_nulls.parquet"));
  expect_rows_equal(read_all_rows(f), read_expected("smoltalk_edge_expected.jsonl"));
  const auto rows = f.read_list_of_struct_column(0, "messages", kFields);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_FALSE(rows[1].has_value());                    // null list
  ASSERT_TRUE(rows[2].has_value());
  EXPECT_TRUE(rows[2]->empty());                        // empty list
  ASSERT_TRUE(rows[3].has_value());
  ASSERT_EQ(rows[3]->size(), 1u);
  EXPECT_FALSE((*rows[3])[0].has_value());              // [null]
  ASSERT_TRUE((*rows[4])[0].has_value());
  EXPECT_EQ(*(*rows[4])[0], (StructRow{std::nullopt, "user"}));  // null content
  EXPECT_EQ(*(*rows[5])[0], (StructRow{"", "assistant"}));        // empty string is not null
  EXPECT_EQ(*(*rows[5])[1], (StructRow{"z", std::nullopt}));      // null role
}

TEST(ParquetNested, EdgeLevelsAreTheDremelEncoding) {
  ParquetFile f(fixture("smoltalk_edge_nulls.parquet"));
  // Rows: [a], null, [], [null], [{null, user}], [{"", assistant}, {z, null}].
  const ColumnLevels content = f.read_levels(0, "messages.list.element.content");
  EXPECT_EQ(content.repetition, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(content.definition, (std::vector<uint8_t>{4, 0, 1, 2, 3, 4, 4}));
  EXPECT_EQ(content.byte_values, (std::vector<std::string>{"a", "", "z"}));
  const ColumnLevels role = f.read_levels(0, "messages.list.element.role");
  EXPECT_EQ(role.definition, (std::vector<uint8_t>{4, 0, 1, 2, 4, 4, 3}));
  EXPECT_EQ(role.byte_values, (std::vector<std::string>{"user", "user", "assistant"}));
  const ColumnLevels source = f.read_levels(0, "source");  // a flat column through the leveled path
  EXPECT_EQ(source.max_repetition_level, 0);
  EXPECT_EQ(source.definition, (std::vector<uint8_t>{1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(source.byte_values, (std::vector<std::string>{"x", "y", "z", "w", "v"}));
}

TEST(ParquetNested, ApiErrorsNameFileAndColumn) {
  ParquetFile f(fixture("smoltalk_edge_nulls.parquet"));
  expect_error([&] { f.read_byte_array_column(0, "messages"); }, {"smoltalk_edge_nulls.parquet", "nested"});
  const std::string_view missing[] = {"content", "name"};
  expect_error([&] { f.read_list_of_struct_column(0, "messages", missing); },
               {"smoltalk_edge_nulls.parquet", "row group 0", "'messages'", "no field 'name'", "role"});
  expect_error([&] { f.read_list_of_struct_column(0, "source", kFields); }, {"'source'", "not a LIST"});
  expect_error([&] { f.read_list_of_struct_column(0, "nope", kFields); }, {"no column 'nope'"});
  expect_error([&] { f.read_list_of_struct_column(1, "messages", kFields); }, {"row group 1 out of range"});
  expect_error([&] { f.read_int64_list_column(0, "messages"); }, {"list of groups"});
  expect_error([&] { f.read_levels(0, "messages.list"); }, {"no column 'messages.list'"});
}

TEST(ParquetNested, DataPageV2ListOfInt32) {
  NC_REQUIRE_SHARED(path, "data/parquet-testing/datapage_v2.snappy.parquet");
  ParquetFile f(path);
  // Column e of the file's generator (parquet-mr's datapage v2 test): [1,2,3], null, null, [1,2,3], [1,2].
  const auto e = f.read_int64_list_column(0, "e");
  ASSERT_EQ(e.size(), 5u);
  using L = std::vector<std::optional<int64_t>>;
  EXPECT_EQ(e[0], (L{1, 2, 3}));
  EXPECT_FALSE(e[1].has_value());
  EXPECT_FALSE(e[2].has_value());
  EXPECT_EQ(e[3], (L{1, 2, 3}));
  EXPECT_EQ(e[4], (L{1, 2}));
  expect_error([&] { f.read_int64_list_column(0, "a"); }, {"datapage_v2.snappy.parquet", "'a'", "not a LIST"});
}

// --- Hand-made footers for layouts the reader must refuse ---------------------------------------

SchemaElement group(std::string name, Repetition rep, int children, std::optional<int32_t> converted = {}) {
  SchemaElement e;
  e.name = std::move(name);
  e.repetition = rep;
  e.num_children = children;
  e.converted_type = converted;
  return e;
}

SchemaElement leaf(std::string name, Repetition rep, PhysicalType type) {
  SchemaElement e;
  e.name = std::move(name);
  e.repetition = rep;
  e.type = type;
  return e;
}

// A file with `schema` and one empty row group; no reader gets as far as the data.
std::string footer_only_file(std::vector<SchemaElement> schema, size_t num_leaves) {
  FileMetaData meta;
  meta.version = 1;
  meta.schema = std::move(schema);
  RowGroup rg;
  rg.num_rows = 0;
  for (size_t i = 0; i < num_leaves; ++i) {
    ColumnChunk c;
    ColumnMetaData m;
    m.type = PhysicalType::Int32;
    m.data_page_offset = 4;
    c.meta_data = m;
    rg.columns.push_back(c);
  }
  meta.row_groups.push_back(rg);
  const std::string footer = encode_file_metadata(meta);
  std::string bytes = "PAR1" + footer;
  const auto len = static_cast<uint32_t>(footer.size());
  for (int k = 0; k < 4; ++k) bytes += static_cast<char>((len >> (8 * k)) & 0xff);
  return bytes + "PAR1";
}

TEST(ParquetNested, MapsAndListsOfListsAreRefused) {
  const auto map_file = ParquetFile::from_bytes(
      footer_only_file({group("schema", Repetition::Required, 1),
                        group("m", Repetition::Optional, 1, kConvertedTypeMap),
                        group("key_value", Repetition::Repeated, 2),
                        leaf("key", Repetition::Required, PhysicalType::ByteArray),
                        leaf("value", Repetition::Optional, PhysicalType::ByteArray)},
                       2),
      "map.parquet");
  const std::string_view kv[] = {"key", "value"};
  expect_error([&] { map_file.read_list_of_struct_column(0, "m", kv); },
               {"map.parquet", "'m'", "maps are not supported"});
  expect_error([&] { map_file.read_int64_list_column(0, "m"); }, {"maps are not supported"});

  const auto nested_file = ParquetFile::from_bytes(
      footer_only_file({group("schema", Repetition::Required, 1),
                        group("a", Repetition::Optional, 1, kConvertedTypeList),
                        group("list", Repetition::Repeated, 1),
                        group("element", Repetition::Optional, 1, kConvertedTypeList),
                        group("list", Repetition::Repeated, 1),
                        leaf("element", Repetition::Optional, PhysicalType::Int32)},
                       1),
      "lol.parquet");
  expect_error([&] { nested_file.read_int64_list_column(0, "a"); }, {"lol.parquet", "'a'", "lists of lists"});
  expect_error([&] { nested_file.read_list_of_struct_column(0, "a", kFields); }, {"lists of lists"});

  const auto legacy_file = ParquetFile::from_bytes(
      footer_only_file({group("schema", Repetition::Required, 1),
                        group("b", Repetition::Optional, 1, kConvertedTypeList),
                        leaf("array", Repetition::Repeated, PhysicalType::Int32)},
                       1),
      "legacy.parquet");
  expect_error([&] { legacy_file.read_int64_list_column(0, "b"); }, {"legacy 2-level"});

  const auto struct_file = ParquetFile::from_bytes(
      footer_only_file({group("schema", Repetition::Required, 1), group("s", Repetition::Optional, 1),
                        leaf("x", Repetition::Optional, PhysicalType::Int32)},
                       1),
      "struct.parquet");
  expect_error([&] { struct_file.read_int64_list_column(0, "s"); }, {"'s'", "without a LIST annotation"});
}

// --- Mismatched field columns ----------------------------------------------------------------

TEST(ParquetNested, FieldColumnsWithDifferentRowsAreAnError) {
  const std::string original = read_file(fixture("smoltalk_snappy.parquet"));
  const uint32_t footer_len = [&] {
    uint32_t v = 0;
    std::memcpy(&v, original.data() + original.size() - 8, 4);
    return v;
  }();
  const size_t data_end = original.size() - 8 - footer_len;
  FileMetaData meta = decode_file_metadata(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(original.data()) + data_end, footer_len));
  ASSERT_EQ(meta.row_groups.size(), 3u);
  // Row group 2 (44 rows) gets row group 0's `role` chunk (128 rows).
  meta.row_groups[2].columns[1] = meta.row_groups[0].columns[1];
  const std::string footer = encode_file_metadata(meta);
  std::string bytes = original.substr(0, data_end) + footer;
  const auto len = static_cast<uint32_t>(footer.size());
  for (int k = 0; k < 4; ++k) bytes += static_cast<char>((len >> (8 * k)) & 0xff);
  bytes += "PAR1";
  const auto f = ParquetFile::from_bytes(bytes, "swapped.parquet");
  EXPECT_EQ(f.read_list_of_struct_column(0, "messages", kFields).size(), 128u);  // untouched groups still read
  expect_error([&] { f.read_list_of_struct_column(2, "messages", kFields); },
               {"swapped.parquet", "row group 2", "'messages'", "messages.list.element.content",
                "messages.list.element.role", "disagree"});
  // Read alone, the swapped leaf describes more rows than its row group has.
  const std::string_view role_only[] = {"role"};
  expect_error([&] { f.read_list_of_struct_column(2, "messages", role_only); }, {"row group 2", "rows"});
}

TEST(ParquetNested, AssemblyRejectsInconsistentLevels) {
  ParquetFile f(fixture("smoltalk_edge_nulls.parquet"));
  const ColumnLevels good = f.read_levels(0, "messages.list.element.content");
  const auto columns = f.column_names();
  LeafColumn content;
  content.path = columns[0];
  content.max_definition_level = 4;
  content.max_repetition_level = 1;
  const ListShape shape{"messages", 1, 2, 3};
  const LeafColumn* leaves[] = {&content};
  // The real levels assemble into the six rows.
  ColumnLevels ok[] = {good};
  EXPECT_EQ(assemble_list_of_structs(shape, leaves, ok, 6).size(), 6u);

  const auto expect_corrupt = [&](ColumnLevels bad, int64_t rows, const std::string& fragment) {
    ColumnLevels one[] = {std::move(bad)};
    expect_error([&] { assemble_list_of_structs(shape, leaves, one, rows); }, {fragment});
  };
  ColumnLevels continues_null = good;
  continues_null.repetition[2] = 1;  // the empty list of row 2 "continues" the null list of row 1
  expect_corrupt(continues_null, 6, "null or empty");
  ColumnLevels first_continues = good;
  first_continues.repetition[0] = 1;
  expect_corrupt(first_continues, 6, "continues row");
  ColumnLevels shallow_repeat = good;
  shallow_repeat.definition[6] = 1;
  expect_corrupt(shallow_repeat, 6, "below");
  ColumnLevels too_few_values = good;
  too_few_values.byte_values.pop_back();
  expect_corrupt(too_few_values, 6, "fewer values");
  expect_corrupt(good, 5, "more rows");
  expect_corrupt(good, 7, "holds 6 rows");
}

// --- Corrupted level streams in real pages ---------------------------------------------------

// The edge file's `content` data page, located through its page headers. Snappy stores a short
// page as one literal, so its decompressed bytes appear verbatim and can be patched in place.
struct PagePatch {
  std::string bytes;
  size_t page_body = 0;  // offset of the data page's compressed body
  size_t literal = 0;    // offset of the page's first decompressed byte inside the body
};

PagePatch locate_content_page() {
  PagePatch p;
  p.bytes = read_file(fixture("smoltalk_edge_nulls.parquet"));
  uint32_t footer_len = 0;
  std::memcpy(&footer_len, p.bytes.data() + p.bytes.size() - 8, 4);
  const size_t data_end = p.bytes.size() - 8 - footer_len;
  const auto* base = reinterpret_cast<const uint8_t*>(p.bytes.data());
  const FileMetaData meta = decode_file_metadata(std::span<const uint8_t>(base + data_end, footer_len));
  const ColumnMetaData& m = *meta.row_groups[0].columns[0].meta_data;
  EXPECT_EQ(m.codec, Codec::Snappy);
  size_t pos = static_cast<size_t>(m.dictionary_page_offset.value_or(m.data_page_offset));
  for (;;) {
    size_t header_size = 0;
    const PageHeader h = decode_page_header(std::span<const uint8_t>(base + pos, data_end - pos), header_size);
    pos += header_size;
    if (h.type == PageType::DataPage) {
      EXPECT_FALSE(h.crc.has_value());  // else the patches below would only test the checksum
      p.page_body = pos;
      break;
    }
    pos += static_cast<size_t>(h.compressed_page_size);
  }
  // Snappy: varint uncompressed length, then a literal tag ((len-1) << 2, or 60 << 2 + 1 length byte).
  size_t q = p.page_body;
  while (static_cast<uint8_t>(p.bytes[q]) & 0x80) ++q;
  ++q;
  const auto tag = static_cast<uint8_t>(p.bytes[q]);
  EXPECT_EQ(tag & 3, 0) << "first snappy element is not a literal";
  p.literal = q + ((tag >> 2) < 60 ? 1 : 1 + ((tag >> 2) - 59));
  return p;
}

TEST(ParquetNested, CorruptLevelStreamsGiveErrors) {
  test::TempDir dir;
  const PagePatch page = locate_content_page();
  const auto read_patched = [&](const std::string& bytes) {
    const fs::path copy = dir.path() / "patched.parquet";
    write_file_atomic(copy, bytes);
    ParquetFile f(copy);
    return f.read_list_of_struct_column(0, "messages", kFields);
  };
  ASSERT_EQ(read_patched(page.bytes).size(), 6u);  // unpatched copy reads

  // v1 page: 4-byte repetition-level length, RLE levels, 4-byte definition-level length, levels.
  std::string huge_rep_len = page.bytes;
  huge_rep_len[page.literal + 3] = '\x7f';
  expect_error([&] { read_patched(huge_rep_len); }, {"patched.parquet", "row group 0", "repetition levels"});

  uint32_t rep_len = 0;
  std::memcpy(&rep_len, page.bytes.data() + page.literal, 4);
  const size_t def_stream = page.literal + 4 + rep_len + 4;
  std::string wide_def = page.bytes;
  const auto header = static_cast<uint8_t>(wide_def[def_stream]);
  if (header & 1) {  // bit-packed groups of 3-bit levels: all ones gives level 7 > 4
    for (size_t k = 1; k <= 3; ++k) wide_def[def_stream + k] = '\xff';
  } else {  // an RLE run: its one-byte value
    wide_def[def_stream + 1] = '\x07';
  }
  expect_error([&] { read_patched(wide_def); }, {"definition level 7 exceeds the column's maximum 4"});

  std::string empty_run = page.bytes;
  empty_run[page.literal + 4] = '\x00';  // first repetition-level run header: an RLE run of length 0
  expect_error([&] { read_patched(empty_run); }, {"patched.parquet", "RLE"});

  // Truncating the copy inside its data region leaves no footer to open.
  std::string truncated = page.bytes.substr(0, page.page_body + 3);
  expect_error([&] { read_patched(truncated); }, {"patched.parquet"});
}

TEST(ParquetNested, MutatedNestedFilesNeverCrash) {
  std::vector<std::string> sources = {read_file(fixture("smoltalk_snappy.parquet")),
                                      read_file(fixture("smoltalk_edge_nulls.parquet"))};
  const fs::path v2 = fixture("smoltalk_zstd_v2.parquet");
  if (fs::exists(v2)) sources.push_back(read_file(v2));
  std::mt19937_64 rng(7);
  int reads = 0, errors = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::string bytes = sources[rng() % sources.size()];
    // Flip bits in the data region (the first 90%: page headers, levels and values).
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      const size_t pos = 4 + rng() % (bytes.size() * 9 / 10 - 4);
      bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << (rng() % 8)));
    }
    try {
      const auto f = ParquetFile::from_bytes(bytes, "mutant");
      for (int rg = 0; rg < f.num_row_groups(); ++rg) {
        ++reads;
        try {
          (void)f.read_list_of_struct_column(rg, "messages", kFields);
          (void)f.read_levels(rg, "messages.list.element.role");
        } catch (const Error&) {
          ++errors;
        }
      }
    } catch (const Error&) {
    }
  }
  EXPECT_GT(reads, 0);
  EXPECT_GT(errors, 0);  // some mutations must have been detected
}

}  // namespace
}  // namespace nanochat::parquet
