// Conformance: files from apache/parquet-testing (expected values from the upstream README, the
// files' documented generators, and their visible PLAIN/dictionary bytes) and the pretraining
// shards (document and character counts from shared/data/shards/SOURCE.md).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/utf8.h"
#include "nanochat/data/parquet_reader.h"
#include "test_support.h"

namespace nanochat::parquet {
namespace {

using OptStrings = std::vector<std::optional<std::string>>;
using OptInts = std::vector<std::optional<int64_t>>;

std::string testing_file(const std::string& name) { return "data/parquet-testing/" + name; }

using test::expect_error;

OptStrings all_present(const std::vector<std::string>& v) { return OptStrings(v.begin(), v.end()); }

TEST(ParquetTesting, BinaryPlainWithoutUtf8Annotation) {
  NC_REQUIRE_SHARED(path, testing_file("binary.parquet"));
  ParquetFile f(path);
  EXPECT_EQ(f.num_rows(), 12);
  ASSERT_EQ(f.column_names(), std::vector<std::string>{"foo"});
  // Twelve one-byte values 0x00..0x0b (visible in the uncompressed PLAIN page).
  OptStrings want;
  for (int i = 0; i < 12; ++i) want.emplace_back(std::string(1, static_cast<char>(i)));
  EXPECT_EQ(f.read_byte_array_column(0, "foo"), want);
}

TEST(ParquetTesting, AllTypesPlainDictionaryStringColumns) {
  NC_REQUIRE_SHARED(path, testing_file("alltypes_plain.parquet"));
  ParquetFile f(path);
  EXPECT_EQ(f.num_rows(), 8);
  EXPECT_EQ(f.num_row_groups(), 1);
  EXPECT_EQ(f.read_int64_column(0, "id"), (OptInts{4, 5, 6, 7, 2, 3, 0, 1}));
  EXPECT_EQ(f.read_byte_array_column(0, "date_string_col"),
            all_present({"03/01/09", "03/01/09", "04/01/09", "04/01/09", "02/01/09", "02/01/09", "01/01/09",
                         "01/01/09"}));
  EXPECT_EQ(f.read_text_column(0, "string_col"), (std::vector<std::string>{"0", "1", "0", "1", "0", "1", "0", "1"}));
  expect_error([&] { f.read_byte_array_column(0, "float_col"); }, {"alltypes_plain.parquet", "FLOAT", "float_col"});
  expect_error([&] { f.read_byte_array_column(0, "timestamp_col"); }, {"INT96"});
  expect_error([&] { f.read_byte_array_column(1, "string_col"); }, {"row group 1 out of range"});
  expect_error([&] { f.read_byte_array_column(0, "nope"); }, {"no column 'nope'", "string_col"});
}

TEST(ParquetTesting, AllTypesPlainSnappy) {
  NC_REQUIRE_SHARED(path, testing_file("alltypes_plain.snappy.parquet"));
  ParquetFile f(path);
  EXPECT_EQ(f.num_rows(), 2);
  EXPECT_EQ(f.read_int64_column(0, "id"), (OptInts{6, 7}));
  EXPECT_EQ(f.read_byte_array_column(0, "date_string_col"), all_present({"04/01/09", "04/01/09"}));
  EXPECT_EQ(f.read_byte_array_column(0, "string_col"), all_present({"0", "1"}));
}

TEST(ParquetTesting, AllTypesDictionary) {
  NC_REQUIRE_SHARED(path, testing_file("alltypes_dictionary.parquet"));
  ParquetFile f(path);
  EXPECT_EQ(f.num_rows(), 2);
  EXPECT_EQ(f.read_int64_column(0, "id"), (OptInts{0, 1}));
  EXPECT_EQ(f.read_byte_array_column(0, "date_string_col"), all_present({"01/01/09", "01/01/09"}));
  EXPECT_EQ(f.read_byte_array_column(0, "string_col"), all_present({"0", "1"}));
}

TEST(ParquetTesting, DataPageV2MixedEncodings) {
  NC_REQUIRE_SHARED(path, testing_file("datapage_v2.snappy.parquet"));
  ParquetFile f(path);
  EXPECT_EQ(f.num_rows(), 5);
  OptStrings a = all_present({"abc", "abc", "abc", "", "abc"});
  a[3] = std::nullopt;
  EXPECT_EQ(f.read_byte_array_column(0, "a"), a);                     // RLE_DICTIONARY, v2 levels
  EXPECT_EQ(f.read_int64_column(0, "b"), (OptInts{1, 2, 3, 4, 5}));  // DELTA_BINARY_PACKED
  expect_error([&] { f.read_text_column(0, "a"); }, {"row 3 is null"});
  expect_error([&] { f.read_int64_column(0, "e"); }, {"datapage_v2.snappy.parquet", "nested", "e.list.element"});
  expect_error([&] { f.read_int64_column(0, "e.list.element"); }, {"nested or repeated"});
}

TEST(ParquetTesting, DeltaLengthByteArrayZstdV2) {
  NC_REQUIRE_SHARED(path, testing_file("delta_length_byte_array.parquet"));
  ParquetFile f(path);
  const auto values = f.read_text_column(0, "FRUIT");
  ASSERT_EQ(values.size(), 1000u);
  // Arrow's generator: "apple_banana_mango" followed by i*i.
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(values[i], "apple_banana_mango" + std::to_string(i * i)) << i;
}

TEST(ParquetTesting, Lz4RawAndHadoopLz4) {
  for (const char* name : {"lz4_raw_compressed_larger.parquet", "hadoop_lz4_compressed_larger.parquet"}) {
    NC_REQUIRE_SHARED(path, testing_file(name));
    ParquetFile f(path);
    const auto v = f.read_text_column(0, "a");
    ASSERT_EQ(v.size(), 10000u) << name;
    // Values checked by Arrow's and parquet-mr's interop tests for these files.
    EXPECT_EQ(v[0], "c7ce6bef-d5b0-4863-b199-8ea8c7fb117b") << name;
    EXPECT_EQ(v[1], "e8fb9197-cb9f-4118-b67f-fbfa65f61843") << name;
    EXPECT_EQ(v[9998], "ab52a0cc-c6bb-4d61-8a8f-166dc4b8b13c") << name;
    EXPECT_EQ(v[9999], "85440778-460a-41ac-aa2e-ac3ee41696bf") << name;
    for (const auto& s : v) ASSERT_EQ(s.size(), 36u) << name;  // every value is a UUID
  }
}

TEST(ParquetTesting, ConcatenatedGzipMembers) {
  NC_REQUIRE_SHARED(path, testing_file("concatenated_gzip_members.parquet"));
  ParquetFile f(path);
  OptInts want;
  for (int i = 1; i <= 513; ++i) want.emplace_back(i);
  EXPECT_EQ(f.read_int64_column(0, "long_col"), want);
  expect_error([&] { f.read_byte_array_column(0, "long_col"); }, {"INT64", "not BYTE_ARRAY"});
}

TEST(ParquetTesting, BloomFilterFilesPlainGzipAndDictionary) {
  // Dictionary page of data_index_bloom_encoding_with_length, in order; its data page indexes it
  // 0..13. The gzip file holds the same column.
  const std::vector<std::string> words = {"Hello", "This is", "a",         "test",      "How",   "are you",  "doing ",
                                          "today", "the quick", "brown fox", "jumps", "over", "the lazy", "dog"};
  for (const char* name : {"data_index_bloom_encoding_stats.parquet", "data_index_bloom_encoding_with_length.parquet"}) {
    NC_REQUIRE_SHARED(path, testing_file(name));
    ParquetFile f(path);
    EXPECT_EQ(f.num_rows(), 14) << name;
    EXPECT_EQ(f.read_byte_array_column(0, "String"), all_present(words)) << name;
  }
}

TEST(ParquetTesting, SortColumnsTwoRowGroupsWithNulls) {
  NC_REQUIRE_SHARED(path, testing_file("sort_columns.parquet"));
  ParquetFile f(path);
  ASSERT_EQ(f.num_row_groups(), 2);
  EXPECT_EQ(f.num_rows(), 6);
  for (int rg = 0; rg < 2; ++rg) {
    EXPECT_EQ(f.row_group_num_rows(rg), 3);
    // README: a is INT64 nulls-first descending (stats: min 1, max 2, one null); b ascending.
    EXPECT_EQ(f.read_int64_column(rg, "a"), (OptInts{std::nullopt, 2, 1}));
    EXPECT_EQ(f.read_byte_array_column(rg, "b"), all_present({"a", "b", "c"}));
  }
}

TEST(ParquetTesting, ChecksummedDictionaryFiles) {
  {
    NC_REQUIRE_SHARED(path, testing_file("plain-dict-uncompressed-checksum.parquet"));
    ParquetFile f(path);
    const auto a = f.read_int64_column(0, "long_field");
    const auto b = f.read_byte_array_column(0, "binary_field");
    EXPECT_EQ(a, OptInts(1000, 0));
    EXPECT_EQ(b, OptStrings(1000, std::string("a655fd0e-9949-4059-bcae-fd6a002a4652")));
  }
  {
    NC_REQUIRE_SHARED(path, testing_file("rle-dict-snappy-checksum.parquet"));
    ParquetFile f(path);
    const auto b = f.read_text_column(0, "binary_field");
    ASSERT_EQ(b.size(), 1000u);
    for (const auto& s : b) EXPECT_EQ(s.size(), 36u);
    EXPECT_EQ(f.read_int64_column(0, "long_field").size(), 1000u);
  }
  {
    NC_REQUIRE_SHARED(path, testing_file("datapage_v1-snappy-compressed-checksum.parquet"));
    ParquetFile f(path);
    for (const char* col : {"a", "b"}) {
      const auto v = f.read_int64_column(0, col);
      ASSERT_EQ(v.size(), 5120u);
      for (const auto& x : v) ASSERT_TRUE(x.has_value());  // required columns
    }
  }
}

TEST(ParquetTesting, EmptyCompressedV2PageOfNulls) {
  NC_REQUIRE_SHARED(path, testing_file("page_v2_empty_compressed.parquet"));
  ParquetFile f(path);
  EXPECT_EQ(f.read_int64_column(0, "integer_column"), OptInts(10, std::nullopt));
}

TEST(ParquetTesting, UnsupportedShapesGiveClearErrors) {
  {
    NC_REQUIRE_SHARED(path, testing_file("nulls.snappy.parquet"));
    ParquetFile f(path);
    EXPECT_EQ(f.num_rows(), 8);
    EXPECT_EQ(f.column_names(), std::vector<std::string>{"b_struct.b_c_int"});
    expect_error([&] { f.read_int64_column(0, "b_struct"); }, {"nulls.snappy.parquet", "nested", "b_struct"});
    expect_error([&] { f.read_int64_column(0, "b_struct.b_c_int"); }, {"nested"});
  }
  {
    NC_REQUIRE_SHARED(path, testing_file("byte_stream_split.zstd.parquet"));
    ParquetFile f(path);
    EXPECT_EQ(f.num_rows(), 300);
    EXPECT_EQ(f.column_names(), (std::vector<std::string>{"f32", "f64"}));
    expect_error([&] { f.read_byte_array_column(0, "f32"); }, {"byte_stream_split.zstd.parquet", "FLOAT"});
    expect_error([&] { f.read_int64_column(0, "f64"); }, {"DOUBLE"});
  }
}

// ---------------------------------------------------------------------------------------------

struct ShardFacts {
  const char* name;
  int64_t docs;
  int64_t chars;
  int row_groups;
};

TEST(Shards, EveryDocumentReadsBack) {
  const ShardFacts shards[] = {{"shard_00000.parquet", 4625, 1201941, 5},
                               {"shard_00001.parquet", 9611, 3669385, 10},
                               {"shard_00002.parquet", 2488, 1394849, 3}};
  for (const auto& s : shards) {
    NC_REQUIRE_SHARED(path, std::string("data/shards/") + s.name);
    ParquetFile f(path);
    EXPECT_EQ(f.column_names(), std::vector<std::string>{"text"});
    EXPECT_EQ(f.num_rows(), s.docs) << s.name;
    ASSERT_EQ(f.num_row_groups(), s.row_groups) << s.name;
    int64_t docs = 0, chars = 0;
    for (int rg = 0; rg < f.num_row_groups(); ++rg) {
      const auto texts = f.read_text_column(rg);
      ASSERT_EQ(static_cast<int64_t>(texts.size()), f.row_group_num_rows(rg));
      if (rg + 1 < f.num_row_groups()) {
        EXPECT_EQ(texts.size(), 1024u);  // row groups of 1024 documents
      }
      for (const auto& t : texts) chars += static_cast<int64_t>(utf8_count_code_points(t));
      docs += static_cast<int64_t>(texts.size());
    }
    EXPECT_EQ(docs, s.docs) << s.name;
    EXPECT_EQ(chars, s.chars) << s.name;
  }
}

TEST(Shards, ReadFromMemoryMatchesReadFromFile) {
  NC_REQUIRE_SHARED(path, "data/shards/shard_00002.parquet");
  ParquetFile from_file(path);
  ParquetFile from_memory = ParquetFile::from_bytes(read_file(path), "mem");
  for (int rg = 0; rg < from_file.num_row_groups(); ++rg) {
    EXPECT_EQ(from_file.read_text_column(rg), from_memory.read_text_column(rg));
  }
}

TEST(ParquetFileErrors, NamesThePath) {
  nanochat::test::TempDir dir;
  const auto missing = dir.path() / "missing.parquet";
  expect_error([&] { ParquetFile f(missing); }, {"missing.parquet"});
  const auto text = dir.path() / "notes.parquet";
  write_file_atomic(text, "this is not a parquet file at all");
  expect_error([&] { ParquetFile f(text); }, {"notes.parquet", "not a Parquet file"});
  const auto tiny = dir.path() / "tiny.parquet";
  write_file_atomic(tiny, "PAR1");
  expect_error([&] { ParquetFile f(tiny); }, {"tiny.parquet", "too small"});
  expect_error([&] { ParquetFile f(dir.path()); }, {"not a regular file"});
}

}  // namespace
}  // namespace nanochat::parquet
