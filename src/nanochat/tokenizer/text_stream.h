// Incremental detokenization for streaming output (spec serving §1.7.7; chat-web and chat-cli). Tokens are byte-level BPE pieces, so
// a character can span several tokens: text is released only when the bytes seen so far decode (with
// U+FFFD replacement) to something that does not end in U+FFFD. A character split across tokens is
// therefore sent once, whole; an invalid sequence in the middle is sent as U+FFFD once later text
// decodes cleanly. Decoding restarts after each release, which gives the same text as decoding
// everything from the start (a release always ends on a complete character).
#pragma once
#include <string>
#include <string_view>

namespace nanochat {

class TextStream {
 public:
  // Adds one token's bytes; returns the text that became ready (often empty).
  std::string push(std::string_view token_bytes);
  // The held-back tail decoded with replacement (the spec's recommended flush before the end of a
  // stream; the original dropped it). Empty when nothing is held back.
  std::string flush();
  const std::string& text() const { return released_; }  // everything released so far
  bool holding() const { return !pending_.empty(); }

 private:
  std::string pending_;   // raw bytes since the last release
  std::string released_;
};

}  // namespace nanochat
