// The poller's worker threads: queued tasks all run, on the pool's own threads.

#include "kmb/util/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace kmb {
namespace {

TEST(WorkerPool, RunsEveryTaskOnItsOwnThreads) {
  std::mutex mu;
  std::set<std::thread::id> ran;
  std::atomic<int> done{0};
  {
    WorkerPool pool(3);
    EXPECT_EQ(pool.size(), 3u);
    std::vector<std::future<void>> futures;
    for (int i = 0; i < 50; ++i) {
      futures.push_back(pool.Submit([&] {
        {
          std::lock_guard<std::mutex> lock(mu);
          ran.insert(std::this_thread::get_id());
        }
        ++done;
      }));
    }
    for (auto& f : futures) f.get();
    EXPECT_EQ(done.load(), 50);
  }
  EXPECT_FALSE(ran.empty());
  EXPECT_LE(ran.size(), 3u);
  EXPECT_FALSE(ran.count(std::this_thread::get_id()));
}

// The destructor runs what is still queued before it joins.
TEST(WorkerPool, FinishesQueuedTasksWhenDestroyed) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(1);
    std::promise<void> gate;
    std::shared_future<void> open = gate.get_future().share();
    pool.Submit([open] { open.wait(); });
    for (int i = 0; i < 10; ++i) pool.Submit([&] { ++done; });
    gate.set_value();
  }
  EXPECT_EQ(done.load(), 10);
}
}  // namespace
}  // namespace kmb
