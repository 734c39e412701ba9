#include "nanochat/engine/bigint.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

namespace nanochat::engine {

// Magnitude (unsigned limb vector) arithmetic shared by the signed operations.
struct BigIntOps {
  using Limbs = BigInt::Limbs;

  static void trim(Limbs& a) {
    while (!a.empty() && a.back() == 0) a.pop_back();
  }

  static int compare(const Limbs& a, const Limbs& b) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    for (std::size_t i = a.size(); i-- > 0;) {
      if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return 0;
  }

  static Limbs add(const Limbs& a, const Limbs& b) {
    const Limbs& longer = a.size() >= b.size() ? a : b;
    const Limbs& shorter = a.size() >= b.size() ? b : a;
    Limbs out(longer.size() + 1, 0);
    std::uint64_t carry = 0;
    for (std::size_t i = 0; i < longer.size(); ++i) {
      std::uint64_t sum = carry + longer[i] + (i < shorter.size() ? shorter[i] : 0u);
      out[i] = static_cast<std::uint32_t>(sum);
      carry = sum >> 32;
    }
    out[longer.size()] = static_cast<std::uint32_t>(carry);
    trim(out);
    return out;
  }

  // Precondition: a >= b.
  static Limbs subtract(const Limbs& a, const Limbs& b) {
    Limbs out(a.size(), 0);
    std::int64_t borrow = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::int64_t diff = static_cast<std::int64_t>(a[i]) - (i < b.size() ? b[i] : 0u) - borrow;
      borrow = diff < 0 ? 1 : 0;
      out[i] = static_cast<std::uint32_t>(diff);
    }
    trim(out);
    return out;
  }

  static Limbs multiply(const Limbs& a, const Limbs& b) {
    if (a.empty() || b.empty()) return {};
    Limbs out(a.size() + b.size(), 0);
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::uint64_t carry = 0;
      for (std::size_t j = 0; j < b.size(); ++j) {
        std::uint64_t cur = static_cast<std::uint64_t>(a[i]) * b[j] + out[i + j] + carry;
        out[i + j] = static_cast<std::uint32_t>(cur);
        carry = cur >> 32;
      }
      out[i + b.size()] = static_cast<std::uint32_t>(carry);
    }
    trim(out);
    return out;
  }

  // a = a * factor + addend, in place.
  static void multiply_add_small(Limbs& a, std::uint32_t factor, std::uint32_t addend) {
    std::uint64_t carry = addend;
    for (auto& limb : a) {
      std::uint64_t cur = static_cast<std::uint64_t>(limb) * factor + carry;
      limb = static_cast<std::uint32_t>(cur);
      carry = cur >> 32;
    }
    if (carry != 0) a.push_back(static_cast<std::uint32_t>(carry));
  }

  // a = a / divisor in place; returns the remainder.
  static std::uint32_t divide_small(Limbs& a, std::uint32_t divisor) {
    std::uint64_t rem = 0;
    for (std::size_t i = a.size(); i-- > 0;) {
      std::uint64_t cur = (rem << 32) | a[i];
      a[i] = static_cast<std::uint32_t>(cur / divisor);
      rem = cur % divisor;
    }
    trim(a);
    return static_cast<std::uint32_t>(rem);
  }

  static Limbs shift_left(const Limbs& a, std::size_t bits) {
    if (a.empty()) return {};
    const std::size_t limb_shift = bits / 32;
    const unsigned bit_shift = static_cast<unsigned>(bits % 32);
    Limbs out(a.size() + limb_shift + 1, 0);
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::uint64_t v = static_cast<std::uint64_t>(a[i]) << bit_shift;
      out[i + limb_shift] |= static_cast<std::uint32_t>(v);
      out[i + limb_shift + 1] |= static_cast<std::uint32_t>(v >> 32);
    }
    trim(out);
    return out;
  }

  // Truncating division of magnitudes (Knuth, TAOCP vol. 2, 4.3.1, algorithm D).
  // Precondition: divisor non-empty.
  static void divide(const Limbs& dividend, const Limbs& divisor, Limbs& quotient, Limbs& remainder) {
    if (compare(dividend, divisor) < 0) {
      quotient.clear();
      remainder = dividend;
      return;
    }
    if (divisor.size() == 1) {
      quotient = dividend;
      std::uint32_t r = divide_small(quotient, divisor[0]);
      remainder.clear();
      if (r != 0) remainder.push_back(r);
      return;
    }
    const std::size_t n = divisor.size();
    const std::size_t m = dividend.size() - n;
    // Normalize so the divisor's top limb has its high bit set; the quotient-digit estimate is then
    // off by at most 2.
    const unsigned shift = static_cast<unsigned>(std::countl_zero(divisor.back()));
    Limbs v = shift_left(divisor, shift);
    Limbs u = shift_left(dividend, shift);
    u.resize(dividend.size() + 1, 0);
    v.resize(n, 0);
    quotient.assign(m + 1, 0);
    constexpr std::uint64_t kBase = 1ull << 32;
    for (std::size_t j = m + 1; j-- > 0;) {
      const std::uint64_t top = (static_cast<std::uint64_t>(u[j + n]) << 32) | u[j + n - 1];
      std::uint64_t qhat = top / v[n - 1];
      std::uint64_t rhat = top % v[n - 1];
      while (qhat >= kBase || qhat * v[n - 2] > ((rhat << 32) | u[j + n - 2])) {
        --qhat;
        rhat += v[n - 1];
        if (rhat >= kBase) break;
      }
      std::int64_t borrow = 0;
      std::uint64_t carry = 0;
      for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t product = qhat * v[i] + carry;
        carry = product >> 32;
        std::int64_t diff = static_cast<std::int64_t>(u[i + j]) -
                            static_cast<std::int64_t>(product & 0xffffffffull) - borrow;
        u[i + j] = static_cast<std::uint32_t>(diff);
        borrow = diff < 0 ? 1 : 0;
      }
      std::int64_t diff = static_cast<std::int64_t>(u[j + n]) - static_cast<std::int64_t>(carry) - borrow;
      u[j + n] = static_cast<std::uint32_t>(diff);
      if (diff < 0) {  // estimate was one too large: add the divisor back
        --qhat;
        std::uint64_t add_carry = 0;
        for (std::size_t i = 0; i < n; ++i) {
          std::uint64_t sum = static_cast<std::uint64_t>(u[i + j]) + v[i] + add_carry;
          u[i + j] = static_cast<std::uint32_t>(sum);
          add_carry = sum >> 32;
        }
        u[j + n] = static_cast<std::uint32_t>(u[j + n] + add_carry);
      }
      quotient[j] = static_cast<std::uint32_t>(qhat);
    }
    trim(quotient);
    // Undo the normalization on the remainder.
    remainder.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t pair = (static_cast<std::uint64_t>(u[i + 1]) << 32) | u[i];
      remainder[i] = static_cast<std::uint32_t>(pair >> shift);
    }
    trim(remainder);
  }

  static std::size_t bit_length(const Limbs& a) {
    if (a.empty()) return 0;
    return (a.size() - 1) * 32 + (32 - static_cast<std::size_t>(std::countl_zero(a.back())));
  }

  static std::uint64_t low_u64(const Limbs& a) {
    std::uint64_t v = 0;
    if (!a.empty()) v = a[0];
    if (a.size() > 1) v |= static_cast<std::uint64_t>(a[1]) << 32;
    return v;
  }

  // Correctly rounded |num| / |den| (both non-zero) as a non-negative double; nullopt on overflow.
  // Python's int/int and float(int) both round the exact value half-to-even, including into the
  // subnormal range, and raise OverflowError when the rounded value reaches 2**1024.
  static std::optional<double> divide_to_double(const Limbs& num, const Limbs& den) {
    const auto num_bits = static_cast<std::int64_t>(bit_length(num));
    const auto den_bits = static_cast<std::int64_t>(bit_length(den));
    // num/den lies in [2**(num_bits-den_bits-1), 2**(num_bits-den_bits+1)).
    if (num_bits - den_bits > 1025) return std::nullopt;
    if (num_bits - den_bits < -1080) return 0.0;  // below half the smallest subnormal
    // Scale so the integer quotient has 55 or 56 bits: two guard bits beyond double precision,
    // plus a sticky flag from the remainder, decide the rounding exactly.
    const std::int64_t scale = 55 - (num_bits - den_bits);
    Limbs q, r;
    if (scale >= 0) {
      divide(shift_left(num, static_cast<std::size_t>(scale)), den, q, r);
    } else {
      divide(num, shift_left(den, static_cast<std::size_t>(-scale)), q, r);
    }
    const bool sticky = !r.empty();
    std::uint64_t quotient = low_u64(q);  // < 2**57
    const auto q_bits = static_cast<std::int64_t>(bit_length(q));
    // value = (quotient + sticky) * 2**(-scale); exponent of its leading bit:
    const std::int64_t exponent = q_bits - 1 - scale;
    // Weight of the last mantissa bit we keep: 53 significant bits, or fewer when subnormal.
    const std::int64_t lsb_exponent = std::max<std::int64_t>(exponent - 52, -1074);
    const std::int64_t drop = lsb_exponent + scale;  // >= 2 by construction
    std::uint64_t mantissa = 0;
    if (drop < 64) {
      mantissa = quotient >> drop;
      const std::uint64_t rest = quotient & ((1ull << drop) - 1);
      const std::uint64_t half = 1ull << (drop - 1);
      if (rest > half || (rest == half && (sticky || (mantissa & 1) != 0))) ++mantissa;
    }
    // mantissa <= 2**53 and lsb_exponent >= -1074, so ldexp is exact; it reaches inf only when
    // rounding carried past the largest finite double.
    const double result = std::ldexp(static_cast<double>(mantissa), static_cast<int>(lsb_exponent));
    if (std::isinf(result)) return std::nullopt;
    return result;
  }
};

BigInt::BigInt(bool negative, Limbs magnitude) : negative_(negative), magnitude_(std::move(magnitude)) {
  BigIntOps::trim(magnitude_);
  if (magnitude_.empty()) negative_ = false;
}

BigInt BigInt::from_u64(std::uint64_t value) {
  return BigInt(false, Limbs{static_cast<std::uint32_t>(value), static_cast<std::uint32_t>(value >> 32)});
}

BigInt BigInt::from_decimal(std::string_view digits) {
  Limbs mag;
  // Nine decimal digits at a time fit in one 32-bit limb multiply-add.
  std::size_t pos = 0;
  const std::size_t first = digits.size() % 9 == 0 ? 9 : digits.size() % 9;
  std::size_t chunk_len = std::min(first, digits.size());
  while (pos < digits.size()) {
    std::uint32_t chunk = 0;
    std::uint32_t factor = 1;
    for (std::size_t i = 0; i < chunk_len; ++i) {
      chunk = chunk * 10 + static_cast<std::uint32_t>(digits[pos + i] - '0');
      factor *= 10;
    }
    BigIntOps::multiply_add_small(mag, factor, chunk);
    pos += chunk_len;
    chunk_len = 9;
  }
  return BigInt(false, std::move(mag));
}

std::size_t BigInt::bit_length() const { return BigIntOps::bit_length(magnitude_); }

std::string BigInt::to_decimal() const {
  if (magnitude_.empty()) return "0";
  Limbs rest = magnitude_;
  std::vector<std::uint32_t> chunks;  // base 10**9, least significant first
  while (!rest.empty()) chunks.push_back(BigIntOps::divide_small(rest, 1000000000u));
  std::string out = negative_ ? "-" : "";
  out += std::to_string(chunks.back());
  for (std::size_t i = chunks.size() - 1; i-- > 0;) {
    std::string part = std::to_string(chunks[i]);
    out.append(9 - part.size(), '0');
    out += part;
  }
  return out;
}

std::optional<std::int64_t> BigInt::to_int64() const {
  if (bit_length() > 64) return std::nullopt;
  const std::uint64_t mag = BigIntOps::low_u64(magnitude_);
  if (!negative_) {
    if (mag > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(mag);
  }
  if (mag > static_cast<std::uint64_t>(INT64_MAX) + 1) return std::nullopt;
  return static_cast<std::int64_t>(0 - mag);
}

BigInt BigInt::operator-() const { return BigInt(!negative_, magnitude_); }

BigInt operator+(const BigInt& a, const BigInt& b) {
  if (a.negative_ == b.negative_) return BigInt(a.negative_, BigIntOps::add(a.magnitude_, b.magnitude_));
  const int cmp = BigIntOps::compare(a.magnitude_, b.magnitude_);
  if (cmp == 0) return BigInt();
  if (cmp > 0) return BigInt(a.negative_, BigIntOps::subtract(a.magnitude_, b.magnitude_));
  return BigInt(b.negative_, BigIntOps::subtract(b.magnitude_, a.magnitude_));
}

BigInt operator-(const BigInt& a, const BigInt& b) { return a + (-b); }

BigInt operator*(const BigInt& a, const BigInt& b) {
  return BigInt(a.negative_ != b.negative_, BigIntOps::multiply(a.magnitude_, b.magnitude_));
}

BigInt BigInt::floor_divide(const BigInt& a, const BigInt& b) {
  Limbs q, r;
  BigIntOps::divide(a.magnitude_, b.magnitude_, q, r);
  const bool negative = a.negative_ != b.negative_;
  // Truncation rounds toward zero; a negative inexact quotient must go one further down.
  if (negative && !r.empty()) q = BigIntOps::add(q, Limbs{1});
  return BigInt(negative, std::move(q));
}

std::optional<double> BigInt::to_double() const {
  if (magnitude_.empty()) return 0.0;
  auto magnitude = BigIntOps::divide_to_double(magnitude_, Limbs{1});
  if (!magnitude) return std::nullopt;
  return negative_ ? -*magnitude : *magnitude;
}

std::optional<double> BigInt::true_divide(const BigInt& a, const BigInt& b) {
  const bool negative = a.negative_ != b.negative_;
  if (a.magnitude_.empty()) return negative ? -0.0 : 0.0;
  auto magnitude = BigIntOps::divide_to_double(a.magnitude_, b.magnitude_);
  if (!magnitude) return std::nullopt;
  return negative ? -*magnitude : *magnitude;
}

}  // namespace nanochat::engine
