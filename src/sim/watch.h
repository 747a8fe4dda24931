#pragma once
// The simulated API server's changing state, for list+watch: which pods exist (pod churn: pods
// deleted and created), a resourceVersion counter, the recent events, and the watch streams
// (ADDED / DELETED / BOOKMARK / ERROR 410 lines). The kubelet Summary and the Metrics API
// follow the pod set: a deleted pod is gone from them too.
//
// A pod is a (node, slot) of the model; churn empties a slot and later fills it again with the
// same pod name and uid (the model derives both from the slot).

#include <civetweb.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sim/model.h"

namespace kmb::sim {

struct WatchRequest {
  bool pods = true;  // else nodes
  std::string resource_version;
  int timeout_seconds = 0;  // 0: the server's default (30 min)
  bool bookmarks = false;
};

class WatchState {
 public:
  // `churn_per_minute` > 0 starts a thread deleting and re-creating pods at that rate.
  // `close_after_seconds` > 0 ends every watch after that long (a flaky proxy).
  WatchState(const ClusterModel& model, double churn_per_minute, double close_after_seconds,
             double bookmark_seconds);
  ~WatchState();

  int64_t resource_version() const;
  bool PodPresent(int node, int slot) const {
    return present_[Index(node, slot)].load(std::memory_order_relaxed) != 0;
  }
  // The pod's resourceVersion (its last event's, or its initial one).
  int64_t PodResourceVersion(int node, int slot) const {
    return pod_rv_[Index(node, slot)].load(std::memory_order_relaxed);
  }
  // Deletes or (re-)creates the pod; records the event. No-op when already so.
  void SetPodPresent(int node, int slot, bool present);
  // One churn step; steps alternate: delete a random pod, re-create the pod deleted longest
  // ago (the first step deletes).
  void ChurnStep();
  // Forgets the event history: open watches end with an ERROR 410 event and any watch from an
  // older resourceVersion gets one, so clients must relist.
  void ExpireWatches();
  // Serves one watch on `conn` until its timeout, the close-after time, ExpireWatches, Stop or
  // a write error. Returns the HTTP status sent.
  int Serve(mg_connection* conn, const WatchRequest& request);
  // Ends every watch (before the server stops: civetweb waits for its handlers).
  void Stop();

 private:
  struct Event {
    int64_t rv;
    bool deleted;
    int node, slot;
  };
  size_t Index(int node, int slot) const {
    return static_cast<size_t>(node) * static_cast<size_t>(pods_per_node_) +
           static_cast<size_t>(slot);
  }
  void ChurnLoop(double per_minute);

  const ClusterModel& model_;
  const int pods_per_node_;
  const double close_after_seconds_;
  const double bookmark_seconds_;
  std::unique_ptr<std::atomic<uint8_t>[]> present_;
  std::unique_ptr<std::atomic<int64_t>[]> pod_rv_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  int64_t rv_;
  int64_t compacted_rv_;  // a watch from below this gets 410
  uint64_t expiry_epoch_ = 0;
  bool stop_ = false;
  std::deque<Event> events_;    // the last kMaxEvents, oldest first
  std::deque<size_t> deleted_;  // pod indexes, in deletion order
  std::mt19937_64 rng_{12345};
  bool next_create_ = false;

  std::thread churn_;
};

}  // namespace kmb::sim
