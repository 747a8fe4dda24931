// Micro-benchmarks of the three hot paths, each with its baseline in the same run:
//   decode  kmb::DecodeSummary vs nlohmann::json DOM and simdjson DOM, same bytes
//   render  kmb::RenderExposition vs prometheus-cpp Registry + TextSerializer, same series
//   serve   Exposition::Body first/cached, Gzip, HTTP through kmb::MetricsServer vs memcpy
// and, without a baseline, enrich: kmb::EnrichSnapshot (the pod-spec join), time per pod.
// After the Google Benchmark output a ratio table is printed (and written as Markdown with
// --kmb_tables_out=FILE). Built and run by `cmake --build build --target bench`.

#include <benchmark/benchmark.h>
#include <curl/curl.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <simdjson.h>
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef KMB_BENCH_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench_baselines.h"
#include "bench_util.h"
#include "kmb/exposition/enrich.h"
#include "kmb/exposition/writer.h"
#include "kmb/model/snapshot.h"
#include "kmb/server/server.h"
#include "kmb/sim/cluster.h"
#include "kmb/sources/metrics_api.h"
#include "kmb/sources/pods.h"
#include "kmb/sources/summary.h"
#include "kmb/util/process_stats.h"
#include "sources/json_walk.h"

#define KMB_STR2(x) #x
#define KMB_STR(x) KMB_STR2(x)

namespace kmb {
namespace {

using bench::Fmt;
using Clock = std::chrono::steady_clock;

// Bytes allocated through malloc, as the exporter reads its own malloc (util/process_stats.h).
uint64_t HeapInUse() { return static_cast<uint64_t>(ReadProcessStats().heap_in_use_bytes); }

constexpr int kRenderNodes = 100;     // render benchmark: 100 nodes x 30 pods x 2 containers
constexpr int kSimNodes = 200;        // enough nodes for the ~500k-series serve snapshot
constexpr uint64_t kServeSeries = 500000;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---------------------------------------------------------------- inputs

struct Input {
  std::string name;
  std::string body;  // capacity >= size + kJsonPadding (decoded in place)
  bool fixture = true;
  size_t samples = 0;
};

std::string g_sim_body_out;  // --kmb_sim_body_out: where to save the 110-pod Summary

std::vector<std::unique_ptr<Input>>& Inputs() {
  static std::vector<std::unique_ptr<Input>> inputs;
  return inputs;
}

std::unique_ptr<Input> MakeInput(std::string name, std::string_view bytes, bool fixture) {
  auto in = std::make_unique<Input>();
  in->name = std::move(name);
  in->fixture = fixture;
  in->body.reserve(bytes.size() + kJsonPadding);
  in->body.assign(bytes.data(), bytes.size());
  return in;
}

std::string Shorten(std::string name) {
  for (const char* cut : {"-stats-summary", ".json"}) {
    size_t p = name.find(cut);
    if (p != std::string::npos) name.erase(p, std::strlen(cut));
  }
  for (const char* pre : {"nri-kubernetes-", "datadog-integrations-core-", "telegraf-kubernetes-"}) {
    if (name.rfind(pre, 0) == 0) name.erase(0, std::strlen(pre));
  }
  return name;
}

// An in-process simulated cluster (HTTP, payloads without stats periods); exits on failure.
std::unique_ptr<sim::SimulatedCluster> StartSim(int nodes, int pods, int containers) {
  sim::SimOptions so;
  so.nodes = nodes;
  so.pods_per_node = pods;
  so.containers_per_pod = containers;
  so.stats_period_seconds = 0;
  so.threads = 2;
  std::string error;
  std::unique_ptr<sim::SimulatedCluster> cluster = sim::SimulatedCluster::Start(so, &error);
  if (!cluster) {
    std::fprintf(stderr, "micro_bench: cannot start the simulator: %s\n", error.c_str());
    std::exit(1);
  }
  return cluster;
}

// Starts an in-process simulated cluster and GETs the Summary of each node (and, when
// `pod_list` is given, the cluster's PodList from the API server; when `next_poll` is given,
// every node's Summary a second time, as the next poll sees it).
std::vector<std::pair<std::string, std::string>> FetchSummaries(
    int nodes, int pods, int containers, std::string* pod_list = nullptr,
    std::vector<std::pair<std::string, std::string>>* next_poll = nullptr) {
  const std::unique_ptr<sim::SimulatedCluster> cluster = StartSim(nodes, pods, containers);
  bench::Http http;
  // Every node's Summary, once, into `into`.
  auto poll = [&](std::vector<std::pair<std::string, std::string>>* into) {
    for (const std::string& node : cluster->node_names()) {
      std::string body;
      long code =
          http.Get(cluster->url() + "/api/v1/nodes/" + node + "/proxy/stats/summary", &body);
      if (code != 200) {
        std::fprintf(stderr, "micro_bench: GET summary of %s: HTTP %ld %s\n", node.c_str(), code,
                     http.error().c_str());
        std::exit(1);
      }
      into->emplace_back(node, std::move(body));
    }
  };
  std::vector<std::pair<std::string, std::string>> out;
  poll(&out);
  if (next_poll != nullptr) poll(next_poll);
  if (pod_list != nullptr) {
    long code = http.Get(cluster->url() + "/api/v1/pods", pod_list);
    if (code != 200) {
      std::fprintf(stderr, "micro_bench: GET pods: HTTP %ld %s\n", code, http.error().c_str());
      std::exit(1);
    }
  }
  return out;
}

void LoadInputs() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(KMB_FIXTURES_DIR "/summary")) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    Inputs().push_back(MakeInput(Shorten(f.filename().string()), bench::ReadFile(f), true));
  }
  auto sim110 = FetchSummaries(1, 110, 2);
  Inputs().push_back(MakeInput("sim-110pods", sim110.at(0).second, false));
  if (!g_sim_body_out.empty()) std::ofstream(g_sim_body_out) << sim110.at(0).second;
  for (auto& in : Inputs()) {
    NodeSummary ns;
    Status st = DecodeSummary(in->body, in->body.capacity(), "", &ns);
    if (!st.ok()) {
      std::fprintf(stderr, "micro_bench: %s does not decode: %s\n", in->name.c_str(),
                   st.message().c_str());
    }
    for (const auto& e : ns.entities) in->samples += e.samples.size();
  }
}

// ---------------------------------------------------------------- decode

// The Metrics API's PodMetricsList of a simulated 1,000-node cluster (30 pods x 2 containers per
// node), fetched once, on first use (only when a decode/metrics_api_pods row runs).
constexpr int kPodListNodes = 1000;
const std::string& PodMetricsList() {
  static const std::string body = [] {
    const std::unique_ptr<sim::SimulatedCluster> cluster = StartSim(kPodListNodes, 30, 2);
    bench::Http http;
    std::string list;
    if (http.Get(cluster->url() + "/apis/metrics.k8s.io/v1beta1/pods", &list) != 200) {
      std::fprintf(stderr, "micro_bench: GET pod metrics: %s\n", http.error().c_str());
      std::exit(1);
    }
    list.reserve(list.size() + kJsonPadding);  // decoded in place, as the poller does
    return list;
  }();
  return body;
}

// The pod list decoded as the poller decodes it (in place, into reused entities): in batches
// of `batch_bytes` of items (0: the default, ~64 KiB), or in one parse (SIZE_MAX). parser_MB:
// the largest DOM parser's capacity afterwards (each row starts without one).
void BM_DecodePodMetrics(benchmark::State& state, size_t batch_bytes) {
  const std::string& body = PodMetricsList();
  walk::DropIdleDecoderStatesForTest();  // parser_MB: this row's own (not the setup's decodes)
  walk::ListBatchBytesForTest(batch_bytes);
  std::vector<EntityStats> out;
  size_t samples = 0;
  for (auto _ : state) {
    Status st = DecodePodMetrics(body, body.capacity(), 0, &out);  // over the last decode's
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out.data());
  }
  walk::ListBatchBytesForTest(0);
  for (const EntityStats& e : out) samples += e.samples.size();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["samples"] = static_cast<double>(samples);
  state.counters["body_MB"] = static_cast<double>(body.size()) / 1e6;
  state.counters["parser_MB"] = static_cast<double>(walk::LargestParserCapacityForTest()) / 1e6;
}

// The pod list as the poller decodes it since 2026-12-03: fed to a MetricsApiStream in 16 KiB
// pieces (libcurl's write size) as it arrives, so that the body is never held whole.
// held_MB: the most bytes of the body the stream held at once (the batched row holds the body:
// body_MB).
void BM_StreamPodMetrics(benchmark::State& state) {
  const std::string& body = PodMetricsList();
  walk::DropIdleDecoderStatesForTest();
  std::vector<EntityStats> out;
  size_t held = 0;
  constexpr size_t kPiece = 16 << 10;
  for (auto _ : state) {
    MetricsApiStream stream(MetricsApiStream::List::kPods, &out, 0);
    stream.Start();
    for (size_t i = 0; i < body.size(); i += kPiece) {
      stream.Feed(std::string_view(body).substr(i, kPiece));
    }
    std::optional<Status> st = stream.Finish();
    if (!st || !st->ok()) state.SkipWithError("the stream did not decode the list");
    held = stream.peak_held_bytes();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["body_MB"] = static_cast<double>(body.size()) / 1e6;
  state.counters["held_MB"] = static_cast<double>(held) / 1e6;
  state.counters["parser_MB"] = static_cast<double>(walk::LargestParserCapacityForTest()) / 1e6;
}

// One page of the pod watch's list (the simulator's PodList of 17 nodes x 30 pods: 510 pods,
// about a page of `limit=500`), decoded as the watch cache decodes it: in batches of
// `batch_bytes` of items with a pooled parser (0: the default, ~64 KiB), or in one parse with a
// parser of its own (SIZE_MAX), which is what a page over 64 KiB got until 2026-12-03 (the
// watch thread's parser, dropped after the page). parser_MB: the largest pooled parser after.
void BM_DecodePodListPage(benchmark::State& state, size_t batch_bytes) {
  static const std::string page = [] {
    std::string list;
    FetchSummaries(17, 30, 2, &list);
    return list;
  }();
  walk::DropIdleDecoderStatesForTest();
  walk::ListBatchBytesForTest(batch_bytes);
  size_t pods = 0;
  for (auto _ : state) {
    ObjectListPage<Pod> out;
    Status st = DecodePodList(page, {}, &out);
    benchmark::DoNotOptimize(st);
    pods = out.items.size();
  }
  walk::ListBatchBytesForTest(0);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * page.size()));
  state.counters["pods"] = static_cast<double>(pods);
  state.counters["page_MB"] = static_cast<double>(page.size()) / 1e6;
  state.counters["parser_MB"] = static_cast<double>(walk::LargestParserCapacityForTest()) / 1e6;
}

void BM_DecodeInPlace(benchmark::State& state, const Input* in) {
  NodeSummary out;  // reused, as the API allows
  for (auto _ : state) {
    Status st = DecodeSummary(in->body, in->body.capacity(), "node-a", &out);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out.entities.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in->body.size()));
  state.counters["samples"] = static_cast<double>(in->samples);
  // What the decoded Summary holds per sample, as the snapshot keeps it between polls: the
  // entities' vector, the samples' and label values' blocks (capacity, not size; no malloc
  // overhead).
  size_t held = out.entities.capacity() * sizeof(EntityStats);
  for (const EntityStats& e : out.entities) {
    held += e.samples.capacity() * sizeof(Sample) + e.labels.heap_bytes();
  }
  state.counters["held_B_per_sample"] =
      static_cast<double>(held) / static_cast<double>(std::max<size_t>(1, in->samples));
}

// A one-off decode, as `doctor` makes it: the 3-argument overload (capacity = size, so the body
// is copied into a padded buffer first) into a fresh NodeSummary. The poller decodes in place
// into pooled NodeSummaries (kmb in place).
void BM_DecodeCopyFresh(benchmark::State& state, const Input* in) {
  for (auto _ : state) {
    NodeSummary out;
    Status st = DecodeSummary(std::string_view(in->body), "node-a", &out);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out.entities.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in->body.size()));
}

// ---------------------------------------------------------------- render

// Every render measures its full cost: no segment of the gzip body is copied from the last
// one (serve/render_gzip_next_poll measures that).
WriterOptions FullCatalog() {
  WriterOptions o;
  o.metric_groups = AllMetricGroups();
  o.gzip_reuse = false;
  return o;
}

uint64_t CountSamples(std::string_view text) {
  bench::LineCounter c;
  c.Feed(text.data(), text.size());
  return c.samples;
}

SnapshotPtr BuildSnapshot(const std::vector<std::pair<std::string, std::string>>& bodies,
                          size_t nodes) {
  auto snap = std::make_shared<Snapshot>();
  snap->summary.enabled = true;
  snap->summary.up = true;
  snap->summary.poll_seconds = 1;
  snap->summary.last_success_unix = 1.7e9;
  snap->polls_total = 1;
  snap->nodes.resize(std::min(nodes, bodies.size()));
  for (size_t i = 0; i < snap->nodes.size(); ++i) {
    NodeResult& r = snap->nodes[i];
    r.node = bodies[i].first;
    Status st = DecodeSummary(bodies[i].second, r.node, &r.summary);
    if (!st.ok()) {
      std::fprintf(stderr, "micro_bench: decode %s: %s\n", r.node.c_str(), st.message().c_str());
      std::exit(1);
    }
  }
  std::sort(snap->nodes.begin(), snap->nodes.end(),
            [](const NodeResult& a, const NodeResult& b) { return a.node < b.node; });
  return snap;
}

struct PromBaseline {
  std::shared_ptr<prometheus::Registry> registry;
  uint64_t series = 0;
  uint64_t heap_bytes = 0;   // heap held by the registry
  uint64_t rss_bytes = 0;    // RSS growth while building it
  uint64_t collect_heap = 0; // transient heap of one Collect() result
  uint64_t body_bytes = 0;
  double build_seconds = 0;
};

// Parses a text 0.0.4 exposition back into label maps, to give prometheus-cpp the same series.
std::string UnescapeLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      ++i;
      out.push_back(v[i] == 'n' ? '\n' : v[i]);
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

PromBaseline BuildPromRegistry(const std::string& text) {
  PromBaseline b;
  const uint64_t heap0 = HeapInUse();
  const uint64_t rss0 = bench::ProcStatusBytes(0, "VmRSS");
  auto t0 = Clock::now();
  b.registry = std::make_shared<prometheus::Registry>();
  std::string help, cur_name;
  prometheus::Family<prometheus::Gauge>* gauges = nullptr;
  prometheus::Family<prometheus::Counter>* counters = nullptr;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      std::string_view rest = line.substr(7);
      size_t sp = rest.find(' ');
      help = std::string(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string_view rest = line.substr(7);
      size_t sp = rest.find(' ');
      cur_name = std::string(rest.substr(0, sp));
      std::string_view type = rest.substr(sp + 1);
      gauges = nullptr;
      counters = nullptr;
      if (type == "counter") {
        counters = &prometheus::BuildCounter().Name(cur_name).Help(help).Register(*b.registry);
      } else {
        gauges = &prometheus::BuildGauge().Name(cur_name).Help(help).Register(*b.registry);
      }
      continue;
    }
    if (line[0] == '#') continue;
    // name{k="v",...} value
    std::map<std::string, std::string> labels;
    size_t brace = line.find('{');
    size_t value_at;
    if (brace != std::string_view::npos) {
      size_t i = brace + 1;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        std::string key(line.substr(i, eq - i));
        size_t j = eq + 2;  // after ="
        size_t start = j;
        while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
        labels.emplace(std::move(key), UnescapeLabel(line.substr(start, j - start)));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      value_at = line.find(' ', i) + 1;
    } else {
      value_at = line.find(' ') + 1;
    }
    double v = std::strtod(std::string(line.substr(value_at)).c_str(), nullptr);
    if (counters) {
      counters->Add(labels).Increment(v);
    } else if (gauges) {
      gauges->Add(labels).Set(v);
    }
    ++b.series;
  }
  b.build_seconds = Seconds(Clock::now() - t0);
  b.heap_bytes = HeapInUse() - heap0;
  b.rss_bytes = bench::ProcStatusBytes(0, "VmRSS") - rss0;
  {
    const uint64_t h0 = HeapInUse();
    auto fams = b.registry->Collect();
    b.collect_heap = HeapInUse() - h0;
    b.body_bytes = prometheus::TextSerializer().Serialize(fams).size();
  }
  return b;
}

struct RenderWorld {
  size_t nodes = 0;
  SnapshotPtr snap;
  uint64_t snapshot_heap = 0;  // heap held by the decoded snapshot
  WriterOptions opts = FullCatalog();
  uint64_t series = 0;
  uint64_t body_bytes = 0;
  uint64_t om_bytes = 0;
  size_t serve_nodes = 0;
  SnapshotPtr serve_snap;
  SnapshotPtr serve_snap_next;  // the same nodes at the next poll of the simulator
  uint64_t serve_series = 0;
};

RenderWorld& World();

// The prometheus-cpp registry with the same series (built on first use: ~3 us per series).
PromBaseline& Prom() {
  static PromBaseline* p = [] {
    RenderWorld& w = World();
    std::string text = RenderExposition(*w.snap, ExpositionFormat::kText004, w.opts);
    return new PromBaseline(BuildPromRegistry(text));
  }();
  return *p;
}

RenderWorld& World() {
  static RenderWorld* w = [] {
    auto* w = new RenderWorld;
    std::vector<std::pair<std::string, std::string>> next;
    auto bodies = FetchSummaries(kSimNodes, 30, 2, nullptr, &next);
    const uint64_t h0 = HeapInUse();
    w->snap = BuildSnapshot(bodies, kRenderNodes);
    w->snapshot_heap = HeapInUse() - h0;
    w->nodes = w->snap->nodes.size();
    std::string text = RenderExposition(*w->snap, ExpositionFormat::kText004, w->opts);
    w->series = CountSamples(text);
    w->body_bytes = text.size();
    w->om_bytes = RenderExposition(*w->snap, ExpositionFormat::kOpenMetrics100, w->opts).size();
    const uint64_t per_node = std::max<uint64_t>(1, w->series / w->nodes);
    w->serve_nodes = std::min<size_t>(bodies.size(), (kServeSeries + per_node - 1) / per_node);
    w->serve_snap = BuildSnapshot(bodies, w->serve_nodes);
    w->serve_snap_next = BuildSnapshot(next, w->serve_nodes);
    w->serve_series =
        CountSamples(RenderExposition(*w->serve_snap, ExpositionFormat::kText004, w->opts));
    bodies.clear();
    bodies.shrink_to_fit();
    return w;
  }();
  return *w;
}

// `passes` > 1: the render writes in that many passes (as it does past 1M series; writer.cpp),
// each filing the references of its families only: the cost of the passes beside one.
void BM_RenderKmb(benchmark::State& state, ExpositionFormat format, size_t passes) {
  RenderWorld& w = World();
  WriterOptions opts = w.opts;
  opts.pass_refs = passes > 1 ? w.series / passes : 0;
  // Warm: two untimed renders first, so the allocator holds the buffers' pages (the best case;
  // see BM_RenderKmbColdPages for the exporter's case).
  for (int i = 0; i < 2; ++i) {
    std::string body = RenderExposition(*w.snap, format, opts);
    benchmark::DoNotOptimize(body.data());
  }
  for (auto _ : state) {
    std::string body = RenderExposition(*w.snap, format, opts);
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.series));
  state.counters["series"] = static_cast<double>(w.series);
}

// Same, but the freed memory is handed back to the kernel before each iteration
// (malloc_trim), so the render pays first-touch page faults on all its buffers, as it does in
// the exporter: a new snapshot is rendered on a civetweb worker thread, into fresh mmapped
// buffers, every poll.
void BM_RenderKmbColdPages(benchmark::State& state) {
  RenderWorld& w = World();
  for (auto _ : state) {
    state.PauseTiming();
    ReturnFreeHeap();
    state.ResumeTiming();
    std::string body = RenderExposition(*w.snap, ExpositionFormat::kText004, w.opts);
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.series));
  state.counters["series"] = static_cast<double>(w.series);
}

// Same as BM_RenderKmb with glibc told to keep freed memory (mallopt: blocks up to 32 MiB from
// the heap, never trimmed), i.e. roughly what reusing the render buffers between snapshots would
// give. Changes the process's malloc settings: registered last.
void BM_RenderKmbRetained(benchmark::State& state) {
  RenderWorld& w = World();
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  for (int i = 0; i < 2; ++i) {
    std::string body = RenderExposition(*w.snap, ExpositionFormat::kText004, w.opts);
    benchmark::DoNotOptimize(body.data());
  }
  for (auto _ : state) {
    std::string body = RenderExposition(*w.snap, ExpositionFormat::kText004, w.opts);
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.series));
  state.counters["series"] = static_cast<double>(w.series);
}

void BM_PromCollectSerialize(benchmark::State& state) {
  PromBaseline& prom = Prom();
  prometheus::TextSerializer serializer;
  for (auto _ : state) {
    auto fams = prom.registry->Collect();
    std::string body = serializer.Serialize(fams);
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * prom.series));
  state.counters["series"] = static_cast<double>(prom.series);
}

// ---------------------------------------------------------------- enrich

// EnrichSnapshot, the pod-spec join run once per poll, on the simulator's Summaries and PodList
// through the real decoders (N nodes x 30 pods x 2 containers). Each iteration enriches a fresh
// copy of the un-enriched snapshot, made outside the timed region.
struct EnrichWorld {
  PodMap pods;
  SnapshotPtr snap;  // not enriched
  size_t joined_pods = 0;
};

const EnrichWorld& EnrichInput(int nodes, bool all_labels) {
  static std::map<std::pair<int, bool>, std::unique_ptr<EnrichWorld>> worlds;
  auto& w = worlds[{nodes, all_labels}];
  if (w) return *w;
  w = std::make_unique<EnrichWorld>();
  std::string pod_list;
  auto bodies = FetchSummaries(nodes, 30, 2, &pod_list);
  w->snap = BuildSnapshot(bodies, bodies.size());
  PodDecodeOptions po;
  if (all_labels) po = {{"*"}, {"*"}};  // --pod-labels='*' --pod-annotations='*'
  ObjectListPage<Pod> page;
  if (Status st = DecodePodList(pod_list, po, &page); !st.ok() || !page.errors.empty()) {
    std::fprintf(stderr, "micro_bench: pod list does not decode: %s\n", st.message().c_str());
    std::exit(1);
  }
  for (Pod& p : page.items) w->pods.Put(std::make_shared<const Pod>(std::move(p)));
  Snapshot probe = *w->snap;
  EnrichSnapshot(w->pods, {}, &probe);
  for (const EntityStats& e : probe.pod_entities)
    w->joined_pods += e.entity == catalog::Entity::kPodInfo;
  return *w;
}

// spare = 1: each join fills the pod-spec entities of the one before, as the poller hands them
// over from the released snapshot (EnrichOptions::spare); 0: fresh entities. Timed: the join and
// the release of the snapshot copy (the poller pays both: with fresh entities the release frees
// the pod-spec entities, with spares it hands them over).
void BM_Enrich(benchmark::State& state) {
  const EnrichWorld& w = EnrichInput(static_cast<int>(state.range(0)), state.range(1) != 0);
  const bool reuse = state.range(2) != 0;
  std::vector<EntityStats> spare;
  for (auto _ : state) {
    state.PauseTiming();
    auto snap = std::make_unique<Snapshot>(*w.snap);
    state.ResumeTiming();
    EnrichSnapshot(w.pods, {.spare = reuse ? &spare : nullptr}, snap.get());
    benchmark::DoNotOptimize(snap->pod_entities.data());
    if (reuse) spare = std::move(snap->pod_entities);
    snap.reset();
  }
  state.counters["pods"] = static_cast<double>(w.joined_pods);
  state.counters["per_pod"] = benchmark::Counter(
      static_cast<double>(w.joined_pods),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// ---------------------------------------------------------------- serve

struct ServeWorld {
  std::shared_ptr<Exposition> exposition;  // rendered
  std::string body_copy_target;
  std::unique_ptr<MetricsServer> server;
  std::string url;
  uint64_t body_bytes = 0;
  uint64_t gzip_bytes = 0;
};

ServeWorld& Serve() {
  static ServeWorld* s = [] {
    auto* s = new ServeWorld;
    RenderWorld& w = World();
    s->exposition = std::make_shared<Exposition>(w.serve_snap, w.opts);
    s->body_bytes = s->exposition->Body(ExpositionFormat::kText004).size();
    s->gzip_bytes = s->exposition->GzipBody(ExpositionFormat::kText004).size();
    s->body_copy_target.assign(s->body_bytes, 'x');  // pages touched
    ServerOptions so;
    so.listen_address = "127.0.0.1:0";
    std::string error;
    s->server = MetricsServer::Start(so, &error);
    if (!s->server) {
      std::fprintf(stderr, "micro_bench: MetricsServer: %s\n", error.c_str());
      std::exit(1);
    }
    s->server->Publish(s->exposition);
    s->url = s->server->url() + "/metrics";
    return s;
  }();
  return *s;
}

// The first body of a new snapshot: the text (`gzip` false: what an uncompressed scraper makes
// the exporter render), or the gzip body rendered straight into the compressor, never holding
// the whole text (`gzip` true: what the poll thread does per snapshot, Exposition::Prepare).
void BM_ServeFirstBody(benchmark::State& state, bool gzip) {
  RenderWorld& w = World();
  for (auto _ : state) {
    auto e = std::make_shared<Exposition>(w.serve_snap, w.opts);
    benchmark::DoNotOptimize(gzip ? e->GzipBody(ExpositionFormat::kText004).data()
                                  : e->Body(ExpositionFormat::kText004).data());
    state.PauseTiming();
    e.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.serve_series));
  state.counters["series"] = static_cast<double>(w.serve_series);
}

// The gzip body of the next poll's snapshot, as the poll thread makes it: the segments
// (families) whose text did not change since the previous body are copied from it, the others
// rendered and compressed. Between iterations (not timed) the previous snapshot's body is made
// again, so that each timed render follows it.
void BM_ServeNextPollGzip(benchmark::State& state, size_t passes, size_t pass_refs) {
  RenderWorld& w = World();
  WriterOptions reuse = w.opts;
  reuse.gzip_reuse = true;
  reuse.pass_refs = pass_refs != 0 ? pass_refs : passes > 1 ? w.serve_series / passes : 0;
  GzipStats st;
  for (auto _ : state) {
    state.PauseTiming();
    Exposition(w.serve_snap, reuse).GzipBody(ExpositionFormat::kOpenMetrics100);
    state.ResumeTiming();
    Exposition e(w.serve_snap_next, reuse);
    benchmark::DoNotOptimize(e.GzipBody(ExpositionFormat::kOpenMetrics100).data());
    st = e.gzip_stats(ExpositionFormat::kOpenMetrics100);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.serve_series));
  state.counters["series"] = static_cast<double>(w.serve_series);
  state.counters["segments"] = static_cast<double>(st.segments);
  state.counters["reused_segments"] = static_cast<double>(st.reused_segments);
  state.counters["reused_text_share"] =
      st.text_bytes == 0 ? 0 : static_cast<double>(st.reused_text_bytes) / st.text_bytes;
  state.counters["passes"] = static_cast<double>(st.passes);
}

void BM_ServeCachedBody(benchmark::State& state) {
  ServeWorld& s = Serve();
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.exposition->Body(ExpositionFormat::kText004).data());
  }
}

void BM_ServeGzipOnce(benchmark::State& state) {
  ServeWorld& s = Serve();
  const std::string& body = s.exposition->Body(ExpositionFormat::kText004);
  for (auto _ : state) {
    std::string gz = Gzip(body);
    benchmark::DoNotOptimize(gz.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["gzip_bytes"] = static_cast<double>(s.gzip_bytes);
}

#ifdef KMB_BENCH_LIBDEFLATE
// The baseline of Gzip() (ISA-L igzip level 1) the exporter used before: libdeflate level 1,
// one shot into a buffer of the bound's size, same body.
void BM_ServeGzipLibdeflate(benchmark::State& state) {
  ServeWorld& s = Serve();
  const std::string& body = s.exposition->Body(ExpositionFormat::kText004);
  libdeflate_compressor* c = libdeflate_alloc_compressor(1);
  std::string out(libdeflate_gzip_compress_bound(c, body.size()), '\0');
  size_t n = 0;
  for (auto _ : state) {
    n = libdeflate_gzip_compress(c, body.data(), body.size(), out.data(), out.size());
    benchmark::DoNotOptimize(out.data());
  }
  libdeflate_free_compressor(c);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["gzip_bytes"] = static_cast<double>(n);
}
#endif

// The baseline of Gzip() (ISA-L igzip level 1): zlib at `level`, same body.
void BM_ServeGzipZlib(benchmark::State& state, int level) {
  ServeWorld& s = Serve();
  const std::string& body = s.exposition->Body(ExpositionFormat::kText004);
  size_t out = 0;
  for (auto _ : state) {
    std::string gz = GzipZlib(body, level);
    out = gz.size();
    benchmark::DoNotOptimize(gz.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["gzip_bytes"] = static_cast<double>(out);
}

void BM_MemcpyBody(benchmark::State& state) {
  ServeWorld& s = Serve();
  const std::string& body = s.exposition->Body(ExpositionFormat::kText004);
  for (auto _ : state) {
    std::memcpy(s.body_copy_target.data(), body.data(), body.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

// Machine property behind the render numbers: first touch of fresh anonymous memory (mmap,
// one write per 4 KiB page, munmap), per page.
void BM_PageFault(benchmark::State& state) {
  constexpr size_t kBytes = 64u << 20;
  for (auto _ : state) {
    void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      state.SkipWithError("mmap");
      break;
    }
    for (size_t off = 0; off < kBytes; off += 4096) static_cast<volatile char*>(p)[off] = 1;
    munmap(p, kBytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * (kBytes / 4096)));
}

// Baseline for the HTTP numbers: the body over a bare loopback TCP connection (one send() loop
// on the server side, recv() into a 1 MiB buffer on the client side; no HTTP, no civetweb).
void BM_TcpRawBody(benchmark::State& state) {
  ServeWorld& s = Serve();
  const std::string& body = s.exposition->Body(ExpositionFormat::kText004);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof addr;
  if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 1) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) {
    state.SkipWithError("loopback socket");
    close(ls);
    return;
  }
  std::thread server([&] {
    int c = accept(ls, nullptr, nullptr);
    char req;
    while (c >= 0 && recv(c, &req, 1, 0) == 1) {
      size_t off = 0;
      while (off < body.size()) {
        ssize_t n = send(c, body.data() + off, std::min<size_t>(body.size() - off, 1 << 20), 0);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
    }
    if (c >= 0) close(c);
  });
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    state.SkipWithError("connect");
  }
  std::vector<char> buf(1 << 20);
  std::vector<double> lat;
  for (auto _ : state) {
    auto t0 = Clock::now();
    char req = 'G';
    if (send(c, &req, 1, 0) != 1) break;
    size_t got = 0;
    while (got < body.size()) {
      ssize_t n = recv(c, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    const double sec = Seconds(Clock::now() - t0);
    state.SetIterationTime(sec);
    lat.push_back(sec);
  }
  close(c);
  server.join();
  close(ls);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["p50_ms"] = bench::Percentile(lat, 50) * 1e3;
  state.counters["p99_ms"] = bench::Percentile(lat, 99) * 1e3;
}

// Each iteration: `clients` concurrent scrapers each GET /metrics once (keep-alive handles).
// fresh: a new, not yet rendered Exposition is published before the round, so the round
// includes the render (call_once: one render however many scrapers ask).
void BM_Http(benchmark::State& state, bool fresh, bool gzip) {
  ServeWorld& s = Serve();
  RenderWorld& w = World();
  const int clients = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<bench::Http>> handles;
  for (int i = 0; i < clients; ++i) handles.push_back(std::make_unique<bench::Http>());
  std::vector<double> latencies;
  std::atomic<bool> failed{false};
  uint64_t bytes = 0;
  double cpu = 0;
  for (auto _ : state) {
    if (fresh) {
      state.PauseTiming();
      s.server->Publish(std::make_shared<Exposition>(w.serve_snap, w.opts));
      state.ResumeTiming();
    }
    std::vector<double> lat(static_cast<size_t>(clients));
    std::vector<uint64_t> got(static_cast<size_t>(clients), 0);
    const double cpu0 = bench::ProcCpuSeconds(0);
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        auto a = Clock::now();
        long code = handles[static_cast<size_t>(i)]->Drain(s.url, &got[static_cast<size_t>(i)],
                                                           gzip ? "gzip" : nullptr);
        lat[static_cast<size_t>(i)] = Seconds(Clock::now() - a);
        if (code != 200) failed = true;
      });
    }
    for (auto& t : threads) t.join();
    state.SetIterationTime(Seconds(Clock::now() - t0));
    cpu += bench::ProcCpuSeconds(0) - cpu0;
    latencies.insert(latencies.end(), lat.begin(), lat.end());
    for (uint64_t g : got) bytes += g;
  }
  if (fresh) s.server->Publish(s.exposition);
  if (failed) state.SkipWithError("a scrape failed");
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["p50_ms"] = bench::Percentile(latencies, 50) * 1e3;
  state.counters["p99_ms"] = bench::Percentile(latencies, 99) * 1e3;
  state.counters["proc_cpu_ms_per_round"] =
      cpu * 1e3 / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}

// ---------------------------------------------------------------- reporting

class CaptureReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Iteration && !r.error_occurred) results[r.benchmark_name()] = r;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // The run named `name`, or the first whose name starts with "name/" (Google Benchmark appends
  // "/iterations:N/manual_time" and the like).
  const Run* Find(const std::string& name) const {
    auto it = results.find(name);
    if (it != results.end()) return &it->second;
    for (const auto& [k, r] : results) {
      if (k.rfind(name + "/", 0) == 0) return &r;
    }
    return nullptr;
  }
  // Seconds per iteration of a benchmark (0 when it did not run).
  double Sec(const std::string& name) const {
    const Run* r = Find(name);
    if (r == nullptr || r->iterations == 0) return 0;
    return r->real_accumulated_time / static_cast<double>(r->iterations);
  }
  // Thread CPU seconds per iteration: steadier than wall time on a shared machine, and it
  // includes the page faults the benchmark thread takes (system time).
  double Cpu(const std::string& name) const {
    const Run* r = Find(name);
    if (r == nullptr || r->iterations == 0) return 0;
    return r->cpu_accumulated_time / static_cast<double>(r->iterations);
  }
  double Counter(const std::string& name, const std::string& counter) const {
    const Run* r = Find(name);
    if (r == nullptr) return 0;
    auto c = r->counters.find(counter);
    return c == r->counters.end() ? 0 : c->second.value;
  }
  std::map<std::string, Run> results;
};

std::string Ratio(double a, double b) { return (a > 0 && b > 0) ? Fmt("%.2fx", a / b) : "n/a"; }
std::string MBs(double bytes, double sec) {
  return sec > 0 ? Fmt("%.0f", bytes / sec / 1e6) : "n/a";
}

std::string Tables(const CaptureReporter& rep) {
  std::ostringstream md;
  md << "Machine: " << bench::MachineLine() << ", load average at the end "
     << bench::LoadAverage() << ". Times are thread CPU time per operation (wall time for the "
        "HTTP rows). simdjson On-Demand kernel compiled into "
        "this binary's decoder: " KMB_STR(SIMDJSON_BUILTIN_IMPLEMENTATION) " (runtime stage 1: "
     << simdjson::get_active_implementation()->name() << ")\n\n";
  // Decode.
  md << "### Decode (MB/s, higher is better)\n\n"
        "| input | bytes | samples | kmb in place | kmb copy, fresh structs | nlohmann DOM | "
        "simdjson DOM | kmb / nlohmann | kmb / simdjson |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  double tot_bytes = 0, tot_k = 0, tot_p = 0, tot_n = 0, tot_s = 0;
  bool have_decode = false;
  for (const auto& in : Inputs()) {
    const std::string n = in->name;
    const double k = rep.Cpu("decode/kmb_inplace/" + n), p = rep.Cpu("decode/kmb_copy_fresh/" + n),
                 j = rep.Cpu("decode/nlohmann_dom/" + n), s = rep.Cpu("decode/simdjson_dom/" + n);
    if (k == 0 && j == 0) continue;
    have_decode = true;
    const double b = static_cast<double>(in->body.size());
    md << "| " << n << " | " << in->body.size() << " | " << in->samples << " | " << MBs(b, k)
       << " | " << MBs(b, p) << " | " << MBs(b, j) << " | " << MBs(b, s) << " | "
       << Ratio(j, k) << " | " << Ratio(s, k) << " |\n";
    if (in->fixture && k > 0 && p > 0 && j > 0 && s > 0) {
      tot_bytes += b;
      tot_k += k;
      tot_p += p;
      tot_n += j;
      tot_s += s;
    }
  }
  if (have_decode && tot_bytes > 0) {
    md << "| **all real fixtures** | " << static_cast<uint64_t>(tot_bytes) << " | | "
       << MBs(tot_bytes, tot_k) << " | " << MBs(tot_bytes, tot_p) << " | "
       << MBs(tot_bytes, tot_n) << " | " << MBs(tot_bytes, tot_s) << " | " << Ratio(tot_n, tot_k)
       << " | " << Ratio(tot_s, tot_k) << " |\n";
  }
  md << "\nkmb in place: DecodeSummary(body, capacity, ...) into a reused NodeSummary. kmb copy, "
        "fresh structs: a one-off decode as `doctor` makes it (3-argument overload, so the body "
        "is copied to a padded buffer, into a fresh NodeSummary); the poller decodes in place "
        "into pooled NodeSummaries.\n\n";

  // Render.
  const std::string rn = "nodes:" + std::to_string(kRenderNodes);
  const double rk = rep.Cpu("render/kmb_text/" + rn), rom = rep.Cpu("render/kmb_openmetrics/" + rn),
               rp = rep.Cpu("render/promcpp_collect_serialize/" + rn);
  if (rk > 0 || rp > 0) {
    RenderWorld& w = World();
    PromBaseline& prom = Prom();
    const double s = static_cast<double>(w.series);
    md << "### Render: " << w.nodes << " nodes x 30 pods x 2 containers, full catalog, "
       << w.series << " series, text body " << w.body_bytes << " bytes\n\n"
       << "| | ns / series | MB/s | memory / series |\n|---|---:|---:|---|\n";
    md << "| kmb RenderExposition text 0.0.4 | " << Fmt("%.1f", rk * 1e9 / s) << " | "
       << MBs(static_cast<double>(w.body_bytes), rk) << " | snapshot heap "
       << Fmt("%.0f", static_cast<double>(w.snapshot_heap) / s) << " B + body "
       << Fmt("%.0f", static_cast<double>(w.body_bytes) / s) << " B |\n";
    const double rc = rep.Cpu("render/kmb_text_cold_pages/" + rn);
    md << "| kmb RenderExposition text, cold pages (malloc_trim before each render) | "
       << Fmt("%.1f", rc * 1e9 / s) << " | " << MBs(static_cast<double>(w.body_bytes), rc)
       << " | |\n";
    const double rr = rep.Cpu("render/kmb_text_retained_heap/" + rn);
    md << "| kmb RenderExposition text, freed memory kept (mallopt M_MMAP_THRESHOLD 32 MiB, no "
          "trim) | "
       << Fmt("%.1f", rr * 1e9 / s) << " | " << MBs(static_cast<double>(w.body_bytes), rr)
       << " | |\n";
    md << "| kmb RenderExposition OpenMetrics | " << Fmt("%.1f", rom * 1e9 / s) << " | "
       << MBs(static_cast<double>(w.om_bytes), rom) << " | |\n";
    md << "| prometheus-cpp Collect + TextSerializer | "
       << Fmt("%.1f", rp * 1e9 / static_cast<double>(prom.series)) << " | "
       << MBs(static_cast<double>(prom.body_bytes), rp) << " | registry heap "
       << Fmt("%.0f", static_cast<double>(prom.heap_bytes) / static_cast<double>(prom.series))
       << " B (RSS +"
       << Fmt("%.0f", static_cast<double>(prom.rss_bytes) / static_cast<double>(prom.series))
       << " B), + Collect() transient "
       << Fmt("%.0f",
              static_cast<double>(prom.collect_heap) / static_cast<double>(prom.series))
       << " B |\n";
    md << "| **ratio prometheus-cpp / kmb (time)** | " << Ratio(rp, rk) << " | | "
       << Ratio(static_cast<double>(prom.heap_bytes),
                static_cast<double>(w.snapshot_heap + w.body_bytes))
       << " (registry vs snapshot + body) |\n\n";
    md << "First touch of fresh memory on this machine: "
       << Fmt("%.2f", rep.Cpu("machine/page_fault_64MiB") * 1e6 / (64 * 256))
       << " us per 4 KiB page (a 72 MB body alone is ~17.5k pages).\n\n";
    md << "Registry build (one Add + Set per series, not timed above): "
       << Fmt("%.0f", prom.build_seconds * 1e9 / static_cast<double>(prom.series))
       << " ns / series.\n\n";
  }

  // Serve.
  if (rep.Cpu("serve/first_body") > 0 || rep.Cpu("serve/memcpy_body") > 0) {
    RenderWorld& w = World();
    ServeWorld& sv = Serve();
    const double mc = rep.Cpu("serve/memcpy_body");
    md << "### Serve: " << w.serve_nodes << " nodes, " << w.serve_series << " series, body "
       << Fmt("%.1f", static_cast<double>(sv.body_bytes) / 1e6) << " MB (gzip "
       << Fmt("%.1f", static_cast<double>(sv.gzip_bytes) / 1e6) << " MB)\n\n"
       << "| | time | vs memcpy of the body |\n|---|---:|---:|\n";
    auto row = [&](const std::string& label, double sec) {
      md << "| " << label << " | " << Fmt("%.3f", sec * 1e3) << " ms | " << Ratio(sec, mc)
         << " |\n";
    };
    row("memcpy of the body (baseline)", mc);
    row("Body() first call (render)", rep.Cpu("serve/first_body"));
    md << "| Body() cached | " << Fmt("%.1f", rep.Cpu("serve/cached_body") * 1e9) << " ns | |\n";
    auto gz_row = [&](const std::string& label, const std::string& n) {
      const double sec = rep.Cpu(n);
      if (sec <= 0) return;
      md << "| " << label << " | " << Fmt("%.3f", sec * 1e3) << " ms ("
         << Fmt("%.0f", static_cast<double>(sv.body_bytes) / sec / 1e6) << " MB/s, "
         << Fmt("%.1f", static_cast<double>(sv.body_bytes) / rep.Counter(n, "gzip_bytes"))
         << "x smaller) | " << Ratio(sec, mc) << " |\n";
    };
    row("Render streamed into gzip (Prepare: the whole poll-thread cost)",
        rep.Cpu("serve/render_gzip_streamed"));
    gz_row("Gzip of the body (once per snapshot): ISA-L igzip level 1", "serve/gzip_once");
    gz_row("baseline: libdeflate level 1 (the previous choice)", "serve/gzip_libdeflate1_once");
    gz_row("baseline: zlib level 1", "serve/gzip_zlib1_once");
    gz_row("baseline: zlib level 6 (gzip's default)", "serve/gzip_zlib6_once");
    {
      const std::string n = "serve/tcp_raw_body";
      if (rep.Sec(n) > 0) {
        md << "| bare loopback TCP send of the body, 1 client (no HTTP) | p50 "
           << Fmt("%.1f", rep.Counter(n, "p50_ms")) << " ms, p99 "
           << Fmt("%.1f", rep.Counter(n, "p99_ms")) << " ms | p50 "
           << Ratio(rep.Counter(n, "p50_ms") * 1e-3, mc) << " |\n";
      }
    }
    for (const char* name :
         {"serve/http_cached/clients:1", "serve/http_cached/clients:3",
          "serve/http_cached_gzip/clients:1", "serve/http_fresh/clients:1",
          "serve/http_fresh/clients:3"}) {
      const std::string n = name;
      if (rep.Sec(n) == 0) continue;
      md << "| HTTP " << (name + 6) << " (per request; round " << Fmt("%.1f", rep.Sec(n) * 1e3)
         << " ms, process CPU " << Fmt("%.1f", rep.Counter(n, "proc_cpu_ms_per_round"))
         << " ms / round) | p50 " << Fmt("%.1f", rep.Counter(n, "p50_ms")) << " ms, p99 "
         << Fmt("%.1f", rep.Counter(n, "p99_ms")) << " ms | p50 "
         << Ratio(rep.Counter(n, "p50_ms") * 1e-3, mc) << " |\n";
    }
    md << "\nhttp_cached: the published Exposition is already rendered; each round every "
          "client GETs /metrics once over a keep-alive libcurl handle (in-process client threads, "
          "so process CPU includes the clients). http_fresh: a new, unrendered Exposition is "
          "published before each round, so the round includes one render (std::call_once: "
          "3 scrapers still cost one render).\n";
  }
  return md.str();
}

}  // namespace
}  // namespace kmb

int main(int argc, char** argv) {
  using namespace kmb;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::string tables_out;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (a.rfind("--kmb_tables_out=", 0) == 0) {
      tables_out = std::string(a.substr(17));
    } else if (a.rfind("--kmb_sim_body_out=", 0) == 0) {
      g_sim_body_out = std::string(a.substr(19));
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  LoadInputs();
  for (const auto& in : Inputs()) {
    const Input* p = in.get();
    benchmark::RegisterBenchmark(("decode/kmb_inplace/" + p->name).c_str(), BM_DecodeInPlace, p);
    benchmark::RegisterBenchmark(("decode/kmb_copy_fresh/" + p->name).c_str(),
                                 BM_DecodeCopyFresh, p);
    benchmark::RegisterBenchmark(("decode/nlohmann_dom/" + p->name).c_str(), kmb::bench::BM_NlohmannDom, &p->body);
    benchmark::RegisterBenchmark(("decode/simdjson_dom/" + p->name).c_str(), kmb::bench::BM_SimdjsonDom, &p->body);
  }
  for (const auto& [name, batch_bytes] : std::initializer_list<std::pair<const char*, size_t>>{
           {"batched", 0},
           {"batched_256KiB", size_t{1} << 18},
           {"batched_1MiB", size_t{1} << 20},
           {"whole", std::numeric_limits<size_t>::max()}}) {
    benchmark::RegisterBenchmark(
        ("decode/metrics_api_pods/" + std::string(name) + "/nodes:" +
         std::to_string(kPodListNodes)).c_str(),
        BM_DecodePodMetrics, batch_bytes)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark(
      ("decode/metrics_api_pods/streamed_16KiB_pieces/nodes:" + std::to_string(kPodListNodes))
          .c_str(),
      BM_StreamPodMetrics)
      ->Unit(benchmark::kMillisecond);
  for (const auto& [name, batch_bytes] : std::initializer_list<std::pair<const char*, size_t>>{
           {"batched", 0}, {"whole_own_parser", std::numeric_limits<size_t>::max()}}) {
    benchmark::RegisterBenchmark(("decode/pod_list_page/" + std::string(name)).c_str(),
                                 BM_DecodePodListPage, batch_bytes)
        ->Unit(benchmark::kMillisecond);
  }
  const std::string rn = "/nodes:" + std::to_string(kRenderNodes);
  benchmark::RegisterBenchmark(("render/kmb_text" + rn).c_str(), BM_RenderKmb,
                               ExpositionFormat::kText004, 1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("render/kmb_text_3_passes" + rn).c_str(), BM_RenderKmb,
                               ExpositionFormat::kText004, 3)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("render/kmb_openmetrics" + rn).c_str(), BM_RenderKmb,
                               ExpositionFormat::kOpenMetrics100, 1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("render/kmb_text_cold_pages" + rn).c_str(),
                               BM_RenderKmbColdPages)
      ->Iterations(3)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("render/promcpp_collect_serialize" + rn).c_str(),
                               BM_PromCollectSerialize)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("enrich/pod_spec_join", BM_Enrich)
      ->ArgNames({"nodes", "all_labels", "spare"})
      ->Args({100, 0, 0})
      ->Args({100, 0, 1})
      ->Args({100, 1, 0})
      ->Args({100, 1, 1})
      ->Args({1000, 0, 0})
      ->Args({1000, 0, 1})
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("machine/page_fault_64MiB", BM_PageFault)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/memcpy_body", BM_MemcpyBody)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/first_body", BM_ServeFirstBody, false)
      ->Iterations(3)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/cached_body", BM_ServeCachedBody);
  benchmark::RegisterBenchmark("serve/gzip_once", BM_ServeGzipOnce)
      ->Iterations(3)->Unit(benchmark::kMillisecond);
#ifdef KMB_BENCH_LIBDEFLATE
  benchmark::RegisterBenchmark("serve/gzip_libdeflate1_once", BM_ServeGzipLibdeflate)
      ->Unit(benchmark::kMillisecond);
#endif
  benchmark::RegisterBenchmark("serve/render_gzip_streamed", BM_ServeFirstBody, true)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/render_gzip_next_poll", BM_ServeNextPollGzip, 1, 0)
      ->Unit(benchmark::kMillisecond);
  // The floor of the passes before 2026-12-03 (128k references; 64k since), for comparison.
  benchmark::RegisterBenchmark("serve/render_gzip_next_poll_128k_passes", BM_ServeNextPollGzip, 1,
                               size_t{1} << 17)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/render_gzip_next_poll_3_passes", BM_ServeNextPollGzip, 3, 0)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/gzip_zlib1_once", BM_ServeGzipZlib, 1)
      ->Iterations(3)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/gzip_zlib6_once", BM_ServeGzipZlib, 6)
      ->Iterations(2)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/tcp_raw_body", BM_TcpRawBody)
      ->Iterations(20)->UseManualTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/http_cached", BM_Http, false, false)
      ->ArgName("clients")->Arg(1)->Arg(3)->Iterations(20)->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/http_cached_gzip", BM_Http, false, true)
      ->ArgName("clients")->Arg(1)->Iterations(20)->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serve/http_fresh", BM_Http, true, false)
      ->ArgName("clients")->Arg(1)->Arg(3)->Iterations(5)->UseManualTime()
      ->Unit(benchmark::kMillisecond);

  benchmark::RegisterBenchmark(("render/kmb_text_retained_heap" + rn).c_str(),
                               BM_RenderKmbRetained)
      ->Unit(benchmark::kMillisecond);

  CaptureReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const std::string tables = Tables(reporter);
  std::cout << "\n================ kmb micro-benchmark summary ================\n"
            << tables << std::flush;
  if (!tables_out.empty()) {
    std::ofstream(tables_out) << tables;
    std::cout << "(tables written to " << tables_out << ")\n";
  }
  return 0;
}
