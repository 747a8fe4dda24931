#include "sim/model.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <tuple>
#include <utility>

namespace kmb::sim {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr int64_t kDay = 86400;

// ---- The workload catalog ----

// DaemonSets come first: every node runs one of each (when the node has room). Container
// columns: name, image, cpu request/limit (m), memory request/limit (Mi), typical cpu (m),
// typical working set (Mi), processes; 0 means not set.
// clang-format off
const std::vector<AppTemplate>& Apps() {
  using W = Workload;
  using V = VolumeKind;
  static const std::vector<AppTemplate> apps = {
      {"kube-system", "kube-proxy", W::kDaemonSet,
       {"kube-proxy", "registry.k8s.io/kube-proxy:v1.35.0", 0, 0, 0, 0, 3, 28, 1},
       {{"kube-proxy", V::kConfigMap, "kube-proxy", 0}}},
      {"monitoring", "node-exporter", W::kDaemonSet,
       {"node-exporter", "quay.io/prometheus/node-exporter:v1.8.2", 50, 250, 64, 128, 8, 30, 1},
       {}},
      {"default", "web", W::kDeployment,
       {"nginx", "docker.io/library/nginx:1.27.3", 100, 500, 128, 256, 20, 60, 5},
       {{"nginx-conf", V::kConfigMap, "web-nginx-conf", 0}, {"cache", V::kEmptyDir, "", 0}}},
      {"default", "api", W::kDeployment,
       {"api", "registry.k8s.io/e2e-test-images/agnhost:2.52", 250, 1000, 256, 512, 120, 180, 1},
       {{"tls", V::kSecret, "api-tls", 0}}},
      {"default", "postgres", W::kStatefulSet,
       {"postgres", "docker.io/library/postgres:16.4", 250, 1000, 512, 1024, 60, 300, 12},
       {{"data", V::kPvc, "data", 20},
        {"credentials", V::kSecret, "postgres-credentials", 0},
        {"dshm", V::kEmptyDir, "", 0}}},
      {"default", "redis", W::kDeployment,
       {"redis", "docker.io/library/redis:7.4.1", 100, 100, 128, 128, 15, 40, 1},
       {}},
      {"payments", "checkout", W::kDeployment,
       {"checkout", "docker.io/library/eclipse-temurin:21-jre", 500, 0, 1024, 1536, 300, 700, 1},
       {{"config", V::kConfigMap, "checkout-config", 0}}},
      {"kube-system", "coredns", W::kDeployment,
       {"coredns", "registry.k8s.io/coredns/coredns:v1.12.0", 100, 0, 70, 170, 4, 25, 1},
       {{"config-volume", V::kConfigMap, "coredns", 0}}},
      {"monitoring", "prometheus", W::kStatefulSet,
       {"prometheus", "quay.io/prometheus/prometheus:v2.54.1", 500, 0, 2048, 4096, 250, 1500, 1},
       {{"storage", V::kPvc, "prometheus-db", 50},
        {"config", V::kConfigMap, "prometheus-config", 0}}},
      {"ingress-nginx", "ingress-nginx-controller", W::kDeployment,
       {"controller", "registry.k8s.io/ingress-nginx/controller:v1.11.3",
        100, 0, 90, 0, 25, 120, 6},
       {{"webhook-cert", V::kSecret, "ingress-nginx-admission", 0}}},
      {"search", "indexer", W::kDeployment,
       {"indexer", "docker.io/library/python:3.12-slim", 200, 0, 512, 0, 400, 350, 4},
       {{"scratch", V::kEmptyDir, "", 0}}},
      {"kube-system", "metrics-server", W::kDeployment,
       {"metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
        100, 0, 200, 0, 5, 30, 1},
       {{"tmp-dir", V::kEmptyDir, "", 0}}},
  };
  return apps;
}
constexpr int kDaemonSets = 2;

// Containers after the first one in a pod.
const ContainerTemplate kSidecars[] = {
    {"istio-proxy", "docker.io/istio/proxyv2:1.23.2", 100, 2000, 128, 1024, 6, 45, 2},
    {"log-shipper", "cr.fluentbit.io/fluent/fluent-bit:3.1.9", 10, 0, 32, 64, 3, 18, 1},
    {"config-reloader", "ghcr.io/jimmidyson/configmap-reload:v0.13.1", 5, 20, 16, 32, 1, 8, 1},
    {"metrics-exporter", "quay.io/prometheus/statsd-exporter:v0.27.1", 0, 0, 0, 0, 2, 15, 1},
};
// clang-format on
constexpr int kSidecarCount = 4;

// Every pod mounts its service-account token (a projected volume on tmpfs).
const VolumeTemplate kServiceAccountVolume = {"kube-api-access", VolumeKind::kProjected, "", 0};

// ---- Deterministic randomness ----

uint64_t Mix(uint64_t z) {  // splitmix64 finalizer
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t Hash(uint64_t a, uint64_t b) { return Mix(a ^ Mix(b)); }
double Unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }  // [0, 1)
uint64_t Fnv(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h;
}

// Field tags: each value of an entity draws from its own stream.
// clang-format off
enum Field : uint64_t {
  kCpuCounter = 1, kCpuFactor, kCpuStall, kSome10, kSome60, kSome300, kMemStallPick, kMemStall,
  kIoStall, kMemFactor, kWorkingSet, kCache, kRss, kPageFaults, kMajorFaults, kMajorPick,
  kRootfs, kRootfsSize, kRootfsInodes, kLogs, kLogsSize, kRx, kTx, kNetRate, kVolumeSize,
  kFsOther, kProcOther, kPageCache, kStartTime, kAge, kTimeOffset, kNodeSize, kSomeTotal,
};
// clang-format on

uint64_t Key(uint64_t key, Field f) { return Hash(key, f); }

// A monotonic counter: `base` at tick -1, then on average `rate` per tick with increments in
// [rate/2, 3*rate/2]. Closed form, so any tick costs O(1) and no state is kept.
uint64_t Counter(uint64_t key, uint64_t base, uint64_t rate, int64_t tick) {
  const uint64_t jitter = rate / 2;
  const double u = Unit(Hash(key, static_cast<uint64_t>(tick + 1)));
  return base + rate * static_cast<uint64_t>(tick + 1) +
         static_cast<uint64_t>(static_cast<double>(jitter) * u);
}

// A smooth bounded wander in [-1, 1]: value noise with a knot every 8 ticks, plus jitter.
double Wander(uint64_t key, int64_t tick) {
  const int64_t knot = tick / 8;
  const double f = static_cast<double>(tick % 8) / 8.0;
  const double s = f * f * (3 - 2 * f);
  const double a = 2 * Unit(Hash(key, knot)) - 1;
  const double b = 2 * Unit(Hash(key, knot + 1)) - 1;
  const double jitter = 2 * Unit(Hash(key ^ 0x5bd1e995u, tick)) - 1;
  return 0.85 * (a + (b - a) * s) + 0.15 * jitter;
}

// A gauge wandering within center * (1 +- spread).
uint64_t Gauge(uint64_t key, double center, double spread, int64_t tick) {
  return static_cast<uint64_t>(std::max(0.0, center * (1 + spread * Wander(key, tick))));
}

uint64_t PageAlign(uint64_t v) { return v & ~uint64_t{4095}; }

uint64_t Ratio(uint64_t v, uint32_t num, uint32_t den) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(v) * num / den);
}

// PSI for one cgroup: `stall` is the fraction of time stalled. Totals are microseconds.
PsiStats MakePsi(uint64_t key, double stall, uint32_t full_per_mille, int64_t age_s, int64_t tick,
                 int64_t period_ms) {
  PsiStats psi;
  const uint64_t rate = static_cast<uint64_t>(stall * static_cast<double>(period_ms) * 1000);
  const uint64_t base = static_cast<uint64_t>(stall * static_cast<double>(age_s) * 1e6) + rate;
  psi.some_total = Counter(Key(key, kSomeTotal), base, rate, tick);
  psi.full_total = Ratio(psi.some_total, full_per_mille, 1000);
  const double pct = stall * 100;
  const double spreads[3] = {0.8, 0.4, 0.15};
  const Field fields[3] = {kSome10, kSome60, kSome300};
  for (int i = 0; i < 3; ++i) {
    const double v = pct * (1 + spreads[i] * Wander(Key(key, fields[i]), tick));
    psi.some_avg[i] = static_cast<uint32_t>(std::clamp(v, 0.0, 100.0) * 100);
    psi.full_avg[i] = static_cast<uint32_t>(Ratio(psi.some_avg[i], full_per_mille, 1000));
  }
  return psi;
}

void MaxPsi(PsiStats* into, const PsiStats& from) {
  into->some_total = std::max(into->some_total, from.some_total);
  into->full_total = std::max(into->full_total, from.full_total);
  for (int i = 0; i < 3; ++i) {
    into->some_avg[i] = std::max(into->some_avg[i], from.some_avg[i]);
    into->full_avg[i] = std::max(into->full_avg[i], from.full_avg[i]);
  }
}

// Sums usage and counters; PSI is not additive, so it keeps the worst member's.
void AddCgroup(CgroupStats* into, const CgroupStats& from) {
  into->cpu.usage_nano_cores += from.cpu.usage_nano_cores;
  into->cpu.usage_core_nano_seconds += from.cpu.usage_core_nano_seconds;
  MaxPsi(&into->cpu.psi, from.cpu.psi);
  MemoryStats& m = into->memory;
  m.usage_bytes += from.memory.usage_bytes;
  m.working_set_bytes += from.memory.working_set_bytes;
  m.rss_bytes += from.memory.rss_bytes;
  m.page_faults += from.memory.page_faults;
  m.major_page_faults += from.memory.major_page_faults;
  MaxPsi(&m.psi, from.memory.psi);
  MaxPsi(&into->io, from.io);
  into->swap.usage_bytes += from.swap.usage_bytes;
}

void AddInterface(InterfaceStats* into, const InterfaceStats& from) {
  into->rx_bytes += from.rx_bytes;
  into->rx_errors += from.rx_errors;
  into->tx_bytes += from.tx_bytes;
  into->tx_errors += from.tx_errors;
}

// How one cgroup behaves on average.
struct Profile {
  double cpu_nano_cores;  // mean usage
  double working_set;     // bytes, centre of the wander
  uint64_t memory_limit;  // 0 = none
  double cpu_stall;       // PSI fractions
  double memory_stall;
  double io_stall;
  double page_faults_per_s;
  uint32_t full_per_mille;  // PSI full / some
};

CgroupStats ComputeCgroup(uint64_t key, const Profile& p, int64_t age_s, int64_t tick,
                          int64_t period_ms, Detail detail) {
  CgroupStats s;
  // cpu: usageNanoCores is the counter's slope over the last period, as cAdvisor derives it.
  const uint64_t rate =
      static_cast<uint64_t>(p.cpu_nano_cores * static_cast<double>(period_ms) / 1000.0);
  const uint64_t base = static_cast<uint64_t>(p.cpu_nano_cores * static_cast<double>(age_s));
  const uint64_t ckey = Key(key, kCpuCounter);
  const uint64_t now = Counter(ckey, base, rate, tick);
  const uint64_t before = Counter(ckey, base, rate, tick - 1);
  s.cpu.usage_core_nano_seconds = now;
  s.cpu.usage_nano_cores = Ratio(now - before, 1000, static_cast<uint32_t>(period_ms));

  MemoryStats& m = s.memory;
  m.working_set_bytes =
      std::max<uint64_t>(PageAlign(Gauge(Key(key, kWorkingSet), p.working_set, 0.2, tick)), 65536);
  m.usage_bytes = m.working_set_bytes +
                  PageAlign(Gauge(Key(key, kCache), p.working_set * 0.08 + 65536, 0.5, tick));
  m.rss_bytes = PageAlign(
      Ratio(m.working_set_bytes, 820 + static_cast<uint32_t>(Key(key, kRss) % 150), 1000));
  if (p.memory_limit > 0) {
    m.has_available = true;
    m.available_bytes =
        p.memory_limit > m.working_set_bytes ? p.memory_limit - m.working_set_bytes : 0;
  }
  const uint64_t pf_rate =
      std::max<uint64_t>(1, static_cast<uint64_t>(p.page_faults_per_s * period_ms / 1000));
  m.page_faults = Counter(Key(key, kPageFaults), static_cast<uint64_t>(p.page_faults_per_s * age_s),
                          pf_rate, tick);
  const uint64_t major_pick = Key(key, kMajorPick) % 20;
  m.major_page_faults = Counter(Key(key, kMajorFaults), major_pick, major_pick == 0 ? 1 : 0, tick);
  if (detail == Detail::kFull) {
    s.cpu.psi = MakePsi(Key(key, kCpuStall), p.cpu_stall, p.full_per_mille, age_s, tick, period_ms);
    m.psi = MakePsi(Key(key, kMemStall), p.memory_stall, p.full_per_mille, age_s, tick, period_ms);
    s.io = MakePsi(Key(key, kIoStall), p.io_stall, p.full_per_mille, age_s, tick, period_ms);
  }
  return s;
}

// Kubernetes' random-suffix alphabet (no vowels, no 0/1/3): 27 letters, 5 of them give 27^5.
constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
constexpr int64_t kSuffixSpace = 14348907;  // 27^5
constexpr int64_t kSuffixMul = 1000003;     // coprime to 3, so x -> x*mul+add is a bijection

int64_t ModInverse(int64_t a, int64_t m) {
  int64_t t = 0, new_t = 1, r = m, new_r = a % m;
  while (new_r != 0) {
    const int64_t q = r / new_r;
    std::tie(t, new_t) = std::make_pair(new_t, t - q * new_t);
    std::tie(r, new_r) = std::make_pair(new_r, r - q * new_r);
  }
  return t < 0 ? t + m : t;
}

void AppendSuffix(std::string* out, int64_t v) {
  char buf[5];
  for (int i = 4; i >= 0; --i) {
    buf[i] = kAlphabet[v % 27];
    v /= 27;
  }
  out->append(buf, 5);
}

bool DecodeSuffix(std::string_view s, int64_t* v) {
  if (s.size() != 5) return false;
  int64_t r = 0;
  for (char c : s) {
    const size_t d = kAlphabet.find(c);
    if (d == std::string_view::npos) return false;
    r = r * 27 + static_cast<int64_t>(d);
  }
  *v = r;
  return true;
}

void AppendRandomChars(std::string* out, uint64_t h, int n) {
  for (int i = 0; i < n; ++i) {
    out->push_back(kAlphabet[h % 27]);
    h = h / 27 ^ Mix(h + static_cast<uint64_t>(i));
  }
}

void AppendHex(std::string* out, uint64_t h, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out->push_back(kHex[(h >> (4 * i)) & 15]);
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}

struct InstanceFamily {
  const char* name;
  int gib_per_core;
};

}  // namespace

// ---- Construction: slot layout and node sizes ----

ClusterModel::ClusterModel(const SimOptions& options, int64_t start_unix)
    : seed_(options.seed),
      nodes_(options.nodes),
      pods_per_node_(options.pods_per_node),
      containers_per_pod_(options.containers_per_pod),
      start_unix_(start_unix),
      period_ms_(options.stats_period_seconds > 0
                     ? std::max<int64_t>(1, std::llround(options.stats_period_seconds * 1000))
                     : 10000) {
  const auto& apps = Apps();
  app_count_.assign(apps.size(), 0);
  app_slots_.resize(apps.size());
  const int rotation = static_cast<int>(apps.size()) - kDaemonSets;
  for (int s = 0; s < pods_per_node_; ++s) {
    SlotInfo info;
    info.app_index = s < kDaemonSets ? s : kDaemonSets + (s - kDaemonSets) % rotation;
    info.app = &apps[info.app_index];
    info.rank = app_count_[info.app_index]++;
    app_slots_[info.app_index].push_back(s);
    bool all_limited = true;
    bool any_resources = false;
    bool guaranteed = true;
    for (int c = 0; c < containers_per_pod_; ++c) {
      ContainerInfo ci;
      if (c == 0) {
        ci.tmpl = &info.app->main;
        ci.name = ci.tmpl->name;
      } else {
        ci.tmpl = &kSidecars[(c - 1) % kSidecarCount];
        ci.name = ci.tmpl->name;
        if (c - 1 >= kSidecarCount) ci.name += "-" + std::to_string((c - 1) / kSidecarCount + 1);
      }
      const ContainerTemplate& t = *ci.tmpl;
      all_limited = all_limited && t.mem_limit_mi > 0;
      info.memory_limit_bytes += static_cast<uint64_t>(t.mem_limit_mi) * kMiB;
      any_resources =
          any_resources || t.cpu_request_m || t.cpu_limit_m || t.mem_request_mi || t.mem_limit_mi;
      // Requests default to limits, so Guaranteed means: both limits set, requests equal or unset.
      guaranteed = guaranteed && t.cpu_limit_m > 0 && t.mem_limit_mi > 0 &&
                   (t.cpu_request_m == 0 || t.cpu_request_m == t.cpu_limit_m) &&
                   (t.mem_request_mi == 0 || t.mem_request_mi == t.mem_limit_mi);
      info.containers.push_back(std::move(ci));
    }
    info.memory_limited = all_limited && containers_per_pod_ > 0;
    if (!info.memory_limited) info.memory_limit_bytes = 0;
    info.qos_class = guaranteed ? "Guaranteed" : any_resources ? "Burstable" : "BestEffort";
    for (const VolumeTemplate& v : info.app->volumes) info.volumes.push_back(&v);
    info.volumes.push_back(&kServiceAccountVolume);
    info.volume_offset = volumes_per_node_;
    volumes_per_node_ += static_cast<int>(info.volumes.size());
    slots_.push_back(std::move(info));
  }
  for (size_t a = 0; a < apps.size(); ++a) {
    std::string hash;
    AppendRandomChars(&hash, Hash(seed_, 7000 + a), 10);
    template_hash_.push_back(std::move(hash));
  }

  // Size the (homogeneous) node pool so that requests and the wandering usage fit.
  double cpu_need_m = 0;
  double mem_need = 0;
  for (const SlotInfo& slot : slots_) {
    for (const ContainerInfo& ci : slot.containers) {
      const ContainerTemplate& t = *ci.tmpl;
      cpu_need_m += std::max<double>(t.cpu_request_m, t.cpu_mean_m * 1.5 * 1.5);
      mem_need += std::max<double>(t.mem_request_mi * kMiB, t.working_set_mi * kMiB * 1.3 * 1.3);
    }
  }
  cpu_need_m = cpu_need_m * 1.2 + 600;
  mem_need = mem_need * 1.25 + 3.0 * kGiB;
  static constexpr int kCores[] = {2, 4, 8, 16, 32, 48, 64, 96, 128};
  static constexpr const char* kSizes[] = {"large",    "xlarge",   "2xlarge",  "4xlarge", "8xlarge",
                                           "12xlarge", "16xlarge", "24xlarge", "32xlarge"};
  static constexpr InstanceFamily kFamilies[] = {{"m6i", 4}, {"r6i", 8}, {"x2idn", 16}};
  int cores = 0;
  const char* family = "m6i";
  const char* size = "metal";
  int gib_per_core = 4;
  for (int i = 0; i < 9 && cores == 0; ++i) {
    if (kCores[i] * 1000 < cpu_need_m) continue;
    for (const InstanceFamily& f : kFamilies) {
      if (static_cast<double>(kCores[i]) * f.gib_per_core * kGiB * 0.9 >= mem_need) {
        cores = kCores[i];
        family = f.name;
        size = kSizes[i];
        gib_per_core = f.gib_per_core;
        break;
      }
    }
  }
  if (cores == 0) {  // beyond any real instance: grow in steps of 64 cores at 16 GiB per core
    cores = 64 * static_cast<int>(
                     std::ceil(std::max(cpu_need_m / 1000.0, mem_need / 0.9 / (16.0 * kGiB)) / 64));
    family = "sim";
    size = "custom";
    gib_per_core = 16;
  }
  const std::string instance = std::string(family) + "." + size;

  node_info_.resize(nodes_);
  for (int n = 0; n < nodes_; ++n) {
    NodeInfo& ni = node_info_[n];
    const uint64_t key = Hash(seed_, static_cast<uint64_t>(n) + 1);
    const int64_t uptime =
        n == 0 ? 400 * kDay : 3 * kDay + static_cast<int64_t>(Key(key, kAge) % (200 * kDay));
    ni.boot_unix = start_unix_ - uptime;
    ni.cores = cores;
    ni.instance_type = instance;
    // Firmware and the kernel keep ~3.5% of RAM; the rest is reported in whole KiB.
    const uint64_t ram = static_cast<uint64_t>(cores) * gib_per_core * kGiB;
    ni.memory_bytes = (Ratio(ram, 965, 1000) / kKiB - Key(key, kNodeSize) % 4096) * kKiB;
    ni.allocatable_memory = ni.memory_bytes - 100 * kMiB - Ratio(ram, 3, 100);
    ni.allocatable_cpu_m = cores * 1000 - 60 - 10 * cores;
    const uint64_t disk_gib = cores <= 8 ? 100 : cores <= 32 ? 200 : 500;
    ni.fs_bytes = PageAlign(Ratio(disk_gib * kGiB, 984, 1000));  // ext4 metadata
    ni.image_bytes = PageAlign(3 * kGiB + Key(key, kFsOther) % (5 * kGiB));
    ni.swap_bytes = n % 4 == 3 ? kGiB - 4096 : 0;
    ni.zone = std::string("sim-region-1") + static_cast<char>('a' + n % 3);
    // Node addresses from 10.64.0.0/10; a /24 per node from 10.128.0.0/9 (which repeats
    // beyond 32,768 nodes, far past what Kubernetes supports).
    ni.internal_ip = "10." + std::to_string(64 + n / 64000) + "." + std::to_string(n / 250 % 256) +
                     "." + std::to_string(1 + n % 250);
    ni.pod_cidr =
        "10." + std::to_string(128 + n / 256 % 128) + "." + std::to_string(n % 256) + ".0/24";
  }
}

// ---- Names ----

std::string ClusterModel::NodeName(int node) const {
  std::string s;
  AppendNodeName(&s, node);
  return s;
}

void ClusterModel::AppendNodeName(std::string* out, int node) const {
  out->append("sim-node-");
  AppendInt(out, node);
}

int ClusterModel::FindNode(std::string_view name) const {
  constexpr std::string_view kPrefix = "sim-node-";
  if (name.size() <= kPrefix.size() || name.substr(0, kPrefix.size()) != kPrefix) return -1;
  const std::string_view digits = name.substr(kPrefix.size());
  if (digits.size() > 1 && digits[0] == '0') return -1;
  int n = -1;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || n < 0 || n >= nodes_) return -1;
  return n;
}

uint64_t ClusterModel::PodKey(int node, int slot) const {
  return Hash(Hash(seed_, static_cast<uint64_t>(node) + 1), 0x10000 + static_cast<uint64_t>(slot));
}

void ClusterModel::AppendPodName(std::string* out, int node, int slot) const {
  const SlotInfo& info = slots_[slot];
  const int64_t ordinal = static_cast<int64_t>(node) * app_count_[info.app_index] + info.rank;
  out->append(info.app->name);
  out->push_back('-');
  if (info.app->workload == Workload::kStatefulSet) {
    AppendInt(out, ordinal);
    return;
  }
  if (info.app->workload == Workload::kDeployment) {
    out->append(template_hash_[info.app_index]);
    out->push_back('-');
  }
  // A bijection of the ordinal, so names never collide and can be decoded back.
  const int64_t offset = static_cast<int64_t>(Hash(seed_, info.app_index) % kSuffixSpace);
  AppendSuffix(out, (ordinal % kSuffixSpace * kSuffixMul + offset) % kSuffixSpace);
}

std::string ClusterModel::PodName(int node, int slot) const {
  std::string s;
  AppendPodName(&s, node, slot);
  return s;
}

bool ClusterModel::FindPod(std::string_view ns, std::string_view name, PodRef* out) const {
  static const int64_t kInverse = ModInverse(kSuffixMul, kSuffixSpace);
  const auto& apps = Apps();
  std::string check;
  for (size_t a = 0; a < apps.size(); ++a) {
    const AppTemplate& app = apps[a];
    const std::string_view prefix = app.name;
    if (app_count_[a] == 0 || ns != app.ns || name.size() <= prefix.size() + 1 ||
        name.substr(0, prefix.size()) != prefix || name[prefix.size()] != '-') {
      continue;
    }
    std::string_view rest = name.substr(prefix.size() + 1);
    int64_t ordinal = -1;
    if (app.workload == Workload::kStatefulSet) {
      auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), ordinal);
      if (ec != std::errc() || ptr != rest.data() + rest.size()) continue;
    } else {
      if (app.workload == Workload::kDeployment) {
        const std::string& hash = template_hash_[a];
        if (rest.size() != hash.size() + 6 || rest.substr(0, hash.size()) != hash) continue;
        rest = rest.substr(hash.size() + 1);
      }
      int64_t v = 0;
      if (!DecodeSuffix(rest, &v)) continue;
      const int64_t offset = static_cast<int64_t>(Hash(seed_, a) % kSuffixSpace);
      ordinal =
          static_cast<int64_t>(static_cast<__int128>((v - offset + kSuffixSpace) % kSuffixSpace) *
                               kInverse % kSuffixSpace);
    }
    if (ordinal < 0) continue;
    const int64_t node = ordinal / app_count_[a];
    if (node >= nodes_) continue;
    const int slot = app_slots_[a][ordinal % app_count_[a]];
    check.clear();
    AppendPodName(&check, static_cast<int>(node), slot);
    if (check != name) continue;  // e.g. a leading zero in a StatefulSet ordinal
    out->node = static_cast<int>(node);
    out->slot = slot;
    return true;
  }
  return false;
}

void ClusterModel::AppendPodUid(std::string* out, int node, int slot) const {
  // A version-4 style UUID: 8-4-4-4-12 hex digits.
  const uint64_t a = Hash(PodKey(node, slot), 0xabc1);
  const uint64_t b = Hash(PodKey(node, slot), 0xabc2);
  AppendHex(out, a >> 32, 8);
  out->push_back('-');
  AppendHex(out, (a >> 16) & 0xffff, 4);
  out->push_back('-');
  AppendHex(out, 0x4000 | (a & 0x0fff), 4);
  out->push_back('-');
  AppendHex(out, 0x8000 | (b >> 48 & 0x3fff), 4);
  out->push_back('-');
  AppendHex(out, b & 0xffffffffffffull, 12);
}

void ClusterModel::AppendPodIp(std::string* out, int node, int slot) const {
  const std::string& cidr = node_info_[node].pod_cidr;
  out->append(cidr, 0, cidr.size() - 4);  // drop "0/24"
  AppendInt(out, 2 + slot % 250);
}

void ClusterModel::AppendOwnerName(std::string* out, int slot) const {
  const SlotInfo& info = slots_[slot];
  out->append(info.app->name);
  if (info.app->workload == Workload::kDeployment) {
    out->push_back('-');
    out->append(template_hash_[info.app_index]);
  }
}

std::string_view ClusterModel::TemplateHash(int slot) const {
  return template_hash_[slots_[slot].app_index];
}

void ClusterModel::AppendVolumeName(std::string* out, int node, int slot, int volume) const {
  const VolumeTemplate& v = *slots_[slot].volumes[volume];
  out->append(v.name);
  if (v.kind == VolumeKind::kProjected) {
    out->push_back('-');
    AppendRandomChars(out, Hash(PodKey(node, slot), 0x5a), 5);
  }
}

void ClusterModel::AppendClaimName(std::string* out, int node, int slot, int volume) const {
  out->append(slots_[slot].volumes[volume]->source);
  out->push_back('-');
  AppendPodName(out, node, slot);
}

void ClusterModel::AppendContainerId(std::string* out, int node, int slot, int container) const {
  uint64_t h = Hash(PodKey(node, slot), 0xc0000 + static_cast<uint64_t>(container));
  for (int i = 0; i < 4; ++i, h = Mix(h)) AppendHex(out, h, 16);
}

void ClusterModel::AppendImageDigest(std::string* out, std::string_view image) const {
  uint64_t h = Fnv(image);
  out->append("sha256:");
  for (int i = 0; i < 4; ++i, h = Mix(h)) AppendHex(out, h, 16);
}

int64_t ClusterModel::PodStartUnix(int node, int slot) const {
  const NodeInfo& ni = node_info_[node];
  const uint64_t key = Hash(PodKey(node, slot), kStartTime);
  if (slots_[slot].app->workload == Workload::kDaemonSet) {
    return ni.boot_unix + 30 + static_cast<int64_t>(key % 90);
  }
  // Anything from ten minutes to thirty days old, but never older than the node.
  const int64_t max_age = std::min<int64_t>(30 * kDay, start_unix_ - ni.boot_unix - 120);
  const double u = Unit(key);
  const int64_t age = 600 + static_cast<int64_t>(u * u * static_cast<double>(max_age - 600));
  return start_unix_ - age;
}

int64_t ClusterModel::ContainerStartUnix(int node, int slot, int container) const {
  const int64_t pod = PodStartUnix(node, slot);
  return pod + 2 + 2 * container + static_cast<int64_t>(Hash(PodKey(node, slot), 0x57) % 20);
}

int ClusterModel::PodTimeOffsetSeconds(int node, int slot) const {
  return static_cast<int>(Hash(PodKey(node, slot), kTimeOffset) % 5);
}

// ---- Values ----

void ClusterModel::ComputeContainer(int node, int slot, int c, int64_t tick, Detail detail,
                                    const NodeStats& ns, ContainerStats* out) const {
  const ContainerInfo& ci = slots_[slot].containers[c];
  const ContainerTemplate& t = *ci.tmpl;
  const uint64_t key = Hash(PodKey(node, slot), static_cast<uint64_t>(c) + 1);
  const uint64_t mem_limit = static_cast<uint64_t>(t.mem_limit_mi) * kMiB;
  double ws = t.working_set_mi * kMiB * (0.7 + 0.6 * Unit(Key(key, kMemFactor)));
  if (mem_limit > 0) ws = std::min(ws, 0.6 * static_cast<double>(mem_limit));
  const double mem_pick = Unit(Key(key, kMemStallPick));
  Profile p{
      .cpu_nano_cores = std::max(1e5, t.cpu_mean_m * 1e6 * (0.5 + Unit(Key(key, kCpuFactor)))),
      .working_set = ws,
      .memory_limit = mem_limit,
      .cpu_stall = 0.002 + 0.15 * std::pow(Unit(Key(key, kCpuStall)), 3),
      .memory_stall = mem_pick < 0.75 ? 0 : 0.0001 + 0.002 * mem_pick,
      .io_stall = 0.0005 + 0.01 * Unit(Key(key, kIoStall)),
      .page_faults_per_s = 2 + 200 * Unit(Key(key, kPageFaults)),
      .full_per_mille = 1000,  // one task group: full equals some, as in the real payloads
  };
  const int64_t age = std::max<int64_t>(1, start_unix_ - ContainerStartUnix(node, slot, c));
  out->cgroup = ComputeCgroup(key, p, age, tick, period_ms_, detail);
  // A long-running container on the first node passes 2^53 ns of CPU: exercises exactness.
  if (node == 0 && slot == 0 && c == 0) out->cgroup.cpu.usage_core_nano_seconds += 1ull << 54;
  out->cgroup.swap = SwapStats{true, 0, 0};
  out->processes = static_cast<uint32_t>(t.processes);
  if (detail == Detail::kUsage) return;

  // rootfs and logs live on the node filesystem and report its capacity and free space.
  FsStats fs = ns.fs;
  const double rootfs = 16 * kKiB + Unit(Key(key, kRootfsSize)) * 40 * kMiB;
  fs.used_bytes = PageAlign(Gauge(Key(key, kRootfs), rootfs, 0.1, tick)) + 4096;
  fs.inodes_used = 3 + Key(key, kRootfsInodes) % 200;
  out->rootfs = fs;
  const double logs = 8 * kKiB + Unit(Key(key, kLogsSize)) * 10 * kMiB;
  fs.used_bytes = PageAlign(Gauge(Key(key, kLogs), logs, 0.3, tick));
  fs.inodes_used = 1 + Key(key, kLogsSize) % 3;
  out->logs = fs;
}

void ClusterModel::ComputePod(int node, int slot, int64_t tick, Detail detail,
                              NodeStats* ns) const {
  const SlotInfo& info = slots_[slot];
  const uint64_t key = PodKey(node, slot);
  PodStats& pod = ns->pods[slot];
  pod = PodStats{};
  pod.ephemeral_storage = ns->fs;
  pod.ephemeral_storage.used_bytes = 0;
  pod.ephemeral_storage.inodes_used = 0;
  for (int c = 0; c < containers_per_pod_; ++c) {
    ContainerStats& cs = ns->containers[static_cast<size_t>(slot) * containers_per_pod_ + c];
    ComputeContainer(node, slot, c, tick, detail, *ns, &cs);
    AddCgroup(&pod.cgroup, cs.cgroup);
    pod.ephemeral_storage.used_bytes += cs.rootfs.used_bytes + cs.logs.used_bytes;
    pod.ephemeral_storage.inodes_used += cs.rootfs.inodes_used + cs.logs.inodes_used;
    pod.processes += cs.processes;
  }
  pod.cgroup.swap.has_available = false;
  if (info.memory_limited) {
    pod.cgroup.memory.has_available = true;
    const uint64_t ws = pod.cgroup.memory.working_set_bytes;
    pod.cgroup.memory.available_bytes =
        info.memory_limit_bytes > ws ? info.memory_limit_bytes - ws : 0;
  }
  if (detail == Detail::kUsage) return;

  // Only eth0 carries traffic; the tunnel devices exist in every netns and stay at zero.
  const int64_t age = std::max<int64_t>(1, start_unix_ - PodStartUnix(node, slot));
  const double bytes_per_s = 1024 + 200 * 1024 * std::pow(Unit(Key(key, kNetRate)), 2);
  const uint64_t rx_rate = static_cast<uint64_t>(bytes_per_s * period_ms_ / 1000);
  const uint64_t tx_rate = Ratio(rx_rate, 300 + static_cast<uint32_t>(Key(key, kTx) % 1200), 1000);
  InterfaceStats& eth0 = pod.interfaces[kPodInterfaceCount - 1];
  eth0.rx_bytes = Counter(Key(key, kRx), static_cast<uint64_t>(bytes_per_s * age), rx_rate, tick);
  eth0.tx_bytes = Counter(Key(key, kTx), Ratio(static_cast<uint64_t>(bytes_per_s * age), 700, 1000),
                          tx_rate, tick);

  // Volume stats refresh once a minute in the kubelet.
  const int64_t volume_tick = tick * period_ms_ / 60000;
  const NodeInfo& ni = node_info_[node];
  for (size_t v = 0; v < info.volumes.size(); ++v) {
    const VolumeTemplate& vt = *info.volumes[v];
    const uint64_t vkey = Hash(key, 0x7000 + v);
    FsStats& fs = ns->volumes[static_cast<size_t>(info.volume_offset) + v];
    switch (vt.kind) {
      case VolumeKind::kProjected:
      case VolumeKind::kConfigMap:
      case VolumeKind::kSecret: {
        // tmpfs: sized by the pod's memory limit, else by the node's memory.
        fs.capacity_bytes = info.memory_limited ? info.memory_limit_bytes : ni.allocatable_memory;
        fs.used_bytes = vt.kind == VolumeKind::kProjected ? 12288 : 4096 * (1 + vkey % 3);
        fs.inodes = ni.memory_bytes / 8192;
        fs.inodes_used = vt.kind == VolumeKind::kProjected ? 9 : 3 + 2 * (vkey % 3);
        break;
      }
      case VolumeKind::kEmptyDir: {
        fs.capacity_bytes = ns->fs.capacity_bytes;
        fs.used_bytes = PageAlign(
            Gauge(vkey, 4096 + Unit(Key(vkey, kVolumeSize)) * 200 * kMiB, 0.3, volume_tick));
        fs.inodes = ns->fs.inodes;
        fs.inodes_used = 1 + vkey % 50;
        pod.ephemeral_storage.used_bytes += fs.used_bytes;
        pod.ephemeral_storage.inodes_used += fs.inodes_used;
        break;
      }
      case VolumeKind::kPvc: {
        fs.capacity_bytes = PageAlign(Ratio(vt.capacity_gib * kGiB, 984, 1000));
        const double fill = 0.15 + 0.5 * Unit(Key(vkey, kVolumeSize));
        fs.used_bytes =
            PageAlign(Gauge(vkey, fill * static_cast<double>(fs.capacity_bytes), 0.1, volume_tick));
        fs.inodes = vt.capacity_gib * kGiB / 16384;
        fs.inodes_used = 11 + vkey % 5000;
        break;
      }
    }
    fs.used_bytes = std::min(fs.used_bytes, fs.capacity_bytes);
    fs.available_bytes = fs.capacity_bytes - fs.used_bytes;
    fs.inodes_free = fs.inodes - std::min(fs.inodes, fs.inodes_used);
    if (vt.kind == VolumeKind::kEmptyDir) {  // shares the node filesystem's free space
      fs.available_bytes = ns->fs.available_bytes;
      fs.inodes_free = ns->fs.inodes_free;
    }
  }
  pod.ephemeral_storage.used_bytes =
      std::min(pod.ephemeral_storage.used_bytes, pod.ephemeral_storage.capacity_bytes);
}

void ClusterModel::Compute(int node, int64_t tick, NodeStats* out, Detail detail) const {
  const NodeInfo& ni = node_info_[node];
  const uint64_t key = Hash(seed_, static_cast<uint64_t>(node) + 1);
  const int64_t uptime = start_unix_ - ni.boot_unix;
  out->pods.resize(pods_per_node_);
  out->containers.resize(static_cast<size_t>(pods_per_node_) * containers_per_pod_);
  out->volumes.resize(volumes_per_node_);

  // The node filesystem first: containers, emptyDirs and ephemeral storage report it.
  FsStats& fs = out->fs;
  fs.capacity_bytes = ni.fs_bytes;
  fs.used_bytes =
      ni.image_bytes +
      PageAlign(Gauge(Key(key, kFsOther), 0.08 * static_cast<double>(ni.fs_bytes), 0.1, tick));
  fs.available_bytes = fs.capacity_bytes - fs.used_bytes - fs.capacity_bytes / 20;  // root reserve
  fs.inodes = ni.fs_bytes / 16384;
  fs.inodes_used = 150000 + Gauge(Key(key, kRootfsInodes), 60000, 0.2, tick);
  fs.inodes_free = fs.inodes - fs.inodes_used;
  out->image_fs = fs;
  out->image_fs.used_bytes = ni.image_bytes;
  out->image_fs.inodes_used = 40000 + ni.image_bytes / (256 * kKiB);

  CgroupStats pods_total;
  uint32_t processes = 0;
  for (auto& iface : out->interfaces) iface = InterfaceStats{};
  for (int s = 0; s < pods_per_node_; ++s) {
    ComputePod(node, s, tick, detail, out);
    const PodStats& pod = out->pods[s];
    AddCgroup(&pods_total, pod.cgroup);
    processes += pod.processes;
    const InterfaceStats& eth0 = pod.interfaces[kPodInterfaceCount - 1];
    AddInterface(&out->interfaces[kNodeDefaultInterface], eth0);
    // The bridge sees a pod's transmit as receive.
    out->interfaces[2].rx_bytes += eth0.tx_bytes;
    out->interfaces[2].tx_bytes += eth0.rx_bytes;
  }

  // System containers: kubelet, runtime and misc have their own profiles; "pods" is the
  // kubepods cgroup: the pods plus a little of its own.
  const double cores = ni.cores;
  const Profile system[kSystemContainerCount] = {
      {4e7 + 4e5 * cores, 80.0 * kMiB, 0, 0.004, 0, 0.002, 20, 990},
      {2.5e7 + 2e5 * cores, 60.0 * kMiB, 0, 0.003, 0, 0.002, 15, 990},
      {2e6, 8.0 * kMiB, 0, 0.002, 0, 0.001, 5, 990},
      {1.5e7, 120.0 * kMiB, 0, 0.001, 0, 0.001, 10, 990},
  };
  CgroupStats node_total;
  for (int i = 0; i < kSystemContainerCount; ++i) {
    CgroupStats& sys = out->system[i];
    sys = ComputeCgroup(Hash(key, 0x5000 + static_cast<uint64_t>(i)), system[i], uptime, tick,
                        period_ms_, detail);
    if (i == kPodsSystemContainer) {
      const PsiStats cpu_psi = sys.cpu.psi;
      AddCgroup(&sys, pods_total);
      sys.cpu.psi = cpu_psi;
      sys.memory.has_available = true;
      sys.memory.available_bytes = ni.allocatable_memory > sys.memory.working_set_bytes
                                       ? ni.allocatable_memory - sys.memory.working_set_bytes
                                       : 0;
    }
    sys.swap = SwapStats{false, 0, 0};
    AddCgroup(&node_total, sys);
  }

  // The node: the system containers plus the kernel and everything outside the cgroups.
  const Profile kernel{0.02e9 * cores, 400.0 * kMiB, 0, 0, 0, 0, 50, 900};
  AddCgroup(&node_total,
            ComputeCgroup(Hash(key, 0x6000), kernel, uptime, tick, period_ms_, detail));
  CgroupStats& nc = out->node;
  nc = node_total;
  // A node up for ages on a big machine: its CPU counter sits near 2^60.
  if (node == 0) nc.cpu.usage_core_nano_seconds += 1ull << 60;
  const double page_cache = 0.15 * static_cast<double>(ni.memory_bytes);
  nc.memory.usage_bytes += PageAlign(Gauge(Key(key, kPageCache), page_cache, 0.2, tick));
  nc.memory.has_available = true;
  nc.memory.available_bytes = ni.memory_bytes > nc.memory.working_set_bytes
                                  ? ni.memory_bytes - nc.memory.working_set_bytes
                                  : 0;
  nc.swap = SwapStats{true, ni.swap_bytes, 0};
  out->max_pid = 4194304;
  out->cur_proc = processes + 180 + Gauge(Key(key, kProcOther), 40, 0.25, tick);
  if (detail == Detail::kUsage) return;

  nc.cpu.psi = MakePsi(Hash(key, 0x6001), 0.01 + 0.04 * Unit(Key(key, kCpuStall)), 900, uptime,
                       tick, period_ms_);
  nc.memory.psi = MakePsi(Hash(key, 0x6002), 0.0002, 150, uptime, tick, period_ms_);
  nc.io = MakePsi(Hash(key, 0x6003), 0.002, 900, uptime, tick, period_ms_);

  // Host traffic on eth0 on top of the pods'; the first node's counter starts past 2^53.
  const double host_bps = 50 * 1024 + 500 * 1024 * Unit(Key(key, kNetRate));
  const uint64_t host_rate = static_cast<uint64_t>(host_bps * period_ms_ / 1000);
  const uint64_t host_base =
      static_cast<uint64_t>(host_bps * static_cast<double>(uptime)) + (node == 0 ? 1ull << 54 : 0);
  InterfaceStats& eth0 = out->interfaces[kNodeDefaultInterface];
  eth0.rx_bytes += Counter(Key(key, kRx), host_base, host_rate, tick);
  eth0.tx_bytes += Counter(Key(key, kTx), Ratio(host_base, 400, 1000), host_rate / 3, tick);
  eth0.rx_errors = Key(key, kRx) % 3;
}

}  // namespace kmb::sim
