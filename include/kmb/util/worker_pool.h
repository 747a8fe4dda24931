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
  // The workers keep their malloc thread caches between polls: giving them back whenever the
  // queue ran dry (tcmalloc's MarkThreadIdle, 2026-12-01) took 4-7 MB off the RSS but cost
  // ~20 ms of CPU per poll on the second benchmark machine, where each span it freed was
  // returned to the kernel with a TLB shootdown (docs/performance.md, "Tried and not kept").
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
