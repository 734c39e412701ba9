// Row-major to column-major: cuBLASLt sees every row-major (r, c) matrix as a column-major (c, r)
// one, i.e. its transpose. out = op(a)*op(b) row-major is out^T = op(b)^T * op(a)^T column-major, so
// cuBLASLt's "A" is our b and its "B" our a, with m = N, n = M and the same op flags.
#include "nanochat/kernels/cuda/gemm_plan_cache.h"

#include <string>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/check.h"

namespace nanochat::cuda {

namespace {

// Destroys a preference however the constructor leaves.
struct Preference {
  cublasLtMatmulPreference_t pref = nullptr;
  ~Preference() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
};

// Strided batches: the same attributes on every layout (batch 1 leaves the layout as created).
void set_batch(cublasLtMatrixLayout_t layout, int64_t batch, int64_t stride) {
  if (batch == 1) return;
  const auto count = static_cast<int32_t>(batch);
  NC_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
  NC_CUBLAS_CHECK(
      cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
}

template <class T>
void set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, T value) {
  NC_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof value));
}

}  // namespace

size_t GemmPlanKeyHash::operator()(const GemmPlanKey& k) const {
  size_t h = 1469598103934665603ull;
  const auto mix = [&h](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix(static_cast<uint64_t>(k.M));
  mix(static_cast<uint64_t>(k.N));
  mix(static_cast<uint64_t>(k.K));
  mix((k.trans_a ? 1u : 0u) | (k.trans_b ? 2u : 0u) | (k.out_bf16 ? 4u : 0u));
  mix((uint64_t{k.align_a} << 32) ^ (uint64_t{k.align_b} << 16) ^ k.align_out);
  mix(k.workspace_bytes);
  mix(static_cast<uint64_t>(k.batch));
  mix(static_cast<uint64_t>(k.stride_a));
  mix(static_cast<uint64_t>(k.stride_b));
  mix(static_cast<uint64_t>(k.stride_out));
  mix(static_cast<uint64_t>(k.stride_c));
  mix((k.separate_c ? 1u : 0u) | (uint64_t{k.align_c} << 1));
  return h;
}

GemmPlan::GemmPlan(cublasLtHandle_t lt, const GemmPlanKey& k) {
  const auto u64 = [](int64_t v) { return static_cast<uint64_t>(v); };
  NC_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_lt_a = k.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our b
  const cublasOperation_t op_lt_b = k.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's B is our a
  NC_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_lt_a, sizeof op_lt_a));
  NC_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_lt_b, sizeof op_lt_b));
  // Column-major views of the stored row-major matrices: rows = stored columns, ld = rows.
  const int64_t b_rows = k.trans_b ? k.K : k.N, b_cols = k.trans_b ? k.N : k.K;
  const int64_t a_rows = k.trans_a ? k.M : k.K, a_cols = k.trans_a ? k.K : k.M;
  const cudaDataType_t out_type = k.out_bf16 ? CUDA_R_16BF : CUDA_R_32F;
  NC_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&desc.a, CUDA_R_16BF, u64(b_rows), u64(b_cols), b_rows));
  NC_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&desc.b, CUDA_R_16BF, u64(a_rows), u64(a_cols), a_rows));
  NC_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&desc.c, out_type, u64(k.N), u64(k.M), k.N));
  set_batch(desc.a, k.batch, k.stride_b);
  set_batch(desc.b, k.batch, k.stride_a);
  set_batch(desc.c, k.batch, k.stride_out);
  if (k.separate_c) {
    NC_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&desc.c_in, out_type, u64(k.N), u64(k.M), k.N));
    set_batch(desc.c_in, k.batch, k.stride_c);
  }

  Preference p;
  NC_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&p.pref));
  set_pref(p.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, k.workspace_bytes);
  set_pref(p.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, k.align_b);
  set_pref(p.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, k.align_a);
  set_pref(p.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, k.separate_c ? k.align_c : k.align_out);
  set_pref(p.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, k.align_out);
  cublasLtMatmulHeuristicResult_t heur{};
  int found = 0;
  NC_CUBLAS_CHECK(
      cublasLtMatmulAlgoGetHeuristic(lt, desc.op, desc.a, desc.b, desc.input_c(), desc.c, p.pref, 1, &heur, &found));
  if (found == 0)
    throw Error("cuda::gemm: cuBLASLt found no algorithm for M=" + std::to_string(k.M) + " N=" + std::to_string(k.N) +
                " K=" + std::to_string(k.K) + " batch=" + std::to_string(k.batch));
  algo = heur.algo;
}

GemmPlan::Descriptors::~Descriptors() {
  if (c_in) cublasLtMatrixLayoutDestroy(c_in);
  if (c) cublasLtMatrixLayoutDestroy(c);
  if (b) cublasLtMatrixLayoutDestroy(b);
  if (a) cublasLtMatrixLayoutDestroy(a);
  if (op) cublasLtMatmulDescDestroy(op);
}

const GemmPlan& GemmPlanCache::get(cublasLtHandle_t lt, const GemmPlanKey& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, std::make_unique<GemmPlan>(lt, key)).first;
  return *it->second;
}

size_t GemmPlanCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plans_.size();
}

uint32_t address_alignment(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && addr % a != 0) a >>= 1;
  return a;
}

}  // namespace nanochat::cuda
