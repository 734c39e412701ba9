// exp and tanh that vectorize: branch-free float versions for loops under `#pragma omp simd`
// (glibc's expf/tanhf are scalar calls, which kept the softcap, cross-entropy and attention
// softmax loops scalar), and the exact std:: versions for double, which the gradient checks use.
//
// Accuracy of the float versions (tests/model/test_cpu_vec_math.cpp sweeps them against
// double): exp_f within 2 ulp on [-87, 88] (inputs are clamped there: below, it returns about
// 1.6e-38 instead of a subnormal or 0, which no sum of probabilities can see); tanh_f within
// 3e-7 relative everywhere.
//
// NC_SIMD_CLONES compiles a function for plain x86-64, AVX2+FMA and AVX-512 and picks one at load
// time, so the portable binary still uses the wide vectors of the machine it runs on.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NC_SIMD_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define NC_SIMD_CLONES
#endif
#if defined(__GNUC__)
#define NC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define NC_ALWAYS_INLINE inline
#endif

namespace nanochat::kernels::cpu {

// e^x = 2^k * e^r with k = round(x / ln 2) and |r| <= ln(2)/2, e^r by its Taylor series to r^7
// (truncation below 6e-9 relative), 2^k built in the exponent bits.
NC_ALWAYS_INLINE float exp_f(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;       // ln 2 split so that k * kLn2Hi is exact
  constexpr float kLn2Lo = 1.42860682030941723e-6f;
  constexpr float kRound = 12582912.0f;              // 1.5 * 2^23: adding it rounds to an integer
  const float k = (x * kLog2e + kRound) - kRound;
  const float r = (x - k * kLn2Hi) - k * kLn2Lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float two_k = std::bit_cast<float>((static_cast<int32_t>(k) + 127) << 23);
  return p * two_k;
}

// tanh: odd Taylor series to x^13 for |x| < 0.4 (truncation below 5e-9 relative), else
// 1 - 2/(e^{2|x|} + 1) with the sign restored (|x| >= 10 gives exactly +-1 in float; at 9 it would
// still be 1 ulp short). NaN stays NaN: the softcap must not turn a diverged logit into a finite one.
NC_ALWAYS_INLINE float tanh_f(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  float s = 21844.0f / 6081075.0f;
  s = s * z - 1382.0f / 155925.0f;
  s = s * z + 62.0f / 2835.0f;
  s = s * z - 17.0f / 315.0f;
  s = s * z + 2.0f / 15.0f;
  s = s * z - 1.0f / 3.0f;
  const float small = x + x * (z * s);
  const float e = exp_f(2.0f * (ax < 10.0f ? ax : 10.0f));
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float large = x < 0.0f ? -big : big;
  return ax < 0.4f ? small : (ax == ax ? large : x);
}

NC_ALWAYS_INLINE double exp_f(double x) { return std::exp(x); }
NC_ALWAYS_INLINE double tanh_f(double x) { return std::tanh(x); }

}  // namespace nanochat::kernels::cpu
