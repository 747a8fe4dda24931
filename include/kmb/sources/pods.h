#pragma once
// Decoders for core/v1 Pods and Nodes as the watch cache keeps them: List pages
// (GET /api/v1/pods?limit=N&continue=...) and watch events (one JSON object per line,
// {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}), into plain structs holding
// only what the enrichment joins need (identity, placement, owner, phase, QoS, allowlisted
// labels and annotations, container images, requests and limits).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmb/sources/node_list.h"
#include "kmb/util/status.h"

namespace kmb {

// cpu in cores, memory and ephemeral-storage in bytes; nullopt when not set.
struct ResourceAmounts {
  std::optional<double> cpu;
  std::optional<double> memory;
  std::optional<double> ephemeral_storage;
};

struct PodContainer {
  std::string name;
  std::string image;
  // Effective values: status.containerStatuses[].resources (what the kubelet allocated, after
  // an in-place resize) when present, else spec.containers[].resources.
  ResourceAmounts requests;
  ResourceAmounts limits;
};

struct Pod {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string node;  // spec.nodeName; empty while unscheduled
  std::string phase;
  std::string qos_class;
  std::string owner_kind;  // the ownerReference with controller=true
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
// The bytes the calling thread's list and watch-event parser is sized for: a list page larger
// than 256 KiB leaves none behind (pods.cpp). For tests.
size_t ListParserCapacity();

}  // namespace kmb
