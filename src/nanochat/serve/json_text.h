// JSON text exactly as the original server wrote its stream events: Python's json.dumps with
// ensure_ascii=False, i.e. non-ASCII characters raw, `"` and `\` escaped, control characters as
// \n \r \t \b \f or \u00XX (so a newline in the text never breaks the SSE framing), and ", " / ": "
// separators, e.g. {"token": "The", "gpu": 0}.
#pragma once
#include <string>
#include <string_view>

namespace nanochat::serve {

// A quoted JSON string of valid UTF-8 text.
std::string python_json_string(std::string_view utf8);
// One Server-Sent Events frame: "data: " + payload + "\n\n".
std::string sse_frame(std::string_view payload);
// The original's events.
std::string nanochat_token_event(std::string_view text, int worker_id);
std::string nanochat_done_event();

}  // namespace nanochat::serve
