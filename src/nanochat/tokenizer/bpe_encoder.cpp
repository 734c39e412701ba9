#include "nanochat/tokenizer/bpe_encoder.h"

#include <limits>
#include <queue>

#include "nanochat/core/error.h"

namespace nanochat {

namespace {
constexpr TokenId kNoMerge = std::numeric_limits<TokenId>::max();
// Pieces up to this many bytes use the quadratic scan (cache-friendly, no allocation beyond parts).
constexpr size_t kSmallPiece = 64;
}  // namespace

BpeEncoder::BpeEncoder(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  NC_CHECK(tokens_.size() < kNoMerge, "vocabulary too large: {} tokens", tokens_.size());
  bytes_to_id_.reserve(tokens_.size());
  for (TokenId id = 0; id < tokens_.size(); ++id) {
    NC_CHECK(!tokens_[id].empty(), "token of rank {} has no bytes", id);
    const auto [it, inserted] = bytes_to_id_.emplace(tokens_[id], id);
    NC_CHECK(inserted, "duplicate token bytes at ranks {} and {}", it->second, id);
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = bytes_to_id_.find(std::string(1, static_cast<char>(b)));
    NC_CHECK(it != bytes_to_id_.end(), "vocabulary lacks the single byte 0x{:02X}", b);
    byte_to_id_[b] = it->second;
  }
  for (TokenId id = 0; id < tokens_.size(); ++id) {
    const std::string_view t = tokens_[id];
    for (size_t k = 1; k < t.size(); ++k) {
      const auto left = bytes_to_id_.find(absl::string_view(t.data(), k));
      if (left == bytes_to_id_.end()) continue;
      const auto right = bytes_to_id_.find(absl::string_view(t.data() + k, t.size() - k));
      if (right == bytes_to_id_.end()) continue;
      pair_to_id_.emplace(pair_key(left->second, right->second), id);
    }
  }
}

void BpeEncoder::encode_piece(std::string_view piece, std::vector<TokenId>& out) const {
  if (piece.empty()) return;
  if (const auto it = bytes_to_id_.find(absl::string_view(piece.data(), piece.size())); it != bytes_to_id_.end()) {
    out.push_back(it->second);
    return;
  }
  std::vector<TokenId> parts(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) parts[i] = byte_to_id_[static_cast<unsigned char>(piece[i])];
  if (parts.size() <= kSmallPiece) {
    merge_small(parts);
  } else {
    merge_large(parts);
  }
  out.insert(out.end(), parts.begin(), parts.end());
}

void BpeEncoder::merge_small(std::vector<TokenId>& parts) const {
  // ranks[i] = id of merging parts[i] and parts[i+1], or kNoMerge.
  TokenId ranks[kSmallPiece];
  size_t n = parts.size();
  auto rank_at = [&](size_t i) {
    const auto it = pair_to_id_.find(pair_key(parts[i], parts[i + 1]));
    return it == pair_to_id_.end() ? kNoMerge : it->second;
  };
  for (size_t i = 0; i + 1 < n; ++i) ranks[i] = rank_at(i);
  while (n > 1) {
    size_t best = 0;
    TokenId best_rank = kNoMerge;
    for (size_t i = 0; i + 1 < n; ++i) {
      if (ranks[i] < best_rank) {  // strict: the leftmost wins ties
        best_rank = ranks[i];
        best = i;
      }
    }
    if (best_rank == kNoMerge) break;
    parts[best] = best_rank;
    for (size_t i = best + 1; i + 1 < n; ++i) {
      parts[i] = parts[i + 1];
      ranks[i] = ranks[i + 1];
    }
    --n;
    if (best + 1 < n) ranks[best] = rank_at(best);
    if (best > 0) ranks[best - 1] = rank_at(best - 1);
  }
  parts.resize(n);
}

void BpeEncoder::merge_large(std::vector<TokenId>& parts) const {
  // Linked list of parts plus a min-heap of candidate merges ordered by (rank, position); stale heap
  // entries are recognised by a changed neighbour or id and skipped. Position order == text order, so
  // the heap's tie-break is tiktoken's "leftmost".
  const size_t n = parts.size();
  std::vector<uint32_t> next(n), prev(n);
  std::vector<char> alive(n, 1);
  for (size_t i = 0; i < n; ++i) {
    next[i] = static_cast<uint32_t>(i + 1);
    prev[i] = i == 0 ? std::numeric_limits<uint32_t>::max() : static_cast<uint32_t>(i - 1);
  }
  struct Cand {
    TokenId rank;
    uint32_t left, right;
    TokenId left_id, right_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](uint32_t l) {
    const uint32_t r = next[l];
    if (r >= n) return;
    const auto it = pair_to_id_.find(pair_key(parts[l], parts[r]));
    if (it != pair_to_id_.end()) heap.push({it->second, l, r, parts[l], parts[r]});
  };
  for (uint32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right || parts[c.left] != c.left_id ||
        parts[c.right] != c.right_id) {
      continue;
    }
    parts[c.left] = c.rank;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.left] < n) prev[next[c.left]] = c.left;
    push(c.left);
    const uint32_t p = prev[c.left];  // the head's prev is out of range
    if (p < n) push(p);
  }
  size_t w = 0;
  for (uint32_t i = 0; i < n; i = next[i]) parts[w++] = parts[i];
  parts.resize(w);
}

}  // namespace nanochat
