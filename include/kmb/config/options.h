#pragma once
// Everything the exporter is told on its command line, validated (CLI11 underneath).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kmb/doctor/doctor.h"
#include "kmb/exposition/filter_options.h"
#include "kmb/sim/cluster.h"

namespace kmb {

struct Options {
  enum class Command { kRun, kSimulate, kCatalog, kDoctor };
  Command command = Command::kRun;

  // Cluster access.
  std::string kubeconfig;  // empty: $KUBECONFIG, then ~/.kube/config, then in-cluster
  std::string context;
  std::string apiserver;

  // Polling.
  double interval_seconds = 15;
  bool summary = true;      // --sources
  bool metrics_api = true;  // --sources
  int max_concurrent_requests = 16;
  // Sharding: this replica polls the nodes with ShardOf(node, total_shards) == shard.
  int shard = 0;
  int total_shards = 1;
  double request_timeout_seconds = 10;
  double connect_timeout_seconds = 5;
  bool once = false;
  bool demo = false;

  // Exposition.
  std::string timestamps = "none";  // none | source
  std::vector<std::string> metric_groups;  // empty: all but psi-avg
  bool pod_uid_label = false;

  // Serving.
  std::string listen_address = ":9834";
  std::string telemetry_path = "/metrics";

  // Logging.
  std::string log_level = "info";
  std::string log_format = "logfmt";

  // `simulate` subcommand.
  sim::SimOptions sim;
  std::string sim_kubeconfig;
  std::vector<std::string> sim_fail_nodes;
  int sim_metrics_api_status = 0;

  // `doctor` subcommand.
  doctor::DoctorOptions doctor;

  // `catalog` subcommand.
  bool catalog_markdown = true;

  // Secured /metrics (server): TLS, basic auth and headers in the exporter-toolkit's format;
  // re-read on SIGHUP.
  std::string web_config_file;

  // Cardinality control (issue 4): which series the exposition exports (--namespaces,
  // --namespaces-exclude, --metric-allowlist, --metric-denylist, --collect-all-interfaces,
  // --series-limit).
  SeriesFilterOptions series_filter;

  // Scale (issue 5).
  bool http2 = false;  // --http2: negotiate HTTP/2 with the API server over TLS

  // Fault handling (docs/configuration.md, docs/architecture.md "Failure handling").
  double kubelet_timeout_seconds = 5;   // --kubelet-timeout: one node's Summary, retries included
  size_t max_response_bytes = 64u << 20;  // --max-response-bytes: larger answers -> too_large
  int max_retries = 2;                  // --max-retries: retries of a failed safe request
  // ---- Watch cache and pod-spec enrichment (list+watch of nodes and pods) ----
  bool watch_cache = true;                   // --watch-cache / --no-watch-cache
  std::vector<std::string> pod_labels;       // --pod-labels: label keys for k8s_pod_labels
  std::vector<std::string> pod_annotations;  // --pod-annotations

  // ---- access: how kubelets are reached, and node-local mode (docs/configuration.md) ----
  std::string kubelet_access = "proxy";  // proxy: API server node proxy; direct: each kubelet
  std::vector<std::string> kubelet_preferred_address_types = {"InternalIP", "ExternalIP",
                                                              "Hostname"};
  int kubelet_port = 0;            // 0: the node's daemonEndpoints.kubeletEndpoint.Port, or 10250
  std::string kubelet_ca_file;     // empty: the cluster CA
  bool kubelet_insecure_tls = false;
  int kubelet_read_only_port = 0;  // > 0: plain HTTP to this port, no auth (implies direct)
  std::string node_name;           // node-local mode (DaemonSet): poll only this node's kubelet
  std::string kubelet_address;     // node-local: reach the kubelet here (host), not the node's
                                   // address from the API server
  double exec_timeout_seconds = 30;  // exec credential plugins running longer are killed
};

// Parses argv. Returns nullopt when the program should exit now with *exit_code (help,
// version, or a bad flag, for which one line saying what is wrong is printed to stderr).
std::optional<Options> ParseOptions(int argc, char** argv, int* exit_code);

// Parses a duration flag value: "15s", "1m", "500ms", "2m30s" or plain seconds ("15").
std::optional<double> ParseDurationFlag(const std::string& text);

}  // namespace kmb
