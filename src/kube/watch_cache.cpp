#include "kmb/kube/watch_cache.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <utility>

#include "kmb/util/log.h"
#include "kmb/util/thread_name.h"

namespace kmb {
namespace {

// A watch event line longer than this is refused (a Pod is at most ~1.5 MB in etcd).
constexpr size_t kMaxLineBytes = 16u << 20;

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

template <typename T>
WatchCache<T>::WatchCache(std::shared_ptr<KubeClient> client, WatchCodec<T> codec,
                          WatchCacheOptions options)
    : client_(std::move(client)), codec_(std::move(codec)), options_(options) {
  thread_ = std::thread([this] {
    SetThreadName("kmb-watch-" + codec_.kind);  // "kmb-watch-pods"
    Run();
  });
}

template <typename T>
WatchCache<T>::~WatchCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  client_->WakeStreams();  // a watch in flight sees stop_ now, not at its next byte
  if (thread_.joinable()) thread_.join();
}

template <typename T>
bool WatchCache<T>::WaitForSync(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] {
    return synced_.load() || stop_.load() || first_list_failed_;
  }) && synced_.load();
}

template <typename T>
std::shared_ptr<const typename WatchCache<T>::Map> WatchCache<T>::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!synced_) return nullptr;
  if (dirty_ || !published_) {
    published_ = std::make_shared<const Map>(objects_);
    dirty_ = false;
  }
  return published_;
}

template <typename T>
WatchCacheStats WatchCache<T>::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  WatchCacheStats stats = stats_;
  stats.objects = objects_.size();
  return stats;
}

template <typename T>
void WatchCache<T>::Sleep(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return stop_.load(); });
}

template <typename T>
Status WatchCache<T>::List() {
  Map fresh;
  std::string path = codec_.collection + "?limit=" + std::to_string(options_.page_size);
  std::string rv;
  HttpResponse resp;
  for (;;) {
    Status st = client_->Get(path, &resp);
    if (!st.ok()) return st;
    ObjectListPage<T> page;
    st = codec_.decode_list(resp.body, &page);
    if (!st.ok()) {
      return Status::Error(st.reason(), "GET " + codec_.collection + ": " + st.message());
    }
    for (const std::string& e : page.errors) {
      log::Warn("skipping an object the cache cannot decode",
                {{"resource", codec_.kind}, {"error", e}});
    }
    if (rv.empty()) rv = page.resource_version;  // every page of one list shares it
    for (T& obj : page.items) {
      if (codec_.keep && !codec_.keep(obj)) continue;
      fresh.Put(std::make_shared<const T>(std::move(obj)));
    }
    if (page.continue_token.empty() || stop_) break;
    path = codec_.collection + "?limit=" + std::to_string(options_.page_size) +
           "&continue=" + page.continue_token;
  }
  resource_version_ = rv;
  const bool after_gone = std::exchange(relisting_after_gone_, false);
  const bool after_error = std::exchange(relisting_after_error_, false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    objects_.swap(fresh);
    dirty_ = true;
    stats_.lists++;
    if (after_gone) stats_.lists_gone++;
    if (after_error) stats_.lists_error++;
    synced_ = true;
  }
  cv_.notify_all();
  return Status::Ok();
}

template <typename T>
Status WatchCache<T>::Watch(bool* gone) {
  *gone = false;
  const int timeout = std::max(1, static_cast<int>(options_.watch_timeout_seconds));
  const std::string path =
      codec_.collection + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + resource_version_ +
      "&timeoutSeconds=" + std::to_string(timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.watches++;
  }
  std::string line;
  Status event_error;
  auto apply = [&](std::string_view text) -> bool {
    WatchEvent<T> ev;
    Status st = codec_.decode_event(text, &ev);
    if (!st.ok()) {
      // One bad object must not stop the others: skip it, say so.
      log::Warn("skipping a watch event the cache cannot decode",
                {{"resource", codec_.kind}, {"error", st.message()}});
      std::lock_guard<std::mutex> lock(mu_);
      stats_.errors++;
      stats_.errors_by_reason[st.reason()]++;
      return true;
    }
    std::lock_guard<std::mutex> lock(mu_);
    switch (ev.type) {
      case WatchEventType::kAdded:
      case WatchEventType::kModified: {
        if (codec_.keep && !codec_.keep(ev.object)) {
          if (objects_.Erase(KeyOf(ev.object))) dirty_ = true;
        } else {
          objects_.Put(std::make_shared<const T>(std::move(ev.object)));
          dirty_ = true;
        }
        stats_.events++;
        (ev.type == WatchEventType::kAdded ? stats_.added : stats_.modified)++;
        break;
      }
      case WatchEventType::kDeleted:
        objects_.Erase(KeyOf(ev.object));
        dirty_ = true;
        stats_.events++;
        stats_.deleted++;
        break;
      case WatchEventType::kBookmark:
        stats_.bookmarks++;
        break;
      case WatchEventType::kError:
        if (ev.error_code == 410) {
          *gone = true;
        } else {
          event_error = Status::Error(ev.error_code >= 500 ? reason::kHttp5xx : reason::kHttp4xx,
                                      "watch " + codec_.collection + ": ERROR event " +
                                          std::to_string(ev.error_code) + ": " + ev.error_message);
        }
        return false;
    }
    if (!ev.resource_version.empty()) resource_version_ = ev.resource_version;
    return true;
  };
  bool too_long = false;
  HttpResponse resp;
  Status st = client_->Stream(
      path, timeout + 30.0,
      [&](std::string_view chunk) {
        if (stop_) return false;
        size_t start = 0;
        for (size_t nl; (nl = chunk.find('\n', start)) != std::string_view::npos; start = nl + 1) {
          line.append(chunk.substr(start, nl - start));
          const bool go_on = line.find_first_not_of(" \r\t") == std::string::npos || apply(line);
          line.clear();
          if (!go_on) return false;
        }
        line.append(chunk.substr(start));
        if (line.size() > kMaxLineBytes) {
          too_long = true;
          return false;
        }
        return true;
      },
      &resp);
  if (resp.status == 410) *gone = true;
  if (*gone) return Status::Ok();
  if (too_long) {
    return Status::Error(reason::kTooLarge, "watch " + codec_.collection + ": an event is over " +
                                                std::to_string(kMaxLineBytes) + " bytes");
  }
  if (!event_error.ok()) return event_error;
  return st;
}

template <typename T>
void WatchCache<T>::Run() {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  int failures = 0;
  std::string last_reason;
  bool listed = false;
  while (!stop_) {
    const auto start = std::chrono::steady_clock::now();
    Status st;
    bool gone = false;
    if (!listed) {
      st = List();
      listed = st.ok();
    } else {
      st = Watch(&gone);
      if (gone) {
        // The resourceVersion was compacted away: relist, as the reflector does.
        log::Info("watch resourceVersion expired (410 Gone); relisting",
                  {{"resource", codec_.kind}});
        relisting_after_gone_ = true;
        listed = false;
        continue;
      }
    }
    if (stop_) break;
    if (!st.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.errors++;
        stats_.errors_by_reason[st.reason()]++;
        if (!synced_) first_list_failed_ = true;
      }
      cv_.notify_all();
      if (last_reason != st.reason()) {
        log::Warn(listed ? "watch failed; relisting after a backoff, serving the last known objects"
                         : "list failed; retrying with backoff",
                  {{"resource", codec_.kind},
                   {"reason", st.reason()},
                   {"error", st.message()},
                   {"hint", "the exporter needs list and watch on " + codec_.kind +
                                "; see docs/troubleshooting.md"}});
        last_reason = st.reason();
      }
      // After a failed watch, list again rather than resume, as client-go's reflector does: a
      // resourceVersion may mean nothing to the server that answers now (an API server
      // restored from backup; the simulator restarted), and resuming from it would keep the
      // cache stale for good. Found by the soak run (docs/performance.md).
      if (listed) {
        listed = false;
        relisting_after_error_ = true;
      }
      const double backoff =
          std::min(options_.backoff_max_seconds,
                   options_.backoff_initial_seconds * std::pow(2.0, std::min(failures, 20)));
      ++failures;
      Sleep(backoff * jitter(rng));
      continue;
    }
    if (!last_reason.empty()) {
      log::Info("list/watch recovered", {{"resource", codec_.kind}});
      last_reason.clear();
    }
    failures = 0;
    // A watch the server ends at once (one that closes every second, or a proxy cutting idle
    // streams) is reopened from the last resourceVersion, but not in a tight loop.
    const double took = Seconds(std::chrono::steady_clock::now() - start);
    if (listed && took < 0.2) Sleep(0.2 - took);
  }
}

template class WatchCache<Pod>;
template class WatchCache<NodeObject>;

std::unique_ptr<PodCache> MakePodCache(std::shared_ptr<KubeClient> client, PodDecodeOptions decode,
                                       WatchCacheOptions options,
                                       std::function<bool(const Pod&)> keep) {
  WatchCodec<Pod> codec;
  codec.kind = "pods";
  codec.collection = "/api/v1/pods";
  codec.decode_list = [decode](std::string_view body, ObjectListPage<Pod>* page) {
    return DecodePodList(body, decode, page);
  };
  codec.decode_event = [decode](std::string_view line, WatchEvent<Pod>* ev) {
    return DecodePodWatchEvent(line, decode, ev);
  };
  codec.keep = std::move(keep);
  return std::make_unique<PodCache>(std::move(client), std::move(codec), options);
}

std::unique_ptr<NodeCache> MakeNodeCache(std::shared_ptr<KubeClient> client,
                                         WatchCacheOptions options) {
  WatchCodec<NodeObject> codec;
  codec.kind = "nodes";
  codec.collection = "/api/v1/nodes";
  codec.decode_list = [](std::string_view body, ObjectListPage<NodeObject>* page) {
    return DecodeNodeObjectList(body, page);
  };
  codec.decode_event = [](std::string_view line, WatchEvent<NodeObject>* ev) {
    return DecodeNodeWatchEvent(line, ev);
  };
  return std::make_unique<NodeCache>(std::move(client), std::move(codec), options);
}

}  // namespace kmb
