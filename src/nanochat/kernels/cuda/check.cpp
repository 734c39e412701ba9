#include "nanochat/kernels/cuda/check.h"

#include <string>

#include "nanochat/core/error.h"

namespace nanochat::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  throw Error(std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ") in " + call +
              " at " + file + ":" + std::to_string(line));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw Error(std::string("cuBLAS error ") + cublasLtGetStatusName(status) + " (" + cublasLtGetStatusString(status) +
              ") in " + call + " at " + file + ":" + std::to_string(line));
}

void require(bool ok, const char* op, const char* what) {
  if (!ok) throw Error(std::string(op) + ": " + what);
}

}  // namespace nanochat::cuda
