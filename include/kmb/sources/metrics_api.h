#pragma once
// Decoders for metrics.k8s.io/v1beta1 NodeMetricsList / PodMetricsList (and single objects).

#include <string_view>
#include <vector>

#include "kmb/sources/entity.h"
#include "kmb/util/status.h"

namespace kmb {

// Appends one kApiNode entity per NodeMetrics (usage.cpu in cores, usage.memory in bytes,
// window in seconds). Accepts a NodeMetricsList or a single NodeMetrics object.
Status DecodeNodeMetrics(std::string_view body, std::vector<EntityStats>* out);

// Appends per PodMetrics one kApiPod entity (window) followed by one kApiContainer entity per
// container. Accepts a PodMetricsList or a single PodMetrics object.
Status DecodePodMetrics(std::string_view body, std::vector<EntityStats>* out);

// Same, for a body whose buffer stays readable up to `capacity` bytes from body.data(): with
// kJsonPadding bytes to spare (summary.h; the client's response bodies have them) the body is
// decoded in place instead of being copied first (the simulator's pod list of 1,000 nodes is
// 12.2 MB; see DecodeSummary). The entities go to (*out)[base...]: those already there (the
// poller's, from the last released snapshot) are written over, keeping their label and sample
// blocks, so that a steady-state poll hardly allocates; *out ends after the decoded entities
// (on an error, at base).
Status DecodeNodeMetrics(std::string_view body, size_t capacity, size_t base,
                         std::vector<EntityStats>* out);
Status DecodePodMetrics(std::string_view body, size_t capacity, size_t base,
                        std::vector<EntityStats>* out);

}  // namespace kmb
