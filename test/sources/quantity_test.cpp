#include "kmb/sources/quantity.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace kmb {
namespace {

using nlohmann::json;

json LoadFacts() {
  std::ifstream in(std::string(KMB_FIXTURES_DIR) +
                   "/quantity/k8s-apimachinery-quantity-test-facts.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

const char* FormatName(Quantity::Format f) {
  switch (f) {
    case Quantity::Format::kDecimalSI:
      return "DecimalSI";
    case Quantity::Format::kBinarySI:
      return "BinarySI";
    case Quantity::Format::kDecimalExponent:
      return "DecimalExponent";
  }
  return "?";
}

std::string Negated(const std::string& value) {
  if (value == "0") return value;
  return value[0] == '-' ? value.substr(1) : "-" + value;
}

// Every fact of the apimachinery-derived fixture, each field it states.
TEST(QuantityFacts, EveryFactHolds) {
  const json doc = LoadFacts();
  const json& facts = doc.at("facts");
  ASSERT_EQ(facts.size(), 250u);
  int checked_values = 0, checked_canonical = 0, checked_int64 = 0, checked_approx = 0,
      checked_variants = 0, checked_invalid = 0;
  for (size_t n = 0; n < facts.size(); ++n) {
    const json& f = facts[n];
    const std::string in = f.at("in").get<std::string>();
    const std::string test = f.at("test").get<std::string>();
    SCOPED_TRACE("fact #" + std::to_string(n) + " in=\"" + in + "\" (" + test + ")");
    std::string error;
    const std::optional<Quantity> q = Quantity::Parse(in, &error);
    if (!f.at("valid").get<bool>()) {
      EXPECT_FALSE(q.has_value()) << "parsed as " << q->ToDecimalString();
      EXPECT_FALSE(error.empty());
      ++checked_invalid;
      continue;
    }
    ASSERT_TRUE(q.has_value()) << error;
    if (!f.at("value").is_null()) {
      const std::string value = f.at("value").get<std::string>();
      EXPECT_EQ(q->ToDecimalString(), value);
      // ToDouble is the nearest double to the exact value.
      EXPECT_EQ(q->ToDouble(), std::strtod(value.c_str(), nullptr));
      ++checked_values;
    }
    // TestQuantityString states the format of the Quantity it builds, not of the parse.
    if (test == "TestQuantityParse" && !f.at("format").is_null()) {
      EXPECT_STREQ(FormatName(q->format()), f.at("format").get<std::string>().c_str());
    }
    if (!f.at("canonical").is_null()) {
      EXPECT_EQ(q->Canonical(), f.at("canonical").get<std::string>());
      ++checked_canonical;
    }
    if (f.contains("as_int64_ok")) {
      const std::optional<int64_t> v = q->AsInt64();
      EXPECT_EQ(v.has_value(), f.at("as_int64_ok").get<bool>());
      if (v.has_value() && f.contains("as_int64")) {
        EXPECT_EQ(std::to_string(*v), f.at("as_int64").get<std::string>());
      }
      ++checked_int64;
    }
    if (f.contains("approx_float64")) {
      const double want = std::strtod(f.at("approx_float64").get<std::string>().c_str(), nullptr);
      EXPECT_DOUBLE_EQ(q->ToDouble(), want);
      ++checked_approx;
    }
    // TestQuantityParse: "-"+in negates the value with the same format; "+"+in keeps both.
    if (test == "TestQuantityParse" && !f.at("value").is_null()) {
      const std::string value = f.at("value").get<std::string>();
      const std::optional<Quantity> neg = Quantity::Parse("-" + in);
      const std::optional<Quantity> pos = Quantity::Parse("+" + in);
      ASSERT_TRUE(neg.has_value());
      ASSERT_TRUE(pos.has_value());
      EXPECT_EQ(neg->ToDecimalString(), Negated(value));
      EXPECT_EQ(pos->ToDecimalString(), value);
      EXPECT_EQ(neg->format(), q->format());
      EXPECT_EQ(pos->format(), q->format());
      EXPECT_EQ(neg->ToDouble(), -q->ToDouble());
      checked_variants += 2;
    }
  }
  EXPECT_EQ(checked_invalid, 12);
  EXPECT_EQ(checked_approx, 4);
  EXPECT_EQ(checked_int64, 72);
  EXPECT_GT(checked_values, 200);
  EXPECT_GT(checked_canonical, 120);
  EXPECT_EQ(checked_variants, 2 * 96);
}

TEST(Quantity, MetricsServerSpellings) {
  EXPECT_DOUBLE_EQ(Quantity::Parse("487558164n")->ToDouble(), 0.487558164);
  EXPECT_DOUBLE_EQ(Quantity::Parse("732212Ki")->ToDouble(), 732212.0 * 1024);
  EXPECT_DOUBLE_EQ(Quantity::Parse("211m")->ToDouble(), 0.211);
  EXPECT_DOUBLE_EQ(Quantity::Parse("2500u")->ToDouble(), 0.0025);
  EXPECT_DOUBLE_EQ(Quantity::Parse("12e6")->ToDouble(), 12e6);
  EXPECT_EQ(Quantity::Parse("1.5Gi")->Canonical(), "1536Mi");
  EXPECT_EQ(Quantity::Parse("1.5")->Canonical(), "1500m");
  EXPECT_EQ(Quantity::Parse("8583Mi")->ToDecimalString(), "8999927808");
}

TEST(Quantity, CanonicalCornerCases) {
  // Input reused as String() when apimachinery deems it canonical already.
  EXPECT_EQ(Quantity::Parse("100.035k")->Canonical(), "100.035k");
  EXPECT_EQ(Quantity::Parse("+1Ki")->Canonical(), "+1Ki");
  // Otherwise rebuilt.
  EXPECT_EQ(Quantity::Parse("100.035Ki")->Canonical(), "102435840m");
  EXPECT_EQ(Quantity::Parse("-1.5Ki")->Canonical(), "-1536");
  EXPECT_EQ(Quantity::Parse("2048Ki")->Canonical(), "2Mi");
  EXPECT_EQ(Quantity::Parse("9Ei")->Canonical(), "9223372036854775807");
  EXPECT_EQ(Quantity::Parse("-9Ei")->ToDecimalString(), "-9223372036854775807");
  // DecimalSI above E falls back to exponent notation instead of dropping the exponent.
  EXPECT_EQ(Quantity::Parse("1000E")->Canonical(), "1e21");
  EXPECT_EQ(Quantity::Parse("1.0e21")->Canonical(), "1e21");
  EXPECT_EQ(Quantity::Parse("-0")->Canonical(), "0");
  EXPECT_EQ(Quantity::Parse("0.0Ki")->Canonical(), "0");
}

TEST(Quantity, GoLeniencyAndLimits) {
  // parseQuantityString accepts these, so apimachinery does too.
  EXPECT_EQ(Quantity::Parse("-")->ToDecimalString(), "0");
  EXPECT_EQ(Quantity::Parse(".")->ToDecimalString(), "0");
  EXPECT_EQ(Quantity::Parse("e5")->ToDecimalString(), "0");
  EXPECT_EQ(Quantity::Parse("1.G")->ToDecimalString(), "1000000000");
  // No digits and a slow-path scale: inf.Dec rejects the empty number.
  EXPECT_FALSE(Quantity::Parse("e-20").has_value());
  EXPECT_FALSE(Quantity::Parse("1e").has_value());
  EXPECT_FALSE(Quantity::Parse("1e99999999999999999999").has_value());
  EXPECT_FALSE(Quantity::Parse("1\n").has_value());
  EXPECT_FALSE(Quantity::Parse("\t1").has_value());
  EXPECT_FALSE(Quantity::Parse("1 Ki").has_value());
  EXPECT_FALSE(Quantity::Parse("1KiB").has_value());
  // Tiny and huge exponents stay cheap and exact.
  EXPECT_EQ(Quantity::Parse("1e-999999999")->ToDecimalString(), "0.000000001");
  const std::optional<Quantity> huge = Quantity::Parse("1e999999999");
  ASSERT_TRUE(huge.has_value());
  EXPECT_EQ(huge->ToDouble(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(huge->Canonical(), "1e999999999");
  // A long but valid number.
  const std::string long_num = "1" + std::string(400, '0') + "m";
  EXPECT_EQ(Quantity::Parse(long_num)->Canonical(), "10e396");
}

TEST(GoDuration, Parses) {
  EXPECT_EQ(ParseGoDuration("30s"), 30.0);
  EXPECT_EQ(ParseGoDuration("20.064s"), 20.064);
  EXPECT_EQ(ParseGoDuration("1m0s"), 60.0);
  EXPECT_EQ(ParseGoDuration("1h2m3.5s"), 3723.5);
  EXPECT_EQ(ParseGoDuration("150ms"), 0.15);
  EXPECT_EQ(ParseGoDuration("2us"), 2e-6);
  EXPECT_EQ(ParseGoDuration("2\xC2\xB5s"), 2e-6);
  EXPECT_EQ(ParseGoDuration("7ns"), 7e-9);
  EXPECT_EQ(ParseGoDuration("0"), 0.0);
  EXPECT_EQ(ParseGoDuration("-1.5h"), -5400.0);
  EXPECT_EQ(ParseGoDuration("+5s"), 5.0);
  EXPECT_EQ(ParseGoDuration(".5s"), 0.5);
  EXPECT_EQ(ParseGoDuration("1.s"), 1.0);
  EXPECT_DOUBLE_EQ(*ParseGoDuration("2562047h47m16.854775807s"), 9223372036.854775807);
}

TEST(GoDuration, Rejects) {
  for (const char* bad : {"", "30", "s", ".s", "1x", "1.2.3s", " 1s", "1s ", "-", "+", "1e3s",
                          "2562047h47m16.854775808s", "99999999999999999999s"}) {
    EXPECT_FALSE(ParseGoDuration(bad).has_value()) << bad;
  }
}

TEST(Rfc3339, Parses) {
  EXPECT_EQ(ParseRfc3339Millis("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339Millis("2026-01-13T18:40:14Z"), int64_t{1768329614000});
  EXPECT_EQ(ParseRfc3339Millis("2026-01-13T18:40:14.5Z"), int64_t{1768329614500});
  EXPECT_EQ(ParseRfc3339Millis("2026-01-13T18:40:14.123456789Z"), int64_t{1768329614123});
  EXPECT_EQ(ParseRfc3339Millis("2026-01-13T19:40:14+01:00"), int64_t{1768329614000});
  EXPECT_EQ(ParseRfc3339Millis("2026-01-13T13:10:14.25-05:30"), int64_t{1768329614250});
  EXPECT_EQ(ParseRfc3339Millis("2016-02-29T00:00:00Z"), int64_t{1456704000000});
  EXPECT_EQ(ParseRfc3339Millis("1969-12-31T23:59:59.999Z"), -1);
}

TEST(Rfc3339, Rejects) {
  for (const char* bad :
       {"", "2026-01-13", "2026-01-13T18:40:14", "2026-01-13 18:40:14Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-01-13T24:00:00Z", "2026-01-13T18:40:14.Z",
        "2026-01-13T18:40:14+0100", "2026-01-13T18:40:14Zjunk", "2026-01-13T18:40:14+01:00x",
        "20x6-01-13T18:40:14Z"}) {
    EXPECT_FALSE(ParseRfc3339Millis(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace kmb
