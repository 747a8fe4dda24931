#pragma once

#include <string>
#include <string_view>

namespace kmb {

// How `kubectl auth can-i` names a resource: "nodes", "nodes/stats", "pods.metrics.k8s.io".
// The doctor names the permissions it checks this way, and the simulator names the ones a
// scenario denies, so that one `--deny` spelling means the same to both.
inline std::string CanIResourceName(std::string_view resource, std::string_view subresource,
                                    std::string_view group) {
  std::string name(resource);
  if (!subresource.empty()) name.append("/").append(subresource);
  if (!group.empty()) name.append(".").append(group);
  return name;
}

}  // namespace kmb
