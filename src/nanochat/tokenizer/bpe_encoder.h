// Rank-based byte pair encoding of one pre-tokenized piece with tiktoken's semantics (spec §1.6):
// start from single bytes, repeatedly merge the adjacent pair whose concatenation is the
// lowest-ranked vocabulary entry (leftmost on ties), stop when no concatenation is in the vocabulary.
//
// Instead of hashing byte strings at every step, the encoder precomputes a table of every id pair
// (x, y) whose byte concatenation is a token (found by splitting each token at every position).
// Parts are always tokens, so "bytes(x)+bytes(y) is in the vocabulary" is exactly "(x, y) is in the
// table": the same result as tiktoken for any vocabulary, not only trainer-made ones.
#pragma once
#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nanochat {

using TokenId = uint32_t;

class BpeEncoder {
 public:
  // tokens[r] = bytes of the token of rank r; ranks are 0..N-1 and every single byte must be present.
  explicit BpeEncoder(std::vector<std::string> tokens);

  // Appends the ids of `piece` to out.
  void encode_piece(std::string_view piece, std::vector<TokenId>& out) const;
  // The id of an exact byte string, or -1.
  int64_t lookup(std::string_view bytes) const {
    const auto it = bytes_to_id_.find(absl::string_view(bytes.data(), bytes.size()));
    return it == bytes_to_id_.end() ? -1 : static_cast<int64_t>(it->second);
  }
  size_t size() const { return tokens_.size(); }
  const std::string& token(TokenId id) const { return tokens_[id]; }
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  static uint64_t pair_key(TokenId a, TokenId b) { return (static_cast<uint64_t>(a) << 32) | b; }
  void merge_small(std::vector<TokenId>& parts) const;
  void merge_large(std::vector<TokenId>& parts) const;

  std::vector<std::string> tokens_;
  absl::flat_hash_map<std::string, TokenId> bytes_to_id_;
  absl::flat_hash_map<uint64_t, TokenId> pair_to_id_;  // rank of a merge == id of its result
  TokenId byte_to_id_[256];
};

}  // namespace nanochat
