// The Python program the sandbox runs with `python -c`: the original's reliability guard (spec §5,
// step 2), then the untrusted code compiled as '<llm>' and executed in fresh globals
// {'__name__': '__main__'}. The code itself never passes through string escaping: the program reads it
// from an inherited file descriptor, so quotes, backslashes and braces reach compile() unchanged.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace nanochat::eval {

// `code_fd` is the descriptor the child finds the UTF-8 source on (read to EOF, then closed).
std::string build_guard_program(std::optional<int64_t> memory_bytes, int code_fd);

}  // namespace nanochat::eval
