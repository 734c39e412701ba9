// Tests of the calculator tool (spec §4.7, A.6). Expected values marked "CPython" were produced by
// running the original use_calculator (nanochat HEAD: comma removal, character filters, eval with
// empty builtins, str() of the result) under CPython 3.11.7, eval() 8 frames deep as under chat_eval.
#include "nanochat/engine/calculator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/engine/bigint.h"
#include "nanochat/engine/python_float.h"

namespace nanochat::engine {
namespace {

const std::optional<std::string> kNone = std::nullopt;

struct Case {
  std::string expr;
  std::optional<std::string> expected;
};

void expect_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(use_calculator(c.expr), c.expected) << "expr: " << c.expr.substr(0, 200);
  }
}

std::string repeat(const std::string& piece, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += piece;
  return out;
}

TEST(Calculator, SpecExamples) {
  expect_cases({
      {"1--1", "2"},
      {"-7//2", "-4"},
      {"7.5//2", "3.0"},
      {"-7.5//2", "-4.0"},
      {"12/60", "0.2"},
      {"0.1+0.2", "0.30000000000000004"},
      {"10/3", "3.3333333333333335"},
      {"2**3", kNone},
      {"2 ** 3", kNone},
      {"007", kNone},
      {"0", "0"},
      {"00", "0"},
      {"()", "()"},
      {"2(3)", kNone},
      {"(1)(2)", kNone},
      {"1/0", kNone},
      {"1//0", kNone},
      {"1.5/0.0", kNone},
      {".5", "0.5"},
      {"5.", "5.0"},
      {"1.25", "1.25"},
      {"  3 + 4  ", "7"},
      {"1,000,000 * 3", "3000000"},
      {"'a,b'.count(',')", "3"},
      {"'strawberry'.count('r')", "3"},
      {"\"strawberry\".count(\"r\")", "3"},
      {"'directory'.count('r')", kNone},  // 'dir' is on the dangerous list
      {"'profile'.count('f')", kNone},    // 'file'
      {"'opened'.count('e')", kNone},     // 'open'
      {"'evaluate'.count('e')", kNone},   // 'eval'
      {"'abc'.upper().count('A')", "1"},
      {"'abc'.count('')", "4"},
      {"'aaaa'.count('aa')", "2"},
      {"'abc'", kNone},  // no .count(
      {"1+1\n", kNone},  // newline is not in either character set
      {"1\t+1", kNone},
      {"", kNone},
      {",", kNone},
  });
}

TEST(Calculator, FloatReprBoundaries) {
  // Appendix A.6: fixed notation for decimal exponents in [-4, 16), else scientific.
  expect_cases({
      {"10000000000000000.0", "1e+16"},
      {"9999999999999998.0", "9999999999999998.0"},
      {"1234567890123456.0", "1234567890123456.0"},
      {"12345678901234567.0", "1.2345678901234568e+16"},
      {"0.0001", "0.0001"},
      {"0.00001", "1e-05"},
      {"0.000012345", "1.2345e-05"},
      {"150000000000000000000.0", "1.5e+20"},
      {"5.0", "5.0"},
      {"-0.0", "-0.0"},
      {"0*-1.0", "-0.0"},
      {"0/-5", "-0.0"},
      {"-0/5", "0.0"},
      {"1/3", "0.3333333333333333"},
      {"2/3", "0.6666666666666666"},
  });
  EXPECT_EQ(python_float_repr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(python_float_repr(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(python_float_repr(std::nan("")), "nan");
  EXPECT_EQ(python_float_repr(5e-324), "5e-324");
  EXPECT_EQ(python_float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(python_float_repr(123.456), "123.456");
  EXPECT_EQ(python_float_repr(1e22), "1e+22");
  EXPECT_EQ(python_float_repr(-2.5e-7), "-2.5e-07");
}

TEST(Calculator, FloatOverflowAndUnderflow) {
  const std::string max_double_int =  // 2**1024 - 2**970, the largest finite double, exactly
      "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171"
      "540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508"
      "455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858"
      "368";
  const std::string below_rounding_up =  // 2**1024 - 2**969 - 1: still rounds down
      "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096"
      "330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730"
      "270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497"
      "791";
  const std::string rounding_up = below_rounding_up.substr(0, below_rounding_up.size() - 1) + "2";
  expect_cases({
      {max_double_int + "*1.0", "1.7976931348623157e+308"},
      {below_rounding_up + "*1.0", "1.7976931348623157e+308"},
      {rounding_up + "*1.0", kNone},  // float(int) rounds to 2**1024: OverflowError
      {rounding_up + ".0", "inf"},    // a float literal beyond the range is inf
      {repeat("1", 308) + ".0*10", "1.1111111111111112e+308"},
      {repeat("1", 309) + ".0*10", "inf"},  // float arithmetic overflows silently
      {repeat("1", 308) + ".0*100//1", "nan"},
      {repeat("1", 310) + "*1.0", kNone},
      {repeat("1", 310) + "/1", kNone},  // int/int too large for a float
      {repeat("1", 310) + "//1", repeat("1", 310)},
      {"1/" + repeat("1", 330), "0.0"},
      {"-1/" + repeat("1", 330), "-0.0"},
      {"0." + repeat("0", 323) + "5", "5e-324"},
      {"0." + repeat("0", 323) + "2", "0.0"},
      {"0." + repeat("0", 307) + "22250738585072014", "2.2250738585072014e-308"},
  });
}

TEST(Calculator, CorrectlyRoundedIntDivision) {
  expect_cases({
      {"1000000000000000000000000000001/3", "3.333333333333333e+29"},
      {"9007199254740993/1", "9007199254740992.0"},  // tie: round half to even
      {"9007199254740995/1", "9007199254740996.0"},
      {"18014398509481987/2", "9007199254740994.0"},  // 2**53 + 1.5 is above the tie
      {"9007199254740993*1.0", "9007199254740992.0"},
  });
  // (10**30 + 1) / 3 as the exact rational, correctly rounded.
  EXPECT_EQ(BigInt::true_divide(BigInt::from_decimal("1000000000000000000000000000001"), BigInt::from_u64(3)),
            std::optional<double>(3.333333333333333e+29));
  EXPECT_EQ(BigInt::true_divide(BigInt::from_u64(1), BigInt::from_u64(10)), std::optional<double>(0.1));
  EXPECT_EQ(BigInt::true_divide(BigInt::from_u64(2), -BigInt::from_u64(3)), std::optional<double>(-2.0 / 3.0));
}

TEST(Calculator, BigIntegersInFull) {
  expect_cases({
      {"123456789012345678901234567890*98765432109876543210",
       "12193263113702179522496570642237463801111263526900"},
      {"99999999999999999999999999999999999999+1", "100000000000000000000000000000000000000"},
      {"-99999999999999999999999999999999999999-1", "-100000000000000000000000000000000000000"},
      {"-100000000000000000000000000000000000000//7", "-14285714285714285714285714285714285715"},
      {"100000000000000000000000000000000000000//-7", "-14285714285714285714285714285714285715"},
      {"-100000000000000000000000000000000000000//-7", "14285714285714285714285714285714285714"},
  });
  // 4300-digit literals are allowed, 4301 digits are a SyntaxError; all-zero literals are exempt.
  EXPECT_EQ(use_calculator(repeat("1", 4300)), repeat("1", 4300));
  EXPECT_EQ(use_calculator(repeat("1", 4301)), kNone);
  EXPECT_EQ(use_calculator(repeat("0", 5000)), "0");
  EXPECT_EQ(use_calculator("-" + repeat("9", 4300)), "-" + repeat("9", 4300));
  // A result beyond 4300 digits makes the original's str() raise (the engine would crash).
  EXPECT_EQ(use_calculator(repeat("9", 4300) + "+1"), kNone);
  EXPECT_EQ(use_calculator(repeat("9", 4300) + "*10//10"), repeat("9", 4300));
  const std::string square = *use_calculator(repeat("9", 2000) + "*" + repeat("9", 2000));
  EXPECT_EQ(square, repeat("9", 1999) + "8" + repeat("0", 1999) + "1");
  // Our work bound (~10**100000): products are refused before they are computed.
  std::string huge = repeat("9", 4000);
  for (int i = 0; i < 30; ++i) huge += "*" + repeat("9", 4000);
  EXPECT_EQ(use_calculator(huge + "//" + repeat("9", 4000)), kNone);
}

TEST(Calculator, PythonOddities) {
  expect_cases({
      {"...", "Ellipsis"},
      {"(...)", "Ellipsis"},
      {"...+1", kNone},
      {"()+()", "()"},
      {"3*()", "()"},
      {"()*-5", "()"},
      {"()*9223372036854775807", "()"},
      {"()*9223372036854775808", kNone},  // cannot fit 'int' into an index-sized integer
      {"()*1.0", kNone},
      {"-()", kNone},
      {"().count('a')", "0"},
      {"('abc').count('b')", "1"},
      {"'a' 'b'.count('b')", "1"},
      {"'''abc'''.count('a')", "1"},
      {"r'abc'.count('a')", "1"},
      {"b'abc'.count(b'a')", "1"},
      {"b'abc'.count(97)", "1"},
      {"b'abc'.count('a')", kNone},
      {"b'x.count('", "b'x.count('"},
      {"'x.count('", "x.count("},
      {"'X.COUNT('", kNone},
      {"x.count('a')", kNone},  // NameError
      {"'abc'.count", kNone},   // a bound method prints its address
      {"1.2.3", kNone},
      {"1 2", kNone},
      {"007.5", "7.5"},
  });
}

TEST(Calculator, CompileTimeLimits) {
  // Nested parentheses: 200 allowed by the tokenizer.
  EXPECT_EQ(use_calculator(repeat("(", 200) + "1" + repeat(")", 200)), "1");
  EXPECT_EQ(use_calculator(repeat("(", 201) + "1" + repeat(")", 201)), kNone);
  // Expression depth (CPython, 8 frames deep): 2975 unary operators compile, 2976 do not.
  EXPECT_EQ(use_calculator(repeat("-", 2975) + "1"), "-1");
  EXPECT_EQ(use_calculator(repeat("-", 2976) + "1"), kNone);
  EXPECT_EQ(use_calculator("1" + repeat("+1", 2975)), "2976");
  EXPECT_EQ(use_calculator("1" + repeat("+1", 2976)), kNone);
  EXPECT_EQ(use_calculator("'a'" + repeat(".upper()", 1486) + ".count('a')"), "0");
  EXPECT_EQ(use_calculator("'a'" + repeat(".upper()", 1487) + ".count('a')"), kNone);
  // Parser stack (CPython): 28 levels per grouping paren, 1 per unary operator.
  EXPECT_EQ(use_calculator(repeat("(", 150) + repeat("-", 1775) + "1" + repeat(")", 150)), "-1");
  EXPECT_EQ(use_calculator(repeat("(", 150) + repeat("-", 1776) + "1" + repeat(")", 150)), kNone);
  EXPECT_EQ(use_calculator(repeat("1(", 200) + repeat("-", 1175) + "1" + repeat(")", 200)), kNone);
  EXPECT_EQ(use_calculator(repeat("(", 199) + repeat(")", 199)), "()");
}

TEST(PythonFloat, FloorDivideMatchesCPython) {
  EXPECT_EQ(python_float_floor_divide(7.5, 2.0), std::optional<double>(3.0));
  EXPECT_EQ(python_float_floor_divide(-7.5, 2.0), std::optional<double>(-4.0));
  EXPECT_EQ(python_float_floor_divide(1.0, 0.1), std::optional<double>(9.0));
  EXPECT_EQ(python_float_floor_divide(4.35, 0.1), std::optional<double>(43.0));
  EXPECT_EQ(python_float_floor_divide(1.0, 0.0), std::nullopt);
  const auto negative_zero = python_float_floor_divide(-0.0, 1.0);
  ASSERT_TRUE(negative_zero.has_value());
  EXPECT_TRUE(std::signbit(*negative_zero));
  EXPECT_TRUE(std::isnan(*python_float_floor_divide(std::numeric_limits<double>::infinity(), 1.0)));
}

TEST(BigIntTest, ArithmeticAgainstSmallValues) {
  // Exhaustive small-range check of floor division signs and the decimal round trip.
  for (int a = -40; a <= 40; ++a) {
    for (int b = -9; b <= 9; ++b) {
      if (b == 0) continue;
      const BigInt x = a < 0 ? -BigInt::from_u64(static_cast<unsigned>(-a)) : BigInt::from_u64(static_cast<unsigned>(a));
      const BigInt y = b < 0 ? -BigInt::from_u64(static_cast<unsigned>(-b)) : BigInt::from_u64(static_cast<unsigned>(b));
      const long expected = static_cast<long>(std::floor(static_cast<double>(a) / b));
      EXPECT_EQ(BigInt::floor_divide(x, y).to_int64(), std::optional<std::int64_t>(expected)) << a << "//" << b;
      EXPECT_EQ((x * y).to_int64(), std::optional<std::int64_t>(a * b));
      EXPECT_EQ((x - y).to_decimal(), std::to_string(a - b));
    }
  }
  // Multi-limb division, including the rare add-back step of Knuth's algorithm D.
  const BigInt big = BigInt::from_decimal("340282366920938463463374607431768211455");  // 2**128 - 1
  const BigInt div = BigInt::from_decimal("18446744073709551617");                     // 2**64 + 1
  EXPECT_EQ(BigInt::floor_divide(big, div).to_decimal(), "18446744073709551615");
  const BigInt n = BigInt::from_decimal("1000000000000000000000000000000000000000000000000000");
  const BigInt d = BigInt::from_decimal("999999999999999999999999999");
  const BigInt q = BigInt::floor_divide(n, d);
  EXPECT_EQ(q.to_decimal(), "1000000000000000000000000");
  EXPECT_EQ((n - q * d).to_decimal(), "1000000000000000000000000");  // remainder 10**24 < d
}

// Differential table: random expressions of both paths (generator over the grammar, plus hand-made
// edge cases), expectations from CPython 3.11.7 running the original use_calculator.
TEST(Calculator, DifferentialAgainstCPython) {
  const std::vector<Case> cases = {
    {R"calc(9007199254740993*1.0)calc", R"calc(9007199254740992.0)calc"},
    {R"calc(9007199254740993/1)calc", R"calc(9007199254740992.0)calc"},
    {R"calc(9007199254740995/1)calc", R"calc(9007199254740996.0)calc"},
    {R"calc(18014398509481987/2)calc", R"calc(9007199254740994.0)calc"},
    {R"calc(1/3*3)calc", R"calc(1.0)calc"},
    {R"calc(4.35//0.1)calc", R"calc(43.0)calc"},
    {R"calc(1//0.1)calc", R"calc(9.0)calc"},
    {R"calc(-1//0.1)calc", R"calc(-10.0)calc"},
    {R"calc(0.0//-1)calc", R"calc(-0.0)calc"},
    {R"calc(-0.0//1)calc", R"calc(-0.0)calc"},
    {R"calc(0.0//1)calc", R"calc(0.0)calc"},
    {R"calc(5//-0.5)calc", R"calc(-10.0)calc"},
    {R"calc(-5.5//-2)calc", R"calc(2.0)calc"},
    {R"calc(99999999999999999999999999.0//1e-300)calc", kNone},
    {R"calc(1e-5)calc", kNone},
    {R"calc(0.00001)calc", R"calc(1e-05)calc"},
    {R"calc(0.0001)calc", R"calc(0.0001)calc"},
    {R"calc(0.001)calc", R"calc(0.001)calc"},
    {R"calc(123456789012345680000.0)calc", R"calc(1.2345678901234568e+20)calc"},
    {R"calc(1234567890123456.0)calc", R"calc(1234567890123456.0)calc"},
    {R"calc(12345678901234567.0)calc", R"calc(1.2345678901234568e+16)calc"},
    {R"calc(0.000012345)calc", R"calc(1.2345e-05)calc"},
    {R"calc(100000000000000000000000.0)calc", R"calc(1e+23)calc"},
    {R"calc(2.5e-05)calc", kNone},
    {R"calc(5e-324)calc", kNone},
    {R"calc(3 - 3.0)calc", R"calc(0.0)calc"},
    {R"calc(-(3-3.0))calc", R"calc(-0.0)calc"},
    {R"calc(-(0))calc", R"calc(0)calc"},
    {R"calc(-0)calc", R"calc(0)calc"},
    {R"calc(-0.0+0)calc", R"calc(0.0)calc"},
    {R"calc(0.0-0.0)calc", R"calc(0.0)calc"},
    {R"calc(-0.0-0.0)calc", R"calc(-0.0)calc"},
    {R"calc(-0.0*0)calc", R"calc(-0.0)calc"},
    {R"calc(0//-1)calc", R"calc(0)calc"},
    {R"calc(0.0/-1)calc", R"calc(-0.0)calc"},
    {R"calc(-0/-5)calc", R"calc(-0.0)calc"},
    {R"calc(( ))calc", R"calc(())calc"},
    {R"calc(( ) + ( ))calc", R"calc(())calc"},
    {R"calc(()*True)calc", kNone},
    {R"calc(()*0)calc", R"calc(())calc"},
    {R"calc(()*9223372036854775807)calc", R"calc(())calc"},
    {R"calc(()*9223372036854775808)calc", kNone},
    {R"calc(()*-9223372036854775808)calc", R"calc(())calc"},
    {R"calc(()*-9223372036854775809)calc", kNone},
    {R"calc(()*1.0)calc", kNone},
    {R"calc(()/1)calc", kNone},
    {R"calc(-())calc", kNone},
    {R"calc(...+1)calc", kNone},
    {R"calc(()())calc", kNone},
    {R"calc(...())calc", kNone},
    {R"calc( )calc", kNone},
    {R"calc(,)calc", kNone},
    {R"calc(1,)calc", R"calc(1)calc"},
    {R"calc(,1)calc", R"calc(1)calc"},
    {R"calc((1,2))calc", R"calc(12)calc"},
    {R"calc(1 2)calc", kNone},
    {R"calc(1+)calc", kNone},
    {R"calc(+)calc", kNone},
    {R"calc(()calc", kNone},
    {R"calc())calc", kNone},
    {R"calc(1))calc", kNone},
    {R"calc((1)calc", kNone},
    {R"calc(1..)calc", kNone},
    {R"calc(1...)calc", kNone},
    {R"calc(...1)calc", kNone},
    {R"calc(.5.5)calc", kNone},
    {R"calc(1.(2))calc", kNone},
    {R"calc(1 .5)calc", kNone},
    {R"calc(1. 5)calc", kNone},
    {R"calc(5 .)calc", kNone},
    {R"calc(1//2//3)calc", R"calc(0)calc"},
    {R"calc(100//7//2)calc", R"calc(7)calc"},
    {R"calc(100/7/2)calc", R"calc(7.142857142857143)calc"},
    {R"calc(2*3//4)calc", R"calc(1)calc"},
    {R"calc(7-3-2)calc", R"calc(2)calc"},
    {R"calc((7-(3-2)))calc", R"calc(6)calc"},
    {R"calc(1///2)calc", kNone},
    {R"calc(2* *3)calc", kNone},
    {R"calc(2 ** 3)calc", kNone},
    {R"calc(1+-+-+1)calc", R"calc(2)calc"},
    {R"calc(1 -- 1)calc", R"calc(2)calc"},
    {R"calc(1/-0.0)calc", kNone},
    {R"calc(1e)calc", kNone},
    {R"calc('abc'.count('a'))calc", R"calc(1)calc"},
    {R"calc('abc' .count('a'))calc", R"calc(1)calc"},
    {R"calc('abc'. count('a'))calc", kNone},
    {R"calc('abc'.count ('a'))calc", kNone},
    {R"calc('abc'.count( 'a' ))calc", R"calc(1)calc"},
    {R"calc( 'abc'.count('a') )calc", R"calc(1)calc"},
    {R"calc(('abc'.count('a')))calc", R"calc(1)calc"},
    {R"calc('a'.count('a')'b')calc", kNone},
    {R"calc('a'.count('a')())calc", kNone},
    {R"calc('a'.count())calc", kNone},
    {R"calc('a'.count(None))calc", kNone},
    {R"calc('a'.upper('x'))calc", kNone},
    {R"calc('a'.count('a').count('a'))calc", kNone},
    {R"calc(().count())calc", kNone},
    {R"calc(().count(()))calc", R"calc(0)calc"},
    {R"calc((()).count(...))calc", R"calc(0)calc"},
    {R"calc(().count(True))calc", R"calc(0)calc"},
    {R"calc(...count('a'))calc", kNone},
    {R"calc(. count('a'))calc", kNone},
    {R"calc('abc'.count(''.upper()))calc", R"calc(4)calc"},
    {R"calc('a'(1).count('x'))calc", kNone},
    {R"calc('a'.count)calc", kNone},
    {R"calc('a'.count('a', 1))calc", kNone},
    {R"calc('a,'.count(','))calc", R"calc(2)calc"},
    {R"calc('Profile'.count('f'))calc", kNone},
    {R"calc('Opened'.count('e'))calc", kNone},
    {R"calc('evaluate'.count('e'))calc", kNone},
    {R"calc('IMPORT'.count('I'))calc", kNone},
    {R"calc('DiR'.count('r'))calc", kNone},
    {R"calc('a__b'.count('_'))calc", kNone},
    {R"calc('a_b'.count('_'))calc", R"calc(1)calc"},
    {R"calc(b'aa'.count(97))calc", R"calc(2)calc"},
    {R"calc(b'aa'.count(256))calc", kNone},
    {R"calc(b'aa'.count(-1))calc", kNone},
    {R"calc(b'aa'.count('a'))calc", kNone},
    {R"calc(b'a' 'b'.count('a'))calc", kNone},
    {R"calc('a' b'b'.count('a'))calc", kNone},
    {R"calc(b'x.count(')calc", R"calc(b'x.count(')calc"},
    {R"calc(b"x.count('")calc", R"calc(b"x.count('")calc"},
    {R"calc(b'''x.count('"''')calc", R"calc(b'x.count(\'"')calc"},
    {R"calc('''x.count('"''')calc", R"calc(x.count('")calc"},
    {R"calc(B'X.count('.lower())calc", R"calc(b'x.count(')calc"},
    {R"calc(bytes.count(1))calc", kNone},
    {R"calc('aaaa'.count('aa'))calc", R"calc(2)calc"},
    {R"calc('abababa'.count('aba'))calc", R"calc(2)calc"},
    {R"calc('ABC'.lower().count('abc'))calc", R"calc(1)calc"},
    {R"calc('abc'.upper().lower().upper().count('ABC'))calc", R"calc(1)calc"},
    {R"calc(u'abc'.count('c'))calc", R"calc(1)calc"},
    {R"calc(F'abc'.count('c'))calc", R"calc(1)calc"},
    {R"calc(Rb'abc'.count(b'c'))calc", R"calc(1)calc"},
    {R"calc(ur'abc'.count('c'))calc", kNone},
    {R"calc(br'a'.count(b'a'))calc", R"calc(1)calc"},
    {R"calc(rB'a'.count(b'a'))calc", R"calc(1)calc"},
    {R"calc(fb'a'.count(b'a'))calc", kNone},
    {R"calc('x.count(' 'a')calc", R"calc(x.count(a)calc"},
    {R"calc('x.count('  )calc", R"calc(x.count()calc"},
    {R"calc(  'x.count(')calc", R"calc(x.count()calc"},
    {R"calc('x.count(''y')calc", R"calc(x.count(y)calc"},
    {R"calc("'x.count('")calc", R"calc('x.count(')calc"},
    {R"calc(1 .count('a'))calc", kNone},
    {R"calc(1.count('a'))calc", kNone},
    {R"calc(1..count('a'))calc", kNone},
    {R"calc(1.5.count('a'))calc", kNone},
    {R"calc(().count(1.5))calc", R"calc(0)calc"},
    {R"calc(().count(007))calc", kNone},
    {R"calc(().count(00))calc", R"calc(0)calc"},
    {R"calc(True.count(1))calc", kNone},
    {R"calc(None.count(1))calc", kNone},
    {R"calc(x.count(1))calc", kNone},
    {R"calc('abc'.count(x))calc", kNone},
    {R"calc('a' in 'a'.count('a'))calc", kNone},
    {R"calc('abc'.count('a') 1)calc", kNone},
    {R"calc('abc'.count('a')  )calc", R"calc(1)calc"},
    {R"calc('abc'.COUNT('a'))calc", kNone},
    {R"calc('abc'.Count('a'))calc", kNone},
    {R"calc('abc'.count(str))calc", kNone},
    {R"calc('a'.strip( ).count('a'))calc", R"calc(1)calc"},
    {R"calc(' a '.strip().count(' '))calc", R"calc(0)calc"},
    {R"calc(' a '.lstrip().count(' '))calc", R"calc(1)calc"},
    {R"calc(' a '.rstrip(None).count(' '))calc", R"calc(1)calc"},
    {R"calc('xxaxx'.strip('x').count('x'))calc", R"calc(0)calc"},
    {R"calc('xxaxx'.strip('').count('x'))calc", R"calc(4)calc"},
    {R"calc('abc'.strip(b'a').count('b'))calc", kNone},
    {R"calc(b' a '.strip().count(b' '))calc", R"calc(0)calc"},
    {R"calc(b'aba'.strip(b'a').count(b'a'))calc", R"calc(0)calc"},
    {R"calc(b'aba'.strip('a'))calc", kNone},
    {R"calc('a'.count('a'.count('a')))calc", kNone},
    {R"calc('''''.count(''))calc", kNone},
    {R"calc(''''.count('')''')calc", R"calc('.count(''))calc"},
    {R"calc('''a''''.count(''))calc", kNone},
    {R"calc('''a'''''.count(''))calc", R"calc(2)calc"},
    {R"calc(''''''.count(''))calc", R"calc(1)calc"},
    {R"calc("""".count(''))calc", kNone},
    {R"calc('a''b''c'.count('b'))calc", R"calc(1)calc"},
    {R"calc(())calc", R"calc(())calc"},
    {R"calc(.6)calc", R"calc(0.6)calc"},
    {R"calc(.7)calc", R"calc(0.7)calc"},
    {R"calc(+16)calc", R"calc(16)calc"},
    {R"calc(- 3)calc", R"calc(-3)calc"},
    {R"calc(-15)calc", R"calc(-15)calc"},
    {R"calc(45.)calc", R"calc(45.0)calc"},
    {R"calc(840)calc", R"calc(840)calc"},
    {R"calc((19))calc", R"calc(19)calc"},
    {R"calc(+0.3)calc", R"calc(0.3)calc"},
    {R"calc(- 5.)calc", R"calc(-5.0)calc"},
    {R"calc(--14)calc", R"calc(14)calc"},
    {R"calc(.5-8)calc", R"calc(-7.5)calc"},
    {R"calc(2561)calc", R"calc(2561)calc"},
    {R"calc(3448)calc", R"calc(3448)calc"},
    {R"calc(3500)calc", R"calc(3500)calc"},
    {R"calc(460.)calc", R"calc(460.0)calc"},
    {R"calc(6676)calc", R"calc(6676)calc"},
    {R"calc((0.2))calc", R"calc(0.2)calc"},
    {R"calc(- -13)calc", R"calc(13)calc"},
    {R"calc(- 0.3)calc", R"calc(-0.3)calc"},
    {R"calc(0/-18)calc", R"calc(-0.0)calc"},
    {R"calc(12/20)calc", R"calc(0.6)calc"},
    {R"calc(13463)calc", R"calc(13463)calc"},
    {R"calc(14//9)calc", R"calc(1)calc"},
    {R"calc(37095)calc", R"calc(37095)calc"},
    {R"calc(40847)calc", R"calc(40847)calc"},
    {R"calc(44353)calc", R"calc(44353)calc"},
    {R"calc(84424)calc", R"calc(84424)calc"},
    {R"calc((- 16))calc", R"calc(-16)calc"},
    {R"calc(+68126)calc", R"calc(68126)calc"},
    {R"calc(.33528)calc", R"calc(0.33528)calc"},
    {R"calc(.5//10)calc", R"calc(0.0)calc"},
    {R"calc(134256)calc", R"calc(134256)calc"},
    {R"calc(167689)calc", R"calc(167689)calc"},
    {R"calc(183828)calc", R"calc(183828)calc"},
    {R"calc(190274)calc", R"calc(190274)calc"},
    {R"calc(198346)calc", R"calc(198346)calc"},
    {R"calc(199774)calc", R"calc(199774)calc"},
    {R"calc(233974)calc", R"calc(233974)calc"},
    {R"calc(249333)calc", R"calc(249333)calc"},
    {R"calc(266403)calc", R"calc(266403)calc"},
    {R"calc(267187)calc", R"calc(267187)calc"},
    {R"calc(3 / 20)calc", R"calc(0.15)calc"},
    {R"calc(353762)calc", R"calc(353762)calc"},
    {R"calc(360524)calc", R"calc(360524)calc"},
    {R"calc(364345)calc", R"calc(364345)calc"},
    {R"calc(387170)calc", R"calc(387170)calc"},
    {R"calc(406097)calc", R"calc(406097)calc"},
    {R"calc(415353)calc", R"calc(415353)calc"},
    {R"calc(426849)calc", R"calc(426849)calc"},
    {R"calc(434586)calc", R"calc(434586)calc"},
    {R"calc(48971.)calc", R"calc(48971.0)calc"},
    {R"calc(493587)calc", R"calc(493587)calc"},
    {R"calc(516442)calc", R"calc(516442)calc"},
    {R"calc(615639)calc", R"calc(615639)calc"},
    {R"calc(670907)calc", R"calc(670907)calc"},
    {R"calc(674287)calc", R"calc(674287)calc"},
    {R"calc(710000)calc", R"calc(710000)calc"},
    {R"calc(717687)calc", R"calc(717687)calc"},
    {R"calc(777485)calc", R"calc(777485)calc"},
    {R"calc(784076)calc", R"calc(784076)calc"},
    {R"calc(843575)calc", R"calc(843575)calc"},
    {R"calc(853273)calc", R"calc(853273)calc"},
    {R"calc(859980)calc", R"calc(859980)calc"},
    {R"calc(866800)calc", R"calc(866800)calc"},
    {R"calc(872205)calc", R"calc(872205)calc"},
    {R"calc(891555)calc", R"calc(891555)calc"},
    {R"calc(911064)calc", R"calc(911064)calc"},
    {R"calc(913212)calc", R"calc(913212)calc"},
    {R"calc(916879)calc", R"calc(916879)calc"},
    {R"calc(973791)calc", R"calc(973791)calc"},
    {R"calc((((8))))calc", R"calc(8)calc"},
    {R"calc(((- 6)))calc", R"calc(-6)calc"},
    {R"calc(+109565)calc", R"calc(109565)calc"},
    {R"calc(- 417())calc", kNone},
    {R"calc(-((20)))calc", R"calc(-20)calc"},
    {R"calc(0.0//15)calc", R"calc(0.0)calc"},
    {R"calc(9675322)calc", R"calc(9675322)calc"},
    {R"calc((+9//13))calc", R"calc(0)calc"},
    {R"calc((11)//11)calc", R"calc(1)calc"},
    {R"calc((520984))calc", R"calc(520984)calc"},
    {R"calc((532784))calc", R"calc(532784)calc"},
    {R"calc((702671))calc", R"calc(702671)calc"},
    {R"calc((813594))calc", R"calc(813594)calc"},
    {R"calc((840046))calc", R"calc(840046)calc"},
    {R"calc((903390))calc", R"calc(903390)calc"},
    {R"calc(+(86544))calc", R"calc(86544)calc"},
    {R"calc(- 135773)calc", R"calc(-135773)calc"},
    {R"calc(- 745024)calc", R"calc(-745024)calc"},
    {R"calc(--647387)calc", R"calc(647387)calc"},
    {R"calc(--743749)calc", R"calc(743749)calc"},
    {R"calc(19//(14))calc", R"calc(1)calc"},
    {R"calc(2 // ...)calc", kNone},
    {R"calc(440.7843)calc", R"calc(440.7843)calc"},
    {R"calc(5*931843)calc", R"calc(4659215)calc"},
    {R"calc(7+14+0.1)calc", R"calc(21.1)calc"},
    {R"calc(+(412766))calc", R"calc(412766)calc"},
    {R"calc(- (41807))calc", R"calc(-41807)calc"},
    {R"calc(...*92678)calc", kNone},
    {R"calc(.17761/12)calc", R"calc(0.014800833333333333)calc"},
    {R"calc(17-240326)calc", R"calc(-240309)calc"},
    {R"calc(209804.89)calc", R"calc(209804.89)calc"},
    {R"calc(+---255404)calc", R"calc(-255404)calc"},
    {R"calc(- - 268593)calc", R"calc(268593)calc"},
    {R"calc(1130794488)calc", R"calc(1130794488)calc"},
    {R"calc(7 / 234868)calc", R"calc(2.9803974998722687e-05)calc"},
    {R"calc((521452641))calc", R"calc(521452641)calc"},
    {R"calc(-- 646244+3)calc", R"calc(646247)calc"},
    {R"calc(.0//--(- 8))calc", R"calc(-0.0)calc"},
    {R"calc(.4462185431)calc", R"calc(0.4462185431)calc"},
    {R"calc(0059.844510)calc", R"calc(59.84451)calc"},
    {R"calc(1 .Count(1))calc", kNone},
    {R"calc(4531446.916)calc", R"calc(4531446.916)calc"},
    {R"calc(73234.50173)calc", R"calc(73234.50173)calc"},
    {R"calc("aa".Count())calc", kNone},
    {R"calc(-(()).773263)calc", kNone},
    {R"calc(9.3595693464)calc", R"calc(9.3595693464)calc"},
    {R"calc(976904123213)calc", R"calc(976904123213)calc"},
    {R"calc(+- 4*(616522))calc", R"calc(-2466088)calc"},
    {R"calc(3786192613647)calc", R"calc(3786192613647)calc"},
    {R"calc(4389445377998)calc", R"calc(4389445377998)calc"},
    {R"calc(62098850932.6)calc", R"calc(62098850932.6)calc"},
    {R"calc(7080941887493)calc", R"calc(7080941887493)calc"},
    {R"calc(True.Count(1))calc", kNone},
    {R"calc(x''.count(97))calc", kNone},
    {R"calc((3.14159//-19))calc", R"calc(-1.0)calc"},
    {R"calc((773667 // 18))calc", R"calc(42981)calc"},
    {R"calc(... .count (1))calc", kNone},
    {R"calc(3.14159/482759)calc", R"calc(6.5075741726202925e-06)calc"},
    {R"calc(64329492914985)calc", R"calc(64329492914985)calc"},
    {R"calc(661057//449078)calc", R"calc(1)calc"},
    {R"calc(74699589914960)calc", R"calc(74699589914960)calc"},
    {R"calc(84616947593567)calc", R"calc(84616947593567)calc"},
    {R"calc((379273/--3896))calc", R"calc(97.34933264887064)calc"},
    {R"calc(0489776.3743935)calc", R"calc(489776.3743935)calc"},
    {R"calc(1205715535091.1)calc", R"calc(1205715535091.1)calc"},
    {R"calc(424566343263940)calc", R"calc(424566343263940)calc"},
    {R"calc("".count("it's"))calc", R"calc(0)calc"},
    {R"calc((.5525800521535))calc", R"calc(0.5525800521535)calc"},
    {R"calc((36725519506903))calc", R"calc(36725519506903)calc"},
    {R"calc(.478535079527241)calc", R"calc(0.478535079527241)calc"},
    {R"calc(.863716191293682)calc", R"calc(0.863716191293682)calc"},
    {R"calc(3236.43695489511)calc", R"calc(3236.43695489511)calc"},
    {R"calc(9341143904756879)calc", R"calc(9341143904756879)calc"},
    {R"calc('''r'''.count(""))calc", R"calc(2)calc"},
    {R"calc(.2738056656858171)calc", R"calc(0.2738056656858171)calc"},
    {R"calc(28229386635517068)calc", R"calc(28229386635517068)calc"},
    {R"calc(36692674839305.98)calc", R"calc(36692674839305.98)calc"},
    {R"calc(37963188607203362)calc", R"calc(37963188607203362)calc"},
    {R"calc(574.3364140664227)calc", R"calc(574.3364140664227)calc"},
    {R"calc(76346845467414.59)calc", R"calc(76346845467414.6)calc"},
    {R"calc(B'aa'.Count(None))calc", kNone},
    {R"calc(b''''''.count(97))calc", R"calc(0)calc"},
    {R"calc(  ''''''.Count(97))calc", kNone},
    {R"calc(('').count(fr"r")))calc", kNone},
    {R"calc((283321)*(8)(11)*4)calc", kNone},
    {R"calc(- 9007199254740992)calc", R"calc(-9007199254740992)calc"},
    {R"calc(3//192940/419962*8)calc", R"calc(0.0)calc"},
    {R"calc(x"it's". count(97))calc", kNone},
    {R"calc("mo_del". count(()))calc", kNone},
    {R"calc((("""a""")).count())calc", kNone},
    {R"calc((10000000000000000))calc", R"calc(10000000000000000)calc"},
    {R"calc((2903)//+9818661.43)calc", R"calc(0.0)calc"},
    {R"calc((74579159.83613252))calc", R"calc(74579159.83613253)calc"},
    {R"calc((B'',r'). count(97))calc", kNone},
    {R"calc(19.9951197053218743)calc", R"calc(19.995119705321873)calc"},
    {R"calc(2751867543047938991)calc", R"calc(2751867543047938991)calc"},
    {R"calc(4260386191.90090096)calc", R"calc(4260386191.900901)calc"},
    {R"calc(542771115407723(...)calc", kNone},
    {R"calc(7.93527056041689017)calc", R"calc(7.93527056041689)calc"},
    {R"calc(8502923875.80981524)calc", R"calc(8502923875.809815)calc"},
    {R"calc(B''''''.count("aa"))calc", kNone},
    {R"calc(True. count(""""""))calc", kNone},
    {R"calc(bR"""a""".count(97))calc", R"calc(1)calc"},
    {R"calc('mo_del'.count('a')x)calc", kNone},
    {R"calc((R"mo_del" .count ())calc", kNone},
    {R"calc(- 8525199750270.0659)calc", R"calc(-8525199750270.065)calc"},
    {R"calc(346928 / - 498309834)calc", R"calc(-0.0006962094189776716)calc"},
    {R"calc(49.37808642020677219)calc", R"calc(49.37808642020677)calc"},
    {R"calc(9831097896873804.046)calc", R"calc(9831097896873804.0)calc"},
    {R"calc(rb"it's" .count (97))calc", kNone},
    {R"calc(u"it's".count("AbC"))calc", R"calc(0)calc"},
    {R"calc(u'x.count('.count(1))calc", kNone},
    {R"calc( r'banana'. count(()))calc", kNone},
    {R"calc("AbC" .count ("it's"))calc", kNone},
    {R"calc('say "hi"'.count(())))calc", kNone},
    {R"calc(((- 267486397097011)))calc", R"calc(-267486397097011)calc"},
    {R"calc(- (17018404824.73701))calc", R"calc(-17018404824.73701)calc"},
    {R"calc(186585/68002944098827)calc", R"calc(2.743778265376873e-09)calc"},
    {R"calc(3.5633120529597485666)calc", R"calc(3.5633120529597484)calc"},
    {R"calc(64719.838167033329612)calc", R"calc(64719.83816703333)calc"},
    {R"calc(969.90150059634549632)calc", R"calc(969.9015005963455)calc"},
    {R"calc(b"strawberry".count())calc", kNone},
    {R"calc(r"""r""". count('ss'))calc", kNone},
    {R"calc(  B"""a""".Count('ss'))calc", kNone},
    {R"calc(() .count (()).upper())calc", kNone},
    {R"calc(- +13/781615.616221196)calc", R"calc(-1.6632216309661117e-05)calc"},
    {R"calc(--(3.14159)* *(125371))calc", kNone},
    {R"calc(--- 2 // 8 / 899352(8))calc", kNone},
    {R"calc(----.24700*(16/747799))calc", R"calc(5.284842584705248e-06)calc"},
    {R"calc(10+-5013.0414305180312)calc", R"calc(-5003.041430518031)calc"},
    {R"calc(3961791293028078228.14)calc", R"calc(3.961791293028078e+18)calc"},
    {R"calc(9676.68774388293847423)calc", R"calc(9676.687743882938)calc"},
    {R"calc( '''mo_del'''.count(97))calc", kNone},
    {R"calc(--+-0 / 967897//...//.0)calc", kNone},
    {R"calc(--123091061632071845294)calc", R"calc(123091061632071845294)calc"},
    {R"calc(18446744073709551616*11)calc", R"calc(202914184810805067776)calc"},
    {R"calc(358282+9007199254740992)calc", R"calc(9007199255099274)calc"},
    {R"calc(66710324551394123342725)calc", R"calc(66710324551394123342725)calc"},
    {R"calc(66956429367240633166885)calc", R"calc(66956429367240633166885)calc"},
    {R"calc(74673653224806958442817)calc", R"calc(74673653224806958442817)calc"},
    {R"calc(774.6723841906932042137)calc", R"calc(774.6723841906932)calc"},
    {R"calc(98172467353697382451050)calc", R"calc(98172467353697382451050)calc"},
    {R"calc(B'r' .count (rb"""r"""))calc", kNone},
    {R"calc(u'''mo_del'''.Count(()))calc", kNone},
    {R"calc('banana'.count(fr""""""))calc", R"calc(7)calc"},
    {R"calc(("Mississippi").count(1))calc", kNone},
    {R"calc((-883691618096.54804409))calc", R"calc(-883691618096.5481)calc"},
    {R"calc((06707.1270469347317092))calc", R"calc(6707.127046934732)calc"},
    {R"calc(05226535.578219421610397)calc", R"calc(5226535.578219421)calc"},
    {R"calc(54464.332769137327075691)calc", R"calc(54464.33276913733)calc"},
    {R"calc(841151011741108767654874)calc", R"calc(841151011741108767654874)calc"},
    {R"calc(949580001.54541066109407)calc", R"calc(949580001.5454106)calc"},
    {R"calc(fr"""mo_del""" .count ())calc", kNone},
    {R"calc(  r"""r""".Count("""r"""))calc", kNone},
    {R"calc(("" '''mo_del''').count())calc", kNone},
    {R"calc((B"""banana""").count(97))calc", R"calc(3)calc"},
    {R"calc((B'say "hi"') .count (()))calc", kNone},
    {R"calc((R'''mo_del''').count(''))calc", R"calc(7)calc"},
    {R"calc((fr'''banana''').count(1))calc", kNone},
    {R"calc(-+65214.5024*--4/128849())calc", kNone},
    {R"calc(--27783086507.00396776124)calc", R"calc(27783086507.003967)calc"},
    {R"calc(.71706017653031321-653913)calc", R"calc(-653912.2829398235)calc"},
    {R"calc(19 / 18446744073709551616)calc", R"calc(1.0299920638612292e-18)calc"},
    {R"calc(4916980643695937288017367)calc", R"calc(4916980643695937288017367)calc"},
    {R"calc(7795377549816881537994631)calc", R"calc(7795377549816881537994631)calc"},
    {R"calc(8957187359571464.44754376)calc", R"calc(8957187359571464.0)calc"},
    {R"calc(fr"""aa""" .count (None)x)calc", kNone},
    {R"calc(fr"r".lower().Count(None))calc", kNone},
    {R"calc(fr'mo_del'. count(r"AbC"))calc", kNone},
    {R"calc(u"""banana""".Count(None))calc", kNone},
    {R"calc("mo_del".count(rb''.upper))calc", kNone},
    {R"calc('say "hi"' "it's". count())calc", kNone},
    {R"calc(--100000000000000000000000)calc", R"calc(100000000000000000000000)calc"},
    {R"calc(-8359216828450028047925587)calc", R"calc(-8359216828450028047925587)calc"},
    {R"calc(20711643741681329868727055)calc", R"calc(20711643741681329868727055)calc"},
    {R"calc(2377235269869564984.523289)calc", R"calc(2.377235269869565e+18)calc"},
    {R"calc(43109506602510406.47760717)calc", R"calc(4.310950660251041e+16)calc"},
    {R"calc(57378915072231598.96446316)calc", R"calc(5.73789150722316e+16)calc"},
    {R"calc(7844623299258675.369337655)calc", R"calc(7844623299258675.0)calc"},
    {R"calc(9 / --- 487448//(- 989224))calc", R"calc(0.0)calc"},
    {R"calc(B'''banana'''. count(None))calc", kNone},
    {R"calc(bR"""x.count(""". count(1))calc", R"calc(0)calc"},
    {R"calc("""a""".strip(1). count(97))calc", kNone},
    {R"calc(043708081.88027415187399081)calc", R"calc(43708081.880274154)calc"},
    {R"calc(165015082827416245884927788)calc", R"calc(165015082827416245884927788)calc"},
    {R"calc(7124220790121578//(+2531.1))calc", R"calc(2814673774296.0)calc"},
    {R"calc(7780808622964.8361370688817)calc", R"calc(7780808622964.836)calc"},
    {R"calc(B'''a'''. count('say "hi"'))calc", kNone},
    {R"calc(R"""strawberry""".count(()))calc", kNone},
    {R"calc(x"""strawberry""".count(97))calc", kNone},
    {R"calc(((780994)/(1759128264)/10/3))calc", R"calc(1.4798882984312811e-05)calc"},
    {R"calc((170650-140351.008406898180))calc", R"calc(30298.99159310182)calc"},
    {R"calc(+- 2.5/(- --78940)/(+355322))calc", R"calc(8.912936012433743e-11)calc"},
    {R"calc(- ++4*- - - 9007199254740992)calc", R"calc(36028797018963968)calc"},
    {R"calc(fr"""strawberry""".Count(97))calc", kNone},
    {R"calc(("""aa""".lower()).count("A"))calc", R"calc(0)calc"},
    {R"calc((bR'mo_del'. count(u"mo_del"))calc", kNone},
    {R"calc(+8560450776734036984486920724)calc", R"calc(8560450776734036984486920724)calc"},
    {R"calc(- 448744320509586403207887196)calc", R"calc(-448744320509586403207887196)calc"},
    {R"calc(28462442551874638078588811/15)calc", R"calc(1.8974961701249758e+24)calc"},
    {R"calc(87437316526.23985954700079228)calc", R"calc(87437316526.23985)calc"},
    {R"calc(92315895734887596614368873200)calc", R"calc(92315895734887596614368873200)calc"},
    {R"calc(97214884661507805289472347701)calc", R"calc(97214884661507805289472347701)calc"},
    {R"calc("Mississippi".count(fr'''r'''))calc", R"calc(0)calc"},
    {R"calc((B'''strawberry''' .count (97))calc", kNone},
    {R"calc(561942577022444419709463928416)calc", R"calc(561942577022444419709463928416)calc"},
    {R"calc(636316122798949095201882703640)calc", R"calc(636316122798949095201882703640)calc"},
    {R"calc(831528-(818388469352891511977))calc", R"calc(-818388469352890680449)calc"},
    {R"calc( 'strawberry' r"AbC". count(()))calc", kNone},
    {R"calc(--1384312923001436.72789*2.5/-5)calc", R"calc(-692156461500718.4)calc"},
    {R"calc(893987191123337.275919963659368)calc", R"calc(893987191123337.2)calc"},
    {R"calc(bR'''AbC'''.count(rb'say "hi"'))calc", R"calc(0)calc"},
    {R"calc((154458)+10000000000000000000000)calc", R"calc(10000000000000000154458)calc"},
    {R"calc((x'mo_del'.strip()) .count ('r'))calc", kNone},
    {R"calc(- 15 // (000)+8//(122994)-797043)calc", kNone},
    {R"calc(1814561540993155479.476093108075)calc", R"calc(1.8145615409931556e+18)calc"},
    {R"calc(20330085326183950022343329506692)calc", R"calc(20330085326183950022343329506692)calc"},
    {R"calc(40013126931884254.09273191155393)calc", R"calc(4.001312693188426e+16)calc"},
    {R"calc((7532813460173781578711463972733))calc", R"calc(7532813460173781578711463972733)calc"},
    {R"calc(004688226286.30694815986405442576)calc", R"calc(4688226286.306948)calc"},
    {R"calc(985156361876946456141720773115623)calc", R"calc(985156361876946456141720773115623)calc"},
    {R"calc(+9192918026227.8013442507021920357)calc", R"calc(9192918026227.8)calc"},
    {R"calc(-3570753929830.9519572915645625375)calc", R"calc(-3570753929830.952)calc"},
    {R"calc(.... count(f"""r"""bR"strawberry"))calc", kNone},
    {R"calc(1728733216766865178030538228880505)calc", R"calc(1728733216766865178030538228880505)calc"},
    {R"calc(1790978292764344254.60394304139588)calc", R"calc(1.7909782927643443e+18)calc"},
    {R"calc(1981305248464038.99479879764392474)calc", R"calc(1981305248464039.0)calc"},
    {R"calc('''hello world'''.count(1).count(1))calc", kNone},
    {R"calc(().count().upper().Count(x).upper())calc", kNone},
    {R"calc(().upper.count(b"Mississippi"b'aa'))calc", kNone},
    {R"calc(+52725//+(878473*866521//- 5)//--+3)calc", R"calc(-1)calc"},
    {R"calc(- (- --+.254894546205708849-906161))calc", R"calc(906161.2548945462)calc"},
    {R"calc(----(62375.226060680 // 480598854.))calc", R"calc(0.0)calc"},
    {R"calc(--1. / 205927645463990476.663782566)calc", R"calc(4.856074558356784e-18)calc"},
    {R"calc(2026971320848089775.236978845173394)calc", R"calc(2.0269713208480899e+18)calc"},
    {R"calc(79120995162946643726685624342467894)calc", R"calc(79120995162946643726685624342467894)calc"},
    {R"calc(83258461516136359496.83296853194048)calc", R"calc(8.325846151613637e+19)calc"},
    {R"calc(b"it's". count('say "hi"'b'banana'))calc", kNone},
    {R"calc(('strawberry' R'say "hi"').Count(1)x)calc", kNone},
    {R"calc(- - 60101734043992309714307453118641)calc", R"calc(60101734043992309714307453118641)calc"},
    {R"calc(- 18//+52718596583051015935.76216943)calc", R"calc(-1.0)calc"},
    {R"calc(- 3468651994060032926016953384867863)calc", R"calc(-3468651994060032926016953384867863)calc"},
    {R"calc(- 55213414646546903.9548801217284948)calc", R"calc(-5.5213414646546904e+16)calc"},
    {R"calc(0916325268662265974.8572426220265901)calc", R"calc(9.16325268662266e+17)calc"},
    {R"calc(139608821525090456204008170324871358)calc", R"calc(139608821525090456204008170324871358)calc"},
    {R"calc(34271032994943372.626299151145242593)calc", R"calc(3.4271032994943372e+16)calc"},
    {R"calc(519537421132626701089459049659353146)calc", R"calc(519537421132626701089459049659353146)calc"},
    {R"calc(5421278500764847.0069546615449715239)calc", R"calc(5421278500764847.0)calc"},
    {R"calc(fr'''strawberry'''.count(r'''AbC'''))calc", R"calc(0)calc"},
    {R"calc('''Mississippi''' r'x.count('.count())calc", kNone},
    {R"calc(-(244056408.219831107727/15()*367444))calc", kNone},
    {R"calc(("it's" """""".lstrip("ab")).count(''))calc", R"calc(5)calc"},
    {R"calc(39608030619978216331596800618331063986)calc", R"calc(39608030619978216331596800618331063986)calc"},
    {R"calc(53336525834416440072382886377742485665)calc", R"calc(53336525834416440072382886377742485665)calc"},
    {R"calc(68444364066752321994981342507616375181)calc", R"calc(68444364066752321994981342507616375181)calc"},
    {R"calc(96519408080436349360521340362598281257)calc", R"calc(96519408080436349360521340362598281257)calc"},
    {R"calc(  rb"it's" rb'banana'.strip().count(()))calc", kNone},
    {R"calc('x.count('.strip(None).count(u"""aa"""))calc", R"calc(0)calc"},
    {R"calc(('aa').count(f"hello world").count(())))calc", kNone},
    {R"calc(('say "hi"' 'banana').count(u"""AbC"""))calc", R"calc(0)calc"},
    {R"calc((113703968058406936*+9809.943921 // 13))calc", R"calc(8.580227309601133e+19)calc"},
    {R"calc(288302170807087293522545661449285407110)calc", R"calc(288302170807087293522545661449285407110)calc"},
    {R"calc(  B''''''. count(bR'mo_del'r'x.count(')))calc", kNone},
    {R"calc((--287165261323627238831327757098739968))calc", R"calc(287165261323627238831327757098739968)calc"},
    {R"calc(014198558.82248352872148041871 // 878107)calc", R"calc(16.0)calc"},
    {R"calc(6788618443072267314208260607938657380175)calc", R"calc(6788618443072267314208260607938657380175)calc"},
    {R"calc((r"".lstrip("ab")).count(r'''x.count('''))calc", R"calc(0)calc"},
    {R"calc(- --+-341083 / (.5)//068360756770042.8227)calc", R"calc(0.0)calc"},
    {R"calc(0.0*7920998719851717153384656120001645956)calc", R"calc(0.0)calc"},
    {R"calc(B"""AbC""" """banana""".Count(97).upper())calc", kNone},
    {R"calc(rb"banana" .count (B"""aa"""fr'say "hi"'))calc", kNone},
    {R"calc((''.lower().count(r'mo_del')) .count ('ss'))calc", kNone},
    {R"calc((B'say "hi"').lower().count(). count(b"aa"))calc", kNone},
    {R"calc(+1127309435765973855397337427*-- 164731*...)calc", kNone},
    {R"calc(1616764062491991923864384046538228572025//1)calc", R"calc(1616764062491991923864384046538228572025)calc"},
    {R"calc(rb'say "hi"'.rstrip(rb'''AbC''') .count (1))calc", kNone},
    {R"calc('hello world'.lower().count(r"x.count(""aa"))calc", R"calc(0)calc"},
    {R"calc("""hello world""".upper.upper() .count (None))calc", kNone},
    {R"calc((685618312.60736-538019.14505882476446755359))calc", R"calc(685080293.4623011)calc"},
    {R"calc((x"it's").count("""strawberry"""'''mo_del'''))calc", kNone},
    {R"calc(5.+((10 / 75847)//54877757647487096078178804))calc", R"calc(5.0)calc"},
    {R"calc(597941347101902561998378384360 // (332662)*17)calc", R"calc(30556549593077488724207849)calc"},
    {R"calc((876184587519803038237748746334173725169/18)())calc", kNone},
    {R"calc((R"""x.count(""").strip(None) .count ('''a'''))calc", R"calc(0)calc"},
    {R"calc(B'AbC' R''.count(R'Mississippi' b"""banana"""))calc", kNone},
    {R"calc( u'mo_del' R"a". count(R"""banana"""r"""aa""")x)calc", kNone},
    {R"calc("hello world".count("""x.count("""'''mo_del'''))calc", R"calc(0)calc"},
    {R"calc(119404-11*438891753351788670530594598640357822257)calc", R"calc(-4827809286869675375836540585043935925423)calc"},
    {R"calc(R'''Mississippi'''.count(rb"""AbC""") .count (''))calc", kNone},
    {R"calc(170883//1*19(()) / 20/7541578961126139240693163831)calc", kNone},
    {R"calc(  fr"strawberry" R"""aa""".count(f'''strawberry'''))calc", R"calc(1)calc"},
    {R"calc(2104266236417404789609450046196399 / - ()/-- 141419)calc", kNone},
    {R"calc(687207*(9684277421.288)//- 4 // 8556781.71249119123)calc", R"calc(-194439436.0)calc"},
    {R"calc(u'a' """AbC""". count("x.count("r"""Mississippi"""))calc", R"calc(0)calc"},
    {R"calc(10000000000000000/(248838716316424.6690330682084759))calc", R"calc(40.18667250832441)calc"},
    {R"calc(+---(3623559524308974)//209172926590242589.4702771001)calc", R"calc(-1.0)calc"},
    {R"calc(-(45572-477570+16455725275365754124691*566470)+703016)calc", R"calc(-9321674696736438739012575756)calc"},
    {R"calc(--(( )/1.25/+54556815370.31301985672653136)-2/(5 // 0))calc", kNone},
    {R"calc((- --482999*(.5+9535550749883032100.31+00.5)(+--589444))calc", kNone},
    {R"calc(-9133964377916152486144821405714*528631722605769852.927)calc", R"calc(-4.828503323317555e+48)calc"},
    {R"calc(898693.294174625610691895 / 341075390273336863558534406)calc", R"calc(2.6348816707485562e-21)calc"},
    {R"calc(((--- 3.14159/16573348.3803810499645446374 / +- 648003)))calc", R"calc(2.9252448930799323e-13)calc"},
    {R"calc(+-71.001 / -7529373259484862554012733065851631271730//10)calc", R"calc(0.0)calc"},
    {R"calc(2919923670952880379259794402503 // 1.1554751324701273183)calc", R"calc(2.5270328965979455e+30)calc"},
    {R"calc(x,''strawberry'''.rstrip(bR"""hello world""") .count ()))calc", kNone},
    {R"calc( ('AbC' rb"banana".lstrip("ab")).upper().Count(u'''aa'''))calc", kNone},
    {R"calc(- 7581859365.46164-63781952136223967197798816066379041489)calc", R"calc(-6.378195213622397e+37)calc"},
    {R"calc(.00126626562894657836//---2//503308*28909131.608693302633766)calc", R"calc(-28909131.6086933)calc"},
    {R"calc(--20/(3858818145218121168)/6.*16/537398//10000000000000000000000)calc", R"calc(0.0)calc"},
    {R"calc(154313/((17))+323053697259726414.6538382951718,+97422266438043/007)calc", kNone},
    {R"calc((- --616253//10000000000000000000000//7387103907163611103918085810))calc", R"calc(-1)calc"},
    {R"calc(18 / (-5350136)+(-0.0//- 855579922984285869.746563966784380618) (00))calc", kNone},
    {R"calc(---581719 / 9++--4//10 // 6//(754714)*3773653178348537956464199599/18)calc", R"calc(-64635.444444444445)calc"},
    {R"calc((7004722884.9914) // 5+2**- --492027++007*+14+((- (0579716659.58)))//18)calc", kNone},
    {R"calc(-7//390.7819677283..385367233592814933.8//796041648248 / 8//--( )+()*11)calc", kNone},
    {R"calc((12/(607525)//- --763869//6051019335.81 // 7112805575524025)/99173276102155)calc", R"calc(-1.0083361559720324e-14)calc"},
    {R"calc(+984425*12+(546274)*8947748558612141088588976923851223*124840//14 // 15*+0.2)calc", R"calc(5.8115069707622275e+41)calc"},
    {R"calc("banana".lstrip("ab").lstrip("ab").count(x'''strawberry'''). count("hello world"))calc", kNone},
    {R"calc(- ((5482282364.26474* *252905//9316898112434045344875353931490747648874//913794)))calc", kNone},
    {R"calc(567991/- +199764869257179406024335//506462633754.0705049253328//703173*1.25*528664)calc", R"calc(-660830.0)calc"},
    {R"calc(826015 // --54253478978013.///.302434606441063-171860 // 304198..1788262882651345822717)calc", kNone},
    {R"calc(505454088258.27004108503663/992449*(259478347440756561721+6 / - 369053956363976)//754706)calc", R"calc(1.7510430994911157e+20)calc"},
    {R"calc(74890018867335314.11/(48082//9007199254740992(133604//20725891.312)/+15/.0*0.2---397166))calc", kNone},
    {R"calc(--(-427316979311.2185232597160614//3.4950837//919672 // --0.1 // 91878287563517838099115442))calc", R"calc(-1.0)calc"},
    {R"calc((23972326662.3556090952983)*--7313820584101467976.95388+385971*17()*996535099384351776060584730980)calc", kNone},
    {R"calc(--- (17)+940427436770463865671179757630811629+(6.7268177396935/766276 // 93375.275)*9-(18)*(260805))calc", R"calc(9.404274367704638e+35)calc"},
    {R"calc(15777180117129465968398451470936661565/- 155220/-++6 // -394474//27692351386248288054343538900692//())calc", kNone},
    {R"calc(+- 17//(910842907060154831026492285221028513) // 86861 / 532041*- 100000000000000000000000//-400730-- +- 13)calc", R"calc(-469032614303.0)calc"},
  };
  ASSERT_GT(cases.size(), 500u);
  expect_cases(cases);
}

}  // namespace
}  // namespace nanochat::engine
