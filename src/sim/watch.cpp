#include "sim/watch.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "sim/json_writer.h"
#include "sim/render.h"

namespace kmb::sim {
namespace {

constexpr size_t kMaxEvents = 10000;

// What the API server says when a watch starts from, or outlives, a compacted revision.
void AppendGone(std::string* body, int64_t rv) {
  body->append(R"({"type":"ERROR","object":)");
  body->append(StatusBody(410, "too old resource version: " + std::to_string(rv)));
  body->append("}\n");
}

void WriteBookmark(JsonWriter& w, bool pods, int64_t rv) {
  w.BeginObject();
  w.Field("type", "BOOKMARK");
  w.Key("object").BeginObject();
  w.Field("kind", pods ? "Pod" : "Node");
  w.Field("apiVersion", "v1");
  w.Key("metadata").BeginObject();
  w.Field("resourceVersion", std::to_string(rv));
  w.EndObject();
  w.EndObject();
  w.EndObject();
}

}  // namespace

WatchState::WatchState(const ClusterModel& model, double churn_per_minute,
                       double close_after_seconds, double bookmark_seconds)
    : model_(model),
      pods_per_node_(model.pods_per_node()),
      close_after_seconds_(close_after_seconds),
      bookmark_seconds_(bookmark_seconds > 0 ? bookmark_seconds : 1) {
  const size_t n = static_cast<size_t>(model.nodes()) * static_cast<size_t>(pods_per_node_);
  present_ = std::make_unique<std::atomic<uint8_t>[]>(n);
  pod_rv_ = std::make_unique<std::atomic<int64_t>[]>(n);
  for (size_t i = 0; i < n; ++i) {
    present_[i] = 1;
    pod_rv_[i] = 100000 + static_cast<int64_t>(i);  // as RenderPod writes it
  }
  rv_ = 100000 + static_cast<int64_t>(n);  // above every object's
  compacted_rv_ = rv_;
  if (churn_per_minute > 0 && n > 0)
    churn_ = std::thread([this, churn_per_minute] { ChurnLoop(churn_per_minute); });
}

WatchState::~WatchState() {
  Stop();
  if (churn_.joinable()) churn_.join();
}

int64_t WatchState::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

void WatchState::SetPodPresent(int node, int slot, bool present) {
  const size_t i = Index(node, slot);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if ((present_[i].load() != 0) == present) return;
    const int64_t rv = ++rv_;
    present_[i] = present ? 1 : 0;
    pod_rv_[i] = rv;
    events_.push_back({rv, !present, node, slot});
    if (!present) {
      deleted_.push_back(i);
    } else {
      std::erase(deleted_, i);
    }
    while (events_.size() > kMaxEvents) {
      compacted_rv_ = events_.front().rv;
      events_.pop_front();
    }
  }
  cv_.notify_all();
}

void WatchState::ChurnStep() {
  size_t create = SIZE_MAX, remove = SIZE_MAX;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t n = static_cast<size_t>(model_.nodes()) * static_cast<size_t>(pods_per_node_);
    // Alternately delete a random pod and re-create the one deleted longest ago: the
    // population stays within one of its size, and tests know what each step does.
    if (next_create_ && !deleted_.empty()) {
      create = deleted_.front();
    } else {
      for (int tries = 0; tries < 64 && remove == SIZE_MAX; ++tries) {
        const size_t i = rng_() % n;
        if (present_[i].load() != 0) remove = i;
      }
    }
    next_create_ = !next_create_;
  }
  const size_t i = create != SIZE_MAX ? create : remove;
  if (i == SIZE_MAX) return;
  SetPodPresent(static_cast<int>(i / static_cast<size_t>(pods_per_node_)),
                static_cast<int>(i % static_cast<size_t>(pods_per_node_)), create != SIZE_MAX);
}

void WatchState::ExpireWatches() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.clear();
    compacted_rv_ = ++rv_;
    ++expiry_epoch_;
  }
  cv_.notify_all();
}

void WatchState::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void WatchState::ChurnLoop(double per_minute) {
  const auto period = std::chrono::duration<double>(60.0 / per_minute);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [&] { return stop_; })) {
    lock.unlock();
    ChurnStep();
    lock.lock();
  }
}

int WatchState::Serve(mg_connection* conn, const WatchRequest& req) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  double limit = req.timeout_seconds > 0 ? req.timeout_seconds : 1800;
  if (close_after_seconds_ > 0) limit = std::min(limit, close_after_seconds_);
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit));
  mg_response_header_start(conn, 200);
  mg_response_header_add(conn, "Content-Type", "application/json", -1);
  mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
  mg_response_header_add(conn, "Cache-Control", "no-cache, private", -1);
  mg_response_header_send(conn);

  std::string body;
  auto flush = [&] {
    if (body.empty()) return true;
    const bool ok = mg_send_chunk(conn, body.data(), static_cast<unsigned>(body.size())) > 0;
    body.clear();
    return ok;
  };
  auto finish = [&] {
    mg_send_chunk(conn, "", 0);
    return 200;
  };

  const bool initial = req.resource_version.empty() || req.resource_version == "0";
  int64_t last = initial ? 0 : std::atoll(req.resource_version.c_str());
  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    epoch = expiry_epoch_;
    if (!initial && last < compacted_rv_) {
      AppendGone(&body, last);
      flush();
      return finish();
    }
    if (initial) last = rv_;
  }
  if (initial) {  // "any version": the current state as ADDED events, as the API server does
    const int objects = req.pods ? model_.nodes() * pods_per_node_ : model_.nodes();
    for (int i = 0; i < objects; ++i) {
      if (req.pods && !PodPresent(i / pods_per_node_, i % pods_per_node_)) continue;
      {
        JsonWriter w(&body);
        w.BeginObject();
        w.Field("type", "ADDED");
        w.Key("object");
        if (req.pods) {
          RenderPod(w, model_, i / pods_per_node_, i % pods_per_node_, true,
                    PodResourceVersion(i / pods_per_node_, i % pods_per_node_));
        } else {
          RenderNode(w, model_, i, true);
        }
        w.EndObject();
      }
      body.push_back('\n');
      if (body.size() > (1u << 20) && !flush()) return 200;
    }
    if (!flush()) return 200;
  }

  auto next_bookmark = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(bookmark_seconds_));
  std::vector<Event> batch;
  for (;;) {
    bool gone = false;
    int64_t rv_now = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const auto wake = std::min(deadline, next_bookmark);
      cv_.wait_until(lock, wake, [&] {
        return stop_ || expiry_epoch_ != epoch ||
               (req.pods && !events_.empty() && events_.back().rv > last);
      });
      if (stop_) break;
      gone = expiry_epoch_ != epoch;
      if (!gone && req.pods) {
        batch.clear();
        for (auto it = events_.rbegin(); it != events_.rend() && it->rv > last; ++it) {
          batch.push_back(*it);
        }
        std::reverse(batch.begin(), batch.end());
      }
      rv_now = rv_;
    }
    if (gone) {
      AppendGone(&body, last);
      flush();
      break;
    }
    for (const Event& ev : batch) {
      {
        JsonWriter w(&body);
        w.BeginObject();
        w.Field("type", ev.deleted ? "DELETED" : "ADDED");
        w.Key("object");
        RenderPod(w, model_, ev.node, ev.slot, true, ev.rv);
        w.EndObject();
      }
      body.push_back('\n');
      last = ev.rv;
    }
    batch.clear();
    const auto now = Clock::now();
    if (req.bookmarks && now >= next_bookmark) {
      {
        JsonWriter w(&body);
        WriteBookmark(w, req.pods, std::max(last, rv_now));
      }
      body.push_back('\n');
      next_bookmark = now + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(bookmark_seconds_));
    } else if (!req.bookmarks && now >= next_bookmark) {
      next_bookmark = now + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(bookmark_seconds_));
    }
    if (!flush()) return 200;  // the client went away
    if (now >= deadline) break;
  }
  return finish();
}

}  // namespace kmb::sim
