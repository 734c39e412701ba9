// The plan (descriptors and algorithm) comes from the context's per-shape cache (gemm_plan_cache.h);
// this file only validates the call and enqueues the product.
#include "nanochat/kernels/cuda/gemm.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/gemm_plan_cache.h"

namespace nanochat::cuda {

namespace {

// Batch strides as the plan sees them: 0 (packed) becomes the matrix size; unused for one product.
struct Strides {
  int64_t a = 0, b = 0, out = 0, c = 0;
};

Strides effective_strides(const GemmArgs& g) {
  if (g.batch == 1) return {};
  const auto pick = [](int64_t stride, int64_t packed) { return stride != 0 ? stride : packed; };
  return {pick(g.stride_a, g.M * g.K), pick(g.stride_b, g.K * g.N), pick(g.stride_out, g.M * g.N),
          pick(g.stride_c, g.M * g.N)};
}

bool separate_c(const GemmArgs& g) { return g.c != nullptr && g.c != g.out; }

// The alignment every matrix of a batch shares: that of the first one's address and of the stride.
uint32_t batch_alignment(const void* p, int64_t stride, size_t elem_bytes) {
  const uint32_t base = address_alignment(p);
  if (stride == 0) return base;
  uint32_t a = 256;
  const auto bytes = static_cast<uint64_t>(stride) * elem_bytes;
  while (a > 1 && bytes % a != 0) a >>= 1;
  return a < base ? a : base;
}

}  // namespace

GemmPlanKey gemm_plan_key(const CudaContext& ctx, const GemmArgs& g) {
  GemmPlanKey key;
  key.M = g.M;
  key.N = g.N;
  key.K = g.K;
  key.trans_a = g.trans_a;
  key.trans_b = g.trans_b;
  key.out_bf16 = g.out_type == GemmOut::kBF16;
  const Strides s = effective_strides(g);
  const size_t out_elem = g.out_type == GemmOut::kBF16 ? 2 : 4;
  key.align_a = batch_alignment(g.a, s.a, 2);
  key.align_b = batch_alignment(g.b, s.b, 2);
  key.align_out = batch_alignment(g.out, s.out, out_elem);
  key.workspace_bytes = ctx.workspace_bytes();
  key.batch = g.batch;
  key.stride_a = s.a;
  key.stride_b = s.b;
  key.stride_out = s.out;
  if (separate_c(g)) {
    key.separate_c = true;
    key.stride_c = s.c;
    key.align_c = batch_alignment(g.c, s.c, out_elem);
  }
  return key;
}

void gemm(CudaContext& ctx, const GemmArgs& g) {
  if (g.M <= 0 || g.N <= 0 || g.K <= 0 || g.out == nullptr || g.a == nullptr || g.b == nullptr)
    throw Error("cuda::gemm: empty or null operand (M=" + std::to_string(g.M) + ", N=" + std::to_string(g.N) +
                ", K=" + std::to_string(g.K) + ")");
  if (g.batch < 1 || g.batch > INT32_MAX)
    throw Error("cuda::gemm: batch must be in [1, 2^31), got " + std::to_string(g.batch));
  if (g.stride_a < 0 || g.stride_b < 0 || g.stride_c < 0 || g.stride_out < 0)
    throw Error("cuda::gemm: negative batch stride");
  if (g.c != nullptr && g.accumulate)
    throw Error("cuda::gemm: accumulate and a separate input c are exclusive (use c = out, beta = 1)");
  if (g.c == nullptr && g.beta != 0.0f)
    throw Error("cuda::gemm: beta without an input c (pass c = out to scale the output in place)");
  if (separate_c(g)) {
    // A separate c must not overlap the output (cuBLASLt reads c while writing out).
    const size_t elem = g.out_type == GemmOut::kBF16 ? 2 : 4;
    const Strides s = effective_strides(g);
    const auto span = [&](int64_t stride) { return static_cast<size_t>((g.batch - 1) * stride + g.M * g.N) * elem; };
    const auto* o = static_cast<const std::byte*>(g.out);
    const auto* c = static_cast<const std::byte*>(g.c);
    if (o < c + span(s.c) && c < o + span(s.out)) throw Error("cuda::gemm: input c overlaps out without being out");
  }
  const GemmPlan& plan = ctx.gemm_plans().get(ctx.lt(), gemm_plan_key(ctx, g));
  const float beta = g.c != nullptr ? g.beta : (g.accumulate ? 1.0f : 0.0f);
  const void* c = g.c != nullptr ? g.c : g.out;
  NC_CUBLAS_CHECK(cublasLtMatmul(ctx.lt(), plan.desc.op, &g.alpha, g.b, plan.desc.a, g.a, plan.desc.b, &beta, c,
                                 plan.desc.input_c(), g.out, plan.desc.c, &plan.algo, ctx.workspace(),
                                 ctx.workspace_bytes(), ctx.stream()));
}

}  // namespace nanochat::cuda
