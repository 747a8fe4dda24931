#pragma once
// Decoder for the kubelet Summary API (GET /stats/summary, k8s.io/kubelet stats/v1alpha1).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "kmb/sources/entity.h"
#include "kmb/util/status.h"

namespace kmb {

struct NodeSummary {
  std::string node;  // node.nodeName
  // The node first; then in payload order its system containers and interfaces, and each pod
  // followed by its containers (each followed by its accelerators), interfaces and volumes;
  // last, one kPvc entity per PVC that a volume references (see DecodeSummary).
  std::vector<EntityStats> entities;
};

// Decodes one Summary body. Keeps every numeric leaf whose (entity, path) is in the catalog, and
// every "startTime" (RFC 3339, as Unix milliseconds); absent or null fields give no sample;
// unknown fields are ignored. An interface listed both as a network's default and in its
// interfaces[] is one entity. A volume with a pvcRef also yields a kPvc entity per
// (namespace, claim), with the volume's values (the first such volume in payload order wins). `node_name` labels the entities
// (the name the node list gave; the payload's nodeName is used when it is empty).
// On malformed input returns reason "decode" with a message naming the byte offset, and
// leaves *out empty. Never recurses without bound and never reads past `body`.
// Reuses out's vectors (their capacity survives), so polling into the same NodeSummary hardly
// allocates once it has grown: a handful of label strings per decode (on the 1.34 fixture 15, for
// 250 entities), where the slot of a merged duplicate interface is reused by another kind.
Status DecodeSummary(std::string_view body, std::string_view node_name, NodeSummary* out);

// The JSON parser reads up to this many bytes past the end of a body.
inline constexpr size_t kJsonPadding = 64;

// Same, for a body whose buffer stays readable up to `capacity` bytes from body.data(). With
// kJsonPadding bytes to spare (e.g. a std::string with reserve(size + kJsonPadding)) the body is
// decoded in place instead of being copied first. The bytes past the end are never interpreted.
Status DecodeSummary(std::string_view body, size_t capacity, std::string_view node_name,
                     NodeSummary* out);

}  // namespace kmb
