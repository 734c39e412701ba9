#include "nanochat/data/thrift_compact.h"

#include <cstring>

#include "nanochat/core/error.h"

namespace nanochat::parquet::thrift {

const char* wire_type_name(WireType type) {
  switch (type) {
    case WireType::Stop: return "stop";
    case WireType::BoolTrue:
    case WireType::BoolFalse: return "bool";
    case WireType::Byte: return "byte";
    case WireType::I16: return "i16";
    case WireType::I32: return "i32";
    case WireType::I64: return "i64";
    case WireType::Double: return "double";
    case WireType::Binary: return "binary";
    case WireType::List: return "list";
    case WireType::Set: return "set";
    case WireType::Map: return "map";
    case WireType::Struct: return "struct";
  }
  return "unknown";
}

namespace {

int64_t zigzag_decode(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }
uint64_t zigzag_encode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

bool is_known_wire_type(uint8_t t) { return t <= static_cast<uint8_t>(WireType::Struct); }

}  // namespace

CompactReader::CompactReader(std::span<const uint8_t> data, std::string_view what)
    : data_(data), what_(what) {}

void CompactReader::fail_corrupt(std::string_view why) const {
  fail("corrupt {} (Thrift compact protocol, byte {} of {}): {}", what_, pos_, data_.size(), why);
}

uint8_t CompactReader::read_u8() {
  if (pos_ >= data_.size()) fail_corrupt("unexpected end of data");
  return data_[pos_++];
}

uint64_t CompactReader::read_varint() {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const uint8_t b = read_u8();
    result |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      // The tenth byte may only hold the top bit of a 64-bit value.
      if (shift == 63 && b > 1) fail_corrupt("varint overflows 64 bits");
      return result;
    }
  }
  fail_corrupt("varint longer than 10 bytes");
}

void CompactReader::enter() {
  if (depth_ >= kMaxDepth) fail_corrupt("structures nested too deeply");
  ++depth_;
}

void CompactReader::begin_struct() {
  enter();
  last_field_id_[depth_] = 0;
}

void CompactReader::end_struct() { leave(); }

bool CompactReader::next_field(FieldHeader& field) {
  const uint8_t header = read_u8();
  const uint8_t type = header & 0x0f;
  if (type == 0) {
    if (header != 0) fail_corrupt("malformed stop byte");
    return false;
  }
  if (!is_known_wire_type(type)) fail_corrupt("unknown field wire type " + std::to_string(type));
  const uint8_t delta = header >> 4;
  int64_t id = 0;
  if (delta != 0) {
    id = static_cast<int64_t>(last_field_id_[depth_]) + delta;
  } else {
    id = zigzag_decode(read_varint());
  }
  if (id < INT16_MIN || id > INT16_MAX) fail_corrupt("field id out of range");
  field.id = static_cast<int16_t>(id);
  field.type = static_cast<WireType>(type);
  last_field_id_[depth_] = field.id;
  return true;
}

bool CompactReader::bool_field_value(WireType type) const {
  if (type == WireType::BoolTrue) return true;
  if (type == WireType::BoolFalse) return false;
  fail_corrupt("expected a bool field");
}

int8_t CompactReader::read_byte() { return static_cast<int8_t>(read_u8()); }

int16_t CompactReader::read_i16() {
  const int64_t v = zigzag_decode(read_varint());
  if (v < INT16_MIN || v > INT16_MAX) fail_corrupt("i16 value out of range");
  return static_cast<int16_t>(v);
}

int32_t CompactReader::read_i32() {
  const int64_t v = zigzag_decode(read_varint());
  if (v < INT32_MIN || v > INT32_MAX) fail_corrupt("i32 value out of range");
  return static_cast<int32_t>(v);
}

int64_t CompactReader::read_i64() { return zigzag_decode(read_varint()); }

double CompactReader::read_double() {
  if (remaining() < 8) fail_corrupt("truncated double");
  double v = 0;
  std::memcpy(&v, data_.data() + pos_, 8);  // little-endian on every platform we build for
  pos_ += 8;
  return v;
}

std::string_view CompactReader::read_binary() {
  const uint64_t len = read_varint();
  if (len > remaining()) fail_corrupt("binary length " + std::to_string(len) + " exceeds the data");
  std::string_view v(reinterpret_cast<const char*>(data_.data() + pos_), static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return v;
}

ListHeader CompactReader::read_list_header() {
  const uint8_t header = read_u8();
  const uint8_t type = header & 0x0f;
  if (type == 0 || !is_known_wire_type(type)) fail_corrupt("bad list element type");
  uint64_t size = header >> 4;
  if (size == 15) size = read_varint();
  // Every element occupies at least one byte, so a larger count cannot be genuine.
  if (size > remaining()) fail_corrupt("list of " + std::to_string(size) + " elements exceeds the data");
  return ListHeader{static_cast<WireType>(type), static_cast<uint32_t>(size)};
}

bool CompactReader::read_list_bool() {
  const uint8_t b = read_u8();
  if (b > 2) fail_corrupt("bad bool list element");
  return b == 1;
}

void CompactReader::expect(const FieldHeader& field, WireType expected, std::string_view field_name) const {
  const bool ok = expected == WireType::BoolTrue || expected == WireType::BoolFalse
                      ? (field.type == WireType::BoolTrue || field.type == WireType::BoolFalse)
                      : field.type == expected;
  if (!ok) {
    fail_corrupt(std::string("field '") + std::string(field_name) + "' has wire type " +
                 wire_type_name(field.type) + ", expected " + wire_type_name(expected));
  }
}

void CompactReader::skip(WireType type) {
  switch (type) {
    case WireType::BoolTrue:
    case WireType::BoolFalse: return;  // value lives in the field header
    case WireType::Byte: read_u8(); return;
    case WireType::I16:
    case WireType::I32:
    case WireType::I64: read_varint(); return;
    case WireType::Double: read_double(); return;
    case WireType::Binary: read_binary(); return;
    case WireType::List:
    case WireType::Set: {
      const ListHeader h = read_list_header();
      enter();
      for (uint32_t i = 0; i < h.size; ++i) {
        if (h.element_type == WireType::BoolTrue || h.element_type == WireType::BoolFalse) {
          read_list_bool();
        } else {
          skip(h.element_type);
        }
      }
      leave();
      return;
    }
    case WireType::Map: {
      const uint64_t size = read_varint();
      if (size == 0) return;
      if (size > remaining() / 2) fail_corrupt("map size exceeds the data");
      const uint8_t kv = read_u8();
      const auto key = static_cast<WireType>(kv >> 4);
      const auto value = static_cast<WireType>(kv & 0x0f);
      if (!is_known_wire_type(kv >> 4) || !is_known_wire_type(kv & 0x0f) || key == WireType::Stop ||
          value == WireType::Stop) {
        fail_corrupt("bad map key/value types");
      }
      enter();
      for (uint64_t i = 0; i < size; ++i) {
        for (WireType t : {key, value}) {
          if (t == WireType::BoolTrue || t == WireType::BoolFalse) {
            read_list_bool();
          } else {
            skip(t);
          }
        }
      }
      leave();
      return;
    }
    case WireType::Struct: {
      begin_struct();
      FieldHeader f;
      while (next_field(f)) skip(f.type);
      end_struct();
      return;
    }
    case WireType::Stop: break;
  }
  fail_corrupt("cannot skip a value of wire type stop");
}

// ---------------------------------------------------------------------------------------------

void CompactWriter::write_varint(uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<char>(value));
}

void CompactWriter::begin_struct() {
  NC_CHECK(depth_ < CompactReader::kMaxDepth, "CompactWriter: structures nested too deeply");
  ++depth_;
  last_field_id_[depth_] = 0;
}

void CompactWriter::end_struct() {
  out_.push_back('\0');
  --depth_;
}

void CompactWriter::field_header(int16_t id, WireType type) {
  const int delta = id - last_field_id_[depth_];
  if (delta > 0 && delta <= 15) {
    out_.push_back(static_cast<char>((delta << 4) | static_cast<int>(type)));
  } else {
    out_.push_back(static_cast<char>(type));
    write_varint(zigzag_encode(id));
  }
  last_field_id_[depth_] = id;
}

void CompactWriter::bool_field(int16_t id, bool value) {
  field_header(id, value ? WireType::BoolTrue : WireType::BoolFalse);
}
void CompactWriter::i16_field(int16_t id, int16_t value) {
  field_header(id, WireType::I16);
  write_varint(zigzag_encode(value));
}
void CompactWriter::i32_field(int16_t id, int32_t value) {
  field_header(id, WireType::I32);
  write_i32(value);
}
void CompactWriter::i64_field(int16_t id, int64_t value) {
  field_header(id, WireType::I64);
  write_i64(value);
}
void CompactWriter::binary_field(int16_t id, std::string_view value) {
  field_header(id, WireType::Binary);
  write_binary(value);
}

void CompactWriter::list_header(WireType element_type, uint32_t size) {
  if (size < 15) {
    out_.push_back(static_cast<char>((size << 4) | static_cast<uint32_t>(element_type)));
  } else {
    out_.push_back(static_cast<char>(0xf0 | static_cast<int>(element_type)));
    write_varint(size);
  }
}

void CompactWriter::write_i32(int32_t value) { write_varint(zigzag_encode(value)); }
void CompactWriter::write_i64(int64_t value) { write_varint(zigzag_encode(value)); }
void CompactWriter::write_binary(std::string_view value) {
  write_varint(value.size());
  out_.append(value);
}

}  // namespace nanochat::parquet::thrift
