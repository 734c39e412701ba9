#include "nanochat/tokenizer/chunk_counter.h"

#include <algorithm>
#include <deque>

#include "nanochat/core/error.h"
#include "nanochat/core/thread_pool.h"
#include "nanochat/core/utf8.h"

namespace nanochat {

namespace {

std::vector<ChunkTable> make_shards(bool owns_keys) {
  std::vector<ChunkTable> shards;
  shards.reserve(ChunkCounter::kNumShards);
  for (size_t s = 0; s < ChunkCounter::kNumShards; ++s) shards.emplace_back(owns_keys);
  return shards;
}

// One worker's counts for one add() call. Keys are views into the caller's documents or into
// `sanitized`, so counting a piece allocates nothing; bytes are copied only when merged.
struct LocalCounts {
  std::vector<ChunkTable> shards = make_shards(/*owns_keys=*/false);
  std::deque<std::string> sanitized;  // deque: growing it never moves the strings views point into
  std::vector<std::string_view> pieces;
  int64_t total = 0;
};

void count_documents(const Pretokenizer& pretokenizer, size_t n, int num_threads,
                     const std::function<std::string_view(size_t)>& doc, std::vector<ChunkTable>& shards,
                     int64_t& total_pieces) {
  if (n == 0) return;
  if (num_threads <= 0) num_threads = default_num_threads();
  std::vector<LocalCounts> locals(static_cast<size_t>(num_threads));
  parallel_for_dynamic(n, num_threads, 16, [&](size_t i, int worker) {
    LocalCounts& local = locals[static_cast<size_t>(worker)];
    std::string_view text = doc(i);
    if (!utf8_is_valid(text)) text = local.sanitized.emplace_back(utf8_sanitize(text));
    local.pieces.clear();
    pretokenizer.split(text, local.pieces);
    for (std::string_view piece : local.pieces) {
      const uint64_t hash = chunk_hash(piece);
      local.shards[ChunkCounter::shard_of(hash)].add(piece, hash, 1);
    }
    local.total += static_cast<int64_t>(local.pieces.size());
  });
  // Merge shard by shard: each global shard is written by exactly one thread.
  parallel_for_dynamic(ChunkCounter::kNumShards, num_threads, 1, [&](size_t s, int) {
    ChunkTable& global = shards[s];
    size_t upper_bound = global.size();
    for (const LocalCounts& local : locals) upper_bound += local.shards[s].size();
    global.reserve(upper_bound);
    for (const LocalCounts& local : locals) {
      local.shards[s].for_each([&](std::string_view chunk, int64_t count, uint64_t hash) { global.add(chunk, hash, count); });
    }
  });
  for (const LocalCounts& local : locals) total_pieces += local.total;
}

}  // namespace

ChunkCounter::ChunkCounter(std::string_view split_pattern)
    : pretokenizer_(make_pretokenizer(split_pattern)), shards_(make_shards(/*owns_keys=*/true)) {}
ChunkCounter::ChunkCounter(ChunkCounter&&) noexcept = default;
ChunkCounter& ChunkCounter::operator=(ChunkCounter&&) noexcept = default;
ChunkCounter::~ChunkCounter() = default;

void ChunkCounter::add(std::span<const std::string> docs, int num_threads) {
  count_documents(*pretokenizer_, docs.size(), num_threads, [&](size_t i) { return std::string_view(docs[i]); },
                  shards_, total_pieces_);
}

void ChunkCounter::add(std::span<const std::string_view> docs, int num_threads) {
  count_documents(*pretokenizer_, docs.size(), num_threads, [&](size_t i) { return docs[i]; }, shards_,
                  total_pieces_);
}

void ChunkCounter::add_chunk(std::string_view chunk, int64_t count) {
  NC_CHECK(count > 0, "ChunkCounter::add_chunk: count must be positive, got {} for chunk of {} bytes", count,
           chunk.size());
  NC_CHECK(!chunk.empty(), "ChunkCounter::add_chunk: empty chunk");
  const uint64_t hash = chunk_hash(chunk);
  shards_[shard_of(hash)].add(chunk, hash, count);
  total_pieces_ += count;
}

size_t ChunkCounter::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) n += shard.size();
  return n;
}

int64_t ChunkCounter::count(std::string_view chunk) const {
  const uint64_t hash = chunk_hash(chunk);
  return shards_[shard_of(hash)].find(chunk, hash);
}

void ChunkCounter::for_each(const std::function<void(std::string_view, int64_t)>& fn) const {
  for (const Shard& shard : shards_) {
    shard.for_each([&](std::string_view chunk, int64_t count, uint64_t) { fn(chunk, count); });
  }
}

std::vector<std::pair<std::string, int64_t>> ChunkCounter::sorted_entries() const {
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(size());
  for_each([&](std::string_view chunk, int64_t count) { out.emplace_back(std::string(chunk), count); });
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nanochat
