// `doctor` against the simulated cluster: one test per reproduced failure, asserting the
// diagnosis (the check, its status and its docs/troubleshooting.md section), the exit status
// and the JSON report.

#include "kmb/doctor/doctor.h"

#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/test_util.h"
#include "doctor/diagnosis.h"
#include "doctor/jwt.h"
#include "kmb/sim/cluster.h"
#include "sim/format.h"

namespace kmb::doctor {
namespace {

using nlohmann::json;

constexpr const char* kDoc = "docs/troubleshooting.md#";

// A service-account-shaped JWT (unsigned: the simulator compares tokens, it does not verify).
std::string MakeJwt(int64_t exp) {
  auto url = [](std::string s) {
    s = sim::Base64(s);
    for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
  };
  return url(R"({"alg":"RS256","kid":"k"})") + "." +
         url(R"({"exp":)" + std::to_string(exp) +
             R"(,"sub":"system:serviceaccount:monitoring:kube-metrics-bridge"})") +
         ".c2lnbmF0dXJl";
}

struct Outcome {
  int exit_status = -1;
  json report;
  std::string text;

  // The check (group, name[, node]); fails the test when absent.
  json Check(const std::string& group, const std::string& name,
             const std::string& node = "") const {
    for (const json& c : report["checks"]) {
      if (c["group"] == group && c["name"] == name && (node.empty() || c["node"] == node)) {
        return c;
      }
    }
    ADD_FAILURE() << "no check " << group << " " << name << " in\n" << text;
    return json::object();
  }
};

class DoctorTest : public ::testing::Test {
 protected:
  DoctorTest() {
    sim_options_.tls = true;
    sim_options_.kubelets = true;
    sim_options_.nodes = 2;
    sim_options_.pods_per_node = 3;
    sim_options_.threads = 16;
    sim_options_.token = MakeJwt(std::time(nullptr) + 7 * 86400);
  }

  // Starts the simulator with sim_options_, runs the doctor twice (JSON and text).
  Outcome Run() {
    std::string error;
    sim_ = sim::SimulatedCluster::Start(sim_options_, &error);
    EXPECT_NE(sim_, nullptr) << error;
    if (!sim_) return {};
    if (hook_) hook_(*sim_);
    const std::string kubeconfig = dir_.file("kubeconfig");
    EXPECT_TRUE(sim_->WriteKubeconfig(kubeconfig).ok());
    if (!token_override_.empty()) {
      std::string text = testing::ReadFile(kubeconfig);
      text.replace(text.find(sim_options_.token), sim_options_.token.size(), token_override_);
      testing::WriteFile(kubeconfig, text);
    }
    DoctorOptions options = doctor_options_;
    options.kubeconfig = kubeconfig;
    options.timeout_seconds = 5;
    // Closed unless the simulator has one: a port that was free a moment ago.
    options.kubelet_read_only_port =
        sim_->kubelet_read_only_port() != 0 ? sim_->kubelet_read_only_port() : testing::FreePort();
    Outcome o;
    std::ostringstream json_out, text_out;
    options.json = true;
    o.exit_status = RunDoctor(options, json_out);
    o.report = json::parse(json_out.str());
    options.json = false;
    EXPECT_EQ(RunDoctor(options, text_out), o.exit_status);
    o.text = text_out.str();
    EXPECT_EQ(o.report["exit_status"], o.exit_status);
    return o;
  }

  static void ExpectDiagnosis(const json& check, const std::string& status,
                              const std::string& doc) {
    EXPECT_EQ(check.value("status", ""), status) << check.dump(1);
    EXPECT_EQ(check.value("doc", ""), kDoc + doc) << check.dump(1);
    EXPECT_FALSE(check.value("fix", "").empty()) << check.dump(1);
  }

  static std::string FixtureMessage(const std::string& name) {
    const json f =
        json::parse(testing::ReadFile(std::string(KMB_FIXTURES_DIR) + "/apiservice/" + name));
    return f["status"]["conditions"][0]["message"];
  }

  sim::SimOptions sim_options_;
  DoctorOptions doctor_options_;
  std::function<void(sim::SimulatedCluster&)> hook_;
  std::string token_override_;  // the kubeconfig's token instead of the simulator's
  std::unique_ptr<sim::SimulatedCluster> sim_;
  testing::TempDir dir_;
};

TEST_F(DoctorTest, HealthyClusterIsAllOk) {
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 0) << o.text;
  EXPECT_EQ(o.report["version"], 1);
  EXPECT_EQ(o.report["result"], "ok");
  EXPECT_EQ(o.report["counts"]["fail"], 0);
  EXPECT_EQ(o.report["counts"]["warn"], 0);
  EXPECT_EQ(o.report["server"], sim_->url());
  for (const json& c : o.report["checks"]) {
    for (const char* key :
         {"group", "name", "node", "status", "summary", "evidence", "fix", "doc", "seconds"}) {
      EXPECT_TRUE(c.contains(key)) << key;
    }
  }
  // Every group ran, in order.
  std::vector<std::string> groups;
  for (const json& c : o.report["checks"]) {
    if (groups.empty() || groups.back() != c["group"]) groups.push_back(c["group"]);
  }
  EXPECT_EQ(groups, (std::vector<std::string>{"apiserver", "permissions", "aggregation",
                                              "metrics-api", "kubelet", "credentials"}));
  EXPECT_EQ(o.Check("apiserver", "tls")["status"], "ok");
  EXPECT_EQ(o.Check("permissions", "get nodes/stats")["status"], "ok");
  EXPECT_EQ(o.Check("permissions", "list pods.metrics.k8s.io")["status"], "ok");
  for (const char* need : {"list nodes", "watch nodes", "list pods", "watch pods"}) {
    EXPECT_EQ(o.Check("permissions", need)["status"], "ok") << need;
  }
  EXPECT_EQ(o.Check("aggregation", "apiservice")["status"], "ok");
  EXPECT_EQ(o.Check("aggregation", "endpoints")["status"], "ok");
  EXPECT_EQ(o.Check("metrics-api", "coverage")["status"], "ok");
  for (const std::string node : {"sim-node-0", "sim-node-1"}) {
    EXPECT_EQ(o.Check("kubelet", "proxy", node)["status"], "ok");
    EXPECT_EQ(o.Check("kubelet", "tls", node)["status"], "ok");
    EXPECT_EQ(o.Check("kubelet", "summary", node)["status"], "ok");
    EXPECT_EQ(o.Check("kubelet", "clock", node)["status"], "ok");
    // Closed, the modern default: fine for the exporter.
    EXPECT_EQ(o.Check("kubelet", "read-only", node)["status"], "ok");
  }
  EXPECT_NE(o.Check("credentials", "token")["evidence"].get<std::string>().find(
                "system:serviceaccount:monitoring:kube-metrics-bridge"),
            std::string::npos);
  // The token is never printed.
  EXPECT_EQ(o.text.find(sim_options_.token), std::string::npos);
  EXPECT_EQ(o.report.dump().find(sim_options_.token), std::string::npos);
  EXPECT_NE(o.text.find("result: OK (0 fail, 0 warn,"), std::string::npos) << o.text;
}

TEST_F(DoctorTest, SampleOfNodes) {
  doctor_options_.max_nodes = 1;
  const Outcome o = Run();
  int proxies = 0;
  for (const json& c : o.report["checks"]) proxies += c["name"] == "proxy" ? 1 : 0;
  EXPECT_EQ(proxies, 1);
}

TEST_F(DoctorTest, FailedDiscoveryCheck) {
  sim_options_.apiservice = "FailedDiscoveryCheck";
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json c = o.Check("aggregation", "apiservice");
  ExpectDiagnosis(c, "fail", "apiservice-failed-discovery-check");
  const std::string message = FixtureMessage(
      "metrics-server-issue-918-v1beta1.metrics.k8s.io-FailedDiscoveryCheck-"
      "status-only.json");
  EXPECT_NE(c["evidence"].get<std::string>().find(message), std::string::npos) << c.dump(1);
  EXPECT_NE(c["fix"].get<std::string>().find("--enable-aggregator-routing=true"),
            std::string::npos);
  ExpectDiagnosis(o.Check("metrics-api", "nodes"), "fail", "metrics-api-unavailable");
  EXPECT_NE(o.text.find("fail  aggregation apiservice"), std::string::npos) << o.text;
}

TEST_F(DoctorTest, MissingEndpoints) {
  sim_options_.apiservice = "MissingEndpoints";
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json c = o.Check("aggregation", "apiservice");
  ExpectDiagnosis(c, "fail", "apiservice-missing-endpoints");
  EXPECT_NE(
      c["evidence"].get<std::string>().find(FixtureMessage(
          "rifaterdemsahin-kubernetespodmetrics-v1beta1.metrics.k8s.io-MissingEndpoints.json")),
      std::string::npos);
  ExpectDiagnosis(o.Check("aggregation", "endpoints"), "fail", "apiservice-missing-endpoints");
}

TEST_F(DoctorTest, ServiceNotFound) {
  sim_options_.apiservice = "ServiceNotFound";
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  ExpectDiagnosis(o.Check("aggregation", "apiservice"), "fail", "apiservice-service-not-found");
  ExpectDiagnosis(o.Check("aggregation", "service"), "fail", "apiservice-service-not-found");
}

TEST_F(DoctorTest, MetricsServerCrashLoopsOnServiceCidrTimeout) {
  sim_options_.apiservice = "IoTimeout";
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json c = o.Check("aggregation", "pods");
  ExpectDiagnosis(c, "fail", "service-cidr-io-timeout");
  EXPECT_NE(c["summary"].get<std::string>().find("CrashLoopBackOff"), std::string::npos);
  EXPECT_NE(c["evidence"].get<std::string>().find("dial tcp 10.233.0.1:443: i/o timeout"),
            std::string::npos);
  EXPECT_NE(c["fix"].get<std::string>().find("iptables -P FORWARD ACCEPT"), std::string::npos);
}

TEST_F(DoctorTest, AggregationMissing) {
  sim_options_.apiservice = "Absent";
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  ExpectDiagnosis(o.Check("aggregation", "apiservice"), "fail", "aggregation-not-enabled");
  const json nodes = o.Check("metrics-api", "nodes");
  ExpectDiagnosis(nodes, "fail", "aggregation-not-enabled");
  EXPECT_NE(nodes["evidence"].get<std::string>().find("HTTP 404"), std::string::npos);
}

TEST_F(DoctorTest, AggregatedApiAnswers503) {
  hook_ = [](sim::SimulatedCluster& s) { s.SetMetricsApiStatus(503); };
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json nodes = o.Check("metrics-api", "nodes");
  ExpectDiagnosis(nodes, "fail", "metrics-api-unavailable");
  EXPECT_NE(nodes["evidence"].get<std::string>().find("HTTP 503"), std::string::npos);
  ExpectDiagnosis(o.Check("metrics-api", "pods"), "fail", "metrics-api-unavailable");
  ExpectDiagnosis(o.Check("aggregation", "apiservice"), "fail",
                  "apiservice-failed-discovery-check");
}

TEST_F(DoctorTest, KubeletCertificateWithoutIpSan) {
  sim_options_.kubelet_ip_san = false;
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json c = o.Check("kubelet", "tls", "sim-node-0");
  ExpectDiagnosis(c, "fail", "kubelet-certificate-without-ip-san");
  EXPECT_NE(c["summary"].get<std::string>().find("no IP SAN 127.0.0.1"), std::string::npos);
  EXPECT_NE(c["evidence"].get<std::string>().find("DNS:sim-node-0"), std::string::npos);
  EXPECT_EQ(c["evidence"].get<std::string>().find("IP:"), std::string::npos);
  // The Summary itself still answers with verification off: the certificate is the problem.
  EXPECT_EQ(o.Check("kubelet", "summary", "sim-node-0")["status"], "ok");
  EXPECT_NE(c["fix"].get<std::string>().find("serverTLSBootstrap"), std::string::npos);
}

TEST_F(DoctorTest, ReadOnlyPortOpen) {
  sim_options_.kubelet_read_only = true;
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 1) << o.text;
  EXPECT_EQ(o.report["result"], "warn");
  const json c = o.Check("kubelet", "read-only", "sim-node-0");
  ExpectDiagnosis(c, "warn", "kubelet-read-only-port");
  EXPECT_NE(c["summary"].get<std::string>().find("serves /stats/summary"), std::string::npos);
}

TEST_F(DoctorTest, ReadOnlyPortClosedIsFine) {
  const Outcome o = Run();
  const json c = o.Check("kubelet", "read-only", "sim-node-1");
  EXPECT_EQ(c["status"], "ok");
  EXPECT_NE(c["summary"].get<std::string>().find("closed"), std::string::npos);
  EXPECT_NE(c["evidence"].get<std::string>().find("refused"), std::string::npos);
}

TEST_F(DoctorTest, ClockSkew) {
  sim_options_.kubelet_clock_skew_seconds = 600;
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json c = o.Check("kubelet", "clock", "sim-node-0");
  ExpectDiagnosis(c, "fail", "clock-skew");
  EXPECT_NE(c["summary"].get<std::string>().find("+10 min"), std::string::npos) << c.dump(1);
}

TEST_F(DoctorTest, SmallClockSkewWarns) {
  sim_options_.kubelet_clock_skew_seconds = -20;
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 1) << o.text;
  ExpectDiagnosis(o.Check("kubelet", "clock", "sim-node-1"), "warn", "clock-skew");
}

TEST_F(DoctorTest, ServiceAccountWithoutNodesStats) {
  sim_options_.deny = {"nodes/stats"};
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  // Optional today (direct kubelet access): a warning.
  const json c = o.Check("permissions", "get nodes/stats");
  ExpectDiagnosis(c, "warn", "rbac-permissions");
  EXPECT_NE(c["evidence"].get<std::string>().find("allowed=false"), std::string::npos);
  EXPECT_EQ(o.Check("permissions", "get nodes/proxy")["status"], "ok");
  // The kubelet agrees: its own authorization refuses /stats/summary.
  const json summary = o.Check("kubelet", "summary", "sim-node-0");
  ExpectDiagnosis(summary, "fail", "rbac-permissions");
  EXPECT_NE(summary["evidence"].get<std::string>().find("HTTP 403"), std::string::npos);
  EXPECT_EQ(o.Check("kubelet", "proxy", "sim-node-0")["status"], "ok");
}

TEST_F(DoctorTest, ServiceAccountWithoutNodesProxy) {
  sim_options_.deny = {"nodes/proxy"};
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  ExpectDiagnosis(o.Check("permissions", "get nodes/proxy"), "fail", "rbac-permissions");
  const json proxy = o.Check("kubelet", "proxy", "sim-node-1");
  ExpectDiagnosis(proxy, "fail", "rbac-permissions");
  EXPECT_NE(proxy["evidence"].get<std::string>().find("cannot get resource \"nodes/proxy\""),
            std::string::npos);
}

// The watch caches need list and watch on nodes and pods; the simulator denies one verb.
TEST_F(DoctorTest, ServiceAccountWithoutWatchPods) {
  sim_options_.deny = {"watch pods"};
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 1) << o.text;  // pods only feed the pod-spec series: a warning
  const json c = o.Check("permissions", "watch pods");
  ExpectDiagnosis(c, "warn", "rbac-permissions");
  EXPECT_NE(c["summary"].get<std::string>().find("watch cache"), std::string::npos) << c.dump(1);
  EXPECT_NE(c["evidence"].get<std::string>().find("allowed=false"), std::string::npos);
  EXPECT_EQ(o.Check("permissions", "list pods")["status"], "ok");
  EXPECT_EQ(o.Check("permissions", "watch nodes")["status"], "ok");
}

TEST_F(DoctorTest, ServiceAccountWithoutWatchNodes) {
  sim_options_.deny = {"watch nodes"};
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2) << o.text;
  ExpectDiagnosis(o.Check("permissions", "watch nodes"), "fail", "rbac-permissions");
  EXPECT_EQ(o.Check("permissions", "list nodes")["status"], "ok");
  EXPECT_EQ(o.Check("permissions", "watch pods")["status"], "ok");
}

TEST_F(DoctorTest, ExpiredToken) {
  sim_options_.token = MakeJwt(std::time(nullptr) - 7200);
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json c = o.Check("credentials", "token");
  ExpectDiagnosis(c, "fail", "token-expiry");
  EXPECT_NE(c["summary"].get<std::string>().find("expired 2 h ago"), std::string::npos);
}

TEST_F(DoctorTest, RejectedTokenSkipsTheRest) {
  token_override_ = MakeJwt(std::time(nullptr) + 3600 * 24 * 30);
  const Outcome o = Run();
  EXPECT_EQ(o.exit_status, 2);
  const json auth = o.Check("apiserver", "auth");
  ExpectDiagnosis(auth, "fail", "credentials-rejected");
  EXPECT_NE(auth["evidence"].get<std::string>().find("HTTP 401"), std::string::npos);
  EXPECT_EQ(o.Check("permissions", "all")["status"], "skip");
  EXPECT_EQ(o.Check("kubelet", "all")["status"], "skip");
  EXPECT_EQ(o.Check("credentials", "token")["status"], "ok");
  EXPECT_EQ(o.text.find(token_override_), std::string::npos);
}

TEST_F(DoctorTest, UnreachableApiServerSkipsTheRest) {
  testing::TempDir dir;
  const std::string kubeconfig = dir.file("kubeconfig");
  testing::WriteFile(kubeconfig,
                     "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
                     "    server: https://127.0.0.1:" +
                         std::to_string(testing::FreePort()) +
                         "\n  name: c\ncontexts:\n- context:\n    cluster: c\n"
                         "    user: u\n  name: x\ncurrent-context: x\nusers:\n"
                         "- name: u\n  user: {}\n");
  DoctorOptions options;
  options.kubeconfig = kubeconfig;
  options.json = true;
  std::ostringstream out;
  EXPECT_EQ(RunDoctor(options, out), 2);
  const json report = json::parse(out.str());
  ASSERT_GE(report["checks"].size(), 3u);
  EXPECT_EQ(report["checks"][0]["name"], "dns");
  EXPECT_EQ(report["checks"][1]["name"], "tcp");
  EXPECT_EQ(report["checks"][1]["status"], "fail");
  EXPECT_EQ(report["checks"][1]["doc"], std::string(kDoc) + "api-server-unreachable");
  EXPECT_EQ(report["checks"][2]["status"], "skip");
}

TEST_F(DoctorTest, MissingKubeconfig) {
  DoctorOptions options;
  options.kubeconfig = dir_.file("nope");
  std::ostringstream out;
  EXPECT_EQ(RunDoctor(options, out), 2);
  EXPECT_NE(out.str().find("fail  credentials kubeconfig"), std::string::npos) << out.str();
}

// ---- Explain: the same words for the exporter's failed requests ----

TEST(Explain, MapsWellKnownErrors) {
  EXPECT_EQ(Explain(Status::Ok()), "");
  auto words = [](const char* r, const std::string& m) { return Explain(Status::Error(r, m)); };
  EXPECT_NE(words(reason::kTls,
                  "GET https://10.0.0.5:10250/stats/summary: SSL: no alternative certificate "
                  "subject name matches target host name '10.0.0.5'")
                .find("no IP SAN"),
            std::string::npos);
  EXPECT_NE(words(reason::kHttp5xx,
                  "GET https://h/api/v1/nodes/n/proxy/stats/summary: HTTP 500: Get "
                  "\"https://10.0.0.5:10250/stats/summary\": x509: cannot validate certificate "
                  "for 10.0.0.5 because it doesn't contain any IP SANs")
                .find("no IP SAN"),
            std::string::npos);
  EXPECT_NE(
      words(reason::kHttp4xx, "GET https://h/api/v1/nodes: HTTP 403: forbidden").find("permission"),
      std::string::npos);
  EXPECT_NE(words(reason::kHttp4xx, "GET https://h/api/v1/nodes: HTTP 401: Unauthorized")
                .find("rejected the credentials"),
            std::string::npos);
  EXPECT_NE(words(reason::kHttp4xx,
                  "GET https://h/apis/metrics.k8s.io/v1beta1/nodes: HTTP 404: the server could "
                  "not find the requested resource")
                .find("not registered"),
            std::string::npos);
  EXPECT_NE(words(reason::kHttp5xx,
                  "GET https://h/apis/metrics.k8s.io/v1beta1/nodes: HTTP 503: the server is "
                  "currently unable to handle the request")
                .find("unavailable"),
            std::string::npos);
  EXPECT_NE(words(reason::kHttp5xx,
                  "GET https://h/api/v1/nodes/n/proxy/stats/summary: HTTP 502: error trying to "
                  "reach service: dial tcp 10.64.0.1:10250: connect: connection refused")
                .find("kubelet does not answer"),
            std::string::npos);
  EXPECT_NE(words(reason::kTimeout, "GET https://h/api/v1/nodes: Operation timed out")
                .find("no answer in time"),
            std::string::npos);
  EXPECT_NE(words(reason::kDecode, "decode error at byte 3").find("not the JSON"),
            std::string::npos);
  const Diagnosis* d = Diagnose(Status::Error(reason::kInternal, "x"));
  ASSERT_NE(d, nullptr);
  EXPECT_FALSE(d->doc.empty());
}

TEST(Diagnoses, EachHasItsSectionInTroubleshooting) {
  const std::string doc =
      testing::ReadFile(std::string(KMB_SOURCE_DIR) + "/docs/troubleshooting.md");
  ASSERT_FALSE(doc.empty());
  for (const Diagnosis* d : dx::All()) {
    EXPECT_NE(doc.find("<a id=\"" + std::string(d->doc) + "\"></a>"), std::string::npos) << d->doc;
    EXPECT_FALSE(d->words.empty());
    EXPECT_FALSE(d->fix.empty()) << d->doc;
  }
}

TEST(Jwt, DecodesExpiryAndSubject) {
  JwtClaims claims;
  ASSERT_TRUE(DecodeJwtClaims(MakeJwt(1767225600), &claims));
  EXPECT_EQ(claims.exp, 1767225600);
  EXPECT_EQ(claims.sub, "system:serviceaccount:monitoring:kube-metrics-bridge");
  EXPECT_FALSE(DecodeJwtClaims("opaque-token", &claims));
  EXPECT_FALSE(DecodeJwtClaims("a.!!!.c", &claims));
}

}  // namespace
}  // namespace kmb::doctor
