#include "kmb/catalog/catalog.h"

#include <algorithm>
#include <array>
#include <string>
#include <unordered_map>

namespace kmb::catalog {
namespace {

constexpr std::string_view kNodeLabels[] = {"node"};
constexpr std::string_view kSystemContainerLabels[] = {"node", "system_container"};
constexpr std::string_view kNodeInterfaceLabels[] = {"node", "interface"};
constexpr std::string_view kPodLabels[] = {"namespace", "pod", "node", "uid"};
constexpr std::string_view kPodInterfaceLabels[] = {"namespace", "pod", "interface", "node", "uid"};
constexpr std::string_view kVolumeLabels[] = {"namespace", "pod",  "volume", "persistentvolumeclaim",
                                              "node",      "uid"};
constexpr std::string_view kPvcLabels[] = {"namespace", "persistentvolumeclaim", "node"};
constexpr std::string_view kContainerLabels[] = {"namespace", "pod", "container", "node", "uid"};
constexpr std::string_view kAcceleratorLabels[] = {"namespace", "pod",   "container", "node",
                                                   "make",      "model", "acc_id",    "uid"};
constexpr std::string_view kPodInfoLabels[] = {"namespace",  "pod",        "node",      "uid",
                                               "owner_kind", "owner_name", "qos_class", "phase"};
constexpr std::string_view kApiPodLabels[] = {"namespace", "pod"};
constexpr std::string_view kApiContainerLabels[] = {"namespace", "pod", "container"};

struct Index {
  // Key: entity byte + path.
  std::unordered_map<std::string, int> by_path;
  std::unordered_map<std::string_view, int> by_name;
  Index() {
    for (size_t i = 0; i < kMetricCount; ++i) {
      const MetricDef& d = kMetrics[i];
      by_name.emplace(d.name, static_cast<int>(i));
      if (d.path.empty()) continue;
      std::string key(1, static_cast<char>(d.entity));
      key.append(d.path);
      by_path.emplace(std::move(key), static_cast<int>(i));
    }
  }
};

const Index& GetIndex() {
  static const Index index;
  return index;
}

}  // namespace

std::span<const std::string_view> LabelNames(Entity entity) {
  switch (entity) {
    case Entity::kNode:
    case Entity::kApiNode:
      return kNodeLabels;
    case Entity::kSystemContainer:
      return kSystemContainerLabels;
    case Entity::kNodeInterface:
      return kNodeInterfaceLabels;
    case Entity::kPod:
      return kPodLabels;
    case Entity::kPodInterface:
      return kPodInterfaceLabels;
    case Entity::kVolume:
      return kVolumeLabels;
    case Entity::kPvc:
      return kPvcLabels;
    case Entity::kContainer:
      return kContainerLabels;
    case Entity::kAccelerator:
      return kAcceleratorLabels;
    case Entity::kApiPod:
      return kApiPodLabels;
    case Entity::kApiContainer:
      return kApiContainerLabels;
    case Entity::kPodInfo:
      return kPodInfoLabels;
    default:
      return {};
  }
}

int Find(Entity entity, std::string_view path) {
  thread_local std::string key;
  key.assign(1, static_cast<char>(entity));
  key.append(path);
  const auto& idx = GetIndex().by_path;
  auto it = idx.find(key);
  return it == idx.end() ? -1 : it->second;
}

int FindByName(std::string_view name) {
  const auto& idx = GetIndex().by_name;
  auto it = idx.find(name);
  return it == idx.end() ? -1 : it->second;
}

std::string_view FamilyName(const MetricDef& def) {
  constexpr std::string_view kTotal = "_total";
  if (def.type == MetricType::kCounter && def.name.ends_with(kTotal)) {
    return def.name.substr(0, def.name.size() - kTotal.size());
  }
  return def.name;
}

std::string_view SourceName(Source source) {
  switch (source) {
    case Source::kSummary:
      return "summary";
    case Source::kMetricsApi:
      return "metrics-api";
    case Source::kSelf:
      return "self";
    case Source::kPods:
      return "pods";
  }
  return "";
}

std::string_view TypeName(MetricType type) {
  return type == MetricType::kCounter ? "counter" : "gauge";
}

std::vector<std::string> Groups() {
  std::vector<std::string> groups;
  for (const MetricDef& d : kMetrics) {
    if (std::find(groups.begin(), groups.end(), d.group) == groups.end()) {
      groups.emplace_back(d.group);
    }
  }
  return groups;
}

}  // namespace kmb::catalog
