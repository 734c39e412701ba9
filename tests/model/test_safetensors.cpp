#include "nanochat/core/bf16.h"
#include "nanochat/core/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "test_support.h"

namespace nanochat {
namespace {

using test::expect_error;
using test::TempDir;

std::string header_file(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json + data;
}

TEST(Safetensors, RoundTripsTensorsAndMetadata) {
  TempDir dir;
  const auto path = dir.path() / "t.safetensors";
  SafetensorsWriter w;
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  const std::vector<int64_t> ids = {0, -1, 1LL << 40};
  const std::vector<uint16_t> bf = {bf16::from_float(1.0f), bf16::from_float(-0.5f)};
  w.add_f32("layer.a", {2, 3}, a);
  w.add_i64("ids", {3}, ids);
  w.add("half", DType::BF16, {2}, std::as_bytes(std::span<const uint16_t>(bf)));
  w.add_metadata("config", R"({"n_layer": 2})");
  w.write(path);

  // The data section starts 8-byte aligned, as the reference writer does.
  const std::string raw = read_file(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, raw.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);

  SafetensorsReader r(path);
  EXPECT_EQ(r.names(), (std::vector<std::string>{"half", "ids", "layer.a"}));
  EXPECT_EQ(r.metadata_value("config"), R"({"n_layer": 2})");
  EXPECT_EQ(r.info("layer.a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.read_f32("layer.a"), a);
  EXPECT_EQ(r.read_i64("ids"), ids);
  EXPECT_EQ(r.read_f32("half"), (std::vector<float>{1.0f, -0.5f}));
  std::vector<float> dst(6);
  const std::vector<int64_t> shape = {2, 3};
  r.read_f32_into("layer.a", shape, dst);
  EXPECT_EQ(dst, a);
}

TEST(Safetensors, ErrorsNameTheTensorAndTheProblem) {
  TempDir dir;
  const auto path = dir.path() / "t.safetensors";
  SafetensorsWriter w;
  const std::vector<float> a(6, 1.0f);
  w.add_f32("w", {2, 3}, a);
  w.write(path);
  SafetensorsReader r(path);
  std::vector<float> dst(6);
  const std::vector<int64_t> wrong = {3, 2};
  expect_error([&] { r.read_f32_into("w", wrong, dst); }, {"'w'", "[2, 3]", "[3, 2]"});
  expect_error([&] { r.info("missing"); }, {"'missing'"});
  expect_error([&] { r.metadata_value("config"); }, {"'config'"});
  expect_error([&] { r.read_i64("w"); }, {"'w'", "F32"});
  expect_error([&] { w.add_f32("w", {2, 3}, a); }, {"'w'", "twice"});
  expect_error([&] { w.add_f32("x", {4}, a); }, {"'x'"});
}

TEST(Safetensors, RejectsMalformedFiles) {
  TempDir dir;
  const auto p = dir.path() / "bad.safetensors";
  write_file_atomic(p, "abc");
  expect_error([&] { SafetensorsReader r(p); }, {"bad.safetensors", "not a safetensors"});
  write_file_atomic(p, header_file("{not json", ""));
  expect_error([&] { SafetensorsReader r(p); }, {"malformed"});
  // Header length larger than the file.
  std::string big(8, '\0');
  big[0] = static_cast<char>(0x7f);
  write_file_atomic(p, big);
  expect_error([&] { SafetensorsReader r(p); }, {"header length"});
  write_file_atomic(p, header_file(R"({"t":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", "abcd"));
  expect_error([&] { SafetensorsReader r(p); }, {"'t'", "Q7"});
  write_file_atomic(p, header_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"));
  expect_error([&] { SafetensorsReader r(p); }, {"'t'", "needs 8"});
  write_file_atomic(p, header_file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", "abcd"));
  expect_error([&] { SafetensorsReader r(p); }, {"'t'", "outside"});
  write_file_atomic(p, header_file(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd"));
  expect_error([&] { SafetensorsReader r(p); }, {"'t'", "non-negative"});
}

TEST(Safetensors, Bf16AndF16Conversions) {
  EXPECT_EQ(bf16::to_float(0x3f80), 1.0f);
  EXPECT_EQ(bf16::from_float(1.0f), 0x3f80);
  // Round to nearest even: 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125 -> 1.0.
  EXPECT_EQ(bf16::from_float(1.00390625f), 0x3f80);
  EXPECT_EQ(bf16::from_float(1.01171875f), 0x3f82);
  EXPECT_EQ(f16_bits_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_bits_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_bits_to_f32(0x0001), 5.9604644775390625e-08f);  // smallest subnormal
}

}  // namespace
}  // namespace nanochat
