// The worker pool (spec serving §1.10): N workers, each serving one request at a time, handed out in
// strict arrival order (FIFO among waiting requests). Unlike the original, the wait queue can be
// bounded: when max_queue requests already wait, acquire() refuses at once (the server answers 503
// with Retry-After). A Lease returns its worker when destroyed, so every path (normal end, error,
// client gone) frees the worker.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/serve/generator.h"

namespace nanochat::serve {

struct Worker {
  int id = 0;              // reported as "gpu" in the original's stream events
  std::string device;      // "cpu", "cuda:0", ...
  const Generator* generator = nullptr;
};

class WorkerPool {
 public:
  // max_queue: requests allowed to wait for a worker (0: unbounded, as the original).
  WorkerPool(std::vector<Worker> workers, size_t max_queue);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), index_(other.index_) { other.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    const Worker& worker() const;

   private:
    friend class WorkerPool;
    Lease(WorkerPool* pool, size_t index) : pool_(pool), index_(index) {}
    WorkerPool* pool_;
    size_t index_;
  };

  // Waits for an idle worker in arrival order. None when the queue is full or the pool shut down.
  std::optional<Lease> acquire();
  // Wakes every waiter with "none" and refuses new requests (server shutdown).
  void shutdown();

  struct Snapshot {
    size_t total = 0, available = 0, busy = 0, queued = 0;
  };
  Snapshot snapshot() const;
  const std::vector<Worker>& workers() const { return workers_; }

 private:
  void release(size_t index);

  const std::vector<Worker> workers_;
  const size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> idle_;
  std::deque<uint64_t> waiting_;  // tickets, oldest first
  uint64_t next_ticket_ = 0;
  bool shut_down_ = false;
};

}  // namespace nanochat::serve
