// The exporter's pipeline (kube client -> decoders -> snapshot -> exposition) against the
// simulated cluster over real HTTP(S), in process; and the binary's --once mode.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "kmb/app/poller.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/sim/cluster.h"

namespace kmb {
namespace {

using testing::TempDir;

struct Rig {
  std::unique_ptr<sim::SimulatedCluster> sim;
  std::shared_ptr<KubeClient> client;
  std::unique_ptr<Poller> poller;
  Options options;
};

Rig MakeRig(sim::SimOptions so, bool via_kubeconfig, const TempDir& dir) {
  Rig rig;
  so.stats_period_seconds = 3600;  // values stay put while a test compares them
  std::string error;
  rig.sim = sim::SimulatedCluster::Start(so, &error);
  EXPECT_TRUE(rig.sim) << error;
  ClusterConfig cc;
  if (via_kubeconfig) {
    std::string kc = dir.file("kubeconfig");
    EXPECT_TRUE(rig.sim->WriteKubeconfig(kc).ok());
    Status st = LoadClusterConfig({kc, "", ""}, &cc);
    EXPECT_TRUE(st.ok()) << st.message();
  } else {
    cc.server = rig.sim->url();
  }
  rig.client = std::make_shared<KubeClient>(cc, KubeClientOptions{});
  rig.poller = std::make_unique<Poller>(rig.options, rig.client);
  return rig;
}

// One poll, with what it logged (stderr) in *logs.
SnapshotPtr PollLogged(Poller& poller, std::string* logs) {
  ::testing::internal::CaptureStderr();
  SnapshotPtr snap = poller.Poll();
  *logs = ::testing::internal::GetCapturedStderr();
  return snap;
}

nlohmann::json Get(KubeClient& client, const std::string& path) {
  HttpResponse resp;
  Status st = client.Get(path, &resp);
  EXPECT_TRUE(st.ok()) << st.message();
  return nlohmann::json::parse(resp.body);
}

// The exact decimal the exposition must show for an integer scaled by 1e-9.
std::string NanoToDecimal(uint64_t v) {
  std::string out;
  AppendScaledValue(out, Sample::Uint(0, v), -9);
  return out;
}

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

void ExpectWholeClusterExported(Rig& rig, const std::string& text) {
  for (const std::string& node : rig.sim->node_names()) {
    nlohmann::json s = Get(*rig.client, "/api/v1/nodes/" + node + "/proxy/stats/summary");
    uint64_t cpu = s["node"]["cpu"]["usageCoreNanoSeconds"].get<uint64_t>();
    uint64_t ws = s["node"]["memory"]["workingSetBytes"].get<uint64_t>();
    EXPECT_TRUE(Contains(text, "node_cpu_usage_seconds_total{node=\"" + node + "\"} " +
                                   NanoToDecimal(cpu) + "\n"))
        << node;
    EXPECT_TRUE(Contains(text, "node_memory_working_set_bytes{node=\"" + node + "\"} " +
                                   std::to_string(ws) + "\n"))
        << node;
    const auto& pod = s["pods"][0];
    const auto& c = pod["containers"][0];
    std::string labels = "{namespace=\"" + pod["podRef"]["namespace"].get<std::string>() +
                         "\",pod=\"" + pod["podRef"]["name"].get<std::string>() + "\"";
    // The image label comes from the pod spec (watch cache).
    const std::string image =
        Get(*rig.client, "/api/v1/namespaces/" + pod["podRef"]["namespace"].get<std::string>() +
                             "/pods/" + pod["podRef"]["name"].get<std::string>())["spec"]
                                                                                ["containers"][0]
                                                                                ["image"];
    EXPECT_TRUE(Contains(text, "container_memory_working_set_bytes" + labels.substr(0) +
                                   ",container=\"" + c["name"].get<std::string>() + "\",node=\"" +
                                   node + "\",image=\"" + image + "\"} " +
                                   std::to_string(c["memory"]["workingSetBytes"].get<uint64_t>()) +
                                   "\n"))
        << node;
    EXPECT_TRUE(Contains(text, "pod_cpu_usage_seconds_total" + labels + ",node=\"" + node +
                                   "\"} " +
                                   NanoToDecimal(pod["cpu"]["usageCoreNanoSeconds"].get<uint64_t>()) +
                                   "\n"))
        << node;
    EXPECT_TRUE(Contains(
        text, "kube_metrics_bridge_source_up{source=\"summary\",node=\"" + node + "\"} 1\n"));
  }
}

TEST(Integration, PlainHttpWholeClusterExactValues) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 3;
  so.pods_per_node = 4;
  Rig rig = MakeRig(so, false, dir);
  SnapshotPtr snap = rig.poller->Poll();
  ASSERT_EQ(snap->nodes.size(), 3u);
  for (const auto& n : snap->nodes) EXPECT_TRUE(n.status.ok()) << n.status.message();
  EXPECT_TRUE(snap->metrics_api.up) << snap->metrics_api.status.message();
  std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
  ExpectWholeClusterExported(rig, text);

  // The Metrics API agrees with the Summary (same simulator tick).
  nlohmann::json s = Get(*rig.client, "/api/v1/nodes/sim-node-0/proxy/stats/summary");
  double cores = s["node"]["cpu"]["usageNanoCores"].get<uint64_t>() / 1e9;
  std::string out;
  AppendScaledValue(out, Sample::Double(0, cores), 0);
  EXPECT_TRUE(Contains(text, "k8s_metrics_api_node_cpu_usage_cores{node=\"sim-node-0\"} " + out +
                                 "\n"))
      << text.substr(0, 4000);
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_source_up{source=\"metrics-api\"} 1\n"));
  EXPECT_TRUE(Contains(text, "k8s_metrics_api_pod_window_seconds{namespace="));
}

TEST(Integration, HttpsWithTokenFromKubeconfig) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 3;
  so.tls = true;
  so.token = "integration-secret-token";
  Rig rig = MakeRig(so, true, dir);
  ASSERT_TRUE(rig.sim->url().starts_with("https://"));
  SnapshotPtr snap = rig.poller->Poll();
  ASSERT_EQ(snap->nodes.size(), 2u);
  for (const auto& n : snap->nodes) EXPECT_TRUE(n.status.ok()) << n.status.message();
  EXPECT_TRUE(snap->metrics_api.up);
  ExpectWholeClusterExported(rig, RenderExposition(*snap, ExpositionFormat::kText004));
}

TEST(Integration, WrongTokenFailsCleanlyWithoutLeakingIt) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 2;
  so.tls = true;
  so.token = "right-token";
  Rig rig = MakeRig(so, true, dir);
  ClusterConfig cc = rig.client->config();
  cc.credentials.token = "wrong-token-must-not-leak";
  auto client = std::make_shared<KubeClient>(cc, KubeClientOptions{});
  Poller poller(rig.options, client);
  std::string logs;
  SnapshotPtr snap = PollLogged(poller, &logs);
  EXPECT_FALSE(snap->summary.up);
  EXPECT_FALSE(snap->metrics_api.up);
  EXPECT_EQ(snap->metrics_api.status.reason(), "http_4xx");
  EXPECT_TRUE(Contains(snap->metrics_api.status.message(), "401"));
  std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_source_up{source=\"metrics-api\"} 0\n"));
  EXPECT_TRUE(Contains(text,
                       "kube_metrics_bridge_errors_total{source=\"metrics-api\",reason=\"http_4xx\"}"));
  for (const std::string& where : {logs, text, snap->metrics_api.status.message(),
                                   snap->summary.status.message()}) {
    EXPECT_FALSE(Contains(where, "wrong-token-must-not-leak"));
    EXPECT_FALSE(Contains(where, "right-token"));
  }
  EXPECT_TRUE(Contains(logs, "metrics API poll failed")) << logs;
}

TEST(Integration, FailingNodeIsDroppedOthersStayAndItRecovers) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 3;
  so.pods_per_node = 2;
  Rig rig = MakeRig(so, false, dir);
  rig.sim->SetNodeSummaryStatus("sim-node-1", 500);
  std::string logs;
  SnapshotPtr snap = PollLogged(*rig.poller, &logs);
  std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_source_up{source=\"summary\",node=\"sim-node-1\"} 0\n"));
  EXPECT_FALSE(Contains(text, "node_cpu_usage_seconds_total{node=\"sim-node-1\"}"));
  {
    // No data series of the failing node at all: only its source_up line names it.
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      // Pod-spec series (requests, limits, k8s_pod_info) come from the API server, not the
      // kubelet: they stay.
      const int row = catalog::FindByName(line.substr(0, line.find('{')));
      const bool pod_spec = row >= 0 && catalog::kMetrics[row].source == catalog::Source::kPods;
      if (Contains(line, "node=\"sim-node-1\"") && !line.starts_with("k8s_metrics_api_") &&
          !pod_spec) {
        EXPECT_TRUE(line.starts_with("kube_metrics_bridge_source_up{")) << line;
      }
    }
  }
  EXPECT_TRUE(Contains(text, "node_cpu_usage_seconds_total{node=\"sim-node-0\"}"));
  EXPECT_TRUE(Contains(text, "node_cpu_usage_seconds_total{node=\"sim-node-2\"}"));
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_errors_total{source=\"summary\",reason=\"http_5xx\"} 1\n"));
  // One log line names the node and the reason.
  size_t lines = 0;
  std::istringstream in(logs);
  for (std::string line; std::getline(in, line);) {
    if (Contains(line, "sim-node-1")) {
      ++lines;
      EXPECT_TRUE(Contains(line, "reason=http_5xx")) << line;
    }
  }
  EXPECT_EQ(lines, 1u) << logs;

  // Still failing: no new log line; recovered: the series come back.
  PollLogged(*rig.poller, &logs);
  EXPECT_FALSE(Contains(logs, "sim-node-1"));
  rig.sim->SetNodeSummaryStatus("sim-node-1", 0);
  snap = rig.poller->Poll();
  text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_TRUE(Contains(text, "node_cpu_usage_seconds_total{node=\"sim-node-1\"}"));
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_errors_total{source=\"summary\",reason=\"http_5xx\"} 2\n"));
}

TEST(Integration, MetricsApi503KeepsSummary) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 2;
  Rig rig = MakeRig(so, false, dir);
  rig.sim->SetMetricsApiStatus(503);
  std::string logs;
  SnapshotPtr snap = PollLogged(*rig.poller, &logs);
  EXPECT_FALSE(snap->metrics_api.up);
  EXPECT_EQ(snap->metrics_api.status.reason(), "http_5xx");
  EXPECT_TRUE(snap->summary.up);
  std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_TRUE(Contains(text, "kube_metrics_bridge_source_up{source=\"metrics-api\"} 0\n"));
  EXPECT_FALSE(Contains(text, "k8s_metrics_api_node_cpu_usage_cores{"));
  ExpectWholeClusterExported(rig, text);
  EXPECT_TRUE(Contains(logs, "503")) << logs;
}

TEST(Integration, MetricsApiMissing404IsExplained) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 2;
  so.apiservice = "Absent";  // no aggregation: metrics.k8s.io answers 404
  Rig rig = MakeRig(so, false, dir);
  std::string logs;
  SnapshotPtr snap = PollLogged(*rig.poller, &logs);
  EXPECT_FALSE(snap->metrics_api.up);
  EXPECT_EQ(snap->metrics_api.status.reason(), "http_4xx");
  EXPECT_TRUE(snap->summary.up);
  EXPECT_TRUE(Contains(logs, "HTTP 404")) << logs;
  EXPECT_TRUE(Contains(logs, "kubectl get apiservice v1beta1.metrics.k8s.io")) << logs;
}

TEST(Integration, SimulatorShowsTheWholeCatalog) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 14;  // every app of the simulator, PVCs and the GPU pod included
  Rig rig = MakeRig(so, false, dir);
  SnapshotPtr snap = rig.poller->Poll();
  WriterOptions all;
  all.metric_groups = AllMetricGroups();
  std::string text = RenderExposition(*snap, ExpositionFormat::kText004, all);
  for (const auto& def : catalog::kMetrics) {
    if (def.source == catalog::Source::kSelf) continue;
    // Appended, not "\n" + name + "{": gcc 12 warns -Wrestrict on that (a false positive).
    std::string line_start = "\n";
    line_start.append(def.name).append("{");
    EXPECT_TRUE(Contains(text, line_start)) << def.name << " missing";
  }
}

TEST(Sharding, ShardsPartitionNodesAndMetricsApiPodsExactly) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 7;
  so.pods_per_node = 3;
  Rig rig = MakeRig(so, false, dir);
  const int kShards = 3;
  std::map<std::string, int> node_owner;     // node -> shard that exported its Summary
  std::map<std::string, int> api_pod_owner;  // namespace/pod -> shard with its Metrics API series
  std::map<std::string, std::string> pod_node;
  for (int shard = 0; shard < kShards; ++shard) {
    Options o;
    o.shard = shard;
    o.total_shards = kShards;
    Poller poller(o, rig.client);
    SnapshotPtr snap = poller.Poll();
    EXPECT_TRUE(snap->metrics_api.up) << snap->metrics_api.status.message();
    for (const NodeResult& n : snap->nodes) {
      EXPECT_TRUE(n.status.ok());
      EXPECT_EQ(ShardOf(n.node, kShards), shard);
      EXPECT_TRUE(node_owner.emplace(n.node, shard).second) << n.node << " in two shards";
      for (const EntityStats& e : n.summary.entities) {
        if (e.entity == catalog::Entity::kPod) {
          pod_node[std::string(e.labels[0]) + "/" + std::string(e.labels[1])] = n.node;
        }
      }
    }
    for (const EntityStats& e : snap->metrics_api_entities) {
      if (e.entity == catalog::Entity::kApiNode) {
        EXPECT_EQ(ShardOf(e.labels[0], kShards), shard) << e.labels[0];
      } else if (e.entity == catalog::Entity::kApiPod) {
        const std::string pod = std::string(e.labels[0]) + "/" + std::string(e.labels[1]);
        EXPECT_TRUE(api_pod_owner.emplace(pod, shard).second) << pod;
      }
    }
  }
  EXPECT_EQ(node_owner.size(), 7u);  // the union is every node, no overlap
  ASSERT_EQ(api_pod_owner.size(), 7u * 3);
  for (const auto& [pod, shard] : api_pod_owner) {
    ASSERT_TRUE(pod_node.count(pod)) << pod;
    EXPECT_EQ(node_owner[pod_node[pod]], shard) << pod << " split unlike its node";
  }
  // More than one shard got work (the hash spreads 7 nodes).
  std::set<int> used;
  for (const auto& [n, s] : node_owner) used.insert(s);
  EXPECT_GT(used.size(), 1u);
}

TEST(Sharding, HashIsStable) {
  // FNV-1a 64 of the name: fixed values so replicas of different versions agree.
  EXPECT_EQ(ShardOf("sim-node-0", 1), 0);
  EXPECT_EQ(ShardOf("", 7), static_cast<int>(14695981039346656037ULL % 7));
  EXPECT_EQ(ShardOf("a", 1000), static_cast<int>(0xaf63dc4c8601ec8cULL % 1000));
}

// ---- The binary ----

TEST(Binary, OnceAgainstSimulatorPrintsExposition) {
  TempDir dir;
  sim::SimOptions so;
  so.nodes = 2;
  std::string error;
  auto sim = sim::SimulatedCluster::Start(so, &error);
  ASSERT_TRUE(sim) << error;
  std::string out;
  int rc = testing::RunCommand(std::string(KMB_BINARY) + " --once --apiserver " + sim->url(), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(Contains(out, "# TYPE node_cpu_usage_seconds_total counter"));
  EXPECT_TRUE(Contains(out, "node_cpu_usage_seconds_total{node=\"sim-node-1\"}"));
}

TEST(Binary, OnceAgainstNothingFailsWithOneLine) {
  std::string out;
  int port = testing::FreePort();  // nothing listens there
  int rc = testing::RunCommand(std::string(KMB_BINARY) +
                                   " --once --log.format=logfmt --apiserver http://127.0.0.1:" +
                                   std::to_string(port),
                               &out);
  EXPECT_NE(rc, 0);
  EXPECT_TRUE(Contains(out, "reason=connect")) << out;
  EXPECT_TRUE(Contains(out, "no source succeeded")) << out;
}

TEST(Binary, BadKubeconfigIsOneClearLineWithoutSecrets) {
  TempDir dir;
  std::string kc = dir.file("config");
  testing::WriteFile(kc,
                     "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: "
                     "leaky-token-123\n  : [broken\n");
  std::string out;
  int rc = testing::RunCommand(std::string(KMB_BINARY) + " --once --kubeconfig " + kc, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(Contains(out, kc)) << out;
  EXPECT_FALSE(Contains(out, "leaky-token-123")) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;

  out.clear();
  rc = testing::RunCommand(std::string(KMB_BINARY) + " --once --kubeconfig " + dir.file("none"),
                           &out);
  EXPECT_EQ(rc, 1);
  EXPECT_TRUE(Contains(out, dir.file("none"))) << out;
}

TEST(Binary, UnknownFlagExits2) {
  std::string out;
  EXPECT_EQ(testing::RunCommand(std::string(KMB_BINARY) + " --frobnicate", &out), 2);
  EXPECT_TRUE(Contains(out, "frobnicate")) << out;
}

}  // namespace
}  // namespace kmb
