#pragma once
// One immutable snapshot per poll: everything /metrics shows, decoded and joined, plus the
// exporter's own health. Built by the poller, then shared read-only (shared_ptr<const>) with
// the exposition and the server; a scrape never waits on a poll in flight.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kmb/kube/watch_stats.h"
#include "kmb/sources/entity.h"
#include "kmb/sources/summary.h"
#include "kmb/util/process_stats.h"
#include "kmb/util/status.h"

namespace kmb {

// Outcome of one node's Summary request in this poll.
struct NodeResult {
  std::string node;
  Status status;          // ok, or why this node is missing from the data series
  double seconds = 0;     // request + decode time
  NodeSummary summary;    // empty unless status.ok()
};

struct SourceState {
  bool enabled = false;
  bool up = false;                     // last poll succeeded (for summary: at least one node)
  double poll_seconds = 0;             // duration of the last poll of this source
  double last_success_unix = 0;        // 0 = never
  Status status;                       // last poll's outcome (metrics-api; summary: node list)
};

struct Snapshot {
  int64_t taken_unix_ms = 0;
  uint64_t polls_total = 0;
  uint64_t polls_skipped_total = 0;  // ticks skipped because a poll overran the interval
  size_t summary_workers = 0;        // threads this poll's Summary fan-out used

  SourceState summary;
  std::vector<NodeResult> nodes;  // sorted by node name

  SourceState metrics_api;
  std::vector<EntityStats> metrics_api_entities;  // kApiNode, kApiPod, kApiContainer

  // ---- Pod-spec enrichment (watch cache joined with the Summary; exposition/enrich.h) ----
  // Requests, limits, utilization, k8s_pod_info, k8s_pod_labels/annotations (Source::kPods).
  std::vector<EntityStats> pod_entities;

  // access: --kubelet-insecure-tls is in effect (kube_metrics_bridge_kubelet_insecure_tls).
  bool kubelet_insecure_tls = false;

  // Cumulative since start: (source, reason) -> count.
  std::map<std::pair<std::string, std::string>, uint64_t> errors_total;

  // ---- Watch cache self-metrics (kube_metrics_bridge_watch_*) ----
  // Each list+watch cache's counters by resource ("nodes", "pods"), as the poll found them;
  // their errors are also in errors_total under source "watch".
  std::vector<std::pair<std::string, WatchCacheStats>> watch_caches;

  // The exporter process at the end of the poll (process_*, kube_metrics_bridge_heap_*).
  ProcessStats process;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace kmb
