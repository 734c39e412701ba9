// The BPE trainer: nanochat's (rustbpe's) merge order, spec/tokenizer-inference-eval.md §1.5.
//
// Input: distinct chunks with counts (ChunkCounter). Each chunk is a "word" of byte ids 0..255
// weighted by its count. Each step merges the adjacent pair with the largest total count, ties
// broken by the smallest (left, right); occurrences are replaced left to right, non-overlapping
// (`a a a` -> `[ab a]`). Merge k creates id 256 + k. Training stops early when no pair is left.
//
// How it is fast (the result is the same as recounting every pair each step):
// - words live in one flat uint32 array and shrink in place;
// - each pair keeps the list of words that contained it when it was created (lists may hold words
//   that no longer contain the pair; scanning those finds nothing);
// - a merge of (a,b) -> n only touches the words on the list of (a,b), and every count change
//   involves a, b or n, so the changes are accumulated in dense arrays indexed by the other id and
//   applied once per merge (one hash lookup per distinct neighbour, not per occurrence);
// - a lazy 4-ary max-heap ordered by (count desc, left asc, right asc): since counts of existing
//   pairs only fall (merges only create pairs that contain the new id), a popped entry whose count
//   is stale is re-queued with the live count, and the first up-to-date top is the exact argmax;
// - merges that touch very many words are split across threads (words are disjoint, the
//   per-thread deltas are summed), and the initial pair count is parallel. Results do not depend
//   on the number of threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nanochat/tokenizer/chunk_counter.h"

namespace nanochat {

// Merge k joins tokens `left` and `right` into the new token 256 + k.
struct BpeMerge {
  uint32_t left = 0;
  uint32_t right = 0;
  friend bool operator==(const BpeMerge&, const BpeMerge&) = default;
};

struct BpeTrainStats {
  size_t num_words = 0;           // distinct chunks with at least two bytes
  size_t num_initial_pairs = 0;   // distinct byte pairs before the first merge
  double setup_seconds = 0;       // building words and counting initial pairs
  double merge_seconds = 0;       // the merge loop
  uint64_t word_updates = 0;      // words scanned by merges (a measure of the work done)
  uint64_t pairs_created = 0;     // distinct pairs ever counted (initial + created by merges)
  uint64_t stale_pops = 0;        // heap entries popped with an outdated count
  uint64_t parallel_merges = 0;   // merges whose words were split across threads
  uint64_t parallel_word_updates = 0;
};

struct BpeTrainOptions {
  int num_threads = 0;        // <= 0: default_num_threads()
  bool show_progress = true;  // a ProgressBar on stderr (draws only on a terminal)
  // Called after every merge with (merges done, merges requested).
  std::function<void(size_t, size_t)> on_progress;
  // A merge is split across threads only when every thread gets at least this many candidate words
  // (below that, starting threads costs more than it saves). Tests set 1 to exercise that path.
  size_t parallel_min_words = 65536;
  BpeTrainStats* stats = nullptr;  // filled when set
};

// Learns up to `num_merges` merges (fewer when pairs run out). Chunk order does not matter.
std::vector<BpeMerge> train_bpe(const ChunkCounter& chunks, size_t num_merges, const BpeTrainOptions& options = {});

// The bytes of every token id: 0..255 are single bytes, 256 + k is bytes(left) ++ bytes(right).
std::vector<std::string> bpe_token_bytes(const std::vector<BpeMerge>& merges);

}  // namespace nanochat
