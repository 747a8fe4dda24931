// The simulator's kubelets and failure reproductions (what `doctor` diagnoses): APIService
// modes against the real fixtures, SelfSubjectAccessReview, kubelet listeners, certificates
// without IP SAN, the read-only port and clock skew.

#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "kmb/kube/client.h"
#include "kmb/sim/cluster.h"
#include "sim/http_support.h"

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

}  // namespace
}  // namespace kmb::sim
