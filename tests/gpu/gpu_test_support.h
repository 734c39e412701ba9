// Shared pieces of the GPU kernel tests: a fixture that skips without a device, random bf16 inputs
// with their exact fp32 values (what the CPU reference sees), uploads, and the error measures.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/device_buffer.h"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::gpu_test {

using kernels::cuda::bf16;

// Skips every test when cudaGetDeviceCount finds no device (CI); otherwise owns a context.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override;
  cudaStream_t stream() const { return ctx_->stream(); }
  cuda::CudaContext& ctx() { return *ctx_; }
  void sync() { ctx_->synchronize(); }

 private:
  std::unique_ptr<cuda::CudaContext> ctx_;
};

// bf16 data: the bits the GPU reads and the fp32 values they stand for (the CPU reference's input).
struct Bf16Data {
  std::vector<uint16_t> bits;
  std::vector<float> values;
};
Bf16Data random_bf16(size_t n, std::mt19937& rng, float stddev = 1.0f);
Bf16Data bf16_of(std::span<const float> values);  // rounds each value
std::vector<float> random_f32(size_t n, std::mt19937& rng, float stddev = 1.0f);

// Device copies. A bf16 buffer holds raw bits (uint16_t) and is handed to kernels as bf16*.
cuda::DeviceBuffer<uint16_t> upload_bits(std::span<const uint16_t> bits);
cuda::DeviceBuffer<float> upload(std::span<const float> v);
cuda::DeviceBuffer<int64_t> upload(std::span<const int64_t> v);
// A poisoned (all-NaN) output buffer of n elements: an element a kernel fails to write stays NaN.
cuda::DeviceBuffer<uint16_t> poisoned_bf16(size_t n);
cuda::DeviceBuffer<float> poisoned_f32(size_t n);
inline bf16* as_bf16(cuda::DeviceBuffer<uint16_t>& b) { return reinterpret_cast<bf16*>(b.data()); }
inline const bf16* as_bf16(const cuda::DeviceBuffer<uint16_t>& b) { return reinterpret_cast<const bf16*>(b.data()); }
std::vector<float> download_bf16(const cuda::DeviceBuffer<uint16_t>& b);  // widened to fp32

// ||got - want|| / ||want|| in double; NaN (and so an unwritten element) makes it NaN.
double relative_error(std::span<const float> got, std::span<const float> want);
size_t count_nan(std::span<const float> v);

// Asserts no NaN and a relative error within `bound`, printing the measured error for the report.
void expect_close(const char* what, std::span<const float> got, std::span<const float> want, double bound);

}  // namespace nanochat::gpu_test
