// Fuzzes the metrics.k8s.io decoders (NodeMetrics and PodMetrics, lists and single objects).

#include <vector>

#include "fuzz_util.h"
#include "kmb/sources/metrics_api.h"

KMB_FUZZ_TARGET {
  const std::string_view body = kmb::fuzz::AsText(data, size);
  std::vector<kmb::EntityStats> out;
  (void)kmb::DecodeNodeMetrics(body, &out);
  (void)kmb::DecodePodMetrics(body, &out);
  return 0;
}
