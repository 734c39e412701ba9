// The per-row tool-use state machine of spec §4.5, separate from the model so it can be driven by
// scripted token streams. Every emitted token (sampled or forced) goes through feed(): a
// <|python_start|> ... <|python_end|> block is decoded and evaluated by the calculator, and a result
// queues <|output_start|> encode(result) <|output_end|> as forced tokens; <|assistant_end|> or <|bos|>
// completes the row.
#pragma once
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::engine {

class ToolStateMachine {
 public:
  using Tool = std::function<std::optional<std::string>(const std::string& expr)>;
  // The default tool is use_calculator.
  explicit ToolStateMachine(const Tokenizer& tokenizer, Tool tool = {});

  // The next token to emit: the front of the forced queue when there is one (consumed), else `sampled`.
  // Returns {token, was_sampled}.
  std::pair<TokenId, bool> choose(TokenId sampled);
  // Applies the state machine to an emitted token.
  void feed(TokenId token);

  bool completed() const { return completed_; }
  bool in_python_block() const { return in_python_; }
  const std::deque<TokenId>& forced() const { return forced_; }

 private:
  const Tokenizer& tok_;
  Tool tool_;
  TokenId python_start_, python_end_, output_start_, output_end_, assistant_end_, bos_;
  std::deque<TokenId> forced_;
  bool in_python_ = false;
  bool completed_ = false;
  std::vector<TokenId> expr_;
};

}  // namespace nanochat::engine
