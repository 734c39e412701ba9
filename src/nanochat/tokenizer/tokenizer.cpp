#include "nanochat/tokenizer/tokenizer.h"

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <cstring>
#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/thread_pool.h"
#include "nanochat/core/utf8.h"
#include "nanochat/tokenizer/base64.h"
#include "nanochat/tokenizer/special_tokens.h"
#include "nanochat/tokenizer/split_pattern.h"

namespace nanochat {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::string_view kFormat = "nanochat.cpp/tokenizer";
constexpr int kFormatVersion = 1;

// Per-thread memo of multi-token pieces. Keyed by the tokenizer's serial number, not its address,
// so a new tokenizer at a recycled address never sees stale entries.
std::atomic<uint64_t> g_next_serial{1};

struct PieceCache {
  uint64_t owner = 0;
  absl::flat_hash_map<std::string, std::vector<TokenId>> map;
};
constexpr size_t kPieceCacheMax = 1 << 16;

}  // namespace

static thread_local PieceCache t_cache;
static thread_local std::vector<std::string_view> t_pieces;

Tokenizer::Tokenizer(std::string name, std::vector<std::string> tokens, std::string pattern,
                     std::vector<SpecialToken> specials, std::string bos_token)
    : name_(std::move(name)),
      pattern_(std::move(pattern)),
      encoder_(std::move(tokens)),
      specials_(std::move(specials)),
      pre_(make_pretokenizer(pattern_)) {
  size_t max_id = encoder_.size();
  for (const auto& s : specials_) {
    NC_CHECK(s.id >= encoder_.size(), "special token {} has id {} inside the mergeable range (< {})", s.text, s.id,
             encoder_.size());
    max_id = std::max<size_t>(max_id, s.id + 1);
  }
  vocab_size_ = max_id;
  id_to_special_.assign(vocab_size_ - encoder_.size(), std::string());
  for (const auto& s : specials_) {
    auto& slot = id_to_special_[s.id - encoder_.size()];
    NC_CHECK(slot.empty(), "two special tokens share id {}", s.id);
    NC_CHECK(!s.text.empty(), "special token with id {} has empty text", s.id);
    slot = s.text;
  }
  bos_id_ = encode_special(bos_token);
  serial_ = g_next_serial.fetch_add(1);
}

Tokenizer Tokenizer::from_merges(std::span<const std::pair<TokenId, TokenId>> merges, std::string pattern) {
  std::vector<std::string> tokens;
  tokens.reserve(256 + merges.size());
  for (int b = 0; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
  for (const auto& [l, r] : merges) {
    NC_CHECK(l < tokens.size() && r < tokens.size(), "merge {} refers to unknown ids ({}, {})", tokens.size() - 256, l,
             r);
    tokens.push_back(tokens[l] + tokens[r]);
  }
  std::vector<SpecialToken> specials;
  for (size_t i = 0; i < kSpecialTokens.size(); ++i) {
    specials.push_back({std::string(kSpecialTokens[i]), static_cast<TokenId>(tokens.size() + i)});
  }
  if (pattern.empty()) pattern = std::string(kNanochatSplitPattern);
  return Tokenizer("rustbpe", std::move(tokens), std::move(pattern), std::move(specials), std::string(kBosToken));
}

// ---------------------------------------------------------------------------------------------
// Encoding

void Tokenizer::encode_into(std::string_view text, std::vector<TokenId>& out) const {
  std::string repaired;
  if (!utf8_is_valid(text)) {
    repaired = utf8_sanitize(text);
    text = repaired;
  }
  auto& pieces = t_pieces;
  pieces.clear();
  pre_->split(text, pieces);
  auto& cache = t_cache;
  if (cache.owner != serial_) {
    cache.map.clear();
    cache.owner = serial_;
  }
  for (const std::string_view piece : pieces) {
    const int64_t whole = encoder_.lookup(piece);
    if (whole >= 0) {
      out.push_back(static_cast<TokenId>(whole));
      continue;
    }
    if (const auto it = cache.map.find(absl::string_view(piece.data(), piece.size())); it != cache.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      continue;
    }
    const size_t start = out.size();
    encoder_.encode_piece(piece, out);
    if (cache.map.size() >= kPieceCacheMax) cache.map.clear();
    cache.map.emplace(std::string(piece), std::vector<TokenId>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view text) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  encode_into(text, out);
  return out;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, std::optional<TokenId> prepend,
                                       std::optional<TokenId> append) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 6);
  if (prepend) out.push_back(*prepend);
  encode_into(text, out);
  if (append) out.push_back(*append);
  return out;
}

std::vector<std::vector<TokenId>> Tokenizer::encode_batch(std::span<const std::string> texts, int num_threads,
                                                          std::optional<TokenId> prepend,
                                                          std::optional<TokenId> append) const {
  std::vector<std::vector<TokenId>> out(texts.size());
  parallel_for_dynamic(texts.size(), num_threads, 16,
                       [&](size_t i, int) { out[i] = encode(texts[i], prepend, append); });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding and lookups

const std::string& Tokenizer::token_bytes(TokenId id) const {
  if (id < encoder_.size()) return encoder_.token(id);
  NC_CHECK(id < vocab_size_ && !id_to_special_[id - encoder_.size()].empty(), "unknown token id {} (vocab size {})",
           id, vocab_size_);
  return id_to_special_[id - encoder_.size()];
}

std::string Tokenizer::decode_bytes(std::span<const TokenId> ids) const {
  std::string out;
  for (const TokenId id : ids) out += token_bytes(id);
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const { return utf8_sanitize(decode_bytes(ids)); }

TokenId Tokenizer::encode_special(std::string_view text) const {
  const int64_t ordinary = encoder_.lookup(text);
  if (ordinary >= 0) return static_cast<TokenId>(ordinary);
  for (const auto& s : specials_)
    if (s.text == text) return s.id;
  fail("'{}' is not a single token of tokenizer '{}'", text, name_);
}

bool Tokenizer::is_special(TokenId id) const { return id >= encoder_.size() && id < vocab_size_; }

std::vector<int32_t> Tokenizer::token_byte_lengths() const {
  std::vector<int32_t> out(vocab_size_, 0);
  for (size_t id = 0; id < encoder_.size(); ++id) out[id] = static_cast<int32_t>(encoder_.token(static_cast<TokenId>(id)).size());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Persistence

std::string Tokenizer::tiktoken_text() const {
  std::string out;
  out.reserve(encoder_.size() * 16);
  for (size_t id = 0; id < encoder_.size(); ++id) {
    out += base64_encode(encoder_.token(static_cast<TokenId>(id)));
    out += ' ';
    out += std::to_string(id);
    out += '\n';
  }
  return out;
}

namespace {
std::vector<std::string> parse_tiktoken(const std::string& text, const fs::path& path) {
  std::vector<std::string> tokens;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    NC_CHECK(sp != std::string_view::npos, "{}:{}: expected 'base64 rank'", path.string(), line_no);
    auto bytes = base64_decode(line.substr(0, sp));
    NC_CHECK(bytes.has_value() && !bytes->empty(), "{}:{}: invalid base64 token", path.string(), line_no);
    uint64_t rank = 0;
    const std::string_view rank_text = line.substr(sp + 1);
    NC_CHECK(!rank_text.empty() && rank_text.size() < 10 &&
                 rank_text.find_first_not_of("0123456789") == std::string_view::npos,
             "{}:{}: invalid rank '{}'", path.string(), line_no, rank_text);
    rank = std::stoull(std::string(rank_text));
    NC_CHECK(rank == tokens.size(), "{}:{}: rank {} out of order (expected {}); ranks must be 0..N-1 in order",
             path.string(), line_no, rank, tokens.size());
    tokens.push_back(std::move(*bytes));
  }
  NC_CHECK(tokens.size() >= 256, "{}: only {} tokens (need at least the 256 bytes)", path.string(), tokens.size());
  return tokens;
}
}  // namespace

Tokenizer Tokenizer::from_tiktoken_file(const fs::path& path, std::string name, std::string pattern,
                                        std::vector<SpecialToken> specials, std::string bos_token) {
  auto tokens = parse_tiktoken(read_file(path), path);
  try {
    return Tokenizer(std::move(name), std::move(tokens), std::move(pattern), std::move(specials), std::move(bos_token));
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

void Tokenizer::save(const fs::path& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  NC_CHECK(!ec, "cannot create {}: {}", dir.string(), ec.message());
  json specials = json::array();
  for (const auto& s : specials_) specials.push_back({{"token", s.text}, {"id", s.id}});
  const json meta = {{"format", kFormat},
                     {"version", kFormatVersion},
                     {"name", name_},
                     {"pattern", pattern_},
                     {"mergeable_ranks", "tokenizer.tiktoken"},
                     {"num_mergeable", encoder_.size()},
                     {"vocab_size", vocab_size_},
                     {"special_tokens", specials},
                     {"bos_token", token_bytes(bos_id_)}};
  write_file_atomic(dir / "tokenizer.tiktoken", tiktoken_text());
  write_npy_int32(dir / "token_bytes.npy", token_byte_lengths());
  write_file_atomic(dir / "tokenizer.json", meta.dump(2) + "\n");  // last: marks the set complete
}

Tokenizer Tokenizer::load(const fs::path& dir) {
  const fs::path meta_path = dir / "tokenizer.json";
  NC_CHECK(fs::exists(meta_path), "no tokenizer at {} (missing tokenizer.json; run `nanochat tok-train` first)",
           dir.string());
  json meta;
  try {
    meta = json::parse(read_file(meta_path));
  } catch (const json::exception& e) {
    fail("{}: invalid JSON: {}", meta_path.string(), e.what());
  }
  auto field = [&](const char* key) -> const json& {
    NC_CHECK(meta.contains(key), "{}: missing field '{}'", meta_path.string(), key);
    return meta[key];
  };
  try {
    NC_CHECK(field("format") == kFormat, "{}: field 'format' is not '{}'", meta_path.string(), kFormat);
    NC_CHECK(field("version").get<int>() <= kFormatVersion, "{}: version {} is newer than this program supports ({})",
             meta_path.string(), field("version").get<int>(), kFormatVersion);
    std::vector<SpecialToken> specials;
    for (const auto& s : field("special_tokens")) specials.push_back({s.at("token").get<std::string>(), s.at("id").get<TokenId>()});
    const fs::path ranks = dir / field("mergeable_ranks").get<std::string>();
    Tokenizer tok = from_tiktoken_file(ranks, field("name").get<std::string>(), field("pattern").get<std::string>(),
                                       std::move(specials), field("bos_token").get<std::string>());
    if (meta.contains("num_mergeable")) {
      NC_CHECK(meta["num_mergeable"].get<size_t>() == tok.num_mergeable(),
               "{}: num_mergeable {} does not match {} ({} tokens); the files are from different tokenizers",
               meta_path.string(), meta["num_mergeable"].get<size_t>(), ranks.string(), tok.num_mergeable());
    }
    return tok;
  } catch (const json::exception& e) {
    fail("{}: malformed field: {}", meta_path.string(), e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// .npy (v1.0) int32 vectors

void write_npy_int32(const fs::path& path, std::span<const int32_t> values) {
  std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (" + std::to_string(values.size()) + ",), }";
  // Magic (6) + version (2) + header length (2) + header, padded with spaces and '\n' to a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>((header.size() >> 8) & 0xFF);
  out += header;
  const size_t off = out.size();
  out.resize(off + values.size() * 4);
  std::memcpy(out.data() + off, values.data(), values.size() * 4);  // little-endian host (x86-64, arm64)
  write_file_atomic(path, out);
}

std::vector<int32_t> read_npy_int32(const fs::path& path) {
  const std::string data = read_file(path);
  NC_CHECK(data.size() >= 10 && data.compare(0, 6, "\x93NUMPY") == 0, "{}: not a .npy file", path.string());
  const size_t hlen = static_cast<unsigned char>(data[8]) | (static_cast<size_t>(static_cast<unsigned char>(data[9])) << 8);
  NC_CHECK(data[6] == 1 && 10 + hlen <= data.size(), "{}: unsupported .npy version or truncated header", path.string());
  const std::string header = data.substr(10, hlen);
  NC_CHECK(header.find("'<i4'") != std::string::npos && header.find("'fortran_order': False") != std::string::npos,
           "{}: expected a little-endian int32 C-order array", path.string());
  const size_t lp = header.find("'shape': (");
  NC_CHECK(lp != std::string::npos, "{}: header has no shape", path.string());
  const size_t n = std::stoull(header.substr(lp + 10));
  NC_CHECK(data.size() == 10 + hlen + n * 4, "{}: expected {} int32 values, file has {} bytes of data", path.string(), n,
           data.size() - 10 - hlen);
  std::vector<int32_t> out(n);
  std::memcpy(out.data(), data.data() + 10 + hlen, n * 4);
  return out;
}

}  // namespace nanochat
