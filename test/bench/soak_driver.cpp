// Soak benchmark: the exporter against `kube-metrics-bridge simulate` (a separate process) for a
// long time (default one hour) with pod churn and rotating faults, sampling the exporter's RSS
// and CPU and scraping /metrics every --sample-every. Writes one CSV row per sample and a summary
// (RSS at start, after warm-up and at the end, its least-squares slope per hour after warm-up,
// mean CPU) to stdout and as JSON. Not part of the default test run: `cmake --build build
// --target soak` runs the hour, and the binary takes --duration for a shorter run.
//
// Faults and churn use the controls the simulator has on its command line. Every
// --rotate-every the simulator is restarted on the same port with the next fault step (a set of
// simulator arguments, e.g. "--fail-node sim-node-1") and, unless --no-seed-churn, the next
// seed: every pod name changes, so each rotation is a full pod churn and a few seconds of
// "connection refused". --sim-arg passes arguments to every simulator start (e.g. a
// --churn-pods-per-minute where the simulator has it); --fault replaces the default steps.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "common/test_util.h"

namespace {

using kmb::bench::Fmt;
using kmb::testing::Child;
using Clock = std::chrono::steady_clock;

// SIGINT / SIGTERM end the run early, with a summary, and stop both children.
volatile sig_atomic_t g_stop = 0;
void OnStop(int) { g_stop = 1; }

struct Config {
  std::string binary = KMB_BINARY;
  double duration = 3600;
  double sample_every = 10;
  double warmup = 300;
  double rotate_every = 120;
  std::string poll_interval = "5s";
  int nodes = 20;
  int pods_per_node = 30;
  bool seed_churn = true;
  std::vector<std::string> sim_args;
  std::vector<std::string> exporter_args;
  std::vector<std::string> faults = {"", "--fail-node sim-node-1",
                                     "--fail-node sim-node-2 --fail-node sim-node-3",
                                     "--metrics-api-status 503", "--metrics-api-status 404"};
  std::string csv = "soak.csv";
  std::string json = "soak.json";
  std::string work_dir;  // logs and kubeconfig; default: a fresh folder under /tmp
};

// "3600", "3600s", "60m", "1h" -> seconds.
double ParseSeconds(const std::string& s) {
  size_t used = 0;
  double v = std::stod(s, &used);
  std::string unit = s.substr(used);
  if (unit.empty() || unit == "s") return v;
  if (unit == "m") return v * 60;
  if (unit == "h") return v * 3600;
  if (unit == "ms") return v / 1000;
  throw std::invalid_argument("bad duration " + s);
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

void Usage() {
  std::fprintf(stderr,
               "usage: soak_driver [--binary PATH] [--duration 3600s] [--sample-every 10s]\n"
               "  [--warmup 300s] [--rotate-every 120s] [--poll-interval 5s] [--nodes 20]\n"
               "  [--pods-per-node 30] [--no-seed-churn] [--sim-arg=ARG]... [--fault=ARGS]...\n"
               "  [--exporter-arg=ARG]... [--csv soak.csv] [--json soak.json] [--work-dir DIR]\n");
}

bool ParseArgs(int argc, char** argv, Config* c) {
  bool faults_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    const size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "--no-seed-churn" && a != "--help") {
      if (i + 1 >= argc) {
        Usage();
        return false;
      }
      value = argv[++i];
    }
    if (a == "--binary")
      c->binary = value;
    else if (a == "--duration")
      c->duration = ParseSeconds(value);
    else if (a == "--sample-every")
      c->sample_every = ParseSeconds(value);
    else if (a == "--warmup")
      c->warmup = ParseSeconds(value);
    else if (a == "--rotate-every")
      c->rotate_every = ParseSeconds(value);
    else if (a == "--poll-interval")
      c->poll_interval = value;
    else if (a == "--nodes")
      c->nodes = std::stoi(value);
    else if (a == "--pods-per-node")
      c->pods_per_node = std::stoi(value);
    else if (a == "--no-seed-churn")
      c->seed_churn = false;
    else if (a == "--sim-arg")
      c->sim_args.push_back(value);
    else if (a == "--exporter-arg")
      c->exporter_args.push_back(value);
    else if (a == "--fault") {
      if (!faults_given) c->faults.clear();
      faults_given = true;
      c->faults.push_back(value);
    } else if (a == "--csv")
      c->csv = value;
    else if (a == "--json")
      c->json = value;
    else if (a == "--work-dir")
      c->work_dir = value;
    else {
      Usage();
      return false;
    }
  }
  return true;
}

struct Sample {
  double t = 0;  // seconds since the exporter was ready
  double rss_mib = 0;
  double cpu_seconds = 0;  // cumulative user + system
  double cpu_percent = 0;  // over the last interval
  long scrape_status = 0;
  double scrape_ms = 0;
  uint64_t scrape_bytes = 0;
  uint64_t series = 0;
  int fault_step = 0;
};

// Least-squares slope of y over x (per unit of x); 0 with fewer than two points.
double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
  return sxx > 0 ? sxy / sxx : 0;
}

class Simulator {
 public:
  Simulator(const Config& c, std::string dir, int port)
      : c_(c), dir_(std::move(dir)), port_(port) {}

  // (Re)starts the simulator on the same port with fault step `step` and seed `seed`.
  bool Start(int step, uint64_t seed) {
    child_.reset();
    std::vector<std::string> argv = {c_.binary,
                                     "simulate",
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "--nodes",
                                     std::to_string(c_.nodes),
                                     "--pods-per-node",
                                     std::to_string(c_.pods_per_node),
                                     "--seed",
                                     std::to_string(seed),
                                     "--write-kubeconfig",
                                     kubeconfig()};
    argv.insert(argv.end(), c_.sim_args.begin(), c_.sim_args.end());
    for (const auto& w : SplitWords(c_.faults[static_cast<size_t>(step)])) argv.push_back(w);
    // The old listener may linger for a moment: retry the bind a few times.
    for (int attempt = 0; attempt < 20; ++attempt) {
      child_ = std::make_unique<Child>(argv, dir_ + "/sim.out", dir_ + "/sim.err");
      if (child_->WaitForLine("listening on", false, std::chrono::seconds(10)) != "") return true;
      child_.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
  }
  std::string kubeconfig() const { return dir_ + "/kubeconfig"; }
  std::string Stderr() const { return child_ ? child_->Stderr() : ""; }

 private:
  const Config& c_;
  std::string dir_;
  int port_;
  std::unique_ptr<Child> child_;
};

std::string J(double v) { return std::isfinite(v) ? Fmt("%.3f", v) : "null"; }

int Run(const Config& c) {
  std::string dir = c.work_dir;
  std::unique_ptr<kmb::testing::TempDir> tmp;
  if (dir.empty()) {
    tmp = std::make_unique<kmb::testing::TempDir>();
    dir = tmp->path();
  }
  const int sim_port = kmb::testing::FreePort();
  Simulator sim(c, dir, sim_port);
  uint64_t seed = 1;
  int step = 0;
  if (!sim.Start(step, seed)) {
    std::fprintf(stderr, "soak: simulator did not start:\n%s\n", sim.Stderr().c_str());
    return 1;
  }
  std::vector<std::string> exporter_argv = {
      c.binary,      "--kubeconfig", sim.kubeconfig(), "--web.listen-address",
      "127.0.0.1:0", "--interval",   c.poll_interval};
  exporter_argv.insert(exporter_argv.end(), c.exporter_args.begin(), c.exporter_args.end());
  Child exporter(exporter_argv, dir + "/exporter.out", dir + "/exporter.err");
  const std::string line = exporter.WaitForLine("serving metrics", true);
  if (line.empty()) {
    std::fprintf(stderr, "soak: exporter did not start:\n%s\n", exporter.Stderr().c_str());
    return 1;
  }
  const std::string metrics_url = kmb::testing::LogfmtField(line, "url");
  const pid_t exporter_pid = exporter.pid();
  std::printf(
      "soak: exporter pid %d at %s, simulator on port %d, %d nodes x %d pods, %s polls, "
      "%.0f s, logs in %s\n",
      exporter_pid, metrics_url.c_str(), sim_port, c.nodes, c.pods_per_node,
      c.poll_interval.c_str(), c.duration, dir.c_str());
  std::fflush(stdout);

  FILE* csv = std::fopen(c.csv.c_str(), "w");
  if (!csv) {
    std::fprintf(stderr, "soak: cannot write %s\n", c.csv.c_str());
    return 1;
  }
  std::fprintf(csv,
               "t_s,rss_mib,cpu_s,cpu_percent,scrape_status,scrape_ms,scrape_bytes,series,"
               "fault_step\n");

  kmb::bench::Http http;
  std::vector<Sample> samples;
  const auto start = Clock::now();
  auto since = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  double next_rotation = c.rotate_every;
  int restarts = 0;
  bool died = false;
  for (double next = 0; next <= c.duration && !g_stop; next += c.sample_every) {
    // A sample that comes late (a slow scrape) moves the later ones instead of bunching them.
    next = std::max(next, since());
    while (since() < next && !g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (since() >= next_rotation) {
      step = (step + 1) % static_cast<int>(c.faults.size());
      if (c.seed_churn) ++seed;
      if (!sim.Start(step, seed)) {
        std::fprintf(stderr, "soak: simulator restart failed:\n%s\n", sim.Stderr().c_str());
        return 1;
      }
      ++restarts;
      next_rotation += c.rotate_every;
    }
    if (!exporter.Alive()) {
      died = true;
      break;
    }
    Sample s;
    s.t = since();
    s.rss_mib = static_cast<double>(kmb::bench::ProcStatusBytes(exporter_pid, "VmRSS")) / 1048576.0;
    s.cpu_seconds = kmb::bench::ProcCpuSeconds(exporter_pid);
    if (!samples.empty()) {
      s.cpu_percent = 100 * (s.cpu_seconds - samples.back().cpu_seconds) / (s.t - samples.back().t);
    }
    kmb::bench::LineCounter counter;
    const auto t0 = Clock::now();
    s.scrape_status = http.Count(metrics_url, &counter);
    s.scrape_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    s.scrape_bytes = counter.bytes;
    s.series = counter.samples;
    s.fault_step = step;
    samples.push_back(s);
    std::fprintf(csv, "%.1f,%.2f,%.2f,%.2f,%ld,%.2f,%llu,%llu,%d\n", s.t, s.rss_mib, s.cpu_seconds,
                 s.cpu_percent, s.scrape_status, s.scrape_ms,
                 static_cast<unsigned long long>(s.scrape_bytes),
                 static_cast<unsigned long long>(s.series), s.fault_step);
    std::fflush(csv);
  }
  std::fclose(csv);
  if (died || samples.empty()) {
    std::fprintf(stderr, "soak: the exporter died\n%s\n", exporter.Stderr().c_str());
    return 1;
  }

  // Summary.
  const Sample& first = samples.front();
  const Sample& last = samples.back();
  const Sample* warm = &last;
  for (const auto& s : samples) {
    if (s.t >= c.warmup) {
      warm = &s;
      break;
    }
  }
  std::vector<double> xs, ys;
  double max_rss = 0, max_scrape_ms = 0;
  int failed_scrapes = 0;
  for (const auto& s : samples) {
    max_rss = std::max(max_rss, s.rss_mib);
    max_scrape_ms = std::max(max_scrape_ms, s.scrape_ms);
    if (s.scrape_status != 200) ++failed_scrapes;
    if (s.t >= warm->t) {
      xs.push_back(s.t / 3600);
      ys.push_back(s.rss_mib);
    }
  }
  const double slope = Slope(xs, ys);
  const double cpu_mean =
      100 * (last.cpu_seconds - first.cpu_seconds) / std::max(1.0, last.t - first.t);
  std::printf("soak summary: %.0f s, %zu samples, %d simulator restarts (fault steps %zu)\n",
              last.t, samples.size(), restarts, c.faults.size());
  std::printf("  RSS MiB: start %.1f, after warm-up (%.0f s) %.1f, end %.1f, max %.1f\n",
              first.rss_mib, warm->t, warm->rss_mib, last.rss_mib, max_rss);
  std::printf("  RSS slope after warm-up: %+.2f MiB/hour\n", slope);
  std::printf("  CPU mean %.1f%% of one core; scrapes: %d not 200, max %.1f ms\n", cpu_mean,
              failed_scrapes, max_scrape_ms);
  std::printf("  CSV %s, JSON %s\n", c.csv.c_str(), c.json.c_str());

  FILE* js = std::fopen(c.json.c_str(), "w");
  if (js) {
    std::fprintf(js,
                 "{\"duration_s\": %s, \"samples\": %zu, \"nodes\": %d, \"pods_per_node\": %d,\n"
                 " \"poll_interval\": \"%s\", \"rotate_every_s\": %s, \"simulator_restarts\": %d,\n"
                 " \"rss_mib\": {\"start\": %s, \"after_warmup\": %s, \"warmup_s\": %s,"
                 " \"end\": %s, \"max\": %s},\n"
                 " \"rss_slope_mib_per_hour\": %s, \"cpu_mean_percent\": %s,\n"
                 " \"scrapes_not_200\": %d, \"scrape_max_ms\": %s}\n",
                 J(last.t).c_str(), samples.size(), c.nodes, c.pods_per_node,
                 c.poll_interval.c_str(), J(c.rotate_every).c_str(), restarts,
                 J(first.rss_mib).c_str(), J(warm->rss_mib).c_str(), J(warm->t).c_str(),
                 J(last.rss_mib).c_str(), J(max_rss).c_str(), J(slope).c_str(), J(cpu_mean).c_str(),
                 failed_scrapes, J(max_scrape_ms).c_str());
    std::fclose(js);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  try {
    if (!ParseArgs(argc, argv, &c)) return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: %s\n", e.what());
    return 2;
  }
  if (c.faults.empty()) c.faults.push_back("");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGINT, OnStop);
  signal(SIGTERM, OnStop);
  return Run(c);
}
