// Python/NumPy-compatible RNGs: spec Appendix A test vectors, plus values from a CPython 3.11 oracle
// (labelled "oracle") run while developing.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "nanochat/eval/python_random.h"

using nanochat::eval::NumpyPcg64;
using nanochat::eval::PythonRandom;

namespace {
std::vector<int> range_vec(int lo, int hi) {
  std::vector<int> v(static_cast<size_t>(hi - lo));
  std::iota(v.begin(), v.end(), lo);
  return v;
}
}  // namespace

TEST(PythonRandom, RandomMatchesSpecVectors) {
  EXPECT_EQ(PythonRandom(42).random(), 0.6394267984578837);
  EXPECT_EQ(PythonRandom(0).random(), 0.8444218515250481);
}

TEST(PythonRandom, ShuffleMatchesSpecVectors) {
  auto a = range_vec(0, 10);
  PythonRandom(42).shuffle(a);
  EXPECT_EQ(a, (std::vector<int>{7, 3, 2, 8, 5, 6, 9, 4, 0, 1}));
  auto b = range_vec(0, 10);
  PythonRandom(1337).shuffle(b);
  EXPECT_EQ(b, (std::vector<int>{0, 3, 7, 2, 1, 6, 4, 5, 8, 9}));
}

TEST(PythonRandom, CoreFewShotSampleMatchesSpecVectors) {
  const auto pop = range_vec(1, 100);  // n=100, idx=0 excluded
  PythonRandom r0(1234);
  EXPECT_EQ(r0.sample(std::span<const int>(pop), 10), (std::vector<int>{57, 15, 1, 12, 75, 5, 86, 89, 11, 13}));
  PythonRandom r3(1234);
  EXPECT_EQ(r3.sample(std::span<const int>(pop), 3), (std::vector<int>{57, 15, 1}));
  PythonRandom r5(1234);
  EXPECT_EQ(r5.sample(std::span<const int>(pop), 5), (std::vector<int>{57, 15, 1, 12, 75}));
  std::vector<int> pop7 = range_vec(0, 100);
  pop7.erase(pop7.begin() + 7);
  PythonRandom r7(1241);
  EXPECT_EQ(r7.sample(std::span<const int>(pop7), 10), (std::vector<int>{78, 64, 98, 28, 37, 33, 25, 92, 63, 71}));
  const auto pop20 = range_vec(1, 20);  // pool path: n=19 <= 85
  PythonRandom r20(1234);
  EXPECT_EQ(r20.sample(std::span<const int>(pop20), 10), (std::vector<int>{15, 4, 1, 3, 19, 13, 10, 17, 11, 2}));
}

TEST(PythonRandom, SampleLargerThanPopulationThrows) {
  PythonRandom r(1);
  EXPECT_THROW(r.sample_indices(3, 4), nanochat::Error);
}

TEST(PythonRandom, MatchesCPythonOracle) {
  // oracle: r=Random(-5); r.getrandbits(40), r.getrandbits(64), r.randrange(3,1000), r.random()
  PythonRandom r(-5);
  EXPECT_EQ(r.getrandbits(40), 281848216645ull);
  EXPECT_EQ(r.getrandbits(64), 6613812840851947673ull);
  EXPECT_EQ(r.randrange(3, 1000), 817);
  EXPECT_EQ(r.random(), 0.6904468457583358);
  // oracle: Random(2**40+7).random() (two-word seed key)
  EXPECT_EQ(PythonRandom((int64_t{1} << 40) + 7).random(), 0.6137037779936511);
  // oracle: Random(5): shuffle(range(30)) then choice(range(100))
  PythonRandom r5(5);
  auto v = range_vec(0, 30);
  r5.shuffle(v);
  EXPECT_EQ(v, (std::vector<int>{4, 26, 13, 2, 10, 9, 29, 24, 12, 17, 28, 6, 15, 18, 21,
                                 3, 5, 1, 7, 14, 0, 16, 20, 27, 22, 25, 11, 23, 8, 19}));
  const auto hundred = range_vec(0, 100);
  EXPECT_EQ(r5.choice(std::span<const int>(hundred)), 20);
  // oracle: Random(99).sample(range(1000), 7) (set path, k>5)
  PythonRandom r99(99);
  EXPECT_EQ(r99.sample_indices(1000, 7), (std::vector<size_t>{413, 389, 204, 613, 183, 235, 254}));
  // oracle: Random(1237).sample(range(1,50), 3) (set path, k<=5: setsize 21 < 49)
  PythonRandom r1237(1237);
  const auto pop = range_vec(1, 50);
  EXPECT_EQ(r1237.sample(std::span<const int>(pop), 3), (std::vector<int>{10, 26, 20}));
}

TEST(NumpyPcg64, PermutationMatchesSpecVectors) {
  EXPECT_EQ(NumpyPcg64(42).permutation(10), (std::vector<int64_t>{5, 6, 0, 7, 3, 2, 4, 9, 1, 8}));
  EXPECT_EQ(NumpyPcg64(42).permutation(20),
            (std::vector<int64_t>{15, 9, 14, 7, 12, 10, 6, 19, 3, 0, 16, 5, 11, 18, 2, 4, 17, 1, 13, 8}));
}
