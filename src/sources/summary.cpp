#include "kmb/sources/summary.h"

#include <simdjson.h>

#include <algorithm>

#include "json_walk.h"

namespace kmb {
namespace {

using catalog::Entity;
using walk::ChildKey;
using walk::DerivedKey;
using walk::kNoEntity;
using walk::LabelKey;

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING);

// Keys whose values are child entities (stats/v1alpha1). kNoEntity would mark a kind the
// catalog does not have: its subtree is skipped.
//
// "network" (NetworkStats) is one object: the default interface (InterfaceStats inline: name,
// rxBytes, ...) plus "interfaces", every interface, normally the default one again. Windows
// sends no default (no name, no numbers), the 2016 kubelet only the default (with no name).
// Interfaces are unique per node or pod and name: the copy in interfaces[] merges into the
// default, and a default with neither name nor numbers is dropped. A default that has numbers
// but no name is kept, labelled interface="".
constexpr ChildKey kChildren[] = {
    {Entity::kNode, "systemContainers", Entity::kSystemContainer},
    {Entity::kNode, "network", Entity::kNodeInterface, /*unique=*/true},
    {Entity::kNodeInterface, "interfaces", Entity::kNodeInterface, /*unique=*/true},
    {Entity::kPod, "containers", Entity::kContainer},
    {Entity::kPod, "volume", Entity::kVolume},
    {Entity::kPod, "network", Entity::kPodInterface, /*unique=*/true},
    {Entity::kPodInterface, "interfaces", Entity::kPodInterface, /*unique=*/true},
    {Entity::kContainer, "accelerators", Entity::kAccelerator},
};

// Identity labels found in the payload. Children inherit the rest from their parents by name
// (namespace, pod, uid, container). "node" is in no object but the node's: it comes from
// node_name / node.nodeName (see DecodeSummary). A volume's pvcRef.namespace is its pod's.
constexpr LabelKey kLabels[] = {
    {Entity::kNode, "nodeName", "node"},
    {Entity::kSystemContainer, "name", "system_container"},
    {Entity::kNodeInterface, "name", "interface"},
    {Entity::kPod, "podRef.name", "pod"},
    {Entity::kPod, "podRef.namespace", "namespace"},
    {Entity::kPod, "podRef.uid", "uid"},
    {Entity::kPodInterface, "name", "interface"},
    {Entity::kVolume, "name", "volume"},
    {Entity::kVolume, "pvcRef.name", "persistentvolumeclaim"},
    {Entity::kContainer, "name", "container"},
    {Entity::kAccelerator, "make", "make"},
    {Entity::kAccelerator, "model", "model"},
    {Entity::kAccelerator, "id", "acc_id"},
};

// A PVC-backed volume also gives its PVC's series, once per (namespace, claim) per node even
// when several pods mount it.
constexpr DerivedKey kDerived[] = {
    {Entity::kVolume, "persistentvolumeclaim", Entity::kPvc},
};

// The only strings that are values in stats/v1alpha1 are metav1.Time fields ("startTime"):
// RFC 3339, kept as Unix milliseconds (the rows scale them by 10^-3 to seconds). Every other
// string where a row's value belongs is skipped.
walk::StringValue SummaryString(const catalog::MetricDef& row) {
  const size_t dot = row.path.rfind('.');
  const std::string_view key = dot == std::string_view::npos ? row.path : row.path.substr(dot + 1);
  return key == "startTime" ? walk::StringValue::kTimestamp : walk::StringValue::kNone;
}

constexpr ChildKey kDocument[] = {
    {kNoEntity, "node", Entity::kNode},
    {kNoEntity, "pods", Entity::kPod},
};

int NodeLabelIndex(Entity entity) {
  const auto names = catalog::LabelNames(entity);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "node") return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

namespace walk {
SchemaSpec SummarySpec() {
  return SchemaSpec{
      .what = "summary",
      .source = catalog::Source::kSummary,
      .time_key = "time",
      .children = kChildren,
      .labels = kLabels,
      .derived = kDerived,
      .document = kDocument,
      .string_value = SummaryString,
  };
}

const Schema& SummarySchema() {
  static const Schema schema(SummarySpec());
  return schema;
}
}  // namespace walk

Status DecodeSummary(std::string_view body, std::string_view node_name, NodeSummary* out) {
  return DecodeSummary(body, body.size(), node_name, out);
}

Status DecodeSummary(std::string_view body, size_t capacity, std::string_view node_name,
                     NodeSummary* out) {
  out->node.clear();
  Status status = walk::SummarySchema().Walk(body, capacity, &out->entities, 0);
  if (!status.ok()) return status;
  auto& entities = out->entities;
  // The node comes first even if "pods" preceded "node" in the payload.
  auto node_it = std::find_if(entities.begin(), entities.end(),
                              [](const EntityStats& e) { return e.entity == Entity::kNode; });
  if (node_it != entities.end()) {
    std::rotate(entities.begin(), node_it, node_it + 1);
    out->node = entities.front().labels[0];
  }
  const std::string_view node = node_name.empty() ? std::string_view(out->node) : node_name;
  for (EntityStats& e : entities) {
    const int i = NodeLabelIndex(e.entity);
    if (i >= 0) e.labels.Set(static_cast<size_t>(i), node);
  }
  // The next poll decodes into these entities, and into this vector, again (entity.h).
  TrimSlack(&entities, 0);
  TrimVectorSlack(&entities);
  return status;
}

}  // namespace kmb
