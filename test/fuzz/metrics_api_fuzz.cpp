// Fuzzes the metrics.k8s.io decoders (NodeMetrics and PodMetrics, lists and single objects).
// Each input is also decoded with lists cut into batches of one item (json_walk.cpp), and fed
// to a MetricsApiStream in pieces (of a size the input's first byte picks) with those batches:
// both must give exactly what the whole walk gives, error text included (the stream may
// instead ask for the whole walk), or the target traps.

#include <optional>
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

void DecodeEveryWay(Decode decode, kmb::MetricsApiStream::List list, std::string_view body) {
  std::vector<kmb::EntityStats> whole, batched, streamed;
  const kmb::Status a = decode(body, &whole);
  kmb::walk::ListBatchBytesForTest(1);
  const kmb::Status b = decode(body, &batched);
  kmb::MetricsApiStream stream(list, &streamed, 0);
  stream.Start();
  const size_t piece = body.empty() ? 1 : 1 + static_cast<unsigned char>(body[0]) % 64;
  for (size_t i = 0; i < body.size(); i += piece) stream.Feed(body.substr(i, piece));
  const std::optional<kmb::Status> c = stream.Finish();
  kmb::walk::ListBatchBytesForTest(0);
  if (a.ok() != b.ok() || a.message() != b.message() || !SameEntities(whole, batched)) {
    __builtin_trap();
  }
  if (c ? (a.ok() != c->ok() || a.message() != c->message() || !SameEntities(whole, streamed))
        : !streamed.empty()) {
    __builtin_trap();
  }
}

}  // namespace

KMB_FUZZ_TARGET {
  const std::string_view body = kmb::fuzz::AsText(data, size);
  DecodeEveryWay(kmb::DecodeNodeMetrics, kmb::MetricsApiStream::List::kNodes, body);
  DecodeEveryWay(kmb::DecodePodMetrics, kmb::MetricsApiStream::List::kPods, body);
  return 0;
}
