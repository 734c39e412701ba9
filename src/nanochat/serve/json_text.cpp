#include "nanochat/serve/json_text.h"

#include <fmt/format.h>

namespace nanochat::serve {

std::string python_json_string(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() + 2);
  out.push_back('"');
  for (const char ch : utf8) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string sse_frame(std::string_view payload) { return fmt::format("data: {}\n\n", payload); }

std::string nanochat_token_event(std::string_view text, int worker_id) {
  return sse_frame(fmt::format("{{\"token\": {}, \"gpu\": {}}}", python_json_string(text), worker_id));
}

std::string nanochat_done_event() { return sse_frame("{\"done\": true}"); }

}  // namespace nanochat::serve
