// The base_train schedules (spec §8.3) at their boundaries, with the spec's worked numbers.
#include <gtest/gtest.h>

#include "nanochat/core/error.h"
#include "nanochat/optim/schedules.h"

namespace nanochat::optim {
namespace {

ScheduleConfig config(int64_t n, double wd = 0.28) {
  ScheduleConfig s;
  s.num_iterations = n;
  s.weight_decay = wd;
  return s;
}

TEST(Schedules, PythonRoundIsHalfToEven) {
  EXPECT_EQ(python_round(2.5), 2);
  EXPECT_EQ(python_round(3.5), 4);
  EXPECT_EQ(python_round(-0.5), 0);
  EXPECT_EQ(python_round(2.4999), 2);
  EXPECT_EQ(python_round(2.5001), 3);
}

TEST(Schedules, WarmdownLengthRoundsLikePython) {
  EXPECT_EQ(warmdown_iters(config(5568)), 3619);  // the d24 speedrun (spec §8.3)
  ScheduleConfig s = config(10);
  s.warmdown_ratio = 0.25;  // 2.5 -> 2
  EXPECT_EQ(warmdown_iters(s), 2);
  s.num_iterations = 14;  // 3.5 -> 4
  EXPECT_EQ(warmdown_iters(s), 4);
}

TEST(Schedules, LrMultiplierWarmupConstantWarmdown) {
  const ScheduleConfig s = config(1000);  // warmdown = 650, constant through it = 350
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 0), 1.0 / 40);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 38), 39.0 / 40);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 39), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 40), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 350), 1.0);  // it == N - warmdown is still constant
  const double p = 649.0 / 650.0;
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 351), p + (1 - p) * 0.05);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 675), 0.5 + 0.5 * 0.05);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 1000), 0.05);  // the final lr fraction at the horizon
  for (int64_t it = 351; it < 1000; ++it) EXPECT_LT(lr_multiplier(s, it), lr_multiplier(s, it - 1)) << it;
}

TEST(Schedules, WarmupWinsOverAShortHorizon) {
  const ScheduleConfig s = config(20);  // warmdown 13 starts at 7, inside the 40-step warmup
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 10), 11.0 / 40);
  ScheduleConfig no_warmup = config(20);
  no_warmup.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(lr_multiplier(no_warmup, 0), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(no_warmup, 7), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(no_warmup, 8), 12.0 / 13 + (1 - 12.0 / 13) * 0.05);
}

TEST(Schedules, NoWarmdownStaysConstant) {
  ScheduleConfig s = config(1000);
  s.warmdown_ratio = 0;
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 999), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 1000), 1.0);
  EXPECT_DOUBLE_EQ(muon_momentum(s, 999), 0.97);
}

TEST(Schedules, MuonMomentumRampsUpThenDown) {
  const ScheduleConfig s = config(5568);  // warmdown 3619 starts at 1949
  EXPECT_DOUBLE_EQ(muon_momentum(s, 0), 0.85);
  EXPECT_DOUBLE_EQ(muon_momentum(s, 200), 0.5 * 0.85 + 0.5 * 0.97);
  EXPECT_NEAR(muon_momentum(s, 399), 0.85 + 399.0 / 400 * 0.12, 1e-15);
  EXPECT_DOUBLE_EQ(muon_momentum(s, 400), 0.97);
  EXPECT_DOUBLE_EQ(muon_momentum(s, 1948), 0.97);
  EXPECT_DOUBLE_EQ(muon_momentum(s, 1949), 0.97);  // progress 0 at the warmdown start
  EXPECT_NEAR(muon_momentum(s, 5568), 0.90, 1e-15);
  EXPECT_NEAR(muon_momentum(s, 1949 + 3619 / 2), 0.97 - 0.07 * (3619 / 2) / 3619.0, 1e-12);
  // Overlap: a horizon shorter than 400 steps keeps the warmup ramp.
  EXPECT_DOUBLE_EQ(muon_momentum(config(100), 90), (1 - 90.0 / 400) * 0.85 + 90.0 / 400 * 0.97);
}

TEST(Schedules, MuonWeightDecayIsACosineToZero) {
  const ScheduleConfig s = config(1000, 0.28);
  EXPECT_DOUBLE_EQ(muon_weight_decay(s, 0), 0.28);
  EXPECT_NEAR(muon_weight_decay(s, 500), 0.14, 1e-15);
  EXPECT_NEAR(muon_weight_decay(s, 1000), 0.0, 1e-15);
  EXPECT_NEAR(muon_weight_decay(s, 250), 0.28 * 0.5 * (1 + std::sqrt(0.5)), 1e-15);
}

TEST(Schedules, ValidateNamesTheField) {
  ScheduleConfig s = config(0);
  try {
    s.validate();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_iterations"), std::string::npos) << e.what();
  }
  s = config(10);
  s.warmdown_ratio = 1.5;
  EXPECT_THROW(s.validate(), Error);
  s = config(10);
  EXPECT_NO_THROW(s.validate());
}

}  // namespace
}  // namespace nanochat::optim
