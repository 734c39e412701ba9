// The pre-tokenization split patterns. nanochat's own (\p{N}{1,2}) is the one every trained tokenizer
// uses; GPT-2's and GPT-4's are here so tok-eval can load those vocabularies.
#pragma once
#include <string_view>

namespace nanochat {

inline constexpr std::string_view kNanochatSplitPattern =
    R"re('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re";

inline constexpr std::string_view kGpt4SplitPattern =
    R"re('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s)re";

inline constexpr std::string_view kGpt2SplitPattern =
    R"re('(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s)re";

}  // namespace nanochat
