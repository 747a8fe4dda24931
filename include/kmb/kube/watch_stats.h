#pragma once
// The counters of one list+watch cache (kube/watch_cache.h), on their own so that the snapshot
// (model stage) can carry them to the exposition (kube_metrics_bridge_watch_*) without the
// cache itself.

#include <cstdint>
#include <map>
#include <string>

namespace kmb {

// Counters since start, and the cache's size when they were read.
struct WatchCacheStats {
  uint64_t lists = 0;        // complete lists (the first one and every relist)
  uint64_t lists_gone = 0;   // of them, relists after a 410 Gone
  uint64_t lists_error = 0;  // of them, relists after a failed watch
  uint64_t watches = 0;      // watch requests made
  uint64_t events = 0;       // ADDED, MODIFIED, DELETED events applied
  uint64_t added = 0;
  uint64_t modified = 0;
  uint64_t deleted = 0;
  uint64_t bookmarks = 0;
  uint64_t errors = 0;                               // failed requests and undecodable events
  std::map<std::string, uint64_t> errors_by_reason;  // the same by Status reason
  uint64_t objects = 0;  // objects in the cache when the stats were read
};

}  // namespace kmb
