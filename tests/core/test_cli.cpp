#include <gtest/gtest.h>

#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"

using namespace nanochat;

namespace {
struct Flags {
  int64_t depth = 20;
  double lr = 0.02;
  std::string pattern = "SSSL";
  std::string dataset = "climbmix";
  bool fp8 = false;
  std::optional<int64_t> step;
  int64_t num_files = -1;
};

ArgParser make(Flags& f) {
  ArgParser p("nanochat test", "test parser");
  p.add("--depth", &f.depth, "depth")
      .add("--matrix-lr", &f.lr, "lr")
      .add("--window-pattern", &f.pattern, "pattern")
      .add("--dataset", &f.dataset, "dataset", {"climbmix", "fineweb-edu"})
      .add_switch("--fp8", &f.fp8, "fp8")
      .add("-s,--step", &f.step, "step")
      .add("-n,--num-files", &f.num_files, "files");
  return p;
}
}  // namespace

TEST(ArgParser, ParsesEqualsSpaceAndAliases) {
  Flags f;
  auto p = make(f);
  ASSERT_TRUE(p.parse({"--depth=4", "--matrix-lr", "0.5", "--fp8", "-s", "7", "-n3", "--window-pattern=L"}));
  EXPECT_EQ(f.depth, 4);
  EXPECT_DOUBLE_EQ(f.lr, 0.5);
  EXPECT_TRUE(f.fp8);
  EXPECT_EQ(f.step, 7);
  EXPECT_EQ(f.num_files, 3);
  EXPECT_EQ(f.pattern, "L");
  EXPECT_TRUE(p.was_set("--depth"));
  EXPECT_FALSE(p.was_set("--dataset"));
}

TEST(ArgParser, NegativeNumbersAreValuesNotFlags) {
  Flags f;
  auto p = make(f);
  ASSERT_TRUE(p.parse({"--num-files", "-1", "--matrix-lr", "-.5"}));
  EXPECT_EQ(f.num_files, -1);
  EXPECT_DOUBLE_EQ(f.lr, -0.5);
}

TEST(ArgParser, RejectsBadInputWithTheFlagName) {
  auto expect_usage = [](std::vector<std::string> args, const std::string& needle) {
    Flags f;
    auto p = make(f);
    try {
      p.parse(args);
      FAIL() << "no error for " << needle;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_usage({"--bogus=1"}, "--bogus");
  expect_usage({"--device_batch_size=1"}, "unrecognized");
  expect_usage({"--depth=abc"}, "--depth");
  expect_usage({"--depth=4.0"}, "invalid int");
  expect_usage({"--depth"}, "expected one argument");
  expect_usage({"--matrix-lr=x"}, "invalid float");
  expect_usage({"--dataset=nope"}, "invalid choice");
  expect_usage({"--fp8=1"}, "--fp8");
  expect_usage({"stray"}, "unrecognized argument");
}

TEST(ArgParser, HelpListsFlagsWithDefaults) {
  Flags f;
  auto p = make(f);
  const std::string help = p.help_text();
  EXPECT_NE(help.find("--depth X"), std::string::npos);
  EXPECT_NE(help.find("(default: 20)"), std::string::npos);
  EXPECT_NE(help.find("-n, --num-files"), std::string::npos);
  EXPECT_NE(help.find("climbmix|fineweb-edu"), std::string::npos);
}

TEST(ParseNumbers, StrictWholeStringParsing) {
  EXPECT_EQ(parse_int("42", "x"), 42);
  EXPECT_EQ(parse_int("-7", "x"), -7);
  EXPECT_THROW(parse_int("42abc", "x"), UsageError);
  EXPECT_THROW(parse_int("", "x"), UsageError);
  EXPECT_THROW(parse_int("99999999999999999999", "x"), UsageError);
  EXPECT_DOUBLE_EQ(parse_double("1e-3", "x"), 1e-3);
  EXPECT_THROW(parse_double("nan", "x"), UsageError);
  EXPECT_THROW(parse_double("1.0x", "x"), UsageError);
}
