// The GPU optimizer (kernels/cuda/optimizer.h, optim::MuonAdamWCuda) against the CPU MuonAdamW: the
// AdamW kernel bit for bit, Polar Express in bf16 against the fp32 reference, and three full steps
// of a small model's slab (AdamW groups exact, Muon at bf16 level, momentum exact, the zero-gradient
// matrix's pure decay exact), the bf16 shadow, state round trips and run-to-run determinism.
#include <cmath>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "gpu_test_support.h"
#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/optimizer.h"
#include "nanochat/model/config.h"
#include "nanochat/model/param_layout.h"
#include "nanochat/optim/adamw.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/optim/muon_adamw_cuda.h"
#include "nanochat/optim/polar_express.h"

namespace nanochat::gpu_test {
namespace {

using model::OptimKind;
using model::ParamLayout;

template <class T>
std::vector<T> download(const T* p, size_t n) {
  std::vector<T> out(n);
  NC_CUDA_CHECK(cudaDeviceSynchronize());
  NC_CUDA_CHECK(cudaMemcpy(out.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
  return out;
}

size_t bit_differences(std::span<const float> a, std::span<const float> b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0 ? 1 : 0;
  return n;
}

std::vector<float> round_all(std::vector<float> v) {
  for (float& x : v) x = nanochat::bf16::round(x);
  return v;
}

// Gradient scales spread over 1e-3 .. 1e-1, as real per-parameter gradients are.
std::vector<float> random_grad(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> exponent(-3.0f, -1.0f);
  return random_f32(n, rng, std::pow(10.0f, exponent(rng)));
}

class OptimizerKernelTest : public GpuTest {};

// The AdamW kernel computes optim::adamw_step's fp32 operations one by one: equal bits, for the fp32
// mode and for bf16 storage (where the kernel rounds the gradient first; the host gets it rounded).
TEST_F(OptimizerKernelTest, AdamWStepMatchesHostBitwise) {
  const size_t n = 10007;
  for (const bool bf16_storage : {false, true}) {
    std::mt19937 rng(bf16_storage ? 21 : 20);
    std::vector<float> p = random_f32(n, rng, 0.02f), m(n, 0.0f), v(n, 0.0f);
    if (bf16_storage) p = round_all(p);
    auto dp = upload(p), dm = upload(m), dv = upload(v);
    optim::GroupHyper h;
    h.beta1 = 0.8;
    h.beta2 = 0.995;
    h.eps = 1e-10;
    h.weight_decay = 0.01;
    for (int64_t step = 1; step <= 3; ++step) {
      h.lr = 0.3 / static_cast<double>(step);
      const std::vector<float> g = random_grad(n, rng);
      auto dg = upload(g);
      auto shadow = poisoned_bf16(n);
      kernels::cuda::adamw_step(dp.data(), as_bf16(shadow), dg.data(), dm.data(), dv.data(), static_cast<int64_t>(n),
                                optim::adamw_scalars(h, step), bf16_storage, stream());
      optim::adamw_step(p.data(), bf16_storage ? round_all(g).data() : g.data(), m.data(), v.data(), n, step,
                        {h.lr, h.beta1, h.beta2, h.eps, h.weight_decay}, bf16_storage);
      sync();
      const auto gp = dp.to_host(), gm = dm.to_host(), gv = dv.to_host();
      EXPECT_EQ(bit_differences(gp, p), 0u) << "params, step " << step << " bf16 " << bf16_storage;
      EXPECT_EQ(bit_differences(gm, m), 0u) << "exp_avg, step " << step;
      EXPECT_EQ(bit_differences(gv, v), 0u) << "exp_avg_sq, step " << step;
      const std::vector<float> sh = download_bf16(shadow);
      EXPECT_EQ(bit_differences(sh, round_all(gp)), 0u) << "shadow = bf16(params)";
    }
    std::printf("  adamw kernel (bf16_storage=%d): bitwise equal to optim::adamw_step over 3 steps\n",
                static_cast<int>(bf16_storage));
  }
}

// MuonEq + normalization + Polar Express in bf16 against the fp32 reference, on wide, tall, square
// and ve_gate-like stacks; an all-zero matrix stays exactly zero. Scratch is poisoned first.
TEST_F(OptimizerKernelTest, OrthogonalizeMatchesFp32ReferenceAtBf16Level) {
  struct Shape {
    int64_t K, m, n;
  };
  for (const Shape s : {Shape{3, 96, 160}, Shape{3, 200, 64}, Shape{2, 128, 128}, Shape{3, 6, 12}, Shape{2, 13, 12}}) {
    std::mt19937 rng(static_cast<unsigned>(s.m * 31 + s.n));
    const size_t mn = static_cast<size_t>(s.m * s.n);
    std::vector<float> in = random_f32(s.K * mn, rng, 0.05f);
    std::fill(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(mn), 0.0f);  // matrix 0: zero
    const Bf16Data x = bf16_of(in);
    auto dx = upload_bits(x.bits);
    kernels::cuda::MuonScratch scratch;
    scratch.reserve(s.K, s.m, s.n);
    for (auto* b : {&scratch.x, &scratch.x_next, &scratch.gram, &scratch.poly}) b->fill_bytes(0xff);
    for (auto* b : {&scratch.rows, &scratch.mats, &scratch.stats}) b->fill_bytes(0xff);
    kernels::cuda::muon_orthogonalize(ctx(), as_bf16(dx), s.K, s.m, s.n, 5, scratch);
    sync();
    const std::vector<float> got = download_bf16(dx);
    std::vector<float> want(got.size());
    optim::PolarExpressWorkspace<float> ws;
    for (int64_t k = 0; k < s.K; ++k)
      optim::muon_orthogonalize(x.values.data() + k * mn, want.data() + k * mn, s.m, s.n, 5, ws);
    const std::string what = "polar express bf16 (" + std::to_string(s.K) + "," + std::to_string(s.m) + "," +
                             std::to_string(s.n) + ")";
    expect_close(what.c_str(), got, want, 5e-2);
    for (size_t i = 0; i < mn; ++i) ASSERT_EQ(got[i], 0.0f) << "zero matrix, element " << i;
  }
}

// ---- the whole optimizer on a small model's slab ----

struct Problem {
  ParamLayout layout;
  optim::OptimizerSetup setup;
  std::vector<float> params0;
  std::vector<std::vector<float>> grads;  // per step
  std::vector<double> lrm, momentum, wd;  // per step
  int zero_grad_param = -1;

  explicit Problem(int steps) : layout(model::GPTConfig::from_depth(4, 512, 64, 64, 64)) {
    setup.weight_decay = 0.2;
    std::mt19937 rng(7);
    params0.assign(layout.total_floats(), 0.0f);
    zero_grad_param = layout.index_of("transformer.h.0.attn.c_q.weight");
    for (const model::ParamEntry& e : layout.params()) {
      const std::vector<float> v = random_f32(e.numel, rng, 0.02f);
      std::copy(v.begin(), v.end(), params0.begin() + static_cast<std::ptrdiff_t>(e.offset));
    }
    for (int s = 0; s < steps; ++s) {
      std::vector<float> g(layout.total_floats(), 0.0f);
      for (size_t pi = 0; pi < layout.params().size(); ++pi) {
        const model::ParamEntry& e = layout.params()[pi];
        if (static_cast<int>(pi) == zero_grad_param) continue;
        const std::vector<float> v = random_grad(e.numel, rng);
        std::copy(v.begin(), v.end(), g.begin() + static_cast<std::ptrdiff_t>(e.offset));
      }
      grads.push_back(std::move(g));
      lrm.push_back(1.0 - 0.1 * s);
      momentum.push_back(0.85 + 0.05 * s);
      wd.push_back(0.2 - 0.05 * s);
    }
    // The bf16 tables hold bf16 values and get bf16 gradients (as in the original), so the host's
    // bf16_embeddings path sees exactly what the device rounds to.
    for (const model::ParamGroup& g : layout.groups()) {
      if (g.label != "embedding" && g.label != "value_embeds") continue;
      for (size_t i = g.offset; i < g.offset + g.numel; ++i) {
        params0[i] = nanochat::bf16::round(params0[i]);
        for (auto& gs : grads) gs[i] = nanochat::bf16::round(gs[i]);
      }
    }
  }
};

struct GpuResult {
  std::vector<float> params, first, second, shadow;
};

GpuResult gpu_result(const optim::MuonAdamWCuda& opt, const cuda::DeviceBuffer<float>& params,
                     const cuda::DeviceBuffer<uint16_t>& shadow) {
  return {params.to_host(), download(opt.first_moment(), opt.layout().total_floats()),
          download(opt.second_moment(), opt.second_moment_size()), download_bf16(shadow)};
}

class MuonAdamWCudaTest : public GpuTest {
 protected:
  // `steps` steps from the problem's start; the optimizer and buffers are left for further use.
  void run(const Problem& pb, int steps, optim::MuonAdamWCudaOptions options = {}) {
    opt = std::make_unique<optim::MuonAdamWCuda>(pb.layout, pb.setup, ctx(), options);
    params = upload(pb.params0);
    shadow = poisoned_bf16(pb.layout.total_floats());
    for (int s = 0; s < steps; ++s) step(pb, s);
  }
  void step(const Problem& pb, int s) {
    auto g = upload(pb.grads[static_cast<size_t>(s)]);
    shadow.fill_bytes(0xff);  // every updated element's shadow must be rewritten
    opt->apply_schedule(pb.lrm[static_cast<size_t>(s)], pb.momentum[static_cast<size_t>(s)],
                        pb.wd[static_cast<size_t>(s)]);
    opt->step(params.data(), g.data(), as_bf16(shadow));
    sync();
  }

  std::unique_ptr<optim::MuonAdamWCuda> opt;
  cuda::DeviceBuffer<float> params;
  cuda::DeviceBuffer<uint16_t> shadow;
};

optim::MuonAdamW run_host(const Problem& pb, int steps, std::vector<float>& params) {
  optim::MuonAdamW host(pb.layout, pb.setup, {.bf16_embeddings = true});
  params = pb.params0;
  for (int s = 0; s < steps; ++s) {
    host.apply_schedule(pb.lrm[static_cast<size_t>(s)], pb.momentum[static_cast<size_t>(s)],
                        pb.wd[static_cast<size_t>(s)]);
    host.step(params, pb.grads[static_cast<size_t>(s)]);
  }
  return host;
}

std::span<const float> slice(const std::vector<float>& v, size_t offset, size_t n) {
  return std::span<const float>(v).subspan(offset, n);
}

TEST_F(MuonAdamWCudaTest, ThreeStepsMatchHostOptimizer) {
  constexpr int kSteps = 3;
  const Problem pb(kSteps);
  run(pb, kSteps);
  const GpuResult got = gpu_result(*opt, params, shadow);
  std::vector<float> want_params;
  const optim::MuonAdamW host = run_host(pb, kSteps, want_params);
  const std::vector<float> want_first(host.first_moment().begin(), host.first_moment().end());
  const std::vector<float> want_second(host.second_moment().begin(), host.second_moment().end());
  ASSERT_EQ(got.second.size(), want_second.size());

  for (size_t gi = 0; gi < pb.layout.groups().size(); ++gi) {
    const model::ParamGroup& g = pb.layout.groups()[gi];
    const std::string name = "group '" + g.label + "'";
    const auto gp = slice(got.params, g.offset, g.numel), wp = slice(want_params, g.offset, g.numel);
    if (g.kind == OptimKind::AdamW) {
      // Same fp32 operations: exact (bf16 tables included, their gradients being bf16 values).
      expect_close((name + " params").c_str(), gp, wp, 1e-6);
      EXPECT_EQ(bit_differences(gp, wp), 0u) << name;
      EXPECT_EQ(bit_differences(slice(got.first, g.offset, g.numel), slice(want_first, g.offset, g.numel)), 0u)
          << name << " exp_avg";
      EXPECT_EQ(bit_differences(slice(got.second, g.offset, g.numel), slice(want_second, g.offset, g.numel)), 0u)
          << name << " exp_avg_sq";
      for (int pi : g.params) EXPECT_EQ(opt->adamw_step_count(pi), kSteps);
    } else {
      // bf16 Polar Express vs fp32: compare the accumulated update P3 - P0 (the params themselves
      // agree far better, the update being small).
      std::vector<float> du(g.numel), dw(g.numel);
      for (size_t i = 0; i < g.numel; ++i) {
        du[i] = gp[i] - pb.params0[g.offset + i];
        dw[i] = wp[i] - pb.params0[g.offset + i];
      }
      expect_close((name + " update (3 steps)").c_str(), du, dw, 5e-2);
      // (The tiny ve_gate's update is as large as its weights, so the params share the update's bound.)
      expect_close((name + " params").c_str(), gp, wp, 5e-2);
      // Momentum depends on the gradients alone: exact.
      EXPECT_EQ(bit_differences(slice(got.first, g.offset, g.numel), slice(want_first, g.offset, g.numel)), 0u)
          << name << " momentum buffer";
      const size_t off2 = opt->second_moment_offset(static_cast<int>(gi));
      EXPECT_EQ(off2, host.second_moment_offset(static_cast<int>(gi)));
      const size_t n2 = g.params.size() * static_cast<size_t>(optim::muon_second_moment_size(g.rows, g.cols));
      expect_close((name + " NorMuon second moment").c_str(), slice(got.second, off2, n2),
                   slice(want_second, off2, n2), 1e-1);
    }
  }
  // The zero-gradient matrix gets the plain (non-cautious) decay: exactly the host's values.
  const model::ParamEntry& z = pb.layout.params()[static_cast<size_t>(pb.zero_grad_param)];
  EXPECT_EQ(bit_differences(slice(got.params, z.offset, z.numel), slice(want_params, z.offset, z.numel)), 0u);
  EXPECT_LT(std::fabs(got.params[z.offset]), std::fabs(pb.params0[z.offset])) << "zero-gradient matrix decays";
  // Shadow = bf16(params) for every parameter element.
  for (const model::ParamEntry& e : pb.layout.params()) {
    const auto sh = slice(got.shadow, e.offset, e.numel);
    const std::vector<float> want_sh = round_all(std::vector<float>(got.params.begin() + static_cast<std::ptrdiff_t>(e.offset),
                                                                    got.params.begin() + static_cast<std::ptrdiff_t>(e.offset + e.numel)));
    ASSERT_EQ(bit_differences(sh, want_sh), 0u) << "shadow of " << e.name;
  }
}

TEST_F(MuonAdamWCudaTest, TwoRunsAreBitwiseEqual) {
  const Problem pb(3);
  run(pb, 3);
  const GpuResult a = gpu_result(*opt, params, shadow);
  run(pb, 3);
  const GpuResult b = gpu_result(*opt, params, shadow);
  EXPECT_EQ(count_nan(a.params), 0u);
  EXPECT_EQ(bit_differences(a.params, b.params), 0u);
  EXPECT_EQ(bit_differences(a.first, b.first), 0u);
  EXPECT_EQ(bit_differences(a.second, b.second), 0u);
  EXPECT_EQ(bit_differences(a.shadow, b.shadow), 0u);
}

// The 16-byte vector paths of the elementwise passes (AdamW, Nesterov, MuonEq, normalization, the
// update) are a memory-access change only, and the AdamW groups on their own stream touch nothing the
// Muon groups do: the same bits as element by element on one stream. The d4 slab has both kinds of Muon
// stack (n % 8 == 0, and the 12-column gates that stay scalar) and AdamW tables.
TEST_F(MuonAdamWCudaTest, VectorKernelsAndSideStreamGiveTheReferenceBits) {
  const Problem pb(3);
  run(pb, 3, {.vector_kernels = false, .overlap_adamw = false});
  const GpuResult scalar = gpu_result(*opt, params, shadow);
  run(pb, 3, {.vector_kernels = true});
  const GpuResult vec = gpu_result(*opt, params, shadow);
  EXPECT_EQ(count_nan(vec.params), 0u);
  EXPECT_EQ(bit_differences(vec.params, scalar.params), 0u);
  EXPECT_EQ(bit_differences(vec.first, scalar.first), 0u);
  EXPECT_EQ(bit_differences(vec.second, scalar.second), 0u);
  EXPECT_EQ(bit_differences(vec.shadow, scalar.shadow), 0u);
  // Both paths really ran: the stacks of 256-wide matrices take the vector path, the gates cannot.
  bool vector_stack = false, scalar_stack = false;
  for (const model::ParamGroup& g : pb.layout.groups()) {
    if (g.kind != OptimKind::Muon) continue;
    (g.cols % 8 == 0 ? vector_stack : scalar_stack) = true;
  }
  EXPECT_TRUE(vector_stack && scalar_stack);
}

// download_state -> (save_state/load_state) -> upload_state restores the optimizer exactly: a fresh
// device optimizer continues bit for bit like the one that took the steps.
TEST_F(MuonAdamWCudaTest, StateRoundTripContinuesIdentically) {
  const Problem pb(3);
  run(pb, 2);
  optim::MuonAdamW host(pb.layout, pb.setup, {.bf16_embeddings = true});
  opt->download_state(host);
  const GpuResult before = gpu_result(*opt, params, shadow);
  EXPECT_EQ(bit_differences(std::vector<float>(host.first_moment().begin(), host.first_moment().end()), before.first),
            0u);
  EXPECT_EQ(
      bit_differences(std::vector<float>(host.second_moment().begin(), host.second_moment().end()), before.second), 0u);
  EXPECT_EQ(host.adamw_step_count(0), 2);
  EXPECT_DOUBLE_EQ(host.groups()[0].lr, opt->groups()[0].lr);

  const auto path = std::filesystem::temp_directory_path() / ("nanochat_optim_cuda_state_" + std::to_string(::getpid()) +
                                                              ".safetensors");
  host.save_state(path);
  optim::MuonAdamW loaded(pb.layout, pb.setup, {.bf16_embeddings = true});
  loaded.load_state(path);
  std::filesystem::remove(path);

  optim::MuonAdamWCuda resumed(pb.layout, pb.setup, ctx());
  resumed.upload_state(loaded);
  optim::MuonAdamW again(pb.layout, pb.setup, {.bf16_embeddings = true});
  resumed.download_state(again);
  EXPECT_EQ(bit_differences(std::vector<float>(again.first_moment().begin(), again.first_moment().end()), before.first),
            0u);
  EXPECT_EQ(
      bit_differences(std::vector<float>(again.second_moment().begin(), again.second_moment().end()), before.second),
      0u);
  for (size_t pi = 0; pi < pb.layout.params().size(); ++pi)
    EXPECT_EQ(resumed.adamw_step_count(static_cast<int>(pi)), opt->adamw_step_count(static_cast<int>(pi)));

  // Step 3 on both from the same parameters.
  auto params2 = upload(params.to_host());
  auto shadow2 = poisoned_bf16(pb.layout.total_floats());
  auto g = upload(pb.grads[2]);
  resumed.apply_schedule(pb.lrm[2], pb.momentum[2], pb.wd[2]);
  resumed.step(params2.data(), g.data(), as_bf16(shadow2));
  step(pb, 2);
  const GpuResult a = gpu_result(*opt, params, shadow), b = gpu_result(resumed, params2, shadow2);
  EXPECT_EQ(bit_differences(a.params, b.params), 0u);
  EXPECT_EQ(bit_differences(a.first, b.first), 0u);
  EXPECT_EQ(bit_differences(a.second, b.second), 0u);

  // A host optimizer of another layout is refused, naming the mismatch.
  const ParamLayout other(model::GPTConfig::from_depth(2, 512, 64, 64, 64));
  optim::MuonAdamW wrong(other, pb.setup);
  EXPECT_THROW(opt->download_state(wrong), Error);
  EXPECT_THROW(resumed.upload_state(wrong), Error);
}

TEST_F(MuonAdamWCudaTest, RefreshShadowRoundsTheWholeSlab) {
  const Problem pb(1);
  optim::MuonAdamWCuda o(pb.layout, pb.setup, ctx());
  auto p = upload(pb.params0);
  auto sh = poisoned_bf16(pb.layout.total_floats());
  o.refresh_shadow(p.data(), as_bf16(sh));
  sync();
  EXPECT_EQ(bit_differences(download_bf16(sh), round_all(pb.params0)), 0u);
}

}  // namespace
}  // namespace nanochat::gpu_test
