// The GPU's bf16 rounding must give the same bits as the CPU's (core/bf16.h) for every kind of
// value: ties, subnormals, infinities, NaN, and many random bit patterns.
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "bf16_probe.h"
#include "gpu_test_support.h"
#include "nanochat/core/bf16.h"

namespace nanochat::gpu_test {
namespace {

class Bf16Test : public GpuTest {};

TEST_F(Bf16Test, DeviceRoundingIsBitIdenticalToHost) {
  std::vector<float> in = {0.0f, -0.0f, 1.0f, -1.0f, std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::max(), std::numeric_limits<float>::denorm_min(),
                           std::numeric_limits<float>::min()};
  // Exact ties (lower 16 bits 0x8000) with even and odd kept halves, and their neighbours.
  for (uint32_t hi : {0x3f80u, 0x3f81u, 0x7f7fu, 0x0001u, 0xc000u})
    for (uint32_t lo : {0x7fffu, 0x8000u, 0x8001u}) in.push_back(std::bit_cast<float>(hi << 16 | lo));
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < (1 << 20); ++i) in.push_back(std::bit_cast<float>(bits(rng)));

  cuda::DeviceBuffer<float> d_in = upload(in);
  cuda::DeviceBuffer<uint16_t> d_out = poisoned_bf16(in.size());
  device_round_to_bf16(d_out.data(), d_in.data(), static_cast<int64_t>(in.size()));
  const std::vector<uint16_t> got = d_out.to_host();
  size_t mismatches = 0;
  for (size_t i = 0; i < in.size(); ++i) mismatches += got[i] != ::nanochat::bf16::from_float(in[i]) ? 1 : 0;
  std::printf("  bf16 rounding: %zu values, %zu mismatches\n", in.size(), mismatches);
  EXPECT_EQ(mismatches, 0u);
  // The vectorised kernels' 8-wide pack (hardware conversion, NaN through the integer path): the same bits.
  while (in.size() % 8 != 0) in.push_back(1.0f);
  d_in = upload(in);
  cuda::DeviceBuffer<uint16_t> d_packed = poisoned_bf16(in.size());
  device_pack8_to_bf16(d_packed.data(), d_in.data(), static_cast<int64_t>(in.size()));
  const std::vector<uint16_t> packed = d_packed.to_host();
  size_t pack_mismatches = 0, nans = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    pack_mismatches += packed[i] != ::nanochat::bf16::from_float(in[i]) ? 1 : 0;
    nans += std::isnan(in[i]) ? 1 : 0;
  }
  EXPECT_EQ(pack_mismatches, 0u);
  EXPECT_GT(nans, 1000u) << "the random bit patterns cover NaN payloads of both signs";
  EXPECT_EQ(::nanochat::bf16::from_float(std::bit_cast<float>(0x3f808000u)), 0x3f80u);  // tie to even: down
  EXPECT_EQ(::nanochat::bf16::from_float(std::bit_cast<float>(0x3f818000u)), 0x3f82u);  // tie to even: up
}

}  // namespace
}  // namespace nanochat::gpu_test
