#pragma once
// Decoders for metrics.k8s.io/v1beta1 NodeMetricsList / PodMetricsList (and single objects).

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "kmb/sources/entity.h"
#include "kmb/util/status.h"

namespace kmb {

namespace walk {
class ListStream;
}  // namespace walk

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

// A NodeMetricsList or PodMetricsList decoded as it arrives (the poller's lists): Start(), Feed()
// the body's bytes in pieces as they come, then Finish(). Only the bytes not decoded yet are
// held (about 64 KiB of items and one piece), not the body: 61 MB for the pod list at 5,000
// nodes. Entities go to (*out)[base...] as the 4-argument decoders write them.
class MetricsApiStream {
 public:
  enum class List { kNodes, kPods };
  MetricsApiStream(List list, std::vector<EntityStats>* out, size_t base);
  ~MetricsApiStream();
  // From the body's first byte (again, for a retried request).
  void Start();
  void Feed(std::string_view bytes);
  // The status DecodeNodeMetrics / DecodePodMetrics give for the whole body; nullopt when only
  // they can tell (a body that turned out, past its first items, to be one the stream cannot
  // decode exactly as they do: malformed, or a key the batches cannot take): decode the whole
  // body with them (fetch it again).
  std::optional<Status> Finish();
  // The most bytes of the body held at once (tests, benchmarks).
  size_t peak_held_bytes() const;

 private:
  std::unique_ptr<walk::ListStream> stream_;
  std::vector<EntityStats>* out_;
  size_t base_;
};

}  // namespace kmb
