#include "kmb/app/poller.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "app/kubelet_targets.h"
#include "kmb/exposition/enrich.h"
#include "kmb/sources/entity_dedup.h"
#include "kmb/sources/metrics_api.h"
#include "kmb/sources/node_list.h"
#include "kmb/sources/summary.h"
#include "kmb/util/log.h"
#include "kmb/util/process_stats.h"

namespace kmb {
namespace {

double NowUnix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

constexpr char kSummary[] = "summary";
constexpr char kMetricsApi[] = "metrics-api";
// Summary requests in flight while no kubelet keeps the poll waiting (PollSummaries).
constexpr size_t kSummaryBaseWorkers = 2;

}  // namespace

int ShardOf(std::string_view node, int total_shards) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a offset basis
  for (unsigned char c : node) {
    h ^= c;
    h *= 1099511628211ULL;  // FNV prime
  }
  return total_shards <= 1 ? 0 : static_cast<int>(h % static_cast<uint64_t>(total_shards));
}

namespace {
// Hands a Metrics API list to its decoder as the client receives it (kube's BodySink).
class ListSink : public BodySink {
 public:
  explicit ListSink(MetricsApiStream* stream) : stream_(stream) {}
  void Start() override { stream_->Start(); }
  void Bytes(std::string_view bytes) override { stream_->Feed(bytes); }

 private:
  MetricsApiStream* stream_;
};
}  // namespace

// What released snapshots decoded: their NodeSummaries, Metrics API entities and pod-spec
// entities. The next poll decodes (joins) into them: the decoder reuses their entities'
// vectors and strings, so a steady-state poll allocates almost nothing for
// them (malloc and free were ~8% of the exporter's CPU; docs/performance.md). The snapshot's
// deleter hands them back, from whichever thread drops the last reference.
struct Poller::SparePool {
  std::mutex mu;
  std::vector<NodeSummary> idle;
  NodeSummary Take() {
    std::lock_guard<std::mutex> lock(mu);
    if (idle.empty()) return {};
    NodeSummary s = std::move(idle.back());
    idle.pop_back();
    return s;
  }
  void Give(std::vector<NodeResult>& nodes) {
    std::lock_guard<std::mutex> lock(mu);
    idle.clear();  // only the last released snapshot's: bounded by the cluster's nodes
    for (NodeResult& n : nodes) {
      if (!n.summary.entities.empty()) idle.push_back(std::move(n.summary));
    }
  }
  // The pod-spec entities of the last released snapshot, for the next join (EnrichOptions),
  // and its Metrics API entities, for the next Metrics API decode (decoded over in place).
  std::vector<EntityStats> pod_entities;
  std::vector<EntityStats> api_entities;
  void GiveEntities(Snapshot* s) {
    std::lock_guard<std::mutex> lock(mu);
    pod_entities = std::move(s->pod_entities);
    api_entities = std::move(s->metrics_api_entities);
  }
  std::vector<EntityStats> TakePodEntities() {
    std::lock_guard<std::mutex> lock(mu);
    return std::move(pod_entities);
  }
  std::vector<EntityStats> TakeApiEntities() {
    std::lock_guard<std::mutex> lock(mu);
    return std::move(api_entities);
  }
};

Poller::Poller(const Options& options, std::shared_ptr<KubeClient> client)
    : options_(options),
      client_(std::move(client)),
      kubelets_(std::make_unique<KubeletTargets>(options_, client_)),
      spares_(std::make_shared<SparePool>()),
      summary_workers_(std::make_unique<WorkerPool>(
          static_cast<size_t>(std::max(1, options_.max_concurrent_requests)), "kmb-summary")),
      metrics_api_worker_(std::make_unique<WorkerPool>(1, "kmb-metricsapi")) {
  retry_.max_attempts = 1 + options_.max_retries;
  // ---- Watch cache ----
  // Node-local mode takes its pods from the kubelet and lists nothing cluster-wide.
  if (options_.watch_cache && options_.node_name.empty()) {
    if (options_.summary) node_cache_ = MakeNodeCache(client_);
    // A shard keeps the pods it joins only: at 5,000 nodes the 150,000 pods of the cluster took
    // ~1.2 kB each in every shard.
    std::function<bool(const Pod&)> keep;
    if (options_.total_shards > 1) {
      keep = [this](const Pod& p) {
        return p.node.empty() ? OwnsUnscheduledPods() : MyNode(p.node);
      };
    }
    pod_cache_ = MakePodCache(client_, {options_.pod_labels, options_.pod_annotations}, {},
                              std::move(keep));
  }
}

Poller::~Poller() = default;

void Poller::CountError(const std::string& source, const Status& status) {
  std::lock_guard<std::mutex> lock(errors_mu_);
  errors_[{source, status.reason()}]++;
}

Status Poller::ListPages(std::string_view collection, int max_pages,
                         const std::function<Status(std::string_view, std::string*)>& decode) {
  const std::string base = std::string(collection) + "?limit=500";
  std::string path = base;
  for (int pages = 0; pages < max_pages; ++pages) {
    HttpResponse resp;
    Status st = GetWithRetry(*client_, path, &resp, options_.request_timeout_seconds, retry_,
                             [&](const Status& failed) {
                               CountError(collection == "/api/v1/nodes" ? kSummary : kMetricsApi,
                                          failed);
                             });
    if (!st.ok()) return st;
    std::string continue_token;
    st = decode(resp.body, &continue_token);
    if (!st.ok()) {
      return Status::Error(st.reason(), "GET " + std::string(collection) + ": " + st.message());
    }
    if (continue_token.empty()) break;
    path = base + "&continue=" + continue_token;
  }
  return Status::Ok();
}

Status Poller::ListNodes(std::vector<std::string>* names) {
  if (auto nodes = node_cache_ ? node_cache_->Snapshot() : nullptr) {  // watch cache, synced
    names->clear();
    std::vector<std::string> all;
    std::vector<NodeEndpoint> endpoints;
    for (const auto& node : *nodes) {
      const std::string& name = node->name;
      if (MyNode(name)) names->push_back(name);
      if (kubelets_->wants_endpoints()) {  // access: direct kubelet URLs
        all.push_back(name);
        endpoints.push_back(node->endpoint);
      }
    }
    if (kubelets_->wants_endpoints()) kubelets_->SetEndpoints(all, endpoints);
    std::sort(names->begin(), names->end());
    return Status::Ok();
  }
  NodeListPage page;
  page.want_endpoints = kubelets_->wants_endpoints();  // access: direct kubelet URLs
  Status st = ListPages("/api/v1/nodes", 10000, [&](std::string_view body, std::string* next) {
    page.continue_token.clear();
    Status decoded = DecodeNodeList(body, &page);
    *next = page.continue_token;
    return decoded;
  });
  if (!st.ok()) return st;
  kubelets_->SetEndpoints(page.names, page.endpoints);
  *names = std::move(page.names);
  std::erase_if(*names, [&](const std::string& n) { return !MyNode(n); });
  std::sort(names->begin(), names->end());
  names->erase(std::unique(names->begin(), names->end()), names->end());
  return Status::Ok();
}

Status Poller::ListPodNodes(std::unordered_map<std::string, std::string>* pod_nodes) {
  return ListPages("/api/v1/pods", 100000, [&](std::string_view body, std::string* next) {
    PodListPage page;
    Status decoded = DecodePodPlacements(body, &page);
    for (PodPlacement& p : page.pods) pod_nodes->emplace(std::move(p.namespace_name), p.node);
    *next = page.continue_token;
    return decoded;
  });
}

void Poller::WarnDuplicates(const std::string& node, size_t dropped) {
  {
    std::lock_guard<std::mutex> lock(errors_mu_);
    if (!duplicates_warned_.insert(node).second) return;  // once per node
  }
  log::Warn("node summary lists the same pod, container or volume more than once; exporting "
            "the first",
            {{"node", node}, {"dropped_entities", std::to_string(dropped)}});
}

void Poller::LogNodeTransition(const NodeResult& r) {
  auto it = node_last_reason_.find(r.node);
  // A back-off skip continues the failure already logged (its message holds that reason).
  if (r.status.reason() == reason::kBackoff && it != node_last_reason_.end()) return;
  if (r.status.ok()) {
    if (it != node_last_reason_.end()) {
      log::Info("node summary recovered", {{"node", r.node}});
      node_last_reason_.erase(it);
    }
    return;
  }
  if (it == node_last_reason_.end() || it->second != r.status.reason()) {
    log::Warn("node summary failed; its series are dropped until it recovers",
              {{"node", r.node}, {"reason", r.status.reason()}, {"error", r.status.message()}});
    node_last_reason_[r.node] = r.status.reason();
  }
}

void Poller::PollSummaries(const std::vector<std::string>& names, Snapshot* snap) {
  snap->nodes.resize(names.size());
  const size_t max_workers =
      std::min<size_t>(static_cast<size_t>(options_.max_concurrent_requests), names.size());
  std::atomic<size_t> next{0};
  // Per worker: since when it has been slow or may become so (steady-clock ns), 0 when not. A
  // request sets it if it is 0; a request that took longer than kSlow leaves it; a faster one
  // clears it. The worker is slow while this is over kSlow ago: its request in flight has taken
  // that long, or its last one did.
  constexpr auto kSlow = std::chrono::milliseconds(20);
  std::vector<std::atomic<int64_t>> slow_since(max_workers);
  std::mutex mu;
  std::condition_variable finished;
  size_t running = 0;  // under mu
  auto worker = [&](size_t slot) {
    struct Finished {  // also when a task throws (its future rethrows below)
      std::mutex& mu;
      std::condition_variable& cv;
      size_t& running;
      std::atomic<int64_t>& slow_since;
      ~Finished() {
        std::lock_guard<std::mutex> lock(mu);
        slow_since.store(0, std::memory_order_relaxed);
        --running;
        cv.notify_one();
      }
    } on_exit{mu, finished, running, slow_since[slot]};
    for (size_t i = next++; i < names.size(); i = next++) {
      NodeResult& r = snap->nodes[i];
      r.node = names[i];
      auto start = std::chrono::steady_clock::now();
      if (backoff_.Skip(r.node, &r.status)) {
        CountError(kSummary, r.status);
        continue;
      }
      HttpResponse resp;
      if (slow_since[slot].load(std::memory_order_relaxed) == 0) {
        slow_since[slot].store(start.time_since_epoch().count() | 1, std::memory_order_relaxed);
      }
      // Node proxy or the kubelet itself (access), retried within --kubelet-timeout (faults).
      r.status = kubelets_->GetSummary(
          r.node, &resp, [&](KubeClient& c, std::string_view url, HttpResponse* out) {
            return GetWithRetry(c, url, out, options_.kubelet_timeout_seconds, retry_,
                                [&](const Status& failed) { CountError(kSummary, failed); });
          });
      if (std::chrono::steady_clock::now() - start <= kSlow) {
        slow_since[slot].store(0, std::memory_order_relaxed);
      }
      if (r.status.ok()) {
        // The client leaves simdjson's padding after the body: decode in place, no copy.
        r.summary = spares_->Take();
        Status st = DecodeSummary(resp.body, resp.body.capacity(), r.node, &r.summary);
        if (!st.ok()) {
          r.summary = NodeSummary{};
          r.status =
              Status::Error(st.reason(), "node " + r.node + " /stats/summary: " + st.message());
        } else if (const size_t dropped = DropDuplicateEntities(&r.summary.entities)) {
          WarnDuplicates(r.node, dropped);
        }
      }
      r.seconds = SecondsSince(start);
      backoff_.Record(r.node, r.status);
      if (!r.status.ok()) CountError(kSummary, r.status);
    }
  };
  // The fan-out grows only as far as the kubelets make it wait. It starts with
  // kSummaryBaseWorkers. A worker is slow while its request has been in flight for longer than
  // kSlow, or when its last one took that long; every kGrowthCheck the poll thread starts one
  // more worker for each slow one, so that kSummaryBaseWorkers keep going past them, up to
  // --max-concurrent-requests. Kubelets that take tens of milliseconds, as real ones do, get
  // the whole fan-out within ~0.1 s; a hanging one holds one worker for its --kubelet-timeout,
  // as before. Kubelets that answer at once (the simulator's ~1 ms) are polled by 2 threads
  // instead of 16: 14 fewer sets of thread caches, connections and TLS buffers
  // (docs/performance.md).
  constexpr auto kGrowthCheck = std::chrono::milliseconds(5);
  std::vector<std::future<void>> futures;
  futures.reserve(max_workers);
  std::unique_lock<std::mutex> lock(mu);
  auto start_worker = [&] {  // under mu
    const size_t slot = futures.size();
    ++running;
    futures.push_back(summary_workers_->Submit([&worker, slot] { worker(slot); }));
  };
  while (futures.size() < std::min(kSummaryBaseWorkers, max_workers)) start_worker();
  while (running > 0) {
    finished.wait_for(lock, kGrowthCheck);
    if (running == 0 || futures.size() == max_workers || next.load() >= names.size()) continue;
    const int64_t slow_before =
        (std::chrono::steady_clock::now() - kSlow).time_since_epoch().count();
    size_t slow = 0;
    for (size_t s = 0; s < futures.size(); ++s) {
      const int64_t t = slow_since[s].load(std::memory_order_relaxed);
      slow += t != 0 && t < slow_before;
    }
    while (futures.size() < max_workers && running < slow + kSummaryBaseWorkers) {
      start_worker();
    }
  }
  lock.unlock();
  for (auto& f : futures) f.get();
  snap->summary_workers = futures.size();
}

void Poller::PollMetricsApi(Snapshot* snap) {
  auto start = std::chrono::steady_clock::now();
  Status overall = Status::Ok();
  struct Endpoint {
    const char* path;
    MetricsApiStream::List list;
    Status (*decode)(std::string_view, size_t, size_t, std::vector<EntityStats>*);
  };
  // Pods first: the decode of each list ends by letting go of the entities past its own, and
  // the pods' are the many (~90,000 at 1,000 nodes) that the next poll decodes over in place.
  const Endpoint endpoints[] = {
      {"/apis/metrics.k8s.io/v1beta1/pods", MetricsApiStream::List::kPods, DecodePodMetrics},
      {"/apis/metrics.k8s.io/v1beta1/nodes", MetricsApiStream::List::kNodes, DecodeNodeMetrics}};
  // With shards, a pod's Metrics API series go with its node: learn where pods run.
  // The watch cache when synced (looked up in place: at 150k pods a copy cost ~1% of a poll),
  // else a list of every pod's placement.
  std::unordered_map<std::string, std::string> pod_nodes;
  const std::shared_ptr<const PodMap> cached_pods =
      options_.total_shards > 1 && pod_cache_ ? pod_cache_->Snapshot() : nullptr;
  if (options_.total_shards > 1 && !cached_pods) {
    Status st = ListPodNodes(&pod_nodes);
    if (!st.ok()) {
      CountError(kMetricsApi, st);
      overall = st;
    }
  }
  std::string key;  // the list's namespace/pod keys, one buffer for every pod entity
  auto mine = [&](const EntityStats& e) {
    if (options_.total_shards <= 1) return true;
    if (e.entity == catalog::Entity::kApiNode) return MyNode(e.labels[0]);
    if (cached_pods) {  // looked up by its parts: no key built
      auto it = cached_pods->find(KeyParts{e.labels[0], e.labels[1]});
      return it != cached_pods->end() && MyNode((*it)->node);
    }
    key.assign(e.labels[0]).append("/").append(e.labels[1]);
    auto it = pod_nodes.find(key);
    return it != pod_nodes.end() && MyNode(it->second);
  };
  long failed_http_status = 0;  // HTTP status of the first failed request, if it had one
  // The lists are decoded as they arrive (MetricsApiStream): the body of the pods' list (12 MB
  // at 1,000 nodes, 61 MB at 150k pods) is never held whole, only ~64 KiB of it at a time. The
  // entities are decoded over those of the last released snapshot: at 150k pods ~450k entities
  // (~91,000 at 1,000 nodes), which fresh every poll cost more in page faults and allocation
  // than the decode itself (the gzip window's faults per poll at 1,000 nodes 11,486 -> 1,246;
  // docs/performance.md).
  std::vector<EntityStats> entities = spares_->TakeApiEntities();
  size_t kept = 0;  // entities[0, kept): this poll's, this shard's
  for (const Endpoint& ep : endpoints) {
    if (!overall.ok()) break;
    HttpResponse& resp = metrics_api_response_;  // a failed answer's body (the error text)
    MetricsApiStream stream(ep.list, &entities, kept);
    ListSink sink(&stream);
    const auto get = [&](BodySink* to) {
      resp.sink = to;
      // Each 2xx attempt starts the stream over (BodySink::Start).
      Status st = GetWithRetry(*client_, ep.path, &resp, options_.request_timeout_seconds, retry_,
                               [&](const Status& failed) { CountError(kMetricsApi, failed); });
      resp.sink = nullptr;
      return st;
    };
    Status st = get(&sink);
    if (!st.ok() && failed_http_status == 0) failed_http_status = resp.status;
    if (st.ok()) {
      std::optional<Status> decoded = stream.Finish();
      if (!decoded) {
        // A body only the whole walk can judge (an odd or broken one, found so after items
        // were decoded and let go): fetched again and decoded whole, which names any error.
        st = get(nullptr);
        if (st.ok()) decoded = ep.decode(resp.body, resp.body.capacity(), kept, &entities);
        resp.body = std::string();  // not kept: the lists are streamed
      }
      if (st.ok()) st = *decoded;
      if (st.ok()) {
        for (size_t i = kept; i < entities.size(); ++i) {
          if (!mine(entities[i])) continue;
          if (i != kept) std::swap(entities[kept], entities[i]);
          ++kept;
        }
      } else {
        st = Status::Error(st.reason(), std::string("GET ") + ep.path + ": " + st.message());
      }
    }
    if (!st.ok()) {
      CountError(kMetricsApi, st);
      if (overall.ok()) overall = st;
    }
  }
  entities.resize(kept);  // other shards' entities, or last poll's when a request failed
  snap->metrics_api_entities = std::move(entities);
  snap->metrics_api.poll_seconds = SecondsSince(start);
  snap->metrics_api.status = overall;
  snap->metrics_api.up = overall.ok();
  if (overall.ok()) {
    metrics_api_last_success_ = NowUnix();
    if (!metrics_api_last_reason_.empty()) log::Info("metrics API recovered");
    metrics_api_last_reason_.clear();
  } else if (metrics_api_last_reason_ != overall.reason()) {
    // 404 and 503 from the aggregation layer mean the APIService is missing or unavailable.
    bool aggregation = failed_http_status == 503 || failed_http_status == 404;
    log::Warn("metrics API poll failed",
              {{"reason", overall.reason()},
               {"error", overall.message()},
               {"hint", aggregation ? "is the APIService v1beta1.metrics.k8s.io Available? "
                                      "kubectl get apiservice v1beta1.metrics.k8s.io; see "
                                      "docs/troubleshooting.md"
                                    : "see docs/troubleshooting.md"}});
    metrics_api_last_reason_ = overall.reason();
  }
}

Status Poller::ReloadFiles() {
  Status st = client_->ReloadFiles();
  Status kubelets = kubelets_->ReloadFiles();
  return st.ok() ? kubelets : st;
}

Status Poller::PollLocalPods() {
  local_pods_.reset();  // a failed /pods gives no enrichment this poll (and drops nothing)
  HttpResponse resp;
  Status st = kubelets_->GetPods(options_.node_name, &resp);
  ObjectListPage<Pod> page;
  if (st.ok()) {
    // The kubelet's /pods is a PodList like the API server's: the same decoder as the watch cache.
    st = DecodePodList(resp.body, {options_.pod_labels, options_.pod_annotations}, &page);
    if (!st.ok()) {
      st = Status::Error(st.reason(),
                         "node " + options_.node_name + " kubelet /pods: " + st.message());
    }
  }
  if (!st.ok()) {
    CountError(kSummary, st);
    if (local_pods_last_reason_ != st.reason()) {
      log::Warn("node-local pod list failed", {{"reason", st.reason()}, {"error", st.message()}});
    }
    local_pods_last_reason_ = st.reason();
    return st;
  }
  local_pods_last_reason_.clear();
  auto pods = std::make_shared<PodMap>();
  for (Pod& p : page.items) pods->Put(std::make_shared<const Pod>(std::move(p)));
  local_pods_ = std::move(pods);
  return Status::Ok();
}

SnapshotPtr Poller::Poll() {
  std::shared_ptr<Snapshot> snap(new Snapshot, [pool = spares_](Snapshot* s) {
    pool->Give(s->nodes);
    pool->GiveEntities(s);
    delete s;
  });
  snap->summary.enabled = options_.summary;
  snap->metrics_api.enabled = options_.metrics_api;
  snap->kubelet_insecure_tls = kubelets_->insecure_tls();  // access

  // The first poll gives the watch caches a chance to sync (--once needs it).
  if (polls_ == 0) {
    if (node_cache_) node_cache_->WaitForSync(options_.request_timeout_seconds);
    if (pod_cache_) pod_cache_->WaitForSync(options_.request_timeout_seconds);
  }

  // The Metrics API is one or two requests: run them beside the Summary fan-out.
  std::future<void> metrics_api;
  if (options_.metrics_api) {
    metrics_api = metrics_api_worker_->Submit([&] { PollMetricsApi(snap.get()); });
  }

  if (options_.summary) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string> names;
    // access: node-local mode polls its own node only and never lists nodes.
    Status st = kubelets_->node_local() ? kubelets_->ResolveLocalNode() : ListNodes(&names);
    if (kubelets_->node_local() && st.ok()) {
      names = {options_.node_name};
      PollLocalPods();
    }
    if (!st.ok()) {
      CountError(kSummary, st);
      if (node_list_last_reason_ != st.reason()) {
        log::Warn("listing nodes failed; polling the nodes known from the last list",
                  {{"reason", st.reason()},
                   {"error", st.message()},
                   {"known_nodes", std::to_string(last_nodes_.size())}});
      }
      node_list_last_reason_ = st.reason();
      names = last_nodes_;
      snap->summary.status = st;
    } else {
      if (!node_list_last_reason_.empty()) log::Info("listing nodes recovered");
      node_list_last_reason_.clear();
      last_nodes_ = names;
    }
    PollSummaries(names, snap.get());
    size_t up = 0;
    for (const NodeResult& r : snap->nodes) {
      up += r.status.ok();
      LogNodeTransition(r);
    }
    // Forget failure state of nodes that left the cluster.
    for (auto it = node_last_reason_.begin(); it != node_last_reason_.end();) {
      it = std::binary_search(names.begin(), names.end(), it->first) ? std::next(it)
                                                                     : node_last_reason_.erase(it);
    }
    backoff_.Retain(names);
    snap->summary.up = up > 0;
    if (up > 0) summary_last_success_ = NowUnix();
    snap->summary.poll_seconds = SecondsSince(start);
  }

  if (metrics_api.valid()) metrics_api.get();
  // Pod-spec enrichment: the pods as the cache knows them now, joined with this poll.
  // Node-local mode: the pods of the node's kubelet /pods instead.
  // Pods without a node have no Summary: their pod-spec series come from exactly one replica
  // that sees the whole cluster's pods, the one polling the Metrics API (shard 0), or an
  // unsharded Summary-only exporter. So the deploy layouts' split (Summary-only shards or
  // DaemonSet pods plus one --sources=metrics-api replica; docs/deploy.md) exports them once.
  std::shared_ptr<const PodMap> pods;
  EnrichOptions enrich;
  if (pod_cache_) {
    pods = pod_cache_->Snapshot();
    enrich.include_unscheduled = OwnsUnscheduledPods();
  } else {  // node-local mode: the kubelet's pods, all on this node
    pods = local_pods_;
    enrich.include_unscheduled = false;
  }
  if (pods) {
    std::vector<EntityStats> spare = spares_->TakePodEntities();
    enrich.spare = &spare;
    EnrichSnapshot(*pods, enrich, snap.get());
  }
  snap->summary.last_success_unix = summary_last_success_;
  snap->metrics_api.last_success_unix = metrics_api_last_success_;
  snap->polls_total = ++polls_;
  snap->polls_skipped_total = skipped_;
  snap->taken_unix_ms = static_cast<int64_t>(NowUnix() * 1000);
  snap->process = ReadProcessStats();
  {
    std::lock_guard<std::mutex> lock(errors_mu_);
    snap->errors_total = errors_;
  }
  // ---- Watch cache self-metrics: the caches' counters, their errors as source "watch" ----
  if (node_cache_) snap->watch_caches.emplace_back("nodes", node_cache_->stats());
  if (pod_cache_) snap->watch_caches.emplace_back("pods", pod_cache_->stats());
  for (const auto& [resource, stats] : snap->watch_caches) {
    for (const auto& [reason, count] : stats.errors_by_reason) {
      snap->errors_total[{"watch", reason}] += count;
    }
  }
  return snap;
}

}  // namespace kmb
