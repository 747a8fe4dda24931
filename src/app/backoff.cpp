#include "kmb/app/backoff.h"

#include <algorithm>

namespace kmb {

bool NodeBackoff::Skip(const std::string& node, Status* why) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || it->second.skip_left == 0) return false;
  State& s = it->second;
  --s.skip_left;
  *why = Status::Error(reason::kBackoff,
                       "node " + node + ": backing off after " + std::to_string(s.failures) +
                           " consecutive failures, " + std::to_string(s.skip_left) +
                           " more poll(s) skipped; last failure (" + s.last.reason() +
                           "): " + s.last.message());
  return true;
}

void NodeBackoff::Record(const std::string& node, const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status.ok()) {
    nodes_.erase(node);
    return;
  }
  State& s = nodes_[node];
  s.last = status;
  if (++s.failures >= threshold_) {
    s.skip_left = s.next_skip;
    s.next_skip = std::min(max_skip_, s.next_skip * 2);
  }
}

void NodeBackoff::Retain(const std::vector<std::string>& nodes) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(nodes_, [&](const auto& entry) {
    return !std::binary_search(nodes.begin(), nodes.end(), entry.first);
  });
}

}  // namespace kmb
