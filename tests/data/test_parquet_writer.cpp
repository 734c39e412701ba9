#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/utf8.h"
#include "nanochat/data/parquet_metadata.h"
#include "nanochat/data/parquet_reader.h"
#include "nanochat/data/parquet_writer.h"
#include "test_support.h"

namespace nanochat::parquet {
namespace {

std::vector<std::string> random_docs(size_t n, uint32_t seed) {
  // Code points of every UTF-8 length, plus NUL and newlines.
  const char32_t pool[] = {U'a', U'Z', U' ', U'\n', U'\0', U'7', U'\u00e9', U'\u00df', U'\u4e2d',
                           U'\u20ac', U'\U0001F600', U'\U0001F680', U'\uFFFD'};
  std::mt19937 rng(seed);
  std::vector<std::string> docs(n);
  for (auto& d : docs) {
    const uint32_t kind = rng() % 10;
    const size_t len = kind == 0 ? 0 : kind == 1 ? rng() % 5000 : rng() % 200;  // some empty, some long
    for (size_t i = 0; i < len; ++i) utf8_append(d, pool[rng() % std::size(pool)]);
  }
  return docs;
}

std::vector<std::string> read_all(const std::filesystem::path& path) {
  ParquetFile f(path);
  std::vector<std::string> all;
  for (int rg = 0; rg < f.num_row_groups(); ++rg) {
    for (auto& t : f.read_text_column(rg)) all.push_back(std::move(t));
  }
  return all;
}

FileMetaData footer_of(const std::filesystem::path& path) {
  const std::string bytes = read_file(path);
  uint32_t len = 0;
  std::memcpy(&len, bytes.data() + bytes.size() - 8, 4);
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size() - 8 - len;
  return decode_file_metadata({p, len});
}

size_t files_in(const std::filesystem::path& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

TEST(ParquetWriter, RoundTripsRandomUtf8AcrossRowGroupsAndPages) {
  nanochat::test::TempDir dir;
  const auto path = dir.path() / "rt.parquet";
  const auto docs = random_docs(2500, 7);
  WriteOptions opt;
  opt.data_page_size = 4096;  // many pages per row group
  write_text_shard(path, docs, opt);
  ParquetFile f(path);
  EXPECT_EQ(f.num_rows(), 2500);
  ASSERT_EQ(f.num_row_groups(), 3);
  EXPECT_EQ(f.row_group_num_rows(0), 1024);
  EXPECT_EQ(f.row_group_num_rows(1), 1024);
  EXPECT_EQ(f.row_group_num_rows(2), 2500 - 2048);
  EXPECT_EQ(read_all(path), docs);
  EXPECT_EQ(f.created_by(), "nanochat.cpp");
}

TEST(ParquetWriter, SmallRowGroupsAndOnePagePerGroup) {
  nanochat::test::TempDir dir;
  const auto path = dir.path() / "small.parquet";
  const auto docs = random_docs(10, 3);
  write_text_shard(path, docs, WriteOptions{3, 1, 1 << 20});
  ParquetFile f(path);
  EXPECT_EQ(f.num_row_groups(), 4);  // 3 + 3 + 3 + 1
  EXPECT_EQ(read_all(path), docs);
}

TEST(ParquetWriter, MatchesThePublishedShardLayout) {
  NC_REQUIRE_SHARED(shard, "data/shards/shard_00000.parquet");
  nanochat::test::TempDir dir;
  const auto path = dir.path() / "shard_00000.parquet";
  const auto docs = read_all(shard);
  write_text_shard(path, docs);
  EXPECT_EQ(read_all(path), docs);

  const FileMetaData ours = footer_of(path), theirs = footer_of(shard);
  ASSERT_EQ(ours.schema.size(), theirs.schema.size());
  for (size_t i = 0; i < ours.schema.size(); ++i) {
    EXPECT_EQ(ours.schema[i].name, theirs.schema[i].name);
    EXPECT_EQ(ours.schema[i].type, theirs.schema[i].type);
    EXPECT_EQ(ours.schema[i].repetition, theirs.schema[i].repetition);
    EXPECT_EQ(ours.schema[i].converted_type, theirs.schema[i].converted_type);
    EXPECT_EQ(ours.schema[i].logical_type_string, theirs.schema[i].logical_type_string);
    EXPECT_EQ(ours.schema[i].num_children, theirs.schema[i].num_children);
  }
  EXPECT_EQ(ours.version, theirs.version);
  ASSERT_EQ(ours.row_groups.size(), theirs.row_groups.size());
  for (size_t g = 0; g < ours.row_groups.size(); ++g) {
    const auto& a = *ours.row_groups[g].columns.at(0).meta_data;
    const auto& b = *theirs.row_groups[g].columns.at(0).meta_data;
    EXPECT_EQ(ours.row_groups[g].num_rows, theirs.row_groups[g].num_rows);
    EXPECT_EQ(a.codec, Codec::Zstd);
    EXPECT_EQ(a.codec, b.codec);
    EXPECT_EQ(a.encodings, b.encodings);
    EXPECT_EQ(a.path_in_schema, b.path_in_schema);
    EXPECT_EQ(a.dictionary_page_offset.has_value(), b.dictionary_page_offset.has_value());
    // Same uncompressed page payloads; page headers may differ by a few bytes (pyarrow writes an
    // empty statistics struct).
    EXPECT_NEAR(static_cast<double>(a.total_uncompressed_size), static_cast<double>(b.total_uncompressed_size), 16);
  }
  // Same settings (zstd 3, one page per group) should give nearly the same size.
  const double ratio = static_cast<double>(std::filesystem::file_size(path)) /
                       static_cast<double>(std::filesystem::file_size(shard));
  EXPECT_GT(ratio, 0.97);
  EXPECT_LT(ratio, 1.03);
}

TEST(ParquetWriter, EmptyShard) {
  nanochat::test::TempDir dir;
  const auto path = dir.path() / "empty.parquet";
  write_text_shard(path, {});
  ParquetFile f(path);
  EXPECT_EQ(f.num_rows(), 0);
  EXPECT_EQ(f.num_row_groups(), 0);
  EXPECT_EQ(f.column_names(), std::vector<std::string>{"text"});
}

TEST(ParquetWriter, RejectsInvalidUtf8AndLeavesNothingBehind) {
  nanochat::test::TempDir dir;
  const auto path = dir.path() / "bad.parquet";
  try {
    write_text_shard(path, {"fine", "also fine", std::string("bad \xff byte")});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("document 2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(ParquetWriter, UnfinishedWriterLeavesOldFileIntact) {
  nanochat::test::TempDir dir;
  const auto path = dir.path() / "s.parquet";
  write_text_shard(path, {"old"});
  {
    TextShardWriter w(path);
    w.add("new");
    EXPECT_EQ(w.num_docs(), 1);
    // destroyed without finish(), as on an exception
  }
  EXPECT_EQ(read_all(path), std::vector<std::string>{"old"});
  EXPECT_EQ(files_in(dir.path()), 1u);
  write_text_shard(path, {"new", ""});
  EXPECT_EQ(read_all(path), (std::vector<std::string>{"new", ""}));
}

TEST(ParquetWriter, RejectsBadOptions) {
  nanochat::test::TempDir dir;
  EXPECT_THROW(TextShardWriter(dir.path() / "x.parquet", WriteOptions{0, 3, 1 << 20}), Error);
  EXPECT_THROW(TextShardWriter(dir.path() / "nodir" / "x.parquet"), Error);
}

}  // namespace
}  // namespace nanochat::parquet
