#pragma once
// The simulated cluster: an HTTP(S) server that speaks the API server's wire format for the
// paths the exporter uses (nodes, pods, node proxy /stats/summary, metrics.k8s.io, APIService).
// Used by --demo, by the tests and by the benchmarks; runnable as `kube-metrics-bridge simulate`.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kmb/util/status.h"

namespace kmb::sim {

struct SimOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 picks a free one
  int nodes = 3;
  int pods_per_node = 10;
  int containers_per_pod = 2;
  // Pods the scheduler could not place (Pending, no spec.nodeName): in the pod list only, after
  // the scheduled ones. A sharded exporter exports their pod-spec series from shard 0 only.
  int pending_pods = 0;
  bool tls = false;   // generate a CA and a serving certificate (SAN 127.0.0.1, localhost)
  std::string token;  // when set, require "Authorization: Bearer <token>"
  // Stats change once per period since start (cAdvisor housekeeping); 0 = on every request.
  double stats_period_seconds = 10;
  uint64_t seed = 1;
  // Worker threads. Each open keep-alive connection holds one, so use at least as many as the
  // client keeps connections.
  int threads = 40;

  // ---- Kubelets and failure reproductions (the `doctor` tests; docs/troubleshooting.md) ----
  // Each node gets its own kubelet HTTPS listener on 127.0.0.1 (an ephemeral port), advertised
  // as the node's InternalIP and status.daemonEndpoints.kubeletEndpoint.Port, serving
  // /stats/summary, /healthz and /pods with a certificate from the cluster CA. Needs `tls`;
  // at most kMaxKubelets nodes.
  bool kubelets = false;
  bool kubelet_ip_san = true;  // false: the kubelet certificate names only the node's hostname
  // A plain-HTTP read-only kubelet listener (like --read-only-port=10255), shared by all nodes
  // and answering for the first one; closed by default, as on modern kubelets.
  bool kubelet_read_only = false;
  int kubelet_clock_skew_seconds = 0;  // added to the kubelets' Date header
  // access: with `kubelets`, ONE HTTPS port for all kubelets, routed by the Host header. Each
  // node's InternalIP is then the name "<node>.kubelet.localhost" (libcurl resolves *.localhost
  // to loopback; the certificate names them), so clients must send that Host. No node limit.
  bool kubelet_shared_port = false;
  // The APIService v1beta1.metrics.k8s.io and what backs it: "Passed" (healthy),
  // "FailedDiscoveryCheck" (the API server's discovery request to metrics-server times out),
  // "MissingEndpoints" (metrics-server not ready), "ServiceNotFound" (its Service deleted),
  // "IoTimeout" (metrics-server crash-looping on `dial tcp 10.233.0.1:443: i/o timeout`), or
  // "Absent" (no aggregation: the APIService and metrics.k8s.io answer 404). Anything but
  // Passed also makes metrics.k8s.io answer 503 (404 for Absent).
  std::string apiservice = "Passed";
  // What SelfSubjectAccessReview denies, as `kubectl auth can-i` names them: "nodes",
  // "nodes/proxy", "nodes/stats", "nodes.metrics.k8s.io", "pods.metrics.k8s.io", "pods" (the
  // cluster-wide pod list and watch). The requests
  // themselves are refused with 403 too. A verb before the name denies only that verb:
  // "watch pods", "list pods", "watch nodes" (what the watch caches need).
  std::vector<std::string> deny;

  // ---- Fault injection (src/sim/faults.h; syntax in docs/configuration.md) ----
  // Rules like "node/sim-node-1:hang" or "metrics-api:http=429", applied at start; a file of
  // such rules, one per line (`simulate --fault-file`).
  std::vector<std::string> faults;
  std::string fault_file;
  // ---- list+watch (sim/watch.h) ----
  // Pods deleted and re-created per minute; the Summary and the Metrics API follow.
  double churn_pods_per_minute = 0;
  // > 0: every watch ends after this many seconds (a proxy that cuts streams).
  double watch_close_after_seconds = 0;
  // A BOOKMARK on each watch that asked for them, this often: kube-apiserver's watch cache
  // sends one about every minute (its defaultBookmarkFrequency). Until 2026-12-03 the simulator
  // sent one every second, which made each watch wake the exporter 60 times too often.
  double watch_bookmark_seconds = 60;
  // ---- Client certificates (access2) ----
  // Needs `tls`. The API server listener requires a client certificate signed by the cluster
  // CA (RequireAndVerifyClientCert, refused at the TLS layer otherwise) and takes the user
  // from its CN, as an API server with --client-ca-file does; WriteKubeconfig writes one for
  // kClientCertUser (client-certificate-data, client-key-data) instead of the token. The
  // kubelet listeners keep the token.
  bool require_client_cert = false;
};

// The user (CN) of the client certificate the simulator issues with require_client_cert.
inline constexpr const char* kClientCertUser = "kube-metrics-bridge";

inline constexpr int kMaxKubelets = 200;

class SimulatedCluster {
 public:
  static std::unique_ptr<SimulatedCluster> Start(const SimOptions& options, std::string* error);
  ~SimulatedCluster();  // stops the server

  std::string url() const;      // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT"
  std::string address() const;  // "127.0.0.1:PORT"
  std::string ca_pem() const;   // the generated CA certificate (PEM) with --tls, else ""
  std::vector<std::string> node_names() const;
  // The kubelet HTTPS port of node `n` with `kubelets`, else 0.
  int kubelet_port(int node) const;
  // The shared read-only port with `kubelet_read_only`, else 0.
  int kubelet_read_only_port() const;

  // Fault injection: the HTTP status that node's /stats/summary (or the whole metrics.k8s.io
  // group) answers with, with a Kubernetes Status body; 0 restores the healthy answer.
  void SetNodeSummaryStatus(std::string_view node, int http_status);
  void SetMetricsApiStatus(int http_status);

  // Fault injection (src/sim/faults.h): adds a rule such as "node/sim-node-1:hang",
  // "node/*:latency=2s", "apiserver:tls-expired" (replacing one with the same target), or
  // clears them all, restoring listeners a connection-level fault replaced. A bad rule is a
  // config error naming it.
  Status AddFault(std::string_view rule);
  void ClearFaults();
  // ---- list+watch ----
  // Deletes (present=false) or re-creates a pod; false when the name is not a simulated pod.
  bool SetPodPresent(std::string_view ns, std::string_view name, bool present);
  // `steps` churn steps now, alternately deleting a random pod and re-creating the one deleted
  // longest ago (the first step of a cluster deletes).
  void ChurnPods(int steps);
  // Forgets the watch history: open watches get an ERROR 410 event, clients must relist.
  void ExpireWatches();

  // A kubeconfig for this server: cluster (server, certificate-authority-data), user (token,
  // or with require_client_cert the client certificate and key), context and current-context.
  Status WriteKubeconfig(const std::string& path) const;
  // With require_client_cert: the issued client certificate and its key (PEM), else "".
  std::string client_cert_pem() const;
  std::string client_key_pem() const;

  struct Impl;

 private:
  explicit SimulatedCluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `kube-metrics-bridge simulate`: starts the server, writes a kubeconfig when the path is not
// empty, makes `fail_nodes` answer their Summary with 503 and the metrics API with
// `metrics_api_status` when not 0, prints one line "listening on <url>" to stdout (and
// "kubelet read-only port <port>" with `kubelet_read_only`), then blocks
// until SIGINT or SIGTERM. Returns 0; on a start failure prints one error line to stderr and
// returns 1.
int RunSimulator(const SimOptions& options, const std::string& kubeconfig_path,
                 const std::vector<std::string>& fail_nodes, int metrics_api_status);

}  // namespace kmb::sim
