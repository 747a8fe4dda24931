// Unit tests of the simulator's building blocks: text formats and the cluster model.

#include "sim/model.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "sim/format.h"
#include "sim/http_support.h"
#include "sim/json_writer.h"

namespace kmb::sim {
namespace {

using nlohmann::json;

TEST(Format, Rfc3339) {
  EXPECT_EQ(Rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Rfc3339(1782468875), "2026-06-26T10:14:35Z");
  EXPECT_EQ(Rfc3339(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(Rfc3339(4102444799), "2099-12-31T23:59:59Z");
}

TEST(Format, GoDurations) {
  EXPECT_EQ(GoDurationMillis(20064), "20.064s");
  EXPECT_EQ(GoDurationMillis(30000), "30s");
  EXPECT_EQ(GoDurationMillis(60000), "1m0s");
  EXPECT_EQ(GoDurationMillis(90500), "1m30.5s");
  EXPECT_EQ(GoDurationMillis(3600000), "1h0m0s");
  EXPECT_EQ(GoDurationMillis(500), "500ms");
  EXPECT_EQ(GoDurationMillis(0), "0s");
}

TEST(Format, QuantitiesAsMetricsServerWritesThem) {
  EXPECT_EQ(DecimalSI(329087452, -9), "329087452n");
  EXPECT_EQ(DecimalSI(487558160, -9), "487558160n");  // exponent -8 goes down to -9, not up
  EXPECT_EQ(DecimalSI(487558000, -9), "487558u");
  EXPECT_EQ(DecimalSI(500000000, -9), "500m");
  EXPECT_EQ(DecimalSI(2000000000, -9), "2");
  EXPECT_EQ(DecimalSI(0, -9), "0");
  EXPECT_EQ(DecimalSI(100, -3), "100m");
  EXPECT_EQ(DecimalSI(1500, -3), "1500m");
  EXPECT_EQ(DecimalSI(8000, -3), "8");
  EXPECT_EQ(BinarySI(2814136320), "2748180Ki");
  EXPECT_EQ(BinarySI(1ull << 30), "1Gi");
  EXPECT_EQ(BinarySI(1000), "1k");  // below 1024 apimachinery uses DecimalSI
  EXPECT_EQ(BinarySI(1023), "1023");
  EXPECT_EQ(BinarySI(4097), "4097");
  EXPECT_EQ(BinarySI(~0ull), "9223372036854775807");  // saturates at 2^63-1
}

// The apimachinery test tables agree with our canonical forms wherever they apply: integer
// byte counts in BinarySI, and DecimalSI values that are whole nanos.
TEST(Format, AgreesWithApimachineryCanonicalForms) {
  const json facts = json::parse(testing::ReadFile(
      std::string(KMB_FIXTURES_DIR) + "/quantity/k8s-apimachinery-quantity-test-facts.json"));
  int checked = 0;
  for (const json& f : facts["facts"]) {
    if (!f["valid"].get<bool>() || f["canonical"].is_null() || f["value"].is_null() ||
        f["format"].is_null()) {
      continue;
    }
    const std::string value = f["value"];
    const std::string format = f["format"];
    if (value.empty() || value[0] == '-') continue;
    if (format == "BinarySI" && value.find('.') == std::string::npos && value.size() < 19) {
      EXPECT_EQ(BinarySI(std::stoull(value)), f["canonical"]) << f["in"];
      ++checked;
    } else if (format == "DecimalSI") {
      // value * 1e9 must be an integer that fits.
      const size_t dot = value.find('.');
      const std::string whole = value.substr(0, dot);
      std::string frac = dot == std::string::npos ? "" : value.substr(dot + 1);
      if (frac.size() > 9 || whole.size() > 9) continue;
      frac.resize(9, '0');
      const int64_t nanos = std::stoll(whole) * 1000000000 + std::stoll(frac);
      EXPECT_EQ(DecimalSI(nanos, -9), f["canonical"]) << f["in"];
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(Format, Base64RoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "-----BEGIN CERTIFICATE-----\n\x01\xff"}) {
    std::string back;
    ASSERT_TRUE(Base64Decode(Base64(s), &back));
    EXPECT_EQ(back, s);
  }
  EXPECT_EQ(Base64("abcd"), "YWJjZA==");
  std::string out;
  EXPECT_FALSE(Base64Decode("a b", &out));
}

TEST(JsonWriter, EscapesAndSeparates) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("s", "a\"b\\c\n\x01");
  w.Key("a").BeginArray();
  w.Uint(18446744073709551615ull);
  w.Int(-5);
  w.Hundredths(7263);
  w.Hundredths(1000);
  w.Hundredths(1);
  w.Hundredths(150);
  w.EndArray();
  w.Key("o").BeginObject();
  w.EndObject();
  w.EndObject();
  EXPECT_EQ(w.str(),
            R"({"s":"a\"b\\c\n\u0001","a":[18446744073709551615,-5,72.63,10,0.01,1.5],"o":{}})");
  EXPECT_EQ(json::parse(out)["s"], "a\"b\\c\n\x01");
}

TEST(ClusterModel, PodNamesAreUniqueAndDecodeBack) {
  SimOptions options;
  options.nodes = 300;
  options.pods_per_node = 110;
  ClusterModel model(options, 1782468875);
  std::set<std::string> names;
  for (int n = 0; n < model.nodes(); n += 7) {
    for (int s = 0; s < model.pods_per_node(); ++s) {
      const std::string name = model.PodName(n, s);
      const std::string ns(model.PodNamespace(s));
      EXPECT_TRUE(names.insert(ns + "/" + name).second) << name;
      PodRef ref;
      ASSERT_TRUE(model.FindPod(ns, name, &ref)) << ns << "/" << name;
      EXPECT_EQ(ref.node, n);
      EXPECT_EQ(ref.slot, s);
    }
  }
  PodRef ref;
  EXPECT_FALSE(model.FindPod("default", "web-bbbbbbbbbb-bbbbb", &ref));
  EXPECT_FALSE(model.FindPod("kube-system", model.PodName(3, 2), &ref));  // wrong namespace
  EXPECT_FALSE(model.FindPod("default", "postgres-007", &ref));
  EXPECT_FALSE(model.FindPod("default", "postgres-99999999", &ref));
  EXPECT_EQ(model.FindNode("sim-node-299"), 299);
  EXPECT_EQ(model.FindNode("sim-node-300"), -1);
  EXPECT_EQ(model.FindNode("sim-node-01"), -1);
  EXPECT_EQ(model.FindNode("sim-node-"), -1);
}

TEST(ClusterModel, NodesFitTheirPods) {
  SimOptions options;
  options.nodes = 2;
  options.pods_per_node = 110;
  ClusterModel model(options, 1782468875);
  NodeStats stats;
  for (int64_t tick : {0, 1, 50, 1000}) {
    model.Compute(1, tick, &stats);
    const NodeInfo& ni = model.node(1);
    EXPECT_LT(stats.node.cpu.usage_nano_cores, static_cast<uint64_t>(ni.cores) * 1000000000);
    EXPECT_LT(stats.node.memory.working_set_bytes, ni.memory_bytes);
    EXPECT_LT(stats.fs.used_bytes, stats.fs.capacity_bytes);
    for (const PodStats& pod : stats.pods) {
      if (pod.cgroup.memory.has_available) {
        EXPECT_GT(pod.cgroup.memory.available_bytes, 0u);
      }
      EXPECT_LE(pod.cgroup.cpu.psi.full_total, pod.cgroup.cpu.psi.some_total);
    }
  }
}

}  // namespace
}  // namespace kmb::sim
