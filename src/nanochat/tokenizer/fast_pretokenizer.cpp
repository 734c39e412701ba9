#include "nanochat/tokenizer/fast_pretokenizer.h"

namespace nanochat {

// Not yet implemented: every pattern falls back to the PCRE2 reference.
std::unique_ptr<Pretokenizer> make_fast_pretokenizer(std::string_view) { return nullptr; }

}  // namespace nanochat
