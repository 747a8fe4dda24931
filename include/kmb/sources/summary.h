#pragma once
// Decoder for the kubelet Summary API (GET /stats/summary, k8s.io/kubelet stats/v1alpha1).

#include <string>
#include <string_view>
#include <vector>

#include "kmb/sources/entity.h"
#include "kmb/util/status.h"

namespace kmb {

struct NodeSummary {
  std::string node;  // node.nodeName
  // Node first, then for each pod: the pod, then its containers (payload order).
  std::vector<EntityStats> entities;
};

// Decodes one Summary body. Keeps every numeric leaf whose (entity, path) is in the catalog;
// absent fields give no sample; unknown fields are ignored. `node_name` labels the entities
// (the name the node list gave; the payload's nodeName is used when it is empty).
// On malformed input returns reason "decode" with a message naming the byte offset, and
// leaves *out empty. Never recurses without bound and never reads past `body`.
Status DecodeSummary(std::string_view body, std::string_view node_name, NodeSummary* out);

}  // namespace kmb
