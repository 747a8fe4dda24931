#pragma once
// Plain structs every decoder produces: one EntityStats per object (node, pod, container, ...)
// with its identity label values and the catalog metrics found in the payload.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kmb/catalog/catalog.h"

namespace kmb {

enum class ValueKind : uint8_t { kUint, kInt, kDouble };

// One value of one catalog metric. Integers are kept as integers so counters past 2^53 stay
// exact; the catalog's exp10 is applied only when the value is written out. 16 bytes: there is
// one per exported series in each snapshot alive.
struct Sample {
  catalog::MetricId metric = 0;
  ValueKind kind = ValueKind::kUint;
  // Time of the payload block holding the value, in seconds since the epoch (the kubelet and
  // the Metrics API write RFC 3339 times to the second); 0 when not given.
  uint32_t time_s = 0;
  union {
    uint64_t u;
    int64_t i;
    double d;
  };
  Sample() : u(0) {}
  // `t` in milliseconds since the epoch, kept to the second.
  static Sample Uint(catalog::MetricId m, uint64_t v, int64_t t = 0) {
    Sample s; s.metric = m; s.kind = ValueKind::kUint; s.u = v; s.time_s = Seconds(t); return s;
  }
  static Sample Int(catalog::MetricId m, int64_t v, int64_t t = 0) {
    Sample s; s.metric = m; s.kind = ValueKind::kInt; s.i = v; s.time_s = Seconds(t); return s;
  }
  static Sample Double(catalog::MetricId m, double v, int64_t t = 0) {
    Sample s; s.metric = m; s.kind = ValueKind::kDouble; s.d = v; s.time_s = Seconds(t); return s;
  }
  int64_t time_ms() const { return int64_t{time_s} * 1000; }
  // Milliseconds since the epoch as time_s: whole seconds; 0 (not given) for times before
  // 1970 or past 2106.
  static uint32_t Seconds(int64_t ms) {
    return ms <= 0 || ms / 1000 >= int64_t{UINT32_MAX} ? 0 : static_cast<uint32_t>(ms / 1000);
  }
  // Value with the catalog scale applied (loses exactness past 2^53; for tests and display).
  double Scaled() const;
};
static_assert(sizeof(Sample) == 16);

struct EntityStats {
  catalog::Entity entity = catalog::Entity::kNode;
  // Values for catalog::LabelNames(entity), same order.
  std::vector<std::string> labels;
  std::vector<Sample> samples;
  // Cardinality control (--collect-all-interfaces): true for an entity listed inside an object
  // of its own kind, i.e. an entry of network.interfaces[] that is not also the network's
  // default interface (network.name). The default interface, when the kubelet marks one, is
  // the entity created for the network object itself (false).
  bool nested = false;
  // Labels beyond the entity kind's fixed ones, written after them: `image` from the pod-spec
  // join, label_<key> / annotation_<key> on k8s_pod_labels / k8s_pod_annotations.
  std::vector<std::pair<std::string, std::string>> extra_labels;
};

}  // namespace kmb
