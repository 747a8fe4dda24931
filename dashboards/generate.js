#!/usr/bin/env node
// Writes the Grafana dashboards of this folder (dashboards/*.json) from the compact definitions
// below, so that every dashboard shares the same variables, data source and layout rules.
// Edit this file, then run `node dashboards/generate.js`; `--check` exits 1 when a committed
// JSON file differs from what this file generates (kmb_deploy_test runs it).
// The same JSON files serve both "Import dashboard" in the UI and file provisioning
// (dashboards/provisioning/kube-metrics-bridge.yaml): the data source is a variable, so
// there is no __inputs section to fill in.
"use strict";
const fs = require("fs");
const path = require("path");

const DS = { type: "prometheus", uid: "${datasource}" };

// Template variables. Every expression filters on the ones its dashboard declares.
const VARS = {
  datasource: {
    type: "datasource", name: "datasource", label: "Data source", query: "prometheus",
    current: {}, hide: 0, includeAll: false, multi: false, options: [], refresh: 1, regex: "",
  },
  cluster: queryVar("cluster", "Cluster", "label_values(kube_metrics_bridge_build_info, cluster)",
                    false),
  node: queryVar("node", "Node", 'label_values(k8s_node_start_time_seconds{cluster=~"$cluster"}, node)',
                 true),
  namespace: queryVar("namespace", "Namespace",
                      'label_values(k8s_pod_start_time_seconds{cluster=~"$cluster"}, namespace)', true),
  pod: queryVar("pod", "Pod",
                'label_values(k8s_pod_start_time_seconds{cluster=~"$cluster", namespace=~"$namespace"}, pod)',
                true),
};

function queryVar(name, label, query, multi) {
  return {
    type: "query", name, label, datasource: DS,
    definition: query,
    query: { query, refId: "PrometheusVariableQueryEditor-VariableQuery", qryType: 1 },
    // A cluster without the label (one Prometheus per cluster) leaves $cluster empty, and
    // cluster=~"" then matches every series.
    current: {}, hide: 0, includeAll: multi, multi, allValue: multi ? ".*" : undefined,
    options: [], refresh: 2, regex: "", sort: 1,
  };
}

// Panel helpers: t(title, unit, targets, description), targets as [expr, legend].
const ts = (title, unit, targets, description = "") => ({ type: "timeseries", title, unit, targets, description });
const stat = (title, unit, targets, description = "") => ({ type: "stat", title, unit, targets, description });

const C = 'cluster=~"$cluster"';
const N = `${C}, node=~"$node"`;
const NS = `${C}, namespace=~"$namespace"`;
const P = `${C}, namespace=~"$namespace", pod=~"$pod"`;
const RI = "$__rate_interval";

const DASHBOARDS = [
  {
    file: "cluster-overview.json", uid: "kmb-cluster-overview", title: "Kubernetes / Cluster overview (kube-metrics-bridge)",
    vars: ["datasource", "cluster"],
    panels: [
      stat("Nodes reporting", "none", [[`count(kube_metrics_bridge_source_up{${C}, source="summary"} == 1)`, "nodes"]],
           "Nodes whose Kubelet Summary the exporter read in its last poll."),
      stat("Pods", "none", [[`count(k8s_pod_start_time_seconds{${C}})`, "pods"]]),
      stat("CPU used", "short", [[`sum(namespace:container_cpu_usage_seconds_total:sum_rate5m{${C}})`, "cores"]],
           "Cores used by all containers (5-minute rate)."),
      stat("Memory used", "percentunit",
           [[`sum(node_memory_working_set_bytes{${C}}) / sum(node:k8s_node_memory_capacity_bytes:sum{${C}})`, "used"]],
           "Node working set over node memory capacity (available + working set)."),
      ts("CPU: usage and requests", "short", [
        [`sum(namespace:container_cpu_usage_seconds_total:sum_rate5m{${C}})`, "usage"],
        [`sum(namespace:k8s_pod_cpu_request_cores:sum{${C}})`, "requests"],
      ], "Cores. The Summary API carries no node CPU capacity; compare with kube_node_status_capacity from kube-state-metrics."),
      ts("Memory: usage, requests and capacity", "bytes", [
        [`sum(node_memory_working_set_bytes{${C}})`, "working set"],
        [`sum(namespace:k8s_pod_memory_request_bytes:sum{${C}})`, "requests"],
        [`sum(node:k8s_node_memory_capacity_bytes:sum{${C}})`, "capacity"],
      ]),
      ts("Node filesystem: used and capacity", "bytes", [
        [`sum by (filesystem) (k8s_node_filesystem_used_bytes{${C}})`, "used {{filesystem}}"],
        [`sum by (filesystem) (k8s_node_filesystem_capacity_bytes{${C}})`, "capacity {{filesystem}}"],
      ]),
      ts("PIDs: used and limit", "none", [
        [`sum(k8s_node_pid_usage{${C}})`, "used"],
        [`sum(k8s_node_pid_limit{${C}})`, "limit"],
      ]),
      ts("Top 10 namespaces by CPU", "short",
         [[`topk(10, namespace:container_cpu_usage_seconds_total:sum_rate5m{${C}})`, "{{namespace}}"]]),
      ts("Top 10 namespaces by memory", "bytes",
         [[`topk(10, namespace:container_memory_working_set_bytes:sum{${C}})`, "{{namespace}}"]]),
    ],
  },
  {
    file: "nodes.json", uid: "kmb-nodes", title: "Kubernetes / Nodes (kube-metrics-bridge)",
    vars: ["datasource", "cluster", "node"],
    panels: [
      ts("CPU usage", "short", [[`sum by (node) (rate(node_cpu_usage_seconds_total{${N}}[${RI}]))`, "{{node}}"]], "Cores."),
      ts("Memory used", "percentunit", [[
        `node_memory_working_set_bytes{${N}} / on (cluster, node) node:k8s_node_memory_capacity_bytes:sum`, "{{node}}"]],
         "Working set over capacity (available + working set); the kubelet evicts near 100%."),
      ts("Memory working set and available", "bytes", [
        [`node_memory_working_set_bytes{${N}}`, "{{node}} working set"],
        [`k8s_node_memory_available_bytes{${N}}`, "{{node}} available"],
      ]),
      ts("Swap used", "bytes", [[`node_swap_usage_bytes{${N}}`, "{{node}}"]]),
      ts("Filesystem used", "percentunit", [[
        `k8s_node_filesystem_used_bytes{${N}} / k8s_node_filesystem_capacity_bytes{${N}}`, "{{node}} {{filesystem}}"]]),
      ts("Filesystem inodes used", "percentunit", [[
        `k8s_node_filesystem_inodes_used{${N}} / k8s_node_filesystem_inodes{${N}}`, "{{node}} {{filesystem}}"]]),
      ts("Network traffic", "Bps", [[
        `sum by (node, direction) (rate(k8s_node_network_io_bytes_total{${N}}[${RI}]))`, "{{node}} {{direction}}"]]),
      ts("Network errors", "cps", [[
        `sum by (node, direction) (rate(k8s_node_network_errors_total{${N}}[${RI}]))`, "{{node}} {{direction}}"]]),
      ts("PIDs used", "percentunit", [[
        `k8s_node_pid_usage{${N}} / on (cluster, node) k8s_node_pid_limit`, "{{node}}"]], "Processes over the rlimit maxpid."),
      ts("Pressure stall (PSI some): share of time some tasks waited", "percentunit", [
        [`rate(k8s_node_pressure_cpu_waiting_seconds_total{${N}}[${RI}])`, "{{node}} cpu"],
        [`rate(k8s_node_pressure_memory_waiting_seconds_total{${N}}[${RI}])`, "{{node}} memory"],
        [`rate(k8s_node_pressure_io_waiting_seconds_total{${N}}[${RI}])`, "{{node}} io"],
      ]),
      ts("Pressure stall (PSI full): share of time all tasks stalled", "percentunit", [
        [`rate(k8s_node_pressure_memory_stalled_seconds_total{${N}}[${RI}])`, "{{node}} memory"],
        [`rate(k8s_node_pressure_io_stalled_seconds_total{${N}}[${RI}])`, "{{node}} io"],
      ]),
      ts("Pods per node", "none", [[`count by (node) (k8s_pod_start_time_seconds{${N}})`, "{{node}}"]]),
    ],
  },
  {
    file: "namespace-pods.json", uid: "kmb-namespace-pods", title: "Kubernetes / Namespace and pods (kube-metrics-bridge)",
    vars: ["datasource", "cluster", "namespace", "pod"],
    panels: [
      ts("Pod CPU: usage, requests and limits", "short", [
        [`sum(rate(container_cpu_usage_seconds_total{${P}}[${RI}]))`, "usage"],
        [`sum(k8s_pod_cpu_request_cores{${P}})`, "requests"],
        [`sum(k8s_pod_cpu_limit_cores{${P}})`, "limits"],
      ], "Cores, summed over the selected pods."),
      ts("Pod memory: working set, requests and limits", "bytes", [
        [`sum(container_memory_working_set_bytes{${P}})`, "working set"],
        [`sum(k8s_pod_memory_request_bytes{${P}})`, "requests"],
        [`sum(k8s_pod_memory_limit_bytes{${P}})`, "limits"],
      ]),
      ts("CPU usage per pod", "short", [[`sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{${P}}[${RI}]))`, "{{namespace}}/{{pod}}"]]),
      ts("Memory working set per pod", "bytes", [[`sum by (namespace, pod) (container_memory_working_set_bytes{${P}})`, "{{namespace}}/{{pod}}"]]),
      ts("CPU usage per container", "short", [[
        `namespace_pod_container:container_cpu_usage_seconds_total:rate5m{${P}}`, "{{pod}}/{{container}}"]]),
      ts("Memory working set per container", "bytes", [[`container_memory_working_set_bytes{${P}}`, "{{pod}}/{{container}}"]]),
      ts("Container CPU: share of limit and of request", "percentunit", [
        [`k8s_container_cpu_limit_utilization{${P}}`, "{{pod}}/{{container}} of limit"],
        [`k8s_container_cpu_request_utilization{${P}}`, "{{pod}}/{{container}} of request"],
      ], "Above 100% of the limit the container is throttled."),
      ts("Container memory: share of limit and of request", "percentunit", [
        [`k8s_container_memory_limit_utilization{${P}}`, "{{pod}}/{{container}} of limit"],
        [`k8s_container_memory_request_utilization{${P}}`, "{{pod}}/{{container}} of request"],
      ], "At 100% of the limit the container is OOM-killed."),
      ts("Pod ephemeral storage used", "bytes", [[`k8s_pod_ephemeral_storage_used_bytes{${P}}`, "{{namespace}}/{{pod}}"]]),
      ts("Pod network traffic", "Bps", [
        [`sum by (namespace, pod) (rate(container_network_receive_bytes_total{${P}}[${RI}]))`, "{{pod}} receive"],
        [`sum by (namespace, pod) (rate(container_network_transmit_bytes_total{${P}}[${RI}]))`, "{{pod}} transmit"],
      ]),
      ts("Pod processes", "none", [[`k8s_pod_processes{${P}}`, "{{namespace}}/{{pod}}"]]),
      stat("Pods by QoS class", "none", [[`count by (qos_class) (k8s_pod_info{${NS}})`, "{{qos_class}}"]]),
    ],
  },
  {
    file: "volumes.json", uid: "kmb-volumes", title: "Kubernetes / Volumes (kube-metrics-bridge)",
    vars: ["datasource", "cluster", "namespace", "node"],
    panels: [
      ts("PVC space used", "percentunit", [[
        `kubelet_volume_stats_used_bytes{${NS}, node=~"$node"} / kubelet_volume_stats_capacity_bytes{${NS}, node=~"$node"}`,
        "{{namespace}}/{{persistentvolumeclaim}}"]]),
      ts("PVC bytes used and available", "bytes", [
        [`kubelet_volume_stats_used_bytes{${NS}, node=~"$node"}`, "{{persistentvolumeclaim}} used"],
        [`kubelet_volume_stats_available_bytes{${NS}, node=~"$node"}`, "{{persistentvolumeclaim}} available"],
      ]),
      ts("PVC inodes used", "percentunit", [[
        `kubelet_volume_stats_inodes_used{${NS}, node=~"$node"} / kubelet_volume_stats_inodes{${NS}, node=~"$node"}`,
        "{{namespace}}/{{persistentvolumeclaim}}"]]),
      ts("PVC days until full", "d", [[
        `namespace_persistentvolumeclaim:kubelet_volume_stats_days_until_full:deriv6h{${NS}, node=~"$node"}`,
        "{{namespace}}/{{persistentvolumeclaim}}"]],
         "At the growth rate of the last 6 hours; 365 means not growing (or a year or more)."),
      ts("Pod volumes used (all volume types)", "bytes", [[
        `k8s_volume_used_bytes{${NS}, node=~"$node"}`, "{{pod}}/{{volume}}"]], "emptyDir, configMap, projected and PVC volumes as the kubelet reports them."),
      ts("Pod volumes: inodes used", "percentunit", [[
        `k8s_volume_inodes_used{${NS}, node=~"$node"} / k8s_volume_inodes{${NS}, node=~"$node"}`, "{{pod}}/{{volume}}"]]),
    ],
  },
  {
    file: "exporter-health.json", uid: "kmb-exporter-health", title: "kube-metrics-bridge / Exporter health",
    vars: ["datasource", "cluster", "node"],
    panels: [
      stat("Summary sources up", "percentunit", [[
        `avg(kube_metrics_bridge_source_up{${C}, source="summary", node=~"$node"})`, "up"]], "Share of nodes whose Summary the last poll read."),
      stat("Metrics API up", "bool_yes_no", [[`min(kube_metrics_bridge_source_up{${C}, source="metrics-api"})`, "metrics.k8s.io"]]),
      stat("Data age", "s", [[`max by (source) (time() - kube_metrics_bridge_last_success_timestamp_seconds{${C}})`, "{{source}}"]],
           "Seconds since the last successful poll; above a few intervals the data is stale."),
      stat("Version", "none", [[`kube_metrics_bridge_build_info{${C}}`, "{{version}} ({{revision}})"]]),
      ts("Source up per node", "bool_yes_no", [[`kube_metrics_bridge_source_up{${C}, node=~"$node"}`, "{{source}} {{node}}"]]),
      ts("Poll duration", "s", [[`kube_metrics_bridge_poll_duration_seconds{${C}}`, "{{instance}} {{source}}"]],
         "Should stay well below --interval."),
      ts("Kubelet poll workers", "none", [[`kube_metrics_bridge_kubelet_poll_workers{${C}}`, "{{instance}}"]],
         "Summary requests the last poll had in flight at most: 2 while kubelets answer at once, more while they are slow; always at --max-concurrent-requests means raising it would shorten the polls."),
      ts("Errors by reason", "cps", [[
        `sum by (source, reason) (rate(kube_metrics_bridge_errors_total{${C}}[${RI}]))`, "{{source}} {{reason}}"]]),
      ts("Series exported", "none", [[`kube_metrics_bridge_series{${C}}`, "{{instance}} {{source}}"]]),
      ts("Series dropped", "cps", [[`sum by (reason) (rate(kube_metrics_bridge_series_dropped_total{${C}}[${RI}]))`, "{{reason}}"]]),
      ts("Polls and skipped ticks", "cps", [
        [`sum(rate(kube_metrics_bridge_polls_total{${C}}[${RI}]))`, "polls"],
        [`sum(rate(kube_metrics_bridge_polls_skipped_total{${C}}[${RI}]))`, "skipped ticks"],
      ], "Skipped ticks mean a poll overran --interval."),
      ts("Scrape duration", "s", [[`scrape_duration_seconds{${C}, job="kube-metrics-bridge"}`, "{{instance}}"]],
         "How long Prometheus takes to scrape /metrics; keep it below scrape_timeout."),
      ts("Samples per scrape", "none", [[`scrape_samples_scraped{${C}, job="kube-metrics-bridge"}`, "{{instance}}"]]),
      ts("Exporter memory", "bytes", [
        [`process_resident_memory_bytes{${C}, job="kube-metrics-bridge"}`, "{{instance}} resident"],
        [`kube_metrics_bridge_heap_bytes{${C}, state="in_use"}`, "{{instance}} heap in use"],
      ], "Resident memory far above the heap in use is free memory malloc keeps; the exporter returns it when it grows (docs/troubleshooting.md)."),
      ts("Exporter CPU", "short", [[`rate(process_cpu_seconds_total{${C}, job="kube-metrics-bridge"}[${RI}])`, "{{instance}}"]],
         "CPU cores the exporter uses (docs/performance.md has the figures per node)."),
    ],
  },
];

function build(d) {
  let id = 1, x = 0, y = 0, rowH = 0;
  const panels = d.panels.map((p) => {
    const w = p.type === "stat" ? 6 : 12, h = p.type === "stat" ? 4 : 8;
    if (x + w > 24) { x = 0; y += rowH; rowH = 0; }
    const gridPos = { h, w, x, y };
    x += w; rowH = Math.max(rowH, h);
    const panel = {
      id: id++, type: p.type, title: p.title, description: p.description, datasource: DS, gridPos,
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      options: p.type === "stat"
        ? { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "value", graphMode: "area" }
        : { legend: { displayMode: "list", placement: "bottom", showLegend: true }, tooltip: { mode: "multi", sort: "desc" } },
      targets: p.targets.map(([expr, legendFormat], i) => ({
        datasource: DS, expr, legendFormat, refId: String.fromCharCode(65 + i),
      })),
    };
    return panel;
  });
  return {
    annotations: { list: [] },
    description: "kube-metrics-bridge: Kubelet Summary API and Metrics API series. Generated by dashboards/generate.js.",
    editable: true, graphTooltip: 1, links: [], panels, refresh: "30s", schemaVersion: 39,
    tags: ["kubernetes", "kube-metrics-bridge"],
    templating: { list: d.vars.map((v) => VARS[v]) },
    time: { from: "now-1h", to: "now" }, timepicker: {}, timezone: "", title: d.title, uid: d.uid, version: 1,
  };
}

const check = process.argv.includes("--check");
let stale = 0;
for (const d of DASHBOARDS) {
  const file = path.join(__dirname, d.file);
  const text = JSON.stringify(build(d), null, 2) + "\n";
  if (check) {
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    if (old !== text) { console.log(`generate.js: ${file} is stale; run node dashboards/generate.js`); stale++; }
  } else {
    fs.writeFileSync(file, text);
    console.log(`generate.js: wrote ${file}`);
  }
}
process.exit(stale ? 1 : 0);
