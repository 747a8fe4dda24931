// The fault matrix (issue #7): every fault the simulator injects, against the real binaries and
// against the in-process pipeline. For each: the exporter stays up, the healthy nodes' values
// are exact, the failing node has source_up 0, no data series and the right reason, and the log
// line names the node and the reason without the token.

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/sim_rig.h"
#include "common/test_util.h"
#include "kmb/app/poller.h"
#include "kmb/catalog/catalog.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/kube/retry.h"
#include "kmb/server/server.h"
#include "kmb/sim/cluster.h"
#include "kmb/sources/metrics_api.h"

namespace kmb {
namespace {

using testing::Child;
using testing::TempDir;

constexpr char kToken[] = "matrix-secret-token-5b1f";

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

std::string NanoToDecimal(uint64_t v) {
  std::string out;
  AppendScaledValue(out, Sample::Uint(0, v), -9);
  return out;
}

// The value of one sample line "name{labels} value" in an exposition, as written; "" when absent.
std::string Value(const std::string& text, const std::string& series) {
  return testing::SampleText(text, series).value_or("");
}

std::string Up(const std::string& node) {
  return "kube_metrics_bridge_source_up{source=\"summary\",node=\"" + node + "\"}";
}

uint64_t Errors(const std::string& text, const std::string& source, const std::string& reason) {
  const std::string v = Value(text, "kube_metrics_bridge_errors_total{source=\"" + source +
                                        "\",reason=\"" + reason + "\"}");
  return v.empty() ? 0 : std::stoull(v);
}

// The node's values in the exposition are exactly the simulator's (node CPU counter, the first
// container's working set), and its source_up is 1.
// `with_image`: the pod cache was synced, so container series carry the pod spec's image.
void ExpectExact(KubeClient& client, const std::string& text, const std::string& node,
                 bool with_image = true) {
  HttpResponse resp;
  ASSERT_TRUE(client.Get("/api/v1/nodes/" + node + "/proxy/stats/summary", &resp).ok()) << node;
  const auto s = nlohmann::json::parse(resp.body);
  EXPECT_EQ(Value(text, "node_cpu_usage_seconds_total{node=\"" + node + "\"}"),
            NanoToDecimal(s["node"]["cpu"]["usageCoreNanoSeconds"].get<uint64_t>()))
      << node;
  const auto& pod = s["pods"][0];
  const auto& c = pod["containers"][0];
  const std::string ns = pod["podRef"]["namespace"], name = pod["podRef"]["name"];
  // Container series carry the image of the pod spec (the watch cache's join).
  ASSERT_TRUE(client.Get("/api/v1/namespaces/" + ns + "/pods/" + name, &resp).ok()) << name;
  std::string image;
  const auto pod_object = nlohmann::json::parse(resp.body);
  for (const auto& spec : pod_object["spec"]["containers"]) {
    if (spec["name"] == c["name"]) image = ",image=\"" + spec["image"].get<std::string>() + "\"";
  }
  if (!with_image) image.clear();
  EXPECT_EQ(Value(text, "container_memory_working_set_bytes{namespace=\"" + ns + "\",pod=\"" +
                            name + "\",container=\"" + c["name"].get<std::string>() +
                            "\",node=\"" + node + "\"" + image + "}"),
            std::to_string(c["memory"]["workingSetBytes"].get<uint64_t>()))
      << node;
  EXPECT_EQ(Value(text, Up(node)), "1") << node;
}

// The pod-scoped series of `node` (any family with a node label and a pod label).
bool HasPodSeries(const std::string& text, const std::string& node) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.starts_with("kube_metrics_bridge_")) continue;
    // Pod-spec series (requests, limits, k8s_pod_info) come from the API server's pods, not the
    // node's Summary: they stay while the Summary fails.
    const int row = catalog::FindByName(line.substr(0, line.find_first_of("{ ")));
    if (row >= 0 && catalog::kMetrics[row].source == catalog::Source::kPods) continue;
    if (Contains(line, "pod=\"") && Contains(line, "node=\"" + node + "\"")) return true;
  }
  return false;
}

struct Case {
  const char* fault;   // the simulator's --fault kind
  const char* reason;  // expected reason; "" = healthy
};

// Per-node faults as the exporter meets them: through the API server's node proxy, where a
// kubelet that refuses or fails TLS is the proxy's 503.
constexpr Case kNodeCases[] = {
    {"latency=200ms", ""},       {"latency=5s", "timeout"},     {"hang", "timeout"},
    {"slow-body", "timeout"},    {"refuse", "http_5xx"},        {"tls-unknown-ca", "http_5xx"},
    {"tls-expired", "http_5xx"}, {"tls-no-ip-san", "http_5xx"}, {"http=401", "http_4xx"},
    {"http=403", "http_4xx"},    {"http=404", "http_4xx"},      {"http=429", "http_4xx"},
    {"http=500", "http_5xx"},    {"http=503", "http_5xx"},      {"truncated", "decode"},
    {"not-json", "decode"},      {"deep-nesting", "decode"},    {"bad-numbers", "decode"},
    {"huge=1GiB", "too_large"},  {"duplicate-pods", ""},
};
constexpr int kHealthyNodes = 2;  // sim-node-0 and sim-node-1 have no fault

TEST(FaultMatrix, EveryNodeFaultAgainstTheBinaries) {
  TempDir dir;
  const int cases = static_cast<int>(std::size(kNodeCases));
  const int nodes = kHealthyNodes + cases;
  std::vector<std::string> sim_argv = {KMB_BINARY,
                                       "simulate",
                                       "--nodes",
                                       std::to_string(nodes),
                                       "--pods-per-node",
                                       "2",
                                       "--tls",
                                       "--token",
                                       kToken,
                                       "--stats-period",
                                       "1h",
                                       "--write-kubeconfig",
                                       dir.file("kubeconfig")};
  std::string fault_file;
  for (int i = 0; i < cases; ++i) {
    const std::string rule =
        "node/sim-node-" + std::to_string(kHealthyNodes + i) + ":" + kNodeCases[i].fault;
    // Half on the command line, half from a fault file: both paths are exercised.
    if (i % 2 == 0) {
      sim_argv.push_back("--fault");
      sim_argv.push_back(rule);
    } else {
      fault_file += rule + "\n";
    }
  }
  testing::WriteFile(dir.file("faults.txt"), "# fault matrix\n" + fault_file);
  sim_argv.push_back("--fault-file");
  sim_argv.push_back(dir.file("faults.txt"));
  Child sim(sim_argv, dir.file("sim.out"), dir.file("sim.err"));
  ASSERT_NE(sim.WaitForLine("listening on"), "") << sim.Stderr();

  Child exporter({KMB_BINARY, "--kubeconfig", dir.file("kubeconfig"), "--interval", "2s",
                  "--kubelet-timeout", "1s", "--max-response-bytes", "4MiB",
                  "--max-concurrent-requests", "64", "--web.listen-address", "127.0.0.1:0"},
                 dir.file("exp.out"), dir.file("exp.err"));
  const std::string serving = exporter.WaitForLine("serving metrics", true);
  ASSERT_NE(serving, "") << exporter.Stderr();
  const std::string metrics_url = testing::LogfmtField(serving, "url");
  ASSERT_FALSE(metrics_url.empty()) << serving;

  // Every failing node logs one line naming it and its reason.
  for (int i = 0; i < cases; ++i) {
    if (kNodeCases[i].reason[0] == '\0') continue;
    const std::string node = "sim-node-" + std::to_string(kHealthyNodes + i);
    const std::string line = exporter.WaitForLine("node=" + node + " ", true);
    SCOPED_TRACE(std::string(kNodeCases[i].fault) + " on " + node);
    ASSERT_NE(line, "") << exporter.Stderr();
    EXPECT_TRUE(Contains(line, "node summary failed")) << line;
    EXPECT_EQ(testing::LogfmtField(line, "reason"), kNodeCases[i].reason) << line;
  }
  testing::Fetched scrape;
  for (int tries = 0; tries < 100; ++tries) {  // the first poll with every node has been published
    scrape = testing::HttpGet(metrics_url);
    if (scrape.status == 200 && Contains(scrape.body, Up("sim-node-" + std::to_string(nodes - 1))))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(scrape.status, 200) << scrape.error;
  const std::string& text = scrape.body;

  ClusterConfig cc;
  ASSERT_TRUE(LoadClusterConfig({dir.file("kubeconfig"), "", ""}, &cc).ok());
  KubeClient client(cc, KubeClientOptions{});
  std::map<std::string, int> failing_by_reason;
  for (int n = 0; n < nodes; ++n) {
    const std::string node = "sim-node-" + std::to_string(n);
    const char* fault = n < kHealthyNodes ? "none" : kNodeCases[n - kHealthyNodes].fault;
    const char* why = n < kHealthyNodes ? "" : kNodeCases[n - kHealthyNodes].reason;
    SCOPED_TRACE(std::string(fault) + " on " + node);
    if (why[0] == '\0') {
      // (duplicate-pods: each pod listed twice is exported once, see the check below.)
      ExpectExact(client, text, node);
      continue;
    }
    ++failing_by_reason[why];
    EXPECT_EQ(Value(text, Up(node)), "0");
    EXPECT_FALSE(Contains(text, "node_cpu_usage_seconds_total{node=\"" + node + "\"}"));
    EXPECT_FALSE(HasPodSeries(text, node));
  }
  for (const auto& [why, count] : failing_by_reason) {
    EXPECT_GE(Errors(text, "summary", why), static_cast<uint64_t>(count)) << why;
  }
  // No sample line is repeated (duplicate pods would give duplicate series).
  std::set<std::string> seen;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(seen.insert(line.substr(0, line.rfind(' '))).second) << line;
  }

  EXPECT_TRUE(exporter.Alive());
  EXPECT_TRUE(sim.Alive());
  EXPECT_FALSE(Contains(exporter.Stderr(), kToken));
  EXPECT_FALSE(Contains(exporter.Stdout(), kToken));
  EXPECT_FALSE(Contains(text, kToken));
  EXPECT_EQ(exporter.Stop(), 0);
}

// ---- In process: listener faults, retries, back-off, /metrics during a hang, memory ----

struct Rig : testing::SimRig {
  using SimRig::SimRig;
  std::unique_ptr<Poller> poller;
  Options options;
};

std::unique_ptr<Rig> MakeRig(sim::SimOptions so, Options options = {}) {
  KubeClientOptions co;
  co.timeout_seconds = options.request_timeout_seconds;
  co.connect_timeout_seconds = options.connect_timeout_seconds;
  co.max_response_bytes = options.max_response_bytes;
  auto rig = std::make_unique<Rig>(std::move(so), co);
  if (!rig->sim) return nullptr;
  rig->options = options;
  rig->poller = std::make_unique<Poller>(rig->options, rig->client);
  return rig;
}

Options Quick() {
  Options o;
  o.request_timeout_seconds = 1;
  o.connect_timeout_seconds = 1;
  o.kubelet_timeout_seconds = 1;
  o.max_concurrent_requests = 16;
  return o;
}

// A Quick() rig of `nodes` x `pods_per_node` with `fault` injected; nullptr (and a test
// failure) when it cannot be set up.
std::unique_ptr<Rig> MakeFaultyRig(int nodes, int pods_per_node, const std::string& fault) {
  sim::SimOptions so;
  so.nodes = nodes;
  so.pods_per_node = pods_per_node;
  auto rig = MakeRig(so, Quick());
  if (!rig) return nullptr;
  const Status st = rig->sim->AddFault(fault);
  EXPECT_TRUE(st.ok()) << fault << ": " << st.message();
  if (!st.ok()) return nullptr;
  return rig;
}

// Quick, and without the watch cache: every request of the poll goes to the API server.
Options PerPollLists() {
  Options o = Quick();
  o.watch_cache = false;
  return o;
}

TEST(FaultMatrix, ApiServerFaultsFailTheWholePollWithTheirReason) {
  const Case cases[] = {
      {"tls-unknown-ca", "tls"}, {"tls-expired", "tls"}, {"tls-no-ip-san", "tls"},
      {"refuse", "connect"},     {"hang", "timeout"},    {"http=500", "http_5xx"},
      {"http=401", "http_4xx"},  {"not-json", "decode"},
  };
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 2;
  so.tls = true;
  so.token = kToken;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fault);
    auto rig = MakeRig(so, PerPollLists());
    ASSERT_TRUE(rig);
    ASSERT_TRUE(rig->sim->AddFault(std::string("apiserver:") + c.fault).ok());
    SnapshotPtr snap = rig->poller->Poll();
    EXPECT_EQ(snap->summary.status.reason(), c.reason) << snap->summary.status.message();
    EXPECT_EQ(snap->metrics_api.status.reason(), c.reason) << snap->metrics_api.status.message();
    EXPECT_FALSE(snap->summary.up);
    EXPECT_FALSE(snap->metrics_api.up);
    const std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
    EXPECT_GE(Errors(text, "summary", c.reason), 1u);
    EXPECT_EQ(Value(text, "kube_metrics_bridge_source_up{source=\"metrics-api\"}"), "0");
    EXPECT_FALSE(Contains(snap->summary.status.message(), kToken));
    EXPECT_FALSE(Contains(text, kToken));
    // Healed, the next poll exports everything.
    rig->sim->ClearFaults();
    snap = rig->poller->Poll();
    const std::string healed = RenderExposition(*snap, ExpositionFormat::kText004);
    // (No watch cache here: its back-off after the refused list would make enrichment timing
    // dependent; this test is about the per-poll requests.)
    for (const std::string& node : rig->sim->node_names()) {
      ExpectExact(*rig->client, healed, node, /*with_image=*/false);
    }
  }
}

TEST(FaultMatrix, RetriesOnlyRetryableOutcomesAndCountEachAttempt) {
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 1;
  Options o = Quick();
  o.request_timeout_seconds = 5;
  o.kubelet_timeout_seconds = 5;
  o.max_retries = 2;
  auto rig = MakeRig(so, o);
  ASSERT_TRUE(rig);
  // 503 is retried: three attempts, three errors counted; 404 is not: one.
  ASSERT_TRUE(rig->sim->AddFault("metrics-api:http=503").ok());
  ASSERT_TRUE(rig->sim->AddFault("node/sim-node-1:http=404").ok());
  SnapshotPtr snap = rig->poller->Poll();
  std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_EQ(Errors(text, "metrics-api", "http_5xx"), 3u);
  EXPECT_EQ(Errors(text, "summary", "http_4xx"), 1u);
  ExpectExact(*rig->client, text, "sim-node-0");

  // A 429 whose Retry-After fits the deadline is retried after it.
  ASSERT_TRUE(rig->sim->AddFault("metrics-api:http=429").ok());
  snap = rig->poller->Poll();
  text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_EQ(Errors(text, "metrics-api", "http_4xx"), 3u);

  // The policy itself.
  EXPECT_TRUE(IsRetryable(Status::Error("connect", ""), 0));
  EXPECT_TRUE(IsRetryable(Status::Error("timeout", ""), 0));
  EXPECT_TRUE(IsRetryable(Status::Error("http_5xx", ""), 502));
  EXPECT_FALSE(IsRetryable(Status::Error("http_5xx", ""), 500));
  EXPECT_FALSE(IsRetryable(Status::Error("http_4xx", ""), 403));
  EXPECT_FALSE(IsRetryable(Status::Error("tls", ""), 0));
  EXPECT_FALSE(IsRetryable(Status::Error("decode", ""), 200));
  RetryPolicy p;
  EXPECT_DOUBLE_EQ(RetryDelay(p, 2, 0.5), 0.2);
  EXPECT_DOUBLE_EQ(RetryDelay(p, 3, 0.5), 0.4);
  EXPECT_DOUBLE_EQ(RetryDelay(p, 2, 0.0), 0.1);
  EXPECT_DOUBLE_EQ(RetryDelay(p, 20, 0.5), p.max_delay_seconds);
}

TEST(FaultMatrix, TimeoutRetryMustFitTheDeadline) {
  auto rig = MakeFaultyRig(1, 1, "node/sim-node-0:hang");
  ASSERT_TRUE(rig);
  // The attempt used the whole --kubelet-timeout: no time is left for a retry.
  SnapshotPtr snap = rig->poller->Poll();
  std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_EQ(snap->nodes[0].status.reason(), "timeout");
  EXPECT_EQ(Errors(text, "summary", "timeout"), 1u);
}

TEST(FaultMatrix, FailingNodeBacksOffAndRecoveredNodeResumes) {
  auto rig = MakeFaultyRig(2, 2, "node/sim-node-1:http=500");
  ASSERT_TRUE(rig);
  // Polls 1-3 fail for real; then 1 poll skipped, 1 real failure, 2 skipped.
  const char* expected[] = {"http_5xx", "http_5xx", "http_5xx", "backoff",
                            "http_5xx", "backoff",  "backoff"};
  std::string text;
  for (const char* why : expected) {
    SnapshotPtr snap = rig->poller->Poll();
    EXPECT_EQ(snap->nodes[1].status.reason(), why);
    text = RenderExposition(*snap, ExpositionFormat::kText004);
    EXPECT_EQ(Value(text, Up("sim-node-1")), "0");
    ExpectExact(*rig->client, text, "sim-node-0");
    if (std::string(why) == "backoff") {
      // The real reason stays visible.
      EXPECT_TRUE(Contains(snap->nodes[1].status.message(), "http_5xx"))
          << snap->nodes[1].status.message();
    }
  }
  EXPECT_EQ(Errors(text, "summary", "http_5xx"), 4u);
  EXPECT_EQ(Errors(text, "summary", "backoff"), 3u);
  // Healed: the next real poll exports the node again, with the simulator's exact values.
  rig->sim->ClearFaults();
  SnapshotPtr snap = rig->poller->Poll();
  ASSERT_TRUE(snap->nodes[1].status.ok()) << snap->nodes[1].status.message();
  text = RenderExposition(*snap, ExpositionFormat::kText004);
  ExpectExact(*rig->client, text, "sim-node-1");
  EXPECT_EQ(Errors(text, "summary", "backoff"), 3u);
}

TEST(FaultMatrix, MetricsKeepsAnsweringWhileANodeHangs) {
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 2;
  Options o = Quick();
  o.kubelet_timeout_seconds = 60;  // the poll stays stuck while we scrape
  auto rig = MakeRig(so, o);
  ASSERT_TRUE(rig);
  std::string error;
  ServerOptions sopts;
  sopts.listen_address = "127.0.0.1:0";
  auto server = MetricsServer::Start(sopts, &error);
  ASSERT_TRUE(server) << error;
  server->Publish(std::make_shared<Exposition>(rig->poller->Poll(), WriterOptions{}));

  ASSERT_TRUE(rig->sim->AddFault("node/sim-node-1:hang").ok());  // until the faults are cleared
  auto poll = std::async(std::launch::async, [&] { return rig->poller->Poll(); });
  for (int i = 0; i < 3; ++i) {
    const auto f = testing::HttpGet(server->url() + "/metrics");
    ASSERT_EQ(f.status, 200) << f.error;
    EXPECT_EQ(Value(f.body, Up("sim-node-1")), "1");  // the last published snapshot
    // Answered while the poll is still waiting on the hanging node.
    EXPECT_EQ(poll.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  }
  rig->sim->ClearFaults();
  SnapshotPtr snap = poll.get();
  EXPECT_EQ(snap->nodes[0].status.ok(), true);
}

// The Summary fan-out grows with the kubelets' latency. 8 kubelets answering in 300 ms each
// get a worker each (the base 2 would wait for four such answers in a row, 1.2 s), and once
// they answer at once again the poll goes back to the base workers.
TEST(FaultMatrix, SlowKubeletsGetAWorkerEachAndFastOnesDoNot) {
  auto rig = MakeFaultyRig(8, 1, "node/*:latency=300ms");
  ASSERT_TRUE(rig);
  SnapshotPtr slow = rig->poller->Poll();
  for (const NodeResult& n : slow->nodes) EXPECT_TRUE(n.status.ok()) << n.node;
  EXPECT_EQ(slow->summary_workers, 8u);
  EXPECT_LT(slow->summary.poll_seconds, 0.9);  // two rounds of 300 ms at most, not four

  rig->sim->ClearFaults();
  SnapshotPtr fast = rig->poller->Poll();
  for (const NodeResult& n : fast->nodes) EXPECT_TRUE(n.status.ok()) << n.node;
  EXPECT_GE(fast->summary_workers, 2u);
  EXPECT_LT(fast->summary_workers, 8u);  // one more only per answer slower than 20 ms
  EXPECT_EQ(Value(RenderExposition(*fast, ExpositionFormat::kText004),
                  "kube_metrics_bridge_kubelet_poll_workers"),
            std::to_string(fast->summary_workers));
}

// Kubelets of tens of milliseconds, as real ones are, get the whole fan-out: a worker whose last
// request took over 20 ms counts as slow until one is fast again. (Counting only the requests
// in flight for over 20 ms, a third of 30 ms requests are counted at any moment: 4, 10 and 12
// workers in three runs.)
TEST(FaultMatrix, KubeletsOfTensOfMillisecondsGetTheWholeFanOut) {
  auto rig = MakeFaultyRig(64, 1, "node/*:latency=30ms");
  ASSERT_TRUE(rig);
  SnapshotPtr snap = rig->poller->Poll();
  for (const NodeResult& n : snap->nodes) EXPECT_TRUE(n.status.ok()) << n.node;
  EXPECT_GE(snap->summary_workers, 14u);  // of --max-concurrent-requests 16
}

// A hanging kubelet holds one worker until its deadline (1 s); the poll starts another beside
// it. Three hanging first in the order would take both base workers, and the third would wait
// for one of them: 2 s.
TEST(FaultMatrix, HangingKubeletsHoldOneWorkerEach) {
  auto rig = MakeFaultyRig(12, 1, "node/sim-node-0:hang");
  ASSERT_TRUE(rig);
  ASSERT_TRUE(rig->sim->AddFault("node/sim-node-1:hang").ok());
  ASSERT_TRUE(rig->sim->AddFault("node/sim-node-2:hang").ok());
  SnapshotPtr snap = rig->poller->Poll();
  size_t timeouts = 0;
  for (const NodeResult& n : snap->nodes) {
    if (n.node == "sim-node-0" || n.node == "sim-node-1" || n.node == "sim-node-2") {
      timeouts += n.status.reason() == reason::kTimeout;
    } else {
      EXPECT_TRUE(n.status.ok()) << n.node;
    }
  }
  EXPECT_EQ(timeouts, 3u);
  // At least the base 2 beside the first two hanging; a fifth only if fast nodes were left
  // when the third had hung for 20 ms.
  EXPECT_GE(snap->summary_workers, 4u);
  EXPECT_LT(snap->summary.poll_seconds, 1.8);
}

// /proc/self/status VmHWM (peak resident set) in bytes.
size_t PeakRss() {
  std::istringstream in(testing::ReadFile("/proc/self/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

TEST(FaultMatrix, MemoryStaysBoundedByMaxResponseBytes) {
  sim::SimOptions so;
  so.nodes = 2;
  so.pods_per_node = 5;
  Options o = Quick();
  o.kubelet_timeout_seconds = 20;
  o.max_response_bytes = 8u << 20;
  auto rig = MakeRig(so, o);
  ASSERT_TRUE(rig);
  HttpResponse usual;
  ASSERT_TRUE(rig->client->Get("/api/v1/nodes/sim-node-0/proxy/stats/summary", &usual).ok());

  // Ten times the usual size (spaces after the document) is still within the limit and exact.
  ASSERT_TRUE(
      rig->sim->AddFault("node/sim-node-0:huge=" + std::to_string(usual.body.size() * 10)).ok());
  SnapshotPtr snap = rig->poller->Poll();
  ASSERT_TRUE(snap->nodes[0].status.ok()) << snap->nodes[0].status.message();
  ExpectExact(*rig->client, RenderExposition(*snap, ExpositionFormat::kText004), "sim-node-0");

  // A 1 GiB body is cut off at 8 MiB: the peak resident set grows by far less than the body.
  const size_t before = PeakRss();
  ASSERT_TRUE(rig->sim->AddFault("node/sim-node-0:huge=1GiB").ok());
  snap = rig->poller->Poll();
  EXPECT_EQ(snap->nodes[0].status.reason(), "too_large") << snap->nodes[0].status.message();
  EXPECT_TRUE(snap->nodes[1].status.ok());
  const size_t after = PeakRss();
  std::printf("peak RSS growth while a 1 GiB body is refused at 8 MiB: %zu KiB\n",
              (after - before) / 1024);
  EXPECT_LT(after, before + (64u << 20));
}

// The Metrics API's lists are decoded as they arrive (MetricsApiStream). Broken or odd bodies
// get the same outcome as a decode of the whole body: the same reason and message (a body the
// stream can only hand to the whole decode is fetched again for it), and the Summary is
// exported all the same. A body padded with 10x its size in spaces is decoded exactly.
TEST(FaultMatrix, MetricsApiBodyFaultsAsTheWholeDecodeNamesThem) {
  const Case cases[] = {{"truncated", "decode"},
                        {"not-json", "decode"},
                        {"deep-nesting=100000", "decode"},
                        {"huge=1MiB", ""}};
  const char* kPods = "/apis/metrics.k8s.io/v1beta1/pods";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fault);
    auto rig = MakeFaultyRig(4, 110, std::string("metrics-api:") + c.fault);
    ASSERT_TRUE(rig);
    // What the whole decode of such a body says (the simulator answers alike each time).
    HttpResponse whole;
    ASSERT_TRUE(rig->client->Get(kPods, &whole).ok());
    // The truncated list still holds more than a batch (64 KiB) of items: the stream walks
    // and lets go of some before the body ends, and only the whole decode can then name the
    // error, from the body fetched again.
    if (std::string_view(c.fault) == "truncated") {
      EXPECT_GT(whole.body.size(), 80u << 10);
    }
    std::vector<EntityStats> decoded;
    const Status expected = DecodePodMetrics(whole.body, &decoded);
    SnapshotPtr snap = rig->poller->Poll();
    EXPECT_EQ(snap->metrics_api.status.reason(), c.reason) << snap->metrics_api.status.message();
    if (c.reason[0] != '\0') {
      EXPECT_EQ(snap->metrics_api.status.message(),
                std::string("GET ") + kPods + ": " + expected.message());
    } else {
      EXPECT_TRUE(expected.ok()) << expected.message();
      size_t api_pods = 0;
      for (const EntityStats& e : snap->metrics_api_entities) {
        api_pods += e.entity == catalog::Entity::kApiPod;
      }
      EXPECT_EQ(api_pods, 440u);
    }
    const std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
    for (const std::string& node : rig->sim->node_names()) ExpectExact(*rig->client, text, node);
  }
}

TEST(FaultMatrix, DeepNestingIsADecodeErrorNotACrash) {
  auto rig = MakeFaultyRig(2, 1, "node/sim-node-0:deep-nesting=2000000");
  ASSERT_TRUE(rig);
  SnapshotPtr snap = rig->poller->Poll();
  EXPECT_EQ(snap->nodes[0].status.reason(), "decode");
  EXPECT_TRUE(Contains(snap->nodes[0].status.message(), "sim-node-0"))
      << snap->nodes[0].status.message();
  ExpectExact(*rig->client, RenderExposition(*snap, ExpositionFormat::kText004), "sim-node-1");
}

}  // namespace
}  // namespace kmb
