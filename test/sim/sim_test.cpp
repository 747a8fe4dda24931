// End-to-end tests of the simulated cluster over real HTTP(S): wire format against the captured
// kubelet payloads, dynamics, consistency between Summary and Metrics API, auth, faults,
// kubeconfig and kubectl.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <thread>

#include "kmb/sim/cluster.h"
#include "sim/format.h"
#include "sim/http_support.h"

namespace kmb::sim {
namespace {

using nlohmann::json;
using testing::Bytes;
using testing::CpuNanos;
using testing::HttpClient;
using testing::KeyPaths;
using testing::Keys;

std::unique_ptr<SimulatedCluster> MustStart(const SimOptions& options) {
  std::string error;
  auto sim = SimulatedCluster::Start(options, &error);
  EXPECT_NE(sim, nullptr) << error;
  return sim;
}

json Fixture(const std::string& name) {
  return json::parse(testing::ReadFile(std::string(KMB_FIXTURES_DIR) + "/" + name));
}

std::string TempPath(const std::string& name) {
  const std::string dir = ::testing::TempDir();
  return dir + (dir.empty() || dir.back() == '/' ? "" : "/") + name + "-" +
         std::to_string(getpid());
}

// ---- Transport, auth and errors ----

TEST(SimulatedCluster, ServesPlainHttpOnAnEphemeralPort) {
  auto sim = MustStart({});
  ASSERT_NE(sim, nullptr);
  EXPECT_TRUE(std::regex_match(sim->url(), std::regex(R"(http://127\.0\.0\.1:[0-9]+)")));
  EXPECT_EQ("http://" + sim->address(), sim->url());
  EXPECT_EQ(sim->ca_pem(), "");
  HttpClient client(sim->url());
  const auto r = client.Get("/version");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.Json()["gitVersion"], "v1.35.0");
  EXPECT_EQ(sim->node_names(),
            (std::vector<std::string>{"sim-node-0", "sim-node-1", "sim-node-2"}));
}

TEST(SimulatedCluster, ServesTlsVerifiedByTheGeneratedCa) {
  SimOptions options;
  options.tls = true;
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  ASSERT_EQ(sim->url().rfind("https://127.0.0.1:", 0), 0u) << sim->url();
  ASSERT_NE(sim->ca_pem().find("BEGIN CERTIFICATE"), std::string::npos);

  HttpClient verified(sim->url(), "", sim->ca_pem());
  const auto ok = verified.Get("/api/v1/nodes/sim-node-0/proxy/stats/summary");
  ASSERT_EQ(ok.status, 200) << ok.error;
  EXPECT_EQ(ok.Json()["node"]["nodeName"], "sim-node-0");
  // Keep-alive through the TLS frontend: a second request on the same handle.
  EXPECT_EQ(verified.Get("/version").status, 200);

  HttpClient system_trust(sim->url());  // the system CAs do not know ours
  EXPECT_EQ(system_trust.Get("/version").status, 0);

  // The serving certificate chains to the CA and names 127.0.0.1 and localhost.
  const std::string ca_pem = sim->ca_pem();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  ASSERT_NE(ca, nullptr);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(sim->address().substr(10))));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  SSL_set_fd(ssl, fd);
  ASSERT_EQ(SSL_connect(ssl), 1);
  EXPECT_EQ(SSL_get_verify_result(ssl), X509_V_OK);
  // A client with OpenSSL's default order (AES-256-GCM first) gets what a Go server gives it.
  EXPECT_STREQ(SSL_get_version(ssl), "TLSv1.3");
  EXPECT_STREQ(SSL_get_cipher_name(ssl), "TLS_AES_128_GCM_SHA256");
  X509* cert = SSL_get1_peer_certificate(ssl);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_host(cert, "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert, "example.com", 0, 0, nullptr), 0);
  X509_free(cert);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  close(fd);
  X509_free(ca);
  BIO_free(bio);
  SSL_CTX_free(ctx);
}

TEST(SimulatedCluster, RequiresTheBearerToken) {
  SimOptions options;
  options.token = "s3cr3t-token";
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  const json unauthorized = json::parse(
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
          "message":"Unauthorized","reason":"Unauthorized","code":401})");
  for (const std::string token : {"", "wrong", "s3cr3t-token-and-more"}) {
    HttpClient client(sim->url(), token);
    for (const char* path : {"/version", "/api/v1/nodes/sim-node-0/proxy/stats/summary"}) {
      const auto r = client.Get(path);
      EXPECT_EQ(r.status, 401) << token << " " << path;
      EXPECT_EQ(r.content_type, "application/json");
      EXPECT_EQ(r.Json(), unauthorized);
    }
  }
  HttpClient client(sim->url(), "s3cr3t-token");
  EXPECT_EQ(client.Get("/api/v1/nodes").status, 200);
  EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-2/proxy/stats/summary").status, 200);
}

TEST(SimulatedCluster, AnswersNotFoundWithAStatus) {
  auto sim = MustStart({});
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url());
  for (const char* path :
       {"/api/v1/foo", "/nope", "/api/v1/nodes/sim-node-0/proxy/stats/other",
        "/api/v1/nodes/sim-node-9/proxy/stats/summary", "/apis/metrics.k8s.io/v1beta1/nodes/x",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope"}) {
    const auto r = client.Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.content_type, "application/json");
    const json body = r.Json();
    EXPECT_EQ(body["kind"], "Status") << path;
    EXPECT_EQ(body["status"], "Failure");
    EXPECT_EQ(body["reason"], "NotFound");
    EXPECT_EQ(body["code"], 404);
  }
  EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-9/proxy/stats/summary").Json()["message"],
            "nodes \"sim-node-9\" not found");
}

TEST(SimulatedCluster, ReportsStartFailures) {
  std::string error;
  SimOptions bad;
  bad.listen = "127.0.0.1:notaport";
  EXPECT_EQ(SimulatedCluster::Start(bad, &error), nullptr);
  EXPECT_NE(error.find("invalid listen address"), std::string::npos) << error;

  auto first = MustStart({});
  ASSERT_NE(first, nullptr);
  for (bool tls : {false, true}) {
    SimOptions taken;
    taken.listen = first->address();
    taken.tls = tls;
    error.clear();
    EXPECT_EQ(SimulatedCluster::Start(taken, &error), nullptr);
    EXPECT_NE(error.find("cannot listen"), std::string::npos) << error;
  }
}

// ---- Faithfulness: the Summary has the captured kubelets' shape ----

struct SummaryShapes {
  std::map<std::string, std::string> node, pods, containers, volumes, pvc_volumes, interfaces;
};

SummaryShapes Shapes(const json& summary) {
  SummaryShapes s;
  s.node = KeyPaths(summary["node"]);
  s.pods = KeyPaths(summary["pods"]);
  json containers = json::array(), volumes = json::array(), pvc = json::array();
  for (const json& pod : summary["pods"]) {
    for (const json& c : pod["containers"]) containers.push_back(c);
    for (const json& v : pod.value("volume", json::array())) {
      (v.contains("pvcRef") ? pvc : volumes).push_back(v);
    }
  }
  s.containers = KeyPaths(containers);
  s.volumes = KeyPaths(volumes);
  s.pvc_volumes = KeyPaths(pvc);
  s.interfaces = KeyPaths(summary["node"]["network"]["interfaces"]);
  return s;
}

class SummaryShapeTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SummaryShapeTest, MatchesTheCapturedKeySetsAtEveryLevel) {
  const json fixture = Fixture(std::string("summary/") + GetParam());
  SimOptions options;
  options.nodes = 2;
  options.pods_per_node = 14;  // every workload in the catalogue at least once
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url());
  const auto r = client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary");
  ASSERT_EQ(r.status, 200) << r.error;
  const json summary = r.Json();

  EXPECT_EQ(Keys(KeyPaths(summary)).count("node"), 1u);
  const SummaryShapes want = Shapes(fixture);
  SummaryShapes got = Shapes(summary);
  // Optional blocks of stats/v1alpha1 that these captures lack but the simulator emits so the
  // demo shows every series: accelerators on the GPU container, rootfs/logs on the last
  // system container (as older kubelets sent them). They must be there, then are set aside.
  auto set_aside = [](std::map<std::string, std::string>& keys, const std::string& prefix) {
    size_t n = std::erase_if(keys, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    EXPECT_GT(n, 0u) << prefix;
  };
  set_aside(got.containers, "[]/accelerators");
  set_aside(got.pods, "[]/containers[]/accelerators");
  set_aside(got.node, "systemContainers[]/rootfs");
  set_aside(got.node, "systemContainers[]/logs");
  // Same keys and the same JSON types, level by level.
  EXPECT_EQ(got.node, want.node);
  EXPECT_EQ(got.containers, want.containers);
  EXPECT_EQ(got.volumes, want.volumes);
  EXPECT_EQ(got.interfaces, want.interfaces);
  // None of the captures has a PVC-backed volume: ours add only the kubelet's pvcRef.
  const std::map<std::string, std::string> pvc_ref = {
      {"pvcRef", "object"}, {"pvcRef/name", "string"}, {"pvcRef/namespace", "string"}};
  auto pvc_want = want.volumes;
  auto pods_want = want.pods;
  for (const auto& [k, v] : pvc_ref) {
    pvc_want["[]/" + k] = v;
    pods_want["[]/volume[]/" + k] = v;
  }
  EXPECT_EQ(got.pvc_volumes, pvc_want);
  EXPECT_EQ(got.pods, pods_want);

  // The optional memory.availableBytes appears only where a memory limit is: some pods have it,
  // some not, as in the capture.
  int with_limit = 0;
  for (const json& pod : summary["pods"]) with_limit += pod["memory"].contains("availableBytes");
  EXPECT_GT(with_limit, 0);
  EXPECT_LT(with_limit, static_cast<int>(summary["pods"].size()));

  // Every "time" is RFC 3339 in whole seconds.
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  EXPECT_TRUE(std::regex_match(summary["node"]["cpu"]["time"].get<std::string>(), rfc3339));
  EXPECT_TRUE(
      std::regex_match(summary["pods"][3]["volume"][0]["time"].get<std::string>(), rfc3339));
}

INSTANTIATE_TEST_SUITE_P(Captures, SummaryShapeTest,
                         ::testing::Values("nri-kubernetes-k8s-1.35-minikube-stats-summary.json",
                                           "nri-kubernetes-k8s-1.34-minikube-stats-summary.json"));

// ---- Dynamics ----

// Every counter leaf (path with array indices -> value).
void Counters(const json& j, const std::string& path, std::map<std::string, uint64_t>* out) {
  static const std::set<std::string> kCounters = {"usageCoreNanoSeconds",
                                                  "pageFaults",
                                                  "majorPageFaults",
                                                  "rxBytes",
                                                  "txBytes",
                                                  "rxErrors",
                                                  "txErrors",
                                                  "total"};
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (kCounters.count(k) && v.is_number_unsigned()) (*out)[path + "/" + k] = v.get<uint64_t>();
      Counters(v, path + "/" + k, out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) Counters(j[i], path + "/" + std::to_string(i), out);
  }
}

TEST(SimulatedCluster, CountersGrowWithEveryTickAndNeverDecrease) {
  SimOptions options;
  options.nodes = 2;
  options.pods_per_node = 6;
  options.stats_period_seconds = 0;  // a new tick on every request
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url());
  std::map<std::string, uint64_t> before;
  std::set<uint64_t> node_cpu_gauge;
  for (int i = 0; i < 6; ++i) {
    const auto r = client.Get("/api/v1/nodes/sim-node-0/proxy/stats/summary");
    ASSERT_EQ(r.status, 200);
    const json s = r.Json();
    std::map<std::string, uint64_t> now;
    Counters(s, "", &now);
    ASSERT_GT(now.size(), 200u);
    if (!before.empty()) {
      for (const auto& [path, value] : now) {
        ASSERT_TRUE(before.count(path)) << path;
        EXPECT_GE(value, before[path]) << path;
      }
      EXPECT_GT(now["/node/cpu/usageCoreNanoSeconds"], before["/node/cpu/usageCoreNanoSeconds"]);
      EXPECT_GT(now["/pods/0/network/rxBytes"], before["/pods/0/network/rxBytes"]);
    }
    before = now;
    node_cpu_gauge.insert(s["node"]["cpu"]["usageNanoCores"].get<uint64_t>());

    // Exact 64-bit counters past 2^53: the node near 2^60, a long-running container past 2^54.
    const uint64_t node_cpu = s["node"]["cpu"]["usageCoreNanoSeconds"].get<uint64_t>();
    EXPECT_GT(node_cpu, 1ull << 60);
    EXPECT_NE(r.body.find("\"usageCoreNanoSeconds\":" + std::to_string(node_cpu)),
              std::string::npos);
    EXPECT_GT(s["pods"][0]["containers"][0]["cpu"]["usageCoreNanoSeconds"].get<uint64_t>(),
              1ull << 54);
    EXPECT_GT(s["node"]["network"]["rxBytes"].get<uint64_t>(), 1ull << 54);

    // Pods are the sum of their containers; the node and the "pods" cgroup hold at least that.
    uint64_t pods_cpu = 0, pods_ws = 0;
    for (const json& pod : s["pods"]) {
      uint64_t cpu = 0, core_ns = 0, ws = 0, usage = 0;
      for (const json& c : pod["containers"]) {
        cpu += c["cpu"]["usageNanoCores"].get<uint64_t>();
        core_ns += c["cpu"]["usageCoreNanoSeconds"].get<uint64_t>();
        ws += c["memory"]["workingSetBytes"].get<uint64_t>();
        usage += c["memory"]["usageBytes"].get<uint64_t>();
      }
      EXPECT_EQ(pod["cpu"]["usageNanoCores"].get<uint64_t>(), cpu);
      EXPECT_EQ(pod["cpu"]["usageCoreNanoSeconds"].get<uint64_t>(), core_ns);
      EXPECT_EQ(pod["memory"]["workingSetBytes"].get<uint64_t>(), ws);
      EXPECT_EQ(pod["memory"]["usageBytes"].get<uint64_t>(), usage);
      pods_cpu += cpu;
      pods_ws += ws;
    }
    EXPECT_GE(s["node"]["cpu"]["usageNanoCores"].get<uint64_t>(), pods_cpu);
    EXPECT_GE(s["node"]["memory"]["workingSetBytes"].get<uint64_t>(), pods_ws);
    const json& pods_cgroup = s["node"]["systemContainers"][2];
    ASSERT_EQ(pods_cgroup["name"], "pods");
    EXPECT_GE(pods_cgroup["cpu"]["usageNanoCores"].get<uint64_t>(), pods_cpu);
    EXPECT_GE(pods_cgroup["memory"]["workingSetBytes"].get<uint64_t>(), pods_ws);
  }
  EXPECT_GT(node_cpu_gauge.size(), 1u);  // gauges move
}

TEST(SimulatedCluster, SameTickGivesTheSameAnswer) {
  SimOptions options;
  options.stats_period_seconds = 3600;
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url());
  const auto a = client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary");
  const auto b = client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary");
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body, b.body);
  // Same seed, same cluster; another seed, other numbers.
  auto twin = MustStart(options);
  options.seed = 2;
  auto other = MustStart(options);
  ASSERT_NE(twin, nullptr);
  ASSERT_NE(other, nullptr);
  const json mine = a.Json();
  const json twins =
      HttpClient(twin->url()).Get("/api/v1/nodes/sim-node-1/proxy/stats/summary").Json();
  const json others =
      HttpClient(other->url()).Get("/api/v1/nodes/sim-node-1/proxy/stats/summary").Json();
  // Numbers are functions of (seed, node, pod, container, tick); only the times follow the
  // start.
  std::map<std::string, uint64_t> mine_counters, twin_counters;
  Counters(mine, "", &mine_counters);
  Counters(twins, "", &twin_counters);
  EXPECT_EQ(mine_counters, twin_counters);
  EXPECT_EQ(mine["node"]["memory"]["workingSetBytes"], twins["node"]["memory"]["workingSetBytes"]);
  for (size_t i = 0; i < mine["pods"].size(); ++i) {
    EXPECT_EQ(mine["pods"][i]["podRef"], twins["pods"][i]["podRef"]);
  }
  EXPECT_NE(mine["pods"][0]["podRef"], others["pods"][0]["podRef"]);
}

// ---- Metrics API ----

TEST(SimulatedCluster, MetricsApiAgreesWithTheSummaryWithinATick) {
  SimOptions options;
  options.nodes = 3;
  options.pods_per_node = 12;
  options.stats_period_seconds = 3600;  // both requests fall in the same tick
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url());
  const json summary = client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary").Json();
  const auto list = client.Get("/apis/metrics.k8s.io/v1beta1/nodes");
  ASSERT_EQ(list.status, 200);
  const json nodes = list.Json();
  EXPECT_EQ(nodes["kind"], "NodeMetricsList");
  EXPECT_EQ(nodes["apiVersion"], "metrics.k8s.io/v1beta1");
  EXPECT_EQ(nodes["metadata"], json::object());
  ASSERT_EQ(nodes["items"].size(), 3u);
  const json single = client.Get("/apis/metrics.k8s.io/v1beta1/nodes/sim-node-1").Json();
  EXPECT_EQ(single["kind"], "NodeMetrics");
  for (const json& item : {nodes["items"][1], single}) {
    EXPECT_EQ(item["metadata"]["name"], "sim-node-1");
    EXPECT_EQ(item["metadata"]["labels"]["kubernetes.io/hostname"], "sim-node-1");
    EXPECT_TRUE(std::regex_match(item["window"].get<std::string>(),
                                 std::regex(R"((\d+h)?(\d+m)?\d+(\.\d{1,3})?s)")))
        << item["window"];
    const std::string cpu = item["usage"]["cpu"];
    const std::string memory = item["usage"]["memory"];
    EXPECT_EQ(CpuNanos(cpu), summary["node"]["cpu"]["usageNanoCores"].get<uint64_t>()) << cpu;
    EXPECT_EQ(Bytes(memory), summary["node"]["memory"]["workingSetBytes"].get<uint64_t>());
    EXPECT_EQ(memory.substr(memory.size() - 2), "Ki");  // page-sized working sets, as in 2022
    EXPECT_EQ(item["timestamp"], summary["node"]["cpu"]["time"]);
  }

  // Pods: every container's usage is the Summary's, per namespace and per name.
  std::map<std::string, json> containers;  // "ns/pod/container" -> summary container
  for (const json& pod : summary["pods"]) {
    for (const json& c : pod["containers"]) {
      containers[pod["podRef"]["namespace"].get<std::string>() + "/" +
                 pod["podRef"]["name"].get<std::string>() + "/" + c["name"].get<std::string>()] = c;
    }
  }
  int matched = 0;
  for (const char* path : {"/apis/metrics.k8s.io/v1beta1/pods",
                           "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"}) {
    const json pods = client.Get(path).Json();
    EXPECT_EQ(pods["kind"], "PodMetricsList");
    ASSERT_FALSE(pods["items"].empty());
    for (const json& item : pods["items"]) {
      const std::string ns = item["metadata"]["namespace"];
      if (std::string(path).find("/namespaces/") != std::string::npos) {
        EXPECT_EQ(ns, "default");
      }
      for (const json& c : item["containers"]) {
        const auto it = containers.find(ns + "/" + item["metadata"]["name"].get<std::string>() +
                                        "/" + c["name"].get<std::string>());
        if (it == containers.end()) continue;  // on another node
        ++matched;
        EXPECT_EQ(CpuNanos(c["usage"]["cpu"]), it->second["cpu"]["usageNanoCores"].get<uint64_t>());
        EXPECT_EQ(Bytes(c["usage"]["memory"]),
                  it->second["memory"]["workingSetBytes"].get<uint64_t>());
      }
    }
  }
  EXPECT_GT(matched, 24);
  const json& pod = summary["pods"][4];
  const std::string one = "/apis/metrics.k8s.io/v1beta1/namespaces/" +
                          pod["podRef"]["namespace"].get<std::string>() + "/pods/" +
                          pod["podRef"]["name"].get<std::string>();
  const json pm = client.Get(one).Json();
  EXPECT_EQ(pm["kind"], "PodMetrics");
  EXPECT_EQ(pm["metadata"]["name"], pod["podRef"]["name"]);
  EXPECT_EQ(CpuNanos(pm["containers"][1]["usage"]["cpu"]),
            pod["containers"][1]["cpu"]["usageNanoCores"].get<uint64_t>());

  // Discovery.
  const json resources = client.Get("/apis/metrics.k8s.io/v1beta1").Json();
  EXPECT_EQ(resources["kind"], "APIResourceList");
  EXPECT_EQ(resources["resources"].size(), 2u);
  EXPECT_EQ(client.Get("/apis").Json()["kind"], "APIGroupList");
}

// ---- core/v1 lists ----

TEST(SimulatedCluster, ListsNodesAndPodsWithPaging) {
  SimOptions options;
  options.nodes = 4;
  options.pods_per_node = 9;
  options.containers_per_pod = 3;
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url());

  const json nodes = client.Get("/api/v1/nodes").Json();
  EXPECT_EQ(nodes["kind"], "NodeList");
  ASSERT_EQ(nodes["items"].size(), 4u);
  const json& node = nodes["items"][2];
  EXPECT_EQ(node["metadata"]["name"], "sim-node-2");
  EXPECT_EQ(node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  EXPECT_EQ(node["status"]["addresses"][0]["type"], "InternalIP");
  EXPECT_EQ(node["status"]["addresses"][1]["type"], "Hostname");
  for (const char* r : {"cpu", "memory", "pods"}) {
    EXPECT_TRUE(node["status"]["capacity"].contains(r)) << r;
    EXPECT_TRUE(node["status"]["allocatable"].contains(r)) << r;
  }
  EXPECT_EQ(node["status"]["conditions"][3]["type"], "Ready");
  EXPECT_EQ(node["status"]["conditions"][3]["status"], "True");

  // Node paging.
  std::vector<std::string> paged;
  std::string next;
  do {
    const json page =
        client.Get("/api/v1/nodes?limit=3" + (next.empty() ? "" : "&continue=" + next)).Json();
    for (const json& n : page["items"]) paged.push_back(n["metadata"]["name"]);
    next = page["metadata"].value("continue", "");
  } while (!next.empty());
  EXPECT_EQ(paged, sim->node_names());

  const json pods = client.Get("/api/v1/pods").Json();
  EXPECT_EQ(pods["kind"], "PodList");
  ASSERT_EQ(pods["items"].size(), 36u);
  std::set<std::string> names;
  for (const json& pod : pods["items"]) {
    names.insert(pod["metadata"]["namespace"].get<std::string>() + "/" +
                 pod["metadata"]["name"].get<std::string>());
    EXPECT_EQ(pod["status"]["phase"], "Running");
    EXPECT_TRUE(std::set<std::string>({"Guaranteed", "Burstable", "BestEffort"})
                    .count(pod["status"]["qosClass"]));
    ASSERT_EQ(pod["spec"]["containers"].size(), 3u);
    ASSERT_EQ(pod["status"]["containerStatuses"].size(), 3u);
    EXPECT_FALSE(pod["spec"]["containers"][0]["image"].get<std::string>().empty());
    EXPECT_TRUE(pod["spec"]["containers"][0].contains("resources"));
  }
  EXPECT_EQ(names.size(), 36u);  // unique
  EXPECT_TRUE(
      names.count("kube-system/" + pods["items"][0]["metadata"]["name"].get<std::string>()));
  EXPECT_TRUE(std::regex_match(pods["items"][2]["metadata"]["name"].get<std::string>(),
                               std::regex("web-[bcdfghjklmnpqrstvwxz2456789]{10}-"
                                          "[bcdfghjklmnpqrstvwxz2456789]{5}")));

  // Pod paging.
  std::set<std::string> paged_pods;
  next.clear();
  int pages = 0;
  do {
    const json page =
        client.Get("/api/v1/pods?limit=7" + (next.empty() ? "" : "&continue=" + next)).Json();
    for (const json& p : page["items"]) {
      paged_pods.insert(p["metadata"]["namespace"].get<std::string>() + "/" +
                        p["metadata"]["name"].get<std::string>());
    }
    next = page["metadata"].value("continue", "");
    ++pages;
  } while (!next.empty() && pages < 20);
  EXPECT_EQ(paged_pods, names);
  EXPECT_EQ(pages, 6);
  EXPECT_EQ(client.Get("/api/v1/pods?continue=!!").status, 400);

  // Per namespace, per node and per name.
  const json system = client.Get("/api/v1/namespaces/kube-system/pods").Json();
  ASSERT_FALSE(system["items"].empty());
  for (const json& p : system["items"]) EXPECT_EQ(p["metadata"]["namespace"], "kube-system");
  const json on_node = client.Get("/api/v1/pods?fieldSelector=spec.nodeName%3Dsim-node-3").Json();
  ASSERT_EQ(on_node["items"].size(), 9u);
  const json summary = client.Get("/api/v1/nodes/sim-node-3/proxy/stats/summary").Json();
  for (size_t i = 0; i < 9; ++i) {
    const json& p = on_node["items"][i];
    EXPECT_EQ(p["spec"]["nodeName"], "sim-node-3");
    EXPECT_EQ(p["metadata"]["name"], summary["pods"][i]["podRef"]["name"]);
    EXPECT_EQ(p["metadata"]["uid"], summary["pods"][i]["podRef"]["uid"]);
  }
  const json& some = on_node["items"][4];
  const auto one =
      client.Get("/api/v1/namespaces/" + some["metadata"]["namespace"].get<std::string>() +
                 "/pods/" + some["metadata"]["name"].get<std::string>());
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.Json()["kind"], "Pod");
  EXPECT_EQ(one.Json()["metadata"]["uid"], some["metadata"]["uid"]);
  EXPECT_EQ(client.Get("/api/v1/namespaces/default/pods/web-0").status, 404);
}

TEST(SimulatedCluster, StreamsLargeListsAndKeepsTheConnection) {
  for (bool tls : {false, true}) {
    SimOptions options;
    options.nodes = 800;  // ~2 MB of NodeList: sent in chunks
    options.pods_per_node = 3;
    options.tls = tls;
    auto sim = MustStart(options);
    ASSERT_NE(sim, nullptr);
    HttpClient client(sim->url(), "", sim->ca_pem());
    const auto nodes = client.Get("/api/v1/nodes");
    ASSERT_EQ(nodes.status, 200) << nodes.error;
    EXPECT_GT(nodes.body.size(), 1u << 20);
    EXPECT_EQ(nodes.Json()["items"].size(), 800u);
    EXPECT_EQ(nodes.Json()["items"][799]["metadata"]["name"], "sim-node-799");
    const auto metrics = client.Get("/apis/metrics.k8s.io/v1beta1/pods");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_EQ(metrics.Json()["items"].size(), 2400u);
    EXPECT_EQ(metrics.new_connections, 0);  // the chunked answers kept the connection alive
    const auto after = client.Get("/version");
    EXPECT_EQ(after.status, 200);
    EXPECT_EQ(after.new_connections, 0);
  }
}

// The API server compresses answers over 128 KiB when the client accepts gzip (level 1, as
// kube-apiserver); kubelets never do. Both the buffered path (128 KiB to 1 MiB) and the chunked
// one (past 1 MiB) give the same JSON as a plain answer.
TEST(SimulatedCluster, CompressesLargeApiAnswersLikeTheApiServer) {
  SimOptions options;
  options.nodes = 100;
  options.pods_per_node = 30;
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url(), "", sim->ca_pem());
  auto names = [](const nlohmann::json& list) {
    std::vector<std::string> out;
    for (const auto& item : list["items"]) out.push_back(item["metadata"]["name"]);
    return out;
  };
  struct Case {
    std::string path;
    size_t min_plain, max_plain;  // the plain answer's size: which path of the sender it takes
  };
  const Case large[] = {{"/api/v1/nodes", 128u << 10, 1u << 20},
                        {"/apis/metrics.k8s.io/v1beta1/pods", 1u << 20, SIZE_MAX}};
  for (const Case& c : large) {
    SCOPED_TRACE(c.path);
    const auto plain = client.Get(c.path);
    ASSERT_EQ(plain.status, 200);
    EXPECT_EQ(plain.content_encoding, "");
    EXPECT_GT(plain.body.size(), c.min_plain);
    EXPECT_LT(plain.body.size(), c.max_plain);
    const auto gz = client.Get(c.path, /*gzip=*/true);
    ASSERT_EQ(gz.status, 200) << gz.error;
    EXPECT_EQ(gz.content_encoding, "gzip");
    EXPECT_EQ(names(gz.Json()), names(plain.Json()));
    EXPECT_EQ(gz.new_connections, 0);  // the connection survives the compressed answer
  }
  // Small answers go out plain even when gzip is welcome.
  const auto node_metrics = client.Get("/apis/metrics.k8s.io/v1beta1/nodes", true);
  ASSERT_EQ(node_metrics.status, 200);
  EXPECT_LT(node_metrics.body.size(), 128u << 10);
  EXPECT_EQ(node_metrics.content_encoding, "");
  // A kubelet's Summary, over 128 KiB here, is never compressed, through the API server's node
  // proxy either.
  const auto summary = client.Get("/api/v1/nodes/sim-node-0/proxy/stats/summary", true);
  ASSERT_EQ(summary.status, 200) << summary.error;
  EXPECT_GT(summary.body.size(), 128u << 10);
  EXPECT_EQ(summary.content_encoding, "");
}

// ---- Fault injection ----

TEST(SimulatedCluster, InjectsSummaryAndMetricsApiFaults) {
  auto sim = MustStart({});
  ASSERT_NE(sim, nullptr);
  HttpClient client(sim->url());
  sim->SetNodeSummaryStatus("sim-node-1", 503);
  const auto failed = client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary");
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(failed.Json()["kind"], "Status");
  EXPECT_EQ(failed.Json()["reason"], "ServiceUnavailable");
  EXPECT_EQ(failed.Json()["code"], 503);
  EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-0/proxy/stats/summary").status, 200);
  sim->SetNodeSummaryStatus("sim-node-1", 500);
  EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary").Json()["reason"],
            "InternalError");
  sim->SetNodeSummaryStatus("sim-node-1", 0);
  EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary").status, 200);

  const std::string apiservice =
      "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io";
  json condition = client.Get(apiservice).Json()["status"]["conditions"][0];
  EXPECT_EQ(condition["type"], "Available");
  EXPECT_EQ(condition["status"], "True");
  EXPECT_EQ(condition["reason"], "Passed");

  sim->SetMetricsApiStatus(503);
  for (const char* path : {"/apis/metrics.k8s.io/v1beta1/nodes", "/apis/metrics.k8s.io/v1beta1",
                           "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"}) {
    const auto r = client.Get(path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(r.Json()["message"], "the server is currently unable to handle the request");
    EXPECT_EQ(r.Json()["details"]["group"], "metrics.k8s.io");
  }
  condition = client.Get(apiservice).Json()["status"]["conditions"][0];
  EXPECT_EQ(condition["status"], "False");
  EXPECT_EQ(condition["reason"], "FailedDiscoveryCheck");
  EXPECT_EQ(condition["message"].get<std::string>().rfind("failing or missing response from ", 0),
            0u);
  EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary").status, 200);
  sim->SetMetricsApiStatus(0);
  EXPECT_EQ(client.Get("/apis/metrics.k8s.io/v1beta1/nodes").status, 200);
}

// ---- kubeconfig, kubectl and the simulate command ----

TEST(SimulatedCluster, WritesAPrivateKubeconfig) {
  SimOptions options;
  options.tls = true;
  options.token = "tok-123";
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  const std::string path = TempPath("kubeconfig");
  ASSERT_TRUE(sim->WriteKubeconfig(path).ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const YAML::Node config = YAML::LoadFile(path);
  EXPECT_EQ(config["apiVersion"].as<std::string>(), "v1");
  EXPECT_EQ(config["kind"].as<std::string>(), "Config");
  EXPECT_EQ(config["current-context"].as<std::string>(), "kmb-sim");
  EXPECT_EQ(config["contexts"][0]["name"].as<std::string>(), "kmb-sim");
  EXPECT_EQ(config["clusters"][0]["cluster"]["server"].as<std::string>(), sim->url());
  std::string ca;
  ASSERT_TRUE(Base64Decode(
      config["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>(), &ca));
  EXPECT_EQ(ca, sim->ca_pem());
  EXPECT_EQ(config["users"][0]["user"]["token"].as<std::string>(), "tok-123");

  // Plain and tokenless: no CA data, an empty user; an existing file is tightened to 0600.
  auto plain = MustStart({});
  ASSERT_NE(plain, nullptr);
  chmod(path.c_str(), 0644);
  ASSERT_TRUE(plain->WriteKubeconfig(path).ok());
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const YAML::Node plain_config = YAML::LoadFile(path);
  EXPECT_FALSE(plain_config["clusters"][0]["cluster"]["certificate-authority-data"]);
  EXPECT_FALSE(plain_config["users"][0]["user"]["token"]);
  std::remove(path.c_str());
  EXPECT_FALSE(plain->WriteKubeconfig("/nonexistent-dir/kubeconfig").ok());
}

std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  *status = pclose(pipe);
  return out;
}

TEST(SimulatedCluster, KubectlReadsTheMetricsApiThroughTheKubeconfig) {
  const char* kubectl = "/usr/bin/kubectl";
  if (access(kubectl, X_OK) != 0) GTEST_SKIP() << "kubectl is not installed";
  SimOptions options;
  options.tls = true;
  options.token = "kubectl-token";
  auto sim = MustStart(options);
  ASSERT_NE(sim, nullptr);
  const std::string config = TempPath("kubectl-kubeconfig");
  const std::string cache = TempPath("kubectl-cache");
  ASSERT_TRUE(sim->WriteKubeconfig(config).ok());
  const std::string base = std::string(kubectl) + " --kubeconfig " + config + " --cache-dir " +
                           cache + " --request-timeout=20s ";
  int status = -1;
  const std::string out =
      RunCommand(base + "get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>&1", &status);
  ASSERT_EQ(status, 0) << out;
  const json list = json::parse(out);
  EXPECT_EQ(list["kind"], "NodeMetricsList");
  EXPECT_EQ(list["items"].size(), 3u);
  const std::string top = RunCommand(base + "top nodes --no-headers 2>&1", &status);
  EXPECT_EQ(status, 0) << top;
  EXPECT_NE(top.find("sim-node-2"), std::string::npos) << top;
  std::remove(config.c_str());
  std::filesystem::remove_all(cache);
}

TEST(SimulatedCluster, RunSimulatorServesUntilSignalled) {
  const std::string config = TempPath("run-kubeconfig");
  std::remove(config.c_str());
  SimOptions options;
  options.token = "run-token";
  ::testing::internal::CaptureStdout();
  int rc = -1;
  std::thread runner([&] { rc = RunSimulator(options, config, {"sim-node-1"}, 503); });
  // The kubeconfig appears after the signal handlers are installed and the server is up.
  for (int i = 0; i < 200 && access(config.c_str(), R_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(access(config.c_str(), R_OK), 0);
  const std::string url =
      YAML::LoadFile(config)["clusters"][0]["cluster"]["server"].as<std::string>();
  {
    HttpClient client(url, "run-token");
    EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-0/proxy/stats/summary").status, 200);
    EXPECT_EQ(client.Get("/api/v1/nodes/sim-node-1/proxy/stats/summary").status, 503);
    EXPECT_EQ(client.Get("/apis/metrics.k8s.io/v1beta1/nodes").status, 503);
  }
  kill(getpid(), SIGTERM);
  runner.join();
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "listening on " + url + "\n");
  std::remove(config.c_str());

  ::testing::internal::CaptureStderr();
  options.listen = "127.0.0.1:99999";
  EXPECT_EQ(RunSimulator(options, "", {}, 0), 1);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("invalid listen address"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1);

  ::testing::internal::CaptureStderr();
  options.listen = "127.0.0.1:0";
  EXPECT_EQ(RunSimulator(options, "", {"sim-node-7"}, 0), 1);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("unknown node"), std::string::npos);
}

}  // namespace
}  // namespace kmb::sim
