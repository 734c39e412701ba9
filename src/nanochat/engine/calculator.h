// The calculator tool the inference engine runs when the model writes
// <|python_start|> expr <|python_end|> (spec §4.5, §4.7). The original passes `expr` through
// character filters and then to Python's eval() with empty builtins; this is a small interpreter
// for exactly the Python that can get through those filters, with Python's results and formatting.
//
// Acceptance (spec §4.7, same order as the original):
//   1. every ',' is deleted (inside quotes too);
//   2. math path: only characters from "0123456789*+-/.() " -> rejected if "**" occurs, else eval;
//   3. string path: only a-z A-Z 0-9 ' " ( ) . _ space; rejected if the lower-cased text contains
//      __ import exec eval compile open file input raw_input globals locals vars dir getattr
//      setattr delattr hasattr; rejected unless ".count(" occurs (case-sensitive); else eval.
//
// Evaluated exactly as CPython 3.11 does:
//   - ints of any size (decimal literals; '0', '00' fine, '007' a syntax error); float literals
//     '.5', '5.', '1.25' (correctly rounded; a literal beyond the double range is inf);
//   - unary + and - (stackable), binary + - * / // with Python precedence and left associativity,
//     parentheses; int op int stays int, a float operand makes the result a float; '/' is always
//     a float (int/int correctly rounded from the exact rational); '//' floors (ints and floats,
//     CPython's float floor-division algorithm); int -> float conversions raise OverflowError
//     beyond the double range, while float arithmetic overflows to inf silently;
//   - '()' is an empty tuple: () + (), () * n and n * () give (); '...' is Ellipsis;
//   - method calls on str and bytes: .count(sub) (non-overlapping; count('') == len + 1; bytes also
//     take a byte value 0..255), .upper(), .lower(), .strip/.lstrip/.rstrip([chars or None]);
//     ().count(x) == 0; also through a parenthesized bound method; calling anything else
//     (2(3), (1)(2)) is a TypeError;
//   - string literals with ' or " (also triple-quoted), adjacent literals concatenate, prefixes
//     r u f fr rf in any case (without backslashes or braces they change nothing), bytes literals
//     b br rb (str() gives Python's repr, b'...'); names True, False, None; any other name is a
//     NameError (builtins are empty);
//   - compile-time limits (measured on CPython 3.11.7): more than 200 nested parentheses; an
//     expression tree deeper than 3000 - 3 * (Python frames at the eval call) nodes, i.e. 2976
//     for the original under chat_eval, 8 frames deep (RecursionError during compilation; under
//     chat_cli, 3 frames shallower, the original allows 9 more); parser nesting beyond CPython's
//     6000-level stack, modelled as 28 levels per grouping paren, 24 per call paren, 1 per unary
//     operator, 2 for a string leaf, limit 5975 (MemoryError);
//   - an int literal of more than 4300 digits is a SyntaxError (int max_str_digits).
// Result: Python's str(value): ints in full, floats as repr, '()', 'Ellipsis', strings verbatim.
//
// Returns nullopt where the original returns None (rejected input or any exception), and also:
//   - unsupported-but-valid Python (the original would return a value): keywords and operators
//     spelled with letters (not and or in is if/else lambda for ...), generator expressions,
//     number literals followed by letters (1e5 0x1f 1_0 1j), string methods other
//     than those above (split, title, replace, ...), attributes of ints, a bound method or
//     generator as the final result (Python prints a memory address);
//   - an int result of more than 4300 digits: the original returns it, then the engine's str()
//     raises ValueError (int max_str_digits) and generation crashes; here the tool yields nothing;
//   - an int operand or result beyond 332,193 bits (about 100,000 digits; e.g. the product of 24
//     literals of 4300 digits, even when a later '//' would shrink it): reachable only with
//     expressions of ~100,000 characters; it bounds the work the original bounded with its
//     3-second timeout (worst case here: ~0.15 s for one multiplication at the bound).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nanochat::engine {

// Python's str(result) of the original's use_calculator(expr), or nullopt where it returns None.
std::optional<std::string> use_calculator(std::string_view expr);

}  // namespace nanochat::engine
