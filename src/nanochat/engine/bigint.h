// BigInt: the arbitrary-precision integer the calculator tool needs to reproduce Python's int
// arithmetic (+, -, *, floor division) and Python's int -> float conversions, which are correctly
// rounded (round-half-even) and raise OverflowError instead of returning inf.
//
// Sign-magnitude with 32-bit limbs, schoolbook multiplication and Knuth division: the calculator
// bounds operand sizes (see calculator.h), so quadratic algorithms are fast enough.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nanochat::engine {

class BigInt {
 public:
  BigInt() = default;  // zero
  static BigInt from_u64(std::uint64_t value);
  // `digits` must be a non-empty run of ASCII decimal digits (leading zeros allowed).
  static BigInt from_decimal(std::string_view digits);

  bool is_zero() const { return magnitude_.empty(); }
  bool is_negative() const { return negative_; }
  // Number of bits of |value|; 0 for zero (Python's int.bit_length()).
  std::size_t bit_length() const;
  std::string to_decimal() const;
  // The value when it fits in int64 (Python's Py_ssize_t), else nullopt.
  std::optional<std::int64_t> to_int64() const;

  BigInt operator-() const;
  friend BigInt operator+(const BigInt& a, const BigInt& b);
  friend BigInt operator-(const BigInt& a, const BigInt& b);
  friend BigInt operator*(const BigInt& a, const BigInt& b);
  friend bool operator==(const BigInt& a, const BigInt& b) = default;

  // Python's a // b (rounds toward negative infinity). Precondition: b != 0.
  static BigInt floor_divide(const BigInt& a, const BigInt& b);
  // Python's float(a): correctly rounded; nullopt where Python raises OverflowError.
  std::optional<double> to_double() const;
  // Python's a / b for ints: the exact rational a/b correctly rounded to a double (subnormals
  // included); nullopt where Python raises OverflowError. Precondition: b != 0.
  static std::optional<double> true_divide(const BigInt& a, const BigInt& b);

 private:
  using Limbs = std::vector<std::uint32_t>;  // little-endian, no high zero limbs
  BigInt(bool negative, Limbs magnitude);

  bool negative_ = false;  // never true for zero
  Limbs magnitude_;

  friend struct BigIntOps;
};

}  // namespace nanochat::engine
