// Cardinality control (--namespaces, --namespaces-exclude, --metric-allowlist,
// --metric-denylist, --collect-all-interfaces, --series-limit): each filter's effect on the
// exposition, in exact counts, against a snapshot polled from the simulated cluster over HTTP
// (or decoded from a real kubelet fixture), and kube_metrics_bridge_series_dropped_total.

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "common/sim_rig.h"
#include "common/test_util.h"
#include "kmb/app/poller.h"
#include "kmb/catalog/catalog.h"
#include "kmb/config/options.h"
#include "kmb/exposition/filter.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/sim/cluster.h"
#include "kmb/sources/summary.h"

namespace kmb {
namespace {

// One data or self series line of a text exposition.
struct Series {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value;
};

std::vector<Series> Parse(const std::string& text) {
  static const std::regex kLabel(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)")re");
  std::vector<Series> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    Series s;
    size_t brace = line.find('{');
    size_t space = line.rfind(' ');
    s.name = line.substr(0, std::min(brace, space));
    s.value = line.substr(space + 1);
    if (brace != std::string::npos) {
      std::string lbls = line.substr(brace, line.rfind('}') - brace);
      for (std::sregex_iterator it(lbls.begin(), lbls.end(), kLabel), end; it != end; ++it) {
        s.labels[(*it)[1]] = (*it)[2];
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

// The exporter's own series (kube_metrics_bridge_*, process_*): never filtered.
bool IsSelf(const Series& s) {
  int id = catalog::FindByName(s.name);
  return id >= 0 && catalog::kMetrics[id].source == catalog::Source::kSelf;
}

size_t CountIf(const std::vector<Series>& all, const std::function<bool(const Series&)>& pred) {
  return static_cast<size_t>(std::count_if(all.begin(), all.end(), pred));
}

std::string Dropped(const std::vector<Series>& all, std::string_view reason) {
  for (const Series& s : all) {
    if (s.name == "kube_metrics_bridge_series_dropped_total" && s.labels.at("reason") == reason) {
      return s.value;
    }
  }
  return "absent";
}

std::shared_ptr<SeriesFilter> Filter(const SeriesFilterOptions& o) {
  std::string error;
  auto f = SeriesFilter::Create(o, &error);
  EXPECT_TRUE(f) << error;
  return f;
}

// Renders `snap` with every metric group and `filter`.
std::vector<Series> Render(const Snapshot& snap, std::shared_ptr<SeriesFilter> filter) {
  WriterOptions w;
  w.metric_groups = AllMetricGroups();
  w.filter = std::move(filter);
  return Parse(RenderExposition(snap, ExpositionFormat::kText004, w));
}

// A snapshot of 2 nodes x 6 pods x 2 containers from the simulated cluster, polled once.
class SimulatedSnapshot : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim::SimOptions so = testing::SimOf(2, 6);
    so.containers_per_pod = 2;
    testing::SimRig rig(so);
    ASSERT_TRUE(rig.sim);
    Options options;
    Poller poller(options, rig.client);
    snap_ = new SnapshotPtr(poller.Poll());
    ASSERT_TRUE((*snap_)->metrics_api.up);
    for (const NodeResult& n : (*snap_)->nodes) ASSERT_TRUE(n.status.ok()) << n.node;
    all_ = new std::vector<Series>(Render(**snap_, nullptr));
  }
  static void TearDownTestSuite() {
    delete snap_;
    delete all_;
  }
  static const Snapshot& snap() { return **snap_; }
  static const std::vector<Series>& all() { return *all_; }

  // `got` lacks exactly the series of all() that `dropped` selects (there are some), and
  // counts them under `reason`.
  static void ExpectDroppedExactly(const std::vector<Series>& got,
                                   const std::function<bool(const Series&)>& dropped,
                                   std::string_view reason) {
    const size_t expected = CountIf(all(), dropped);
    ASSERT_GT(expected, 0u);
    EXPECT_EQ(CountIf(got, dropped), 0u);
    EXPECT_EQ(got.size(), all().size() - expected);
    EXPECT_EQ(Dropped(got, reason), std::to_string(expected));
  }

  static std::set<std::string> Namespaces() {
    std::set<std::string> ns;
    for (const Series& s : all()) {
      if (s.labels.contains("namespace")) ns.insert(s.labels.at("namespace"));
    }
    return ns;
  }

 private:
  static SnapshotPtr* snap_;
  static std::vector<Series>* all_;
};
SnapshotPtr* SimulatedSnapshot::snap_ = nullptr;
std::vector<Series>* SimulatedSnapshot::all_ = nullptr;

TEST_F(SimulatedSnapshot, NoFilterDropsNothingAndShowsEveryReasonAtZero) {
  SeriesFilterOptions o;
  o.collect_all_interfaces = true;
  auto got = Render(snap(), Filter(o));
  EXPECT_EQ(got.size(), all().size());
  for (const char* r : {"namespace", "interface", "metric", "series_limit"}) {
    EXPECT_EQ(Dropped(got, r), "0") << r;
  }
  // The simulator's pods have more than the default interface; with no filter at all (the
  // library default) they are all there.
  EXPECT_GT(CountIf(all(), [](const Series& s) { return s.labels.contains("interface"); }), 0u);
}

TEST_F(SimulatedSnapshot, NamespacesKeepsOnlyThoseAndCountsTheRest) {
  const std::set<std::string> ns = Namespaces();
  ASSERT_GE(ns.size(), 2u) << "the simulator should spread pods over namespaces";
  const std::string keep = *ns.begin();
  SeriesFilterOptions o;
  o.namespaces = {keep};
  o.collect_all_interfaces = true;
  auto got = Render(snap(), Filter(o));
  auto in_ns = [&](const Series& s) { return s.labels.contains("namespace"); };
  auto is_keep = [&](const Series& s) { return in_ns(s) && s.labels.at("namespace") == keep; };
  const size_t expected_kept = CountIf(all(), is_keep);
  const size_t expected_dropped = CountIf(all(), in_ns) - expected_kept;
  ASSERT_GT(expected_kept, 0u);
  EXPECT_EQ(CountIf(got, in_ns), expected_kept);
  EXPECT_EQ(CountIf(got, is_keep), expected_kept);
  // Node-level series (no namespace label) are untouched.
  auto node_level = [&](const Series& s) { return !in_ns(s) && !IsSelf(s); };
  EXPECT_EQ(CountIf(got, node_level), CountIf(all(), node_level));
  EXPECT_EQ(Dropped(got, "namespace"), std::to_string(expected_dropped));
  // Metrics API pods and containers are filtered too.
  EXPECT_EQ(CountIf(got,
                    [&](const Series& s) {
                      return s.name.rfind("k8s_metrics_api_pod", 0) == 0 && !is_keep(s);
                    }),
            0u);
}

TEST_F(SimulatedSnapshot, NamespacesExcludeDropsExactlyThose) {
  const std::set<std::string> ns = Namespaces();
  const std::string drop = *ns.begin();
  SeriesFilterOptions o;
  o.namespaces_exclude = {drop};
  o.collect_all_interfaces = true;
  auto got = Render(snap(), Filter(o));
  ExpectDroppedExactly(
      got,
      [&](const Series& s) {
        return s.labels.contains("namespace") && s.labels.at("namespace") == drop;
      },
      "namespace");
}

TEST_F(SimulatedSnapshot, AllowlistKeepsMatchingFamiliesAndSelfMetrics) {
  SeriesFilterOptions o;
  o.metric_allowlist = {"container_.*", "k8s_metrics_api_node_cpu_usage_cores"};
  o.collect_all_interfaces = true;
  auto got = Render(snap(), Filter(o));
  const std::regex re("container_.*|k8s_metrics_api_node_cpu_usage_cores");
  auto match = [&](const Series& s) { return std::regex_match(s.name, re); };
  size_t expected = CountIf(all(), match);
  ASSERT_GT(expected, 0u);
  EXPECT_EQ(CountIf(got, [&](const Series& s) { return !IsSelf(s); }), expected);
  EXPECT_EQ(CountIf(got, [&](const Series& s) { return !IsSelf(s) && !match(s); }), 0u);
  // Anchored: k8s_container_* (not starting with container_) is not exported.
  EXPECT_EQ(CountIf(got, [](const Series& s) { return s.name.rfind("k8s_container_", 0) == 0; }),
            0u);
  EXPECT_EQ(
      Dropped(got, "metric"),
      std::to_string(CountIf(all(), [&](const Series& s) { return !IsSelf(s) && !match(s); })));
  // Self-metrics stay.
  EXPECT_EQ(CountIf(got, IsSelf), CountIf(all(), IsSelf));
}

TEST_F(SimulatedSnapshot, DenylistDropsMatchingFamilies) {
  SeriesFilterOptions o;
  o.metric_denylist = {".*_psi_.*", "pod_.*"};
  o.collect_all_interfaces = true;
  auto got = Render(snap(), Filter(o));
  const std::regex re(".*_psi_.*|pod_.*");
  ExpectDroppedExactly(
      got, [&](const Series& s) { return !IsSelf(s) && std::regex_match(s.name, re); }, "metric");
}

TEST_F(SimulatedSnapshot, DefaultExportsOnlyTheDefaultInterface) {
  SeriesFilterOptions o;  // collect_all_interfaces = false
  auto got = Render(snap(), Filter(o));
  auto iface = [](const Series& s) { return s.labels.contains("interface"); };
  std::set<std::string> names;
  for (const Series& s : got) {
    if (iface(s)) names.insert(s.labels.at("interface"));
  }
  // The simulator marks eth0 as the default of nodes and pods (network.name).
  EXPECT_EQ(names, std::set<std::string>{"eth0"});
  const size_t eth0 = CountIf(
      all(), [&](const Series& s) { return iface(s) && s.labels.at("interface") == "eth0"; });
  EXPECT_EQ(CountIf(got, iface), eth0);
  EXPECT_EQ(Dropped(got, "interface"), std::to_string(CountIf(all(), iface) - eth0));
  o.collect_all_interfaces = true;
  EXPECT_EQ(Render(snap(), Filter(o)).size(), all().size());
}

TEST_F(SimulatedSnapshot, SeriesLimitKeepsWholeEntitiesInOrder) {
  // The oracle: entities in snapshot order (nodes, the Metrics API, then the pod specs), each
  // kept whole while the running total stays within the budget; the first that does not fit
  // ends the exposition.
  std::vector<size_t> sizes;
  for (const NodeResult& n : snap().nodes) {
    for (const EntityStats& e : n.summary.entities) sizes.push_back(e.samples.size());
  }
  for (const EntityStats& e : snap().metrics_api_entities) sizes.push_back(e.samples.size());
  for (const EntityStats& e : snap().pod_entities) sizes.push_back(e.samples.size());
  size_t total = 0;
  for (size_t s : sizes) total += s;
  const size_t data = CountIf(all(), [](const Series& s) { return !IsSelf(s); });
  ASSERT_EQ(total, data);
  for (uint64_t limit : {uint64_t{1}, uint64_t{total / 3}, uint64_t{total / 2 + 7}, uint64_t{total},
                         uint64_t{total + 1000}}) {
    size_t kept = 0;
    for (size_t s : sizes) {
      if (kept + s > limit) break;
      kept += s;
    }
    SeriesFilterOptions o;
    o.collect_all_interfaces = true;
    o.series_limit = limit;
    auto got = Render(snap(), Filter(o));
    EXPECT_EQ(CountIf(got, [](const Series& s) { return !IsSelf(s); }), kept) << limit;
    EXPECT_EQ(Dropped(got, "series_limit"), std::to_string(total - kept)) << limit;
    // The exporter's own series are not part of the budget, and count what was exported.
    uint64_t reported = 0;
    for (const Series& s : got) {
      if (s.name == "kube_metrics_bridge_series") reported += std::stoull(s.value);
    }
    EXPECT_EQ(reported, kept) << limit;
  }
}

TEST_F(SimulatedSnapshot, DroppedTotalIsCumulativeOncePerSnapshotWhateverTheFormats) {
  SeriesFilterOptions o;
  o.namespaces_exclude = {*Namespaces().begin()};
  auto filter = Filter(o);
  WriterOptions w;
  w.metric_groups = AllMetricGroups();
  w.filter = filter;
  Exposition first(std::make_shared<Snapshot>(snap()), w);
  first.Prepare(BodySet::PrometheusDefault());
  auto a = Parse(first.Body(ExpositionFormat::kText004));
  const uint64_t per_poll = std::stoull(Dropped(a, "namespace"));
  ASSERT_GT(per_poll, 0u);
  EXPECT_EQ(first.dropped()[static_cast<size_t>(DropReason::kNamespace)], per_poll);
  // Another format of the same snapshot does not count again.
  EXPECT_NE(first.Body(ExpositionFormat::kOpenMetrics100)
                .find("kube_metrics_bridge_series_dropped_total{reason=\"namespace\"} " +
                      std::to_string(per_poll) + "\n"),
            std::string::npos);
  Exposition second(std::make_shared<Snapshot>(snap()), w);
  auto b = Parse(second.Body(ExpositionFormat::kText004));
  EXPECT_EQ(Dropped(b, "namespace"), std::to_string(2 * per_poll));
  EXPECT_EQ(second.GzipBody(ExpositionFormat::kText004).empty(), false);
}

// Real kubelet payloads: which interface is the default is what the kubelet says.
NodeSummary DecodeFixture(const std::string& name) {
  std::string body = testing::ReadFile(std::string(KMB_FIXTURES_DIR) + "/summary/" + name);
  NodeSummary out;
  Status st = DecodeSummary(body, "n", &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

Snapshot OneNode(NodeSummary summary) {
  Snapshot s;
  s.summary.enabled = true;
  NodeResult r;
  r.node = "n";
  r.summary = std::move(summary);
  s.nodes.push_back(std::move(r));
  return s;
}

TEST(Interfaces, LinuxFixtureDefaultIsNetworkName) {
  // k8s 1.30 minikube: node and every pod list 10 interfaces; network.name is eth0.
  Snapshot snap = OneNode(DecodeFixture("nri-kubernetes-k8s-1.30-minikube-stats-summary.json"));
  auto all = Render(snap, nullptr);
  auto def = Render(snap, Filter({}));
  auto iface = [](const Series& s) { return s.labels.contains("interface"); };
  std::set<std::string> all_names, def_names;
  for (const Series& s : all) {
    if (iface(s)) all_names.insert(s.labels.at("interface"));
  }
  for (const Series& s : def) {
    if (iface(s)) def_names.insert(s.labels.at("interface"));
  }
  EXPECT_EQ(all_names.size(), 10u);
  EXPECT_EQ(def_names, std::set<std::string>{"eth0"});
  const size_t eth0 =
      CountIf(all, [&](const Series& s) { return iface(s) && s.labels.at("interface") == "eth0"; });
  EXPECT_EQ(CountIf(def, iface), eth0);
  EXPECT_EQ(Dropped(def, "interface"), std::to_string(CountIf(all, iface) - eth0));
}

TEST(Interfaces, WindowsNodeMarksNoDefault) {
  // Windows kubelets send network.interfaces[] but no default (network.name is ""): by
  // default no node interface is exported; pods name theirs.
  Snapshot snap =
      OneNode(DecodeFixture("datadog-integrations-core-kubelet-windows-stats-summary.json"));
  auto all = Render(snap, nullptr);
  auto def = Render(snap, Filter({}));
  auto node_iface = [](const Series& s) {
    return s.labels.contains("interface") && !s.labels.contains("pod");
  };
  auto pod_iface = [](const Series& s) {
    return s.labels.contains("interface") && s.labels.contains("pod");
  };
  EXPECT_GT(CountIf(all, node_iface), 0u);
  EXPECT_EQ(CountIf(def, node_iface), 0u);
  EXPECT_EQ(CountIf(def, pod_iface), CountIf(all, pod_iface));
  SeriesFilterOptions o;
  o.collect_all_interfaces = true;
  EXPECT_EQ(Render(snap, Filter(o)).size(), all.size());
}

TEST(Interfaces, UnnamedDefaultOf2016KubeletIsKept) {
  Snapshot snap = OneNode(DecodeFixture("telegraf-kubernetes-test-stats-summary-2016.json"));
  auto all = Render(snap, nullptr);
  auto def = Render(snap, Filter({}));
  auto iface = [](const Series& s) { return s.name.find("network") != std::string::npos; };
  ASSERT_GT(CountIf(all, iface), 0u);
  EXPECT_EQ(CountIf(def, iface), CountIf(all, iface));
}

TEST(Flags, AllowlistAndDenylistAreMutuallyExclusive) {
  SeriesFilterOptions o;
  o.metric_allowlist = {"a"};
  o.metric_denylist = {"b"};
  std::string error;
  EXPECT_FALSE(SeriesFilter::Create(o, &error));
  EXPECT_NE(error.find("mutually exclusive"), std::string::npos) << error;

  std::string out;
  int rc = testing::RunCommand(
      std::string(KMB_BINARY) + " --once --metric-allowlist 'a' --metric-denylist 'b'", &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  out.clear();
  rc = testing::RunCommand(std::string(KMB_BINARY) + " --once --metric-denylist 'pod_('", &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--metric-denylist: bad regular expression"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST(Flags, ParsedIntoOptions) {
  std::vector<std::string> args = {
      "kmb",    "--namespaces=a,b",         "--namespaces-exclude", "c",   "--metric-denylist",
      "x_.*,y", "--collect-all-interfaces", "--series-limit",       "1000"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int rc = 0;
  auto o = ParseOptions(static_cast<int>(argv.size()), argv.data(), &rc);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->series_filter.namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o->series_filter.namespaces_exclude, (std::vector<std::string>{"c"}));
  EXPECT_EQ(o->series_filter.metric_denylist, (std::vector<std::string>{"x_.*", "y"}));
  EXPECT_TRUE(o->series_filter.collect_all_interfaces);
  EXPECT_EQ(o->series_filter.series_limit, 1000u);
}

}  // namespace
}  // namespace kmb
