// Per-shape cuBLASLt plans: the matmul and layout descriptors and the algorithm the heuristic picked,
// built once per key and reused. Querying the heuristic on every call costs host time (tens of
// microseconds) and, worse, could in principle pick a different algorithm between calls; a cached
// plan makes repeated products of one shape run the same kernel, so they are bitwise identical.
// Thread-safe: lookups take a mutex; a plan never moves or changes once built.
#pragma once
#include <cublasLt.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace nanochat::cuda {

// Everything the heuristic's answer depends on. Alignments are those of the operands' addresses
// (capped at 256 bytes): cuBLASLt assumes 256-byte alignment unless told otherwise, so offset
// pointers (a row chunk of the logits, say) need their own plan.
struct GemmPlanKey {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  bool out_bf16 = false;
  uint32_t align_a = 256, align_b = 256, align_out = 256;
  size_t workspace_bytes = 0;
  // Strided batches (batch 1: the strides are unused and 0) and the input c's own layout when it is
  // not out itself (separate_c; its alignment and batch stride then matter).
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_out = 0, stride_c = 0;
  bool separate_c = false;
  uint32_t align_c = 256;
  bool operator==(const GemmPlanKey&) const = default;
};

struct GemmPlanKeyHash {
  size_t operator()(const GemmPlanKey& k) const;
};

// Owns its descriptors. In cuBLASLt's column-major terms (see gemm.cpp): its A is our b, its B our a.
// (A member struct releases the descriptors, so a constructor that throws half-way leaks nothing.)
class GemmPlan {
 public:
  GemmPlan(cublasLtHandle_t lt, const GemmPlanKey& key);
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;

  struct Descriptors {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // c: the output (cuBLASLt's D)
    cublasLtMatrixLayout_t c_in = nullptr;  // the separate input c (cuBLASLt's C); null: same as c
    cublasLtMatrixLayout_t input_c() const { return c_in != nullptr ? c_in : c; }
    Descriptors() = default;
    Descriptors(const Descriptors&) = delete;
    Descriptors& operator=(const Descriptors&) = delete;
    ~Descriptors();
  };
  Descriptors desc;
  cublasLtMatmulAlgo_t algo{};
};

class GemmPlanCache {
 public:
  // The plan for `key`, built (heuristic queried) on first use. The reference stays valid for the
  // cache's lifetime.
  const GemmPlan& get(cublasLtHandle_t lt, const GemmPlanKey& key);
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<GemmPlanKey, std::unique_ptr<GemmPlan>, GemmPlanKeyHash> plans_;
};

// The largest power of two (at most 256) that divides the address.
uint32_t address_alignment(const void* p);

}  // namespace nanochat::cuda
