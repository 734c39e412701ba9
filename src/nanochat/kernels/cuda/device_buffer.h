// An owning, typed device allocation (cudaMalloc/cudaFree), movable, not copyable. Sizes are in
// elements. Host<->device copies are synchronous helpers for tests and setup; hot paths use the
// stream-ordered calls on data() directly.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "nanochat/kernels/cuda/check.h"

namespace nanochat::cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count_ > 0) NC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), count_ * sizeof(T)));
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  void copy_from_host(std::span<const T> src) {
    check_size(src.size());
    if (!src.empty()) NC_CUDA_CHECK(cudaMemcpy(ptr_, src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> to_host() const {
    std::vector<T> out(count_);
    if (count_ > 0) NC_CUDA_CHECK(cudaMemcpy(out.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return out;
  }
  // Every byte set to `byte` (0xff makes fp32 and bf16 elements NaN: used to poison outputs).
  void fill_bytes(int byte) {
    if (count_ > 0) NC_CUDA_CHECK(cudaMemset(ptr_, byte, bytes()));
  }

 private:
  void check_size(size_t n) const {
    if (n != count_) throw_size_mismatch(n);
  }
  [[noreturn]] void throw_size_mismatch(size_t n) const {
    throw_cuda_error(cudaErrorInvalidValue, n > count_ ? "DeviceBuffer::copy_from_host (source larger than buffer)"
                                                       : "DeviceBuffer::copy_from_host (source smaller than buffer)",
                     __FILE__, __LINE__);
  }
  void reset() noexcept {
    if (ptr_ != nullptr) cudaFree(ptr_);  // a failure here cannot be reported from a destructor
    ptr_ = nullptr;
    count_ = 0;
  }

  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace nanochat::cuda
