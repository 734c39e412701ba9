#include "nanochat/serve/chat_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "nanochat/core/utf8.h"

namespace nanochat::serve {

namespace {

using json = nlohmann::json;

[[noreturn]] void schema_error(const std::string& type, json loc, const std::string& msg, const json& input) {
  std::string where, param;
  for (const json& part : loc) where += (where.empty() ? "" : ".") + (part.is_string() ? part.get<std::string>() : part.dump());
  if (loc.size() > 1 && loc[1].is_string()) param = loc[1].get<std::string>();
  json entry = json::object();
  entry["type"] = type;
  entry["loc"] = std::move(loc);
  entry["msg"] = msg;
  entry["input"] = input;
  throw RequestError(422, fmt::format("{}: {}", where, msg), std::move(param), json::array({entry}));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// An integral double as int64, saturating (a huge value then fails the range check, as in Python).
int64_t saturate(double x) {
  if (x >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (x <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(x);
}

std::optional<double> lax_float(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  const json loc = json::array({"body", name});
  if (it->is_boolean()) return it->get<bool>() ? 1.0 : 0.0;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const std::string_view s = trim(it->get_ref<const std::string&>());
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
    schema_error("float_parsing", loc, "Input should be a valid number, unable to parse string as a number", *it);
  }
  schema_error("float_type", loc, "Input should be a valid number", *it);
}

std::optional<int64_t> lax_int(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  const json loc = json::array({"body", name});
  if (it->is_boolean()) return it->get<bool>() ? 1 : 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                          : static_cast<int64_t>(u);
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double x = it->get<double>();
    if (std::isfinite(x) && x == std::floor(x)) return saturate(x);
    schema_error("int_from_float", loc, "Input should be a valid integer, got a number with a fractional part", *it);
  }
  if (it->is_string()) {
    const std::string_view s = trim(it->get_ref<const std::string&>());
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
    if (ec == std::errc::result_out_of_range) return s.front() == '-' ? std::numeric_limits<int64_t>::min()
                                                                      : std::numeric_limits<int64_t>::max();
    schema_error("int_parsing", loc, "Input should be a valid integer, unable to parse string as an integer", *it);
  }
  schema_error("int_type", loc, "Input should be a valid integer", *it);
}

std::string string_field(const json& message, size_t index, const char* name) {
  const auto it = message.find(name);
  json loc = json::array({"body", "messages", index, name});
  if (it == message.end()) schema_error("missing", std::move(loc), "Field required", message);
  if (!it->is_string()) schema_error("string_type", std::move(loc), "Input should be a valid string", *it);
  return it->get<std::string>();
}

// Deepest nesting of arrays/objects in a JSON text (strings skipped); stops counting past `limit`.
size_t nesting_depth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size() && deepest <= limit; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

json parse_json_body(std::string_view body) {
  // Requests need 4 levels. A deeply nested body would cost a large DOM (and memory that the
  // allocator keeps) before being rejected: refuse it before parsing.
  constexpr size_t kMaxDepth = 32;
  if (nesting_depth(body, kMaxDepth) > kMaxDepth) {
    json entry = json::object();
    entry["type"] = "json_invalid";
    entry["loc"] = json::array({"body"});
    entry["msg"] = fmt::format("JSON nested deeper than {} levels", kMaxDepth);
    entry["input"] = json::object();
    throw RequestError(422, fmt::format("invalid JSON body: nested deeper than {} levels", kMaxDepth), "",
                       json::array({entry}));
  }
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    json entry = json::object();
    entry["type"] = "json_invalid";
    entry["loc"] = json::array({"body", e.byte > 0 ? e.byte - 1 : 0});
    entry["msg"] = "JSON decode error";
    entry["input"] = json::object();
    // The parser's message quotes the offending bytes, which need not be valid UTF-8.
    const std::string what = utf8_sanitize(e.what());
    entry["ctx"] = json{{"error", what}};
    throw RequestError(422, fmt::format("invalid JSON body: {}", what), "", json::array({entry}));
  }
}

ChatRequest parse_chat_request(const json& body) {
  if (!body.is_object())
    schema_error("model_attributes_type", json::array({"body"}),
                 "Input should be a valid dictionary or object to extract fields from", body);
  ChatRequest req;
  const auto messages = body.find("messages");
  if (messages == body.end()) schema_error("missing", json::array({"body", "messages"}), "Field required", body);
  if (!messages->is_array())
    schema_error("list_type", json::array({"body", "messages"}), "Input should be a valid list", *messages);
  req.messages.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    if (!m.is_object())
      schema_error("model_type", json::array({"body", "messages", i}),
                   "Input should be a valid dictionary or instance of ChatMessage", m);
    ChatMessage msg;
    msg.role = string_field(m, i, "role");
    msg.content = string_field(m, i, "content");
    req.messages.push_back(std::move(msg));
  }
  req.temperature = lax_float(body, "temperature");
  req.top_k = lax_int(body, "top_k");
  req.max_tokens = lax_int(body, "max_tokens");
  return req;
}

void validate_chat_request(const ChatRequest& req) {
  auto reject = [](const std::string& param, const std::string& message) { throw RequestError(400, message, param); };
  if (req.messages.empty()) reject("messages", "At least one message is required");
  if (req.messages.size() > kMaxMessages)
    reject("messages", fmt::format("Too many messages. Maximum {} messages allowed per request", kMaxMessages));
  size_t total = 0;
  for (size_t i = 0; i < req.messages.size(); ++i) {
    const std::string& content = req.messages[i].content;
    if (content.empty()) reject("messages", fmt::format("Message {} has empty content", i));
    const size_t chars = utf8_count_code_points(content);
    if (chars > kMaxMessageChars)
      reject("messages",
             fmt::format("Message {} is too long. Maximum {} characters allowed per message", i, kMaxMessageChars));
    total += chars;
  }
  if (total > kMaxTotalChars)
    reject("messages", fmt::format("Total conversation is too long. Maximum {} characters allowed", kMaxTotalChars));
  for (size_t i = 0; i < req.messages.size(); ++i) {
    const std::string& role = req.messages[i].role;
    if (role != "user" && role != "assistant")
      reject("messages", fmt::format("Message {} has invalid role. Must be 'user', 'assistant', or 'system'", i));
  }
  // Written so that NaN fails too.
  if (req.temperature && !(*req.temperature >= kMinTemperature && *req.temperature <= kMaxTemperature))
    reject("temperature", "Temperature must be between 0.0 and 2.0");
  if (req.top_k && !(*req.top_k >= kMinTopK && *req.top_k <= kMaxTopK))
    reject("top_k", fmt::format("top_k must be between {} and {}", kMinTopK, kMaxTopK));
  if (req.max_tokens && !(*req.max_tokens >= kMinMaxTokens && *req.max_tokens <= kMaxMaxTokens))
    reject("max_tokens", fmt::format("max_tokens must be between {} and {}", kMinMaxTokens, kMaxMaxTokens));
}

}  // namespace nanochat::serve
