#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/data/parquet_encodings.h"

namespace nanochat::parquet {
namespace {

std::vector<uint32_t> rle(const std::vector<uint8_t>& bytes, int width, size_t count) {
  std::vector<uint32_t> out(count);
  decode_rle_bitpacked(bytes, width, count, out.data());
  return out;
}

TEST(RleBitPacked, DecodesTheSpecExamples) {
  // parquet-format Encodings.md: values 0..7 bit-packed with width 3 are 0x88 0xC6 0xFA.
  EXPECT_EQ(rle({0x03, 0x88, 0xC6, 0xFA}, 3, 8), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  // An RLE run: header 5<<1, value 7 in one byte.
  EXPECT_EQ(rle({0x0a, 0x07}, 3, 5), (std::vector<uint32_t>(5, 7)));
  // A run followed by a bit-packed group; the request may stop inside a group.
  EXPECT_EQ(rle({0x04, 0x01, 0x03, 0x88, 0xC6, 0xFA}, 3, 6), (std::vector<uint32_t>{1, 1, 0, 1, 2, 3}));
  // Width 1 definition levels: 0b10110100 -> 0,0,1,0,1,1,0,1.
  EXPECT_EQ(rle({0x03, 0xB4}, 1, 8), (std::vector<uint32_t>{0, 0, 1, 0, 1, 1, 0, 1}));
  // Two-byte run values for widths 9..16.
  EXPECT_EQ(rle({0x04, 0x34, 0x12}, 13, 2), (std::vector<uint32_t>{0x1234, 0x1234}));
  // Width 0: all zeros, no payload needed.
  EXPECT_EQ(rle({}, 0, 4), (std::vector<uint32_t>(4, 0)));
}

TEST(RleBitPacked, RejectsMalformedStreams) {
  EXPECT_THROW(rle({}, 1, 1), Error);                   // no data at all
  EXPECT_THROW(rle({0x0a}, 3, 5), Error);               // run without its value
  EXPECT_THROW(rle({0x0a, 0x09}, 3, 5), Error);         // value wider than 3 bits
  EXPECT_THROW(rle({0x04, 0x01}, 1, 3), Error);         // stream holds 2 values, 3 wanted
  EXPECT_THROW(rle({0x00}, 1, 1), Error);               // empty run
  EXPECT_THROW(rle({0x07, 0xff}, 8, 16), Error);        // 3 groups of 8 bytes announced, 1 byte present
  EXPECT_THROW(rle({0x03, 0x00}, 33, 1), Error);        // width beyond 32
}

// A straightforward DELTA_BINARY_PACKED encoder for tests (block 128, 4 miniblocks of 32).
std::vector<uint8_t> delta_encode(const std::vector<int64_t>& values) {
  std::vector<uint8_t> out;
  encode_uleb128(128, out);
  encode_uleb128(4, out);
  encode_uleb128(values.size(), out);
  auto zig = [](int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); };
  encode_uleb128(values.empty() ? 0 : zig(values[0]), out);
  for (size_t start = 1; start < values.size(); start += 128) {
    const size_t n = std::min<size_t>(128, values.size() - start);
    std::vector<uint64_t> deltas(n);
    for (size_t i = 0; i < n; ++i) deltas[i] = static_cast<uint64_t>(values[start + i]) - static_cast<uint64_t>(values[start + i - 1]);
    int64_t min_delta = INT64_MAX;
    for (uint64_t d : deltas) min_delta = std::min(min_delta, static_cast<int64_t>(d));
    encode_uleb128(zig(min_delta), out);
    const size_t width_pos = out.size();
    out.resize(out.size() + 4, 0);
    for (size_t m = 0; m * 32 < n; ++m) {
      uint64_t max_rel = 0;
      for (size_t i = m * 32; i < std::min(n, m * 32 + 32); ++i) max_rel = std::max(max_rel, deltas[i] - static_cast<uint64_t>(min_delta));
      int width = 0;
      while (width < 64 && (max_rel >> width) != 0) ++width;
      out[width_pos + m] = static_cast<uint8_t>(width);
      std::vector<uint8_t> packed(32 * static_cast<size_t>(width) / 8, 0);
      for (size_t i = 0; i < 32 && m * 32 + i < n; ++i) {
        const uint64_t rel = deltas[m * 32 + i] - static_cast<uint64_t>(min_delta);
        for (int b = 0; b < width; ++b) {
          if ((rel >> b) & 1) {
            const size_t bit = i * static_cast<size_t>(width) + static_cast<size_t>(b);
            packed[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
          }
        }
      }
      out.insert(out.end(), packed.begin(), packed.end());
    }
  }
  return out;
}

TEST(DeltaBinaryPacked, DecodesTheSpecExamples) {
  // Example 1 of Encodings.md: 1 2 3 4 5 -> deltas all 1, min delta 1, widths 0.
  const std::vector<uint8_t> ex1 = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00};
  std::vector<int64_t> out;
  EXPECT_EQ(decode_delta_binary_packed(ex1, 5, out), ex1.size());
  EXPECT_EQ(out, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  // Example 2: 7 5 3 1 2 3 4 5 -> min delta -2, relative 0 0 0 3 3 3 3, width 2.
  std::vector<uint8_t> ex2 = {0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 0x02, 0x00, 0x00, 0x00, 0xC0, 0x3F};
  ex2.resize(ex2.size() + 6, 0);  // the rest of the 8-byte miniblock
  EXPECT_EQ(decode_delta_binary_packed(ex2, 8, out), ex2.size());
  EXPECT_EQ(out, (std::vector<int64_t>{7, 5, 3, 1, 2, 3, 4, 5}));
  EXPECT_EQ(delta_encode({7, 5, 3, 1, 2, 3, 4, 5}), ex2);  // the test encoder agrees with the spec
}

TEST(DeltaBinaryPacked, RoundTripsRandomValuesOfEveryWidth) {
  std::mt19937_64 rng(12345);
  for (int trial = 0; trial < 20; ++trial) {
    const size_t n = 1 + rng() % 700;
    const int bits = static_cast<int>(rng() % 65);
    std::vector<int64_t> values(n);
    for (auto& v : values) v = bits == 64 ? static_cast<int64_t>(rng()) : static_cast<int64_t>(rng() % (uint64_t{1} << bits)) - (bits ? int64_t{1} << (bits - 1) : 0);
    if (trial == 0) values = {INT64_MIN, INT64_MAX, INT64_MIN, 0, -1};
    const auto bytes = delta_encode(values);
    std::vector<int64_t> out;
    EXPECT_EQ(decode_delta_binary_packed(bytes, values.size(), out), bytes.size());
    EXPECT_EQ(out, values) << "trial " << trial;
  }
}

TEST(DeltaBinaryPacked, RejectsMalformedHeadersAndData) {
  std::vector<int64_t> out;
  const std::vector<uint8_t> ok = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00};
  EXPECT_THROW(decode_delta_binary_packed(ok, 6, out), Error);  // count differs from the header
  auto bad = ok;
  bad[0] = 0x40;  // block size 64: not a multiple of 128
  bad[1] = 0x00;
  EXPECT_THROW(decode_delta_binary_packed(bad, 5, out), Error);
  bad = ok;
  bad[2] = 0x03;  // 128 / 3 miniblocks
  EXPECT_THROW(decode_delta_binary_packed(bad, 5, out), Error);
  bad = ok;
  bad[6] = 65;  // miniblock width 65
  EXPECT_THROW(decode_delta_binary_packed(bad, 5, out), Error);
  bad = ok;
  bad[6] = 8;  // width 8 needs 32 bytes of miniblock data that are absent
  EXPECT_THROW(decode_delta_binary_packed(bad, 5, out), Error);
  EXPECT_THROW(decode_delta_binary_packed(std::vector<uint8_t>(ok.begin(), ok.begin() + 7), 5, out), Error);
}

TEST(ByteArrays, DecodePlainAndDeltaLength) {
  std::vector<uint8_t> plain = {5, 0, 0, 0, 'H', 'e', 'l', 'l', 'o', 0, 0, 0, 0, 2, 0, 0, 0, 0xC3, 0xA9};
  std::vector<std::string_view> out;
  decode_plain_byte_arrays(plain, 3, out);
  EXPECT_EQ(out, (std::vector<std::string_view>{"Hello", "", "\xC3\xA9"}));
  EXPECT_THROW(decode_plain_byte_arrays(plain, 4, out), Error);
  plain[0] = 200;  // length beyond the page
  EXPECT_THROW(decode_plain_byte_arrays(plain, 3, out), Error);

  // Encodings.md: "Hello", "World" -> DeltaEncoding(5, 5) then "HelloWorld".
  std::vector<uint8_t> dlba = delta_encode({5, 5});
  const std::string tail = "HelloWorld";
  dlba.insert(dlba.end(), tail.begin(), tail.end());
  decode_delta_length_byte_arrays(dlba, 2, out);
  EXPECT_EQ(out, (std::vector<std::string_view>{"Hello", "World"}));
  dlba.pop_back();
  EXPECT_THROW(decode_delta_length_byte_arrays(dlba, 2, out), Error);
  auto negative = delta_encode({5, -1});
  negative.insert(negative.end(), tail.begin(), tail.end());
  EXPECT_THROW(decode_delta_length_byte_arrays(negative, 2, out), Error);
}

TEST(PlainInts, DecodesInt32SignExtendedAndInt64) {
  std::vector<uint8_t> bytes(12);
  const int32_t a = -5, b = 70000;
  const int64_t c = INT64_MIN + 3;
  std::memcpy(bytes.data(), &a, 4);
  std::memcpy(bytes.data() + 4, &b, 4);
  std::vector<int64_t> out;
  decode_plain_ints(std::span<const uint8_t>(bytes).first(8), 2, 4, out);
  EXPECT_EQ(out, (std::vector<int64_t>{-5, 70000}));
  std::vector<uint8_t> wide(8);
  std::memcpy(wide.data(), &c, 8);
  decode_plain_ints(wide, 1, 8, out);
  EXPECT_EQ(out, (std::vector<int64_t>{c}));
  EXPECT_THROW(decode_plain_ints(wide, 2, 8, out), Error);
}

}  // namespace
}  // namespace nanochat::parquet
