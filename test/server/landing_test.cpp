// The landing page: the pure renderer on a hand-made snapshot, and the real exporter's page
// loaded in headless Chromium (DOM and screenshot).

#include "kmb/server/landing.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <regex>
#include <set>
#include <thread>

#include "common/test_util.h"
#include "kmb/util/log.h"

namespace kmb {
namespace {

catalog::MetricId Row(catalog::Entity entity, std::string_view path) {
  const int row = catalog::Find(entity, path);
  EXPECT_GE(row, 0) << path;
  return static_cast<catalog::MetricId>(row);
}

EntityStats Pod(const std::string& ns, const std::string& name, const std::string& node,
                uint64_t nano_cores, uint64_t working_set) {
  EntityStats e;
  e.entity = catalog::Entity::kPod;
  e.labels = {ns, name, node, "uid-" + name};
  e.samples = {Sample::Uint(Row(catalog::Entity::kPod, "cpu.usageNanoCores"), nano_cores),
               Sample::Uint(Row(catalog::Entity::kPod, "memory.workingSetBytes"), working_set)};
  return e;
}

Snapshot TwoNodes() {
  Snapshot s;
  s.polls_total = 7;
  s.taken_unix_ms = 1'700'000'000'000;
  s.summary.enabled = true;
  s.summary.up = true;
  s.metrics_api.enabled = true;
  s.metrics_api.up = false;
  s.metrics_api.status = Status::Error(reason::kHttp5xx, "GET /apis/metrics.k8s.io: HTTP 503");
  NodeResult a;
  a.node = "node-a";
  EntityStats node;
  node.entity = catalog::Entity::kNode;
  node.labels = {"node-a"};
  node.samples = {Sample::Uint(Row(catalog::Entity::kNode, "cpu.usageNanoCores"), 1'500'000'000),
                  Sample::Uint(Row(catalog::Entity::kNode, "memory.workingSetBytes"), 3ull << 30),
                  Sample::Uint(Row(catalog::Entity::kNode, "memory.availableBytes"), 1ull << 30)};
  a.summary.entities.push_back(node);
  a.summary.entities.push_back(Pod("kube-system", "busy", "node-a", 900'000'000, 10 << 20));
  a.summary.entities.push_back(Pod("default", "<fat>", "node-a", 1'000'000, 2ull << 30));
  a.summary.entities.push_back(Pod("default", "idle", "node-a", 0, 1 << 20));
  NodeResult b;
  b.node = "node-b";
  b.status = Status::Error(reason::kTimeout, "GET .../node-b/proxy/stats/summary: timed out");
  s.nodes = {a, b};
  s.errors_total[{"summary", "timeout"}] = 3;
  s.errors_total[{"metrics-api", "http_5xx"}] = 1;
  return s;
}

TEST(Landing, KubectlTopOfTheSnapshot) {
  const Snapshot s = TwoNodes();
  LandingPageInfo info;
  info.top_pods = 2;
  const std::string page = RenderLandingPage(&s, info);
  // Nodes: cores, working set, % of capacity (working set + available), pod count.
  EXPECT_NE(page.find("<td>node-a</td><td>ok</td><td class=\"n\">1.500</td><td class=\"n\">"
                      "3.00 GiB</td><td class=\"n\">75%</td><td class=\"n\">3</td>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td>node-b</td><td class=\"fail\""), std::string::npos);
  EXPECT_NE(page.find(">timeout</td>"), std::string::npos);
  // Top pods by CPU, then by memory; two rows each; names escaped.
  const size_t cpu = page.find("id=\"top-cpu\"");
  const size_t mem = page.find("id=\"top-memory\"");
  ASSERT_NE(cpu, std::string::npos);
  ASSERT_NE(mem, std::string::npos);
  const std::string cpu_table = page.substr(cpu, mem - cpu);
  EXPECT_LT(cpu_table.find("busy"), cpu_table.find("&lt;fat&gt;"));
  EXPECT_EQ(cpu_table.find("idle"), std::string::npos) << "top 2 only";
  const std::string mem_table = page.substr(mem, page.find("<h2>Sources") - mem);
  EXPECT_LT(mem_table.find("&lt;fat&gt;"), mem_table.find("busy"));
  EXPECT_NE(mem_table.find("2.00 GiB"), std::string::npos);
  EXPECT_EQ(page.find("<fat>"), std::string::npos) << "escaped";
  // Source health and errors by reason.
  EXPECT_NE(page.find("up, 1/2 nodes"), std::string::npos);
  EXPECT_NE(page.find("HTTP 503"), std::string::npos);
  EXPECT_NE(page.find("<td>summary</td><td>timeout</td><td class=\"n\">3</td>"), std::string::npos);
  EXPECT_NE(page.find("2023-11-14 22:13:20 UTC"), std::string::npos) << "snapshot time";
  EXPECT_NE(page.find(std::string(Version())), std::string::npos);
  EXPECT_NE(page.find("http-equiv=\"refresh\" content=\"15\""), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos) << "no external assets";
}

TEST(Landing, WaitingForTheFirstPoll) {
  const std::string page = RenderLandingPage(nullptr, LandingPageInfo{});
  EXPECT_NE(page.find("Waiting for the first poll"), std::string::npos);
  EXPECT_NE(page.find("href=\"/metrics\""), std::string::npos);
}

// Headless Chromium loads the real exporter's `/` on the simulated cluster.
TEST(Landing, RendersInHeadlessChromium) {
  std::string out;
  if (testing::RunCommand("command -v chromium", &out) != 0) {
    GTEST_FAIL() << "chromium is not installed (scripts/install-deps.sh installs it)";
  }
  testing::TempDir dir;
  const int port = testing::FreePort();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  testing::Child exporter(
      {KMB_BINARY, "--demo", "--web.listen-address", "127.0.0.1:" + std::to_string(port)},
      dir.file("stdout"), dir.file("stderr"));
  ASSERT_FALSE(exporter.WaitForLine("serving metrics", true).empty()) << exporter.Stderr();
  for (int i = 0; i < 100 && testing::HttpGet(base + "/readyz").status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string metrics = testing::HttpGet(base + "/metrics").body;
  std::set<std::string> pods;
  const std::regex pod_label(
      "pod_memory_working_set_bytes\\{namespace=\"[^\"]*\",pod=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(metrics.begin(), metrics.end(), pod_label);
       it != std::sregex_iterator(); ++it) {
    pods.insert((*it)[1]);
  }
  ASSERT_GT(pods.size(), 20u) << "the demo has more pods than the top-20 tables show";

  const std::filesystem::path output = std::filesystem::current_path() / "test-output" / "server";
  std::filesystem::create_directories(output);
  const std::string png = (output / "landing.png").string();
  std::filesystem::remove(png);
  const std::string chromium =
      "timeout 60 chromium --headless --no-sandbox --disable-gpu "
      "--disable-dev-shm-usage --hide-scrollbars --user-data-dir=" +
      dir.file("chromium") + " --window-size=1280,900 ";
  // One run writes the screenshot and prints the DOM (Chromium's start-up is most of the cost).
  std::string dom;
  ASSERT_EQ(testing::RunCommand("{ " + chromium + "--dump-dom --screenshot=" + png + " " + base +
                                    "/ 2>" + dir.file("chromium.log") + "; }",
                                &dom),
            0)
      << dom << testing::ReadFile(dir.file("chromium.log"));
  for (const char* node : {"sim-node-0", "sim-node-1", "sim-node-2"}) {
    EXPECT_NE(dom.find(std::string("<td>") + node + "</td>"), std::string::npos) << node;
  }
  // Both top-pods tables: 20 rows of pods the exporter really has.
  for (const char* table : {"top-cpu", "top-memory"}) {
    const size_t start = dom.find(std::string("id=\"") + table + "\"");
    ASSERT_NE(start, std::string::npos) << table << "\n" << dom;
    const std::string rows = dom.substr(start, dom.find("</table>", start) - start);
    const std::regex row("<tr><td>[^<]*</td><td>([^<]+)</td>");
    int count = 0;
    for (auto it = std::sregex_iterator(rows.begin(), rows.end(), row);
         it != std::sregex_iterator(); ++it) {
      ++count;
      EXPECT_TRUE(pods.count((*it)[1])) << (*it)[1];
    }
    EXPECT_EQ(count, 20) << table;
  }
  EXPECT_NE(dom.find("summary"), std::string::npos);
  EXPECT_NE(dom.find("metrics-api"), std::string::npos);

  ASSERT_TRUE(std::filesystem::exists(png)) << testing::ReadFile(dir.file("chromium.log"));
  const std::string bytes = testing::ReadFile(png);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  // A blank 1280x900 page compresses to a few KB; tables of text do not.
  EXPECT_GT(bytes.size(), 20'000u) << png;
  std::cout << "screenshot: " << png << "\n";
  EXPECT_EQ(exporter.Stop(), 0);
}

}  // namespace
}  // namespace kmb
