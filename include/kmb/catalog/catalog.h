#pragma once
// The metric catalog: the ONE table of every metric the exporter can expose.
//
// Decoders look rows up by (entity, JSON path) to know which leaves to keep; the exposition
// writers take name, type, unit and help from it; docs/metrics.md is generated from it
// (`kube-metrics-bridge catalog --markdown`) and a test fails when the two differ.
// A metric's id is its index in kMetrics.

#include <cstdint>
#include <span>
#include <string_view>

namespace kmb::catalog {

enum class MetricType : uint8_t { kCounter, kGauge };

enum class Source : uint8_t { kSummary, kMetricsApi, kSelf };

// The kind of object a series describes. Each kind has a fixed ordered list of identity labels
// (LabelNames); a decoded entity carries the label values in that order.
enum class Entity : uint8_t {
  kNode,           // node
  kPod,            // namespace, pod, node
  kContainer,      // namespace, pod, container, node
  kApiNode,        // node                         (metrics.k8s.io NodeMetrics)
  kApiPod,         // namespace, pod               (metrics.k8s.io PodMetrics)
  kApiContainer,   // namespace, pod, container    (metrics.k8s.io PodMetrics.containers[])
  kSelf,           // labels listed per row in MetricDef::self_labels
  kCount,
};

struct MetricDef {
  std::string_view name;  // exposition name; counters end in _total
  MetricType type;
  std::string_view unit;  // OpenMetrics unit: the family name ends with it ("" for none)
  std::string_view help;
  Source source;
  Entity entity;
  // JSON path of the value inside its entity object, keys joined by '.', e.g.
  // "cpu.usageCoreNanoSeconds". Empty for self-metrics.
  std::string_view path;
  // Exported value = raw value * 10^exp10 (e.g. -9 turns nanoseconds into seconds).
  int8_t exp10;
  std::string_view group;        // metric group (--metric-groups)
  std::string_view self_labels;  // kSelf only: comma-separated label names
  std::string_view kubelet_name; // same meaning in the kubelet's /metrics/resource or cAdvisor
  std::string_view otel_name;    // same meaning in the OpenTelemetry kubeletstats receiver
};

using MetricId = uint16_t;

inline constexpr MetricDef kMetrics[] = {
    // ---- Kubelet Summary API (/stats/summary) ----
    {"node_cpu_usage_seconds_total", MetricType::kCounter, "seconds",
     "Cumulative CPU time consumed by the node, in core-seconds.", Source::kSummary,
     Entity::kNode, "cpu.usageCoreNanoSeconds", -9, "node", "", "node_cpu_usage_seconds_total",
     "k8s.node.cpu.time"},
    {"node_memory_working_set_bytes", MetricType::kGauge, "bytes",
     "Current working set of the node in bytes.", Source::kSummary, Entity::kNode,
     "memory.workingSetBytes", 0, "node", "", "node_memory_working_set_bytes",
     "k8s.node.memory.working_set"},
    {"pod_cpu_usage_seconds_total", MetricType::kCounter, "seconds",
     "Cumulative CPU time consumed by the pod, in core-seconds.", Source::kSummary,
     Entity::kPod, "cpu.usageCoreNanoSeconds", -9, "pod", "", "pod_cpu_usage_seconds_total",
     "k8s.pod.cpu.time"},
    {"pod_memory_working_set_bytes", MetricType::kGauge, "bytes",
     "Current working set of the pod in bytes.", Source::kSummary, Entity::kPod,
     "memory.workingSetBytes", 0, "pod", "", "pod_memory_working_set_bytes",
     "k8s.pod.memory.working_set"},
    {"container_cpu_usage_seconds_total", MetricType::kCounter, "seconds",
     "Cumulative CPU time consumed by the container, in core-seconds.", Source::kSummary,
     Entity::kContainer, "cpu.usageCoreNanoSeconds", -9, "container", "",
     "container_cpu_usage_seconds_total", "container.cpu.time"},
    {"container_memory_working_set_bytes", MetricType::kGauge, "bytes",
     "Current working set of the container in bytes.", Source::kSummary, Entity::kContainer,
     "memory.workingSetBytes", 0, "container", "", "container_memory_working_set_bytes",
     "container.memory.working_set"},

    // ---- Metrics API (metrics.k8s.io/v1beta1, served by metrics-server) ----
    {"k8s_metrics_api_node_cpu_usage_cores", MetricType::kGauge, "cores",
     "Node CPU usage as reported by the Metrics API (averaged over the window).",
     Source::kMetricsApi, Entity::kApiNode, "usage.cpu", 0, "metrics-api", "", "", ""},
    {"k8s_metrics_api_node_memory_working_set_bytes", MetricType::kGauge, "bytes",
     "Node memory working set as reported by the Metrics API.", Source::kMetricsApi,
     Entity::kApiNode, "usage.memory", 0, "metrics-api", "", "", ""},
    {"k8s_metrics_api_node_window_seconds", MetricType::kGauge, "seconds",
     "Length of the window the Metrics API node usage was averaged over.", Source::kMetricsApi,
     Entity::kApiNode, "window", 0, "metrics-api", "", "", ""},
    {"k8s_metrics_api_container_cpu_usage_cores", MetricType::kGauge, "cores",
     "Container CPU usage as reported by the Metrics API (averaged over the window).",
     Source::kMetricsApi, Entity::kApiContainer, "usage.cpu", 0, "metrics-api", "", "", ""},
    {"k8s_metrics_api_container_memory_working_set_bytes", MetricType::kGauge, "bytes",
     "Container memory working set as reported by the Metrics API.", Source::kMetricsApi,
     Entity::kApiContainer, "usage.memory", 0, "metrics-api", "", "", ""},
    {"k8s_metrics_api_pod_window_seconds", MetricType::kGauge, "seconds",
     "Length of the window the Metrics API pod usage was averaged over.", Source::kMetricsApi,
     Entity::kApiPod, "window", 0, "metrics-api", "", "", ""},

    // ---- The exporter itself ----
    {"kube_metrics_bridge_build_info", MetricType::kGauge, "",
     "Always 1; the labels carry the exporter's version and git revision.", Source::kSelf,
     Entity::kSelf, "", 0, "self", "version,revision", "", ""},
    {"kube_metrics_bridge_source_up", MetricType::kGauge, "",
     "1 if the last poll of this source (and node, for summary) succeeded, else 0.",
     Source::kSelf, Entity::kSelf, "", 0, "self", "source,node", "", ""},
    {"kube_metrics_bridge_poll_duration_seconds", MetricType::kGauge, "seconds",
     "Wall-clock duration of the last poll of this source.", Source::kSelf, Entity::kSelf, "", 0,
     "self", "source", "", ""},
    {"kube_metrics_bridge_last_success_timestamp_seconds", MetricType::kGauge, "seconds",
     "Unix time of the last poll of this source that succeeded (for at least one node).",
     Source::kSelf, Entity::kSelf, "", 0, "self", "source", "", ""},
    {"kube_metrics_bridge_errors_total", MetricType::kCounter, "",
     "Failed requests and decodes since start, by source and reason.", Source::kSelf,
     Entity::kSelf, "", 0, "self", "source,reason", "", ""},
    {"kube_metrics_bridge_series", MetricType::kGauge, "",
     "Number of data series exported from this source in the current snapshot.", Source::kSelf,
     Entity::kSelf, "", 0, "self", "source", "", ""},
    {"kube_metrics_bridge_polls_total", MetricType::kCounter, "",
     "Completed polls since start.", Source::kSelf, Entity::kSelf, "", 0, "self", "", "", ""},
};

inline constexpr size_t kMetricCount = sizeof(kMetrics) / sizeof(kMetrics[0]);

// Ordered identity label names of an entity kind (empty for kSelf).
std::span<const std::string_view> LabelNames(Entity entity);

// The row for (entity, path), or -1 when the catalog has no such metric.
int Find(Entity entity, std::string_view path);

// The row with this exposition name, or -1.
int FindByName(std::string_view name);

// Family name as OpenMetrics spells it: counters lose their _total suffix.
std::string_view FamilyName(const MetricDef& def);

std::string_view SourceName(Source source);  // "summary", "metrics-api", "self"
std::string_view TypeName(MetricType type);  // "counter", "gauge"

}  // namespace kmb::catalog
