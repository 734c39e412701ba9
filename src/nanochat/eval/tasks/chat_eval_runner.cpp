#include "nanochat/eval/tasks/chat_eval_runner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "nanochat/core/error.h"
#include "nanochat/core/process_group.h"
#include "nanochat/kernels/ops.h"
#include "nanochat/model/activations.h"
#include "nanochat/tokenizer/chat_format.h"

namespace nanochat::eval::tasks {

namespace {

// The single token of a letter; the original asserts exactly one.
TokenId letter_token(const Tokenizer& tok, const std::string& letter, std::map<std::string, TokenId>& cache) {
  if (auto it = cache.find(letter); it != cache.end()) return it->second;
  const auto ids = tok.encode(letter);
  NC_CHECK(ids.size() == 1, "chat eval: the answer letter '{}' encodes to {} tokens, expected exactly 1", letter,
           ids.size());
  return cache[letter] = ids[0];
}

int rank_of(const ProcessGroup* group) { return group != nullptr ? group->rank() : 0; }
int world_of(const ProcessGroup* group) { return group != nullptr ? group->world_size() : 1; }

// Every rank's tally summed (integers: exact, and the same on every rank).
ChatEvalTally sum_across_ranks(ChatEvalTally local, ProcessGroup* group) {
  if (group == nullptr || !group->distributed()) return local;
  std::vector<int64_t> v{local.passed, local.total};
  group->all_reduce_sum(v);
  return {v[0], v[1]};
}

}  // namespace

std::vector<std::string> predict_letters(const engine::Decoder& model, const Tokenizer& tok,
                                         std::span<const nlohmann::json> conversations) {
  std::vector<std::string> out;
  for (auto& p : pick_letters(model, tok, conversations)) out.push_back(std::move(p.letter));
  return out;
}

std::vector<LetterPick> pick_letters(const engine::Decoder& model, const Tokenizer& tok,
                                     std::span<const nlohmann::json> conversations) {
  if (conversations.empty()) return {};
  const auto& cfg = model.config();
  const auto B = static_cast<int64_t>(conversations.size());
  std::vector<std::vector<TokenId>> prompts;
  int64_t T = 0;
  for (const auto& conv : conversations) {
    prompts.push_back(render_for_completion(tok, conv));
    T = std::max(T, static_cast<int64_t>(prompts.back().size()));
  }
  NC_CHECK(T <= 10 * cfg.sequence_len, "chat eval: a prompt of {} tokens exceeds the model's rotary table ({})", T,
           10 * cfg.sequence_len);
  std::vector<int64_t> idx(static_cast<size_t>(B * T), static_cast<int64_t>(tok.bos_id()));
  for (int64_t r = 0; r < B; ++r) {
    const auto& p = prompts[static_cast<size_t>(r)];
    std::copy(p.begin(), p.end(), idx.begin() + r * T);
  }
  // The softcapped logits at each row's last prompt position (<|assistant_start|>).
  std::vector<engine::ScorePosition> positions;
  for (int64_t r = 0; r < B; ++r)
    positions.push_back({r, static_cast<int64_t>(prompts[static_cast<size_t>(r)].size()) - 1});
  const int64_t V = cfg.vocab_size;
  std::vector<float> logits(static_cast<size_t>(B * V));
  model.score(idx, B, T, positions, logits);

  std::map<std::string, TokenId> cache;
  std::vector<LetterPick> out;
  for (int64_t r = 0; r < B; ++r) {
    const auto& conv = conversations[static_cast<size_t>(r)];
    const float* z_row = logits.data() + r * V;
    const auto letters = conv.at("letters");
    NC_CHECK(letters.is_array() && !letters.empty(), "chat eval: conversation {} has no 'letters'", r);
    std::string best;
    float best_logit = 0, runner_up = -std::numeric_limits<float>::infinity();
    for (size_t k = 0; k < letters.size(); ++k) {
      const std::string letter = letters[k].get<std::string>();
      const TokenId id = letter_token(tok, letter, cache);
      NC_CHECK(static_cast<int64_t>(id) < cfg.vocab_size, "chat eval: letter id {} outside the model's vocabulary",
               id);
      const float capped = z_row[id];
      if (k == 0 || capped > best_logit) {  // first maximum on ties, as torch.argmax
        if (k > 0) runner_up = best_logit;
        best_logit = capped;
        best = letter;
      } else {
        runner_up = std::max(runner_up, capped);
      }
    }
    out.push_back({std::move(best), letters.size() > 1 ? best_logit - runner_up : 0.0f});
  }
  return out;
}

ChatEvalTally run_categorical_eval(const engine::Decoder& model, const Tokenizer& tok, const Task& task, int64_t n,
                                   int64_t batch_size, ProcessGroup* group, const ChatEvalRecord& record) {
  NC_CHECK(batch_size >= 1, "chat eval: batch size must be at least 1 (got {})", batch_size);
  NC_CHECK(n >= 0 && n <= task.size(), "chat eval: {} problems requested from {} ({} available)", n, task.name(),
           task.size());
  ChatEvalTally tally;
  const int64_t rank = rank_of(group), world = world_of(group);
  for (int64_t b0 = rank * batch_size; b0 < n; b0 += world * batch_size) {
    std::vector<nlohmann::json> convs;
    for (int64_t i = b0; i < std::min(n, b0 + batch_size); ++i) convs.push_back(task.at(i));
    const auto picks = pick_letters(model, tok, convs);
    for (size_t k = 0; k < convs.size(); ++k) {
      const bool correct = task.evaluate(convs[k], picks[k].letter);
      if (record) record(b0 + static_cast<int64_t>(k), picks[k].letter, correct, picks[k].margin);
      tally.passed += correct ? 1 : 0;
      ++tally.total;
    }
  }
  return sum_across_ranks(tally, group);
}

ChatEvalTally run_generative_eval(const engine::Engine& eng, const Task& task, int64_t n,
                                  const engine::GenerateOptions& options, const ChatEvalProgress& progress,
                                  ProcessGroup* group, const ChatEvalRecord& record) {
  NC_CHECK(n >= 0 && n <= task.size(), "chat eval: {} problems requested from {} ({} available)", n, task.name(),
           task.size());
  const Tokenizer& tok = eng.tokenizer();
  ChatEvalTally tally;
  for (int64_t i = rank_of(group); i < n; i += world_of(group)) {
    const nlohmann::json conv = task.at(i);
    const auto prompt = render_for_completion(tok, conv);
    const auto batch = eng.generate_batch(prompt, options);
    bool passed = false;
    for (const auto& row : batch.tokens) {
      const std::span<const TokenId> completion(row.data() + prompt.size(), row.size() - prompt.size());
      // Every sample is judged (HumanEval runs each), as the original's any() over a list.
      const std::string text = tok.decode(completion);
      const bool correct = task.evaluate(conv, text);
      if (record) record(i, text, correct, std::numeric_limits<float>::quiet_NaN());
      passed = passed || correct;
    }
    tally.passed += passed ? 1 : 0;
    ++tally.total;
    if (progress) progress(tally);
  }
  return sum_across_ranks(tally, group);
}

}  // namespace nanochat::eval::tasks
