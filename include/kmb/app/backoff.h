#pragma once
// Per-node back-off: a node whose Summary failed `threshold` polls in a row is skipped for a
// growing number of polls (1, 2, 4, ... up to `max_skip_polls`), and polled normally again as
// soon as one request succeeds. Skipping costs nothing: a dead kubelet stops using a request
// slot and a timeout every poll. Counted in polls, not seconds, so it scales with --interval.
// Thread-safe: the Summary workers call it concurrently for different nodes.

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kmb/util/status.h"

namespace kmb {

class NodeBackoff {
 public:
  explicit NodeBackoff(int threshold = 3, int max_skip_polls = 16)
      : threshold_(threshold), max_skip_(max_skip_polls) {}

  // Before polling `node`: true when this poll skips it, with *why the Status to report:
  // reason "backoff", a message naming the node, the polls left and the last real failure.
  bool Skip(const std::string& node, Status* why);
  // The outcome of a real request for `node`.
  void Record(const std::string& node, const Status& status);
  // Drops the state of nodes not in `nodes` (sorted): they left the cluster.
  void Retain(const std::vector<std::string>& nodes);

 private:
  struct State {
    int failures = 0;   // consecutive
    int skip_left = 0;  // polls still to skip
    int next_skip = 1;  // length of the next back-off
    Status last;        // last real failure
  };
  const int threshold_;
  const int max_skip_;
  std::mutex mu_;
  std::unordered_map<std::string, State> nodes_;  // guarded by mu_; failing nodes only
};

}  // namespace kmb
