// Minimal data parallelism for CPU work (tokenization, data loading): split [0, n) into contiguous
// chunks and run them on up to num_threads std::threads. Exceptions in a worker are rethrown.
#pragma once
#include <cstddef>
#include <functional>

namespace nanochat {

// OMP_NUM_THREADS if set and positive, else the number of hardware threads (at least 1).
int default_num_threads();

// Calls fn(begin, end, worker) for disjoint ranges covering [0, n); worker in [0, workers).
// Runs inline when n is small or num_threads <= 1. num_threads <= 0 means default_num_threads().
void parallel_for(size_t n, int num_threads, const std::function<void(size_t, size_t, int)>& fn);

// Dynamic scheduling for uneven items: fn(i, worker) for every i in [0, n), items handed out in
// blocks of `grain`.
void parallel_for_dynamic(size_t n, int num_threads, size_t grain, const std::function<void(size_t, int)>& fn);

}  // namespace nanochat
