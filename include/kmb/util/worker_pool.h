#pragma once
// Threads kept for the life of their owner (the poller). What a thread caches for itself, the
// decoder's simdjson parser and spare entities (tens of MB at 1,000 nodes, ~150 MB for a
// 150k-pod Metrics API list), then survives from one poll to the next, instead of being
// allocated and faulted in again by fresh threads every poll (docs/performance.md).

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace kmb {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();  // finishes the queued tasks, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; the future is ready when it has run. A task must not wait on another task
  // of the same pool that may still be queued behind it.
  std::future<void> Submit(std::function<void()> task);
  size_t size() const { return threads_.size(); }

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace kmb
