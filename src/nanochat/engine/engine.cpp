#include "nanochat/engine/engine.h"

#include <algorithm>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/rng.h"
#include "nanochat/engine/sampler.h"
#include "nanochat/engine/tool_state.h"

namespace nanochat::engine {

namespace {

// Positions the model can address: its rotary tables cover 10x the training context, as the original.
int64_t max_positions(const model::GPTConfig& c) { return 10 * c.sequence_len; }

}  // namespace

Engine::Engine(const model::GPT<float>& model, const Tokenizer& tokenizer, ToolStateMachine::Tool tool)
    : Engine(std::shared_ptr<const Decoder>(make_cpu_decoder(model)), nullptr, tokenizer, std::move(tool)) {}

Engine::Engine(const Decoder& decoder, const Tokenizer& tokenizer, ToolStateMachine::Tool tool)
    : Engine(nullptr, &decoder, tokenizer, std::move(tool)) {}

Engine::Engine(std::shared_ptr<const Decoder> owned, const Decoder* decoder, const Tokenizer& tokenizer,
               ToolStateMachine::Tool tool)
    : owned_(std::move(owned)),
      decoder_(owned_ ? owned_.get() : decoder),
      tok_(tokenizer),
      tool_(std::move(tool)),
      assistant_end_(tokenizer.encode_special("<|assistant_end|>")),
      bos_(tokenizer.bos_id()) {
  NC_CHECK(static_cast<int64_t>(tokenizer.vocab_size()) <= decoder_->config().vocab_size,
           "tokenizer vocab size {} does not fit the model's vocab size {}", tokenizer.vocab_size(),
           decoder_->config().vocab_size);
}

void Engine::generate(std::span<const TokenId> prompt, const GenerateOptions& opt, const StepCallback& on_step) const {
  const auto& c = decoder_->config();
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
  const std::unique_ptr<DecodeSession> session = decoder_->start(B, total);
  session->prefill(ids);

  Philox rng(opt.seed);
  std::vector<ToolStateMachine> rows;
  rows.reserve(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) rows.emplace_back(tok_, tool_);
  std::vector<TokenId> column(static_cast<size_t>(B));
  std::vector<uint8_t> sampled(static_cast<size_t>(B));
  std::vector<int64_t> column64(static_cast<size_t>(B));
  // Only tokens the tokenizer knows can be sampled (the model's vocabulary may be padded beyond it).
  const int64_t sample_vocab = static_cast<int64_t>(tok_.vocab_size());
  std::vector<int64_t> drawn(static_cast<size_t>(B));
  for (int64_t n = 0;; ++n) {
    if (opt.max_tokens && n >= *opt.max_tokens) break;
    if (std::all_of(rows.begin(), rows.end(), [](const ToolStateMachine& r) { return r.completed(); })) break;
    // Every row samples, completed ones too (their tokens are ignored by consumers), so the
    // generator's draws do not depend on which rows are still running. Greedy rows draw nothing from
    // the generator, so a backend may find the argmax itself.
    if (opt.temperature != 0 || !session->argmax(sample_vocab, drawn)) {
      const std::span<const float> current = session->logits();
      for (int64_t b = 0; b < B; ++b)
        drawn[static_cast<size_t>(b)] = sample_token(current.subspan(static_cast<size_t>(b * V), static_cast<size_t>(sample_vocab)),
                                                     opt.temperature, opt.top_k, rng);
    }
    for (int64_t b = 0; b < B; ++b) {
      auto& row = rows[static_cast<size_t>(b)];
      const auto [token, is_sampled] = row.choose(static_cast<TokenId>(drawn[static_cast<size_t>(b)]));
      row.feed(token);
      column[static_cast<size_t>(b)] = token;
      column64[static_cast<size_t>(b)] = token;
      sampled[static_cast<size_t>(b)] = is_sampled ? 1 : 0;
    }
    if (!on_step(column, sampled)) return;
    if (session->pos() >= session->max_len()) break;  // the context is full
    session->decode(column64);
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
