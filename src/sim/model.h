#pragma once
// The simulated cluster's shape and numbers. Nothing per pod is stored: a pod is (node, slot),
// every node has the same slot layout, and names, uids and values are pure functions of
// (seed, node, slot, container, tick). That keeps 5,000 nodes x 110 pods cheap in memory and
// makes every answer reproducible.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kmb/sim/cluster.h"

namespace kmb::sim {

// ---- One sample of the kubelet Summary's building blocks (stats/v1alpha1) ----

struct PsiStats {
  uint64_t some_total = 0;  // microseconds stalled, monotonic
  uint64_t full_total = 0;
  uint32_t some_avg[3] = {};  // avg10, avg60, avg300 in hundredths of a percent
  uint32_t full_avg[3] = {};
};

struct CpuStats {
  uint64_t usage_nano_cores = 0;
  uint64_t usage_core_nano_seconds = 0;
  PsiStats psi;
};

struct MemoryStats {
  bool has_available = false;  // only when the cgroup has a memory limit
  uint64_t available_bytes = 0;
  uint64_t usage_bytes = 0;
  uint64_t working_set_bytes = 0;
  uint64_t rss_bytes = 0;
  uint64_t page_faults = 0;
  uint64_t major_page_faults = 0;
  PsiStats psi;
};

struct FsStats {
  uint64_t available_bytes = 0;
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t inodes_free = 0;
  uint64_t inodes = 0;
  uint64_t inodes_used = 0;
};

struct InterfaceStats {
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_errors = 0;
};

struct SwapStats {
  bool has_available = false;  // containers report swapAvailableBytes, pods do not
  uint64_t available_bytes = 0;
  uint64_t usage_bytes = 0;
};

// What every cgroup reports: cpu, memory, io (PSI only) and swap.
struct CgroupStats {
  CpuStats cpu;
  MemoryStats memory;
  PsiStats io;
  SwapStats swap;
};

struct ContainerStats {
  CgroupStats cgroup;
  FsStats rootfs;
  FsStats logs;
  uint32_t processes = 0;
};

// Interfaces as seen from a pod's network namespace; the last one is the default (eth0).
inline constexpr const char* kPodInterfaces[] = {"tunl0", "ip6tnl0", "eth0"};
inline constexpr int kPodInterfaceCount = 3;
// Interfaces of the node; eth0 is the default.
inline constexpr const char* kNodeInterfaces[] = {"tunl0", "ip6tnl0", "cni0", "eth0"};
inline constexpr int kNodeInterfaceCount = 4;
inline constexpr int kNodeDefaultInterface = 3;

struct PodStats {
  CgroupStats cgroup;
  InterfaceStats interfaces[kPodInterfaceCount];
  FsStats ephemeral_storage;
  uint32_t processes = 0;
};

inline constexpr const char* kSystemContainers[] = {"kubelet", "runtime", "pods", "misc"};
inline constexpr int kSystemContainerCount = 4;
inline constexpr int kPodsSystemContainer = 2;

// A whole node at one tick. Pods and containers are flat: pod p's containers are
// containers[p * containers_per_pod ...], its volumes volumes[slot(p).volume_offset ...].
struct NodeStats {
  CgroupStats system[kSystemContainerCount];
  CgroupStats node;
  InterfaceStats interfaces[kNodeInterfaceCount];
  FsStats fs;
  FsStats image_fs;  // containerFs is the same filesystem (no split image filesystem)
  uint64_t max_pid = 0;
  uint64_t cur_proc = 0;
  std::vector<PodStats> pods;
  std::vector<ContainerStats> containers;
  std::vector<FsStats> volumes;
};

// ---- The static shape ----

enum class Workload { kDeployment, kStatefulSet, kDaemonSet };
enum class VolumeKind { kProjected, kConfigMap, kSecret, kEmptyDir, kPvc };

struct VolumeTemplate {
  const char* name;  // the volume name in the pod spec (projected: kube-api-access-<suffix>)
  VolumeKind kind;
  const char* source;     // configMap or secret name; PVC claim template name
  uint64_t capacity_gib;  // PVC size
};

struct ContainerTemplate {
  const char* name;
  const char* image;
  int cpu_request_m, cpu_limit_m;    // 0 = not set
  int mem_request_mi, mem_limit_mi;  // 0 = not set
  int cpu_mean_m;                    // typical usage
  int working_set_mi;
  int processes;
};

struct AppTemplate {
  const char* ns;
  const char* name;
  Workload workload;
  ContainerTemplate main;
  std::vector<VolumeTemplate> volumes;  // the projected service-account volume is added to all
};

struct ContainerInfo {
  std::string name;
  const ContainerTemplate* tmpl;
};

// The same on every node.
struct SlotInfo {
  const AppTemplate* app = nullptr;
  int app_index = 0;
  int rank = 0;  // index among this app's slots on a node
  std::vector<ContainerInfo> containers;
  std::vector<const VolumeTemplate*> volumes;
  const char* qos_class = "BestEffort";
  bool memory_limited = false;      // every container has a memory limit: the pod cgroup has one
  uint64_t memory_limit_bytes = 0;  // their sum
  int volume_offset = 0;            // first volume in NodeStats::volumes
};

struct NodeInfo {
  int64_t boot_unix = 0;
  int cores = 0;
  uint64_t memory_bytes = 0;  // capacity
  uint64_t allocatable_memory = 0;
  int allocatable_cpu_m = 0;
  uint64_t fs_bytes = 0;
  uint64_t image_bytes = 0;
  uint64_t swap_bytes = 0;
  std::string instance_type;
  std::string zone;
  std::string internal_ip;
  int kubelet_port = 10250;  // status.daemonEndpoints.kubeletEndpoint.Port
  std::string pod_cidr;
};

// How much of a node to compute: everything the Summary shows, or only cpu and memory
// (what metrics.k8s.io serves; the same numbers, several times cheaper).
enum class Detail { kFull, kUsage };

struct PodRef {
  int node = 0;
  int slot = 0;
};

class ClusterModel {
 public:
  // `start_unix`: wall time of tick 0. Validates nothing: SimulatedCluster::Start does.
  ClusterModel(const SimOptions& options, int64_t start_unix);

  int nodes() const { return nodes_; }
  int pods_per_node() const { return pods_per_node_; }
  int containers_per_pod() const { return containers_per_pod_; }
  int64_t start_unix() const { return start_unix_; }
  // The nominal period counters advance by per tick; 10 s when ticking on every request.
  int64_t period_millis() const { return period_ms_; }
  const SlotInfo& slot(int s) const { return slots_[s]; }
  const NodeInfo& node(int n) const { return node_info_[n]; }
  // Where the node's kubelet listens (the simulator's own kubelet listeners); before serving.
  void SetKubeletEndpoint(int n, std::string ip, int port) {
    node_info_[n].internal_ip = std::move(ip);
    node_info_[n].kubelet_port = port;
  }
  int volumes_per_node() const { return volumes_per_node_; }

  std::string NodeName(int node) const;
  void AppendNodeName(std::string* out, int node) const;
  int FindNode(std::string_view name) const;  // -1 when unknown

  std::string_view PodNamespace(int slot) const { return slots_[slot].app->ns; }
  void AppendPodName(std::string* out, int node, int slot) const;
  std::string PodName(int node, int slot) const;
  bool FindPod(std::string_view ns, std::string_view name, PodRef* out) const;
  void AppendPodUid(std::string* out, int node, int slot) const;
  void AppendPodIp(std::string* out, int node, int slot) const;
  // The owner's name (ReplicaSet "web-7d4b9c8f6d", StatefulSet "postgres", DaemonSet).
  void AppendOwnerName(std::string* out, int slot) const;
  std::string_view TemplateHash(int slot) const;  // pod-template-hash / controller revision
  // "kube-api-access-x2k9p" and friends: the volume's name in the spec and the Summary.
  void AppendVolumeName(std::string* out, int node, int slot, int volume) const;
  // The PVC claim name of a StatefulSet volume: "<template>-<pod name>".
  void AppendClaimName(std::string* out, int node, int slot, int volume) const;
  // Hex ids for containerd://<id> and image digests.
  void AppendContainerId(std::string* out, int node, int slot, int container) const;
  void AppendImageDigest(std::string* out, std::string_view image) const;

  int64_t PodStartUnix(int node, int slot) const;
  int64_t ContainerStartUnix(int node, int slot, int container) const;
  // Pods' stats are collected a few seconds apart, as cAdvisor housekeeping does it.
  int PodTimeOffsetSeconds(int node, int slot) const;

  // All values of one node at `tick` (>= 0). `out` is reused across calls. With kUsage only
  // cpu, memory, swap and process counts are filled in.
  void Compute(int node, int64_t tick, NodeStats* out, Detail detail = Detail::kFull) const;

 private:
  void ComputeContainer(int node, int slot, int c, int64_t tick, Detail detail, const NodeStats& ns,
                        ContainerStats* out) const;
  void ComputePod(int node, int slot, int64_t tick, Detail detail, NodeStats* ns) const;
  uint64_t PodKey(int node, int slot) const;

  uint64_t seed_;
  int nodes_;
  int pods_per_node_;
  int containers_per_pod_;
  int volumes_per_node_ = 0;
  int64_t start_unix_;
  int64_t period_ms_;
  std::vector<SlotInfo> slots_;
  std::vector<NodeInfo> node_info_;
  std::vector<int> app_count_;               // slots per node for each app
  std::vector<std::vector<int>> app_slots_;  // app -> its slots, by rank
  std::vector<std::string> template_hash_;   // per app
};

}  // namespace kmb::sim
