// Decoding and encoding of Parquet's Thrift metadata: the footer (FileMetaData) and page headers.
// Decoders throw nanochat::Error on malformed or truncated input; required fields that are
// missing are reported by name.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "nanochat/data/parquet_format.h"

namespace nanochat::parquet {

FileMetaData decode_file_metadata(std::span<const uint8_t> footer);

// Decodes the page header at the start of `bytes`; sets header_size to the bytes it used.
PageHeader decode_page_header(std::span<const uint8_t> bytes, size_t& header_size);

std::string encode_file_metadata(const FileMetaData& meta);
std::string encode_page_header(const PageHeader& header);

}  // namespace nanochat::parquet
