#pragma once
// Decoders for core/v1 Pods and Nodes as the watch cache keeps them: List pages
// (GET /api/v1/pods?limit=N&continue=...) and watch events (one JSON object per line,
// {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}), into plain structs holding
// only what the enrichment joins need (identity, placement, owner, phase, QoS, allowlisted
// labels and annotations, container images, requests and limits).

#include <cmath>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmb/sources/node_list.h"
#include "kmb/sources/object_map.h"
#include "kmb/util/interned_string.h"
#include "kmb/util/status.h"

namespace kmb {

// A resource amount that may be unset, in the 8 bytes of its double (std::optional<double>
// takes 16, and a pod with two containers holds six ResourceAmounts): unset is NaN, which no
// quantity decodes to. Reads like the std::optional it replaces.
class Amount {
 public:
  Amount() = default;
  Amount(std::nullopt_t) {}                                  // NOLINT(google-explicit-constructor)
  Amount(double v) : v_(v) {}                                // NOLINT(google-explicit-constructor)
  Amount(const std::optional<double>& v) : v_(v ? *v : kUnset) {}  // NOLINT
  bool has_value() const { return !std::isnan(v_); }
  explicit operator bool() const { return has_value(); }
  double operator*() const { return v_; }
  double value_or(double fallback) const { return has_value() ? v_ : fallback; }
  operator std::optional<double>() const {  // NOLINT(google-explicit-constructor)
    return has_value() ? std::optional<double>(v_) : std::nullopt;
  }
  friend bool operator==(Amount a, Amount b) {
    return a.has_value() == b.has_value() && (!a.has_value() || a.v_ == b.v_);
  }
  friend bool operator==(Amount a, const std::optional<double>& b) { return a == Amount(b); }
  friend bool operator==(Amount a, double b) { return a == Amount(b); }
  friend std::ostream& operator<<(std::ostream& os, Amount a) {
    if (!a.has_value()) return os << "(unset)";
    return os << a.v_;
  }

 private:
  static constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();
  double v_ = kUnset;
};

// cpu in cores, memory and ephemeral-storage in bytes; unset when not set.
struct ResourceAmounts {
  Amount cpu;
  Amount memory;
  Amount ephemeral_storage;
};

// The strings that repeat across pods (namespace, node, phase, QoS class, owner kind, container
// names and images) are interned: one copy per process, 8 bytes per field (a 5,000-node cluster's
// 150,000 pods took ~1 kB each in the watch cache with std::string fields).
struct PodContainer {
  InternedString name;
  InternedString image;
  // Effective values: status.containerStatuses[].resources (what the kubelet allocated, after
  // an in-place resize) when present, else spec.containers[].resources.
  ResourceAmounts requests;
  ResourceAmounts limits;
};

struct Pod {
  InternedString namespace_;
  std::string name;
  std::string uid;
  InternedString node;  // spec.nodeName; empty while unscheduled
  InternedString phase;
  InternedString qos_class;
  InternedString owner_kind;  // the ownerReference with controller=true
  std::string owner_name;
  std::string resource_version;
  // A static pod's mirror: annotation kubernetes.io/config.mirror, the uid the kubelet (and so
  // its Summary) knows the pod by.
  std::string mirror_uid;
  // Only the keys the allowlists of PodDecodeOptions keep, in object order.
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;
  std::vector<PodContainer> containers;  // spec.containers (not init containers)
  // Pod totals as the kubelet computes them (resourcehelper.PodRequests / PodLimits): the sum
  // of the app containers and restartable ("sidecar") init containers, at least the largest
  // init container (plus the sidecars started before it), plus spec.overhead; a pod-level
  // spec.resources (PodLevelResources, k8s 1.32+) value replaces the total of its resource. A
  // limit is unset when an app or sidecar container lacks it and spec.resources does not set it.
  ResourceAmounts requests;
  ResourceAmounts limits;
  // Every app and sidecar container sets that request, or spec.resources sets the pod's: only
  // then is a pod request utilization defined (the request total itself counts what is set).
  bool cpu_request_complete = false;
  bool memory_request_complete = false;
};

// A Node as the watch cache keeps it.
struct NodeObject {
  std::string name;
  std::string resource_version;
  NodeEndpoint endpoint;  // status.addresses and the kubelet port (direct kubelet access)
};

// The watch cache's keys: "namespace/name" for a pod, the name for a node (object_map.h).
inline KeyParts KeyOf(const Pod& p) { return {p.namespace_.view(), p.name}; }
inline KeyParts KeyOf(const NodeObject& n) { return {std::string_view(), n.name}; }
// The current pods by namespace/name (the watch cache's immutable snapshot, or a kubelet's /pods).
using PodMap = ObjectMap<Pod>;

struct PodDecodeOptions {
  // Label and annotation keys kept on Pod ("*" keeps all); everything else is skipped, so that a
  // cache of 150k pods holds only what the exposition shows.
  std::vector<std::string> label_keys;
  std::vector<std::string> annotation_keys;
};

template <typename T>
struct ObjectListPage {
  std::vector<T> items;
  std::string continue_token;    // metadata.continue; empty on the last page
  std::string resource_version;  // metadata.resourceVersion
  // One line per item that could not be decoded (skipped: the others still count).
  std::vector<std::string> errors;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

template <typename T>
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  T object;                      // ADDED, MODIFIED, DELETED
  std::string resource_version;  // the object's (BOOKMARK: the bookmark's)
  int error_code = 0;            // ERROR: Status.code (410: the resourceVersion is too old)
  std::string error_message;     // ERROR: Status.message
};

// Appends the page's items; an item that cannot be decoded is skipped and named in
// page->errors. A body that is not a List: reason "decode".
Status DecodePodList(std::string_view body, const PodDecodeOptions& options,
                     ObjectListPage<Pod>* page);
Status DecodeNodeObjectList(std::string_view body, ObjectListPage<NodeObject>* page);
// One watch event line.
Status DecodePodWatchEvent(std::string_view line, const PodDecodeOptions& options,
                           WatchEvent<Pod>* event);
Status DecodeNodeWatchEvent(std::string_view line, WatchEvent<NodeObject>* event);

}  // namespace kmb
