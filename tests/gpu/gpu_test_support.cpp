#include "gpu_test_support.h"

#include <cmath>
#include <cstdio>

#include "nanochat/core/bf16.h"

namespace nanochat::gpu_test {

void GpuTest::SetUp() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();  // clear the sticky "no device" error
    GTEST_SKIP() << "no CUDA device";
  }
  ctx_ = std::make_unique<cuda::CudaContext>(0);
}

Bf16Data random_bf16(size_t n, std::mt19937& rng, float stddev) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return bf16_of(v);
}

Bf16Data bf16_of(std::span<const float> values) {
  Bf16Data d;
  d.bits.resize(values.size());
  d.values.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    d.bits[i] = ::nanochat::bf16::from_float(values[i]);
    d.values[i] = ::nanochat::bf16::to_float(d.bits[i]);
  }
  return d;
}

std::vector<float> random_f32(size_t n, std::mt19937& rng, float stddev) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

cuda::DeviceBuffer<uint16_t> upload_bits(std::span<const uint16_t> bits) {
  cuda::DeviceBuffer<uint16_t> b(bits.size());
  b.copy_from_host(bits);
  return b;
}
cuda::DeviceBuffer<float> upload(std::span<const float> v) {
  cuda::DeviceBuffer<float> b(v.size());
  b.copy_from_host(v);
  return b;
}
cuda::DeviceBuffer<int64_t> upload(std::span<const int64_t> v) {
  cuda::DeviceBuffer<int64_t> b(v.size());
  b.copy_from_host(v);
  return b;
}
cuda::DeviceBuffer<uint16_t> poisoned_bf16(size_t n) {
  cuda::DeviceBuffer<uint16_t> b(n);
  b.fill_bytes(0xff);
  return b;
}
cuda::DeviceBuffer<float> poisoned_f32(size_t n) {
  cuda::DeviceBuffer<float> b(n);
  b.fill_bytes(0xff);
  return b;
}

std::vector<float> download_bf16(const cuda::DeviceBuffer<uint16_t>& b) {
  const std::vector<uint16_t> bits = b.to_host();
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = ::nanochat::bf16::to_float(bits[i]);
  return out;
}

double relative_error(std::span<const float> got, std::span<const float> want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    diff += d * d;
    norm += static_cast<double>(want[i]) * want[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

size_t count_nan(std::span<const float> v) {
  size_t n = 0;
  for (float x : v) n += std::isnan(x) ? 1 : 0;
  return n;
}

void expect_close(const char* what, std::span<const float> got, std::span<const float> want, double bound) {
  ASSERT_EQ(got.size(), want.size()) << what;
  EXPECT_EQ(count_nan(got), 0u) << what << ": NaN or unwritten elements";
  EXPECT_EQ(count_nan(want), 0u) << what << ": the reference itself has NaN";
  const double err = relative_error(got, want);
  std::printf("  %-44s n=%-9zu rel.err %.3e (bound %.0e)\n", what, want.size(), err, bound);
  EXPECT_LE(err, bound) << what;
}

}  // namespace nanochat::gpu_test
