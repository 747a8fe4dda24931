// Fuzzes the core/v1 list decoders: NodeList pages and PodList placements.

#include "fuzz_util.h"
#include "kmb/sources/node_list.h"

KMB_FUZZ_TARGET {
  const std::string_view body = kmb::fuzz::AsText(data, size);
  kmb::NodeListPage nodes;
  (void)kmb::DecodeNodeList(body, &nodes);
  kmb::PodListPage pods;
  (void)kmb::DecodePodPlacements(body, &pods);
  return 0;
}
