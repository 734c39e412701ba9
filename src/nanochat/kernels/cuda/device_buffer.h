// An owning, typed device allocation (cudaMalloc/cudaFree), movable, not copyable. Sizes are in
// elements. Host<->device copies and fills are synchronous helpers for tests and setup; hot paths use
// the stream-ordered calls on data() directly.
//
// "Synchronous" needs care: these calls go to the legacy default stream, which does not order with
// the non-blocking stream the kernels run on (CudaContext), and a pageable cudaMemcpy to the device
// or a cudaMemset may return before the data has landed. So each helper synchronises the device:
// otherwise a kernel enqueued right after an upload can read half-copied input (seen on an H200:
// a 2 MiB upload raced the loss kernel).
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
    if (src.empty()) return;
    NC_CUDA_CHECK(cudaMemcpy(ptr_, src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice));
    NC_CUDA_CHECK(cudaDeviceSynchronize());
  }
  // Waits for all device work first (the kernels that write this buffer run on other streams).
  std::vector<T> to_host() const {
    std::vector<T> out(count_);
    if (count_ == 0) return out;
    NC_CUDA_CHECK(cudaDeviceSynchronize());
    NC_CUDA_CHECK(cudaMemcpy(out.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return out;
  }
  // Every byte set to `byte` (0xff makes fp32 and bf16 elements NaN: used to poison outputs).
  void fill_bytes(int byte) {
    if (count_ == 0) return;
    NC_CUDA_CHECK(cudaMemset(ptr_, byte, bytes()));
    NC_CUDA_CHECK(cudaDeviceSynchronize());
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

// An owning pinned (page-locked) host allocation, so host<->device copies can run asynchronously.
template <class T>
class PinnedHostBuffer {
 public:
  PinnedHostBuffer() = default;
  explicit PinnedHostBuffer(size_t count) : count_(count) {
    if (count_ > 0) NC_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&ptr_), count_ * sizeof(T)));
  }
  ~PinnedHostBuffer() {
    if (ptr_ != nullptr) cudaFreeHost(ptr_);
  }
  PinnedHostBuffer(const PinnedHostBuffer&) = delete;
  PinnedHostBuffer& operator=(const PinnedHostBuffer&) = delete;
  PinnedHostBuffer(PinnedHostBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  PinnedHostBuffer& operator=(PinnedHostBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_ != nullptr) cudaFreeHost(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace nanochat::cuda
