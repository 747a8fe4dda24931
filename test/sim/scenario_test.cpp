// The simulator's kubelets and failure reproductions (what `doctor` diagnoses): APIService
// modes against the real fixtures, SelfSubjectAccessReview, kubelet listeners, certificates
// without IP SAN, the read-only port and clock skew.

#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "kmb/kube/client.h"
#include "kmb/sim/cluster.h"
#include "sim/faults.h"
#include "sim/http_support.h"
#include "sim/render.h"

namespace kmb::sim {
namespace {

using nlohmann::json;

std::unique_ptr<SimulatedCluster> StartSim(SimOptions options) {
  std::string error;
  auto sim = SimulatedCluster::Start(options, &error);
  EXPECT_NE(sim, nullptr) << error;
  return sim;
}

json Fixture(const std::string& name) {
  return json::parse(kmb::testing::ReadFile(std::string(KMB_FIXTURES_DIR) + "/apiservice/" + name));
}

json AvailableCondition(const std::string& body) {
  return json::parse(body)["status"]["conditions"][0];
}

TEST(SimScenarios, ApiServiceConditionsAreTheRealOnes) {
  const struct {
    const char* mode;
    const char* fixture;  // "" when no fixture has this reason
    const char* reason;
  } cases[] = {
      {"Passed", "metrics-server-issue-918-v1beta1.metrics.k8s.io-Passed-status-only.json",
       "Passed"},
      {"FailedDiscoveryCheck",
       "metrics-server-issue-918-v1beta1.metrics.k8s.io-FailedDiscoveryCheck-status-only.json",
       "FailedDiscoveryCheck"},
      {"MissingEndpoints",
       "rifaterdemsahin-kubernetespodmetrics-v1beta1.metrics.k8s.io-MissingEndpoints.json",
       "MissingEndpoints"},
      {"ServiceNotFound", "", "ServiceNotFound"},
      {"IoTimeout", "", "MissingEndpoints"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mode);
    SimOptions options;
    options.apiservice = c.mode;
    auto sim = StartSim(options);
    ASSERT_NE(sim, nullptr);
    testing::HttpClient client(sim->url());
    const auto r = client.Get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io");
    ASSERT_EQ(r.status, 200);
    const json got = AvailableCondition(r.body);
    EXPECT_EQ(got["reason"], c.reason);
    EXPECT_EQ(got["status"], std::string(c.reason) == "Passed" ? "True" : "False");
    if (*c.fixture) {
      const json want = Fixture(c.fixture)["status"]["conditions"][0];
      EXPECT_EQ(got["message"], want["message"]);
      EXPECT_EQ(got["type"], want["type"]);
    }
    // Anything but Passed: the aggregated API is unavailable.
    EXPECT_EQ(client.Get("/apis/metrics.k8s.io/v1beta1/nodes").status,
              std::string(c.mode) == "Passed" ? 200 : 503);
    const int service = client.Get("/api/v1/namespaces/kube-system/services/metrics-server").status;
    EXPECT_EQ(service, std::string(c.mode) == "ServiceNotFound" ? 404 : 200);
  }
}

TEST(SimScenarios, AbsentAggregationAnswers404) {
  SimOptions options;
  options.apiservice = "Absent";
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  testing::HttpClient client(sim->url());
  EXPECT_EQ(client.Get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io").status,
            404);
  EXPECT_EQ(client.Get("/apis/metrics.k8s.io/v1beta1/nodes").status, 404);
  EXPECT_EQ(client.Get("/apis").body.find("metrics.k8s.io"), std::string::npos);
}

TEST(SimScenarios, MetricsServerPodCrashLoopsOnIoTimeout) {
  SimOptions options;
  options.apiservice = "IoTimeout";
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  testing::HttpClient client(sim->url());
  const json pods =
      client.Get("/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dmetrics-server")
          .Json();
  ASSERT_EQ(pods["items"].size(), 1u);
  const json& status = pods["items"][0]["status"]["containerStatuses"][0];
  EXPECT_EQ(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_NE(status["lastState"]["terminated"]["message"].get<std::string>().find(
                "dial tcp 10.233.0.1:443: i/o timeout"),
            std::string::npos);
  const json endpoints =
      client.Get("/api/v1/namespaces/kube-system/endpoints/metrics-server").Json();
  EXPECT_FALSE(endpoints["subsets"][0].contains("addresses"));
  EXPECT_EQ(endpoints["subsets"][0]["notReadyAddresses"].size(), 1u);
}

TEST(SimScenarios, AnswersSelfSubjectAccessReviews) {
  SimOptions options;
  options.deny = {"nodes/stats"};
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  ClusterConfig config;
  config.server = sim->url();
  KubeClient client(config, {});
  auto review = [&](const std::string& resource, const std::string& sub) {
    HttpResponse r;
    const Status st =
        client.Post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                    R"({"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1",)"
                    R"("spec":{"resourceAttributes":{"verb":"get","resource":")" +
                        resource + R"(","subresource":")" + sub + R"("}}})",
                    &r);
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(r.status, 201);
    return json::parse(r.body);
  };
  const json denied = review("nodes", "stats");
  EXPECT_EQ(denied["status"]["allowed"], false);
  EXPECT_EQ(denied["spec"]["resourceAttributes"]["subresource"], "stats");
  EXPECT_EQ(review("nodes", "proxy")["status"]["allowed"], true);

  HttpResponse r;
  const Status bad = client.Post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "{", &r);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(bad.reason(), reason::kHttp4xx);
  EXPECT_EQ(bad.message().rfind("POST " + sim->url(), 0), 0u) << bad.message();
}

TEST(SimScenarios, DeniedRequestsAreForbidden) {
  SimOptions options;
  options.deny = {"nodes/proxy", "pods.metrics.k8s.io"};
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  testing::HttpClient client(sim->url());
  const auto proxy = client.Get("/api/v1/nodes/sim-node-0/proxy/stats/summary");
  EXPECT_EQ(proxy.status, 403);
  EXPECT_NE(proxy.Json()["message"].get<std::string>().find(
                "cannot get resource \"nodes/proxy\" in API group \"\""),
            std::string::npos);
  EXPECT_EQ(client.Get("/apis/metrics.k8s.io/v1beta1/pods").status, 403);
  EXPECT_EQ(client.Get("/apis/metrics.k8s.io/v1beta1/nodes").status, 200);
}

TEST(SimScenarios, KubeletsListenPerNodeAndAreAdvertised) {
  SimOptions options;
  options.tls = true;
  options.kubelets = true;
  options.token = "secret-token";
  options.nodes = 3;
  options.pods_per_node = 2;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  testing::HttpClient api(sim->url(), options.token, sim->ca_pem());
  const json nodes = api.Get("/api/v1/nodes").Json();
  for (int n = 0; n < 3; ++n) {
    const json& status = nodes["items"][n]["status"];
    EXPECT_EQ(status["addresses"][0]["address"], "127.0.0.1");
    const int port = status["daemonEndpoints"]["kubeletEndpoint"]["Port"];
    EXPECT_EQ(port, sim->kubelet_port(n));
    // Verified against the cluster CA for the node's IP, with the node's own Summary.
    testing::HttpClient kubelet("https://127.0.0.1:" + std::to_string(port), options.token,
                                sim->ca_pem());
    const auto summary = kubelet.Get("/stats/summary");
    ASSERT_EQ(summary.status, 200) << summary.error;
    EXPECT_EQ(summary.Json()["node"]["nodeName"], "sim-node-" + std::to_string(n));
  }
  testing::HttpClient anonymous("https://127.0.0.1:" + std::to_string(sim->kubelet_port(0)), "",
                                sim->ca_pem());
  EXPECT_EQ(anonymous.Get("/stats/summary").status, 401);
  EXPECT_EQ(anonymous.Get("/healthz").status, 200);
  EXPECT_EQ(sim->kubelet_read_only_port(), 0);  // closed by default
}

TEST(SimScenarios, KubeletCertificateWithoutIpSanFailsVerification) {
  SimOptions options;
  options.tls = true;
  options.kubelets = true;
  options.kubelet_ip_san = false;
  options.nodes = 1;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  const std::string url = "https://127.0.0.1:" + std::to_string(sim->kubelet_port(0));
  testing::HttpClient kubelet(url, "", sim->ca_pem());
  const auto r = kubelet.Get("/healthz");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("certificate"), std::string::npos) << r.error;
}

TEST(SimScenarios, ReadOnlyPortAndClockSkew) {
  SimOptions options;
  options.tls = true;
  options.kubelets = true;
  options.kubelet_read_only = true;
  options.kubelet_clock_skew_seconds = 3600;
  options.nodes = 1;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  ASSERT_NE(sim->kubelet_read_only_port(), 0);
  const auto f = kmb::testing::HttpGet(
      "http://127.0.0.1:" + std::to_string(sim->kubelet_read_only_port()) + "/stats/summary");
  ASSERT_EQ(f.status, 200) << f.error;
  EXPECT_EQ(json::parse(f.body)["node"]["nodeName"], "sim-node-0");
  // One Date header, an hour ahead.
  const size_t first = f.headers.find("Date: ");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(f.headers.find("Date: ", first + 1), std::string::npos) << f.headers;
  tm parts{};
  ASSERT_NE(strptime(f.headers.c_str() + first + 6, "%a, %d %b %Y %H:%M:%S GMT", &parts), nullptr);
  EXPECT_NEAR(static_cast<double>(timegm(&parts) - std::time(nullptr)), 3600, 5);
  // The API server's own clock is right.
  const auto api = kmb::testing::HttpGet(sim->url() + "/version", {}, sim->ca_pem());
  const size_t date = api.headers.find("Date: ");
  ASSERT_NE(date, std::string::npos);
  ASSERT_NE(strptime(api.headers.c_str() + date + 6, "%a, %d %b %Y %H:%M:%S GMT", &parts), nullptr);
  EXPECT_NEAR(static_cast<double>(timegm(&parts) - std::time(nullptr)), 0, 5);
}

TEST(SimScenarios, RejectsBadScenarioOptions) {
  std::string error;
  SimOptions options;
  options.apiservice = "Nope";
  EXPECT_EQ(SimulatedCluster::Start(options, &error), nullptr);
  EXPECT_NE(error.find("FailedDiscoveryCheck"), std::string::npos) << error;
  options = SimOptions();
  options.kubelets = true;  // without TLS
  EXPECT_EQ(SimulatedCluster::Start(options, &error), nullptr);
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
}

// ---- Fault injection (sim/faults.h) ----

TEST(SimFaults, ParsesRulesAndNamesTheBadOnes) {
  FaultRule r;
  std::string error;
  ASSERT_TRUE(ParseFaultRule("node/sim-node-1:http=429", &r, &error)) << error;
  EXPECT_EQ(r.target, FaultTarget::kNode);
  EXPECT_EQ(r.node, "sim-node-1");
  EXPECT_EQ(r.kind, FaultKind::kHttp);
  EXPECT_EQ(r.http_status, 429);
  ASSERT_TRUE(ParseFaultRule(" node/* : latency=1.5s ", &r, &error)) << error;
  EXPECT_EQ(r.target, FaultTarget::kAllNodes);
  EXPECT_DOUBLE_EQ(r.seconds, 1.5);
  ASSERT_TRUE(ParseFaultRule("node/a:huge=10MiB", &r, &error)) << error;
  EXPECT_EQ(r.count, 10u << 20);
  ASSERT_TRUE(ParseFaultRule("node/a:huge", &r, &error)) << error;
  EXPECT_EQ(r.count, 1u << 30);
  ASSERT_TRUE(ParseFaultRule("node/a:deep-nesting", &r, &error)) << error;
  EXPECT_EQ(r.count, 2000000u);
  ASSERT_TRUE(ParseFaultRule("apiserver:tls-expired", &r, &error)) << error;
  EXPECT_EQ(r.target, FaultTarget::kApiServer);
  ASSERT_TRUE(ParseFaultRule("metrics-api:hang=2s", &r, &error)) << error;
  EXPECT_DOUBLE_EQ(r.seconds, 2);

  const struct {
    const char* rule;
    const char* says;
  } bad[] = {
      {"node/x", "TARGET:KIND"},
      {"kubelet/x:hang", "unknown target"},
      {"node/x:explode", "unknown kind"},
      {"node/x:http=200", "HTTP status"},
      {"node/x:latency", "needs a value"},
      {"node/x:refuse=1", "takes no value"},
      {"node/x:huge=lots", "not a size"},
      {"metrics-api:tls-expired", "listener"},
      {"nodes:truncated", "alters a body"},
      {"metrics-api:bad-numbers", "alters a Summary"},
  };
  for (const auto& b : bad) {
    EXPECT_FALSE(ParseFaultRule(b.rule, &r, &error)) << b.rule;
    EXPECT_NE(error.find(b.says), std::string::npos) << error;
    EXPECT_NE(error.find(b.rule), std::string::npos) << error;
  }
}

TEST(SimFaults, FaultFileIsOneRulePerLineOrAYamlList) {
  std::vector<FaultRule> rules;
  std::string error;
  ASSERT_TRUE(
      ParseFaultFile("# comment\n\nnode/a:hang\n  metrics-api:http=503  \n", &rules, &error))
      << error;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[1].target, FaultTarget::kMetricsApi);
  rules.clear();
  ASSERT_TRUE(ParseFaultFile("faults:\n  - node/b:truncated\n  - \"node/*:latency=10ms\"\n", &rules,
                             &error))
      << error;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].kind, FaultKind::kTruncated);
  EXPECT_EQ(rules[1].target, FaultTarget::kAllNodes);
  EXPECT_FALSE(ParseFaultFile("node/a:hang\nnode/b:nope\n", &rules, &error));
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;

  // A bad rule or fault file stops the simulator at start, naming it.
  kmb::testing::TempDir dir;
  kmb::testing::WriteFile(dir.file("faults"), "node/sim-node-0:hang\nnode/sim-node-9:hang\n");
  SimOptions options;
  options.fault_file = dir.file("faults");
  EXPECT_EQ(SimulatedCluster::Start(options, &error), nullptr);
  EXPECT_NE(error.find("sim-node-9"), std::string::npos) << error;
  options = SimOptions();
  options.faults = {"node/sim-node-0:bogus"};
  EXPECT_EQ(SimulatedCluster::Start(options, &error), nullptr);
  EXPECT_NE(error.find("bogus"), std::string::npos) << error;
}

// A node's Summary through the node proxy, fetched by the exporter's own client.
Status GetSummary(SimulatedCluster& sim, const std::string& node, HttpResponse* out,
                  KubeClientOptions o = {}) {
  ClusterConfig cc;
  cc.server = sim.url();
  cc.ca_pem = sim.ca_pem();
  KubeClient client(cc, o);
  return client.Get("/api/v1/nodes/" + node + "/proxy/stats/summary", out);
}

TEST(SimFaults, HttpLevelFaultsOnOneNodeOnly) {
  SimOptions options;
  options.nodes = 2;
  options.pods_per_node = 3;
  options.stats_period_seconds = 3600;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  HttpResponse healthy;
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &healthy).ok());
  const json reference = json::parse(healthy.body);

  HttpResponse r;
  ASSERT_TRUE(sim->AddFault("node/sim-node-1:http=429").ok());
  Status st = GetSummary(*sim, "sim-node-1", &r);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(st.reason(), "http_4xx");
  EXPECT_DOUBLE_EQ(r.retry_after_seconds, 1);
  EXPECT_EQ(json::parse(r.body)["kind"], "Status");
  EXPECT_EQ(json::parse(r.body)["code"], 429);
  EXPECT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());  // the other node is untouched

  for (int code : {401, 403, 404, 500, 503}) {
    ASSERT_TRUE(sim->AddFault("node/sim-node-1:http=" + std::to_string(code)).ok());
    st = GetSummary(*sim, "sim-node-1", &r);
    EXPECT_EQ(r.status, code);
    EXPECT_EQ(st.reason(), code >= 500 ? "http_5xx" : "http_4xx");
    EXPECT_EQ(json::parse(r.body)["reason"], StatusReason(code)) << code;
  }

  ASSERT_TRUE(sim->AddFault("node/sim-node-0:truncated").ok());
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  EXPECT_EQ(r.body.size(), healthy.body.size() / 2);
  EXPECT_EQ(r.body, healthy.body.substr(0, healthy.body.size() / 2));
  json parsed;
  EXPECT_THROW(parsed = json::parse(r.body), json::parse_error);

  ASSERT_TRUE(sim->AddFault("node/sim-node-0:not-json").ok());
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  EXPECT_TRUE(r.body.starts_with("<html>")) << r.body;

  ASSERT_TRUE(sim->AddFault("node/sim-node-0:deep-nesting").ok());
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  EXPECT_EQ(r.body.size(), 2000000u);
  EXPECT_EQ(r.body.find_first_not_of('['), std::string::npos);

  ASSERT_TRUE(sim->AddFault("node/sim-node-0:duplicate-pods").ok());
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  json dup = json::parse(r.body);
  ASSERT_EQ(dup["pods"].size(), 6u);
  EXPECT_EQ(dup["pods"][0], dup["pods"][3]);
  EXPECT_EQ(dup["pods"][2], reference["pods"][2]);
  EXPECT_EQ(dup["node"], reference["node"]);

  ASSERT_TRUE(sim->AddFault("node/sim-node-0:bad-numbers").ok());
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  EXPECT_NE(r.body.find("\"usageCoreNanoSeconds\":-12345"), std::string::npos);
  EXPECT_NE(r.body.find(":1234.5"), std::string::npos);
  EXPECT_NE(r.body.find(":184467440737095516160"), std::string::npos);

  ASSERT_TRUE(sim->AddFault("node/sim-node-0:huge=3MiB").ok());
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  EXPECT_EQ(r.body.size(), 3u << 20);
  EXPECT_EQ(json::parse(r.body), reference);  // spaces after the document are still JSON
  KubeClientOptions small;
  small.max_response_bytes = 1u << 20;
  EXPECT_EQ(GetSummary(*sim, "sim-node-0", &r, small).reason(), "too_large");

  // Slow and hanging answers outlast a short timeout.
  KubeClientOptions quick;
  quick.timeout_seconds = 0.5;
  ASSERT_TRUE(sim->AddFault("node/sim-node-0:slow-body").ok());
  st = GetSummary(*sim, "sim-node-0", &r, quick);
  EXPECT_EQ(st.reason(), "timeout") << st.message();
  ASSERT_TRUE(sim->AddFault("node/sim-node-0:hang").ok());
  EXPECT_EQ(GetSummary(*sim, "sim-node-0", &r, quick).reason(), "timeout");
  ASSERT_TRUE(sim->AddFault("node/sim-node-0:latency=10ms").ok());
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  EXPECT_EQ(json::parse(r.body), reference);

  // Through the proxy a kubelet that refuses is the API server's 503.
  ASSERT_TRUE(sim->AddFault("node/sim-node-0:refuse").ok());
  st = GetSummary(*sim, "sim-node-0", &r);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(st.message().find("connection refused"), std::string::npos) << st.message();

  sim->ClearFaults();
  ASSERT_TRUE(GetSummary(*sim, "sim-node-0", &r).ok());
  EXPECT_EQ(json::parse(r.body), reference);
  ASSERT_TRUE(GetSummary(*sim, "sim-node-1", &r).ok());
}

TEST(SimFaults, ListAndMetricsApiTargets) {
  SimOptions options;
  options.nodes = 1;
  options.faults = {"nodes:http=500", "metrics-api:http=503", "pods:not-json"};
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  testing::HttpClient client(sim->url());
  EXPECT_EQ(client.Get("/api/v1/nodes").status, 500);
  EXPECT_EQ(client.Get("/apis/metrics.k8s.io/v1beta1/nodes").status, 503);
  EXPECT_TRUE(client.Get("/api/v1/pods").body.starts_with("<html>"));
  EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-0/proxy/stats/summary").status, 200);
}

TEST(SimFaults, ListenerFaultsOnTheApiServerAndKubelets) {
  SimOptions options;
  options.nodes = 2;
  options.tls = true;
  options.kubelets = true;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  ClusterConfig cc;
  cc.server = sim->url();
  cc.ca_pem = sim->ca_pem();
  KubeClientOptions o;
  o.timeout_seconds = 2;
  auto get = [&](const ClusterConfig& c, const std::string& path) {
    KubeClient client(c, o);  // fresh: no kept-alive connection from before the fault
    HttpResponse r;
    return client.Get(path, &r);
  };
  ClusterConfig kubelet = cc;
  kubelet.server = "https://127.0.0.1:" + std::to_string(sim->kubelet_port(1));
  ASSERT_TRUE(get(cc, "/version").ok());
  ASSERT_TRUE(get(kubelet, "/healthz").ok());

  for (const char* kind : {"tls-unknown-ca", "tls-expired", "tls-no-ip-san"}) {
    SCOPED_TRACE(kind);
    ASSERT_TRUE(sim->AddFault(std::string("apiserver:") + kind).ok());
    Status st = get(cc, "/version");
    EXPECT_EQ(st.reason(), "tls") << st.message();
    ASSERT_TRUE(sim->AddFault(std::string("node/sim-node-1:") + kind).ok());
    st = get(kubelet, "/healthz");
    EXPECT_EQ(st.reason(), "tls") << st.message();
  }
  ASSERT_TRUE(sim->AddFault("apiserver:refuse").ok());
  EXPECT_EQ(get(cc, "/version").reason(), "connect");
  ASSERT_TRUE(sim->AddFault("node/sim-node-1:refuse").ok());
  EXPECT_EQ(get(kubelet, "/healthz").reason(), "connect");
  EXPECT_EQ(sim->kubelet_port(1), std::stoi(kubelet.server.substr(kubelet.server.rfind(':') + 1)));

  sim->ClearFaults();  // the same ports serve again, with the cluster's certificates
  EXPECT_TRUE(get(cc, "/version").ok());
  EXPECT_TRUE(get(kubelet, "/healthz").ok());

  // Without TLS there is no listener certificate to break.
  SimOptions plain;
  plain.nodes = 1;
  auto plain_sim = StartSim(plain);
  ASSERT_NE(plain_sim, nullptr);
  EXPECT_EQ(plain_sim->AddFault("apiserver:tls-expired").reason(), "config");
}

}  // namespace
}  // namespace kmb::sim
