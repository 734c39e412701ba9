// One chat completion on one worker: generate until <|assistant_end|> or <|bos|> (neither is sent),
// max_tokens, or the client going away, releasing text through the UTF-8 hold-back (text_stream.h).
// Tool tokens (<|python_start|> ...) pass through as their literal text, as in the original.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "nanochat/serve/generator.h"

namespace nanochat::serve {

enum class FinishReason { stop, length, cancelled };
const char* finish_reason_name(FinishReason reason);  // "stop", "length", "cancelled"

struct CompletionResult {
  std::string text;               // everything sent
  int64_t completion_tokens = 0;  // tokens generated, the terminator included
  FinishReason finish = FinishReason::length;
};

// on_text gets each ready piece of text (never empty) and returns false when it could not be
// delivered; generation then stops at once. The held-back tail is flushed (as U+FFFD) at the end.
CompletionResult run_completion(const Generator& generator, const Tokenizer& tok, std::span<const TokenId> prompt,
                                const SamplingParams& params, const std::function<bool(const std::string&)>& on_text);

}  // namespace nanochat::serve
