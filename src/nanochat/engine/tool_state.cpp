#include "nanochat/engine/tool_state.h"

#include "nanochat/engine/calculator.h"

namespace nanochat::engine {

ToolStateMachine::ToolStateMachine(const Tokenizer& tokenizer, Tool tool)
    : tok_(tokenizer),
      tool_(tool ? std::move(tool) : Tool([](const std::string& e) { return use_calculator(e); })),
      python_start_(tokenizer.encode_special("<|python_start|>")),
      python_end_(tokenizer.encode_special("<|python_end|>")),
      output_start_(tokenizer.encode_special("<|output_start|>")),
      output_end_(tokenizer.encode_special("<|output_end|>")),
      assistant_end_(tokenizer.encode_special("<|assistant_end|>")),
      bos_(tokenizer.bos_id()) {}

std::pair<TokenId, bool> ToolStateMachine::choose(TokenId sampled) {
  if (forced_.empty()) return {sampled, true};
  const TokenId t = forced_.front();
  forced_.pop_front();
  return {t, false};
}

void ToolStateMachine::feed(TokenId token) {
  if (token == assistant_end_ || token == bos_) completed_ = true;
  if (token == python_start_) {
    in_python_ = true;
    expr_.clear();
  } else if (token == python_end_ && in_python_) {
    in_python_ = false;
    if (!expr_.empty()) {
      if (const auto result = tool_(tok_.decode(expr_))) {
        forced_.push_back(output_start_);
        for (const TokenId t : tok_.encode(*result)) forced_.push_back(t);
        forced_.push_back(output_end_);
      }
    }
    expr_.clear();
  } else if (in_python_) {
    expr_.push_back(token);
  }
}

}  // namespace nanochat::engine
