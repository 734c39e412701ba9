#include "nanochat/core/bf16.h"
#include "nanochat/core/safetensors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"

namespace nanochat {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; big-endian hosts unsupported");

namespace {

struct DTypeRow {
  DType dtype;
  std::string_view name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

bool parse_dtype(std::string_view s, DType* out) {
  for (const auto& row : kDTypes) {
    if (row.name == s) {
      *out = row.dtype;
      return true;
    }
  }
  return false;
}

// Values may sit at any byte offset (the header length is arbitrary), so every load is a memcpy.
template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::string_view dtype_name(DType dt) {
  for (const auto& row : kDTypes)
    if (row.dtype == dt) return row.name;
  return "?";
}

size_t dtype_size(DType dt) {
  for (const auto& row : kDTypes)
    if (row.dtype == dt) return row.size;
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(std::span<const int64_t> shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t out;
  if (exp == 0) {
    if (mant == 0) {
      out = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      out = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    out = sign | 0x7f800000u | mant << 13;
  } else {
    out = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(out);
}

SafetensorsReader::SafetensorsReader(const std::filesystem::path& path) : path_(path) {
  bytes_ = read_file(path);
  const std::string file = path.string();
  NC_CHECK(bytes_.size() >= 8, "{}: not a safetensors file (only {} bytes)", file, bytes_.size());
  const uint64_t header_len = load<uint64_t>(reinterpret_cast<const std::byte*>(bytes_.data()));
  NC_CHECK(header_len <= bytes_.size() - 8, "{}: header length {} exceeds the file size {}", file, header_len,
           bytes_.size());
  data_start_ = 8 + static_cast<size_t>(header_len);
  const size_t data_size = bytes_.size() - data_start_;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes_.begin() + 8, bytes_.begin() + static_cast<std::ptrdiff_t>(data_start_));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed safetensors header JSON: {}", file, e.what());
  }
  NC_CHECK(header.is_object(), "{}: safetensors header is not a JSON object", file);

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      NC_CHECK(entry.is_object(), "{}: __metadata__ is not an object", file);
      for (const auto& [key, value] : entry.items()) {
        NC_CHECK(value.is_string(), "{}: __metadata__ value '{}' is not a string", file, key);
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    NC_CHECK(entry.is_object(), "{}: tensor '{}': entry is not an object", file, name);
    TensorInfo info;
    info.name = name;
    const auto dt = entry.find("dtype");
    NC_CHECK(dt != entry.end() && dt->is_string(), "{}: tensor '{}': missing dtype", file, name);
    NC_CHECK(parse_dtype(dt->get<std::string>(), &info.dtype), "{}: tensor '{}': unsupported dtype '{}'", file, name,
             dt->get<std::string>());
    const auto sh = entry.find("shape");
    NC_CHECK(sh != entry.end() && sh->is_array(), "{}: tensor '{}': missing shape", file, name);
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      NC_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
               "{}: tensor '{}': shape entry {} is not a non-negative integer", file, name, d.dump());
      const auto dim = d.get<uint64_t>();
      NC_CHECK(dim == 0 || numel <= std::numeric_limits<uint64_t>::max() / dim / 8,
               "{}: tensor '{}': shape overflows", file, name);
      numel *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto off = entry.find("data_offsets");
    NC_CHECK(off != entry.end() && off->is_array() && off->size() == 2 && (*off)[0].is_number_unsigned() &&
                 (*off)[1].is_number_unsigned(),
             "{}: tensor '{}': data_offsets must be [begin, end]", file, name);
    const auto begin = (*off)[0].get<uint64_t>();
    const auto end = (*off)[1].get<uint64_t>();
    NC_CHECK(begin <= end && end <= data_size, "{}: tensor '{}': data_offsets [{}, {}] outside the {}-byte data section",
             file, name, begin, end, data_size);
    NC_CHECK(end - begin == numel * dtype_size(info.dtype),
             "{}: tensor '{}': {} bytes stored but shape {} of {} needs {}", file, name, end - begin,
             shape_string(info.shape), dtype_name(info.dtype), numel * dtype_size(info.dtype));
    info.byte_begin = static_cast<size_t>(begin);
    info.byte_size = static_cast<size_t>(end - begin);
    tensors_.emplace(name, std::move(info));
  }
}

const std::string& SafetensorsReader::metadata_value(const std::string& key) const {
  const auto it = metadata_.find(key);
  NC_CHECK(it != metadata_.end(), "{}: __metadata__ has no key '{}'", path_.string(), key);
  return it->second;
}

const TensorInfo& SafetensorsReader::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  NC_CHECK(it != tensors_.end(), "{}: no tensor named '{}'", path_.string(), name);
  return it->second;
}

std::vector<std::string> SafetensorsReader::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, info] : tensors_) out.push_back(name);
  return out;
}

std::span<const std::byte> SafetensorsReader::raw_bytes(const std::string& name) const {
  const TensorInfo& ti = info(name);
  return {reinterpret_cast<const std::byte*>(bytes_.data()) + data_start_ + ti.byte_begin, ti.byte_size};
}

namespace {

template <class Out>
void convert_float(const TensorInfo& ti, const std::byte* src, Out* dst, const std::string& file) {
  const auto n = static_cast<size_t>(ti.numel());
  switch (ti.dtype) {
    case DType::F32:
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load<float>(src + 4 * i));
      return;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(load<double>(src + 8 * i));
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(bf16::to_float(load<uint16_t>(src + 2 * i)));
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Out>(f16_bits_to_f32(load<uint16_t>(src + 2 * i)));
      return;
    default:
      fail("{}: tensor '{}' has dtype {}, expected a floating-point tensor", file, ti.name, dtype_name(ti.dtype));
  }
}

}  // namespace

void SafetensorsReader::read_f32_into(const std::string& name, std::span<const int64_t> shape,
                                      std::span<float> dst) const {
  const TensorInfo& ti = info(name);
  NC_CHECK(std::equal(ti.shape.begin(), ti.shape.end(), shape.begin(), shape.end()),
           "{}: tensor '{}' has shape {}, expected {}", path_.string(), name, shape_string(ti.shape),
           shape_string(shape));
  NC_CHECK(dst.size() == static_cast<size_t>(ti.numel()), "{}: tensor '{}': destination holds {} values, tensor {}",
           path_.string(), name, dst.size(), ti.numel());
  convert_float(ti, raw_bytes(name).data(), dst.data(), path_.string());
}

std::vector<float> SafetensorsReader::read_f32(const std::string& name) const {
  const TensorInfo& ti = info(name);
  std::vector<float> out(static_cast<size_t>(ti.numel()));
  convert_float(ti, raw_bytes(name).data(), out.data(), path_.string());
  return out;
}

std::vector<double> SafetensorsReader::read_f64(const std::string& name) const {
  const TensorInfo& ti = info(name);
  std::vector<double> out(static_cast<size_t>(ti.numel()));
  convert_float(ti, raw_bytes(name).data(), out.data(), path_.string());
  return out;
}

std::vector<int64_t> SafetensorsReader::read_i64(const std::string& name) const {
  const TensorInfo& ti = info(name);
  const auto n = static_cast<size_t>(ti.numel());
  const std::byte* src = raw_bytes(name).data();
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    switch (ti.dtype) {
      case DType::I64: out[i] = load<int64_t>(src + 8 * i); break;
      case DType::I32: out[i] = load<int32_t>(src + 4 * i); break;
      case DType::I16: out[i] = load<int16_t>(src + 2 * i); break;
      case DType::I8: out[i] = load<int8_t>(src + i); break;
      case DType::U8: out[i] = load<uint8_t>(src + i); break;
      default:
        fail("{}: tensor '{}' has dtype {}, expected an integer tensor", path_.string(), name, dtype_name(ti.dtype));
    }
  }
  return out;
}

void SafetensorsWriter::add_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            std::span<const std::byte> data) {
  NC_CHECK(!name.empty() && name != "__metadata__", "safetensors writer: invalid tensor name '{}'", name);
  NC_CHECK(entries_.count(name) == 0, "safetensors writer: tensor '{}' added twice", name);
  int64_t numel = 1;
  for (int64_t d : shape) {
    NC_CHECK(d >= 0, "safetensors writer: tensor '{}' has negative dimension in {}", name, shape_string(shape));
    numel *= d;
  }
  NC_CHECK(data.size() == static_cast<size_t>(numel) * dtype_size(dtype),
           "safetensors writer: tensor '{}' shape {} of {} needs {} bytes, got {}", name, shape_string(shape),
           dtype_name(dtype), static_cast<size_t>(numel) * dtype_size(dtype), data.size());
  entries_.emplace(name, Entry{dtype, std::move(shape), std::string(reinterpret_cast<const char*>(data.data()), data.size())});
}

void SafetensorsWriter::add_f32(const std::string& name, std::vector<int64_t> shape, std::span<const float> data) {
  add(name, DType::F32, std::move(shape), std::as_bytes(data));
}

void SafetensorsWriter::add_i64(const std::string& name, std::vector<int64_t> shape, std::span<const int64_t> data) {
  add(name, DType::I64, std::move(shape), std::as_bytes(data));
}

std::string SafetensorsWriter::serialize() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) md[k] = v;
    header["__metadata__"] = std::move(md);
  }
  size_t offset = 0;
  for (const auto& [name, e] : entries_) {
    header[name] = {{"dtype", std::string(dtype_name(e.dtype))},
                    {"shape", e.shape},
                    {"data_offsets", {offset, offset + e.data.size()}}};
    offset += e.data.size();
  }
  std::string json = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (what the reference writer does).
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + json.size() + offset);
  const uint64_t len = json.size();
  out.append(reinterpret_cast<const char*>(&len), 8);
  out += json;
  for (const auto& [name, e] : entries_) out += e.data;
  return out;
}

void SafetensorsWriter::write(const std::filesystem::path& path) const { write_file_atomic(path, serialize()); }

}  // namespace nanochat
