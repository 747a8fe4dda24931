// Every way users reach a cluster, end to end against the simulated cluster over real HTTP(S):
// direct kubelet access (HTTPS with the token, kubelet CA bundles, certificates without IP SAN,
// --kubelet-insecure-tls, the read-only port), node-local mode (--node-name), `kubectl proxy`
// in front of the simulator, and an exec credential plugin driving the real binary.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "common/kubeconfig.h"
#include "common/test_util.h"
#include "kmb/app/poller.h"
#include "kmb/config/options.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/sim/cluster.h"
#include "kmb/sources/node_list.h"
#include "sim/tls.h"

namespace kmb {
namespace {

using testing::TempDir;

constexpr const char* kToken = "access-test-token-7f3a9c";

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// The scalar after "key: " in a YAML text (unquoted or double-quoted).
std::string YamlField(const std::string& yaml, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(yaml, m, std::regex(key + R"(: *"?([^"\n]+))"))) return "";
  return m[1].str();
}

// Options as the command line gives them.
Options Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kube-metrics-bridge");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int code = 0;
  std::optional<Options> o = ParseOptions(static_cast<int>(argv.size()), argv.data(), &code);
  EXPECT_TRUE(o.has_value()) << "flags rejected";
  return o.value_or(Options{});
}

std::string ParseError(std::vector<std::string> args) {
  args.insert(args.begin(), "kube-metrics-bridge");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int code = 0;
  ::testing::internal::CaptureStderr();
  std::optional<Options> o = ParseOptions(static_cast<int>(argv.size()), argv.data(), &code);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(o.has_value());
  EXPECT_EQ(code, 2);
  return err;
}

// A small HTTPS cluster requiring kToken, without kubelet listeners.
sim::SimOptions TlsSim(int nodes, int pods_per_node) {
  sim::SimOptions so;
  so.nodes = nodes;
  so.pods_per_node = pods_per_node;
  so.tls = true;
  so.token = kToken;
  return so;
}

sim::SimOptions KubeletSim() {
  sim::SimOptions so = TlsSim(3, 2);
  so.kubelets = true;
  // The node proxy is forbidden: only a poller that really goes to the kubelets succeeds.
  so.deny = {"nodes/proxy"};
  return so;
}

struct Rig {
  std::unique_ptr<sim::SimulatedCluster> sim;
  ClusterConfig cluster;
};

Rig Start(const sim::SimOptions& so, const TempDir& dir) {
  Rig rig;
  std::string error;
  rig.sim = sim::SimulatedCluster::Start(so, &error);
  EXPECT_TRUE(rig.sim) << error;
  if (!rig.sim) return rig;
  const std::string kc = dir.file("kubeconfig");
  EXPECT_TRUE(rig.sim->WriteKubeconfig(kc).ok());
  Status st = LoadClusterConfig({kc, "", ""}, &rig.cluster);
  EXPECT_TRUE(st.ok()) << st.message();
  return rig;
}

SnapshotPtr PollOnce(const ClusterConfig& cluster, const Options& options) {
  auto client = std::make_shared<KubeClient>(cluster, KubeClientOptions{});
  Poller poller(options, client);
  return poller.Poll();
}

void ExpectAllNodesUp(const Snapshot& snap, size_t nodes) {
  ASSERT_EQ(snap.nodes.size(), nodes);
  for (const NodeResult& r : snap.nodes) {
    EXPECT_TRUE(r.status.ok()) << r.node << ": " << r.status.message();
    EXPECT_GT(r.summary.entities.size(), 1u) << r.node;
  }
}

TEST(KubeletAccessTest, ProxyIsForbiddenHereDirectReadsEachKubelet) {
  TempDir dir;
  Rig rig = Start(KubeletSim(), dir);
  ASSERT_TRUE(rig.sim);
  SnapshotPtr proxied = PollOnce(rig.cluster, Parse({}));
  ASSERT_EQ(proxied->nodes.size(), 3u);
  EXPECT_EQ(proxied->nodes[0].status.reason(), "http_4xx");

  SnapshotPtr direct = PollOnce(rig.cluster, Parse({"--kubelet-access=direct"}));
  ExpectAllNodesUp(*direct, 3);
  const std::string text = RenderExposition(*direct, ExpositionFormat::kText004, {});
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_kubelet_insecure_tls 0\n"));
  EXPECT_FALSE(Contains(text, kToken));

  // --kubelet-port overrides the advertised port: a closed port fails every node.
  SnapshotPtr wrong_port =
      PollOnce(rig.cluster, Parse({"--kubelet-access=direct", "--kubelet-port=1"}));
  for (const NodeResult& r : wrong_port->nodes) EXPECT_EQ(r.status.reason(), "connect");
  // Only Hostname addresses (node names, which do not resolve): a clear failure per node.
  SnapshotPtr no_type =
      PollOnce(rig.cluster,
               Parse({"--kubelet-access=direct", "--kubelet-preferred-address-types=ExternalIP"}));
  EXPECT_EQ(no_type->nodes[0].status.reason(), "config");
  EXPECT_TRUE(
      Contains(no_type->nodes[0].status.message(), "has no address of the types ExternalIP"))
      << no_type->nodes[0].status.message();
}

// One shared kubelet port that routes by Host: every node is a distinct name on it.
TEST(KubeletAccessTest, SharedKubeletPortRoutedByHost) {
  TempDir dir;
  sim::SimOptions so = KubeletSim();
  so.nodes = 5;
  so.kubelet_shared_port = true;
  Rig rig = Start(so, dir);
  ASSERT_TRUE(rig.sim);
  EXPECT_EQ(rig.sim->kubelet_port(0), rig.sim->kubelet_port(4));
  SnapshotPtr snap = PollOnce(rig.cluster, Parse({"--kubelet-access=direct"}));
  ExpectAllNodesUp(*snap, 5);
  // Each name reaches its own node's kubelet; an unknown name none.
  KubeClient client(rig.cluster, KubeClientOptions{});
  const std::string port = std::to_string(rig.sim->kubelet_port(0));
  HttpResponse resp;
  Status st = client.Get("https://sim-node-3.kubelet.localhost:" + port + "/stats/summary", &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(Contains(resp.body, "\"nodeName\":\"sim-node-3\"")) << resp.body.substr(0, 200);
  st = client.Get("https://sim-node-9.kubelet.localhost:" + port + "/stats/summary", &resp);
  EXPECT_EQ(resp.status, 404);
}

TEST(KubeletAccessTest, KubeletCaBundleWithSeveralCertificates) {
  TempDir dir;
  Rig rig = Start(KubeletSim(), dir);
  ASSERT_TRUE(rig.sim);
  sim::TlsMaterial unrelated;
  std::string error;
  ASSERT_TRUE(sim::GenerateTlsMaterial({"127.0.0.1"}, {}, &unrelated, &error)) << error;
  testing::WriteFile(dir.file("unrelated.pem"), unrelated.ca_cert_pem);
  testing::WriteFile(dir.file("bundle.pem"), unrelated.ca_cert_pem + rig.sim->ca_pem());

  SnapshotPtr wrong = PollOnce(
      rig.cluster,
      Parse({"--kubelet-access=direct", "--kubelet-ca-file=" + dir.file("unrelated.pem")}));
  EXPECT_EQ(wrong->nodes.at(0).status.reason(), "tls");
  SnapshotPtr bundle =
      PollOnce(rig.cluster,
               Parse({"--kubelet-access=direct", "--kubelet-ca-file=" + dir.file("bundle.pem")}));
  ExpectAllNodesUp(*bundle, 3);

  // The API server's CA as a bundle too (kubeconfig certificate-authority-data).
  ClusterConfig cluster = rig.cluster;
  cluster.ca_pem = unrelated.ca_cert_pem + rig.sim->ca_pem();
  auto client = std::make_shared<KubeClient>(cluster, KubeClientOptions{});
  HttpResponse resp;
  Status st = client->Get("/api/v1/nodes", &resp);
  EXPECT_TRUE(st.ok()) << st.message();

  SnapshotPtr missing = PollOnce(
      rig.cluster, Parse({"--kubelet-access=direct", "--kubelet-ca-file=" + dir.file("nope.pem")}));
  EXPECT_EQ(missing->nodes.at(0).status.reason(), "config");
  EXPECT_TRUE(Contains(missing->nodes.at(0).status.message(), "nope.pem"));
}

TEST(KubeletAccessTest, CertificateWithoutIpSanNamesNodeAndFix) {
  TempDir dir;
  sim::SimOptions so = KubeletSim();
  so.kubelet_ip_san = false;
  Rig rig = Start(so, dir);
  ASSERT_TRUE(rig.sim);
  SnapshotPtr snap = PollOnce(rig.cluster, Parse({"--kubelet-access=direct"}));
  ASSERT_EQ(snap->nodes.size(), 3u);
  for (const NodeResult& r : snap->nodes) {
    EXPECT_EQ(r.status.reason(), "tls");
    EXPECT_TRUE(Contains(r.status.message(), "node " + r.node + ": "));
    EXPECT_TRUE(Contains(r.status.message(), "--kubelet-preferred-address-types=Hostname"));
    EXPECT_TRUE(Contains(r.status.message(), "--kubelet-insecure-tls"));
    EXPECT_FALSE(Contains(r.status.message(), kToken));
  }
  SnapshotPtr insecure =
      PollOnce(rig.cluster, Parse({"--kubelet-access=direct", "--kubelet-insecure-tls"}));
  ExpectAllNodesUp(*insecure, 3);
  const std::string text = RenderExposition(*insecure, ExpositionFormat::kText004, {});
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_kubelet_insecure_tls 1\n"));
}

TEST(NodeLocalTest, PollsOnlyItsNodeAndItsPodsFromTheKubelet) {
  TempDir dir;
  Rig rig = Start(KubeletSim(), dir);
  ASSERT_TRUE(rig.sim);
  const std::string node = rig.sim->node_names().at(1);
  Options o = Parse({"--node-name=" + node});
  EXPECT_EQ(o.kubelet_access, "direct");
  EXPECT_FALSE(o.metrics_api);  // cluster-wide: off by default in node-local mode
  SnapshotPtr snap = PollOnce(rig.cluster, o);
  ExpectAllNodesUp(*snap, 1);
  EXPECT_EQ(snap->nodes[0].node, node);
  EXPECT_FALSE(snap->metrics_api.enabled);
  EXPECT_TRUE(Parse({"--node-name=" + node, "--sources=summary,metrics-api"}).metrics_api);

  // The kubelet's /pods lists exactly this node's pods, in the API's PodList format.
  HttpResponse resp;
  KubeClient kubelet(rig.cluster, KubeClientOptions{});
  const std::string url = "https://127.0.0.1:" + std::to_string(rig.sim->kubelet_port(1)) + "/pods";
  Status st = kubelet.Get(url, &resp);
  ASSERT_TRUE(st.ok()) << st.message();
  PodListPage pods;
  ASSERT_TRUE(DecodePodPlacements(resp.body, &pods).ok());
  ASSERT_EQ(pods.pods.size(), 2u);
  for (const PodPlacement& p : pods.pods) EXPECT_EQ(p.node, node);
}

TEST(NodeLocalTest, ReadOnlyPortWithoutApiServerAccess) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 2;
  so.kubelet_read_only = true;
  so.token = kToken;
  so.deny = {"nodes", "nodes/proxy", "nodes/stats"};  // the API server is no help at all
  Rig rig = Start(so, dir);
  ASSERT_TRUE(rig.sim);
  const std::string node = rig.sim->node_names().at(0);  // the read-only port answers for it
  const std::string port = std::to_string(rig.sim->kubelet_read_only_port());
  SnapshotPtr snap =
      PollOnce(rig.cluster, Parse({"--node-name=" + node, "--kubelet-address=127.0.0.1",
                                   "--kubelet-read-only-port=" + port}));
  ExpectAllNodesUp(*snap, 1);
  // The same, cluster-wide through the API server, fails: nodes cannot be listed.
  SnapshotPtr cluster_wide = PollOnce(rig.cluster, Parse({"--kubelet-read-only-port=" + port}));
  EXPECT_EQ(cluster_wide->summary.status.reason(), "http_4xx");
}

TEST(AccessOptionsTest, ContradictionsAreRejectedWithOneLine) {
  EXPECT_TRUE(Contains(ParseError({"--node-name=n", "--kubelet-access=proxy"}),
                       "--node-name reads kubelets directly"));
  EXPECT_TRUE(Contains(ParseError({"--kubelet-address=10.0.0.1"}), "needs --node-name"));
  EXPECT_TRUE(Contains(ParseError({"--kubelet-preferred-address-types=InternalIP,Foo"}),
                       "unknown type \"Foo\""));
  EXPECT_TRUE(
      Contains(ParseError({"--kubelet-insecure-tls", "--kubelet-ca-file=x"}), "contradict"));
  EXPECT_TRUE(Contains(ParseError({"--kubelet-access=sideways"}), "--kubelet-access"));
  Options o = Parse({"--kubelet-read-only-port=10255"});
  EXPECT_EQ(o.kubelet_access, "direct");
  EXPECT_EQ(o.kubelet_preferred_address_types,
            (std::vector<std::string>{"InternalIP", "ExternalIP", "Hostname"}));
}

// kubectl proxy (a reverse proxy holding the credentials) in front of the simulator: the
// exporter talks plain HTTP to it with no credentials of its own.
TEST(KubectlProxyTest, SummariesAndMetricsApiThroughKubectlProxy) {
  if (access("/usr/bin/kubectl", X_OK) != 0) {
    GTEST_FAIL() << "kubectl missing: scripts/install-deps.sh installs kubernetes-client";
  }
  TempDir dir;
  Rig rig = Start(TlsSim(2, 2), dir);
  ASSERT_TRUE(rig.sim);
  testing::Child proxy({"/usr/bin/kubectl", "proxy", "--kubeconfig", dir.file("kubeconfig"),
                        "--port=0", "--address=127.0.0.1"},
                       dir.file("proxy.out"), dir.file("proxy.err"));
  const std::string line = proxy.WaitForLine("Starting to serve on");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex(R"(127\.0\.0\.1:(\d+))")))
      << line << proxy.Stderr();
  ClusterConfig cluster;
  ASSERT_TRUE(LoadClusterConfig({"", "", "http://127.0.0.1:" + m[1].str()}, &cluster).ok());
  EXPECT_TRUE(cluster.credentials.token.empty());
  SnapshotPtr snap = PollOnce(cluster, Parse({}));
  ExpectAllNodesUp(*snap, 2);
  EXPECT_TRUE(snap->metrics_api.up) << snap->metrics_api.status.message();
  EXPECT_FALSE(snap->metrics_api_entities.empty());
}

// The binary with a kubeconfig whose user is an exec plugin: a working plugin gives metrics; a
// broken one that prints the token gives one clear line, and the token appears nowhere.
TEST(ExecPluginTest, BinaryWithExecPluginKubeconfig) {
  TempDir dir;
  Rig rig = Start(TlsSim(2, 1), dir);
  ASSERT_TRUE(rig.sim);
  auto plugin = [&](const std::string& name, const std::string& body) {
    const std::string path = dir.file(name);
    testing::WriteFile(path, "#!/bin/sh\n" + body);
    chmod(path.c_str(), 0755);
  };
  plugin("good.sh", std::string("printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                                "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"") +
                        kToken + "\"}}'\n");
  plugin("bad.sh", std::string("echo ") + kToken + "; echo " + kToken + " >&2; exit 1\n");
  auto kubeconfig = [&](const std::string& command) {
    // The CA as base64, taken from the simulator's own kubeconfig.
    return testing::WriteKubeconfig(
        dir.file("exec-" + command + ".yaml"), rig.sim->url(),
        {{"certificate-authority-data",
          YamlField(testing::ReadFile(dir.file("kubeconfig")), "certificate-authority-data")}},
        {{"exec",
          {{"apiVersion", "client.authentication.k8s.io/v1"},
           {"command", "./" + command},
           {"interactiveMode", "Never"},
           {"installHint", "see the access test"}}}});
  };
  std::string out;
  int code = testing::RunCommand(
      std::string(KMB_BINARY) + " --once --sources=summary --kubeconfig " + kubeconfig("good.sh"),
      &out);
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(Contains(out, "node_cpu_usage_seconds_total{node=\"" + rig.sim->node_names()[0]));
  EXPECT_FALSE(Contains(out, kToken));

  out.clear();
  code = testing::RunCommand(
      std::string(KMB_BINARY) + " --once --sources=summary --kubeconfig " + kubeconfig("bad.sh"),
      &out);
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(Contains(out, "exited with status 1")) << out;
  EXPECT_FALSE(Contains(out, kToken)) << out;
}

// HTTP/2 to an API server that speaks it (--http2): nghttpx (Debian's nghttp2-proxy), a
// reverse proxy with an h2 frontend over TLS, in front of the simulator. Its access log names
// the protocol and the User-Agent of every request: with the flag, the Summaries, the Metrics
// API, the lists and the node and pod watches all go over h2; without it, over HTTP/1.1.
TEST(Http2Test, SummariesMetricsApiAndWatchesOverHttp2ThroughNghttpx) {
  if (access("/usr/sbin/nghttpx", X_OK) != 0) {
    GTEST_FAIL() << "nghttpx missing: scripts/install-deps.sh installs nghttp2-proxy";
  }
  TempDir dir;
  sim::SimOptions so;  // plain HTTP behind the proxy, still requiring the token
  so.nodes = 2;
  so.pods_per_node = 2;
  so.token = kToken;
  std::string error;
  std::unique_ptr<sim::SimulatedCluster> sim = sim::SimulatedCluster::Start(so, &error);
  ASSERT_TRUE(sim) << error;
  std::string backend = sim->address();  // "127.0.0.1:PORT"; nghttpx wants "127.0.0.1,PORT"
  backend[backend.find(':')] = ',';

  sim::TlsMaterial tls;
  ASSERT_TRUE(sim::GenerateTlsMaterial({"127.0.0.1"}, {"localhost"}, &tls, &error)) << error;
  testing::WriteFile(dir.file("key.pem"), tls.server_key_pem);
  testing::WriteFile(dir.file("cert.pem"), tls.server_cert_pem);
  testing::WriteFile(dir.file("ca.pem"), tls.ca_cert_pem);
  const std::string port = std::to_string(testing::FreePort());
  const std::string log = dir.file("access.log");
  testing::Child proxy({"/usr/sbin/nghttpx", "--conf=/dev/null", "--workers=1", "--no-ocsp",
                        "--frontend=127.0.0.1," + port, "--backend=" + backend,
                        "--backend-read-timeout=10m", "--log-level=INFO", "--accesslog-file=" + log,
                        "--accesslog-format=$alpn $path $status $http_user_agent",
                        dir.file("key.pem"), dir.file("cert.pem")},
                       dir.file("proxy.out"), dir.file("proxy.err"));
  const std::string url = "https://127.0.0.1:" + port;
  ASSERT_TRUE(testing::Eventually([&] {
    return testing::HttpGet(url + "/version", {std::string("Authorization: Bearer ") + kToken},
                            tls.ca_cert_pem)
               .body.find("gitVersion") != std::string::npos;
  })) << testing::ReadFile(dir.file("proxy.err"));

  const std::string kubeconfig = testing::WriteKubeconfig(
      dir.file("kubeconfig.yaml"), url, {{"certificate-authority", dir.file("ca.pem")}},
      {{"token", kToken}});
  ClusterConfig cluster;
  Status st = LoadClusterConfig({kubeconfig, "", ""}, &cluster);
  ASSERT_TRUE(st.ok()) << st.message();
  // The access log's lines of one client, told apart by its User-Agent (nghttpx writes a line
  // once it has sent the response, so a line may come a moment after the client has it).
  auto lines_of = [&](const std::string& agent, size_t at_least) {
    std::vector<std::string> out;
    testing::Eventually([&] {
      out.clear();
      std::istringstream in(testing::ReadFile(log));
      for (std::string line; std::getline(in, line);) {
        if (line.ends_with(" " + agent)) out.push_back(line);
      }
      return out.size() >= at_least;
    });
    return out;
  };
  auto poll = [&](bool http2, const std::string& agent) {
    KubeClientOptions o;
    o.http2 = http2;
    o.user_agent = agent;
    Poller poller(Parse({}), std::make_shared<KubeClient>(cluster, o));
    return poller.Poll();
  };
  // A poll: the node list, two Summaries and the Metrics API's two lists.
  SnapshotPtr snap = poll(true, "kmb-test-h2");
  ExpectAllNodesUp(*snap, 2);
  EXPECT_TRUE(snap->metrics_api.up) << snap->metrics_api.status.message();
  std::vector<std::string> lines = lines_of("kmb-test-h2", 5);
  ASSERT_GE(lines.size(), 5u) << testing::ReadFile(log);
  for (const std::string& line : lines) EXPECT_TRUE(line.starts_with("h2 ")) << line;
  const std::string all = testing::ReadFile(log);
  EXPECT_TRUE(Contains(all, "h2 /api/v1/nodes/sim-node-0/proxy/stats/summary 200 kmb-test-h2"))
      << all;
  EXPECT_TRUE(Contains(all, "h2 /apis/metrics.k8s.io/v1beta1/pods 200 kmb-test-h2")) << all;

  snap = poll(false, "kmb-test-h1");
  ExpectAllNodesUp(*snap, 2);
  lines = lines_of("kmb-test-h1", 5);
  ASSERT_GE(lines.size(), 5u) << testing::ReadFile(log);
  for (const std::string& line : lines) EXPECT_TRUE(line.starts_with("http/1.1 ")) << line;

  // The binary: the node and pod watches too. nghttpx logs no access line for a stream the
  // client resets (a watch, when the exporter stops), but its INFO log prints the headers of
  // each request as it arrives, pseudo-headers (":path: ...") only for h2 requests.
  auto h2_watches = [&] {
    std::istringstream in(testing::ReadFile(dir.file("proxy.err")));
    size_t n = 0;
    for (std::string line; std::getline(in, line);) {
      n += line.starts_with(":path: /api/v1/") && Contains(line, "?watch=1");
    }
    return n;
  };
  EXPECT_EQ(h2_watches(), 0u);
  const std::string metrics = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  {
    testing::Child exporter({KMB_BINARY, "--kubeconfig", kubeconfig, "--http2", "--interval", "1s",
                             "--web.listen-address", metrics.substr(7)},
                            dir.file("exporter.out"), dir.file("exporter.err"));
    EXPECT_TRUE(testing::Eventually([&] {
      const std::string body = testing::HttpGet(metrics + "/metrics").body;
      using testing::Sample;
      return Sample(body, "kube_metrics_bridge_watch_objects{resource=\"pods\"}") == 4.0 &&
             Sample(body, "kube_metrics_bridge_watch_objects{resource=\"nodes\"}") == 2.0 &&
             Sample(body, "kube_metrics_bridge_polls_total").value_or(0) >= 2.0;
    })) << testing::ReadFile(dir.file("exporter.err"));
    EXPECT_EQ(exporter.Stop(), 0);
  }
  // Its lists of nodes and pods, and two polls of two Summaries and two Metrics API lists.
  lines = lines_of("kube-metrics-bridge", 10);
  EXPECT_GE(lines.size(), 10u) << testing::ReadFile(log);
  for (const std::string& line : lines) EXPECT_TRUE(line.starts_with("h2 ")) << line;
  EXPECT_GE(h2_watches(), 2u);  // nodes and pods
}

}  // namespace
}  // namespace kmb
