#include "nanochat/engine/calculator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "nanochat/engine/bigint.h"
#include "nanochat/engine/python_float.h"

namespace nanochat::engine {
namespace {

// ---------------------------------------------------------------------------------------------
// Limits of CPython 3.11 that decide between a value and None (see calculator.h).
constexpr int kMaxParenNesting = 200;       // tokenizer MAXLEVEL
// CPython's compiler refuses expression trees deeper than 3000 - 3 * (Python frames active at the
// eval() call), counting the module frame. Under chat_eval the original runs 8 frames deep (script,
// run_chat_eval, run_generative_eval, generate_batch, torch.inference_mode's generator wrapper,
// generate, use_calculator, eval_with_timeout): 2976 nodes. (chat_cli is 3 frames shallower.)
constexpr int kOriginalCallerFrames = 8;
constexpr int kMaxAstDepth = 3000 - 3 * kOriginalCallerFrames;
constexpr int kMaxParserLevel = 5975;       // PEG parser stack (MAXSTACK 6000 minus the base)
constexpr int kGroupParenLevels = 28;
constexpr int kCallParenLevels = 24;
constexpr int kStringLeafLevels = 2;
constexpr std::size_t kMaxIntLiteralDigits = 4300;  // sys.int_info.default_max_str_digits
constexpr std::size_t kMaxIntBits = 332193;         // ~10**100000: our stand-in for the timeout

// Any reason the original would return None (or that we do not support): unwinds to the top.
struct Unevaluable {};
[[noreturn]] void fail() { throw Unevaluable{}; }

// ---------------------------------------------------------------------------------------------
// Tokens of the Python subset reachable through the character filters.
enum class TokenKind { kInt, kFloat, kString, kBytes, kName, kOp, kEnd };

struct Token {
  TokenKind kind;
  std::string text;  // literal digits, string contents, name, or operator spelling
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// String prefixes that leave a literal without backslashes or braces unchanged.
std::string ascii_lower(std::string text) {
  for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return text;
}
std::string ascii_upper(std::string text) {
  for (auto& ch : text) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return text;
}
bool is_plain_string_prefix(const std::string& name) {
  const std::string p = ascii_lower(name);
  return p == "r" || p == "u" || p == "f" || p == "fr" || p == "rf";
}
bool is_bytes_prefix(const std::string& name) {
  const std::string p = ascii_lower(name);
  return p == "b" || p == "br" || p == "rb";
}

std::vector<Token> tokenize(std::string_view src) {
  std::vector<Token> tokens;
  int paren_depth = 0;
  std::size_t i = 0;
  const std::size_t n = src.size();
  bool bytes_prefix = false;  // the next string literal is a bytes literal
  auto at = [&](std::size_t k) { return k < n ? src[k] : '\0'; };
  while (i < n) {
    const char c = src[i];
    if (c == ' ') {
      ++i;
      continue;
    }
    if (is_digit(c) || (c == '.' && is_digit(at(i + 1)))) {
      const std::size_t start = i;
      while (is_digit(at(i))) ++i;
      bool is_float = false;
      if (at(i) == '.') {
        is_float = true;
        ++i;
        while (is_digit(at(i))) ++i;
      }
      // Exponents, radix prefixes, underscores and imaginary suffixes: unsupported (string path).
      if (is_name_char(at(i))) fail();
      std::string text(src.substr(start, i - start));
      if (!is_float && text.size() > 1 && text[0] == '0' &&
          text.find_first_not_of('0') != std::string::npos) {
        fail();  // "leading zeros in decimal integer literals are not permitted"
      }
      tokens.push_back({is_float ? TokenKind::kFloat : TokenKind::kInt, std::move(text)});
      continue;
    }
    if (is_name_start(c)) {
      const std::size_t start = i;
      while (is_name_char(at(i))) ++i;
      std::string name(src.substr(start, i - start));
      if (at(i) == '\'' || at(i) == '"') {
        bytes_prefix = is_bytes_prefix(name);
        if (!bytes_prefix && !is_plain_string_prefix(name)) fail();  // a name before a string: syntax error
        continue;  // the literal itself is read next
      }
      tokens.push_back({TokenKind::kName, std::move(name)});
      continue;
    }
    if (c == '\'' || c == '"') {
      const bool triple = at(i + 1) == c && at(i + 2) == c;
      const std::size_t quote_len = triple ? 3 : 1;
      const std::string closing(quote_len, c);
      const std::size_t close = src.find(closing, i + quote_len);
      if (close == std::string_view::npos) fail();  // unterminated string literal
      tokens.push_back({bytes_prefix ? TokenKind::kBytes : TokenKind::kString,
                        std::string(src.substr(i + quote_len, close - i - quote_len))});
      bytes_prefix = false;
      i = close + quote_len;
      continue;
    }
    std::string op;
    if (c == '.' && at(i + 1) == '.' && at(i + 2) == '.') {
      op = "...";
    } else if ((c == '*' || c == '/') && at(i + 1) == c) {
      op = std::string(2, c);
    } else if (c == '.' || c == '*' || c == '/' || c == '+' || c == '-' || c == '(' || c == ')') {
      op = std::string(1, c);
    } else {
      fail();
    }
    if (op == "(" && ++paren_depth > kMaxParenNesting) fail();
    if (op == ")" && --paren_depth < 0) fail();
    i += op.size();
    tokens.push_back({TokenKind::kOp, std::move(op)});
  }
  tokens.push_back({TokenKind::kEnd, ""});
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Runtime values.
struct EmptyTuple {};
struct EllipsisValue {};
struct KeywordConstant {  // True, False, None
  std::string name;
};
struct Bytes {
  std::string data;
};
struct Value;
struct BoundMethod {
  std::shared_ptr<const Value> self;
  std::string name;
};
struct Value {
  std::variant<BigInt, double, std::string, Bytes, EmptyTuple, EllipsisValue, KeywordConstant, BoundMethod> v;
};

bool is_number(const Value& x) { return std::holds_alternative<BigInt>(x.v) || std::holds_alternative<double>(x.v); }

double to_float(const Value& x) {
  if (const auto* f = std::get_if<double>(&x.v)) return *f;
  auto converted = std::get<BigInt>(x.v).to_double();
  if (!converted) fail();  // OverflowError: int too large to convert to float
  return *converted;
}

Value checked_int(BigInt x) {
  if (x.bit_length() > kMaxIntBits) fail();
  return Value{std::move(x)};
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (is_number(a) && is_number(b)) {
    const auto* ai = std::get_if<BigInt>(&a.v);
    const auto* bi = std::get_if<BigInt>(&b.v);
    if (ai != nullptr && bi != nullptr) {
      if (op == "+") return checked_int(*ai + *bi);
      if (op == "-") return checked_int(*ai - *bi);
      if (op == "*") {
        if (!ai->is_zero() && !bi->is_zero() && ai->bit_length() + bi->bit_length() - 1 > kMaxIntBits) fail();
        return checked_int(*ai * *bi);
      }
      if (bi->is_zero()) fail();  // ZeroDivisionError
      if (op == "//") return checked_int(BigInt::floor_divide(*ai, *bi));
      auto quotient = BigInt::true_divide(*ai, *bi);
      if (!quotient) fail();  // OverflowError: integer division result too large for a float
      return Value{*quotient};
    }
    const double x = to_float(a);
    const double y = to_float(b);
    if (op == "+") return Value{x + y};
    if (op == "-") return Value{x - y};
    if (op == "*") return Value{x * y};
    if (y == 0.0) fail();  // ZeroDivisionError
    if (op == "/") return Value{x / y};
    return Value{*python_float_floor_divide(x, y)};
  }
  // Sequence operations of the empty tuple; everything else is a TypeError.
  const bool a_tuple = std::holds_alternative<EmptyTuple>(a.v);
  const bool b_tuple = std::holds_alternative<EmptyTuple>(b.v);
  if (op == "+" && a_tuple && b_tuple) return Value{EmptyTuple{}};
  if (op == "*" && (a_tuple || b_tuple)) {
    const Value& count = a_tuple ? b : a;
    const auto* n = std::get_if<BigInt>(&count.v);
    if (n == nullptr) fail();              // TypeError: can't multiply sequence by non-int
    if (!n->to_int64()) fail();            // OverflowError: cannot fit 'int' into an index-sized integer
    return Value{EmptyTuple{}};
  }
  fail();
}

Value unary_op(char op, const Value& x) {
  if (const auto* i = std::get_if<BigInt>(&x.v)) return op == '-' ? Value{-*i} : x;
  if (const auto* f = std::get_if<double>(&x.v)) return op == '-' ? Value{-*f} : x;
  fail();  // TypeError: bad operand type for unary
}

Value get_attribute(const Value& self, const std::string& name) {
  const bool str_method = (std::holds_alternative<std::string>(self.v) || std::holds_alternative<Bytes>(self.v)) &&
                          (name == "count" || name == "upper" || name == "lower" || name == "strip" ||
                           name == "lstrip" || name == "rstrip");
  const bool tuple_method = std::holds_alternative<EmptyTuple>(self.v) && name == "count";
  if (!str_method && !tuple_method) fail();  // AttributeError, or a method we do not support
  return Value{BoundMethod{std::make_shared<const Value>(self), name}};
}

// str/bytes .strip/.lstrip/.rstrip: `chars` of nullopt means whitespace, which the character
// filter reduces to the space.
std::string strip_chars(const std::string& text, const std::string& method, const std::optional<std::string>& chars) {
  const std::string set = chars ? *chars : std::string(" ");
  std::size_t begin = 0;
  std::size_t end = text.size();
  if (method != "rstrip") {
    while (begin < end && set.find(text[begin]) != std::string::npos) ++begin;
  }
  if (method != "lstrip") {
    while (end > begin && set.find(text[end - 1]) != std::string::npos) --end;
  }
  return text.substr(begin, end - begin);
}

// The characters argument of strip(): absent or None (whitespace), or of the receiver's type.
template <class Text>
std::optional<std::string> strip_argument(const std::vector<Value>& args) {
  if (args.size() > 1) fail();
  if (args.empty()) return std::nullopt;
  if (const auto* k = std::get_if<KeywordConstant>(&args[0].v); k != nullptr && k->name == "None") return std::nullopt;
  const auto* chars = std::get_if<Text>(&args[0].v);
  if (chars == nullptr) fail();  // TypeError
  if constexpr (std::is_same_v<Text, Bytes>) {
    return chars->data;
  } else {
    return *chars;
  }
}

bool is_strip(const std::string& method) { return method == "strip" || method == "lstrip" || method == "rstrip"; }

std::size_t count_occurrences(const std::string& hay, const std::string& needle) {
  if (needle.empty()) return hay.size() + 1;
  std::size_t count = 0;
  for (std::size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

Value call(const Value& callee, const std::vector<Value>& args) {
  const auto* method = std::get_if<BoundMethod>(&callee.v);
  if (method == nullptr) fail();  // TypeError: object is not callable
  if (std::holds_alternative<EmptyTuple>(method->self->v)) {
    if (args.size() != 1) fail();
    return Value{BigInt()};  // nothing in () equals anything
  }
  if (const auto* bytes = std::get_if<Bytes>(&method->self->v)) {
    if (method->name == "count") {
      if (args.size() != 1) fail();
      if (const auto* needle = std::get_if<Bytes>(&args[0].v)) {
        return Value{BigInt::from_u64(count_occurrences(bytes->data, needle->data))};
      }
      // bytes.count also takes a byte value; out of range is a ValueError.
      const auto* byte = std::get_if<BigInt>(&args[0].v);
      if (byte == nullptr) fail();
      const auto value = byte->to_int64();
      if (!value || *value < 0 || *value > 255) fail();
      return Value{BigInt::from_u64(count_occurrences(bytes->data, std::string(1, static_cast<char>(*value))))};
    }
    if (is_strip(method->name)) return Value{Bytes{strip_chars(bytes->data, method->name, strip_argument<Bytes>(args))}};
    if (!args.empty()) fail();
    return Value{Bytes{method->name == "upper" ? ascii_upper(bytes->data) : ascii_lower(bytes->data)}};
  }
  const auto& self = std::get<std::string>(method->self->v);
  if (method->name == "count") {
    if (args.size() != 1) fail();
    const auto* needle = std::get_if<std::string>(&args[0].v);
    if (needle == nullptr) fail();  // TypeError: must be str
    return Value{BigInt::from_u64(count_occurrences(self, *needle))};
  }
  if (is_strip(method->name)) return Value{strip_chars(self, method->name, strip_argument<std::string>(args))};
  if (!args.empty()) fail();
  // Literals are ASCII (character filter), so ASCII case mapping is Python's full mapping here.
  return Value{method->name == "upper" ? ascii_upper(self) : ascii_lower(self)};
}

// ---------------------------------------------------------------------------------------------
// Recursive-descent parser that evaluates as it goes: any error anywhere makes the whole
// expression None, so nothing needs to be deferred. `level` models CPython's parser stack and
// `path_depth` counts enclosing expression nodes, so deep nesting is refused on the way down
// (which also bounds our own recursion).
struct Parsed {
  Value value;
  int depth;  // height of the expression tree (leaf = 1)
};

class Evaluator {
 public:
  explicit Evaluator(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Value run() {
    Parsed top = expression(0, 0);
    if (peek().kind != TokenKind::kEnd) fail();
    return std::move(top.value);
  }

 private:
  const Token& peek() const { return tokens_[pos_]; }
  bool peek_op(std::string_view op) const { return peek().kind == TokenKind::kOp && peek().text == op; }
  void expect_op(std::string_view op) {
    if (!peek_op(op)) fail();
    ++pos_;
  }
  static int node_depth(int child_depth) {
    if (child_depth + 1 > kMaxAstDepth) fail();  // RecursionError during compilation
    return child_depth + 1;
  }
  static void enter(int level, int path_depth) {
    if (level > kMaxParserLevel) fail();  // MemoryError from the parser
    if (path_depth >= kMaxAstDepth) fail();
  }

  Parsed expression(int level, int path_depth) {  // sum: term (('+'|'-') term)*
    Parsed left = term(level, path_depth);
    while (peek_op("+") || peek_op("-")) {
      const std::string op = tokens_[pos_++].text;
      Parsed right = term(level, path_depth + 1);
      left = {binary_op(op, left.value, right.value), node_depth(std::max(left.depth, right.depth))};
    }
    return left;
  }

  Parsed term(int level, int path_depth) {  // factor (('*'|'/'|'//') factor)*
    Parsed left = factor(level, path_depth);
    while (peek_op("*") || peek_op("/") || peek_op("//")) {
      const std::string op = tokens_[pos_++].text;
      Parsed right = factor(level, path_depth + 1);
      left = {binary_op(op, left.value, right.value), node_depth(std::max(left.depth, right.depth))};
    }
    return left;
  }

  Parsed factor(int level, int path_depth) {  // ('+'|'-')* primary
    // A run of unary operators is read in a loop (each one still costs a parser level and an
    // expression node), so thousands of them do not recurse on our stack.
    std::vector<char> unary_ops;
    enter(level, path_depth);
    while (peek_op("+") || peek_op("-")) {
      unary_ops.push_back(tokens_[pos_++].text[0]);
      enter(level + static_cast<int>(unary_ops.size()), path_depth + static_cast<int>(unary_ops.size()));
    }
    const int n = static_cast<int>(unary_ops.size());
    Parsed result = primary(level + n, path_depth + n);
    for (auto it = unary_ops.rbegin(); it != unary_ops.rend(); ++it) {
      result = {unary_op(*it, result.value), node_depth(result.depth)};
    }
    return result;
  }

  Parsed primary(int level, int path_depth) {  // atom ('.' NAME | '(' [expression] ')')*
    Parsed cur = atom(level, path_depth);
    for (;;) {
      if (peek_op(".")) {
        ++pos_;
        if (peek().kind != TokenKind::kName) fail();
        const std::string name = tokens_[pos_++].text;
        cur = {get_attribute(cur.value, name), node_depth(cur.depth)};
      } else if (peek_op("(")) {
        ++pos_;
        enter(level + kCallParenLevels, path_depth + 1);
        std::vector<Value> args;
        int depth = cur.depth;
        if (!peek_op(")")) {
          Parsed arg = expression(level + kCallParenLevels, path_depth + 1);
          depth = std::max(depth, arg.depth);
          args.push_back(std::move(arg.value));
        }
        expect_op(")");
        cur = {call(cur.value, args), node_depth(depth)};
      } else {
        return cur;
      }
    }
  }

  Parsed atom(int level, int path_depth) {
    const Token& tok = peek();
    switch (tok.kind) {
      case TokenKind::kInt: {
        ++pos_;
        const bool all_zero = tok.text.find_first_not_of('0') == std::string::npos;
        if (!all_zero && tok.text.size() > kMaxIntLiteralDigits) fail();  // SyntaxError: int max_str_digits
        return {checked_int(BigInt::from_decimal(tok.text)), 1};
      }
      case TokenKind::kFloat:
        ++pos_;
        return {Value{parse_python_float_literal(tok.text)}, 1};
      case TokenKind::kString:
      case TokenKind::kBytes: {
        enter(level + kStringLeafLevels, path_depth);
        const TokenKind kind = tok.kind;
        std::string joined;
        while (peek().kind == TokenKind::kString || peek().kind == TokenKind::kBytes) {
          if (peek().kind != kind) fail();  // SyntaxError: cannot mix bytes and nonbytes literals
          joined += tokens_[pos_++].text;
        }
        if (kind == TokenKind::kBytes) return {Value{Bytes{std::move(joined)}}, 1};
        return {Value{std::move(joined)}, 1};
      }
      case TokenKind::kName: {
        ++pos_;
        if (tok.text == "True" || tok.text == "False" || tok.text == "None") {
          return {Value{KeywordConstant{tok.text}}, 1};
        }
        fail();  // NameError (empty builtins), or a keyword construct we do not support
      }
      case TokenKind::kOp:
        if (tok.text == "...") {
          ++pos_;
          return {Value{EllipsisValue{}}, 1};
        }
        if (tok.text == "(") {
          ++pos_;
          enter(level + kGroupParenLevels, path_depth);
          if (peek_op(")")) {
            ++pos_;
            return {Value{EmptyTuple{}}, 1};
          }
          Parsed inner = expression(level + kGroupParenLevels, path_depth);
          expect_op(")");
          return inner;  // grouping adds no expression node
        }
        fail();
      case TokenKind::kEnd:
        fail();
    }
    fail();
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

std::optional<std::string> python_str(const Value& value) {
  if (const auto* i = std::get_if<BigInt>(&value.v)) {
    // 10**4300 has 14285 bits: larger ints certainly exceed Python's str() digit limit.
    if (i->bit_length() > 14300) return std::nullopt;
    std::string text = i->to_decimal();
    if (text.size() - (i->is_negative() ? 1 : 0) > kMaxIntLiteralDigits) return std::nullopt;
    return text;
  }
  if (const auto* f = std::get_if<double>(&value.v)) return python_float_repr(*f);
  if (const auto* s = std::get_if<std::string>(&value.v)) return *s;
  if (const auto* b = std::get_if<Bytes>(&value.v)) {
    // bytes repr: single quotes unless only the single quote occurs; the chosen quote is escaped.
    // The character filter leaves only printable ASCII without backslashes.
    const bool has_single = b->data.find('\'') != std::string::npos;
    const bool has_double = b->data.find('"') != std::string::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    std::string out = "b";
    out += quote;
    for (char ch : b->data) {
      if (ch == quote) out += '\\';
      out += ch;
    }
    out += quote;
    return out;
  }
  if (std::holds_alternative<EmptyTuple>(value.v)) return "()";
  if (std::holds_alternative<EllipsisValue>(value.v)) return "Ellipsis";
  if (const auto* k = std::get_if<KeywordConstant>(&value.v)) return k->name;
  return std::nullopt;  // a bound method: Python's str() shows a memory address
}

bool only_chars_from(std::string_view text, std::string_view allowed) {
  return text.find_first_not_of(allowed) == std::string_view::npos;
}

std::optional<std::string> evaluate(std::string_view expr) {
  try {
    return python_str(Evaluator(tokenize(expr)).run());
  } catch (const Unevaluable&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> use_calculator(std::string_view expr_in) {
  std::string expr;
  expr.reserve(expr_in.size());
  for (char c : expr_in) {
    if (c != ',') expr += c;
  }
  if (only_chars_from(expr, "0123456789*+-/.() ")) {
    if (expr.find("**") != std::string::npos) return std::nullopt;
    return evaluate(expr);
  }
  if (!only_chars_from(expr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'\"()._ ")) {
    return std::nullopt;
  }
  const std::string lower = ascii_lower(expr);
  static constexpr std::array<std::string_view, 17> kDangerous = {
      "__",      "import", "exec",   "eval", "compile", "open",    "file",    "input",   "raw_input",
      "globals", "locals", "vars",   "dir",  "getattr", "setattr", "delattr", "hasattr"};
  for (std::string_view bad : kDangerous) {
    if (lower.find(bad) != std::string::npos) return std::nullopt;
  }
  if (expr.find(".count(") == std::string::npos) return std::nullopt;
  return evaluate(expr);
}

}  // namespace nanochat::engine
