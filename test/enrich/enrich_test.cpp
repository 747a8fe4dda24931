// Pod-spec enrichment: the join of pods with the Summary (utilization checked against numbers
// worked out by hand from the 1.35 fixtures), kube-state-metrics label sanitation, and the watch
// cache against the simulated API server (list, churn, forced 410, watches that close every
// second, a 150k-pod list).

#include "kmb/exposition/enrich.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/sim_rig.h"
#include "common/test_util.h"
#include "kmb/app/poller.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/watch_cache.h"
#include "kmb/sim/cluster.h"
#include "kmb/sources/summary.h"
#include "kmb/util/sanitizers.h"

namespace kmb {
namespace {

std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(KMB_FIXTURES_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << relative;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

PodMap PodsOf(const std::string& fixture, PodDecodeOptions options = {}) {
  ObjectListPage<Pod> page;
  EXPECT_TRUE(DecodePodList(ReadFixture(fixture), options, &page).ok());
  PodMap pods;
  for (Pod& p : page.items) pods.Put(std::make_shared<const Pod>(std::move(p)));
  return pods;
}

Snapshot SnapshotOf(const std::string& summary_fixture, const std::string& node) {
  Snapshot snap;
  snap.summary.enabled = true;
  NodeResult r;
  r.node = node;
  EXPECT_TRUE(DecodeSummary(ReadFixture(summary_fixture), node, &r.summary).ok());
  snap.nodes.push_back(std::move(r));
  return snap;
}

// The value of `metric` for the pod-entity with these leading labels, or nullopt.
std::optional<double> Value(const std::vector<EntityStats>& entities, std::string_view metric,
                            std::initializer_list<std::string_view> labels) {
  const int id = catalog::FindByName(metric);
  EXPECT_GE(id, 0) << metric;
  for (const EntityStats& e : entities) {
    if (e.labels.size() < labels.size()) continue;
    size_t i = 0;
    bool match = true;
    for (std::string_view l : labels) match = match && e.labels[i++] == l;
    if (!match) continue;
    for (const Sample& s : e.samples) {
      if (s.metric == id) return s.Scaled();
    }
  }
  return std::nullopt;
}

constexpr char kPods135[] = "pods/nri-kubernetes-k8s-1.35-minikube-kubelet-pods.json";
constexpr char kSummary135[] = "summary/nri-kubernetes-k8s-1.35-minikube-stats-summary.json";
constexpr double kMi = 1024.0 * 1024.0;

TEST(Enrich, UtilizationMatchesHandComputedValuesFrom135Fixtures) {
  Snapshot snap = SnapshotOf(kSummary135, "datagen-1-35");
  EnrichSnapshot(PodsOf(kPods135), {}, &snap);
  const auto& pe = snap.pod_entities;
  const std::string_view dep = "e2e-deployment-79967c5968-8bnn8";

  // Container compute-pi-digits of e2e-deployment-79967c5968-8bnn8. Summary: cpu.usageNanoCores
  // 79992828, memory.usageBytes 10498048. Pod status resources: limits cpu 80m, memory 30Mi;
  // requests cpu 40m, memory 15Mi.
  auto c = [&](std::string_view m) { return Value(pe, m, {"scraper", dep, "compute-pi-digits"}); };
  EXPECT_DOUBLE_EQ(*c("k8s_container_cpu_limit_cores"), 0.08);
  EXPECT_DOUBLE_EQ(*c("k8s_container_memory_request_bytes"), 15 * kMi);
  EXPECT_NEAR(*c("k8s_container_cpu_limit_utilization"), 0.99991035, 1e-12);   // 0.079992828 / 0.08
  EXPECT_NEAR(*c("k8s_container_cpu_request_utilization"), 1.9998207, 1e-12);  // 0.079992828 / 0.04
  EXPECT_NEAR(*c("k8s_container_memory_limit_utilization"), 0.333723958333,
              1e-11);  // 10498048 / 31457280
  EXPECT_NEAR(*c("k8s_container_memory_request_utilization"), 0.667447916667,
              1e-11);  // 10498048 / 15728640
  EXPECT_FALSE(c("k8s_container_ephemeral_storage_limit_bytes"));

  // The pod: spec.resources (pod-level) limits cpu 100m, memory 40Mi; requests 50m, 20Mi.
  // Summary pod: cpu.usageNanoCores 79931897, memory.usageBytes 10756096.
  auto p = [&](std::string_view m) { return Value(pe, m, {"scraper", dep}); };
  EXPECT_DOUBLE_EQ(*p("k8s_pod_cpu_limit_cores"), 0.1);
  EXPECT_DOUBLE_EQ(*p("k8s_pod_memory_request_bytes"), 20 * kMi);
  EXPECT_NEAR(*p("k8s_pod_cpu_limit_utilization"), 0.79931897, 1e-12);        // 0.079931897 / 0.1
  EXPECT_NEAR(*p("k8s_pod_cpu_request_utilization"), 1.59863794, 1e-12);      // 0.079931897 / 0.05
  EXPECT_NEAR(*p("k8s_pod_memory_limit_utilization"), 0.2564453125, 1e-12);   // 10756096 / 41943040
  EXPECT_NEAR(*p("k8s_pod_memory_request_utilization"), 0.512890625, 1e-12);  // 10756096 / 20971520

  // coredns: requests cpu 100m, memory 70Mi; limit memory 170Mi only. Container usage: cpu
  // 905223 n, memory 16257024; pod: cpu 829054 n, memory 16273408.
  const std::string_view dns = "coredns-7d764666f9-qdcxt";
  auto dc = [&](std::string_view m) { return Value(pe, m, {"kube-system", dns, "coredns"}); };
  auto dp = [&](std::string_view m) { return Value(pe, m, {"kube-system", dns}); };
  EXPECT_FALSE(dc("k8s_container_cpu_limit_utilization"));  // no CPU limit
  EXPECT_NEAR(*dc("k8s_container_cpu_request_utilization"), 0.00905223,
              1e-14);  // 0.000905223 / 0.1
  EXPECT_NEAR(*dc("k8s_container_memory_limit_utilization"), 0.0911994485294,
              1e-12);  // 16257024 / 178257920
  EXPECT_FALSE(dp("k8s_pod_cpu_limit_cores"));
  EXPECT_FALSE(dp("k8s_pod_cpu_limit_utilization"));
  EXPECT_NEAR(*dp("k8s_pod_cpu_request_utilization"), 0.00829054, 1e-14);  // 0.000829054 / 0.1
  EXPECT_NEAR(*dp("k8s_pod_memory_limit_utilization"), 0.0912913602941,
              1e-12);  // 16273408 / 178257920

  // kube-scheduler requests CPU only: no memory request, so no memory request ratio.
  auto sp = [&](std::string_view m) {
    return Value(pe, m, {"kube-system", "kube-scheduler-datagen-1-35"});
  };
  EXPECT_NEAR(*sp("k8s_pod_cpu_request_utilization"), 0.03678291, 1e-14);  // 0.003678291 / 0.1
  EXPECT_FALSE(sp("k8s_pod_memory_request_bytes"));
  EXPECT_FALSE(sp("k8s_pod_memory_request_utilization"));

  // k8s_pod_info.
  bool found = false;
  for (const EntityStats& e : pe) {
    if (e.entity != catalog::Entity::kPodInfo || e.labels[1] != dep) continue;
    found = true;
    EXPECT_EQ(e.labels,
              (std::vector<std::string>{"scraper", std::string(dep), "datagen-1-35",
                                        "da59f36e-a7a8-46ed-8d9d-36392eb967d4", "ReplicaSet",
                                        "e2e-deployment-79967c5968", "Burstable", "Running"}));
  }
  EXPECT_TRUE(found);
}

TEST(Enrich, ImageLabelAndDeletedPodsAreDropped) {
  PodMap pods = PodsOf(kPods135);
  const std::string gone = "scraper/e2e-deployment-79967c5968-zjslc";
  ASSERT_TRUE(pods.Erase({"scraper", "e2e-deployment-79967c5968-zjslc"}));
  ASSERT_EQ(pods.count(gone), 0u);
  Snapshot snap = SnapshotOf(kSummary135, "datagen-1-35");
  EnrichSnapshot(pods, {}, &snap);
  int containers = 0;
  for (const EntityStats& e : snap.nodes[0].summary.entities) {
    if (e.labels.size() > 1) {
      EXPECT_NE(std::string(e.labels[0]) + "/" + std::string(e.labels[1]), gone) << "a deleted pod's series survived";
    }
    if (e.entity != catalog::Entity::kContainer) continue;
    ++containers;
    ASSERT_EQ(e.extra_labels.size(), 1u) << e.labels[1];
    EXPECT_EQ(e.extra_labels[0].first, "image");
    if (e.labels[2] == "coredns") {
      EXPECT_EQ(e.extra_labels[0].second, "registry.k8s.io/coredns/coredns:v1.13.1");
    }
  }
  EXPECT_EQ(containers, 16);  // 17 Summary pods with one container each, less the deleted one
  const std::string text = RenderExposition(snap, ExpositionFormat::kText004);
  EXPECT_NE(text.find("container_memory_working_set_bytes{namespace=\"kube-system\",pod=\"coredns-"
                      "7d764666f9-qdcxt\",container=\"coredns\",node=\"datagen-1-35\",image="
                      "\"registry.k8s.io/coredns/coredns:v1.13.1\"}"),
            std::string::npos);
  EXPECT_EQ(text.find("e2e-deployment-79967c5968-zjslc"), std::string::npos);
  EXPECT_NE(text.find("k8s_pod_info{namespace=\"scraper\",pod=\"e2e-deployment-79967c5968-8bnn8\","
                      "node=\"datagen-1-35\",owner_kind=\"ReplicaSet\",owner_name=\"e2e-"
                      "deployment-79967c5968\",qos_class=\"Burstable\",phase=\"Running\"} 1"),
            std::string::npos);
}

TEST(Enrich, PodLabelsSanitizedAsKubeStateMetricsDoes) {
  const std::vector<std::pair<std::string, std::string>> in = {{"app.kubernetes.io/name", "web"},
                                                               {"teamOwner", "x"},
                                                               {"a-b", "1"},
                                                               {"a_b", "2"},
                                                               {"a.b", "3"}};
  const auto out = PrometheusLabels("label", in);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"label_a_b_conflict1", "1"},  // sorted keys: a-b, a.b, a_b all become label_a_b
      {"label_a_b_conflict2", "3"},
      {"label_a_b_conflict3", "2"},
      {"label_app_kubernetes_io_name", "web"},
      {"label_team_owner", "x"}};
  EXPECT_EQ(out, want);

  PodMap pods = PodsOf(kPods135, {{"app", "pod-template-hash"}, {"*"}});
  Snapshot snap = SnapshotOf(kSummary135, "datagen-1-35");
  EnrichSnapshot(pods, {}, &snap);
  const std::string text = RenderExposition(snap, ExpositionFormat::kText004);
  EXPECT_NE(
      text.find("k8s_pod_labels{namespace=\"scraper\",pod=\"e2e-deployment-79967c5968-8bnn8\","
                "node=\"datagen-1-35\",label_app=\"deployment\",label_pod_template_hash="
                "\"79967c5968\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("k8s_pod_annotations{namespace=\"kube-system\",pod=\"kube-scheduler-"),
            std::string::npos);
}

// A pod with no allowlisted label (annotation) has its k8s_pod_labels (k8s_pod_annotations)
// series on its pod entity, which carries the same identity labels: per pod one pod entity,
// its containers' and its k8s_pod_info, instead of two entities more.
TEST(Enrich, LabelAndAnnotationSeriesWithoutExtraLabelsJoinThePodEntity) {
  PodMap pods = PodsOf(kPods135);  // no allowlists
  Snapshot snap = SnapshotOf(kSummary135, "datagen-1-35");
  EnrichSnapshot(pods, {}, &snap);
  size_t pods_on_node = 0, containers = 0;
  for (const auto& pod : pods) {
    if (pod->node != "datagen-1-35") continue;
    ++pods_on_node;
    containers += pod->containers.size();
  }
  ASSERT_GT(pods_on_node, 10u);
  size_t pod_kind = 0, info = 0, container_kind = 0;
  for (const EntityStats& e : snap.pod_entities) {
    pod_kind += e.entity == catalog::Entity::kPod;
    info += e.entity == catalog::Entity::kPodInfo;
    container_kind += e.entity == catalog::Entity::kContainer;
  }
  EXPECT_EQ(pod_kind, pods_on_node);
  EXPECT_EQ(info, pods_on_node);
  EXPECT_LE(container_kind, containers);
  EXPECT_EQ(snap.pod_entities.size(), pod_kind + info + container_kind);
  const std::string text = RenderExposition(snap, ExpositionFormat::kText004);
  for (const char* family : {"k8s_pod_labels", "k8s_pod_annotations"}) {
    EXPECT_NE(text.find(std::string(family) +
                        "{namespace=\"scraper\",pod=\"e2e-deployment-79967c5968-8bnn8\","
                        "node=\"datagen-1-35\"} 1\n"),
              std::string::npos)
        << family;
  }
  // With an allowlist, a pod with a kept label keeps an entity of its own for it.
  PodMap listed = PodsOf(kPods135, {{"app"}, {}});
  Snapshot with = SnapshotOf(kSummary135, "datagen-1-35");
  EnrichSnapshot(listed, {}, &with);
  size_t with_app = 0;
  for (const auto& pod : listed) {
    with_app += pod->node == "datagen-1-35" && !pod->labels.empty();
  }
  ASSERT_GT(with_app, 0u);
  ASSERT_LT(with_app, pods_on_node);
  EXPECT_EQ(with.pod_entities.size(), snap.pod_entities.size() + with_app);
  const std::string with_text = RenderExposition(with, ExpositionFormat::kText004);
  EXPECT_NE(with_text.find("k8s_pod_labels{namespace=\"scraper\",pod=\"e2e-deployment-"
                           "79967c5968-8bnn8\",node=\"datagen-1-35\",label_app=\"deployment\"} 1"),
            std::string::npos);
}

// The join fills spare entities of a released snapshot (the poller hands them over) exactly as
// fresh ones: the same exposition, whatever the spares held (other kinds, more labels, samples,
// extra labels, nested), and fewer or more spares than pod-spec entities.
TEST(Enrich, SpareEntitiesGiveTheSameExpositionAsFreshOnes) {
  PodMap pods = PodsOf(kPods135, {{"app", "pod-template-hash"}, {"*"}});
  Snapshot fresh = SnapshotOf(kSummary135, "datagen-1-35");
  EnrichSnapshot(pods, {}, &fresh);
  const std::string want = RenderExposition(fresh, ExpositionFormat::kText004);
  ASSERT_GT(fresh.pod_entities.size(), 20u);
  for (size_t keep : {size_t{3}, fresh.pod_entities.size(), fresh.pod_entities.size() + 7}) {
    std::vector<EntityStats> spare = fresh.pod_entities;
    spare.resize(keep);
    for (size_t i = 0; i < spare.size(); ++i) {  // garbage the join must overwrite
      EntityStats& e = spare[i];
      e.entity = i % 2 ? catalog::Entity::kVolume : catalog::Entity::kNode;
      const std::string x(40, 'x');
      e.labels = {x, x, x, x, x, x, x, x, x};
      e.samples.push_back(Sample::Uint(0, 7));
      e.extra_labels.emplace_back("label_stale", "yes");
      e.nested = true;
    }
    Snapshot again = SnapshotOf(kSummary135, "datagen-1-35");
    EnrichSnapshot(pods, {.spare = &spare}, &again);
    EXPECT_EQ(RenderExposition(again, ExpositionFormat::kText004), want) << keep << " spares";
  }
}

// The join keys usage by namespace, pod and container: a pod of the same name in another
// namespace, with a container of the same name, gets its own utilization, and a spec container
// the Summary does not list gets its requests and limits but no utilization.
TEST(Enrich, UsageIsJoinedPerNamespacePodAndContainer) {
  const std::string dep = "e2e-deployment-79967c5968-8bnn8";
  PodMap pods = PodsOf(kPods135);
  Pod twin = pods.at("scraper/" + dep);
  twin.namespace_ = "other";
  twin.uid = "00000000-0000-0000-0000-0000000000a1";
  PodContainer sidecar = twin.containers.at(0);
  sidecar.name = "sidecar";
  sidecar.limits.cpu = 0.5;
  twin.containers.push_back(sidecar);
  pods.Put(std::make_shared<const Pod>(twin));
  ASSERT_EQ(pods.at("other/" + dep).uid, twin.uid);

  // The twin's Summary entities: the original's with twice the usage, listed right after them
  // (same pod and container names, one after the other).
  Snapshot snap = SnapshotOf(kSummary135, "datagen-1-35");
  std::vector<EntityStats>& entities = snap.nodes[0].summary.entities;
  std::vector<EntityStats> copies;
  size_t after = 0;
  for (size_t i = 0; i < entities.size(); ++i) {
    const EntityStats& e = entities[i];
    if (e.entity != catalog::Entity::kPod && e.entity != catalog::Entity::kContainer) continue;
    if (e.labels[0] != "scraper" || e.labels[1] != dep) continue;
    after = i + 1;
    EntityStats c = e;
    c.labels.Set(0, twin.namespace_);
    c.labels.Set(c.labels.size() - 1, twin.uid);  // uid is the last label of pods and containers
    for (Sample& s : c.samples) {
      if (s.kind == ValueKind::kUint) s.set_u(s.u() * 2);
      if (s.kind == ValueKind::kDouble) s.set_d(s.d() * 2);
    }
    copies.push_back(std::move(c));
  }
  ASSERT_EQ(copies.size(), 2u);  // the pod and its one container
  entities.insert(entities.begin() + static_cast<std::ptrdiff_t>(after), copies.begin(),
                  copies.end());

  EnrichSnapshot(pods, {}, &snap);
  const auto& pe = snap.pod_entities;
  const std::string_view ctr = "compute-pi-digits";
  // Usage cpu 79992828 n (pod 79931897 n) against limits 80m (pod 100m), twice that in "other".
  EXPECT_NEAR(*Value(pe, "k8s_container_cpu_limit_utilization", {"scraper", dep, ctr}), 0.99991035,
              1e-12);
  EXPECT_NEAR(*Value(pe, "k8s_container_cpu_limit_utilization", {"other", dep, ctr}), 1.9998207,
              1e-12);
  EXPECT_NEAR(*Value(pe, "k8s_pod_cpu_limit_utilization", {"scraper", dep}), 0.79931897, 1e-12);
  EXPECT_NEAR(*Value(pe, "k8s_pod_cpu_limit_utilization", {"other", dep}), 1.59863794, 1e-12);
  EXPECT_DOUBLE_EQ(*Value(pe, "k8s_container_cpu_limit_cores", {"other", dep, "sidecar"}), 0.5);
  EXPECT_FALSE(Value(pe, "k8s_container_cpu_limit_utilization", {"other", dep, "sidecar"}));
  EXPECT_FALSE(Value(pe, "k8s_container_memory_request_utilization", {"other", dep, "sidecar"}));
  // Both copies of the container kept their image; the twin's entities were not dropped.
  int images = 0;
  for (const EntityStats& e : snap.nodes[0].summary.entities) {
    if (e.entity == catalog::Entity::kContainer && e.labels[1] == dep && e.labels[2] == ctr) {
      ASSERT_EQ(e.extra_labels.size(), 1u) << e.labels[0];
      ++images;
    }
  }
  EXPECT_EQ(images, 2);
}

// ---- The watch cache against the simulated API server ----

using testing::SimOf;
using testing::SimRig;

// Waits (bounded) until `done`; the tests assert on state, never on how long it took.
using testing::Eventually;

TEST(WatchCache, ListsThenFollowsChurnAndTheExpositionFollowsWithinOnePoll) {
  sim::SimOptions so = SimOf(3, 10);
  SimRig rig(so);
  Options opts;
  Poller poller(opts, rig.client);
  SnapshotPtr first = poller.Poll();
  ASSERT_EQ(first->nodes.size(), 3u);
  const std::string text = RenderExposition(*first, ExpositionFormat::kText004);
  // Every simulated pod has requests, limits, an owner and an image.
  EXPECT_NE(text.find("k8s_pod_info{"), std::string::npos);
  EXPECT_NE(text.find("k8s_container_cpu_request_cores{"), std::string::npos);
  EXPECT_NE(text.find(",image=\""), std::string::npos);

  // Pick a pod from the Summary and delete it.
  const EntityStats* pod = nullptr;
  for (const EntityStats& e : first->nodes[0].summary.entities) {
    if (e.entity == catalog::Entity::kPod) pod = &e;
  }
  ASSERT_NE(pod, nullptr);
  const std::string ns(pod->labels[0]), name(pod->labels[1]);
  const std::string needle = "pod=\"" + name + "\"";
  ASSERT_NE(text.find(needle), std::string::npos);
  ASSERT_TRUE(rig.sim->SetPodPresent(ns, name, false));
  // The next poll after the cache saw the DELETED event has none of its series.
  auto cache = MakePodCache(rig.client, {});
  ASSERT_TRUE(cache->WaitForSync(20));
  ASSERT_TRUE(Eventually([&] { return cache->Snapshot()->count(ns + "/" + name) == 0; }));
  ASSERT_TRUE(Eventually([&] {
    return RenderExposition(*poller.Poll(), ExpositionFormat::kText004).find(needle) ==
           std::string::npos;
  }));
  // Re-created: back at a following poll.
  ASSERT_TRUE(rig.sim->SetPodPresent(ns, name, true));
  ASSERT_TRUE(Eventually([&] {
    return RenderExposition(*poller.Poll(), ExpositionFormat::kText004).find(needle) !=
           std::string::npos;
  }));

  // Churn (13 deletions, 12 re-creations): the cache ends up with exactly the simulator's pods.
  rig.sim->ChurnPods(25);
  auto sim_pods = [&] {
    HttpResponse resp;
    EXPECT_TRUE(rig.client->Get("/api/v1/pods", &resp).ok());
    ObjectListPage<Pod> page;
    EXPECT_TRUE(DecodePodList(resp.body, {}, &page).ok());
    std::set<std::string> keys;
    for (const Pod& p : page.items) keys.insert(p.namespace_ + "/" + p.name);
    return keys;
  };
  const std::set<std::string> want = sim_pods();
  EXPECT_LT(want.size(), 30u);
  ASSERT_TRUE(Eventually([&] {
    std::set<std::string> have;
    for (const auto& pod : *cache->Snapshot()) have.insert(pod->namespace_ + "/" + pod->name);
    return have == want;
  }));
  EXPECT_EQ(cache->stats().lists, 1u);
  EXPECT_GT(cache->stats().events, 0u);
}

// A shard's cache keeps its nodes' pods only: from the list, and from the watch events that
// follow (a deletion, a re-creation).
TEST(WatchCache, KeepsOnlyThePodsItIsToldTo) {
  sim::SimOptions so = SimOf(2, 5);
  SimRig rig(so);
  const std::string node = rig.sim->node_names()[1];
  auto all = MakePodCache(rig.client, {});
  auto mine = MakePodCache(rig.client, {}, {}, [&](const Pod& p) { return p.node == node; });
  ASSERT_TRUE(all->WaitForSync(20));
  ASSERT_TRUE(mine->WaitForSync(20));
  ASSERT_EQ(all->Snapshot()->size(), 10u);
  ASSERT_EQ(mine->Snapshot()->size(), 5u);
  for (const auto& pod : *mine->Snapshot()) EXPECT_EQ(pod->node, node) << pod->name;
  const Pod* victim = nullptr;
  const Pod* other = nullptr;
  const auto pods = all->Snapshot();
  for (const auto& pod : *pods) (pod->node == node ? victim : other) = pod.get();
  ASSERT_NE(victim, nullptr);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(rig.sim->SetPodPresent(victim->namespace_, victim->name, false));
  ASSERT_TRUE(rig.sim->SetPodPresent(other->namespace_, other->name, false));
  ASSERT_TRUE(Eventually([&] { return all->Snapshot()->size() == 8u; }));
  ASSERT_TRUE(Eventually([&] { return mine->Snapshot()->size() == 4u; }));
  ASSERT_TRUE(rig.sim->SetPodPresent(other->namespace_, other->name, true));
  ASSERT_TRUE(rig.sim->SetPodPresent(victim->namespace_, victim->name, true));
  ASSERT_TRUE(Eventually([&] { return all->Snapshot()->size() == 10u; }));
  ASSERT_TRUE(Eventually([&] { return mine->Snapshot()->size() == 5u; }));
  EXPECT_EQ(mine->Snapshot()->count(other->namespace_ + "/" + other->name), 0u);
}

TEST(WatchCache, ForcedGoneRelistsAndStaysCorrect) {
  sim::SimOptions so = SimOf(2, 5);
  SimRig rig(so);
  auto cache = MakePodCache(rig.client, {});
  ASSERT_TRUE(cache->WaitForSync(20));
  ASSERT_TRUE(Eventually([&] { return cache->stats().watches >= 1; }));
  rig.sim->ExpireWatches();
  ASSERT_TRUE(Eventually([&] { return cache->stats().lists_gone >= 1; }));
  EXPECT_GE(cache->stats().lists, 2u);  // the relist is counted among the lists
  // A deletion after the relist still arrives.
  const auto before = cache->Snapshot();
  ASSERT_EQ(before->size(), 10u);
  const Pod& victim = **before->begin();
  ASSERT_TRUE(rig.sim->SetPodPresent(victim.namespace_, victim.name, false));
  ASSERT_TRUE(Eventually([&] { return cache->Snapshot()->size() == 9u; }));
}

TEST(WatchCache, WatchesThatCloseEverySecondKeepTheCacheCorrect) {
  sim::SimOptions so = SimOf(2, 5);
  so.watch_close_after_seconds = 1;
  SimRig rig(so);
  auto cache = MakePodCache(rig.client, {});
  auto nodes = MakeNodeCache(rig.client);
  ASSERT_TRUE(cache->WaitForSync(20));
  ASSERT_TRUE(nodes->WaitForSync(20));
  EXPECT_EQ(nodes->Snapshot()->size(), 2u);
  ASSERT_TRUE(Eventually([&] { return cache->stats().watches >= 3; }));
  // Each renewed watch takes up the connection the last one left open: the two caches opened
  // one each, the lists one or two.
  const uint64_t connections = rig.client->connections_opened();
  EXPECT_LE(connections, 4u);
  rig.sim->ChurnPods(1);  // the first step deletes
  ASSERT_TRUE(Eventually([&] { return cache->Snapshot()->size() == 9u; }));
  ASSERT_TRUE(Eventually([&] { return cache->stats().watches >= 5; }));
  EXPECT_EQ(rig.client->connections_opened(), connections);
  rig.sim->ChurnPods(1);  // the second re-creates it
  ASSERT_TRUE(Eventually([&] { return cache->Snapshot()->size() == 10u; }));
  // Reconnects resume from the last resourceVersion: one list only, no 410.
  EXPECT_EQ(cache->stats().lists, 1u);
  EXPECT_EQ(cache->stats().lists_gone, 0u);
}

TEST(WatchCache, PodsForbiddenIsOneLogLineAndTheRestIsExported) {
  sim::SimOptions so = SimOf(2, 3);
  so.deny = {"pods"};
  SimRig rig(so);
  ::testing::internal::CaptureStderr();
  Options opts;
  SnapshotPtr snap;
  {
    Poller poller(opts, rig.client);
    snap = poller.Poll();
    snap = poller.Poll();
  }
  const std::string logs = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(snap->summary.up);
  const std::string text = RenderExposition(*snap, ExpositionFormat::kText004);
  EXPECT_NE(text.find("container_memory_working_set_bytes{"), std::string::npos);
  EXPECT_EQ(text.find("k8s_pod_info{"), std::string::npos);  // no pod cache, no pod-spec series
  size_t lines = 0;
  for (size_t at = 0; (at = logs.find("list failed", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u) << logs;
  EXPECT_NE(logs.find("resource=pods"), std::string::npos) << logs;
  EXPECT_NE(logs.find("HTTP 403"), std::string::npos) << logs;
}

long MaxRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

TEST(WatchCache, A150kPodListIsPagedDecodedAndBoundedInMemory) {
  sim::SimOptions so = SimOf(1500, 100);
  so.containers_per_pod = 1;
  SimRig rig(so);
  const long before_kb = MaxRssKb();
  auto cache = MakePodCache(rig.client, {});
  ASSERT_TRUE(cache->WaitForSync(120));
  const auto pods = cache->Snapshot();
  ASSERT_EQ(pods->size(), 150000u);
  // The list was read in pages of 500 (~1.3 MB of JSON each, ~400 MB in all), never whole: the
  // process grew by the decoded pods (no labels kept: no allowlist), not by the JSON.
  const long grown_mb = (MaxRssKb() - before_kb) / 1024;
#if KMB_ASAN
  constexpr long kMaxGrowthMb = 1000;  // AddressSanitizer's redzones and quarantine (measured 490)
#else
  constexpr long kMaxGrowthMb = 350;
#endif
  EXPECT_LT(grown_mb, kMaxGrowthMb) << "peak RSS grew by " << grown_mb << " MB";
  const Pod& any = **pods->begin();
  EXPECT_FALSE(any.node.empty());
  EXPECT_EQ(any.containers.size(), 1u);
  EXPECT_TRUE(any.requests.cpu.has_value() || any.qos_class == "BestEffort");
}

}  // namespace
}  // namespace kmb
