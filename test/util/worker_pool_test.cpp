// The poller's worker threads: queued tasks all run, and the idle hook (where the workers give
// their malloc cache back) runs on a worker once it has run tasks and finds the queue empty.

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

TEST(WorkerPool, RunsEveryTaskThenGoesIdleOncePerWorkerThatRan) {
  std::mutex mu;
  std::set<std::thread::id> ran, idled;
  std::atomic<int> idle_calls{0};
  std::atomic<int> done{0};
  {
    WorkerPool pool(3, [&] {
      std::lock_guard<std::mutex> lock(mu);
      idled.insert(std::this_thread::get_id());
      ++idle_calls;
    });
    // Nothing ran yet: no worker goes idle "again".
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(idle_calls.load(), 0);
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
  }  // the destructor joins: every worker that ran has gone idle by then
  EXPECT_EQ(idled, ran);
  EXPECT_FALSE(ran.count(std::this_thread::get_id()));
  EXPECT_GE(idle_calls.load(), static_cast<int>(ran.size()));
  EXPECT_LE(idle_calls.load(), 50);
}

TEST(WorkerPool, WithoutAHookTasksStillRun) {
  WorkerPool pool(2);
  std::atomic<int> done{0};
  std::vector<std::future<void>> futures;
  for (int i = 0; i < 10; ++i) futures.push_back(pool.Submit([&] { ++done; }));
  for (auto& f : futures) f.get();
  EXPECT_EQ(done.load(), 10);
}

}  // namespace
}  // namespace kmb
