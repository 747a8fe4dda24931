#pragma once
// A list+watch cache of one collection of the API server (nodes, pods), like client-go's
// reflector: list in pages (`limit`/`continue`), then watch from the list's resourceVersion
// with bookmarks; relist on 410 Gone (an ERROR event with code 410, or HTTP 410); back off
// with jitter on errors. It runs on its own thread and publishes immutable snapshots of the
// current objects, which the poller picks up once per poll.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "kmb/kube/client.h"
#include "kmb/kube/watch_stats.h"
#include "kmb/sources/pods.h"
#include "kmb/util/status.h"

namespace kmb {

struct WatchCacheOptions {
  int page_size = 500;                 // list `limit`
  double watch_timeout_seconds = 300;  // each watch's timeoutSeconds (the server ends it then)
  double backoff_initial_seconds = 0.5;
  double backoff_max_seconds = 30;  // errors back off exponentially up to this, with jitter
};

// How to read one kind of object; see MakePodCache and MakeNodeCache.
template <typename T>
struct WatchCodec {
  std::string kind;        // for messages: "pods"
  std::string collection;  // "/api/v1/pods"
  std::function<Status(std::string_view, ObjectListPage<T>*)> decode_list;
  std::function<Status(std::string_view, WatchEvent<T>*)> decode_event;
  // The objects kept (null: all). An object listed or watched that this refuses is not kept,
  // and one kept before is dropped: a shard keeps only its nodes' pods.
  std::function<bool(const T&)> keep;
};

template <typename T>
class WatchCache {
 public:
  using Map = ObjectMap<T>;  // by KeyOf(T): "namespace/name", a node's name

  // Starts the list+watch thread at once.
  WatchCache(std::shared_ptr<KubeClient> client, WatchCodec<T> codec, WatchCacheOptions options);
  ~WatchCache();  // stops the thread (wakes and ends a watch in flight at once)
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // True once a list has completed; stays true across relists and watch errors (the last
  // known state is served, as client-go's informers do).
  bool synced() const { return synced_.load(); }
  // Waits up to `seconds` for synced(), or less when the first list fails. Returns synced().
  bool WaitForSync(double seconds);
  // The current objects by key; nullptr before the first list completed. The same pointer is
  // returned until something changes.
  std::shared_ptr<const Map> Snapshot();
  // Counters since start and the current object count (kube_metrics_bridge_watch_*).
  WatchCacheStats stats() const;

 private:
  void Run();
  Status List();
  // One watch request from resource_version_; sets *gone on 410.
  Status Watch(bool* gone);
  void Sleep(double seconds);

  std::shared_ptr<KubeClient> client_;
  WatchCodec<T> codec_;
  WatchCacheOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::string resource_version_;       // only the thread touches it
  bool relisting_after_gone_ = false;   // only the thread touches it
  bool relisting_after_error_ = false;  // only the thread touches it

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  Map objects_;
  bool dirty_ = true;
  bool first_list_failed_ = false;
  std::shared_ptr<const Map> published_;
  WatchCacheStats stats_;

  std::thread thread_;  // last: starts after the members above exist
};

using PodCache = WatchCache<Pod>;
using NodeCache = WatchCache<NodeObject>;

std::unique_ptr<PodCache> MakePodCache(std::shared_ptr<KubeClient> client, PodDecodeOptions decode,
                                       WatchCacheOptions options = {},
                                       std::function<bool(const Pod&)> keep = nullptr);
std::unique_ptr<NodeCache> MakeNodeCache(std::shared_ptr<KubeClient> client,
                                         WatchCacheOptions options = {});

}  // namespace kmb
