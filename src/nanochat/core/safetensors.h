// safetensors: the weight format shared with PyTorch and the HF ecosystem. A file is an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {string: string}}, then the raw little-endian tensor bytes. The reader validates every entry
// (known dtype, byte size = numel * dtype size, offsets inside the file) and names the tensor at
// fault; the writer produces files PyTorch's safetensors loads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nanochat {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::string_view dtype_name(DType dt);  // "F32", "BF16", ... as spelled in the header
size_t dtype_size(DType dt);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t byte_begin = 0;  // relative to the start of the data section
  size_t byte_size = 0;
  int64_t numel() const;
};

std::string shape_string(std::span<const int64_t> shape);  // "[2, 256, 128]"

class SafetensorsReader {
 public:
  // Reads and validates the whole file; throws nanochat::Error naming the file and tensor at fault.
  explicit SafetensorsReader(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The __metadata__ value for key; fails naming the key when it is absent.
  const std::string& metadata_value(const std::string& key) const;

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted

  // Copies a tensor into dst as fp32 (F32, BF16, F16 and F64 are converted). The tensor's shape must
  // equal `shape` exactly; the error names the tensor and both shapes.
  void read_f32_into(const std::string& name, std::span<const int64_t> shape, std::span<float> dst) const;
  std::vector<float> read_f32(const std::string& name) const;    // any shape, converted to fp32
  std::vector<double> read_f64(const std::string& name) const;   // any float dtype, widened
  std::vector<int64_t> read_i64(const std::string& name) const;  // I64, I32, I16, I8, U8 widened
  std::span<const std::byte> raw_bytes(const std::string& name) const;

 private:
  std::filesystem::path path_;
  std::string bytes_;  // whole file
  size_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors (copied) and metadata, then writes them atomically (tmp file + rename).
class SafetensorsWriter {
 public:
  void add_metadata(const std::string& key, const std::string& value);
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, std::span<const std::byte> data);
  void add_f32(const std::string& name, std::vector<int64_t> shape, std::span<const float> data);
  void add_i64(const std::string& name, std::vector<int64_t> shape, std::span<const int64_t> data);
  // Serialized file contents (header padded with spaces to a multiple of 8 bytes).
  std::string serialize() const;
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::string data;
  };
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

float f16_bits_to_f32(uint16_t bits);

}  // namespace nanochat
