#include <malloc.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "kmb/app/poller.h"
#include "kmb/config/options.h"
#include "kmb/doctor/doctor.h"
#include "kmb/exposition/catalog_doc.h"
#include "kmb/exposition/writer.h"
#include "kmb/kube/client.h"
#include "kmb/kube/cluster_config.h"
#include "kmb/server/server.h"
#include "kmb/server/web_config.h"
#include "kmb/sim/cluster.h"
#include "kmb/util/log.h"
#include "kmb/util/process_stats.h"
#include "kmb/util/signals.h"
#include "kmb/util/thread_name.h"

namespace kmb {
namespace {

// Loads --web.config.file (nullptr when none); on error logs one line naming the file.
bool LoadWebConfigFlag(const Options& opts, std::shared_ptr<const WebConfig>* out) {
  if (opts.web_config_file.empty()) return true;
  auto config = std::make_shared<WebConfig>();
  const Status st = LoadWebConfig(opts.web_config_file, config.get());
  if (!st.ok()) {
    log::Error("cannot load the web config", {{"error", st.message()}});
    return false;
  }
  *out = std::move(config);
  return true;
}

// The poll loop's sleep between polls: until the next tick, or at once when the main thread
// says stop (no wake-ups in between).
class StopLatch {
 public:
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  // False when stopped.
  bool SleepUntil(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_until(lock, deadline, [&] { return stopped_; });
  }
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace

int RunMain(int argc, char** argv) {
  int exit_code = 0;
  std::optional<Options> parsed = ParseOptions(argc, argv, &exit_code);
  if (!parsed) return exit_code;
  const Options& opts = *parsed;
  log::Init(opts.log_level, opts.log_format);

  if (opts.command == Options::Command::kCatalog) {
    std::cout << CatalogMarkdown();
    return 0;
  }
  if (opts.command == Options::Command::kDoctor) {
    return doctor::RunDoctor(opts.doctor, std::cout);
  }
  std::signal(SIGPIPE, SIG_IGN);
  if (opts.command == Options::Command::kSimulate) {
    return sim::RunSimulator(opts.sim, opts.sim_kubeconfig, opts.sim_fail_nodes,
                             opts.sim_metrics_api_status);
  }
  // SIGINT/SIGTERM stop, SIGHUP reloads; the main thread sleeps until one comes.
  std::string signal_error;
  std::unique_ptr<SignalWaiter> signals = SignalWaiter::Install(/*reload=*/true, &signal_error);
  if (!signals) {
    log::Error("cannot set up the signal handlers", {{"error", signal_error}});
    return 1;
  }
  std::shared_ptr<const WebConfig> web_config;
  if (!LoadWebConfigFlag(opts, &web_config)) return 1;

  std::unique_ptr<sim::SimulatedCluster> demo;
  ClusterConfig cluster;
  if (opts.demo) {
    sim::SimOptions so;
    so.nodes = 3;
    so.pods_per_node = 8;
    so.containers_per_pod = 2;
    std::string error;
    demo = sim::SimulatedCluster::Start(so, &error);
    if (!demo) {
      log::Error("cannot start the simulated cluster", {{"error", error}});
      return 1;
    }
    cluster.server = demo->url();
    cluster.origin = "embedded simulated cluster at " + demo->url();
  } else {
    Status st = LoadClusterConfig({opts.kubeconfig, opts.context, opts.apiserver}, &cluster);
    if (!st.ok()) {
      log::Error("cannot load the cluster configuration", {{"error", st.message()}});
      return 1;
    }
  }
  log::Info("cluster", {{"server", cluster.server}, {"from", cluster.origin}});

  KubeClientOptions copts;
  copts.connect_timeout_seconds = opts.connect_timeout_seconds;
  copts.timeout_seconds = opts.request_timeout_seconds;
  copts.http2 = opts.http2;                            // scale (issue 5)
  copts.max_response_bytes = opts.max_response_bytes;  // fault handling
  auto client = std::make_shared<KubeClient>(cluster, copts);
  Poller poller(opts, client);
  WriterOptions wopts;
  wopts.source_timestamps = opts.timestamps == "source";
  wopts.uid_label = opts.pod_uid_label;
  wopts.metric_groups = opts.metric_groups;
  {  // Cardinality control (issue 4).
    std::string filter_error;
    wopts.filter = SeriesFilter::Create(opts.series_filter, &filter_error);
    if (!wopts.filter) {
      std::fprintf(stderr, "kube-metrics-bridge: %s (see --help)\n", filter_error.c_str());
      return 2;
    }
  }

  if (opts.once) {
    SnapshotPtr snap = poller.Poll();
    std::string body = RenderExposition(*snap, ExpositionFormat::kText004, wopts);
    std::fwrite(body.data(), 1, body.size(), stdout);
    std::fflush(stdout);
    if (snap->summary.up || snap->metrics_api.up) return 0;
    std::string why = !snap->metrics_api.status.ok() ? snap->metrics_api.status.message()
                      : !snap->summary.status.ok()   ? snap->summary.status.message()
                                                     : "no node answered";
    log::Error("no source succeeded", {{"error", why}});
    return 1;
  }

  // Scale (issue 5): the poll frees and reallocates the same sizes every interval. Two malloc
  // arenas instead of 8 per core (16 poll workers + civetweb threads), and freed memory kept for
  // the next poll instead of returned to the kernel and faulted in again (docs/performance.md).
  // These are glibc's settings, for a build without tcmalloc (docs/architecture.md).
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);

  ServerOptions sopts;
  sopts.listen_address = opts.listen_address;
  sopts.telemetry_path = opts.telemetry_path;
  sopts.web_config = web_config;
  sopts.refresh_seconds = static_cast<int>(std::max(1.0, opts.interval_seconds));
  std::string error;
  auto server = MetricsServer::Start(sopts, &error);
  if (!server) {
    log::Error("cannot start the HTTP server", {{"error", error}});
    return 1;
  }
  std::string metrics_url = server->url() + opts.telemetry_path;
  const bool decommit = ReturnFreedPagesAtOnce();
  log::Info("serving metrics", {{"url", metrics_url},
                                {"allocator", HeapAllocator()},
                                {"freed_pages_returned_at_once", decommit ? "true" : "false"}});
  if (opts.demo) {
    std::printf("kube-metrics-bridge demo: metrics at %s (simulated cluster at %s)\n",
                metrics_url.c_str(), demo->url().c_str());
    std::fflush(stdout);
  }

  // The poll loop has its own thread, so that signals are answered at once even while a poll
  // waits on a slow API server or kubelet.
  std::atomic<bool> poll_loop_done{false};
  StopLatch stop_polling;
  HeapTrimmer heap_trimmer;
  BodySet last_scraped;
  std::thread poll_loop([&] {
    SetThreadName("kmb-poll");
    const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(opts.interval_seconds));
    auto next = std::chrono::steady_clock::now();
    while (!stop_polling.stopped()) {
      // The published snapshot is let go before the poll that replaces it: scrapes are still
      // sent its prepared bodies, and its memory (the decoded Summaries) is reused by this poll
      // instead of living beside the new snapshot (Exposition::ReleaseData).
      if (std::shared_ptr<Exposition> published = server->Current()) published->ReleaseData();
      SnapshotPtr snap = poller.Poll();
      auto exposition = std::make_shared<Exposition>(snap, wopts);
      // Render + gzip here, once per poll, the bodies scrapers asked for: scrapes only send
      // bytes. With Prometheus that is the OpenMetrics gzip body; the text body is kept only
      // while uncompressed scrapers come.
      // The bodies served until now are withdrawn first, so that the new ones take their
      // buffers (one each, not two): scrapes of the next ~50 ms per 500k series wait for the
      // new snapshot.
      if (std::shared_ptr<Exposition> published = server->Current()) published->WithdrawBodies();
      exposition->Prepare(BodiesToPrepare(server->TakeScrapedBodies(), &last_scraped));
      server->Publish(std::move(exposition));
      // The previous Exposition (its bodies) is released now, unless a scrape still sends it:
      // give back the free memory malloc retains past what polls reuse (issue 7;
      // util/process_stats.h).
      heap_trimmer.AfterPoll();
      next += interval;
      auto now = std::chrono::steady_clock::now();
      if (now > next) {
        // The poll overran: skip the missed ticks rather than stacking polls.
        auto missed = (now - next) / interval + 1;
        log::Warn("poll overran the interval; skipping ticks",
                  {{"skipped", std::to_string(missed)}});
        poller.CountSkippedTicks(static_cast<uint64_t>(missed));
        next += missed * interval;
      }
      if (!stop_polling.SleepUntil(next)) break;
    }
    poll_loop_done = true;
  });

  while (signals->Wait() == SignalWaiter::Event::kReload) {
    log::Info("SIGHUP: reloading");
    if (!opts.web_config_file.empty()) {
      std::shared_ptr<const WebConfig> reloaded;
      Status st = LoadWebConfigFlag(opts, &reloaded) ? server->ReloadWebConfig(reloaded)
                                                     : Status::Error(reason::kConfig, "");
      if (st.ok()) {
        log::Info("reloaded the web config", {{"file", opts.web_config_file}});
      } else {
        // A bad file was already logged by LoadWebConfigFlag; a refused change is logged here.
        if (!st.message().empty()) {
          log::Error("cannot apply the new web config", {{"error", st.message()}});
        }
        log::Warn("keeping the previous web config", {{"file", opts.web_config_file}});
      }
    }
    // SIGHUP: the token, CA and client certificate files of the API server and kubelet
    // clients (thread-safe: the next request uses them).
    if (Status st = poller.ReloadFiles(); st.ok()) {
      log::Info("reloaded the credential files");
    } else {
      log::Error("cannot reload the credential files; keeping the previous ones",
                 {{"error", st.message()}});
    }
  }

  // SIGTERM/SIGINT: stop accepting, finish the responses in flight, and exit 0 within 5 s
  // without waiting for a poll that is still in flight.
  log::Info("shutting down");
  stop_polling.Stop();
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server->Stop();
    stopped = true;
  });
  // A slow client may hold a response; a poll may wait on a dead API server: neither keeps
  // the process past the deadline.
  const auto deadline = start + std::chrono::milliseconds(4500);
  while (!stopped && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto poll_deadline =
      std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
  while (stopped && !poll_loop_done && std::chrono::steady_clock::now() < poll_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!stopped || !poll_loop_done) {
    log::Info(!stopped ? "a response is still in flight; exiting without waiting for it"
                       : "a poll is still in flight; exiting without waiting for it");
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(0);  // the other threads still use the server, client and poller
  }
  stopper.join();
  poll_loop.join();
  return 0;
}

}  // namespace kmb
