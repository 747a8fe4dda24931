#pragma once
// `kube-metrics-bridge doctor`: diagnoses the Metrics API pipeline and kubelet access.

#include <ostream>
#include <string>
#include <string_view>

#include "kmb/util/status.h"

namespace kmb::doctor {

struct DoctorOptions {
  std::string kubeconfig, context, apiserver;
  int max_nodes = -1;  // -1 = all
  bool json = false;
  double timeout_seconds = 5;  // each request and connection step
  int kubelet_port = 10250;     // when a node advertises no daemonEndpoints.kubeletEndpoint
  int kubelet_read_only_port = 10255;
};

// Runs every check in order, prints the report to `out`, returns the exit status
// (0 ok, 1 warnings, 2 failures).
int RunDoctor(const DoctorOptions& options, std::ostream& out);

// One known cause: plain words, the fix, and its section of docs/troubleshooting.md.
struct Diagnosis {
  std::string_view doc;    // anchor, e.g. "kubelet-certificate-without-ip-san"
  std::string_view words;  // "the kubelet's serving certificate does not name its IP address"
  std::string_view fix;
};

// The diagnosis for a failed request (reason and message of a KubeClient Status), from the
// message's well-known error texts first, then the reason and HTTP status. Never null for a
// failed Status; null for Ok.
const Diagnosis* Diagnose(const kmb::Status& status);

// The plain words the doctor uses for a failed request ("" for Ok), for /debug/status.
std::string Explain(const kmb::Status& status);

}  // namespace kmb::doctor
