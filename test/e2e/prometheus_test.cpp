// End to end: the simulator and the exporter run as separate processes (as users run them);
// a real Prometheus server (Debian package `prometheus`) scrapes the exporter, and its query
// API must return the simulator's values. promtool checks both exposition formats.

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/test_util.h"
#include "e2e/prometheus_support.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/util/sanitizers.h"

namespace kmb {
namespace {

using testing::Child;
using testing::HttpGet;
using testing::Query;
using testing::ScalarOf;
using testing::TempDir;
using testing::WaitFor;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";

void ExpectPromtoolAccepts(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string file = dir.file(name);
  testing::WriteFile(file, body);
  std::string out;
  int rc = testing::RunCommand(std::string(kPromtool) + " check metrics < " + file, &out);
  EXPECT_EQ(rc, 0) << name << ": " << out;
}

TEST(EndToEnd, PrometheusScrapesTheExporterAndSeesTheSimulatorsValues) {
  ASSERT_EQ(access(kPrometheus, X_OK), 0) << "scripts/install-deps.sh installs prometheus";
  TempDir dir;
  const std::string kc = dir.file("kubeconfig");
  const std::string token = "e2e-token-never-logged";

  Child sim({KMB_BINARY, "simulate", "--listen", "127.0.0.1:0", "--nodes", "3",
             "--pods-per-node", "14", "--tls", "--token", token, "--stats-period", "1h",
             "--write-kubeconfig", kc},
            dir.file("sim.out"), dir.file("sim.err"));
  ASSERT_NE(sim.WaitForLine("listening on"), "") << sim.Stderr();

  Child exporter({KMB_BINARY, "--kubeconfig", kc, "--web.listen-address", "127.0.0.1:0",
                  "--interval", "2s", "--log.level=debug",
                  // The whole catalog, PSI averages included, goes through Prometheus.
                  testing::AllMetricGroupsFlag()},
                 dir.file("exporter.out"), dir.file("exporter.err"));
  std::string line = exporter.WaitForLine("serving metrics", true);
  ASSERT_NE(line, "") << exporter.Stderr();
  const std::string metrics_url = testing::LogfmtField(line, "url");
  const std::string base = metrics_url.substr(0, metrics_url.rfind('/'));
  ASSERT_TRUE(WaitFor([&] { return HttpGet(base + "/readyz").status == 200; },
                      std::chrono::seconds(30)))
      << exporter.Stderr();

  // promtool accepts both formats.
  auto text = HttpGet(metrics_url);
  auto om = HttpGet(metrics_url, {"Accept: application/openmetrics-text; version=1.0.0"});
  ASSERT_EQ(text.status, 200);
  ExpectPromtoolAccepts(dir, "text.prom", text.body);
  // promtool (2.42) lints only text 0.0.4; the OpenMetrics body is checked by Prometheus' own
  // OpenMetrics parser below: Prometheus asks for OpenMetrics first, and the exporter's debug
  // log shows that it was served that format.
  ASSERT_TRUE(om.body.ends_with("# EOF\n"));

  // A real Prometheus scrapes it.
  int prom_port = testing::FreePort();
  std::string host_port = metrics_url.substr(7, metrics_url.find('/', 7) - 7);
  testing::WriteFile(dir.file("prometheus.yml"),
                     "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                     "scrape_configs:\n- job_name: kmb\n  static_configs:\n"
                     "  - targets: ['" + host_port + "']\n"
                     "- job_name: prometheus\n  static_configs:\n"
                     "  - targets: ['127.0.0.1:" + std::to_string(prom_port) + "']\n");
  const std::string prom = "http://127.0.0.1:" + std::to_string(prom_port);
  Child prometheus({kPrometheus, "--config.file=" + dir.file("prometheus.yml"),
                    "--storage.tsdb.path=" + dir.file("data"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                   dir.file("prom.out"), dir.file("prom.err"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return ScalarOf(Query(prom, "count_over_time(up{job=\"kmb\"}[5m])")) >= 2 &&
               ScalarOf(Query(prom, "up{job=\"kmb\"}")) == 1;
      },
      std::chrono::seconds(60)))
      << prometheus.Stderr();

  EXPECT_NE(exporter.Stderr().find("msg=scrape format=openmetrics gzip=true"), std::string::npos)
      << "Prometheus should have scraped OpenMetrics with gzip";

  // The core series hold the simulator's values (read straight from the simulator).
  ClusterConfig cc;
  ASSERT_TRUE(LoadClusterConfig({kc, "", ""}, &cc).ok());
  KubeClient client(cc, {});
  for (const std::string node : {"sim-node-0", "sim-node-1", "sim-node-2"}) {
    HttpResponse resp;
    ASSERT_TRUE(client.Get("/api/v1/nodes/" + node + "/proxy/stats/summary", &resp).ok());
    auto s = nlohmann::json::parse(resp.body);
    double cpu = s["node"]["cpu"]["usageCoreNanoSeconds"].get<uint64_t>() / 1e9;
    double ws = s["node"]["memory"]["workingSetBytes"].get<double>();
    EXPECT_NEAR(ScalarOf(Query(prom, "node_cpu_usage_seconds_total{node=\"" + node + "\"}")), cpu,
                cpu * 1e-12)
        << node;
    EXPECT_EQ(ScalarOf(Query(prom, "node_memory_working_set_bytes{node=\"" + node + "\"}")), ws)
        << node;
    const auto& pod = s["pods"][0];
    std::string sel = "{namespace=\"" + pod["podRef"]["namespace"].get<std::string>() +
                      "\",pod=\"" + pod["podRef"]["name"].get<std::string>() + "\",container=\"" +
                      pod["containers"][0]["name"].get<std::string>() + "\",node=\"" + node +
                      "\"}";
    EXPECT_EQ(ScalarOf(Query(prom, "container_memory_working_set_bytes" + sel)),
              pod["containers"][0]["memory"]["workingSetBytes"].get<double>())
        << sel;
    EXPECT_EQ(ScalarOf(Query(prom, "kube_metrics_bridge_source_up{source=\"summary\",node=\"" +
                                       node + "\"}")),
              1);
  }
  HttpResponse nm;
  ASSERT_TRUE(client.Get("/apis/metrics.k8s.io/v1beta1/nodes", &nm).ok());
  EXPECT_EQ(Query(prom, "k8s_metrics_api_node_cpu_usage_cores").size(), 3u);
  EXPECT_EQ(Query(prom, "k8s_metrics_api_container_memory_working_set_bytes").size(), 3u * 14 * 2);
  EXPECT_EQ(ScalarOf(Query(prom, "kube_metrics_bridge_source_up{source=\"metrics-api\"}")), 1);
  EXPECT_EQ(Query(prom, "kube_metrics_bridge_build_info").size(), 1u);
  // The process metrics describe the exporter process (issue 7: its RSS curve in Prometheus).
  {
    std::ifstream statm("/proc/" + std::to_string(exporter.pid()) + "/statm");
    double pages = 0, resident = 0;
    statm >> pages >> resident;
    const double rss = resident * static_cast<double>(sysconf(_SC_PAGESIZE));
    const double seen = ScalarOf(Query(prom, "process_resident_memory_bytes{job=\"kmb\"}"));
    EXPECT_GT(seen, rss / 2) << rss;
    EXPECT_LT(seen, rss * 2) << rss;
    EXPECT_NEAR(ScalarOf(Query(prom, "process_start_time_seconds{job=\"kmb\"}")),
                static_cast<double>(std::time(nullptr)), 300);
    EXPECT_GT(ScalarOf(Query(prom, "process_open_fds{job=\"kmb\"}")), 3);
    // AddressSanitizer replaces malloc, whose statistics then stay 0.
    if (!KMB_ASAN) {
      EXPECT_GT(ScalarOf(Query(prom, "kube_metrics_bridge_heap_bytes{state=\"in_use\"}")), 1e6);
    }
  }
  // Its threads carry names, as `top -H` and `perf --sort comm` show them
  // (docs/troubleshooting.md, "Which thread uses the CPU").
  {
    std::set<std::string> names;
    const std::string tasks = "/proc/" + std::to_string(exporter.pid()) + "/task";
    for (const auto& t : std::filesystem::directory_iterator(tasks)) {
      std::ifstream comm(t.path() / "comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    for (const char* want :
         {"kmb-poll", "kmb-summary-1", "kmb-metricsapi", "kmb-watch-pods", "kmb-watch-nodes"}) {
      EXPECT_TRUE(names.count(want)) << want << " not among the exporter's threads";
    }
  }
  // Pod-spec enrichment (watch cache): every container series carries image (the mixin's
  // image!="" filter), every pod has k8s_pod_info and its requests.
  EXPECT_EQ(Query(prom, "container_memory_working_set_bytes{image!=\"\"}").size(), 3u * 14 * 2);
  EXPECT_EQ(Query(prom, "k8s_pod_info").size(), 3u * 14);
  EXPECT_FALSE(Query(prom, "k8s_container_cpu_request_utilization").empty());

  // Every exposed sample was ingested; none rejected.
  size_t samples = 0;
  std::istringstream in(text.body);
  for (std::string l; std::getline(in, l);) samples += !l.empty() && l[0] != '#';
  EXPECT_EQ(ScalarOf(Query(prom, "scrape_samples_scraped{job=\"kmb\"}")),
            static_cast<double>(samples));
  for (const char* rejected :
       {"prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exceeded_sample_limit_total"}) {
    auto r = Query(prom, rejected);  // Prometheus scrapes itself, so these exist
    ASSERT_FALSE(r.empty()) << rejected;
    EXPECT_EQ(ScalarOf(r), 0) << rejected;
  }

  // SIGTERM: exit 0 promptly. And the token never reached the logs.
  EXPECT_EQ(exporter.Stop(std::chrono::milliseconds(5000)), 0);
  EXPECT_EQ(exporter.Stderr().find(token), std::string::npos);
  EXPECT_EQ(sim.Stop(), 0);
}

}  // namespace
}  // namespace kmb
