#pragma once
// Wire-format writers: the kubelet Summary, core/v1 Node and Pod objects, metrics.k8s.io
// objects and Kubernetes Status bodies, written straight into a string with JsonWriter.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "sim/json_writer.h"
#include "sim/model.h"

namespace kmb::sim {

// When the sample was taken and when the answer is given.
struct SampleTimes {
  int64_t sample_unix = 0;  // the tick's "time" fields
  int64_t now_unix = 0;     // metrics.k8s.io creationTimestamp
  int64_t tick = 0;
};

// GET /stats/summary of `node` (stats/v1alpha1 Summary, field order as the kubelet writes it).
// `pod_present`, when given, leaves out the slots it says are empty (pod churn, sim/watch.h).
void RenderSummary(const ClusterModel& model, int node, const NodeStats& stats,
                   const SampleTimes& times, std::string* out,
                   const std::function<bool(int slot)>& pod_present = {});

// core/v1 Node and Pod, as list items (with_type_meta = false) or alone.
void RenderNode(JsonWriter& w, const ClusterModel& model, int node, bool with_type_meta);
// `resource_version` 0: the pod's initial one (100000 + its index).
void RenderPod(JsonWriter& w, const ClusterModel& model, int node, int slot, bool with_type_meta,
               int64_t resource_version = 0);

// Pending pod `index` (SimOptions::pending_pods): no node, PodScheduled False (Unschedulable).
void RenderPendingPod(JsonWriter& w, const ClusterModel& model, int index);

// metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, from the same numbers as the Summary.
void RenderNodeMetrics(JsonWriter& w, const ClusterModel& model, int node, const NodeStats& stats,
                       const SampleTimes& times, bool with_type_meta);
void RenderPodMetrics(JsonWriter& w, const ClusterModel& model, int node, int slot,
                      const NodeStats& stats, const SampleTimes& times, bool with_type_meta);

// A metav1.Status failure body. `kind`/`name`/`group` fill details when not empty.
struct StatusDetails {
  std::string_view name;
  std::string_view group;
  std::string_view kind;
};
std::string StatusBody(int code, std::string_view message, const StatusDetails& details = {});
// The Status reason Kubernetes uses for an HTTP code ("NotFound", "ServiceUnavailable", ...).
std::string_view StatusReason(int code);

}  // namespace kmb::sim
