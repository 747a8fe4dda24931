// Fuzzes the core/v1 list decoders: NodeList pages (names only, and with the endpoints direct
// kubelet access reads through the watch cache's Node decoder), single Nodes and PodList
// placements.

#include <string>

#include "fuzz_util.h"
#include "kmb/sources/node_list.h"

KMB_FUZZ_TARGET {
  const std::string_view body = kmb::fuzz::AsText(data, size);
  kmb::NodeListPage nodes;
  (void)kmb::DecodeNodeList(body, &nodes);
  kmb::NodeListPage with_endpoints;
  with_endpoints.want_endpoints = true;
  (void)kmb::DecodeNodeList(body, &with_endpoints);
  std::string name;
  kmb::NodeEndpoint endpoint;
  (void)kmb::DecodeNode(body, &name, &endpoint);
  kmb::PodListPage pods;
  (void)kmb::DecodePodPlacements(body, &pods);
  return 0;
}
