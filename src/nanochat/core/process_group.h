// The ranks of a multi-process run (torchrun's data-parallel processes, spec tokenizer-inference-eval.md:
// "rank r of W") and the few host-side collectives evaluation needs. The group is read from torchrun's
// environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); without WORLD_SIZE, or with
// WORLD_SIZE=1, it is the trivial group of one rank and opens no socket.
//
// Transport: TCP, a star through rank 0. Rank 0 listens on MASTER_PORT; every other rank connects to
// MASTER_ADDR:MASTER_PORT. In a collective each rank sends its contribution to rank 0, which combines
// them in rank order and sends the one result back, so every rank gets bitwise the same value whatever
// order the messages arrived in. Eval moves a few numbers per task, so the star's cost does not matter.
//
// Failures never hang: a peer that exits closes its socket, which the others see at once as an Error
// naming that rank; a peer that is alive but never arrives is bounded by timeouts: connection setup
// 300 s, each wait inside a collective 1800 s (ranks may legitimately wait while rank 0 alone samples
// or writes), both set at once by NANOCHAT_DIST_TIMEOUT_S. Both ends must run the same binary on the same architecture
// (values travel in host byte order).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nanochat {

// What torchrun's environment says about this process.
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;       // the GPU this rank uses on its node
  std::string master_addr;  // required when world_size > 1
  int master_port = 0;      // required when world_size > 1
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK (default: RANK), MASTER_ADDR and MASTER_PORT. No WORLD_SIZE means
// a single rank. A non-numeric value, RANK outside [0, WORLD_SIZE), or a missing RANK/MASTER_ADDR/
// MASTER_PORT when WORLD_SIZE > 1 is an Error naming the variable.
DistEnv dist_env_from_environment();

// NANOCHAT_DIST_TIMEOUT_S (seconds, > 0), or nullopt when unset; an unparsable value is an Error naming it.
std::optional<std::chrono::milliseconds> dist_timeout_from_environment();

class ProcessGroup {
 public:
  ProcessGroup();  // the trivial group: rank 0 of 1
  // Connects all ranks of env (blocks until all have joined, or throws after `timeout`); waits inside
  // collectives are bounded by collective_timeout (default: the same).
  ProcessGroup(const DistEnv& env, std::chrono::milliseconds timeout,
               std::optional<std::chrono::milliseconds> collective_timeout = std::nullopt);
  ~ProcessGroup();
  ProcessGroup(ProcessGroup&&) noexcept;
  ProcessGroup& operator=(ProcessGroup&&) noexcept;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // The group torchrun's environment describes (the trivial one when it describes none).
  static ProcessGroup from_environment();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }
  bool distributed() const { return world_size_ > 1; }

  // Element-wise across ranks; every rank must pass the same number of values (else an Error that
  // names the rank and both counts). Sums run in rank order: ((v0 + v1) + v2) + ...
  void all_reduce_sum(std::vector<double>& values);
  void all_reduce_sum(std::vector<int64_t>& values);
  void all_reduce_max(std::vector<double>& values);
  void all_reduce_max(std::vector<int64_t>& values);
  // Returns when every rank has called it.
  void barrier();
  // Replaces `bytes` on every rank with root's bytes.
  void broadcast(std::string& bytes, int root = 0);

 private:
  enum class Op : uint32_t;
  // Sends this rank's payload to rank 0; rank 0 combines all (in rank order) into the result every
  // rank receives back into `payload`. `arg` (the broadcast root) must agree across ranks.
  void exchange(Op op, std::string& payload, uint32_t arg = 0);

  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  std::chrono::milliseconds timeout_{0};
  struct Links;  // sockets: rank 0 holds one per peer, the others one to rank 0
  std::unique_ptr<Links> links_;
};

}  // namespace nanochat
