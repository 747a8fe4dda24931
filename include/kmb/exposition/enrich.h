#pragma once
// The pod-spec join: pods from the API server (the watch cache) joined with one poll's Summary
// and Metrics API entities. Runs once per snapshot, before the snapshot is published, so the
// exposition only writes what it finds in Snapshot::pod_entities and EntityStats::extra_labels.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmb/model/snapshot.h"
#include "kmb/sources/pods.h"

namespace kmb {

struct EnrichOptions {
  // Pods without a node (pending) go to one replica only: the one with shard 0.
  bool include_unscheduled = true;
  // Pod-spec entities of a released snapshot, in their order: when snap->pod_entities is empty
  // their vector becomes it and each is filled anew, so the vector, the label strings and the
  // samples keep their capacity and the join hardly allocates (null: none).
  std::vector<EntityStats>* spare = nullptr;
};

// 1. Container and accelerator entities gain `image` (from spec.containers[].image).
// 2. Pod-scoped Summary entities (pod, pod interface, volume, container, accelerator) and
//    Metrics API pod entities whose pod `pods` does not know, or knows with another uid, are
//    dropped: the pod was deleted (or replaced) since. PVC entities stay.
// 3. Appends to snap->pod_entities, for each pod on one of snap->nodes (and unscheduled ones
//    when asked): requests, limits and utilization per container and pod, k8s_pod_info,
//    k8s_pod_labels and k8s_pod_annotations. Ordered by namespace/name.
void EnrichSnapshot(const PodMap& pods, const EnrichOptions& options, Snapshot* snap);

// kube-state-metrics' label names for a label/annotation map: `<prefix>_<key>` with every
// character outside [a-zA-Z0-9_] replaced by '_', camelCase turned into snake_case, lower-cased;
// keys taken in sorted order, and names that collide all suffixed _conflict1, _conflict2, ...
std::vector<std::pair<std::string, std::string>> PrometheusLabels(
    std::string_view prefix, const std::vector<std::pair<std::string, std::string>>& map);

// Appends `,name="value"` for each extra label to a label set that AppendLabelSet opened
// (`{` and the entity's labels, no closing brace).
void AppendExtraLabels(std::string& out, const ExtraLabels& extra);

}  // namespace kmb
