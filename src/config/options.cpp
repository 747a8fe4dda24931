#include "kmb/config/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <iostream>
#include <regex>
#include <sstream>

#include "kmb/catalog/catalog.h"
#include "kmb/util/log.h"

namespace kmb {

std::optional<double> ParseDurationFlag(const std::string& text) {
  if (text.empty()) return std::nullopt;
  // Plain number: seconds.
  char* end = nullptr;
  double plain = std::strtod(text.c_str(), &end);
  if (end && *end == '\0') return plain >= 0 ? std::optional<double>(plain) : std::nullopt;
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return std::nullopt;
    double v = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(ustart, i - ustart);
    if (unit == "ms")
      total += v / 1000;
    else if (unit == "s")
      total += v;
    else if (unit == "m")
      total += v * 60;
    else if (unit == "h")
      total += v * 3600;
    else
      return std::nullopt;
  }
  return total;
}

namespace {

// A CLI11 validator for durations, so that a bad value is reported with the flag's name.
struct DurationValidator : public CLI::Validator {
  DurationValidator() {
    name_ = "DURATION";
    func_ = [](std::string& s) -> std::string {
      return ParseDurationFlag(s) ? std::string() : "not a duration (e.g. 15s, 1m, 500ms): " + s;
    };
  }
};

}  // namespace

std::optional<Options> ParseOptions(int argc, char** argv, int* exit_code) {
  Options o;
  CLI::App app{
      "kube-metrics-bridge: exports the Kubelet Summary API and the Metrics API of a "
      "Kubernetes cluster to Prometheus."};
  app.set_version_flag("--version", std::string(Version()) + " (" + std::string(Revision()) + ")");
  DurationValidator duration;

  std::string interval = "15s", timeout = "10s", connect_timeout = "5s";
  std::string sources = "summary,metrics-api";
  app.add_option("--kubeconfig", o.kubeconfig,
                 "Path to a kubeconfig (default: $KUBECONFIG, then ~/.kube/config, then the "
                 "in-cluster service account)");
  app.add_option("--context", o.context, "kubeconfig context to use (default: current-context)");
  app.add_option("--apiserver", o.apiserver,
                 "API server URL, overriding the kubeconfig (e.g. http://127.0.0.1:8001 for "
                 "kubectl proxy; alone it means no credentials)");
  app.add_option("--interval", interval, "Poll interval")->check(duration)->capture_default_str();
  app.add_option("--sources", sources, "Comma-separated: summary, metrics-api")
      ->capture_default_str();
  app.add_option("--max-concurrent-requests", o.max_concurrent_requests,
                 "Most node Summary requests in flight at once (one per node at most); a poll "
                 "starts with 2 and adds one per worker whose request takes over 20 ms")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  int shard_flag = -1;
  std::string pod_name;
  app.add_option("--shard", shard_flag,
                 "This replica's shard, 0 to --total-shards - 1 (default: the ordinal at the end "
                 "of --pod-name when --total-shards > 1)");
  app.add_option("--total-shards", o.total_shards,
                 "Number of replicas the nodes are split between (by a stable hash of the node "
                 "name)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--pod-name", pod_name,
                 "This pod's name, for StatefulSet auto-sharding (default: $POD_NAME)")
      ->envname("POD_NAME");
  app.add_option("--request-timeout", timeout, "Timeout of one request, connect included")
      ->check(duration)
      ->capture_default_str();
  app.add_option("--connect-timeout", connect_timeout, "Timeout to establish a connection")
      ->check(duration)
      ->capture_default_str();
  app.add_option("--timestamps", o.timestamps,
                 "none: samples carry no timestamp; source: each sample carries the time of its "
                 "block in the payload")
      ->check(CLI::IsMember({"none", "source"}))
      ->capture_default_str();
  std::string groups;
  app.add_option("--metric-groups", groups,
                 "Comma-separated metric groups to export: node, system-container, network, "
                 "filesystem, psi, psi-avg, pod, volume, container, metrics-api, resources, info "
                 "(default: all but psi-avg); see docs/metrics.md");
  app.add_flag("--pod-uid-label", o.pod_uid_label,
               "Add the pod's uid label to pod-scoped series (more cardinality)");
  app.add_flag("--once", o.once,
               "Poll once, print the text exposition to stdout and exit (0 if a source "
               "succeeded)");
  app.add_flag("--demo", o.demo, "Run against the embedded simulated cluster");
  app.add_option("--web.listen-address", o.listen_address, "Address to serve /metrics on")
      ->capture_default_str();
  app.add_option("--web.telemetry-path", o.telemetry_path, "Path of the metrics endpoint")
      ->capture_default_str();
  app.add_option("--log.level", o.log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log.format", o.log_format, "logfmt or json")
      ->check(CLI::IsMember({"logfmt", "json"}))
      ->capture_default_str();

  // Cardinality control (issue 4).
  SeriesFilterOptions& filter = o.series_filter;
  app.add_option("--namespaces", filter.namespaces,
                 "Comma-separated namespaces to export pods, containers, volumes, PVCs and "
                 "Metrics API pods of (default: all)")
      ->delimiter(',');
  app.add_option("--namespaces-exclude", filter.namespaces_exclude,
                 "Comma-separated namespaces whose pods, containers, volumes, PVCs and Metrics "
                 "API pods are not exported")
      ->delimiter(',');
  auto* allowlist = app.add_option("--metric-allowlist", filter.metric_allowlist,
                                   "Comma-separated regular expressions: export only the "
                                   "families whose whole name matches one")
                        ->delimiter(',');
  app.add_option("--metric-denylist", filter.metric_denylist,
                 "Comma-separated regular expressions: do not export the families whose whole "
                 "name matches one")
      ->delimiter(',')
      ->excludes(allowlist);
  app.add_flag("--collect-all-interfaces", filter.collect_all_interfaces,
               "Export every network interface of nodes and pods (default: only the default "
               "interface the kubelet marks)");
  app.add_option("--series-limit", filter.series_limit,
                 "Export at most this many data series per scrape; the rest is dropped and "
                 "counted in kube_metrics_bridge_series_dropped_total (0: no limit)")
      ->capture_default_str();

  // Scale (issue 5).
  app.add_flag("--http2", o.http2,
               "Negotiate HTTP/2 with the API server over TLS (ALPN); default HTTP/1.1 with "
               "keep-alive (see docs/performance.md)");

  // Fault handling.
  std::string kubelet_timeout = "5s", max_response = "64MiB";
  app.add_option("--kubelet-timeout", kubelet_timeout,
                 "Deadline of one node's Summary, retries included; a slow kubelet delays no "
                 "other node beyond it")
      ->check(duration)
      ->capture_default_str();
  app.add_option("--max-response-bytes", max_response,
                 "Largest response accepted (bytes, or with KiB/MiB/GiB); larger transfers are "
                 "aborted as soon as they pass it (reason too_large)")
      ->capture_default_str();
  app.add_option("--max-retries", o.max_retries,
                 "Retries of a GET that failed with connect, timeout, 429, 502, 503 or 504, with "
                 "jittered exponential backoff within the request's deadline")
      ->check(CLI::Range(0, 10))
      ->capture_default_str();
  // ---- Watch cache and pod-spec enrichment ----
  app.add_flag("--watch-cache,!--no-watch-cache", o.watch_cache,
               "List and watch nodes and pods (needs list/watch on both) instead of listing "
               "nodes every poll; pods give the image label, requests, limits, utilization "
               "and k8s_pod_info (default: on)");
  app.add_option("--pod-labels", o.pod_labels,
                 "Comma-separated pod label keys exported as label_<key> on k8s_pod_labels "
                 "(* for all)")
      ->delimiter(',');
  app.add_option("--pod-annotations", o.pod_annotations,
                 "Comma-separated pod annotation keys exported as annotation_<key> on "
                 "k8s_pod_annotations (* for all)")
      ->delimiter(',');
  std::string sim_watch_close_after = "0s";
  std::string sim_watch_bookmark_interval = "60s";
  // ---- access: kubelet access and node-local mode ----
  std::string preferred_types = "InternalIP,ExternalIP,Hostname", exec_timeout = "30s";
  app.add_option("--kubelet-access", o.kubelet_access,
                 "proxy: fetch Summaries through the API server's node proxy; direct: from each "
                 "kubelet (HTTPS, the same token)")
      ->check(CLI::IsMember({"proxy", "direct"}))
      ->capture_default_str();
  app.add_option("--kubelet-preferred-address-types", preferred_types,
                 "Node address types to try, in order, with direct access")
      ->capture_default_str();
  app.add_option("--kubelet-port", o.kubelet_port,
                 "Kubelet port with direct access (default: the node's advertised port, else "
                 "10250)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--kubelet-ca-file", o.kubelet_ca_file,
                 "CA bundle for kubelet serving certificates (default: the cluster CA)");
  app.add_flag("--kubelet-insecure-tls", o.kubelet_insecure_tls,
               "Do not verify kubelet serving certificates (insecure; exported as "
               "kube_metrics_bridge_kubelet_insecure_tls)");
  app.add_option("--kubelet-read-only-port", o.kubelet_read_only_port,
                 "Read Summaries over plain HTTP from this kubelet port without auth (e.g. "
                 "10255; implies direct access)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--node-name", o.node_name,
                 "Node-local mode (DaemonSet, pass $(NODE_NAME)): poll only this node's kubelet "
                 "directly, its pods from the kubelet's /pods; metrics-api off unless --sources");
  app.add_option("--kubelet-address", o.kubelet_address,
                 "With --node-name: the kubelet's host (e.g. $(HOST_IP)), instead of the "
                 "node's address from the API server");
  app.add_option("--exec-plugin-timeout", exec_timeout,
                 "A kubeconfig exec credential plugin running longer is killed")
      ->check(duration)
      ->capture_default_str();

  CLI::App* simulate = app.add_subcommand(
      "simulate", "Serve a simulated cluster (API server, node proxy, metrics.k8s.io)");
  std::string stats_period = "10s";
  simulate->add_option("--listen", o.sim.listen, "HOST:PORT (port 0 picks a free port)")
      ->capture_default_str();
  simulate->add_option("--nodes", o.sim.nodes, "Number of nodes")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  simulate->add_option("--pods-per-node", o.sim.pods_per_node, "Pods per node")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  simulate->add_option("--containers-per-pod", o.sim.containers_per_pod, "Containers per pod")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  simulate->add_option("--pending-pods", o.sim.pending_pods,
                       "Pods the scheduler could not place (Pending, no node)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  simulate->add_flag("--tls", o.sim.tls, "Serve HTTPS with a generated CA and certificate");
  simulate->add_option("--token", o.sim.token, "Require Authorization: Bearer TOKEN");
  simulate->add_option("--write-kubeconfig", o.sim_kubeconfig,
                       "Write a kubeconfig for this server (CA and token included)");
  simulate
      ->add_option("--stats-period", stats_period,
                   "How often the stats change (0: on every request)")
      ->check(duration)
      ->capture_default_str();
  simulate->add_option("--threads", o.sim.threads,
                       "Server threads; each open keep-alive connection holds one")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  simulate->add_option("--seed", o.sim.seed, "Seed of the simulated values")->capture_default_str();
  simulate->add_option("--fail-node", o.sim_fail_nodes,
                       "Make this node's Summary fail as an unreachable kubelet does "
                       "(HTTP 503; repeatable)");
  simulate->add_option("--metrics-api-status", o.sim_metrics_api_status,
                       "Make metrics.k8s.io answer with this HTTP status (e.g. 503)");

  simulate->add_flag("--kubelets", o.sim.kubelets,
                     "Give every node its own HTTPS kubelet listener (needs --tls)");
  simulate->add_flag("--kubelet-no-ip-san{false}", o.sim.kubelet_ip_san,
                     "Kubelet certificates name only the node, not its IP");
  simulate->add_flag("--kubelet-read-only", o.sim.kubelet_read_only,
                     "Open a plain-HTTP read-only kubelet port (like 10255)");
  simulate->add_option("--kubelet-clock-skew", o.sim.kubelet_clock_skew_seconds,
                       "Seconds added to the kubelets' Date header");
  simulate
      ->add_option("--apiservice", o.sim.apiservice, "State of APIService v1beta1.metrics.k8s.io")
      ->check(CLI::IsMember({"Passed", "FailedDiscoveryCheck", "MissingEndpoints",
                             "ServiceNotFound", "IoTimeout", "Absent"}))
      ->capture_default_str();
  simulate->add_option("--deny", o.sim.deny,
                       "Deny this permission (e.g. nodes/stats, pods.metrics.k8s.io, or one "
                       "verb: \"watch pods\"; repeatable)");
  // Fault injection (src/sim/faults.h; docs/configuration.md "Fault injection").
  simulate->add_option("--fault", o.sim.faults,
                       "Inject a fault, TARGET:KIND[=ARG], e.g. node/sim-node-1:hang, "
                       "node/*:latency=2s, metrics-api:http=429, apiserver:tls-expired "
                       "(repeatable; kinds: latency, hang, refuse, tls-unknown-ca, tls-expired, "
                       "tls-no-ip-san, http, truncated, not-json, deep-nesting, huge, bad-numbers, "
                       "duplicate-pods, slow-body)");
  simulate->add_option("--fault-file", o.sim.fault_file,
                       "File of fault rules, one TARGET:KIND[=ARG] per line ('#' comments; a "
                       "YAML list works too)");
  // list+watch
  simulate->add_option("--churn-pods-per-minute", o.sim.churn_pods_per_minute,
                       "Delete and re-create this many pods per minute")
      ->check(CLI::Range(0.0, 600000.0));
  simulate->add_option("--watch-close-after", sim_watch_close_after,
                       "End every watch after this long (0: at its timeoutSeconds)")
      ->check(duration);
  simulate->add_option("--watch-bookmark-interval", sim_watch_bookmark_interval,
                       "How often a watch that allows bookmarks gets one (kube-apiserver: ~1m)")
      ->check(duration);
  // access2: client certificates
  simulate->add_flag("--require-client-cert", o.sim.require_client_cert,
                     "Require a client certificate from the cluster CA (needs --tls); "
                     "--write-kubeconfig writes one instead of the token");

  CLI::App* doctor_cmd = app.add_subcommand(
      "doctor", "Diagnose API server access, permissions, the Metrics API and the kubelets");
  std::string doctor_nodes = "all", doctor_output = "text", doctor_timeout = "5s";
  doctor_cmd->add_option("--kubeconfig", o.doctor.kubeconfig, "Path to a kubeconfig");
  doctor_cmd->add_option("--context", o.doctor.context, "kubeconfig context");
  doctor_cmd->add_option("--apiserver", o.doctor.apiserver, "API server URL override");
  doctor_cmd->add_option("--nodes", doctor_nodes, "Kubelets to check: all, or a sample of N")
      ->capture_default_str();
  doctor_cmd->add_option("--output", doctor_output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  doctor_cmd->add_option("--timeout", doctor_timeout, "Timeout of each probe")
      ->check(duration)
      ->capture_default_str();
  doctor_cmd
      ->add_option("--kubelet-port", o.doctor.kubelet_port,
                   "Kubelet port when the node does not advertise one")
      ->capture_default_str();
  doctor_cmd
      ->add_option("--kubelet-read-only-port", o.doctor.kubelet_read_only_port,
                   "Kubelet read-only port to probe")
      ->capture_default_str();

  CLI::App* catalog_cmd =
      app.add_subcommand("catalog", "Print the metric catalog as Markdown (docs/metrics.md)");

  // Secured /metrics (server).
  app.add_option("--web.config.file", o.web_config_file,
                 "Web config file (Prometheus exporter-toolkit format): TLS, client "
                 "certificates, basic auth, response headers; re-read on SIGHUP");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  } catch (const CLI::CallForVersion& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    std::cerr << "kube-metrics-bridge: " << e.what() << " (see --help)\n";
    *exit_code = 2;
    return std::nullopt;
  }

  o.interval_seconds = *ParseDurationFlag(interval);
  o.request_timeout_seconds = *ParseDurationFlag(timeout);
  o.connect_timeout_seconds = *ParseDurationFlag(connect_timeout);
  o.sim.stats_period_seconds = *ParseDurationFlag(stats_period);
  o.sim.watch_close_after_seconds = *ParseDurationFlag(sim_watch_close_after);
  o.sim.watch_bookmark_seconds = *ParseDurationFlag(sim_watch_bookmark_interval);
  auto fail = [&](const std::string& msg) {
    std::cerr << "kube-metrics-bridge: " << msg << " (see --help)\n";
    *exit_code = 2;
    return std::nullopt;
  };
  if (o.interval_seconds < 1) return fail("--interval must be at least 1s, got " + interval);
  if (o.sim.watch_bookmark_seconds <= 0) {
    return fail("simulate --watch-bookmark-interval must be above 0, got " +
                sim_watch_bookmark_interval);
  }
  // Fault handling.
  o.kubelet_timeout_seconds = *ParseDurationFlag(kubelet_timeout);
  if (o.kubelet_timeout_seconds <= 0) return fail("--kubelet-timeout must be above 0");
  {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(max_response.c_str(), &end, 10);
    const std::string unit = end ? end : "";
    const int shift = unit == "KiB"   ? 10
                      : unit == "MiB" ? 20
                      : unit == "GiB" ? 30
                      : unit.empty()  ? 0
                                      : -1;
    if (end == max_response.c_str() || shift < 0 || n == 0 || max_response[0] == '-' ||
        n > (~0ull >> (shift + 1))) {
      return fail("--max-response-bytes: want a size like 64MiB, 1GiB or 1048576, got \"" +
                  max_response + "\"");
    }
    o.max_response_bytes = static_cast<size_t>(n << shift);
  }
  o.summary = o.metrics_api = false;
  std::stringstream ss(sources);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "summary")
      o.summary = true;
    else if (item == "metrics-api")
      o.metrics_api = true;
    else if (!item.empty())
      return fail("--sources: unknown source \"" + item + "\" (known: summary, metrics-api)");
  }
  if (!o.summary && !o.metrics_api) return fail("--sources: name at least one source");
  if (shard_flag >= 0) {
    o.shard = shard_flag;
  } else if (o.total_shards > 1) {
    // StatefulSet pods are named <set>-<ordinal>.
    size_t dash = pod_name.rfind('-');
    char* end = nullptr;
    long ordinal =
        dash == std::string::npos ? -1 : std::strtol(pod_name.c_str() + dash + 1, &end, 10);
    if (ordinal < 0 || !end || *end != '\0' || dash + 1 == pod_name.size()) {
      return fail("--total-shards " + std::to_string(o.total_shards) +
                  " needs --shard, or --pod-name/$POD_NAME ending in an ordinal (got \"" +
                  pod_name + "\")");
    }
    o.shard = static_cast<int>(ordinal);
  }
  if (o.shard >= o.total_shards) {
    return fail("--shard " + std::to_string(o.shard) + " is not below --total-shards " +
                std::to_string(o.total_shards));
  }
  if (!groups.empty()) {
    // The catalog's groups; "self" (the exporter's own series) is always on.
    std::vector<std::string> known_groups = catalog::Groups();
    std::erase(known_groups, "self");
    std::stringstream gs(groups);
    while (std::getline(gs, item, ',')) {
      if (item.empty()) continue;
      if (std::find(known_groups.begin(), known_groups.end(), item) == known_groups.end()) {
        std::string known;
        for (const auto& k : known_groups) known += (known.empty() ? "" : ", ") + k;
        return fail("--metric-groups: unknown group \"" + item + "\" (known: " + known + ")");
      }
      o.metric_groups.push_back(item);
    }
    o.metric_groups.push_back("self");
  }
  // Cardinality control: the expressions must compile (one line naming the flag if not).
  for (auto* list : {&filter.metric_allowlist, &filter.metric_denylist}) {
    for (const std::string& re : *list) {
      try {
        std::regex compiled(re, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return fail(std::string(list == &filter.metric_allowlist ? "--metric-allowlist"
                                                                 : "--metric-denylist") +
                    ": bad regular expression \"" + re + "\": " + e.what());
      }
    }
  }
  // ---- access: kubelet access and node-local mode ----
  {
    o.exec_timeout_seconds = *ParseDurationFlag(exec_timeout);
    const bool access_given = app.get_option("--kubelet-access")->count() > 0;
    o.kubelet_preferred_address_types.clear();
    std::stringstream ts(preferred_types);
    static const std::vector<std::string> kTypes = {"InternalIP", "ExternalIP", "Hostname",
                                                    "InternalDNS", "ExternalDNS"};
    while (std::getline(ts, item, ',')) {
      if (item.empty()) continue;
      if (std::find(kTypes.begin(), kTypes.end(), item) == kTypes.end()) {
        return fail("--kubelet-preferred-address-types: unknown type \"" + item +
                    "\" (known: InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS)");
      }
      o.kubelet_preferred_address_types.push_back(item);
    }
    if (o.kubelet_preferred_address_types.empty()) {
      return fail("--kubelet-preferred-address-types: name at least one type");
    }
    if (o.kubelet_read_only_port > 0 || !o.node_name.empty()) {
      if (access_given && o.kubelet_access == "proxy") {
        return fail(std::string(o.node_name.empty() ? "--kubelet-read-only-port" : "--node-name") +
                    " reads kubelets directly; drop --kubelet-access=proxy");
      }
      o.kubelet_access = "direct";
    }
    if (!o.kubelet_address.empty() && o.node_name.empty()) {
      return fail("--kubelet-address needs --node-name (node-local mode)");
    }
    if (o.kubelet_insecure_tls && !o.kubelet_ca_file.empty()) {
      return fail("--kubelet-insecure-tls and --kubelet-ca-file contradict each other");
    }
    if (!o.node_name.empty()) {
      if (o.total_shards > 1) return fail("--node-name (node-local mode) does not shard");
      // The Metrics API is cluster-wide: every DaemonSet pod would export all of it.
      if (app.get_option("--sources")->count() == 0) o.metrics_api = false;
    }
  }
  if (o.demo && (!o.kubeconfig.empty() || !o.apiserver.empty()))
    return fail("--demo runs its own simulated cluster; drop --kubeconfig/--apiserver");
  if (simulate->parsed()) o.command = Options::Command::kSimulate;
  if (catalog_cmd->parsed()) o.command = Options::Command::kCatalog;
  if (doctor_cmd->parsed()) {
    o.command = Options::Command::kDoctor;
    o.doctor.json = doctor_output == "json";
    o.doctor.timeout_seconds = *ParseDurationFlag(doctor_timeout);
    if (doctor_nodes == "all") {
      o.doctor.max_nodes = -1;
    } else {
      char* end = nullptr;
      long n = std::strtol(doctor_nodes.c_str(), &end, 10);
      if (!end || *end != '\0' || n < 0) {
        return fail("doctor --nodes: expected \"all\" or a number, got \"" + doctor_nodes + "\"");
      }
      o.doctor.max_nodes = static_cast<int>(n);
    }
  }
  return o;
}

}  // namespace kmb
