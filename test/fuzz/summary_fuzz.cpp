// Fuzzes the kubelet Summary decoder (DecodeSummary) on both of its entry points: a body copied
// before parsing, and a body decoded in place with the parser's padding to spare.

#include <string>

#include "fuzz_util.h"
#include "kmb/sources/summary.h"

KMB_FUZZ_TARGET {
  const std::string_view body = kmb::fuzz::AsText(data, size);
  kmb::NodeSummary out;
  (void)kmb::DecodeSummary(body, "fuzz-node", &out);
  std::string padded;
  padded.reserve(size + kmb::kJsonPadding);
  padded.assign(body);
  kmb::NodeSummary in_place;
  (void)kmb::DecodeSummary(padded, padded.capacity(), "", &in_place);
  return 0;
}
