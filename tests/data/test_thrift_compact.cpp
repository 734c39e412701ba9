#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/data/thrift_compact.h"

namespace nanochat::parquet::thrift {
namespace {

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(ThriftCompact, RoundTripsScalarsListsAndNestedStructs) {
  CompactWriter w;
  w.begin_struct();
  w.i32_field(1, -7);
  w.i64_field(2, INT64_MIN);
  w.binary_field(3, std::string("a\0b", 3));
  w.bool_field(4, true);
  w.bool_field(5, false);
  w.i32_field(40, INT32_MAX);  // delta > 15: long-form field header
  w.i16_field(41, -300);
  w.field_header(42, WireType::List);
  w.list_header(WireType::I32, 20);  // >= 15 elements: size in a varint
  for (int i = 0; i < 20; ++i) w.write_i32(i * 1000 - 5);
  w.field_header(43, WireType::Struct);
  w.begin_struct();
  w.i32_field(1, 99);
  w.end_struct();
  w.i32_field(6, 5);  // ids may go down: long form again
  w.end_struct();
  const std::string bytes = w.take();

  CompactReader r(as_bytes(bytes), "test");
  r.begin_struct();
  FieldHeader f;
  std::vector<int16_t> ids;
  while (r.next_field(f)) {
    ids.push_back(f.id);
    switch (f.id) {
      case 1: EXPECT_EQ(r.read_i32(), -7); break;
      case 2: EXPECT_EQ(r.read_i64(), INT64_MIN); break;
      case 3: EXPECT_EQ(r.read_binary(), std::string_view("a\0b", 3)); break;
      case 4: EXPECT_TRUE(r.bool_field_value(f.type)); break;
      case 5: EXPECT_FALSE(r.bool_field_value(f.type)); break;
      case 6: EXPECT_EQ(r.read_i32(), 5); break;
      case 40: EXPECT_EQ(r.read_i32(), INT32_MAX); break;
      case 41: EXPECT_EQ(r.read_i16(), -300); break;
      case 42: {
        const ListHeader h = r.read_list_header();
        ASSERT_EQ(h.element_type, WireType::I32);
        ASSERT_EQ(h.size, 20u);
        for (int i = 0; i < 20; ++i) EXPECT_EQ(r.read_i32(), i * 1000 - 5);
        break;
      }
      case 43: {
        r.begin_struct();
        FieldHeader g;
        ASSERT_TRUE(r.next_field(g));
        EXPECT_EQ(g.id, 1);
        EXPECT_EQ(r.read_i32(), 99);
        EXPECT_FALSE(r.next_field(g));
        r.end_struct();
        break;
      }
      default: r.skip(f.type);
    }
  }
  r.end_struct();
  EXPECT_EQ(ids, (std::vector<int16_t>{1, 2, 3, 4, 5, 40, 41, 42, 43, 6}));
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ThriftCompact, SkipsUnknownFieldsOfEveryType) {
  // struct { 1: map<binary,i32> {"k": 3}, 2: list<bool> [t, f], 3: double, 4: byte, 5: struct {} }
  std::string bytes;
  bytes += '\x1b';                   // field 1, map
  bytes += '\x01';                   // one entry
  bytes += '\x85';                   // binary keys, i32 values
  bytes += "\x01k";                  // key
  bytes += '\x06';                   // value 3
  bytes += '\x19';                   // field 2, list
  bytes += '\x21';                   // 2 bools
  bytes += "\x01\x02";
  bytes += '\x17';                   // field 3, double
  bytes += std::string(8, '\x00');
  bytes += '\x13';                   // field 4, byte
  bytes += '\x7f';
  bytes += '\x1c';                   // field 5, struct
  bytes += '\x00';
  bytes += '\x00';                   // stop
  CompactReader r(as_bytes(bytes), "test");
  r.skip(WireType::Struct);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ThriftCompact, RejectsDeepNesting) {
  std::string bytes;
  for (int i = 0; i < 100; ++i) bytes += '\x1c';  // field 1: struct, nested 100 deep
  bytes += std::string(100, '\x00');
  CompactReader r(as_bytes(bytes), "deep");
  EXPECT_THROW(r.skip(WireType::Struct), Error);
}

TEST(ThriftCompact, RejectsLengthsBeyondTheData) {
  {
    const std::string bytes = "\x0a" "abc";  // binary of 10 bytes, only 3 present
    CompactReader r(as_bytes(bytes), "t");
    EXPECT_THROW(r.read_binary(), Error);
  }
  {
    const std::string bytes = "\xf5\xff\xff\xff\x0f";  // list of 2^32-1 i32
    CompactReader r(as_bytes(bytes), "t");
    EXPECT_THROW(r.read_list_header(), Error);
  }
  {
    const std::string bytes = "\x80\x80";  // unterminated varint
    CompactReader r(as_bytes(bytes), "t");
    EXPECT_THROW(r.read_i64(), Error);
  }
  {
    const std::string bytes = "\xff\xff\xff\xff\x0f";  // zigzag 2^32-1: outside i32
    CompactReader r(as_bytes(bytes), "t");
    EXPECT_EQ(r.read_i64(), -2147483648LL);
    CompactReader r2(as_bytes(std::string("\xfe\xff\xff\xff\x1f")), "t");
    EXPECT_THROW(r2.read_i32(), Error);
  }
  {
    const std::string bytes = "\x1d";  // field with wire type 13 (unknown)
    CompactReader r(as_bytes(bytes), "t");
    r.begin_struct();
    FieldHeader f;
    EXPECT_THROW(r.next_field(f), Error);
  }
}

TEST(ThriftCompact, ErrorNamesWhatWasBeingDecoded) {
  const std::string bytes = "\x15";
  CompactReader r(as_bytes(bytes), "page header");
  r.begin_struct();
  FieldHeader f;
  ASSERT_TRUE(r.next_field(f));
  try {
    r.read_i32();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("page header"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nanochat::parquet::thrift
