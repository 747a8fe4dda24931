#include "kmb/util/worker_pool.h"

#include "kmb/util/thread_name.h"

namespace kmb {

WorkerPool::WorkerPool(size_t threads, std::string name) {
  if (threads == 0) threads = 1;
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  for (size_t i = 0; i < threads; ++i) {
    workers_[i]->thread =
        std::thread([this, p = workers_[i].get(),
                     n = threads == 1 ? name : name + "-" + std::to_string(i + 1)] {
          SetThreadName(n);
          Loop(p);
        });
  }
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (Worker* w : idle_) w->woken = true;
    idle_.clear();
  }
  for (auto& w : workers_) w->wake.notify_one();
  for (auto& w : workers_) w->thread.join();
}

std::future<void> WorkerPool::Submit(std::function<void()> task) {
  std::packaged_task<void()> job(std::move(task));
  std::future<void> done = job.get_future();
  Worker* wake = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(job));
    if (!idle_.empty()) {
      wake = idle_.back();
      idle_.pop_back();
      wake->woken = true;
    }
  }
  // A busy worker takes the task first if it finishes sooner; the woken one then finds the
  // queue empty and goes back on top of the stack.
  if (wake != nullptr) wake->wake.notify_one();
  return done;
}

size_t WorkerPool::idle() {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

void WorkerPool::Loop(Worker* w) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!queue_.empty()) {
      std::packaged_task<void()> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      job();
      lock.lock();
      continue;
    }
    if (stop_) return;  // nothing left
    idle_.push_back(w);
    w->wake.wait(lock, [w] { return w->woken; });
    w->woken = false;
  }
}

}  // namespace kmb
