// A hand-written scanner equivalent to nanochat's split pattern (no regex engine), built on compact
// Unicode class tables. Returns nullptr for any other pattern.
#pragma once
#include <memory>
#include <string_view>

#include "nanochat/tokenizer/pretokenizer.h"

namespace nanochat {

std::unique_ptr<Pretokenizer> make_fast_pretokenizer(std::string_view pattern);

}  // namespace nanochat
