#include "nanochat/core/cli.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "nanochat/core/error.h"

namespace nanochat {

int64_t parse_int(std::string_view text, std::string_view what) {
  int64_t v = 0;
  std::string_view t = text;
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
    usage_fail("{}: invalid int value: '{}'", what, text);
  }
  return v;
}

double parse_double(std::string_view text, std::string_view what) {
  // strtod accepts what Python's float() accepts for ordinary numbers (1e-3, .5, 2).
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || std::isnan(v)) {
    usage_fail("{}: invalid float value: '{}'", what, text);
  }
  return v;
}

ArgParser::ArgParser(std::string prog, std::string description)
    : prog_(std::move(prog)), description_(std::move(description)) {}

std::string ArgParser::value_text(const Target& target) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, bool>) {
          return *p ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return *p;
        } else if constexpr (std::is_same_v<T, std::optional<int64_t>>) {
          return p->has_value() ? std::to_string(**p) : "None";
        } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
          return p->has_value() ? **p : "None";
        } else if constexpr (std::is_same_v<T, double>) {
          return fmt::format("{}", *p);
        } else {
          return std::to_string(*p);
        }
      },
      target);
}

ArgParser& ArgParser::add_flag(std::string_view names, Target target, std::string help, std::vector<std::string> choices) {
  Flag f;
  const size_t comma = names.find(',');
  if (comma == std::string_view::npos) {
    f.long_name = std::string(names);
  } else {
    f.short_name = std::string(names.substr(0, comma));
    f.long_name = std::string(names.substr(comma + 1));
  }
  if (f.long_name.rfind("--", 0) != 0) throw std::logic_error("flag must start with --: " + f.long_name);
  f.help = std::move(help);
  f.target = target;
  f.default_text = value_text(target);
  f.choices = std::move(choices);
  flags_.push_back(std::move(f));
  return *this;
}

ArgParser& ArgParser::add(std::string_view n, int64_t* v, std::string h) { return add_flag(n, v, std::move(h)); }
ArgParser& ArgParser::add(std::string_view n, int* v, std::string h) { return add_flag(n, v, std::move(h)); }
ArgParser& ArgParser::add(std::string_view n, double* v, std::string h) { return add_flag(n, v, std::move(h)); }
ArgParser& ArgParser::add(std::string_view n, std::string* v, std::string h, std::vector<std::string> c) {
  return add_flag(n, v, std::move(h), std::move(c));
}
ArgParser& ArgParser::add(std::string_view n, std::optional<int64_t>* v, std::string h) { return add_flag(n, v, std::move(h)); }
ArgParser& ArgParser::add(std::string_view n, std::optional<std::string>* v, std::string h) {
  return add_flag(n, v, std::move(h));
}
ArgParser& ArgParser::add_switch(std::string_view n, bool* v, std::string h) { return add_flag(n, v, std::move(h)); }

ArgParser& ArgParser::add_positional(std::string name, std::string* value, std::string help, bool required) {
  positionals_.push_back({std::move(name), std::move(help), value, required});
  return *this;
}

ArgParser::Flag* ArgParser::find_long(std::string_view name) {
  for (auto& f : flags_)
    if (f.long_name == name) return &f;
  return nullptr;
}

ArgParser::Flag* ArgParser::find_short(std::string_view name) {
  for (auto& f : flags_)
    if (!f.short_name.empty() && f.short_name == name) return &f;
  return nullptr;
}

void ArgParser::assign(Flag& flag, std::string_view text) {
  const std::string what = "argument " + flag.long_name;
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, std::optional<int64_t>>) {
          *p = parse_int(text, what);
        } else if constexpr (std::is_same_v<T, int>) {
          const int64_t v = parse_int(text, what);
          if (v < INT32_MIN || v > INT32_MAX) usage_fail("{}: value out of range: '{}'", what, text);
          *p = static_cast<int>(v);
        } else if constexpr (std::is_same_v<T, double>) {
          *p = parse_double(text, what);
        } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::optional<std::string>>) {
          if (!flag.choices.empty()) {
            bool ok = false;
            for (const auto& c : flag.choices) ok = ok || c == text;
            if (!ok) {
              std::string list;
              for (const auto& c : flag.choices) list += (list.empty() ? "'" : ", '") + c + "'";
              usage_fail("{}: invalid choice: '{}' (choose from {})", what, text, list);
            }
          }
          *p = std::string(text);
        } else {
          usage_fail("{}: ignored explicit argument '{}'", what, text);
        }
      },
      flag.target);
  flag.set = true;
}

bool ArgParser::parse(const std::vector<std::string>& args) {
  size_t next_positional = 0;
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!only_positionals && (a == "-h" || a == "--help")) {
      std::fputs(help_text().c_str(), stdout);
      return false;
    }
    if (!only_positionals && a == "--") {
      only_positionals = true;
      continue;
    }
    const bool looks_like_flag = !only_positionals && a.size() > 1 && a[0] == '-' &&
                                 !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'));
    if (!looks_like_flag) {
      if (next_positional >= positionals_.size()) usage_fail("unrecognized argument: '{}'", a);
      *positionals_[next_positional++].value = a;
      continue;
    }
    Flag* flag = nullptr;
    std::optional<std::string> inline_value;
    if (a.rfind("--", 0) == 0) {
      const size_t eq = a.find('=');
      const std::string name = a.substr(0, eq);
      flag = find_long(name);
      if (flag == nullptr) {
        // Help users of the original's older underscore spelling.
        std::string dashed = name;
        for (auto& c : dashed)
          if (c == '_') c = '-';
        if (dashed != name && find_long(dashed) != nullptr) {
          usage_fail("unrecognized argument: '{}' (did you mean '{}'?)", name, dashed);
        }
        usage_fail("unrecognized argument: '{}'", name);
      }
      if (eq != std::string::npos) inline_value = a.substr(eq + 1);
    } else {
      const std::string name = a.substr(0, 2);
      flag = find_short(name);
      if (flag == nullptr) usage_fail("unrecognized argument: '{}'", a);
      if (a.size() > 2) inline_value = a[2] == '=' ? a.substr(3) : a.substr(2);
    }
    if (std::holds_alternative<bool*>(flag->target)) {
      if (inline_value) usage_fail("argument {}: ignored explicit argument '{}'", flag->long_name, *inline_value);
      *std::get<bool*>(flag->target) = true;
      flag->set = true;
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) usage_fail("argument {}: expected one argument", flag->long_name);
      inline_value = args[++i];
    }
    assign(*flag, *inline_value);
  }
  for (size_t p = next_positional; p < positionals_.size(); ++p) {
    if (positionals_[p].required) usage_fail("the following argument is required: {}", positionals_[p].name);
  }
  return true;
}

std::string ArgParser::help_text() const {
  std::string out = fmt::format("usage: {} [options]", prog_);
  for (const auto& p : positionals_) out += p.required ? " " + p.name : " [" + p.name + "]";
  out += "\n\n" + description_ + "\n";
  if (!positionals_.empty()) {
    out += "\npositional arguments:\n";
    for (const auto& p : positionals_) out += fmt::format("  {:<28} {}\n", p.name, p.help);
  }
  out += "\noptions:\n";
  out += fmt::format("  {:<28} {}\n", "-h, --help", "show this help message and exit");
  for (const auto& f : flags_) {
    std::string names = f.short_name.empty() ? f.long_name : f.short_name + ", " + f.long_name;
    if (!std::holds_alternative<bool*>(f.target)) names += " X";
    std::string help = f.help;
    if (!f.choices.empty()) {
      std::string list;
      for (const auto& c : f.choices) list += (list.empty() ? "" : "|") + c;
      help += " {" + list + "}";
    }
    if (!std::holds_alternative<bool*>(f.target)) help += fmt::format(" (default: {})", f.default_text.empty() ? "''" : f.default_text);
    out += fmt::format("  {:<28} {}\n", names, help);
  }
  return out;
}

bool ArgParser::was_set(std::string_view long_name) const {
  for (const auto& f : flags_)
    if (f.long_name == long_name) return f.set;
  return false;
}

std::vector<std::pair<std::string, std::string>> ArgParser::values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : flags_) out.emplace_back(f.long_name.substr(2), value_text(f.target));
  for (const auto& p : positionals_) out.emplace_back(p.name, *p.value);
  return out;
}

}  // namespace nanochat
