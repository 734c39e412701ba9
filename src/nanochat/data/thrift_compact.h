// The Thrift compact protocol, as far as Parquet metadata needs it (footer, page headers).
//
// The reader treats its input as hostile: every length and count is checked against the bytes
// that remain, nesting is capped at kMaxDepth, and any violation throws nanochat::Error naming
// `what` (e.g. "footer") and the byte offset. It never allocates more than the input's size.
// The writer produces the same encoding for the structures our shard writer emits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace nanochat::parquet::thrift {

// Wire types of the compact protocol (the low nibble of a field header).
enum class WireType : uint8_t {
  Stop = 0,
  BoolTrue = 1,
  BoolFalse = 2,
  Byte = 3,
  I16 = 4,
  I32 = 5,
  I64 = 6,
  Double = 7,
  Binary = 8,
  List = 9,
  Set = 10,
  Map = 11,
  Struct = 12,
};

const char* wire_type_name(WireType type);

struct FieldHeader {
  int16_t id = 0;
  WireType type = WireType::Stop;
};

struct ListHeader {
  WireType element_type = WireType::Stop;
  uint32_t size = 0;
};

class CompactReader {
 public:
  static constexpr int kMaxDepth = 32;

  CompactReader(std::span<const uint8_t> data, std::string_view what);

  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }

  // Struct traversal: begin_struct(); while (next_field(f)) { ...read or skip(f.type)... } end_struct().
  void begin_struct();
  bool next_field(FieldHeader& field);  // false at the stop byte (which it consumes)
  void end_struct();

  // A bool struct field carries its value in the field header's wire type.
  bool bool_field_value(WireType type) const;
  int8_t read_byte();
  int16_t read_i16();
  int32_t read_i32();
  int64_t read_i64();
  double read_double();
  std::string_view read_binary();  // a view into the input
  ListHeader read_list_header();   // also for sets
  bool read_list_bool();           // a bool stored as a list element (one byte)

  void skip(WireType type);

  // Throws if `type` is not `expected`, naming the field.
  void expect(const FieldHeader& field, WireType expected, std::string_view field_name) const;
  [[noreturn]] void fail_corrupt(std::string_view why) const;

 private:
  uint64_t read_varint();
  uint8_t read_u8();
  void enter();
  void leave() { --depth_; }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  std::string what_;
  int depth_ = 0;
  int16_t last_field_id_[kMaxDepth + 1] = {};
};

// Appends compact-protocol bytes to a string.
class CompactWriter {
 public:
  void begin_struct();
  void end_struct();  // writes the stop byte
  void field_header(int16_t id, WireType type);
  void bool_field(int16_t id, bool value);
  void i16_field(int16_t id, int16_t value);
  void i32_field(int16_t id, int32_t value);
  void i64_field(int16_t id, int64_t value);
  void binary_field(int16_t id, std::string_view value);
  void list_header(WireType element_type, uint32_t size);

  void write_i32(int32_t value);
  void write_i64(int64_t value);
  void write_binary(std::string_view value);

  const std::string& bytes() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void write_varint(uint64_t value);

  std::string out_;
  int depth_ = 0;
  int16_t last_field_id_[CompactReader::kMaxDepth + 1] = {};
};

}  // namespace nanochat::parquet::thrift
