// Chat requests: the original's POST /chat/completions body (spec serving §1.7.1) with its schema
// errors (HTTP 422, a pydantic-style {"detail": [...]} list) and its validation rules (§1.7.2, HTTP 400,
// exact messages, checked in the original's order, first failure wins).
#pragma once
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/core/error.h"

namespace nanochat::serve {

// The original's limits (lengths in code points).
inline constexpr size_t kMaxMessages = 500;
inline constexpr size_t kMaxMessageChars = 8000;
inline constexpr size_t kMaxTotalChars = 32000;
inline constexpr double kMinTemperature = 0.0, kMaxTemperature = 2.0;
inline constexpr int64_t kMinTopK = 0, kMaxTopK = 200;
inline constexpr int64_t kMinMaxTokens = 1, kMaxMaxTokens = 4096;

struct ChatMessage {
  std::string role;
  std::string content;
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  std::optional<double> temperature;  // none: the server's default
  std::optional<int64_t> top_k;
  std::optional<int64_t> max_tokens;
};

// A request the server refuses. status: 400 (validation), 413, 422 (schema), 503 ...; param names the
// offending field for the OpenAI error shape; detail, when not null, replaces the message as the
// original's "detail" value (the 422 list).
class RequestError : public Error {
 public:
  RequestError(int status, const std::string& message, std::string param = {}, nlohmann::json detail = nullptr,
               std::string code = {})
      : Error(message), status_(status), param_(std::move(param)), detail_(std::move(detail)), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const nlohmann::json& detail() const { return detail_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string param_;
  nlohmann::json detail_;
  std::string code_;
};

// Parses a JSON body; invalid JSON -> 422 json_invalid.
nlohmann::json parse_json_body(std::string_view body);
// The original's schema with pydantic's lax coercions ("0.5" -> 0.5, 2.0 -> 2 for integers); unknown
// fields are ignored. Throws RequestError(422) naming the field.
ChatRequest parse_chat_request(const nlohmann::json& body);
// §1.7.2, in order. Throws RequestError(400) with the original's message.
void validate_chat_request(const ChatRequest& request);

}  // namespace nanochat::serve
