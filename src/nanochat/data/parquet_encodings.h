// Parquet value and level encodings used by the reader: the RLE/bit-packed hybrid (levels and
// dictionary indices), DELTA_BINARY_PACKED (integers, and the lengths inside
// DELTA_LENGTH_BYTE_ARRAY), and PLAIN / DELTA_LENGTH_BYTE_ARRAY byte arrays.
// Every decoder is bounded by its input span and the count it is asked for; malformed input
// throws nanochat::Error, and nothing allocates more than the requested count of elements.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace nanochat::parquet {

// Decodes `count` values of `bit_width` bits (0..32) from an RLE/bit-packed hybrid stream.
// The stream has no length prefix here (callers strip it). Returns the bytes consumed.
size_t decode_rle_bitpacked(std::span<const uint8_t> in, int bit_width, size_t count, uint32_t* out);

// Decodes a DELTA_BINARY_PACKED stream that must hold exactly `count` values (with 64-bit
// wrapping arithmetic; INT32 callers truncate). Returns the bytes consumed.
size_t decode_delta_binary_packed(std::span<const uint8_t> in, size_t count, std::vector<int64_t>& out);

// PLAIN byte arrays: `count` values, each a 4-byte little-endian length and the bytes.
// Views point into `in`.
void decode_plain_byte_arrays(std::span<const uint8_t> in, size_t count, std::vector<std::string_view>& out);

// DELTA_LENGTH_BYTE_ARRAY: DELTA_BINARY_PACKED lengths, then the concatenated bytes.
void decode_delta_length_byte_arrays(std::span<const uint8_t> in, size_t count,
                                     std::vector<std::string_view>& out);

// PLAIN INT32 (sign-extended) or INT64 values.
void decode_plain_ints(std::span<const uint8_t> in, size_t count, int width_bytes, std::vector<int64_t>& out);

// Number of bits needed to store values 0..max_value.
int bit_width_for(uint32_t max_value);

// Encoders used by the writer and by tests.
void encode_uleb128(uint64_t value, std::vector<uint8_t>& out);
// One RLE run of `count` copies of `value` (bit_width 1..32).
void encode_rle_run(uint32_t value, int bit_width, uint64_t count, std::vector<uint8_t>& out);

}  // namespace nanochat::parquet
