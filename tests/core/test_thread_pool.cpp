#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "nanochat/core/thread_pool.h"

using namespace nanochat;

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    for (size_t n : {0u, 1u, 5u, 1000u}) {
      std::vector<std::atomic<int>> hits(n);
      parallel_for(n, threads, [&](size_t b, size_t e, int) {
        for (size_t i = b; i < e; ++i) hits[i]++;
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << n << " " << i;
      std::vector<std::atomic<int>> hits2(n);
      parallel_for_dynamic(n, threads, 7, [&](size_t i, int) { hits2[i]++; });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits2[i].load(), 1);
    }
  }
}

TEST(ThreadPool, WorkerExceptionsPropagate) {
  EXPECT_THROW(parallel_for(100, 4,
                            [](size_t b, size_t, int) {
                              if (b > 0) throw std::runtime_error("boom");
                            }),
               std::runtime_error);
}
