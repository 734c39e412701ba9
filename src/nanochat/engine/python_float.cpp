#include "nanochat/engine/python_float.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <system_error>

namespace nanochat::engine {

std::string python_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  // to_chars in scientific format yields the shortest round-trip digits, the same digits as
  // CPython's repr (both are "shortest, then closest"); only the layout differs.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), std::fabs(x), std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exponent = std::atoi(std::string(sci.substr(e_pos + 1)).c_str());
  std::string out = std::signbit(x) ? "-" : "";
  // CPython's decpt: the value is 0.DIGITS * 10**decpt.
  const int decpt = exponent + 1;
  const int n = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-decpt), '0');
      out += digits;
    } else if (decpt >= n) {
      out += digits;
      out.append(static_cast<std::size_t>(decpt - n), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(decpt));
      out += '.';
      out += digits.substr(static_cast<std::size_t>(decpt));
    }
    return out;
  }
  out += digits[0];
  if (n > 1) {
    out += '.';
    out += digits.substr(1);
  }
  out += exponent < 0 ? "e-" : "e+";
  const int abs_exp = exponent < 0 ? -exponent : exponent;
  if (abs_exp < 10) out += '0';
  out += std::to_string(abs_exp);
  return out;
}

std::optional<double> python_float_floor_divide(double a, double b) {
  if (b == 0.0) return std::nullopt;
  // Mirrors CPython's _float_div_mod (Objects/floatobject.c), which takes the quotient from
  // (a - fmod(a, b)) / b so that floor division and modulo agree, then snaps it to an integer.
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 || std::isnan(mod)) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  }
  double floordiv;
  if (div != 0.0 || std::isnan(div)) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, a / b);
  }
  return floordiv;
}

double parse_python_float_literal(std::string_view literal) {
  double value = 0.0;
  auto res = std::from_chars(literal.data(), literal.data() + literal.size(), value,
                             std::chars_format::fixed);
  if (res.ec == std::errc::result_out_of_range) {
    // Without an exponent, a literal can leave the double range only upwards when it has
    // non-zero integer digits (overflow: Python yields inf) and otherwise only downwards.
    const std::size_t dot = literal.find('.');
    const std::string_view int_part = literal.substr(0, dot);
    const bool has_nonzero_int = int_part.find_first_not_of('0') != std::string_view::npos;
    return has_nonzero_int ? std::numeric_limits<double>::infinity() : 0.0;
  }
  return value;
}

}  // namespace nanochat::engine
