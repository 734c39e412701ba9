// ChunkCounter: the first half of BPE training (spec/tokenizer-inference-eval.md §1.5 steps 1-2).
// Every document is cut into pre-tokenizer pieces ("chunks") and each distinct chunk is counted.
// BPE never merges across chunk boundaries, so the trainer only needs these (chunk, count) pairs.
//
// - Pieces never span documents: each document is split on its own.
// - Documents that are not valid UTF-8 are first sanitized with utf8_sanitize (each maximal
//   ill-formed subpart becomes U+FFFD, as Python's errors="replace" does), because the
//   pre-tokenizer's Unicode classes are only defined on valid text. nanochat's inputs are Python
//   str, which are always valid, so this only matters for raw bytes fed to the C++ port.
// - add() may be called repeatedly (streaming buffers of documents); the result does not depend on
//   how documents are grouped into calls or on the number of threads.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nanochat/tokenizer/chunk_table.h"
#include "nanochat/tokenizer/pretokenizer.h"
#include "nanochat/tokenizer/split_pattern.h"

namespace nanochat {

class ChunkCounter {
 public:
  // Throws Error if `split_pattern` does not compile.
  explicit ChunkCounter(std::string_view split_pattern = kNanochatSplitPattern);
  ChunkCounter(ChunkCounter&&) noexcept;
  ChunkCounter& operator=(ChunkCounter&&) noexcept;
  ~ChunkCounter();

  // Splits and counts every document, in parallel over documents (num_threads <= 0: default).
  void add(std::span<const std::string> docs, int num_threads = 0);
  void add(std::span<const std::string_view> docs, int num_threads = 0);
  // Adds `count` (> 0) occurrences of one chunk as given (no splitting, no sanitizing): lets tests
  // and callers with their own pre-tokenization build a corpus directly.
  void add_chunk(std::string_view chunk, int64_t count = 1);

  size_t size() const;                                  // number of distinct chunks
  int64_t total_pieces() const { return total_pieces_; }  // sum of all counts
  int64_t count(std::string_view chunk) const;          // 0 when absent
  std::string_view split_pattern() const { return pretokenizer_->pattern(); }

  // Visits every (chunk, count) once, in unspecified order.
  void for_each(const std::function<void(std::string_view chunk, int64_t count)>& fn) const;
  // All (chunk, count) sorted by chunk bytes; for tests and small corpora.
  std::vector<std::pair<std::string, int64_t>> sorted_entries() const;

  // The counts are split into shards by the top bits of chunk_hash, so that per-thread results
  // merge in parallel (each shard is written by one thread).
  using Shard = ChunkTable;
  static constexpr size_t kNumShards = 64;
  static size_t shard_of(uint64_t hash) { return static_cast<size_t>(hash >> 58); }
  static_assert(kNumShards == size_t{1} << (64 - 58), "shard_of must cover exactly kNumShards shards");
  const std::vector<Shard>& shards() const { return shards_; }

 private:
  std::unique_ptr<Pretokenizer> pretokenizer_;
  std::vector<Shard> shards_;
  int64_t total_pieces_ = 0;
};

}  // namespace nanochat
