#pragma once
// The objects behind the Metrics API and the answers `doctor` asks for: the APIService
// v1beta1.metrics.k8s.io in each failure mode, its Service, Endpoints and metrics-server pod,
// and SelfSubjectAccessReview. Messages are the ones real clusters give (test/fixtures/apiservice).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/json_writer.h"

namespace kmb::sim {

enum class ApiServiceMode {
  kPassed,
  kFailedDiscoveryCheck,
  kMissingEndpoints,
  kServiceNotFound,
  kIoTimeout,
  kAbsent
};

// "Passed", "FailedDiscoveryCheck", ... (SimOptions::apiservice). False when unknown.
bool ParseApiServiceMode(std::string_view name, ApiServiceMode* out);
inline constexpr const char* kApiServiceModes =
    "Passed, FailedDiscoveryCheck, MissingEndpoints, ServiceNotFound, IoTimeout, Absent";

// The Available condition: reason and message. `fault` is the HTTP status metrics.k8s.io was
// made to answer (SetMetricsApiStatus), which a Passed APIService reports as a bad status.
struct Availability {
  bool available = true;
  std::string reason;
  std::string message;
};
Availability ApiServiceAvailability(ApiServiceMode mode, int fault);

void RenderApiService(JsonWriter& w, const Availability& a, int64_t created_unix,
                      int64_t transition_unix);
void RenderMetricsServerService(JsonWriter& w, int64_t created_unix);
void RenderMetricsServerEndpoints(JsonWriter& w, ApiServiceMode mode);
// PodList of the metrics-server pod, running on `node_name`.
void RenderMetricsServerPods(JsonWriter& w, ApiServiceMode mode, std::string_view node_name,
                             int64_t started_unix);

// The answer to POST .../selfsubjectaccessreviews with `request` (JSON): allowed unless its
// resource ("pods") or its verb and resource ("watch pods") is in `deny`. Returns the HTTP status (201, or 400 for a malformed request).
int RenderSelfSubjectAccessReview(std::string_view request, const std::vector<std::string>& deny,
                                  std::string* out);

// The identity the simulator's token stands for, in RBAC messages.
inline constexpr const char* kServiceAccountUser =
    "system:serviceaccount:monitoring:kube-metrics-bridge";

}  // namespace kmb::sim
