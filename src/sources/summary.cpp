#include "kmb/sources/summary.h"

#include <simdjson.h>

#include <algorithm>

#include "json_walk.h"

namespace kmb {
namespace {

using catalog::Entity;
using walk::ChildKey;
using walk::kNoEntity;
using walk::LabelKey;

static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING);

// Keys whose values are child entities (stats/v1alpha1). kNoEntity marks a kind the catalog
// does not have yet: its subtree is skipped; giving it a catalog Entity here (plus its label key
// below) is all it takes to decode it.
constexpr ChildKey kChildren[] = {
    {Entity::kNode, "systemContainers", kNoEntity},    // future: system container {name}
    {Entity::kNode, "network.interfaces", kNoEntity},  // future: node interface {name}
    {Entity::kPod, "containers", Entity::kContainer},
    {Entity::kPod, "volume", kNoEntity},              // future: pod volume {name}
    {Entity::kPod, "network.interfaces", kNoEntity},  // future: pod interface {name}
};

// Identity labels found in the payload. "node" of pods and containers is not in their objects:
// it comes from node_name / node.nodeName (see DecodeSummary).
constexpr LabelKey kLabels[] = {
    {Entity::kNode, "nodeName", "node"},
    {Entity::kPod, "podRef.name", "pod"},
    {Entity::kPod, "podRef.namespace", "namespace"},
    {Entity::kContainer, "name", "container"},
};

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
      .document = kDocument,
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
    if (i >= 0) e.labels[i].assign(node);
  }
  return status;
}

}  // namespace kmb
