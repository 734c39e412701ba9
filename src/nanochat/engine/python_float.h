// Python float semantics the calculator tool must reproduce bit-for-bit: repr() formatting,
// floor division, and parsing of decimal float literals.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nanochat::engine {

// Python's repr(x) == str(x) for a float: the shortest digits that round-trip, fixed notation when
// the decimal exponent is in [-4, 16) ('5.0', '0.0001', '1234567890123456.0'), else scientific with
// a signed exponent of at least two digits ('1e-05', '1e+16', '1.5e+20'); 'inf', '-inf', 'nan'.
std::string python_float_repr(double x);

// Python's a // b for floats (float_floor_div): the floor of the quotient computed through fmod
// so that it is consistent with a % b (-7.5 // 2 == -4.0, 1 // 0.1 == 9.0). nullopt where Python
// raises ZeroDivisionError (b == 0).
std::optional<double> python_float_floor_divide(double a, double b);

// Value of a Python decimal float literal made of digits with one '.' ('.5', '5.', '1.25',
// '007.5'): correctly rounded; a literal beyond the double range is inf (as Python's parser gives),
// a tiny one rounds to 0.0 or a subnormal.
double parse_python_float_literal(std::string_view literal);

}  // namespace nanochat::engine
