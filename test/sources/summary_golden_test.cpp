// Golden test of the Summary decoder against the payloads themselves.
//
// Each fixture is walked GENERICALLY with nlohmann::json: every numeric leaf at any depth
// (userDefinedMetrics aside) and every "startTime" string is collected with the entity it
// belongs to, identified by labels read from the JSON (node name, pod namespace/name/uid,
// container, interface, volume and claim, system container, accelerator make/model/id). The
// walk knows only the shape of stats/v1alpha1 (which keys hold child entities); it never asks
// the catalog what to visit. Then:
//   - every leaf must have a catalog row, catalog::Find(entity, relative path): a field the
//     catalog misses fails the test, naming the leaf;
//   - the decoder must give that row's sample on that entity, with the exact value (integers as
//     uint64/int64, doubles bit for bit, startTime as Unix ms) and the time of the innermost
//     enclosing block that has one (0 when none);
//   - and nothing else: no sample, and no entity, that the payload does not hold, besides one
//     kPvc entity per (namespace, claim) derived from the first volume that references it.

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kmb/catalog/catalog.h"
#include "kmb/sources/summary.h"
#include "sources/json_walk.h"
#include "sources/sources_test_support.h"

namespace kmb {
namespace {

using catalog::Entity;
using json = nlohmann::ordered_json;  // keeps payload key order ("first wins" depends on it)
using Labels = std::map<std::string, std::string>;
using EntityKey = std::pair<int, Labels>;

std::string KindName(Entity e) {
  switch (e) {
    case Entity::kNode: return "node";
    case Entity::kSystemContainer: return "system container";
    case Entity::kNodeInterface: return "node interface";
    case Entity::kPod: return "pod";
    case Entity::kPodInterface: return "pod interface";
    case Entity::kVolume: return "volume";
    case Entity::kPvc: return "pvc";
    case Entity::kContainer: return "container";
    case Entity::kAccelerator: return "accelerator";
    default: return "kind " + std::to_string(static_cast<int>(e));
  }
}

std::string Describe(const EntityKey& key) {
  std::string s = KindName(static_cast<Entity>(key.first)) + " {";
  for (const auto& [k, v] : key.second) s += k + "=\"" + v + "\" ";
  return s + "}";
}

// "YYYY-MM-DDTHH:MM:SS[.fff...]Z" to Unix milliseconds, written independently of the decoder's
// parser (days from civil, H. Hinnant). Other spellings: nullopt (the fixtures use none).
std::optional<int64_t> UtcMillis(const std::string& t) {
  int y, mo, d, h, mi, s, n = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 ||
      n != 19) {
    return std::nullopt;
  }
  int64_t ms = 0;
  size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    int64_t scale = 100;
    for (++i; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i) {
      ms += (t[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (i + 1 != t.size() || t[i] != 'Z') return std::nullopt;
  y -= mo <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + doe - 719468;
  return ((days * 24 + h) * 60 + mi) * 60000 + int64_t{s} * 1000 + ms;
}

struct Leaf {
  json value;               // the number, or for startTime the string
  std::optional<int64_t> ms;  // startTime as Unix ms
  int64_t time_ms = 0;      // innermost enclosing "time"
  std::string where;        // where in the payload, for messages
};

// What the payload says, collected without the catalog.
class Expectation {
 public:
  explicit Expectation(const json& doc) {
    std::string node_name;
    if (doc.contains("node") && doc["node"].is_object()) {
      node_name = Str(doc["node"], "nodeName");
      Entity_(doc["node"], Entity::kNode, {{"node", node_name}}, 0, "node");
    }
    if (doc.contains("pods") && doc["pods"].is_array()) {
      size_t i = 0;
      for (const json& pod : doc["pods"]) {
        const std::string where = "pods[" + std::to_string(i++) + "]";
        const json ref = pod.contains("podRef") ? pod["podRef"] : json::object();
        Entity_(pod, Entity::kPod,
                {{"node", node_name},
                 {"namespace", Str(ref, "namespace")},
                 {"pod", Str(ref, "name")},
                 {"uid", Str(ref, "uid")}},
                0, where);
      }
    }
    // The node first, then payload order; PVCs last.
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i].first == static_cast<int>(Entity::kNode)) {
        const EntityKey node = order[i];
        order.erase(order.begin() + static_cast<std::ptrdiff_t>(i));
        order.insert(order.begin(), node);
        break;
      }
    }
    DerivePvcs();
  }

  std::map<EntityKey, std::map<std::string, Leaf>> leaves;
  std::vector<EntityKey> order;     // entities expected, in the decoder's order
  std::vector<std::string> errors;  // conflicting duplicates

 private:
  static std::string Str(const json& obj, const char* key) {
    if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return "";
    return obj[key].get<std::string>();
  }

  static int64_t TimeOf(const json& obj, int64_t outer) {
    if (obj.contains("time") && obj["time"].is_string()) {
      if (auto ms = UtcMillis(obj["time"].get<std::string>())) return *ms;
    }
    return outer;
  }

  // One entity object: its own identity labels, then every field.
  void Entity_(const json& obj, Entity kind, Labels labels, int64_t time, const std::string& where) {
    const EntityKey key{static_cast<int>(kind), labels};
    const bool interface = kind == Entity::kNodeInterface || kind == Entity::kPodInterface;
    const bool known = leaves.count(key) > 0;
    const size_t order_at = order.size();
    if (!known) order.push_back(key);
    auto& mine = leaves[key];
    const size_t had = mine.size();
    time = TimeOf(obj, time);
    Fields(obj, kind, labels, "", time, where, &mine);
    // An interface with no name and no numbers (Windows' network object) is not an entity.
    if (interface && !known && labels.at("interface").empty() && mine.size() == had) {
      leaves.erase(key);
      order.erase(order.begin() + static_cast<std::ptrdiff_t>(order_at));
    }
  }

  void Children(const json& value, Entity kind, const Labels& parent, int64_t time,
                const std::string& where) {
    auto one = [&](const json& obj, const std::string& at) {
      if (!obj.is_object()) return;
      Labels l = parent;
      switch (kind) {
        case Entity::kSystemContainer:
          l["system_container"] = Str(obj, "name");
          break;
        case Entity::kNodeInterface:
        case Entity::kPodInterface:
          l["interface"] = Str(obj, "name");
          break;
        case Entity::kContainer:
          l["container"] = Str(obj, "name");
          break;
        case Entity::kVolume:
          l["volume"] = Str(obj, "name");
          l["persistentvolumeclaim"] =
              obj.contains("pvcRef") ? Str(obj["pvcRef"], "name") : std::string();
          break;
        case Entity::kAccelerator:
          l["make"] = Str(obj, "make");
          l["model"] = Str(obj, "model");
          l["acc_id"] = Str(obj, "id");
          break;
        default:
          break;
      }
      Entity_(obj, kind, l, time, at);
    };
    if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) one(value[i], where + "[" + std::to_string(i) + "]");
    } else {
      one(value, where);
    }
  }

  void Fields(const json& obj, Entity kind, const Labels& labels, const std::string& prefix,
              int64_t time, const std::string& where, std::map<std::string, Leaf>* out) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      const std::string& k = it.key();
      const json& v = it.value();
      const std::string path = prefix + k;
      const std::string at = where + "." + k;
      if (k == "userDefinedMetrics") continue;
      // stats/v1alpha1 keys that hold child entities. An interface's own interfaces[] are its
      // owner's (the node's or pod's), like the default interface itself.
      if (prefix.empty()) {
        Entity child = Entity::kCount;
        Labels parent = labels;
        if (kind == Entity::kNode && k == "systemContainers") child = Entity::kSystemContainer;
        if (kind == Entity::kNode && k == "network") child = Entity::kNodeInterface;
        if (kind == Entity::kPod && k == "network") child = Entity::kPodInterface;
        if (kind == Entity::kPod && k == "containers") child = Entity::kContainer;
        if (kind == Entity::kPod && k == "volume") child = Entity::kVolume;
        if (kind == Entity::kContainer && k == "accelerators") child = Entity::kAccelerator;
        if ((kind == Entity::kNodeInterface || kind == Entity::kPodInterface) &&
            k == "interfaces") {
          child = kind;
          parent.erase("interface");
        }
        if (child != Entity::kCount) {
          Children(v, child, parent, time, at);
          continue;
        }
      }
      if (v.is_object()) {
        Fields(v, kind, labels, path + ".", TimeOf(v, time), at, out);
      } else if (v.is_array()) {
        // No array is a value in stats/v1alpha1: any numbers inside get paths no row has.
        for (size_t i = 0; i < v.size(); ++i) {
          const std::string ip = path + "[" + std::to_string(i) + "]";
          if (v[i].is_object()) {
            Fields(v[i], kind, labels, ip + ".", TimeOf(v[i], time), at, out);
          } else if (v[i].is_number()) {
            Add(out, ip, Leaf{v[i], std::nullopt, time, at}, kind, labels);
          }
        }
      } else if (v.is_number()) {
        Add(out, path, Leaf{v, std::nullopt, time, at}, kind, labels);
      } else if (v.is_string() && k == "startTime") {
        const auto ms = UtcMillis(v.get<std::string>());
        if (!ms) errors.push_back("test cannot parse " + at + " = " + v.dump());
        Add(out, path, Leaf{v, ms, time, at}, kind, labels);
      }
    }
  }

  void Add(std::map<std::string, Leaf>* out, const std::string& path, Leaf leaf, Entity kind,
           const Labels& labels) {
    auto [it, inserted] = out->emplace(path, leaf);
    // The same leaf twice (default interface and its interfaces[] copy) must agree.
    if (!inserted && it->second.value != leaf.value) {
      errors.push_back("conflicting values for " + Describe({static_cast<int>(kind), labels}) +
                       " " + path + ": " + it->second.where + " and " + leaf.where);
    }
  }

  void DerivePvcs() {
    std::vector<EntityKey> pvcs;
    for (const EntityKey& key : order) {
      if (key.first != static_cast<int>(Entity::kVolume)) continue;
      const Labels& l = key.second;
      if (l.at("persistentvolumeclaim").empty()) continue;
      const EntityKey pvc{static_cast<int>(Entity::kPvc),
                          {{"namespace", l.at("namespace")},
                           {"persistentvolumeclaim", l.at("persistentvolumeclaim")},
                           {"node", l.at("node")}}};
      if (leaves.count(pvc)) continue;  // the first volume wins
      auto& mine = leaves[pvc];
      pvcs.push_back(pvc);
      for (const auto& [path, leaf] : leaves.at(key)) {
        if (catalog::Find(Entity::kPvc, path) >= 0) mine.emplace(path, leaf);
      }
    }
    order.insert(order.end(), pvcs.begin(), pvcs.end());
  }
};

Labels LabelsOf(const EntityStats& e) {
  Labels l;
  const auto names = catalog::LabelNames(e.entity);
  for (size_t i = 0; i < names.size() && i < e.labels.size(); ++i) {
    l[std::string(names[i])] = e.labels[i];
  }
  return l;
}

void ExpectSampleMatches(const EntityStats& e, const Sample& s, const Leaf& leaf,
                         const std::string& what) {
  EXPECT_EQ(e.time_ms(s), leaf.time_ms) << what << " time";
  if (leaf.ms.has_value()) {
    ASSERT_EQ(s.kind, *leaf.ms >= 0 ? ValueKind::kUint : ValueKind::kInt) << what;
    EXPECT_EQ(s.kind == ValueKind::kUint ? static_cast<int64_t>(s.u()) : s.i(), *leaf.ms) << what;
    return;
  }
  const json& v = leaf.value;
  if (v.is_number_unsigned()) {
    ASSERT_EQ(s.kind, ValueKind::kUint) << what;
    EXPECT_EQ(s.u(), v.get<uint64_t>()) << what;
  } else if (v.is_number_integer()) {
    ASSERT_EQ(s.kind, ValueKind::kInt) << what;
    EXPECT_EQ(s.i(), v.get<int64_t>()) << what;
  } else {
    ASSERT_EQ(s.kind, ValueKind::kDouble) << what;
    EXPECT_EQ(s.d(), v.get<double>()) << what;  // exactly: both parsers round correctly
  }
}

struct GoldenCounts {
  size_t leaves = 0;
  size_t samples = 0;
  size_t entities = 0;
};

// The whole check for one payload.
GoldenCounts CheckGolden(const std::string& body, const std::string& name) {
  SCOPED_TRACE(name);
  GoldenCounts counts;
  const json doc = json::parse(body);
  const Expectation want(doc);
  for (const std::string& e : want.errors) ADD_FAILURE() << e;

  // Every leaf has a catalog row.
  size_t expected_samples = 0;
  for (const auto& [key, paths] : want.leaves) {
    for (const auto& [path, leaf] : paths) {
      ++expected_samples;
      if (key.first == static_cast<int>(Entity::kPvc)) continue;
      if (catalog::Find(static_cast<Entity>(key.first), path) < 0) {
        ADD_FAILURE() << "no catalog row for the leaf " << leaf.where << " (" << leaf.value.dump()
                      << "): " << KindName(static_cast<Entity>(key.first)) << " path \"" << path
                      << "\"";
      }
    }
  }

  NodeSummary s;
  const Status st = DecodeSummary(body, "", &s);
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok()) return counts;

  // Same entities, same order, none twice.
  std::vector<EntityKey> got_order;
  for (const EntityStats& e : s.entities) got_order.emplace_back(static_cast<int>(e.entity), LabelsOf(e));
  EXPECT_EQ(got_order.size(), want.order.size());
  for (size_t i = 0; i < got_order.size() && i < want.order.size(); ++i) {
    if (got_order[i] != want.order[i]) {
      ADD_FAILURE() << "entity " << i << ": decoded " << Describe(got_order[i]) << ", payload has "
                    << Describe(want.order[i]);
      break;
    }
  }
  EXPECT_EQ(std::set<EntityKey>(got_order.begin(), got_order.end()).size(), got_order.size())
      << "an entity decoded twice";

  // Every decoded sample is a leaf of its entity, with its value; every leaf is decoded.
  size_t matched = 0;
  for (size_t i = 0; i < s.entities.size(); ++i) {
    const EntityStats& e = s.entities[i];
    const EntityKey key = got_order[i];
    const auto it = want.leaves.find(key);
    if (it == want.leaves.end()) {
      ADD_FAILURE() << "decoded entity not in the payload: " << Describe(key);
      continue;
    }
    std::set<std::string> seen;
    for (const Sample& sample : e.samples) {
      ++counts.samples;
      if (sample.metric >= catalog::kMetricCount) {
        ADD_FAILURE() << "metric id out of range: " << sample.metric;
        continue;
      }
      const catalog::MetricDef& row = catalog::kMetrics[sample.metric];
      EXPECT_EQ(row.source, catalog::Source::kSummary) << row.name;
      EXPECT_EQ(row.entity, e.entity) << row.name << " on " << Describe(key);
      const std::string path(row.path);
      const std::string what = Describe(key) + " " + path;
      EXPECT_TRUE(seen.insert(path).second) << "two samples for " << what;
      const auto leaf = it->second.find(path);
      if (leaf == it->second.end()) {
        ADD_FAILURE() << "decoded sample with no leaf in the payload: " << what;
        continue;
      }
      ++matched;
      ExpectSampleMatches(e, sample, leaf->second, what + " (" + leaf->second.where + ")");
    }
    for (const auto& [path, leaf] : it->second) {
      if (!seen.count(path)) {
        ADD_FAILURE() << "leaf not decoded: " << leaf.where << " = " << leaf.value.dump() << " ("
                      << Describe(key) << " \"" << path << "\")";
      }
    }
  }
  EXPECT_EQ(matched, expected_samples);
  EXPECT_EQ(counts.samples, expected_samples);
  counts.leaves = expected_samples;
  counts.entities = s.entities.size();
  return counts;
}

std::vector<std::string> SummaryFixtures() {
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(KMB_FIXTURES_DIR) + "/summary")) {
    files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Both walks of the decoder (the DOM fast path and the On-Demand one it falls back to).
class SummaryGoldenWalk : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { walk::OnDemandOnlyForTest(GetParam()); }
  void TearDown() override { walk::OnDemandOnlyForTest(false); }
};

TEST_P(SummaryGoldenWalk, EveryLeafOfEveryFixture) {
  const auto files = SummaryFixtures();
  ASSERT_EQ(files.size(), 9u);
  for (const std::string& file : files) {
    const GoldenCounts c = CheckGolden(testing::ReadFixture("summary/" + file), file);
    // Sanity: the walk found something in every payload.
    EXPECT_GT(c.leaves, 50u) << file;
    EXPECT_GT(c.entities, 5u) << file;
  }
}

// The test's own walk must catch a leaf the catalog lacks and a leaf the decoder drops.
TEST(SummaryGolden, CatchesAFieldNoRowCovers) {
  const std::string body = R"({"node":{"nodeName":"n","cpu":{"usageNanoCores":1,"newField":7}},
                                "pods":[]})";
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    CheckGolden(body, "constructed");
  }
  bool named = false;
  for (int i = 0; i < failures.size(); ++i) {
    const std::string msg = failures.GetTestPartResult(i).message();
    named = named || msg.find("no catalog row for the leaf node.cpu.newField") != std::string::npos;
  }
  EXPECT_TRUE(named);
}

// CONSTRUCTED payload (not a capture): the 1.35 fixture with PVC-backed volumes and GPU
// accelerators added, since no fixture has either. The field names and shapes follow
// stats/v1alpha1 (VolumeStats.pvcRef {name, namespace}, volumeHealthStats; AcceleratorStats
// make/model/id/memoryTotal/memoryUsed/dutyCycle); the values are made up.
std::string ConstructedPvcAndAcceleratorPayload() {
  json doc = json::parse(
      testing::ReadFixture("summary/nri-kubernetes-k8s-1.35-minikube-stats-summary.json"));
  auto volume = [](const char* name, const char* claim, const char* ns, uint64_t used) {
    return json{{"time", "2026-06-26T10:14:01Z"},
                {"availableBytes", 10737418240u - used},
                {"capacityBytes", 10737418240u},
                {"usedBytes", used},
                {"inodesFree", 655000u},
                {"inodes", 655360u},
                {"inodesUsed", 360u},
                {"name", name},
                {"pvcRef", {{"name", claim}, {"namespace", ns}}},
                {"volumeHealthStats", {{"abnormal", false}}}};
  };
  for (json& pod : doc["pods"]) {
    const std::string name = pod["podRef"]["name"].get<std::string>();
    // Two replicas of a Deployment share one ReadWriteMany claim; each reports it.
    if (name == "e2e-deployment-79967c5968-8bnn8") {
      pod["volume"].push_back(volume("shared", "shared-data", "scraper", 4096000));
      pod["containers"][0]["accelerators"] = json::array(
          {json{{"make", "nvidia"},
                {"model", "Tesla T4"},
                {"id", "GPU-5fd0bd2a-8c87-4d36-a0a3-0123456789ab"},
                {"memoryTotal", 16106127360u},
                {"memoryUsed", 1073741824u},
                {"dutyCycle", 37u}},
           json{{"make", "nvidia"},
                {"model", "Tesla T4"},
                {"id", "GPU-9e1c7f40-1b2d-4c3e-8f90-fedcba987654"},
                {"memoryTotal", 16106127360u},
                {"memoryUsed", 0u},
                {"dutyCycle", 0u}}});
    }
    if (name == "e2e-deployment-79967c5968-zjslc") {
      pod["volume"].push_back(volume("shared", "shared-data", "scraper", 4100096));  // later
    }
    // A claim of the same name in another namespace is another PVC.
    if (name == "metrics-server-9d74bb658-c6nnt") {
      pod["volume"].push_back(volume("cache", "shared-data", "kube-system", 8192));
    }
  }
  return doc.dump();
}

TEST_P(SummaryGoldenWalk, ConstructedPvcAndAccelerators) {
  const std::string body = ConstructedPvcAndAcceleratorPayload();
  CheckGolden(body, "constructed from 1.35");

  NodeSummary s;
  ASSERT_TRUE(DecodeSummary(body, "", &s).ok());
  ASSERT_EQ(testing::CountKind(s.entities, Entity::kPvc), 2u);
  // PVC entities come last.
  EXPECT_EQ(s.entities[s.entities.size() - 2].entity, Entity::kPvc);
  EXPECT_EQ(s.entities.back().entity, Entity::kPvc);
  const EntityStats* pvc =
      testing::FindEntity(s.entities, Entity::kPvc, {"scraper", "shared-data", "datagen-1-35"});
  ASSERT_NE(pvc, nullptr);
  ASSERT_EQ(pvc->labels.size(), 3u);
  EXPECT_EQ(pvc->samples.size(), 6u);
  // The first pod's volume wins.
  auto pvc_value = [&](std::string_view path) -> std::optional<uint64_t> {
    const int row = catalog::Find(Entity::kPvc, path);
    for (const Sample& sample : pvc->samples) {
      if (sample.metric == row) return testing::U(sample);
    }
    return std::nullopt;
  };
  EXPECT_EQ(pvc_value("usedBytes"), 4096000u);
  EXPECT_EQ(pvc_value("capacityBytes"), 10737418240u);
  EXPECT_EQ(pvc_value("inodesUsed"), 360u);
  for (const Sample& sample : pvc->samples) EXPECT_EQ(pvc->time_ms(sample), 1782468841000);
  EXPECT_NE(testing::FindEntity(s.entities, Entity::kPvc,
                                {"kube-system", "shared-data", "datagen-1-35"}),
            nullptr);
  // Both volumes stay volumes, labelled with their claim.
  const EntityStats* vol = testing::FindEntity(
      s.entities, Entity::kVolume,
      {"scraper", "e2e-deployment-79967c5968-zjslc", "shared", "shared-data"});
  ASSERT_NE(vol, nullptr);
  EXPECT_FALSE(vol->labels.back().empty());  // uid
  // Accelerators: the container's labels plus make, model and id.
  const EntityStats* gpu = testing::FindEntity(
      s.entities, Entity::kAccelerator,
      {"scraper", "e2e-deployment-79967c5968-8bnn8", "compute-pi-digits", "datagen-1-35",
       "nvidia", "Tesla T4", "GPU-5fd0bd2a-8c87-4d36-a0a3-0123456789ab"});
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(testing::U(testing::SampleOf(*gpu, "container_accelerator_memory_total_bytes")),
            16106127360u);
  EXPECT_EQ(testing::U(testing::SampleOf(*gpu, "container_accelerator_duty_cycle")), 37u);
  EXPECT_EQ(testing::CountKind(s.entities, Entity::kAccelerator), 2u);
}

INSTANTIATE_TEST_SUITE_P(Walks, SummaryGoldenWalk, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "OnDemand" : "Dom");
                         });

}  // namespace
}  // namespace kmb
