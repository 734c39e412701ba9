#include "nanochat/data/parquet_metadata.h"

#include <fmt/format.h>

#include "nanochat/core/error.h"
#include "nanochat/data/thrift_compact.h"

namespace nanochat::parquet {

using thrift::CompactReader;
using thrift::CompactWriter;
using thrift::FieldHeader;
using thrift::WireType;

std::string physical_type_name(PhysicalType t) {
  switch (t) {
    case PhysicalType::Boolean: return "BOOLEAN";
    case PhysicalType::Int32: return "INT32";
    case PhysicalType::Int64: return "INT64";
    case PhysicalType::Int96: return "INT96";
    case PhysicalType::Float: return "FLOAT";
    case PhysicalType::Double: return "DOUBLE";
    case PhysicalType::ByteArray: return "BYTE_ARRAY";
    case PhysicalType::FixedLenByteArray: return "FIXED_LEN_BYTE_ARRAY";
  }
  return fmt::format("physical type {}", static_cast<int32_t>(t));
}

std::string repetition_name(Repetition r) {
  switch (r) {
    case Repetition::Required: return "REQUIRED";
    case Repetition::Optional: return "OPTIONAL";
    case Repetition::Repeated: return "REPEATED";
  }
  return fmt::format("repetition {}", static_cast<int32_t>(r));
}

std::string encoding_name(Encoding e) {
  switch (e) {
    case Encoding::Plain: return "PLAIN";
    case Encoding::PlainDictionary: return "PLAIN_DICTIONARY";
    case Encoding::Rle: return "RLE";
    case Encoding::BitPacked: return "BIT_PACKED";
    case Encoding::DeltaBinaryPacked: return "DELTA_BINARY_PACKED";
    case Encoding::DeltaLengthByteArray: return "DELTA_LENGTH_BYTE_ARRAY";
    case Encoding::DeltaByteArray: return "DELTA_BYTE_ARRAY";
    case Encoding::RleDictionary: return "RLE_DICTIONARY";
    case Encoding::ByteStreamSplit: return "BYTE_STREAM_SPLIT";
  }
  return fmt::format("encoding {}", static_cast<int32_t>(e));
}

std::string codec_name(Codec c) {
  switch (c) {
    case Codec::Uncompressed: return "UNCOMPRESSED";
    case Codec::Snappy: return "SNAPPY";
    case Codec::Gzip: return "GZIP";
    case Codec::Lzo: return "LZO";
    case Codec::Brotli: return "BROTLI";
    case Codec::Lz4Hadoop: return "LZ4 (Hadoop)";
    case Codec::Zstd: return "ZSTD";
    case Codec::Lz4Raw: return "LZ4_RAW";
  }
  return fmt::format("codec {}", static_cast<int32_t>(c));
}

std::string page_type_name(PageType t) {
  switch (t) {
    case PageType::DataPage: return "DATA_PAGE";
    case PageType::IndexPage: return "INDEX_PAGE";
    case PageType::DictionaryPage: return "DICTIONARY_PAGE";
    case PageType::DataPageV2: return "DATA_PAGE_V2";
  }
  return fmt::format("page type {}", static_cast<int32_t>(t));
}

namespace {

// Field-by-field decoding. Each decoder loops over the struct's fields, reads the ones it knows
// (checking their wire type) and skips the rest, so newer writers' additions are tolerated.

int32_t i32_field(CompactReader& r, const FieldHeader& f, std::string_view name) {
  r.expect(f, WireType::I32, name);
  return r.read_i32();
}
int64_t i64_field(CompactReader& r, const FieldHeader& f, std::string_view name) {
  r.expect(f, WireType::I64, name);
  return r.read_i64();
}
std::string string_field(CompactReader& r, const FieldHeader& f, std::string_view name) {
  r.expect(f, WireType::Binary, name);
  return std::string(r.read_binary());
}

void require(CompactReader& r, bool present, std::string_view struct_name, std::string_view field) {
  if (!present) r.fail_corrupt(fmt::format("{} lacks required field '{}'", struct_name, field));
}

// LogicalType is a union; we only note which member is set (STRING, MAP, LIST, ...), not its
// parameters. Returns the member's field id, 0 when none is a struct.
int32_t decode_logical_type_id(CompactReader& r) {
  int32_t id = 0;
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    if (f.type == WireType::Struct) id = f.id;
    r.skip(f.type);
  }
  r.end_struct();
  return id;
}

SchemaElement decode_schema_element(CompactReader& r) {
  SchemaElement e;
  bool has_name = false;
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: e.type = static_cast<PhysicalType>(i32_field(r, f, "SchemaElement.type")); break;
      case 2: e.type_length = i32_field(r, f, "SchemaElement.type_length"); break;
      case 3:
        e.repetition = static_cast<Repetition>(i32_field(r, f, "SchemaElement.repetition_type"));
        break;
      case 4:
        e.name = string_field(r, f, "SchemaElement.name");
        has_name = true;
        break;
      case 5: e.num_children = i32_field(r, f, "SchemaElement.num_children"); break;
      case 6: e.converted_type = i32_field(r, f, "SchemaElement.converted_type"); break;
      case 10:
        r.expect(f, WireType::Struct, "SchemaElement.logicalType");
        e.logical_type_id = decode_logical_type_id(r);
        e.logical_type_string = e.logical_type_id == kLogicalTypeString;
        break;
      default: r.skip(f.type);
    }
  }
  r.end_struct();
  require(r, has_name, "SchemaElement", "name");
  return e;
}

ColumnMetaData decode_column_metadata(CompactReader& r) {
  ColumnMetaData m;
  bool has[10] = {};
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: m.type = static_cast<PhysicalType>(i32_field(r, f, "ColumnMetaData.type")); break;
      case 2: {
        r.expect(f, WireType::List, "ColumnMetaData.encodings");
        const auto h = r.read_list_header();
        if (h.element_type != WireType::I32) r.fail_corrupt("ColumnMetaData.encodings is not a list of i32");
        for (uint32_t i = 0; i < h.size; ++i) m.encodings.push_back(static_cast<Encoding>(r.read_i32()));
        break;
      }
      case 3: {
        r.expect(f, WireType::List, "ColumnMetaData.path_in_schema");
        const auto h = r.read_list_header();
        if (h.element_type != WireType::Binary) {
          r.fail_corrupt("ColumnMetaData.path_in_schema is not a list of strings");
        }
        for (uint32_t i = 0; i < h.size; ++i) m.path_in_schema.emplace_back(r.read_binary());
        break;
      }
      case 4: m.codec = static_cast<Codec>(i32_field(r, f, "ColumnMetaData.codec")); break;
      case 5: m.num_values = i64_field(r, f, "ColumnMetaData.num_values"); break;
      case 6: m.total_uncompressed_size = i64_field(r, f, "ColumnMetaData.total_uncompressed_size"); break;
      case 7: m.total_compressed_size = i64_field(r, f, "ColumnMetaData.total_compressed_size"); break;
      case 9: m.data_page_offset = i64_field(r, f, "ColumnMetaData.data_page_offset"); break;
      case 11: m.dictionary_page_offset = i64_field(r, f, "ColumnMetaData.dictionary_page_offset"); break;
      default: r.skip(f.type);
    }
    if (f.id >= 1 && f.id <= 9) has[f.id] = true;
  }
  r.end_struct();
  require(r, has[1], "ColumnMetaData", "type");
  require(r, has[4], "ColumnMetaData", "codec");
  require(r, has[5], "ColumnMetaData", "num_values");
  require(r, has[7], "ColumnMetaData", "total_compressed_size");
  require(r, has[9], "ColumnMetaData", "data_page_offset");
  return m;
}

ColumnChunk decode_column_chunk(CompactReader& r) {
  ColumnChunk c;
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: c.file_path = string_field(r, f, "ColumnChunk.file_path"); break;
      case 2: c.file_offset = i64_field(r, f, "ColumnChunk.file_offset"); break;
      case 3:
        r.expect(f, WireType::Struct, "ColumnChunk.meta_data");
        c.meta_data = decode_column_metadata(r);
        break;
      case 8:
      case 9:
        c.encrypted = true;
        r.skip(f.type);
        break;
      default: r.skip(f.type);
    }
  }
  r.end_struct();
  return c;
}

RowGroup decode_row_group(CompactReader& r) {
  RowGroup g;
  bool has_columns = false, has_rows = false;
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: {
        r.expect(f, WireType::List, "RowGroup.columns");
        const auto h = r.read_list_header();
        if (h.element_type != WireType::Struct) r.fail_corrupt("RowGroup.columns is not a list of structs");
        for (uint32_t i = 0; i < h.size; ++i) g.columns.push_back(decode_column_chunk(r));
        has_columns = true;
        break;
      }
      case 2: g.total_byte_size = i64_field(r, f, "RowGroup.total_byte_size"); break;
      case 3:
        g.num_rows = i64_field(r, f, "RowGroup.num_rows");
        has_rows = true;
        break;
      default: r.skip(f.type);
    }
  }
  r.end_struct();
  require(r, has_columns, "RowGroup", "columns");
  require(r, has_rows, "RowGroup", "num_rows");
  return g;
}

}  // namespace

FileMetaData decode_file_metadata(std::span<const uint8_t> footer) {
  CompactReader r(footer, "footer (FileMetaData)");
  FileMetaData m;
  bool has_schema = false, has_rows = false, has_groups = false;
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: m.version = i32_field(r, f, "FileMetaData.version"); break;
      case 2: {
        r.expect(f, WireType::List, "FileMetaData.schema");
        const auto h = r.read_list_header();
        if (h.element_type != WireType::Struct) r.fail_corrupt("FileMetaData.schema is not a list of structs");
        for (uint32_t i = 0; i < h.size; ++i) m.schema.push_back(decode_schema_element(r));
        has_schema = true;
        break;
      }
      case 3:
        m.num_rows = i64_field(r, f, "FileMetaData.num_rows");
        has_rows = true;
        break;
      case 4: {
        r.expect(f, WireType::List, "FileMetaData.row_groups");
        const auto h = r.read_list_header();
        if (h.element_type != WireType::Struct) {
          r.fail_corrupt("FileMetaData.row_groups is not a list of structs");
        }
        for (uint32_t i = 0; i < h.size; ++i) m.row_groups.push_back(decode_row_group(r));
        has_groups = true;
        break;
      }
      case 6: m.created_by = string_field(r, f, "FileMetaData.created_by"); break;
      case 8:
        m.encryption_algorithm = true;
        r.skip(f.type);
        break;
      default: r.skip(f.type);
    }
  }
  r.end_struct();
  require(r, has_schema, "FileMetaData", "schema");
  require(r, has_rows, "FileMetaData", "num_rows");
  require(r, has_groups, "FileMetaData", "row_groups");
  return m;
}

namespace {

DataPageHeader decode_data_page_header(CompactReader& r) {
  DataPageHeader h;
  bool has[5] = {};
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: h.num_values = i32_field(r, f, "DataPageHeader.num_values"); break;
      case 2: h.encoding = static_cast<Encoding>(i32_field(r, f, "DataPageHeader.encoding")); break;
      case 3:
        h.definition_level_encoding =
            static_cast<Encoding>(i32_field(r, f, "DataPageHeader.definition_level_encoding"));
        break;
      case 4:
        h.repetition_level_encoding =
            static_cast<Encoding>(i32_field(r, f, "DataPageHeader.repetition_level_encoding"));
        break;
      default: r.skip(f.type);
    }
    if (f.id >= 1 && f.id <= 4) has[f.id] = true;
  }
  r.end_struct();
  require(r, has[1], "DataPageHeader", "num_values");
  require(r, has[2], "DataPageHeader", "encoding");
  return h;
}

DictionaryPageHeader decode_dictionary_page_header(CompactReader& r) {
  DictionaryPageHeader h;
  bool has_values = false, has_encoding = false;
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1:
        h.num_values = i32_field(r, f, "DictionaryPageHeader.num_values");
        has_values = true;
        break;
      case 2:
        h.encoding = static_cast<Encoding>(i32_field(r, f, "DictionaryPageHeader.encoding"));
        has_encoding = true;
        break;
      default: r.skip(f.type);
    }
  }
  r.end_struct();
  require(r, has_values, "DictionaryPageHeader", "num_values");
  require(r, has_encoding, "DictionaryPageHeader", "encoding");
  return h;
}

DataPageHeaderV2 decode_data_page_header_v2(CompactReader& r) {
  DataPageHeaderV2 h;
  bool has[8] = {};
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: h.num_values = i32_field(r, f, "DataPageHeaderV2.num_values"); break;
      case 2: h.num_nulls = i32_field(r, f, "DataPageHeaderV2.num_nulls"); break;
      case 3: h.num_rows = i32_field(r, f, "DataPageHeaderV2.num_rows"); break;
      case 4: h.encoding = static_cast<Encoding>(i32_field(r, f, "DataPageHeaderV2.encoding")); break;
      case 5:
        h.definition_levels_byte_length = i32_field(r, f, "DataPageHeaderV2.definition_levels_byte_length");
        break;
      case 6:
        h.repetition_levels_byte_length = i32_field(r, f, "DataPageHeaderV2.repetition_levels_byte_length");
        break;
      case 7:
        r.expect(f, WireType::BoolTrue, "DataPageHeaderV2.is_compressed");
        h.is_compressed = r.bool_field_value(f.type);
        break;
      default: r.skip(f.type);
    }
    if (f.id >= 1 && f.id <= 7) has[f.id] = true;
  }
  r.end_struct();
  require(r, has[1], "DataPageHeaderV2", "num_values");
  require(r, has[2], "DataPageHeaderV2", "num_nulls");
  require(r, has[3], "DataPageHeaderV2", "num_rows");
  require(r, has[4], "DataPageHeaderV2", "encoding");
  require(r, has[5], "DataPageHeaderV2", "definition_levels_byte_length");
  require(r, has[6], "DataPageHeaderV2", "repetition_levels_byte_length");
  return h;
}

}  // namespace

PageHeader decode_page_header(std::span<const uint8_t> bytes, size_t& header_size) {
  CompactReader r(bytes, "page header");
  PageHeader h;
  bool has[4] = {};
  r.begin_struct();
  FieldHeader f;
  while (r.next_field(f)) {
    switch (f.id) {
      case 1: h.type = static_cast<PageType>(i32_field(r, f, "PageHeader.type")); break;
      case 2: h.uncompressed_page_size = i32_field(r, f, "PageHeader.uncompressed_page_size"); break;
      case 3: h.compressed_page_size = i32_field(r, f, "PageHeader.compressed_page_size"); break;
      case 4: h.crc = static_cast<uint32_t>(i32_field(r, f, "PageHeader.crc")); break;
      case 5:
        r.expect(f, WireType::Struct, "PageHeader.data_page_header");
        h.data_page = decode_data_page_header(r);
        break;
      case 7:
        r.expect(f, WireType::Struct, "PageHeader.dictionary_page_header");
        h.dictionary_page = decode_dictionary_page_header(r);
        break;
      case 8:
        r.expect(f, WireType::Struct, "PageHeader.data_page_header_v2");
        h.data_page_v2 = decode_data_page_header_v2(r);
        break;
      default: r.skip(f.type);
    }
    if (f.id >= 1 && f.id <= 3) has[f.id] = true;
  }
  r.end_struct();
  require(r, has[1], "PageHeader", "type");
  require(r, has[2], "PageHeader", "uncompressed_page_size");
  require(r, has[3], "PageHeader", "compressed_page_size");
  header_size = r.position();
  return h;
}

// ---------------------------------------------------------------------------------------------

namespace {

void encode_schema_element(CompactWriter& w, const SchemaElement& e) {
  w.begin_struct();
  if (e.type) w.i32_field(1, static_cast<int32_t>(*e.type));
  if (e.type == PhysicalType::FixedLenByteArray) w.i32_field(2, e.type_length);
  if (e.repetition) w.i32_field(3, static_cast<int32_t>(*e.repetition));
  w.binary_field(4, e.name);
  if (!e.type) w.i32_field(5, e.num_children);
  if (e.converted_type) w.i32_field(6, *e.converted_type);
  if (e.logical_type_string) {
    w.field_header(10, WireType::Struct);  // LogicalType union
    w.begin_struct();
    w.field_header(1, WireType::Struct);  // STRING: StringType {}
    w.begin_struct();
    w.end_struct();
    w.end_struct();
  }
  w.end_struct();
}

void encode_column_metadata(CompactWriter& w, const ColumnMetaData& m) {
  w.begin_struct();
  w.i32_field(1, static_cast<int32_t>(m.type));
  w.field_header(2, WireType::List);
  w.list_header(WireType::I32, static_cast<uint32_t>(m.encodings.size()));
  for (Encoding e : m.encodings) w.write_i32(static_cast<int32_t>(e));
  w.field_header(3, WireType::List);
  w.list_header(WireType::Binary, static_cast<uint32_t>(m.path_in_schema.size()));
  for (const auto& p : m.path_in_schema) w.write_binary(p);
  w.i32_field(4, static_cast<int32_t>(m.codec));
  w.i64_field(5, m.num_values);
  w.i64_field(6, m.total_uncompressed_size);
  w.i64_field(7, m.total_compressed_size);
  w.i64_field(9, m.data_page_offset);
  if (m.dictionary_page_offset) w.i64_field(11, *m.dictionary_page_offset);
  w.end_struct();
}

}  // namespace

std::string encode_file_metadata(const FileMetaData& meta) {
  CompactWriter w;
  w.begin_struct();
  w.i32_field(1, meta.version);
  w.field_header(2, WireType::List);
  w.list_header(WireType::Struct, static_cast<uint32_t>(meta.schema.size()));
  for (const auto& e : meta.schema) encode_schema_element(w, e);
  w.i64_field(3, meta.num_rows);
  w.field_header(4, WireType::List);
  w.list_header(WireType::Struct, static_cast<uint32_t>(meta.row_groups.size()));
  for (size_t g = 0; g < meta.row_groups.size(); ++g) {
    const RowGroup& rg = meta.row_groups[g];
    int64_t compressed = 0;
    int64_t first_offset = 0;
    w.begin_struct();
    w.field_header(1, WireType::List);
    w.list_header(WireType::Struct, static_cast<uint32_t>(rg.columns.size()));
    for (size_t c = 0; c < rg.columns.size(); ++c) {
      const ColumnChunk& chunk = rg.columns[c];
      NC_CHECK(chunk.meta_data.has_value(), "encode_file_metadata: column chunk without metadata");
      const ColumnMetaData& m = *chunk.meta_data;
      compressed += m.total_compressed_size;
      if (c == 0) first_offset = m.dictionary_page_offset.value_or(m.data_page_offset);
      w.begin_struct();
      w.i64_field(2, chunk.file_offset);
      w.field_header(3, WireType::Struct);
      encode_column_metadata(w, m);
      w.end_struct();
    }
    w.i64_field(2, rg.total_byte_size);
    w.i64_field(3, rg.num_rows);
    w.i64_field(5, first_offset);                        // RowGroup.file_offset
    w.i64_field(6, compressed);                          // RowGroup.total_compressed_size
    w.i16_field(7, static_cast<int16_t>(g & 0x7fff));    // RowGroup.ordinal
    w.end_struct();
  }
  if (!meta.created_by.empty()) w.binary_field(6, meta.created_by);
  // column_orders: TYPE_ORDER for every leaf, as current writers emit.
  size_t leaves = 0;
  for (const auto& e : meta.schema) leaves += e.type.has_value() ? 1 : 0;
  w.field_header(7, WireType::List);
  w.list_header(WireType::Struct, static_cast<uint32_t>(leaves));
  for (size_t i = 0; i < leaves; ++i) {
    w.begin_struct();
    w.field_header(1, WireType::Struct);
    w.begin_struct();
    w.end_struct();
    w.end_struct();
  }
  w.end_struct();
  return w.take();
}

std::string encode_page_header(const PageHeader& header) {
  CompactWriter w;
  w.begin_struct();
  w.i32_field(1, static_cast<int32_t>(header.type));
  w.i32_field(2, header.uncompressed_page_size);
  w.i32_field(3, header.compressed_page_size);
  if (header.crc) w.i32_field(4, static_cast<int32_t>(*header.crc));
  NC_CHECK(header.type == PageType::DataPage && header.data_page.has_value(),
           "encode_page_header: only v1 data pages are written");
  const DataPageHeader& d = *header.data_page;
  w.field_header(5, WireType::Struct);
  w.begin_struct();
  w.i32_field(1, d.num_values);
  w.i32_field(2, static_cast<int32_t>(d.encoding));
  w.i32_field(3, static_cast<int32_t>(d.definition_level_encoding));
  w.i32_field(4, static_cast<int32_t>(d.repetition_level_encoding));
  w.end_struct();
  w.end_struct();
  return w.take();
}

}  // namespace nanochat::parquet
