#include "kmb/sources/summary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>

#include "kmb/sources/quantity.h"
#include "sources/json_walk.h"
#include "sources/sources_test_support.h"

namespace kmb {
namespace {

using catalog::Entity;
using testing::CountKind;
using testing::FindEntity;
using testing::ReadFixture;
using testing::SampleAt;
using testing::SampleOf;
using testing::U;

// Values read by hand from each fixture: the node, the first and the last pod, and the last
// container of each of those pods.
struct SummaryCase {
  const char* file;
  const char* node;
  uint64_t node_cpu_ns;  // node.cpu.usageCoreNanoSeconds
  int64_t node_cpu_ms;   // node.cpu.time
  uint64_t node_ws;      // node.memory.workingSetBytes
  size_t pods;
  size_t containers;
  size_t system_containers;
  size_t node_interfaces;  // distinct names: the default interface is also in interfaces[]
  size_t pod_interfaces;
  size_t volumes;
  struct Pod {
    const char* ns;
    const char* name;
    uint64_t cpu_ns;  // 0 with has_cpu false: the pod has no cpu block
    uint64_t ws;
    const char* container;
    uint64_t container_cpu_ns;
    uint64_t container_ws;
  } first, last;
};

// Names the case by its file in test listings (ctest would otherwise print its bytes).
void PrintTo(const SummaryCase& c, std::ostream* os) { *os << c.file; }

const SummaryCase kCases[] = {
    {"datadog-integrations-core-kubelet-windows-stats-summary.json",
     "ip-172-29-160-189.ec2.internal",
     452800000000,
     1587743651000,
     924364800,
     2,
     6,
     1,
     10,
     2,
     3,
     {"default", "dd-datadog-lbvkl", 33109375000, 264912896, "init-volume", 0, 0},
     {"default", "windows-server-iis-6c68545d57-gwtn9", 70140625000, 136814592,
      "windows-server-iis", 70140625000, 136814592}},
    {"nri-kubernetes-k8s-1.16-minikube-stats-summary.json",
     "minikube",
     216639857637,
     1639576265000,
     1446182912,
     15,
     15,
     3,
     2,
     30,
     18,
     {"scraper", "e2e-ds-8zz8h", 69596536, 1232896, "busybox", 18098430, 557056},
     {"kube-system", "kube-apiserver-minikube", 24869666752, 241094656, "kube-apiserver",
      25080146994, 240455680}},
    {"nri-kubernetes-k8s-1.20-minikube-stats-summary.json",
     "datagen-1-20",
     0,
     1685500240000,
     0,
     17,
     17,
     2,
     3,
     51,
     21,
     {"scraper", "e2e-statefulset-0", 26060000, 540672, "busybox", 12748000, 311296},
     {"scraper", "e2e-scraper-9c979498b-qwt54", 726813000, 3260416, "e2e-scraper", 712900000,
      3039232}},
    {"nri-kubernetes-k8s-1.24-minikube-stats-summary.json",
     "datagen-1-24",
     89211312000,
     1694016933000,
     986136576,
     17,
     17,
     2,
     3,
     51,
     21,
     {"kube-system", "kube-apiserver-datagen-1-24", 13997358000, 323174400, "kube-apiserver",
      13608961000, 322899968},
     {"kube-system", "kube-controller-manager-datagen-1-24", 4957487000, 50192384,
      "kube-controller-manager", 4831038000, 49963008}},
    {"nri-kubernetes-k8s-1.28-minikube-stats-summary.json",
     "datagen-1-28",
     117133655000,
     1699597252000,
     884572160,
     18,
     23,
     2,
     3,
     54,
     17,
     {"scraper", "e2e-statefulset-0", 2380520000, 11169792, "failing-container", 11739000, 536576},
     {"kube-system", "storage-provisioner", 298661000, 8814592, "storage-provisioner", 274106000,
      8552448}},
    {"nri-kubernetes-k8s-1.30-minikube-stats-summary.json",
     "datagen-1-30",
     80051369000,
     1762283908000,
     908845056,
     17,
     17,
     2,
     10,
     170,
     19,
     {"kube-system", "coredns-7db6d8ff4d-tflps", 212556000, 13463552, "coredns", 202384000,
      13238272},
     {"kube-system", "storage-provisioner", 200266000, 12484608, "storage-provisioner", 156189000,
      12476416}},
    {"nri-kubernetes-k8s-1.34-minikube-stats-summary.json",
     "datagen-1-34",
     63349226000,
     1768329614000,
     898445312,
     18,
     18,
     2,
     10,
     180,
     21,
     {"scraper", "e2e-deployment-6fb786454b-7fsxc", 2900063000, 10661888, "compute-pi-digits",
      2756273000, 10412032},
     {"scraper", "e2e-statefulset-0", 2222006000, 10932224, "compute-pi-digits", 2284838000,
      10428416}},
    {"nri-kubernetes-k8s-1.35-minikube-stats-summary.json",
     "datagen-1-35",
     62148052000,
     1782468875000,
     917110784,
     17,
     17,
     2,
     10,
     170,
     19,
     {"kube-system", "kube-controller-manager-datagen-1-35", 1944284000, 66478080,
      "kube-controller-manager", 1877547000, 66174976},
     {"scraper", "e2e-kube-state-metrics-75b885dc9-97mtr", 111959000, 19951616,
      "kube-state-metrics", 111020000, 18919424}},
    // The 2016 payload: neither pod has pod-level cpu/memory (cpu_ns and ws are unused).
    {"telegraf-kubernetes-test-stats-summary-2016.json",
     "node1",
     774129887054161,
     1474995461000,
     5081538560,
     2,
     2,
     2,
     1,
     1,
     4,
     {"foons", "foopod", 0, 0, "foocontainer", 56507553554, 30789632},
     {"foons", "stopped-pod", 0, 0, "stopped-container", 56507553554, 0}},
};

std::string SummaryPath(const char* file) { return std::string("summary/") + file; }

NodeSummary MustDecode(const std::string& body, std::string_view node_name = "") {
  NodeSummary out;
  const Status st = DecodeSummary(body, node_name, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

TEST(Summary, EveryFixtureFileHasACase) {
  std::set<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(KMB_FIXTURES_DIR) + "/summary")) {
    files.insert(entry.path().filename().string());
  }
  std::set<std::string> covered;
  for (const SummaryCase& c : kCases) covered.insert(c.file);
  EXPECT_EQ(files, covered);
}

class SummaryFixture : public ::testing::TestWithParam<SummaryCase> {};

TEST_P(SummaryFixture, DecodesHandReadValues) {
  const SummaryCase& c = GetParam();
  const NodeSummary s = MustDecode(ReadFixture(SummaryPath(c.file)));
  ASSERT_FALSE(s.entities.empty());
  EXPECT_EQ(s.node, c.node);

  // The node first, then each pod followed by its containers.
  const EntityStats& node = s.entities[0];
  ASSERT_EQ(node.entity, Entity::kNode);
  EXPECT_EQ(node.labels, std::vector<std::string>{c.node});
  const auto cpu = SampleOf(node, "node_cpu_usage_seconds_total");
  EXPECT_EQ(U(cpu), c.node_cpu_ns);
  EXPECT_EQ(node.time_ms(*cpu), c.node_cpu_ms);
  EXPECT_EQ(U(SampleOf(node, "node_memory_working_set_bytes")), c.node_ws);
  EXPECT_EQ(CountKind(s.entities, Entity::kNode), 1u);
  EXPECT_EQ(CountKind(s.entities, Entity::kPod), c.pods);
  EXPECT_EQ(CountKind(s.entities, Entity::kContainer), c.containers);
  EXPECT_EQ(CountKind(s.entities, Entity::kSystemContainer), c.system_containers);
  EXPECT_EQ(CountKind(s.entities, Entity::kNodeInterface), c.node_interfaces);
  EXPECT_EQ(CountKind(s.entities, Entity::kPodInterface), c.pod_interfaces);
  EXPECT_EQ(CountKind(s.entities, Entity::kVolume), c.volumes);
  EXPECT_EQ(CountKind(s.entities, Entity::kPvc), 0u);  // no fixture has a pvcRef
  EXPECT_EQ(CountKind(s.entities, Entity::kAccelerator), 0u);
  EXPECT_EQ(s.entities.size(), 1 + c.pods + c.containers + c.system_containers +
                                   c.node_interfaces + c.pod_interfaces + c.volumes);
  // After the node: its system containers and interfaces, then each pod followed by its
  // containers, interfaces and volumes, all labelled with the pod's namespace, name and uid.
  const EntityStats* current_pod = nullptr;
  for (size_t i = 1; i < s.entities.size(); ++i) {
    const EntityStats& e = s.entities[i];
    ASSERT_NE(e.entity, Entity::kNode);
    switch (e.entity) {
      case Entity::kSystemContainer:
      case Entity::kNodeInterface:
        ASSERT_EQ(current_pod, nullptr) << "node children after a pod";
        ASSERT_EQ(e.labels.size(), 2u);
        EXPECT_EQ(e.labels[0], c.node);
        if (e.entity == Entity::kSystemContainer) {
          EXPECT_FALSE(e.labels[1].empty());
        }
        break;
      case Entity::kPod:
        current_pod = &e;
        ASSERT_EQ(e.labels.size(), 4u);
        EXPECT_EQ(e.labels[2], c.node);
        EXPECT_FALSE(e.labels[3].empty());  // uid
        break;
      case Entity::kContainer:
      case Entity::kPodInterface:
      case Entity::kVolume: {
        ASSERT_NE(current_pod, nullptr) << "a pod's child before any pod";
        const auto names = catalog::LabelNames(e.entity);
        ASSERT_EQ(e.labels.size(), names.size());
        for (size_t l = 0; l < names.size(); ++l) {
          const std::string_view name = names[l];
          const std::string_view value = e.labels[l];
          if (name == "namespace") {
            EXPECT_EQ(value, current_pod->labels[0]);
          } else if (name == "pod") {
            EXPECT_EQ(value, current_pod->labels[1]);
          } else if (name == "node") {
            EXPECT_EQ(value, c.node);
          } else if (name == "uid") {
            EXPECT_EQ(value, current_pod->labels[3]);
          } else if (name == "container" || name == "volume") {
            EXPECT_FALSE(value.empty());
          } else if (name == "persistentvolumeclaim") {
            EXPECT_TRUE(value.empty());
          }
        }
        break;
      }
      default:
        ADD_FAILURE() << "unexpected entity kind " << static_cast<int>(e.entity);
    }
  }

  for (const SummaryCase::Pod& p : {c.first, c.last}) {
    SCOPED_TRACE(p.name);
    const EntityStats* pod = FindEntity(s.entities, Entity::kPod, {p.ns, p.name});
    ASSERT_NE(pod, nullptr);
    if (p.ws != 0 || p.cpu_ns != 0) {
      EXPECT_EQ(U(SampleOf(*pod, "pod_cpu_usage_seconds_total")), p.cpu_ns);
      EXPECT_EQ(U(SampleOf(*pod, "pod_memory_working_set_bytes")), p.ws);
    }
    const EntityStats* ctr =
        FindEntity(s.entities, Entity::kContainer, {p.ns, p.name, p.container, c.node});
    ASSERT_NE(ctr, nullptr);
    EXPECT_EQ(U(SampleOf(*ctr, "container_cpu_usage_seconds_total")), p.container_cpu_ns);
    if (p.container_ws != 0) {
      EXPECT_EQ(U(SampleOf(*ctr, "container_memory_working_set_bytes")), p.container_ws);
    }
  }
  // Every sample carries the time of its block: every fixture stamps every cpu and memory
  // block (the golden test checks every sample's time).
  for (const EntityStats& e : s.entities) {
    for (const Sample& sample : e.samples) {
      const std::string_view path = catalog::kMetrics[sample.metric].path;
      if (path.starts_with("cpu.") || path.starts_with("memory.")) {
        EXPECT_GT(e.time_ms(sample), 1400000000000) << path;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, SummaryFixture, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<SummaryCase>& info) {
                           std::string name = info.param.file;
                           name = name.substr(0, name.find("-stats-summary"));
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(Summary, Telegraf2016EdgeShapes) {
  const NodeSummary s =
      MustDecode(ReadFixture("summary/telegraf-kubernetes-test-stats-summary-2016.json"));
  // Pods without pod-level cpu/memory still exist, with only their start time (Unix ms).
  const EntityStats* foopod = FindEntity(s.entities, Entity::kPod, {"foons", "foopod", "node1"});
  ASSERT_NE(foopod, nullptr);
  ASSERT_EQ(foopod->samples.size(), 1u);
  EXPECT_EQ(U(SampleAt(*foopod, "startTime")), 1474915542000u);  // 2016-09-26T18:45:42Z
  EXPECT_EQ(foopod->time_ms(foopod->samples[0]), 0);
  EXPECT_DOUBLE_EQ(foopod->samples[0].Scaled(), 1474915542.0);
  // "startTime": null is skipped; the stopped pod's container has only cpu and its start.
  const EntityStats* stopped = FindEntity(s.entities, Entity::kPod, {"foons", "stopped-pod"});
  ASSERT_NE(stopped, nullptr);
  EXPECT_TRUE(stopped->samples.empty());
  const EntityStats* ctr =
      FindEntity(s.entities, Entity::kContainer, {"foons", "stopped-pod", "stopped-container"});
  ASSERT_NE(ctr, nullptr);
  ASSERT_EQ(ctr->samples.size(), 3u);
  const auto cpu = SampleOf(*ctr, "container_cpu_usage_seconds_total");
  EXPECT_EQ(U(cpu), 56507553554u);
  EXPECT_EQ(ctr->time_ms(*cpu), 1474995452000);
  EXPECT_EQ(U(SampleAt(*ctr, "cpu.usageNanoCores")), 846503u);
  EXPECT_EQ(U(SampleAt(*ctr, "startTime")), 1474915603000u);
  EXPECT_FALSE(SampleOf(*ctr, "container_memory_working_set_bytes").has_value());
  // The network objects have numbers but no name: one interface each, labelled "".
  const EntityStats* nif = FindEntity(s.entities, Entity::kNodeInterface, {"node1", ""});
  ASSERT_NE(nif, nullptr);
  EXPECT_EQ(U(SampleAt(*nif, "rxBytes")), 213281337459u);
  EXPECT_EQ(U(SampleAt(*nif, "txBytes")), 292869995684u);
  EXPECT_EQ(nif->time_ms(*SampleAt(*nif, "txBytes")), 1474995461000);
  const EntityStats* pif =
      FindEntity(s.entities, Entity::kPodInterface, {"foons", "foopod", "", "node1"});
  ASSERT_NE(pif, nullptr);
  EXPECT_EQ(U(SampleAt(*pif, "rxBytes")), 70749124u);
  // Volumes without time or inodes.
  const EntityStats* vol =
      FindEntity(s.entities, Entity::kVolume, {"foons", "foopod", "volume2", "", "node1"});
  ASSERT_NE(vol, nullptr);
  EXPECT_EQ(vol->samples.size(), 3u);
  EXPECT_EQ(U(SampleAt(*vol, "usedBytes")), 4096u);
  // System containers, "bar" included.
  const EntityStats* bar = FindEntity(s.entities, Entity::kSystemContainer, {"node1", "bar"});
  ASSERT_NE(bar, nullptr);
  EXPECT_TRUE(SampleAt(*bar, "cpu.usageCoreNanoSeconds").has_value());
  // Big counter: 774129887054161 ns is about 8.96 core-days.
  EXPECT_DOUBLE_EQ(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")->Scaled(),
                   774129.887054161);
}

// Rows of a test catalog that reach deeper than today's catalog: nested blocks, PSI, doubles,
// fields Windows leaves out. The schema is the production one with these rows.
catalog::MetricDef Row(Entity entity, std::string_view path) {
  return catalog::MetricDef{"test_metric",
                            catalog::MetricType::kGauge,
                            "",
                            "",
                            catalog::Source::kSummary,
                            entity,
                            path,
                            0,
                            "",
                            "",
                            "",
                            ""};
}

const catalog::MetricDef kDeepRows[] = {
    Row(Entity::kNode, "memory.rssBytes"),              // 0
    Row(Entity::kNode, "cpu.psi.some.total"),           // 1
    Row(Entity::kNode, "cpu.psi.full.avg60"),           // 2
    Row(Entity::kNode, "runtime.imageFs.usedBytes"),    // 3
    Row(Entity::kNode, "fs.inodesFree"),                // 4
    Row(Entity::kPodInterface, "rxBytes"),              // 5
    Row(Entity::kPod, "process_stats.process_count"),   // 6
    Row(Entity::kContainer, "cpu.usageNanoCores"),      // 7
    Row(Entity::kContainer, "memory.rssBytes"),         // 8
    Row(Entity::kContainer, "memory.workingSetBytes"),  // 9
    Row(Entity::kContainer, "memory.psi.some.avg10"),   // 10
    Row(Entity::kContainer, "logs.usedBytes"),          // 11
    Row(Entity::kPod, "ephemeral-storage.inodesUsed"),  // 12
};

std::vector<EntityStats> DeepDecode(const std::string& body) {
  walk::SchemaSpec spec = walk::SummarySpec();
  spec.rows = kDeepRows;
  const walk::Schema schema(spec);
  std::vector<EntityStats> out;
  const Status st = schema.Walk(body, body.size(), &out, 0);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

std::optional<Sample> Get(const EntityStats& e, catalog::MetricId id) {
  for (const Sample& s : e.samples) {
    if (s.metric == id) return s;
  }
  return std::nullopt;
}

TEST(SummaryDeepPaths, Kubernetes134) {
  const auto out =
      DeepDecode(ReadFixture("summary/nri-kubernetes-k8s-1.34-minikube-stats-summary.json"));
  const EntityStats& node = out[0];
  EXPECT_EQ(Get(node, 0)->u(), 736088064u);
  EXPECT_EQ(Get(node, 1)->u(), 41213702u);
  EXPECT_EQ(node.time_ms(*Get(node, 1)), 1768329614000);  // cpu.time, two levels up
  EXPECT_EQ(Get(node, 2)->kind, ValueKind::kDouble);
  EXPECT_DOUBLE_EQ(Get(node, 2)->d(), 41.11);
  EXPECT_EQ(Get(node, 3)->u(), 1846775808u);
  EXPECT_EQ(node.time_ms(*Get(node, 3)), 1768329616000);  // runtime.imageFs.time
  EXPECT_EQ(Get(node, 4)->u(), 29942615u);
  const EntityStats* pod =
      FindEntity(out, Entity::kPod, {"scraper", "e2e-deployment-6fb786454b-7fsxc"});
  ASSERT_NE(pod, nullptr);
  const EntityStats* eth0 =
      FindEntity(out, Entity::kPodInterface, {"scraper", "e2e-deployment-6fb786454b-7fsxc", "eth0"});
  ASSERT_NE(eth0, nullptr);
  EXPECT_EQ(Get(*eth0, 5)->u(), 446u);
  EXPECT_EQ(eth0->samples.size(), 1u);  // the default interface and its interfaces[] copy: one
  EXPECT_EQ(Get(*pod, 6)->u(), 1u);
  EXPECT_EQ(pod->time_ms(*Get(*pod, 6)), 0);  // process_stats has no time
  EXPECT_EQ(Get(*pod, 12)->u(), 11u);
  const EntityStats* ctr = FindEntity(
      out, Entity::kContainer, {"scraper", "e2e-deployment-6fb786454b-7fsxc", "compute-pi-digits"});
  ASSERT_NE(ctr, nullptr);
  EXPECT_EQ(Get(*ctr, 7)->u(), 80061916u);
  EXPECT_EQ(Get(*ctr, 8)->u(), 10121216u);
  EXPECT_EQ(Get(*ctr, 10)->u(), 0u);
  EXPECT_EQ(Get(*ctr, 11)->u(), 0u);
  EXPECT_EQ(ctr->time_ms(*Get(*ctr, 11)), 1768329620000);  // logs.time
}

TEST(SummaryDeepPaths, WindowsMissingFieldsGiveNoSample) {
  const auto out = DeepDecode(
      ReadFixture("summary/datadog-integrations-core-kubelet-windows-stats-summary.json"));
  // Windows sends rssBytes 0 for the node: a real zero sample.
  EXPECT_EQ(Get(out[0], 0)->u(), 0u);
  // process-agent has no cpu.usageNanoCores; no container has memory.rssBytes.
  const EntityStats* agent =
      FindEntity(out, Entity::kContainer, {"default", "dd-datadog-lbvkl", "process-agent"});
  ASSERT_NE(agent, nullptr);
  EXPECT_FALSE(Get(*agent, 7).has_value());
  EXPECT_EQ(Get(*agent, 9)->u(), 65474560u);
  const EntityStats* trace =
      FindEntity(out, Entity::kContainer, {"default", "dd-datadog-lbvkl", "trace-agent"});
  ASSERT_NE(trace, nullptr);
  EXPECT_TRUE(Get(*trace, 7).has_value());
  for (const EntityStats& e : out) {
    if (e.entity != Entity::kContainer) continue;
    EXPECT_FALSE(Get(e, 8).has_value()) << e.labels[2];
  }
}

TEST(SummarySchema, TrieMatchesCatalogFind) {
  const walk::Schema& schema = walk::SummarySchema();
  int rows = 0;
  for (size_t i = 0; i < catalog::kMetricCount; ++i) {
    const catalog::MetricDef& def = catalog::kMetrics[i];
    if (def.source != catalog::Source::kSummary) continue;
    EXPECT_EQ(schema.Lookup(def.entity, def.path), catalog::Find(def.entity, def.path)) << def.name;
    EXPECT_EQ(schema.Lookup(def.entity, def.path), static_cast<int>(i));
    ++rows;
  }
  EXPECT_GT(rows, 0);
  EXPECT_EQ(schema.Lookup(Entity::kNode, "cpu"), -1);
  EXPECT_EQ(schema.Lookup(Entity::kNode, "cpu.nope"), -1);
  EXPECT_EQ(schema.Lookup(Entity::kPod, "podRef.name"), -1);  // a label, not a metric
}

// ---- Values and shapes built by hand ----

std::string NodeDoc(const std::string& cpu_block) {
  return R"({"node":{"nodeName":"n1","cpu":)" + cpu_block + R"(},"pods":[]})";
}

TEST(SummaryValues, CountersNear2To63StayExact) {
  NodeSummary s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":9223372036854775000})"));
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")),
            uint64_t{9223372036854775000u});
  s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":18446744073709551615})"));
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")),
            uint64_t{18446744073709551615u});
  s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":9223372036854775808})"));
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")),
            uint64_t{9223372036854775808u});
}

TEST(SummaryValues, NegativeAndFloatNumbers) {
  NodeSummary s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":-5})"));
  auto v = SampleOf(s.entities[0], "node_cpu_usage_seconds_total");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->kind, ValueKind::kInt);
  EXPECT_EQ(v->i(), -5);
  // A float where an integer belongs is kept as a double, not rejected.
  s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":1.5e9})"));
  v = SampleOf(s.entities[0], "node_cpu_usage_seconds_total");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->kind, ValueKind::kDouble);
  EXPECT_DOUBLE_EQ(v->Scaled(), 1.5);
  s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":0})"));
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")), 0u);
}

TEST(SummaryValues, TimeMayFollowTheValues) {
  NodeSummary s =
      MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":7,"time":"2026-01-13T18:40:14.250Z"})"));
  // Kept to the second (the kubelet's metav1.Time never carries a fraction; Sample holds seconds).
  EXPECT_EQ(s.entities[0].time_ms(*SampleOf(s.entities[0], "node_cpu_usage_seconds_total")),
            1768329614000);
  // No time, or one that does not parse: 0.
  s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":7,"time":"yesterday"})"));
  EXPECT_EQ(s.entities[0].time_ms(*SampleOf(s.entities[0], "node_cpu_usage_seconds_total")), 0);
  s = MustDecode(NodeDoc(R"({"usageCoreNanoSeconds":7,"time":12})"));
  EXPECT_EQ(s.entities[0].time_ms(*SampleOf(s.entities[0], "node_cpu_usage_seconds_total")), 0);
}

// A sample keeps its time as seconds from its entity's first time (16 bits): exact within ~9
// hours of it, left out past that; an entity decoded again counts from its new first time.
TEST(SummaryValues, SampleTimesCountFromTheirEntitysFirstTime) {
  const auto doc = [](const std::string& cpu_time, const std::string& memory_time) {
    return R"({"node":{"nodeName":"n1","cpu":{"usageCoreNanoSeconds":7,"time":")" + cpu_time +
           R"("},"memory":{"workingSetBytes":5,"time":")" + memory_time + R"("}},"pods":[]})";
  };
  const auto times = [](const NodeSummary& s) {
    const EntityStats& node = s.entities[0];
    return std::pair(node.time_ms(*SampleOf(node, "node_cpu_usage_seconds_total")),
                     node.time_ms(*SampleOf(node, "node_memory_working_set_bytes")));
  };
  NodeSummary s;
  // 9 h 6 min 6 s apart either way (32,766 s): both kept.
  ASSERT_TRUE(DecodeSummary(doc("2026-01-13T18:00:00Z", "2026-01-14T03:06:06Z"), "", &s).ok());
  EXPECT_EQ(times(s), std::pair(int64_t{1768327200000}, int64_t{1768327200000 + 32766000}));
  ASSERT_TRUE(DecodeSummary(doc("2026-01-13T18:00:00Z", "2026-01-13T08:53:54Z"), "", &s).ok());
  EXPECT_EQ(times(s), std::pair(int64_t{1768327200000}, int64_t{1768327200000 - 32766000}));
  // A day apart: the later block's time is left out, its value kept.
  ASSERT_TRUE(DecodeSummary(doc("2026-01-13T18:00:00Z", "2026-01-14T18:00:00Z"), "", &s).ok());
  EXPECT_EQ(times(s), std::pair(int64_t{1768327200000}, int64_t{0}));
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_memory_working_set_bytes")), 5u);
  // The same entities decoded a year later count from the new times.
  ASSERT_TRUE(DecodeSummary(doc("2027-01-13T18:00:00Z", "2027-01-13T18:00:05Z"), "", &s).ok());
  EXPECT_EQ(times(s), std::pair(int64_t{1799863200000}, int64_t{1799863205000}));
}

TEST(SummaryValues, WrongTypesAreSkipped) {
  const NodeSummary s = MustDecode(R"({
    "node": {"nodeName": "n1", "cpu": {"usageCoreNanoSeconds": "12"},
             "memory": {"workingSetBytes": null}, "network": 5, "fs": [1, 2]},
    "pods": [
      null, 3, "x",
      {"podRef": "not-an-object", "cpu": [], "containers": null},
      {"podRef": {"name": 7, "namespace": "ns"}, "memory": {"workingSetBytes": true},
       "containers": [{"name": "c", "cpu": {"usageCoreNanoSeconds": {"x": 1}}}, 5, null]}
    ]})");
  ASSERT_EQ(s.entities.size(), 4u);  // node, two pods, one container
  for (const EntityStats& e : s.entities) EXPECT_TRUE(e.samples.empty());
  EXPECT_EQ(s.entities[2].labels, (std::vector<std::string>{"ns", "", "n1", ""}));
  EXPECT_EQ(s.entities[3].labels, (std::vector<std::string>{"ns", "", "c", "n1", ""}));
}

TEST(SummaryValues, KeyOrderDoesNotMatter) {
  // podRef after containers, pods before node, nodeName last.
  const NodeSummary s = MustDecode(R"({
    "pods": [{"containers": [{"cpu": {"usageCoreNanoSeconds": 3}, "name": "c1"}],
              "memory": {"workingSetBytes": 4},
              "podRef": {"namespace": "ns", "name": "p"}}],
    "node": {"cpu": {"usageCoreNanoSeconds": 1}, "nodeName": "n1"}})");
  ASSERT_EQ(s.entities.size(), 3u);
  EXPECT_EQ(s.entities[0].entity, Entity::kNode);
  EXPECT_EQ(s.entities[0].labels[0], "n1");
  EXPECT_EQ(s.entities[1].labels, (std::vector<std::string>{"ns", "p", "n1", ""}));
  EXPECT_EQ(s.entities[2].labels, (std::vector<std::string>{"ns", "p", "c1", "n1", ""}));
  EXPECT_EQ(U(SampleOf(s.entities[2], "container_cpu_usage_seconds_total")), 3u);
  EXPECT_EQ(U(SampleOf(s.entities[1], "pod_memory_working_set_bytes")), 4u);
}

TEST(SummaryValues, EscapedKeysAndValues) {
  const NodeSummary s = MustDecode(
      R"({"node":{"nodeN\u0061me":"n\"1","c\u0070u":{"usageCoreNanoSeconds":9}},"pods":[]})");
  ASSERT_EQ(s.entities.size(), 1u);
  EXPECT_EQ(s.node, "n\"1");
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")), 9u);
}

TEST(SummaryValues, NodeNameArgumentWins) {
  const std::string body =
      ReadFixture("summary/nri-kubernetes-k8s-1.28-minikube-stats-summary.json");
  const NodeSummary s = MustDecode(body, "from-node-list");
  EXPECT_EQ(s.node, "datagen-1-28");  // what the payload says
  for (const EntityStats& e : s.entities) {
    const auto names = catalog::LabelNames(e.entity);
    const auto at = std::find(names.begin(), names.end(), "node");
    ASSERT_NE(at, names.end());
    EXPECT_EQ(e.labels[static_cast<size_t>(at - names.begin())], "from-node-list");
  }
}

TEST(SummaryValues, EmptyObjectAndNoNode) {
  NodeSummary s = MustDecode("{}");
  EXPECT_TRUE(s.entities.empty());
  EXPECT_EQ(s.node, "");
  s = MustDecode(R"({"pods":[{"podRef":{"name":"p","namespace":"n"}}]})", "n9");
  ASSERT_EQ(s.entities.size(), 1u);
  EXPECT_EQ(s.entities[0].labels, (std::vector<std::string>{"n", "p", "n9", ""}));
}

TEST(SummaryValues, ReusedOutputHoldsOnlyTheLatestDecode) {
  NodeSummary s;
  ASSERT_TRUE(
      DecodeSummary(ReadFixture("summary/nri-kubernetes-k8s-1.28-minikube-stats-summary.json"), "",
                    &s)
          .ok());
  // 1 node, 18 pods, 23 containers, 2 system containers, 3 + 54 interfaces, 17 volumes.
  EXPECT_EQ(s.entities.size(), 118u);
  ASSERT_TRUE(
      DecodeSummary(ReadFixture("summary/telegraf-kubernetes-test-stats-summary-2016.json"), "", &s)
          .ok());
  const NodeSummary fresh =
      MustDecode(ReadFixture("summary/telegraf-kubernetes-test-stats-summary-2016.json"));
  ASSERT_EQ(s.entities.size(), fresh.entities.size());
  for (size_t i = 0; i < fresh.entities.size(); ++i) {
    EXPECT_EQ(s.entities[i].entity, fresh.entities[i].entity);
    EXPECT_EQ(s.entities[i].labels, fresh.entities[i].labels);
    ASSERT_EQ(s.entities[i].samples.size(), fresh.entities[i].samples.size());
  }
}

TEST(SummaryValues, InPlaceDecodeMatchesCopy) {
  const std::string file =
      ReadFixture("summary/nri-kubernetes-k8s-1.34-minikube-stats-summary.json");
  std::string padded = file;
  padded.reserve(file.size() + kJsonPadding);
  NodeSummary a, b;
  ASSERT_TRUE(DecodeSummary(file, "", &a).ok());
  ASSERT_TRUE(DecodeSummary(padded, padded.capacity(), "", &b).ok());
  ASSERT_EQ(a.entities.size(), b.entities.size());
  for (size_t i = 0; i < a.entities.size(); ++i) {
    EXPECT_EQ(a.entities[i].labels, b.entities[i].labels);
    ASSERT_EQ(a.entities[i].samples.size(), b.entities[i].samples.size());
    for (size_t j = 0; j < a.entities[i].samples.size(); ++j) {
      EXPECT_EQ(a.entities[i].samples[j].u(), b.entities[i].samples[j].u());
      EXPECT_EQ(a.entities[i].time_ms(a.entities[i].samples[j]),
                b.entities[i].time_ms(b.entities[i].samples[j]));
    }
  }
  // A truncated body in a roomy buffer: bytes past the end are never taken as JSON.
  std::string cut = file.substr(0, 4000) + std::string(200, '7');
  NodeSummary c;
  EXPECT_FALSE(DecodeSummary(std::string_view(cut.data(), 4000), cut.size(), "", &c).ok());
  EXPECT_TRUE(c.entities.empty());
}

TEST(SummaryValues, LargeBodiesDecodeRepeatedly) {
  // Over 16 MiB: the per-thread scratch is released after each decode and rebuilt next time.
  std::string body = R"({"node":{"nodeName":"big","cpu":{"usageCoreNanoSeconds":1}},"pods":[)";
  const std::string pod =
      R"({"podRef":{"name":"p","namespace":"n"},"cpu":{"usageCoreNanoSeconds":5},)"
      R"("containers":[{"name":"c","memory":{"workingSetBytes":6}}],)"
      R"("volume":[{"name":"v","usedBytes":1,"padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]})";
  const size_t pods = (size_t{17} << 20) / pod.size() + 1;
  for (size_t i = 0; i < pods; ++i) body += (i ? "," : "") + pod;
  body += "]}";
  for (int round = 0; round < 2; ++round) {
    NodeSummary s;
    ASSERT_TRUE(DecodeSummary(body, "", &s).ok());
    ASSERT_EQ(s.entities.size(), 1 + 3 * pods);  // pod, container, volume
    EXPECT_EQ(U(SampleOf(s.entities[s.entities.size() - 2], "container_memory_working_set_bytes")),
              6u);
    EXPECT_EQ(U(SampleAt(s.entities.back(), "usedBytes")), 1u);
  }
  // A small decode afterwards still works.
  EXPECT_EQ(MustDecode("{}").entities.size(), 0u);
}

// ---- Child entities: interfaces, volumes, PVCs, accelerators, system containers ----

std::vector<std::string> L(std::initializer_list<const char*> l) {
  return std::vector<std::string>(l.begin(), l.end());
}

TEST(SummaryInterfaces, DefaultAndInterfacesListGiveEachNameOnce) {
  // The default interface precedes or follows its interfaces[] copy; another pod's eth0 is
  // another interface; the pod's podRef comes after its network.
  const NodeSummary s = MustDecode(R"({
    "node": {"nodeName": "n1", "network": {"time": "2026-01-13T18:40:14Z", "name": "eth0",
             "rxBytes": 10, "txBytes": 20,
             "interfaces": [{"name": "tunl0", "rxBytes": 1}, {"name": "eth0", "rxBytes": 10,
                            "txBytes": 20, "rxErrors": 3}]}},
    "pods": [
      {"network": {"interfaces": [{"name": "eth0", "rxBytes": 5}, {"name": "lo", "rxBytes": 6}],
                   "rxBytes": 5, "name": "eth0"},
       "podRef": {"name": "p", "namespace": "ns", "uid": "u1"}},
      {"podRef": {"name": "q", "namespace": "ns", "uid": "u2"},
       "network": {"name": "eth0", "rxBytes": 7, "interfaces": [{"name": "eth0", "rxBytes": 7}]}}
    ]})");
  ASSERT_EQ(s.entities.size(), 8u);
  EXPECT_EQ(s.entities[1].entity, Entity::kNodeInterface);
  EXPECT_EQ(s.entities[1].labels, L({"n1", "eth0"}));
  EXPECT_EQ(s.entities[2].labels, L({"n1", "tunl0"}));
  // The copy's extra field joins the default interface; values come from the first.
  EXPECT_EQ(U(SampleAt(s.entities[1], "rxErrors")), 3u);
  EXPECT_EQ(s.entities[1].samples.size(), 3u);
  for (const Sample& sample : s.entities[1].samples) {
    EXPECT_EQ(s.entities[1].time_ms(sample), 1768329614000);
  }
  EXPECT_EQ(s.entities[2].time_ms(s.entities[2].samples[0]), 1768329614000);  // the network's time
  EXPECT_EQ(s.entities[3].entity, Entity::kPod);
  EXPECT_EQ(s.entities[4].labels, L({"ns", "p", "eth0", "n1", "u1"}));
  EXPECT_EQ(s.entities[5].labels, L({"ns", "p", "lo", "n1", "u1"}));
  EXPECT_EQ(U(SampleAt(s.entities[4], "rxBytes")), 5u);
  EXPECT_EQ(s.entities[4].samples.size(), 1u);
  EXPECT_EQ(s.entities[7].labels, L({"ns", "q", "eth0", "n1", "u2"}));
  EXPECT_EQ(U(SampleAt(s.entities[7], "rxBytes")), 7u);
}

TEST(SummaryInterfaces, UnnamedNetworks) {
  // Windows: no default interface, only interfaces[] (names with spaces). An empty network
  // object, or one with only an empty name, gives no entity. Numbers without a name (2016)
  // give interface="".
  const NodeSummary s = MustDecode(R"({
    "node": {"nodeName": "w1", "network": {"time": "2020-04-24T15:54:11Z", "name": "",
             "interfaces": [{"name": "AWS PV Network Device", "rxBytes": 1, "txBytes": 2},
                            {"name": "6to4 Adapter", "rxBytes": 0, "txBytes": 0}]}},
    "pods": [
      {"podRef": {"name": "a", "namespace": "ns"}, "network": {}},
      {"podRef": {"name": "b", "namespace": "ns"}, "network": {"name": "", "time": "2020-04-24T15:54:11Z"}},
      {"podRef": {"name": "c", "namespace": "ns"}, "network": {"rxBytes": 9}},
      {"podRef": {"name": "d", "namespace": "ns"}, "network": {"interfaces": []}},
      {"podRef": {"name": "e", "namespace": "ns"}, "network": {"name": "eth0"}}
    ]})");
  EXPECT_EQ(CountKind(s.entities, Entity::kNodeInterface), 2u);
  const EntityStats* aws =
      FindEntity(s.entities, Entity::kNodeInterface, {"w1", "AWS PV Network Device"});
  ASSERT_NE(aws, nullptr);
  EXPECT_EQ(U(SampleAt(*aws, "txBytes")), 2u);
  EXPECT_EQ(aws->time_ms(*SampleAt(*aws, "txBytes")), 1587743651000);
  ASSERT_EQ(CountKind(s.entities, Entity::kPodInterface), 2u);
  const EntityStats* c = FindEntity(s.entities, Entity::kPodInterface, {"ns", "c", ""});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(U(SampleAt(*c, "rxBytes")), 9u);
  // A named interface with no numbers is still an interface (no series, though).
  const EntityStats* e = FindEntity(s.entities, Entity::kPodInterface, {"ns", "e", "eth0"});
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->samples.empty());
  // Order: node, its interfaces, then each pod and its interfaces.
  EXPECT_EQ(s.entities[1].entity, Entity::kNodeInterface);
  EXPECT_EQ(s.entities[2].entity, Entity::kNodeInterface);
  EXPECT_EQ(s.entities.size(), 1 + 2 + 5 + 2u);
}

TEST(SummaryChildren, VolumesPvcsAndAccelerators) {
  const NodeSummary s = MustDecode(R"({
    "pods": [
      {"podRef": {"name": "p1", "namespace": "ns", "uid": "u1"},
       "volume": [{"name": "data", "usedBytes": 100, "capacityBytes": 1000,
                   "pvcRef": {"name": "claim", "namespace": "ns"}, "time": "2026-01-13T18:40:14Z"},
                  {"name": "tmp", "usedBytes": 1},
                  {"name": "odd", "usedBytes": 2, "pvcRef": {"name": ""}}],
       "containers": [{"name": "c", "accelerators": [
                        {"make": "nvidia", "model": "T4", "id": "GPU-1", "memoryTotal": 16,
                         "memoryUsed": 4, "dutyCycle": 37}]}]},
      {"podRef": {"name": "p2", "namespace": "ns", "uid": "u2"},
       "volume": [{"name": "shared", "usedBytes": 101, "pvcRef": {"name": "claim", "namespace": "ns"}}]},
      {"podRef": {"name": "p3", "namespace": "other", "uid": "u3"},
       "volume": [{"name": "data", "usedBytes": 5, "pvcRef": {"name": "claim", "namespace": "other"}}]}
    ],
    "node": {"nodeName": "n1", "systemContainers": [{"name": "kubelet",
             "startTime": "2026-01-13T18:38:04Z", "cpu": {"usageCoreNanoSeconds": 3}}]}})");
  // Node first (it came last), its system container where the payload had it, PVCs last.
  ASSERT_EQ(s.entities.size(), 1 + 3 + 5 + 1 + 1 + 1 + 2u);  // node pods volumes container gpu kubelet pvcs
  EXPECT_EQ(s.entities[0].entity, Entity::kNode);
  EXPECT_EQ(s.entities[s.entities.size() - 3].entity, Entity::kSystemContainer);
  EXPECT_EQ(s.entities[s.entities.size() - 2].labels, L({"ns", "claim", "n1"}));
  EXPECT_EQ(s.entities.back().labels, L({"other", "claim", "n1"}));
  const EntityStats& pvc = s.entities[s.entities.size() - 2];
  EXPECT_EQ(pvc.entity, Entity::kPvc);
  ASSERT_EQ(pvc.samples.size(), 2u);
  EXPECT_EQ(U(SampleAt(pvc, "usedBytes")), 100u);  // the first volume wins
  EXPECT_EQ(U(SampleAt(pvc, "capacityBytes")), 1000u);
  EXPECT_EQ(pvc.time_ms(*SampleAt(pvc, "usedBytes")), 1768329614000);
  EXPECT_EQ(U(SampleAt(s.entities.back(), "usedBytes")), 5u);

  const EntityStats* data = FindEntity(s.entities, Entity::kVolume, {"ns", "p1", "data"});
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->labels, L({"ns", "p1", "data", "claim", "n1", "u1"}));
  EXPECT_EQ(FindEntity(s.entities, Entity::kVolume, {"ns", "p1", "tmp"})->labels,
            L({"ns", "p1", "tmp", "", "n1", "u1"}));

  const EntityStats* gpu = FindEntity(s.entities, Entity::kAccelerator, {"ns", "p1", "c"});
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->labels, L({"ns", "p1", "c", "n1", "nvidia", "T4", "GPU-1", "u1"}));
  EXPECT_EQ(gpu->samples.size(), 3u);
  EXPECT_EQ(U(SampleAt(*gpu, "dutyCycle")), 37u);

  const EntityStats* kubelet =
      FindEntity(s.entities, Entity::kSystemContainer, {"n1", "kubelet"});
  ASSERT_NE(kubelet, nullptr);
  EXPECT_EQ(U(SampleAt(*kubelet, "startTime")), 1768329484000u);
  EXPECT_EQ(U(SampleAt(*kubelet, "cpu.usageCoreNanoSeconds")), 3u);
}

TEST(SummaryChildren, PvcEntitiesAreReusedAcrossDecodes) {
  const std::string body = R"({"node": {"nodeName": "n1"}, "pods": [
      {"podRef": {"name": "p1", "namespace": "ns"},
       "volume": [{"name": "v", "usedBytes": 1, "pvcRef": {"name": "c1"}}]}]})";
  NodeSummary s;
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(DecodeSummary(body, "", &s).ok());
    ASSERT_EQ(s.entities.size(), 4u);
    EXPECT_EQ(s.entities[3].labels, L({"ns", "c1", "n1"}));
    EXPECT_EQ(U(SampleAt(s.entities[3], "usedBytes")), 1u);
  }
  ASSERT_TRUE(DecodeSummary(R"({"node": {"nodeName": "n2"}})", "", &s).ok());
  ASSERT_EQ(s.entities.size(), 1u);
}

TEST(SummaryValues, StartTimes) {
  auto start = [](const std::string& value) -> std::optional<Sample> {
    const NodeSummary s = MustDecode(R"({"node":{"nodeName":"n","startTime":)" + value + "}}");
    return SampleAt(s.entities[0], "startTime");
  };
  EXPECT_EQ(U(start(R"("2026-01-07T21:35:20Z")")), 1767821720000u);
  EXPECT_EQ(U(start(R"("2026-01-07T21:35:20.125Z")")), 1767821720125u);
  EXPECT_EQ(U(start(R"("2026-01-07T23:35:20+02:00")")), 1767821720000u);
  const auto before_1970 = start(R"("1969-12-31T23:59:59Z")");
  ASSERT_TRUE(before_1970.has_value());
  EXPECT_EQ(before_1970->kind, ValueKind::kInt);
  EXPECT_EQ(before_1970->i(), -1000);
  EXPECT_FALSE(start("null").has_value());
  EXPECT_FALSE(start(R"("")").has_value());
  EXPECT_FALSE(start(R"("yesterday")").has_value());
  EXPECT_FALSE(start("1767821720").has_value());  // a number is not an RFC 3339 time
  EXPECT_FALSE(start("{}").has_value());
  EXPECT_FALSE(start("[]").has_value());
}

TEST(SummarySchema, StringLeavesAreStartTimesInMilliseconds) {
  const walk::SchemaSpec spec = walk::SummarySpec();
  ASSERT_NE(spec.string_value, nullptr);
  int timestamps = 0;
  for (const catalog::MetricDef& def : catalog::kMetrics) {
    if (def.source != catalog::Source::kSummary) continue;
    const bool ts = spec.string_value(def) == walk::StringValue::kTimestamp;
    EXPECT_EQ(ts, def.path.ends_with("startTime")) << def.name;
    if (!ts) {
      EXPECT_EQ(spec.string_value(def), walk::StringValue::kNone) << def.name;
      continue;
    }
    ++timestamps;
    EXPECT_EQ(def.exp10, -3) << def.name;  // milliseconds to seconds
    EXPECT_EQ(def.unit, "seconds") << def.name;
  }
  EXPECT_EQ(timestamps, 4);  // node, system container, pod, container
}

TEST(SummarySchema, EveryKindFitsTheLabelSlots) {
  for (size_t k = 0; k < static_cast<size_t>(Entity::kCount); ++k) {
    EXPECT_LE(catalog::LabelNames(static_cast<Entity>(k)).size(), walk::kMaxLabels) << k;
  }
  EXPECT_EQ(catalog::LabelNames(Entity::kAccelerator).size(), walk::kMaxLabels);
}

// ---- The two walks: DOM fast path and On-Demand fallback ----

NodeSummary DecodeWith(bool on_demand, const std::string& body) {
  walk::OnDemandOnlyForTest(on_demand);
  NodeSummary s;
  const Status st = DecodeSummary(body, "", &s);
  walk::OnDemandOnlyForTest(false);
  EXPECT_TRUE(st.ok()) << st.message();
  return s;
}

void ExpectSameDecode(const std::string& body, const std::string& what) {
  SCOPED_TRACE(what);
  const NodeSummary a = DecodeWith(false, body);
  const NodeSummary b = DecodeWith(true, body);
  EXPECT_EQ(a.node, b.node);
  testing::ExpectSameEntities(a.entities, b.entities);
}

TEST(SummaryWalks, DomAndOnDemandAgree) {
  for (const SummaryCase& c : kCases) ExpectSameDecode(ReadFixture(SummaryPath(c.file)), c.file);
  const char* docs[] = {
      R"({"node":{"nodeName":"n1","cpu":{"usageCoreNanoSeconds":-5,"usageNanoCores":1.5e9,
          "time":"2026-01-13T18:40:14.250Z"},"startTime":"1969-12-31T23:59:59Z",
          "memory":{"workingSetBytes":18446744073709551615,"rssBytes":"7","pageFaults":null}},
          "pods":[null,3,{"podRef":"x","cpu":[]},{"containers":[{"cpu":{"usageCoreNanoSeconds":3},
          "name":"c\u0031","startTime":12}],"podRef":{"namespace":"ns","name":"p"},
          "network":{"interfaces":[{"name":"eth0","rxBytes":1}],"name":"eth0","txBytes":2},
          "volume":[{"name":"v","usedBytes":1,"pvcRef":{"name":"c"}}]}]})",
      R"({"pods":[{"podRef":{"name":"p","namespace":"n"}}],"node":{"nodeN\u0061me":"n\"1"}})",
      R"({"node":{"nodeName":"w","network":{"name":"","interfaces":[{"name":"a b","rxBytes":1}]}}})",
      "{}",
  };
  for (const char* doc : docs) ExpectSameDecode(doc, doc);
}

TEST(SummaryWalks, WhatTheDomRejectsTheOnDemandWalkDecides) {
  // A number out of range where no row looks: the DOM parser rejects the document, the
  // On-Demand walk skips the value and decodes the rest.
  NodeSummary s = MustDecode(
      R"({"node":{"nodeName":"n","x":1e400,"y":[18446744073709551616],
          "cpu":{"usageCoreNanoSeconds":5}}})");
  ASSERT_EQ(s.entities.size(), 1u);
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")), 5u);
  // Deeper than the DOM's depth limit (1024), away from rows.
  std::string deep = R"({"node":{"nodeName":"n","cpu":{"usageCoreNanoSeconds":6}},"x":)";
  deep += std::string(2000, '[') + std::string(2000, ']') + "}";
  s = MustDecode(deep);
  ASSERT_EQ(s.entities.size(), 1u);
  EXPECT_EQ(U(SampleOf(s.entities[0], "node_cpu_usage_seconds_total")), 6u);
}

// ---- Hostile input: a decode error (or a graceful success), never a crash ----

void ExpectDecodeError(const std::string& body, const char* what) {
  SCOPED_TRACE(what);
  NodeSummary s;
  s.entities.resize(3);  // leftovers from an earlier decode must go
  s.node = "stale";
  const Status st = DecodeSummary(body, "n", &s);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.reason(), reason::kDecode);
  EXPECT_NE(st.message().find("byte"), std::string::npos) << st.message();
  EXPECT_TRUE(s.entities.empty());
  EXPECT_TRUE(s.node.empty());
}

TEST(SummaryHostile, NotJson) {
  ExpectDecodeError("", "empty body");
  ExpectDecodeError("   \n", "whitespace");
  ExpectDecodeError("<html><body>502 Bad Gateway</body></html>", "html");
  ExpectDecodeError("Unauthorized", "text");
  ExpectDecodeError("null", "null");
  ExpectDecodeError("[]", "array root");
  ExpectDecodeError("42", "number root");
  ExpectDecodeError("\"node\"", "string root");
  ExpectDecodeError("{\"node\":{\"nodeName\":\"a\xff\xfe\"}}", "invalid UTF-8");
  ExpectDecodeError("{\"node\":{}}}", "extra closing brace");
  ExpectDecodeError("{\"node\":{}} {\"node\":{}}", "two documents");
  ExpectDecodeError("{\"node\":{}} x", "trailing garbage");
  ExpectDecodeError("{\"node\" {}}", "missing colon");
  ExpectDecodeError("{\"node\":{\"nodeName\":\"x}}", "unclosed string");
  ExpectDecodeError(std::string("{\"node\":{\0}}", 12), "NUL byte");
}

TEST(SummaryHostile, DeepNesting) {
  ExpectDecodeError(std::string(2000000, '['), "2M [");
  ExpectDecodeError(std::string(2000000, '{'), "2M {");
  ExpectDecodeError("{\"node\":" + std::string(2000000, '['), "2M [ under node");
  // Deep but well formed, away from catalog paths: skipped without recursion.
  std::string deep = "{\"node\":{\"x\":";
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1" + std::string(100000, '}') + "}}";
  NodeSummary s;
  const Status st = DecodeSummary(deep, "", &s);
  EXPECT_TRUE(st.ok()) << st.message();
  // Deep along a catalog path: the trie ends after two levels, the rest is skipped.
  std::string along = "{\"node\":{\"cpu\":";
  for (int i = 0; i < 100000; ++i) along += "{\"cpu\":";
  along += "1" + std::string(100000, '}') + "}}";
  EXPECT_TRUE(DecodeSummary(along, "", &s).ok());
  // Unbalanced deep arrays inside a skipped subtree.
  ExpectDecodeError("{\"node\":{\"x\":" + std::string(100000, '[') + "}}", "unbalanced");
}

TEST(SummaryHostile, InterfacesNestedWithoutEnd) {
  // interfaces[] inside interfaces[] ...: never sent by a kubelet. Deep enough, it is a decode
  // error (the walker's depth limit); shallow, each level is the node's interface.
  auto nested = [](int levels) {
    std::string body = R"({"node":{"nodeName":"n","network":)";
    for (int i = 0; i < levels; ++i) {
      body += R"({"name":"if)" + std::to_string(i % 3) + R"(","rxBytes":)" + std::to_string(i) +
              R"(,"interfaces":[)";
    }
    for (int i = 0; i < levels; ++i) body += "]}";
    return body + "}}";
  };
  NodeSummary s;
  ASSERT_TRUE(DecodeSummary(nested(6), "", &s).ok());
  ASSERT_EQ(s.entities.size(), 4u);  // the node and if0, if1, if2 (first values win)
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(s.entities[i].labels, L({"n", ("if" + std::to_string(i - 1)).c_str()}));
    EXPECT_EQ(U(SampleAt(s.entities[i], "rxBytes")), i - 1);
  }
  ExpectDecodeError(nested(100000), "100000 levels of interfaces");
  const Status st = DecodeSummary(nested(40), "", &s);
  if (st.ok()) {
    EXPECT_EQ(s.entities.size(), 4u);
  }
}

TEST(SummaryHostile, NumbersOutOfRange) {
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":18446744073709551616})"), "2^64");
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":99999999999999999999999})"), "1e23 int");
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":-9223372036854775809})"), "-2^63-1");
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":1e400})"), "1e400");
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":-})"), "lone minus");
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":01})"), "leading zero");
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":1.})"), "no fraction digits");
  ExpectDecodeError(NodeDoc(R"({"usageCoreNanoSeconds":12abc})"), "letters");
}

TEST(SummaryHostile, TruncatedFixtures) {
  for (const SummaryCase& c : kCases) {
    SCOPED_TRACE(c.file);
    const std::string body = ReadFixture(SummaryPath(c.file));
    const size_t last_brace = body.rfind('}');
    // Every cut point of the small files, about a thousand of each large one.
    const size_t step = body.size() < 12000 ? 1 : 97;
    int failures = 0;
    for (size_t cut = 0; cut <= last_brace; cut += step) {
      NodeSummary s;
      const Status st = DecodeSummary(std::string_view(body.data(), cut), "", &s);
      // Only a cut that keeps the closing brace can succeed.
      if (st.ok()) {
        ADD_FAILURE() << "cut at " << cut << " decoded";
        if (++failures > 5) break;
        continue;
      }
      EXPECT_EQ(st.reason(), reason::kDecode);
      EXPECT_TRUE(s.entities.empty());
    }
    NodeSummary s;
    EXPECT_TRUE(DecodeSummary(std::string_view(body.data(), last_brace + 1), "", &s).ok());
  }
}

TEST(SummaryHostile, ErrorNamesTheByteOffset) {
  NodeSummary s;
  const std::string body = NodeDoc(R"({"usageCoreNanoSeconds":1e400})");
  const Status st = DecodeSummary(body, "", &s);
  ASSERT_FALSE(st.ok());
  const size_t at = body.find("1e400");
  EXPECT_NE(st.message().find("at byte " + std::to_string(at)), std::string::npos) << st.message();
}

TEST(SampleScaled, AppliesCatalogExponent) {
  const int cpu = catalog::FindByName("node_cpu_usage_seconds_total");
  const int mem = catalog::FindByName("node_memory_working_set_bytes");
  ASSERT_GE(cpu, 0);
  ASSERT_GE(mem, 0);
  EXPECT_DOUBLE_EQ(Sample::Uint(static_cast<catalog::MetricId>(cpu), 1500000000).Scaled(), 1.5);
  EXPECT_DOUBLE_EQ(Sample::Int(static_cast<catalog::MetricId>(cpu), -2000000000).Scaled(), -2.0);
  EXPECT_DOUBLE_EQ(Sample::Double(static_cast<catalog::MetricId>(mem), 12.5).Scaled(), 12.5);
  EXPECT_DOUBLE_EQ(Sample::Uint(static_cast<catalog::MetricId>(mem), 7).Scaled(), 7.0);
}

// The snapshot keeps every decoded Summary until the next poll, and the next poll decodes into
// the same entities: blocks grown by doubling would keep up to half of their room unused for
// good (~30 MB of samples at 1,000 nodes), and label values set one by one a third. A decode leaves each block with at most an eighth of
// room, the first time and when it decodes into its own entities again.
TEST(SummaryValues, DecodedBlocksKeepLittleRoom) {
  const std::string body =
      ReadFixture("summary/nri-kubernetes-k8s-1.34-minikube-stats-summary.json");
  NodeSummary s;
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(DecodeSummary(body, "n", &s).ok());
    ASSERT_GT(s.entities.size(), 20u);
    EXPECT_LE(s.entities.capacity() - s.entities.size(), s.entities.size() / 8) << round;
    size_t samples = 0;
    for (const EntityStats& e : s.entities) {
      samples += e.samples.size();
      EXPECT_LE(e.samples.capacity() - e.samples.size(), e.samples.size() / 8)
          << round << " " << e.labels[0] << " " << e.samples.size();
      size_t label_bytes = sizeof(uint32_t) * e.labels.size();
      for (std::string_view v : e.labels) label_bytes += v.size();
      EXPECT_LE(e.labels.heap_bytes() - label_bytes, label_bytes / 8 + 3) << round;
    }
    EXPECT_GT(samples, 2000u);
  }
}

}  // namespace
}  // namespace kmb
