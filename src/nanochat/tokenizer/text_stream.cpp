#include "nanochat/tokenizer/text_stream.h"

#include "nanochat/core/utf8.h"

namespace nanochat {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}

std::string TextStream::push(std::string_view token_bytes) {
  pending_.append(token_bytes);
  std::string decoded = utf8_sanitize(pending_);
  // Holding back on any trailing U+FFFD (even a genuine one) is the original's observable rule.
  if (decoded.empty() || decoded.ends_with(kReplacement)) return {};
  pending_.clear();
  released_ += decoded;
  return decoded;
}

std::string TextStream::flush() {
  if (pending_.empty()) return {};
  std::string decoded = utf8_sanitize(pending_);
  pending_.clear();
  released_ += decoded;
  return decoded;
}

}  // namespace nanochat
