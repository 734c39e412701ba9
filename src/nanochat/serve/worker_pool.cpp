#include "nanochat/serve/worker_pool.h"

#include "nanochat/core/error.h"

namespace nanochat::serve {

WorkerPool::WorkerPool(std::vector<Worker> workers, size_t max_queue)
    : workers_(std::move(workers)), max_queue_(max_queue) {
  NC_CHECK(!workers_.empty(), "the worker pool needs at least one worker");
  for (size_t i = 0; i < workers_.size(); ++i) {
    NC_CHECK(workers_[i].generator != nullptr, "worker {} has no generator", i);
    idle_.push_back(i);
  }
}

WorkerPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->release(index_);
}

const Worker& WorkerPool::Lease::worker() const { return pool_->workers_[index_]; }

std::optional<WorkerPool::Lease> WorkerPool::acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  if (shut_down_) return std::nullopt;
  if (waiting_.empty() && !idle_.empty()) {
    const size_t index = idle_.front();
    idle_.pop_front();
    return Lease(this, index);
  }
  if (max_queue_ > 0 && waiting_.size() >= max_queue_) return std::nullopt;
  const uint64_t ticket = next_ticket_++;
  waiting_.push_back(ticket);
  cv_.wait(lock, [&] { return shut_down_ || (waiting_.front() == ticket && !idle_.empty()); });
  if (shut_down_) {
    std::erase(waiting_, ticket);
    return std::nullopt;
  }
  waiting_.pop_front();
  const size_t index = idle_.front();
  idle_.pop_front();
  lock.unlock();
  cv_.notify_all();  // the next waiter may be served too if another worker is idle
  return Lease(this, index);
}

void WorkerPool::release(size_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(index);
  }
  cv_.notify_all();
}

void WorkerPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
  }
  cv_.notify_all();
}

WorkerPool::Snapshot WorkerPool::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot s;
  s.total = workers_.size();
  s.available = idle_.size();
  s.busy = s.total - s.available;
  s.queued = waiting_.size();
  return s;
}

}  // namespace nanochat::serve
