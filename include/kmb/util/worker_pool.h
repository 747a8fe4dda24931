#pragma once
// Threads kept for the life of their owner (the poller), so that a poll does not start and
// join up to 16 fresh threads (and fault in their stacks) every interval. The decoder's state
// (simdjson parsers, spare entities) does not live in these threads: it is leased per decode
// from a pool of 2-4 (sources/json_walk.cpp), so it is kept across polls either way.

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
  // `on_idle`, if given, runs on a worker each time it has run a task and finds the queue
  // empty, before it waits for the next one (the poller's workers give their malloc cache
  // back there: ReturnThreadCache, util/process_stats.h).
  explicit WorkerPool(size_t threads, std::function<void()> on_idle = {});
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
  const std::function<void()> on_idle_;
  std::vector<std::thread> threads_;
};

}  // namespace kmb
