// The nanochat tokenizer: GPT-4-style byte-level BPE with tiktoken's encoding semantics (spec §1).
// Vocabulary = mergeable tokens (ranks 0..N-1; for trained tokenizers the 256 bytes then the merges)
// followed by special tokens, which are only ever inserted by id.
//
// On disk (directory, default $NANOCHAT_BASE_DIR/tokenizer):
//   tokenizer.json      {"format":"nanochat.cpp/tokenizer","version":1,"name","pattern",
//                        "special_tokens":[{"token","id"}...],"bos_token","mergeable_ranks":"tokenizer.tiktoken"}
//   tokenizer.tiktoken  one line per mergeable token: base64(bytes) SPACE rank, sorted by rank (the
//                        standard .tiktoken format, loadable by tiktoken itself)
//   token_bytes.npy     int32[vocab_size]: raw byte length of each token, 0 for specials (bits per byte)
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nanochat/tokenizer/bpe_encoder.h"
#include "nanochat/tokenizer/pretokenizer.h"

namespace nanochat {

struct SpecialToken {
  std::string text;
  TokenId id;
};

class Tokenizer {
 public:
  // Mergeable tokens by rank; specials with explicit ids (must not collide with ranks).
  Tokenizer(std::string name, std::vector<std::string> tokens, std::string pattern, std::vector<SpecialToken> specials,
            std::string bos_token);

  // A trained tokenizer: 256 byte tokens, then token 256+k = tokens[left] ++ tokens[right] of merge k,
  // then nanochat's 9 special tokens; pattern = nanochat's split pattern unless given.
  static Tokenizer from_merges(std::span<const std::pair<TokenId, TokenId>> merges, std::string pattern = {});

  static Tokenizer load(const std::filesystem::path& dir);  // tokenizer.json + tokenizer.tiktoken
  void save(const std::filesystem::path& dir) const;        // both files + token_bytes.npy, atomically each

  // A .tiktoken ranks file (base64 token, space, rank per line) with the given pattern and specials.
  static Tokenizer from_tiktoken_file(const std::filesystem::path& path, std::string name, std::string pattern,
                                      std::vector<SpecialToken> specials, std::string bos_token);
  std::string tiktoken_text() const;

  // Ordinary encoding: invalid UTF-8 is first replaced as CPython would decode it (U+FFFD per
  // maximal ill-formed subpart), so every input encodes; special-token text is ordinary text.
  std::vector<TokenId> encode(std::string_view text) const;
  void encode_into(std::string_view text, std::vector<TokenId>& out) const;
  // With an optional id inserted before / after.
  std::vector<TokenId> encode(std::string_view text, std::optional<TokenId> prepend,
                              std::optional<TokenId> append = std::nullopt) const;
  // Batch: the same result as encoding each text; work is spread over num_threads (<=0: all cores).
  std::vector<std::vector<TokenId>> encode_batch(std::span<const std::string> texts, int num_threads = 0,
                                                 std::optional<TokenId> prepend = std::nullopt,
                                                 std::optional<TokenId> append = std::nullopt) const;

  // Concatenated token bytes decoded as UTF-8 with replacement; throws Error on an unknown id.
  std::string decode(std::span<const TokenId> ids) const;
  std::string decode_bytes(std::span<const TokenId> ids) const;  // raw, no UTF-8 repair
  const std::string& token_bytes(TokenId id) const;              // raw bytes of one id (special: its text)
  std::string id_to_token(TokenId id) const { return decode(std::span<const TokenId>(&id, 1)); }

  // Exact lookup of a whole string as one token: ordinary vocabulary first, then specials.
  TokenId encode_special(std::string_view text) const;
  bool is_special(TokenId id) const;
  TokenId bos_id() const { return bos_id_; }
  const std::vector<SpecialToken>& special_tokens() const { return specials_; }
  size_t vocab_size() const { return vocab_size_; }  // max id + 1
  size_t num_mergeable() const { return encoder_.size(); }
  const std::string& pattern() const { return pattern_; }
  const std::string& name() const { return name_; }
  const Pretokenizer& pretokenizer() const { return *pre_; }

  // int32 per id: raw byte length, 0 for specials (spec §1.10).
  std::vector<int32_t> token_byte_lengths() const;

 private:
  std::string name_, pattern_;
  BpeEncoder encoder_;
  std::vector<SpecialToken> specials_;
  std::vector<std::string> id_to_special_;  // index id - encoder size; empty for holes
  std::unique_ptr<Pretokenizer> pre_;
  TokenId bos_id_ = 0;
  size_t vocab_size_ = 0;
  uint64_t serial_ = 0;  // identifies this tokenizer to the per-thread piece cache
};

// token_bytes.npy helpers (NumPy .npy v1.0, little-endian int32, 1-D).
void write_npy_int32(const std::filesystem::path& path, std::span<const int32_t> values);
std::vector<int32_t> read_npy_int32(const std::filesystem::path& path);

}  // namespace nanochat
