#include "nanochat/engine/engine.h"

#include <algorithm>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/rng.h"
#include "nanochat/engine/sampler.h"
#include "nanochat/engine/tool_state.h"
#include "nanochat/model/kv_cache.h"

namespace nanochat::engine {

namespace {

// Copies the first `one.pos()` positions of a batch-1 cache into every row of `many` (spec §4.1 prefill).
void broadcast_cache(model::KVCache<float>& one, model::KVCache<float>& many, const model::GPTConfig& c) {
  NC_CHECK(many.pos() == 0 && one.batch() == 1 && many.max_len() >= one.pos(), "invalid cache broadcast");
  const int64_t row = c.n_kv_head * c.head_dim();
  for (int64_t layer = 0; layer < c.n_layer; ++layer) {
    for (float* (model::KVCache<float>::*get)(int64_t) : {&model::KVCache<float>::keys, &model::KVCache<float>::values}) {
      const float* src = (one.*get)(layer);
      float* dst = (many.*get)(layer);
      for (int64_t b = 0; b < many.batch(); ++b) {
        std::memcpy(dst + b * many.max_len() * row, src, static_cast<size_t>(one.pos() * row) * sizeof(float));
      }
    }
  }
  if (one.has_prev_embedding()) {
    for (int64_t b = 0; b < many.batch(); ++b) {
      std::memcpy(many.prev_embedding() + b * c.n_embd, one.prev_embedding(), static_cast<size_t>(c.n_embd) * sizeof(float));
    }
    many.set_has_prev_embedding();
  }
  many.advance(one.pos());
}

// Positions the model can address: its rotary tables cover 10x the training context, as the original.
int64_t max_positions(const model::GPTConfig& c) { return 10 * c.sequence_len; }

}  // namespace

Engine::Engine(const model::GPT<float>& model, const Tokenizer& tokenizer, ToolStateMachine::Tool tool)
    : model_(model),
      tok_(tokenizer),
      tool_(std::move(tool)),
      assistant_end_(tokenizer.encode_special("<|assistant_end|>")),
      bos_(tokenizer.bos_id()) {
  NC_CHECK(static_cast<int64_t>(tokenizer.vocab_size()) <= model.config().vocab_size,
           "tokenizer vocab size {} does not fit the model's vocab size {}", tokenizer.vocab_size(),
           model.config().vocab_size);
}

void Engine::generate(std::span<const TokenId> prompt, const GenerateOptions& opt, const StepCallback& on_step) const {
  const auto& c = model_.config();
  NC_CHECK(!prompt.empty(), "generate: the prompt is empty");
  NC_CHECK(opt.num_samples >= 1, "generate: num_samples must be at least 1, got {}", opt.num_samples);
  NC_CHECK(!opt.max_tokens || *opt.max_tokens >= 0, "generate: max_tokens must not be negative");
  NC_CHECK(opt.temperature >= 0, "generate: temperature must be >= 0, got {}", opt.temperature);
  const int64_t P = static_cast<int64_t>(prompt.size());
  const int64_t total = opt.max_tokens ? P + *opt.max_tokens : c.sequence_len;
  NC_CHECK(P <= total && total <= max_positions(c), "generate: prompt of {} tokens{} does not fit the model's context ({})",
           P, opt.max_tokens ? fmt::format(" plus {} new tokens", *opt.max_tokens) : std::string(),
           opt.max_tokens ? max_positions(c) : c.sequence_len);
  const int64_t V = c.vocab_size;
  const int64_t B = opt.num_samples;

  // Prefill once with batch 1, then give every row a copy of the cache and of the last logits.
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  model::KVCache<float> prefill(c, 1, P);
  std::vector<float> logits(static_cast<size_t>(P * V));
  model_.forward_cached(prefill, ids.data(), P, logits.data());
  std::vector<float> current(static_cast<size_t>(B * V));
  for (int64_t b = 0; b < B; ++b) std::copy_n(logits.end() - V, V, current.begin() + b * V);
  model::KVCache<float> cache(c, B, total);
  broadcast_cache(prefill, cache, c);
  logits.clear();
  logits.shrink_to_fit();

  Philox rng(opt.seed);
  std::vector<ToolStateMachine> rows;
  rows.reserve(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) rows.emplace_back(tok_, tool_);
  std::vector<TokenId> column(static_cast<size_t>(B));
  std::vector<uint8_t> sampled(static_cast<size_t>(B));
  std::vector<int64_t> column64(static_cast<size_t>(B));
  // Only tokens the tokenizer knows can be sampled (the model's vocabulary may be padded beyond it).
  const int64_t sample_vocab = static_cast<int64_t>(tok_.vocab_size());
  for (int64_t n = 0;; ++n) {
    if (opt.max_tokens && n >= *opt.max_tokens) break;
    if (std::all_of(rows.begin(), rows.end(), [](const ToolStateMachine& r) { return r.completed(); })) break;
    for (int64_t b = 0; b < B; ++b) {
      // Every row samples, completed ones too (their tokens are ignored by consumers), so the
      // generator's draws do not depend on which rows are still running.
      const int64_t drawn = sample_token(std::span<const float>(current.data() + b * V, static_cast<size_t>(sample_vocab)),
                                         opt.temperature, opt.top_k, rng);
      auto& row = rows[static_cast<size_t>(b)];
      const auto [token, is_sampled] = row.choose(static_cast<TokenId>(drawn));
      row.feed(token);
      column[static_cast<size_t>(b)] = token;
      column64[static_cast<size_t>(b)] = token;
      sampled[static_cast<size_t>(b)] = is_sampled ? 1 : 0;
    }
    if (!on_step(column, sampled)) return;
    if (cache.pos() >= cache.max_len()) break;  // the context is full
    model_.forward_cached(cache, column64.data(), 1, current.data());
  }
}

Engine::Batch Engine::generate_batch(std::span<const TokenId> prompt, const GenerateOptions& options) const {
  const size_t B = static_cast<size_t>(std::max<int64_t>(1, options.num_samples));
  Batch out;
  out.tokens.assign(B, std::vector<TokenId>(prompt.begin(), prompt.end()));
  out.masks.assign(B, std::vector<uint8_t>(prompt.size(), 0));
  std::vector<bool> done(B, false);
  generate(prompt, options, [&](std::span<const TokenId> tokens, std::span<const uint8_t> sampled) {
    for (size_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      if (tokens[b] == assistant_end_ || tokens[b] == bos_) {
        done[b] = true;
        continue;
      }
      out.tokens[b].push_back(tokens[b]);
      out.masks[b].push_back(sampled[b]);
    }
    return !std::all_of(done.begin(), done.end(), [](bool d) { return d; });
  });
  return out;
}

std::vector<TokenId> generate_naive(model::GPT<float>& model, std::span<const TokenId> prompt, int64_t max_tokens,
                                    double temperature, int64_t top_k, uint64_t seed, int64_t sample_vocab) {
  const auto& c = model.config();
  if (sample_vocab <= 0) sample_vocab = c.vocab_size;
  std::vector<int64_t> seq(prompt.begin(), prompt.end());
  NC_CHECK(!seq.empty(), "generate_naive: the prompt is empty");
  Philox rng(seed);
  std::vector<TokenId> out;
  for (int64_t n = 0; n < max_tokens; ++n) {
    const int64_t T = static_cast<int64_t>(seq.size());
    NC_CHECK(T <= c.sequence_len, "generate_naive: {} tokens exceed the context of {}", T, c.sequence_len);
    // The training-mode forward over the whole sequence: independent of the KV-cache code path.
    model::Activations<float> acts(c, 1, T);
    model.forward(acts, seq.data(), nullptr);
    std::vector<float> logits(static_cast<size_t>(T * c.vocab_size));
    model.logits(acts, logits.data());
    const int64_t next =
        sample_token(std::span<const float>(logits.data() + (T - 1) * c.vocab_size, static_cast<size_t>(sample_vocab)),
                     temperature, top_k, rng);
    out.push_back(static_cast<TokenId>(next));
    seq.push_back(next);
  }
  return out;
}

}  // namespace nanochat::engine
