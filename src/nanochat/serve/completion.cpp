#include "nanochat/serve/completion.h"

#include "nanochat/tokenizer/text_stream.h"

namespace nanochat::serve {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
  }
  return "unknown";
}

CompletionResult run_completion(const Generator& generator, const Tokenizer& tok, std::span<const TokenId> prompt,
                                const SamplingParams& params, const std::function<bool(const std::string&)>& on_text) {
  const TokenId assistant_end = tok.encode_special("<|assistant_end|>"), bos = tok.bos_id();
  CompletionResult result;
  TextStream stream;
  bool stopped = false, cancelled = false;
  generator.generate(prompt, params, [&](TokenId token) {
    ++result.completion_tokens;
    if (token == assistant_end || token == bos) {
      stopped = true;
      return false;
    }
    const std::string piece = stream.push(tok.token_bytes(token));
    if (!piece.empty() && !on_text(piece)) {
      cancelled = true;
      return false;
    }
    return true;
  });
  if (!cancelled) {
    const std::string tail = stream.flush();
    if (!tail.empty() && !on_text(tail)) cancelled = true;
  }
  result.text = stream.text();
  result.finish = cancelled ? FinishReason::cancelled : stopped ? FinishReason::stop : FinishReason::length;
  return result;
}

}  // namespace nanochat::serve
