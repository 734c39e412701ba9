#include "nanochat/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>

#include <absl/container/flat_hash_map.h>

#include "nanochat/core/error.h"
#include "nanochat/core/progress.h"
#include "nanochat/core/thread_pool.h"

namespace nanochat {

namespace {

constexpr uint32_t kNoWord = std::numeric_limits<uint32_t>::max();

uint64_t pair_key(uint32_t left, uint32_t right) { return (static_cast<uint64_t>(left) << 32) | right; }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// All words in one array; word w is ids[info[w].begin .. + info[w].length) and shrinks in place.
// A word's position, length and weight share one struct: a merge visits words in no useful memory
// order, so each visit should cost one cache miss for the metadata, not three.
struct WordInfo {
  size_t begin;
  int64_t weight;
  uint32_t length;
};
struct Words {
  std::vector<uint32_t> ids;
  std::vector<WordInfo> info;
  size_t size() const { return info.size(); }
};

// Chunks of one byte can never take part in a pair, so they are left out.
Words build_words(const ChunkCounter& chunks, int num_threads) {
  const auto& shards = chunks.shards();
  std::vector<size_t> shard_words(shards.size() + 1, 0), shard_ids(shards.size() + 1, 0);
  for (size_t s = 0; s < shards.size(); ++s) {
    shards[s].for_each([&](std::string_view chunk, int64_t, uint64_t) {
      if (chunk.size() < 2) return;
      NC_CHECK(chunk.size() <= std::numeric_limits<uint32_t>::max(), "BPE training: chunk of {} bytes is too long",
               chunk.size());
      ++shard_words[s + 1];
      shard_ids[s + 1] += chunk.size();
    });
  }
  for (size_t s = 0; s < shards.size(); ++s) {
    shard_words[s + 1] += shard_words[s];
    shard_ids[s + 1] += shard_ids[s];
  }
  NC_CHECK(shard_words.back() < kNoWord, "BPE training: {} distinct chunks is more than the trainer supports",
           shard_words.back());
  Words words;
  words.ids.resize(shard_ids.back());
  words.info.resize(shard_words.back());
  parallel_for_dynamic(shards.size(), num_threads, 1, [&](size_t s, int) {
    size_t w = shard_words[s], pos = shard_ids[s];
    shards[s].for_each([&](std::string_view chunk, int64_t count, uint64_t) {
      if (chunk.size() < 2) return;
      words.info[w] = {pos, count, static_cast<uint32_t>(chunk.size())};
      for (unsigned char byte : chunk) words.ids[pos++] = byte;
      ++w;
    });
  });
  return words;
}

// Live pair statistics. Pairs are never deleted: a merged or vanished pair keeps count 0.
struct PairTable {
  absl::flat_hash_map<uint64_t, uint32_t> index;  // pair key -> pair id
  std::vector<uint64_t> key;
  std::vector<int64_t> count;
  std::vector<std::vector<uint32_t>> words;  // words that contained the pair when it was created

  uint32_t add(uint64_t k, int64_t c, std::vector<uint32_t>&& word_list) {
    const auto id = static_cast<uint32_t>(key.size());
    index.emplace(k, id);
    key.push_back(k);
    count.push_back(c);
    words.push_back(std::move(word_list));
    return id;
  }
  int64_t& count_of(uint32_t left, uint32_t right) {
    auto it = index.find(pair_key(left, right));
    NC_CHECK(it != index.end(), "BPE training: internal error, pair ({}, {}) has no entry", left, right);
    return count[it->second];
  }
};

// Lazy max-heap of (count, pair): the top is the largest count, ties the smallest key, i.e. the
// smallest (left, right). Entries may carry a count above the live one (see train_bpe). Sifting is
// the hot part of the merge loop, so the heap is 4-ary (half the levels of a binary heap, the four
// children of a node in one or two cache lines) and entries are 16 bytes (the pair id is looked up
// on pop rather than stored).
struct HeapEntry {
  int64_t count;
  uint64_t key;
};

class PairHeap {
 public:
  bool empty() const { return entries_.empty(); }
  const HeapEntry& top() const { return entries_.front(); }

  void build(std::vector<HeapEntry> entries) {
    entries_ = std::move(entries);
    for (size_t i = entries_.size() / kArity + 1; i-- > 0;) {
      if (i < entries_.size()) sift_down(i, entries_[i]);
    }
  }
  void push(HeapEntry e) {
    size_t i = entries_.size();
    entries_.push_back(e);
    while (i > 0) {
      const size_t parent = (i - 1) / kArity;
      if (!before(e, entries_[parent])) break;
      entries_[i] = entries_[parent];
      i = parent;
    }
    entries_[i] = e;
  }
  void pop() {
    const HeapEntry last = entries_.back();
    entries_.pop_back();
    if (!entries_.empty()) sift_down(0, last);
  }
  // Replaces the top by `e` (cheaper than pop + push when e is re-queued).
  void replace_top(HeapEntry e) { sift_down(0, e); }

 private:
  static constexpr size_t kArity = 4;
  static bool before(const HeapEntry& x, const HeapEntry& y) {
    return x.count > y.count || (x.count == y.count && x.key < y.key);
  }
  void sift_down(size_t i, HeapEntry e) {
    const size_t n = entries_.size();
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= n) break;
      const size_t last = std::min(first + kArity, n);
      size_t best = first;
      for (size_t c = first + 1; c < last; ++c) {
        if (before(entries_[c], entries_[best])) best = c;
      }
      if (!before(entries_[best], e)) break;
      entries_[i] = entries_[best];
      i = best;
    }
    entries_[i] = e;
  }

  std::vector<HeapEntry> entries_;
};

// Count changes of one merge (a, b) -> n, accumulated by one thread. Every changed pair contains a,
// b or n, so each kind of change is a dense array indexed by the other id:
//   dec_left[x]  : pair (x, a) lost this much      dec_right[y] : pair (b, y) lost this much
//   new_left[x]  : pair (x, n) gained (x may be n) new_right[y] : pair (n, y) gained (y != n)
// new_*_words hold the words where each new pair appeared, in word order, without repeats.
struct MergeScratch {
  std::vector<int64_t> dec_left, dec_right, new_left, new_right;
  std::vector<uint8_t> dec_left_on, dec_right_on, new_left_on, new_right_on;
  std::vector<uint32_t> dec_left_touched, dec_right_touched, new_left_touched, new_right_touched;
  std::vector<std::vector<uint32_t>> new_left_words, new_right_words;

  explicit MergeScratch(size_t vocab)
      : dec_left(vocab), dec_right(vocab), new_left(vocab), new_right(vocab),
        dec_left_on(vocab), dec_right_on(vocab), new_left_on(vocab), new_right_on(vocab),
        new_left_words(vocab), new_right_words(vocab) {}

  static void bump(std::vector<int64_t>& value, std::vector<uint8_t>& on, std::vector<uint32_t>& touched,
                   uint32_t slot, int64_t delta) {
    if (!on[slot]) {
      on[slot] = 1;
      touched.push_back(slot);
    }
    value[slot] += delta;
  }
  static void note_word(std::vector<uint32_t>& list, uint32_t word) {
    if (list.empty() || list.back() != word) list.push_back(word);
  }
};

// Replaces (a, b) by n in one word, left to right without overlap, recording the count changes
// exactly as rustbpe's Word::merge_pair does: for each occurrence with left neighbour x (in the
// rewritten word) and right neighbour y (in the original word), (x,a) -> (x,n) and (b,y) -> (n,y).
// When x is n itself (two occurrences back to back) the (n,a) just added is taken back again.
// Changes to (a, b) are not recorded: after the merge its count is exactly 0.
inline void merge_word(uint32_t* ids, uint32_t& length, uint32_t a, uint32_t b, uint32_t n, int64_t weight,
                       uint32_t word, MergeScratch& s) {
  const uint32_t len = length;
  uint32_t i = 0;
  while (i + 1 < len && !(ids[i] == a && ids[i + 1] == b)) ++i;
  if (i + 1 >= len) return;  // the word lost the pair to an earlier merge
  uint32_t out = i;
  while (i < len) {
    if (i + 1 < len && ids[i] == a && ids[i + 1] == b) {
      if (out > 0) {
        const uint32_t x = ids[out - 1];
        if (x == n) {
          MergeScratch::bump(s.new_right, s.new_right_on, s.new_right_touched, a, -weight);
        } else {
          MergeScratch::bump(s.dec_left, s.dec_left_on, s.dec_left_touched, x, weight);
        }
        MergeScratch::bump(s.new_left, s.new_left_on, s.new_left_touched, x, weight);
        MergeScratch::note_word(s.new_left_words[x], word);
      }
      if (i + 2 < len) {
        const uint32_t y = ids[i + 2];
        if (!(a == b && y == a)) MergeScratch::bump(s.dec_right, s.dec_right_on, s.dec_right_touched, y, weight);
        MergeScratch::bump(s.new_right, s.new_right_on, s.new_right_touched, y, weight);
        MergeScratch::note_word(s.new_right_words[y], word);
      }
      ids[out++] = n;
      i += 2;
    } else {
      ids[out++] = ids[i++];
    }
  }
  length = out;
}

// merge_word over candidates[begin, end). Candidate words sit anywhere in memory, so the loop
// prefetches the metadata of a word a few steps ahead and its ids a little later.
void merge_words(Words& words, const std::vector<uint32_t>& candidates, size_t begin, size_t end, uint32_t a,
                 uint32_t b, uint32_t n, MergeScratch& s) {
  constexpr size_t kInfoAhead = 16, kIdsAhead = 8;
  for (size_t c = begin; c < end; ++c) {
    if (c + kInfoAhead < end) __builtin_prefetch(&words.info[candidates[c + kInfoAhead]]);
    if (c + kIdsAhead < end) __builtin_prefetch(words.ids.data() + words.info[candidates[c + kIdsAhead]].begin);
    const uint32_t w = candidates[c];
    WordInfo& info = words.info[w];
    merge_word(words.ids.data() + info.begin, info.length, a, b, n, info.weight, w, s);
  }
}

// Sums the pair counts of all words; each pair's word list is in ascending word order.
void count_initial_pairs(const Words& words, int num_threads, PairTable& pairs) {
  constexpr size_t kBytePairs = 256 * 256;
  struct Partial {
    std::vector<int64_t> count = std::vector<int64_t>(kBytePairs, 0);
    std::vector<uint32_t> last_word = std::vector<uint32_t>(kBytePairs, kNoWord);
    std::vector<std::vector<uint32_t>> words = std::vector<std::vector<uint32_t>>(kBytePairs);
  };
  const size_t n = words.size();
  // Each thread zeroes 2.4 MB of tables, so small corpora use fewer threads.
  const int workers = static_cast<int>(std::clamp<size_t>(n / 65536, 1, static_cast<size_t>(num_threads)));
  std::vector<Partial> partials(static_cast<size_t>(workers));
  parallel_for(n, workers, [&](size_t begin, size_t end, int worker) {
    Partial& p = partials[static_cast<size_t>(worker)];
    for (size_t w = begin; w < end; ++w) {
      const WordInfo& info = words.info[w];
      const uint32_t* ids = words.ids.data() + info.begin;
      for (uint32_t i = 0; i + 1 < info.length; ++i) {
        const size_t k = ids[i] * 256 + ids[i + 1];
        p.count[k] += info.weight;
        if (p.last_word[k] != w) {
          p.last_word[k] = static_cast<uint32_t>(w);
          p.words[k].push_back(static_cast<uint32_t>(w));
        }
      }
    }
  });
  for (size_t k = 0; k < kBytePairs; ++k) {
    int64_t total = 0;
    size_t list_size = 0;
    for (const Partial& p : partials) {
      total += p.count[k];
      list_size += p.words[k].size();
    }
    if (total == 0) continue;
    std::vector<uint32_t> list;
    list.reserve(list_size);
    for (const Partial& p : partials) list.insert(list.end(), p.words[k].begin(), p.words[k].end());
    pairs.add(pair_key(static_cast<uint32_t>(k / 256), static_cast<uint32_t>(k % 256)), total, std::move(list));
  }
}

// Folds scratch `from` into `into` (pair changes summed, word lists appended in order) and clears it.
void fold_scratch(MergeScratch& from, MergeScratch& into) {
  auto fold = [](std::vector<int64_t>& fv, std::vector<uint8_t>& fon, std::vector<uint32_t>& ft,
                 std::vector<int64_t>& iv, std::vector<uint8_t>& ion, std::vector<uint32_t>& it,
                 std::vector<std::vector<uint32_t>>* fw, std::vector<std::vector<uint32_t>>* iw) {
    for (uint32_t slot : ft) {
      MergeScratch::bump(iv, ion, it, slot, fv[slot]);
      fv[slot] = 0;
      fon[slot] = 0;
      if (fw != nullptr) {
        auto& src = (*fw)[slot];
        auto& dst = (*iw)[slot];
        dst.insert(dst.end(), src.begin(), src.end());
        src.clear();
      }
    }
    ft.clear();
  };
  fold(from.dec_left, from.dec_left_on, from.dec_left_touched, into.dec_left, into.dec_left_on, into.dec_left_touched,
       nullptr, nullptr);
  fold(from.dec_right, from.dec_right_on, from.dec_right_touched, into.dec_right, into.dec_right_on,
       into.dec_right_touched, nullptr, nullptr);
  fold(from.new_left, from.new_left_on, from.new_left_touched, into.new_left, into.new_left_on, into.new_left_touched,
       &from.new_left_words, &into.new_left_words);
  fold(from.new_right, from.new_right_on, from.new_right_touched, into.new_right, into.new_right_on,
       into.new_right_touched, &from.new_right_words, &into.new_right_words);
}

// Applies one merge's changes: existing neighbours lose counts, new pairs are created and pushed.
void apply_scratch(MergeScratch& s, uint32_t a, uint32_t b, uint32_t n, PairTable& pairs,
                   PairHeap& heap) {
  for (uint32_t x : s.dec_left_touched) {
    pairs.count_of(x, a) -= s.dec_left[x];
    s.dec_left[x] = 0;
    s.dec_left_on[x] = 0;
  }
  s.dec_left_touched.clear();
  for (uint32_t y : s.dec_right_touched) {
    pairs.count_of(b, y) -= s.dec_right[y];
    s.dec_right[y] = 0;
    s.dec_right_on[y] = 0;
  }
  s.dec_right_touched.clear();
  auto create = [&](uint32_t left, uint32_t right, int64_t& value, uint8_t& on, std::vector<uint32_t>& list) {
    NC_CHECK(value >= 0, "BPE training: internal error, new pair ({}, {}) has count {}", left, right, value);
    if (value > 0) {
      const uint64_t k = pair_key(left, right);
      pairs.add(k, value, std::move(list));
      heap.push({value, k});
    }
    list = std::vector<uint32_t>();
    value = 0;
    on = 0;
  };
  for (uint32_t x : s.new_left_touched) create(x, n, s.new_left[x], s.new_left_on[x], s.new_left_words[x]);
  s.new_left_touched.clear();
  for (uint32_t y : s.new_right_touched) create(n, y, s.new_right[y], s.new_right_on[y], s.new_right_words[y]);
  s.new_right_touched.clear();
}

}  // namespace

std::vector<BpeMerge> train_bpe(const ChunkCounter& chunks, size_t num_merges, const BpeTrainOptions& options) {
  const int num_threads = options.num_threads > 0 ? options.num_threads : default_num_threads();
  const auto setup_start = std::chrono::steady_clock::now();
  Words words = build_words(chunks, num_threads);
  // Every merge shortens at least one word, so this bounds the number of merges (and the vocab).
  const size_t requested = num_merges;
  num_merges = std::min(num_merges, words.ids.size());
  NC_CHECK(256 + num_merges < std::numeric_limits<uint32_t>::max(), "BPE training: {} merges is too many",
           num_merges);
  const size_t vocab = 256 + num_merges;

  PairTable pairs;
  count_initial_pairs(words, num_threads, pairs);
  PairHeap heap;
  {
    std::vector<HeapEntry> initial;
    initial.reserve(pairs.key.size() * 2);
    for (uint32_t id = 0; id < pairs.key.size(); ++id) initial.push_back({pairs.count[id], pairs.key[id]});
    heap.build(std::move(initial));
  }
  if (options.stats != nullptr) {
    options.stats->num_words = words.size();
    options.stats->num_initial_pairs = pairs.key.size();
    options.stats->setup_seconds = seconds_since(setup_start);
  }

  const auto merge_start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<MergeScratch>> scratch;
  scratch.push_back(std::make_unique<MergeScratch>(vocab));
  std::unique_ptr<ProgressBar> bar;
  if (options.show_progress) bar = std::make_unique<ProgressBar>("bpe merges", requested, "merges");
  uint64_t word_updates = 0, stale_pops = 0, parallel_merges = 0, parallel_word_updates = 0;
  std::vector<BpeMerge> merges;
  merges.reserve(num_merges);

  while (merges.size() < num_merges && !heap.empty()) {
    const HeapEntry top = heap.top();
    const uint32_t pair = pairs.index.find(top.key)->second;
    const int64_t live = pairs.count[pair];
    if (live != top.count) {
      ++stale_pops;
      // Stale: counts only fall, so re-queue at the live count (or drop a vanished pair).
      if (live > 0) {
        heap.replace_top({live, top.key});
      } else {
        heap.pop();
        pairs.words[pair] = std::vector<uint32_t>();
      }
      continue;
    }
    heap.pop();
    const auto a = static_cast<uint32_t>(top.key >> 32), b = static_cast<uint32_t>(top.key & 0xffffffffu);
    const auto n = static_cast<uint32_t>(256 + merges.size());
    merges.push_back({a, b});
    const std::vector<uint32_t> candidates = std::move(pairs.words[pair]);
    pairs.words[pair] = std::vector<uint32_t>();
    pairs.count[pair] = 0;
    word_updates += candidates.size();

    const size_t min_words = std::max<size_t>(options.parallel_min_words, 1);
    if (num_threads > 1 && candidates.size() >= 2 * min_words) {
      // Every worker gets at least min_words words: below that, thread start-up and the folding of
      // its vocab-sized scratch arrays cost more than the scan.
      const int workers =
          static_cast<int>(std::min<size_t>(static_cast<size_t>(num_threads), candidates.size() / min_words));
      ++parallel_merges;
      parallel_word_updates += candidates.size();
      while (scratch.size() < static_cast<size_t>(workers)) scratch.push_back(std::make_unique<MergeScratch>(vocab));
      parallel_for(candidates.size(), workers, [&](size_t begin, size_t end, int worker) {
        merge_words(words, candidates, begin, end, a, b, n, *scratch[static_cast<size_t>(worker)]);
      });
      for (int t = 1; t < workers; ++t) fold_scratch(*scratch[static_cast<size_t>(t)], *scratch[0]);
    } else {
      merge_words(words, candidates, 0, candidates.size(), a, b, n, *scratch[0]);
    }
    apply_scratch(*scratch[0], a, b, n, pairs, heap);

    if (bar) bar->add(1);
    if (options.on_progress) options.on_progress(merges.size(), requested);
  }
  if (bar) bar->finish();
  if (options.stats != nullptr) {
    options.stats->merge_seconds = seconds_since(merge_start);
    options.stats->word_updates = word_updates;
    options.stats->stale_pops = stale_pops;
    options.stats->parallel_merges = parallel_merges;
    options.stats->parallel_word_updates = parallel_word_updates;
    options.stats->pairs_created = pairs.key.size();
  }
  return merges;
}

std::vector<std::string> bpe_token_bytes(const std::vector<BpeMerge>& merges) {
  std::vector<std::string> bytes;
  bytes.reserve(256 + merges.size());
  for (int i = 0; i < 256; ++i) bytes.emplace_back(1, static_cast<char>(i));
  for (size_t k = 0; k < merges.size(); ++k) {
    const BpeMerge& m = merges[k];
    NC_CHECK(m.left < bytes.size() && m.right < bytes.size(),
             "BPE merge {} refers to token ({}, {}) that does not exist yet (only {} tokens)", k, m.left, m.right,
             bytes.size());
    bytes.push_back(bytes[m.left] + bytes[m.right]);
  }
  return bytes;
}

}  // namespace nanochat
