// A hand-written scanner equivalent to nanochat's split pattern (no regex engine), built on compact
// Unicode class tables (unicode_classes.h, Unicode 15.0). Returns nullptr for any other pattern.
//
// Equivalence with the leftmost-first backtracking semantics of spec §1.2 is tested differentially
// against the PCRE2 reference (tests/tokenizer/test_fast_pretokenizer.cpp). Like every Pretokenizer,
// split() throws Error on invalid UTF-8; `out` is then left as it was before the call.
#pragma once
#include <memory>
#include <string_view>

#include "nanochat/tokenizer/pretokenizer.h"

namespace nanochat {

std::unique_ptr<Pretokenizer> make_fast_pretokenizer(std::string_view pattern);

}  // namespace nanochat
