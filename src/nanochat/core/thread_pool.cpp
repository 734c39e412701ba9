#include "nanochat/core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace nanochat {

int default_num_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env != nullptr) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

namespace {
// Runs body(worker) on `workers` threads (worker 0 on the calling thread) and rethrows the first error.
void run_workers(int workers, const std::function<void(int)>& body) {
  std::exception_ptr error;
  std::mutex error_mutex;
  auto guarded = [&](int w) {
    try {
      body(w);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(workers - 1));
  for (int w = 1; w < workers; ++w) threads.emplace_back(guarded, w);
  guarded(0);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}
}  // namespace

void parallel_for(size_t n, int num_threads, const std::function<void(size_t, size_t, int)>& fn) {
  if (n == 0) return;
  if (num_threads <= 0) num_threads = default_num_threads();
  const int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(num_threads), n));
  if (workers <= 1) {
    fn(0, n, 0);
    return;
  }
  run_workers(workers, [&](int w) {
    const size_t begin = n * static_cast<size_t>(w) / static_cast<size_t>(workers);
    const size_t end = n * static_cast<size_t>(w + 1) / static_cast<size_t>(workers);
    if (begin < end) fn(begin, end, w);
  });
}

void parallel_for_dynamic(size_t n, int num_threads, size_t grain, const std::function<void(size_t, int)>& fn) {
  if (n == 0) return;
  if (num_threads <= 0) num_threads = default_num_threads();
  grain = std::max<size_t>(1, grain);
  const size_t blocks = (n + grain - 1) / grain;
  const int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(num_threads), blocks));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  std::atomic<size_t> next{0};
  run_workers(workers, [&](int w) {
    for (;;) {
      const size_t start = next.fetch_add(grain);
      if (start >= n) break;
      const size_t end = std::min(n, start + grain);
      for (size_t i = start; i < end; ++i) fn(i, w);
    }
  });
}

}  // namespace nanochat
