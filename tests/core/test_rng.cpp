#include <gtest/gtest.h>

#include <set>

#include "nanochat/core/rng.h"

using namespace nanochat;

TEST(Philox, KnownAnswerVectorsOfPhilox4x32_10) {
  // Random123's kat_vectors for philox4x32_10: (counter, key) -> output.
  EXPECT_EQ(Philox(0, 0).block(0), (std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(Philox(~0ull, ~0ull).block(~0ull), (std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(Philox(0x299f31d0a4093822ull, 0x0370734413198a2eull).block(0x85a308d3243f6a88ull),
            (std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Philox, StreamsDifferAndOffsetsResumeExactly) {
  Philox a(42, 0), b(42, 1);
  std::vector<uint32_t> first;
  for (int i = 0; i < 11; ++i) first.push_back(a.next_u32());
  EXPECT_NE(first[0], b.next_u32());
  Philox c(42, 0);
  c.set_offset(7);
  for (int i = 7; i < 11; ++i) EXPECT_EQ(c.next_u32(), first[static_cast<size_t>(i)]);
  EXPECT_EQ(c.offset(), 11u);
  Philox d(42, 0);
  std::set<uint32_t> seen;
  double sum = 0;
  for (int i = 0; i < 20000; ++i) {
    const double u = d.next_double();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 20000, 0.5, 0.01);
}
