// Parquet file-format vocabulary: the enums and the metadata structures of parquet.thrift that
// this reader uses (fields it does not need are skipped when decoding). Enum values are the
// numbers stored in files; a file may hold numbers no enumerator names, so code must handle those
// (the *_name functions print them as "encoding 42").
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nanochat::parquet {

inline constexpr char kMagic[4] = {'P', 'A', 'R', '1'};
inline constexpr char kEncryptedMagic[4] = {'P', 'A', 'R', 'E'};

enum class PhysicalType : int32_t {
  Boolean = 0,
  Int32 = 1,
  Int64 = 2,
  Int96 = 3,
  Float = 4,
  Double = 5,
  ByteArray = 6,
  FixedLenByteArray = 7,
};

enum class Repetition : int32_t { Required = 0, Optional = 1, Repeated = 2 };

enum class Encoding : int32_t {
  Plain = 0,
  PlainDictionary = 2,
  Rle = 3,
  BitPacked = 4,
  DeltaBinaryPacked = 5,
  DeltaLengthByteArray = 6,
  DeltaByteArray = 7,
  RleDictionary = 8,
  ByteStreamSplit = 9,
};

enum class Codec : int32_t {
  Uncompressed = 0,
  Snappy = 1,
  Gzip = 2,
  Lzo = 3,
  Brotli = 4,
  Lz4Hadoop = 5,  // "LZ4" in parquet.thrift: deprecated, Hadoop's framing around LZ4 blocks
  Zstd = 6,
  Lz4Raw = 7,
};

enum class PageType : int32_t { DataPage = 0, IndexPage = 1, DictionaryPage = 2, DataPageV2 = 3 };

// converted_type values (legacy annotations) this reader looks at.
inline constexpr int32_t kConvertedTypeUtf8 = 0;
inline constexpr int32_t kConvertedTypeMap = 1;
inline constexpr int32_t kConvertedTypeMapKeyValue = 2;
inline constexpr int32_t kConvertedTypeList = 3;

// Field ids of the LogicalType union members this reader looks at.
inline constexpr int32_t kLogicalTypeString = 1;
inline constexpr int32_t kLogicalTypeMap = 2;
inline constexpr int32_t kLogicalTypeList = 3;

std::string physical_type_name(PhysicalType t);
std::string repetition_name(Repetition r);
std::string encoding_name(Encoding e);
std::string codec_name(Codec c);
std::string page_type_name(PageType t);

struct SchemaElement {
  std::optional<PhysicalType> type;  // absent for groups
  int32_t type_length = 0;
  std::optional<Repetition> repetition;
  std::string name;
  int32_t num_children = 0;
  std::optional<int32_t> converted_type;
  bool logical_type_string = false;  // LogicalType STRING
  int32_t logical_type_id = 0;       // field id of the LogicalType union member set (0: none)
};

struct ColumnMetaData {
  PhysicalType type = PhysicalType::ByteArray;
  std::vector<Encoding> encodings;
  std::vector<std::string> path_in_schema;
  Codec codec = Codec::Uncompressed;
  int64_t num_values = 0;
  int64_t total_uncompressed_size = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = 0;
  std::optional<int64_t> dictionary_page_offset;
};

struct ColumnChunk {
  std::optional<std::string> file_path;  // set when the chunk lives in another file
  int64_t file_offset = 0;
  std::optional<ColumnMetaData> meta_data;
  bool encrypted = false;  // crypto_metadata or encrypted_column_metadata present
};

struct RowGroup {
  std::vector<ColumnChunk> columns;
  int64_t total_byte_size = 0;
  int64_t num_rows = 0;
};

struct FileMetaData {
  int32_t version = 0;
  std::vector<SchemaElement> schema;
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::string created_by;
  bool encryption_algorithm = false;
};

struct DataPageHeader {
  int32_t num_values = 0;
  Encoding encoding = Encoding::Plain;
  Encoding definition_level_encoding = Encoding::Rle;
  Encoding repetition_level_encoding = Encoding::Rle;
};

struct DictionaryPageHeader {
  int32_t num_values = 0;
  Encoding encoding = Encoding::Plain;
};

struct DataPageHeaderV2 {
  int32_t num_values = 0;
  int32_t num_nulls = 0;
  int32_t num_rows = 0;
  Encoding encoding = Encoding::Plain;
  int32_t definition_levels_byte_length = 0;
  int32_t repetition_levels_byte_length = 0;
  bool is_compressed = true;
};

struct PageHeader {
  PageType type = PageType::DataPage;
  int32_t uncompressed_page_size = 0;
  int32_t compressed_page_size = 0;
  std::optional<uint32_t> crc;
  std::optional<DataPageHeader> data_page;
  std::optional<DictionaryPageHeader> dictionary_page;
  std::optional<DataPageHeaderV2> data_page_v2;
};

}  // namespace nanochat::parquet
