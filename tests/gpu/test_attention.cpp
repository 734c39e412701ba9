// Flash attention (kernels/cuda/attention.h) vs the CPU reference in fp32 on the same bf16 inputs:
// training shapes over head dims, GQA groupings, lengths that are not tile multiples and sliding
// windows (forward and backward); KV-cache shapes (forward); every head_dim 128 Hopper forward kernel
// pinned on those shapes; bitwise determinism of the backward; rejected shapes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "gpu_test_support.h"
#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;
namespace cpu = kernels::cpu;

struct TrainCase {
  int64_t d, H, Hk, T, window;
};

std::string case_name(const TrainCase& c) {
  return "d" + std::to_string(c.d) + "_H" + std::to_string(c.H) + "_Hk" + std::to_string(c.Hk) + "_T" +
         std::to_string(c.T) + "_w" + std::to_string(c.window);
}

std::vector<TrainCase> training_cases() {
  std::vector<TrainCase> out;
  for (int64_t d : {64, 128})
    for (auto [H, Hk] : {std::pair<int64_t, int64_t>{4, 4}, {4, 2}, {6, 2}})
      for (int64_t T : {1, 17, 64, 100, 257})
        for (int64_t w : {T + 5, int64_t{1}, int64_t{37}, T / 2}) out.push_back({d, H, Hk, T, w});
  // Several 128-row query blocks and 128-key tiles (the head_dim 128 wgmma forward): lengths off
  // every tile size, windows that cut tiles mid-way, 4 query heads per kv head.
  for (auto [T, w] : {std::pair<int64_t, int64_t>{300, 130}, {383, 200}, {383, 64}, {256, 1000}})
    out.push_back({128, 4, 1, T, w});
  return out;
}

std::vector<float> round_to_bf16(const std::vector<float>& v, std::vector<uint16_t>* bits) {
  std::vector<float> out(v.size());
  bits->resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    (*bits)[i] = ::nanochat::bf16::from_float(v[i]);
    out[i] = ::nanochat::bf16::to_float((*bits)[i]);
  }
  return out;
}

// Every head_dim 128 Hopper forward kernel, pinned (the default one may be chosen by environment):
// each must match the CPU reference on its own. Outputs are poisoned before each run.
void expect_pinned_forward_kernels_match(const cpu::AttentionShape& s, const bf16* q, const bf16* k, const bf16* v,
                                         const std::vector<float>& want_y, const std::vector<float>& want_lse,
                                         const std::string& name, cudaStream_t stream) {
  if (s.d != 128) return;
  using K = kc::AttentionForwardKernel;
  for (const auto& [kernel, kernel_name] : {std::pair{K::kWgmma, "wgmma"}, std::pair{K::kWarpSpecialized, "ws"},
                                            std::pair{K::kWarpSpecializedPersistent, "wsp"}}) {
    auto y = poisoned_bf16(want_y.size());
    auto lse = poisoned_f32(want_lse.size());
    kc::attention_forward_tiled_kernel(as_bf16(y), lse.data(), q, k, v, s, kernel, stream);
    NC_CUDA_CHECK(cudaStreamSynchronize(stream));
    const std::string what = std::string(" (") + kernel_name + " kernel) " + name;
    expect_close(("attention forward y" + what).c_str(), download_bf16(y), want_y, 1e-2);
    expect_close(("attention forward lse" + what).c_str(), lse.to_host(), want_lse, 1e-5);
    // lse is optional.
    auto y2 = poisoned_bf16(want_y.size());
    kc::attention_forward_tiled_kernel(as_bf16(y2), nullptr, q, k, v, s, kernel, stream);
    NC_CUDA_CHECK(cudaStreamSynchronize(stream));
    expect_close(("attention forward y, no lse" + what).c_str(), download_bf16(y2), want_y, 1e-2);
  }
}

class AttentionTrainTest : public GpuTest, public ::testing::WithParamInterface<TrainCase> {};

TEST_P(AttentionTrainTest, ForwardAndBackwardMatchCpu) {
  const TrainCase c = GetParam();
  const int64_t B = 2;
  cpu::AttentionShape s{B, c.T, c.H, c.Hk, c.d, c.T, c.T, 0, c.window};
  std::mt19937 rng(static_cast<unsigned>(c.d * 7919 + c.H * 131 + c.Hk * 17 + c.T * 3 + c.window));
  const size_t nq = static_cast<size_t>(B * c.T * c.H * c.d), nkv = static_cast<size_t>(B * c.T * c.Hk * c.d);
  // Scores of unit-RMS q, k times 1.2 each (spec §3.1.6): logits of a few units, as in the model.
  const Bf16Data q = random_bf16(nq, rng, 1.2f), k = random_bf16(nkv, rng, 1.2f), v = random_bf16(nkv, rng);
  const Bf16Data gy = random_bf16(nq, rng);

  std::vector<float> want_y(nq), want_lse(static_cast<size_t>(B * c.H * c.T));
  cpu::attention_forward(want_y.data(), want_lse.data(), q.values.data(), k.values.data(), v.values.data(), s);

  auto dq = upload_bits(q.bits), dk = upload_bits(k.bits), dv = upload_bits(v.bits), dgy = upload_bits(gy.bits);
  auto y = poisoned_bf16(nq);
  auto lse = poisoned_f32(want_lse.size());
  kc::attention_forward(as_bf16(y), lse.data(), as_bf16(dq), as_bf16(dk), as_bf16(dv), s, stream());
  sync();
  const std::string name = case_name(c);
  expect_close(("attention forward y " + name).c_str(), download_bf16(y), want_y, 1e-2);
  expect_close(("attention forward lse " + name).c_str(), lse.to_host(), want_lse, 1e-5);
  expect_pinned_forward_kernels_match(s, as_bf16(dq), as_bf16(dk), as_bf16(dv), want_y, want_lse, name, stream());

  // Backward: both sides get the same bf16 y and the same lse.
  std::vector<uint16_t> y_bits;
  const std::vector<float> y_rounded = round_to_bf16(want_y, &y_bits);
  std::vector<float> want_gq(nq), want_gk(nkv), want_gv(nkv);
  cpu::attention_backward(want_gq.data(), want_gk.data(), want_gv.data(), gy.values.data(), q.values.data(),
                          k.values.data(), v.values.data(), y_rounded.data(), want_lse.data(), s);
  auto dy = upload_bits(y_bits);
  auto dlse = upload(want_lse);
  auto gq = poisoned_bf16(nq), gk = poisoned_bf16(nkv), gv = poisoned_bf16(nkv);
  kc::attention_backward(as_bf16(gq), as_bf16(gk), as_bf16(gv), as_bf16(dgy), as_bf16(dq), as_bf16(dk), as_bf16(dv),
                         as_bf16(dy), dlse.data(), s, stream());
  sync();
  if (c.T == 1) {
    // A query that sees only itself has P = 1: gq = gk = scale*(gy.v - gy.y)*(k or q) = 0 exactly, and
    // both sides hold fp32 rounding noise, so a relative error means nothing; bound the noise instead.
    for (const auto& [what, got] : {std::pair{"gq", download_bf16(gq)}, std::pair{"gk", download_bf16(gk)}}) {
      EXPECT_EQ(count_nan(got), 0u) << what;
      float max_abs = 0.0f;
      for (float g : got) max_abs = std::max(max_abs, std::fabs(g));
      EXPECT_LE(max_abs, 1e-4f) << what << " " << name;
    }
  } else {
    expect_close(("attention backward gq " + name).c_str(), download_bf16(gq), want_gq, 2e-2);
    expect_close(("attention backward gk " + name).c_str(), download_bf16(gk), want_gk, 2e-2);
  }
  expect_close(("attention backward gv " + name).c_str(), download_bf16(gv), want_gv, 2e-2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTrainTest, ::testing::ValuesIn(training_cases()),
                         [](const ::testing::TestParamInfo<TrainCase>& p) { return case_name(p.param); });

struct CacheCase {
  int64_t d, H, Hk, Tq, pos0, kv_stride, window;
};

class AttentionCacheTest : public GpuTest, public ::testing::WithParamInterface<CacheCase> {};

// Decoding and chunked prefill against a cache: cache positions at or beyond Tk hold NaN, so any
// read of them would show up in y.
TEST_P(AttentionCacheTest, ForwardMatchesCpu) {
  const CacheCase c = GetParam();
  const int64_t B = 2, Tk = c.pos0 + c.Tq;
  cpu::AttentionShape s{B, c.Tq, c.H, c.Hk, c.d, Tk, c.kv_stride, c.pos0, c.window};
  std::mt19937 rng(static_cast<unsigned>(c.Tq * 1000 + c.pos0 + c.window));
  const size_t nq = static_cast<size_t>(B * c.Tq * c.H * c.d), nkv = static_cast<size_t>(B * c.kv_stride * c.Hk * c.d);
  const Bf16Data q = random_bf16(nq, rng, 1.2f);
  Bf16Data k = random_bf16(nkv, rng, 1.2f), v = random_bf16(nkv, rng);
  const uint16_t nan_bits = 0x7FC0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = Tk; t < c.kv_stride; ++t)
      for (int64_t i = 0; i < c.Hk * c.d; ++i) {
        const size_t at = static_cast<size_t>((b * c.kv_stride + t) * c.Hk * c.d + i);
        k.bits[at] = v.bits[at] = nan_bits;
        k.values[at] = v.values[at] = std::numeric_limits<float>::quiet_NaN();
      }
  std::vector<float> want_y(nq), want_lse(static_cast<size_t>(B * c.H * c.Tq));
  cpu::attention_forward(want_y.data(), want_lse.data(), q.values.data(), k.values.data(), v.values.data(), s);
  auto dq = upload_bits(q.bits), dk = upload_bits(k.bits), dv = upload_bits(v.bits);
  auto y = poisoned_bf16(nq);
  auto lse = poisoned_f32(want_lse.size());
  kc::attention_forward(as_bf16(y), lse.data(), as_bf16(dq), as_bf16(dk), as_bf16(dv), s, stream());
  sync();
  expect_close("attention cache forward y", download_bf16(y), want_y, 1e-2);
  expect_close("attention cache forward lse", lse.to_host(), want_lse, 1e-5);
  // lse is optional.
  auto y2 = poisoned_bf16(nq);
  kc::attention_forward(as_bf16(y2), nullptr, as_bf16(dq), as_bf16(dk), as_bf16(dv), s, stream());
  sync();
  expect_close("attention cache forward y (no lse)", download_bf16(y2), want_y, 1e-2);

  // Each path pinned: the tiled one always applies, the split-KV decode one to few query rows.
  auto y_tiled = poisoned_bf16(nq);
  auto lse_tiled = poisoned_f32(want_lse.size());
  kc::attention_forward_tiled(as_bf16(y_tiled), lse_tiled.data(), as_bf16(dq), as_bf16(dk), as_bf16(dv), s, stream());
  sync();
  const std::vector<float> got_tiled = download_bf16(y_tiled);
  expect_close("attention cache forward y (tiled path)", got_tiled, want_y, 1e-2);
  expect_close("attention cache forward lse (tiled path)", lse_tiled.to_host(), want_lse, 1e-5);
  expect_pinned_forward_kernels_match(s, as_bf16(dq), as_bf16(dk), as_bf16(dv), want_y, want_lse,
                                      "cache Tq " + std::to_string(c.Tq) + " pos0 " + std::to_string(c.pos0), stream());
  EXPECT_EQ(kc::attention_decode_fits(s), c.Tq <= 4 && c.Tq * (c.H / c.Hk) <= 16);
  if (kc::attention_decode_fits(s)) {
    auto y_dec = poisoned_bf16(nq);
    auto lse_dec = poisoned_f32(want_lse.size());
    kc::attention_forward_decode(as_bf16(y_dec), lse_dec.data(), as_bf16(dq), as_bf16(dk), as_bf16(dv), s,
                                 stream());
    sync();
    const std::vector<float> got_dec = download_bf16(y_dec);
    expect_close("attention cache forward y (decode path)", got_dec, want_y, 1e-2);
    expect_close("attention cache forward lse (decode path)", lse_dec.to_host(), want_lse, 1e-5);
    expect_close("attention cache decode vs tiled y", got_dec, got_tiled, 1e-2);
  } else {
    auto y_dec = poisoned_bf16(nq);
    EXPECT_THROW(kc::attention_forward_decode(as_bf16(y_dec), nullptr, as_bf16(dq), as_bf16(dk), as_bf16(dv), s,
                                              stream()),
                 Error);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionCacheTest,
                         ::testing::Values(CacheCase{128, 4, 2, 1, 77, 160, 1000}, CacheCase{128, 4, 2, 1, 77, 160, 37},
                                           CacheCase{64, 6, 2, 5, 10, 64, 1000}, CacheCase{64, 4, 4, 5, 10, 64, 3},
                                           CacheCase{128, 6, 2, 70, 90, 200, 64}, CacheCase{128, 8, 2, 4, 300, 400, 1000},
                                           CacheCase{64, 8, 2, 4, 300, 310, 100}, CacheCase{128, 10, 10, 1, 2047, 2048, 2048},
                                           CacheCase{64, 6, 1, 3, 0, 16, 1000},
                                           // Chunked prefill over several query blocks and key tiles.
                                           CacheCase{128, 4, 1, 300, 57, 400, 1000}, CacheCase{128, 4, 2, 129, 128, 300, 130},
                                           CacheCase{128, 6, 2, 200, 150, 350, 100}));

class AttentionTest : public GpuTest {
 protected:
  // Runs the backward `runs` times on the same inputs and expects bitwise-equal gq, gk, gv. With
  // check_cpu, the first run must also match the CPU reference (the gQ tiles are summed across
  // key-tile blocks in a fixed order, which must also be the right sum). key_tile 0: the default path.
  void backward_is_bitwise_deterministic(const cpu::AttentionShape& s, int runs, unsigned seed, bool check_cpu,
                                         int key_tile = 0) {
    std::mt19937 rng(seed);
    const size_t nq = static_cast<size_t>(s.B * s.Tq * s.H * s.d), nkv = static_cast<size_t>(s.B * s.Tk * s.Hk * s.d);
    const Bf16Data q = random_bf16(nq, rng, 1.2f), k = random_bf16(nkv, rng, 1.2f), v = random_bf16(nkv, rng);
    const Bf16Data gy = random_bf16(nq, rng);
    auto dq = upload_bits(q.bits), dk = upload_bits(k.bits), dv = upload_bits(v.bits), dgy = upload_bits(gy.bits);
    auto y = poisoned_bf16(nq);
    auto lse = poisoned_f32(static_cast<size_t>(s.B * s.H * s.Tq));
    kc::attention_forward(as_bf16(y), lse.data(), as_bf16(dq), as_bf16(dk), as_bf16(dv), s, stream());
    std::vector<std::vector<uint16_t>> all_runs;
    std::vector<float> first_gq, first_gk, first_gv;
    for (int run = 0; run < runs; ++run) {
      auto gq = poisoned_bf16(nq), gk = poisoned_bf16(nkv), gv = poisoned_bf16(nkv);
      if (key_tile == 0)
        kc::attention_backward(as_bf16(gq), as_bf16(gk), as_bf16(gv), as_bf16(dgy), as_bf16(dq), as_bf16(dk),
                               as_bf16(dv), as_bf16(y), lse.data(), s, stream());
      else
        kc::attention_backward_key_tile(as_bf16(gq), as_bf16(gk), as_bf16(gv), as_bf16(dgy), as_bf16(dq),
                                        as_bf16(dk), as_bf16(dv), as_bf16(y), lse.data(), s, key_tile, stream());
      sync();
      std::vector<uint16_t> all = gq.to_host();
      for (auto* g : {&gk, &gv}) {
        const std::vector<uint16_t> part = g->to_host();
        all.insert(all.end(), part.begin(), part.end());
      }
      if (run == 0) first_gq = download_bf16(gq), first_gk = download_bf16(gk), first_gv = download_bf16(gv);
      EXPECT_EQ(count_nan(download_bf16(gq)), 0u);
      all_runs.push_back(std::move(all));
    }
    for (int run = 1; run < runs; ++run) {
      ASSERT_EQ(all_runs[0].size(), all_runs[run].size());
      EXPECT_EQ(std::memcmp(all_runs[0].data(), all_runs[run].data(), all_runs[0].size() * sizeof(uint16_t)), 0)
          << "run " << run << " differs from run 0";
    }
    if (check_cpu) {
      std::vector<float> want_y(nq), want_lse(static_cast<size_t>(s.B * s.H * s.Tq));
      cpu::attention_forward(want_y.data(), want_lse.data(), q.values.data(), k.values.data(), v.values.data(), s);
      const std::vector<float> got_y = download_bf16(y);
      std::vector<float> want_gq(nq), want_gk(nkv), want_gv(nkv);
      cpu::attention_backward(want_gq.data(), want_gk.data(), want_gv.data(), gy.values.data(), q.values.data(),
                              k.values.data(), v.values.data(), got_y.data(), lse.to_host().data(), s);
      const std::string what = " (key tile " + std::to_string(key_tile) + ")";
      expect_close(("attention backward gq" + what).c_str(), first_gq, want_gq, 2e-2);
      expect_close(("attention backward gk" + what).c_str(), first_gk, want_gk, 2e-2);
      expect_close(("attention backward gv" + what).c_str(), first_gv, want_gv, 2e-2);
    }
  }
};

TEST_F(AttentionTest, BackwardIsBitwiseDeterministic) {
  backward_is_bitwise_deterministic(cpu::AttentionShape{2, 257, 6, 2, 128, 257, 257, 0, 257}, 2, 5, false);
}

TEST_F(AttentionTest, BackwardKeyTilesAgreeWithCpu) {
  for (int key_tile : {64, 128}) {
    backward_is_bitwise_deterministic(cpu::AttentionShape{2, 333, 6, 2, 64, 333, 333, 0, 100}, 2, 7, true, key_tile);
    backward_is_bitwise_deterministic(cpu::AttentionShape{2, 200, 4, 4, 128, 200, 200, 0, 200}, 2, 9, true, key_tile);
  }
}

// Many key-tile blocks of one (kv head, batch row) run at once and add into the same gQ tiles: the
// ordered additions must still give the same bits every time, and the right gQ.
TEST_F(AttentionTest, BackwardIsBitwiseDeterministicWithManyConcurrentBlocks) {
  for (int key_tile : {64, 128})
    backward_is_bitwise_deterministic(cpu::AttentionShape{4, 1024, 8, 2, 128, 1024, 1024, 0, 300}, 3, 11, true,
                                      key_tile);
}

// Random q, k, v of shape s (queries and keys at scale 1.2) on the host and on the device, and the CPU
// reference's y and lse: the setup of the forward-only tests.
struct ForwardCase {
  Bf16Data q, k, v;
  std::vector<float> want_y, want_lse;
  cuda::DeviceBuffer<uint16_t> dq, dk, dv;

  ForwardCase(const cpu::AttentionShape& s, unsigned seed) {
    std::mt19937 rng(seed);
    const size_t nq = static_cast<size_t>(s.B * s.Tq * s.H * s.d);
    const size_t nkv = static_cast<size_t>(s.B * s.kv_stride * s.Hk * s.d);
    q = random_bf16(nq, rng, 1.2f);
    k = random_bf16(nkv, rng, 1.2f);
    v = random_bf16(nkv, rng);
    want_y.resize(nq);
    want_lse.resize(static_cast<size_t>(s.B * s.H * s.Tq));
    cpu::attention_forward(want_y.data(), want_lse.data(), q.values.data(), k.values.data(), v.values.data(), s);
    dq = upload_bits(q.bits);
    dk = upload_bits(k.bits);
    dv = upload_bits(v.bits);
  }
};

// More 128-row query blocks than an H100 has SMs: the head_dim 128 forward's blocks then walk several
// work items each (fetching the next item's Q while finishing the last one). A training shape with a
// window and a chunked-prefill shape (pos0 > 0, kv_stride > Tk, 3 query heads per kv head); lengths
// off the tile sizes.
TEST_F(AttentionTest, TiledForwardWithManyQueryBlocksMatchesCpu) {
  for (const cpu::AttentionShape& s : {cpu::AttentionShape{4, 1000, 8, 2, 128, 1000, 1000, 0, 300},
                                       cpu::AttentionShape{3, 600, 12, 4, 128, 800, 900, 200, 250}}) {
    const ForwardCase c(s, static_cast<unsigned>(s.Tq + s.H));
    auto y = poisoned_bf16(c.want_y.size());
    auto lse = poisoned_f32(c.want_lse.size());
    kc::attention_forward_tiled(as_bf16(y), lse.data(), as_bf16(c.dq), as_bf16(c.dk), as_bf16(c.dv), s, stream());
    sync();
    const std::string name = "T" + std::to_string(s.Tq) + " pos0 " + std::to_string(s.pos0);
    expect_close(("attention forward many blocks y " + name).c_str(), download_bf16(y), c.want_y, 1e-2);
    expect_close(("attention forward many blocks lse " + name).c_str(), lse.to_host(), c.want_lse, 1e-5);
    expect_pinned_forward_kernels_match(s, as_bf16(c.dq), as_bf16(c.dk), as_bf16(c.dv), c.want_y, c.want_lse,
                                        "many blocks " + name, stream());
  }
}

// Forward only (a quick target for compute-sanitizer): the pinned head_dim 128 kernels on one query
// block and one key tile, windows cutting tiles, GQA, lengths off the tiles, a chunked prefill
// against a longer cache, and more blocks than SMs.
TEST_F(AttentionTest, PinnedForwardKernelsMatchCpu) {
  for (const cpu::AttentionShape& s :
       {cpu::AttentionShape{2, 1, 4, 2, 128, 1, 1, 0, 1}, cpu::AttentionShape{2, 100, 4, 4, 128, 100, 100, 0, 37},
        cpu::AttentionShape{2, 383, 6, 2, 128, 383, 383, 0, 200}, cpu::AttentionShape{1, 300, 4, 1, 128, 300, 300, 0, 1000},
        cpu::AttentionShape{2, 129, 4, 2, 128, 257, 300, 128, 130},
        cpu::AttentionShape{4, 640, 16, 4, 128, 640, 640, 0, 640}}) {
    const ForwardCase c(s, static_cast<unsigned>(s.Tq * 31 + s.H + s.window));
    expect_pinned_forward_kernels_match(s, as_bf16(c.dq), as_bf16(c.dk), as_bf16(c.dv), c.want_y, c.want_lse,
                                        "T" + std::to_string(s.Tq) + " w" + std::to_string(s.window), stream());
  }
}

TEST_F(AttentionTest, RejectsUnsupportedShapes) {
  auto buf = poisoned_bf16(2 * 16 * 8 * 128);
  auto lse = poisoned_f32(2 * 8 * 16);
  bf16* p = as_bf16(buf);
  const cpu::AttentionShape bad_dim{2, 16, 4, 4, 96, 16, 16, 0, 16};
  EXPECT_THROW(kc::attention_forward(p, lse.data(), p, p, p, bad_dim, stream()), Error);
  try {
    kc::attention_forward(p, lse.data(), p, p, p, bad_dim, stream());
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("96"), std::string::npos) << e.what();
  }
  const cpu::AttentionShape bad_group{2, 16, 4, 3, 64, 16, 16, 0, 16};
  EXPECT_THROW(kc::attention_forward(p, lse.data(), p, p, p, bad_group, stream()), Error);
  EXPECT_THROW(kc::attention_backward(p, p, p, p, p, p, p, p, lse.data(), bad_group, stream()), Error);
  const cpu::AttentionShape cache{2, 1, 4, 4, 64, 8, 16, 7, 16};
  EXPECT_THROW(kc::attention_backward(p, p, p, p, p, p, p, p, lse.data(), cache, stream()), Error);
}

}  // namespace
}  // namespace nanochat::gpu_test
