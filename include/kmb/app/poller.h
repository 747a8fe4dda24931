#pragma once
// The poll loop's one step: list nodes, fetch every node's Summary through the API server's
// node proxy (concurrently, bounded, one request per node), list metrics.k8s.io nodes and
// pods, and build one immutable Snapshot. Cumulative state (error counters, poll count,
// last success times, per-node failure state for logging) lives here between polls.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kmb/app/backoff.h"
#include "kmb/config/options.h"
#include "kmb/exposition/enrich.h"
#include "kmb/kube/client.h"
#include "kmb/kube/retry.h"
#include "kmb/kube/watch_cache.h"
#include "kmb/model/snapshot.h"
#include "kmb/util/worker_pool.h"

namespace kmb {

class KubeletTargets;  // access: src/app/kubelet_targets.h

// The shard a node belongs to: FNV-1a (64-bit) of its name, modulo `total_shards`. Stable across
// versions and processes, so replicas agree without talking to each other.
int ShardOf(std::string_view node, int total_shards);

class Poller {
 public:
  Poller(const Options& options, std::shared_ptr<KubeClient> client);
  ~Poller();

  // Runs one poll and returns its snapshot. Never throws; failures are in the snapshot.
  SnapshotPtr Poll();

  // Records poll ticks the loop skipped because a poll overran the interval (shown from the
  // next snapshot on).
  void CountSkippedTicks(uint64_t ticks) { skipped_ += ticks; }

 private:
  // GETs every page of a List (`limit`/`continue`), up to `max_pages`; `decode` takes one
  // page's body and returns its continue token.
  Status ListPages(std::string_view collection, int max_pages,
                   const std::function<Status(std::string_view, std::string*)>& decode);
  Status ListNodes(std::vector<std::string>* names);
  // namespace/name -> node of every pod, listed (for sharding the Metrics API's pods when the
  // pod watch cache is off or not synced).
  Status ListPodNodes(std::unordered_map<std::string, std::string>* pod_nodes);
  bool MyNode(std::string_view node) const {
    return options_.total_shards <= 1 || ShardOf(node, options_.total_shards) == options_.shard;
  }
  // Pods without a node are joined by one replica only: shard 0, when it also polls the Metrics
  // API or is the only one.
  bool OwnsUnscheduledPods() const {
    return options_.shard == 0 && (options_.metrics_api || options_.total_shards <= 1);
  }
  void PollSummaries(const std::vector<std::string>& names, Snapshot* snap);
  void PollMetricsApi(Snapshot* snap);
  void CountError(const std::string& source, const Status& status);
  // Logs a node's failure when it starts or changes reason, and its recovery.
  void LogNodeTransition(const NodeResult& result);

  Options options_;
  std::shared_ptr<KubeClient> client_;
  std::vector<std::string> last_nodes_;  // reused when the node list cannot be fetched
  uint64_t polls_ = 0;
  uint64_t skipped_ = 0;
  double summary_last_success_ = 0;
  double metrics_api_last_success_ = 0;
  std::string metrics_api_last_reason_;
  std::string node_list_last_reason_;
  std::map<std::string, std::string> node_last_reason_;  // node -> reason of last failure
  std::mutex errors_mu_;  // guards errors_ (summary workers count concurrently)
  std::map<std::pair<std::string, std::string>, uint64_t> errors_;

  // Fault handling: retries of safe requests and the per-node back-off.
  RetryPolicy retry_;
  NodeBackoff backoff_;
  void WarnDuplicates(const std::string& node, size_t dropped);
  std::set<std::string> duplicates_warned_;  // guarded by errors_mu_
  // ---- Watch cache (--watch-cache): nodes and pods, when synced, replace the per-poll lists
  // and feed the pod-spec enrichment (exposition/enrich.h). Null when off.
  std::unique_ptr<NodeCache> node_cache_;
  std::unique_ptr<PodCache> pod_cache_;
  // ---- access: kubelet access (proxy/direct) and node-local mode ----
 public:
  // SIGHUP: KubeClient::ReloadFiles() on the API server client and the kubelet client.
  Status ReloadFiles();

 private:
  std::unique_ptr<KubeletTargets> kubelets_;
  // Node-local mode: the node's pods from its kubelet's /pods.
  Status PollLocalPods();
  std::shared_ptr<const PodMap> local_pods_;  // the last /pods, null when it failed
  std::string local_pods_last_reason_;
  // ---- scale: the entities of released snapshots, decoded into again (poller.cpp) ----
  struct SparePool;
  std::shared_ptr<SparePool> spares_;
  // Persistent threads for the Summary fan-out (as many as --max-concurrent-requests, of which a
  // poll wakes as many as the kubelets' answers need; PollSummaries) and for the Metrics API
  // (util/worker_pool.h).
  std::unique_ptr<WorkerPool> summary_workers_;
  std::unique_ptr<WorkerPool> metrics_api_worker_;
  HttpResponse metrics_api_response_;  // reused by PollMetricsApi
};

// Entry point of the `kube-metrics-bridge` binary.
int RunMain(int argc, char** argv);

}  // namespace kmb
