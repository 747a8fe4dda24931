#include "kmb/sources/metrics_api.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "kmb/sources/summary.h"  // kJsonPadding
#include "sources/json_walk.h"
#include "sources/sources_test_support.h"

namespace kmb {
namespace {

using catalog::Entity;
using testing::D;
using testing::FindEntity;
using testing::ReadFixture;
using testing::SampleOf;

constexpr const char* kMinikubeNode = "metrics-api/k8s-website-nodemetrics-minikube-2022.json";
constexpr const char* kUb18Node = "metrics-api/dangolk-k8-reference-nodemetrics-ub18-2023.json";
constexpr const char* kSchedulerPod =
    "metrics-api/k8s-website-podmetrics-kube-scheduler-minikube-2022.json";

TEST(MetricsApi, EveryFixtureFileIsCovered) {
  std::set<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(KMB_FIXTURES_DIR) + "/metrics-api")) {
    files.insert("metrics-api/" + entry.path().filename().string());
  }
  EXPECT_EQ(files, (std::set<std::string>{kMinikubeNode, kUb18Node, kSchedulerPod}));
}

TEST(MetricsApi, MinikubeNodeMetrics2022) {
  std::vector<EntityStats> out;
  ASSERT_TRUE(DecodeNodeMetrics(ReadFixture(kMinikubeNode), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entity, Entity::kApiNode);
  EXPECT_EQ(out[0].labels, std::vector<std::string>{"minikube"});
  ASSERT_EQ(out[0].samples.size(), 3u);
  // cpu 487558164n, memory 732212Ki, window 30s.
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_node_cpu_usage_cores")), 0.487558164);
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_node_memory_working_set_bytes")),
                   749785088.0);
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_node_window_seconds")), 30.0);
  for (const Sample& s : out[0].samples) EXPECT_EQ(out[0].time_ms(s), 1643309313000);  // 18:48:33Z
}

TEST(MetricsApi, Ub18NodeMetrics2023) {
  std::vector<EntityStats> out;
  ASSERT_TRUE(DecodeNodeMetrics(ReadFixture(kUb18Node), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].labels, std::vector<std::string>{"ub18"});
  // cpu 329087452n, memory 2748180Ki, window 20.064s; node labels in metadata are ignored.
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_node_cpu_usage_cores")), 0.329087452);
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_node_memory_working_set_bytes")),
                   2748180.0 * 1024);
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_node_window_seconds")), 20.064);
  EXPECT_EQ(out[0].time_ms(out[0].samples[0]), 1677818274000);  // 2023-03-03T04:37:54Z
}

TEST(MetricsApi, KubeSchedulerPodMetrics2022) {
  std::vector<EntityStats> out;
  ASSERT_TRUE(DecodePodMetrics(ReadFixture(kSchedulerPod), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].entity, Entity::kApiPod);
  EXPECT_EQ(out[0].labels, (std::vector<std::string>{"kube-system", "kube-scheduler-minikube"}));
  ASSERT_EQ(out[0].samples.size(), 1u);
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_pod_window_seconds")), 30.0);
  EXPECT_EQ(out[1].entity, Entity::kApiContainer);
  EXPECT_EQ(out[1].labels,
            (std::vector<std::string>{"kube-system", "kube-scheduler-minikube", "kube-scheduler"}));
  // cpu 9559630n, memory 22244Ki; the container takes the pod's timestamp.
  EXPECT_DOUBLE_EQ(D(SampleOf(out[1], "k8s_metrics_api_container_cpu_usage_cores")), 0.00955963);
  EXPECT_DOUBLE_EQ(D(SampleOf(out[1], "k8s_metrics_api_container_memory_working_set_bytes")),
                   22244.0 * 1024);
  for (const EntityStats& e : out) {
    for (const Sample& s : e.samples) EXPECT_EQ(e.time_ms(s), 1643311471000);  // 19:24:31Z
  }
}

// Lists are CONSTRUCTED here by wrapping the captured single objects (no real list capture
// with an attributable source exists; see fixtures/PROVENANCE.md).
std::string WrapList(const char* kind, std::initializer_list<std::string> items) {
  std::string body = std::string(R"({"kind":")") + kind +
                     R"(","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[)";
  bool first = true;
  for (const std::string& item : items) {
    if (!first) body += ",";
    body += item;
    first = false;
  }
  return body + "]}";
}

// The poller hands the client's padded buffer over: decoding in place gives what a copy gives,
// and bytes past the end of a truncated body are never read as JSON.
TEST(MetricsApi, InPlaceDecodeMatchesCopy) {
  using Decode = Status (*)(std::string_view, size_t, size_t, std::vector<EntityStats>*);
  const std::pair<const char*, Decode> cases[] = {{kUb18Node, DecodeNodeMetrics},
                                                  {kSchedulerPod, DecodePodMetrics}};
  for (const auto& [file, decode] : cases) {
    SCOPED_TRACE(file);
    const std::string body = ReadFixture(file);
    std::string padded = body;
    padded.reserve(body.size() + kJsonPadding);
    std::vector<EntityStats> a, b;
    ASSERT_TRUE(decode(body, body.size(), 0, &a).ok());
    ASSERT_TRUE(decode(padded, padded.capacity(), 0, &b).ok());
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].labels, b[i].labels);
      ASSERT_EQ(a[i].samples.size(), b[i].samples.size());
      for (size_t j = 0; j < a[i].samples.size(); ++j) {
        EXPECT_EQ(a[i].samples[j].u(), b[i].samples[j].u());
        EXPECT_EQ(a[i].time_ms(a[i].samples[j]), b[i].time_ms(b[i].samples[j]));
      }
    }
    std::string cut = body.substr(0, body.size() / 2) + std::string(200, '7');
    std::vector<EntityStats> c;
    EXPECT_FALSE(decode(std::string_view(cut.data(), body.size() / 2), cut.size(), 0, &c).ok());
    EXPECT_TRUE(c.empty());
  }
}

TEST(MetricsApi, ConstructedNodeMetricsList) {
  const std::string list =
      WrapList("NodeMetricsList", {ReadFixture(kMinikubeNode), ReadFixture(kUb18Node)});
  std::vector<EntityStats> out;
  ASSERT_TRUE(DecodeNodeMetrics(list, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].labels, std::vector<std::string>{"minikube"});
  EXPECT_EQ(out[1].labels, std::vector<std::string>{"ub18"});
  EXPECT_DOUBLE_EQ(D(SampleOf(out[0], "k8s_metrics_api_node_cpu_usage_cores")), 0.487558164);
  EXPECT_DOUBLE_EQ(D(SampleOf(out[1], "k8s_metrics_api_node_window_seconds")), 20.064);
  EXPECT_EQ(out[0].time_ms(out[0].samples[0]), 1643309313000);
  EXPECT_EQ(out[1].time_ms(out[1].samples[0]), 1677818274000);
}

TEST(MetricsApi, ConstructedPodMetricsList) {
  std::string second = ReadFixture(kSchedulerPod);
  second.replace(second.find("\"kube-scheduler-minikube\""), 25, "\"other-pod\"");
  const std::string list = WrapList("PodMetricsList", {ReadFixture(kSchedulerPod), second});
  std::vector<EntityStats> out;
  ASSERT_TRUE(DecodePodMetrics(list, &out).ok());
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].labels, (std::vector<std::string>{"kube-system", "kube-scheduler-minikube"}));
  EXPECT_EQ(out[2].labels, (std::vector<std::string>{"kube-system", "other-pod"}));
  EXPECT_EQ(out[3].entity, Entity::kApiContainer);
  EXPECT_EQ(out[3].labels,
            (std::vector<std::string>{"kube-system", "other-pod", "kube-scheduler"}));
}

TEST(MetricsApi, EmptyListsAndAppending) {
  std::vector<EntityStats> out(1);  // an entity from an earlier call stays
  ASSERT_TRUE(DecodeNodeMetrics(R"({"kind":"NodeMetricsList","items":[]})", &out).ok());
  EXPECT_EQ(out.size(), 1u);
  ASSERT_TRUE(DecodeNodeMetrics(R"({"kind":"NodeMetricsList","metadata":{}})", &out).ok());
  EXPECT_EQ(out.size(), 1u);
  ASSERT_TRUE(DecodePodMetrics(R"({"items":null})", &out).ok());
  EXPECT_EQ(out.size(), 1u);
  ASSERT_TRUE(DecodeNodeMetrics(ReadFixture(kMinikubeNode), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].labels, std::vector<std::string>{"minikube"});
}

TEST(MetricsApi, BadValuesAreSkippedNotFatal) {
  const std::string body = R"({"kind":"PodMetricsList","items":[
    {"metadata":{"name":"p1","namespace":"ns"},"timestamp":"2024-01-01T00:00:00Z",
     "window":"forever","containers":[
       {"name":"a","usage":{"cpu":"12 cores","memory":"10Mi"}},
       {"name":"b","usage":{"cpu":"250m","memory":17}},
       {"name":"c","usage":{"cpu":null,"memory":"1.5Gi"}},
       7, null]},
    {"metadata":{"name":"p2","namespace":"ns"},"window":"1m0s","containers":[]}]})";
  std::vector<EntityStats> out;
  const Status st = DecodePodMetrics(body, &out);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(out.size(), 5u);
  EXPECT_TRUE(out[0].samples.empty());  // the window did not parse
  const EntityStats* a = FindEntity(out, Entity::kApiContainer, {"ns", "p1", "a"});
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(SampleOf(*a, "k8s_metrics_api_container_cpu_usage_cores").has_value());
  EXPECT_DOUBLE_EQ(D(SampleOf(*a, "k8s_metrics_api_container_memory_working_set_bytes")),
                   10485760.0);
  const EntityStats* b = FindEntity(out, Entity::kApiContainer, {"ns", "p1", "b"});
  ASSERT_NE(b, nullptr);
  EXPECT_DOUBLE_EQ(D(SampleOf(*b, "k8s_metrics_api_container_cpu_usage_cores")), 0.25);
  EXPECT_EQ(SampleOf(*b, "k8s_metrics_api_container_memory_working_set_bytes")->u(), 17u);
  EXPECT_EQ(b->time_ms(b->samples[0]), 1704067200000);
  const EntityStats* c = FindEntity(out, Entity::kApiContainer, {"ns", "p1", "c"});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->samples.size(), 1u);
  const EntityStats* p2 = FindEntity(out, Entity::kApiPod, {"ns", "p2"});
  ASSERT_NE(p2, nullptr);
  EXPECT_DOUBLE_EQ(D(SampleOf(*p2, "k8s_metrics_api_pod_window_seconds")), 60.0);
  EXPECT_EQ(p2->time_ms(p2->samples[0]), 0);  // no timestamp
}

TEST(MetricsApi, MalformedBodiesLeaveOutputUntouched) {
  const std::string good = ReadFixture(kMinikubeNode);
  for (const std::string& bad :
       {std::string(""), std::string("not json"), std::string("[1,2]"), std::string("{"),
        std::string(2000000, '['), good.substr(0, good.size() / 2), good + "}",
        std::string(R"({"items":[{"window":1e999,"containers":[{"usage":{"cpu":1e999}}]}]})")}) {
    std::vector<EntityStats> out(2);
    const Status node = DecodeNodeMetrics(bad, &out);
    EXPECT_FALSE(node.ok()) << bad.substr(0, 40);
    EXPECT_EQ(node.reason(), reason::kDecode);
    EXPECT_NE(node.message().find("byte"), std::string::npos) << node.message();
    EXPECT_EQ(out.size(), 2u);
    const Status pod = DecodePodMetrics(bad, &out);
    EXPECT_FALSE(pod.ok());
    EXPECT_EQ(out.size(), 2u);
  }
  // Every cut of the fixtures fails cleanly.
  for (const char* file : {kMinikubeNode, kUb18Node, kSchedulerPod}) {
    const std::string body = ReadFixture(file);
    const size_t last = body.rfind('}');
    for (size_t cut = 0; cut <= last; ++cut) {
      std::vector<EntityStats> out;
      EXPECT_FALSE(DecodePodMetrics(std::string_view(body.data(), cut), &out).ok()) << cut;
      EXPECT_FALSE(DecodeNodeMetrics(std::string_view(body.data(), cut), &out).ok()) << cut;
      EXPECT_TRUE(out.empty());
    }
  }
}

// ---- Lists walked in batches of items (Schema::WalkListInBatches) ----

// A PodMetricsList of `pods` items made from the captured PodMetrics, each pod renamed. The
// names hold what the scan of the raw bytes must step over: escaped quotes and backslashes,
// brackets and braces inside strings.
std::string BigPodList(size_t pods) {
  const std::string item = ReadFixture(kSchedulerPod);
  const std::string name = "\"kube-scheduler-minikube\"";
  std::string body = R"({"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1",)"
                     R"("metadata":{"resourceVersion":"1"},"items":[)";
  for (size_t i = 0; i < pods; ++i) {
    std::string renamed = item;
    const std::string odd = i % 3 == 0 ? R"(\"]}[{\\)" : i % 3 == 1 ? R"(\\\\\")" : "";
    renamed.replace(renamed.find(name), name.size(), "\"pod-" + std::to_string(i) + odd + "\"");
    body += i == 0 ? "\n " : ",\n ";
    body += renamed;
  }
  return body + "\n]}\n";
}

struct Decoded {
  Status status;
  std::vector<EntityStats> out;
};

// `batch_bytes` 0: the default (lists over 1 MiB in batches); 1: every item a batch.
Decoded DecodePodsInBatchesOf(size_t batch_bytes, std::string_view body) {
  walk::ListBatchBytesForTest(batch_bytes);
  Decoded d;
  d.out.resize(1);  // an entity from an earlier call stays
  d.status = DecodePodMetrics(body, &d.out);
  walk::ListBatchBytesForTest(0);
  return d;
}

TEST(MetricsApiBatches, SameEntitiesAsTheWholeWalk) {
  const std::string list = BigPodList(300);
  ASSERT_LT(list.size(), size_t{1} << 20);
  const Decoded whole = DecodePodsInBatchesOf(SIZE_MAX, list);  // one parse
  ASSERT_TRUE(whole.status.ok()) << whole.status.message();
  ASSERT_EQ(whole.out.size(), 1 + 300 * 2u);
  EXPECT_EQ(whole.out[1 + 2 * 7].labels,
            (std::vector<std::string>{"kube-system", "pod-7\\\\\""}));
  for (const size_t batch : {size_t{1}, size_t{500}, size_t{4096}, list.size() / 3}) {
    SCOPED_TRACE(batch);
    const Decoded batched = DecodePodsInBatchesOf(batch, list);
    ASSERT_TRUE(batched.status.ok()) << batched.status.message();
    testing::ExpectSameEntities(whole.out, batched.out);
  }
}

// The point of the batches: a parser never holds the whole list's index (~14 bytes per byte).
// Decoding again over the same vector (base 0) reuses its entities across the batches.
TEST(MetricsApiBatches, TheParserStaysTheSizeOfABatch) {
  walk::DropIdleDecoderStatesForTest();  // parsers grown by earlier tests of this process
  const std::string list = BigPodList(8000);
  ASSERT_GT(list.size(), size_t{3} << 20);
  std::vector<EntityStats> out;
  ASSERT_TRUE(DecodePodMetrics(list, &out).ok());
  ASSERT_EQ(out.size(), 16000u);
  const std::vector<EntityStats> first = out;
  const EntityStats* const reused = out.data();
  ASSERT_TRUE(walk::PodMetricsSchema().Walk(list, list.size(), &out, 0).ok());
  EXPECT_EQ(out.data(), reused);
  testing::ExpectSameEntities(first, out);
  const size_t capacity = walk::LargestParserCapacityForTest();
  // Batches of ~64 KiB of items: the parser fits one, and was never sized for the list.
  EXPECT_GT(capacity, size_t{1} << 15);
  EXPECT_LT(capacity, size_t{3} << 15) << "a parser grew past one batch";
}

// Whatever the batches cannot take exactly as the whole walk would goes to the whole walk:
// same entities, same error, byte offsets included.
// Lists that batches cannot take exactly as the whole walk would, and some they can.
std::vector<std::string> OddPodLists() {
  const std::string a = R"({"metadata":{"name":"a","namespace":"n"},"window":"15s",)"
                        R"("containers":[{"name":"c","usage":{"cpu":"1m","memory":"1Ki"}}]})";
  const std::string b = R"({"metadata":{"name":"b","namespace":"n"},"window":"30s",)"
                        R"("timestamp":"2024-01-01T00:00:01Z","containers":[]})";
  const std::string list = R"({"kind":"PodMetricsList","items":[)" + a + "," + b + "]}";
  return {
      list,
      list + "x",                                                               // trailing content
      list.substr(0, list.size() - 3),                                          // truncated
      list.substr(0, list.size() - 2) + " ] } ",                                // blanks
      R"({"items":[)" + a + R"(],"items":[)" + b + "]}",                        // the key twice
      R"({"timestamp":"2024-01-01T00:00:00Z","items":[)" + a + "," + b + "]}",  // a root time
      R"({"it\u0065ms":[)" + a + "," + b + "]}",                                // an escaped key
      R"({"items":[)" + a + ";" + b + "]}",                                     // not a comma
      R"({"metadata":{"x":tru},"items":[)" + a + "," + b + "]}",  // bad JSON outside the items
      R"({"items":[)" + a + R"(,{"metadata":{"name":"c","namespace":"n"},"window":tru}]})",
      R"({"items":[null,7,)" + a + R"(,"s",[1,{"]":"["}],)" + b + "]}",  // items not objects
      R"({"items":[)" + a + R"(,{"metadata":{"name":"x]"}]}]})",  // brackets that do not match
      R"({"items":[ ]})",
      R"({"items":{"metadata":{"name":"one","namespace":"n"},"window":"1s"}})",
      R"({"items":[)" + a + "," + b + R"(],"kind":"PodMetricsList","metadata":{"continue":""}})",
      R"(  {  "items"  :  [  )" + a + "  ,  " + b + "  ]  }  ",
      R"({"items":[)" + a + "," + b + R"(,{"metadata":{"name":"x)",  // ends in a string
  };
}

TEST(MetricsApiBatches, AnythingOddGoesToTheWholeWalk) {
  const std::vector<std::string> cases = OddPodLists();
  for (const std::string& body : cases) {
    SCOPED_TRACE(body);
    const Decoded whole = DecodePodsInBatchesOf(0, body);
    const Decoded batched = DecodePodsInBatchesOf(1, body);
    EXPECT_EQ(whole.status.ok(), batched.status.ok());
    EXPECT_EQ(whole.status.message(), batched.status.message());
    testing::ExpectSameEntities(whole.out, batched.out);
  }
}

// ---- Lists decoded as they arrive (MetricsApiStream) ----

struct Streamed {
  std::optional<Status> status;
  std::vector<EntityStats> out;
  size_t peak_held = 0;
};

// `body` fed to a stream in pieces of `piece` bytes, in batches of `batch_bytes` (as
// DecodePodsInBatchesOf); like it, over one entity of an earlier call, which stays.
Streamed StreamPods(std::string_view body, size_t piece, size_t batch_bytes) {
  walk::ListBatchBytesForTest(batch_bytes);
  Streamed s;
  s.out.resize(1);
  MetricsApiStream stream(MetricsApiStream::List::kPods, &s.out, 1);
  stream.Start();
  for (size_t i = 0; i < body.size(); i += piece) stream.Feed(body.substr(i, piece));
  s.status = stream.Finish();
  s.peak_held = stream.peak_held_bytes();
  walk::ListBatchBytesForTest(0);
  return s;
}

// Whatever the pieces and the batches, a list gives the whole walk's entities.
TEST(MetricsApiStream, SameEntitiesAsTheWholeWalkInAnyPieces) {
  const std::string list = BigPodList(300);
  const Decoded whole = DecodePodsInBatchesOf(SIZE_MAX, list);
  ASSERT_TRUE(whole.status.ok()) << whole.status.message();
  for (const size_t piece : {size_t{1}, size_t{7}, size_t{100}, size_t{4096}, list.size()}) {
    for (const size_t batch : {size_t{1}, size_t{500}, size_t{0}}) {
      SCOPED_TRACE(::testing::Message() << "piece " << piece << ", batch " << batch);
      const Streamed s = StreamPods(list, piece, batch);
      ASSERT_TRUE(s.status.has_value()) << "a plain list needs no whole walk";
      ASSERT_TRUE(s.status->ok()) << s.status->message();
      testing::ExpectSameEntities(whole.out, s.out);
    }
  }
}

// Odd bodies give the whole walk's result and error, or (when that shows only after items were
// walked and let go) no result, and the entities before the base alone: the caller then walks
// the body whole. A list with its key twice is one of those once its first item is walked.
TEST(MetricsApiStream, OddBodiesGiveTheWholeWalkOrAskForIt) {
  int asked = 0;
  for (const std::string& body : OddPodLists()) {
    const Decoded whole = DecodePodsInBatchesOf(0, body);
    for (const size_t piece : {size_t{1}, size_t{3}, size_t{17}, body.size()}) {
      for (const size_t batch : {size_t{1}, size_t{0}}) {
        SCOPED_TRACE(::testing::Message() << body << "\npiece " << piece << ", batch " << batch);
        const Streamed s = StreamPods(body, piece, batch);
        if (!s.status) {
          ++asked;
          EXPECT_EQ(s.out.size(), 1u);
          continue;
        }
        EXPECT_EQ(whole.status.ok(), s.status->ok());
        EXPECT_EQ(whole.status.message(), s.status->message());
        testing::ExpectSameEntities(whole.out, s.out);
      }
    }
  }
  EXPECT_GT(asked, 0);
  const std::string a = R"({"metadata":{"name":"a","namespace":"n"},"window":"15s"})";
  const std::string twice = R"({"items":[)" + a + R"(],"items":[)" + a + "]}";
  EXPECT_FALSE(StreamPods(twice, 1, 1).status.has_value());
}

// The point of the stream: a 3 MB list fed in 16 KiB pieces is never held whole, only about a
// batch (64 KiB), an item and a piece; a retried request (Start again) starts over.
TEST(MetricsApiStream, HoldsABatchNotTheBody) {
  const std::string list = BigPodList(8000);
  ASSERT_GT(list.size(), size_t{3} << 20);
  std::vector<EntityStats> whole;
  ASSERT_TRUE(DecodePodMetrics(list, &whole).ok());
  std::vector<EntityStats> out;
  MetricsApiStream stream(MetricsApiStream::List::kPods, &out, 0);
  stream.Start();
  const size_t piece = 16 << 10;
  for (size_t i = 0; i < list.size() / 2; i += piece)
    stream.Feed(std::string_view(list).substr(i, piece));
  stream.Start();  // the request failed halfway and is tried again
  for (size_t i = 0; i < list.size(); i += piece)
    stream.Feed(std::string_view(list).substr(i, piece));
  const std::optional<Status> st = stream.Finish();
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(st->ok()) << st->message();
  testing::ExpectSameEntities(whole, out);
  EXPECT_GE(stream.peak_held_bytes(), piece);
  EXPECT_LT(stream.peak_held_bytes(), size_t{128} << 10) << "the stream held more than a batch";
}

TEST(MetricsApiSchema, TrieMatchesCatalogFind) {
  int rows = 0;
  for (size_t i = 0; i < catalog::kMetricCount; ++i) {
    const catalog::MetricDef& def = catalog::kMetrics[i];
    if (def.source != catalog::Source::kMetricsApi) continue;
    EXPECT_EQ(walk::NodeMetricsSchema().Lookup(def.entity, def.path),
              catalog::Find(def.entity, def.path));
    EXPECT_EQ(walk::PodMetricsSchema().Lookup(def.entity, def.path), static_cast<int>(i));
    ++rows;
  }
  EXPECT_EQ(rows, 6);
}

// The poller decodes each poll over the entities of the last released snapshot (pods, then
// nodes at a base): the result is what a fresh decode gives, the entities' blocks stay where
// they were, and a failed decode leaves the entities before the base alone.
// A list's root only holds its items: neither walk makes it an entity, so the items are written
// from `base` on over the last poll's entities in their own places (before, the root's entity
// was made, then erased, moving every item). A single object is its own entity, made before
// its containers even when they come first in the object.
TEST(MetricsApi, ListRootsMakeNoEntityInEitherWalk) {
  const std::string list = BigPodList(5);
  const std::string containers_first =
      R"({"containers":[{"name":"c","usage":{"cpu":"1m","memory":"1Ki"}}],)"
      R"("metadata":{"name":"p","namespace":"ns"},"timestamp":"2024-01-01T00:00:00Z","window":"30s"})";
  for (const bool on_demand : {false, true}) {
    SCOPED_TRACE(on_demand ? "on-demand walk" : "DOM walk");
    walk::OnDemandOnlyForTest(on_demand);
    std::vector<EntityStats> out;
    ASSERT_TRUE(DecodePodMetrics(list, list.size(), 0, &out).ok());
    const size_t n = out.size();
    ASSERT_GT(n, 5u);
    for (const EntityStats& e : out) EXPECT_FALSE(e.labels[1].empty());  // no root entity
    std::vector<const void*> blocks;
    for (const EntityStats& e : out) blocks.push_back(e.labels.data());
    ASSERT_TRUE(DecodePodMetrics(list, list.size(), 0, &out).ok());
    ASSERT_EQ(out.size(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(out[i].labels.data(), blocks[i]) << i;

    std::vector<EntityStats> empty;
    ASSERT_TRUE(DecodePodMetrics(R"({"kind":"PodMetricsList","metadata":{},"items":[]})", &empty)
                    .ok());
    EXPECT_TRUE(empty.empty());

    std::vector<EntityStats> one;
    ASSERT_TRUE(DecodePodMetrics(containers_first, &one).ok());
    ASSERT_EQ(one.size(), 2u);
    EXPECT_EQ(one[0].entity, Entity::kApiPod);
    EXPECT_EQ(one[0].labels, (std::vector<std::string>{"ns", "p"}));
    EXPECT_EQ(one[1].entity, Entity::kApiContainer);
    EXPECT_EQ(one[1].labels, (std::vector<std::string>{"ns", "p", "c"}));  // inherited
    EXPECT_EQ(one[1].time_ms(one[1].samples[0]), 1704067200000);
  }
  walk::OnDemandOnlyForTest(false);
}

TEST(MetricsApi, DecodesOverLastPollsEntities) {
  const std::string nodes = ReadFixture(kUb18Node);
  const std::string pods = BigPodList(40);
  std::vector<EntityStats> fresh;
  ASSERT_TRUE(DecodePodMetrics(pods, &fresh).ok());
  const size_t pod_entities = fresh.size();
  ASSERT_GT(pod_entities, 40u);
  ASSERT_TRUE(DecodeNodeMetrics(nodes, &fresh).ok());
  ASSERT_GT(fresh.size(), pod_entities);

  for (const size_t batch : {size_t{0}, size_t{700}}) {  // the whole walk, then batches
  SCOPED_TRACE(batch);
  walk::ListBatchBytesForTest(batch);
  std::vector<EntityStats> reused;
  for (int poll = 0; poll < 2; ++poll) {
    std::vector<const void*> samples, labels;
    for (const EntityStats& e : reused) {
      samples.push_back(e.samples.data());
      labels.push_back(e.labels.data());
    }
    ASSERT_TRUE(DecodePodMetrics(pods, pods.size(), 0, &reused).ok());
    ASSERT_EQ(reused.size(), pod_entities);
    ASSERT_TRUE(DecodeNodeMetrics(nodes, nodes.size(), pod_entities, &reused).ok());
    testing::ExpectSameEntities(fresh, reused);
    if (poll == 1) {
      for (size_t i = 0; i < reused.size(); ++i) {  // written over, not allocated again
        EXPECT_EQ(reused[i].samples.data(), samples[i]) << i;
        EXPECT_EQ(reused[i].labels.data(), labels[i]) << i;
      }
    }
  }
  const std::string cut = nodes.substr(0, nodes.size() / 2);
  EXPECT_FALSE(DecodeNodeMetrics(cut, cut.size(), pod_entities, &reused).ok());
  ASSERT_EQ(reused.size(), pod_entities);
  EXPECT_EQ(reused[0].labels, fresh[0].labels);
  }
  walk::ListBatchBytesForTest(0);
}

}  // namespace
}  // namespace kmb
