// Standard base64 (RFC 4648, with padding), as used by the .tiktoken ranks format.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace nanochat {

std::string base64_encode(std::string_view bytes);
// nullopt on any character outside the alphabet, bad padding or bad length.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace nanochat
