#pragma once
// The one reader of a Node's status.addresses and status.daemonEndpoints.kubeletEndpoint.Port,
// on the parsed object, shared by the single-Node decoder (node_list.cpp) and the watch cache's
// Node decoder (pods.cpp), so that neither serializes the status again to hand it over.

#include <simdjson.h>

#include <string>

#include "kmb/sources/node_list.h"

namespace kmb {

// Appends to out->addresses and sets out->kubelet_port; returns "" or what is malformed.
std::string ReadNodeStatus(simdjson::dom::element status, NodeEndpoint* out);

}  // namespace kmb
