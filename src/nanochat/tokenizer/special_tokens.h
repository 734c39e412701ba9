// nanochat's nine special tokens, in id order (spec §1.4): they follow the mergeable tokens, so with
// the default vocab of 32768 <|bos|> is 32759. They are inserted only by id, never by encoding text.
#pragma once
#include <array>
#include <string_view>

namespace nanochat {

inline constexpr std::array<std::string_view, 9> kSpecialTokens = {
    "<|bos|>",          "<|user_start|>",   "<|user_end|>",    "<|assistant_start|>", "<|assistant_end|>",
    "<|python_start|>", "<|python_end|>",   "<|output_start|>", "<|output_end|>",
};
inline constexpr std::string_view kBosToken = "<|bos|>";

}  // namespace nanochat
