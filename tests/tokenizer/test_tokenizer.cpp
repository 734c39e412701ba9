#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/utf8.h"
#include "nanochat/tokenizer/base64.h"
#include "nanochat/tokenizer/special_tokens.h"
#include "nanochat/tokenizer/split_pattern.h"
#include "nanochat/tokenizer/tokenizer.h"
#include "test_support.h"

using namespace nanochat;

namespace {

// tiktoken's byte-pair merge written as plainly as possible: parts are byte ranges; repeatedly merge
// the adjacent pair whose concatenated bytes have the lowest rank, leftmost on ties.
std::vector<TokenId> naive_encode_piece(const std::map<std::string, TokenId>& ranks, const std::string& piece) {
  if (auto whole = ranks.find(piece); whole != ranks.end()) return {whole->second};  // §1.6 step 2a
  std::vector<std::string> parts;
  for (char c : piece) parts.emplace_back(1, c);
  for (;;) {
    size_t best = SIZE_MAX;
    TokenId best_rank = UINT32_MAX;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = ranks.find(parts[i] + parts[i + 1]);
      if (it != ranks.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best == SIZE_MAX) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  std::vector<TokenId> ids;
  for (auto& p : parts) ids.push_back(ranks.at(p));
  return ids;
}

// A small merge list learned the simple way (most frequent adjacent pair, ties to the smallest pair)
// from one text, so tests have a realistic vocabulary without depending on the trainer module.
std::vector<std::pair<TokenId, TokenId>> learn_merges(const std::string& text, int num_merges) {
  auto pieces = make_regex_pretokenizer(kNanochatSplitPattern)->split(text);
  std::map<std::string, int64_t> counts;
  for (auto p : pieces) counts[std::string(p)]++;
  std::vector<std::pair<std::vector<TokenId>, int64_t>> words;
  for (auto& [w, c] : counts) {
    std::vector<TokenId> ids;
    for (unsigned char ch : w) ids.push_back(ch);
    words.emplace_back(ids, c);
  }
  std::vector<std::pair<TokenId, TokenId>> merges;
  for (int m = 0; m < num_merges; ++m) {
    std::map<std::pair<TokenId, TokenId>, int64_t> pc;
    for (auto& [ids, c] : words)
      for (size_t i = 0; i + 1 < ids.size(); ++i) pc[{ids[i], ids[i + 1]}] += c;
    if (pc.empty()) break;
    auto best = pc.begin();
    for (auto it = pc.begin(); it != pc.end(); ++it)
      if (it->second > best->second) best = it;
    const TokenId nid = 256 + static_cast<TokenId>(m);
    merges.push_back(best->first);
    for (auto& [ids, c] : words) {
      std::vector<TokenId> out;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i + 1 < ids.size() && ids[i] == best->first.first && ids[i + 1] == best->first.second) {
          out.push_back(nid);
          ++i;
        } else {
          out.push_back(ids[i]);
        }
      }
      ids = out;
    }
  }
  return merges;
}

const std::string kSample =
    "Hello world! This is a test. Numbers: 123, 4567, 89\nContractions: I'm, you're, it's\n"
    "Special chars: @#$%^&*()\nUnicode: 你好世界 🌍\nThe quick brown fox jumps over the lazy dog. "
    "the theory of the thing is that the other thing there then they the the the\n";

std::string random_unicode(std::mt19937& rng, size_t len) {
  static const char32_t pool[] = {U'a', U'b', U'e', U't', U'h', U' ', U' ', U'\n', U'\t', U'1', U'2', U'\'', U's',
                                  U'.', U',', U'!', 0xE9, 0x4F60, 0x597D, 0x1F30D, 0xA0, 0x3000, 0x301, 0xBD, U'{'};
  std::string s;
  for (size_t i = 0; i < len; ++i) utf8_append(s, pool[rng() % std::size(pool)]);
  return s;
}

Tokenizer sample_tokenizer(int merges = 200) { return Tokenizer::from_merges(learn_merges(kSample + kSample, merges)); }

}  // namespace

TEST(Base64, RoundTripAndRejects) {
  std::mt19937 rng(1);
  for (int n = 0; n < 40; ++n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>(rng() & 0xFF);
    auto e = base64_encode(s);
    ASSERT_EQ(base64_decode(e), s);
  }
  EXPECT_EQ(base64_encode("hi"), "aGk=");
  EXPECT_FALSE(base64_decode("aGk").has_value());
  EXPECT_FALSE(base64_decode("a=Gk").has_value());
  EXPECT_FALSE(base64_decode("aG!=").has_value());
}

TEST(BpeEncoder, MatchesTiktokenAlgorithmOnRandomVocabularies) {
  // Vocabularies that no trainer would make: random byte strings with random ranks. The encoder's pair
  // table must still give exactly tiktoken's result.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<std::string> tokens;
    std::map<std::string, TokenId> ranks;
    std::vector<int> order(256);
    for (int i = 0; i < 256; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (int b : order) tokens.emplace_back(1, static_cast<char>(b));
    const char alpha[] = "abcab ";
    for (int k = 0; k < 80; ++k) {
      std::string t;
      const int len = 2 + static_cast<int>(rng() % 5);
      for (int i = 0; i < len; ++i) t += alpha[rng() % 6];
      if (std::find(tokens.begin(), tokens.end(), t) == tokens.end()) tokens.push_back(t);
    }
    std::shuffle(tokens.begin() + 200, tokens.end(), rng);
    for (TokenId i = 0; i < tokens.size(); ++i) ranks[tokens[i]] = i;
    BpeEncoder enc(tokens);
    for (int s = 0; s < 200; ++s) {
      std::string piece;
      const int len = 1 + static_cast<int>(rng() % (s % 10 == 0 ? 150 : 12));  // some exercise the heap path
      for (int i = 0; i < len; ++i) piece += alpha[rng() % 6];
      std::vector<TokenId> got;
      enc.encode_piece(piece, got);
      ASSERT_EQ(got, naive_encode_piece(ranks, piece)) << "trial " << trial << " piece '" << piece << "'";
    }
  }
}

TEST(Tokenizer, LayoutAndSpecialTokens) {
  const auto merges = learn_merges(kSample, 50);
  Tokenizer tok = Tokenizer::from_merges(merges);
  EXPECT_EQ(tok.num_mergeable(), 256 + merges.size());
  EXPECT_EQ(tok.vocab_size(), 256 + merges.size() + 9);
  for (size_t i = 0; i < kSpecialTokens.size(); ++i) {
    EXPECT_EQ(tok.encode_special(kSpecialTokens[i]), 256 + merges.size() + i);
    EXPECT_EQ(tok.id_to_token(static_cast<TokenId>(256 + merges.size() + i)), kSpecialTokens[i]);
  }
  EXPECT_EQ(tok.bos_id(), 256 + merges.size());
  EXPECT_EQ(tok.encode_special("a"), static_cast<TokenId>('a'));  // ordinary vocabulary first
  EXPECT_THROW(tok.encode_special("<|nope|>"), Error);
  // Special-token text is ordinary text: it never encodes to the special id.
  const auto ids = tok.encode("<|bos|>");
  EXPECT_GT(ids.size(), 1u);
  for (auto id : ids) EXPECT_LT(id, tok.num_mergeable());
  EXPECT_EQ(tok.decode(ids), "<|bos|>");
  EXPECT_THROW(tok.decode(std::vector<TokenId>{static_cast<TokenId>(tok.vocab_size())}), Error);
}

TEST(Tokenizer, SanityTextRoundTripsAndCompresses) {
  Tokenizer tok = sample_tokenizer();
  const std::string text =
      "Hello world! This is a test.\nNumbers: 123, 4567, 89\nContractions: I'm, you're, it's\n"
      "Special chars: @#$%^&*()\nUnicode: 你好世界 🌍";
  const auto ids = tok.encode(text);
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_LT(ids.size(), text.size() / 2);  // merges were learned on this text: it must compress
}

TEST(Tokenizer, RoundTripRandomAndRealUnicode) {
  Tokenizer tok = sample_tokenizer();
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    const std::string s = random_unicode(rng, rng() % 60);
    ASSERT_EQ(tok.decode(tok.encode(s)), s);
  }
  NC_REQUIRE_SHARED(wiki, "data/wikitext2-raw/wiki.test.raw");
  const std::string text = read_file(wiki).substr(0, 200000);
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

TEST(Tokenizer, InvalidUtf8EncodesAsCPythonWouldDecodeIt) {
  Tokenizer tok = sample_tokenizer();
  EXPECT_EQ(tok.encode("ab\xFF\xFE cd"), tok.encode("ab\uFFFD\uFFFD cd"));
  EXPECT_EQ(tok.encode("x\xE4\xBD"), tok.encode("x\uFFFD"));
  // decode repairs byte-level tokens that split a character
  const TokenId e4 = 0xE4;
  EXPECT_EQ(tok.decode(std::vector<TokenId>{e4}), "\uFFFD");
  EXPECT_EQ(tok.decode_bytes(std::vector<TokenId>{e4}), "\xE4");
}

TEST(Tokenizer, EncodingIsPieceWiseNotConcatenative) {
  Tokenizer tok = sample_tokenizer();
  auto a = tok.encode("hello");
  auto b = tok.encode(" world");
  auto ab = tok.encode("hello world");
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(a, ab);  // piece boundary between them: same ids
  auto c = tok.encode("the");
  auto d = tok.encode("re");
  c.insert(c.end(), d.begin(), d.end());
  EXPECT_NE(c, tok.encode("there"));  // one piece when joined: different ids
}

TEST(Tokenizer, BatchPrependAppend) {
  Tokenizer tok = sample_tokenizer();
  std::vector<std::string> texts;
  std::mt19937 rng(5);
  for (int i = 0; i < 100; ++i) texts.push_back(random_unicode(rng, rng() % 80));
  for (int threads : {1, 2, 4}) {
    auto batch = tok.encode_batch(texts, threads, tok.bos_id());
    ASSERT_EQ(batch.size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      auto single = tok.encode(texts[i], tok.bos_id());
      ASSERT_EQ(batch[i], single);
      ASSERT_EQ(batch[i].front(), tok.bos_id());
    }
  }
  const auto end = tok.encode_special("<|assistant_end|>");
  auto ids = tok.encode("hi", std::nullopt, end);
  EXPECT_EQ(ids.back(), end);
}

TEST(Tokenizer, SaveLoadRoundTripAndTokenBytes) {
  test::TempDir dir;
  Tokenizer tok = sample_tokenizer();
  tok.save(dir.path());
  Tokenizer back = Tokenizer::load(dir.path());
  EXPECT_EQ(back.vocab_size(), tok.vocab_size());
  EXPECT_EQ(back.bos_id(), tok.bos_id());
  EXPECT_EQ(back.pattern(), std::string(kNanochatSplitPattern));
  EXPECT_EQ(back.tiktoken_text(), tok.tiktoken_text());
  EXPECT_EQ(back.encode(kSample), tok.encode(kSample));
  const auto lengths = read_npy_int32(dir.path() / "token_bytes.npy");
  ASSERT_EQ(lengths.size(), tok.vocab_size());
  for (TokenId id = 0; id < tok.vocab_size(); ++id) {
    ASSERT_EQ(lengths[id], tok.is_special(id) ? 0 : static_cast<int32_t>(tok.token_bytes(id).size()));
  }
  EXPECT_EQ(lengths[0xE4], 1);  // raw bytes, not the UTF-8 length of U+FFFD (the pre-2ce972a bug)
}

TEST(Tokenizer, LoadRejectsCorruptFilesNamingThem) {
  test::TempDir dir;
  Tokenizer tok = sample_tokenizer(20);
  tok.save(dir.path());
  const auto ranks = dir.path() / "tokenizer.tiktoken";
  const std::string good = read_file(ranks);
  auto expect_error = [&](const std::string& needle) {
    try {
      Tokenizer::load(dir.path());
      FAIL() << "expected an error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  write_file_atomic(ranks, good.substr(0, good.rfind('\n', good.size() - 2) + 1));  // drop the last merge
  expect_error("num_mergeable");
  write_file_atomic(ranks, good.substr(0, good.rfind('\n', good.size() / 3) + 1));
  expect_error("need at least the 256 bytes");
  write_file_atomic(ranks, good.substr(0, good.size() - 2));  // cut inside the last rank
  expect_error("out of order");
  write_file_atomic(ranks, "!!!! 0\n" + good);
  expect_error("tokenizer.tiktoken:1: invalid base64");
  std::string swapped = good;
  swapped.replace(swapped.find(" 1\n"), 3, " 7\n");
  write_file_atomic(ranks, swapped);
  expect_error("out of order");
  write_file_atomic(ranks, good);
  write_file_atomic(dir.path() / "tokenizer.json", "{\"format\": 3");
  expect_error("invalid JSON");
  write_file_atomic(dir.path() / "tokenizer.json", "{\"format\": \"other\"}");
  expect_error("format");
  test::TempDir empty;
  EXPECT_THROW(Tokenizer::load(empty.path()), Error);
}
