#include "sim/render.h"

#include <algorithm>
#include <functional>

#include "sim/format.h"

namespace kmb::sim {
namespace {

// Times are written often; format each distinct one once per call site.
struct TimeText {
  char buf[kRfc3339Size];
  explicit TimeText(int64_t unix_seconds) { FormatRfc3339(unix_seconds, buf); }
  std::string_view view() const { return {buf, sizeof(buf)}; }
};

// ---- The Summary's repeated blocks: one writer each, shared by node, pods and containers ----

void WritePsiLine(JsonWriter& w, std::string_view key, uint64_t total, const uint32_t avg[3]) {
  w.Key(key).BeginObject();
  w.Field("total", total);
  w.Key("avg10").Hundredths(avg[0]);
  w.Key("avg60").Hundredths(avg[1]);
  w.Key("avg300").Hundredths(avg[2]);
  w.EndObject();
}

void WritePsi(JsonWriter& w, const PsiStats& psi) {
  w.Key("psi").BeginObject();
  WritePsiLine(w, "full", psi.full_total, psi.full_avg);
  WritePsiLine(w, "some", psi.some_total, psi.some_avg);
  w.EndObject();
}

void WriteCpu(JsonWriter& w, std::string_view time, const CpuStats& cpu) {
  w.Key("cpu").BeginObject();
  w.Field("time", time);
  w.Field("usageNanoCores", cpu.usage_nano_cores);
  w.Field("usageCoreNanoSeconds", cpu.usage_core_nano_seconds);
  WritePsi(w, cpu.psi);
  w.EndObject();
}

void WriteMemory(JsonWriter& w, std::string_view time, const MemoryStats& m) {
  w.Key("memory").BeginObject();
  w.Field("time", time);
  if (m.has_available) w.Field("availableBytes", m.available_bytes);
  w.Field("usageBytes", m.usage_bytes);
  w.Field("workingSetBytes", m.working_set_bytes);
  w.Field("rssBytes", m.rss_bytes);
  w.Field("pageFaults", m.page_faults);
  w.Field("majorPageFaults", m.major_page_faults);
  WritePsi(w, m.psi);
  w.EndObject();
}

void WriteIo(JsonWriter& w, std::string_view time, const PsiStats& io) {
  w.Key("io").BeginObject();
  w.Field("time", time);
  WritePsi(w, io);
  w.EndObject();
}

// cpu, memory and io: the head every cgroup shares.
void WriteCgroup(JsonWriter& w, std::string_view time, const CgroupStats& s) {
  WriteCpu(w, time, s.cpu);
  WriteMemory(w, time, s.memory);
  WriteIo(w, time, s.io);
}

void WriteSwap(JsonWriter& w, std::string_view time, const SwapStats& s) {
  w.Key("swap").BeginObject();
  w.Field("time", time);
  if (s.has_available) w.Field("swapAvailableBytes", s.available_bytes);
  w.Field("swapUsageBytes", s.usage_bytes);
  w.EndObject();
}

void WriteFsFields(JsonWriter& w, std::string_view time, const FsStats& fs) {
  w.Field("time", time);
  w.Field("availableBytes", fs.available_bytes);
  w.Field("capacityBytes", fs.capacity_bytes);
  w.Field("usedBytes", fs.used_bytes);
  w.Field("inodesFree", fs.inodes_free);
  w.Field("inodes", fs.inodes);
  w.Field("inodesUsed", fs.inodes_used);
}

void WriteFs(JsonWriter& w, std::string_view key, std::string_view time, const FsStats& fs) {
  w.Key(key).BeginObject();
  WriteFsFields(w, time, fs);
  w.EndObject();
}

void WriteInterfaceCounters(JsonWriter& w, const InterfaceStats& i) {
  w.Field("rxBytes", i.rx_bytes);
  w.Field("rxErrors", i.rx_errors);
  w.Field("txBytes", i.tx_bytes);
  w.Field("txErrors", i.tx_errors);
}

// The default interface's counters are repeated at the top level, as the kubelet does.
void WriteNetwork(JsonWriter& w, std::string_view time, const InterfaceStats* ifaces,
                  const char* const* names, int count, int default_index) {
  w.Key("network").BeginObject();
  w.Field("time", time);
  w.Field("name", names[default_index]);
  WriteInterfaceCounters(w, ifaces[default_index]);
  w.Key("interfaces").BeginArray();
  for (int i = 0; i < count; ++i) {
    w.BeginObject();
    w.Field("name", names[i]);
    WriteInterfaceCounters(w, ifaces[i]);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void WriteTime(JsonWriter& w, std::string_view key, int64_t unix_seconds) {
  w.Key(key).BeginString();
  AppendRfc3339(w.out(), unix_seconds);
  w.EndString();
}

// ---- Summary ----

void WriteSummaryNode(JsonWriter& w, const ClusterModel& model, int node, const NodeStats& s,
                      std::string_view time) {
  const NodeInfo& ni = model.node(node);
  w.Key("node").BeginObject();
  w.Key("nodeName").BeginString();
  model.AppendNodeName(w.out(), node);
  w.EndString();
  w.Key("systemContainers").BeginArray();
  for (int i = 0; i < kSystemContainerCount; ++i) {
    w.BeginObject();
    w.Field("name", kSystemContainers[i]);
    WriteTime(w, "startTime", ni.boot_unix + 5 + 11 * i);
    WriteCgroup(w, time, s.system[i]);
    // stats/v1alpha1 lets a system container carry rootfs and logs (capacity and availability
    // of the node filesystem; older kubelets sent them, see the 2016 capture). The last one
    // (misc) carries them so the demo shows those series; the others keep the 1.35 shape.
    for (const char* key : {"rootfs", "logs"}) {
      if (i != kSystemContainerCount - 1) break;
      w.Key(key).BeginObject();
      w.Field("availableBytes", s.fs.available_bytes);
      w.Field("capacityBytes", s.fs.capacity_bytes);
      w.EndObject();
    }
    WriteSwap(w, time, s.system[i].swap);
    w.EndObject();
  }
  w.EndArray();
  WriteTime(w, "startTime", ni.boot_unix);
  WriteCgroup(w, time, s.node);
  WriteNetwork(w, time, s.interfaces, kNodeInterfaces, kNodeInterfaceCount, kNodeDefaultInterface);
  WriteFs(w, "fs", time, s.fs);
  w.Key("runtime").BeginObject();
  WriteFs(w, "imageFs", time, s.image_fs);
  WriteFs(w, "containerFs", time, s.image_fs);
  w.EndObject();
  w.Key("rlimit").BeginObject();
  w.Field("time", time);
  w.Field("maxpid", s.max_pid);
  w.Field("curproc", s.cur_proc);
  w.EndObject();
  WriteSwap(w, time, s.node.swap);
  w.EndObject();
}

void WriteSummaryPod(JsonWriter& w, const ClusterModel& model, int node, int slot,
                     const NodeStats& s, const SampleTimes& times) {
  const SlotInfo& info = model.slot(slot);
  const PodStats& pod = s.pods[slot];
  // Each pod is housekept a few seconds apart; volumes are measured once a minute.
  const TimeText time(times.sample_unix - model.PodTimeOffsetSeconds(node, slot));
  const TimeText volume_time(
      std::max(times.sample_unix / 60 * 60, model.PodStartUnix(node, slot) + 30));
  w.BeginObject();
  w.Key("podRef").BeginObject();
  w.Key("name").BeginString();
  model.AppendPodName(w.out(), node, slot);
  w.EndString();
  w.Field("namespace", model.PodNamespace(slot));
  w.Key("uid").BeginString();
  model.AppendPodUid(w.out(), node, slot);
  w.EndString();
  w.EndObject();
  WriteTime(w, "startTime", model.PodStartUnix(node, slot));

  w.Key("containers").BeginArray();
  const int cpp = model.containers_per_pod();
  for (int c = 0; c < cpp; ++c) {
    const ContainerStats& cs = s.containers[static_cast<size_t>(slot) * cpp + c];
    w.BeginObject();
    w.Field("name", info.containers[c].name);
    WriteTime(w, "startTime", model.ContainerStartUnix(node, slot, c));
    WriteCgroup(w, time.view(), cs.cgroup);
    WriteFs(w, "rootfs", time.view(), cs.rootfs);
    WriteFs(w, "logs", time.view(), cs.logs);
    WriteSwap(w, time.view(), cs.cgroup.swap);
    if (c == 0 && std::string_view(info.app->name) == "indexer") {
      // The indexer's main container holds a GPU, so the accelerator block appears too.
      const uint64_t total = uint64_t{16} << 30;
      w.Key("accelerators").BeginArray();
      w.BeginObject();
      w.Field("make", "nvidia");
      w.Field("model", "tesla-t4");
      w.Key("id").BeginString();
      w.out()->append("GPU-");
      model.AppendPodUid(w.out(), node, slot);
      w.EndString();
      w.Field("memoryTotal", total);
      w.Field("memoryUsed", cs.cgroup.memory.working_set_bytes % total);
      w.Field("dutyCycle", cs.cgroup.cpu.usage_nano_cores % 101);
      w.EndObject();
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();

  WriteCgroup(w, time.view(), pod.cgroup);
  WriteNetwork(w, time.view(), pod.interfaces, kPodInterfaces, kPodInterfaceCount,
               kPodInterfaceCount - 1);
  if (!info.volumes.empty()) {
    w.Key("volume").BeginArray();
    for (size_t v = 0; v < info.volumes.size(); ++v) {
      w.BeginObject();
      WriteFsFields(w, volume_time.view(), s.volumes[static_cast<size_t>(info.volume_offset) + v]);
      w.Key("name").BeginString();
      model.AppendVolumeName(w.out(), node, slot, static_cast<int>(v));
      w.EndString();
      if (info.volumes[v]->kind == VolumeKind::kPvc) {
        w.Key("pvcRef").BeginObject();
        w.Key("name").BeginString();
        model.AppendClaimName(w.out(), node, slot, static_cast<int>(v));
        w.EndString();
        w.Field("namespace", model.PodNamespace(slot));
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndArray();
  }
  WriteFs(w, "ephemeral-storage", time.view(), pod.ephemeral_storage);
  w.Key("process_stats").BeginObject();
  w.Field("process_count", static_cast<uint64_t>(pod.processes));
  w.EndObject();
  WriteSwap(w, time.view(), pod.cgroup.swap);
  w.EndObject();
}

// ---- core/v1 objects ----

void WriteNodeLabels(JsonWriter& w, const ClusterModel& model, int node) {
  const NodeInfo& ni = model.node(node);
  w.Key("labels").BeginObject();  // sorted, as Go marshals maps
  w.Field("beta.kubernetes.io/arch", "amd64");
  w.Field("beta.kubernetes.io/instance-type", ni.instance_type);
  w.Field("beta.kubernetes.io/os", "linux");
  w.Field("kubernetes.io/arch", "amd64");
  w.Key("kubernetes.io/hostname").BeginString();
  model.AppendNodeName(w.out(), node);
  w.EndString();
  w.Field("kubernetes.io/os", "linux");
  if (node == 0) w.Field("node-role.kubernetes.io/control-plane", "");
  w.Field("node.kubernetes.io/instance-type", ni.instance_type);
  w.Field("topology.kubernetes.io/region", "sim-region-1");
  w.Field("topology.kubernetes.io/zone", ni.zone);
  w.EndObject();
}

void WriteCpuMilli(JsonWriter& w, std::string_view key, int64_t millis) {
  w.Key(key).BeginString();
  AppendDecimalSI(w.out(), millis, -3);
  w.EndString();
}

void WriteBytes(JsonWriter& w, std::string_view key, uint64_t bytes) {
  w.Key(key).BeginString();
  AppendBinarySI(w.out(), bytes);
  w.EndString();
}

void WriteNodeResources(JsonWriter& w, std::string_view key, const NodeInfo& ni, bool allocatable,
                        int pods) {
  w.Key(key).BeginObject();
  WriteCpuMilli(w, "cpu", allocatable ? ni.allocatable_cpu_m : ni.cores * 1000);
  WriteBytes(w, "ephemeral-storage", allocatable ? ni.fs_bytes / 10 * 9 : ni.fs_bytes);
  w.Field("hugepages-1Gi", "0");
  w.Field("hugepages-2Mi", "0");
  WriteBytes(w, "memory", allocatable ? ni.allocatable_memory : ni.memory_bytes);
  w.Field("pods", std::to_string(pods));
  w.EndObject();
}

void WriteCondition(JsonWriter& w, const char* type, const char* status, const char* reason,
                    const char* message, std::string_view heartbeat, std::string_view since) {
  w.BeginObject();
  w.Field("type", type);
  w.Field("status", status);
  w.Field("lastHeartbeatTime", heartbeat);
  w.Field("lastTransitionTime", since);
  w.Field("reason", reason);
  w.Field("message", message);
  w.EndObject();
}

// 32 hex digits from two words, as a UUID (8-4-4-4-12) or plain (machine-id).
void WriteHexId(JsonWriter& w, std::string_view key, uint64_t a, uint64_t b, bool dashes) {
  static constexpr char kHex[] = "0123456789abcdef";
  w.Key(key).BeginString();
  std::string* out = w.out();
  for (int i = 0; i < 32; ++i) {
    if (dashes && (i == 8 || i == 12 || i == 16 || i == 20)) out->push_back('-');
    const uint64_t src = i < 16 ? a : b;
    out->push_back(kHex[(src >> (4 * (15 - i % 16))) & 15]);
  }
  w.EndString();
}

void WriteUuid(JsonWriter& w, std::string_view key, uint64_t a, uint64_t b) {
  WriteHexId(w, key, a, b, true);
}

void WriteHex(JsonWriter& w, std::string_view key, uint64_t a, uint64_t b) {
  WriteHexId(w, key, a, b, false);
}

std::string_view ImageRepository(std::string_view image) {
  const size_t colon = image.rfind(':');
  const size_t slash = image.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    return image.substr(0, colon);
  }
  return image;
}

void WriteContainerResources(JsonWriter& w, const ContainerTemplate& t) {
  constexpr uint64_t kMiB = 1 << 20;
  w.Key("resources").BeginObject();
  if (t.cpu_limit_m > 0 || t.mem_limit_mi > 0) {
    w.Key("limits").BeginObject();
    if (t.cpu_limit_m > 0) WriteCpuMilli(w, "cpu", t.cpu_limit_m);
    if (t.mem_limit_mi > 0) WriteBytes(w, "memory", t.mem_limit_mi * kMiB);
    // Memory-limited containers also bound their scratch space (k8s_container_ephemeral_*).
    if (t.mem_limit_mi > 0) WriteBytes(w, "ephemeral-storage", 2048 * kMiB);
    w.EndObject();
  }
  // Requests default to limits when only limits are set.
  const int cpu_req = t.cpu_request_m > 0 ? t.cpu_request_m : t.cpu_limit_m;
  const int mem_req = t.mem_request_mi > 0 ? t.mem_request_mi : t.mem_limit_mi;
  if (cpu_req > 0 || mem_req > 0) {
    w.Key("requests").BeginObject();
    if (cpu_req > 0) WriteCpuMilli(w, "cpu", cpu_req);
    if (mem_req > 0) WriteBytes(w, "memory", mem_req * kMiB);
    if (t.mem_limit_mi > 0) WriteBytes(w, "ephemeral-storage", 1024 * kMiB);
    w.EndObject();
  }
  w.EndObject();
}

void WritePodLabels(JsonWriter& w, const ClusterModel& model, int node, int slot) {
  const AppTemplate& app = *model.slot(slot).app;
  w.Key("labels").BeginObject();  // sorted keys
  w.Field("app", app.name);
  switch (app.workload) {
    case Workload::kDeployment:
      w.Field("pod-template-hash", model.TemplateHash(slot));
      break;
    case Workload::kStatefulSet:
      w.Key("apps.kubernetes.io/pod-index").BeginString();
      {
        const std::string name = model.PodName(node, slot);
        w.out()->append(name, name.rfind('-') + 1);
      }
      w.EndString();
      w.Key("controller-revision-hash").BeginString();
      w.out()->append(app.name).append("-").append(model.TemplateHash(slot));
      w.EndString();
      w.Key("statefulset.kubernetes.io/pod-name").BeginString();
      model.AppendPodName(w.out(), node, slot);
      w.EndString();
      break;
    case Workload::kDaemonSet:
      w.Field("controller-revision-hash", model.TemplateHash(slot));
      w.Field("pod-template-generation", "1");
      break;
  }
  w.EndObject();
}

constexpr std::string_view kProjectedSources =
    R"({"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},)"
    R"({"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},)"
    R"({"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1",)"
    R"("fieldPath":"metadata.namespace"}}]}}],"defaultMode":420})";

void WritePodVolumes(JsonWriter& w, const ClusterModel& model, int node, int slot) {
  const SlotInfo& info = model.slot(slot);
  w.Key("volumes").BeginArray();
  for (size_t v = 0; v < info.volumes.size(); ++v) {
    const VolumeTemplate& vt = *info.volumes[v];
    w.BeginObject();
    w.Key("name").BeginString();
    model.AppendVolumeName(w.out(), node, slot, static_cast<int>(v));
    w.EndString();
    switch (vt.kind) {
      case VolumeKind::kProjected:
        w.Key("projected").Raw(kProjectedSources);
        break;
      case VolumeKind::kConfigMap:
        w.Key("configMap").BeginObject();
        w.Field("name", vt.source);
        w.Field("defaultMode", 420);
        w.EndObject();
        break;
      case VolumeKind::kSecret:
        w.Key("secret").BeginObject();
        w.Field("secretName", vt.source);
        w.Field("defaultMode", 420);
        w.EndObject();
        break;
      case VolumeKind::kEmptyDir:
        w.Key("emptyDir").BeginObject();
        w.EndObject();
        break;
      case VolumeKind::kPvc:
        w.Key("persistentVolumeClaim").BeginObject();
        w.Key("claimName").BeginString();
        model.AppendClaimName(w.out(), node, slot, static_cast<int>(v));
        w.EndString();
        w.EndObject();
        break;
    }
    w.EndObject();
  }
  w.EndArray();
}

void WritePodCondition(JsonWriter& w, const char* type, int64_t since) {
  w.BeginObject();
  w.Field("type", type);
  w.Field("status", "True");
  w.Key("lastProbeTime").Null();
  WriteTime(w, "lastTransitionTime", since);
  w.EndObject();
}

void WriteWindow(JsonWriter& w, int64_t window_ms) {
  w.Field("window", GoDurationMillis(window_ms));
}

void WriteUsage(JsonWriter& w, const CgroupStats& s) {
  w.Key("usage").BeginObject();
  w.Key("cpu").BeginString();
  AppendDecimalSI(w.out(), static_cast<int64_t>(s.cpu.usage_nano_cores), -9);
  w.EndString();
  w.Key("memory").BeginString();
  AppendBinarySI(w.out(), s.memory.working_set_bytes);
  w.EndString();
  w.EndObject();
}

// metrics-server's window is the time between its two scrapes: a period and some jitter.
int64_t WindowMillis(const ClusterModel& model, int node, int64_t tick) {
  return model.period_millis() +
         static_cast<int64_t>((static_cast<uint64_t>(node) * 7919 + tick * 104729) % 97);
}

}  // namespace

void RenderSummary(const ClusterModel& model, int node, const NodeStats& stats,
                   const SampleTimes& times, std::string* out,
                   const std::function<bool(int slot)>& pod_present) {
  const TimeText time(times.sample_unix);
  JsonWriter w(out);
  w.BeginObject();
  WriteSummaryNode(w, model, node, stats, time.view());
  w.Key("pods").BeginArray();
  for (int s = 0; s < model.pods_per_node(); ++s) {
    if (!pod_present || pod_present(s)) WriteSummaryPod(w, model, node, s, stats, times);
  }
  w.EndArray();
  w.EndObject();
}

void RenderNode(JsonWriter& w, const ClusterModel& model, int node, bool with_type_meta) {
  const NodeInfo& ni = model.node(node);
  const uint64_t key = std::hash<std::string>()(model.NodeName(node));
  w.BeginObject();
  if (with_type_meta) {
    w.Field("kind", "Node");
    w.Field("apiVersion", "v1");
  }
  w.Key("metadata").BeginObject();
  w.Key("name").BeginString();
  model.AppendNodeName(w.out(), node);
  w.EndString();
  WriteUuid(w, "uid", key * 0x9e3779b97f4a7c15ull, ~key * 0xc2b2ae3d27d4eb4full);
  w.Field("resourceVersion", std::to_string(1000 + node));
  WriteTime(w, "creationTimestamp", ni.boot_unix + 40);
  WriteNodeLabels(w, model, node);
  w.Key("annotations").BeginObject();
  w.Field("node.alpha.kubernetes.io/ttl", "0");
  w.Field("volumes.kubernetes.io/controller-managed-attach-detach", "true");
  w.EndObject();
  w.EndObject();

  w.Key("spec").BeginObject();
  w.Field("podCIDR", ni.pod_cidr);
  w.Key("podCIDRs").BeginArray();
  w.String(ni.pod_cidr);
  w.EndArray();
  w.EndObject();

  const int pods = std::max(110, model.pods_per_node());
  const TimeText heartbeat(model.start_unix());
  const TimeText since(ni.boot_unix + 60);
  w.Key("status").BeginObject();
  WriteNodeResources(w, "capacity", ni, false, pods);
  WriteNodeResources(w, "allocatable", ni, true, pods);
  w.Key("conditions").BeginArray();
  WriteCondition(w, "MemoryPressure", "False", "KubeletHasSufficientMemory",
                 "kubelet has sufficient memory available", heartbeat.view(), since.view());
  WriteCondition(w, "DiskPressure", "False", "KubeletHasNoDiskPressure",
                 "kubelet has no disk pressure", heartbeat.view(), since.view());
  WriteCondition(w, "PIDPressure", "False", "KubeletHasSufficientPID",
                 "kubelet has sufficient PID available", heartbeat.view(), since.view());
  WriteCondition(w, "Ready", "True", "KubeletReady", "kubelet is posting ready status",
                 heartbeat.view(), since.view());
  w.EndArray();
  w.Key("addresses").BeginArray();
  w.BeginObject();
  w.Field("type", "InternalIP");
  w.Field("address", ni.internal_ip);
  w.EndObject();
  w.BeginObject();
  w.Field("type", "Hostname");
  w.Key("address").BeginString();
  model.AppendNodeName(w.out(), node);
  w.EndString();
  w.EndObject();
  w.EndArray();
  w.Key("daemonEndpoints").BeginObject();
  w.Key("kubeletEndpoint").BeginObject();
  w.Field("Port", ni.kubelet_port);
  w.EndObject();
  w.EndObject();
  w.Key("nodeInfo").BeginObject();
  WriteHex(w, "machineID", key * 0xd6e8feb86659fd93ull, key ^ 0xa0761d6478bd642full);
  WriteUuid(w, "systemUUID", key * 0xff51afd7ed558ccdull, key ^ 0xc4ceb9fe1a85ec53ull);
  WriteUuid(w, "bootID", key * 0x2545f4914f6cdd1dull, static_cast<uint64_t>(ni.boot_unix) * key);
  w.Field("kernelVersion", "6.1.0-28-cloud-amd64");
  w.Field("osImage", "Debian GNU/Linux 12 (bookworm)");
  w.Field("containerRuntimeVersion", "containerd://2.2.1");
  w.Field("kubeletVersion", "v1.35.0");
  w.Field("operatingSystem", "linux");
  w.Field("architecture", "amd64");
  w.EndObject();
  w.EndObject();
  w.EndObject();
}

void RenderPendingPod(JsonWriter& w, const ClusterModel& model, int index) {
  const int64_t created = model.start_unix() - 600 - 60 * static_cast<int64_t>(index % 30);
  const std::string name = "pending-" + std::to_string(index);
  w.BeginObject();
  w.Key("metadata").BeginObject();
  w.Field("name", name);
  w.Field("namespace", "default");
  WriteUuid(w, "uid", 0x70656e64696e67ull + static_cast<uint64_t>(index), model.nodes());
  w.Field("resourceVersion", std::to_string(90000 + index));
  WriteTime(w, "creationTimestamp", created);
  w.Key("labels").BeginObject();
  w.Field("app", "pending");
  w.EndObject();
  w.EndObject();
  w.Key("spec").BeginObject();
  w.Key("containers").BeginArray();
  w.BeginObject();
  w.Field("name", "app");
  w.Field("image", "docker.io/library/nginx:1.27");
  w.Key("resources").BeginObject();
  w.Key("requests").BeginObject();
  WriteCpuMilli(w, "cpu", 64000);  // more than any node has: it stays Pending
  WriteBytes(w, "memory", uint64_t{128} << 20);
  w.EndObject();
  w.EndObject();
  w.EndObject();
  w.EndArray();
  w.Field("restartPolicy", "Always");
  w.Field("schedulerName", "default-scheduler");
  w.EndObject();
  w.Key("status").BeginObject();
  w.Field("phase", "Pending");
  w.Key("conditions").BeginArray();
  w.BeginObject();
  w.Field("type", "PodScheduled");
  w.Field("status", "False");
  w.Field("reason", "Unschedulable");
  w.Field("message", "0/" + std::to_string(model.nodes()) +
                         " nodes are available: " + std::to_string(model.nodes()) +
                         " Insufficient cpu.");
  WriteTime(w, "lastTransitionTime", created);
  w.EndObject();
  w.EndArray();
  w.Field("qosClass", "Burstable");
  w.EndObject();
  w.EndObject();
}

void RenderPod(JsonWriter& w, const ClusterModel& model, int node, int slot, bool with_type_meta,
               int64_t resource_version) {
  const SlotInfo& info = model.slot(slot);
  const AppTemplate& app = *info.app;
  const int64_t start = model.PodStartUnix(node, slot);
  w.BeginObject();
  if (with_type_meta) {
    w.Field("kind", "Pod");
    w.Field("apiVersion", "v1");
  }
  w.Key("metadata").BeginObject();
  w.Key("name").BeginString();
  model.AppendPodName(w.out(), node, slot);
  w.EndString();
  if (app.workload != Workload::kStatefulSet) {
    w.Key("generateName").BeginString();
    model.AppendOwnerName(w.out(), slot);
    w.out()->push_back('-');
    w.EndString();
  }
  w.Field("namespace", app.ns);
  w.Key("uid").BeginString();
  model.AppendPodUid(w.out(), node, slot);
  w.EndString();
  w.Field("resourceVersion",
          std::to_string(resource_version != 0 ? resource_version
                                               : 100000 + static_cast<int64_t>(node) *
                                                              model.pods_per_node() +
                                                     slot));
  WriteTime(w, "creationTimestamp", start);
  WritePodLabels(w, model, node, slot);
  w.Key("ownerReferences").BeginArray();
  w.BeginObject();
  w.Field("apiVersion", "apps/v1");
  w.Field("kind", app.workload == Workload::kDeployment    ? "ReplicaSet"
                  : app.workload == Workload::kStatefulSet ? "StatefulSet"
                                                           : "DaemonSet");
  w.Key("name").BeginString();
  model.AppendOwnerName(w.out(), slot);
  w.EndString();
  const uint64_t owner = std::hash<std::string_view>()(app.name);
  WriteUuid(w, "uid", owner, owner * 0x9e3779b97f4a7c15ull);
  w.Field("controller", true);
  w.Field("blockOwnerDeletion", true);
  w.EndObject();
  w.EndArray();
  w.EndObject();

  w.Key("spec").BeginObject();
  WritePodVolumes(w, model, node, slot);
  w.Key("containers").BeginArray();
  for (const ContainerInfo& ci : info.containers) {
    w.BeginObject();
    w.Field("name", ci.name);
    w.Field("image", ci.tmpl->image);
    WriteContainerResources(w, *ci.tmpl);
    w.Key("volumeMounts").BeginArray();
    w.BeginObject();
    w.Key("name").BeginString();
    model.AppendVolumeName(w.out(), node, slot, static_cast<int>(info.volumes.size()) - 1);
    w.EndString();
    w.Field("readOnly", true);
    w.Field("mountPath", "/var/run/secrets/kubernetes.io/serviceaccount");
    w.EndObject();
    w.EndArray();
    w.Field("terminationMessagePath", "/dev/termination-log");
    w.Field("terminationMessagePolicy", "File");
    w.Field("imagePullPolicy", "IfNotPresent");
    w.EndObject();
  }
  w.EndArray();
  w.Field("restartPolicy", "Always");
  w.Field("terminationGracePeriodSeconds", 30);
  w.Field("dnsPolicy", "ClusterFirst");
  w.Field("serviceAccountName", "default");
  w.Field("serviceAccount", "default");
  w.Key("nodeName").BeginString();
  model.AppendNodeName(w.out(), node);
  w.EndString();
  w.Key("securityContext").BeginObject();
  w.EndObject();
  w.Field("schedulerName", "default-scheduler");
  w.Field("priority", 0);
  w.Field("enableServiceLinks", true);
  w.Field("preemptionPolicy", "PreemptLowerPriority");
  w.EndObject();

  const NodeInfo& ni = model.node(node);
  const int64_t ready = model.ContainerStartUnix(node, slot, model.containers_per_pod() - 1) + 1;
  w.Key("status").BeginObject();
  w.Field("phase", "Running");
  w.Key("conditions").BeginArray();
  WritePodCondition(w, "PodReadyToStartContainers", start + 1);
  WritePodCondition(w, "Initialized", start);
  WritePodCondition(w, "Ready", ready);
  WritePodCondition(w, "ContainersReady", ready);
  WritePodCondition(w, "PodScheduled", start);
  w.EndArray();
  w.Field("hostIP", ni.internal_ip);
  w.Key("hostIPs").BeginArray();
  w.BeginObject();
  w.Field("ip", ni.internal_ip);
  w.EndObject();
  w.EndArray();
  w.Key("podIP").BeginString();
  model.AppendPodIp(w.out(), node, slot);
  w.EndString();
  w.Key("podIPs").BeginArray();
  w.BeginObject();
  w.Key("ip").BeginString();
  model.AppendPodIp(w.out(), node, slot);
  w.EndString();
  w.EndObject();
  w.EndArray();
  WriteTime(w, "startTime", start);
  w.Key("containerStatuses").BeginArray();
  for (int c = 0; c < model.containers_per_pod(); ++c) {
    const ContainerInfo& ci = info.containers[c];
    w.BeginObject();
    w.Field("name", ci.name);
    w.Key("state").BeginObject();
    w.Key("running").BeginObject();
    WriteTime(w, "startedAt", model.ContainerStartUnix(node, slot, c));
    w.EndObject();
    w.EndObject();
    w.Key("lastState").BeginObject();
    w.EndObject();
    w.Field("ready", true);
    w.Field("restartCount", 0);
    w.Field("image", ci.tmpl->image);
    w.Key("imageID").BeginString();
    w.out()->append(ImageRepository(ci.tmpl->image)).push_back('@');
    model.AppendImageDigest(w.out(), ci.tmpl->image);
    w.EndString();
    w.Key("containerID").BeginString();
    w.out()->append("containerd://");
    model.AppendContainerId(w.out(), node, slot, c);
    w.EndString();
    w.Field("started", true);
    w.EndObject();
  }
  w.EndArray();
  w.Field("qosClass", info.qos_class);
  w.EndObject();
  w.EndObject();
}

void RenderNodeMetrics(JsonWriter& w, const ClusterModel& model, int node, const NodeStats& stats,
                       const SampleTimes& times, bool with_type_meta) {
  w.BeginObject();
  if (with_type_meta) {
    w.Field("kind", "NodeMetrics");
    w.Field("apiVersion", "metrics.k8s.io/v1beta1");
  }
  w.Key("metadata").BeginObject();
  w.Key("name").BeginString();
  model.AppendNodeName(w.out(), node);
  w.EndString();
  WriteTime(w, "creationTimestamp", times.now_unix);
  WriteNodeLabels(w, model, node);
  w.EndObject();
  WriteTime(w, "timestamp", times.sample_unix);
  WriteWindow(w, WindowMillis(model, node, times.tick));
  WriteUsage(w, stats.node);
  w.EndObject();
}

void RenderPodMetrics(JsonWriter& w, const ClusterModel& model, int node, int slot,
                      const NodeStats& stats, const SampleTimes& times, bool with_type_meta) {
  const SlotInfo& info = model.slot(slot);
  w.BeginObject();
  if (with_type_meta) {
    w.Field("kind", "PodMetrics");
    w.Field("apiVersion", "metrics.k8s.io/v1beta1");
  }
  w.Key("metadata").BeginObject();
  w.Key("name").BeginString();
  model.AppendPodName(w.out(), node, slot);
  w.EndString();
  w.Field("namespace", info.app->ns);
  WriteTime(w, "creationTimestamp", times.now_unix);
  WritePodLabels(w, model, node, slot);
  w.EndObject();
  WriteTime(w, "timestamp", times.sample_unix - model.PodTimeOffsetSeconds(node, slot));
  WriteWindow(w, WindowMillis(model, node, times.tick));
  w.Key("containers").BeginArray();
  const int cpp = model.containers_per_pod();
  for (int c = 0; c < cpp; ++c) {
    w.BeginObject();
    w.Field("name", info.containers[c].name);
    WriteUsage(w, stats.containers[static_cast<size_t>(slot) * cpp + c].cgroup);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

std::string_view StatusReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

std::string StatusBody(int code, std::string_view message, const StatusDetails& details) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("kind", "Status");
  w.Field("apiVersion", "v1");
  w.Key("metadata").BeginObject();
  w.EndObject();
  w.Field("status", "Failure");
  w.Field("message", message);
  const std::string_view reason = StatusReason(code);
  if (!reason.empty()) w.Field("reason", reason);
  if (!details.name.empty() || !details.group.empty() || !details.kind.empty()) {
    w.Key("details").BeginObject();
    if (!details.name.empty()) w.Field("name", details.name);
    if (!details.group.empty()) w.Field("group", details.group);
    if (!details.kind.empty()) w.Field("kind", details.kind);
    w.EndObject();
  }
  w.Field("code", code);
  w.EndObject();
  return w.str();
}

}  // namespace kmb::sim
