#pragma once
// Decoder for core/v1 NodeList pages (GET /api/v1/nodes?limit=N&continue=...).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmb/util/status.h"

namespace kmb {

// How to reach a node's kubelet directly (--kubelet-access=direct): status.addresses and
// status.daemonEndpoints.kubeletEndpoint.Port.
struct NodeEndpoint {
  std::vector<std::pair<std::string, std::string>> addresses;  // (type, address), in order
  int kubelet_port = 0;                                        // 0 when not advertised
};

struct NodeListPage {
  std::vector<std::string> names;   // items[].metadata.name, in order
  std::string continue_token;       // metadata.continue; empty on the last page
  std::string resource_version;     // metadata.resourceVersion
  // access: set want_endpoints to also fill `endpoints`, parallel to `names`.
  bool want_endpoints = false;
  std::vector<NodeEndpoint> endpoints;
};

// Appends the page's node names to page->names. Malformed input: reason "decode".
Status DecodeNodeList(std::string_view body, NodeListPage* page);

// One Node object (GET /api/v1/nodes/NAME): its name and endpoint. Malformed: reason "decode".
Status DecodeNode(std::string_view body, std::string* name, NodeEndpoint* endpoint);

// Where pods run, from core/v1 PodList pages (GET /api/v1/pods?limit=N&continue=...).
struct PodPlacement {
  std::string namespace_name;  // "namespace/name"
  std::string node;            // spec.nodeName; empty while unscheduled
};
struct PodListPage {
  std::vector<PodPlacement> pods;
  std::string continue_token;
};

// Appends the page's pods to page->pods. Malformed input: reason "decode".
Status DecodePodPlacements(std::string_view body, PodListPage* page);

}  // namespace kmb
