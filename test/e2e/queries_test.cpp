// End to end for what users plug in (issue 6): the simulator, the exporter and a real
// Prometheus with deploy/prometheus/rules.yaml loaded. After a few scrapes and rule evaluations,
// EVERY dashboard panel expression and template-variable query (variables substituted with real
// values) and EVERY recording and alerting rule expression goes through Prometheus' HTTP API. A
// parse error fails; so does an empty result. Alerts are run
// without their threshold comparisons (their full expressions are legitimately empty on a healthy
// cluster, which is checked for the exporter-health alerts).

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "common/yaml_json.h"
#include "e2e/prometheus_support.h"

namespace kmb {
namespace {

using nlohmann::json;
using testing::Child;
using testing::HttpGet;
using testing::PromQuery;
using testing::Query;
using testing::ScalarOf;
using testing::TempDir;
using testing::WaitFor;

const std::string kSrc = KMB_SOURCE_DIR;

// Whether `expr` names `metric` (as a whole metric name, not part of a longer one).
bool References(const std::string& expr, const std::string& metric) {
  auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  };
  for (size_t at = expr.find(metric); at != std::string::npos; at = expr.find(metric, at + 1)) {
    bool left = at == 0 || !is_name_char(expr[at - 1]);
    size_t end = at + metric.size();
    bool right = end == expr.size() || !is_name_char(expr[end]);
    if (left && right) return true;
  }
  return false;
}

// An alert's expression without its comparisons against a number ("> 0.9", "== 0"), so that it
// returns the values the alert compares (non-empty on a healthy cluster).
std::string WithoutThresholds(const std::string& expr) {
  static const std::regex cmp(R"(\s*(>=|<=|==|!=|>|<)\s*-?[0-9][0-9.eE+]*)");
  return std::regex_replace(expr, cmp, "");
}

class Queries : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { stack_ = new Stack(); }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(stack_->ready) << stack_->why; }

  // Simulator, exporter and Prometheus, shared by the tests of this suite.
  struct Stack {
    TempDir dir;
    std::unique_ptr<Child> sim, exporter, prometheus;
    std::string prom;
    bool ready = false;
    std::string why;
    std::map<std::string, std::string> vars;  // Grafana variable -> value substituted

    Stack() {
      const std::string kc = dir.file("kubeconfig");
      sim = std::make_unique<Child>(
          std::vector<std::string>{KMB_BINARY, "simulate", "--listen", "127.0.0.1:0", "--nodes",
                                   "2", "--pods-per-node", "8", "--stats-period", "1s",
                                   "--write-kubeconfig", kc},
          dir.file("sim.out"), dir.file("sim.err"));
      if (sim->WaitForLine("listening on").empty()) {
        why = "simulator: " + sim->Stderr();
        return;
      }
      exporter = std::make_unique<Child>(
          std::vector<std::string>{
              KMB_BINARY, "--kubeconfig", kc, "--web.listen-address", "127.0.0.1:0", "--interval",
              "1s",
              testing::AllMetricGroupsFlag()},
          dir.file("exporter.out"), dir.file("exporter.err"));
      std::string line = exporter->WaitForLine("serving metrics", true);
      if (line.empty()) {
        why = "exporter: " + exporter->Stderr();
        return;
      }
      std::string url = testing::LogfmtField(line, "url");
      std::string host_port = url.substr(7, url.find('/', 7) - 7);
      int port = testing::FreePort();
      // The job name the rules select on; `cluster` as a target label, as a multi-cluster
      // setup would add it, so that $cluster has a value to substitute.
      testing::WriteFile(
          dir.file("prometheus.yml"),
          "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
          "  evaluation_interval: 1s\n"
          "rule_files: ['" +
              kSrc +
              "/deploy/prometheus/rules.yaml']\n"
              "scrape_configs:\n- job_name: kube-metrics-bridge\n  honor_labels: true\n"
              "  static_configs:\n  - targets: ['" +
              host_port +
              "']\n"
              "    labels: {cluster: e2e}\n");
      prom = "http://127.0.0.1:" + std::to_string(port);
      prometheus = std::make_unique<Child>(
          std::vector<std::string>{"/usr/bin/prometheus",
                                   "--config.file=" + dir.file("prometheus.yml"),
                                   "--storage.tsdb.path=" + dir.file("data"),
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port)},
          dir.file("prom.out"), dir.file("prom.err"));
      // A few scrapes, and rules evaluated on at least two of them (rates need two samples).
      bool scraped = WaitFor(
          [&] {
            return ScalarOf(Query(prom, "count_over_time(up{job=\"kube-metrics-bridge\"}[1m])")) >=
                       5 &&
                   !Query(prom, "namespace_pod_container:container_cpu_usage_seconds_total:rate5m")
                        .empty();
          },
          std::chrono::seconds(45));
      if (!scraped) {
        why = "Prometheus did not scrape and evaluate: " + prometheus->Stderr();
        return;
      }
      // Real values for the variables: a namespace and node that have a PVC, and a pod there.
      json pvc = Query(prom, "kubelet_volume_stats_used_bytes");
      if (pvc.empty()) {
        why = "no PVC series to pick a namespace from";
        return;
      }
      vars["cluster"] = "e2e";
      vars["namespace"] = pvc[0]["metric"]["namespace"];
      vars["node"] = pvc[0]["metric"]["node"];
      json pods = Query(prom, "k8s_pod_start_time_seconds{namespace=\"" + vars["namespace"] +
                                  "\",node=\"" + vars["node"] + "\"}");
      if (pods.empty()) {
        why = "no pod in " + vars["namespace"];
        return;
      }
      vars["pod"] = pods[0]["metric"]["pod"];
      vars["__rate_interval"] = "20s";
      ready = true;
    }
  };

  // $name and ${name} replaced by the values picked above.
  static std::string Substitute(std::string expr) {
    for (const auto& [name, value] : stack_->vars) {
      for (const std::string& ref : {"${" + name + "}", "$" + name}) {
        for (size_t at = expr.find(ref); at != std::string::npos; at = expr.find(ref, at)) {
          expr.replace(at, ref.size(), value);
          at += value.size();
        }
      }
    }
    return expr;
  }

  // Runs `expr`: fails on an error and on an empty result.
  static void ExpectNonEmpty(const std::string& what, const std::string& expr) {
    auto r = PromQuery(stack_->prom, expr);
    ASSERT_TRUE(r.ok) << what << ": " << r.error << "\n  " << expr;
    EXPECT_FALSE(r.result.empty()) << what << ": empty result\n  " << expr;
  }

  static std::vector<json> Rules(const std::string& key) {
    std::vector<json> out;
    auto docs =
        testing::ParseYamlDocuments(testing::ReadFile(kSrc + "/deploy/prometheus/rules.yaml"));
    for (const auto& g : docs.at(0)["groups"]) {
      for (const auto& r : g["rules"]) {
        if (r.contains(key)) out.push_back(r);
      }
    }
    return out;
  }

  static inline Stack* stack_ = nullptr;
};

TEST_F(Queries, EveryDashboardPanelAndVariableQueryReturnsData) {
  int panels = 0, targets = 0;
  for (const auto& f : std::filesystem::directory_iterator(kSrc + "/dashboards")) {
    if (f.path().extension() != ".json") continue;
    json d = json::parse(testing::ReadFile(f.path()));
    const std::string file = f.path().filename().string();
    for (const auto& v : d["templating"]["list"]) {
      if (v["type"] != "query") continue;
      // label_values(SELECTOR, LABEL): the selector must return series that carry LABEL.
      static const std::regex lv(R"(^label_values\((.*),\s*(\w+)\)$)");
      std::smatch m;
      std::string def = v["definition"];
      ASSERT_TRUE(std::regex_match(def, m, lv)) << file << ": " << def;
      std::string sel = Substitute(m[1]), label = m[2];
      json r = Query(stack_->prom, sel);
      bool has_label = false;
      for (const auto& s : r) has_label |= !s["metric"].value(label, "").empty();
      EXPECT_TRUE(has_label) << file << ": variable " << v["name"] << " has no values: " << sel;
    }
    for (const auto& p : d["panels"]) {
      ++panels;
      for (const auto& t : p["targets"]) {
        ++targets;
        ExpectNonEmpty(
            file + " / " + p["title"].get<std::string>() + " / " + t["refId"].get<std::string>(),
            Substitute(t["expr"]));
      }
    }
  }
  EXPECT_GE(panels, 40);
  std::cout << panels << " panels, " << targets << " expressions\n";
}

TEST_F(Queries, EveryRecordingRuleReturnsData) {
  const auto records = Rules("record");
  for (const auto& r : records) {
    ExpectNonEmpty("record " + r["record"].get<std::string>(), r["expr"]);
    // And Prometheus itself recorded it (the rules file is loaded and evaluates).
    ExpectNonEmpty("recorded " + r["record"].get<std::string>(), r["record"]);
  }
  EXPECT_GE(records.size(), 5u);
}

TEST_F(Queries, EveryAlertParsesAndItsValuesWithoutThresholdsReturnData) {
  const auto alerts = Rules("alert");
  for (const auto& a : alerts) {
    const std::string name = a["alert"], expr = a["expr"];
    auto full = PromQuery(stack_->prom, expr);
    EXPECT_TRUE(full.ok) << name << ": " << full.error;
    const std::string values = WithoutThresholds(expr);
    EXPECT_NE(values, expr) << name << ": no threshold comparison found";
    ExpectNonEmpty("alert " + name + " without thresholds", values);
    // The simulated cluster is healthy: the exporter-health alerts must not even be pending.
    if (name.starts_with("KubeMetricsBridge")) {
      EXPECT_TRUE(full.result.empty()) << name << " fires on a healthy cluster: " << full.result;
    }
  }
  EXPECT_GE(alerts.size(), 12u);
}

TEST(QueryHelpers, ThresholdsAreStrippedAndNamesMatchWhole) {
  EXPECT_EQ(WithoutThresholds("a / b > 0.9"), "a / b");
  EXPECT_EQ(WithoutThresholds("up == 0 or absent(up) == 1"), "up or absent(up)");
  EXPECT_EQ(WithoutThresholds("predict_linear(a[6h], 4 * 24 * 3600) < 0"),
            "predict_linear(a[6h], 4 * 24 * 3600)");
  EXPECT_EQ(WithoutThresholds("(l > 0)"), "(l)");
  EXPECT_TRUE(References("sum(k8s_pod_info{a=\"b\"})", "k8s_pod_info"));
  EXPECT_FALSE(References("namespace:k8s_pod_cpu_request_cores:sum", "k8s_pod_cpu_request_cores"));
  EXPECT_FALSE(References("k8s_pod_cpu_request_cores_total", "k8s_pod_cpu_request_cores"));
}

}  // namespace
}  // namespace kmb
