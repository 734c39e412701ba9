// Random number generators bit-compatible with the ones the original's evaluation relies on (spec
// tokenizer-inference-eval.md Appendix A): CPython's random.Random (MT19937, 3.10/3.11 semantics of
// seeding, shuffle, choice and sample) and NumPy's default_rng(seed).permutation (PCG64 seeded through
// SeedSequence). Same seed, same draws as Python, so data order and few-shot picks match the original.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "nanochat/core/error.h"

namespace nanochat::eval {

class PythonRandom {
 public:
  // random.Random(seed) for an int seed; negative seeds fold to |seed| as CPython does.
  explicit PythonRandom(int64_t seed);

  uint32_t genrand_uint32();
  // getrandbits(k) for 0 < k <= 64 (the callers never need more).
  uint64_t getrandbits(int k);
  // CPython's _randbelow_with_getrandbits: uniform in [0, n), n >= 1.
  uint64_t randbelow(uint64_t n);
  // random(): 53-bit float in [0, 1).
  double random();
  // randrange(start, stop) with step 1: start + randbelow(stop - start); stop > start.
  int64_t randrange(int64_t start, int64_t stop);

  template <class T>
  void shuffle(std::vector<T>& x) {
    for (size_t i = x.size(); i-- > 1;) {
      const size_t j = static_cast<size_t>(randbelow(i + 1));
      std::swap(x[i], x[j]);
    }
  }

  template <class T>
  const T& choice(std::span<const T> seq) {
    NC_CHECK(!seq.empty(), "random.choice: cannot choose from an empty sequence");
    return seq[static_cast<size_t>(randbelow(seq.size()))];
  }

  // Indices picked by random.sample(range(n), k), in order (pool path for small n, set path otherwise).
  std::vector<size_t> sample_indices(size_t n, size_t k);

  template <class T>
  std::vector<T> sample(std::span<const T> population, size_t k) {
    std::vector<T> out;
    out.reserve(k);
    for (size_t i : sample_indices(population.size(), k)) out.push_back(population[i]);
    return out;
  }

 private:
  void twist();
  std::array<uint32_t, 624> mt_{};
  int index_ = 624;
};

// numpy.random.default_rng(seed) restricted to what the port needs: the PCG64 stream and permutation.
class NumpyPcg64 {
 public:
  explicit NumpyPcg64(uint64_t seed);
  uint64_t next64();
  uint32_t next32();
  // Uniform in [0, max] (NumPy's masked rejection sampler).
  uint64_t random_interval(uint64_t max);
  // default_rng(seed).permutation(n).
  std::vector<int64_t> permutation(int64_t n);

 private:
  void step();
  uint64_t state_hi_ = 0, state_lo_ = 0, inc_hi_ = 0, inc_lo_ = 0;
  bool has_saved_ = false;
  uint32_t saved_ = 0;
};

}  // namespace nanochat::eval
