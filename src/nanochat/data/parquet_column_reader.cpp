#include "nanochat/data/parquet_column_reader.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/data/parquet_codecs.h"
#include "nanochat/data/parquet_encodings.h"
#include "nanochat/data/parquet_metadata.h"

namespace nanochat::parquet {

namespace {

bool is_dictionary_encoding(Encoding e) {
  return e == Encoding::PlainDictionary || e == Encoding::RleDictionary;
}

uint32_t crc32_of(std::span<const uint8_t> bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t n = std::min<size_t>(bytes.size() - pos, UINT_MAX);
    crc = crc32(crc, bytes.data() + pos, static_cast<uInt>(n));
    pos += n;
  }
  return static_cast<uint32_t>(crc);
}

class ChunkDecoder {
 public:
  // `level_sink` is null for flat columns (the fast path: no per-entry level calls) and set for
  // nested or repeated leaves, which then report every entry's levels.
  ChunkDecoder(const LeafColumn& column, const ColumnMetaData& meta, const ReaderOptions& options,
               ColumnSink& sink, LevelSink* level_sink)
      : column_(column),
        meta_(meta),
        options_(options),
        sink_(sink),
        level_sink_(level_sink),
        def_width_(bit_width_for(static_cast<uint32_t>(column.max_definition_level))),
        rep_width_(bit_width_for(static_cast<uint32_t>(column.max_repetition_level))) {}

  void run(std::span<const uint8_t> chunk) {
    size_t pos = 0;
    while (values_seen_ < meta_.num_values) {
      NC_CHECK(pos < chunk.size(), "column chunk ends after {} of its {} values", values_seen_, meta_.num_values);
      size_t header_size = 0;
      const PageHeader h = decode_page_header(chunk.subspan(pos), header_size);
      pos += header_size;
      NC_CHECK(h.compressed_page_size >= 0 && static_cast<uint64_t>(h.compressed_page_size) <= chunk.size() - pos,
               "corrupt page header: compressed size {} exceeds the column chunk ({} bytes left)",
               h.compressed_page_size, chunk.size() - pos);
      NC_CHECK(h.uncompressed_page_size >= 0 && h.uncompressed_page_size <= options_.max_page_bytes,
               "page of {} bytes (uncompressed) is outside the limit of {}", h.uncompressed_page_size,
               options_.max_page_bytes);
      const auto body = chunk.subspan(pos, static_cast<size_t>(h.compressed_page_size));
      pos += body.size();
      if (h.crc && options_.verify_page_checksums) {
        const uint32_t actual = crc32_of(body);
        NC_CHECK(actual == *h.crc, "page checksum mismatch (stored {:08x}, computed {:08x})", *h.crc, actual);
      }
      switch (h.type) {
        case PageType::DictionaryPage: read_dictionary_page(h, body); break;
        case PageType::DataPage: read_data_page_v1(h, body); break;
        case PageType::DataPageV2: read_data_page_v2(h, body); break;
        default: break;  // index pages and unknown page types carry no values
      }
    }
  }

 private:
  void read_dictionary_page(const PageHeader& h, std::span<const uint8_t> body) {
    NC_CHECK(h.dictionary_page.has_value(), "dictionary page without its header");
    NC_CHECK(!has_dictionary_, "second dictionary page in one column chunk");
    NC_CHECK(values_seen_ == 0, "dictionary page after data pages");
    const DictionaryPageHeader& d = *h.dictionary_page;
    NC_CHECK(d.encoding == Encoding::Plain || d.encoding == Encoding::PlainDictionary,
             "unsupported dictionary page encoding {}", encoding_name(d.encoding));
    NC_CHECK(d.num_values >= 0, "corrupt dictionary page: {} values", d.num_values);
    const auto data = decompress(meta_.codec, body, static_cast<size_t>(h.uncompressed_page_size), dict_storage_);
    const auto count = static_cast<size_t>(d.num_values);
    if (column_.type == PhysicalType::ByteArray) {
      // Views point into dict_storage_ (or into the chunk when uncompressed); both outlive decoding.
      decode_plain_byte_arrays(data, count, dict_bytes_);
    } else {
      decode_plain_ints(data, count, int_width(), dict_ints_);
    }
    has_dictionary_ = true;
  }

  void read_data_page_v1(const PageHeader& h, std::span<const uint8_t> body) {
    NC_CHECK(h.data_page.has_value(), "data page without its header");
    const DataPageHeader& d = *h.data_page;
    const size_t n = check_page_values(d.num_values);
    auto data = decompress(meta_.codec, body, static_cast<size_t>(h.uncompressed_page_size), page_storage_);
    // v1 pages store repetition levels, then definition levels, each with a 4-byte length.
    if (column_.max_repetition_level > 0) {
      NC_CHECK(d.repetition_level_encoding == Encoding::Rle,
               "unsupported repetition level encoding {}", encoding_name(d.repetition_level_encoding));
      NC_CHECK(data.size() >= 4, "corrupt data page: truncated repetition levels");
      uint32_t len = 0;
      std::memcpy(&len, data.data(), 4);
      NC_CHECK(len <= data.size() - 4, "corrupt data page: repetition levels of {} bytes exceed the page", len);
      rep_levels_.resize(n);
      decode_rle_bitpacked(data.subspan(4, len), rep_width_, n, rep_levels_.data());
      data = data.subspan(4 + static_cast<size_t>(len));
    }
    if (column_.max_definition_level > 0) {
      NC_CHECK(d.definition_level_encoding == Encoding::Rle,
               "unsupported definition level encoding {}", encoding_name(d.definition_level_encoding));
      NC_CHECK(data.size() >= 4, "corrupt data page: truncated definition levels");
      uint32_t len = 0;
      std::memcpy(&len, data.data(), 4);
      NC_CHECK(len <= data.size() - 4, "corrupt data page: definition levels of {} bytes exceed the page", len);
      decode_levels(data.subspan(4, len), n);
      data = data.subspan(4 + static_cast<size_t>(len));
    }
    emit_page(d.encoding, data, n);
  }

  void read_data_page_v2(const PageHeader& h, std::span<const uint8_t> body) {
    NC_CHECK(h.data_page_v2.has_value(), "data page v2 without its header");
    const DataPageHeaderV2& d = *h.data_page_v2;
    const size_t n = check_page_values(d.num_values);
    const int64_t rep_len = d.repetition_levels_byte_length;
    const int64_t def_len = d.definition_levels_byte_length;
    NC_CHECK(rep_len >= 0 && def_len >= 0 && rep_len + def_len <= static_cast<int64_t>(body.size()) &&
                 rep_len + def_len <= h.uncompressed_page_size,
             "corrupt data page v2: level lengths {} + {} exceed the page", rep_len, def_len);
    NC_CHECK(rep_len == 0 || column_.max_repetition_level > 0,
             "corrupt data page v2: repetition levels in a non-repeated column");
    // Levels are stored uncompressed before the (possibly compressed) values.
    const auto levels = body.subspan(static_cast<size_t>(rep_len), static_cast<size_t>(def_len));
    const auto values_in = body.subspan(static_cast<size_t>(rep_len + def_len));
    const auto values_size = static_cast<size_t>(h.uncompressed_page_size - rep_len - def_len);
    const Codec codec = d.is_compressed ? meta_.codec : Codec::Uncompressed;
    const auto data = decompress(codec, values_in, values_size, page_storage_);
    if (column_.max_repetition_level > 0) {
      rep_levels_.resize(n);
      decode_rle_bitpacked(body.subspan(0, static_cast<size_t>(rep_len)), rep_width_, n, rep_levels_.data());
    }
    if (column_.max_definition_level > 0) decode_levels(levels, n);
    emit_page(d.encoding, data, n);
  }

  size_t check_page_values(int32_t num_values) {
    NC_CHECK(num_values >= 0 && num_values <= meta_.num_values - values_seen_,
             "corrupt data page: {} values, but only {} of the column chunk's {} remain", num_values,
             meta_.num_values - values_seen_, meta_.num_values);
    return static_cast<size_t>(num_values);
  }

  void decode_levels(std::span<const uint8_t> in, size_t n) {
    levels_.resize(n);
    decode_rle_bitpacked(in, def_width_, n, levels_.data());
  }

  int int_width() const { return column_.type == PhysicalType::Int32 ? 4 : 8; }

  void emit_page(Encoding encoding, std::span<const uint8_t> data, size_t n) {
    if (level_sink_ != nullptr) {
      emit_leveled_page(encoding, data, n);
      return;
    }
    const bool nullable = column_.max_definition_level > 0;
    size_t non_null = n;
    if (nullable) {
      non_null = 0;
      for (size_t i = 0; i < n; ++i) non_null += levels_[i];
    }
    decode_values(encoding, data, non_null);
    size_t next = 0;
    for (size_t i = 0; i < n; ++i) {
      if (nullable && levels_[i] == 0) {
        sink_.on_null();
      } else {
        emit_value(next++);
      }
    }
    values_seen_ += static_cast<int64_t>(n);
  }

  // Levels are untrusted: the RLE decoder bounds them by bit width only, not by the maxima.
  void emit_leveled_page(Encoding encoding, std::span<const uint8_t> data, size_t n) {
    const auto max_def = static_cast<uint32_t>(column_.max_definition_level);
    const auto max_rep = static_cast<uint32_t>(column_.max_repetition_level);
    size_t non_null = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t def = max_def > 0 ? levels_[i] : 0;
      const uint32_t rep = max_rep > 0 ? rep_levels_[i] : 0;
      NC_CHECK(def <= max_def, "corrupt data page: definition level {} exceeds the column's maximum {}", def,
               max_def);
      NC_CHECK(rep <= max_rep, "corrupt data page: repetition level {} exceeds the column's maximum {}", rep,
               max_rep);
      NC_CHECK(rep == 0 || values_seen_ + static_cast<int64_t>(i) > 0,
               "corrupt data page: the column chunk starts inside a row (repetition level {})", rep);
      non_null += def == max_def;
    }
    decode_values(encoding, data, non_null);
    size_t next = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t def = max_def > 0 ? levels_[i] : 0;
      level_sink_->on_levels(max_rep > 0 ? rep_levels_[i] : 0, def);
      if (def < max_def) {
        sink_.on_null();
      } else {
        emit_value(next++);
      }
    }
    values_seen_ += static_cast<int64_t>(n);
  }

  void decode_indices(std::span<const uint8_t> data, size_t count, size_t dict_size) {
    NC_CHECK(has_dictionary_, "dictionary-encoded data page without a dictionary page");
    indices_.resize(count);
    if (count == 0) return;
    NC_CHECK(!data.empty(), "corrupt dictionary-encoded page: missing bit width");
    const int width = data[0];
    NC_CHECK(width <= 32, "corrupt dictionary-encoded page: bit width {}", width);
    decode_rle_bitpacked(data.subspan(1), width, count, indices_.data());
    for (size_t i = 0; i < count; ++i) {
      NC_CHECK(indices_[i] < dict_size, "corrupt dictionary-encoded page: index {} outside a dictionary of {}",
               indices_[i], dict_size);
    }
  }

  // The page's `count` non-null values, into bytes_ or ints_ by the column's type.
  void decode_values(Encoding encoding, std::span<const uint8_t> data, size_t count) {
    if (column_.type == PhysicalType::ByteArray) {
      decode_byte_arrays(encoding, data, count);
    } else {
      decode_ints(encoding, data, count);
    }
  }

  // The i-th decoded non-null value of the page, to the sink.
  void emit_value(size_t i) {
    if (column_.type == PhysicalType::ByteArray) {
      sink_.on_bytes(bytes_[i]);
    } else {
      sink_.on_int(ints_[i]);
    }
  }

  void decode_byte_arrays(Encoding encoding, std::span<const uint8_t> data, size_t count) {
    if (encoding == Encoding::Plain) {
      decode_plain_byte_arrays(data, count, bytes_);
    } else if (is_dictionary_encoding(encoding)) {
      decode_indices(data, count, dict_bytes_.size());
      bytes_.resize(count);
      for (size_t i = 0; i < count; ++i) bytes_[i] = dict_bytes_[indices_[i]];
    } else if (encoding == Encoding::DeltaLengthByteArray) {
      decode_delta_length_byte_arrays(data, count, bytes_);
    } else {
      fail("unsupported encoding {} for a BYTE_ARRAY column", encoding_name(encoding));
    }
  }

  void decode_ints(Encoding encoding, std::span<const uint8_t> data, size_t count) {
    if (encoding == Encoding::Plain) {
      decode_plain_ints(data, count, int_width(), ints_);
    } else if (is_dictionary_encoding(encoding)) {
      decode_indices(data, count, dict_ints_.size());
      ints_.resize(count);
      for (size_t i = 0; i < count; ++i) ints_[i] = dict_ints_[indices_[i]];
    } else if (encoding == Encoding::DeltaBinaryPacked) {
      decode_delta_binary_packed(data, count, ints_);
      if (column_.type == PhysicalType::Int32) {
        for (auto& v : ints_) v = static_cast<int32_t>(v);  // the writer's deltas wrap at 32 bits
      }
    } else {
      fail("unsupported encoding {} for an {} column", encoding_name(encoding), physical_type_name(column_.type));
    }
  }

  const LeafColumn& column_;
  const ColumnMetaData& meta_;
  const ReaderOptions& options_;
  ColumnSink& sink_;
  LevelSink* level_sink_;
  int def_width_, rep_width_;
  int64_t values_seen_ = 0;
  bool has_dictionary_ = false;
  ByteBuffer dict_storage_, page_storage_;
  std::vector<std::string_view> dict_bytes_, bytes_;
  std::vector<int64_t> dict_ints_, ints_;
  std::vector<uint32_t> levels_, rep_levels_, indices_;  // levels_: definition levels
};

}  // namespace

void read_column_chunk(std::span<const uint8_t> chunk, const LeafColumn& column, const ColumnMetaData& meta,
                       const ReaderOptions& options, ColumnSink& sink) {
  NC_CHECK(column.is_flat() && column.max_definition_level <= 1,
           "column '{}' is nested or repeated; only flat columns are supported", column.path);
  NC_CHECK(column.type == PhysicalType::ByteArray || column.type == PhysicalType::Int32 ||
               column.type == PhysicalType::Int64,
           "column '{}' has physical type {}, which this reader does not decode", column.path,
           physical_type_name(column.type));
  NC_CHECK(codec_supported(meta.codec), "unsupported compression codec {} in column '{}'", codec_name(meta.codec),
           column.path);
  NC_CHECK(meta.num_values >= 0, "corrupt column metadata: {} values", meta.num_values);
  ChunkDecoder(column, meta, options, sink, nullptr).run(chunk);
}

void read_leveled_column_chunk(std::span<const uint8_t> chunk, const LeafColumn& column,
                               const ColumnMetaData& meta, const ReaderOptions& options, LevelSink& sink) {
  NC_CHECK(column.type == PhysicalType::ByteArray || column.type == PhysicalType::Int32 ||
               column.type == PhysicalType::Int64,
           "column '{}' has physical type {}, which this reader does not decode", column.path,
           physical_type_name(column.type));
  // Levels are decoded into 32-bit words with widths up to 32 bits; real schemas are far shallower.
  NC_CHECK(column.max_definition_level <= 255 && column.max_repetition_level <= 255,
           "column '{}' is nested {} levels deep; this reader supports at most 255", column.path,
           std::max(column.max_definition_level, column.max_repetition_level));
  NC_CHECK(codec_supported(meta.codec), "unsupported compression codec {} in column '{}'", codec_name(meta.codec),
           column.path);
  NC_CHECK(meta.num_values >= 0, "corrupt column metadata: {} values", meta.num_values);
  ChunkDecoder(column, meta, options, sink, &sink).run(chunk);
}

}  // namespace nanochat::parquet
