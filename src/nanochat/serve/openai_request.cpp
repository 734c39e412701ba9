#include "nanochat/serve/openai_request.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace nanochat::serve {

namespace {

using json = nlohmann::json;

[[noreturn]] void invalid(const std::string& param, const std::string& message) {
  throw RequestError(400, message, param);
}

bool present(const json& body, const char* name) {
  const auto it = body.find(name);
  return it != body.end() && !it->is_null();
}

std::optional<double> number(const json& body, const char* name) {
  if (!present(body, name)) return std::nullopt;
  const json& v = body.at(name);
  if (!v.is_number()) invalid(name, fmt::format("'{}' must be a number", name));
  return v.get<double>();
}

std::optional<int64_t> integer(const json& body, const char* name) {
  if (!present(body, name)) return std::nullopt;
  const json& v = body.at(name);
  if (v.is_number_unsigned())
    return std::min<uint64_t>(v.get<uint64_t>(), static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() == std::floor(v.get<double>()) &&
      std::fabs(v.get<double>()) < 9e18)
    return static_cast<int64_t>(v.get<double>());
  invalid(name, fmt::format("'{}' must be an integer", name));
}

bool boolean(const json& body, const char* name) {
  if (!present(body, name)) return false;
  if (!body.at(name).is_boolean()) invalid(name, fmt::format("'{}' must be a boolean", name));
  return body.at(name).get<bool>();
}

std::string content_text(const json& message, size_t i) {
  const auto it = message.find("content");
  if (it == message.end() || it->is_null())
    invalid("messages", fmt::format("Message {} has no content (tool calls are not supported)", i));
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) invalid("messages", fmt::format("Message {} content must be a string or a list of text parts", i));
  std::string text;
  for (const json& part : *it) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      invalid("messages", fmt::format("Message {} has a content part that is not {{\"type\": \"text\", \"text\": ...}}; "
                                      "only text is supported", i));
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

OpenAIChatRequest parse_openai_request(const json& body) {
  if (!body.is_object()) invalid("", "The request body must be a JSON object");
  OpenAIChatRequest out;
  if (present(body, "model") && !body["model"].is_string()) invalid("model", "'model' must be a string");
  if (!present(body, "messages")) invalid("messages", "'messages' is required");
  const json& messages = body["messages"];
  if (!messages.is_array()) invalid("messages", "'messages' must be a list");

  std::string system;  // leading system/developer text, merged into the first user message
  bool seen_turn = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      invalid("messages", fmt::format("Message {} must be an object with a string 'role'", i));
    const std::string role = m["role"].get<std::string>();
    std::string content = content_text(m, i);
    if (role == "system" || role == "developer") {
      if (seen_turn) invalid("messages", fmt::format("Message {}: a {} message is only supported at the start", i, role));
      system += (system.empty() ? "" : "\n\n") + content;
      continue;
    }
    if (role != "user" && role != "assistant")
      invalid("messages", fmt::format("Message {} has unsupported role '{}'. Must be 'system', 'user' or 'assistant'", i, role));
    if (!seen_turn && !system.empty()) {
      if (role != "user") invalid("messages", "A system message must be followed by a user message");
      content = system + "\n\n" + content;
    }
    seen_turn = true;
    out.chat.messages.push_back(ChatMessage{role, std::move(content)});
  }
  if (!seen_turn && !system.empty()) invalid("messages", "A system message must be followed by a user message");

  out.chat.temperature = number(body, "temperature");
  out.chat.top_k = integer(body, "top_k");
  out.chat.max_tokens = integer(body, "max_completion_tokens");
  if (!out.chat.max_tokens) out.chat.max_tokens = integer(body, "max_tokens");
  if (const auto top_p = number(body, "top_p"); top_p && !(*top_p >= 0 && *top_p <= 1))
    invalid("top_p", "top_p must be between 0 and 1");
  if (const auto n = integer(body, "n"); n && *n != 1) invalid("n", "n must be 1: one completion per request");
  if (const auto seed = integer(body, "seed")) {
    if (*seed < 0) invalid("seed", "seed must not be negative");
    out.seed = static_cast<uint64_t>(*seed);
  }
  out.stream = boolean(body, "stream");
  if (present(body, "stream_options")) {
    if (!body["stream_options"].is_object()) invalid("stream_options", "'stream_options' must be an object");
    out.include_usage = boolean(body["stream_options"], "include_usage");
  }
  if (present(body, "stop")) {
    const json& stop = body["stop"];
    const bool empty = (stop.is_string() && stop.get<std::string>().empty()) || (stop.is_array() && stop.empty());
    if (!empty) invalid("stop", "stop sequences are not supported");
  }
  if (present(body, "tools") && !(body["tools"].is_array() && body["tools"].empty()))
    invalid("tools", "tools are not supported");
  if (boolean(body, "logprobs")) invalid("logprobs", "logprobs are not supported");
  if (present(body, "response_format")) {
    const json& f = body["response_format"];
    if (!f.is_object() || f.value("type", "text") != "text")
      invalid("response_format", "only the 'text' response format is supported");
  }
  // The original's limits and range messages.
  validate_chat_request(out.chat);
  return out;
}

}  // namespace nanochat::serve
