// Fuzzes the metrics.k8s.io decoders (NodeMetrics and PodMetrics, lists and single objects).
// Each input is also decoded with lists cut into batches of one item (json_walk.cpp): that walk
// must give exactly what the whole walk gives, error text included, or the target traps.

#include <vector>

#include "fuzz_util.h"
#include "kmb/sources/metrics_api.h"
#include "sources/json_walk.h"

namespace {

bool SameEntities(const std::vector<kmb::EntityStats>& a, const std::vector<kmb::EntityStats>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].entity != b[i].entity || a[i].nested != b[i].nested || !(a[i].labels == b[i].labels) ||
        a[i].samples.size() != b[i].samples.size()) {
      return false;
    }
    for (size_t j = 0; j < a[i].samples.size(); ++j) {
      const kmb::Sample& x = a[i].samples[j];
      const kmb::Sample& y = b[i].samples[j];
      if (x.metric != y.metric || x.kind != y.kind || x.u() != y.u() ||
          a[i].time_ms(x) != b[i].time_ms(y)) {
        return false;
      }
    }
  }
  return true;
}

using Decode = kmb::Status (*)(std::string_view, std::vector<kmb::EntityStats>*);

void DecodeBothWays(Decode decode, std::string_view body) {
  std::vector<kmb::EntityStats> whole, batched;
  const kmb::Status a = decode(body, &whole);
  kmb::walk::ListBatchBytesForTest(1);
  const kmb::Status b = decode(body, &batched);
  kmb::walk::ListBatchBytesForTest(0);
  if (a.ok() != b.ok() || a.message() != b.message() || !SameEntities(whole, batched)) {
    __builtin_trap();
  }
}

}  // namespace

KMB_FUZZ_TARGET {
  const std::string_view body = kmb::fuzz::AsText(data, size);
  DecodeBothWays(kmb::DecodeNodeMetrics, body);
  DecodeBothWays(kmb::DecodePodMetrics, body);
  return 0;
}
