// The plan (descriptors and algorithm) comes from the context's per-shape cache (gemm_plan_cache.h);
// this file only validates the call and enqueues the product.
#include "nanochat/kernels/cuda/gemm.h"

#include <string>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/gemm_plan_cache.h"

namespace nanochat::cuda {

GemmPlanKey gemm_plan_key(const CudaContext& ctx, const GemmArgs& g) {
  GemmPlanKey key;
  key.M = g.M;
  key.N = g.N;
  key.K = g.K;
  key.trans_a = g.trans_a;
  key.trans_b = g.trans_b;
  key.out_bf16 = g.out_type == GemmOut::kBF16;
  key.align_a = address_alignment(g.a);
  key.align_b = address_alignment(g.b);
  key.align_out = address_alignment(g.out);
  key.workspace_bytes = ctx.workspace_bytes();
  return key;
}

void gemm(CudaContext& ctx, const GemmArgs& g) {
  if (g.M <= 0 || g.N <= 0 || g.K <= 0 || g.out == nullptr || g.a == nullptr || g.b == nullptr)
    throw Error("cuda::gemm: empty or null operand (M=" + std::to_string(g.M) + ", N=" + std::to_string(g.N) +
                ", K=" + std::to_string(g.K) + ")");
  const GemmPlan& plan = ctx.gemm_plans().get(ctx.lt(), gemm_plan_key(ctx, g));
  const float beta = g.accumulate ? 1.0f : 0.0f;
  NC_CUBLAS_CHECK(cublasLtMatmul(ctx.lt(), plan.desc.op, &g.alpha, g.b, plan.desc.a, g.a, plan.desc.b, &beta, g.out,
                                 plan.desc.c, g.out, plan.desc.c, &plan.algo, ctx.workspace(), ctx.workspace_bytes(),
                                 ctx.stream()));
}

}  // namespace nanochat::cuda
