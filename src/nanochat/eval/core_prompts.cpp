#include "nanochat/eval/core_prompts.h"

#include <algorithm>

#include "nanochat/core/error.h"

namespace nanochat::eval {

std::vector<std::string> render_prompts(const CoreTaskConfig& task, const CoreExample& item,
                                        std::span<const CoreExample* const> fewshot) {
  const std::string& d = task.continuation_delimiter;
  std::string shots;
  std::vector<std::string> out;
  switch (task.type) {
    case CoreTaskType::kMultipleChoice:
      for (const CoreExample* e : fewshot) shots += e->query + d + e->choices.at(static_cast<size_t>(e->gold)) + "\n\n";
      for (const auto& c : item.choices) out.push_back(shots + item.query + d + c);
      break;
    case CoreTaskType::kSchema:
      for (const CoreExample* e : fewshot)
        shots += e->context_options.at(static_cast<size_t>(e->gold)) + d + e->continuation + "\n\n";
      for (const auto& o : item.context_options) out.push_back(shots + o + d + item.continuation);
      break;
    case CoreTaskType::kLanguageModeling: {
      for (const CoreExample* e : fewshot) shots += python_strip(e->context) + d + e->continuation + "\n\n";
      const std::string p = shots + python_strip(item.context) + d;
      out.push_back(python_strip(p));
      out.push_back(p + item.continuation);
      break;
    }
  }
  return out;
}

ScoredSequences tokenize_prompts(CoreTaskType type, std::span<const std::string> prompts, const Tokenizer& tokenizer) {
  NC_CHECK(!prompts.empty(), "CORE: an item rendered no prompts");
  ScoredSequences s;
  s.tokens = tokenizer.encode_batch(prompts, 1, tokenizer.bos_id());
  const size_t n = s.tokens.size();
  switch (type) {
    case CoreTaskType::kMultipleChoice: {
      size_t shortest = s.tokens[0].size();
      for (const auto& t : s.tokens) shortest = std::min(shortest, t.size());
      size_t prefix = 0;
      while (prefix < shortest &&
             std::all_of(s.tokens.begin(), s.tokens.end(), [&](const auto& t) { return t[prefix] == s.tokens[0][prefix]; }))
        ++prefix;
      for (const auto& t : s.tokens) {
        s.start.push_back(static_cast<int64_t>(prefix));
        s.end.push_back(static_cast<int64_t>(t.size()));
      }
      break;
    }
    case CoreTaskType::kSchema: {
      size_t shortest = s.tokens[0].size();
      for (const auto& t : s.tokens) shortest = std::min(shortest, t.size());
      size_t suffix = 0;
      auto at_back = [](const std::vector<TokenId>& t, size_t k) { return t[t.size() - 1 - k]; };
      while (suffix < shortest && std::all_of(s.tokens.begin(), s.tokens.end(), [&](const auto& t) {
               return at_back(t, suffix) == at_back(s.tokens[0], suffix);
             }))
        ++suffix;
      for (const auto& t : s.tokens) {
        s.end.push_back(static_cast<int64_t>(t.size()));
        s.start.push_back(static_cast<int64_t>(t.size() - suffix));
      }
      break;
    }
    case CoreTaskType::kLanguageModeling: {
      NC_CHECK(n == 2, "CORE language_modeling: expected 2 prompts, got {}", n);
      const auto& a = s.tokens[0];
      auto b = s.tokens[1];
      NC_CHECK(a.size() < b.size(),
               "CORE language_modeling: the prompt without the continuation ({} tokens) is not shorter than the one "
               "with it ({} tokens)",
               a.size(), b.size());
      NC_CHECK(std::equal(a.begin(), a.end(), b.begin()),
               "CORE language_modeling: the prompt without the continuation does not tokenize to a prefix of the "
               "one with it");
      const auto without_len = static_cast<int64_t>(a.size());
      s.tokens = {std::move(b)};
      s.start = {without_len};
      s.end = {static_cast<int64_t>(s.tokens[0].size())};
      break;
    }
  }
  return s;
}

void truncate_sequences(ScoredSequences& seqs, int64_t max_seq_len) {
  NC_CHECK(max_seq_len > 0, "truncate_sequences: max_seq_len must be positive, got {}", max_seq_len);
  for (size_t i = 0; i < seqs.tokens.size(); ++i) {
    auto& t = seqs.tokens[i];
    const auto len = static_cast<int64_t>(t.size());
    if (len <= max_seq_len) continue;
    const int64_t drop = len - max_seq_len;
    t.erase(t.begin(), t.begin() + drop);
    seqs.start[i] -= drop;
    seqs.end[i] -= drop;
    NC_CHECK(seqs.start[i] >= 0 && seqs.end[i] >= 0,
             "CORE truncation: the scored span of sequence {} starts before the kept {} tokens", i, max_seq_len);
  }
}

}  // namespace nanochat::eval
