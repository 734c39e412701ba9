// wgmma primitives (kernels/cuda/wgmma.cuh) against a float64 CPU product on the same bf16 inputs,
// one case per operand arrangement the attention backward uses: K-major A and B from shared memory,
// A from registers with an MN-major B spanning two swizzle slabs, and MN-major A and B with B taken
// from its second slab; and the MLP GEMM's m64n256k16 with B K-major or MN-major over four slabs.
// Each run starts from NaN accumulators and NaN-poisoned outputs.
#include "gpu_test_support.h"
#include "wgmma_probe.h"

namespace nanochat::gpu_test {
namespace {

struct Product {
  std::vector<float> got, want;
};

Product run_case(WgmmaCase c, unsigned seed) {
  const WgmmaDims dims = wgmma_case_dims(c);
  std::mt19937 rng(seed);
  const Bf16Data a = random_bf16(static_cast<size_t>(dims.m * dims.k), rng);
  const Bf16Data b = random_bf16(static_cast<size_t>(dims.k * dims.b_cols), rng);
  Product p;
  p.want.resize(static_cast<size_t>(dims.m * dims.n));
  for (int i = 0; i < dims.m; ++i)
    for (int j = 0; j < dims.n; ++j) {
      double s = 0;
      for (int kk = 0; kk < dims.k; ++kk)
        s += static_cast<double>(a.values[static_cast<size_t>(i * dims.k + kk)]) *
             b.values[static_cast<size_t>(kk * dims.b_cols + dims.b_col0 + j)];
      p.want[static_cast<size_t>(i * dims.n + j)] = static_cast<float>(s);
    }
  auto da = upload_bits(a.bits), db = upload_bits(b.bits);
  auto dd = poisoned_f32(p.want.size());
  run_wgmma_case(c, da.data(), db.data(), dd.data());
  p.got = dd.to_host();
  return p;
}

class WgmmaTest : public GpuTest {};

TEST_F(WgmmaTest, SharedKMajorOperandsMatchCpu) {
  for (unsigned seed : {1u, 2u}) {
    const Product p = run_case(WgmmaCase::kSsKMajor, seed);
    expect_close("wgmma m64n64k16 ss K-major", p.got, p.want, 1e-5);
  }
}

TEST_F(WgmmaTest, RegisterAWithMnMajorBMatchesCpu) {
  for (unsigned seed : {3u, 4u}) {
    const Product p = run_case(WgmmaCase::kRsBMnMajor, seed);
    expect_close("wgmma m64n128k16 rs B MN-major", p.got, p.want, 1e-5);
  }
}

TEST_F(WgmmaTest, SharedMnMajorOperandsMatchCpu) {
  for (unsigned seed : {5u, 6u}) {
    const Product p = run_case(WgmmaCase::kSsMnMajor, seed);
    expect_close("wgmma m64n64k16 ss A,B MN-major", p.got, p.want, 1e-5);
  }
}

TEST_F(WgmmaTest, N256TilesMatchCpuForBothBLayouts) {
  for (unsigned seed : {7u, 8u}) {
    const Product k = run_case(WgmmaCase::kSsN256KMajor, seed);
    expect_close("wgmma m64n256k16 ss K-major", k.got, k.want, 1e-5);
    const Product mn = run_case(WgmmaCase::kSsN256MnMajor, seed);
    expect_close("wgmma m64n256k16 ss B MN-major", mn.got, mn.want, 1e-5);
  }
}

}  // namespace
}  // namespace nanochat::gpu_test
