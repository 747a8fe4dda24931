#pragma once
// Decoder for core/v1 NodeList pages (GET /api/v1/nodes?limit=N&continue=...).

#include <string>
#include <string_view>
#include <vector>

#include "kmb/util/status.h"

namespace kmb {

struct NodeListPage {
  std::vector<std::string> names;   // items[].metadata.name, in order
  std::string continue_token;       // metadata.continue; empty on the last page
  std::string resource_version;     // metadata.resourceVersion
};

// Appends the page's node names to page->names. Malformed input: reason "decode".
Status DecodeNodeList(std::string_view body, NodeListPage* page);

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
