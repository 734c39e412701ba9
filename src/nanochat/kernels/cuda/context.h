// The per-device state every CUDA op runs against: one stream (all work is ordered on it), one
// cuBLASLt handle and its workspace. One context per training/decode process; not thread-safe.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>

#include "nanochat/kernels/cuda/device_buffer.h"

namespace nanochat::cuda {

class GemmPlanCache;

class CudaContext {
 public:
  // Selects `device` and creates a non-blocking stream, the cuBLASLt handle and its workspace.
  explicit CudaContext(int device = 0);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t lt() const { return lt_; }
  void* workspace() { return workspace_.data(); }
  size_t workspace_bytes() const { return workspace_.bytes(); }
  int device() const { return device_; }
  void synchronize() const;
  // cuBLASLt plans per GEMM shape (gemm_plan_cache.h); thread-safe on its own.
  GemmPlanCache& gemm_plans() { return *gemm_plans_; }

  // cuBLASLt on Hopper picks its fastest kernels with a 32 MiB workspace (NVIDIA's recommendation).
  static constexpr size_t kWorkspaceBytes = size_t{32} << 20;

 private:
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  DeviceBuffer<std::byte> workspace_;
  std::unique_ptr<GemmPlanCache> gemm_plans_;
};

}  // namespace nanochat::cuda
