// The poller's worker threads: queued tasks all run, on the pool's own threads.

#include "kmb/util/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kmb/util/thread_name.h"

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

// Tasks one at a time, each after the last has finished and its thread has gone idle again:
// they all run on that thread (a pool waking its longest-idle thread would use all eight), so
// the threads a poll does not need keep no caches.
TEST(WorkerPool, WakesTheThreadThatWentIdleLast) {
  WorkerPool pool(8);
  std::set<std::thread::id> ran;
  for (int i = 0; i < 16; ++i) {
    // Until every thread is on the idle stack: at first all have started, later the last task's
    // thread is back (its future is ready a moment before).
    while (pool.idle() < pool.size()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::thread::id id;
    pool.Submit([&id] { id = std::this_thread::get_id(); }).get();
    ran.insert(id);
  }
  EXPECT_EQ(ran.size(), 1u);
}

// Tasks submitted while every thread is busy are queued, and the stack of idle threads is not
// corrupted by a woken thread that finds the queue already emptied.
TEST(WorkerPool, QueuesWhileAllBusyAndRunsEverything) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(2);
    std::promise<void> gate;
    std::shared_future<void> open = gate.get_future().share();
    std::vector<std::future<void>> futures;
    for (int i = 0; i < 2; ++i) futures.push_back(pool.Submit([open] { open.wait(); }));
    for (int i = 0; i < 100; ++i) futures.push_back(pool.Submit([&] { ++done; }));
    gate.set_value();
    for (auto& f : futures) f.get();
    EXPECT_EQ(done.load(), 100);
    for (int round = 0; round < 3; ++round) {
      std::vector<std::future<void>> more;
      for (int i = 0; i < 50; ++i) more.push_back(pool.Submit([&] { ++done; }));
      for (auto& f : more) f.get();
    }
  }
  EXPECT_EQ(done.load(), 250);
}

TEST(WorkerPool, NamesItsThreads) {
  std::mutex mu;
  std::set<std::string> names;
  {
    WorkerPool pool(2, "kmb-test");
    std::promise<void> gate;
    std::shared_future<void> open = gate.get_future().share();
    std::atomic<int> waiting{0};
    std::vector<std::future<void>> futures;
    // Both threads hold a task at once, so both names are seen.
    for (int i = 0; i < 2; ++i) {
      futures.push_back(pool.Submit([&, open] {
        {
          std::lock_guard<std::mutex> lock(mu);
          names.insert(ThreadName());
        }
        ++waiting;
        open.wait();
      }));
    }
    while (waiting.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    gate.set_value();
    for (auto& f : futures) f.get();
  }
  EXPECT_EQ(names, (std::set<std::string>{"kmb-test-1", "kmb-test-2"}));

  WorkerPool solo(1, "kmb-solo");
  std::string name;
  solo.Submit([&] { name = ThreadName(); }).get();
  EXPECT_EQ(name, "kmb-solo");  // no index when the pool has one thread
}

TEST(ThreadNameTest, LinuxKeepsFifteenBytes) {
  std::string name;
  std::thread([&] {
    SetThreadName("kmb-0123456789abcdef");
    name = ThreadName();
  }).join();
  EXPECT_EQ(name, "kmb-0123456789a");
}
}  // namespace
}  // namespace kmb
