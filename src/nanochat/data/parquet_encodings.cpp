#include "nanochat/data/parquet_encodings.h"

#include <algorithm>
#include <cstring>

#include "nanochat/core/error.h"

namespace nanochat::parquet {

namespace {

// Reads an unsigned LEB128 varint at in[pos]; advances pos.
uint64_t read_uleb128(std::span<const uint8_t> in, size_t& pos, const char* what) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    NC_CHECK(pos < in.size(), "corrupt {}: truncated varint", what);
    const uint8_t b = in[pos++];
    result |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      NC_CHECK(!(shift == 63 && b > 1), "corrupt {}: varint overflows 64 bits", what);
      return result;
    }
  }
  fail("corrupt {}: varint longer than 10 bytes", what);
}

int64_t zigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Reads `bits` (0..56) bits starting at bit offset `bit_pos` of `base`, least significant first.
// The caller guarantees the bytes exist.
uint64_t read_bits_small(const uint8_t* base, uint64_t bit_pos, int bits) {
  if (bits == 0) return 0;
  const uint8_t* p = base + bit_pos / 8;
  const int shift = static_cast<int>(bit_pos % 8);
  const int nbytes = (shift + bits + 7) / 8;
  uint64_t acc = 0;
  for (int k = 0; k < nbytes; ++k) acc |= static_cast<uint64_t>(p[k]) << (8 * k);
  acc >>= shift;
  return bits == 64 ? acc : acc & ((uint64_t{1} << bits) - 1);
}

uint64_t read_bits(const uint8_t* base, uint64_t bit_pos, int bits) {
  if (bits <= 56) return read_bits_small(base, bit_pos, bits);
  const uint64_t low = read_bits_small(base, bit_pos, 32);
  const uint64_t high = read_bits_small(base, bit_pos + 32, bits - 32);
  return low | (high << 32);
}

}  // namespace

int bit_width_for(uint32_t max_value) {
  int w = 0;
  while (max_value != 0) {
    ++w;
    max_value >>= 1;
  }
  return w;
}

size_t decode_rle_bitpacked(std::span<const uint8_t> in, int bit_width, size_t count, uint32_t* out) {
  NC_CHECK(bit_width >= 0 && bit_width <= 32, "corrupt RLE data: bit width {}", bit_width);
  if (count == 0) return 0;
  if (bit_width == 0) {
    // Every value is 0 and the runs carry no payload; some writers still emit run headers,
    // which a reader of a zero-width stream may ignore.
    std::fill(out, out + count, 0u);
    return 0;
  }
  const size_t value_bytes = static_cast<size_t>((bit_width + 7) / 8);
  size_t pos = 0, done = 0;
  while (done < count) {
    const uint64_t header = read_uleb128(in, pos, "RLE/bit-packed data");
    if ((header & 1) == 0) {
      const uint64_t run = header >> 1;
      NC_CHECK(run > 0, "corrupt RLE data: empty run");
      NC_CHECK(in.size() - pos >= value_bytes, "corrupt RLE data: truncated run value");
      uint32_t value = 0;
      for (size_t k = 0; k < value_bytes; ++k) value |= static_cast<uint32_t>(in[pos + k]) << (8 * k);
      pos += value_bytes;
      NC_CHECK(bit_width == 32 || value < (uint32_t{1} << bit_width), "corrupt RLE data: run value too wide");
      const size_t n = static_cast<size_t>(std::min<uint64_t>(run, count - done));
      std::fill(out + done, out + done + n, value);
      done += n;
    } else {
      const uint64_t groups = header >> 1;
      NC_CHECK(groups > 0, "corrupt RLE data: empty bit-packed run");
      NC_CHECK(groups <= (in.size() - pos) / static_cast<uint64_t>(bit_width) + 1,
               "corrupt RLE data: bit-packed run exceeds the data");
      // Writers may drop the padding bytes of the final group; use what is present.
      const uint64_t run_bytes = std::min<uint64_t>(groups * static_cast<uint64_t>(bit_width), in.size() - pos);
      const uint64_t available = run_bytes * 8 / static_cast<uint64_t>(bit_width);
      const uint64_t values = std::min<uint64_t>(groups * 8, available);
      const size_t n = static_cast<size_t>(std::min<uint64_t>(values, count - done));
      NC_CHECK(n > 0 || done == count, "corrupt RLE data: truncated bit-packed run");
      const uint8_t* base = in.data() + pos;
      for (size_t i = 0; i < n; ++i) {
        out[done + i] = static_cast<uint32_t>(read_bits_small(base, static_cast<uint64_t>(i) * bit_width, bit_width));
      }
      done += n;
      pos += static_cast<size_t>(run_bytes);
    }
  }
  return pos;
}

size_t decode_delta_binary_packed(std::span<const uint8_t> in, size_t count, std::vector<int64_t>& out) {
  const char* what = "DELTA_BINARY_PACKED data";
  size_t pos = 0;
  const uint64_t block_size = read_uleb128(in, pos, what);
  const uint64_t miniblocks = read_uleb128(in, pos, what);
  const uint64_t total = read_uleb128(in, pos, what);
  const int64_t first = zigzag(read_uleb128(in, pos, what));
  NC_CHECK(block_size > 0 && block_size % 128 == 0 && block_size <= (1u << 20),
           "corrupt {}: block size {}", what, block_size);
  NC_CHECK(miniblocks > 0 && block_size % miniblocks == 0 && (block_size / miniblocks) % 32 == 0,
           "corrupt {}: {} miniblocks per block of {}", what, miniblocks, block_size);
  NC_CHECK(total == count, "corrupt {}: holds {} values, expected {}", what, total, count);
  const uint64_t per_miniblock = block_size / miniblocks;
  out.clear();
  if (count == 0) return pos;
  out.reserve(count);
  uint64_t value = static_cast<uint64_t>(first);
  out.push_back(first);
  uint8_t widths[256];
  NC_CHECK(miniblocks <= sizeof(widths), "corrupt {}: {} miniblocks per block", what, miniblocks);
  while (out.size() < count) {
    const uint64_t min_delta = static_cast<uint64_t>(zigzag(read_uleb128(in, pos, what)));
    NC_CHECK(in.size() - pos >= miniblocks, "corrupt {}: truncated miniblock widths", what);
    std::memcpy(widths, in.data() + pos, miniblocks);
    pos += miniblocks;
    for (uint64_t m = 0; m < miniblocks && out.size() < count; ++m) {
      const int width = widths[m];
      NC_CHECK(width <= 64, "corrupt {}: miniblock bit width {}", what, width);
      const uint64_t bytes = per_miniblock * static_cast<uint64_t>(width) / 8;
      NC_CHECK(in.size() - pos >= bytes, "corrupt {}: truncated miniblock", what);
      const uint8_t* base = in.data() + pos;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(per_miniblock, count - out.size()));
      for (size_t i = 0; i < n; ++i) {
        value += min_delta + read_bits(base, static_cast<uint64_t>(i) * width, width);  // wraps mod 2^64
        out.push_back(static_cast<int64_t>(value));
      }
      pos += static_cast<size_t>(bytes);
    }
  }
  return pos;
}

void decode_plain_byte_arrays(std::span<const uint8_t> in, size_t count, std::vector<std::string_view>& out) {
  NC_CHECK(count <= in.size() / 4, "corrupt PLAIN data: {} byte arrays cannot fit in {} bytes", count,
           in.size());
  out.clear();
  out.reserve(count);
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    NC_CHECK(in.size() - pos >= 4, "corrupt PLAIN data: truncated length of value {}", i);
    uint32_t len = 0;
    std::memcpy(&len, in.data() + pos, 4);
    pos += 4;
    NC_CHECK(len <= in.size() - pos, "corrupt PLAIN data: value {} of {} bytes exceeds the page", i, len);
    out.emplace_back(reinterpret_cast<const char*>(in.data() + pos), len);
    pos += len;
  }
}

void decode_delta_length_byte_arrays(std::span<const uint8_t> in, size_t count,
                                     std::vector<std::string_view>& out) {
  std::vector<int64_t> lengths;
  size_t pos = decode_delta_binary_packed(in, count, lengths);
  out.clear();
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const int64_t len = lengths[i];
    NC_CHECK(len >= 0 && static_cast<uint64_t>(len) <= in.size() - pos,
             "corrupt DELTA_LENGTH_BYTE_ARRAY data: value {} has length {} ({} bytes left)", i, len,
             in.size() - pos);
    out.emplace_back(reinterpret_cast<const char*>(in.data() + pos), static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
  }
}

void decode_plain_ints(std::span<const uint8_t> in, size_t count, int width_bytes, std::vector<int64_t>& out) {
  NC_CHECK(width_bytes == 4 || width_bytes == 8, "decode_plain_ints: width {}", width_bytes);
  NC_CHECK(count <= in.size() / static_cast<size_t>(width_bytes),
           "corrupt PLAIN data: {} values of {} bytes exceed the page ({} bytes)", count, width_bytes, in.size());
  out.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (width_bytes == 4) {
      int32_t v = 0;
      std::memcpy(&v, in.data() + 4 * i, 4);
      out[i] = v;
    } else {
      std::memcpy(&out[i], in.data() + 8 * i, 8);
    }
  }
}

void encode_uleb128(uint64_t value, std::vector<uint8_t>& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

void encode_rle_run(uint32_t value, int bit_width, uint64_t count, std::vector<uint8_t>& out) {
  NC_CHECK(bit_width >= 1 && bit_width <= 32 && count > 0, "encode_rle_run: bad arguments");
  encode_uleb128(count << 1, out);
  for (int k = 0; k < (bit_width + 7) / 8; ++k) out.push_back(static_cast<uint8_t>(value >> (8 * k)));
}

}  // namespace nanochat::parquet
