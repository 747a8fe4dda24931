// Scale driver: runs `kube-metrics-bridge simulate` and the exporter as two separate processes
// for N nodes (default 100 and 1,000; KMB_BENCH_NODES or --nodes to change, e.g. 100,1000,5000)
// and reports, from /proc of the EXPORTER: CPU per node per poll, RSS per node and per series,
// poll duration (the exporter's own kube_metrics_bridge_poll_duration_seconds{source="summary"}),
// /metrics latency p50/p99, body bytes, TCP connections opened per poll; and the simulator's CPU.
// Output: a table on stdout, JSON (--json, default ./scale.json), Markdown (--markdown).
//
//   scale_driver [--nodes 100,1000] [--pods-per-node 30] [--containers-per-pod 2]
//                [--interval SECONDS] [--polls K] [--scrapes 20] [--concurrency 16]
//                [--metric-groups all|default] [--json FILE] [--markdown FILE]
//                [--total-shards S] [--sources LIST] [--tls] [--http2] [--kubelet-latency MS]
//                [--no-identity] [--node-local]
//   scale_driver --probe-only    (the machine speed probe below, five times, and nothing else)
//
// --node-local runs the exporter as one pod of the node-local DaemonSet (docs/deploy.md):
// `--node-name sim-node-0`, the kubelet read directly over HTTPS, its pods from the kubelet's
// /pods, Summary only. Per-node figures are then per DaemonSet pod; the connections counted are
// the API server's and the kubelet's (whose port the driver learns from the exporter's sockets).
// --no-identity leaves out the uncompressed window and the uncompressed cached scrapes: at 5,000
// unsharded nodes the text body is ~4.9 GB, which no Prometheus asks for (it scrapes with gzip).
// --kubelet-latency MS has the simulator answer every Summary MS milliseconds late (its
// `--fault node/*:latency=MSms`), as real kubelets take tens of milliseconds where the simulator
// answers at once: the exporter's Summary fan-out then grows past its 2 base workers, and the
// table gives the workers the last poll used (kube_metrics_bridge_kubelet_poll_workers).
// --total-shards S runs the exporter as shard 0 of S (--total-shards S --shard 0): the documented
// way past ~1M series per scrape; per-node figures are then per node of that shard. --tls serves
// the simulated API server over HTTPS (kubeconfig with its CA and token), so that every new
// connection is a TLS handshake; --http2 passes --http2 to the exporter. --sources passes
// --sources LIST (summary, metrics-api) to the exporter: a Summary-only shard, or the one
// Metrics API replica of the split layout (docs/deploy.md).
//
// Machine speed: the driver runs a fixed CPU-bound probe before the first point and after the
// last (ProbeMachine: the exporter's gzip, igzip level 1, of 32 MB of exposition-like text from
// a fixed seed, best thread CPU time of 5) and prints its MB/s. This shared 2-core VM's speed
// moves by ~15-30% from hour to hour; the probe tells a slower hour from a slower binary when
// runs of different hours are compared (a side-by-side pair, side_by_side.sh, needs no probe).

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "kmb/exposition/writer.h"

namespace {

using Clock = std::chrono::steady_clock;
using kmb::bench::Fmt;

double Now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }
void SleepUntil(double t) {
  double d = t - Now();
  if (d > 0) std::this_thread::sleep_for(std::chrono::duration<double>(d));
}

// ---------------------------------------------------------------- child processes

// Lines of one pipe, read by a thread.
class LineSink {
 public:
  explicit LineSink(int fd, std::string tag) : fd_(fd), tag_(std::move(tag)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~LineSink() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  // Waits until a line contains `needle`; returns it.
  std::optional<std::string> WaitFor(const std::string& needle, double timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    size_t seen = 0;
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout);
    while (true) {
      for (; seen < lines_.size(); ++seen) {
        if (lines_[seen].find(needle) != std::string::npos) return lines_[seen];
      }
      if (eof_) return std::nullopt;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
    }
  }
  std::vector<std::string> Matching(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) out.push_back(l);
    }
    return out;
  }
  std::string Tail(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (size_t i = lines_.size() > n ? lines_.size() - n : 0; i < lines_.size(); ++i) {
      out += "  [" + tag_ + "] " + lines_[i] + "\n";
    }
    return out;
  }

 private:
  void Run() {
    std::string partial;
    char buf[4096];
    while (true) {
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      partial.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        std::lock_guard<std::mutex> lock(mu_);
        if (lines_.size() < 100000) lines_.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }
  int fd_;
  std::string tag_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
  std::thread thread_;
};

struct Child {
  pid_t pid = -1;
  std::unique_ptr<LineSink> out, err;

  static std::unique_ptr<Child> Spawn(const std::vector<std::string>& argv,
                                      const std::string& tag) {
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return nullptr;
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      dup2(out_pipe[1], 1);
      dup2(err_pipe[1], 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    auto c = std::make_unique<Child>();
    c->pid = pid;
    c->out = std::make_unique<LineSink>(out_pipe[0], tag + " stdout");
    c->err = std::make_unique<LineSink>(err_pipe[0], tag + " stderr");
    return c;
  }
  void Stop() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
    out.reset();
    err.reset();
  }
  ~Child() { Stop(); }
};

// ---------------------------------------------------------------- TCP connection counter

// Samples /proc/net/tcp and remembers when each client port talking to `server_port` (or a
// server port learned by LearnServersOf) on loopback was first seen. Closed connections stay
// visible in TIME_WAIT (60 s) on one side, so sampling every 100 ms sees every connection.
class ConnectionCounter {
 public:
  explicit ConnectionCounter(int server_port) : ports_{server_port} {
    thread_ = std::thread([this] {
      while (!stop_) {
        Sample();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~ConnectionCounter() {
    stop_ = true;
    thread_.join();
  }
  size_t OpenedBetween(double t0, double t1) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& [port, t] : first_seen_) n += t > t0 && t <= t1;
    return n;
  }
  size_t Total() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_seen_.size();
  }
  // From now on, every port the process `pid` dials (but its own `listen_port`) counts as a
  // server port too: node-local mode's kubelet, whose port the simulator does not print.
  void LearnServersOf(pid_t pid, int listen_port) {
    std::lock_guard<std::mutex> lock(mu_);
    pid_ = pid;
    listen_port_ = listen_port;
  }

 private:
  // The inodes of the sockets `pid` holds open (/proc/<pid>/fd/N -> "socket:[INODE]").
  static std::set<std::string> SocketInodes(pid_t pid) {
    std::set<std::string> inodes;
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
      if (!ec && target.rfind("socket:[", 0) == 0) {
        inodes.insert(target.substr(8, target.size() - 9));
      }
    }
    return inodes;
  }
  void Sample() {
    pid_t pid;
    int listen_port;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pid = pid_;
      listen_port = listen_port_;
    }
    const std::set<std::string> owned = pid > 0 ? SocketInodes(pid) : std::set<std::string>{};
    std::ifstream f("/proc/net/tcp");
    std::string line;
    std::getline(f, line);  // header
    const double now = Now();
    std::vector<std::pair<int, int>> conns;  // (local port, remote port)
    std::vector<int> servers;
    while (std::getline(f, line)) {
      // "  0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 1000 0 INODE"
      std::istringstream in(line);
      std::string sl, local, remote, state, queues, timer, retrans, uid, timeout, inode;
      in >> sl >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >> inode;
      auto port_of = [](const std::string& a) {
        size_t c = a.find(':');
        return c == std::string::npos
                   ? -1
                   : static_cast<int>(std::strtol(a.c_str() + c + 1, nullptr, 16));
      };
      const int lp = port_of(local), rp = port_of(remote);
      conns.emplace_back(lp, rp);
      if (rp > 0 && lp != listen_port && owned.count(inode)) servers.push_back(rp);
    }
    std::lock_guard<std::mutex> lock(mu_);
    ports_.insert(servers.begin(), servers.end());
    for (const auto& [lp, rp] : conns) {
      if (ports_.count(rp))
        first_seen_.emplace(lp, now);
      else if (ports_.count(lp) && rp != 0)
        first_seen_.emplace(rp, now);
    }
  }
  std::set<int> ports_;  // the servers' ports: the API server's, and those learned
  pid_t pid_ = -1;
  int listen_port_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<int, double> first_seen_;
  std::thread thread_;
};

// ---------------------------------------------------------------- scraping

// Streams /metrics: counts bytes and sample lines, keeps the exporter's own lines we need.
struct Scrape {
  long code = 0;
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t text_bytes = 0;  // the body's size once inflated
  uint64_t samples = 0;
  double poll_duration_summary = -1;
  double polls_total = -1;
  double poll_workers = -1;
  double series_summary = -1, series_metrics_api = -1;
  uint64_t up_nodes = 0, down_nodes = 0;
  std::string error;
};

struct ScrapeState {
  Scrape* s = nullptr;
  bool at_start = true;
  bool keep = false;
  std::string line;
  void Line() {
    auto value = [&]() { return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr); };
    if (line.rfind("kube_metrics_bridge_poll_duration_seconds{source=\"summary\"}", 0) == 0) {
      s->poll_duration_summary = value();
    } else if (line.rfind("kube_metrics_bridge_kubelet_poll_workers ", 0) == 0) {
      s->poll_workers = value();
    } else if (line.rfind("kube_metrics_bridge_polls_total", 0) == 0) {
      s->polls_total = value();
    } else if (line.rfind("kube_metrics_bridge_series{source=\"summary\"}", 0) == 0) {
      s->series_summary = value();
    } else if (line.rfind("kube_metrics_bridge_series{source=\"metrics-api\"}", 0) == 0) {
      s->series_metrics_api = value();
    } else if (line.rfind("kube_metrics_bridge_source_up{source=\"summary\"", 0) == 0) {
      (value() > 0 ? s->up_nodes : s->down_nodes)++;
    }
  }
  void Feed(const char* p, size_t n) {
    s->bytes += n;
    const char* end = p + n;
    while (p < end) {
      if (at_start) {
        at_start = false;
        keep = *p == 'k' && end - p >= 1;  // decided on the first char; refined at line end
        if (*p != '#' && *p != '\n') ++s->samples;
        line.clear();
      }
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* stop = nl ? nl : end;
      if (keep) {
        line.append(p, static_cast<size_t>(stop - p));
        if (line.size() >= 20 && line.compare(0, 20, "kube_metrics_bridge_") != 0) keep = false;
      }
      if (!nl) break;
      if (keep) Line();
      p = nl + 1;
      at_start = true;
    }
  }
};

size_t FeedScrape(char* p, size_t size, size_t n, void* user) {
  static_cast<ScrapeState*>(user)->Feed(p, size * n);
  return size * n;
}

class Scraper {
 public:
  Scraper()
      : h_(curl_easy_init()),
        prometheus_accept_(curl_slist_append(
            nullptr,
            "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
            "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")) {}
  ~Scraper() {
    curl_easy_cleanup(h_);
    curl_slist_free_all(prometheus_accept_);
  }
  Scrape Get(const std::string& url, bool gzip = false) {
    Scrape s;
    ScrapeState st;
    st.s = &s;
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_TIMEOUT, 600L);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, FeedScrape);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, &st);
    // gzip: as Prometheus (2.42) asks: its Accept header (OpenMetrics first) and
    // "Accept-Encoding: gzip"; curl inflates, and s.bytes is then the size on the wire.
    // Otherwise as `curl` asks: text 0.0.4, uncompressed.
    curl_easy_setopt(h_, CURLOPT_ACCEPT_ENCODING, gzip ? "gzip" : nullptr);
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, gzip ? prometheus_accept_ : nullptr);
    const auto t0 = Clock::now();
    CURLcode rc = curl_easy_perform(h_);
    s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    s.text_bytes = s.bytes;
    if (gzip && rc == CURLE_OK) {
      curl_off_t wire = 0;
      curl_easy_getinfo(h_, CURLINFO_SIZE_DOWNLOAD_T, &wire);
      s.bytes = static_cast<uint64_t>(wire);
    }
    if (rc != CURLE_OK) {
      s.error = curl_easy_strerror(rc);
    } else {
      curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &s.code);
    }
    return s;
  }
  long Status(const std::string& url) {
    uint64_t bytes = 0;
    curl_easy_setopt(h_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, kmb::bench::Discard);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, &bytes);
    curl_easy_setopt(h_, CURLOPT_ACCEPT_ENCODING, nullptr);
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, nullptr);
    if (curl_easy_perform(h_) != CURLE_OK) return 0;
    long code = 0;
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }

 private:
  CURL* h_;
  curl_slist* prometheus_accept_;
};

// ---------------------------------------------------------------- one scale point

struct Config {
  std::vector<int> nodes;
  int pods = 30;
  int containers = 2;
  double interval = 0;  // 0: by N
  int polls = 0;        // 0: by N
  int scrapes = 20;
  int concurrency = 16;  // the exporter's default; the simulator serves with 40 threads
  int total_shards = 1;
  bool tls = false;
  bool http2 = false;
  int kubelet_latency_ms = 0;
  bool identity = true;  // false: no uncompressed window or cached uncompressed scrapes
  bool node_local = false;  // the exporter as a DaemonSet pod: --node-name sim-node-0
  std::string sources;  // empty: the exporter's default (summary,metrics-api)
  bool all_groups = true;
  std::string json = "scale.json";
  std::string markdown;
  std::string binary = KMB_BINARY;
};

// Resets the process' VmHWM to its current RSS (Linux 4.0+); false when that failed.
bool ResetPeakRss(long pid) {
  std::ofstream f("/proc/" + std::to_string(pid) + "/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

// One measurement window: `polls` whole poll intervals, each with one scrape.
struct Window {
  double polls = 0, seconds = 0, cpu_seconds = 0, sim_cpu_seconds = 0;
  double system_seconds = 0;  // the kernel's share of cpu_seconds
  double faults = 0;          // minor page faults of the exporter in the window
  double system_share = 0, faults_per_poll = 0;
  double cpu_ms_per_poll = 0, cpu_ms_per_node_poll = 0;
  double sim_cpu_ms_per_poll = 0, sim_core_share = 0, exporter_core_share = 0;
  double poll_seconds_avg = 0, poll_seconds_max = 0;
  double scrape_new_avg = 0;  // scrape of a new snapshot (includes its render / gzip)
  int renders = 0;            // window scrapes that met a new snapshot (so rendered it)
  uint64_t rss_max = 0;
  uint64_t rss_file = 0;  // RssFile (pages of the binary and its libraries) at rss_max
  uint64_t rss_peak = 0;  // VmHWM over the window (0: the kernel could not reset it)
  double rss_per_node = 0, rss_per_series = 0;
  size_t connections = 0;
  double connections_per_poll = 0;
  Scrape last;
  // False for a window not run: the uncompressed one under --no-identity.
  bool measured() const { return polls > 0; }
};

// `text` if the window was measured, else "-".
std::string IfMeasured(const Window& w, const std::string& text) {
  return w.measured() ? text : std::string("-");
}

struct Result {
  int nodes = 0;
  int nodes_polled = 0;  // nodes of shard 0 (all nodes without --total-shards)
  double interval = 0;
  bool ok = false;
  std::string error;
  Window none, plain, gz;  // no scrape; uncompressed scrapes; gzip scrapes (as Prometheus)
  uint64_t hwm = 0;
  uint64_t series = 0, body_bytes = 0, gzip_bytes = 0;
  double series_summary = 0, series_metrics_api = 0;
  double first_poll_seconds = 0, first_scrape_seconds = 0;
  double scrape_p50 = 0, scrape_p99 = 0, scrape_max = 0;
  double gzip_p50 = 0, gzip_p99 = 0;
  int scrape_count = 0, gzip_count = 0;      // cached scrapes measured
  int scrape_renders = 0, gzip_renders = 0;  // scrapes that met a new snapshot (left out)
  size_t connections_total = 0;
  uint64_t down_nodes = 0;
  size_t overrun_warnings = 0, node_failures = 0;
  std::vector<std::string> warnings;
};

int PortOf(const std::string& url) {
  size_t c = url.rfind(':');
  return c == std::string::npos ? -1 : std::atoi(url.c_str() + c + 1);
}

Result RunPoint(const Config& cfg, int n) {
  Result r;
  r.nodes = n;
  r.interval = cfg.interval > 0 ? cfg.interval : n <= 100 ? 5 : n <= 1000 ? 15 : 60;
  const int polls = cfg.polls > 0 ? cfg.polls : n <= 100 ? 4 : 2;
  std::fprintf(stderr, "scale_driver: %d nodes x %d pods x %d containers, interval %gs, %d polls\n",
               n, cfg.pods, cfg.containers, r.interval, polls);

  const std::string kubeconfig = "/tmp/kmb-scale-" + std::to_string(getpid()) + ".kubeconfig";
  std::vector<std::string> sim_args = {cfg.binary,
                                       "simulate",
                                       "--listen",
                                       "127.0.0.1:0",
                                       "--nodes",
                                       std::to_string(n),
                                       "--pods-per-node",
                                       std::to_string(cfg.pods),
                                       "--containers-per-pod",
                                       std::to_string(cfg.containers),
                                       "--stats-period",
                                       "0"};
  if (cfg.kubelet_latency_ms > 0) {
    sim_args.push_back("--fault");
    sim_args.push_back("node/*:latency=" + std::to_string(cfg.kubelet_latency_ms) + "ms");
  }
  if (cfg.tls) {
    for (const char* a : {"--tls", "--token", "scale-driver-token", "--write-kubeconfig"}) {
      sim_args.push_back(a);
    }
    sim_args.push_back(kubeconfig);
  }
  if (cfg.node_local) sim_args.push_back("--kubelets");  // each node its own HTTPS kubelet
  auto sim = Child::Spawn(sim_args, "sim");
  if (!sim) {
    r.error = "cannot start the simulator";
    return r;
  }
  auto line = sim->out->WaitFor("listening on ", 300);
  if (!line) {
    r.error = "simulator did not print 'listening on'\n" + sim->err->Tail(10);
    return r;
  }
  const std::string sim_url = line->substr(line->find("listening on ") + 13);
  const int sim_port = PortOf(sim_url);
  ConnectionCounter conns(sim_port);

  std::vector<std::string> exp_args = {cfg.binary,
                                       cfg.tls ? "--kubeconfig" : "--apiserver",
                                       cfg.tls ? kubeconfig : sim_url,
                                       "--web.listen-address",
                                       "127.0.0.1:0",
                                       "--interval",
                                       Fmt("%gs", r.interval),
                                       "--log.level=info",
                                       "--max-concurrent-requests",
                                       std::to_string(cfg.concurrency)};
  if (cfg.all_groups) {
    std::string groups;
    for (const std::string& g : kmb::AllMetricGroups()) {
      if (g == "self") continue;
      groups += (groups.empty() ? "" : ",") + g;
    }
    exp_args.push_back("--metric-groups");
    exp_args.push_back(groups);
    exp_args.push_back("--collect-all-interfaces");  // the full catalog: every interface
  }
  if (cfg.total_shards > 1) {
    for (std::string a : {std::string("--total-shards"), std::to_string(cfg.total_shards),
                          std::string("--shard"), std::string("0")}) {
      exp_args.push_back(a);
    }
  }
  if (cfg.http2) exp_args.push_back("--http2");
  if (cfg.node_local) {
    exp_args.push_back("--node-name");
    exp_args.push_back("sim-node-0");
  }
  if (!cfg.sources.empty()) {
    exp_args.push_back("--sources");
    exp_args.push_back(cfg.sources);
  }
  auto exporter = Child::Spawn(exp_args, "exporter");
  if (!exporter) {
    r.error = "cannot start the exporter";
    return r;
  }
  line = exporter->err->WaitFor("msg=\"serving metrics\"", 60);
  if (!line) {
    r.error = "exporter did not log 'serving metrics'\n" + exporter->err->Tail(10);
    return r;
  }
  const double t_start = Now();  // the first poll starts right after this line
  const size_t u = line->find("url=");
  std::string metrics_url = line->substr(u + 4);
  metrics_url = metrics_url.substr(0, metrics_url.find(' '));
  if (!metrics_url.empty() && metrics_url.front() == '"') {
    metrics_url = metrics_url.substr(1, metrics_url.size() - 2);
  }
  const std::string base = metrics_url.substr(0, metrics_url.find('/', 7));
  if (cfg.node_local) conns.LearnServersOf(exporter->pid, PortOf(base));  // the kubelet's port

  Scraper scraper;
  const double ready_deadline = Now() + 900;
  while (scraper.Status(base + "/readyz") != 200) {
    if (Now() > ready_deadline) {
      r.error = "exporter not ready after 900 s\n" + exporter->err->Tail(10);
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double t_ready = Now();
  // As Prometheus asks (gzip): an uncompressed scrape would make the exporter keep the text
  // body beside the gzip for the next snapshots (Exposition::Prepare).
  Scrape first = scraper.Get(metrics_url, /*gzip=*/true);
  if (first.code != 200) {
    r.error = "first scrape failed: " + first.error;
    return r;
  }
  r.first_scrape_seconds = first.seconds;
  r.first_poll_seconds = first.poll_duration_summary;

  // Scrape once per tick at a fixed phase after the tick (after the poll is done), like one
  // Prometheus. The window between the first and the last of these scrapes holds `polls` polls,
  // their renders and their scrapes; both ends sit at the same phase of the cycle. Two windows:
  // gzip scrapes (what Prometheus sends: Accept-Encoding: gzip), then uncompressed scrapes.
  const double I = r.interval;
  const double phase = std::clamp(r.first_poll_seconds * 1.5 + 0.5, 0.3 * I, 0.8 * I);
  int k = static_cast<int>(std::ceil((Now() - t_start) / I));
  if (t_start + k * I + phase < Now()) ++k;
  // scrape = false: no scrape between the two ends of the window (the poll, its render and its
  // gzip, which the exporter does on the poll thread).
  auto measure = [&](bool scrape, bool gzip, Window* w) -> bool {
    // The window's own peak: VmHWM reset at its start ("5" to clear_refs), read at its end.
    const bool peak_reset = ResetPeakRss(exporter->pid);
    std::vector<Scrape> scrapes;
    std::vector<double> cpu, sim_cpu, times;
    std::vector<kmb::bench::ProcStat> stat;
    for (int i = 0; i <= polls; ++i, ++k) {
      SleepUntil(t_start + k * I + phase);
      Scrape s;
      if (scrape || i == 0 || i == polls) {
        // Without scrapes, one gzip scrape at each end of the window (a cached body: cheap)
        // reads the real polls_total, so that a poll that overran is not counted twice.
        s = scraper.Get(metrics_url, scrape ? gzip : true);
      } else {
        s.code = 200;
        s.polls_total = -1;
      }
      if (s.code != 200) {
        r.error = "scrape failed: " + s.error;
        return false;
      }
      times.push_back(Now());
      stat.push_back(kmb::bench::ReadProcStat(exporter->pid));
      cpu.push_back(stat.back().cpu_seconds());
      sim_cpu.push_back(kmb::bench::ProcCpuSeconds(sim->pid));
      const uint64_t rss = kmb::bench::ProcStatusBytes(exporter->pid, "VmRSS");
      if (rss > w->rss_max) {
        w->rss_max = rss;
        w->rss_file = kmb::bench::ProcStatusBytes(exporter->pid, "RssFile");
      }
      scrapes.push_back(s);
      std::fprintf(stderr,
                   "  tick %d (%s): polls_total %.0f, poll %.3fs, scrape %.3fs, %llu bytes, "
                   "exporter CPU %.2fs\n",
                   k,
                   !scrape ? "no scrape"
                   : gzip  ? "gzip"
                           : "identity",
                   s.polls_total, s.poll_duration_summary, s.seconds,
                   static_cast<unsigned long long>(s.bytes), cpu.back());
      if (i > 0 && scrape) {
        w->renders += s.polls_total != scrapes[scrapes.size() - 2].polls_total;
        w->scrape_new_avg += s.seconds / polls;
        w->poll_seconds_avg += s.poll_duration_summary / polls;
        w->poll_seconds_max = std::max(w->poll_seconds_max, s.poll_duration_summary);
      }
    }
    w->polls = scrapes.back().polls_total - scrapes.front().polls_total;
    w->seconds = times.back() - times.front();
    w->cpu_seconds = cpu.back() - cpu.front();
    if (peak_reset) w->rss_peak = kmb::bench::ProcStatusBytes(exporter->pid, "VmHWM");
    w->system_seconds = stat.back().system_seconds - stat.front().system_seconds;
    w->faults = static_cast<double>(stat.back().minor_faults - stat.front().minor_faults);
    w->sim_cpu_seconds = sim_cpu.back() - sim_cpu.front();
    w->connections = conns.OpenedBetween(times.front(), times.back());
    w->last = scrapes.back();
    if (w->polls <= 0) {
      r.error = "no poll completed in the window";
      return false;
    }
    return true;
  };
  // The gzip window before the uncompressed one: RSS is the largest sampled in the window, and
  // uncompressed scrapers make the exporter hold the text body too.
  if (!measure(false, false, &r.none) || !measure(true, true, &r.gz) ||
      (cfg.identity && !measure(true, false, &r.plain))) {
    return r;
  }
  const Scrape& last = cfg.identity ? r.plain.last : r.gz.last;
  r.series = last.samples;
  r.body_bytes = last.text_bytes;
  r.gzip_bytes = r.gz.last.bytes;
  r.series_summary = last.series_summary;
  r.series_metrics_api = last.series_metrics_api;
  r.down_nodes = std::max(last.down_nodes, r.gz.last.down_nodes);
  r.nodes_polled = static_cast<int>(last.up_nodes + last.down_nodes);
  const int polled = std::max(1, r.nodes_polled);
  for (Window* w : {&r.none, &r.plain, &r.gz}) {
    if (!w->measured()) continue;
    w->cpu_ms_per_poll = w->cpu_seconds * 1e3 / w->polls;
    w->cpu_ms_per_node_poll = w->cpu_ms_per_poll / polled;
    w->sim_cpu_ms_per_poll = w->sim_cpu_seconds * 1e3 / w->polls;
    w->sim_core_share = w->sim_cpu_seconds / w->seconds;
    w->exporter_core_share = w->cpu_seconds / w->seconds;
    w->connections_per_poll = static_cast<double>(w->connections) / w->polls;
    w->system_share = w->cpu_seconds > 0 ? w->system_seconds / w->cpu_seconds : 0;
    w->faults_per_poll = w->faults / w->polls;
    w->rss_per_node = static_cast<double>(w->rss_max) / polled;
    w->rss_per_series =
        static_cast<double>(w->rss_max) / static_cast<double>(std::max<uint64_t>(1, r.series));
  }

  // /metrics latency: back-to-back scrapes right after the window (the body is rendered; a poll
  // may land in between, as with a real Prometheus).
  // Back-to-back scrapes, gzip first (the gzip window left the current snapshot rendered and
  // compressed), then uncompressed; each batch capped in time. A scrape that sees a new
  // polls_total was the first on a new snapshot and paid its render: reported apart.
  double prev_polls = r.gz.last.polls_total;
  const double cap = 30;
  auto latency = [&](bool gzip, int count, std::vector<double>* cached, int* renders) -> bool {
    const double deadline = Now() + cap;
    for (int i = 0; i < count && Now() < deadline; ++i) {
      Scrape s = scraper.Get(metrics_url, gzip);
      if (s.code != 200) {
        r.error = "scrape failed: " + s.error;
        return false;
      }
      if (s.polls_total != prev_polls) {
        ++*renders;
      } else {
        cached->push_back(s.seconds);
      }
      prev_polls = s.polls_total;
    }
    return true;
  };
  std::vector<double> lat, glat;
  if (!latency(true, std::max(5, cfg.scrapes / 4), &glat, &r.gzip_renders)) return r;
  if (cfg.identity && !latency(false, cfg.scrapes, &lat, &r.scrape_renders)) return r;
  r.scrape_count = static_cast<int>(lat.size());
  r.gzip_count = static_cast<int>(glat.size());
  r.scrape_p50 = kmb::bench::Percentile(lat, 50);
  r.scrape_p99 = kmb::bench::Percentile(lat, 99);
  r.scrape_max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  r.gzip_p50 = kmb::bench::Percentile(glat, 50);
  r.gzip_p99 = kmb::bench::Percentile(glat, 99);
  r.hwm = kmb::bench::ProcStatusBytes(exporter->pid, "VmHWM");
  r.connections_total = conns.Total();

  r.overrun_warnings = exporter->err->Matching("poll overran").size();
  r.node_failures = exporter->err->Matching("node summary failed").size();
  for (const auto& w : exporter->err->Matching("level=warn")) {
    if (r.warnings.size() < 5) r.warnings.push_back(w);
  }
  for (const auto& w : exporter->err->Matching("level=error")) {
    if (r.warnings.size() < 8) r.warnings.push_back(w);
  }
  exporter->Stop();
  sim->Stop();
  (void)t_ready;
  r.ok = true;
  return r;
}

// ---------------------------------------------------------------- machine speed probe

// 32 MB of text shaped like the exposition (names, label sets of a few hundred pods, values
// from a fixed xorshift seed): the same bytes in every run.
const std::string& ProbeText() {
  static const std::string text = [] {
    std::string t;
    t.reserve(33u << 20);
    uint64_t x = 88172645463325252ull;
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    static const char* const kNames[] = {
        "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
        "k8s_container_cpu_limit_utilization", "container_fs_usage_bytes",
        "pod_network_receive_bytes_total"};
    char line[512];
    while (t.size() < (32u << 20)) {
      const uint64_t r = next();
      const int n = std::snprintf(
          line, sizeof line,
          "%s{namespace=\"ns-%u\",pod=\"app-%05u-%04x\",container=\"c%u\",node=\"sim-node-%u\"} "
          "%llu.%03u\n",
          kNames[r % 5], static_cast<unsigned>(r >> 8) % 40, static_cast<unsigned>(r >> 16) % 3000,
          static_cast<unsigned>(r >> 32) & 0xffff, static_cast<unsigned>(r >> 48) % 3,
          static_cast<unsigned>(r >> 20) % 100,
          static_cast<unsigned long long>(next() % 100000000000ull),
          static_cast<unsigned>(r >> 40) % 1000);
      t.append(line, static_cast<size_t>(n));
    }
    return t;
  }();
  return text;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// MB/s of the exporter's gzip over ProbeText(): the best of 5 by thread CPU time.
double ProbeMachine() {
  const std::string& text = ProbeText();
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    const double t0 = ThreadCpuSeconds();
    const std::string gz = kmb::Gzip(text);
    const double t = ThreadCpuSeconds() - t0;
    if (!gz.empty()) best = std::min(best, t);
  }
  return static_cast<double>(text.size()) / best / 1e6;
}

// Before the first point and after the last (main).
double g_probe_start = 0, g_probe_end = 0;

// ---------------------------------------------------------------- output

std::string J(double v) {
  if (!std::isfinite(v)) return "null";
  return Fmt("%.6g", v);
}
std::string JS(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += Fmt("\\u%04x", c);
      continue;
    }
    out += c;
  }
  return out + "\"";
}

const char* PassFail(bool ok) { return ok ? "PASS" : "FAIL"; }

std::string Table(const Config& cfg, const std::vector<Result>& rs) {
  std::ostringstream md;
  md << "Machine: " << kmb::bench::MachineLine() << ", load average at the end "
     << kmb::bench::LoadAverage() << ". Workload: " << cfg.pods << " pods x " << cfg.containers
     << " containers per node, "
     << (cfg.all_groups ? "full catalog (all metric groups, psi-avg included)"
                        : "default metric groups")
     << ", exporter --max-concurrent-requests " << cfg.concurrency
     << (cfg.total_shards > 1
             ? ", exporter = shard 0 of --total-shards " + std::to_string(cfg.total_shards) +
                   " (per-node figures are per node of that shard)"
             : std::string())
     << (cfg.sources.empty() ? std::string() : ", exporter --sources " + cfg.sources)
     << (cfg.node_local ? ", exporter node-local (--node-name sim-node-0: one DaemonSet pod; "
                          "per-node figures are per pod)"
                        : "")
     << (cfg.tls ? ", API server over HTTPS (conns = TLS handshakes)" : ", API server over HTTP")
     << (cfg.http2 ? ", exporter --http2" : "")
     << (cfg.kubelet_latency_ms > 0
             ? ", every Summary answered " + std::to_string(cfg.kubelet_latency_ms) + " ms late"
             : std::string())
     << ". Machine speed probe (igzip level 1 of 32 MB of exposition-like text, best of 5, "
        "thread CPU): "
     << Fmt("%.0f", g_probe_start) << " MB/s before the first point, " << Fmt("%.0f", g_probe_end)
     << " MB/s after the last.\n\n";
  md << "| nodes | scrapes | interval | polls | series | body MB | poll s avg / max | scrape of a "
        "new snapshot s | renders / poll | CPU ms / poll | **CPU ms / node / poll** | sys | faults / poll | mCPU / node "
        "@15s | RSS MB | peak RSS MB | "
        "**RSS KB / node** | **RSS B / series** | conns / poll | sim CPU ms / poll (core %) |\n"
     << "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const Result& r : rs) {
    if (!r.ok) {
      md << "| " << r.nodes << " | failed: " << r.error.substr(0, r.error.find('\n'))
         << " ||||||||||||||||\n";
      continue;
    }
    const std::string nodes =
        r.nodes_polled == r.nodes
            ? std::to_string(r.nodes)
            : std::to_string(r.nodes) + " (shard: " + std::to_string(r.nodes_polled) + ")";
    for (const Window* w : {&r.none, &r.plain, &r.gz}) {
      if (!w->measured()) continue;
      const bool gz = w == &r.gz;
      md << "| " << nodes << " | "
         << (w == &r.none ? "none (poll + render + gzip)"
             : gz         ? "gzip"
                          : "identity")
         << " | " << Fmt("%gs", r.interval) << " | " << w->polls << " | " << r.series << " | "
         << (w == &r.none ? std::string("-")
                          : Fmt("%.1f", (gz ? r.gzip_bytes : r.body_bytes) / 1e6))
         << " | "
         << (w == &r.none
                 ? std::string("- | - | -")
                 : Fmt("%.2f", w->poll_seconds_avg) + " / " + Fmt("%.2f", w->poll_seconds_max) +
                       " | " + Fmt("%.2f", w->scrape_new_avg) + " | " +
                       Fmt("%.2f", w->renders / w->polls))
         << " | " << Fmt("%.0f", w->cpu_ms_per_poll) << " | "
         << Fmt("%.2f", w->cpu_ms_per_node_poll) << " | " << Fmt("%.0f", w->system_share * 100)
         << "% | " << Fmt("%.0f", w->faults_per_poll) << " | "
         << Fmt("%.3f", w->cpu_ms_per_node_poll / 15.0) << " | " << Fmt("%.0f", w->rss_max / 1e6)
         << " (" << Fmt("%.0f", w->rss_file / 1e6) << " file)"
         << " | " << (w->rss_peak ? Fmt("%.0f", w->rss_peak / 1e6) : std::string("-")) << " | "
         << Fmt("%.0f", w->rss_per_node / 1024) << " | " << Fmt("%.0f", w->rss_per_series) << " | "
         << Fmt("%.1f", w->connections_per_poll) << " | " << Fmt("%.0f", w->sim_cpu_ms_per_poll)
         << " (" << Fmt("%.0f", w->sim_core_share * 100) << "%) |\n";
    }
  }
  md << "\n| nodes | cached scrape, identity: p50 / p99 / max ms (n) | cached scrape, gzip: "
        "p50 / p99 ms (n) | first poll s | first scrape s | VmHWM MB | TCP connections total | "
        "nodes down | overrun warnings | poll workers (last poll) |\n"
     << "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const Result& r : rs) {
    if (!r.ok) continue;
    md << "| " << r.nodes << " | "
       << IfMeasured(r.plain, Fmt("%.0f", r.scrape_p50 * 1e3) + " / " +
                                  Fmt("%.0f", r.scrape_p99 * 1e3) + " / " +
                                  Fmt("%.0f", r.scrape_max * 1e3) + " (" +
                                  std::to_string(r.scrape_count) + ")")
       << " | " << Fmt("%.0f", r.gzip_p50 * 1e3) << " / " << Fmt("%.0f", r.gzip_p99 * 1e3) << " ("
       << r.gzip_count << ") | " << Fmt("%.2f", r.first_poll_seconds) << " | "
       << Fmt("%.2f", r.first_scrape_seconds) << " | " << Fmt("%.0f", r.hwm / 1e6) << " | "
       << r.connections_total << " | " << r.down_nodes << " | " << r.overrun_warnings << " | "
       << Fmt("%.0f", r.gz.last.poll_workers) << " |\n";
  }
  md << "\nCPU = utime+stime of the exporter (/proc/<pid>/stat) over whole poll intervals, each "
        "holding one poll, the render and gzip of its snapshot (done on the poll thread before it "
        "is published) and one scrape (none, uncompressed, or gzip as Prometheus asks), divided "
        "by polls and by the nodes polled; 'sys' is the kernel's share of it (stime), 'faults' the "
        "exporter's minor page faults per poll. RSS = the largest VmRSS sampled after "
        "each scrape of the window ('file': its RssFile, the pages of the binary and its shared "
        "libraries, which do not grow with the nodes); peak RSS = VmHWM over the window, the poll "
        "and render included. Series = sample lines of /metrics. 'Scrape of a new snapshot' "
        "is the latency Prometheus sees when it scrapes once per poll: it includes the render "
        "(and gzip), which happen on the first scrape. Cached scrapes: back-to-back GETs by one "
        "client after the windows, leaving out those that met a new snapshot. conns / poll: TCP "
        "connections from the "
        "exporter to the simulator first seen in the window (/proc/net/tcp, TIME_WAIT "
        "included). renders / poll < 1: some snapshots were never scraped (the scrape took "
        "longer than the interval), so their render is missing from CPU / poll.\n\n";
  md << "Issue 5 targets (judged on the gzip window, i.e. scraped as Prometheus does; the "
        "uncompressed window in brackets):\n\n| target | measured | result |\n|---|---|---|\n";
  for (const Result& r : rs) {
    if (!r.ok) continue;
    const Window &g = r.gz, &p = r.plain;
    // The uncompressed window's figure in brackets, "-" when it was not run (--no-identity).
    const auto in_brackets = [&](const char* fmt, double v) { return IfMeasured(p, Fmt(fmt, v)); };
    md << "| " << r.nodes << " nodes: CPU <= 1.5 ms / node / poll | "
       << Fmt("%.2f", g.cpu_ms_per_node_poll) << " ms ("
       << in_brackets("%.2f", p.cpu_ms_per_node_poll) << ") | "
       << PassFail(g.cpu_ms_per_node_poll <= 1.5) << " |\n";
    md << "| " << r.nodes << " nodes: RSS <= 0.5 MB / node | " << Fmt("%.2f", g.rss_per_node / 1e6)
       << " MB (" << in_brackets("%.2f", p.rss_per_node / 1e6) << ") | "
       << PassFail(g.rss_per_node <= 0.5e6) << " |\n";
    md << "| " << r.nodes << " nodes: RSS <= 250 B / series | " << Fmt("%.0f", g.rss_per_series)
       << " B (" << in_brackets("%.0f", p.rss_per_series) << ") | "
       << PassFail(g.rss_per_series <= 250) << " |\n";
    md << "| " << r.nodes << " nodes: handshakes ~0 per poll in steady state | "
       << Fmt("%.1f", g.connections_per_poll) << " TCP connections / poll ("
       << in_brackets("%.1f", p.connections_per_poll) << ") | "
       << PassFail(g.connections_per_poll < 0.5 && p.connections_per_poll < 0.5) << " |\n";
  }
  for (size_t i = 1; i < rs.size(); ++i) {
    const Result &a = rs[i - 1], &b = rs[i];
    if (!a.ok || !b.ok) continue;
    // "Flat": the per-node cost does not grow by more than 25% (a per-node figure that falls
    // is a fixed overhead being amortised, not growth).
    const double g = b.gz.cpu_ms_per_node_poll / a.gz.cpu_ms_per_node_poll;
    const bool both = a.plain.measured() && b.plain.measured();
    const double p = both ? b.plain.cpu_ms_per_node_poll / a.plain.cpu_ms_per_node_poll : 0;
    const double o = b.none.cpu_ms_per_node_poll / a.none.cpu_ms_per_node_poll;
    const double rss = b.gz.rss_per_node / a.gz.rss_per_node;
    md << "| growth " << a.nodes << " -> " << b.nodes << " nodes: CPU per node does not grow "
       << "(<= x1.25) | x" << Fmt("%.2f", g) << " (identity "
       << (both ? "x" + Fmt("%.2f", p) : std::string("-")) << ", poll only x" << Fmt("%.2f", o)
       << ") | " << PassFail(g <= 1.25) << " |\n";
    md << "| growth " << a.nodes << " -> " << b.nodes << " nodes: RSS per node does not grow "
       << "(<= x1.25) | x" << Fmt("%.2f", rss) << " | " << PassFail(rss <= 1.25) << " |\n";
  }
  return md.str();
}

std::string JsonWindow(const Window& w) {
  std::ostringstream j;
  j << "{\"polls\": " << J(w.polls) << ", \"window_seconds\": " << J(w.seconds)
    << ", \"exporter_cpu_seconds\": " << J(w.cpu_seconds)
    << ", \"cpu_ms_per_poll\": " << J(w.cpu_ms_per_poll)
    << ", \"cpu_ms_per_node_per_poll\": " << J(w.cpu_ms_per_node_poll)
    << ", \"mcpu_per_node_at_15s\": " << J(w.cpu_ms_per_node_poll / 15.0)
    << ", \"exporter_system_cpu_seconds\": " << J(w.system_seconds)
    << ", \"exporter_minor_faults_per_poll\": " << J(w.faults_per_poll)
    << ", \"exporter_core_share\": " << J(w.exporter_core_share)
    << ", \"poll_seconds_avg\": " << J(w.poll_seconds_avg)
    << ", \"poll_seconds_max\": " << J(w.poll_seconds_max)
    << ", \"new_snapshot_scrape_seconds_avg\": " << J(w.scrape_new_avg)
    << ", \"renders\": " << w.renders << ", \"rss_bytes\": " << w.rss_max
    << ", \"rss_file_bytes\": " << w.rss_file << ", \"rss_peak_bytes\": " << w.rss_peak
    << ", \"rss_bytes_per_node\": " << J(w.rss_per_node)
    << ", \"rss_bytes_per_series\": " << J(w.rss_per_series)
    << ", \"connections\": " << w.connections
    << ", \"connections_per_poll\": " << J(w.connections_per_poll)
    << ", \"sim_cpu_seconds\": " << J(w.sim_cpu_seconds)
    << ", \"sim_cpu_ms_per_poll\": " << J(w.sim_cpu_ms_per_poll)
    << ", \"sim_core_share\": " << J(w.sim_core_share) << "}";
  return j.str();
}

std::string Json(const Config& cfg, const std::vector<Result>& rs) {
  std::ostringstream j;
  j << "{\n  \"machine\": " << JS(kmb::bench::MachineLine())
    << ",\n  \"probe_gzip_mbps_start\": " << J(g_probe_start)
    << ",\n  \"probe_gzip_mbps_end\": " << J(g_probe_end) << ",\n  \"pods_per_node\": " << cfg.pods
    << ",\n  \"containers_per_pod\": " << cfg.containers
    << ",\n  \"exporter_concurrency\": " << cfg.concurrency
    << ",\n  \"kubelet_latency_ms\": " << cfg.kubelet_latency_ms
    << ",\n  \"metric_groups\": " << JS(cfg.all_groups ? "all" : "default")
    << ",\n  \"points\": [\n";
  for (size_t i = 0; i < rs.size(); ++i) {
    const Result& r = rs[i];
    j << "    {\"nodes\": " << r.nodes << ", \"nodes_polled\": " << r.nodes_polled
      << ", \"total_shards\": " << cfg.total_shards << ", \"tls\": " << (cfg.tls ? "true" : "false")
      << ", \"http2\": " << (cfg.http2 ? "true" : "false")
      << ", \"ok\": " << (r.ok ? "true" : "false") << ", \"error\": " << JS(r.error)
      << ", \"interval_seconds\": " << J(r.interval) << ",\n     \"series\": " << r.series
      << ", \"series_summary\": " << J(r.series_summary)
      << ", \"series_metrics_api\": " << J(r.series_metrics_api)
      << ", \"body_bytes\": " << r.body_bytes << ", \"gzip_bytes\": " << r.gzip_bytes
      << ",\n     \"no_scrape_window\": " << JsonWindow(r.none)
      << ",\n     \"identity_window\": " << (r.plain.measured() ? JsonWindow(r.plain) : "null")
      << ",\n     \"gzip_window\": " << JsonWindow(r.gz) << ",\n     \"vmhwm_bytes\": " << r.hwm
      << ", \"poll_workers\": " << J(r.gz.last.poll_workers)
      << ", \"first_poll_seconds\": " << J(r.first_poll_seconds)
      << ", \"first_scrape_seconds\": " << J(r.first_scrape_seconds)
      << ", \"scrape_p50_seconds\": " << J(r.scrape_p50)
      << ", \"scrape_p99_seconds\": " << J(r.scrape_p99)
      << ", \"scrape_max_seconds\": " << J(r.scrape_max)
      << ", \"gzip_scrape_p50_seconds\": " << J(r.gzip_p50)
      << ", \"gzip_scrape_p99_seconds\": " << J(r.gzip_p99)
      << ", \"cached_scrapes\": " << r.scrape_count << ", \"cached_gzip_scrapes\": " << r.gzip_count
      << ", \"latency_scrapes_that_rendered\": " << r.scrape_renders + r.gzip_renders
      << ",\n     \"connections_total\": " << r.connections_total
      << ", \"down_nodes\": " << r.down_nodes << ", \"overrun_warnings\": " << r.overrun_warnings
      << ", \"node_failure_logs\": " << r.node_failures << "}" << (i + 1 < rs.size() ? "," : "")
      << "\n";
  }
  j << "  ]\n}\n";
  return j.str();
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(std::atoi(item.c_str()));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Config cfg;
  const char* env = std::getenv("KMB_BENCH_NODES");
  cfg.nodes = ParseList(env && *env ? env : "100,1000");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "scale_driver: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--nodes")
      cfg.nodes = ParseList(next());
    else if (a == "--pods-per-node")
      cfg.pods = std::atoi(next().c_str());
    else if (a == "--containers-per-pod")
      cfg.containers = std::atoi(next().c_str());
    else if (a == "--interval")
      cfg.interval = std::atof(next().c_str());
    else if (a == "--polls")
      cfg.polls = std::atoi(next().c_str());
    else if (a == "--scrapes")
      cfg.scrapes = std::atoi(next().c_str());
    else if (a == "--concurrency")
      cfg.concurrency = std::atoi(next().c_str());
    else if (a == "--metric-groups")
      cfg.all_groups = next() != "default";
    else if (a == "--json")
      cfg.json = next();
    else if (a == "--markdown")
      cfg.markdown = next();
    else if (a == "--binary")
      cfg.binary = next();
    else if (a == "--total-shards")
      cfg.total_shards = std::atoi(next().c_str());
    else if (a == "--tls")
      cfg.tls = true;
    else if (a == "--http2")
      cfg.http2 = true;
    else if (a == "--kubelet-latency")
      cfg.kubelet_latency_ms = std::atoi(next().c_str());
    else if (a == "--no-identity")
      cfg.identity = false;
    else if (a == "--node-local")
      cfg.node_local = true;
    else if (a == "--sources")
      cfg.sources = next();
    else if (a == "--probe-only") {  // the machine speed probe alone, five times
      for (int k = 0; k < 5; ++k) std::printf("machine speed probe: %.0f MB/s\n", ProbeMachine());
      return 0;
    } else {
      std::fprintf(stderr, "scale_driver: unknown argument %s (see the comment at the top)\n",
                   a.c_str());
      return 2;
    }
  }
  if (cfg.node_local && !cfg.tls) {
    std::fprintf(stderr, "scale_driver: --node-local needs --tls (kubelets speak only HTTPS)\n");
    return 2;
  }
  g_probe_start = ProbeMachine();
  std::fprintf(stderr, "scale_driver: machine speed probe %.0f MB/s\n", g_probe_start);
  std::vector<Result> results;
  for (int n : cfg.nodes) {
    results.push_back(RunPoint(cfg, n));
    const Result& r = results.back();
    if (!r.ok) std::fprintf(stderr, "scale_driver: %d nodes failed: %s\n", n, r.error.c_str());
    for (const auto& w : r.warnings) std::fprintf(stderr, "  exporter: %s\n", w.c_str());
  }
  g_probe_end = ProbeMachine();
  const std::string table = Table(cfg, results);
  std::cout << "\n================ kmb scale driver ================\n" << table << std::flush;
  std::ofstream(cfg.json) << Json(cfg, results);
  std::cout << "(JSON written to " << cfg.json << ")\n";
  if (!cfg.markdown.empty()) std::ofstream(cfg.markdown) << table;
  bool all_ok = true;
  for (const auto& r : results) all_ok &= r.ok;
  return all_ok ? 0 : 1;
}
