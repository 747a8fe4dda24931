#include "kmb/server/landing.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>

#include "kmb/catalog/catalog.h"
#include "kmb/util/log.h"
#include "server/html.h"

namespace kmb {
namespace {

using catalog::Entity;
using html::Escape;

// The catalog rows the page reads, found once by (entity, JSON path).
struct Rows {
  int node_cpu = catalog::Find(Entity::kNode, "cpu.usageNanoCores");
  int node_ws = catalog::Find(Entity::kNode, "memory.workingSetBytes");
  int node_avail = catalog::Find(Entity::kNode, "memory.availableBytes");
  int pod_cpu = catalog::Find(Entity::kPod, "cpu.usageNanoCores");
  int pod_ws = catalog::Find(Entity::kPod, "memory.workingSetBytes");
  int api_node_cpu = catalog::Find(Entity::kApiNode, "usage.cpu");
  int api_node_mem = catalog::Find(Entity::kApiNode, "usage.memory");
  int api_container_cpu = catalog::Find(Entity::kApiContainer, "usage.cpu");
  int api_container_mem = catalog::Find(Entity::kApiContainer, "usage.memory");
};

const Rows& CatalogRows() {
  static const Rows rows;
  return rows;
}

std::optional<double> Value(const EntityStats& e, int row) {
  if (row < 0) return std::nullopt;
  for (const Sample& s : e.samples) {
    if (s.metric == row) return s.Scaled();
  }
  return std::nullopt;
}

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Cores(std::optional<double> v) { return v ? Format("%.3f", *v) : "–"; }

std::string Bytes(std::optional<double> v) {
  if (!v) return "–";
  const double b = *v;
  if (b >= 1024.0 * 1024 * 1024) return Format("%.2f GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return Format("%.1f MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return Format("%.1f KiB", b / 1024.0);
  return Format("%.0f B", b);
}

std::string UtcTime(double unix_seconds) {
  if (unix_seconds <= 0) return "never";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

struct NodeRow {
  std::string node;
  std::string state;  // "ok" or the failure reason
  std::string detail;
  std::optional<double> cpu, memory, memory_capacity;
  size_t pods = 0;
};

struct PodRow {
  std::string ns, pod, node;
  std::optional<double> cpu, memory;
};

// Nodes from the Summary (or, for nodes it lacks, the Metrics API), with their pod counts.
std::vector<NodeRow> CollectNodes(const Snapshot& s, std::vector<PodRow>* pods) {
  const Rows& r = CatalogRows();
  std::map<std::string, NodeRow> nodes;
  for (const NodeResult& n : s.nodes) {
    NodeRow& row = nodes[n.node];
    row.node = n.node;
    row.state = n.status.ok() ? "ok" : n.status.reason();
    row.detail = n.status.message();
    for (const EntityStats& e : n.summary.entities) {
      if (e.entity == Entity::kNode) {
        row.cpu = Value(e, r.node_cpu);
        row.memory = Value(e, r.node_ws);
        // available = allocatable (or limit) - working set, so their sum is the capacity.
        const std::optional<double> available = Value(e, r.node_avail);
        if (row.memory && available) row.memory_capacity = *row.memory + *available;
      } else if (e.entity == Entity::kPod && e.labels.size() >= 3) {
        ++row.pods;
        pods->push_back(
            {std::string(e.labels[0]), std::string(e.labels[1]), std::string(e.labels[2]),
             Value(e, r.pod_cpu), Value(e, r.pod_ws)});
      }
    }
  }
  std::map<std::pair<std::string, std::string>, PodRow> api_pods;
  for (const EntityStats& e : s.metrics_api_entities) {
    if (e.entity == Entity::kApiNode && !e.labels.empty()) {
      NodeRow& row = nodes[std::string(e.labels[0])];
      if (row.node.empty()) {
        row.node = e.labels[0];
        row.state = "ok";
        row.detail = "from the Metrics API";
      }
      if (!row.cpu) row.cpu = Value(e, r.api_node_cpu);
      if (!row.memory) row.memory = Value(e, r.api_node_mem);
    } else if (e.entity == Entity::kApiContainer && e.labels.size() >= 2) {
      PodRow& p = api_pods[{std::string(e.labels[0]), std::string(e.labels[1])}];
      p.ns = e.labels[0];
      p.pod = e.labels[1];
      if (auto cpu = Value(e, r.api_container_cpu)) p.cpu = p.cpu.value_or(0) + *cpu;
      if (auto mem = Value(e, r.api_container_mem)) p.memory = p.memory.value_or(0) + *mem;
    }
  }
  // Pods from the Metrics API only when the Summary gave none (its values are the same
  // cgroup readings, and it knows the node).
  if (pods->empty()) {
    for (auto& [key, p] : api_pods) pods->push_back(std::move(p));
  }
  std::vector<NodeRow> out;
  for (auto& [name, row] : nodes) out.push_back(std::move(row));
  return out;
}

void TopPods(std::string* html, const std::string& title, std::vector<PodRow> pods, bool by_cpu,
             size_t limit) {
  auto key = [by_cpu](const PodRow& p) { return (by_cpu ? p.cpu : p.memory).value_or(-1); };
  std::stable_sort(pods.begin(), pods.end(),
                   [&](const PodRow& a, const PodRow& b) { return key(a) > key(b); });
  if (pods.size() > limit) pods.resize(limit);
  *html += "<h2>" + Escape(title) + "</h2>";
  if (pods.empty()) {
    *html += "<p>No pods.</p>";
    return;
  }
  *html += "<table id=\"" + std::string(by_cpu ? "top-cpu" : "top-memory") +
           "\"><tr><th>namespace</th><th>pod</th><th>node</th><th class=\"n\">CPU (cores)</th>"
           "<th class=\"n\">memory (working set)</th></tr>";
  for (const PodRow& p : pods) {
    *html += "<tr><td>" + Escape(p.ns) + "</td><td>" + Escape(p.pod) + "</td><td>" +
             Escape(p.node) + "</td><td class=\"n\">" + Cores(p.cpu) + "</td><td class=\"n\">" +
             Bytes(p.memory) + "</td></tr>";
  }
  *html += "</table>";
}

void SourceHealth(std::string* html, const Snapshot& s) {
  *html +=
      "<h2>Sources</h2><table id=\"sources\"><tr><th>source</th><th>state</th>"
      "<th class=\"n\">last poll</th><th>last success</th><th>detail</th></tr>";
  auto row = [&](std::string_view name, const SourceState& st, const std::string& state) {
    *html += "<tr><td>" + Escape(name) + "</td><td" + (st.up ? ">" : " class=\"fail\">") +
             Escape(state) + "</td><td class=\"n\">" + Format("%.3f s", st.poll_seconds) +
             "</td><td>" + UtcTime(st.last_success_unix) + "</td><td>" +
             Escape(st.status.message()) + "</td></tr>";
  };
  if (s.summary.enabled) {
    size_t up = 0;
    for (const NodeResult& n : s.nodes) up += n.status.ok();
    row("summary", s.summary,
        std::string(s.summary.up ? "up" : "down") + ", " + std::to_string(up) + "/" +
            std::to_string(s.nodes.size()) + " nodes");
  }
  if (s.metrics_api.enabled) row("metrics-api", s.metrics_api, s.metrics_api.up ? "up" : "down");
  *html += "</table>";
  *html += "<h2>Errors since start</h2>";
  if (s.errors_total.empty()) {
    *html += "<p>None.</p>";
    return;
  }
  *html += "<table id=\"errors\"><tr><th>source</th><th>reason</th><th class=\"n\">count</th></tr>";
  for (const auto& [key, count] : s.errors_total) {
    *html += "<tr><td>" + Escape(key.first) + "</td><td>" + Escape(key.second) +
             "</td><td class=\"n\">" + std::to_string(count) + "</td></tr>";
  }
  *html += "</table>";
}

}  // namespace

std::string RenderLandingPage(const Snapshot* snapshot, const LandingPageInfo& info) {
  const std::string refresh =
      info.refresh_seconds > 0
          ? "<meta http-equiv=\"refresh\" content=\"" + std::to_string(info.refresh_seconds) + "\">"
          : "";
  std::string out = html::Head("kube-metrics-bridge", refresh);
  out += "<h1>kube-metrics-bridge</h1><p>Version " + Escape(Version()) + " (revision " +
         Escape(Revision()) + ") &middot; <a href=\"" + Escape(info.telemetry_path) +
         "\">Metrics</a> &middot; <a href=\"/healthz\">Health</a> &middot; "
         "<a href=\"/readyz\">Readiness</a> &middot; "
         "<a href=\"/debug/status\">Status of the last poll, per node</a></p>";
  if (snapshot == nullptr) {
    out += "<p>Waiting for the first poll.</p></body></html>\n";
    return out;
  }
  const Snapshot& s = *snapshot;
  out += "<p>Snapshot of poll " + std::to_string(s.polls_total) + ", taken " +
         UtcTime(static_cast<double>(s.taken_unix_ms) / 1000) + ".</p>";

  std::vector<PodRow> pods;
  const std::vector<NodeRow> nodes = CollectNodes(s, &pods);
  out += "<h2>Nodes</h2>";
  if (nodes.empty()) {
    out += "<p>No nodes.</p>";
  } else {
    out +=
        "<table id=\"nodes\"><tr><th>node</th><th>state</th><th class=\"n\">CPU (cores)</th>"
        "<th class=\"n\">memory (working set)</th><th class=\"n\">memory %</th>"
        "<th class=\"n\">pods</th></tr>";
    for (const NodeRow& n : nodes) {
      const bool ok = n.state == "ok";
      std::string percent = "–";
      if (n.memory && n.memory_capacity && *n.memory_capacity > 0) {
        percent = Format("%.0f%%", 100.0 * *n.memory / *n.memory_capacity);
      }
      out +=
          "<tr><td>" + Escape(n.node) + "</td><td" +
          (ok ? ">ok" : " class=\"fail\" title=\"" + Escape(n.detail) + "\">" + Escape(n.state)) +
          "</td><td class=\"n\">" + Cores(n.cpu) + "</td><td class=\"n\">" + Bytes(n.memory) +
          "</td><td class=\"n\">" + percent + "</td><td class=\"n\">" +
          (ok && s.summary.enabled ? std::to_string(n.pods) : "–") + "</td></tr>";
    }
    out += "</table>";
  }
  TopPods(&out, "Top pods by CPU", pods, /*by_cpu=*/true, info.top_pods);
  TopPods(&out, "Top pods by memory", pods, /*by_cpu=*/false, info.top_pods);
  SourceHealth(&out, s);
  out += "</body></html>\n";
  return out;
}

}  // namespace kmb
