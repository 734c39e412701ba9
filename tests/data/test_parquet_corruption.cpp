// Hostile input: hand-built files that use unsupported features, and a deterministic mini-fuzz
// over mutated copies of real files. Everything must end in nanochat::Error, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/data/parquet_encodings.h"
#include "nanochat/data/parquet_metadata.h"
#include "nanochat/data/parquet_reader.h"
#include "test_support.h"

namespace nanochat::parquet {
namespace {

using test::expect_error;

void append_le32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

// A one-column file with uncompressed v1 pages, for exercising features our writer never emits.
struct FileSpec {
  PhysicalType type = PhysicalType::ByteArray;
  Repetition repetition = Repetition::Optional;
  Codec codec = Codec::Uncompressed;
  Encoding encoding = Encoding::Plain;
  Encoding def_encoding = Encoding::Rle;
  int64_t rows = 2;
  int64_t claimed_rows = -1;       // row group num_rows when >= 0
  int32_t claimed_uncompressed = -1;  // page header uncompressed size when >= 0
  std::string values;              // encoded values section
};

std::string build_file(const FileSpec& s) {
  std::string page;
  if (s.repetition == Repetition::Optional) {
    std::vector<uint8_t> levels;
    encode_rle_run(1, 1, static_cast<uint64_t>(s.rows), levels);
    append_le32(page, static_cast<uint32_t>(levels.size()));
    page.append(levels.begin(), levels.end());
  }
  page += s.values;
  PageHeader h;
  h.type = PageType::DataPage;
  h.uncompressed_page_size = s.claimed_uncompressed >= 0 ? s.claimed_uncompressed : static_cast<int32_t>(page.size());
  h.compressed_page_size = static_cast<int32_t>(page.size());
  h.data_page = DataPageHeader{static_cast<int32_t>(s.rows), s.encoding, s.def_encoding, Encoding::Rle};
  const std::string chunk = encode_page_header(h) + page;

  FileMetaData meta;
  meta.version = 1;
  SchemaElement root;
  root.name = "schema";
  root.num_children = 1;
  SchemaElement col;
  col.type = s.type;
  col.repetition = s.repetition;
  col.name = "c";
  meta.schema = {root, col};
  meta.num_rows = s.rows;
  ColumnMetaData m;
  m.type = s.type;
  m.encodings = {s.encoding};
  m.path_in_schema = {"c"};
  m.codec = s.codec;
  m.num_values = s.claimed_rows >= 0 ? s.claimed_rows : s.rows;
  m.total_uncompressed_size = static_cast<int64_t>(chunk.size());
  m.total_compressed_size = static_cast<int64_t>(chunk.size());
  m.data_page_offset = 4;
  ColumnChunk c;
  c.meta_data = m;
  RowGroup rg;
  rg.columns = {c};
  rg.num_rows = s.claimed_rows >= 0 ? s.claimed_rows : s.rows;
  meta.row_groups = {rg};
  const std::string footer = encode_file_metadata(meta);
  std::string file = "PAR1" + chunk + footer;
  append_le32(file, static_cast<uint32_t>(footer.size()));
  return file + "PAR1";
}

std::string plain_values(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    append_le32(out, static_cast<uint32_t>(s.size()));
    out += s;
  }
  return out;
}

TEST(ParquetCorruption, HandBuiltFileReadsWhenWellFormed) {
  FileSpec s;
  s.values = plain_values({"x", "yz"});
  const auto f = ParquetFile::from_bytes(build_file(s), "built.parquet");
  EXPECT_EQ(f.read_text_column(0, "c"), (std::vector<std::string>{"x", "yz"}));
}

TEST(ParquetCorruption, UnsupportedFeaturesAreNamed) {
  FileSpec s;
  s.values = plain_values({"x", "yz"});
  for (auto [enc, name] : {std::pair{Encoding::DeltaByteArray, "DELTA_BYTE_ARRAY"},
                           std::pair{Encoding::ByteStreamSplit, "BYTE_STREAM_SPLIT"},
                           std::pair{static_cast<Encoding>(77), "encoding 77"}}) {
    FileSpec t = s;
    t.encoding = enc;
    const auto f = ParquetFile::from_bytes(build_file(t), "enc.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"enc.parquet", "unsupported encoding", name});
  }
  for (auto [codec, name] : {std::pair{Codec::Brotli, "BROTLI"}, std::pair{Codec::Lzo, "LZO"},
                             std::pair{static_cast<Codec>(42), "codec 42"}}) {
    FileSpec t = s;
    t.codec = codec;
    const auto f = ParquetFile::from_bytes(build_file(t), "codec.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"codec.parquet", "unsupported compression codec", name});
  }
  {
    FileSpec t = s;
    t.def_encoding = Encoding::BitPacked;
    const auto f = ParquetFile::from_bytes(build_file(t), "lvl.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"unsupported definition level encoding BIT_PACKED"});
  }
  {
    FileSpec t = s;
    t.repetition = Repetition::Repeated;
    const auto f = ParquetFile::from_bytes(build_file(t), "rep.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"rep.parquet", "column 'c'", "nested or repeated"});
  }
}

TEST(ParquetCorruption, LimitsAndInconsistenciesAreErrors) {
  FileSpec s;
  s.values = plain_values({"x", "yz"});
  {
    FileSpec t = s;
    t.claimed_uncompressed = INT32_MAX;
    ReaderOptions small;
    small.max_page_bytes = 1 << 20;
    const auto f = ParquetFile::from_bytes(build_file(t), "big.parquet", small);
    expect_error([&] { f.read_text_column(0, "c"); }, {"outside the limit"});
  }
  {
    FileSpec t = s;
    t.claimed_rows = int64_t{1} << 40;
    expect_error([&] { ParquetFile::from_bytes(build_file(t), "rows.parquet"); }, {"rows.parquet", "rows (limit"});
  }
  {
    FileSpec t = s;
    t.claimed_rows = 3;  // chunk ends before the third value
    const auto f = ParquetFile::from_bytes(build_file(t), "short.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"column chunk ends after 2 of its 3 values"});
  }
  {
    FileSpec t = s;
    t.values = plain_values({"x"});  // two rows announced, one value stored
    const auto f = ParquetFile::from_bytes(build_file(t), "trunc.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"corrupt PLAIN data"});
  }
  {
    FileSpec t = s;
    t.encoding = Encoding::RleDictionary;
    t.values = std::string("\x01\x03\x03", 3);
    const auto f = ParquetFile::from_bytes(build_file(t), "dict.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"without a dictionary page"});
  }
}

TEST(ParquetCorruption, TextColumnRejectsInvalidUtf8ButBytesReadIt) {
  FileSpec s;
  s.values = plain_values({"ok", "\xff\xfe"});
  const auto f = ParquetFile::from_bytes(build_file(s), "utf8.parquet");
  expect_error([&] { f.read_text_column(0, "c"); }, {"utf8.parquet", "row 1 is not valid UTF-8"});
  const auto raw = f.read_byte_array_column(0, "c");
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[1], std::string("\xff\xfe"));
}

TEST(ParquetCorruption, GarbageInEveryCodecIsAnError) {
  // The page body is stored raw while the metadata claims a codec, so each decompressor sees
  // bytes that are not its format.
  FileSpec s;
  s.values = plain_values({"hello", "world"});
  for (Codec codec : {Codec::Snappy, Codec::Gzip, Codec::Zstd, Codec::Lz4Raw, Codec::Lz4Hadoop}) {
    FileSpec t = s;
    t.codec = codec;
    const auto f = ParquetFile::from_bytes(build_file(t), "garbage.parquet");
    expect_error([&] { f.read_text_column(0, "c"); }, {"garbage.parquet", "corrupt"});
  }
}

TEST(ParquetCorruption, PageChecksumMismatchIsDetected) {
  NC_REQUIRE_SHARED(path, "data/parquet-testing/datapage_v1-snappy-compressed-checksum.parquet");
  std::string bytes = read_file(path);
  size_t header_size = 0;
  const auto h = decode_page_header({reinterpret_cast<const uint8_t*>(bytes.data()) + 4, bytes.size() - 4}, header_size);
  ASSERT_TRUE(h.crc.has_value());
  bytes[4 + header_size + static_cast<size_t>(h.compressed_page_size) / 2] ^= 0x10;
  const auto f = ParquetFile::from_bytes(bytes, "crc.parquet");
  expect_error([&] { f.read_int64_column(0, "a"); }, {"crc.parquet", "checksum mismatch"});
}

// Reads every column of every row group, accepting only nanochat::Error as failure.
void read_everything(const std::string& bytes, const ReaderOptions& options) {
  try {
    const auto g = ParquetFile::from_bytes(bytes, "mutant", options);
    for (int rg = 0; rg < g.num_row_groups(); ++rg) {
      for (const auto& col : g.column_names()) {
        try {
          g.read_byte_array_column(rg, col);
        } catch (const Error&) {
        }
        try {
          g.read_int64_column(rg, col);
        } catch (const Error&) {
        }
      }
    }
  } catch (const Error&) {
  }
}

TEST(ParquetCorruption, MutatedRealFilesNeverCrash) {
  const char* names[] = {"data/parquet-testing/alltypes_plain.parquet",
                         "data/parquet-testing/datapage_v2.snappy.parquet",
                         "data/parquet-testing/delta_length_byte_array.parquet",
                         "data/parquet-testing/concatenated_gzip_members.parquet",
                         "data/parquet-testing/rle-dict-snappy-checksum.parquet",
                         "data/parquet-testing/data_index_bloom_encoding_with_length.parquet",
                         "data/parquet-testing/sort_columns.parquet",
                         "data/parquet-testing/page_v2_empty_compressed.parquet",
                         "data/shards/shard_00002.parquet"};
  std::vector<std::string> sources;
  for (const char* n : names) {
    const auto p = nanochat::test::shared_path(n);
    if (!p.empty()) sources.push_back(read_file(p));
  }
  if (sources.empty()) GTEST_SKIP() << "no shared test files";
  ReaderOptions options;
  options.max_page_bytes = 16 << 20;
  options.max_row_group_rows = 1 << 20;
  std::mt19937_64 rng(2024);
  int truncations = 0, truncation_errors = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string bytes = sources[rng() % sources.size()];
    const int kind = static_cast<int>(rng() % 5);
    if (kind == 0) {  // truncate: the tail magic is gone, so opening must fail
      bytes.resize(rng() % bytes.size());
      ++truncations;
      try {
        ParquetFile::from_bytes(bytes, "t", options);
      } catch (const Error&) {
        ++truncation_errors;
      }
      continue;
    }
    const size_t n = bytes.size();
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      size_t pos = 0;
      if (kind == 1) pos = rng() % n;                                   // anywhere
      if (kind == 2) pos = n - 8 - rng() % std::min<size_t>(n - 8, 600);  // footer
      if (kind == 3) pos = 4 + rng() % std::min<size_t>(n - 4, 64);      // first page header
      if (kind == 4) {  // overwrite with an extreme byte
        bytes[rng() % n] = static_cast<char>((rng() & 1) ? 0xff : 0x00);
        continue;
      }
      bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << (rng() % 8)));
    }
    read_everything(bytes, options);
  }
  EXPECT_GT(truncations, 0);
  EXPECT_EQ(truncation_errors, truncations);
}

}  // namespace
}  // namespace nanochat::parquet
