#include "nanochat/eval/python_random.h"

#include <bit>
#include <cmath>
#include <unordered_set>

namespace nanochat::eval {

namespace {
constexpr int kN = 624;
constexpr int kM = 397;

// Bit length of n (CPython int.bit_length).
int bit_length(uint64_t n) { return n == 0 ? 0 : 64 - std::countl_zero(n); }

__extension__ typedef unsigned __int128 u128;
}  // namespace

PythonRandom::PythonRandom(int64_t seed) {
  // |seed| as an unsigned value (INT64_MIN included), split into little-endian 32-bit words.
  const uint64_t n = seed < 0 ? uint64_t{0} - static_cast<uint64_t>(seed) : static_cast<uint64_t>(seed);
  std::vector<uint32_t> key;
  key.push_back(static_cast<uint32_t>(n));
  if ((n >> 32) != 0) key.push_back(static_cast<uint32_t>(n >> 32));

  mt_[0] = 19650218u;
  for (uint32_t i = 1; i < kN; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + i;
  uint32_t i = 1, j = 0;
  const size_t key_len = key.size();
  for (size_t k = std::max<size_t>(kN, key_len); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + j;
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= key_len) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - i;
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  index_ = kN;
}

void PythonRandom::twist() {
  for (int k = 0; k < kN; ++k) {
    const uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % kN] & 0x7fffffffu);
    mt_[k] = mt_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
  }
  index_ = 0;
}

uint32_t PythonRandom::genrand_uint32() {
  if (index_ >= kN) twist();
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t PythonRandom::getrandbits(int k) {
  NC_CHECK(k > 0 && k <= 64, "getrandbits: k must be in 1..64, got {}", k);
  if (k <= 32) return genrand_uint32() >> (32 - k);
  // Words fill from the least significant end; the last (most significant) is cut to the bits left.
  const uint64_t low = genrand_uint32();
  const uint64_t high = genrand_uint32() >> (64 - k);
  return low | (high << 32);
}

uint64_t PythonRandom::randbelow(uint64_t n) {
  NC_CHECK(n >= 1, "randbelow: n must be positive");
  const int k = bit_length(n);
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

double PythonRandom::random() {
  const uint32_t a = genrand_uint32() >> 5;
  const uint32_t b = genrand_uint32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

int64_t PythonRandom::randrange(int64_t start, int64_t stop) {
  NC_CHECK(stop > start, "randrange: empty range [{}, {})", start, stop);
  return start + static_cast<int64_t>(randbelow(static_cast<uint64_t>(stop - start)));
}

std::vector<size_t> PythonRandom::sample_indices(size_t n, size_t k) {
  NC_CHECK(k <= n, "random.sample: sample larger than population ({} > {})", k, n);
  size_t setsize = 21;
  if (k > 5) {
    // 4 ** ceil(log(3k, 4)); CPython computes the exponent with float log, reproduced here.
    const double e = std::ceil(std::log(static_cast<double>(3 * k)) / std::log(4.0));
    setsize += static_cast<size_t>(std::llround(std::pow(4.0, e)));
  }
  std::vector<size_t> result(k);
  if (n <= setsize) {
    std::vector<size_t> pool(n);
    for (size_t i = 0; i < n; ++i) pool[i] = i;
    for (size_t i = 0; i < k; ++i) {
      const size_t j = static_cast<size_t>(randbelow(n - i));
      result[i] = pool[j];
      pool[j] = pool[n - i - 1];
    }
  } else {
    std::unordered_set<size_t> selected;
    for (size_t i = 0; i < k; ++i) {
      size_t j = static_cast<size_t>(randbelow(n));
      while (selected.count(j) != 0) j = static_cast<size_t>(randbelow(n));
      selected.insert(j);
      result[i] = j;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------
// NumPy: SeedSequence -> PCG64.

namespace {
constexpr uint32_t kInitA = 0x43b0d7e5u, kMultA = 0x931e8875u, kInitB = 0x8b51f9ddu, kMultB = 0x58f38dedu;
constexpr uint32_t kMixL = 0xca01f9ddu, kMixR = 0x4973f715u;

uint32_t mix(uint32_t x, uint32_t y) {
  const uint32_t r = kMixL * x - kMixR * y;
  return r ^ (r >> 16);
}

struct HashMix {
  uint32_t h = kInitA;
  uint32_t operator()(uint32_t v) {
    v ^= h;
    h *= kMultA;
    v *= h;
    v ^= v >> 16;
    return v;
  }
};

const u128 kPcgMult = (static_cast<u128>(2549297995355413924ull) << 64) | 4865540595714422341ull;
}  // namespace

NumpyPcg64::NumpyPcg64(uint64_t seed) {
  std::vector<uint32_t> entropy{static_cast<uint32_t>(seed)};
  if ((seed >> 32) != 0) entropy.push_back(static_cast<uint32_t>(seed >> 32));
  std::array<uint32_t, 4> pool{};
  HashMix hashmix;
  for (size_t i = 0; i < 4; ++i) pool[i] = hashmix(i < entropy.size() ? entropy[i] : 0u);
  for (size_t src = 0; src < 4; ++src)
    for (size_t dst = 0; dst < 4; ++dst)
      if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
  for (size_t extra = 4; extra < entropy.size(); ++extra)
    for (size_t dst = 0; dst < 4; ++dst) pool[dst] = mix(pool[dst], hashmix(entropy[extra]));

  std::array<uint32_t, 8> words{};
  uint32_t h = kInitB;
  for (size_t i = 0; i < 8; ++i) {
    uint32_t v = pool[i % 4] ^ h;
    h *= kMultB;
    v *= h;
    v ^= v >> 16;
    words[i] = v;
  }
  std::array<uint64_t, 4> s{};
  for (size_t i = 0; i < 4; ++i) s[i] = static_cast<uint64_t>(words[2 * i]) | (static_cast<uint64_t>(words[2 * i + 1]) << 32);

  const u128 initstate = (static_cast<u128>(s[0]) << 64) | s[1];
  const u128 initseq = (static_cast<u128>(s[2]) << 64) | s[3];
  const u128 inc = (initseq << 1) | 1;
  inc_hi_ = static_cast<uint64_t>(inc >> 64);
  inc_lo_ = static_cast<uint64_t>(inc);
  state_hi_ = state_lo_ = 0;
  step();
  u128 st = ((static_cast<u128>(state_hi_) << 64) | state_lo_) + initstate;
  state_hi_ = static_cast<uint64_t>(st >> 64);
  state_lo_ = static_cast<uint64_t>(st);
  step();
}

void NumpyPcg64::step() {
  const u128 st = (static_cast<u128>(state_hi_) << 64) | state_lo_;
  const u128 inc = (static_cast<u128>(inc_hi_) << 64) | inc_lo_;
  const u128 next = st * kPcgMult + inc;
  state_hi_ = static_cast<uint64_t>(next >> 64);
  state_lo_ = static_cast<uint64_t>(next);
}

uint64_t NumpyPcg64::next64() {
  step();
  const int rot = static_cast<int>(state_hi_ >> 58);
  return std::rotr(state_hi_ ^ state_lo_, rot);
}

uint32_t NumpyPcg64::next32() {
  if (has_saved_) {
    has_saved_ = false;
    return saved_;
  }
  const uint64_t x = next64();
  saved_ = static_cast<uint32_t>(x >> 32);
  has_saved_ = true;
  return static_cast<uint32_t>(x);
}

uint64_t NumpyPcg64::random_interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  uint64_t v;
  if (max <= 0xffffffffull) {
    while ((v = (next32() & mask)) > max) {
    }
  } else {
    while ((v = (next64() & mask)) > max) {
    }
  }
  return v;
}

std::vector<int64_t> NumpyPcg64::permutation(int64_t n) {
  NC_CHECK(n >= 0, "permutation: negative n {}", n);
  std::vector<int64_t> a(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) a[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(random_interval(static_cast<uint64_t>(i)));
    std::swap(a[static_cast<size_t>(i)], a[static_cast<size_t>(j)]);
  }
  return a;
}

}  // namespace nanochat::eval
