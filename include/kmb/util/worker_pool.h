#pragma once
// Threads kept for the life of their owner (the poller), so that a poll does not start and
// join up to 16 fresh threads (and fault in their stacks) every interval. The decoder's state
// (simdjson parsers, spare entities) does not live in these threads: it is leased per decode
// from a pool of 2-4 (sources/json_walk.cpp), so it is kept across polls either way.

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kmb {

class WorkerPool {
 public:
  // The workers keep their malloc thread caches between polls: giving them back whenever the
  // queue ran dry (tcmalloc's MarkThreadIdle, 2026-12-01) took 4-7 MB off the RSS but cost
  // ~20 ms of CPU per poll on the second benchmark machine, where each span it freed was
  // returned to the kernel with a TLB shootdown (docs/performance.md, "Tried and not kept").
  // What keeps those caches few instead: a task goes to the thread that became idle last, so
  // a poll that needs 2 of 16 threads runs on the same 2 every time, and the other 14 keep
  // neither a cache nor a connection.
  // Each thread is named `name`-N, or `name` if it is the only one (util/thread_name.h:
  // "kmb-summary-3", "kmb-metricsapi").
  explicit WorkerPool(size_t threads, std::string name = "kmb-worker");
  ~WorkerPool();  // finishes the queued tasks, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` and wakes the most recently idle thread; the future is ready when it has
  // run. A task must not wait on another task of the same pool that may still be queued
  // behind it.
  std::future<void> Submit(std::function<void()> task);
  size_t size() const { return workers_.size(); }
  size_t idle();  // threads waiting for a task

 private:
  struct Worker {
    std::condition_variable wake;
    bool woken = false;  // under mu_
    std::thread thread;
  };
  void Loop(Worker* w);
  std::mutex mu_;
  std::deque<std::packaged_task<void()>> queue_;
  std::vector<Worker*> idle_;  // a stack: the last to go idle is woken first
  bool stop_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace kmb
