// Error checking for CUDA runtime and cuBLASLt calls: a failure becomes a nanochat::Error that names
// the call, the file and the line. Kernel launches are followed by NC_CUDA_CHECK_LAUNCH(), which
// reads the launch error (bad configuration, too much shared memory) at the launch site rather than
// at some later, unrelated synchronisation.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

namespace nanochat::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line);
// Argument checks for the op wrappers (callable from .cu files, which do not include core/error.h):
// throws nanochat::Error("<op>: <what>") when ok is false.
void require(bool ok, const char* op, const char* what);

}  // namespace nanochat::cuda

#define NC_CUDA_CHECK(call)                                                                    \
  do {                                                                                         \
    const cudaError_t nc_cuda_err_ = (call);                                                   \
    if (nc_cuda_err_ != cudaSuccess) ::nanochat::cuda::throw_cuda_error(nc_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define NC_CUBLAS_CHECK(call)                                                                  \
  do {                                                                                         \
    const cublasStatus_t nc_cublas_st_ = (call);                                               \
    if (nc_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                \
      ::nanochat::cuda::throw_cublas_error(nc_cublas_st_, #call, __FILE__, __LINE__);          \
  } while (0)

// After a <<<...>>> launch: the launch's own error (asynchronous faults surface at the next sync).
#define NC_CUDA_CHECK_LAUNCH() NC_CUDA_CHECK(cudaGetLastError())
