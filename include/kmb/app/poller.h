#pragma once
// The poll loop's one step: list nodes, fetch every node's Summary through the API server's
// node proxy (concurrently, bounded, one request per node), list metrics.k8s.io nodes and
// pods, and build one immutable Snapshot. Cumulative state (error counters, poll count,
// last success times, per-node failure state for logging) lives here between polls.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kmb/config/options.h"
#include "kmb/kube/client.h"
#include "kmb/model/snapshot.h"

namespace kmb {

class Poller {
 public:
  Poller(const Options& options, std::shared_ptr<KubeClient> client);

  // Runs one poll and returns its snapshot. Never throws; failures are in the snapshot.
  SnapshotPtr Poll();

 private:
  Status ListNodes(std::vector<std::string>* names);
  void PollSummaries(const std::vector<std::string>& names, Snapshot* snap);
  void PollMetricsApi(Snapshot* snap);
  void CountError(const std::string& source, const Status& status);
  // Logs a node's failure when it starts or changes reason, and its recovery.
  void LogNodeTransition(const NodeResult& result);

  Options options_;
  std::shared_ptr<KubeClient> client_;
  std::vector<std::string> last_nodes_;  // reused when the node list cannot be fetched
  uint64_t polls_ = 0;
  double summary_last_success_ = 0;
  double metrics_api_last_success_ = 0;
  std::string metrics_api_last_reason_;
  std::string node_list_last_reason_;
  std::map<std::string, std::string> node_last_reason_;  // node -> reason of last failure
  std::mutex errors_mu_;  // guards errors_ (summary workers count concurrently)
  std::map<std::pair<std::string, std::string>, uint64_t> errors_;
};

// Entry point of the `kube-metrics-bridge` binary.
int RunMain(int argc, char** argv);

}  // namespace kmb
