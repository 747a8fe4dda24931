// The Pod / Node decoders of the watch cache (kmb/sources/pods.h) on every pods fixture and on
// the shapes the fixtures lack (in-place resize, sidecars, pod-level resources, watch events).

#include "kmb/sources/pods.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "sources/json_walk.h"
#include "sources/sources_test_support.h"

namespace kmb {
namespace {

using testing::ReadFixture;

const Pod* FindPod(const ObjectListPage<Pod>& page, std::string_view name) {
  for (const Pod& p : page.items) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

TEST(Pods, EveryFixtureDecodesEveryItem) {
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(KMB_FIXTURES_DIR) + "/pods")) {
    const std::string name = entry.path().filename().string();
    const std::string body = ReadFixture("pods/" + name);
    const auto json = nlohmann::json::parse(body);
    ObjectListPage<Pod> page;
    ASSERT_TRUE(DecodePodList(body, {{"*"}, {"*"}}, &page).ok()) << name;
    EXPECT_TRUE(page.errors.empty()) << name << ": " << page.errors.front();
    ASSERT_EQ(page.items.size(), json["items"].size()) << name;
    for (size_t i = 0; i < page.items.size(); ++i) {
      const auto& item = json["items"][i];
      const Pod& pod = page.items[i];
      EXPECT_EQ(pod.name, item["metadata"]["name"]) << name;
      EXPECT_EQ(pod.namespace_, item["metadata"].value("namespace", "")) << name;
      EXPECT_EQ(pod.labels.size(),
                item["metadata"].value("labels", nlohmann::json::object()).size())
          << name;
      if (!item.contains("spec")) continue;
      EXPECT_EQ(pod.node, item["spec"].value("nodeName", "")) << name;
      EXPECT_EQ(pod.containers.size(), item["spec"]["containers"].size()) << name;
      EXPECT_EQ(pod.phase, item["status"].value("phase", "")) << name;
      EXPECT_EQ(pod.qos_class, item["status"].value("qosClass", "")) << name;
      for (size_t c = 0; c < pod.containers.size(); ++c) {
        EXPECT_EQ(pod.containers[c].image.str(), item["spec"]["containers"][c]["image"].get<std::string>()) << name;
      }
    }
    ++files;
  }
  EXPECT_EQ(files, 5);
}

TEST(Pods, FixtureValuesFrom135) {
  ObjectListPage<Pod> page;
  ASSERT_TRUE(DecodePodList(ReadFixture("pods/nri-kubernetes-k8s-1.35-minikube-kubelet-pods.json"),
                            {{"app"}, {}}, &page)
                  .ok());
  // Pod-level resources (spec.resources) replace the container sums: 80m+... -> 100m limit.
  const Pod* dep = FindPod(page, "e2e-deployment-79967c5968-8bnn8");
  ASSERT_NE(dep, nullptr);
  EXPECT_EQ(dep->owner_kind, "ReplicaSet");
  EXPECT_EQ(dep->owner_name, "e2e-deployment-79967c5968");
  EXPECT_EQ(dep->qos_class, "Burstable");
  EXPECT_EQ(dep->phase, "Running");
  EXPECT_EQ(dep->node, "datagen-1-35");
  EXPECT_DOUBLE_EQ(*dep->limits.cpu, 0.1);
  EXPECT_DOUBLE_EQ(*dep->limits.memory, 40.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*dep->requests.cpu, 0.05);
  EXPECT_DOUBLE_EQ(*dep->requests.memory, 20.0 * 1024 * 1024);
  ASSERT_EQ(dep->containers.size(), 1u);
  EXPECT_DOUBLE_EQ(*dep->containers[0].limits.cpu, 0.08);
  EXPECT_DOUBLE_EQ(*dep->containers[0].requests.memory, 15.0 * 1024 * 1024);
  EXPECT_FALSE(dep->containers[0].limits.ephemeral_storage.has_value());
  // Only the allowlisted label is kept.
  ASSERT_EQ(dep->labels.size(), 1u);
  EXPECT_EQ(dep->labels[0], (std::pair<std::string, std::string>{"app", "deployment"}));
  EXPECT_TRUE(dep->annotations.empty());

  // coredns: a memory limit but no CPU limit -> the pod has no CPU limit.
  const Pod* dns = FindPod(page, "coredns-7d764666f9-qdcxt");
  ASSERT_NE(dns, nullptr);
  EXPECT_FALSE(dns->limits.cpu.has_value());
  EXPECT_DOUBLE_EQ(*dns->limits.memory, 170.0 * 1024 * 1024);
  EXPECT_TRUE(dns->cpu_request_complete);

  // "5M" is decimal.
  const Pod* creating = FindPod(page, "e2e-container-creating");
  ASSERT_NE(creating, nullptr);
  EXPECT_DOUBLE_EQ(*creating->limits.memory, 5e6);
  EXPECT_DOUBLE_EQ(*creating->limits.cpu, 0.005);

  // BestEffort: nothing set, and no request is complete.
  const Pod* be = FindPod(page, "storage-provisioner");
  ASSERT_NE(be, nullptr);
  EXPECT_FALSE(be->requests.cpu.has_value());
  EXPECT_FALSE(be->limits.memory.has_value());
  EXPECT_FALSE(be->cpu_request_complete);
  EXPECT_FALSE(be->memory_request_complete);
}

// Shapes no fixture has: in-place resize, sidecar and regular init containers, overhead.
TEST(Pods, ResizeSidecarsInitContainersAndOverhead) {
  const std::string body = R"({"kind":"PodList","metadata":{"resourceVersion":"77"},"items":[
    {"metadata":{"name":"p","namespace":"n","uid":"u1","resourceVersion":"70",
       "annotations":{"kubernetes.io/config.mirror":"hash1","team":"a"},
       "ownerReferences":[{"kind":"Node","name":"x"},{"kind":"Job","name":"j","controller":true}]},
     "spec":{"nodeName":"n1",
       "initContainers":[
         {"name":"setup","resources":{"requests":{"cpu":"2","memory":"1Gi"}}},
         {"name":"proxy","restartPolicy":"Always",
          "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"200m","memory":"64Mi"}}}],
       "containers":[
         {"name":"app","image":"app:1","resources":{"requests":{"cpu":"500m","memory":"256Mi",
           "ephemeral-storage":"1Gi"},"limits":{"cpu":"1","memory":"512Mi","ephemeral-storage":"2Gi"}}}],
       "overhead":{"cpu":"10m","memory":"1Mi"}},
     "status":{"phase":"Running","qosClass":"Burstable",
       "containerStatuses":[{"name":"app","resources":{"requests":{"cpu":"750m","memory":"256Mi"},
         "limits":{"cpu":"1500m","memory":"512Mi"}}}]}},
    {"metadata":{"name":"bad","namespace":"n"},"spec":{"containers":[
       {"name":"c","resources":{"requests":{"cpu":"1.5.5"}}}]}}
  ]})";
  ObjectListPage<Pod> page;
  ASSERT_TRUE(DecodePodList(body, {{}, {"team"}}, &page).ok());
  EXPECT_EQ(page.resource_version, "77");
  // The bad quantity costs only its pod, with one line naming it.
  ASSERT_EQ(page.errors.size(), 1u);
  EXPECT_NE(page.errors[0].find("pod n/bad"), std::string::npos) << page.errors[0];
  EXPECT_NE(page.errors[0].find("1.5.5"), std::string::npos) << page.errors[0];
  ASSERT_EQ(page.items.size(), 1u);
  const Pod& p = page.items[0];
  EXPECT_EQ(p.owner_kind, "Job");
  EXPECT_EQ(p.owner_name, "j");
  EXPECT_EQ(p.mirror_uid, "hash1");
  EXPECT_EQ(p.annotations.size(), 1u);
  ASSERT_EQ(p.containers.size(), 1u);  // init containers are not app containers
  // The resize (status) wins over the spec.
  EXPECT_DOUBLE_EQ(*p.containers[0].requests.cpu, 0.75);
  EXPECT_DOUBLE_EQ(*p.containers[0].limits.cpu, 1.5);
  // The status names no ephemeral-storage (not resizable): the spec's stays.
  EXPECT_DOUBLE_EQ(*p.containers[0].requests.ephemeral_storage, 1024.0 * 1024 * 1024);
  // cpu requests: app 750m + sidecar 100m = 850m; regular init "setup" needs 2 (no sidecar
  // started before it) -> max(850m, 2) = 2, plus overhead 10m = 2.01.
  EXPECT_DOUBLE_EQ(*p.requests.cpu, 2.01);
  // memory requests: 256Mi + 64Mi = 320Mi vs 1Gi -> 1Gi, plus 1Mi.
  EXPECT_DOUBLE_EQ(*p.requests.memory, 1025.0 * 1024 * 1024);
  // cpu limits: app 1500m + sidecar 200m = 1.7 (setup has no limit: it does not count), +10m.
  EXPECT_DOUBLE_EQ(*p.limits.cpu, 1.71);
  EXPECT_DOUBLE_EQ(*p.limits.memory, (512.0 + 64 + 1) * 1024 * 1024);
  EXPECT_TRUE(p.cpu_request_complete);
}

// A list page of `pods` pods of ~190 bytes each, its metadata after its items.
std::string PodListPage(int pods) {
  std::string body = R"({"kind":"PodList","items":[)";
  for (int i = 0; i < pods; ++i) {
    if (i > 0) body += ",";
    body += R"({"metadata":{"name":"pod-)" + std::to_string(i) +
            R"(","namespace":"ns","uid":"u","labels":{"app":"a"}},"spec":{"nodeName":"n1",)"
            R"("containers":[{"name":"c","resources":{"requests":{"cpu":"100m"}}}]},)"
            R"("status":{"phase":"Running"}})";
  }
  return body + R"(],"metadata":{"resourceVersion":"7","continue":"next"}})";
}

// A list page (start, relist) is parsed with the pooled decoder states, a batch of items at a
// time: no parser grows to the page (~14 bytes per byte of it), so none sized for one stays
// behind. Until 2026-12-03 the watch thread had a parser of its own, which a page under 64 KiB
// left that size and a larger page grew to ~14x before it was dropped. The pods are all there,
// in order, as from a page parsed whole.
TEST(Pods, AListPageGrowsNoParserPastABatch) {
  walk::DropIdleDecoderStatesForTest();  // parsers grown by earlier tests of this process
  const std::string body = PodListPage(3000);
  ASSERT_GT(body.size(), 300u << 10);
  ObjectListPage<Pod> page;
  ASSERT_TRUE(DecodePodList(body, {}, &page).ok());
  ASSERT_EQ(page.items.size(), 3000u);
  for (size_t i = 0; i < page.items.size(); ++i) {
    ASSERT_EQ(page.items[i].name, "pod-" + std::to_string(i));
  }
  EXPECT_DOUBLE_EQ(page.items[2999].containers.at(0).requests.cpu.value_or(0), 0.1);
  EXPECT_EQ(page.resource_version, "7");
  EXPECT_EQ(page.continue_token, "next");
  const size_t capacity = walk::LargestParserCapacityForTest();
  EXPECT_GT(capacity, 0u);
  EXPECT_LT(capacity, size_t{3} << 15) << "a parser grew past one batch";
  // The same page as one small batch per pod: the same pods.
  walk::ListBatchBytesForTest(64);
  ObjectListPage<Pod> small_batches;
  ASSERT_TRUE(DecodePodList(body, {}, &small_batches).ok());
  walk::ListBatchBytesForTest(0);
  ASSERT_EQ(small_batches.items.size(), 3000u);
  EXPECT_EQ(small_batches.items[1234].name, "pod-1234");
  EXPECT_EQ(small_batches.resource_version, "7");
}

// What batches cannot take goes to a whole parse, with the same result or error: a list whose
// key is escaped, an item that is not valid JSON (found only when its batch is parsed, after
// earlier batches' pods were handed out), items that are not an array, a truncated page.
TEST(Pods, ListPagesBatchesCannotTake) {
  walk::ListBatchBytesForTest(64);  // every page below is larger than a batch
  const std::string page = PodListPage(20);
  ObjectListPage<Pod> whole;
  ASSERT_TRUE(DecodePodList(page, {}, &whole).ok());
  ASSERT_EQ(whole.items.size(), 20u);

  // "\u0069tems" is "items": the scan of batches does not unescape keys.
  std::string escaped = page;
  escaped.replace(escaped.find("\"items\""), 7, "\"\\u0069tems\"");
  ObjectListPage<Pod> from_escaped;
  ASSERT_TRUE(DecodePodList(escaped, {}, &from_escaped).ok());
  EXPECT_EQ(from_escaped.items.size(), 20u);

  // A bad literal in the last pod: the scan passes it, the last batch's parse does not, and
  // the whole parse then refuses the page. Nothing of it is kept.
  std::string bad = page;
  bad.replace(bad.rfind("\"Running\""), 9, "Running!!");
  ObjectListPage<Pod> from_bad;
  from_bad.items.resize(2);  // appended to: what was there stays
  const Status st = DecodePodList(bad, {}, &from_bad);
  EXPECT_EQ(st.reason(), reason::kDecode);
  EXPECT_NE(st.message().find("PodList: not valid JSON"), std::string::npos) << st.message();
  EXPECT_EQ(from_bad.items.size(), 2u);

  ObjectListPage<Pod> from_object;
  const Status not_array = DecodePodList(
      R"({"metadata":{"resourceVersion":"3"},"items":{"a":)" + page + "}}", {}, &from_object);
  EXPECT_EQ(not_array.message(), "PodList: items is not an array");
  EXPECT_TRUE(from_object.items.empty());

  ObjectListPage<Pod> from_truncated;
  EXPECT_EQ(DecodePodList(page.substr(0, page.size() - 40), {}, &from_truncated).reason(),
            reason::kDecode);
  EXPECT_TRUE(from_truncated.items.empty());
  walk::ListBatchBytesForTest(0);
}

TEST(Pods, WatchEvents) {
  WatchEvent<Pod> ev;
  ASSERT_TRUE(
      DecodePodWatchEvent(
          R"({"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"a","namespace":"b","resourceVersion":"12"}}})",
          {}, &ev)
          .ok());
  EXPECT_EQ(ev.type, WatchEventType::kDeleted);
  EXPECT_EQ(ev.object.name, "a");
  EXPECT_EQ(ev.resource_version, "12");

  WatchEvent<Pod> bm;
  ASSERT_TRUE(
      DecodePodWatchEvent(
          R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"99"}}})", {},
          &bm)
          .ok());
  EXPECT_EQ(bm.type, WatchEventType::kBookmark);
  EXPECT_EQ(bm.resource_version, "99");

  WatchEvent<NodeObject> gone;
  ASSERT_TRUE(
      DecodeNodeWatchEvent(
          R"j({"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 5 (10)","reason":"Expired","code":410}})j",
          &gone)
          .ok());
  EXPECT_EQ(gone.type, WatchEventType::kError);
  EXPECT_EQ(gone.error_code, 410);

  WatchEvent<Pod> bad;
  Status st = DecodePodWatchEvent(R"({"type":"ADDED","object":{"metadata":{}}})", {}, &bad);
  EXPECT_EQ(st.reason(), reason::kDecode);
  EXPECT_NE(st.message().find("metadata.name"), std::string::npos) << st.message();
  EXPECT_FALSE(DecodePodWatchEvent("{\"type\":\"ADDED\",", {}, &bad).ok());
  EXPECT_FALSE(DecodePodWatchEvent(R"({"type":"WHAT","object":{}})", {}, &bad).ok());
}

TEST(Pods, NodeListAndMalformedLists) {
  ObjectListPage<NodeObject> nodes;
  ASSERT_TRUE(
      DecodeNodeObjectList(
          R"({"kind":"NodeList","metadata":{"resourceVersion":"5","continue":"abc"},"items":[{"metadata":{"name":"n1","resourceVersion":"3"}}]})",
          &nodes)
          .ok());
  ASSERT_EQ(nodes.items.size(), 1u);
  EXPECT_EQ(nodes.items[0].name, "n1");
  EXPECT_EQ(nodes.continue_token, "abc");
  ObjectListPage<Pod> pods;
  EXPECT_EQ(DecodePodList("not json", {}, &pods).reason(), reason::kDecode);
  EXPECT_EQ(DecodePodList(R"({"items":5})", {}, &pods).reason(), reason::kDecode);
  EXPECT_TRUE(DecodePodList(R"({"items":null})", {}, &pods).ok());
}

}  // namespace
}  // namespace kmb
