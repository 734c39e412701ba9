#include "nanochat/kernels/cuda/context.h"

#include "nanochat/kernels/cuda/gemm_plan_cache.h"

namespace nanochat::cuda {

CudaContext::CudaContext(int device) : device_(device) {
  NC_CUDA_CHECK(cudaSetDevice(device));
  // The highest priority: work a component moves to a side stream (the optimizer's AdamW groups) then
  // only fills the SMs the main stream's kernels leave free.
  int least = 0, greatest = 0;
  NC_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  NC_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, greatest));
  NC_CUBLAS_CHECK(cublasLtCreate(&lt_));
  workspace_ = DeviceBuffer<std::byte>(kWorkspaceBytes);
  gemm_plans_ = std::make_unique<GemmPlanCache>();
}

CudaContext::~CudaContext() {
  // Destructors cannot throw: release in reverse order and ignore failures (the process is
  // usually ending or already reporting an error).
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  gemm_plans_.reset();  // plain host objects, but release them before the handle they were made for
  if (lt_ != nullptr) cublasLtDestroy(lt_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void CudaContext::synchronize() const { NC_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace nanochat::cuda
